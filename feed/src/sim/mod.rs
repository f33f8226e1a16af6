//! A seeded market simulator that speaks Bybit v5: it produces exactly the frames the public
//! linear stream would send for one symbol (an `orderbook.50` snapshot then deltas every 20 ms,
//! `publicTrade` as matches happen, `tickers` snapshot then deltas every 100 ms, the subscribe
//! ack and pongs), with realistic `ts`, `cts`, `u`, `seq` and receive times.
//!
//! # The model
//!
//! Underneath is a limit order book on the instrument's tick grid, driven event by event in
//! continuous simulated time:
//!
//! - **Limit orders** arrive at rate `book_rate`, on a level a geometric number of ticks from
//!   the touch (or inside a wide spread), with log-normal sizes.
//! - **Cancels** arrive at rate `book_rate x cancel_share`, removing part or all of a level near
//!   the touch. A touch level that empties moves the best price.
//! - **Market orders** arrive at rate `market_rate` on average, in bursts: a Hawkes process in
//!   which each trade begets `burst_branching` (< 1) more within `burst_decay_s`. They have
//!   log-normal sizes, walk the book and print one trade per level they take.
//! - A latent **fair price** diffuses with the regime's volatility and drifts with the pressure
//!   below. The book follows it: market orders are mostly informed when it has left the spread
//!   (buying every ask below it), stale quotes on its wrong side are cancelled first, and new
//!   orders in a wide spread are placed next to it.
//! - A latent **pressure** `z`, an Ornstein-Uhlenbeck process with unit variance and mean
//!   reversion `pressure_reversion`, tilts all three: with `z > 0` market orders are more often
//!   buys (`flow_tilt x tanh z`), limit orders more often join the bid and cancels more often
//!   hit the ask (`queue_tilt x tanh z`), and it pushes the fair price up
//!   (`drift_bps_per_min x tanh z`). The ask queue depletes, the bid queue builds, and the mid
//!   follows the fair price up.
//!
//! So order-flow imbalance, book imbalance and queue depletion carry real information about the
//! next mid moves, but only through `z`, which is never shown and is drowned in untilted noise
//! orders: a model has something to learn, and not trivially. The regimes differ in rates and in
//! how strong the tilts are:
//!
//! | regime | book/s | trades/s | tilts (flow, queue) | volatility | pressure drift | extra |
//! |---|---|---|---|---|---|---|
//! | normal | 40 | 2.5 | 0.35, 0.25 | 35 bps/√h | 4 bps/min | |
//! | event | 45 | 3 | 0.25, 0.18 | 55 bps/√h | 3 bps/min | price jumps of about 20 bps (6 an hour), spread blow-outs and a thinned book after each, trade bursts, the odd fresh snapshot |
//! | high-vol | 90 | 7 | 0.18, 0.12 | 120 bps/√h | 5 bps/min | bigger market orders, stronger bursts, faster pressure |
//!
//! # The planted edges
//!
//! `SimConfig::edge_pct` (0, the default, leaves the market above exactly as it is, byte for
//! byte) adds two informed traders of known strength `e = edge_pct / 100`, for testing the
//! model pipeline against a known answer. What they know is written down by
//! [`MarketSim::latent`], which the pipeline never reads and the tests' oracle does.
//!
//! - **A trend**, of realistic strength. A latent signal `s`, an Ornstein-Uhlenbeck process with
//!   unit variance and mean reversion [`EDGE_REVERSION_S`], drifts the fair price at
//!   `e x` [`EDGE_DRIFT_BPS_PER_MIN`]` x tanh s`, and a share `e x` [`EDGE_INFORMED_SHARE`] of
//!   the uninformed market orders trade its sign. At full strength the predictable 30 s move is
//!   at most 2 bps and about 1.2 bps at a typical `|tanh s|` of 0.6: 30 to 50 % of a maker's
//!   4 bps round trip, so the trend alone never pays a trade's fees, and a momentum rule
//!   reading the last 30 s earns nothing from it after them.
//! - **Accumulation before a step**, which lives in the order flow. About
//!   [`FLOW_EPISODES_PER_HOUR`] times an hour an informed trader who knows the fair price will
//!   step by `e x` [`FLOW_STEP_BPS`] on one side rests limit orders on that side, one to a dozen
//!   ticks behind the touch, at `e x` [`FLOW_RESTING_RATE`] a second, for
//!   [`FLOW_ACCUMULATION_S`] seconds; then the step comes, the fair price moving over
//!   [`FLOW_STEP_S`] seconds, and the informed market orders of the model above take the book
//!   along. Resting orders behind the touch do not move the mid, and
//!   the step does not continue once it is done: a momentum rule earns nothing from it, a model
//!   that reads depth beyond the touch against the recent flow and the mid can.
//!
//! Everything random comes from one ChaCha8 generator seeded from the seed and the regime: the
//! same seed gives the same frames, byte for byte.

mod book;
mod json;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, StandardNormal};

use crate::fixed::Fixed;
use crate::side::Side;
use crate::text::Symbol;
use book::SimBook;

/// The simulator's version: a seed gives the same frames under one version only. It changes
/// whenever a change to the model changes them (2: the realistic trend and the accumulation
/// edge), so that a cached day can tell it is stale.
pub const SIMULATOR_VERSION: u32 = 2;

/// Levels each side of the published book holds (`orderbook.50`).
pub const PUBLISHED_DEPTH: usize = 50;
/// Book push interval, ms (Bybit's orderbook.50 interval).
pub const BOOK_PUSH_MS: u64 = 20;
/// Ticker push interval, ms.
pub const TICKER_PUSH_MS: u64 = 100;
/// Pong interval, ms (a client pings every 20 s).
pub const PONG_MS: u64 = 20_000;

/// Fair-price drift of the trend at full signal and full edge strength, bps a minute.
pub const EDGE_DRIFT_BPS_PER_MIN: f64 = 4.0;
/// Share of the uninformed market orders that trade the trend's signal at full edge strength.
pub const EDGE_INFORMED_SHARE: f64 = 0.2;
/// Mean-reversion time of the trend's signal, seconds.
pub const EDGE_REVERSION_S: f64 = 180.0;
/// Accumulation episodes an hour, on average (a Poisson process between episodes).
pub const FLOW_EPISODES_PER_HOUR: f64 = 60.0;
/// Length of an accumulation episode, seconds: uniform in this range.
pub const FLOW_ACCUMULATION_S: (f64, f64) = (20.0, 60.0);
/// The fair price's step at the end of an episode at full edge strength, bps: half again the
/// default take-profit, and well under the volatility halt's 40 bps a minute.
pub const FLOW_STEP_BPS: f64 = 25.0;
/// How long the step takes, seconds.
pub const FLOW_STEP_S: f64 = 5.0;
/// Informed limit orders resting behind the touch during an episode at full edge strength, a
/// second.
pub const FLOW_RESTING_RATE: f64 = 60.0;

/// Most levels one market order takes; the rest of it is cancelled (immediate-or-cancel).
const MAX_PRINTS: usize = 64;

const NS_PER_MS: u64 = 1_000_000;

/// A market regime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Regime {
    /// An ordinary day.
    Normal,
    /// A news day: jumps, spread blow-outs, trade bursts, a thinning book.
    Event,
    /// A high-volatility day: everything faster and bigger, weaker signal.
    HighVol,
}

impl Regime {
    /// Every regime.
    pub const ALL: [Regime; 3] = [Regime::Normal, Regime::Event, Regime::HighVol];

    /// The name used on the command line and in paths.
    pub const fn name(self) -> &'static str {
        match self {
            Regime::Normal => "normal",
            Regime::Event => "event",
            Regime::HighVol => "high-vol",
        }
    }

    /// Parses a name.
    pub fn from_name(name: &str) -> Option<Regime> {
        Regime::ALL.into_iter().find(|regime| regime.name() == name)
    }

    /// A small integer for the indicator feature and for seeding.
    pub const fn code(self) -> u8 {
        match self {
            Regime::Normal => 0,
            Regime::Event => 1,
            Regime::HighVol => 2,
        }
    }

    fn params(self) -> RegimeParams {
        let normal = RegimeParams {
            book_rate: 40.0,
            cancel_share: 0.45,
            market_rate: 2.5,
            burst_branching: 0.3,
            burst_decay_s: 1.5,
            pressure_reversion_s: 20.0,
            flow_tilt: 0.35,
            queue_tilt: 0.35,
            limit_size_lots: 600.0,
            market_size_lots: 150.0,
            vol_bps_sqrt_hour: 35.0,
            drift_bps_per_min: 12.0,
            jumps_per_hour: 0.0,
            jump_bps: 0.0,
            snapshots_per_hour: 0.0,
        };
        match self {
            Regime::Normal => normal,
            Regime::Event => RegimeParams {
                book_rate: 45.0,
                market_rate: 3.0,
                burst_branching: 0.6,
                flow_tilt: 0.25,
                queue_tilt: 0.25,
                vol_bps_sqrt_hour: 55.0,
                drift_bps_per_min: 9.0,
                jumps_per_hour: 6.0,
                jump_bps: 20.0,
                snapshots_per_hour: 1.0,
                ..normal
            },
            Regime::HighVol => RegimeParams {
                book_rate: 90.0,
                cancel_share: 0.5,
                market_rate: 7.0,
                burst_branching: 0.55,
                burst_decay_s: 1.0,
                pressure_reversion_s: 8.0,
                flow_tilt: 0.18,
                queue_tilt: 0.18,
                limit_size_lots: 500.0,
                market_size_lots: 300.0,
                vol_bps_sqrt_hour: 120.0,
                drift_bps_per_min: 12.0,
                ..normal
            },
        }
    }
}

/// The knobs of a regime (see the module docs).
#[derive(Debug, Clone, Copy)]
struct RegimeParams {
    book_rate: f64,
    cancel_share: f64,
    market_rate: f64,
    burst_branching: f64,
    burst_decay_s: f64,
    pressure_reversion_s: f64,
    flow_tilt: f64,
    queue_tilt: f64,
    limit_size_lots: f64,
    market_size_lots: f64,
    vol_bps_sqrt_hour: f64,
    drift_bps_per_min: f64,
    jumps_per_hour: f64,
    jump_bps: f64,
    snapshots_per_hour: f64,
}

/// What to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimConfig {
    /// Symbol.
    pub symbol: Symbol,
    /// Price increment.
    pub tick_size: Fixed,
    /// Quantity increment.
    pub qty_step: Fixed,
    /// Decimals prices are written with (Bybit's `priceScale`).
    pub price_decimals: u32,
    /// Decimals sizes are written with.
    pub size_decimals: u32,
    /// Mid price at the start.
    pub start_price: Fixed,
    /// Wall-clock start, ms since the Unix epoch.
    pub start_ms: u64,
    /// Length of the simulated session, ms.
    pub duration_ms: u64,
    /// Regime.
    pub regime: Regime,
    /// Seed.
    pub seed: u64,
    /// Strength of the planted edges, percent: 0 (none) to 100 (see the module documentation).
    pub edge_pct: u8,
    /// When the planted edges stop paying, matching-engine ms since the epoch (`u64::MAX`:
    /// never): from then on the informed still accumulate behind the touch, but no step
    /// follows, and the trend stops. A decayed edge whose tell remains: a model trained on it
    /// keeps trading, and loses.
    pub edge_until_ms: u64,
}

impl SimConfig {
    /// BTCUSDT (tick 0.1, qty step 0.001) around 60000 for one day from `start_ms`.
    pub fn btcusdt(regime: Regime, start_ms: u64, seed: u64) -> SimConfig {
        SimConfig {
            symbol: Symbol::new("BTCUSDT").unwrap_or_default(),
            tick_size: Fixed::from_raw(10_000_000),
            qty_step: Fixed::from_raw(100_000),
            price_decimals: 2,
            size_decimals: 3,
            start_price: Fixed::from_raw(6_000_000_000_000),
            start_ms,
            duration_ms: 24 * 3600 * 1000,
            regime,
            seed,
            edge_pct: 0,
            edge_until_ms: u64::MAX,
        }
    }
}

/// What the informed traders know at one moment ([`MarketSim::latent`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latent {
    /// The trend's fair-price drift now, bps a minute, signed (positive up).
    pub trend_bps_per_min: f64,
    /// The step an accumulation under way announces, if one is.
    pub step: Option<PlannedStep>,
}

/// A step of the fair price that informed traders are accumulating for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlannedStep {
    /// The side that gains: `Buy` for a step up.
    pub side: Side,
    /// When it comes, matching-engine ms since the epoch.
    pub at_ms: u64,
    /// Its size, bps of the fair price.
    pub bps: f64,
}

/// Metadata of one produced frame (its bytes are in the caller's buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimFrame {
    /// When a client would have received it, ns since the Unix epoch.
    pub recv_ns: u64,
    /// What it is.
    pub kind: FrameKind,
}

/// The kind of a produced frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// The subscribe ack.
    SubscribeAck,
    /// An `orderbook.50` snapshot.
    BookSnapshot,
    /// An `orderbook.50` delta.
    BookDelta,
    /// A `publicTrade` message.
    Trades,
    /// A `tickers` snapshot or delta.
    Ticker,
    /// A pong.
    Pong,
}

/// One trade of a match, kept until it is written.
#[derive(Debug, Clone, Copy)]
struct Print {
    price_ticks: i64,
    lots: i64,
    seq: u64,
}

/// The simulator: call [`MarketSim::next_frame`] until it returns `None`.
pub struct MarketSim {
    config: SimConfig,
    params: RegimeParams,
    rng: ChaCha8Rng,
    book: SimBook,
    /// Simulated matching-engine time, ns since the epoch.
    now_ns: u64,
    end_ns: u64,
    pressure: f64,
    /// Strength of the planted edge, 0 to 1, and the informed signal.
    edge: f64,
    signal: f64,
    /// The latent fair price, in ticks.
    fair: f64,
    /// Fair-price diffusion, ticks per square-root second.
    fair_vol: f64,
    /// Fair-price drift at full pressure, ticks per second.
    fair_drift: f64,
    /// Fair-price drift at full signal and strength, ticks per second.
    edge_drift: f64,
    /// The accumulation under way and when the next one starts (edge only).
    step: Option<PlannedStep>,
    next_episode_ns: u64,
    /// A step under way: until when, and ticks a second.
    ramp: Option<(u64, f64)>,
    burst: f64,
    seq: u64,
    update_id: u64,
    next_book_push_ns: u64,
    next_ticker_ns: u64,
    next_pong_ns: u64,
    next_jump_ns: u64,
    next_snapshot_ns: u64,
    thin_until_ns: u64,
    last_event_ns: u64,
    last_recv_ns: u64,
    sent_ack: bool,
    sent_snapshot: bool,
    force_snapshot: bool,
    prints: Vec<Print>,
    print_side: Side,
    last_trade_ticks: i64,
    last_tick_up: bool,
    ticker: json::TickerState,
    limit_size: SizeDist,
    market_size: SizeDist,
}

impl MarketSim {
    /// A simulator for `config`.
    pub fn new(config: SimConfig) -> MarketSim {
        let params = config.regime.params();
        let mut rng =
            ChaCha8Rng::seed_from_u64(config.seed ^ (u64::from(config.regime.code()) << 56));
        let start_ns = config.start_ms * NS_PER_MS;
        let tick = config.tick_size.raw().max(1);
        let mid_ticks = config.start_price.raw() / tick;
        let limit_size = SizeDist::with_mean(params.limit_size_lots, 0.9);
        let book = SimBook::seeded(&mut rng, mid_ticks, &limit_size);
        let mut sim = MarketSim {
            config,
            params,
            book,
            now_ns: start_ns,
            end_ns: start_ns + config.duration_ms * NS_PER_MS,
            pressure: 0.0,
            edge: f64::from(config.edge_pct.min(100)) / 100.0,
            signal: 0.0,
            fair: mid_ticks as f64 + 0.5,
            fair_vol: mid_ticks as f64 * params.vol_bps_sqrt_hour / 1e4 / 60.0,
            fair_drift: mid_ticks as f64 * params.drift_bps_per_min / 1e4 / 60.0,
            edge_drift: mid_ticks as f64 * EDGE_DRIFT_BPS_PER_MIN / 1e4 / 60.0,
            step: None,
            next_episode_ns: u64::MAX,
            ramp: None,
            burst: 0.0,
            seq: 1_000_000_000 + rng.random_range(0..1_000_000),
            update_id: 0,
            next_book_push_ns: start_ns + BOOK_PUSH_MS * NS_PER_MS,
            next_ticker_ns: start_ns + TICKER_PUSH_MS * NS_PER_MS,
            next_pong_ns: start_ns + PONG_MS * NS_PER_MS,
            next_jump_ns: u64::MAX,
            next_snapshot_ns: u64::MAX,
            thin_until_ns: 0,
            last_event_ns: start_ns,
            last_recv_ns: 0,
            sent_ack: false,
            sent_snapshot: false,
            force_snapshot: false,
            prints: Vec::with_capacity(MAX_PRINTS),
            print_side: Side::Buy,
            last_trade_ticks: mid_ticks,
            last_tick_up: true,
            ticker: json::TickerState::default(),
            limit_size,
            market_size: SizeDist::with_mean(params.market_size_lots, 1.1),
            rng,
        };
        sim.next_jump_ns = sim.schedule(params.jumps_per_hour);
        sim.next_snapshot_ns = sim.schedule(params.snapshots_per_hour);
        if sim.edge > 0.0 {
            sim.next_episode_ns = sim.schedule(FLOW_EPISODES_PER_HOUR);
        }
        sim
    }

    /// What the informed traders know now (see "The planted edges"): the pipeline never reads
    /// it; a test's oracle does.
    pub fn latent(&self) -> Latent {
        Latent {
            trend_bps_per_min: self.trend_strength() * EDGE_DRIFT_BPS_PER_MIN * self.signal.tanh(),
            step: self.step,
        }
    }

    /// The configuration.
    pub const fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Simulated time now, ns since the epoch.
    pub const fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// The next frame, written into `out` (cleared first), or `None` at the end of the session.
    /// After warm-up this does not allocate.
    pub fn next_frame(&mut self, out: &mut Vec<u8>) -> Option<SimFrame> {
        out.clear();
        if !self.sent_ack {
            self.sent_ack = true;
            json::subscribe_ack(out, &self.config);
            return Some(self.frame(self.now_ns, FrameKind::SubscribeAck));
        }
        if !self.sent_snapshot {
            self.sent_snapshot = true;
            return Some(self.book_snapshot(out));
        }
        loop {
            if self.now_ns >= self.end_ns {
                return None;
            }
            let rate = self.total_rate();
            let wait = Exp::new(rate).map_or(1.0, |exp| exp.sample(&mut self.rng));
            let event_ns = self.now_ns + (wait * 1e9) as u64 + 1;
            let timer_ns = self
                .next_book_push_ns
                .min(self.next_ticker_ns)
                .min(self.next_pong_ns);
            if timer_ns <= event_ns.min(self.next_jump_ns) {
                self.advance_to(timer_ns);
                if let Some(frame) = self.fire_timer(out) {
                    return Some(frame);
                }
                continue;
            }
            if self.next_jump_ns <= event_ns {
                self.advance_to(self.next_jump_ns);
                self.jump();
                self.next_jump_ns = self.schedule(self.params.jumps_per_hour);
                continue;
            }
            self.advance_to(event_ns);
            if let Some(frame) = self.random_event(out) {
                return Some(frame);
            }
        }
    }

    fn frame(&mut self, published_ns: u64, kind: FrameKind) -> SimFrame {
        // Network latency of 4-9 ms; receive times never go backwards.
        let latency = 4 * NS_PER_MS + self.rng.random_range(0..5 * NS_PER_MS);
        let recv_ns = (published_ns + latency).max(self.last_recv_ns + 1_000);
        self.last_recv_ns = recv_ns;
        SimFrame { recv_ns, kind }
    }

    /// Time of the next occurrence of a Poisson process with `per_hour` events an hour.
    fn schedule(&mut self, per_hour: f64) -> u64 {
        if per_hour <= 0.0 {
            return u64::MAX;
        }
        let wait = Exp::new(per_hour / 3600.0).map_or(f64::MAX, |exp| exp.sample(&mut self.rng));
        self.now_ns.saturating_add((wait * 1e9) as u64)
    }

    fn total_rate(&self) -> f64 {
        self.params.book_rate * (1.0 + self.params.cancel_share)
            + self.market_rate()
            + self.resting_rate()
    }

    /// Informed limit orders a second resting behind the touch (during an accumulation only).
    fn resting_rate(&self) -> f64 {
        if self.step.is_some() {
            self.edge * FLOW_RESTING_RATE
        } else {
            0.0
        }
    }

    /// Market orders a second now: a base rate plus the excitation of recent trades, where
    /// each trade begets `burst_branching` more on average (below 1, so bursts die out), and
    /// the base is scaled so the long-run rate is `market_rate`.
    fn market_rate(&self) -> f64 {
        self.params.market_rate * (1.0 - self.params.burst_branching) + self.burst
    }

    /// Moves time forward, evolving the pressure and decaying the burst.
    fn advance_to(&mut self, t_ns: u64) {
        let dt = t_ns.saturating_sub(self.now_ns) as f64 / 1e9;
        if dt > 0.0 {
            let theta = 1.0 / self.params.pressure_reversion_s;
            let decay = (-theta * dt).exp();
            let noise: f64 = StandardNormal.sample(&mut self.rng);
            self.pressure = self.pressure * decay + (1.0 - decay * decay).sqrt() * noise;
            let shock: f64 = StandardNormal.sample(&mut self.rng);
            self.fair +=
                self.fair_drift * self.pressure.tanh() * dt + self.fair_vol * dt.sqrt() * shock;
            self.burst *= (-dt / self.params.burst_decay_s).exp();
            if self.edge > 0.0 {
                let decay = (-dt / EDGE_REVERSION_S).exp();
                let noise: f64 = StandardNormal.sample(&mut self.rng);
                self.signal = self.signal * decay + (1.0 - decay * decay).sqrt() * noise;
                self.fair += self.trend_strength() * self.edge_drift * self.signal.tanh() * dt;
            }
            if let Some((end_ns, ticks_per_s)) = self.ramp {
                let ramping_s = end_ns.min(t_ns).saturating_sub(self.now_ns) as f64 / 1e9;
                self.fair += ticks_per_s * ramping_s;
                if t_ns >= end_ns {
                    self.ramp = None;
                }
            }
        }
        self.now_ns = t_ns.max(self.now_ns);
        if self.edge > 0.0 {
            self.advance_episode();
        }
    }

    /// Whether the edges have stopped paying (`SimConfig::edge_until_ms`).
    fn decayed(&self) -> bool {
        self.now_ns / NS_PER_MS >= self.config.edge_until_ms
    }

    /// The trend's strength now: the edge's, until it decays.
    fn trend_strength(&self) -> f64 {
        if self.decayed() { 0.0 } else { self.edge }
    }

    /// Starts an accumulation when one is due, and steps the fair price when its time comes.
    fn advance_episode(&mut self) {
        match self.step {
            Some(step) if self.now_ns >= step.at_ms * NS_PER_MS => {
                let ticks_per_s = self.fair * step.bps / 1e4 / FLOW_STEP_S;
                let ends_ns = self.now_ns + (FLOW_STEP_S * 1e9) as u64;
                self.ramp = Some(match step.side {
                    Side::Buy => (ends_ns, ticks_per_s),
                    Side::Sell => (ends_ns, -ticks_per_s),
                });
                self.step = None;
                self.next_episode_ns = self.schedule(FLOW_EPISODES_PER_HOUR);
            }
            None if self.now_ns >= self.next_episode_ns => {
                let side = if self.rng.random::<bool>() {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let (shortest, longest) = FLOW_ACCUMULATION_S;
                let seconds = self.rng.random_range(shortest..longest);
                self.step = Some(PlannedStep {
                    side,
                    at_ms: (self.now_ns + (seconds * 1e9) as u64) / NS_PER_MS,
                    // Decayed: the informed accumulate as before, and are wrong.
                    bps: if self.decayed() {
                        0.0
                    } else {
                        self.edge * FLOW_STEP_BPS
                    },
                });
            }
            _ => {}
        }
    }

    fn fire_timer(&mut self, out: &mut Vec<u8>) -> Option<SimFrame> {
        if self.now_ns == self.next_book_push_ns {
            self.next_book_push_ns += BOOK_PUSH_MS * NS_PER_MS;
            if self.force_snapshot || self.now_ns >= self.next_snapshot_ns {
                self.force_snapshot = false;
                if self.now_ns >= self.next_snapshot_ns {
                    self.next_snapshot_ns = self.schedule(self.params.snapshots_per_hour);
                }
                return Some(self.book_snapshot(out));
            }
            let (bids, asks) = self.book.diff_published(PUBLISHED_DEPTH);
            if bids.is_empty() && asks.is_empty() {
                return None;
            }
            self.update_id += 1;
            let cts = self.last_event_ns.min(self.now_ns);
            json::book_message(
                out,
                &self.config,
                "delta",
                self.now_ns,
                cts,
                self.update_id,
                self.seq,
                bids,
                asks,
            );
            return Some(self.frame(self.now_ns, FrameKind::BookDelta));
        }
        if self.now_ns == self.next_ticker_ns {
            self.next_ticker_ns += TICKER_PUSH_MS * NS_PER_MS;
            let snapshot = !self.ticker.sent;
            let written = json::ticker_message(
                out,
                &self.config,
                &mut self.ticker,
                &self.book,
                self.last_trade_ticks,
                self.now_ns,
                self.seq,
                snapshot,
            );
            return written.then(|| self.frame(self.now_ns, FrameKind::Ticker));
        }
        self.next_pong_ns += PONG_MS * NS_PER_MS;
        json::pong(out, self.now_ns);
        Some(self.frame(self.now_ns, FrameKind::Pong))
    }

    fn book_snapshot(&mut self, out: &mut Vec<u8>) -> SimFrame {
        self.update_id += 1;
        let (bids, asks) = self.book.publish_all(PUBLISHED_DEPTH);
        json::book_message(
            out,
            &self.config,
            "snapshot",
            self.now_ns,
            self.last_event_ns.min(self.now_ns),
            self.update_id,
            self.seq,
            bids,
            asks,
        );
        self.frame(self.now_ns, FrameKind::BookSnapshot)
    }

    fn tilt(&self, strength: f64) -> f64 {
        (0.5 + strength * self.pressure.tanh()).clamp(0.02, 0.98)
    }

    /// One limit order, cancel or market order; a market order returns its trades frame.
    ///
    /// Besides the pressure tilts, the book follows the fair price: market orders are mostly
    /// informed when the fair price has left the spread (they buy when it is above the ask and
    /// take every level up to it), stale quotes on the wrong side of it are cancelled first,
    /// and new orders in a wide spread are placed next to it.
    fn random_event(&mut self, out: &mut Vec<u8>) -> Option<SimFrame> {
        self.last_event_ns = self.now_ns;
        let market = self.market_rate();
        let adds = self.params.book_rate;
        let pick = self.rng.random::<f64>() * self.total_rate();
        let thin = if self.now_ns < self.thin_until_ns {
            0.35
        } else {
            1.0
        };
        let (Some(bid), Some(ask)) = (self.book.best(Side::Buy), self.book.best(Side::Sell)) else {
            self.book.replenish(&mut self.rng, &self.limit_size);
            return None;
        };
        if let Some(step) = self.step
            && pick >= self.total_rate() - self.resting_rate()
        {
            // The informed accumulate behind the touch, where the mid does not see them.
            self.seq += 1;
            let behind = 2 + geometric(&mut self.rng, 0.2).min(10) as i64;
            let lots = self.limit_size.lots(&mut self.rng, 1.0);
            let price = match step.side {
                Side::Buy => bid - behind,
                Side::Sell => ask + behind,
            };
            self.book.add_at(step.side, price, lots);
            return None;
        }
        let fair_above = self.fair > ask as f64;
        let fair_below = self.fair < bid as f64;
        if pick < market {
            let informed = (fair_above || fair_below) && self.rng.random::<f64>() < 0.8;
            let (side, limit) = if informed {
                let side = if fair_above { Side::Buy } else { Side::Sell };
                (side, Some(self.fair))
            } else if self.edge > 0.0
                && self.rng.random::<f64>() < self.trend_strength() * EDGE_INFORMED_SHARE
            {
                let side = if self.signal > 0.0 {
                    Side::Buy
                } else {
                    Side::Sell
                };
                (side, None)
            } else {
                let buy = self.rng.random::<f64>() < self.tilt(self.params.flow_tilt);
                (if buy { Side::Buy } else { Side::Sell }, None)
            };
            let lots = self.market_size.lots(&mut self.rng, 1.0);
            return self.market_order(side, lots, limit, out);
        }
        self.seq += 1;
        let queue_tilt = self.tilt(self.params.queue_tilt);
        if pick < market + adds {
            let side = if self.rng.random::<f64>() < queue_tilt {
                Side::Buy
            } else {
                Side::Sell
            };
            let lots = self.limit_size.lots(&mut self.rng, thin);
            let near_fair = match side {
                Side::Buy => (self.fair - 0.5).floor() as i64,
                Side::Sell => (self.fair + 0.5).ceil() as i64,
            };
            if ask - bid > 1 && near_fair > bid && near_fair < ask {
                self.book.add_at(side, near_fair, lots);
            } else {
                let distance = geometric(&mut self.rng, 0.35);
                self.book.add_limit(side, distance, lots, &mut self.rng);
            }
        } else if fair_above || fair_below {
            // Stale quotes go first.
            self.book
                .cancel(if fair_above { Side::Sell } else { Side::Buy }, 0, 1.0);
        } else {
            // Pressure up: the ask side is cancelled more.
            let side = if self.rng.random::<f64>() < queue_tilt {
                Side::Sell
            } else {
                Side::Buy
            };
            let distance = geometric(&mut self.rng, 0.5);
            let fraction = self.rng.random_range(0.2..=1.0);
            self.book.cancel(side, distance, fraction);
        }
        self.book.replenish(&mut self.rng, &self.limit_size);
        None
    }

    /// A market order of at least `lots`; with a `limit` (the fair price) it also takes every
    /// level better than the limit, as an informed trader would.
    fn market_order(
        &mut self,
        side: Side,
        lots: i64,
        limit: Option<f64>,
        out: &mut Vec<u8>,
    ) -> Option<SimFrame> {
        self.prints.clear();
        self.print_side = side;
        let mut remaining = lots;
        while self.prints.len() < MAX_PRINTS {
            let touch = self.book.best(side.opposite());
            let inside_limit = match (limit, touch) {
                (Some(limit), Some(touch)) => match side {
                    Side::Buy => (touch as f64) < limit,
                    Side::Sell => (touch as f64) > limit,
                },
                _ => false,
            };
            if remaining <= 0 && !inside_limit {
                break;
            }
            let want = if inside_limit { i64::MAX } else { remaining };
            let Some((price_ticks, taken)) = self.book.take_touch(side.opposite(), want) else {
                break;
            };
            self.seq += 1;
            remaining -= taken;
            self.prints.push(Print {
                price_ticks,
                lots: taken,
                seq: self.seq,
            });
        }
        self.book.replenish(&mut self.rng, &self.limit_size);
        self.burst += self.params.burst_branching / self.params.burst_decay_s;
        let last = *self.prints.last()?;
        let up = last.price_ticks > self.last_trade_ticks
            || (last.price_ticks == self.last_trade_ticks && self.last_tick_up);
        let changed = last.price_ticks != self.last_trade_ticks;
        self.last_tick_up = up;
        self.last_trade_ticks = last.price_ticks;
        self.ticker.traded(
            self.prints.iter().map(|print| print.lots).sum(),
            last.price_ticks,
        );
        let publish_ns = self.now_ns + self.rng.random_range(1..3) * NS_PER_MS;
        json::trades(
            out,
            &self.config,
            self.now_ns,
            publish_ns,
            side,
            &self.prints,
            up,
            changed,
            &mut self.rng,
        );
        Some(self.frame(publish_ns, FrameKind::Trades))
    }

    /// A price jump: the book shifts by tens of ticks, the touch is swept out (a spread
    /// blow-out) and the book stays thin for two minutes.
    fn jump(&mut self) {
        let mean_ticks = self.fair * self.params.jump_bps / 1e4;
        let ticks = 5 + geometric(&mut self.rng, 1.0 / mean_ticks.max(1.0)) as i64;
        let direction = if self.rng.random::<bool>() { 1 } else { -1 };
        let blowout = self.rng.random_range(3..15);
        self.book.shift_and_sweep(direction * ticks, blowout);
        self.fair += (direction * ticks) as f64;
        self.thin_until_ns = self.now_ns + 120 * 1_000 * NS_PER_MS;
        self.burst += 3.0 * self.params.market_rate;
        self.seq += 1;
        self.last_event_ns = self.now_ns;
    }
}

/// Log-normal order sizes, in lots.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SizeDist {
    mu: f64,
    sigma: f64,
}

impl SizeDist {
    /// Sizes with mean `mean` lots and log-space spread `sigma`.
    fn with_mean(mean: f64, sigma: f64) -> SizeDist {
        // E[X] = exp(mu + sigma^2 / 2)
        SizeDist {
            mu: mean.ln() - sigma * sigma / 2.0,
            sigma,
        }
    }

    /// One size, scaled by `scale`, at least one lot.
    fn lots(&self, rng: &mut ChaCha8Rng, scale: f64) -> i64 {
        let normal: f64 = StandardNormal.sample(rng);
        (((self.mu + self.sigma * normal).exp() * scale).round() as i64).max(1)
    }
}

/// Number of failures before the first success with probability `p` (0, 1, 2, ...).
fn geometric(rng: &mut ChaCha8Rng, p: f64) -> usize {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    (u.ln() / (1.0 - p.clamp(1e-6, 0.999_999)).ln()).floor() as usize
}

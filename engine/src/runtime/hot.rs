//! The hot loop: one thread that polls its source and runs, per frame, the venue's clock (a
//! simulated venue's; a live one ignores it), decode, book, features, the order manager,
//! candidates, routing, scoring, gates, sizing and orders. Nothing here allocates, locks or blocks once warm; what the cold path
//! needs leaves on rings, and what it sends back (control, new models) is read between two
//! frames.
//!
//! The loop drives its venue through [`Venue`] alone, generic over it: it never knows which
//! venue it has, and no call goes through a vtable.
//!
//! Market time is the receive time of the frame being handled. Every decision depends only on
//! the frames and the market time, so a replay of the same journal with the same seed makes
//! the same decisions. The one input from another thread that changes decisions is the
//! supervisor's control; in [`Lockstep`] the hot thread waits for the supervisor to have
//! handled each event it sent before going on, so that control lands on the same frame in
//! every replay (a replay has no market to keep up with, so the wait costs nothing real).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use feed::markout::{MARKOUT_HORIZONS_NS, MAX_PENDING_MARKOUTS, Markouts, Measured};
use feed::order::{OrderId, OrderRequest, VenueEvent};
use feed::venue::VenueNote;
use feed::{Fixed, FrameBuf, Instrument, Symbol, Venue};
use rtrb::Consumer;

use crate::config::{Config, RolloutMode};
use crate::executor::UnrepresentableValue;
use crate::pipeline::{Account, FrameOutcome, Pipeline, Stage};
use crate::signals::SignalId;

use super::recorder::FrameRecorder;
use super::rings::{
    CancelReason, Control, LogRecord, MarketEvent, ModelSwap, Outbox, Outcome, Purpose, Route,
    Sample, SupervisorEvent, ring,
};
use super::source::{Poll, Source, SourceError};
use super::stats::{
    HotStats, REJECT_ENTRY_WORKING, REJECT_HALTED, REJECT_POSITION_BUSY, StageHistograms,
    TimedStage, rejection_index,
};
use super::trader::{Blocked, OrderSink, Trader, TraderRules};

/// The mid is sampled for the supervisor this often, in market time (ns).
pub const MARKET_SAMPLE_NS: u64 = 100_000_000;
/// Counters and latency histograms go to the metrics thread this often, in market time (ns).
pub const PUBLISH_NS: u64 = 250_000_000;

/// How long the stopped loop waits for room for its last counters (the metrics thread drains
/// every 20 ms).
const LAST_PUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// An idle hot thread rehearses the last book frame and scores once this often (wall time, ns)
/// to keep the hot path in the caches.
const WARM_INTERVAL_NS: u64 = 200_000;

/// In lockstep, spins waiting for the supervisor before yielding the core to it: replays run
/// side by side (a Monte-Carlo, a canary's baselines) put more threads than cores to work,
/// and a thread that only spins keeps the supervisor it waits for off its core.
const LOCKSTEP_SPINS: u32 = 64;

/// The rings of the hot thread.
pub struct HotRings {
    /// Counter snapshots, to metrics.
    pub stats: Outbox<HotStats>,
    /// Full latency histograms, to metrics.
    pub latency: Outbox<Box<StageHistograms>>,
    /// Empty latency histograms, back from metrics.
    pub latency_spare: Consumer<Box<StageHistograms>>,
    /// Closed trades and mid samples, to the supervisor.
    pub supervisor: Outbox<SupervisorEvent>,
    /// Scored candidates, to shadow scoring.
    pub shadow: Outbox<Sample>,
    /// Scored candidates, to the parity checker.
    pub parity: Outbox<Sample>,
    /// The decision and fill log.
    pub log: Outbox<LogRecord>,
    /// Control, from the supervisor.
    pub control: Consumer<Control>,
    /// New models, from the registry.
    pub models: Consumer<ModelSwap>,
    /// Replaced models, back to the registry to be dropped there.
    pub retired: Outbox<ModelSwap>,
}

/// The cold ends of rings that nobody reads: held so that the rings stay connected.
pub type UnreadEnds = Vec<Box<dyn std::any::Any + Send>>;

impl HotRings {
    /// Rings of `capacity` messages (four for histograms, control and models) whose cold ends
    /// are held and never read or written: a cold path that has stalled entirely.
    pub fn unread(capacity: usize) -> (HotRings, UnreadEnds) {
        let (stats, stats_end) = ring::<HotStats>(capacity);
        let (latency, latency_end) = ring::<Box<StageHistograms>>(4);
        let (spare_end, latency_spare) = rtrb::RingBuffer::<Box<StageHistograms>>::new(4);
        let (supervisor, supervisor_end) = ring::<SupervisorEvent>(capacity);
        let (shadow, shadow_end) = ring::<Sample>(capacity);
        let (parity, parity_end) = ring::<Sample>(capacity);
        let (log, log_end) = ring::<LogRecord>(capacity);
        let (control_end, control) = rtrb::RingBuffer::<Control>::new(4);
        let (models_end, models) = rtrb::RingBuffer::<ModelSwap>::new(4);
        let (retired, retired_end) = ring::<ModelSwap>(4);
        let rings = HotRings {
            stats,
            latency,
            latency_spare,
            supervisor,
            shadow,
            parity,
            log,
            control,
            models,
            retired,
        };
        let ends: UnreadEnds = vec![
            Box::new(stats_end),
            Box::new(latency_end),
            Box::new(spare_end),
            Box::new(supervisor_end),
            Box::new(shadow_end),
            Box::new(parity_end),
            Box::new(log_end),
            Box::new(control_end),
            Box::new(models_end),
            Box::new(retired_end),
        ];
        (rings, ends)
    }
}

/// Waits for the supervisor after every event sent to it (deterministic replays).
pub struct Lockstep {
    /// Events the supervisor has handled (`u64::MAX` once it is gone).
    pub handled: Arc<AtomicU64>,
    /// Events sent.
    pub sent: u64,
}

/// Settings of the hot loop beyond the pipeline's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HotSettings {
    /// `executor.sizing.leverage`, for the margin the free balance is net of.
    pub leverage: f64,
    /// `rollout.mode` at start.
    pub rollout: RolloutMode,
    /// `rollout.canary_fraction`.
    pub canary_fraction: f64,
    /// `rollout.rng_seed`.
    pub rng_seed: u64,
    /// Stop after this much market time, ns.
    pub duration_ns: Option<u64>,
    /// Spin when idle (else sleep 50 us).
    pub busy_poll: bool,
    /// The markout horizon the performance guard reads (index into
    /// [`feed::markout::MARKOUT_HORIZONS_NS`]): entry fills' markouts at it go to the supervisor.
    pub guard_markout_horizon: usize,
}

/// Why the hot loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The source was exhausted.
    EndOfFeed,
    /// `--duration` of market time passed.
    Duration,
    /// Ctrl-C, SIGTERM, or the runtime asked.
    Signal,
    /// The venue refused the credentials for good ([`Venue::failure`]).
    VenueFailed,
    /// The source failed (the run returns its error, after cancelling what was working).
    SourceFailed,
}

/// What the hot loop reports at the end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HotReport {
    /// Final counters.
    pub stats: HotStats,
    /// Why it stopped.
    pub stop: StopReason,
    /// Cancels sent at shutdown.
    pub cancels_at_shutdown: usize,
    /// Orders still resting at the venue after shutdown (0: every working order cancelled).
    pub resting_after_shutdown: usize,
    /// Position left open at shutdown (maker-only: not flattened).
    pub open_position: Fixed,
}

/// When `event` happened, ns.
const fn event_ts(event: &VenueEvent) -> u64 {
    match event {
        VenueEvent::Accepted { ts_ns, .. }
        | VenueEvent::Rejected { ts_ns, .. }
        | VenueEvent::Cancelled { ts_ns, .. }
        | VenueEvent::Amended { ts_ns, .. }
        | VenueEvent::AmendRejected { ts_ns, .. } => *ts_ns,
        VenueEvent::Filled(fill) => fill.ts_ns,
    }
}

/// The first time after `now` on the grid `tick + k x period` (a periodic task that keeps its
/// phase however the frames fall).
const fn next_tick(tick: u64, now: u64, period: u64) -> u64 {
    tick + ((now - tick) / period + 1) * period
}

/// The route of `signal`: a deterministic hash of its id and `seed` against `fraction`.
pub fn route_of(signal: SignalId, seed: u64, mode: RolloutMode, fraction: f64) -> Route {
    match mode {
        RolloutMode::Disabled => Route::Active,
        RolloutMode::Full => Route::Canary,
        RolloutMode::Canary => {
            // splitmix64 of the id keyed by the seed: uniform on [0, 1).
            let mut z = signal.0 ^ seed.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            let unit = (z >> 11) as f64 / (1_u64 << 53) as f64;
            if unit < fraction {
                Route::Canary
            } else {
                Route::Active
            }
        }
    }
}

/// Orders from the order manager to the venue, logged and counted.
struct VenueSink<'a, V> {
    venue: &'a mut V,
    log: &'a mut Outbox<LogRecord>,
    stats: &'a mut HotStats,
}

impl<V: Venue> OrderSink for VenueSink<'_, V> {
    fn place(&mut self, order: OrderRequest, purpose: Purpose, now_ns: u64) {
        self.stats.orders += 1;
        if purpose == Purpose::Entry {
            self.stats.entries += 1;
        }
        self.log.push(LogRecord::Place {
            ts_ns: now_ns,
            order,
            purpose,
        });
        self.venue.submit(order, now_ns);
    }

    fn amend(&mut self, id: OrderId, price: Fixed, qty: Fixed, purpose: Purpose, now_ns: u64) {
        self.stats.amends += 1;
        self.log.push(LogRecord::Amend {
            ts_ns: now_ns,
            id,
            price,
            qty,
            purpose,
        });
        self.venue.amend(id, price, qty, now_ns);
    }

    fn cancel(&mut self, id: OrderId, reason: CancelReason, now_ns: u64) {
        self.stats.cancels += 1;
        self.log.push(LogRecord::Cancel {
            ts_ns: now_ns,
            id,
            reason,
        });
        self.venue.cancel(id, now_ns);
    }
}

/// The index in [`feed::markout::MARKOUT_HORIZONS_NS`] of `gates.markout_horizon` (the
/// configuration only takes one of them; the longest otherwise): the horizon the canary's
/// markout gate and the live performance guard read.
pub fn markout_horizon_index(gates: &crate::config::CanaryGates) -> usize {
    let horizon_ns = gates.markout_horizon.get().as_nanos();
    MARKOUT_HORIZONS_NS
        .iter()
        .position(|&horizon| u128::from(horizon) == horizon_ns)
        .unwrap_or(MARKOUT_HORIZONS_NS.len() - 1)
}

/// Entry fills remembered for their markouts: a few more than can wait for the longest
/// horizon at once, one entry working a side at a time (an older one forgotten is only a
/// markout the guard does not see).
const ENTRY_FILLS: usize = 64;

/// The routes of the latest [`ENTRY_FILLS`] entry fills, overwritten in turn.
#[derive(Debug, Clone, Copy)]
struct EntryFills {
    fills: [Option<(OrderId, Route)>; ENTRY_FILLS],
    next: usize,
}

impl Default for EntryFills {
    fn default() -> Self {
        EntryFills {
            fills: [None; ENTRY_FILLS],
            next: 0,
        }
    }
}

impl EntryFills {
    fn record(&mut self, id: OrderId, route: Route) {
        self.fills[self.next] = Some((id, route));
        self.next = (self.next + 1) % ENTRY_FILLS;
    }

    /// The route of entry order `id`, if one of its fills is remembered.
    fn route(&self, id: OrderId) -> Option<Route> {
        self.fills
            .iter()
            .flatten()
            .find(|(entry, _)| *entry == id)
            .map(|&(_, route)| route)
    }
}

/// The hot loop of one symbol, trading on venue `V`.
pub struct HotLoop<V> {
    source: Source,
    frame: FrameBuf,
    pipeline: Pipeline,
    venue: V,
    /// Markouts of the venue's fills, against the mid.
    markouts: Markouts,
    /// Those that came due on this frame (room for every pending one).
    markouts_due: Vec<Measured>,
    /// The latest entry fills and their routes, to tell the guard's markouts from the rest.
    entry_fills: EntryFills,
    trader: Trader,
    active: ModelSwap,
    canary: Option<ModelSwap>,
    settings: HotSettings,
    rollout: RolloutMode,
    stats: HotStats,
    clock: quanta::Clock,
    stages: Box<StageHistograms>,
    rings: HotRings,
    lockstep: Option<Lockstep>,
    events: Vec<VenueEvent>,
    /// Records every frame as received, when the run records.
    recorder: Option<FrameRecorder>,
    now_ns: u64,
    end_ns: Option<u64>,
    next_publish_ns: u64,
    next_market_ns: u64,
    /// When the idle loop last warmed the hot path (raw clock).
    last_warm: u64,
    /// Whether the last poll found the source idle: frames are then far apart, and each is
    /// copied before decoding so the idle loop can rehearse it.
    idle: bool,
    /// The copy of the frame being handled (when `idle`).
    copy: FrameBuf,
    /// The last book frame, for the idle loop's rehearsal (empty until there is one).
    rehearsal: FrameBuf,
    /// Where a rehearsal decodes (decoding rewrites a frame in place).
    scratch: FrameBuf,
    /// Whether the book was valid after the last book frame: entries halt (and working ones
    /// are cancelled) from the frame that invalidates it to the snapshot that restores it.
    book_valid: bool,
}

impl<V: Venue> HotLoop<V> {
    /// A hot loop trading on `venue` with `active` (and `canary`, if any) from the start.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        source: Source,
        pipeline: Pipeline,
        venue: V,
        trader: Trader,
        active: ModelSwap,
        settings: HotSettings,
        rings: HotRings,
        lockstep: Option<Lockstep>,
    ) -> HotLoop<V> {
        HotLoop {
            source,
            frame: FrameBuf::with_capacity(1 << 20),
            pipeline,
            venue,
            markouts: Markouts::new(),
            markouts_due: Vec::with_capacity(MAX_PENDING_MARKOUTS),
            entry_fills: EntryFills::default(),
            trader,
            active,
            canary: None,
            rollout: settings.rollout,
            settings,
            stats: HotStats::default(),
            clock: quanta::Clock::new(),
            stages: Box::new(StageHistograms::new()),
            rings,
            lockstep,
            events: Vec::with_capacity(V::MAX_EVENTS),
            recorder: None,
            now_ns: 0,
            end_ns: None,
            next_publish_ns: 0,
            next_market_ns: 0,
            last_warm: 0,
            idle: false,
            copy: FrameBuf::with_capacity(1 << 20),
            rehearsal: FrameBuf::with_capacity(1 << 20),
            scratch: FrameBuf::with_capacity(1 << 20),
            book_valid: false,
        }
    }

    /// The hot loop of `config` on `venue`: the pipeline of `symbol`, the order manager
    /// ([`TraderRules::from_config`]) and the loop's settings, trading with `active` from the
    /// start and stopping after `duration` of market time.
    #[allow(clippy::too_many_arguments)]
    pub fn from_config(
        config: &Config,
        symbol: Symbol,
        instrument: Instrument,
        source: Source,
        venue: V,
        active: ModelSwap,
        duration: Option<Duration>,
        rings: HotRings,
        lockstep: Option<Lockstep>,
    ) -> Result<HotLoop<V>, UnrepresentableValue> {
        let nanos = |duration: Duration| u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        let trader = Trader::new(TraderRules {
            amend: V::AMENDS,
            ..TraderRules::from_config(config, &instrument)
        });
        let pipeline = Pipeline::new(config, symbol, instrument, active.tau_entry)?;
        let settings = HotSettings {
            leverage: config.executor.sizing.leverage,
            rollout: config.rollout.mode,
            canary_fraction: config.rollout.canary_fraction,
            rng_seed: config.rollout.rng_seed,
            duration_ns: duration.map(nanos),
            busy_poll: config.engine.busy_poll,
            guard_markout_horizon: markout_horizon_index(&config.canary.gates),
        };
        Ok(HotLoop::new(
            source, pipeline, venue, trader, active, settings, rings, lockstep,
        ))
    }

    /// Approves entries by `rule` instead of the model's score (a canary's baselines).
    pub fn with_entry_rule(mut self, rule: crate::pipeline::EntryRule) -> HotLoop<V> {
        self.pipeline.set_entry_rule(rule);
        self
    }

    /// Records every frame, as received, through `recorder`.
    pub fn with_recorder(mut self, recorder: FrameRecorder) -> HotLoop<V> {
        self.recorder = Some(recorder);
        self
    }

    /// Runs until the source ends, the duration passes, `stop` is set or the venue fails; then
    /// cancels every working order, publishes the last counters and reports. A failed source
    /// ends the run the same way (working orders cancelled) before its error is returned.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<HotReport, SourceError> {
        let reason = loop {
            match self.step(stop) {
                Ok(Some(reason)) => break reason,
                Ok(None) => {}
                Err(error) => {
                    self.shut_down(StopReason::SourceFailed);
                    return Err(error);
                }
            }
        };
        Ok(self.shut_down(reason))
    }

    /// One turn of the loop: control and new models from the cold path, then one poll of the
    /// source and the frame it brought, if any. `Some` when the loop is to stop.
    pub fn step(&mut self, stop: &AtomicBool) -> Result<Option<StopReason>, SourceError> {
        if stop.load(Ordering::Relaxed) {
            return Ok(Some(StopReason::Signal));
        }
        if self.venue.failure().is_some() {
            return Ok(Some(StopReason::VenueFailed));
        }
        self.poll_cold();
        // A live venue's answers and pushes come between market frames too.
        if self.venue.poll() {
            self.handle_venue_events();
        }
        self.log_venue_notes();
        let polled = self.clock.raw();
        match self.source.poll(&mut self.frame)? {
            Poll::Frame { recv_ns } => {
                let received = self.clock.raw();
                self.stages.record(
                    TimedStage::Receive,
                    self.clock.delta_as_nanos(polled, received),
                );
                let duration = self.settings.duration_ns;
                let end = *self.end_ns.get_or_insert_with(|| {
                    duration.map_or(u64::MAX, |d| recv_ns.saturating_add(d))
                });
                if recv_ns >= end {
                    return Ok(Some(StopReason::Duration));
                }
                self.on_frame(recv_ns);
            }
            Poll::Idle if self.settings.busy_poll => {
                self.idle = true;
                self.keep_warm();
            }
            Poll::Idle => std::thread::sleep(std::time::Duration::from_micros(50)),
            Poll::Lost(reason) => self.on_link_lost(reason),
            Poll::End => return Ok(Some(StopReason::EndOfFeed)),
        }
        Ok(None)
    }

    /// The feed's link was lost (`reason`): every book is stale until its next snapshot, so
    /// the working entries are cancelled ([`HotLoop::on_book_state`]).
    fn on_link_lost(&mut self, reason: feed::bybit::live::LossReason) {
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.record_link_loss(self.now_ns, reason);
        }
        self.rings.log.push(LogRecord::Market {
            ts_ns: self.now_ns,
            event: MarketEvent::LinkLost(reason),
        });
        self.pipeline.invalidate_book();
        self.on_book_state();
    }

    /// The book of the traded symbol.
    pub fn book(&self) -> &feed::OrderBook {
        self.pipeline.book()
    }

    /// Counters so far.
    pub const fn stats(&self) -> &HotStats {
        &self.stats
    }

    /// Handles one frame received at `recv_ns`.
    pub fn on_frame(&mut self, recv_ns: u64) {
        let start = self.clock.raw();
        self.now_ns = recv_ns;
        if self.stats.frames == 0 {
            self.stats.first_market_ns = recv_ns;
            self.next_publish_ns = recv_ns + PUBLISH_NS;
            self.next_market_ns = recv_ns;
        }
        self.stats.frames += 1;
        self.stats.market_ns = recv_ns;
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.record(recv_ns, self.frame.as_bytes());
        }
        self.venue.advance(recv_ns, self.pipeline.book());

        // Between the sparse frames of a live feed, the idle loop rehearses the last book frame:
        // keep a copy of this one (decoding rewrites it).
        let copied = std::mem::take(&mut self.idle);
        if copied {
            self.copy.fill(self.frame.as_bytes());
        }

        let clock = &self.clock;
        let venue = &mut self.venue;
        let mut marks = [start; 3];
        let outcome = self.pipeline.on_frame_staged(
            &mut self.frame,
            |trades| venue.on_trades(trades, recv_ns),
            |stage| {
                marks[match stage {
                    Stage::Decode => 0,
                    Stage::Book => 1,
                    Stage::Features => 2,
                }] = clock.raw();
            },
        );
        self.stages.record(
            TimedStage::Decode,
            self.clock.delta_as_nanos(start, marks[0]),
        );
        // The book's state first: a halt or a resume takes effect before anything is decided.
        if let FrameOutcome::Book { ts_ms, .. } | FrameOutcome::BookNotValid { ts_ms } = outcome {
            self.stages
                .record_feed_delay(recv_ns.saturating_sub(ts_ms.saturating_mul(1_000_000)));
            self.on_book_state();
        }
        if let FrameOutcome::Book { ts_ms, seq } = outcome {
            if copied {
                std::mem::swap(&mut self.copy, &mut self.rehearsal);
            }
            self.stages.record(
                TimedStage::Book,
                self.clock.delta_as_nanos(marks[0], marks[1]),
            );
            self.stages.record(
                TimedStage::Features,
                self.clock.delta_as_nanos(marks[1], marks[2]),
            );
            self.venue.on_book(self.pipeline.book(), recv_ns);
            self.handle_venue_events();
            if let Some(mid) = self.pipeline.book().mid() {
                let due = &mut self.markouts_due;
                self.markouts
                    .on_mid(recv_ns, mid, |measured| due.push(measured));
                self.report_markouts(recv_ns);
            }
            let orders_before = self.stats.orders;
            self.trader.on_book(
                self.pipeline.book(),
                recv_ns,
                &mut VenueSink {
                    venue: &mut self.venue,
                    log: &mut self.rings.log,
                    stats: &mut self.stats,
                },
            );
            if self.stats.orders > orders_before {
                // A reprice or an exit this tick sent: tick to order too.
                let sent = self.clock.raw();
                self.stages
                    .record(TimedStage::Order, self.clock.delta_as_nanos(start, sent));
            }
            self.check_hold(recv_ns);
            if let Some(candidate) = self.pipeline.candidate(ts_ms, seq) {
                self.decide(candidate, start);
            }
            if recv_ns >= self.next_market_ns {
                self.next_market_ns = next_tick(self.next_market_ns, recv_ns, MARKET_SAMPLE_NS);
                if let Some(mid) = self.pipeline.book().mid() {
                    self.send_to_supervisor(SupervisorEvent::Market {
                        ts_ns: recv_ns,
                        mid: mid.to_f64(),
                    });
                }
            }
        } else if matches!(outcome, FrameOutcome::BookNotValid { .. }) {
            self.stages.record(
                TimedStage::Book,
                self.clock.delta_as_nanos(marks[0], marks[1]),
            );
        }
        if self.pipeline.take_resync_request() {
            self.source.resync(self.pipeline.book().symbol());
        }
        self.handle_venue_events();
        if recv_ns >= self.next_publish_ns {
            self.next_publish_ns = next_tick(self.next_publish_ns, recv_ns, PUBLISH_NS);
            self.publish();
        }
        let end = self.clock.raw();
        self.stages
            .record(TimedStage::Frame, self.clock.delta_as_nanos(start, end));
    }

    /// Follows the book's validity: when it turns invalid, logs why and cancels the working
    /// entries (no new one is made until it is valid: the pipeline proposes no candidate on an
    /// invalid book); when a snapshot makes it valid again, logs that entries resume.
    fn on_book_state(&mut self) {
        let valid = self.pipeline.book().is_valid();
        if valid == self.book_valid {
            return;
        }
        self.book_valid = valid;
        let event = match self.pipeline.book().state() {
            feed::book::BookState::Invalid(reason) => MarketEvent::BookInvalid(reason),
            feed::book::BookState::Valid => MarketEvent::BookValid,
            feed::book::BookState::AwaitingSnapshot => return,
        };
        self.rings.log.push(LogRecord::Market {
            ts_ns: self.now_ns,
            event,
        });
        if !valid {
            self.trader.cancel_entries(
                CancelReason::BookInvalid,
                self.now_ns,
                &mut VenueSink {
                    venue: &mut self.venue,
                    log: &mut self.rings.log,
                    stats: &mut self.stats,
                },
            );
            self.handle_venue_events();
        }
    }

    /// While idle, now and then rehearses the last book frame (decode, the book on a copy, the
    /// features read-only: [`Pipeline::rehearse`]) and scores the current features (the result is discarded), so
    /// that their code, branch history and data stay in the caches: between the frames of a
    /// live feed, milliseconds apart, a shared host's other work evicts them, and the next
    /// frame would pay for it many times over (decode 10 us instead of 1 measured here).
    /// Nothing of this changes a decision or a counter.
    fn keep_warm(&mut self) {
        let now = self.clock.raw();
        if self.clock.delta_as_nanos(self.last_warm, now) < WARM_INTERVAL_NS {
            std::hint::spin_loop();
            return;
        }
        self.last_warm = now;
        if !self.rehearsal.is_empty() {
            self.scratch.fill(self.rehearsal.as_bytes());
            std::hint::black_box(self.pipeline.rehearse(&mut self.scratch));
        }
        let features = self.pipeline.features();
        std::hint::black_box(self.active.scorer.score(features));
        if let Some(canary) = self.canary.as_mut() {
            std::hint::black_box(canary.scorer.score(features));
        }
    }

    fn check_hold(&mut self, now_ns: u64) {
        if !self.trader.hold_check_due(now_ns) {
            return;
        }
        let slot = match (self.trader.trip_route(), self.canary.as_mut()) {
            (Some(Route::Canary), Some(canary)) => canary,
            _ => &mut self.active,
        };
        let score = slot.scorer.score(self.pipeline.features());
        self.trader.on_hold_score(
            score,
            slot.tau_hold,
            self.pipeline.book(),
            now_ns,
            &mut VenueSink {
                venue: &mut self.venue,
                log: &mut self.rings.log,
                stats: &mut self.stats,
            },
        );
    }

    fn decide(&mut self, candidate: crate::signals::Candidate, frame_start: u64) {
        let route = match self.canary {
            Some(_) => route_of(
                candidate.id,
                self.settings.rng_seed,
                self.rollout,
                self.settings.canary_fraction,
            ),
            None => Route::Active,
        };
        self.stats.candidates[route.index()] += 1;
        let account = self.account();
        let slot = match (route, self.canary.as_mut()) {
            (Route::Canary, Some(canary)) => canary,
            _ => &mut self.active,
        };
        self.pipeline.set_tau_entry(slot.tau_entry);
        let clock = &self.clock;
        let score_start = clock.raw();
        let mut scored = score_start;
        let decision = self.pipeline.decide(candidate, &account, &mut |row| {
            let score = slot.scorer.score(row);
            scored = clock.raw();
            score
        });
        let decided = clock.raw();
        self.stages
            .record(TimedStage::Score, clock.delta_as_nanos(score_start, scored));
        self.stages
            .record(TimedStage::Gates, clock.delta_as_nanos(scored, decided));
        self.stages.record(
            TimedStage::Decision,
            clock.delta_as_nanos(frame_start, decided),
        );

        let sample = Sample {
            ts_ns: self.now_ns,
            signal: candidate.id,
            features: *self.pipeline.features(),
            score: decision.score,
            route,
        };
        self.rings.shadow.push(sample);
        self.rings.parity.push(sample);
        if route == Route::Active {
            self.send_to_supervisor(SupervisorEvent::Scored {
                ts_ns: self.now_ns,
                score: decision.score,
                features: sample.features,
            });
        }

        let outcome = match decision.order_qty {
            Err(rejection) => {
                self.stats.rejections[rejection_index(&rejection)] += 1;
                Outcome::Rejected(rejection)
            }
            Ok(_) if self.stats.halts != 0 => {
                self.stats.rejections[REJECT_HALTED] += 1;
                Outcome::Halted
            }
            Ok(qty) => {
                let placed = self.trader.enter(
                    candidate.side,
                    candidate.price,
                    qty,
                    route,
                    self.now_ns,
                    &mut VenueSink {
                        venue: &mut self.venue,
                        log: &mut self.rings.log,
                        stats: &mut self.stats,
                    },
                );
                match placed {
                    Ok(order) => {
                        let sent = self.clock.raw();
                        self.stages.record(
                            TimedStage::Order,
                            self.clock.delta_as_nanos(frame_start, sent),
                        );
                        Outcome::Placed { order }
                    }
                    Err(Blocked::EntryWorking) => {
                        self.stats.rejections[REJECT_ENTRY_WORKING] += 1;
                        Outcome::EntryWorking
                    }
                    Err(Blocked::PositionBusy) => {
                        self.stats.rejections[REJECT_POSITION_BUSY] += 1;
                        Outcome::PositionBusy
                    }
                }
            }
        };
        self.rings.log.push(LogRecord::Decision {
            ts_ns: self.now_ns,
            signal: candidate.id,
            side: candidate.side,
            price: candidate.price,
            score: decision.score,
            route,
            outcome,
        });
    }

    /// The account the gates see. The free balance is the venue's own when it reports one
    /// (Bybit's `totalAvailableBalance` already nets every margin and the unrealised PnL: they
    /// are not taken off twice); else the equity at the mid net of the margin of the position
    /// and of the working entries at `executor.sizing.leverage`.
    fn account(&self) -> Account {
        let account = self.venue.account();
        let free = match account.available {
            Some(available) => available.to_f64(),
            None => {
                let mid = self.pipeline.book().mid().unwrap_or(account.entry_price);
                let leverage = self.settings.leverage.max(1.0);
                let margin = (account.position.abs().to_f64() * mid.to_f64()
                    + self.trader.working_entry_notional())
                    / leverage;
                account.balance.to_f64() + account.unrealized(mid) - margin
            }
        };
        Account {
            free_balance: Fixed::from_f64(free.max(0.0)).unwrap_or(Fixed::ZERO),
            position: account.position,
            liq_price: None,
        }
    }

    fn handle_venue_events(&mut self) {
        loop {
            self.events.clear();
            let events = &mut self.events;
            self.venue.drain_events(|event| events.push(event));
            if self.events.is_empty() {
                return;
            }
            for index in 0..self.events.len() {
                let event = self.events[index];
                // A live venue's events come between frames, stamped when they came: what the
                // loop does about them is stamped no earlier (a simulated venue's are never
                // later than the market time).
                self.now_ns = self.now_ns.max(event_ts(&event));
                match event {
                    VenueEvent::Filled(fill) => {
                        self.stats.fills += 1;
                        self.markouts.on_fill(&fill);
                        if let Some(route) = self.trader.entry_route(fill.id) {
                            self.entry_fills.record(fill.id, route);
                        }
                    }
                    VenueEvent::Rejected { .. } => self.stats.venue_rejects += 1,
                    VenueEvent::Accepted { .. }
                    | VenueEvent::Cancelled { .. }
                    | VenueEvent::Amended { .. }
                    | VenueEvent::AmendRejected { .. } => {}
                }
                self.rings.log.push(LogRecord::Venue {
                    event,
                    received_ns: self.now_ns,
                });
                let closed = self.trader.on_venue_event(
                    &event,
                    self.pipeline.book(),
                    self.now_ns,
                    &mut VenueSink {
                        venue: &mut self.venue,
                        log: &mut self.rings.log,
                        stats: &mut self.stats,
                    },
                );
                if let Some(trade) = closed {
                    self.rings.log.push(LogRecord::Closed(trade));
                    let route = trade.route.index();
                    self.stats.closed_trades[route] += 1;
                    self.stats.wins[route] += u64::from(trade.win());
                    self.send_to_supervisor(SupervisorEvent::Trade(trade));
                }
            }
        }
    }

    /// Writes what the venue found out for itself to the decision log; a position it
    /// corrected is the order manager's from now on.
    fn log_venue_notes(&mut self) {
        let (log, ts_ns) = (&mut self.rings.log, self.now_ns);
        let (mut corrected, mut halted) = (false, false);
        self.venue.drain_notes(|note| {
            corrected |= matches!(note, VenueNote::PositionCorrected { .. });
            halted |= matches!(note, VenueNote::EntriesHalted);
            // A full log ring drops and counts, as for every record.
            let _ = log.push(LogRecord::VenueNote { ts_ns, note });
        });
        if halted {
            // For the rest of the session: the venue was preparing a liquidation.
            self.stats.halts |= super::rings::HaltReason::Liquidation.bit();
        }
        if !corrected {
            return;
        }
        let account = self.venue.account();
        let (qty, entry_price) = (account.position, account.entry_price);
        let book = self.pipeline.book();
        // Without the venue's entry price, the mid stands in for it (the exit's price).
        let entry_price = if entry_price.is_positive() {
            entry_price
        } else {
            book.mid().unwrap_or(entry_price)
        };
        self.trader.take_position(
            qty,
            entry_price,
            book,
            self.now_ns,
            &mut VenueSink {
                venue: &mut self.venue,
                log: &mut self.rings.log,
                stats: &mut self.stats,
            },
        );
    }

    /// Logs the markouts that came due, and hands the supervisor those of entry fills at the
    /// guard's horizon.
    fn report_markouts(&mut self, now_ns: u64) {
        for index in 0..self.markouts_due.len() {
            let measured = self.markouts_due[index];
            self.rings.log.push(LogRecord::Markout {
                ts_ns: now_ns,
                measured,
            });
            if measured.horizon == self.settings.guard_markout_horizon
                && let Some(route) = self.entry_fills.route(measured.id)
            {
                self.send_to_supervisor(SupervisorEvent::EntryMarkout {
                    ts_ns: now_ns,
                    route,
                    bps: measured.bps,
                });
            }
        }
        self.markouts_due.clear();
    }

    /// Sends `event` to the supervisor; in lockstep, waits until it is handled and applies
    /// what it answered.
    fn send_to_supervisor(&mut self, event: SupervisorEvent) {
        if !self.rings.supervisor.push(event) {
            return;
        }
        if let Some(lockstep) = self.lockstep.as_mut() {
            lockstep.sent += 1;
            let mut spins = 0;
            while lockstep.handled.load(Ordering::Acquire) < lockstep.sent {
                if spins < LOCKSTEP_SPINS {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            self.poll_control();
        }
    }

    /// Reads control and new models from the cold path.
    fn poll_cold(&mut self) {
        self.poll_control();
        // A replaced model must go back on the retired ring: take a new one only when it can.
        if self.rings.retired.has_room()
            && let Ok(swap) = self.rings.models.pop()
        {
            self.stats.model_swaps += 1;
            let outgoing = match swap.route {
                Route::Active => Some(std::mem::replace(&mut self.active, swap)),
                Route::Canary => self.canary.replace(swap),
            };
            if let Some(old) = outgoing {
                self.rings.retired.push(old);
            }
        }
    }

    fn poll_control(&mut self) {
        while let Ok(control) = self.rings.control.pop() {
            match control {
                Control::Halt(reason) => self.stats.halts |= reason.bit(),
                Control::Resume(reason) => self.stats.halts &= !reason.bit(),
                Control::Rollout(mode) => self.rollout = mode,
            }
            self.rings.log.push(LogRecord::Control {
                ts_ns: self.now_ns,
                control,
            });
        }
    }

    /// Pushes the counters, and the latency histograms when an empty set is back.
    fn publish(&mut self) {
        self.refresh_stats();
        self.rings.stats.push(self.stats);
        if self.rings.latency.has_room()
            && let Ok(spare) = self.rings.latency_spare.pop()
        {
            let full = std::mem::replace(&mut self.stages, spare);
            self.rings.latency.push(full);
        }
    }

    fn refresh_stats(&mut self) {
        let stats = &mut self.stats;
        stats.set_decoder(self.pipeline.decoder().stats());
        stats.book_resyncs = self.pipeline.book().resyncs();
        stats.book_invalidations = self.pipeline.book().invalidations();
        stats.feed = self.source.feed_stats().copied().unwrap_or_default();
        stats.venue = self.venue.live_stats();
        stats.feature_overflows = self.pipeline.feature_overflows();
        stats.entries_filled = self.trader.entries_filled();
        let account = self.venue.account();
        let mid = self.pipeline.book().mid().unwrap_or(account.entry_price);
        stats.position = account.position.to_f64();
        stats.balance = account.balance.to_f64();
        stats.realized_pnl = account.realized.to_f64();
        stats.fees = account.fees.to_f64();
        stats.unrealized_pnl = account.unrealized(mid);
        stats.markouts = *self.markouts.averages();
        stats.ring_drops = [
            self.rings.stats.dropped(),
            self.rings.latency.dropped(),
            self.rings.supervisor.dropped(),
            self.rings.shadow.dropped(),
            self.rings.parity.dropped(),
            self.rings.log.dropped(),
            self.rings.retired.dropped(),
            self.recorder.as_ref().map_or(0, FrameRecorder::dropped),
        ];
    }

    /// Cancels every working order and lets the venue confirm the cancels ([`Venue::settle`]),
    /// then publishes the last counters.
    fn shut_down(&mut self, stop: StopReason) -> HotReport {
        let now = self.now_ns;
        let cancels_at_shutdown = self.trader.cancel_all(
            now,
            &mut VenueSink {
                venue: &mut self.venue,
                log: &mut self.rings.log,
                stats: &mut self.stats,
            },
        );
        self.venue.settle(self.pipeline.book());
        self.handle_venue_events();
        self.log_venue_notes();
        // The last counters and histograms must reach the metrics thread (its file is the
        // run's record), however full the rings were while the loop ran.
        self.refresh_stats();
        self.rings.stats.push_last(self.stats, LAST_PUSH_WAIT);
        let stages = std::mem::take(&mut self.stages);
        self.rings.latency.push_last(stages, LAST_PUSH_WAIT);
        // The report counts the last pushes too.
        self.refresh_stats();
        HotReport {
            stats: self.stats,
            stop,
            cancels_at_shutdown,
            resting_after_shutdown: self.venue.resting_orders(),
            open_position: self.venue.account().position,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::features::FEATURE_COUNT;
    use crate::model::NativeModel;
    use crate::model::synthetic::generate;
    use crate::runtime::source::{Pace, SimSource};
    use crate::runtime::trader::TraderRules;
    use feed::Symbol;
    use feed::fixtures::btcusdt;
    use feed::sim::{MarketSim, Regime, SimConfig};

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    #[test]
    fn routing_is_a_deterministic_share_of_signal_ids() {
        let canary = |seed| {
            (0..10_000_u64)
                .filter(|&id| {
                    route_of(SignalId(id), seed, RolloutMode::Canary, 0.1) == Route::Canary
                })
                .count()
        };
        assert_eq!(canary(1337), canary(1337));
        assert_eq!(canary(1337), 1018);
        assert_eq!(canary(7), 960);
        assert_eq!(
            route_of(SignalId(5), 1, RolloutMode::Disabled, 1.0),
            Route::Active
        );
        assert_eq!(
            route_of(SignalId(5), 1, RolloutMode::Full, 0.0),
            Route::Canary
        );
    }

    /// A paper loop on an hour of the high-vol simulator (seed 11), with a synthetic model that
    /// approves often; the ends of its rings, unread.
    fn high_vol_paper_loop() -> (HotLoop<feed::paper::PaperVenue>, UnreadEnds) {
        let sim = SimConfig {
            duration_ms: 60 * 60_000,
            ..SimConfig::btcusdt(Regime::HighVol, 1_767_225_600_000, 11)
        };
        let (rings, ends) = HotRings::unread(1 << 17);
        let model = ModelSwap {
            route: Route::Active,
            id: "synthetic".to_owned(),
            scorer: Box::new(NativeModel::compile(&generate(200, 31, FEATURE_COUNT, 42))),
            tau_entry: 0.05,
            tau_hold: 0.01,
        };
        let config = Config::default();
        let venue = crate::venues::paper(&config, &btcusdt()).unwrap();
        let source = Source::Sim(Box::new(SimSource::new(sim, Pace::AsFastAsPossible)));
        let hot = HotLoop::from_config(
            &config,
            Symbol::new("BTCUSDT").unwrap(),
            btcusdt(),
            source,
            venue,
            model,
            None,
            rings,
            None,
        )
        .unwrap();
        (hot, ends)
    }

    /// The supervisor halts entries while a position is open, then resumes them: from the
    /// step that takes the halt no entry is sent and every approved candidate is logged as
    /// halted, the open position is still exited, `halted{reason}` says so, and after the
    /// resume entries are sent again. The decision log shows both controls where they landed.
    #[test]
    fn a_halt_stops_entries_from_the_next_step_lets_exits_work_and_a_resume_restores_them() {
        use super::super::rings::HaltReason;

        let (mut hot, mut ends) = high_vol_paper_loop();
        let stop = AtomicBool::new(false);
        let control = |message: Control, ends: &mut UnreadEnds| {
            let producer = ends
                .iter_mut()
                .find_map(|end| end.downcast_mut::<rtrb::Producer<Control>>())
                .unwrap();
            producer.push(message).unwrap();
        };
        let step_until = |hot: &mut HotLoop<feed::paper::PaperVenue>,
                          done: &dyn Fn(&HotStats) -> bool| {
            for _ in 0..2_000_000 {
                if done(hot.stats()) {
                    return;
                }
                assert_eq!(hot.step(&stop).unwrap(), None);
            }
            panic!("not reached: {:?}", hot.stats());
        };

        // Trade until a position is open, then halt.
        step_until(&mut hot, &|stats| stats.position != 0.0);
        control(Control::Halt(HaltReason::Precision), &mut ends);
        step_until(&mut hot, &|stats| stats.halts != 0);
        let at_halt = *hot.stats();
        // Three minutes of market: the position is exited (max_hold is 60 s), no entry is sent.
        let until = at_halt.market_ns + 180_000_000_000;
        step_until(&mut hot, &|stats| stats.market_ns >= until);
        let halted = *hot.stats();
        assert_eq!(halted.entries, at_halt.entries, "an entry while halted");
        assert!(halted.rejections[REJECT_HALTED] > at_halt.rejections[REJECT_HALTED] + 10);
        assert!(
            halted.closed_trades[0] > at_halt.closed_trades[0],
            "the exit did not work"
        );
        let metrics = super::super::metrics::render(
            &halted,
            &StageHistograms::new(),
            &super::super::board::Board::new("m".to_owned(), "native", RolloutMode::Disabled),
            super::super::metrics::Resident::default(),
        );
        assert!(metrics.contains("\nhalted{reason=\"precision\"} 1\n"));
        assert!(metrics.contains("\nhalted{reason=\"volatility\"} 0\n"));

        // Resume: entries again.
        control(Control::Resume(HaltReason::Precision), &mut ends);
        step_until(&mut hot, &|stats| stats.entries > halted.entries);
        assert_eq!(hot.stats().halts, 0);

        // The decision log, in order: the halt, halted candidates and exits but no entry, the
        // resume, an entry.
        let log = ends
            .iter_mut()
            .find_map(|end| end.downcast_mut::<rtrb::Consumer<LogRecord>>())
            .unwrap();
        let records: Vec<LogRecord> = std::iter::from_fn(|| log.pop().ok()).collect();
        let position =
            |wanted: &dyn Fn(&LogRecord) -> bool| records.iter().position(wanted).unwrap();
        let halt = position(&|record| {
            matches!(
                record,
                LogRecord::Control {
                    control: Control::Halt(HaltReason::Precision),
                    ..
                }
            )
        });
        let resume = position(&|record| {
            matches!(
                record,
                LogRecord::Control {
                    control: Control::Resume(HaltReason::Precision),
                    ..
                }
            )
        });
        let between = &records[halt..resume];
        let entry = |record: &&LogRecord| {
            matches!(
                record,
                LogRecord::Place {
                    purpose: Purpose::Entry | Purpose::Reprice,
                    ..
                }
            )
        };
        assert_eq!(between.iter().filter(entry).count(), 0);
        let halted_decisions = between
            .iter()
            .filter(|record| {
                matches!(
                    record,
                    LogRecord::Decision {
                        outcome: Outcome::Halted,
                        ..
                    }
                )
            })
            .count() as u64;
        assert_eq!(
            halted_decisions,
            halted.rejections[REJECT_HALTED] - at_halt.rejections[REJECT_HALTED]
                + (hot.stats().rejections[REJECT_HALTED] - halted.rejections[REJECT_HALTED])
        );
        // The position is exited while halted: an exit or take-profit fills in between (it may
        // have been placed just before the halt, the entry's fill reaching the manager first).
        let exits: Vec<feed::order::OrderId> = records
            .iter()
            .filter_map(|record| match record {
                LogRecord::Place {
                    order,
                    purpose: Purpose::Exit(_) | Purpose::TakeProfit,
                    ..
                } => Some(order.id),
                _ => None,
            })
            .collect();
        assert!(between.iter().any(|record| {
            matches!(record, LogRecord::Venue { event: VenueEvent::Filled(fill), .. } if exits.contains(&fill.id))
        }));
        assert!(records[resume..].iter().any(|record| entry(&record)));
    }

    /// Every ring's consumer is held but never read: the hot thread runs through ten
    /// simulated minutes anyway, dropping and counting what does not fit.
    #[test]
    fn a_stalled_cold_path_drops_and_counts_and_never_blocks_the_hot_thread() {
        let minutes = 10;
        let config = SimConfig {
            duration_ms: minutes * 60_000 + 1000,
            ..SimConfig::btcusdt(Regime::HighVol, 1_767_225_600_000, 3)
        };
        // The frames inside the run's ten minutes of market time.
        let mut sim = MarketSim::new(config);
        let (mut frames, mut first, mut buffer) = (0_u64, None, Vec::new());
        // Counters are published once per 250 ms period a frame falls in after the first,
        // and once more at shutdown: once per period that holds a frame.
        let mut periods = std::collections::BTreeSet::new();
        while let Some(frame) = sim.next_frame(&mut buffer) {
            let first = *first.get_or_insert(frame.recv_ns);
            if frame.recv_ns < first + minutes * 60_000_000_000 {
                frames += 1;
                periods.insert((frame.recv_ns - first) / PUBLISH_NS);
            }
        }

        let capacity = 8;
        let (rings, _held) = HotRings::unread(capacity);
        let model = ModelSwap {
            route: Route::Active,
            id: "synthetic".to_owned(),
            scorer: Box::new(NativeModel::compile(&generate(200, 31, FEATURE_COUNT, 42))),
            tau_entry: 0.5,
            tau_hold: 0.4,
        };
        let trader = Trader::new(TraderRules {
            entry_ttl_ns: 5_000_000_000,
            max_reprices: 3,
            max_hold_ns: 60_000_000_000,
            hold_check_ns: 1_000_000_000,
            take_profit: 0.001,
            stop: 0.003,
            tick: fx("0.1"),
            amend: false,
        });
        // The default paper venue: 10 000 USD, latency 2 ms + log-normal (15 ms, 0.5),
        // cancels ahead with p = 0.5, seed 7; the instrument's maker fee.
        let venue = crate::venues::paper(&Config::default(), &btcusdt()).unwrap();
        let pipeline = Pipeline::new(
            &Config::default(),
            Symbol::new("BTCUSDT").unwrap(),
            btcusdt(),
            0.5,
        )
        .unwrap();
        let mut hot = HotLoop::new(
            Source::Sim(Box::new(SimSource::new(config, Pace::AsFastAsPossible))),
            pipeline,
            venue,
            trader,
            model,
            HotSettings {
                leverage: 10.0,
                rollout: RolloutMode::Disabled,
                canary_fraction: 0.1,
                rng_seed: 1337,
                duration_ns: Some(minutes * 60_000_000_000),
                busy_poll: true,
                guard_markout_horizon: 2,
            },
            rings,
            None,
        );
        let report = hot.run(&AtomicBool::new(false)).unwrap();
        let stats = report.stats;
        assert_eq!(report.stop, StopReason::Duration);
        assert_eq!(stats.frames, frames);
        // metrics, latency, trades, shadow, parity, log, retired.
        let [
            metrics,
            latency,
            trades,
            shadow,
            parity,
            log,
            retired,
            journal,
        ] = stats.ring_drops;
        assert_eq!(metrics, periods.len() as u64 - capacity as u64);
        assert_eq!(
            latency, 0,
            "histograms rotate only when a spare set is back"
        );
        assert!(trades > 0 && log > 0, "{stats:?}");
        assert_eq!(shadow, stats.total_candidates() - capacity as u64);
        assert_eq!(parity, shadow);
        assert_eq!((retired, journal), (0, 0));
    }

    /// Steps `hot` until the order manager has an entry working (its id), within 2 million
    /// steps.
    fn step_until_an_entry_works(hot: &mut HotLoop<feed::paper::PaperVenue>) -> OrderId {
        let stop = AtomicBool::new(false);
        for _ in 0..2_000_000 {
            if let Some(id) = hot.trader.working_entry() {
                return id;
            }
            assert_eq!(hot.step(&stop).unwrap(), None);
        }
        panic!("no entry worked: {:?}", hot.stats());
    }

    /// The log records written so far.
    fn drain_log(ends: &mut UnreadEnds) -> Vec<LogRecord> {
        let log = ends
            .iter_mut()
            .find_map(|end| end.downcast_mut::<rtrb::Consumer<LogRecord>>())
            .unwrap();
        std::iter::from_fn(|| log.pop().ok()).collect()
    }

    /// A snapshot frame of `book` as it stands (its update id kept, so that the simulator's
    /// next delta follows it): what a resubscription would bring.
    fn snapshot_frame(book: &feed::OrderBook) -> String {
        let side = |side: feed::Side| {
            book.levels(side)
                .iter()
                .map(|level| format!(r#"["{}","{}"]"#, level.price, level.size))
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            r#"{{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":{},"data":{{"s":"BTCUSDT","b":[{}],"a":[{}],"u":{},"seq":{}}},"cts":{}}}"#,
            book.ts(),
            side(feed::Side::Buy),
            side(feed::Side::Sell),
            book.update_id(),
            book.seq(),
            book.ts()
        )
    }

    /// A working entry is cancelled the moment the book can no longer be trusted: a delta that
    /// skips an update (a gap), and a lost feed link; and its cancel is confirmed.
    #[test]
    fn working_entries_are_cancelled_when_the_book_goes_invalid_or_the_feed_link_is_lost() {
        let (mut hot, mut ends) = high_vol_paper_loop();

        // A gap: a delta whose update id skips ahead.
        let entry = step_until_an_entry_works(&mut hot);
        let book = hot.book();
        let update_id = book.update_id();
        let ts = book.ts();
        let restore = snapshot_frame(book);
        let gap = format!(
            r#"{{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":{},"data":{{"s":"BTCUSDT","b":[],"a":[],"u":{},"seq":1}},"cts":{}}}"#,
            ts + 1,
            update_id + 5,
            ts + 1
        );
        hot.frame.fill(gap.as_bytes());
        let now = hot.now_ns + 1_000_000;
        hot.on_frame(now);
        assert!(!hot.book().is_valid());
        let records = drain_log(&mut ends);
        assert!(
            records.iter().any(|record| matches!(
                record,
                LogRecord::Cancel { id, reason: CancelReason::BookInvalid, .. } if *id == entry
            )),
            "{records:?}"
        );

        // A snapshot mends the book; a lost link then does the same to the next entry.
        hot.frame.fill(restore.as_bytes());
        hot.on_frame(now + 1);
        assert!(hot.book().is_valid());
        let entry = step_until_an_entry_works(&mut hot);
        let _ = drain_log(&mut ends);
        let restore = snapshot_frame(hot.book());
        hot.on_link_lost(feed::bybit::live::LossReason::Closed);
        let records = drain_log(&mut ends);
        assert!(
            records.iter().any(|record| matches!(
                record,
                LogRecord::Cancel { id, reason: CancelReason::BookInvalid, .. } if *id == entry
            )),
            "{records:?}"
        );
        // The venue confirms the cancel: the entry ends, nothing works.
        hot.frame.fill(restore.as_bytes());
        let now = hot.now_ns + 1;
        hot.on_frame(now);
        let stop = AtomicBool::new(false);
        for _ in 0..200_000 {
            if hot.trader.working_orders() == 0 {
                break;
            }
            assert_eq!(hot.step(&stop).unwrap(), None);
        }
        let records = drain_log(&mut ends);
        assert!(records.iter().any(|record| matches!(
            record,
            LogRecord::Venue { event: VenueEvent::Cancelled { id, .. }, .. } if *id == entry
        )));
    }
}

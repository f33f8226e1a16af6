//! Labels by trading: each candidate is placed as the engine places it, alone, on a paper venue
//! of its own, and managed by the engine's own order manager until it is flat again.
//!
//! The market is the partition's journal, replayed through the engine's [`Pipeline`], so every
//! trial sees the book, the trades and the times the engine sees. Each frame is handled in the
//! order of `HotLoop::on_frame`: orders in flight arrive, the trades print, a book that turned
//! invalid cancels the working entries, the venue sees the book, the answers that have reached
//! the order manager are handled, the manager follows the book, and a new candidate is placed.
//! Only the model is missing: labels describe every candidate, so no hold check re-scores a
//! position (its exits are the take-profit, the stop and the max hold).
//!
//! A venue's latency draws are keyed by the message and its market-activity measure is kept
//! warm by a venue that carries no order ([`Replay::market`]) and is cloned for each trial, so a
//! trial alone is delayed and filled exactly as the same order in the engine's session is.
//! `label::parity` checks that against the engine.

use std::path::Path;

use anyhow::{Context, Result};
use engine::config::Config;
use engine::pipeline::{FrameOutcome, Pipeline};
use engine::runtime::rings::{CancelReason, ExitReason, Purpose, Route};
use engine::runtime::trader::{OrderSink, Trader, TraderRules};
use engine::signals::Candidate;
use feed::journal::{JournalReader, OnCorrupt, StreamId};
use feed::order::{OrderId, OrderRequest, VenueEvent};
use feed::paper::PaperVenue;
use feed::{Fixed, FrameBuf, Instrument, OrderBook, Side, Symbol};

/// Markout horizons after the first entry fill, ns.
const MARKOUT_HORIZONS_NS: [u64; 3] = [1_000_000_000, 5_000_000_000, 30_000_000_000];

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The entry never filled (expired, left behind, or refused as post-only).
    NoFill,
    /// The position closed on its take-profit.
    TakeProfit,
    /// The mid crossed the stop and the position was exited at the touch.
    Stop,
    /// The position was held `max_hold` and exited at the touch.
    Timeout,
    /// The data ended before the trial did.
    Unknown,
}

impl Outcome {
    /// The name in the labels.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Outcome::NoFill => "no_fill",
            Outcome::TakeProfit => "take_profit",
            Outcome::Stop => "stop",
            Outcome::Timeout => "timeout",
            Outcome::Unknown => "unknown",
        }
    }
}

/// What happened to one candidate's order, as the order manager learned it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TrialResult {
    /// The candidate's signal id.
    pub(crate) signal: u64,
    /// The entry's side.
    pub(crate) side: Side,
    /// How it ended.
    pub(crate) outcome: Outcome,
    /// When the entry was placed, market ns.
    pub(crate) placed_ns: u64,
    /// Quantity the entry asked for.
    pub(crate) qty: Fixed,
    /// When the entry first filled at the venue, ns.
    pub(crate) first_fill_ns: Option<u64>,
    /// Quantity the entries filled in all.
    pub(crate) entry_qty: Fixed,
    /// Their average price.
    pub(crate) entry_price: Option<f64>,
    /// When the position was flat again, at the venue, ns.
    pub(crate) closed_ns: Option<u64>,
    /// Average price of the exits.
    pub(crate) exit_price: Option<f64>,
    /// PnL of the round trip net of both legs' fees, USD.
    pub(crate) net_pnl: Fixed,
    /// Mid markouts after the first entry fill, bps, signed by side.
    pub(crate) markouts_bps: [Option<f64>; 3],
}

impl TrialResult {
    /// The round trip's net return on the entered notional, bps (None without a fill).
    pub(crate) fn net_return_bps(&self) -> Option<f64> {
        let notional = self.entry_price? * self.entry_qty.to_f64();
        (notional > 0.0).then(|| self.net_pnl.to_f64() / notional * 1e4)
    }
}

/// The quantities of both legs of a trial, for averages: qty and qty x price, raw units.
#[derive(Debug, Clone, Copy, Default)]
struct Leg {
    qty: i128,
    notional: i128,
}

impl Leg {
    fn add(&mut self, price: Fixed, qty: Fixed) {
        self.qty += i128::from(qty.raw());
        self.notional += i128::from(qty.raw()) * i128::from(price.raw());
    }

    fn average(&self) -> Option<f64> {
        (self.qty > 0).then(|| self.notional as f64 / self.qty as f64 / 1e8)
    }
}

/// One candidate being traded.
struct Trial {
    trader: Trader,
    venue: PaperVenue,
    result: TrialResult,
    entries: Leg,
    exits: Leg,
    /// The first exit at the touch, if one began.
    exit_reason: Option<ExitReason>,
    /// The round trip is over (or never began); only markouts may be pending.
    settled: bool,
    /// Markouts waiting for their horizon: (due ns, reference price).
    pending_markouts: [Option<(u64, Fixed)>; 3],
}

/// Orders from a trial's manager to its venue, noting what the labels need.
struct TrialSink<'a> {
    venue: &'a mut PaperVenue,
    exit_reason: &'a mut Option<ExitReason>,
}

impl OrderSink for TrialSink<'_> {
    fn place(&mut self, order: OrderRequest, purpose: Purpose, now_ns: u64) {
        if let Purpose::Exit(reason) = purpose {
            self.exit_reason.get_or_insert(reason);
        }
        self.venue.submit(order, now_ns);
    }

    fn cancel(&mut self, id: OrderId, _reason: CancelReason, now_ns: u64) {
        self.venue.cancel(id, now_ns);
    }

    fn amend(
        &mut self,
        id: OrderId,
        price: feed::Fixed,
        qty: feed::Fixed,
        _purpose: Purpose,
        now_ns: u64,
    ) {
        // The paper venue takes no amends (its manager never sends one): refused.
        feed::venue::Venue::amend(self.venue, id, price, qty, now_ns);
    }
}

impl Trial {
    fn sink(&mut self) -> (&mut Trader, TrialSink<'_>) {
        (
            &mut self.trader,
            TrialSink {
                venue: &mut self.venue,
                exit_reason: &mut self.exit_reason,
            },
        )
    }

    /// Hands the answers that reached the manager to it, until none is left.
    fn handle_events(&mut self, book: &OrderBook, now_ns: u64) {
        let mut events = Vec::new();
        loop {
            events.clear();
            self.venue.drain_events(|event| events.push(event));
            if events.is_empty() {
                break;
            }
            for event in &events {
                if let VenueEvent::Filled(fill) = event {
                    if fill.side == self.result.side {
                        self.entries.add(fill.price, fill.qty);
                        if self.result.first_fill_ns.is_none() {
                            self.result.first_fill_ns = Some(fill.ts_ns);
                            for (slot, horizon) in
                                self.pending_markouts.iter_mut().zip(MARKOUT_HORIZONS_NS)
                            {
                                *slot = Some((fill.ts_ns + horizon, fill.price));
                            }
                        }
                    } else {
                        self.exits.add(fill.price, fill.qty);
                    }
                    self.result.net_pnl = self
                        .result
                        .net_pnl
                        .saturating_add(fill.realized)
                        .saturating_sub(fill.fee);
                }
                let (trader, mut sink) = self.sink();
                trader.on_venue_event(event, book, now_ns, &mut sink);
                if let VenueEvent::Filled(fill) = event
                    && fill.side != self.result.side
                    && self.trader.position().is_zero()
                {
                    self.result.closed_ns = Some(fill.ts_ns);
                }
            }
        }
        self.settle_if_done();
    }

    fn settle_if_done(&mut self) {
        if self.settled || self.trader.working_orders() != 0 || !self.trader.position().is_zero() {
            return;
        }
        self.settled = true;
        self.result.outcome = if self.entries.qty == 0 {
            Outcome::NoFill
        } else {
            match self.exit_reason {
                None => Outcome::TakeProfit,
                Some(ExitReason::MaxHold) => Outcome::Timeout,
                Some(ExitReason::Stop | ExitReason::Score) => Outcome::Stop,
            }
        };
        self.result.entry_qty = Fixed::from_raw(i64::try_from(self.entries.qty).unwrap_or(0));
        self.result.entry_price = self.entries.average();
        self.result.exit_price = self.exits.average();
    }

    fn on_mid(&mut self, now_ns: u64, mid: Fixed) {
        let sign = match self.result.side {
            Side::Buy => 1.0,
            Side::Sell => -1.0,
        };
        for (slot, value) in self
            .pending_markouts
            .iter_mut()
            .zip(self.result.markouts_bps.iter_mut())
        {
            if let Some((due, price)) = *slot
                && now_ns >= due
            {
                let price = price.to_f64();
                *value = Some(sign * (mid.to_f64() - price) / price * 1e4);
                *slot = None;
            }
        }
    }

    fn finished(&self) -> bool {
        self.settled && self.pending_markouts.iter().all(Option::is_none)
    }
}

/// The journal replayed once, every candidate traded in its own trial.
pub(crate) struct Replay {
    pipeline: Pipeline,
    /// A venue with no order, fed the whole market: its activity measure is warm when a trial
    /// is cloned from it.
    market: PaperVenue,
    rules: TraderRules,
    book_valid: bool,
    /// Market time of the last frame, ns (what a lost link is stamped with, as in the hot loop).
    now_ns: u64,
    trials: Vec<Trial>,
    done: Vec<TrialResult>,
}

impl Replay {
    /// A replay of `symbol` under `config`; labels use `rules` for the order manager.
    pub(crate) fn new(
        config: &Config,
        symbol: Symbol,
        instrument: Instrument,
        rules: TraderRules,
    ) -> Result<Replay> {
        let market = engine::venues::paper(config, &instrument)
            .context("the paper venue's settings do not fit")?;
        // The threshold plays no part: only the trigger runs, nothing is scored.
        let pipeline = Pipeline::new(config, symbol, instrument, 1.0)
            .context("the configured sizing does not fit the instrument")?;
        Ok(Replay {
            pipeline,
            market,
            rules,
            book_valid: false,
            now_ns: 0,
            trials: Vec::new(),
            done: Vec::new(),
        })
    }

    /// Replays `journal`, placing an entry of `qty_of(candidate)` for each candidate it gives
    /// a quantity; returns every trial, in the order the entries were placed (those the data
    /// ended on are [`Outcome::Unknown`]).
    pub(crate) fn run(
        mut self,
        journal: &Path,
        mut qty_of: impl FnMut(&Candidate) -> Option<Fixed>,
    ) -> Result<Vec<TrialResult>> {
        let mut reader = JournalReader::open(journal, OnCorrupt::Skip)
            .with_context(|| format!("opening the journal {}", journal.display()))?;
        let mut frame = FrameBuf::default();
        while let Some(record) = reader.next_record()? {
            if record.stream == StreamId::LINK {
                self.pipeline.invalidate_book();
                self.on_book_state(self.now_ns);
                continue;
            }
            if record.stream != StreamId::PUBLIC_LINEAR {
                continue;
            }
            let now_ns = record.wall_ns;
            self.now_ns = now_ns;
            frame.fill(record.frame);
            self.on_frame(&mut frame, now_ns, &mut qty_of);
        }
        let mut results = self.done;
        results.extend(self.trials.into_iter().map(|trial| {
            let mut result = trial.result;
            if !trial.settled {
                result.outcome = Outcome::Unknown;
            }
            result
        }));
        results.sort_by_key(|result| (result.placed_ns, result.signal));
        Ok(results)
    }

    fn on_frame(
        &mut self,
        frame: &mut FrameBuf,
        now_ns: u64,
        qty_of: &mut impl FnMut(&Candidate) -> Option<Fixed>,
    ) {
        let book = self.pipeline.book();
        for trial in &mut self.trials {
            trial.venue.advance(now_ns, book);
        }
        let (trials, market) = (&mut self.trials, &mut self.market);
        let outcome = self.pipeline.on_frame_observing(frame, |trades| {
            market.on_trades(trades, now_ns);
            for trial in trials.iter_mut() {
                trial.venue.on_trades(trades, now_ns);
            }
        });
        if matches!(
            outcome,
            FrameOutcome::Book { .. } | FrameOutcome::BookNotValid { .. }
        ) {
            self.on_book_state(now_ns);
        }
        if let FrameOutcome::Book { ts_ms, seq } = outcome {
            let book = self.pipeline.book();
            self.market.on_book(book, now_ns);
            for trial in &mut self.trials {
                trial.venue.on_book(book, now_ns);
                trial.handle_events(book, now_ns);
                if let Some(mid) = book.mid() {
                    trial.on_mid(now_ns, mid);
                }
                let (trader, mut sink) = trial.sink();
                trader.on_book(book, now_ns, &mut sink);
            }
            if let Some(candidate) = self.pipeline.candidate(ts_ms, seq)
                && let Some(qty) = qty_of(&candidate)
            {
                self.place(&candidate, qty, now_ns);
            }
        }
        let book = self.pipeline.book();
        for trial in &mut self.trials {
            trial.handle_events(book, now_ns);
        }
        self.done.extend(
            self.trials
                .extract_if(.., |trial| trial.finished())
                .map(|trial| trial.result),
        );
    }

    /// Follows the book's validity as the hot loop does: a book that turned invalid cancels
    /// the working entries.
    fn on_book_state(&mut self, now_ns: u64) {
        let book = self.pipeline.book();
        let valid = book.is_valid();
        if valid == self.book_valid {
            return;
        }
        self.book_valid = valid;
        if matches!(book.state(), feed::book::BookState::AwaitingSnapshot) || valid {
            return;
        }
        for trial in &mut self.trials {
            let (trader, mut sink) = trial.sink();
            trader.cancel_entries(CancelReason::BookInvalid, now_ns, &mut sink);
            trial.handle_events(book, now_ns);
        }
    }

    fn place(&mut self, candidate: &Candidate, qty: Fixed, now_ns: u64) {
        let mut trial = Trial {
            trader: Trader::new(self.rules),
            venue: self.market.clone(),
            result: TrialResult {
                signal: candidate.id.0,
                side: candidate.side,
                outcome: Outcome::Unknown,
                placed_ns: now_ns,
                qty,
                first_fill_ns: None,
                entry_qty: Fixed::ZERO,
                entry_price: None,
                closed_ns: None,
                exit_price: None,
                net_pnl: Fixed::ZERO,
                markouts_bps: [None; 3],
            },
            entries: Leg::default(),
            exits: Leg::default(),
            exit_reason: None,
            settled: false,
            pending_markouts: [None; 3],
        };
        let (trader, mut sink) = trial.sink();
        // A fresh manager is never blocked.
        let _ = trader.enter(
            candidate.side,
            candidate.price,
            qty,
            Route::Active,
            now_ns,
            &mut sink,
        );
        self.trials.push(trial);
    }
}

//! What crosses between the hot thread and the cold path, and the rings it crosses on.
//!
//! Every ring is an `rtrb` single-producer single-consumer ring of fixed capacity. The hot
//! thread pushes through an [`Outbox`]: a full ring drops the message and counts it, it never
//! waits (but for its last messages, once it has stopped: [`Outbox::push_last`]). Messages are plain `Copy` values (or boxes handed over whole), so pushing allocates
//! nothing.

use feed::order::{OrderRequest, VenueEvent};
use feed::{Fixed, Side};
use rtrb::{Consumer, Producer, RingBuffer};

use crate::config::RolloutMode;
use crate::features::FeatureVector;
use crate::model::Scorer;
use crate::pipeline::Rejection;
use crate::signals::SignalId;

/// The sending end of a ring: a full ring drops the message and counts it.
pub struct Outbox<T> {
    producer: Producer<T>,
    dropped: u64,
}

impl<T> Outbox<T> {
    /// Pushes `value`; false (and counted) when the ring is full.
    pub fn push(&mut self, value: T) -> bool {
        match self.producer.push(value) {
            Ok(()) => true,
            Err(_) => {
                self.dropped += 1;
                false
            }
        }
    }

    /// Pushes the last message of a run, waiting up to `within` for room (the consumer drains
    /// on its own schedule): for the thread that has stopped, never on the hot path. False
    /// (and counted) when the ring stayed full.
    pub fn push_last(&mut self, value: T, within: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + within;
        while !self.has_room() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        self.push(value)
    }

    /// True when a push would not drop (only the producer pushes, so it stays true until it
    /// pushes).
    pub fn has_room(&self) -> bool {
        self.producer.slots() > 0
    }

    /// Messages dropped because the ring was full.
    pub const fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// A ring of `capacity` messages: the outbox for the producer, the consumer for the other side.
pub fn ring<T>(capacity: usize) -> (Outbox<T>, Consumer<T>) {
    let (producer, consumer) = RingBuffer::new(capacity.max(1));
    (
        Outbox {
            producer,
            dropped: 0,
        },
        consumer,
    )
}

/// A ring whose every slot has been written once, so that its pages are resident before the
/// hot thread starts: the first lap of a fresh ring would otherwise page-fault on the hot path
/// and grow the resident memory as it goes.
pub fn warmed_ring<T: Clone>(capacity: usize, filler: &T) -> (Outbox<T>, Consumer<T>) {
    let (mut outbox, mut consumer) = ring(capacity);
    while outbox.producer.push(filler.clone()).is_ok() {}
    while consumer.pop().is_ok() {}
    (outbox, consumer)
}

/// Which model a signal is routed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// The active model (the baseline).
    Active,
    /// The canary: the model in the registry's shadow slot, trading a share of the signals.
    Canary,
}

impl Route {
    /// Both routes.
    pub const ALL: [Route; 2] = [Route::Active, Route::Canary];

    /// Label for logs and metrics.
    pub const fn label(self) -> &'static str {
        match self {
            Route::Active => "active",
            Route::Canary => "canary",
        }
    }

    /// Index into per-route arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Why entries are halted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HaltReason {
    /// A route's rolling winrate fell below `risk.precision.floor`.
    Precision,
    /// Realized volatility rose above `risk.volatility_halt.max_realized_vol_bps`.
    Volatility,
    /// The active model was rolled back and no earlier model was there to take its place:
    /// entries wait for an operator (`toolkit rollout clear`).
    Model,
    /// The venue was preparing a liquidation (it cancelled orders ahead of it, or liquidated):
    /// entries halt for the rest of the session.
    Liquidation,
}

impl HaltReason {
    /// Label for logs and metrics.
    pub const fn label(self) -> &'static str {
        match self {
            HaltReason::Precision => "precision",
            HaltReason::Volatility => "volatility",
            HaltReason::Model => "model",
            HaltReason::Liquidation => "liquidation",
        }
    }

    /// The reason's bit in a halt mask.
    pub const fn bit(self) -> u8 {
        match self {
            HaltReason::Precision => 1,
            HaltReason::Volatility => 2,
            HaltReason::Model => 4,
            HaltReason::Liquidation => 8,
        }
    }

    /// Every reason.
    pub const ALL: [HaltReason; 4] = [
        HaltReason::Precision,
        HaltReason::Volatility,
        HaltReason::Model,
        HaltReason::Liquidation,
    ];
}

/// Cold to hot: what the supervisor tells the hot thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Control {
    /// Stop new entries (exits go on).
    Halt(HaltReason),
    /// Lift a halt.
    Resume(HaltReason),
    /// Change how signals are routed.
    Rollout(RolloutMode),
}

/// Cold to hot: a scorer built, parity-checked and warmed on the registry thread. The hot
/// thread swaps it in between two events and hands the one it replaces back on the
/// `retired` ring, so that it is dropped on the cold side.
pub struct ModelSwap {
    /// The role it takes.
    pub route: Route,
    /// Model id.
    pub id: String,
    /// The scorer.
    pub scorer: Box<dyn Scorer>,
    /// Enter at a score at or above this.
    pub tau_entry: f32,
    /// Exit a position whose score falls below this.
    pub tau_hold: f32,
}

/// A round trip from flat to flat.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClosedTrade {
    /// When the position went flat, ns.
    pub ts_ns: u64,
    /// Route of the entry that opened it.
    pub route: Route,
    /// Side of the position.
    pub side: Side,
    /// Quantity entered.
    pub qty: Fixed,
    /// PnL net of fees, USD.
    pub pnl: f64,
}

impl ClosedTrade {
    /// A winner: positive PnL net of fees.
    pub fn win(&self) -> bool {
        self.pnl > 0.0
    }
}

/// Hot to supervisor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SupervisorEvent {
    /// A round trip closed.
    Trade(ClosedTrade),
    /// The mid price, sampled every [`super::hot::MARKET_SAMPLE_NS`] of market time.
    Market {
        /// Market time, ns.
        ts_ns: u64,
        /// Mid price.
        mid: f64,
    },
    /// An entry fill's markout at the horizon the performance guard reads came due.
    EntryMarkout {
        /// Market time, ns.
        ts_ns: u64,
        /// The route of the entry.
        route: Route,
        /// The markout, bps.
        bps: f64,
    },
    /// A candidate the active model scored, for drift.
    Scored {
        /// Market time, ns.
        ts_ns: u64,
        /// The score.
        score: f32,
        /// Its features.
        features: FeatureVector,
    },
}

/// Hot to registry and parity: a scored feature vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Market time, ns.
    pub ts_ns: u64,
    /// The candidate.
    pub signal: SignalId,
    /// Its features.
    pub features: FeatureVector,
    /// The score the hot path gave it.
    pub score: f32,
    /// Where it was routed.
    pub route: Route,
}

/// What became of a candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// A post-only entry was sent.
    Placed {
        /// The order.
        order: OrderRequest,
    },
    /// The pipeline refused it (score, sizing or a gate).
    Rejected(Rejection),
    /// Entries are halted.
    Halted,
    /// An entry on that side is already working.
    EntryWorking,
    /// A position on the other side is open, or being exited.
    PositionBusy,
}

/// Why an order was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// An entry at the touch.
    Entry,
    /// An entry re-placed at a touch that moved away.
    Reprice,
    /// The reduce-only take-profit.
    TakeProfit,
    /// A reduce-only exit at the touch.
    Exit(ExitReason),
}

impl Purpose {
    /// Label for logs.
    pub const fn label(self) -> &'static str {
        match self {
            Purpose::Entry => "entry",
            Purpose::Reprice => "reprice",
            Purpose::TakeProfit => "take_profit",
            Purpose::Exit(reason) => reason.label(),
        }
    }
}

/// Why a position is exited at the touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// The mid crossed the stop at `risk.assumed_sl_pct`.
    Stop,
    /// The re-scored position fell below tau_hold.
    Score,
    /// Held `strategy.max_hold`.
    MaxHold,
}

impl ExitReason {
    /// Label for logs.
    pub const fn label(self) -> &'static str {
        match self {
            ExitReason::Stop => "exit_stop",
            ExitReason::Score => "exit_score",
            ExitReason::MaxHold => "exit_max_hold",
        }
    }
}

/// Why an order was cancelled by the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The entry outlived `strategy.entry_ttl`.
    Ttl,
    /// The touch moved away; the entry is re-placed when the cancel is confirmed.
    Reprice,
    /// The touch moved away and the entry has no reprices left.
    LeftBehind,
    /// The other side's entry filled, or the position is being exited.
    Superseded,
    /// The take-profit is replaced (the position changed, or an exit takes over).
    Replace,
    /// The engine is shutting down.
    Shutdown,
    /// The book is out of sync (a gap, a crossed book, a lost connection): no entry works
    /// until a fresh snapshot.
    BookInvalid,
}

impl CancelReason {
    /// Label for logs.
    pub const fn label(self) -> &'static str {
        match self {
            CancelReason::Ttl => "ttl",
            CancelReason::Reprice => "reprice",
            CancelReason::LeftBehind => "left_behind",
            CancelReason::Superseded => "superseded",
            CancelReason::Replace => "replace",
            CancelReason::Shutdown => "shutdown",
            CancelReason::BookInvalid => "book_invalid",
        }
    }
}

/// Hot to log writer: the decision and fill log, one record per line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LogRecord {
    /// A candidate and what became of it.
    Decision {
        /// Market time, ns.
        ts_ns: u64,
        /// Signal id.
        signal: SignalId,
        /// Side.
        side: Side,
        /// Price of the candidate (the touch).
        price: Fixed,
        /// Score.
        score: f32,
        /// Route.
        route: Route,
        /// What became of it.
        outcome: Outcome,
    },
    /// An order sent.
    Place {
        /// Market time, ns.
        ts_ns: u64,
        /// The order.
        order: OrderRequest,
        /// Why.
        purpose: Purpose,
    },
    /// A cancel sent.
    Cancel {
        /// Market time, ns.
        ts_ns: u64,
        /// The order.
        id: feed::order::OrderId,
        /// Why.
        reason: CancelReason,
    },
    /// An amend sent.
    Amend {
        /// Market time, ns.
        ts_ns: u64,
        /// The order.
        id: feed::order::OrderId,
        /// Its price asked.
        price: feed::Fixed,
        /// Its whole quantity asked.
        qty: feed::Fixed,
        /// What it serves once done.
        purpose: Purpose,
    },
    /// What the venue reported.
    Venue {
        /// The event, with the venue's time stamps.
        event: VenueEvent,
        /// Market time at which the order manager took it, ns: later than the event's own
        /// time for a simulated venue's answers, which travel the response latency and are
        /// taken at the next frame (what `toolkit calibrate-fill` measures that leg from).
        received_ns: u64,
    },
    /// What a live venue found out for itself (reconciliation, unknown fates).
    VenueNote {
        /// Market time, ns.
        ts_ns: u64,
        /// The note.
        note: feed::venue::VenueNote,
    },
    /// A round trip closed.
    Closed(ClosedTrade),
    /// A fill's markout came due.
    Markout {
        /// Market time, ns.
        ts_ns: u64,
        /// The measurement.
        measured: feed::markout::Measured,
    },
    /// A control message took effect on the hot thread.
    Control {
        /// Market time, ns.
        ts_ns: u64,
        /// The message.
        control: Control,
    },
    /// The market data's state changed: entries stop while the book cannot be trusted.
    Market {
        /// Market time, ns.
        ts_ns: u64,
        /// What happened.
        event: MarketEvent,
    },
}

/// A change in the state of the market data, as logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketEvent {
    /// The live connection was lost (the book waits for the reconnect's snapshot).
    LinkLost(feed::bybit::live::LossReason),
    /// The book became invalid: entries halt and working entries are cancelled.
    BookInvalid(feed::book::InvalidReason),
    /// A snapshot made the book valid again: entries resume.
    BookValid,
}

//! What the hot thread counts and times, handed to the metrics thread.
//!
//! [`HotStats`] is a plain `Copy` snapshot of cumulative counters: the hot thread updates its
//! own copy in place and pushes a copy on the metrics ring now and then, so a dropped snapshot
//! loses nothing (the next one carries the totals). [`StageHistograms`] time each stage in
//! nanoseconds; sets of them circulate between the two threads (the hot thread records into
//! one while the metrics thread merges and resets another), so neither allocates nor waits.

use feed::bybit::live::FeedStats;
use feed::bybit::{DecodeStats, MessageKind};
use feed::markout::Markout;
use hdrhistogram::Histogram;

use crate::config::LatencyBudget;
use crate::executor::{GateReject, SizingReject};
use crate::pipeline::Rejection;

use super::rings::Route;

/// Why a candidate did not become an order, as counted.
pub const REJECT_REASONS: [&str; 13] = [
    "score",
    "halted",
    "entry_working",
    "position_busy",
    "invalid_price",
    "no_budget",
    "below_min_qty",
    "below_min_notional",
    "free_balance",
    "liquidity_by_side",
    "near_liquidation",
    "unknown_liq_price",
    "max_position",
];

/// Index of `rejection` in [`REJECT_REASONS`].
pub const fn rejection_index(rejection: &Rejection) -> usize {
    match rejection {
        Rejection::Score => 0,
        Rejection::Sizing(SizingReject::InvalidPrice { .. }) => 4,
        Rejection::Sizing(SizingReject::NoBudget { .. }) => 5,
        Rejection::Sizing(SizingReject::BelowMinQty { .. }) => 6,
        Rejection::Sizing(SizingReject::BelowMinNotional { .. }) => 7,
        Rejection::Gate(GateReject::FreeBalanceBelowMin { .. }) => 8,
        Rejection::Gate(GateReject::InsufficientLiquidity { .. }) => 9,
        Rejection::Gate(GateReject::NearLiquidation { .. }) => 10,
        Rejection::Gate(GateReject::UnknownLiqPrice) => 11,
        Rejection::Gate(GateReject::MaxPosition { .. }) => 12,
    }
}

/// Index of "halted" in [`REJECT_REASONS`].
pub const REJECT_HALTED: usize = 1;
/// Index of "entry_working".
pub const REJECT_ENTRY_WORKING: usize = 2;
/// Index of "position_busy".
pub const REJECT_POSITION_BUSY: usize = 3;

/// The rings the hot thread pushes on, as counted in [`HotStats::ring_drops`].
pub const RINGS: [&str; 8] = [
    "metrics", "latency", "trades", "shadow", "parity", "log", "retired", "journal",
];

/// Cumulative counters of the hot thread.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HotStats {
    /// Market time of the last event, ns.
    pub market_ns: u64,
    /// Market time of the first event, ns.
    pub first_market_ns: u64,
    /// Frames handled.
    pub frames: u64,
    /// Messages decoded, by [`MessageKind`].
    pub decoded: [u64; MessageKind::ALL.len()],
    /// Decode errors, by [`MessageKind`].
    pub decode_errors: [u64; MessageKind::ALL.len()],
    /// Book resyncs requested (gap, crossed book).
    pub book_resyncs: u64,
    /// Times the book became invalid, by [`feed::book::InvalidReason::index`].
    pub book_invalidations: [u64; feed::book::InvalidReason::ALL.len()],
    /// The live connection's counters (zero for a simulated or replayed market).
    pub feed: FeedStats,
    /// The live venue's counters (none for the paper venue).
    pub venue: Option<feed::venue::VenueStats>,
    /// Candidates proposed by the trigger, by route.
    pub candidates: [u64; 2],
    /// Candidates that were not sent, by [`REJECT_REASONS`].
    pub rejections: [u64; REJECT_REASONS.len()],
    /// Orders sent (entries, reprices, exits).
    pub orders: u64,
    /// Entries sent (first placements only).
    pub entries: u64,
    /// Entries that filled at least partly.
    pub entries_filled: u64,
    /// Cancels sent.
    pub cancels: u64,
    /// Amends sent (a venue that takes them moves working orders so).
    pub amends: u64,
    /// Orders the venue refused or cancelled.
    pub venue_rejects: u64,
    /// Fills.
    pub fills: u64,
    /// Round trips closed, by route.
    pub closed_trades: [u64; 2],
    /// Winners among them, by route.
    pub wins: [u64; 2],
    /// Position, base units (positive long).
    pub position: f64,
    /// Wallet balance, USD.
    pub balance: f64,
    /// Realized PnL before fees, USD.
    pub realized_pnl: f64,
    /// Fees paid, USD.
    pub fees: f64,
    /// Unrealized PnL at the mid, USD.
    pub unrealized_pnl: f64,
    /// Markouts at 1 s, 5 s and 30 s.
    pub markouts: [Markout; 3],
    /// Messages dropped because a ring was full, by [`RINGS`].
    pub ring_drops: [u64; RINGS.len()],
    /// Halt mask in force (see [`super::rings::HaltReason::bit`]).
    pub halts: u8,
    /// Feature-window overflows.
    pub feature_overflows: u64,
    /// Model swaps taken in.
    pub model_swaps: u64,
}

impl HotStats {
    /// Copies the decoder's counters in.
    pub fn set_decoder(&mut self, stats: &DecodeStats) {
        for (index, kind) in MessageKind::ALL.into_iter().enumerate() {
            self.decoded[index] = stats.decoded(kind);
            self.decode_errors[index] = stats.errors(kind);
        }
    }

    /// Candidates of both routes.
    pub fn total_candidates(&self) -> u64 {
        self.candidates.iter().sum()
    }

    /// Closed trades of `route`.
    pub const fn closed(&self, route: Route) -> u64 {
        self.closed_trades[route.index()]
    }

    /// Share of entries that filled (0 with none).
    pub fn fill_rate(&self) -> f64 {
        ratio(self.entries_filled, self.entries)
    }

    /// Winners over closed trades, both routes (0 with none).
    pub fn winrate(&self) -> f64 {
        ratio(self.wins.iter().sum(), self.closed_trades.iter().sum())
    }

    /// Realized PnL net of fees, USD.
    pub fn net_pnl(&self) -> f64 {
        self.realized_pnl - self.fees
    }
}

/// `numerator / denominator`, 0 when the denominator is 0.
pub fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// A timed stage of the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimedStage {
    /// The poll of the source that brought the frame: for the live stream the socket read, TLS
    /// and unframing; for the simulator a copy off its ring; for a replay a journal read.
    Receive,
    /// Decoding one frame.
    Decode,
    /// Applying a book update.
    Book,
    /// Updating and computing the features.
    Features,
    /// Scoring one candidate.
    Score,
    /// Sizing and gates of one scored candidate.
    Gates,
    /// Frame received to decision made (frames that made a decision).
    Decision,
    /// Tick to order: frame received to the order it caused (an entry, a reprice or an exit)
    /// handed to the venue (written to the trade stream's socket for the Bybit venue), for
    /// frames that placed one.
    Order,
    /// Frame received to everything done: venue, orders, rings (every frame).
    Frame,
}

impl TimedStage {
    /// Every stage, in report order.
    pub const ALL: [TimedStage; 9] = [
        TimedStage::Receive,
        TimedStage::Decode,
        TimedStage::Book,
        TimedStage::Features,
        TimedStage::Score,
        TimedStage::Gates,
        TimedStage::Decision,
        TimedStage::Order,
        TimedStage::Frame,
    ];

    /// Label for reports and metrics.
    pub const fn label(self) -> &'static str {
        match self {
            TimedStage::Receive => "receive",
            TimedStage::Decode => "decode",
            TimedStage::Book => "book",
            TimedStage::Features => "features",
            TimedStage::Score => "score",
            TimedStage::Gates => "gates",
            TimedStage::Decision => "decision",
            TimedStage::Order => "order",
            TimedStage::Frame => "frame",
        }
    }

    /// The stage's budget, ns (the whole-frame time has none).
    pub const fn budget(self, budget: &LatencyBudget) -> Option<u64> {
        match self {
            TimedStage::Decode => Some(budget.decode),
            TimedStage::Book => Some(budget.book),
            TimedStage::Features => Some(budget.features),
            TimedStage::Score => Some(budget.score),
            TimedStage::Gates => Some(budget.gates),
            TimedStage::Decision => Some(budget.decision),
            TimedStage::Receive | TimedStage::Order | TimedStage::Frame => None,
        }
    }
}

/// Highest latency recorded, ns (higher values are clamped to it).
const MAX_NS: u64 = 10_000_000_000;

/// One histogram per [`TimedStage`], in nanoseconds, and one of the feed's delay (a book
/// message's receive time less its exchange timestamp `ts`).
pub struct StageHistograms {
    histograms: [Histogram<u64>; TimedStage::ALL.len()],
    feed_delay: Histogram<u64>,
}

fn empty_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_NS, 3)
        .unwrap_or_else(|_| unreachable!("valid histogram bounds"))
}

impl StageHistograms {
    /// Empty histograms (1 ns to 10 s, three significant digits).
    pub fn new() -> StageHistograms {
        StageHistograms {
            histograms: std::array::from_fn(|_| empty_histogram()),
            feed_delay: empty_histogram(),
        }
    }

    /// Records `ns` for `stage` (clamped to the range; never allocates).
    pub fn record(&mut self, stage: TimedStage, ns: u64) {
        self.histograms[stage as usize].saturating_record(ns.clamp(1, MAX_NS));
    }

    /// Records a feed delay of `ns` (clamped to the range; never allocates).
    pub fn record_feed_delay(&mut self, ns: u64) {
        self.feed_delay.saturating_record(ns.clamp(1, MAX_NS));
    }

    /// The feed delays recorded.
    pub fn feed_delay(&self) -> &Histogram<u64> {
        &self.feed_delay
    }

    /// The histogram of `stage`.
    pub fn get(&self, stage: TimedStage) -> &Histogram<u64> {
        &self.histograms[stage as usize]
    }

    /// Adds `other` into these.
    pub fn merge(&mut self, other: &StageHistograms) {
        for (mine, theirs) in self.histograms.iter_mut().zip(&other.histograms) {
            // Same bounds on both sides: adding cannot fail.
            let _ = mine.add(theirs);
        }
        let _ = self.feed_delay.add(&other.feed_delay);
    }

    /// Empties every histogram.
    pub fn reset(&mut self) {
        for histogram in &mut self.histograms {
            histogram.reset();
        }
        self.feed_delay.reset();
    }
}

impl Default for StageHistograms {
    fn default() -> Self {
        StageHistograms::new()
    }
}

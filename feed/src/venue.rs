//! The one interface a trading loop drives a venue through.
//!
//! A venue takes orders and cancels, and hands back what became of them as [`VenueEvent`]s,
//! oldest first; it keeps the account ([`Account`]). A simulated venue also needs the market:
//! its clock ([`Venue::advance`]), the book ([`Venue::on_book`]) and the trades
//! ([`Venue::on_trades`]); a live venue has the exchange for that, and ignores them (the
//! defaults do nothing). The paper venue ([`crate::paper::PaperVenue`]) implements it, and so
//! does the Bybit venue.
//!
//! The trait is for static dispatch: the loop is generic over its venue, so no call goes
//! through a vtable, and draining the events takes a closure instead of returning a
//! collection, so nothing allocates.

use crate::book::OrderBook;
use crate::bybit::Trade;
use crate::fixed::Fixed;
use crate::order::{Account, OrderId, OrderRequest, VenueEvent};

/// Why a live venue doubts its view of the account and asks the venue again (reconciliation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Doubt {
    /// A link was lost: what happened meanwhile is not known.
    LinkLost,
    /// An order's fate is unknown: an answer that never came or said nothing sure, a request
    /// that may or may not have left, an answer not followed by its push.
    UnknownFate,
    /// Fills the venue reported (an order's `cumExecQty`) are not booked in time.
    FillsOverdue,
    /// A reduce-only order was refused or cut for want of a position (110017,
    /// `CancelByReduceOnly`): the position is not what the engine thinks.
    ReduceOnlyRefused,
    /// An execution that is none of the engine's orders' fills: auto-deleveraging, a
    /// liquidation, another order of the account.
    OutsideExecution,
    /// An order of the engine cancelled by the venue for a reason of its own (a liquidation
    /// about to happen, an administrator).
    OutsideCancel,
    /// An order of another client appeared.
    ForeignOrder,
    /// A push of orders, executions or positions could not be read.
    UndecodablePush,
    /// The venue's `position` push disagrees with the fills booked, for longer than fills
    /// take to arrive.
    PositionDisagrees,
    /// A request was refused for its time stamp: the clock is measured again.
    ClockSkew,
    /// Orders of other clients are to be adopted (`adopt_unknown_orders`).
    Adoption,
}

impl Doubt {
    /// Every reason, in the order of [`VenueStats::doubts`].
    pub const ALL: [Doubt; 11] = [
        Doubt::LinkLost,
        Doubt::UnknownFate,
        Doubt::FillsOverdue,
        Doubt::ReduceOnlyRefused,
        Doubt::OutsideExecution,
        Doubt::OutsideCancel,
        Doubt::ForeignOrder,
        Doubt::UndecodablePush,
        Doubt::PositionDisagrees,
        Doubt::ClockSkew,
        Doubt::Adoption,
    ];

    /// A stable label, for logs and metrics.
    pub const fn label(self) -> &'static str {
        match self {
            Doubt::LinkLost => "link_lost",
            Doubt::UnknownFate => "unknown_fate",
            Doubt::FillsOverdue => "fills_overdue",
            Doubt::ReduceOnlyRefused => "reduce_only_refused",
            Doubt::OutsideExecution => "outside_execution",
            Doubt::OutsideCancel => "outside_cancel",
            Doubt::ForeignOrder => "foreign_order",
            Doubt::UndecodablePush => "undecodable_push",
            Doubt::PositionDisagrees => "position_disagrees",
            Doubt::ClockSkew => "clock_skew",
            Doubt::Adoption => "adoption",
        }
    }

    /// Its index in [`VenueStats::doubts`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// What moved the account's position besides the engine's own fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutsideKind {
    /// Auto-deleveraging (`AdlTrade`).
    Adl,
    /// A liquidation (`BustTrade`).
    Liquidation,
    /// A fill of an order the engine does not work on (a manual close, another client).
    OtherOrder,
    /// Delivery of a dated contract.
    Delivery,
}

impl OutsideKind {
    /// A stable label, for logs and metrics.
    pub const fn label(self) -> &'static str {
        match self {
            OutsideKind::Adl => "adl",
            OutsideKind::Liquidation => "liquidation",
            OutsideKind::OtherOrder => "other_order",
            OutsideKind::Delivery => "delivery",
        }
    }
}

/// Who cancelled an order of the engine, when the engine did not ask (Bybit's `cancelType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CancelKind {
    /// A reduce-only order cut as the position shrank (`CancelByReduceOnly`).
    ReduceOnly,
    /// Cancelled ahead of a liquidation (`CancelByPrepareLiq`, `CancelAllBeforeLiq`): entries
    /// halt.
    PrepareLiquidation,
    /// By an administrator of the venue (`CancelByAdmin`).
    Admin,
    /// Self-match prevention (`CancelBySmp`).
    SelfMatch,
    /// Disconnect-cancel-all (`CancelByDCP`).
    Dcp,
    /// By the account's owner from elsewhere (`CancelByUser` without the engine asking), or
    /// another reason.
    Other,
}

impl CancelKind {
    /// The kind of Bybit's `cancelType`.
    pub fn from_bybit(cancel_type: &str) -> CancelKind {
        match cancel_type {
            "CancelByReduceOnly" => CancelKind::ReduceOnly,
            "CancelByPrepareLiq" | "CancelAllBeforeLiq" | "CancelByPrepareAdl"
            | "CancelAllBeforeAdl" => CancelKind::PrepareLiquidation,
            "CancelByAdmin" => CancelKind::Admin,
            "CancelBySmp" => CancelKind::SelfMatch,
            "CancelByDCP" => CancelKind::Dcp,
            _ => CancelKind::Other,
        }
    }

    /// A stable label, for logs and metrics.
    pub const fn label(self) -> &'static str {
        match self {
            CancelKind::ReduceOnly => "reduce_only",
            CancelKind::PrepareLiquidation => "prepare_liquidation",
            CancelKind::Admin => "admin",
            CancelKind::SelfMatch => "self_match",
            CancelKind::Dcp => "dcp",
            CancelKind::Other => "other",
        }
    }
}

/// What a live venue found out for itself, for the decision log: reconciliation's differences
/// and what put the state in doubt. The events they lead to (fills, rejects) come through
/// [`Venue::drain_events`] as usual.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VenueNote {
    /// The fate of order `id` is unknown (an answer that never came or said nothing sure, a
    /// link lost mid-request, a push that never followed an answer): reconciliation follows.
    UnknownFate {
        /// The order.
        id: OrderId,
    },
    /// Something put the venue's state in doubt: reconciliation follows.
    Doubt {
        /// What.
        reason: Doubt,
    },
    /// Reconciliation booked a fill of `qty` on order `id` whose push was missed.
    MissedFill {
        /// The order.
        id: OrderId,
        /// The quantity filled.
        qty: Fixed,
    },
    /// Reconciliation found working order `id` ended at the venue (`at_venue`), or never
    /// there (the create was lost on the way).
    OrderSettled {
        /// The order.
        id: OrderId,
        /// True when the venue knew it.
        at_venue: bool,
    },
    /// Reconciliation cancelled an open order the engine does not work on.
    ForeignCancelled {
        /// The venue's order id.
        order_id: crate::text::InlineStr<40>,
    },
    /// Reconciliation adopted an open order the engine did not place, as order `id`.
    ForeignAdopted {
        /// The venue's order id.
        order_id: crate::text::InlineStr<40>,
        /// The id it works under from now on.
        id: OrderId,
    },
    /// The venue's position differed from the engine's, and was taken.
    PositionCorrected {
        /// The engine's.
        engine: Fixed,
        /// The venue's.
        venue: Fixed,
    },
    /// An execution that is none of the engine's fills moved the position by `qty` (signed).
    OutsideExecution {
        /// What it was.
        kind: OutsideKind,
        /// The position change, positive for a buy.
        qty: Fixed,
    },
    /// Order `id` was cancelled by the venue, not on the engine's request.
    OutsideCancel {
        /// The order.
        id: OrderId,
        /// Why.
        kind: CancelKind,
    },
    /// Entries halt for the rest of the session: the venue is preparing a liquidation.
    EntriesHalted,
    /// A reconciliation could not settle everything (an order in flight when it was asked,
    /// fills the venue reported but does not list yet): it is done again shortly.
    ReconcileDeferred,
    /// A reconciliation was done.
    Reconciled,
    /// Order `id` is done at the venue and at its paper shadow: when each first filled it, if
    /// it did (the venue's time of the fill).
    ShadowCompared {
        /// The order.
        id: OrderId,
        /// The venue's first fill, ns.
        venue_fill_ns: Option<u64>,
        /// The paper venue's first fill, ns.
        paper_fill_ns: Option<u64>,
    },
}

/// A live venue's link and order-entry counters, for metrics and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VenueStats {
    /// Whether the private and the trade link are up and ready now.
    pub connected: [bool; 2],
    /// Whether the venue's state is in doubt now (entries wait for reconciliation).
    pub reconciling: bool,
    /// Whether entries are halted for the session (a liquidation was being prepared).
    pub entries_halted: bool,
    /// The venue refused the credentials for good: the `retCode` (the engine stops).
    pub fatal_code: Option<i64>,
    /// Connections made, private and trade.
    pub connects: [u64; 2],
    /// Connections lost, private and trade.
    pub losses: [u64; 2],
    /// Authentications refused.
    pub auth_failures: u64,
    /// Creates sent.
    pub creates: u64,
    /// Amends sent.
    pub amends: u64,
    /// Cancels sent.
    pub cancels: u64,
    /// Orders refused before they were sent (link down, rate limit, table full, doubt).
    pub local_rejects: u64,
    /// Orders whose fate became unknown: an answer saying nothing sure, none at all, a link
    /// lost mid-request, no `order` push after an answer (each reconciled).
    pub unknown_fates: u64,
    /// Fills booked.
    pub fills: u64,
    /// Pushes and replies that did not decode.
    pub decode_errors: u64,
    /// Order pushes older than what was already known of the order, ignored.
    pub stale_pushes: u64,
    /// Orders whose end came before all their fills: held until the fills were booked.
    pub drained: u64,
    /// Times the state was put in doubt, by [`Doubt`] (index [`Doubt::index`]).
    pub doubts: [u64; Doubt::ALL.len()],
    /// Reconciliations done.
    pub reconciliations: u64,
    /// Reconciliations that could not settle everything and were done again.
    pub reconciles_deferred: u64,
    /// Fills found by reconciliation (their push was missed).
    pub missed_fills: u64,
    /// Open orders the engine did not place, adopted by reconciliation.
    pub foreign_adopted: u64,
    /// Working orders whose end was found by reconciliation (their push was missed, or they
    /// never reached the venue).
    pub orders_settled: u64,
    /// Open orders at the venue the engine did not know, cancelled.
    pub foreign_cancels: u64,
    /// Times the venue's position differed from the engine's and was taken.
    pub position_corrections: u64,
    /// Executions that were none of the engine's fills (ADL, liquidation, other orders).
    pub outside_executions: u64,
    /// Orders of the engine cancelled by the venue for a reason of its own.
    pub outside_cancels: u64,
    /// Exits and cancels sent over REST while the trade stream was down.
    pub rest_fallbacks: u64,
    /// How the paper venue's shadow of each order compared with the venue's fills (real mode
    /// runs one: [`crate::paper::shadow`]).
    pub shadow: crate::paper::shadow::ShadowStats,
}

/// Why a live venue cannot go on: the venue refused the credentials for good (a bad key or
/// signature, a missing permission, an IP not allowed). Trading stops; what is working is
/// cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VenueFailure {
    /// The venue's code (Bybit's `retCode`; 0: it refused the authentication again and again
    /// without one).
    pub code: i64,
    /// What it means and what to do about it.
    pub advice: &'static str,
}

impl std::fmt::Display for VenueFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            0 => write!(
                f,
                "the venue refused the authentication repeatedly: {}",
                self.advice
            ),
            code => write!(f, "the venue answered {code}: {}", self.advice),
        }
    }
}

/// A venue of one symbol, as the trading loop sees it.
///
/// Times are the caller's market time, ns. Every outcome of an order (accepted, rejected,
/// filled, cancelled) comes back through [`Venue::drain_events`], never as a return value: a
/// live venue only learns them later.
///
/// # Example
///
/// A loop that quotes one buy under the touch and reports what came back, run against the
/// paper venue:
///
/// ```
/// use feed::bybit::{BookUpdate, Level, UpdateKind};
/// use feed::order::{OrderId, OrderRequest, VenueEvent};
/// use feed::paper::latency::LogNormalLatency;
/// use feed::paper::{PaperConfig, PaperVenue};
/// use feed::venue::Venue;
/// use feed::{Fixed, OrderBook, Side, Symbol};
///
/// fn quote<V: Venue>(venue: &mut V, book: &OrderBook, now_ns: u64) -> Vec<VenueEvent> {
///     let bid = book.best_bid().expect("a bid");
///     venue.submit(
///         OrderRequest {
///             id: OrderId(1),
///             side: Side::Buy,
///             price: bid.price,
///             qty: "0.5".parse().unwrap(),
///             reduce_only: false,
///         },
///         now_ns,
///     );
///     // A simulated venue delivers the order once its latency has passed.
///     venue.advance(now_ns + 1_000_000_000, book);
///     let mut events = Vec::new();
///     venue.drain_events(|event| events.push(event));
///     events
/// }
///
/// let fx = |text: &str| -> Fixed { text.parse().unwrap() };
/// let mut book = OrderBook::new(Symbol::new("BTCUSDT").unwrap(), 50);
/// book.apply(&BookUpdate {
///     symbol: book.symbol(),
///     depth: 50,
///     kind: UpdateKind::Snapshot,
///     ts: 1,
///     cts: 1,
///     update_id: 1,
///     seq: 1,
///     bids: &[Level { price: fx("100.0"), size: fx("2") }],
///     asks: &[Level { price: fx("100.1"), size: fx("1") }],
/// });
/// let mut venue = PaperVenue::new(PaperConfig {
///     entry_latency: LogNormalLatency { min_ns: 10_000_000, median_ns: 0, sigma: 0.0 },
///     ..PaperConfig::new(fx("10000"), fx("0.0002"))
/// });
/// let events = quote(&mut venue, &book, 0);
/// // It rests behind the 2 already at 100.0, 10 ms after it was sent (a simulated venue has
/// // no clock of its own: `venue_ms` 0).
/// assert_eq!(
///     events,
///     [VenueEvent::Accepted {
///         id: OrderId(1),
///         queue_ahead: fx("2"),
///         ts_ns: 10_000_000,
///         venue_ms: 0,
///     }]
/// );
/// assert_eq!(Venue::resting_orders(&venue), 1);
/// assert_eq!(Venue::account(&venue).balance, fx("10000"));
/// ```
pub trait Venue {
    /// Events one [`Venue::drain_events`] hands over at most, between two market updates: the
    /// caller's buffer for them needs no more room than this.
    const MAX_EVENTS: usize;

    /// Sends a new order at `now_ns`.
    fn submit(&mut self, order: OrderRequest, now_ns: u64);

    /// Sends a cancel of `id` at `now_ns`.
    fn cancel(&mut self, id: OrderId, now_ns: u64);

    /// True when the venue takes amends ([`Venue::amend`]): an order manager then moves a
    /// working order with one request instead of a cancel and a new order. A simulated venue
    /// does not (the default).
    const AMENDS: bool = false;

    /// Moves working order `id` to `price` for `qty` (its whole quantity) at `now_ns`, on a
    /// venue that [`Venue::AMENDS`]: what became of it comes back as
    /// [`VenueEvent::Amended`], or [`VenueEvent::AmendRejected`] (the order then stands as it
    /// was). A venue that does not amend refuses every amend (the default).
    fn amend(&mut self, id: OrderId, price: Fixed, qty: Fixed, now_ns: u64) {
        let _ = (id, price, qty, now_ns);
    }

    /// Hands over the events so far, oldest first.
    fn drain_events(&mut self, on_event: impl FnMut(VenueEvent));

    /// The account: balance, position and its entry price, realized PnL, fees.
    fn account(&self) -> &Account;

    /// Orders resting at the venue.
    fn resting_orders(&self) -> usize;

    /// One turn of the trading loop, market event or not: a live venue reads its connections
    /// here. True when it may have events to drain. A simulated venue has nothing to read (the
    /// default).
    fn poll(&mut self) -> bool {
        false
    }

    /// Hands over what the venue found out for itself since the last call ([`VenueNote`]),
    /// oldest first. A simulated venue has nothing to say (the default).
    fn drain_notes(&mut self, on_note: impl FnMut(VenueNote)) {
        let _ = on_note;
    }

    /// A live venue's link and order-entry counters, for metrics and reports (a simulated
    /// venue has none: the default).
    fn live_stats(&self) -> Option<VenueStats> {
        None
    }

    /// Why a live venue cannot go on, once it cannot (the loop then stops and cancels what is
    /// working). A simulated venue never fails (the default).
    fn failure(&self) -> Option<VenueFailure> {
        None
    }

    /// Market time is `now_ns` and the market stands as `book`: a simulated venue delivers the
    /// messages due by then. Called with each market event's time before the event is applied
    /// to the book. A live venue ignores it.
    fn advance(&mut self, now_ns: u64, book: &OrderBook) {
        let _ = (now_ns, book);
    }

    /// The book after an update at `now_ns`. A live venue ignores it.
    fn on_book(&mut self, book: &OrderBook, now_ns: u64) {
        let _ = (book, now_ns);
    }

    /// Trades printed at `now_ns`. A live venue ignores them.
    fn on_trades(&mut self, trades: &[Trade], now_ns: u64) {
        let _ = (trades, now_ns);
    }

    /// At shutdown, after the last cancels were sent: lets every message in flight reach the
    /// venue, so that their outcomes are among the next events. A simulated venue runs its
    /// clock on to the end of time against `book` (the default); a live venue waits for the
    /// orders' ends, and asks for those it did not hear.
    fn settle(&mut self, book: &OrderBook) {
        self.advance(u64::MAX, book);
    }
}

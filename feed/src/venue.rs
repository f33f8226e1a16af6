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

/// What a live venue found out for itself, for the decision log: reconciliation's differences
/// and the answers that put the state in doubt. The events they lead to (fills, rejects) come
/// through [`Venue::drain_events`] as usual.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VenueNote {
    /// The fate of order `id` is unknown (an answer that never came or said nothing sure, a
    /// link lost mid-request, a push that never followed an answer): reconciliation follows.
    UnknownFate {
        /// The order.
        id: OrderId,
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
    /// A reconciliation was done.
    Reconciled,
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
/// // It rests behind the 2 already at 100.0, 10 ms after it was sent.
/// assert_eq!(
///     events,
///     [VenueEvent::Accepted { id: OrderId(1), queue_ahead: fx("2"), ts_ns: 10_000_000 }]
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
    fn live_stats(&self) -> Option<crate::bybit::venue::VenueStats> {
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

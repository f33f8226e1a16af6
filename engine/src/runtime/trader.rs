//! The order manager: turns approved decisions into post-only orders and manages the position
//! they open, on the hot thread, without allocating.
//!
//! # Entries
//!
//! - An approved candidate becomes a post-only limit at the touch of its side (the best bid for
//!   a buy), unless an entry on that side is already working, or a position on the other side
//!   is open, or the position is being exited. One working entry per side at most; the gates
//!   (max position among them) have been passed before.
//! - **Reprice:** when the touch moves away from a working entry (a higher best bid for a buy),
//!   the entry is moved to the new touch, at the back of its queue: on a venue that takes
//!   amends ([`TraderRules::amend`]) by one amend; else (or once the venue refused an amend of
//!   it) by a cancel and, once the venue confirms it, a new order. At most
//!   `strategy.max_reprices` times; after that an entry the touch left behind is cancelled. An
//!   entry is never moved toward the other side.
//! - **Cancel:** an entry not filled `strategy.entry_ttl` after it was first placed is
//!   cancelled. When an entry fills, the other side's working entry is cancelled.
//!
//! # Exits
//!
//! Every exit is a reduce-only post-only limit.
//!
//! - **Take-profit:** while a position is open, a take-profit rests for its whole size at
//!   `labeling.take_profit_pct` from the average entry price (rounded to the tick away from the
//!   entry), the target the model was trained on. It is replaced when the position grows.
//! - **Exit at the touch:** the take-profit is moved to (or cancelled and replaced by) an exit at
//!   the touch of the exit side (the best ask for a long) when the mid crosses the stop at
//!   `risk.assumed_sl_pct` from the entry, when the position re-scored every
//!   `strategy.hold_check_interval` falls below tau_hold, or when it has been held
//!   `strategy.max_hold`. The exit follows the touch until it fills.
//!
//! Moving an order by amend costs one request of the amend budget; by cancel and new order,
//! one of the cancel budget and one of the create budget, and a round trip between them.
//!
//! What maker-only means for stops: there is no stop-market order. A stop here is a passive
//! order at the touch, so it is not guaranteed to fill: in a fast market the price can run
//! past the stop before the exit fills, and the loss can exceed `risk.assumed_sl_pct`. The
//! exit keeps following the touch until it does fill.
//!
//! A round trip runs from flat to flat; its PnL net of fees and its route are reported when
//! it closes.

use std::time::Duration;

use feed::order::{Fill, OrderId, OrderRequest, Position, VenueEvent};
use feed::{Fixed, Instrument, OrderBook, Side};

use super::rings::{CancelReason, ClosedTrade, ExitReason, Purpose, Route};
use crate::config::Config;

/// Where the order manager sends orders and cancels.
pub trait OrderSink {
    /// Sends `order` at market time `now_ns`.
    fn place(&mut self, order: OrderRequest, purpose: Purpose, now_ns: u64);
    /// Sends a cancel of `id` at market time `now_ns`.
    fn cancel(&mut self, id: OrderId, reason: CancelReason, now_ns: u64);
    /// Sends an amend moving `id` to `price` for `qty` (its whole quantity), to serve
    /// `purpose` once done, at market time `now_ns`.
    fn amend(&mut self, id: OrderId, price: Fixed, qty: Fixed, purpose: Purpose, now_ns: u64);
}

/// The order rules, from `strategy`, `labeling.take_profit_pct` and `risk.assumed_sl_pct`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraderRules {
    /// Entries are cancelled this long after they were first placed, ns.
    pub entry_ttl_ns: u64,
    /// Reprices per entry at most.
    pub max_reprices: u32,
    /// Positions are exited after this long, ns.
    pub max_hold_ns: u64,
    /// Open positions are re-scored this often, ns.
    pub hold_check_ns: u64,
    /// Take-profit distance, a fraction of the entry price.
    pub take_profit: f64,
    /// Stop distance, a fraction of the entry price.
    pub stop: f64,
    /// The instrument's tick size.
    pub tick: Fixed,
    /// The venue takes amends: working orders are moved by one (else cancelled and placed
    /// again).
    pub amend: bool,
}

impl TraderRules {
    /// The rules of `config` (`strategy`, `labeling.take_profit_pct`, `risk.assumed_sl_pct`)
    /// for `instrument`.
    pub fn from_config(config: &Config, instrument: &Instrument) -> TraderRules {
        let nanos = |duration: Duration| u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        let strategy = &config.strategy;
        TraderRules {
            entry_ttl_ns: nanos(strategy.entry_ttl.get()),
            max_reprices: strategy.max_reprices,
            max_hold_ns: nanos(strategy.max_hold.get()),
            hold_check_ns: nanos(strategy.hold_check_interval.get()),
            take_profit: config.labeling.take_profit_pct,
            stop: config.risk.assumed_sl_pct,
            tick: instrument.tick_size,
            amend: false,
        }
    }
}

/// What the manager does next with a working order once its cancel is confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterCancel {
    /// Nothing.
    Forget,
    /// Place the entry again at the touch.
    Reprice,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Working {
    order: OrderRequest,
    purpose: Purpose,
    route: Route,
    /// When the first order of this entry was placed (reprices keep it), ns.
    first_placed_ns: u64,
    reprices: u32,
    /// A cancel was sent; what to do when it is confirmed.
    cancelling: Option<AfterCancel>,
    /// Quantity filled so far.
    filled: Fixed,
    /// Some of the entry filled (kept across reprices).
    entry_filled: bool,
    /// An amend was sent: what the order serves once it is done.
    amending: Option<Purpose>,
    /// The venue refused an amend of it: it is moved by cancel and new order from then on.
    no_amend: bool,
}

/// A round trip in progress.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Trip {
    route: Route,
    side: Side,
    opened_ns: u64,
    entered: Fixed,
    /// Realized PnL before fees and fees, USD, raw units.
    realized: i64,
    fees: i64,
}

/// The order manager of one symbol.
#[derive(Debug)]
pub struct Trader {
    rules: TraderRules,
    next_id: u64,
    /// Working entries, by side (buy, sell).
    entries: [Option<Working>; 2],
    /// The working take-profit or exit.
    exit: Option<Working>,
    /// Net position, as the fills built it (booked as the venue books it).
    position: Position,
    trip: Option<Trip>,
    /// Set once an exit at the touch has begun.
    exiting: Option<ExitReason>,
    next_hold_check_ns: u64,
    /// Shutting down: no new orders.
    closing: bool,
    /// Entries that filled at least partly.
    entries_filled: u64,
}

const fn side_index(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

/// The touch an order on `side` joins.
fn touch(book: &OrderBook, side: Side) -> Option<Fixed> {
    match side {
        Side::Buy => book.best_bid(),
        Side::Sell => book.best_ask(),
    }
    .map(|level| level.price)
}

impl Trader {
    /// A manager with no orders and no position; order ids start at 1.
    pub fn new(rules: TraderRules) -> Trader {
        Trader {
            rules,
            next_id: 1,
            entries: [None, None],
            exit: None,
            position: Position::default(),
            trip: None,
            exiting: None,
            next_hold_check_ns: 0,
            closing: false,
            entries_filled: 0,
        }
    }

    /// Entries (counting their reprices as one) that filled at least partly.
    pub const fn entries_filled(&self) -> u64 {
        self.entries_filled
    }

    /// The route of the open position's round trip, if a position is open.
    pub fn trip_route(&self) -> Option<Route> {
        self.trip.map(|trip| trip.route)
    }

    /// The route of working entry `id` (an entry or its reprice), if it is one.
    pub fn entry_route(&self, id: OrderId) -> Option<Route> {
        self.entries
            .iter()
            .flatten()
            .find(|working| working.order.id == id)
            .map(|working| working.route)
    }

    /// Net position (positive long).
    pub const fn position(&self) -> Fixed {
        self.position.qty()
    }

    /// The id of a working entry (the buy's first), if one works.
    pub fn working_entry(&self) -> Option<OrderId> {
        self.entries
            .iter()
            .flatten()
            .find(|working| working.cancelling.is_none())
            .map(|working| working.order.id)
    }

    /// Orders working (sent and not known to be done).
    pub fn working_orders(&self) -> usize {
        self.entries.iter().flatten().count() + usize::from(self.exit.is_some())
    }

    /// Quantity x price of the working entries (what they would add to the position).
    pub fn working_entry_notional(&self) -> f64 {
        self.entries
            .iter()
            .flatten()
            .map(|working| {
                working.order.qty.saturating_sub(working.filled).to_f64()
                    * working.order.price.to_f64()
            })
            .sum()
    }

    /// Why an entry on `side` cannot be placed now, if it cannot.
    pub fn entry_blocked(&self, side: Side) -> Option<Blocked> {
        if self.entries[side_index(side)].is_some() {
            return Some(Blocked::EntryWorking);
        }
        let opposite = match side {
            Side::Buy => self.position.qty().raw() < 0,
            Side::Sell => self.position.qty().is_positive(),
        };
        if opposite || self.exiting.is_some() {
            return Some(Blocked::PositionBusy);
        }
        None
    }

    /// Places an entry of `qty` at `price` on `side` for `route`, unless it is blocked.
    pub fn enter(
        &mut self,
        side: Side,
        price: Fixed,
        qty: Fixed,
        route: Route,
        now_ns: u64,
        sink: &mut impl OrderSink,
    ) -> Result<OrderRequest, Blocked> {
        if let Some(blocked) = self.entry_blocked(side) {
            return Err(blocked);
        }
        let order = self.order(side, price, qty, false);
        self.entries[side_index(side)] = Some(Working {
            order,
            purpose: Purpose::Entry,
            route,
            first_placed_ns: now_ns,
            reprices: 0,
            cancelling: None,
            filled: Fixed::ZERO,
            entry_filled: false,
            amending: None,
            no_amend: false,
        });
        sink.place(order, Purpose::Entry, now_ns);
        Ok(order)
    }

    /// True when the open position is due to be re-scored against tau_hold.
    pub fn hold_check_due(&mut self, now_ns: u64) -> bool {
        if self.position.qty().is_zero()
            || self.exiting.is_some()
            || now_ns < self.next_hold_check_ns
        {
            return false;
        }
        self.next_hold_check_ns = now_ns + self.rules.hold_check_ns;
        true
    }

    /// The position re-scored: below `tau_hold` it is exited at the touch.
    pub fn on_hold_score(
        &mut self,
        score: f32,
        tau_hold: f32,
        book: &OrderBook,
        now_ns: u64,
        sink: &mut impl OrderSink,
    ) {
        // A NaN score (a failed backend) exits too: no score, no reason to hold.
        if score.is_nan() || score < tau_hold {
            self.begin_exit(ExitReason::Score, book, now_ns, sink);
        }
    }

    /// The book moved: entries expire, follow the touch or are left; the position gets its
    /// take-profit, or is exited when the stop or max hold says so.
    pub fn on_book(&mut self, book: &OrderBook, now_ns: u64, sink: &mut impl OrderSink) {
        for side in [Side::Buy, Side::Sell] {
            let Some(working) = self.entries[side_index(side)] else {
                continue;
            };
            if working.cancelling.is_some() {
                continue;
            }
            let Some(touch) = touch(book, side) else {
                continue;
            };
            let behind = match side {
                Side::Buy => touch > working.order.price,
                Side::Sell => touch < working.order.price,
            };
            let (reason, after) = if now_ns >= working.first_placed_ns + self.rules.entry_ttl_ns {
                (CancelReason::Ttl, AfterCancel::Forget)
            } else if working.amending.is_some() {
                // An amend on its way: what it makes of the entry is awaited.
                continue;
            } else if behind && working.reprices < self.rules.max_reprices {
                if self.rules.amend && !working.no_amend {
                    let entry = self.entries[side_index(side)].as_mut();
                    if let Some(entry) = entry {
                        entry.amending = Some(Purpose::Reprice);
                        sink.amend(
                            entry.order.id,
                            touch,
                            entry.order.qty,
                            Purpose::Reprice,
                            now_ns,
                        );
                    }
                    continue;
                }
                (CancelReason::Reprice, AfterCancel::Reprice)
            } else if behind {
                (CancelReason::LeftBehind, AfterCancel::Forget)
            } else {
                continue;
            };
            self.cancel_entry(side, reason, after, now_ns, sink);
        }
        self.manage_position(book, now_ns, sink);
    }

    /// A venue event for one of the manager's orders; a round trip that closed with it is
    /// returned.
    pub fn on_venue_event(
        &mut self,
        event: &VenueEvent,
        book: &OrderBook,
        now_ns: u64,
        sink: &mut impl OrderSink,
    ) -> Option<ClosedTrade> {
        match *event {
            VenueEvent::Accepted { .. } => None,
            VenueEvent::Amended { id, price, qty, .. } => {
                self.amended(id, price, qty);
                self.manage_position(book, now_ns, sink);
                None
            }
            VenueEvent::AmendRejected { id, .. } => {
                // It stands as it was; it moves by cancel and new order from now on.
                for working in self.entries.iter_mut().flatten().chain(self.exit.as_mut()) {
                    if working.order.id == id {
                        working.amending = None;
                        working.no_amend = true;
                    }
                }
                self.on_book(book, now_ns, sink);
                None
            }
            VenueEvent::Rejected { id, .. } => {
                // Gone: an exit is placed again by manage_position, an entry is not retried.
                self.forget(id);
                self.manage_position(book, now_ns, sink);
                None
            }
            VenueEvent::Cancelled { id, .. } => {
                if let Some(side) = self.entry_side(id) {
                    let working = self.entries[side_index(side)].take();
                    if let Some(working) = working
                        && working.cancelling == Some(AfterCancel::Reprice)
                        && !self.closing
                        && self.entry_blocked(side).is_none()
                        && let Some(price) = touch(book, side)
                    {
                        let qty = working.order.qty.saturating_sub(working.filled);
                        let order = self.order(side, price, qty, false);
                        self.entries[side_index(side)] = Some(Working {
                            order,
                            purpose: Purpose::Reprice,
                            reprices: working.reprices + 1,
                            cancelling: None,
                            filled: Fixed::ZERO,
                            amending: None,
                            ..working
                        });
                        sink.place(order, Purpose::Reprice, now_ns);
                    }
                } else if self.exit.is_some_and(|exit| exit.order.id == id) {
                    self.exit = None;
                }
                self.manage_position(book, now_ns, sink);
                None
            }
            VenueEvent::Filled(fill) => {
                let closed = self.on_fill(&fill, now_ns, sink);
                self.manage_position(book, now_ns, sink);
                closed
            }
        }
    }

    /// The venue's position, taken when reconciliation found it differs from what the fills
    /// built (a fill never heard of): the round trip goes on at the venue's size (begun afresh
    /// when it was flat or on the other side; over, unscored, when the venue is flat), and the
    /// exit is fitted to it. `entry_price` is the venue's average entry.
    pub fn take_position(
        &mut self,
        qty: Fixed,
        entry_price: Fixed,
        book: &OrderBook,
        now_ns: u64,
        sink: &mut impl OrderSink,
    ) {
        if qty == self.position.qty() {
            return;
        }
        let side = if qty.is_positive() {
            Side::Buy
        } else {
            Side::Sell
        };
        self.position = Position::default();
        if qty.is_zero() {
            self.trip = None;
            self.exiting = None;
            return self.cancel_exit(CancelReason::Superseded, now_ns, sink);
        }
        self.position.apply(side, entry_price, qty.abs());
        if self.trip.is_none_or(|trip| trip.side != side) {
            self.trip = Some(Trip {
                route: Route::Active,
                side,
                opened_ns: now_ns,
                entered: qty.abs(),
                realized: 0,
                fees: 0,
            });
            self.exiting = None;
            self.next_hold_check_ns = now_ns + self.rules.hold_check_ns;
            // An exit of the other side's position would add to this one.
            self.cancel_exit(CancelReason::Superseded, now_ns, sink);
        }
        self.manage_position(book, now_ns, sink);
    }

    /// Cancels every working order (shutdown); returns how many cancels were sent.
    pub fn cancel_all(&mut self, now_ns: u64, sink: &mut impl OrderSink) -> usize {
        self.closing = true;
        let mut sent = 0;
        for working in self.entries.iter_mut().flatten().chain(self.exit.as_mut()) {
            if working.cancelling.is_none() {
                working.cancelling = Some(AfterCancel::Forget);
                sink.cancel(working.order.id, CancelReason::Shutdown, now_ns);
                sent += 1;
            }
        }
        sent
    }

    /// Cancels the working entries (not the exits: they only reduce the position); returns how
    /// many cancels were sent. For a book that can no longer be trusted.
    pub fn cancel_entries(
        &mut self,
        reason: CancelReason,
        now_ns: u64,
        sink: &mut impl OrderSink,
    ) -> usize {
        let mut sent = 0;
        for side in [Side::Buy, Side::Sell] {
            if self.entries[side_index(side)].is_some_and(|working| working.cancelling.is_none()) {
                self.cancel_entry(side, reason, AfterCancel::Forget, now_ns, sink);
                sent += 1;
            }
        }
        sent
    }

    /// Order `id` now rests at `price` for `qty`: an entry counts a reprice, an exit serves
    /// what its amend was for.
    fn amended(&mut self, id: OrderId, price: Fixed, qty: Fixed) {
        if let Some(side) = self.entry_side(id)
            && let Some(entry) = self.entries[side_index(side)].as_mut()
        {
            entry.order.price = price;
            entry.order.qty = qty;
            if entry.amending.take().is_some() {
                entry.reprices += 1;
                entry.purpose = Purpose::Reprice;
            }
        } else if let Some(exit) = self.exit.as_mut()
            && exit.order.id == id
        {
            exit.order.price = price;
            exit.order.qty = qty;
            if let Some(purpose) = exit.amending.take() {
                exit.purpose = purpose;
            }
        }
    }

    /// Moves the working exit to `price` for `size` more (what filled of it stays counted) to
    /// serve `purpose`: by amend when the venue takes one, else by cancel (the new exit is
    /// placed once the cancel is confirmed). Nothing while an amend or a cancel of it is on its
    /// way.
    fn move_exit(
        &mut self,
        price: Fixed,
        size: Fixed,
        purpose: Purpose,
        now_ns: u64,
        sink: &mut impl OrderSink,
    ) {
        let amend = self.rules.amend;
        let Some(exit) = self.exit.as_mut() else {
            return;
        };
        if exit.cancelling.is_some() || exit.amending.is_some() {
            return;
        }
        if amend && !exit.no_amend {
            exit.amending = Some(purpose);
            let qty = exit.filled.saturating_add(size);
            sink.amend(exit.order.id, price, qty, purpose, now_ns);
        } else {
            self.cancel_exit(CancelReason::Replace, now_ns, sink);
        }
    }

    fn order(&mut self, side: Side, price: Fixed, qty: Fixed, reduce_only: bool) -> OrderRequest {
        let id = OrderId(self.next_id);
        self.next_id += 1;
        OrderRequest {
            id,
            side,
            price,
            qty,
            reduce_only,
        }
    }

    fn entry_side(&self, id: OrderId) -> Option<Side> {
        [Side::Buy, Side::Sell].into_iter().find(|&side| {
            self.entries[side_index(side)].is_some_and(|working| working.order.id == id)
        })
    }

    fn forget(&mut self, id: OrderId) {
        if let Some(side) = self.entry_side(id) {
            self.entries[side_index(side)] = None;
        } else if self.exit.is_some_and(|exit| exit.order.id == id) {
            self.exit = None;
        }
    }

    fn cancel_entry(
        &mut self,
        side: Side,
        reason: CancelReason,
        after: AfterCancel,
        now_ns: u64,
        sink: &mut impl OrderSink,
    ) {
        if let Some(working) = self.entries[side_index(side)].as_mut()
            && working.cancelling.is_none()
        {
            working.cancelling = Some(after);
            sink.cancel(working.order.id, reason, now_ns);
        }
    }

    fn cancel_exit(&mut self, reason: CancelReason, now_ns: u64, sink: &mut impl OrderSink) {
        if let Some(exit) = self.exit.as_mut()
            && exit.cancelling.is_none()
        {
            exit.cancelling = Some(AfterCancel::Forget);
            sink.cancel(exit.order.id, reason, now_ns);
        }
    }

    fn on_fill(
        &mut self,
        fill: &Fill,
        now_ns: u64,
        sink: &mut impl OrderSink,
    ) -> Option<ClosedTrade> {
        let mut route = Route::Active;
        if let Some(side) = self.entry_side(fill.id) {
            let index = side_index(side);
            if let Some(working) = self.entries[index].as_mut() {
                if !working.entry_filled {
                    working.entry_filled = true;
                    self.entries_filled += 1;
                }
                working.filled = working.filled.saturating_add(fill.qty);
                route = working.route;
            }
            if !fill.leaves_qty.is_positive() {
                self.entries[index] = None;
            }
            // The other side's entry would now reduce the position: not what it was for.
            self.cancel_entry(
                side.opposite(),
                CancelReason::Superseded,
                AfterCancel::Forget,
                now_ns,
                sink,
            );
        } else if let Some(exit) = self.exit.as_mut()
            && exit.order.id == fill.id
        {
            exit.filled = exit.filled.saturating_add(fill.qty);
            if !fill.leaves_qty.is_positive() {
                self.exit = None;
            }
        }

        let was_flat = self.position.qty().is_zero();
        self.position.apply(fill.side, fill.price, fill.qty);
        if was_flat {
            self.trip = Some(Trip {
                route,
                side: fill.side,
                opened_ns: now_ns,
                entered: Fixed::ZERO,
                realized: 0,
                fees: 0,
            });
            self.next_hold_check_ns = now_ns + self.rules.hold_check_ns;
        }
        let trip = self.trip.as_mut()?;
        if fill.side == trip.side {
            trip.entered = trip.entered.saturating_add(fill.qty);
        }
        trip.realized = trip.realized.saturating_add(fill.realized.raw());
        trip.fees = trip.fees.saturating_add(fill.fee.raw());
        if !self.position.qty().is_zero() {
            return None;
        }
        let trip = self.trip.take()?;
        self.exiting = None;
        self.cancel_exit(CancelReason::Superseded, now_ns, sink);
        Some(ClosedTrade {
            ts_ns: now_ns,
            route: trip.route,
            side: trip.side,
            qty: trip.entered,
            pnl: Fixed::from_raw(trip.realized.saturating_sub(trip.fees)).to_f64(),
        })
    }

    fn begin_exit(
        &mut self,
        reason: ExitReason,
        book: &OrderBook,
        now_ns: u64,
        sink: &mut impl OrderSink,
    ) {
        if self.position.qty().is_zero() || self.exiting.is_some() {
            return;
        }
        self.exiting = Some(reason);
        for side in [Side::Buy, Side::Sell] {
            self.cancel_entry(
                side,
                CancelReason::Superseded,
                AfterCancel::Forget,
                now_ns,
                sink,
            );
        }
        let exit_side = if self.position.qty().is_positive() {
            Side::Sell
        } else {
            Side::Buy
        };
        match touch(book, exit_side) {
            // The take-profit becomes the exit at the touch.
            Some(price) => {
                let size = self.position.qty().abs();
                self.move_exit(price, size, Purpose::Exit(reason), now_ns, sink);
            }
            None => self.cancel_exit(CancelReason::Replace, now_ns, sink),
        }
        self.manage_position(book, now_ns, sink);
    }

    /// Keeps the right exit order working for the position.
    fn manage_position(&mut self, book: &OrderBook, now_ns: u64, sink: &mut impl OrderSink) {
        if self.position.qty().is_zero() || self.closing {
            return;
        }
        let long = self.position.qty().is_positive();
        let exit_side = if long { Side::Sell } else { Side::Buy };
        let size = self.position.qty().abs();
        if self.exiting.is_none() {
            let entry = self.position.entry_price().to_f64();
            let stop_hit = book.mid().is_some_and(|mid| {
                let mid = mid.to_f64();
                if long {
                    mid <= entry * (1.0 - self.rules.stop)
                } else {
                    mid >= entry * (1.0 + self.rules.stop)
                }
            });
            let held_too_long = self
                .trip
                .is_some_and(|trip| now_ns >= trip.opened_ns + self.rules.max_hold_ns);
            if stop_hit || held_too_long {
                let reason = if stop_hit {
                    ExitReason::Stop
                } else {
                    ExitReason::MaxHold
                };
                return self.begin_exit(reason, book, now_ns, sink);
            }
        }
        match (self.exiting, self.exit) {
            // Waiting for a cancel or an amend to be confirmed.
            (_, Some(exit)) if exit.cancelling.is_some() || exit.amending.is_some() => {}
            // The take-profit rests; moved to the whole position when it grew.
            (None, Some(exit)) => {
                if exit.order.qty.saturating_sub(exit.filled) != size {
                    let price = self.take_profit_price(long);
                    self.move_exit(price, size, Purpose::TakeProfit, now_ns, sink);
                }
            }
            (None, None) => {
                let price = self.take_profit_price(long);
                self.place_exit(exit_side, price, size, Purpose::TakeProfit, now_ns, sink);
            }
            // An exit at the touch follows the touch when it is left behind (a sell above
            // the best ask, a buy below the best bid).
            (Some(_), Some(exit)) => {
                let behind = touch(book, exit_side).is_some_and(|touch| match exit_side {
                    Side::Sell => touch < exit.order.price,
                    Side::Buy => touch > exit.order.price,
                });
                if let Some(price) = touch(book, exit_side).filter(|_| behind) {
                    let purpose = exit.purpose;
                    self.move_exit(price, size, purpose, now_ns, sink);
                }
            }
            (Some(reason), None) => {
                if let Some(price) = touch(book, exit_side) {
                    self.place_exit(exit_side, price, size, Purpose::Exit(reason), now_ns, sink);
                }
            }
        }
    }

    /// The take-profit price, rounded to the tick away from the entry.
    fn take_profit_price(&self, long: bool) -> Fixed {
        let tick = self.rules.tick.raw().max(1) as f64;
        let entry = self.position.entry_price().raw() as f64;
        let ticks = if long {
            (entry * (1.0 + self.rules.take_profit) / tick).ceil()
        } else {
            (entry * (1.0 - self.rules.take_profit) / tick).floor()
        };
        Fixed::from_raw((ticks * tick) as i64)
    }

    fn place_exit(
        &mut self,
        side: Side,
        price: Fixed,
        qty: Fixed,
        purpose: Purpose,
        now_ns: u64,
        sink: &mut impl OrderSink,
    ) {
        let order = self.order(side, price, qty, true);
        self.exit = Some(Working {
            order,
            purpose,
            route: self.trip.map_or(Route::Active, |trip| trip.route),
            first_placed_ns: now_ns,
            reprices: 0,
            cancelling: None,
            filled: Fixed::ZERO,
            entry_filled: false,
            amending: None,
            no_amend: false,
        });
        sink.place(order, purpose, now_ns);
    }
}

/// Why an entry was not placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// An entry on that side is working.
    EntryWorking,
    /// A position on the other side is open, or the position is being exited.
    PositionBusy,
}

#[cfg(test)]
mod tests {
    use super::*;
    use feed::order::RejectReason;

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    const S: u64 = 1_000_000_000;

    fn rules() -> TraderRules {
        TraderRules {
            entry_ttl_ns: 5 * S,
            max_reprices: 1,
            max_hold_ns: 60 * S,
            hold_check_ns: S,
            take_profit: 0.001,
            stop: 0.003,
            tick: fx("0.1"),
            amend: false,
        }
    }

    /// A book with the given best bid and ask (size 1 each).
    fn book(bid: &str, ask: &str) -> OrderBook {
        feed::fixtures::touch_book(fx(bid), fx(ask), fx("1"))
    }

    #[derive(Debug, Default)]
    struct Recorder(Vec<String>);

    impl OrderSink for Recorder {
        fn place(&mut self, order: OrderRequest, purpose: Purpose, _: u64) {
            self.0.push(format!(
                "place {} {} {} {} @ {}{}",
                order.id.0,
                purpose.label(),
                order.side.as_str(),
                order.qty,
                order.price,
                if order.reduce_only {
                    " reduce-only"
                } else {
                    ""
                }
            ));
        }

        fn cancel(&mut self, id: OrderId, reason: CancelReason, _: u64) {
            self.0.push(format!("cancel {} {}", id.0, reason.label()));
        }

        fn amend(&mut self, id: OrderId, price: Fixed, qty: Fixed, purpose: Purpose, _: u64) {
            self.0.push(format!(
                "amend {} {} {qty} @ {price}",
                id.0,
                purpose.label()
            ));
        }
    }

    fn amended(id: u64, price: &str, qty: &str) -> VenueEvent {
        VenueEvent::Amended {
            id: OrderId(id),
            price: fx(price),
            qty: fx(qty),
            ts_ns: 0,
            venue_ms: 0,
        }
    }

    #[test]
    fn on_a_venue_that_amends_an_entry_follows_the_touch_by_amend_and_falls_back_when_refused() {
        let rules = TraderRules {
            amend: true,
            max_reprices: 2,
            ..rules()
        };
        let (mut trader, mut sink) = (Trader::new(rules), Recorder::default());
        trader
            .enter(
                Side::Buy,
                fx("60000.0"),
                fx("0.3"),
                Route::Active,
                0,
                &mut sink,
            )
            .unwrap();
        // The bid moves up: one amend, nothing else until it is done.
        let higher = book("60000.5", "60000.6");
        trader.on_book(&higher, S, &mut sink);
        trader.on_book(&book("60000.7", "60000.8"), S, &mut sink);
        trader.on_venue_event(&amended(1, "60000.5", "0.3"), &higher, S, &mut sink);
        // It moves again: the venue refuses this amend; the entry is cancelled and placed anew.
        let higher_still = book("60001.0", "60001.1");
        trader.on_book(&higher_still, 2 * S, &mut sink);
        let refused = VenueEvent::AmendRejected {
            id: OrderId(1),
            ts_ns: 0,
        };
        trader.on_venue_event(&refused, &higher_still, 2 * S, &mut sink);
        trader.on_venue_event(&cancelled(1), &higher_still, 2 * S, &mut sink);
        assert_eq!(
            sink.0,
            [
                "place 1 entry Buy 0.3 @ 60000",
                "amend 1 reprice 0.3 @ 60000.5",
                "amend 1 reprice 0.3 @ 60001",
                "cancel 1 reprice",
                "place 2 reprice Buy 0.3 @ 60001",
            ]
        );
    }

    #[test]
    fn on_a_venue_that_amends_the_take_profit_grows_with_the_position_and_becomes_the_exit() {
        let rules = TraderRules {
            amend: true,
            ..rules()
        };
        let (mut trader, mut sink) = (Trader::new(rules), Recorder::default());
        let market = book("60000.0", "60000.1");
        trader
            .enter(
                Side::Buy,
                fx("60000.0"),
                fx("0.3"),
                Route::Active,
                0,
                &mut sink,
            )
            .unwrap();
        trader.on_venue_event(
            &fill(1, Side::Buy, "60000.0", "0.1", "0.2", "0"),
            &market,
            S,
            &mut sink,
        );
        // The rest fills: the take-profit is amended to the whole position.
        trader.on_venue_event(
            &fill(1, Side::Buy, "60000.0", "0.2", "0", "0"),
            &market,
            S,
            &mut sink,
        );
        trader.on_venue_event(&amended(2, "60060", "0.3"), &market, S, &mut sink);
        // The mid falls to the stop: the take-profit is amended to the ask, as the exit.
        let fallen = book("59819.9", "59820.1");
        trader.on_book(&fallen, 2 * S, &mut sink);
        trader.on_venue_event(&amended(2, "59820.1", "0.3"), &fallen, 2 * S, &mut sink);
        // The ask falls: the exit follows it, by amend.
        let lower = book("59819.0", "59819.5");
        trader.on_book(&lower, 3 * S, &mut sink);
        assert_eq!(
            sink.0,
            [
                "place 1 entry Buy 0.3 @ 60000",
                "place 2 take_profit Sell 0.1 @ 60060 reduce-only",
                "amend 2 take_profit 0.3 @ 60060",
                "amend 2 exit_stop 0.3 @ 59820.1",
                "amend 2 exit_stop 0.3 @ 59819.5",
            ]
        );
    }

    fn fill(
        id: u64,
        side: Side,
        price: &str,
        qty: &str,
        leaves: &str,
        realized: &str,
    ) -> VenueEvent {
        VenueEvent::Filled(Fill {
            id: OrderId(id),
            side,
            price: fx(price),
            qty: fx(qty),
            leaves_qty: fx(leaves),
            fee: fx("1"),
            realized: fx(realized),
            ts_ns: 0,
            venue_ms: 0,
        })
    }

    fn cancelled(id: u64) -> VenueEvent {
        VenueEvent::Cancelled {
            id: OrderId(id),
            filled: Fixed::ZERO,
            ts_ns: 0,
            venue_ms: 0,
        }
    }

    #[test]
    fn an_entry_follows_the_touch_once_then_is_left_and_expires() {
        let (mut trader, mut sink) = (Trader::new(rules()), Recorder::default());
        let entry = trader.enter(
            Side::Buy,
            fx("60000.0"),
            fx("0.3"),
            Route::Active,
            0,
            &mut sink,
        );
        assert_eq!(entry.map(|order| order.id), Ok(OrderId(1)));
        assert_eq!(
            trader.enter(
                Side::Buy,
                fx("60000.0"),
                fx("0.3"),
                Route::Active,
                0,
                &mut sink
            ),
            Err(Blocked::EntryWorking)
        );
        // The bid moves up: cancel, then re-place at the new touch once confirmed.
        let higher = book("60000.5", "60000.6");
        trader.on_book(&higher, S, &mut sink);
        trader.on_venue_event(&cancelled(1), &higher, S, &mut sink);
        // It moves again: no reprices left, the entry is cancelled for good.
        let higher_still = book("60001.0", "60001.1");
        trader.on_book(&higher_still, 2 * S, &mut sink);
        trader.on_venue_event(&cancelled(2), &higher_still, 2 * S, &mut sink);
        assert_eq!(trader.working_orders(), 0);
        // A fresh entry that the touch leaves alone expires after the ttl.
        trader
            .enter(
                Side::Sell,
                fx("60001.1"),
                fx("0.3"),
                Route::Active,
                3 * S,
                &mut sink,
            )
            .unwrap();
        trader.on_book(&higher_still, 7 * S, &mut sink);
        trader.on_book(&higher_still, 8 * S, &mut sink);
        assert_eq!(
            sink.0,
            [
                "place 1 entry Buy 0.3 @ 60000",
                "cancel 1 reprice",
                "place 2 reprice Buy 0.3 @ 60000.5",
                "cancel 2 left_behind",
                "place 3 entry Sell 0.3 @ 60001.1",
                "cancel 3 ttl",
            ]
        );
    }

    #[test]
    fn a_filled_entry_gets_its_take_profit_and_a_round_trip_reports_its_net_pnl() {
        let (mut trader, mut sink) = (Trader::new(rules()), Recorder::default());
        let market = book("60000.0", "60000.1");
        trader
            .enter(
                Side::Buy,
                fx("60000.0"),
                fx("0.3"),
                Route::Canary,
                0,
                &mut sink,
            )
            .unwrap();
        trader
            .enter(
                Side::Sell,
                fx("60000.1"),
                fx("0.3"),
                Route::Canary,
                0,
                &mut sink,
            )
            .unwrap();
        // A partial fill: the sell entry is cancelled, a take-profit covers what is held.
        assert_eq!(
            trader.on_venue_event(
                &fill(1, Side::Buy, "60000.0", "0.1", "0.2", "0"),
                &market,
                S,
                &mut sink
            ),
            None
        );
        // The rest fills: the take-profit is replaced for the whole position.
        trader.on_venue_event(
            &fill(1, Side::Buy, "60000.0", "0.2", "0", "0"),
            &market,
            S,
            &mut sink,
        );
        trader.on_venue_event(&cancelled(3), &market, S, &mut sink);
        assert_eq!(trader.position(), fx("0.3"));
        assert_eq!(trader.entries_filled(), 1);
        // 60000 x 1.001 = 60060.0: the take-profit fills, the round trip closes.
        let closed = trader.on_venue_event(
            &fill(4, Side::Sell, "60060.0", "0.3", "0", "18"),
            &market,
            2 * S,
            &mut sink,
        );
        assert_eq!(
            closed,
            Some(ClosedTrade {
                ts_ns: 2 * S,
                route: Route::Canary,
                side: Side::Buy,
                qty: fx("0.3"),
                pnl: 15.0,
            })
        );
        assert!(closed.unwrap().win());
        assert_eq!(trader.position(), Fixed::ZERO);
        // The superseded sell entry is working until its cancel is confirmed.
        assert_eq!(trader.working_orders(), 1);
        trader.on_venue_event(&cancelled(2), &market, 2 * S, &mut sink);
        assert_eq!(trader.working_orders(), 0);
        assert_eq!(
            sink.0,
            [
                "place 1 entry Buy 0.3 @ 60000",
                "place 2 entry Sell 0.3 @ 60000.1",
                "cancel 2 superseded",
                "place 3 take_profit Sell 0.1 @ 60060 reduce-only",
                "cancel 3 replace",
                "place 4 take_profit Sell 0.3 @ 60060 reduce-only",
            ]
        );
    }

    #[test]
    fn a_position_the_venue_corrects_is_taken_and_its_exit_fitted_to_it() {
        let (mut trader, mut sink) = (Trader::new(rules()), Recorder::default());
        let market = book("60000.0", "60000.1");
        // Flat, yet the venue holds 0.2 long (a fill never heard of): a take-profit for it.
        trader.take_position(fx("0.2"), fx("60000.0"), &market, 0, &mut sink);
        assert_eq!(trader.position(), fx("0.2"));
        assert_eq!(trader.trip_route(), Some(Route::Active));
        // It holds 0.5: the take-profit is replaced for the whole, once its cancel is confirmed.
        trader.take_position(fx("0.5"), fx("60000.0"), &market, S, &mut sink);
        trader.on_venue_event(&cancelled(1), &market, S, &mut sink);
        // The same again: nothing to do.
        trader.take_position(fx("0.5"), fx("60000.0"), &market, S, &mut sink);
        // Short 0.1 (the other side): the round trip begins afresh, its exit a buy.
        trader.take_position(fx("-0.1"), fx("60010.0"), &market, 2 * S, &mut sink);
        trader.on_venue_event(&cancelled(2), &market, 2 * S, &mut sink);
        // Flat: the exit goes, and no round trip is open.
        trader.take_position(Fixed::ZERO, Fixed::ZERO, &market, 3 * S, &mut sink);
        assert_eq!(trader.position(), Fixed::ZERO);
        assert_eq!(trader.trip_route(), None);
        assert_eq!(
            sink.0,
            [
                "place 1 take_profit Sell 0.2 @ 60060 reduce-only",
                "cancel 1 replace",
                "place 2 take_profit Sell 0.5 @ 60060 reduce-only",
                "cancel 2 superseded",
                "place 3 take_profit Buy 0.1 @ 59949.9 reduce-only",
                "cancel 3 superseded",
            ]
        );
    }

    #[test]
    fn a_crossed_stop_exits_at_the_touch_and_follows_it_down() {
        let (mut trader, mut sink) = (Trader::new(rules()), Recorder::default());
        let market = book("60000.0", "60000.1");
        trader
            .enter(
                Side::Buy,
                fx("60000.0"),
                fx("0.3"),
                Route::Active,
                0,
                &mut sink,
            )
            .unwrap();
        trader.on_venue_event(
            &fill(1, Side::Buy, "60000.0", "0.3", "0", "0"),
            &market,
            0,
            &mut sink,
        );
        // The mid falls to the stop at 0.3 %: 60000 x 0.997 = 59820.
        let fallen = book("59819.9", "59820.1");
        trader.on_book(&fallen, S / 2, &mut sink);
        trader.on_venue_event(&cancelled(2), &fallen, S / 2, &mut sink);
        // The exit rests at the best ask; it is left behind when the ask falls, not when it rises.
        trader.on_book(&book("59819.9", "59820.5"), S, &mut sink);
        let lower = book("59819.0", "59819.5");
        trader.on_book(&lower, S, &mut sink);
        trader.on_venue_event(&cancelled(3), &lower, S, &mut sink);
        // The post-only exit would have crossed: the venue cancelled it; it goes again.
        let rejected = VenueEvent::Rejected {
            id: OrderId(4),
            reason: RejectReason::PostOnlyWillTakeLiquidity,
            ts_ns: 0,
            venue_ms: 0,
        };
        trader.on_venue_event(&rejected, &lower, S, &mut sink);
        assert_eq!(
            trader.enter(
                Side::Buy,
                fx("59819.0"),
                fx("0.3"),
                Route::Active,
                S,
                &mut sink
            ),
            Err(Blocked::PositionBusy)
        );
        assert_eq!(
            sink.0,
            [
                "place 1 entry Buy 0.3 @ 60000",
                "place 2 take_profit Sell 0.3 @ 60060 reduce-only",
                "cancel 2 replace",
                "place 3 exit_stop Sell 0.3 @ 59820.1 reduce-only",
                "cancel 3 replace",
                "place 4 exit_stop Sell 0.3 @ 59819.5 reduce-only",
                "place 5 exit_stop Sell 0.3 @ 59819.5 reduce-only",
            ]
        );
    }

    #[test]
    fn a_low_score_or_a_long_hold_exits_and_shutdown_cancels_everything() {
        let (mut trader, mut sink) = (Trader::new(rules()), Recorder::default());
        let market = book("60000.0", "60000.1");
        trader
            .enter(
                Side::Sell,
                fx("60000.1"),
                fx("0.3"),
                Route::Active,
                0,
                &mut sink,
            )
            .unwrap();
        trader.on_venue_event(
            &fill(1, Side::Sell, "60000.1", "0.3", "0", "0"),
            &market,
            0,
            &mut sink,
        );
        assert!(!trader.hold_check_due(S / 2));
        assert!(trader.hold_check_due(S));
        trader.on_hold_score(0.45, 0.4, &market, S, &mut sink);
        assert!(!trader.hold_check_due(S + 1));
        assert!(trader.hold_check_due(2 * S));
        trader.on_hold_score(f32::NAN, 0.4, &market, 2 * S, &mut sink);
        trader.on_venue_event(&cancelled(2), &market, 2 * S, &mut sink);
        assert_eq!(trader.cancel_all(3 * S, &mut sink), 1);
        // Nothing new once shutting down.
        trader.on_venue_event(&cancelled(3), &market, 3 * S, &mut sink);
        assert_eq!(trader.working_orders(), 0);
        assert_eq!(
            sink.0,
            [
                "place 1 entry Sell 0.3 @ 60000.1",
                "place 2 take_profit Buy 0.3 @ 59940 reduce-only",
                "cancel 2 replace",
                "place 3 exit_score Buy 0.3 @ 60000 reduce-only",
                "cancel 3 shutdown",
            ]
        );

        let (mut trader, mut sink) = (Trader::new(rules()), Recorder::default());
        trader
            .enter(
                Side::Buy,
                fx("60000.0"),
                fx("0.3"),
                Route::Active,
                0,
                &mut sink,
            )
            .unwrap();
        trader.on_venue_event(
            &fill(1, Side::Buy, "60000.0", "0.3", "0", "0"),
            &market,
            0,
            &mut sink,
        );
        trader.on_book(&market, 60 * S, &mut sink);
        assert_eq!(sink.0[2], "cancel 2 replace");
        trader.on_venue_event(&cancelled(2), &market, 60 * S, &mut sink);
        assert_eq!(
            sink.0[3],
            "place 3 exit_max_hold Sell 0.3 @ 60000.1 reduce-only"
        );
    }
}

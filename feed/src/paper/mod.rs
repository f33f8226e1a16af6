//! The paper venue: fills post-only orders against a live, replayed or simulated market, as
//! Bybit would, without sending anything anywhere.
//!
//! This is the one fill model of the project: paper trading, replays, the canary and the
//! labeler (`toolkit label`, which runs every candidate through this venue and the engine's own
//! order manager) all decide fills here, so a model is trained on the market it is judged on.
//!
//! # The model
//!
//! Each rule names the lesson from peers it answers (`../shared/research/`).
//!
//! - **Latency** ([`latency`]). An order or cancel reaches the venue after an entry latency,
//!   and what the venue answers (acks, rejects, fills, cancels) reaches the order manager after
//!   a response latency. Each is a floor plus a log-normal delay, scaled up with the market's
//!   message rate or volatility when configured (constant latency flatters results:
//!   hftbacktest#256). Messages each way arrive in the order they were sent. Draws are keyed
//!   by the message, so an order's latency does not depend on unrelated traffic (only the
//!   in-order rule links two messages, when the first is still on its way).
//! - **Post-only.** An order that would cross on arrival (a buy at or above the best ask, a sell
//!   at or below the best bid) is cancelled by the venue, as Bybit does with
//!   `EC_PostOnlyWillTakeLiquidity`.
//! - **Reduce-only.** A reduce-only order arriving with no position to reduce, or on the side
//!   that would increase it, is rejected (Bybit's 110017); a fill never takes a reduce-only order
//!   past a flat position.
//! - **Queue** ([`queue`]). A level's queue is unknown until the level is in view, then starts
//!   at its size ("out of view" is not "empty"). Prints at the order's price eat the queue
//!   first; unexplained decreases split between ahead and behind by hftbacktest's power rule;
//!   a level that empties leaves the order first.
//! - **Fills are partial and bounded by what traded.** A print fills at most its own size
//!   beyond the queue ahead; a print through the order's price fills at most its size (one large
//!   order is not filled by a 0.001 print). Block trades and RPI trades never touched the
//!   visible book: they neither fill the order nor move its queue.
//! - **A book that reaches the order without a trade** (the ask at or below a resting buy)
//!   fills at most the opposite size at or through the order's price with
//!   [`CrossFill::OppositeSize`], counted once: a later update fills only what it adds to that
//!   size; the conservative [`CrossFill::TradesOnly`] waits for a print.
//! - **The account is the venue's.** A fill is booked in [`PaperVenue::account`] when it
//!   happens, before its event reaches the order manager, as a real account's balance moves
//!   before the private stream reports it; the engine's gates read that account.
//! - **Account.** Maker fees at the instrument's rate on every fill (a negative rate is a
//!   rebate), one net position with its average entry price ([`Position`]), realized PnL.
//!   Markouts are not the venue's business: they are measured against the market, for any
//!   venue, by [`crate::markout`].
//!
//! Each model is a small type in its own file: [`latency`], [`queue`], [`fees`]. This file
//! holds the venue itself: the messages in flight each way, the matching against the book and
//! the order lifecycle. The orders and events are [`crate::order`]'s; the venue implements
//! [`crate::venue::Venue`].
//!
//! Nothing random is drawn from a shared stream and nothing allocates after construction:
//! orders, messages in flight and events live in buffers of fixed capacity, and a venue that is
//! full rejects. The same seed and the same market give the same fills.

use crate::book::OrderBook;
use crate::bybit::Trade;
use crate::fixed::Fixed;
use crate::order::{Account, Fill, OrderId, OrderRequest, Position, RejectReason, VenueEvent};
use crate::side::Side;
use crate::venue::Venue;

pub mod fees;
pub mod latency;
pub mod queue;
pub mod shadow;

use fees::MakerFee;
use latency::{Activity, LogNormalLatency, ScalingConfig, message_key};
use queue::{QueueModel, QueuePosition, level_view};

/// Orders resting or in flight at most.
pub const MAX_ORDERS: usize = 16;
/// Messages in flight at most.
pub const MAX_IN_FLIGHT: usize = 64;
/// Events on their way back at most (the caller drains them after every update).
pub const MAX_EVENTS: usize = 256;

/// What fills a resting order when the opposite side of the book reaches its price without a
/// print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrossFill {
    /// At most the opposite size at or through the order's price.
    OppositeSize,
    /// Nothing: only prints fill (the conservative setting).
    TradesOnly,
}

/// The paper venue's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaperConfig {
    /// Wallet balance at start, USD.
    pub initial_balance: Fixed,
    /// Maker fee rate (a negative rate is a rebate).
    pub maker_fee_rate: Fixed,
    /// Orders and cancels on their way to the venue.
    pub entry_latency: LogNormalLatency,
    /// Acks, rejects, fills and cancels on their way back.
    pub response_latency: LogNormalLatency,
    /// How market activity scales both latencies.
    pub latency_scaling: ScalingConfig,
    /// How unexplained level decreases split around the order.
    pub queue: QueueModel,
    /// What a book that reaches a resting order without a print fills.
    pub cross_fill: CrossFill,
    /// Seed of every latency draw.
    pub seed: u64,
}

impl PaperConfig {
    /// A venue holding `initial_balance` that charges `maker_fee_rate`: no latency, the square
    /// queue rule without lot rounding, fills on reach by the opposite size, seed 0. Set the
    /// rest with struct update.
    pub const fn new(initial_balance: Fixed, maker_fee_rate: Fixed) -> PaperConfig {
        const NONE: LogNormalLatency = LogNormalLatency {
            min_ns: 0,
            median_ns: 0,
            sigma: 0.0,
        };
        PaperConfig {
            initial_balance,
            maker_fee_rate,
            entry_latency: NONE,
            response_latency: NONE,
            latency_scaling: ScalingConfig::OFF,
            queue: QueueModel {
                power: 2.0,
                lot: Fixed::ZERO,
            },
            cross_fill: CrossFill::OppositeSize,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Message {
    New(OrderRequest),
    Cancel(OrderId),
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    arrives_ns: u64,
    message: Message,
}

#[derive(Debug, Clone, Copy)]
struct Resting {
    order: OrderRequest,
    filled: Fixed,
    queue: QueuePosition,
    /// Opposite size at or through the price at the last book update (what reaching it has
    /// filled already).
    reached: Fixed,
}

impl Resting {
    fn leaves(&self) -> Fixed {
        self.order.qty.saturating_sub(self.filled)
    }
}

/// An event on its way back to the order manager.
#[derive(Debug, Clone, Copy)]
struct Response {
    due_ns: u64,
    event: VenueEvent,
}

/// Message kinds, for the latency keys.
const KEY_NEW: u64 = 1;
const KEY_CANCEL: u64 = 2;
const KEY_RESPONSE: u64 = 3;

/// The paper venue of one symbol.
#[derive(Debug, Clone)]
pub struct PaperVenue {
    config: PaperConfig,
    fee: MakerFee,
    activity: Activity,
    /// The latest market time the venue was told of, ns.
    now_ns: u64,
    in_flight: Vec<InFlight>,
    last_arrival_ns: u64,
    resting: Vec<Resting>,
    responses: Vec<Response>,
    last_response_ns: u64,
    account: Account,
    position: Position,
    fills: u64,
}

impl PaperVenue {
    /// A venue with `config`; no orders, flat.
    pub fn new(config: PaperConfig) -> PaperVenue {
        PaperVenue {
            config,
            fee: MakerFee {
                rate: config.maker_fee_rate,
            },
            activity: Activity::new(config.latency_scaling),
            now_ns: 0,
            in_flight: Vec::with_capacity(MAX_IN_FLIGHT),
            last_arrival_ns: 0,
            resting: Vec::with_capacity(MAX_ORDERS),
            responses: Vec::with_capacity(MAX_EVENTS),
            last_response_ns: 0,
            account: Account::flat(config.initial_balance),
            position: Position::default(),
            fills: 0,
        }
    }

    /// The account, as the venue books it (fills count here before their events arrive).
    pub const fn account(&self) -> &Account {
        &self.account
    }

    /// Fills so far.
    pub const fn fills(&self) -> u64 {
        self.fills
    }

    /// Orders resting at the venue.
    pub fn resting_orders(&self) -> usize {
        self.resting.len()
    }

    /// Sends a new order at `now_ns`; it arrives after the entry latency.
    pub fn submit(&mut self, order: OrderRequest, now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
        if !order.qty.is_positive() || !order.price.is_positive() {
            self.reject_now(order.id, RejectReason::InvalidOrder, now_ns);
        } else if self.resting.len() + self.in_flight.len() >= MAX_ORDERS {
            self.reject_now(order.id, RejectReason::TooManyOrders, now_ns);
        } else {
            let key = message_key(KEY_NEW, order_parts(&order, now_ns));
            self.send(Message::New(order), key, now_ns);
        }
    }

    /// Sends a cancel at `now_ns`; it arrives after the entry latency.
    pub fn cancel(&mut self, id: OrderId, now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
        let parts = match self.known_order(id) {
            Some(order) => order_parts(&order, now_ns),
            // Not by id: the engine's ids and a lone trial's differ for the same cancel.
            None => [0, 0, 0, now_ns],
        };
        self.send(Message::Cancel(id), message_key(KEY_CANCEL, parts), now_ns);
    }

    /// Books a fill of `qty` at `price` on `side` that is none of the venue's orders' (an
    /// execution from outside: auto-deleveraging, a liquidation, an order placed elsewhere),
    /// paying `fee`, at `now_ns`; the PnL it realized. Resting reduce-only orders left with
    /// nothing to reduce are cancelled by the venue, as Bybit's `CancelByReduceOnly`, and
    /// answered like any other event.
    pub fn book_outside(
        &mut self,
        side: Side,
        price: Fixed,
        qty: Fixed,
        fee: Fixed,
        now_ns: u64,
    ) -> Fixed {
        self.now_ns = self.now_ns.max(now_ns);
        let realized = self.book_fill(side, price, qty);
        self.account.fees = self.account.fees.saturating_add(fee);
        self.account.balance = self
            .account
            .balance
            .saturating_add(realized)
            .saturating_sub(fee);
        let mut index = 0;
        while index < self.resting.len() {
            let order = self.resting[index].order;
            if order.reduce_only && !self.reduces(order.side) {
                self.resting.remove(index);
                let event = VenueEvent::Rejected {
                    id: order.id,
                    reason: RejectReason::ReduceOnlyNotSatisfied,
                    ts_ns: now_ns,
                    venue_ms: 0,
                };
                self.respond(event, &order, now_ns);
            } else {
                index += 1;
            }
        }
        realized
    }

    /// Takes the events that have reached the order manager by the latest market time, oldest
    /// first.
    pub fn drain_events(&mut self, mut on_event: impl FnMut(VenueEvent)) {
        let due = self
            .responses
            .iter()
            .take_while(|response| response.due_ns <= self.now_ns)
            .count();
        for response in self.responses.drain(..due) {
            on_event(response.event);
        }
    }

    /// Delivers the messages due by `now_ns` against `book`, the market as it stood then.
    ///
    /// Call it with each event's time before the event is applied to the book, then hand the
    /// event to [`PaperVenue::on_book`] or [`PaperVenue::on_trades`].
    pub fn advance(&mut self, now_ns: u64, book: &OrderBook) {
        self.now_ns = self.now_ns.max(now_ns);
        while let Some(first) = self.in_flight.first().copied() {
            if first.arrives_ns > now_ns {
                break;
            }
            self.in_flight.remove(0);
            match first.message {
                Message::New(order) => self.arrive(order, first.arrives_ns, book),
                Message::Cancel(id) => self.arrive_cancel(id, first.arrives_ns),
            }
        }
    }

    /// The book after an update at `now_ns`: orders the opposite side reached fill, and queues
    /// follow their levels.
    pub fn on_book(&mut self, book: &OrderBook, now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
        self.activity.on_message(now_ns, book.mid());
        let mut index = 0;
        while index < self.resting.len() {
            let order = self.resting[index].order;
            if self.config.cross_fill == CrossFill::OppositeSize {
                let reached = opposite_size_through(book, order.side, order.price);
                let added = reached.saturating_sub(self.resting[index].reached);
                self.resting[index].reached = reached;
                let qty = added.min(self.resting[index].leaves());
                if qty.is_positive() && self.fill(index, qty, now_ns) {
                    continue;
                }
            }
            let view = level_view(book, order.side, order.price);
            self.config
                .queue
                .on_level(&mut self.resting[index].queue, view);
            index += 1;
        }
    }

    /// Trades printed at `now_ns`: they eat the queues at their price and fill what is behind,
    /// each at most its own size.
    pub fn on_trades(&mut self, trades: &[Trade], now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
        self.activity.on_message(now_ns, None);
        for trade in trades {
            // Block and RPI trades never touched the visible book.
            if trade.block_trade || trade.rpi {
                continue;
            }
            let mut index = 0;
            while index < self.resting.len() {
                let resting = &mut self.resting[index];
                let order = resting.order;
                // A taker sell hits resting buys; a taker buy lifts resting sells.
                if trade.taker_side == order.side {
                    index += 1;
                    continue;
                }
                let through = match order.side {
                    Side::Buy => trade.price < order.price,
                    Side::Sell => trade.price > order.price,
                };
                let leaves = resting.leaves();
                let qty = if through {
                    resting.queue.on_trade_through();
                    trade.size.min(leaves)
                } else if trade.price == order.price {
                    resting.queue.on_trade_at_price(trade.size, leaves)
                } else {
                    Fixed::ZERO
                };
                if qty.is_positive() && self.fill(index, qty, now_ns) {
                    continue;
                }
                index += 1;
            }
        }
    }

    /// The order `id` as sent, if it is resting or on its way.
    pub fn known_order(&self, id: OrderId) -> Option<OrderRequest> {
        let resting = self.resting.iter().map(|resting| resting.order);
        let sent = self
            .in_flight
            .iter()
            .filter_map(|message| match message.message {
                Message::New(order) => Some(order),
                Message::Cancel(_) => None,
            });
        resting.chain(sent).find(|order| order.id == id)
    }

    fn send(&mut self, message: Message, key: u64, now_ns: u64) {
        if self.in_flight.len() == MAX_IN_FLIGHT {
            let id = match message {
                Message::New(order) => order.id,
                Message::Cancel(id) => id,
            };
            self.reject_now(id, RejectReason::TooManyOrders, now_ns);
            return;
        }
        let latency =
            self.config
                .entry_latency
                .draw_ns(self.config.seed, key, self.activity.factor(now_ns));
        let arrives_ns = now_ns.saturating_add(latency).max(self.last_arrival_ns);
        self.last_arrival_ns = arrives_ns;
        self.in_flight.push(InFlight {
            arrives_ns,
            message,
        });
    }

    /// A reject made on the caller's side (nothing was sent): known at once.
    fn reject_now(&mut self, id: OrderId, reason: RejectReason, ts_ns: u64) {
        self.push_response(
            VenueEvent::Rejected {
                id,
                reason,
                ts_ns,
                venue_ms: 0,
            },
            ts_ns,
        );
    }

    /// The venue's answer made at `ts_ns`: it reaches the order manager after the response
    /// latency, in the order answered.
    fn respond(&mut self, event: VenueEvent, order: &OrderRequest, ts_ns: u64) {
        self.respond_keyed(event, order_parts(order, ts_ns), ts_ns);
    }

    /// [`PaperVenue::respond`] for an answer identified by `parts`.
    fn respond_keyed(&mut self, event: VenueEvent, parts: [u64; 4], ts_ns: u64) {
        let latency = self.config.response_latency.draw_ns(
            self.config.seed,
            message_key(KEY_RESPONSE + event_kind(&event), parts),
            self.activity.factor(ts_ns),
        );
        self.push_response(event, ts_ns.saturating_add(latency));
    }

    fn push_response(&mut self, event: VenueEvent, due_ns: u64) {
        // At most a few events per order are on their way back within one response latency,
        // and at most MAX_ORDERS orders: the buffer does not fill. Should it, it grows, which is
        // better than losing a fill.
        debug_assert!(
            self.responses.len() < MAX_EVENTS,
            "venue events not drained"
        );
        let due_ns = due_ns.max(self.last_response_ns);
        self.last_response_ns = due_ns;
        self.responses.push(Response { due_ns, event });
    }

    fn arrive(&mut self, order: OrderRequest, ts_ns: u64, book: &OrderBook) {
        let crosses = match order.side {
            Side::Buy => book.best_ask().is_some_and(|ask| order.price >= ask.price),
            Side::Sell => book.best_bid().is_some_and(|bid| order.price <= bid.price),
        };
        let reject = if crosses {
            Some(RejectReason::PostOnlyWillTakeLiquidity)
        } else if order.reduce_only && !self.reduces(order.side) {
            Some(RejectReason::ReduceOnlyNotSatisfied)
        } else if self.resting.len() == MAX_ORDERS {
            Some(RejectReason::TooManyOrders)
        } else {
            None
        };
        if let Some(reason) = reject {
            let event = VenueEvent::Rejected {
                id: order.id,
                reason,
                ts_ns,
                venue_ms: 0,
            };
            return self.respond(event, &order, ts_ns);
        }
        let view = level_view(book, order.side, order.price);
        self.resting.push(Resting {
            order,
            filled: Fixed::ZERO,
            queue: QueuePosition::on_arrival(view),
            reached: Fixed::ZERO,
        });
        let event = VenueEvent::Accepted {
            id: order.id,
            queue_ahead: view.unwrap_or(Fixed::ZERO),
            ts_ns,
            venue_ms: 0,
        };
        self.respond(event, &order, ts_ns);
    }

    fn arrive_cancel(&mut self, id: OrderId, ts_ns: u64) {
        match self
            .resting
            .iter()
            .position(|resting| resting.order.id == id)
        {
            Some(index) => {
                let resting = self.resting.remove(index);
                let event = VenueEvent::Cancelled {
                    id,
                    filled: resting.filled,
                    ts_ns,
                    venue_ms: 0,
                };
                self.respond(event, &resting.order, ts_ns);
            }
            None => {
                let event = VenueEvent::Rejected {
                    id,
                    reason: RejectReason::OrderNotExists,
                    ts_ns,
                    venue_ms: 0,
                };
                // About an order the venue does not hold: keyed by time alone, as its cancel.
                self.respond_keyed(event, [0, 0, 0, ts_ns], ts_ns);
            }
        }
    }

    /// True when an order on `side` reduces the position.
    fn reduces(&self, side: Side) -> bool {
        match side {
            Side::Buy => self.account.position.raw() < 0,
            Side::Sell => self.account.position.is_positive(),
        }
    }

    /// Fills `qty` of resting order `index`; true when the order is gone (so the caller does
    /// not advance its index).
    fn fill(&mut self, index: usize, qty: Fixed, ts_ns: u64) -> bool {
        let order = self.resting[index].order;
        let qty = if order.reduce_only {
            qty.min(self.account.position.abs())
        } else {
            qty
        };
        if qty.is_positive() {
            self.resting[index].filled = self.resting[index].filled.saturating_add(qty);
            let fee = self.fee.of(order.price, qty);
            let realized = self.book_fill(order.side, order.price, qty);
            self.account.fees = self.account.fees.saturating_add(fee);
            self.account.balance = self
                .account
                .balance
                .saturating_add(realized)
                .saturating_sub(fee);
            self.fills += 1;
            let leaves_qty = self.resting[index].leaves();
            let fill = VenueEvent::Filled(Fill {
                id: order.id,
                side: order.side,
                price: order.price,
                qty,
                leaves_qty,
                fee,
                realized,
                ts_ns,
                venue_ms: 0,
            });
            self.respond(fill, &order, ts_ns);
        }
        let resting = self.resting[index];
        let done = !resting.leaves().is_positive();
        let stranded = order.reduce_only && !self.reduces(order.side);
        if done || stranded {
            self.resting.remove(index);
            if !done {
                // A reduce-only order left with nothing to reduce: the venue cancels it.
                let event = VenueEvent::Rejected {
                    id: order.id,
                    reason: RejectReason::ReduceOnlyNotSatisfied,
                    ts_ns,
                    venue_ms: 0,
                };
                self.respond(event, &order, ts_ns);
            }
            return true;
        }
        false
    }

    /// Updates the position with a fill and returns the PnL it realized.
    fn book_fill(&mut self, side: Side, price: Fixed, qty: Fixed) -> Fixed {
        let realized = self.position.apply(side, price, qty);
        let account = &mut self.account;
        account.position = self.position.qty();
        account.entry_price = self.position.entry_price();
        account.realized = account.realized.saturating_add(realized);
        realized
    }
}

/// The numbers that identify a message about `order` sent or answered at `ns`.
fn order_parts(order: &OrderRequest, ns: u64) -> [u64; 4] {
    let side = match order.side {
        Side::Buy => 1,
        Side::Sell => 2,
    };
    let flags = side | (u64::from(order.reduce_only) << 2);
    [flags, order.price.raw() as u64, order.qty.raw() as u64, ns]
}

/// A small number per kind of event, so that two answers about one order at one time differ.
const fn event_kind(event: &VenueEvent) -> u64 {
    match event {
        VenueEvent::Accepted { .. } => 0,
        VenueEvent::Rejected { .. } => 1,
        VenueEvent::Cancelled { .. } => 2,
        VenueEvent::Filled(_) => 3,
        // The paper venue takes no amends (it makes neither).
        VenueEvent::Amended { .. } => 4,
        VenueEvent::AmendRejected { .. } => 5,
    }
}

/// Size on the opposite side of `book` at or through `price` for an order on `side` (the asks
/// at or below a buy's price).
fn opposite_size_through(book: &OrderBook, side: Side, price: Fixed) -> Fixed {
    let reached = |level: &&crate::bybit::Level| match side {
        Side::Buy => level.price <= price,
        Side::Sell => level.price >= price,
    };
    book.levels(side.opposite())
        .iter()
        .take_while(reached)
        .fold(Fixed::ZERO, |sum, level| sum.saturating_add(level.size))
}

impl Venue for PaperVenue {
    const MAX_EVENTS: usize = MAX_EVENTS;

    fn submit(&mut self, order: OrderRequest, now_ns: u64) {
        PaperVenue::submit(self, order, now_ns);
    }

    fn cancel(&mut self, id: OrderId, now_ns: u64) {
        PaperVenue::cancel(self, id, now_ns);
    }

    fn drain_events(&mut self, on_event: impl FnMut(VenueEvent)) {
        PaperVenue::drain_events(self, on_event);
    }

    fn account(&self) -> &Account {
        PaperVenue::account(self)
    }

    fn resting_orders(&self) -> usize {
        PaperVenue::resting_orders(self)
    }

    fn advance(&mut self, now_ns: u64, book: &OrderBook) {
        PaperVenue::advance(self, now_ns, book);
    }

    fn on_book(&mut self, book: &OrderBook, now_ns: u64) {
        PaperVenue::on_book(self, book, now_ns);
    }

    fn on_trades(&mut self, trades: &[Trade], now_ns: u64) {
        PaperVenue::on_trades(self, trades, now_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bybit::{BookUpdate, Level, UpdateKind};
    use crate::text::Symbol;

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    fn level(price: &str, size: &str) -> Level {
        Level {
            price: fx(price),
            size: fx(size),
        }
    }

    const MS: u64 = 1_000_000;

    fn config() -> PaperConfig {
        PaperConfig {
            entry_latency: fixed_latency(10 * MS),
            seed: 1,
            ..PaperConfig::new(fx("10000"), fx("0.0002"))
        }
    }

    const fn fixed_latency(ns: u64) -> LogNormalLatency {
        LogNormalLatency {
            min_ns: ns,
            median_ns: 0,
            sigma: 0.0,
        }
    }

    /// A book with bids 100.0 x 2, 99.9 x 3 and asks 100.1 x 1, 100.2 x 4.
    fn book() -> OrderBook {
        let mut book = OrderBook::new(Symbol::new("BTCUSDT").unwrap(), 50);
        set(
            &mut book,
            UpdateKind::Snapshot,
            1,
            &[("100.0", "2"), ("99.9", "3")],
            &[("100.1", "1"), ("100.2", "4")],
        );
        book
    }

    fn set(
        book: &mut OrderBook,
        kind: UpdateKind,
        u: u64,
        bids: &[(&str, &str)],
        asks: &[(&str, &str)],
    ) {
        let bids: Vec<Level> = bids.iter().map(|(p, s)| level(p, s)).collect();
        let asks: Vec<Level> = asks.iter().map(|(p, s)| level(p, s)).collect();
        book.apply(&BookUpdate {
            symbol: book.symbol(),
            depth: 50,
            kind,
            ts: u,
            cts: u,
            update_id: u,
            seq: u,
            bids: &bids,
            asks: &asks,
        });
        assert!(book.is_valid());
    }

    fn trade(taker: Side, price: &str, size: &str) -> Trade {
        crate::fixtures::print(taker, fx(price), fx(size))
    }

    fn buy(id: u64, price: &str, qty: &str) -> OrderRequest {
        OrderRequest {
            id: OrderId(id),
            side: Side::Buy,
            price: fx(price),
            qty: fx(qty),
            reduce_only: false,
        }
    }

    fn events(venue: &mut PaperVenue) -> Vec<VenueEvent> {
        let mut out = Vec::new();
        venue.drain_events(|event| out.push(event));
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn fill(
        id: u64,
        side: Side,
        price: &str,
        qty: &str,
        leaves: &str,
        fee: &str,
        realized: &str,
        ts_ns: u64,
    ) -> VenueEvent {
        VenueEvent::Filled(Fill {
            id: OrderId(id),
            side,
            price: fx(price),
            qty: fx(qty),
            leaves_qty: fx(leaves),
            fee: fx(fee),
            realized: fx(realized),
            ts_ns,
            venue_ms: 0,
        })
    }

    #[test]
    fn an_order_arrives_after_the_latency_behind_the_level_and_fills_when_trades_exhaust_the_queue()
    {
        let (mut venue, book) = (PaperVenue::new(config()), book());
        venue.submit(buy(1, "100.0", "0.5"), 0);
        venue.advance(9 * MS, &book);
        assert_eq!(events(&mut venue), []);
        venue.advance(10 * MS, &book);
        assert_eq!(
            events(&mut venue),
            [VenueEvent::Accepted {
                id: OrderId(1),
                queue_ahead: fx("2"),
                ts_ns: 10 * MS,
                venue_ms: 0,
            }]
        );
        // A taker buy does not touch resting buys; a sell at a lower... level elsewhere neither.
        venue.on_trades(&[trade(Side::Buy, "100.1", "1")], 11 * MS);
        assert_eq!(events(&mut venue), []);
        // 1.8 of the 2 ahead trades, then 0.5 more: 0.3 of ours fills.
        venue.on_trades(&[trade(Side::Sell, "100.0", "1.8")], 12 * MS);
        assert_eq!(events(&mut venue), []);
        venue.on_trades(&[trade(Side::Sell, "100.0", "0.5")], 13 * MS);
        assert_eq!(
            events(&mut venue),
            [fill(
                1,
                Side::Buy,
                "100.0",
                "0.3",
                "0.2",
                "0.006",
                "0",
                13 * MS
            )]
        );
        // A print through the price fills at most its size: 0.05, then the rest.
        venue.on_trades(&[trade(Side::Sell, "99.9", "0.05")], 14 * MS);
        assert_eq!(
            events(&mut venue),
            [fill(
                1,
                Side::Buy,
                "100.0",
                "0.05",
                "0.15",
                "0.001",
                "0",
                14 * MS
            )]
        );
        venue.on_trades(&[trade(Side::Sell, "99.9", "1")], 14 * MS);
        assert_eq!(
            events(&mut venue),
            [fill(
                1,
                Side::Buy,
                "100.0",
                "0.15",
                "0",
                "0.003",
                "0",
                14 * MS
            )]
        );
        let account = *venue.account();
        assert_eq!(account.position, fx("0.5"));
        assert_eq!(account.entry_price, fx("100.0"));
        assert_eq!(account.fees, fx("0.01"));
        assert_eq!(account.balance, fx("9999.99"));
        assert_eq!(venue.resting_orders(), 0);
        assert_eq!(venue.fills(), 3);
    }

    #[test]
    fn a_post_only_order_that_would_cross_is_cancelled_by_the_venue() {
        let (mut venue, book) = (PaperVenue::new(config()), book());
        venue.submit(buy(1, "100.1", "0.5"), 0);
        venue.submit(
            OrderRequest {
                side: Side::Sell,
                ..buy(2, "100.0", "0.5")
            },
            0,
        );
        venue.advance(20 * MS, &book);
        assert_eq!(
            events(&mut venue),
            [
                VenueEvent::Rejected {
                    id: OrderId(1),
                    reason: RejectReason::PostOnlyWillTakeLiquidity,
                    ts_ns: 10 * MS,
                    venue_ms: 0,
                },
                VenueEvent::Rejected {
                    id: OrderId(2),
                    reason: RejectReason::PostOnlyWillTakeLiquidity,
                    ts_ns: 10 * MS,
                    venue_ms: 0,
                },
            ]
        );
        assert_eq!(venue.resting_orders(), 0);
    }

    #[test]
    fn unexplained_level_decreases_are_cancels_and_the_queue_never_exceeds_the_level() {
        let mut book = book();
        let mut venue = PaperVenue::new(config());
        venue.submit(buy(1, "99.9", "1"), 0);
        venue.advance(10 * MS, &book);
        events(&mut venue);
        // 1 traded at 99.9 and the level went from 3 to 1.5: 0.5 was a cancel, and with nobody
        // behind us it was ahead.
        venue.on_trades(&[trade(Side::Sell, "99.9", "1")], 11 * MS);
        set(&mut book, UpdateKind::Delta, 2, &[("99.9", "1.5")], &[]);
        venue.on_book(&book, 11 * MS);
        // Queue: 3 - 1 traded - 0.5 cancelled = 1.5; one more trade of 2 fills 0.5 of ours.
        venue.on_trades(&[trade(Side::Sell, "99.9", "2")], 12 * MS);
        assert_eq!(
            events(&mut venue),
            [fill(
                1,
                Side::Buy,
                "99.9",
                "0.5",
                "0.5",
                "0.00999",
                "0",
                12 * MS
            )]
        );
        // Growth joins behind us; the cancels that follow are split by n = 2.
        let mut venue = PaperVenue::new(config());
        let mut book = self::book();
        venue.submit(buy(1, "99.9", "1"), 0);
        venue.advance(10 * MS, &book);
        events(&mut venue);
        set(&mut book, UpdateKind::Delta, 2, &[("99.9", "4")], &[]);
        venue.on_book(&book, 11 * MS);
        // 3 ahead, 1 behind, 1 cancelled: 1/10 of it behind, 9/10 ahead: 2.1 ahead.
        set(&mut book, UpdateKind::Delta, 3, &[("99.9", "3")], &[]);
        venue.on_book(&book, 12 * MS);
        venue.on_trades(&[trade(Side::Sell, "99.9", "2.5")], 14 * MS);
        assert_eq!(
            events(&mut venue),
            [fill(
                1,
                Side::Buy,
                "99.9",
                "0.4",
                "0.6",
                "0.007992",
                "0",
                14 * MS
            )]
        );
        // An emptied level leaves us first: the next print fills us.
        set(&mut book, UpdateKind::Delta, 4, &[("99.9", "0")], &[]);
        venue.on_book(&book, 15 * MS);
        venue.on_trades(&[trade(Side::Sell, "99.9", "0.1")], 16 * MS);
        assert_eq!(
            events(&mut venue),
            [fill(
                1,
                Side::Buy,
                "99.9",
                "0.1",
                "0.5",
                "0.001998",
                "0",
                16 * MS
            )]
        );
    }

    /// A buy of `qty` resting at 99.9 behind its level, then an update that empties the bids
    /// down to 99.8 and brings the best ask to 99.9 x 2, without a print: the venue and the book
    /// after it, and what the update filled.
    fn reached(cross_fill: CrossFill, qty: &str) -> (PaperVenue, OrderBook, Vec<VenueEvent>) {
        let mut book = book();
        let mut venue = PaperVenue::new(PaperConfig {
            cross_fill,
            ..config()
        });
        venue.submit(buy(1, "99.9", qty), 0);
        venue.advance(10 * MS, &book);
        events(&mut venue);
        set(
            &mut book,
            UpdateKind::Delta,
            2,
            &[("100.0", "0"), ("99.9", "0"), ("99.8", "1")],
            &[("99.9", "2"), ("100.1", "0")],
        );
        venue.on_book(&book, 11 * MS);
        let filled = events(&mut venue);
        (venue, book, filled)
    }

    #[test]
    fn a_book_that_reaches_a_resting_order_fills_at_most_the_opposite_size_once() {
        let (_, _, filled) = reached(CrossFill::OppositeSize, "1");
        assert_eq!(
            filled,
            [fill(
                1,
                Side::Buy,
                "99.9",
                "1",
                "0",
                "0.01998",
                "0",
                11 * MS
            )]
        );
        let (mut venue, mut book, filled) = reached(CrossFill::OppositeSize, "3");
        assert_eq!(
            filled,
            [fill(
                1,
                Side::Buy,
                "99.9",
                "2",
                "1",
                "0.03996",
                "0",
                11 * MS
            )]
        );
        // The same reach on the next update fills nothing more; what an update adds fills.
        set(&mut book, UpdateKind::Delta, 3, &[], &[("100.2", "0")]);
        venue.on_book(&book, 12 * MS);
        assert_eq!(events(&mut venue), []);
        set(&mut book, UpdateKind::Delta, 4, &[], &[("99.9", "2.5")]);
        venue.on_book(&book, 13 * MS);
        assert_eq!(
            events(&mut venue),
            [fill(
                1,
                Side::Buy,
                "99.9",
                "0.5",
                "0.5",
                "0.00999",
                "0",
                13 * MS
            )]
        );
    }

    #[test]
    fn conservatively_a_book_that_reaches_a_resting_order_fills_nothing_without_a_print() {
        let (_, _, filled) = reached(CrossFill::TradesOnly, "3");
        assert_eq!(filled, []);
    }

    #[test]
    fn cancels_arrive_in_order_and_reduce_only_cannot_open_or_flip_a_position() {
        let (mut venue, book) = (PaperVenue::new(config()), book());
        // Reduce-only with no position: rejected on arrival.
        venue.submit(
            OrderRequest {
                reduce_only: true,
                side: Side::Sell,
                ..buy(1, "100.2", "1")
            },
            0,
        );
        venue.submit(buy(2, "100.0", "1"), 0);
        venue.cancel(OrderId(2), MS);
        venue.cancel(OrderId(9), MS);
        venue.advance(30 * MS, &book);
        assert_eq!(
            events(&mut venue),
            [
                VenueEvent::Rejected {
                    id: OrderId(1),
                    reason: RejectReason::ReduceOnlyNotSatisfied,
                    ts_ns: 10 * MS,
                    venue_ms: 0,
                },
                VenueEvent::Accepted {
                    id: OrderId(2),
                    queue_ahead: fx("2"),
                    ts_ns: 10 * MS,
                    venue_ms: 0,
                },
                VenueEvent::Cancelled {
                    id: OrderId(2),
                    filled: Fixed::ZERO,
                    ts_ns: 11 * MS,
                    venue_ms: 0,
                },
                VenueEvent::Rejected {
                    id: OrderId(9),
                    reason: RejectReason::OrderNotExists,
                    ts_ns: 11 * MS,
                    venue_ms: 0,
                },
            ]
        );
    }

    #[test]
    fn a_round_trip_realizes_pnl_and_the_reduce_only_exit_stops_at_flat() {
        let mut book = book();
        let mut venue = PaperVenue::new(PaperConfig {
            entry_latency: fixed_latency(0),
            ..config()
        });
        venue.submit(buy(1, "99.9", "0.4"), 0);
        venue.advance(0, &book);
        venue.on_trades(&[trade(Side::Sell, "99.8", "1")], MS);
        // Exit: a reduce-only sell of 1 (more than the 0.4 held) at 100.2.
        venue.submit(
            OrderRequest {
                side: Side::Sell,
                reduce_only: true,
                ..buy(2, "100.2", "1")
            },
            2 * MS,
        );
        venue.advance(2 * MS, &book);
        set(&mut book, UpdateKind::Delta, 2, &[], &[("100.1", "0")]);
        venue.on_book(&book, 3 * MS);
        venue.on_trades(&[trade(Side::Buy, "100.3", "5")], 4 * MS);
        assert_eq!(
            events(&mut venue),
            [
                VenueEvent::Accepted {
                    id: OrderId(1),
                    queue_ahead: fx("3"),
                    ts_ns: 0,
                    venue_ms: 0,
                },
                fill(1, Side::Buy, "99.9", "0.4", "0", "0.007992", "0", MS),
                VenueEvent::Accepted {
                    id: OrderId(2),
                    queue_ahead: fx("4"),
                    ts_ns: 2 * MS,
                    venue_ms: 0,
                },
                fill(
                    2,
                    Side::Sell,
                    "100.2",
                    "0.4",
                    "0.6",
                    "0.008016",
                    "0.12",
                    4 * MS
                ),
                VenueEvent::Rejected {
                    id: OrderId(2),
                    reason: RejectReason::ReduceOnlyNotSatisfied,
                    ts_ns: 4 * MS,
                    venue_ms: 0,
                },
            ]
        );
        let account = *venue.account();
        assert_eq!(
            (account.position, account.entry_price),
            (Fixed::ZERO, Fixed::ZERO)
        );
        assert_eq!(account.realized, fx("0.12"));
        assert_eq!(account.balance, fx("10000.103992"));
    }

    /// Markouts are measured outside the venue, as the hot loop does: every fill drained,
    /// every mid after a book update.
    #[test]
    fn markouts_are_measured_at_each_horizon_against_the_mid() {
        use crate::markout::Markouts;

        fn drain(venue: &mut PaperVenue, markouts: &mut Markouts) {
            for event in events(venue) {
                if let VenueEvent::Filled(fill) = event {
                    markouts.on_fill(&fill);
                }
            }
        }
        let mut book = book();
        let mut markouts = Markouts::new();
        let mut venue = PaperVenue::new(PaperConfig {
            entry_latency: fixed_latency(0),
            ..config()
        });
        venue.submit(buy(1, "100.0", "0.1"), 0);
        venue.advance(0, &book);
        venue.on_trades(&[trade(Side::Sell, "99.9", "1")], 0);
        drain(&mut venue, &mut markouts);
        // Mid 100.05 at 1 s: +5 bps; mid 99.95 at 5 s and 30 s: -5 bps.
        venue.on_book(&book, 1_000 * MS);
        drain(&mut venue, &mut markouts);
        markouts.on_mid(1_000 * MS, book.mid().unwrap(), |_| {});
        set(
            &mut book,
            UpdateKind::Delta,
            2,
            &[("100.0", "0")],
            &[("100.0", "1")],
        );
        venue.on_book(&book, 31_000 * MS);
        drain(&mut venue, &mut markouts);
        markouts.on_mid(31_000 * MS, book.mid().unwrap(), |_| {});
        let markouts = markouts.averages();
        assert_eq!(markouts.map(|m| m.count), [1, 1, 1]);
        let bps = markouts.map(|m| (m.mean_bps() * 1e6).round() / 1e6);
        assert_eq!(bps, [5.0, -5.0, -5.0]);
    }

    #[test]
    fn block_and_rpi_trades_neither_fill_nor_move_the_queue() {
        let (mut venue, book) = (PaperVenue::new(config()), book());
        venue.submit(buy(1, "100.0", "0.5"), 0);
        venue.advance(10 * MS, &book);
        events(&mut venue);
        let block = Trade {
            block_trade: true,
            ..trade(Side::Sell, "100.0", "5")
        };
        let rpi = Trade {
            rpi: true,
            ..trade(Side::Sell, "99.0", "5")
        };
        venue.on_trades(&[block, rpi], 11 * MS);
        assert_eq!(events(&mut venue), []);
        // The 2 ahead are all still there.
        venue.on_trades(&[trade(Side::Sell, "100.0", "2.1")], 12 * MS);
        assert_eq!(
            events(&mut venue),
            [fill(
                1,
                Side::Buy,
                "100.0",
                "0.1",
                "0.4",
                "0.002",
                "0",
                12 * MS
            )]
        );
    }

    #[test]
    fn answers_reach_the_order_manager_after_the_response_latency_in_order() {
        let book = book();
        let mut venue = PaperVenue::new(PaperConfig {
            response_latency: fixed_latency(5 * MS),
            ..config()
        });
        venue.submit(buy(1, "100.0", "0.5"), 0);
        venue.advance(10 * MS, &book);
        venue.on_trades(&[trade(Side::Sell, "99.9", "1")], 12 * MS);
        // Accepted at 10 ms and filled at 12 ms at the venue; heard of at 15 and 17 ms.
        venue.advance(14 * MS, &book);
        assert_eq!(events(&mut venue), []);
        venue.advance(15 * MS, &book);
        assert_eq!(
            events(&mut venue),
            [VenueEvent::Accepted {
                id: OrderId(1),
                queue_ahead: fx("2"),
                ts_ns: 10 * MS,
                venue_ms: 0,
            }]
        );
        // The venue booked the fill already.
        assert_eq!(venue.account().position, fx("0.5"));
        venue.advance(17 * MS, &book);
        assert_eq!(
            events(&mut venue),
            [fill(
                1,
                Side::Buy,
                "100.0",
                "0.5",
                "0",
                "0.01",
                "0",
                12 * MS
            )]
        );
    }

    #[test]
    fn an_orders_latency_depends_on_the_seed_and_the_order_not_on_other_traffic() {
        let accepted_at = |seed, others: u64| {
            let book = book();
            let mut venue = PaperVenue::new(PaperConfig {
                entry_latency: LogNormalLatency {
                    min_ns: 2 * MS,
                    median_ns: 15 * MS,
                    sigma: 0.5,
                },
                seed,
                ..config()
            });
            for id in 0..others {
                venue.submit(buy(100 + id, "99.5", "0.1"), id * 1_000 * MS);
            }
            let sent = 10_000 * MS;
            venue.submit(buy(1, "99.9", "0.5"), sent);
            venue.advance(sent + 10_000 * MS, &book);
            let mut at = None;
            venue.drain_events(|event| {
                if let VenueEvent::Accepted {
                    id: OrderId(1),
                    ts_ns,
                    ..
                } = event
                {
                    at = Some(ts_ns - sent);
                }
            });
            at.unwrap()
        };
        assert_eq!(accepted_at(3, 0), accepted_at(3, 0));
        assert_eq!(accepted_at(3, 0), accepted_at(3, 4));
        assert_ne!(accepted_at(3, 0), accepted_at(4, 0));
        assert!(accepted_at(3, 0) >= 2 * MS);
    }

    #[test]
    fn a_busy_market_slows_the_order_down() {
        let sent_into = |messages: u64| {
            let book = book();
            let mut venue = PaperVenue::new(PaperConfig {
                entry_latency: LogNormalLatency {
                    min_ns: 0,
                    median_ns: 10 * MS,
                    sigma: 0.0,
                },
                latency_scaling: ScalingConfig {
                    by: latency::ScaleBy::MessageRate,
                    reference: 100.0,
                    max_factor: 3.0,
                    window_ns: 1_000 * MS,
                },
                ..config()
            });
            for index in 0..messages {
                venue.on_book(&book, index * MS);
            }
            venue.submit(buy(1, "99.9", "0.5"), 1_000 * MS);
            venue.advance(2_000 * MS, &book);
            let mut at = 0;
            venue.drain_events(|event| {
                if let VenueEvent::Accepted { ts_ns, .. } = event {
                    at = ts_ns - 1_000 * MS;
                }
            });
            at
        };
        // Quiet: the median. A thousand messages in the last second: three times it.
        assert_eq!(sent_into(0), 10 * MS);
        assert_eq!(sent_into(1_000), 30 * MS);
    }
}

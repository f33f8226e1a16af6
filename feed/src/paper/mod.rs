//! The paper venue: fills post-only orders against a live, replayed or simulated market, as
//! Bybit would, without sending anything anywhere.
//!
//! # The model
//!
//! - **Latency.** An order or cancel reaches the venue `latency_min` plus a log-normal delay
//!   after it is sent. Messages on the one connection arrive in the order they were sent (a
//!   message never overtakes the one before it).
//! - **Post-only.** An order that would cross on arrival (a buy at or above the best ask, a sell
//!   at or below the best bid) is cancelled by the venue, as Bybit does with
//!   `EC_PostOnlyWillTakeLiquidity`.
//! - **Reduce-only.** A reduce-only order arriving with no position to reduce, or on the side
//!   that would increase it, is rejected (Bybit's 110017); a fill never takes a reduce-only order
//!   past a flat position.
//! - **Queue.** A resting order waits behind the size that was on its price level on arrival
//!   (nothing when it opens a new level). Trades at its price eat that queue first and then the
//!   order, partially or wholly; a trade through its price (a sell below a resting buy) fills
//!   what is left. Each decrease of the level that the trades since the last book update do not
//!   explain is a cancel, ahead of the order with probability `cancel_ahead_probability`; the
//!   queue ahead is never larger than the level itself. A touch that moves through a resting
//!   order fills it too.
//! - **Account.** Maker fees at the instrument's rate on every fill (a negative rate is a
//!   rebate), one net position with its average entry price ([`Position`]), realized PnL.
//!   Markouts are not the venue's business: they are measured against the market, for any
//!   venue, by [`crate::markout`].
//!
//! Each model is a small type in its own file: [`latency`], [`queue`], [`fees`]. This file
//! holds the venue itself: the messages in flight, the matching against the book and the order
//! lifecycle. The orders and events are [`crate::order`]'s; the venue implements
//! [`crate::venue::Venue`].
//!
//! Everything random comes from one ChaCha8 generator: the same seed and the same market give the
//! same fills. Nothing allocates after construction: orders, messages in flight and events live
//! in buffers of fixed capacity, and a venue that is full rejects.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::book::OrderBook;
use crate::bybit::Trade;
use crate::fixed::Fixed;
use crate::order::{Account, Fill, OrderId, OrderRequest, Position, RejectReason, VenueEvent};
use crate::side::Side;
use crate::venue::Venue;

pub mod fees;
pub mod latency;
pub mod queue;

use fees::MakerFee;
use latency::LogNormalLatency;
use queue::{QueueModel, QueuePosition, level_size};

/// Orders resting or in flight at most.
pub const MAX_ORDERS: usize = 16;
/// Messages in flight at most.
pub const MAX_IN_FLIGHT: usize = 64;
/// Events waiting to be read at most (the caller drains them after every update).
pub const MAX_EVENTS: usize = 256;

/// The paper venue's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaperConfig {
    /// Wallet balance at start, USD.
    pub initial_balance: Fixed,
    /// Maker fee rate (a negative rate is a rebate).
    pub maker_fee_rate: Fixed,
    /// Least latency, ns.
    pub latency_min_ns: u64,
    /// Median of the log-normal part, ns.
    pub latency_median_ns: u64,
    /// Shape of the log-normal part.
    pub latency_sigma: f64,
    /// Chance that an unexplained level decrease was ahead of the order.
    pub cancel_ahead_probability: f64,
    /// Seed of every draw.
    pub seed: u64,
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
}

impl Resting {
    fn leaves(&self) -> Fixed {
        self.order.qty.saturating_sub(self.filled)
    }
}

/// The paper venue of one symbol.
pub struct PaperVenue {
    latency: LogNormalLatency,
    queue: QueueModel,
    fee: MakerFee,
    rng: ChaCha8Rng,
    in_flight: Vec<InFlight>,
    last_arrival_ns: u64,
    resting: Vec<Resting>,
    events: Vec<VenueEvent>,
    account: Account,
    position: Position,
    fills: u64,
}

impl PaperVenue {
    /// A venue with `config`; no orders, flat.
    pub fn new(config: PaperConfig) -> PaperVenue {
        PaperVenue {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            in_flight: Vec::with_capacity(MAX_IN_FLIGHT),
            last_arrival_ns: 0,
            resting: Vec::with_capacity(MAX_ORDERS),
            events: Vec::with_capacity(MAX_EVENTS),
            account: Account::flat(config.initial_balance),
            position: Position::default(),
            fills: 0,
            latency: LogNormalLatency {
                min_ns: config.latency_min_ns,
                median_ns: config.latency_median_ns,
                sigma: config.latency_sigma,
            },
            queue: QueueModel {
                cancel_ahead_probability: config.cancel_ahead_probability,
            },
            fee: MakerFee {
                rate: config.maker_fee_rate,
            },
        }
    }

    /// The account.
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

    /// Sends a new order at `now_ns`; it arrives after the latency.
    pub fn submit(&mut self, order: OrderRequest, now_ns: u64) {
        if !order.qty.is_positive() || !order.price.is_positive() {
            self.reject(order.id, RejectReason::InvalidOrder, now_ns);
        } else if self.resting.len() + self.in_flight.len() >= MAX_ORDERS {
            self.reject(order.id, RejectReason::TooManyOrders, now_ns);
        } else {
            self.send(Message::New(order), now_ns);
        }
    }

    /// Sends a cancel at `now_ns`; it arrives after the latency.
    pub fn cancel(&mut self, id: OrderId, now_ns: u64) {
        self.send(Message::Cancel(id), now_ns);
    }

    /// Takes the events so far, oldest first.
    pub fn drain_events(&mut self, mut on_event: impl FnMut(VenueEvent)) {
        for event in self.events.drain(..) {
            on_event(event);
        }
    }

    /// Delivers the messages due by `now_ns` against `book`, the market as it stood then.
    ///
    /// Call it with each event's time before the event is applied to the book, then hand the
    /// event to [`PaperVenue::on_book`] or [`PaperVenue::on_trades`].
    pub fn advance(&mut self, now_ns: u64, book: &OrderBook) {
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

    /// The book after an update at `now_ns`: queues shrink by cancels ahead, and orders the
    /// touch moved through fill.
    pub fn on_book(&mut self, book: &OrderBook, now_ns: u64) {
        let (best_bid, best_ask) = (
            book.best_bid().map(|level| level.price),
            book.best_ask().map(|level| level.price),
        );
        let mut index = 0;
        while index < self.resting.len() {
            let order = self.resting[index].order;
            let crossed = match order.side {
                Side::Buy => best_ask.is_some_and(|ask| ask <= order.price),
                Side::Sell => best_bid.is_some_and(|bid| bid >= order.price),
            };
            if crossed {
                let leaves = self.resting[index].leaves();
                if self.fill(index, leaves, now_ns) {
                    continue;
                }
            } else {
                let size = level_size(book, order.side, order.price);
                let queue = &mut self.resting[index].queue;
                self.queue.on_level(queue, size, &mut self.rng);
            }
            index += 1;
        }
    }

    /// Trades printed at `now_ns`: they eat the queues at their price and fill what is behind.
    pub fn on_trades(&mut self, trades: &[Trade], now_ns: u64) {
        for trade in trades {
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
                let qty = if through {
                    resting.leaves()
                } else if trade.price == order.price {
                    let leaves = resting.leaves();
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

    fn send(&mut self, message: Message, now_ns: u64) {
        if self.in_flight.len() == MAX_IN_FLIGHT {
            let id = match message {
                Message::New(order) => order.id,
                Message::Cancel(id) => id,
            };
            self.reject(id, RejectReason::TooManyOrders, now_ns);
            return;
        }
        let arrives_ns = (now_ns + self.latency_ns()).max(self.last_arrival_ns);
        self.last_arrival_ns = arrives_ns;
        self.in_flight.push(InFlight {
            arrives_ns,
            message,
        });
    }

    fn latency_ns(&mut self) -> u64 {
        self.latency.draw_ns(&mut self.rng)
    }

    fn reject(&mut self, id: OrderId, reason: RejectReason, ts_ns: u64) {
        self.push_event(VenueEvent::Rejected { id, reason, ts_ns });
    }

    fn push_event(&mut self, event: VenueEvent) {
        // At most a few events per order and message per update, and the caller drains after
        // every update: the buffer never fills. Should it, the oldest event stays and this
        // one is kept by growing, which is better than losing a fill.
        debug_assert!(self.events.len() < MAX_EVENTS, "venue events not drained");
        self.events.push(event);
    }

    fn arrive(&mut self, order: OrderRequest, ts_ns: u64, book: &OrderBook) {
        let crosses = match order.side {
            Side::Buy => book.best_ask().is_some_and(|ask| order.price >= ask.price),
            Side::Sell => book.best_bid().is_some_and(|bid| order.price <= bid.price),
        };
        if crosses {
            return self.reject(order.id, RejectReason::PostOnlyWillTakeLiquidity, ts_ns);
        }
        if order.reduce_only && !self.reduces(order.side) {
            return self.reject(order.id, RejectReason::ReduceOnlyNotSatisfied, ts_ns);
        }
        if self.resting.len() == MAX_ORDERS {
            return self.reject(order.id, RejectReason::TooManyOrders, ts_ns);
        }
        let level = level_size(book, order.side, order.price);
        self.resting.push(Resting {
            order,
            filled: Fixed::ZERO,
            queue: QueuePosition::behind(level),
        });
        self.push_event(VenueEvent::Accepted {
            id: order.id,
            queue_ahead: level,
            ts_ns,
        });
    }

    fn arrive_cancel(&mut self, id: OrderId, ts_ns: u64) {
        match self
            .resting
            .iter()
            .position(|resting| resting.order.id == id)
        {
            Some(index) => {
                let resting = self.resting.remove(index);
                self.push_event(VenueEvent::Cancelled {
                    id,
                    filled: resting.filled,
                    ts_ns,
                });
            }
            None => self.reject(id, RejectReason::OrderNotExists, ts_ns),
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
            self.push_event(VenueEvent::Filled(Fill {
                id: order.id,
                side: order.side,
                price: order.price,
                qty,
                leaves_qty,
                fee,
                realized,
                ts_ns,
            }));
        }
        let resting = self.resting[index];
        let done = !resting.leaves().is_positive();
        let stranded = order.reduce_only && !self.reduces(order.side);
        if done || stranded {
            self.resting.remove(index);
            if !done {
                // A reduce-only order left with nothing to reduce: the venue cancels it.
                self.reject(order.id, RejectReason::ReduceOnlyNotSatisfied, ts_ns);
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
    use crate::bybit::public::ShortText;
    use crate::bybit::{BookUpdate, Level, TickDirection, UpdateKind};
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
            initial_balance: fx("10000"),
            maker_fee_rate: fx("0.0002"),
            latency_min_ns: 10 * MS,
            latency_median_ns: 0,
            latency_sigma: 0.0,
            cancel_ahead_probability: 1.0,
            seed: 1,
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
        Trade {
            time: 0,
            symbol: Symbol::new("BTCUSDT").unwrap(),
            taker_side: taker,
            size: fx(size),
            price: fx(price),
            tick: TickDirection::Unknown,
            id: ShortText::default(),
            block_trade: false,
            rpi: false,
            seq: 0,
        }
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
                ts_ns: 10 * MS
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
        // A trade through the price fills the rest.
        venue.on_trades(&[trade(Side::Sell, "99.9", "0.01")], 14 * MS);
        assert_eq!(
            events(&mut venue),
            [fill(
                1,
                Side::Buy,
                "100.0",
                "0.2",
                "0",
                "0.004",
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
        assert_eq!(venue.fills(), 2);
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
                    ts_ns: 10 * MS
                },
                VenueEvent::Rejected {
                    id: OrderId(2),
                    reason: RejectReason::PostOnlyWillTakeLiquidity,
                    ts_ns: 10 * MS
                },
            ]
        );
        assert_eq!(venue.resting_orders(), 0);
    }

    #[test]
    fn unexplained_level_decreases_are_cancels_ahead_and_the_queue_never_exceeds_the_level() {
        let mut book = book();
        let mut venue = PaperVenue::new(config());
        venue.submit(buy(1, "99.9", "1"), 0);
        venue.advance(10 * MS, &book);
        events(&mut venue);
        // 1 traded at 99.9 and the level went from 3 to 1.5: 0.5 was a cancel (ahead, p = 1).
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
        // With p = 0 the cancels are behind us, but the queue is capped by the level.
        let mut venue = PaperVenue::new(PaperConfig {
            cancel_ahead_probability: 0.0,
            ..config()
        });
        let mut book = self::book();
        venue.submit(buy(1, "99.9", "1"), 0);
        venue.advance(10 * MS, &book);
        events(&mut venue);
        set(&mut book, UpdateKind::Delta, 2, &[("99.9", "2.5")], &[]);
        venue.on_book(&book, 11 * MS);
        set(&mut book, UpdateKind::Delta, 3, &[("99.9", "0.4")], &[]);
        venue.on_book(&book, 12 * MS);
        venue.on_trades(&[trade(Side::Sell, "99.9", "0.6")], 13 * MS);
        assert_eq!(
            events(&mut venue),
            [fill(
                1,
                Side::Buy,
                "99.9",
                "0.2",
                "0.8",
                "0.003996",
                "0",
                13 * MS
            )]
        );
    }

    #[test]
    fn a_touch_that_moves_through_a_resting_order_fills_it() {
        let mut book = book();
        let mut venue = PaperVenue::new(config());
        venue.submit(buy(1, "99.9", "1"), 0);
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
        assert_eq!(
            events(&mut venue),
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
                    ts_ns: 10 * MS
                },
                VenueEvent::Accepted {
                    id: OrderId(2),
                    queue_ahead: fx("2"),
                    ts_ns: 10 * MS
                },
                VenueEvent::Cancelled {
                    id: OrderId(2),
                    filled: Fixed::ZERO,
                    ts_ns: 11 * MS
                },
                VenueEvent::Rejected {
                    id: OrderId(9),
                    reason: RejectReason::OrderNotExists,
                    ts_ns: 11 * MS
                },
            ]
        );
    }

    #[test]
    fn a_round_trip_realizes_pnl_and_the_reduce_only_exit_stops_at_flat() {
        let mut book = book();
        let mut venue = PaperVenue::new(PaperConfig {
            latency_min_ns: 0,
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
                    ts_ns: 0
                },
                fill(1, Side::Buy, "99.9", "0.4", "0", "0.007992", "0", MS),
                VenueEvent::Accepted {
                    id: OrderId(2),
                    queue_ahead: fx("4"),
                    ts_ns: 2 * MS
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
                    ts_ns: 4 * MS
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
            latency_min_ns: 0,
            ..config()
        });
        venue.submit(buy(1, "100.0", "0.1"), 0);
        venue.advance(0, &book);
        venue.on_trades(&[trade(Side::Sell, "99.9", "1")], 0);
        drain(&mut venue, &mut markouts);
        // Mid 100.05 at 1 s: +5 bps; mid 99.95 at 5 s and 30 s: -5 bps.
        venue.on_book(&book, 1_000 * MS);
        drain(&mut venue, &mut markouts);
        markouts.on_mid(1_000 * MS, book.mid().unwrap());
        set(
            &mut book,
            UpdateKind::Delta,
            2,
            &[("100.0", "0")],
            &[("100.0", "1")],
        );
        venue.on_book(&book, 31_000 * MS);
        drain(&mut venue, &mut markouts);
        markouts.on_mid(31_000 * MS, book.mid().unwrap());
        let markouts = markouts.averages();
        assert_eq!(markouts.map(|m| m.count), [1, 1, 1]);
        let bps = markouts.map(|m| (m.mean_bps() * 1e6).round() / 1e6);
        assert_eq!(bps, [5.0, -5.0, -5.0]);
    }

    #[test]
    fn the_same_seed_draws_the_same_latencies() {
        let draws = |seed| {
            let mut venue = PaperVenue::new(PaperConfig {
                latency_median_ns: 15 * MS,
                latency_sigma: 0.5,
                seed,
                ..config()
            });
            (0..5).map(|_| venue.latency_ns()).collect::<Vec<_>>()
        };
        assert_eq!(draws(3), draws(3));
        assert_ne!(draws(3), draws(4));
        assert!(draws(3).iter().all(|&ns| ns >= 10 * MS));
    }
}

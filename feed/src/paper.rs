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
//!   rebate), one net position with its average entry price, realized PnL, and markouts of every
//!   fill at 1 s, 5 s and 30 s: `side x (mid - fill price) / fill price` in basis points.
//!
//! Everything random comes from one ChaCha8 generator: the same seed and the same market give the
//! same fills. Nothing allocates after construction: orders, messages in flight, events and
//! pending markouts live in buffers of fixed capacity, and a venue that is full rejects.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::book::OrderBook;
use crate::bybit::Trade;
use crate::fixed::Fixed;
use crate::side::Side;

/// Orders resting or in flight at most.
pub const MAX_ORDERS: usize = 16;
/// Messages in flight at most.
pub const MAX_IN_FLIGHT: usize = 64;
/// Events waiting to be read at most (the caller drains them after every update).
pub const MAX_EVENTS: usize = 256;
/// Fills whose markouts are pending at most; older ones are dropped from the markouts.
pub const MAX_PENDING_MARKOUTS: usize = 1024;
/// Markout horizons, ns.
pub const MARKOUT_HORIZONS_NS: [u64; 3] = [1_000_000_000, 5_000_000_000, 30_000_000_000];

/// An order id, chosen by the client and unique per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderId(pub u64);

/// A post-only limit order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRequest {
    /// Client id.
    pub id: OrderId,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: Fixed,
    /// Quantity, base units.
    pub qty: Fixed,
    /// Only ever reduces the position.
    pub reduce_only: bool,
}

/// Why the venue refused or cancelled an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// The order would have taken liquidity (`EC_PostOnlyWillTakeLiquidity`).
    PostOnlyWillTakeLiquidity,
    /// A reduce-only order with nothing to reduce (Bybit's 110017).
    ReduceOnlyNotSatisfied,
    /// The venue holds [`MAX_ORDERS`] orders already, or [`MAX_IN_FLIGHT`] messages.
    TooManyOrders,
    /// A cancel for an order the venue does not hold (Bybit's 110001).
    OrderNotExists,
    /// A quantity or price that is not positive.
    InvalidOrder,
}

impl RejectReason {
    /// A short label, for logs and metrics.
    pub const fn label(self) -> &'static str {
        match self {
            RejectReason::PostOnlyWillTakeLiquidity => "post_only_will_take_liquidity",
            RejectReason::ReduceOnlyNotSatisfied => "reduce_only_not_satisfied",
            RejectReason::TooManyOrders => "too_many_orders",
            RejectReason::OrderNotExists => "order_not_exists",
            RejectReason::InvalidOrder => "invalid_order",
        }
    }
}

/// What happened at the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VenueEvent {
    /// The order rests on the book behind `queue_ahead`.
    Accepted {
        /// Order.
        id: OrderId,
        /// Size ahead of it at its price.
        queue_ahead: Fixed,
        /// Arrival time, ns.
        ts_ns: u64,
    },
    /// The order was refused on arrival or cancelled by the venue.
    Rejected {
        /// Order.
        id: OrderId,
        /// Why.
        reason: RejectReason,
        /// Time, ns.
        ts_ns: u64,
    },
    /// A fill.
    Filled(Fill),
    /// The order was cancelled on request.
    Cancelled {
        /// Order.
        id: OrderId,
        /// Quantity that had filled before.
        filled: Fixed,
        /// Time, ns.
        ts_ns: u64,
    },
}

/// One fill of a resting order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    /// Order.
    pub id: OrderId,
    /// Its side.
    pub side: Side,
    /// Price.
    pub price: Fixed,
    /// Quantity of this fill.
    pub qty: Fixed,
    /// What is left of the order after it.
    pub leaves_qty: Fixed,
    /// Fee paid (negative: a rebate), USD.
    pub fee: Fixed,
    /// PnL this fill realized (a fill that reduces the position), USD, before fees.
    pub realized: Fixed,
    /// Time, ns.
    pub ts_ns: u64,
}

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

/// Average markout at one horizon.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Markout {
    /// Fills measured.
    pub count: u64,
    /// Sum of their markouts, basis points.
    pub sum_bps: f64,
}

impl Markout {
    /// The mean, basis points (0 with no fills).
    pub fn mean_bps(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_bps / self.count as f64
        }
    }
}

/// The account at the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaperAccount {
    /// Wallet balance: initial balance plus realized PnL minus fees, USD.
    pub balance: Fixed,
    /// Net position, base units (positive long).
    pub position: Fixed,
    /// Average entry price of the position (zero when flat).
    pub entry_price: Fixed,
    /// Realized PnL before fees, USD.
    pub realized: Fixed,
    /// Fees paid, USD.
    pub fees: Fixed,
}

impl PaperAccount {
    /// Unrealized PnL of the position at `mark`, USD (approximate).
    pub fn unrealized(&self, mark: Fixed) -> f64 {
        (mark.to_f64() - self.entry_price.to_f64()) * self.position.to_f64()
    }
}

/// A net position and what it cost, as fills build it: the average entry price is the cost of
/// what is open over its size; a fill against the position realizes PnL on the part it closes
/// (pro rata of the cost), and what goes beyond flat opens the other way at the fill price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    qty: Fixed,
    /// Price x size of what is open, raw units squared.
    cost: i128,
}

impl Position {
    /// Net size, base units (positive long).
    pub const fn qty(&self) -> Fixed {
        self.qty
    }

    /// Average entry price (zero when flat).
    pub fn entry_price(&self) -> Fixed {
        if self.qty.is_zero() {
            Fixed::ZERO
        } else {
            Fixed::from_raw((self.cost / i128::from(self.qty.abs().raw())) as i64)
        }
    }

    /// Books a fill of `qty` at `price` on `side`; returns the PnL it realized, before fees,
    /// rounded down to 10^-8.
    pub fn apply(&mut self, side: Side, price: Fixed, qty: Fixed) -> Fixed {
        let signed = Fixed::from_raw(qty.raw() * side.sign());
        let open = self.qty;
        self.qty = open.saturating_add(signed);
        if open.is_zero() || (open.raw() > 0) == (signed.raw() > 0) {
            self.cost += price.wide_mul(qty);
            return Fixed::ZERO;
        }
        let closed = qty.min(open.abs());
        // The entry cost of the closed part, pro rata.
        let closed_cost = self.cost * i128::from(closed.raw()) / i128::from(open.abs().raw());
        let exit_value = price.wide_mul(closed);
        let realized = if open.is_positive() {
            exit_value - closed_cost
        } else {
            closed_cost - exit_value
        };
        self.cost -= closed_cost;
        let flipped = qty.saturating_sub(closed);
        if flipped.is_positive() {
            self.cost = price.wide_mul(flipped);
        }
        if self.qty.is_zero() {
            self.cost = 0;
        }
        Fixed::from_raw(realized.div_euclid(i128::from(Fixed::SCALE)) as i64)
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
    queue_ahead: Fixed,
    /// Size of the order's level at the last book update.
    level_size: Fixed,
    /// Size traded at the order's price since the last book update.
    traded_at_price: Fixed,
}

impl Resting {
    fn leaves(&self) -> Fixed {
        self.order.qty.saturating_sub(self.filled)
    }
}

#[derive(Debug, Clone, Copy)]
struct PendingMarkout {
    ts_ns: u64,
    side: Side,
    price: Fixed,
    /// Horizons measured so far.
    done: usize,
}

/// The paper venue of one symbol.
pub struct PaperVenue {
    config: PaperConfig,
    rng: ChaCha8Rng,
    in_flight: Vec<InFlight>,
    last_arrival_ns: u64,
    resting: Vec<Resting>,
    events: Vec<VenueEvent>,
    markouts_pending: Vec<PendingMarkout>,
    markouts: [Markout; 3],
    account: PaperAccount,
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
            markouts_pending: Vec::with_capacity(MAX_PENDING_MARKOUTS),
            markouts: [Markout::default(); 3],
            account: PaperAccount {
                balance: config.initial_balance,
                position: Fixed::ZERO,
                entry_price: Fixed::ZERO,
                realized: Fixed::ZERO,
                fees: Fixed::ZERO,
            },
            position: Position::default(),
            fills: 0,
            config,
        }
    }

    /// The account.
    pub const fn account(&self) -> &PaperAccount {
        &self.account
    }

    /// Average markouts at 1 s, 5 s and 30 s.
    pub const fn markouts(&self) -> &[Markout; 3] {
        &self.markouts
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

    /// The book after an update at `now_ns`: queues shrink by cancels ahead, orders the touch
    /// moved through fill, and the markouts due are measured against the new mid.
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
                let resting = &mut self.resting[index];
                let decrease = resting.level_size.saturating_sub(size);
                let unexplained = decrease.saturating_sub(resting.traded_at_price);
                if unexplained.is_positive()
                    && self.rng.random::<f64>() < self.config.cancel_ahead_probability
                {
                    resting.queue_ahead = resting.queue_ahead.saturating_sub(unexplained);
                }
                resting.queue_ahead = resting.queue_ahead.min(size).max(Fixed::ZERO);
                resting.level_size = size;
                resting.traded_at_price = Fixed::ZERO;
            }
            index += 1;
        }
        if let Some(mid) = book.mid() {
            self.measure_markouts(now_ns, mid);
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
                    resting.traded_at_price = resting.traded_at_price.saturating_add(trade.size);
                    let past_queue = trade.size.saturating_sub(resting.queue_ahead);
                    resting.queue_ahead = resting.queue_ahead.saturating_sub(trade.size);
                    past_queue.max(Fixed::ZERO).min(resting.leaves())
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
        let normal: f64 = StandardNormal.sample(&mut self.rng);
        let delay =
            self.config.latency_median_ns as f64 * (self.config.latency_sigma * normal).exp();
        self.config.latency_min_ns + delay as u64
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
            queue_ahead: level,
            level_size: level,
            traded_at_price: Fixed::ZERO,
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
            let fee = order
                .price
                .checked_mul_floor(qty)
                .and_then(|notional| notional.checked_mul_floor(self.config.maker_fee_rate))
                .unwrap_or(Fixed::ZERO);
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
            if self.markouts_pending.len() < MAX_PENDING_MARKOUTS {
                self.markouts_pending.push(PendingMarkout {
                    ts_ns,
                    side: order.side,
                    price: order.price,
                    done: 0,
                });
            }
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

    fn measure_markouts(&mut self, now_ns: u64, mid: Fixed) {
        let mut index = 0;
        while index < self.markouts_pending.len() {
            let pending = &mut self.markouts_pending[index];
            while pending.done < MARKOUT_HORIZONS_NS.len()
                && now_ns >= pending.ts_ns + MARKOUT_HORIZONS_NS[pending.done]
            {
                let price = pending.price.to_f64();
                let bps = pending.side.sign() as f64 * (mid.to_f64() - price) / price * 1e4;
                let markout = &mut self.markouts[pending.done];
                markout.count += 1;
                markout.sum_bps += bps;
                pending.done += 1;
            }
            if pending.done == MARKOUT_HORIZONS_NS.len() {
                self.markouts_pending.swap_remove(index);
            } else {
                index += 1;
            }
        }
    }
}

/// Size resting at `price` on `side` of `book` (zero when no level is there).
fn level_size(book: &OrderBook, side: Side, price: Fixed) -> Fixed {
    book.levels(side)
        .iter()
        .find(|level| level.price == price)
        .map_or(Fixed::ZERO, |level| level.size)
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

    #[test]
    fn markouts_are_measured_at_each_horizon_against_the_mid() {
        let mut book = book();
        let mut venue = PaperVenue::new(PaperConfig {
            latency_min_ns: 0,
            ..config()
        });
        venue.submit(buy(1, "100.0", "0.1"), 0);
        venue.advance(0, &book);
        venue.on_trades(&[trade(Side::Sell, "99.9", "1")], 0);
        // Mid 100.05 at 1 s: +5 bps; mid 99.95 at 5 s and 30 s: -5 bps.
        venue.on_book(&book, 1_000 * MS);
        set(
            &mut book,
            UpdateKind::Delta,
            2,
            &[("100.0", "0")],
            &[("100.0", "1")],
        );
        venue.on_book(&book, 31_000 * MS);
        let markouts = venue.markouts();
        assert_eq!(markouts.map(|m| m.count), [1, 1, 1]);
        let bps = markouts.map(|m| (m.mean_bps() * 1e6).round() / 1e6);
        assert_eq!(bps, [5.0, -5.0, -5.0]);
    }

    #[test]
    fn a_position_averages_its_entries_and_realizes_what_it_closes_then_flips() {
        let mut position = Position::default();
        assert_eq!(position.apply(Side::Buy, fx("100"), fx("1")), Fixed::ZERO);
        assert_eq!(position.apply(Side::Buy, fx("103"), fx("2")), Fixed::ZERO);
        assert_eq!(
            (position.qty(), position.entry_price()),
            (fx("3"), fx("102"))
        );
        // Sell 1 at 105: +3 on the closed third.
        assert_eq!(position.apply(Side::Sell, fx("105"), fx("1")), fx("3"));
        assert_eq!(
            (position.qty(), position.entry_price()),
            (fx("2"), fx("102"))
        );
        // Sell 3 at 101: -2 on the 2 closed, then short 1 at 101.
        assert_eq!(position.apply(Side::Sell, fx("101"), fx("3")), fx("-2"));
        assert_eq!(
            (position.qty(), position.entry_price()),
            (fx("-1"), fx("101"))
        );
        // Buy 1 at 100.5: +0.5, flat.
        assert_eq!(position.apply(Side::Buy, fx("100.5"), fx("1")), fx("0.5"));
        assert_eq!(position, Position::default());
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

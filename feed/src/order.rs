//! Orders and what a venue says about them: the order a client sends ([`OrderRequest`]), the
//! events that come back ([`VenueEvent`], [`Fill`], [`RejectReason`]), the net position fills
//! build ([`Position`]) and the account as a venue reports it ([`Account`]).
//!
//! These types belong to no venue: the paper venue ([`crate::paper`]) and the Bybit venue
//! speak them alike, through [`crate::venue::Venue`].

use crate::fixed::Fixed;
use crate::side::Side;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The order would have taken liquidity (`EC_PostOnlyWillTakeLiquidity`).
    PostOnlyWillTakeLiquidity,
    /// A reduce-only order with nothing to reduce (Bybit's 110017).
    ReduceOnlyNotSatisfied,
    /// The venue holds as many orders, or messages in flight, as it takes (the paper venue:
    /// [`crate::paper::MAX_ORDERS`] and [`crate::paper::MAX_IN_FLIGHT`]).
    TooManyOrders,
    /// A cancel for an order the venue does not hold (Bybit's 110001).
    OrderNotExists,
    /// A quantity or price that is not positive, or any other parameter the venue refused
    /// (Bybit's 10001, 110003, 110094, ...).
    InvalidOrder,
    /// Not enough free balance or margin for the order (Bybit's 110004, 110007, 110012, ...).
    InsufficientBalance,
    /// Not sent: the venue's order entry link is down.
    VenueUnavailable,
    /// Not sent, or refused: the rate limit had no room (Bybit's 10006).
    RateLimited,
    /// Refused: its time stamp fell outside the venue's receive window (Bybit's 10002); the
    /// clock is measured again.
    ClockSkew,
    /// Not sent: entries are halted at this venue (a liquidation was being prepared, or the
    /// venue refused the credentials).
    EntriesHalted,
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
            RejectReason::InsufficientBalance => "insufficient_balance",
            RejectReason::VenueUnavailable => "venue_unavailable",
            RejectReason::RateLimited => "rate_limited",
            RejectReason::ClockSkew => "clock_skew",
            RejectReason::EntriesHalted => "entries_halted",
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
        /// Size ahead of it at its price, as far as the venue knows (the paper venue says zero
        /// for a price beyond the book's kept depth, whose queue is unknown until it is seen).
        queue_ahead: Fixed,
        /// Arrival time, ns.
        ts_ns: u64,
        /// The venue's own time stamp of it, ms (0: it gave none).
        venue_ms: u64,
    },
    /// The order was refused on arrival or cancelled by the venue.
    Rejected {
        /// Order.
        id: OrderId,
        /// Why.
        reason: RejectReason,
        /// Time, ns.
        ts_ns: u64,
        /// The venue's own time stamp of it, ms (0: it gave none).
        venue_ms: u64,
    },
    /// A fill.
    Filled(Fill),
    /// An amend took effect: the order now rests at `price` for `qty` (its whole quantity,
    /// what filled included), at the back of its new price's queue.
    Amended {
        /// Order.
        id: OrderId,
        /// Its price now.
        price: Fixed,
        /// Its quantity now.
        qty: Fixed,
        /// Time, ns.
        ts_ns: u64,
        /// The venue's own time stamp of it, ms (0: it gave none).
        venue_ms: u64,
    },
    /// The venue would not amend the order: it stands as it was (or it ended, and its end
    /// comes as its own event).
    AmendRejected {
        /// Order.
        id: OrderId,
        /// Time, ns.
        ts_ns: u64,
    },
    /// The order was cancelled on request.
    Cancelled {
        /// Order.
        id: OrderId,
        /// Quantity that had filled before.
        filled: Fixed,
        /// Time, ns.
        ts_ns: u64,
        /// The venue's own time stamp of it, ms (0: it gave none).
        venue_ms: u64,
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
    /// The venue's own time stamp of the fill, ms (0: it gave none).
    pub venue_ms: u64,
}

/// The account at a venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
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
    /// What is free to open positions with, as the venue computes it (net of every margin and
    /// of unrealised PnL: Bybit's `totalAvailableBalance`), when it reports one; `None` for a
    /// venue that reports only the wallet balance, whose free part the loop works out.
    pub available: Option<Fixed>,
}

impl Account {
    /// A flat account holding `balance`, with nothing realized and no fees paid.
    pub const fn flat(balance: Fixed) -> Account {
        Account {
            balance,
            position: Fixed::ZERO,
            entry_price: Fixed::ZERO,
            realized: Fixed::ZERO,
            fees: Fixed::ZERO,
            available: None,
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
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
}

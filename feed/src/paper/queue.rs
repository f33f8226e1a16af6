//! Where a resting order stands in the queue of its price level at the paper venue.
//!
//! An order waits behind the size that was on its level on arrival (nothing when it opens a
//! new level). Trades at its price eat that queue first and then the order. Each decrease of
//! the level that the trades since the last book update do not explain is a cancel, ahead of
//! the order with probability [`QueueModel::cancel_ahead_probability`]; the queue ahead is
//! never larger than the level itself.

use rand::Rng;

use crate::book::OrderBook;
use crate::fixed::Fixed;
use crate::side::Side;

/// The cancel-ahead rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueModel {
    /// Chance that an unexplained level decrease was ahead of the order.
    pub cancel_ahead_probability: f64,
}

/// One resting order's place in its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePosition {
    /// Size ahead of the order.
    pub ahead: Fixed,
    /// Size of the order's level at the last book update.
    pub level_size: Fixed,
    /// Size traded at the order's price since the last book update.
    pub traded_at_price: Fixed,
}

impl QueuePosition {
    /// An order arriving on a level of `level` size: it waits behind all of it.
    pub const fn behind(level: Fixed) -> QueuePosition {
        QueuePosition {
            ahead: level,
            level_size: level,
            traded_at_price: Fixed::ZERO,
        }
    }

    /// A trade of `size` at the order's price: it eats the queue first; returns how much of
    /// the order's `leaves` it reaches.
    pub fn on_trade_at_price(&mut self, size: Fixed, leaves: Fixed) -> Fixed {
        self.traded_at_price = self.traded_at_price.saturating_add(size);
        let past_queue = size.saturating_sub(self.ahead);
        self.ahead = self.ahead.saturating_sub(size);
        past_queue.max(Fixed::ZERO).min(leaves)
    }
}

impl QueueModel {
    /// The order's level is `size` after a book update: what the trades since the last one do
    /// not explain of its decrease was a cancel, ahead of the order on a draw from `rng` (one
    /// draw, only when there is such a decrease).
    pub fn on_level<R: Rng + ?Sized>(
        &self,
        position: &mut QueuePosition,
        size: Fixed,
        rng: &mut R,
    ) {
        let decrease = position.level_size.saturating_sub(size);
        let unexplained = decrease.saturating_sub(position.traded_at_price);
        if unexplained.is_positive() && rng.random::<f64>() < self.cancel_ahead_probability {
            position.ahead = position.ahead.saturating_sub(unexplained);
        }
        position.ahead = position.ahead.min(size).max(Fixed::ZERO);
        position.level_size = size;
        position.traded_at_price = Fixed::ZERO;
    }
}

/// Size resting at `price` on `side` of `book` (zero when no level is there).
pub fn level_size(book: &OrderBook, side: Side, price: Fixed) -> Fixed {
    book.levels(side)
        .iter()
        .find(|level| level.price == price)
        .map_or(Fixed::ZERO, |level| level.size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    #[test]
    fn trades_eat_the_queue_first_and_unexplained_decreases_are_cancels_ahead() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut position = QueuePosition::behind(fx("3"));
        assert_eq!(position.on_trade_at_price(fx("1"), fx("1")), Fixed::ZERO);
        // 3 -> 1.5 with 1 traded: 0.5 cancelled, ahead of the order (p = 1).
        let ahead = QueueModel {
            cancel_ahead_probability: 1.0,
        };
        ahead.on_level(&mut position, fx("1.5"), &mut rng);
        assert_eq!(position, QueuePosition::behind(fx("1.5")));
        assert_eq!(position.on_trade_at_price(fx("2"), fx("1")), fx("0.5"));
        // With p = 0 the queue is still capped by the level.
        let behind = QueueModel {
            cancel_ahead_probability: 0.0,
        };
        let mut position = QueuePosition::behind(fx("3"));
        behind.on_level(&mut position, fx("0.4"), &mut rng);
        assert_eq!(position.ahead, fx("0.4"));
    }
}

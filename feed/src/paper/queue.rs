//! Where a resting order stands in the queue of its price level.
//!
//! The rules, and the lesson of the peers each one answers:
//!
//! - **Unknown until seen.** A level beyond the depth the book keeps is out of view, not empty.
//!   An order resting there (a take-profit 600 ticks away) has an unknown queue, and so no fill
//!   at its price, until its level comes into view; the queue then starts at the level's size.
//!   A level that drifts out of view keeps the estimate it had. (The old model took "out of
//!   view" for "empty" and put such orders first.)
//! - **Trades eat the queue first.** A print at the order's price consumes the size ahead, then
//!   fills the order with at most what is left of the print.
//! - **Cancels split by position.** A decrease of the level that the trades since the last book
//!   update do not explain is a cancel. It is split between ahead of and behind the order as
//!   hftbacktest's `ProbQueueModel` with `PowerProbQueueFunc` does: with `f(x) = x^n`, the share
//!   behind is `f(behind) / (f(behind) + f(ahead))`, and what exceeds the size behind comes from
//!   ahead. Two details differ from hftbacktest: "behind" is the level as the prints since the
//!   last update left it, less the size ahead (hftbacktest counts the traded size behind too),
//!   and the estimate is rounded up to a whole lot (hftbacktest rounds the fill down instead).
//!   Deterministic: the same book gives the same queue, whoever replays it. (The old model
//!   moved the queue all or nothing on one coin flip, wherever the order sat.)
//! - **Growth joins behind.** An increase of the level is new orders, behind ours.
//! - **Never more than the level.** The size ahead is capped by the level; a level that empties
//!   leaves the order first.

use crate::book::OrderBook;
use crate::fixed::Fixed;
use crate::side::Side;

/// How unexplained level decreases split between ahead of and behind the order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueModel {
    /// The power `n` of `f(x) = x^n` (0 splits evenly; larger puts more of each cancel on the
    /// longer side).
    pub power: f64,
    /// The instrument's quantity step: the estimate ahead is rounded up to it, so that the
    /// queue, and every fill it leads to, stays in whole lots as a real one does (zero: no
    /// rounding).
    pub lot: Fixed,
}

/// One resting order's place in its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePosition {
    /// Size ahead of the order; `None` while the level has not been in view.
    ahead: Option<Fixed>,
    /// Size of the order's level at the last book update that showed it.
    level_size: Fixed,
    /// Size traded at the order's price since that update.
    traded_at_price: Fixed,
}

impl QueuePosition {
    /// An order arriving on a level that shows `view` (`None` when out of view): behind all of
    /// it, or unknown.
    pub const fn on_arrival(view: Option<Fixed>) -> QueuePosition {
        match view {
            Some(size) => QueuePosition {
                ahead: Some(size),
                level_size: size,
                traded_at_price: Fixed::ZERO,
            },
            None => QueuePosition {
                ahead: None,
                level_size: Fixed::ZERO,
                traded_at_price: Fixed::ZERO,
            },
        }
    }

    /// Size ahead of the order, if known.
    pub const fn ahead(&self) -> Option<Fixed> {
        self.ahead
    }

    /// A print of `size` at the order's price: it eats the queue first; returns how much of
    /// the order's `leaves` it fills (nothing while the queue is unknown).
    pub fn on_trade_at_price(&mut self, size: Fixed, leaves: Fixed) -> Fixed {
        self.traded_at_price = self.traded_at_price.saturating_add(size);
        let Some(ahead) = self.ahead else {
            return Fixed::ZERO;
        };
        self.ahead = Some(ahead.saturating_sub(size).max(Fixed::ZERO));
        size.saturating_sub(ahead).max(Fixed::ZERO).min(leaves)
    }

    /// A print through the order's price swept its level: nobody is ahead any more.
    pub fn on_trade_through(&mut self) {
        self.ahead = Some(Fixed::ZERO);
    }
}

impl QueueModel {
    /// The order's level shows `view` after a book update (`None`: out of view, nothing
    /// learned).
    pub fn on_level(&self, position: &mut QueuePosition, view: Option<Fixed>) {
        let Some(size) = view else {
            return;
        };
        let ahead = match position.ahead {
            // First seen: the queue starts at the level's size.
            None => size,
            Some(ahead) => {
                let decrease = position.level_size.saturating_sub(size);
                let unexplained = decrease.saturating_sub(position.traded_at_price);
                if unexplained.is_positive() {
                    // The level as the prints since the last update left it, around the order.
                    let remaining = position.level_size.saturating_sub(position.traded_at_price);
                    let behind = remaining.saturating_sub(ahead).max(Fixed::ZERO);
                    self.after_cancel(ahead, behind, unexplained)
                } else {
                    ahead
                }
            }
        };
        position.ahead = Some(ahead.min(size).max(Fixed::ZERO));
        position.level_size = size;
        position.traded_at_price = Fixed::ZERO;
    }

    /// The size ahead after `cancelled` left a level with `ahead` before the order and `behind`
    /// after it.
    fn after_cancel(&self, ahead: Fixed, behind: Fixed, cancelled: Fixed) -> Fixed {
        let (front, back, change) = (ahead.to_f64(), behind.to_f64(), cancelled.to_f64());
        let (f_front, f_back) = (front.powf(self.power), back.powf(self.power));
        let share_behind = if f_front + f_back > 0.0 {
            f_back / (f_front + f_back)
        } else {
            0.5
        };
        let from_behind = share_behind * change;
        let estimate = front - (1.0 - share_behind) * change + (back - from_behind).min(0.0);
        let estimate = Fixed::from_f64(estimate.max(0.0)).unwrap_or(Fixed::ZERO);
        self.round_up(estimate).min(ahead)
    }

    /// `size` rounded up to a whole number of lots.
    fn round_up(&self, size: Fixed) -> Fixed {
        let lot = self.lot.raw();
        if lot <= 0 {
            return size;
        }
        let lots = size.raw().div_euclid(lot) + i64::from(size.raw().rem_euclid(lot) != 0);
        Fixed::from_raw(lots.saturating_mul(lot))
    }
}

/// What `book` shows at `price` on `side`: the size resting there (zero for an empty price
/// inside the kept depth), or `None` when the price lies beyond the levels the book keeps.
pub fn level_view(book: &OrderBook, side: Side, price: Fixed) -> Option<Fixed> {
    let levels = book.levels(side);
    if let Some(level) = levels.iter().find(|level| level.price == price) {
        return Some(level.size);
    }
    // A side with fewer levels than the depth shows all there is.
    let Some(last) = levels.last().filter(|_| levels.len() >= book.depth()) else {
        return Some(Fixed::ZERO);
    };
    let inside = match side {
        Side::Buy => price > last.price,
        Side::Sell => price < last.price,
    };
    inside.then_some(Fixed::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    const SQUARE: QueueModel = QueueModel {
        power: 2.0,
        lot: Fixed::from_raw(1_000_000),
    };

    #[test]
    fn trades_at_the_price_eat_the_queue_first_and_fill_at_most_what_is_left_of_the_print() {
        let mut position = QueuePosition::on_arrival(Some(fx("3")));
        assert_eq!(position.on_trade_at_price(fx("1"), fx("1")), Fixed::ZERO);
        assert_eq!(position.ahead(), Some(fx("2")));
        assert_eq!(position.on_trade_at_price(fx("2.25"), fx("1")), fx("0.25"));
        assert_eq!(position.on_trade_at_price(fx("5"), fx("0.75")), fx("0.75"));
    }

    #[test]
    fn out_of_view_is_not_empty_the_queue_starts_at_the_level_when_it_comes_into_view() {
        let mut position = QueuePosition::on_arrival(None);
        assert_eq!(position.ahead(), None);
        assert_eq!(position.on_trade_at_price(fx("9"), fx("1")), Fixed::ZERO);
        SQUARE.on_level(&mut position, None);
        assert_eq!(position.ahead(), None);
        SQUARE.on_level(&mut position, Some(fx("4")));
        assert_eq!(position.ahead(), Some(fx("4")));
        // Drifting out of view again teaches nothing: the estimate stays.
        SQUARE.on_level(&mut position, None);
        assert_eq!(position.ahead(), Some(fx("4")));
    }

    #[test]
    fn unexplained_decreases_split_by_the_power_of_each_side_as_hftbacktests_prob_queue_model() {
        // 1 ahead, 3 behind, 1 cancelled, n = 2: behind takes 9/10 of it, ahead 1/10.
        let mut position = QueuePosition::on_arrival(Some(fx("1")));
        SQUARE.on_level(&mut position, Some(fx("4")));
        SQUARE.on_level(&mut position, Some(fx("3")));
        assert_eq!(position.ahead(), Some(fx("0.9")));
        // Evenly with n = 0: 2 ahead, 2 behind, 1 cancelled moves us up 0.5.
        let even = QueueModel {
            power: 0.0,
            ..SQUARE
        };
        let mut position = QueuePosition::on_arrival(Some(fx("2")));
        even.on_level(&mut position, Some(fx("4")));
        even.on_level(&mut position, Some(fx("3")));
        assert_eq!(position.ahead(), Some(fx("1.5")));
        // A cancel's share behind beyond what is behind comes from ahead: 1 ahead, 0.2 behind,
        // 1 cancelled evenly leaves 0.2, all of it ahead.
        let mut position = QueuePosition::on_arrival(Some(fx("1")));
        even.on_level(&mut position, Some(fx("1.2")));
        even.on_level(&mut position, Some(fx("0.2")));
        assert_eq!(position.ahead(), Some(fx("0.2")));
    }

    #[test]
    fn the_estimate_ahead_stays_in_whole_lots_rounded_up() {
        // 1 ahead, 3 behind, 0.5 cancelled with n = 2: 0.95 ahead, a whole number of lots of
        // 0.01; in lots of 0.1 it rounds up to 1.
        let coarse = QueueModel {
            lot: "0.1".parse().unwrap(),
            ..SQUARE
        };
        let mut position = QueuePosition::on_arrival(Some(fx("1")));
        coarse.on_level(&mut position, Some(fx("4")));
        coarse.on_level(&mut position, Some(fx("3.5")));
        assert_eq!(position.ahead(), Some(fx("1")));
        let mut position = QueuePosition::on_arrival(Some(fx("1")));
        SQUARE.on_level(&mut position, Some(fx("4")));
        SQUARE.on_level(&mut position, Some(fx("3.5")));
        assert_eq!(position.ahead(), Some(fx("0.95")));
    }

    #[test]
    fn trades_explain_decreases_growth_joins_behind_and_an_emptied_level_leaves_us_first() {
        let mut position = QueuePosition::on_arrival(Some(fx("3")));
        position.on_trade_at_price(fx("1"), fx("1"));
        // 3 -> 2 is the trade: nothing cancelled.
        SQUARE.on_level(&mut position, Some(fx("2")));
        assert_eq!(position.ahead(), Some(fx("2")));
        SQUARE.on_level(&mut position, Some(fx("7")));
        assert_eq!(position.ahead(), Some(fx("2")));
        SQUARE.on_level(&mut position, Some(Fixed::ZERO));
        assert_eq!(position.ahead(), Some(Fixed::ZERO));
    }

    #[test]
    fn a_price_beyond_the_kept_depth_is_out_of_view_and_a_gap_inside_it_is_empty() {
        use crate::bybit::{BookUpdate, Level, UpdateKind};
        let level = |price: &str, size: &str| Level {
            price: fx(price),
            size: fx(size),
        };
        let mut book = OrderBook::new(crate::Symbol::new("BTCUSDT").unwrap(), 1);
        book.apply(&BookUpdate {
            symbol: book.symbol(),
            depth: 1,
            kind: UpdateKind::Snapshot,
            ts: 1,
            cts: 1,
            update_id: 1,
            seq: 1,
            bids: &[level("100.0", "2")],
            asks: &[level("100.2", "3")],
        });
        assert_eq!(level_view(&book, Side::Buy, fx("100.0")), Some(fx("2")));
        assert_eq!(level_view(&book, Side::Buy, fx("99.9")), None);
        assert_eq!(level_view(&book, Side::Sell, fx("100.3")), None);
        // Inside the spread is in view, and empty.
        assert_eq!(level_view(&book, Side::Buy, fx("100.1")), Some(Fixed::ZERO));
    }
}

//! The simulator's own limit order book, in integer ticks and lots, and the bookkeeping of
//! what was last published so that deltas carry exactly what changed in the top levels.

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::SizeDist;
use crate::side::Side;

/// Levels kept on each side below the published window, so deltas can slide levels in.
const RESTING_LEVELS: usize = 80;

/// A level: (price in ticks, size in lots).
pub(super) type TickLevel = (i64, i64);

pub(super) struct SimBook {
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
    published_bids: Vec<TickLevel>,
    published_asks: Vec<TickLevel>,
    current: Vec<TickLevel>,
    changed_bids: Vec<TickLevel>,
    changed_asks: Vec<TickLevel>,
}

impl SimBook {
    /// A book around `mid_ticks`: best bid at `mid_ticks`, best ask one tick above, sizes
    /// growing away from the touch.
    pub(super) fn seeded(rng: &mut ChaCha8Rng, mid_ticks: i64, sizes: &SizeDist) -> SimBook {
        let mut book = SimBook {
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            published_bids: Vec::with_capacity(RESTING_LEVELS),
            published_asks: Vec::with_capacity(RESTING_LEVELS),
            current: Vec::with_capacity(RESTING_LEVELS),
            changed_bids: Vec::with_capacity(2 * RESTING_LEVELS),
            changed_asks: Vec::with_capacity(2 * RESTING_LEVELS),
        };
        for distance in 0..RESTING_LEVELS as i64 {
            let depth_factor = 1.0 + distance as f64 / 20.0;
            book.bids
                .insert(mid_ticks - distance, sizes.lots(rng, depth_factor));
            book.asks
                .insert(mid_ticks + 1 + distance, sizes.lots(rng, depth_factor));
        }
        book
    }

    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<i64, i64> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Best price of a side, in ticks.
    pub(super) fn best(&self, side: Side) -> Option<i64> {
        match side {
            Side::Buy => self.bids.keys().next_back().copied(),
            Side::Sell => self.asks.keys().next().copied(),
        }
    }

    /// Best level of a side.
    pub(super) fn best_level(&self, side: Side) -> Option<TickLevel> {
        match side {
            Side::Buy => self.bids.iter().next_back().map(|(&p, &s)| (p, s)),
            Side::Sell => self.asks.iter().next().map(|(&p, &s)| (p, s)),
        }
    }

    /// Price `rank` levels from the touch of a side (existing levels only).
    fn level_at_rank(&self, side: Side, rank: usize) -> Option<i64> {
        match side {
            Side::Buy => self.bids.keys().rev().nth(rank).copied(),
            Side::Sell => self.asks.keys().nth(rank).copied(),
        }
    }

    /// A limit order `distance` ticks behind the touch, or one tick inside a spread wider than
    /// a tick (where new orders go first when the spread is wide).
    pub(super) fn add_limit(
        &mut self,
        side: Side,
        distance: usize,
        lots: i64,
        rng: &mut ChaCha8Rng,
    ) {
        let (Some(bid), Some(ask)) = (self.best(Side::Buy), self.best(Side::Sell)) else {
            return;
        };
        let spread = ask - bid;
        let price = if spread > 1 && rng.random::<f64>() < 0.7 {
            match side {
                Side::Buy => bid + 1,
                Side::Sell => ask - 1,
            }
        } else {
            let distance = distance.min(RESTING_LEVELS) as i64;
            match side {
                Side::Buy => bid - distance,
                Side::Sell => ask + distance,
            }
        };
        *self.side_mut(side).entry(price).or_insert(0) += lots;
    }

    /// Adds `lots` at an exact price.
    pub(super) fn add_at(&mut self, side: Side, price: i64, lots: i64) {
        *self.side_mut(side).entry(price).or_insert(0) += lots;
    }

    /// Cancels `fraction` of the level `rank` places from the touch (not on a thin side).
    pub(super) fn cancel(&mut self, side: Side, rank: usize, fraction: f64) {
        let levels = self.side_mut(side).len();
        if levels < 5 {
            return;
        }
        let Some(price) = self.level_at_rank(side, rank.min(levels - 1)) else {
            return;
        };
        let book = self.side_mut(side);
        if let Some(size) = book.get_mut(&price) {
            let cancelled = ((*size as f64 * fraction).ceil() as i64).clamp(1, *size);
            *size -= cancelled;
            if *size == 0 {
                book.remove(&price);
            }
        }
    }

    /// Takes up to `lots` from the best level of `side` (the side a market order hits):
    /// returns its price and the lots taken.
    pub(super) fn take_touch(&mut self, side: Side, lots: i64) -> Option<TickLevel> {
        let (price, size) = self.best_level(side)?;
        let taken = size.min(lots);
        let book = self.side_mut(side);
        if taken == size {
            book.remove(&price);
        } else if let Some(level) = book.get_mut(&price) {
            *level -= taken;
        }
        Some((price, taken))
    }

    /// Keeps both sides non-empty and at least [`RESTING_LEVELS`] deep, adding levels behind
    /// the worst one.
    pub(super) fn replenish(&mut self, rng: &mut ChaCha8Rng, sizes: &SizeDist) {
        if self.bids.is_empty() {
            let anchor = self.best(Side::Sell).map_or(0, |ask| ask - 1);
            self.bids.insert(anchor, sizes.lots(rng, 1.0));
        }
        if self.asks.is_empty() {
            let anchor = self.best(Side::Buy).map_or(1, |bid| bid + 1);
            self.asks.insert(anchor, sizes.lots(rng, 1.0));
        }
        while self.bids.len() < RESTING_LEVELS {
            let worst = self.bids.keys().next().copied().unwrap_or_default();
            self.bids
                .insert(worst - rng.random_range(1..3), sizes.lots(rng, 4.0));
        }
        while self.asks.len() < RESTING_LEVELS {
            let worst = self.asks.keys().next_back().copied().unwrap_or_default();
            self.asks
                .insert(worst + rng.random_range(1..3), sizes.lots(rng, 4.0));
        }
    }

    /// Moves every level by `ticks` and removes the `sweep` best levels of each side.
    pub(super) fn shift_and_sweep(&mut self, ticks: i64, sweep: usize) {
        for book in [&mut self.bids, &mut self.asks] {
            let shifted: BTreeMap<i64, i64> = book
                .iter()
                .map(|(&price, &size)| (price + ticks, size))
                .collect();
            *book = shifted;
        }
        for _ in 0..sweep {
            if self.bids.len() > 5 {
                self.bids.pop_last();
            }
            if self.asks.len() > 5 {
                self.asks.pop_first();
            }
        }
    }

    /// The levels of the top `depth` that changed since the last publication (removed ones
    /// with size 0), bids best first and asks best first; the top becomes the published state.
    pub(super) fn diff_published(&mut self, depth: usize) -> (&[TickLevel], &[TickLevel]) {
        for side in [Side::Buy, Side::Sell] {
            self.current.clear();
            match side {
                Side::Buy => self
                    .current
                    .extend(self.bids.iter().rev().take(depth).map(|(&p, &s)| (p, s))),
                Side::Sell => self
                    .current
                    .extend(self.asks.iter().take(depth).map(|(&p, &s)| (p, s))),
            }
            let (published, changed) = match side {
                Side::Buy => (&mut self.published_bids, &mut self.changed_bids),
                Side::Sell => (&mut self.published_asks, &mut self.changed_asks),
            };
            diff(side, published, &self.current, changed);
            published.clear();
            published.extend_from_slice(&self.current);
        }
        (&self.changed_bids, &self.changed_asks)
    }

    /// The whole top `depth`, which becomes the published state (for snapshots).
    pub(super) fn publish_all(&mut self, depth: usize) -> (&[TickLevel], &[TickLevel]) {
        self.published_bids.clear();
        self.published_bids
            .extend(self.bids.iter().rev().take(depth).map(|(&p, &s)| (p, s)));
        self.published_asks.clear();
        self.published_asks
            .extend(self.asks.iter().take(depth).map(|(&p, &s)| (p, s)));
        (&self.published_bids, &self.published_asks)
    }
}

/// Merges two best-first level lists into the changes from `old` to `new`.
fn diff(side: Side, old: &[TickLevel], new: &[TickLevel], changed: &mut Vec<TickLevel>) {
    changed.clear();
    let better = |a: i64, b: i64| match side {
        Side::Buy => a > b,
        Side::Sell => a < b,
    };
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(&(old_price, old_size)), Some(&(new_price, new_size)))
                if old_price == new_price =>
            {
                if old_size != new_size {
                    changed.push((new_price, new_size));
                }
                i += 1;
                j += 1;
            }
            (Some(&(old_price, _)), Some(&(new_price, new_size))) => {
                if better(new_price, old_price) {
                    changed.push((new_price, new_size));
                    j += 1;
                } else {
                    changed.push((old_price, 0));
                    i += 1;
                }
            }
            (Some(&(old_price, _)), None) => {
                changed.push((old_price, 0));
                i += 1;
            }
            (None, Some(&level)) => {
                changed.push(level);
                j += 1;
            }
            (None, None) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_carry_changes_removals_and_arrivals_best_first() {
        let mut changed = Vec::new();
        let old = [(100, 5), (99, 3), (97, 1)];
        let new = [(101, 2), (100, 5), (99, 4), (98, 1)];
        diff(Side::Buy, &old, &new, &mut changed);
        assert_eq!(changed, [(101, 2), (99, 4), (98, 1), (97, 0)]);
        let old = [(10, 1), (11, 1)];
        let new = [(11, 2), (12, 1)];
        diff(Side::Sell, &old, &new, &mut changed);
        assert_eq!(changed, [(10, 0), (11, 2), (12, 1)]);
    }
}

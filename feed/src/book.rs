//! The L2 order book of one symbol, maintained from `orderbook.{depth}` messages by Bybit's
//! rules.
//!
//! - Sizes are absolute: size 0 deletes the level, a new price inserts it, a known price
//!   replaces its size.
//! - A snapshot resets the book whenever it comes; so does a delta with `u == 1` (the venue
//!   restarted its stream).
//! - Deltas before the first snapshot are dropped.
//! - Above depth 1, a delta whose `u` is not the last `u + 1` is a gap: the book turns invalid
//!   and asks for a resync (re-subscribing yields a fresh snapshot). Depth 1 only sends
//!   snapshots, and repeats them with the same `u`.
//! - A crossed book (best bid >= best ask) after an update is corruption: invalid, resync.
//! - While invalid, deltas are dropped until a snapshot arrives.
//!
//! Each side is a sorted array, best first, allocated once with room for `depth` levels plus
//! the largest message: updates binary-search the price and shift the tail, and once a whole
//! message is applied the side is cut back to `depth` levels (levels pushed past the window fall
//! out of it, as on the venue; cutting per level instead would drop a level that a later removal
//! in the same message brings back into the window). Nothing allocates after construction.

use crate::bybit::public::MAX_LEVELS;
use crate::bybit::{BookUpdate, Level, UpdateKind};
use crate::fixed::Fixed;
use crate::side::Side;
use crate::text::Symbol;

/// Largest depth a book may be built with (Bybit's deepest linear stream).
pub const MAX_DEPTH: usize = 1000;

/// Whether the book can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookState {
    /// No snapshot yet.
    AwaitingSnapshot,
    /// In sync with the venue.
    Valid,
    /// Out of sync: waiting for a snapshot.
    Invalid(InvalidReason),
}

/// Why a book became invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidReason {
    /// A delta's update id did not follow the last one.
    Gap {
        /// The update id expected.
        expected: u64,
        /// The one received.
        received: u64,
    },
    /// Best bid at or above best ask.
    Crossed,
    /// The connection the book came over was lost; the reconnect brings a snapshot.
    Disconnected,
}

impl InvalidReason {
    /// Every reason, in counter order (the gap's ids left out).
    pub const ALL: [InvalidReason; 3] = [
        InvalidReason::Gap {
            expected: 0,
            received: 0,
        },
        InvalidReason::Crossed,
        InvalidReason::Disconnected,
    ];

    /// A stable label for metrics and logs.
    pub const fn label(self) -> &'static str {
        match self {
            InvalidReason::Gap { .. } => "gap",
            InvalidReason::Crossed => "crossed",
            InvalidReason::Disconnected => "disconnected",
        }
    }

    /// Position in [`InvalidReason::ALL`].
    pub const fn index(self) -> usize {
        match self {
            InvalidReason::Gap { .. } => 0,
            InvalidReason::Crossed => 1,
            InvalidReason::Disconnected => 2,
        }
    }
}

/// What applying one update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The delta was applied.
    Applied,
    /// The book was reset from a snapshot (or a `u == 1` delta).
    Reset,
    /// A delta before any snapshot: dropped.
    DroppedBeforeSnapshot,
    /// A delta while the book is invalid: dropped.
    DroppedWhileInvalid,
    /// The update is for another symbol or depth: ignored.
    NotThisBook,
    /// The update made the book invalid; a resync is requested.
    Invalidated(InvalidReason),
}

/// One side: levels sorted best first.
#[derive(Debug, Clone)]
struct BookSide {
    side: Side,
    levels: Vec<Level>,
}

impl BookSide {
    fn new(side: Side, depth: usize) -> Self {
        BookSide {
            side,
            levels: Vec::with_capacity(depth + MAX_LEVELS),
        }
    }

    /// Position of `price`: `Ok(i)` when present, `Err(i)` where it would be inserted.
    fn search(&self, price: Fixed) -> Result<usize, usize> {
        match self.side {
            Side::Buy => self
                .levels
                .binary_search_by(|level| price.cmp(&level.price)),
            Side::Sell => self
                .levels
                .binary_search_by(|level| level.price.cmp(&price)),
        }
    }

    /// Sets the absolute size at a price (0 deletes), never growing past the capacity.
    fn set(&mut self, level: Level) {
        match self.search(level.price) {
            Ok(index) if level.size.is_positive() => self.levels[index].size = level.size,
            Ok(index) => {
                self.levels.remove(index);
            }
            Err(_) if !level.size.is_positive() => {}
            Err(index) => {
                if self.levels.len() == self.levels.capacity() {
                    if index == self.levels.len() {
                        return;
                    }
                    self.levels.pop();
                }
                self.levels.insert(index, level);
            }
        }
    }

    fn best(&self) -> Option<Level> {
        self.levels.first().copied()
    }
}

/// The order book of one symbol at one depth.
#[derive(Debug, Clone)]
pub struct OrderBook {
    symbol: Symbol,
    depth: usize,
    bids: BookSide,
    asks: BookSide,
    state: BookState,
    update_id: u64,
    seq: u64,
    ts: u64,
    cts: u64,
    resync_requested: bool,
    resyncs: u64,
    invalidations: [u64; InvalidReason::ALL.len()],
    snapshots: u64,
}

impl OrderBook {
    /// An empty book for `symbol` keeping `depth` levels a side (1 to [`MAX_DEPTH`]; clamped).
    pub fn new(symbol: Symbol, depth: usize) -> Self {
        let depth = depth.clamp(1, MAX_DEPTH);
        OrderBook {
            symbol,
            depth,
            bids: BookSide::new(Side::Buy, depth),
            asks: BookSide::new(Side::Sell, depth),
            state: BookState::AwaitingSnapshot,
            update_id: 0,
            seq: 0,
            ts: 0,
            cts: 0,
            resync_requested: false,
            resyncs: 0,
            invalidations: [0; InvalidReason::ALL.len()],
            snapshots: 0,
        }
    }

    /// Applies one `orderbook` message.
    pub fn apply(&mut self, update: &BookUpdate<'_>) -> ApplyOutcome {
        if update.symbol != self.symbol || usize::from(update.depth) != self.depth {
            return ApplyOutcome::NotThisBook;
        }
        let reset = update.kind == UpdateKind::Snapshot || update.update_id == 1;
        if !reset {
            match self.state {
                BookState::AwaitingSnapshot => return ApplyOutcome::DroppedBeforeSnapshot,
                BookState::Invalid(_) => return ApplyOutcome::DroppedWhileInvalid,
                BookState::Valid => {}
            }
            let expected = self.update_id.wrapping_add(1);
            if self.depth > 1 && update.update_id != expected {
                return self.invalidate(InvalidReason::Gap {
                    expected,
                    received: update.update_id,
                });
            }
        } else {
            self.bids.levels.clear();
            self.asks.levels.clear();
            self.snapshots += 1;
        }
        for &level in update.bids {
            self.bids.set(level);
        }
        for &level in update.asks {
            self.asks.set(level);
        }
        self.bids.levels.truncate(self.depth);
        self.asks.levels.truncate(self.depth);
        self.update_id = update.update_id;
        self.seq = update.seq;
        self.ts = update.ts;
        self.cts = update.cts;
        if let (Some(bid), Some(ask)) = (self.bids.best(), self.asks.best())
            && bid.price >= ask.price
        {
            return self.invalidate(InvalidReason::Crossed);
        }
        self.state = BookState::Valid;
        if reset {
            ApplyOutcome::Reset
        } else {
            ApplyOutcome::Applied
        }
    }

    /// Makes this book a copy of `live` (without allocating, for a book of the same depth) and
    /// applies `update`, the update `live` took last, once more, as if it were the next one:
    /// the same code as a real update, on a copy. An idle hot thread does this to keep the
    /// code, its branch history and `live`'s memory in the caches; `live` is only read.
    pub fn rehearse(&mut self, live: &OrderBook, update: &BookUpdate<'_>) -> ApplyOutcome {
        self.symbol = live.symbol;
        self.depth = live.depth;
        self.bids.levels.clone_from(&live.bids.levels);
        self.asks.levels.clone_from(&live.asks.levels);
        self.state = BookState::Valid;
        self.update_id = update.update_id.wrapping_sub(1);
        self.resync_requested = false;
        self.apply(update)
    }

    /// Marks the book stale because its connection was lost: deltas are dropped until the
    /// next snapshot, which the reconnect brings (no resync is requested).
    pub fn invalidate_disconnected(&mut self) {
        if !matches!(self.state, BookState::Invalid(_)) {
            self.invalidations[InvalidReason::Disconnected.index()] += 1;
        }
        self.state = BookState::Invalid(InvalidReason::Disconnected);
    }

    /// Times the book became invalid, by [`InvalidReason::index`].
    pub const fn invalidations(&self) -> [u64; InvalidReason::ALL.len()] {
        self.invalidations
    }

    fn invalidate(&mut self, reason: InvalidReason) -> ApplyOutcome {
        self.invalidations[reason.index()] += 1;
        self.state = BookState::Invalid(reason);
        if !self.resync_requested {
            self.resync_requested = true;
            self.resyncs += 1;
        }
        ApplyOutcome::Invalidated(reason)
    }

    /// True once when a resync is due; the caller re-subscribes and the flag clears.
    pub fn take_resync_request(&mut self) -> bool {
        std::mem::take(&mut self.resync_requested)
    }

    /// Snapshots (and `u == 1` restarts) the book was reset from.
    pub const fn snapshots(&self) -> u64 {
        self.snapshots
    }

    /// Resyncs requested so far.
    pub const fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// Current state.
    pub const fn state(&self) -> BookState {
        self.state
    }

    /// True when in sync.
    pub fn is_valid(&self) -> bool {
        self.state == BookState::Valid
    }

    /// The symbol.
    pub const fn symbol(&self) -> Symbol {
        self.symbol
    }

    /// Levels kept per side.
    pub const fn depth(&self) -> usize {
        self.depth
    }

    /// Update id of the last applied message.
    pub const fn update_id(&self) -> u64 {
        self.update_id
    }

    /// Cross sequence of the last applied message.
    pub const fn seq(&self) -> u64 {
        self.seq
    }

    /// System time of the last applied message, ms.
    pub const fn ts(&self) -> u64 {
        self.ts
    }

    /// Matching-engine time of the last applied message, ms.
    pub const fn cts(&self) -> u64 {
        self.cts
    }

    fn side(&self, side: Side) -> &BookSide {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    /// Levels of a side, best first.
    pub fn levels(&self, side: Side) -> &[Level] {
        &self.side(side).levels
    }

    /// Number of levels on a side.
    pub fn len(&self, side: Side) -> usize {
        self.side(side).levels.len()
    }

    /// True when both sides are empty.
    pub fn is_empty(&self) -> bool {
        self.bids.levels.is_empty() && self.asks.levels.is_empty()
    }

    /// Best bid.
    pub fn best_bid(&self) -> Option<Level> {
        self.bids.best()
    }

    /// Best ask.
    pub fn best_ask(&self) -> Option<Level> {
        self.asks.best()
    }

    /// The level `index` places from the touch (0 is the best).
    pub fn level(&self, side: Side, index: usize) -> Option<Level> {
        self.side(side).levels.get(index).copied()
    }

    /// Total size on the first `levels` levels of a side.
    pub fn cumulative_size(&self, side: Side, levels: usize) -> Fixed {
        let raw: i64 = self
            .side(side)
            .levels
            .iter()
            .take(levels)
            .map(|l| l.size.raw())
            .sum();
        Fixed::from_raw(raw)
    }

    /// Resting sizes of a side, best first (what the liquidity gate reads).
    pub fn sizes(&self, side: Side) -> impl Iterator<Item = Fixed> + '_ {
        self.side(side).levels.iter().map(|level| level.size)
    }

    /// `(best bid + best ask) / 2`, rounded down to 10^-8.
    pub fn mid(&self) -> Option<Fixed> {
        let (bid, ask) = (self.best_bid()?, self.best_ask()?);
        let sum = i128::from(bid.price.raw()) + i128::from(ask.price.raw());
        Some(Fixed::from_raw(sum.div_euclid(2) as i64))
    }

    /// Best ask minus best bid.
    pub fn spread(&self) -> Option<Fixed> {
        let (bid, ask) = (self.best_bid()?, self.best_ask()?);
        ask.price.checked_sub(bid.price)
    }

    /// Size-weighted mid: `(bid x ask_size + ask x bid_size) / (bid_size + ask_size)`, rounded
    /// down to 10^-8. Leans toward the side with less size, where the price is likelier to go.
    pub fn microprice(&self) -> Option<Fixed> {
        let (bid, ask) = (self.best_bid()?, self.best_ask()?);
        let total = i128::from(bid.size.raw()) + i128::from(ask.size.raw());
        if total <= 0 {
            return self.mid();
        }
        let weighted = bid.price.wide_mul(ask.size) + ask.price.wide_mul(bid.size);
        i64::try_from(weighted.div_euclid(total))
            .ok()
            .map(Fixed::from_raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    fn lv(price: &str, size: &str) -> Level {
        Level {
            price: fx(price),
            size: fx(size),
        }
    }

    fn btc() -> Symbol {
        Symbol::new("BTCUSDT").unwrap()
    }

    fn update<'a>(
        kind: UpdateKind,
        u: u64,
        bids: &'a [Level],
        asks: &'a [Level],
    ) -> BookUpdate<'a> {
        BookUpdate {
            symbol: btc(),
            depth: 50,
            kind,
            ts: u * 20,
            cts: u * 20 - 2,
            update_id: u,
            seq: 1000 + u,
            bids,
            asks,
        }
    }

    fn seeded() -> OrderBook {
        let mut book = OrderBook::new(btc(), 50);
        let bids = [lv("100.0", "1"), lv("99.9", "2"), lv("99.8", "3")];
        let asks = [lv("100.1", "1.5"), lv("100.2", "2"), lv("100.3", "4")];
        assert_eq!(
            book.apply(&update(UpdateKind::Snapshot, 10, &bids, &asks)),
            ApplyOutcome::Reset
        );
        book
    }

    #[test]
    fn snapshot_then_deltas_by_bybit_rules() {
        let mut book = seeded();
        assert_eq!(book.best_bid(), Some(lv("100.0", "1")));
        assert_eq!(book.best_ask(), Some(lv("100.1", "1.5")));
        // Replace, insert and delete in one delta.
        let bids = [lv("99.9", "5"), lv("99.95", "0.5"), lv("100.0", "0")];
        let asks = [lv("100.25", "1")];
        assert_eq!(
            book.apply(&update(UpdateKind::Delta, 11, &bids, &asks)),
            ApplyOutcome::Applied
        );
        assert_eq!(
            book.levels(Side::Buy),
            [lv("99.95", "0.5"), lv("99.9", "5"), lv("99.8", "3")]
        );
        assert_eq!(
            book.levels(Side::Sell),
            [
                lv("100.1", "1.5"),
                lv("100.2", "2"),
                lv("100.25", "1"),
                lv("100.3", "4")
            ]
        );
        assert_eq!(
            (book.update_id(), book.seq(), book.ts(), book.cts()),
            (11, 1011, 220, 218)
        );
        // Deleting an unknown level is a no-op.
        assert_eq!(
            book.apply(&update(UpdateKind::Delta, 12, &[lv("50", "0")], &[])),
            ApplyOutcome::Applied
        );
        assert_eq!(book.len(Side::Buy), 3);
    }

    #[test]
    fn queries() {
        let book = seeded();
        assert_eq!(book.level(Side::Buy, 2), Some(lv("99.8", "3")));
        assert_eq!(book.level(Side::Sell, 3), None);
        assert_eq!(book.cumulative_size(Side::Buy, 2), fx("3"));
        assert_eq!(book.cumulative_size(Side::Sell, 10), fx("7.5"));
        assert_eq!(book.mid(), Some(fx("100.05")));
        assert_eq!(book.spread(), Some(fx("0.1")));
        // (100.0 x 1.5 + 100.1 x 1) / 2.5 = 100.04
        assert_eq!(book.microprice(), Some(fx("100.04")));
        let sizes: Vec<Fixed> = book.sizes(Side::Sell).collect();
        assert_eq!(sizes, [fx("1.5"), fx("2"), fx("4")]);
    }

    #[test]
    fn deltas_before_the_first_snapshot_are_dropped() {
        let mut book = OrderBook::new(btc(), 50);
        let bids = [lv("100", "1")];
        assert_eq!(
            book.apply(&update(UpdateKind::Delta, 5, &bids, &[])),
            ApplyOutcome::DroppedBeforeSnapshot
        );
        assert!(book.is_empty());
        assert_eq!(book.state(), BookState::AwaitingSnapshot);
    }

    #[test]
    fn a_gap_invalidates_and_requests_one_resync_until_a_snapshot() {
        let mut book = seeded();
        assert_eq!(
            book.apply(&update(UpdateKind::Delta, 12, &[], &[])),
            ApplyOutcome::Invalidated(InvalidReason::Gap {
                expected: 11,
                received: 12
            })
        );
        assert!(book.take_resync_request());
        assert!(!book.take_resync_request());
        assert_eq!(
            book.apply(&update(UpdateKind::Delta, 13, &[], &[])),
            ApplyOutcome::DroppedWhileInvalid
        );
        assert_eq!(book.resyncs(), 1);
        let bids = [lv("101", "1")];
        let asks = [lv("102", "1")];
        assert_eq!(
            book.apply(&update(UpdateKind::Snapshot, 40, &bids, &asks)),
            ApplyOutcome::Reset
        );
        assert!(book.is_valid());
        assert_eq!(book.levels(Side::Buy), bids);
        assert_eq!(
            book.apply(&update(UpdateKind::Delta, 41, &[], &[])),
            ApplyOutcome::Applied
        );
    }

    #[test]
    fn a_lost_connection_invalidates_without_a_resync_until_the_next_snapshot() {
        let mut book = seeded();
        assert_eq!((book.snapshots(), book.invalidations()), (1, [0, 0, 0]));
        book.invalidate_disconnected();
        book.invalidate_disconnected(); // one spell, counted once
        assert_eq!(
            book.state(),
            BookState::Invalid(InvalidReason::Disconnected)
        );
        assert!(
            !book.take_resync_request(),
            "the reconnect brings the snapshot"
        );
        assert_eq!(
            book.apply(&update(UpdateKind::Delta, 11, &[], &[])),
            ApplyOutcome::DroppedWhileInvalid
        );
        let bids = [lv("101", "1")];
        let asks = [lv("102", "1")];
        assert_eq!(
            book.apply(&update(UpdateKind::Snapshot, 1, &bids, &asks)),
            ApplyOutcome::Reset
        );
        assert!(book.is_valid());
        assert_eq!((book.snapshots(), book.invalidations()), (2, [0, 0, 1]));
        assert_eq!(book.resyncs(), 0);
        assert_eq!(
            InvalidReason::ALL.map(InvalidReason::label),
            ["gap", "crossed", "disconnected"]
        );
    }

    #[test]
    fn a_repeated_update_id_is_a_gap_above_depth_1() {
        let mut book = seeded();
        assert!(matches!(
            book.apply(&update(UpdateKind::Delta, 10, &[], &[])),
            ApplyOutcome::Invalidated(InvalidReason::Gap {
                expected: 11,
                received: 10
            })
        ));
    }

    #[test]
    fn u_equal_1_resets_even_as_a_delta() {
        let mut book = seeded();
        let bids = [lv("90", "1")];
        let asks = [lv("91", "1")];
        assert_eq!(
            book.apply(&update(UpdateKind::Delta, 1, &bids, &asks)),
            ApplyOutcome::Reset
        );
        assert_eq!(book.levels(Side::Buy), bids);
        assert_eq!(book.levels(Side::Sell), asks);
    }

    #[test]
    fn a_crossed_book_is_invalid() {
        let mut book = seeded();
        assert_eq!(
            book.apply(&update(UpdateKind::Delta, 11, &[lv("100.1", "1")], &[])),
            ApplyOutcome::Invalidated(InvalidReason::Crossed)
        );
        assert!(!book.is_valid());
        assert!(book.take_resync_request());
    }

    #[test]
    fn depth_1_repeats_snapshots_with_the_same_u() {
        let mut book = OrderBook::new(btc(), 1);
        let bids = [lv("100", "1")];
        let asks = [lv("101", "1")];
        let mut snapshot = update(UpdateKind::Snapshot, 7, &bids, &asks);
        snapshot.depth = 1;
        assert_eq!(book.apply(&snapshot), ApplyOutcome::Reset);
        assert_eq!(book.apply(&snapshot), ApplyOutcome::Reset);
        assert!(book.is_valid());
    }

    #[test]
    fn levels_beyond_depth_fall_out_of_the_window() {
        let mut book = OrderBook::new(btc(), 2);
        let bids = [lv("100", "1"), lv("99", "1"), lv("98", "1")];
        let asks = [lv("101", "1")];
        let mut snapshot = update(UpdateKind::Snapshot, 3, &bids, &asks);
        snapshot.depth = 2;
        book.apply(&snapshot);
        assert_eq!(book.levels(Side::Buy), [lv("100", "1"), lv("99", "1")]);
        let bids = [lv("99.5", "2")];
        let mut delta = update(UpdateKind::Delta, 4, &bids, &[]);
        delta.depth = 2;
        book.apply(&delta);
        assert_eq!(book.levels(Side::Buy), [lv("100", "1"), lv("99.5", "2")]);
    }

    #[test]
    fn the_window_is_cut_after_the_whole_message() {
        let mut book = OrderBook::new(btc(), 2);
        let bids = [lv("100", "1"), lv("99", "1")];
        let asks = [lv("101", "1")];
        let mut snapshot = update(UpdateKind::Snapshot, 3, &bids, &asks);
        snapshot.depth = 2;
        book.apply(&snapshot);
        // A better level arrives and 100 leaves: 99 stays in the window.
        let bids = [lv("100.5", "2"), lv("100", "0")];
        let mut delta = update(UpdateKind::Delta, 4, &bids, &[]);
        delta.depth = 2;
        book.apply(&delta);
        assert_eq!(book.levels(Side::Buy), [lv("100.5", "2"), lv("99", "1")]);
    }

    #[test]
    fn other_symbols_and_depths_are_not_this_book() {
        let mut book = seeded();
        let mut other = update(UpdateKind::Delta, 11, &[], &[]);
        other.symbol = Symbol::new("ETHUSDT").unwrap();
        assert_eq!(book.apply(&other), ApplyOutcome::NotThisBook);
        other.symbol = btc();
        other.depth = 200;
        assert_eq!(book.apply(&other), ApplyOutcome::NotThisBook);
    }

    /// The reference: a BTreeMap per side, truncated to the best `depth` levels after each
    /// message.
    #[derive(Default)]
    struct Reference {
        bids: BTreeMap<Fixed, Fixed>,
        asks: BTreeMap<Fixed, Fixed>,
    }

    impl Reference {
        fn apply(&mut self, snapshot: bool, bids: &[Level], asks: &[Level], depth: usize) {
            if snapshot {
                self.bids.clear();
                self.asks.clear();
            }
            for (map, levels, best_high) in
                [(&mut self.bids, bids, true), (&mut self.asks, asks, false)]
            {
                for level in levels {
                    if level.size.is_positive() {
                        map.insert(level.price, level.size);
                    } else {
                        map.remove(&level.price);
                    }
                }
                while map.len() > depth {
                    let worst = if best_high {
                        *map.keys().next().unwrap()
                    } else {
                        *map.keys().next_back().unwrap()
                    };
                    map.remove(&worst);
                }
            }
        }

        fn side(&self, side: Side) -> Vec<Level> {
            match side {
                Side::Buy => self
                    .bids
                    .iter()
                    .rev()
                    .map(|(&price, &size)| Level { price, size })
                    .collect(),
                Side::Sell => self
                    .asks
                    .iter()
                    .map(|(&price, &size)| Level { price, size })
                    .collect(),
            }
        }
    }

    /// A message on a 20-tick grid around 1000.0; bids below the asks so the book never crosses.
    fn message() -> impl Strategy<Value = (bool, Vec<Level>, Vec<Level>)> {
        let level = |low: i64| {
            (low..low + 20, 0_i64..4).prop_map(|(tick, lots)| Level {
                price: Fixed::from_raw(tick * 10_000_000),
                size: Fixed::from_raw(lots * 100_000),
            })
        };
        (
            prop::bool::weighted(0.1),
            prop::collection::vec(level(9_980), 0..12),
            prop::collection::vec(level(10_000), 0..12),
        )
    }

    proptest! {
        #[test]
        fn the_book_matches_a_btreemap_reference(
            depth in prop::sample::select(vec![1_usize, 3, 5, 50]),
            messages in prop::collection::vec(message(), 1..60),
        ) {
            let mut book = OrderBook::new(btc(), depth);
            let mut reference = Reference::default();
            let mut seen_snapshot = false;
            for (index, (snapshot, bids, asks)) in messages.iter().enumerate() {
                let snapshot = *snapshot || depth == 1;
                let mut message = update(
                    if snapshot { UpdateKind::Snapshot } else { UpdateKind::Delta },
                    index as u64 + 2,
                    bids,
                    asks,
                );
                message.depth = depth as u16;
                let outcome = book.apply(&message);
                if snapshot {
                    seen_snapshot = true;
                }
                if seen_snapshot {
                    reference.apply(snapshot, bids, asks, depth);
                    prop_assert!(matches!(outcome, ApplyOutcome::Applied | ApplyOutcome::Reset));
                } else {
                    prop_assert_eq!(outcome, ApplyOutcome::DroppedBeforeSnapshot);
                }
                let (expected_bids, expected_asks) = (reference.side(Side::Buy), reference.side(Side::Sell));
                prop_assert_eq!(book.levels(Side::Buy), expected_bids.as_slice());
                prop_assert_eq!(book.levels(Side::Sell), expected_asks.as_slice());
                prop_assert!(book.len(Side::Buy) <= depth && book.len(Side::Sell) <= depth);
            }
        }
    }
}

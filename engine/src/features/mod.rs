//! The feature set: one definition for training and trading.
//!
//! [`FeatureEngine`] is fed every book update and trade batch, in event time (the venue's
//! millisecond timestamps, so a replayed journal gives the same values as the live feed), and
//! keeps rolling windows of fixed capacity. [`FeatureEngine::compute`] fills a
//! [`FeatureVector`] of `f32` in the order of [`FEATURE_NAMES`]. Nothing allocates after
//! construction.
//!
//! The schema (version, names, order, type) is hashed: [`FEATURE_SCHEMA_HASH`] is the SHA-256 of
//! [`canonical_schema`], written into every parquet sidecar and model, and a model with another
//! hash is refused. Changing a feature means bumping [`SCHEMA_VERSION`] and the hash (a test
//! checks the constant against the text).

pub mod window;

use feed::bybit::Trade;
use feed::{OrderBook, Side};

use window::{TimeWindow, resident_slice};

/// Version of the feature definition.
pub const SCHEMA_VERSION: u32 = 1;

macro_rules! feature_set {
    ($($(#[doc = $doc:literal])+ $variant:ident => $name:literal,)+) => {
        /// One feature; its discriminant is its index in the vector.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(usize)]
        pub enum Feature {
            $($(#[doc = $doc])+ $variant,)+
        }

        /// Feature names, in vector order.
        pub const FEATURE_NAMES: [&str; FEATURE_COUNT] = [$($name,)+];

        impl Feature {
            /// Every feature, in vector order.
            pub const ALL: [Feature; FEATURE_COUNT] = [$(Feature::$variant,)+];
        }
    };
}

/// Number of features.
pub const FEATURE_COUNT: usize = 28;

feature_set! {
    /// (best ask - best bid) / mid, in basis points.
    SpreadBps => "spread_bps",
    /// (microprice - mid) / mid, in basis points; microprice weighs each side's price by the
    /// other side's touch size.
    MicropriceOffsetBps => "microprice_offset_bps",
    /// (bid size - ask size) / (bid size + ask size) over the first level.
    ImbalanceL1 => "imbalance_l1",
    /// The same over the first 3 levels.
    ImbalanceL3 => "imbalance_l3",
    /// The same over the first 5 levels.
    ImbalanceL5 => "imbalance_l5",
    /// The same over the first 10 levels.
    ImbalanceL10 => "imbalance_l10",
    /// Size at the best bid, base units.
    DepthBidL1 => "depth_bid_l1",
    /// Size at the best ask, base units.
    DepthAskL1 => "depth_ask_l1",
    /// Size on the first 5 bid levels, base units.
    DepthBidL5 => "depth_bid_l5",
    /// Size on the first 5 ask levels, base units.
    DepthAskL5 => "depth_ask_l5",
    /// Order-flow imbalance of Cont, Kukanov and Stoikov summed over the last 100 ms, base
    /// units: per book update, + bid size if the bid rose or held, - previous bid size if it
    /// fell or held, - ask size if the ask fell or held, + previous ask size if it rose or held.
    Ofi100ms => "ofi_100ms",
    /// The same over the last second.
    Ofi1s => "ofi_1s",
    /// The same over the last 5 seconds.
    Ofi5s => "ofi_5s",
    /// Taker-buy minus taker-sell traded size over the last second, base units.
    SignedVolume1s => "signed_volume_1s",
    /// The same over the last 5 seconds.
    SignedVolume5s => "signed_volume_5s",
    /// Trades in the last second.
    TradeCount1s => "trade_count_1s",
    /// Trades in the last 5 seconds.
    TradeCount5s => "trade_count_5s",
    /// Square root of the sum of squared log mid returns over the last second, basis points.
    RealizedVol1sBps => "realized_vol_1s_bps",
    /// The same over the last 10 seconds.
    RealizedVol10sBps => "realized_vol_10s_bps",
    /// The same over the last 60 seconds.
    RealizedVol60sBps => "realized_vol_60s_bps",
    /// Mid now over the mid 1 s ago (the last one at or before), minus 1, basis points (0 until
    /// there is a second of history).
    MidReturn1sBps => "mid_return_1s_bps",
    /// The same over 5 seconds.
    MidReturn5sBps => "mid_return_5s_bps",
    /// The same over 30 seconds.
    MidReturn30sBps => "mid_return_30s_bps",
    /// Milliseconds since the last trade, at most 60000 (also before any trade).
    TimeSinceLastTradeMs => "time_since_last_trade_ms",
    /// Book updates in the last second.
    BookUpdateRate1s => "book_update_rate_1s",
    /// Size at the best bid over the mean size of the first 10 bid levels (the queue an order
    /// joining the bid would wait behind, relative to the book).
    QueueRatioBid => "queue_ratio_bid",
    /// The same for the ask.
    QueueRatioAsk => "queue_ratio_ask",
    /// Regime indicator: 10 s realized volatility over 60 s realized volatility, in [0, 10]
    /// (about 0.4 in a steady market, well above 1 when volatility is breaking out).
    VolRatio10s60s => "vol_ratio_10s_60s",
}

/// SHA-256 of [`canonical_schema`].
pub const FEATURE_SCHEMA_HASH: &str =
    "d56397f505b6839658b78e789a5d8a6a549a4acbf50228157ed6860d1b74ba01";

/// The canonical text form of the schema: a version line, then `index name type` per feature.
pub fn canonical_schema() -> String {
    let mut text = format!("feature-schema v{SCHEMA_VERSION}\n");
    for (index, name) in FEATURE_NAMES.iter().enumerate() {
        text.push_str(&format!("{index} {name} f32\n"));
    }
    text
}

/// The model inputs, in [`FEATURE_NAMES`] order.
pub type FeatureVector = [f32; FEATURE_COUNT];

/// Windows and their capacities: enough for several hundred events a second.
const OFI_SPANS_MS: [u64; 3] = [100, 1_000, 5_000];
const TRADE_SPANS_MS: [u64; 2] = [1_000, 5_000];
const VOL_SPANS_MS: [u64; 3] = [1_000, 10_000, 60_000];
const RETURN_HORIZONS_MS: [u64; 3] = [1_000, 5_000, 30_000];
const TIME_SINCE_TRADE_CAP_MS: u64 = 60_000;

fn capacity_for(span_ms: u64) -> usize {
    // 500 events a second, at least 64.
    (span_ms as usize / 2).max(64)
}

/// Best bid and ask, as floats (features are model inputs, not money).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Top {
    bid: f64,
    bid_size: f64,
    ask: f64,
    ask_size: f64,
}

/// Mid prices by time, for returns over fixed horizons.
#[derive(Debug, Clone)]
struct MidHistory {
    times: Box<[u64]>,
    mids: Box<[f64]>,
    head: usize,
    len: usize,
}

impl MidHistory {
    fn new(capacity: usize) -> Self {
        MidHistory {
            times: resident_slice(capacity, 0),
            mids: resident_slice(capacity, 0.0),
            head: 0,
            len: 0,
        }
    }

    fn at(&self, index: usize) -> (u64, f64) {
        let slot = (self.head + index) % self.times.len();
        (self.times[slot], self.mids[slot])
    }

    /// Records the mid at `now_ms`, forgetting what is older than `keep_ms` (but always one
    /// entry at or before the cutoff, the reference for the longest horizon).
    fn push(&mut self, now_ms: u64, mid: f64, keep_ms: u64) {
        let cutoff = now_ms.saturating_sub(keep_ms);
        while self.len >= 2 && self.at(1).0 <= cutoff {
            self.head = (self.head + 1) % self.times.len();
            self.len -= 1;
        }
        if self.len == self.times.len() {
            self.head = (self.head + 1) % self.times.len();
            self.len -= 1;
        }
        let slot = (self.head + self.len) % self.times.len();
        self.times[slot] = now_ms;
        self.mids[slot] = mid;
        self.len += 1;
    }

    /// Reads the oldest entry and the slot the next push writes, changing nothing (see
    /// [`TimeWindow::touch`]).
    fn touch(&self) -> u64 {
        let next = (self.head + self.len) % self.times.len();
        self.times[self.head] ^ self.times[next] ^ self.mids[next].to_bits()
    }

    /// The last mid at or before `time_ms`.
    fn at_or_before(&self, time_ms: u64) -> Option<f64> {
        // Times are sorted: binary search for the last index with time <= time_ms.
        let (mut low, mut high) = (0, self.len);
        while low < high {
            let middle = (low + high) / 2;
            if self.at(middle).0 <= time_ms {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        low.checked_sub(1).map(|index| self.at(index).1)
    }
}

/// Incremental computation of the feature set.
#[derive(Debug, Clone)]
pub struct FeatureEngine {
    ofi: [TimeWindow; 3],
    signed_volume: [TimeWindow; 2],
    squared_returns: [TimeWindow; 3],
    book_updates: TimeWindow,
    mids: MidHistory,
    last_top: Option<Top>,
    last_mid: Option<f64>,
    last_trade_ms: Option<u64>,
    now_ms: u64,
}

impl Default for FeatureEngine {
    fn default() -> Self {
        FeatureEngine::new()
    }
}

impl FeatureEngine {
    /// An engine with every window allocated.
    pub fn new() -> FeatureEngine {
        FeatureEngine {
            ofi: OFI_SPANS_MS.map(|span| TimeWindow::new(span, capacity_for(span))),
            signed_volume: TRADE_SPANS_MS.map(|span| TimeWindow::new(span, capacity_for(span))),
            squared_returns: VOL_SPANS_MS.map(|span| TimeWindow::new(span, capacity_for(span))),
            book_updates: TimeWindow::new(1_000, capacity_for(1_000)),
            mids: MidHistory::new(capacity_for(RETURN_HORIZONS_MS[2])),
            last_top: None,
            last_mid: None,
            last_trade_ms: None,
            now_ms: 0,
        }
    }

    /// Time of the last event seen, ms.
    pub const fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Events dropped early from full windows (should stay 0 at realistic rates).
    pub fn overflowed(&self) -> u64 {
        self.ofi
            .iter()
            .chain(&self.signed_volume)
            .chain(&self.squared_returns)
            .map(TimeWindow::overflowed)
            .sum::<u64>()
            + self.book_updates.overflowed()
    }

    /// Takes in the book after an update was applied at `ts_ms`.
    pub fn on_book(&mut self, book: &OrderBook, ts_ms: u64) {
        self.now_ms = self.now_ms.max(ts_ms);
        let now = self.now_ms;
        self.book_updates.push(now, 1.0);
        let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) else {
            return;
        };
        let top = Top {
            bid: bid.price.to_f64(),
            bid_size: bid.size.to_f64(),
            ask: ask.price.to_f64(),
            ask_size: ask.size.to_f64(),
        };
        if let Some(previous) = self.last_top {
            let flow = order_flow_imbalance(previous, top);
            for window in &mut self.ofi {
                window.push(now, flow);
            }
        }
        self.last_top = Some(top);
        let mid = (top.bid + top.ask) / 2.0;
        if let Some(last) = self.last_mid
            && last > 0.0
            && mid != last
        {
            let log_return = (mid / last).ln();
            for window in &mut self.squared_returns {
                window.push(now, log_return * log_return);
            }
        }
        self.last_mid = Some(mid);
        self.mids.push(now, mid, RETURN_HORIZONS_MS[2]);
    }

    /// Takes in a batch of trades.
    pub fn on_trades(&mut self, trades: &[Trade]) {
        for trade in trades {
            self.now_ms = self.now_ms.max(trade.time);
            let signed = trade.size.to_f64() * trade.taker_side.sign() as f64;
            for window in &mut self.signed_volume {
                window.push(self.now_ms, signed);
            }
            self.last_trade_ms = Some(self.now_ms);
        }
    }

    /// Fills `out` with the features of `book` at the last event time.
    pub fn compute(&mut self, book: &OrderBook, out: &mut FeatureVector) {
        let now = self.now_ms;
        for window in self
            .ofi
            .iter_mut()
            .chain(&mut self.signed_volume)
            .chain(&mut self.squared_returns)
        {
            window.expire(now);
        }
        self.book_updates.expire(now);
        self.fill(book, out);
    }

    /// Runs the computation of [`FeatureEngine::compute`] into `out` without changing
    /// anything: the windows are not expired first (so `out` may differ from what `compute`
    /// gives, and is for throwing away), and the memory the next update writes is read. An
    /// idle hot thread does this to keep the features' code and data in the caches; it cannot
    /// change a later feature value, not even its rounding.
    pub fn rehearse(&self, book: &OrderBook, out: &mut FeatureVector) -> u64 {
        self.fill(book, out);
        self.ofi
            .iter()
            .chain(&self.signed_volume)
            .chain(&self.squared_returns)
            .chain(std::iter::once(&self.book_updates))
            .fold(self.mids.touch(), |acc, window| acc ^ window.touch())
    }

    /// The features of `book` from the windows as they stand.
    fn fill(&self, book: &OrderBook, out: &mut FeatureVector) {
        let now = self.now_ms;
        out.fill(0.0);
        let mut set = |feature: Feature, value: f64| {
            out[feature as usize] = if value.is_finite() { value as f32 } else { 0.0 };
        };

        if let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) {
            let (bid_price, ask_price) = (bid.price.to_f64(), ask.price.to_f64());
            let mid = (bid_price + ask_price) / 2.0;
            set(Feature::SpreadBps, (ask_price - bid_price) / mid * 1e4);
            if let Some(microprice) = book.microprice() {
                set(
                    Feature::MicropriceOffsetBps,
                    (microprice.to_f64() - mid) / mid * 1e4,
                );
            }
            for (feature, levels) in [
                (Feature::ImbalanceL1, 1),
                (Feature::ImbalanceL3, 3),
                (Feature::ImbalanceL5, 5),
                (Feature::ImbalanceL10, 10),
            ] {
                set(feature, imbalance(book, levels));
            }
            for (feature, side, levels) in [
                (Feature::DepthBidL1, Side::Buy, 1),
                (Feature::DepthAskL1, Side::Sell, 1),
                (Feature::DepthBidL5, Side::Buy, 5),
                (Feature::DepthAskL5, Side::Sell, 5),
            ] {
                set(feature, book.cumulative_size(side, levels).to_f64());
            }
            set(Feature::QueueRatioBid, queue_ratio(book, Side::Buy));
            set(Feature::QueueRatioAsk, queue_ratio(book, Side::Sell));
            for (feature, horizon) in [
                (Feature::MidReturn1sBps, RETURN_HORIZONS_MS[0]),
                (Feature::MidReturn5sBps, RETURN_HORIZONS_MS[1]),
                (Feature::MidReturn30sBps, RETURN_HORIZONS_MS[2]),
            ] {
                if let Some(then) = now
                    .checked_sub(horizon)
                    .and_then(|t| self.mids.at_or_before(t))
                    && then > 0.0
                {
                    set(feature, (mid / then - 1.0) * 1e4);
                }
            }
        }
        for (feature, window) in [Feature::Ofi100ms, Feature::Ofi1s, Feature::Ofi5s]
            .into_iter()
            .zip(&self.ofi)
        {
            set(feature, window.sum());
        }
        let [volume_1s, volume_5s] = &self.signed_volume;
        set(Feature::SignedVolume1s, volume_1s.sum());
        set(Feature::SignedVolume5s, volume_5s.sum());
        set(Feature::TradeCount1s, volume_1s.len() as f64);
        set(Feature::TradeCount5s, volume_5s.len() as f64);
        let vols = self
            .squared_returns
            .each_ref()
            .map(|window| window.sum().max(0.0).sqrt() * 1e4);
        set(Feature::RealizedVol1sBps, vols[0]);
        set(Feature::RealizedVol10sBps, vols[1]);
        set(Feature::RealizedVol60sBps, vols[2]);
        set(
            Feature::VolRatio10s60s,
            if vols[2] > 0.0 {
                (vols[1] / vols[2]).min(10.0)
            } else {
                0.0
            },
        );
        let since_trade = self
            .last_trade_ms
            .map_or(TIME_SINCE_TRADE_CAP_MS, |last| now.saturating_sub(last));
        set(
            Feature::TimeSinceLastTradeMs,
            since_trade.min(TIME_SINCE_TRADE_CAP_MS) as f64,
        );
        set(Feature::BookUpdateRate1s, self.book_updates.len() as f64);
    }
}

/// The order-flow imbalance of one book update (Cont, Kukanov, Stoikov 2014).
fn order_flow_imbalance(previous: Top, now: Top) -> f64 {
    let mut flow = 0.0;
    if now.bid >= previous.bid {
        flow += now.bid_size;
    }
    if now.bid <= previous.bid {
        flow -= previous.bid_size;
    }
    if now.ask <= previous.ask {
        flow -= now.ask_size;
    }
    if now.ask >= previous.ask {
        flow += previous.ask_size;
    }
    flow
}

fn imbalance(book: &OrderBook, levels: usize) -> f64 {
    let bids = book.cumulative_size(Side::Buy, levels).to_f64();
    let asks = book.cumulative_size(Side::Sell, levels).to_f64();
    if bids + asks > 0.0 {
        (bids - asks) / (bids + asks)
    } else {
        0.0
    }
}

fn queue_ratio(book: &OrderBook, side: Side) -> f64 {
    let levels = book.len(side).min(10);
    let Some(touch) = book.level(side, 0) else {
        return 0.0;
    };
    let mean = book.cumulative_size(side, levels).to_f64() / levels as f64;
    if mean > 0.0 {
        touch.size.to_f64() / mean
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feed::bybit::public::ShortText;
    use feed::bybit::{BookUpdate, Level, TickDirection, UpdateKind};
    use feed::{Fixed, Symbol};
    use sha2::{Digest, Sha256};

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    fn lv(price: &str, size: &str) -> Level {
        Level {
            price: fx(price),
            size: fx(size),
        }
    }

    fn symbol() -> Symbol {
        Symbol::new("BTCUSDT").unwrap()
    }

    fn apply(
        book: &mut OrderBook,
        kind: UpdateKind,
        u: u64,
        ts: u64,
        bids: &[Level],
        asks: &[Level],
    ) {
        book.apply(&BookUpdate {
            symbol: symbol(),
            depth: 50,
            kind,
            ts,
            cts: ts,
            update_id: u,
            seq: u,
            bids,
            asks,
        });
    }

    fn trade(time: u64, side: Side, size: &str) -> Trade {
        Trade {
            time,
            symbol: symbol(),
            taker_side: side,
            size: fx(size),
            price: fx("100.1"),
            tick: TickDirection::Unknown,
            id: ShortText::EMPTY,
            block_trade: false,
            rpi: false,
            seq: 0,
        }
    }

    fn value(vector: &FeatureVector, feature: Feature) -> f32 {
        vector[feature as usize]
    }

    #[test]
    fn the_schema_hash_is_the_sha256_of_the_canonical_text() {
        let digest = Sha256::digest(canonical_schema().as_bytes());
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(
            hex, FEATURE_SCHEMA_HASH,
            "the feature set changed: bump SCHEMA_VERSION and the hash"
        );
        assert!(
            canonical_schema()
                .starts_with("feature-schema v1\n0 spread_bps f32\n1 microprice_offset_bps f32\n")
        );
        assert_eq!(FEATURE_NAMES.len(), Feature::ALL.len());
        for (index, feature) in Feature::ALL.iter().enumerate() {
            assert_eq!(*feature as usize, index);
        }
    }

    #[test]
    fn book_features_from_a_snapshot() {
        let mut book = OrderBook::new(symbol(), 50);
        let bids = [
            lv("100.0", "2"),
            lv("99.9", "1"),
            lv("99.8", "1"),
            lv("99.7", "1"),
            lv("99.6", "1"),
        ];
        let asks = [
            lv("100.1", "1"),
            lv("100.2", "1"),
            lv("100.3", "2"),
            lv("100.4", "1"),
            lv("100.5", "1"),
        ];
        apply(&mut book, UpdateKind::Snapshot, 10, 1_000, &bids, &asks);
        let mut engine = FeatureEngine::new();
        engine.on_book(&book, 1_000);
        let mut v = [0.0; FEATURE_COUNT];
        engine.compute(&book, &mut v);

        assert_eq!(value(&v, Feature::SpreadBps), (0.1 / 100.05 * 1e4) as f32);
        // microprice = (100.0 x 1 + 100.1 x 2) / 3, floored to 10^-8
        assert_eq!(
            value(&v, Feature::MicropriceOffsetBps),
            ((100.06666666 - 100.05) / 100.05 * 1e4) as f32
        );
        assert_eq!(value(&v, Feature::ImbalanceL1), (1.0 / 3.0) as f32);
        assert_eq!(value(&v, Feature::ImbalanceL3), 0.0);
        assert_eq!(value(&v, Feature::ImbalanceL5), 0.0);
        assert_eq!(value(&v, Feature::ImbalanceL10), 0.0);
        assert_eq!(value(&v, Feature::DepthBidL1), 2.0);
        assert_eq!(value(&v, Feature::DepthAskL1), 1.0);
        assert_eq!(value(&v, Feature::DepthBidL5), 6.0);
        assert_eq!(value(&v, Feature::DepthAskL5), 6.0);
        assert_eq!(value(&v, Feature::QueueRatioBid), (2.0 / 1.2) as f32);
        assert_eq!(value(&v, Feature::QueueRatioAsk), (1.0 / 1.2) as f32);
        assert_eq!(value(&v, Feature::BookUpdateRate1s), 1.0);
        assert_eq!(value(&v, Feature::TimeSinceLastTradeMs), 60_000.0);
        for feature in [
            Feature::Ofi1s,
            Feature::TradeCount1s,
            Feature::RealizedVol60sBps,
            Feature::MidReturn1sBps,
            Feature::VolRatio10s60s,
        ] {
            assert_eq!(value(&v, feature), 0.0, "{feature:?}");
        }
    }

    #[test]
    fn flow_trades_volatility_and_returns_over_their_windows() {
        let mut book = OrderBook::new(symbol(), 50);
        let mut engine = FeatureEngine::new();
        let bids = [lv("100.0", "2"), lv("99.9", "1")];
        let asks = [lv("100.1", "1"), lv("100.2", "1")];
        apply(&mut book, UpdateKind::Snapshot, 10, 1_000, &bids, &asks);
        engine.on_book(&book, 1_000);
        // The bid queue grows and the best ask is taken out.
        apply(
            &mut book,
            UpdateKind::Delta,
            11,
            1_500,
            &[lv("100.0", "3")],
            &[lv("100.1", "0")],
        );
        engine.on_book(&book, 1_500);
        engine.on_trades(&[
            trade(1_600, Side::Buy, "0.5"),
            trade(1_600, Side::Sell, "0.2"),
        ]);
        let mut v = [0.0; FEATURE_COUNT];
        engine.compute(&book, &mut v);

        // Bid held: +3 - 2; ask rose: + previous ask size 1.
        assert_eq!(value(&v, Feature::Ofi1s), 2.0);
        assert_eq!(value(&v, Feature::Ofi5s), 2.0);
        assert_eq!(value(&v, Feature::Ofi100ms), 0.0, "100 ms after the update");
        assert_eq!(value(&v, Feature::SignedVolume1s), (0.5 - 0.2) as f32);
        assert_eq!(value(&v, Feature::TradeCount1s), 2.0);
        assert_eq!(value(&v, Feature::TradeCount5s), 2.0);
        assert_eq!(value(&v, Feature::TimeSinceLastTradeMs), 0.0);
        assert_eq!(value(&v, Feature::BookUpdateRate1s), 2.0);
        let rv = ((100.1_f64 / 100.05).ln().abs() * 1e4) as f32;
        assert_eq!(value(&v, Feature::RealizedVol1sBps), rv);
        assert_eq!(value(&v, Feature::RealizedVol60sBps), rv);
        assert_eq!(value(&v, Feature::VolRatio10s60s), 1.0);
        assert_eq!(
            value(&v, Feature::MidReturn1sBps),
            0.0,
            "less than a second of history"
        );

        // At 2.4 s, with nothing new: 1 s back (1.4 s) the mid was still the first one.
        apply(&mut book, UpdateKind::Delta, 12, 2_400, &[], &[]);
        engine.on_book(&book, 2_400);
        engine.compute(&book, &mut v);
        assert_eq!(
            value(&v, Feature::MidReturn1sBps),
            ((100.1 / 100.05 - 1.0) * 1e4) as f32
        );
        assert_eq!(
            value(&v, Feature::MidReturn5sBps),
            0.0,
            "less than 5 s of history"
        );
        assert_eq!(value(&v, Feature::TimeSinceLastTradeMs), 800.0);
        assert_eq!(value(&v, Feature::TradeCount1s), 2.0);
        assert_eq!(
            value(&v, Feature::Ofi1s),
            2.0,
            "an unchanged top adds nothing"
        );
        assert_eq!(value(&v, Feature::BookUpdateRate1s), 2.0);

        // At 2.7 s the 1.5 s update and the 1.6 s trades have left the 1 s windows.
        apply(&mut book, UpdateKind::Delta, 13, 2_700, &[], &[]);
        engine.on_book(&book, 2_700);
        engine.compute(&book, &mut v);
        assert_eq!(value(&v, Feature::MidReturn1sBps), 0.0);
        assert_eq!(value(&v, Feature::TradeCount1s), 0.0);
        assert_eq!(value(&v, Feature::TradeCount5s), 2.0);
        assert_eq!(value(&v, Feature::Ofi1s), 0.0);
        assert_eq!(value(&v, Feature::Ofi5s), 2.0);
        assert_eq!(value(&v, Feature::RealizedVol1sBps), 0.0);
        assert_eq!(value(&v, Feature::RealizedVol10sBps), rv);
        assert_eq!(value(&v, Feature::BookUpdateRate1s), 2.0);
        assert_eq!(engine.overflowed(), 0);
    }
}

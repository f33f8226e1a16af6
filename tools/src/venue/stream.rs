//! The public market the venue serves, and its publishing: one merged book, one published view
//! per book depth, the subscribers of every topic.
//!
//! The market's own book frames are never forwarded. They are merged into one full book
//! ([`OrderBook`] at depth 1000), and each depth a client subscribed gets one published view of
//! its top levels with its own update id `u`, as Bybit's streams have. After every book frame
//! each view is compared with the new top of the book and, when anything changed, one delta
//! with the next `u` goes to every subscriber of that depth: absolute sizes, `"0"` for levels
//! that left, and the levels that slid into the window. A subscriber first gets a snapshot of
//! the view with its current `u`, taken under the same lock as the deltas, so snapshot and
//! deltas always join. `publicTrade` and `tickers` frames are forwarded as the market produced
//! them; a `tickers` subscriber first gets a snapshot of the merged ticker state.
//!
//! Messages go to each connection's bounded queue; a connection whose queue is full is a slow
//! consumer and is closed, so one stuck client never holds up the market or the others.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use feed::book::{ApplyOutcome, MAX_DEPTH};
use feed::bybit::{BookUpdate, Level, Ticker, UpdateKind};
use feed::{Fixed, OrderBook, Side, Symbol};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tungstenite::Utf8Bytes;

use super::exchange::{Exchange, PrivateTopic, Push};

/// Book depths served (Bybit's linear depths).
pub(crate) const DEPTHS: [u16; 4] = [1, 50, 200, 1000];
/// The depth whose view answers REST (`u` of REST matches the 1000-level stream).
const REST_DEPTH: u16 = 1000;
/// Update id of a view when it is created.
const FIRST_UPDATE_ID: u64 = 1000;
/// Messages a connection may have queued before it counts as a slow consumer.
const CLIENT_QUEUE: usize = 1 << 16;
/// Depth 1 re-sends its snapshot (same `u`) after this long without a change, as Bybit does.
const LEVEL1_REPEAT: Duration = Duration::from_secs(3);
/// What the `malformed` fault sends: not JSON.
const MALFORMED: &str = r#"{"topic":"orderbook.50","type":delta,"data":{"b":[["#;

/// Now, ns since the epoch.
pub(crate) fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}

/// Now, ms since the epoch.
pub(crate) fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// A public topic of the served symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Topic {
    /// `orderbook.{depth}.{symbol}`
    Book(u16),
    /// `publicTrade.{symbol}`
    Trades,
    /// `tickers.{symbol}`
    Tickers,
}

impl Topic {
    /// The topic `name` names, if the venue serves it.
    pub(crate) fn parse(name: &str, symbol: Symbol) -> Option<Topic> {
        let (head, topic_symbol) = name.rsplit_once('.')?;
        if topic_symbol != symbol.as_str() {
            return None;
        }
        let topic = match head {
            "publicTrade" => Topic::Trades,
            "tickers" => Topic::Tickers,
            _ => Topic::Book(head.strip_prefix("orderbook.")?.parse().ok()?),
        };
        // "orderbook.050" is not a topic; only the canonical spelling is.
        let valid = match topic {
            Topic::Book(depth) => DEPTHS.contains(&depth),
            Topic::Trades | Topic::Tickers => true,
        };
        (valid && topic.name(symbol) == name).then_some(topic)
    }

    /// The topic's name.
    pub(crate) fn name(self, symbol: Symbol) -> String {
        match self {
            Topic::Book(depth) => format!("orderbook.{depth}.{symbol}"),
            Topic::Trades => format!("publicTrade.{symbol}"),
            Topic::Tickers => format!("tickers.{symbol}"),
        }
    }
}

/// Decimals prices and sizes are written with (None: the shortest exact form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct NumberFormat {
    /// Decimals of prices.
    pub(crate) price: Option<u32>,
    /// Decimals of sizes.
    pub(crate) size: Option<u32>,
}

impl NumberFormat {
    /// The more decimals of the two, for prices and for sizes.
    fn widen(self, other: NumberFormat) -> NumberFormat {
        NumberFormat {
            price: self.price.max(other.price),
            size: self.size.max(other.size),
        }
    }

    /// The format of a frame's book levels: the most decimals any price and any size has.
    fn infer(frame: &[u8]) -> NumberFormat {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(frame) else {
            return NumberFormat::default();
        };
        let (mut price, mut size) = (None, None);
        let sides = ["b", "a"].map(|side| value.pointer(&format!("/data/{side}")).cloned());
        for levels in sides
            .iter()
            .flatten()
            .filter_map(|levels| levels.as_array())
        {
            for level in levels {
                let decimals = |index: usize| {
                    level
                        .get(index)
                        .and_then(serde_json::Value::as_str)
                        .map(|text| {
                            text.split_once('.')
                                .map_or(0, |(_, frac)| frac.len() as u32)
                        })
                };
                price = price.max(decimals(0));
                size = size.max(decimals(1));
            }
        }
        NumberFormat { price, size }
    }
}

fn push_fixed(out: &mut String, value: Fixed, decimals: Option<u32>) {
    let mut buf = [0; 32];
    out.push_str(value.format_into(decimals, &mut buf));
}

/// `[["price","size"],...]`; a size of zero (a removed level) is written `"0"`.
fn push_levels(out: &mut String, levels: &[Level], format: NumberFormat) {
    out.push('[');
    for (index, level) in levels.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str("[\"");
        push_fixed(out, level.price, format.price);
        out.push_str("\",\"");
        if level.size.is_zero() {
            out.push('0');
        } else {
            push_fixed(out, level.size, format.size);
        }
        out.push_str("\"]");
    }
    out.push(']');
}

/// Adds `offset_ms` to a time stamp.
fn shifted(ms: u64, offset_ms: i64) -> u64 {
    ms.saturating_add_signed(offset_ms)
}

/// Adds `offset_ms` to every `ts`, `cts` and `T` of a JSON frame (its time stamps), leaving the
/// rest of its bytes as they were.
pub(crate) fn shift_times(frame: &str, offset_ms: i64) -> String {
    const KEYS: [&str; 3] = ["\"ts\":", "\"cts\":", "\"T\":"];
    let bytes = frame.as_bytes();
    let mut out = String::with_capacity(frame.len() + 8);
    let (mut index, mut copied) = (0, 0);
    while index < bytes.len() {
        if bytes[index] == b'"'
            && let Some(key) = KEYS
                .iter()
                .find(|key| bytes[index..].starts_with(key.as_bytes()))
        {
            let mut start = index + key.len();
            while bytes.get(start) == Some(&b' ') {
                start += 1;
            }
            let mut end = start;
            while bytes.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            if let Ok(ms) = frame[start..end].parse::<u64>() {
                out.push_str(&frame[copied..start]);
                let _ = write!(out, "{}", shifted(ms, offset_ms));
                copied = end;
                index = end;
                continue;
            }
        }
        index += 1;
    }
    out.push_str(&frame[copied..]);
    out
}

/// A JSON string literal.
pub(crate) fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// Time stamps and cross sequence of a book state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Stamp {
    ts: u64,
    cts: u64,
    seq: u64,
}

impl Stamp {
    fn of(book: &OrderBook) -> Stamp {
        Stamp {
            ts: book.ts(),
            cts: book.cts(),
            seq: book.seq(),
        }
    }
}

/// What the published view of one depth looks like to its subscribers.
#[derive(Debug)]
struct BookView {
    depth: u16,
    bids: Vec<Level>,
    asks: Vec<Level>,
    update_id: u64,
    stamp: Stamp,
    /// `gap`: the next delta is applied but not sent.
    skip_next: bool,
    /// `truncated`: the next delta is sent cut in half.
    truncate_next: bool,
    /// Last time a message of this view was published.
    last_sent: Instant,
}

/// The top `depth` levels of a side of `book`.
fn top(book: &OrderBook, side: Side, depth: u16) -> &[Level] {
    let levels = book.levels(side);
    &levels[..levels.len().min(usize::from(depth))]
}

/// Appends to `out` what turns `old` into `new` (both best first): `new`'s levels that are not
/// in `old` with that size, and `old`'s prices missing from `new` with size 0, best first.
fn diff(side: Side, old: &[Level], new: &[Level], out: &mut Vec<Level>) {
    let before = |a: Fixed, b: Fixed| match side {
        Side::Buy => a > b,
        Side::Sell => a < b,
    };
    let (mut i, mut j) = (0, 0);
    loop {
        match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) if o.price == n.price => {
                if o.size != n.size {
                    out.push(*n);
                }
                i += 1;
                j += 1;
            }
            (Some(o), Some(n)) if before(o.price, n.price) => {
                out.push(Level {
                    price: o.price,
                    size: Fixed::ZERO,
                });
                i += 1;
            }
            (Some(o), None) => {
                out.push(Level {
                    price: o.price,
                    size: Fixed::ZERO,
                });
                i += 1;
            }
            (_, Some(n)) => {
                out.push(*n);
                j += 1;
            }
            (None, None) => break,
        }
    }
}

impl BookView {
    fn new(depth: u16, book: &OrderBook) -> BookView {
        BookView {
            depth,
            bids: top(book, Side::Buy, depth).to_vec(),
            asks: top(book, Side::Sell, depth).to_vec(),
            update_id: FIRST_UPDATE_ID,
            stamp: Stamp::of(book),
            skip_next: false,
            truncate_next: false,
            last_sent: Instant::now(),
        }
    }

    /// Moves the view to the top of `book`, the changes into `bids` and `asks`; false (and
    /// the view as it was) when nothing in the window changed.
    fn advance(&mut self, book: &OrderBook, bids: &mut Vec<Level>, asks: &mut Vec<Level>) -> bool {
        bids.clear();
        asks.clear();
        let (new_bids, new_asks) = (
            top(book, Side::Buy, self.depth),
            top(book, Side::Sell, self.depth),
        );
        diff(Side::Buy, &self.bids, new_bids, bids);
        diff(Side::Sell, &self.asks, new_asks, asks);
        if bids.is_empty() && asks.is_empty() {
            return false;
        }
        self.bids.clear();
        self.bids.extend_from_slice(new_bids);
        self.asks.clear();
        self.asks.extend_from_slice(new_asks);
        self.update_id += 1;
        self.stamp = Stamp::of(book);
        true
    }
}

/// What a connection's thread is told to do, in order with its data.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Send a text frame.
    Text(Utf8Bytes),
    /// `drop`: close the connection abruptly.
    Drop,
    /// `stall`: send nothing for this long.
    Stall(Duration),
}

/// A connection as the market sees it.
#[derive(Debug)]
struct Client {
    queue: SyncSender<Outbound>,
    topics: BTreeSet<Topic>,
    /// Set when the queue overflowed: the connection closes.
    overflowed: Arc<AtomicBool>,
}

/// What a connection's thread holds of its registration.
#[derive(Debug)]
pub(crate) struct ClientHandle {
    /// The venue's number of the connection.
    pub(crate) id: u64,
    /// Bybit's `conn_id`, uuid-shaped.
    pub(crate) conn_id: String,
    /// Messages to send.
    pub(crate) queue: Receiver<Outbound>,
    /// Set when the connection fell too far behind.
    pub(crate) overflowed: Arc<AtomicBool>,
}

/// Why a topic of a subscribe request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicFailure {
    /// The topic as the client wrote it.
    pub(crate) topic: String,
    /// Bybit's reason (`handler not found`, `already subscribed`, ...).
    pub(crate) reason: &'static str,
}

/// The market of the served symbol and everyone subscribed to it.
#[derive(Debug)]
pub(crate) struct Market {
    symbol: Symbol,
    /// Number formats of the market's frames (None until the first snapshot shows them).
    format: Option<NumberFormat>,
    /// The merged book.
    book: OrderBook,
    /// The depth of the market's book stream followed (the deepest seen in a snapshot).
    source_depth: Option<u16>,
    /// Published views, by ascending depth (so a view's delta for a frame is queued before the
    /// deeper views' ones, the 1000-level view's last).
    views: Vec<BookView>,
    ticker: Option<Ticker>,
    clients: BTreeMap<u64, Client>,
    /// Added to every time stamp sent: the replay's shift to the present.
    rebase_ms: i64,
    /// Added to every time stamp sent: the `skew` fault.
    skew_ms: i64,
    /// Scratch for deltas.
    delta_bids: Vec<Level>,
    delta_asks: Vec<Level>,
    /// Whether the book's last invalidation was logged.
    invalid_logged: bool,
    /// The account's orders, filled against this market.
    pub(crate) exchange: Exchange,
    /// Private-stream connections, their topics and the names they subscribed them by
    /// (`order` or `order.linear`: pushes carry the name subscribed).
    private_topics: BTreeMap<u64, BTreeMap<PrivateTopic, String>>,
    /// Private pushes still to send to nobody: the `push-lost` fault.
    pushes_lost: u32,
    /// How pushes are held back or shuffled (`order-first`, `push-reorder`).
    push_policy: PushPolicy,
    /// Pushes held back, with when they are due, in the order they go.
    held_pushes: Vec<(Instant, Push)>,
    /// Disconnect-cancel-all: its window once armed, and since when no private connection
    /// subscribed to `dcp` has been up (after one was).
    dcp: Option<(Duration, Option<Instant>)>,
}

impl Market {
    /// The market of `symbol`; `format` when known up front (the simulator's); `exchange`
    /// fills the account's orders against it.
    pub(crate) fn new(symbol: Symbol, format: Option<NumberFormat>, exchange: Exchange) -> Market {
        let book = OrderBook::new(symbol, MAX_DEPTH);
        let views = vec![BookView::new(REST_DEPTH, &book)];
        Market {
            symbol,
            format,
            book,
            source_depth: None,
            views,
            ticker: None,
            clients: BTreeMap::new(),
            rebase_ms: 0,
            skew_ms: 0,
            delta_bids: Vec::with_capacity(2 * MAX_DEPTH),
            delta_asks: Vec::with_capacity(2 * MAX_DEPTH),
            invalid_logged: false,
            exchange,
            private_topics: BTreeMap::new(),
            pushes_lost: 0,
            push_policy: PushPolicy::default(),
            held_pushes: Vec::new(),
            dcp: None,
        }
    }

    /// Arms disconnect-cancel-all with `window`.
    pub(crate) fn arm_dcp(&mut self, window: Duration) {
        self.dcp = Some((window, None));
    }

    /// Disconnect-cancel-all at `now`: once no `dcp` subscriber has been up for the window,
    /// every open order is cancelled (once per outage).
    pub(crate) fn check_dcp(&mut self, now: Instant) {
        let Some((window, Some(since))) = self.dcp else {
            return;
        };
        if now.saturating_duration_since(since) < window {
            return;
        }
        self.dcp = Some((window, None));
        let symbol = self.symbol.to_string();
        let cancelled = self.exchange.cancel_every(&symbol, wall_ns()).len();
        self.step_exchange(wall_ns());
        eprintln!(
            "toolkit venue: disconnect-cancel-all: the private stream down {} s, {cancelled} orders cancelled",
            window.as_secs()
        );
    }

    /// `push-lost`: the next `pushes` private pushes go to nobody.
    pub(crate) fn lose_pushes(&mut self, pushes: u32) {
        self.pushes_lost = self.pushes_lost.saturating_add(pushes);
    }

    /// Subscribes private connection `id` to `topics` (each with the name it was asked by).
    pub(crate) fn subscribe_private(&mut self, id: u64, topics: &[(PrivateTopic, String)]) {
        self.private_topics
            .entry(id)
            .or_default()
            .extend(topics.iter().cloned());
        if let Some((_, down)) = self.dcp.as_mut()
            && topics.iter().any(|(topic, _)| *topic == PrivateTopic::Dcp)
        {
            *down = None;
        }
    }

    /// `order-first`: a fill's `order` push goes first, the rest `delay` later, until `until`.
    pub(crate) fn order_first(&mut self, delay: Duration, until: Option<Instant>) {
        self.push_policy.order_first = Some((delay, until));
    }

    /// `push-reorder`: each change's pushes in a random order, each up to `delay` late, until
    /// `until`.
    pub(crate) fn reorder_pushes(&mut self, delay: Duration, until: Option<Instant>, seed: u64) {
        self.push_policy.reorder = Some((delay, until));
        self.push_policy.rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_0F9A);
    }

    /// Queues each push to the private connections subscribed to its topic: now, in order, or
    /// held back and shuffled as the push faults say.
    pub(crate) fn push_private(&mut self, pushes: Vec<Push>) {
        let now = Instant::now();
        let mut groups: Vec<Vec<Push>> = Vec::new();
        for push in pushes {
            match groups.last_mut() {
                Some(group) if group[0].group == push.group => group.push(push),
                _ => groups.push(vec![push]),
            }
        }
        for mut group in groups {
            if let Some((delay, until)) = self.push_policy.reorder
                && in_force(until, now)
            {
                use rand::seq::SliceRandom;
                group.shuffle(&mut self.push_policy.rng);
                let most = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                for push in group {
                    let late = Duration::from_millis(self.push_policy.rng.random_range(0..=most));
                    self.hold(now + late, push);
                }
                continue;
            }
            if let Some((delay, until)) = self.push_policy.order_first
                && in_force(until, now)
                && group
                    .iter()
                    .any(|push| push.topic == PrivateTopic::Execution)
            {
                let (orders, rest): (Vec<Push>, Vec<Push>) = group
                    .into_iter()
                    .partition(|push| push.topic == PrivateTopic::Order);
                for push in orders {
                    self.send_push(push);
                }
                for push in rest {
                    self.hold(now + delay, push);
                }
                continue;
            }
            for push in group {
                self.send_push(push);
            }
        }
    }

    /// Holds `push` back until `due` (after those due no later).
    fn hold(&mut self, due: Instant, push: Push) {
        let at = self.held_pushes.partition_point(|(held, _)| *held <= due);
        self.held_pushes.insert(at, (due, push));
    }

    /// Sends the held pushes due by `now`.
    pub(crate) fn release_pushes(&mut self, now: Instant) {
        let due = self.held_pushes.partition_point(|(held, _)| *held <= now);
        let released: Vec<(Instant, Push)> = self.held_pushes.drain(..due).collect();
        for (_, push) in released {
            self.send_push(push);
        }
    }

    /// When the next held push is due.
    pub(crate) fn next_push_due(&self) -> Option<Instant> {
        self.held_pushes.first().map(|(due, _)| *due)
    }

    /// Sends `push` to the private connections subscribed to its topic, under the name each
    /// subscribed it by (unless `push-lost` takes it).
    fn send_push(&mut self, push: Push) {
        if self.pushes_lost > 0 {
            self.pushes_lost -= 1;
            eprintln!("toolkit venue: {} push lost (fault)", push.topic.name());
            return;
        }
        let plain = format!("\"topic\":\"{}\"", push.topic.name());
        let targets: Vec<(u64, String)> = self
            .private_topics
            .iter()
            .filter_map(|(&id, topics)| topics.get(&push.topic).map(|name| (id, name.clone())))
            .collect();
        for (id, name) in targets {
            let text = if name == push.topic.name() {
                push.text.clone()
            } else {
                push.text
                    .replacen(&plain, &format!("\"topic\":\"{name}\""), 1)
            };
            send(&mut self.clients, id, Outbound::Text(Utf8Bytes::from(text)));
        }
    }

    /// Lets the exchange catch up with the book at `now_ns` (orders and cancels that arrived,
    /// fills the book reached) and pushes what changed.
    pub(crate) fn step_exchange(&mut self, now_ns: u64) {
        let pushes = self.exchange.on_book(&self.book, now_ns);
        self.push_private(pushes);
    }

    /// Trades printed at `now_ns`, for the exchange; pushes what they filled.
    pub(crate) fn exchange_trades(&mut self, trades: &[feed::bybit::Trade], now_ns: u64) {
        let pushes = self.exchange.on_trades(&self.book, trades, now_ns);
        self.push_private(pushes);
    }

    /// The served symbol.
    pub(crate) const fn symbol(&self) -> Symbol {
        self.symbol
    }

    /// Sets the shift that makes replayed time stamps look like the present.
    pub(crate) fn set_rebase(&mut self, rebase_ms: i64) {
        self.rebase_ms = rebase_ms;
    }

    /// `skew`: adds `ms` to every time stamp sent from now on.
    pub(crate) fn add_skew(&mut self, ms: i64) {
        self.skew_ms = self.skew_ms.saturating_add(ms);
    }

    /// The `skew` in force, ms.
    pub(crate) const fn skew_ms(&self) -> i64 {
        self.skew_ms
    }

    fn offset_ms(&self) -> i64 {
        self.rebase_ms.saturating_add(self.skew_ms)
    }

    fn format(&self) -> NumberFormat {
        self.format.unwrap_or_default()
    }

    /// Registers connection `id` (every connection gets the faults) and makes its queue.
    fn add_client(&mut self, id: u64) -> (Receiver<Outbound>, Arc<AtomicBool>) {
        let (queue, receiver) = sync_channel(CLIENT_QUEUE);
        let overflowed = Arc::new(AtomicBool::new(false));
        self.clients.insert(
            id,
            Client {
                queue,
                topics: BTreeSet::new(),
                overflowed: Arc::clone(&overflowed),
            },
        );
        (receiver, overflowed)
    }

    /// Forgets a connection.
    pub(crate) fn remove_client(&mut self, id: u64) {
        self.clients.remove(&id);
        let had_dcp = self
            .private_topics
            .remove(&id)
            .is_some_and(|topics| topics.contains_key(&PrivateTopic::Dcp));
        let dcp_left = self
            .private_topics
            .values()
            .any(|topics| topics.contains_key(&PrivateTopic::Dcp));
        if let Some((_, down)) = self.dcp.as_mut()
            && had_dcp
            && !dcp_left
        {
            *down = Some(Instant::now());
        }
    }

    /// True once the market's book is known (its first snapshot was played).
    pub(crate) fn has_book(&self) -> bool {
        self.book.is_valid()
    }

    /// Number of connections.
    pub(crate) fn clients(&self) -> usize {
        self.clients.len()
    }

    /// Applies one of the market's book messages (`frame` is its text) and publishes what
    /// changed in every view.
    pub(crate) fn apply_book(&mut self, update: &BookUpdate<'_>, frame: &[u8]) {
        if update.symbol != self.symbol {
            return;
        }
        // Follow one depth of the market's stream: the deepest a snapshot has shown.
        let snapshot = update.kind == UpdateKind::Snapshot;
        match self.source_depth {
            Some(depth) if depth == update.depth => {}
            Some(depth) if snapshot && update.depth > depth => {
                self.source_depth = Some(update.depth);
            }
            None if snapshot => self.source_depth = Some(update.depth),
            _ => return,
        }
        // Widened on every book frame: a first snapshot with few levels may show fewer decimals
        // than later sizes carry, and a size written with too few would read as another.
        let seen = NumberFormat::infer(frame);
        self.format = Some(self.format.map_or(seen, |format| format.widen(seen)));
        let mut update = *update;
        update.depth = MAX_DEPTH as u16;
        match self.book.apply(&update) {
            ApplyOutcome::Invalidated(reason) if !self.invalid_logged => {
                self.invalid_logged = true;
                eprintln!(
                    "toolkit venue: the market's book is invalid ({reason:?}); publishing resumes \
                     with its next snapshot"
                );
            }
            ApplyOutcome::Reset => self.invalid_logged = false,
            _ => {}
        }
        if self.book.is_valid() {
            self.publish_views();
        }
    }

    /// Brings every view to the book, sending each one's delta.
    fn publish_views(&mut self) {
        let offset = self.offset_ms();
        let format = self.format();
        for view in &mut self.views {
            if !view.advance(&self.book, &mut self.delta_bids, &mut self.delta_asks) {
                continue;
            }
            let skip = std::mem::take(&mut view.skip_next);
            let truncate = std::mem::take(&mut view.truncate_next);
            if skip {
                continue;
            }
            let topic = Topic::Book(view.depth);
            if !has_subscriber(&self.clients, topic) {
                continue;
            }
            // Depth 1 only ever sends snapshots.
            let message = if view.depth == 1 {
                view.snapshot_message(self.symbol, format, offset)
            } else {
                book_message(
                    self.symbol,
                    view,
                    UpdateKind::Delta,
                    (&self.delta_bids, &self.delta_asks),
                    format,
                    offset,
                )
            };
            let message = if truncate {
                let mut end = message.len() / 2;
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
                message[..end].to_owned()
            } else {
                message
            };
            view.last_sent = Instant::now();
            broadcast(&mut self.clients, Some(topic), &Utf8Bytes::from(message));
        }
    }

    /// Re-sends the depth-1 snapshot (same `u`) when it has not changed for 3 s.
    pub(crate) fn repeat_level1(&mut self, now: Instant) {
        let (offset, format) = (self.offset_ms(), self.format());
        for view in &mut self.views {
            if view.depth != 1 || now.duration_since(view.last_sent) < LEVEL1_REPEAT {
                continue;
            }
            view.last_sent = now;
            if has_subscriber(&self.clients, Topic::Book(1)) {
                let message = view.snapshot_message(self.symbol, format, offset);
                broadcast(
                    &mut self.clients,
                    Some(Topic::Book(1)),
                    &Utf8Bytes::from(message),
                );
            }
        }
    }

    /// Records the merged ticker state (what a new `tickers` subscriber's snapshot shows).
    pub(crate) fn set_ticker(&mut self, ticker: &Ticker) {
        if ticker.symbol == self.symbol {
            self.ticker = Some(*ticker);
        }
    }

    /// Forwards one of the market's `publicTrade` or `tickers` frames to the topic's
    /// subscribers, its time stamps shifted as every other.
    pub(crate) fn forward(&mut self, topic: Topic, frame: &[u8]) {
        if !has_subscriber(&self.clients, topic) {
            return;
        }
        let Ok(text) = std::str::from_utf8(frame) else {
            eprintln!("toolkit venue: a market frame is not UTF-8; not forwarded");
            return;
        };
        let offset = self.offset_ms();
        let text = if offset == 0 {
            text.to_owned()
        } else {
            shift_times(text, offset)
        };
        broadcast(&mut self.clients, Some(topic), &Utf8Bytes::from(text));
    }

    /// Subscribes connection `id` to the valid topics of `names` it is not subscribed to yet;
    /// returns those (to send their first messages once the reply is queued) and the others
    /// with Bybit's reason.
    pub(crate) fn add_topics(
        &mut self,
        id: u64,
        names: &[String],
    ) -> (Vec<Topic>, Vec<TopicFailure>) {
        let (mut added, mut failures) = (Vec::new(), Vec::new());
        let symbol = self.symbol;
        let Some(client) = self.clients.get_mut(&id) else {
            return (added, failures);
        };
        for name in names {
            let reason = match Topic::parse(name, symbol) {
                Some(topic) if client.topics.insert(topic) => {
                    added.push(topic);
                    continue;
                }
                Some(_) => "already subscribed",
                None => "handler not found",
            };
            failures.push(TopicFailure {
                topic: name.clone(),
                reason,
            });
        }
        (added, failures)
    }

    /// Queues the first message of each of `topics` for connection `id`: the book snapshot
    /// with the view's current `u`, the merged ticker snapshot (when the market sent one).
    pub(crate) fn send_first(&mut self, id: u64, topics: &[Topic]) {
        for &topic in topics {
            let first = match topic {
                Topic::Book(depth) => Some(self.book_snapshot(depth)),
                Topic::Tickers => self.ticker_snapshot(),
                Topic::Trades => None,
            };
            if let Some(message) = first {
                self.queue_text(id, message);
            }
        }
    }

    /// Queues a text frame for connection `id`, in order with its data.
    pub(crate) fn queue_text(&mut self, id: u64, text: String) {
        send(&mut self.clients, id, Outbound::Text(Utf8Bytes::from(text)));
    }

    /// Unsubscribes connection `id` from `names`; returns the topics it was not subscribed to.
    pub(crate) fn unsubscribe(&mut self, id: u64, names: &[String]) -> Vec<TopicFailure> {
        let mut failures = Vec::new();
        let symbol = self.symbol;
        let Some(client) = self.clients.get_mut(&id) else {
            return failures;
        };
        for name in names {
            let removed =
                Topic::parse(name, symbol).is_some_and(|topic| client.topics.remove(&topic));
            if !removed {
                failures.push(TopicFailure {
                    topic: name.clone(),
                    reason: "not subscribed",
                });
            }
        }
        failures
    }

    /// The view of `depth`, made from the book now if no one asked for that depth before.
    fn view_index(&mut self, depth: u16) -> usize {
        match self.views.binary_search_by_key(&depth, |view| view.depth) {
            Ok(index) => index,
            Err(index) => {
                self.views.insert(index, BookView::new(depth, &self.book));
                index
            }
        }
    }

    /// A snapshot of the view of `depth` with its current `u`.
    fn book_snapshot(&mut self, depth: u16) -> String {
        let index = self.view_index(depth);
        let (offset, format) = (self.offset_ms(), self.format());
        let view = &self.views[index];
        view.snapshot_message(self.symbol, format, offset)
    }

    /// A `tickers` snapshot of the merged state, if the market sent any ticker yet.
    fn ticker_snapshot(&self) -> Option<String> {
        let ticker = self.ticker?;
        let format = self.format();
        let mut out = format!(
            r#"{{"topic":"tickers.{0}","type":"snapshot","data":{{"symbol":"{0}""#,
            self.symbol
        );
        let mut field = |name: &str, value: Option<Fixed>, decimals: Option<u32>| {
            if let Some(value) = value {
                let _ = write!(out, r#","{name}":""#);
                push_fixed(&mut out, value, decimals);
                out.push('"');
            }
        };
        field("lastPrice", ticker.last_price, format.price);
        field("markPrice", ticker.mark_price, format.price);
        field("indexPrice", ticker.index_price, format.price);
        field("bid1Price", ticker.bid1_price, format.price);
        field("bid1Size", ticker.bid1_size, format.size);
        field("ask1Price", ticker.ask1_price, format.price);
        field("ask1Size", ticker.ask1_size, format.size);
        field("volume24h", ticker.volume_24h, format.size);
        field("openInterest", ticker.open_interest, format.size);
        field("fundingRate", ticker.funding_rate, None);
        field("price24hPcnt", ticker.price_24h_pcnt, None);
        if let Some(next) = ticker.next_funding_time {
            let _ = write!(out, r#","nextFundingTime":"{next}""#);
        }
        let _ = write!(
            out,
            r#"}},"cs":{},"ts":{}}}"#,
            ticker.cs,
            shifted(ticker.ts, self.offset_ms())
        );
        Some(out)
    }

    /// `result` of `GET /v5/market/orderbook`: the top `limit` levels of the book as the
    /// 1000-level stream last published it (its `u`).
    pub(crate) fn rest_orderbook(&self, limit: usize) -> String {
        let format = self.format();
        let offset = self.offset_ms();
        let Some(view) = self.views.iter().find(|view| view.depth == REST_DEPTH) else {
            return "{}".to_owned();
        };
        let mut out = format!(r#"{{"s":"{}","b":"#, self.symbol);
        push_levels(&mut out, &view.bids[..view.bids.len().min(limit)], format);
        out.push_str(r#","a":"#);
        push_levels(&mut out, &view.asks[..view.asks.len().min(limit)], format);
        let _ = write!(
            out,
            r#","ts":{},"u":{},"seq":{},"cts":{}}}"#,
            shifted(view.stamp.ts, offset),
            view.update_id,
            view.stamp.seq,
            shifted(view.stamp.cts, offset)
        );
        out
    }

    /// `drop`, `stall`: tells every connection; returns how many there are.
    pub(crate) fn tell_all(&mut self, what: impl Fn() -> Outbound) -> usize {
        let ids: Vec<u64> = self.clients.keys().copied().collect();
        for &id in &ids {
            send(&mut self.clients, id, what());
        }
        ids.len()
    }

    /// `malformed`: one frame of invalid JSON to every connection.
    pub(crate) fn send_malformed(&mut self) -> usize {
        let text = Utf8Bytes::from_static(MALFORMED);
        self.tell_all(|| Outbound::Text(text.clone()))
    }

    /// `gap`: the next delta of every view is withheld.
    pub(crate) fn gap_next(&mut self) {
        self.views.iter_mut().for_each(|view| view.skip_next = true);
    }

    /// `truncated`: the next delta of every view is cut in half.
    pub(crate) fn truncate_next(&mut self) {
        self.views
            .iter_mut()
            .for_each(|view| view.truncate_next = true);
    }

    /// `snapshot` (`restart`: with `u = 1`): a fresh snapshot on every view, sent to its
    /// subscribers.
    pub(crate) fn snapshot_all(&mut self, restart: bool) {
        let (offset, format) = (self.offset_ms(), self.format());
        for view in &mut self.views {
            view.update_id = if restart { 1 } else { view.update_id + 1 };
            let topic = Topic::Book(view.depth);
            if has_subscriber(&self.clients, topic) {
                let message = view.snapshot_message(self.symbol, format, offset);
                view.last_sent = Instant::now();
                broadcast(&mut self.clients, Some(topic), &Utf8Bytes::from(message));
            }
        }
    }
}

/// An `orderbook` message of `view` (its `u`, `seq` and stamps) with the given levels.
impl BookView {
    /// A `snapshot` of the whole view with its current `u`.
    fn snapshot_message(&self, symbol: Symbol, format: NumberFormat, offset_ms: i64) -> String {
        book_message(
            symbol,
            self,
            UpdateKind::Snapshot,
            (&self.bids, &self.asks),
            format,
            offset_ms,
        )
    }
}

fn book_message(
    symbol: Symbol,
    view: &BookView,
    kind: UpdateKind,
    (bids, asks): (&[Level], &[Level]),
    format: NumberFormat,
    offset_ms: i64,
) -> String {
    let mut out = String::with_capacity(64 + 40 * (bids.len() + asks.len()));
    let _ = write!(
        out,
        r#"{{"topic":"orderbook.{}.{symbol}","type":"{}","ts":{},"data":{{"s":"{symbol}","b":"#,
        view.depth,
        kind.as_str(),
        shifted(view.stamp.ts, offset_ms)
    );
    push_levels(&mut out, bids, format);
    out.push_str(r#","a":"#);
    push_levels(&mut out, asks, format);
    let _ = write!(
        out,
        r#","u":{},"seq":{}}},"cts":{}}}"#,
        view.update_id,
        view.stamp.seq,
        shifted(view.stamp.cts, offset_ms)
    );
    out
}

fn has_subscriber(clients: &BTreeMap<u64, Client>, topic: Topic) -> bool {
    clients
        .values()
        .any(|client| client.topics.contains(&topic))
}

/// Queues `what` for connection `id`; a full queue closes the connection (slow consumer).
fn send(clients: &mut BTreeMap<u64, Client>, id: u64, what: Outbound) {
    let Some(client) = clients.get(&id) else {
        return;
    };
    match client.queue.try_send(what) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            eprintln!(
                "toolkit venue: conn {id} is {CLIENT_QUEUE} messages behind; closing it (slow \
                 consumer)"
            );
            client.overflowed.store(true, Ordering::Release);
            clients.remove(&id);
        }
        Err(TrySendError::Disconnected(_)) => {
            clients.remove(&id);
        }
    }
}

/// Queues `text` for every subscriber of `topic` (every connection for None).
fn broadcast(clients: &mut BTreeMap<u64, Client>, topic: Option<Topic>, text: &Utf8Bytes) {
    let ids: Vec<u64> = clients
        .iter()
        .filter(|(_, client)| topic.is_none_or(|topic| client.topics.contains(&topic)))
        .map(|(&id, _)| id)
        .collect();
    for id in ids {
        send(clients, id, Outbound::Text(text.clone()));
    }
}

/// How pings are answered (the `pong-delay` and `pong-lost` faults).
#[derive(Debug, Clone, Copy, Default)]
struct PongPolicy {
    /// Pings are not answered until then (None inside: for good).
    lost: Option<Option<Instant>>,
    /// Pongs are sent this late until then.
    delay: Option<(Duration, Option<Instant>)>,
}

/// How private pushes are held back or shuffled (the `order-first` and `push-reorder`
/// faults), with the generator of the shuffles.
#[derive(Debug)]
struct PushPolicy {
    order_first: Option<(Duration, Option<Instant>)>,
    reorder: Option<(Duration, Option<Instant>)>,
    rng: ChaCha8Rng,
}

impl Default for PushPolicy {
    fn default() -> Self {
        PushPolicy {
            order_first: None,
            reorder: None,
            rng: ChaCha8Rng::seed_from_u64(0),
        }
    }
}

/// What to do with a ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PongAction {
    /// Answer now.
    Now,
    /// Answer this much later.
    Later(Duration),
    /// Do not answer.
    Withhold,
}

fn in_force(until: Option<Instant>, now: Instant) -> bool {
    until.is_none_or(|until| now < until)
}

/// Faults the connections read for themselves.
#[derive(Debug, Default)]
pub(crate) struct ConnFaults {
    /// Subscribe requests still to fail.
    subscribe_fail: AtomicU32,
    /// Signed REST requests still to answer 10006.
    rest_limited: AtomicU32,
    /// REST requests still to answer HTTP 403.
    rest_banned: AtomicU32,
    /// Trade-stream order requests still to leave unanswered.
    acks_lost: AtomicU32,
    /// Trade-stream answers held back this long, until when (`ack-delay`).
    ack_delay: Mutex<Option<(Duration, Option<Instant>)>>,
    /// Cancels still to answer and not do (`cancel-ignored`), and cancel-alls.
    cancels_ignored: AtomicU32,
    cancel_alls_ignored: AtomicU32,
    /// Order requests still to refuse with `refusal_code` (`fatal`).
    orders_refused: AtomicU32,
    refusal_code: AtomicI64,
    /// Signed REST answers held back this long, until when (`rest-delay`).
    rest_delay: Mutex<Option<(Duration, Option<Instant>)>>,
    pong: Mutex<PongPolicy>,
}

/// Adds `n` to a fault's count of requests left.
fn add_requests(left: &AtomicU32, n: u32) {
    let _ = left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
        Some(left.saturating_add(n))
    });
}

/// True when a request is left to refuse (and counts it).
fn take_request(left: &AtomicU32) -> bool {
    left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
        left.checked_sub(1)
    })
    .is_ok()
}

impl ConnFaults {
    /// `subscribe-fail`: the next `requests` subscribe requests fail.
    pub(crate) fn fail_subscribes(&self, requests: u32) {
        add_requests(&self.subscribe_fail, requests);
    }

    /// True when this subscribe request is to fail (and counts it).
    pub(crate) fn take_subscribe_failure(&self) -> bool {
        take_request(&self.subscribe_fail)
    }

    /// `rate-limit`: the next `requests` signed REST requests are answered 10006.
    pub(crate) fn limit_rest(&self, requests: u32) {
        add_requests(&self.rest_limited, requests);
    }

    /// True when this signed REST request is to be answered 10006 (and counts it).
    pub(crate) fn take_rest_limit(&self) -> bool {
        take_request(&self.rest_limited)
    }

    /// `ip-ban`: the next `requests` REST requests are answered HTTP 403.
    pub(crate) fn ban_rest(&self, requests: u32) {
        add_requests(&self.rest_banned, requests);
    }

    /// True when this REST request is to be answered HTTP 403 (and counts it).
    pub(crate) fn take_rest_ban(&self) -> bool {
        take_request(&self.rest_banned)
    }

    /// `ack-lost`: the next `requests` trade-stream order requests go unanswered.
    pub(crate) fn lose_acks(&self, requests: u32) {
        add_requests(&self.acks_lost, requests);
    }

    /// True when this order request's answer is to be lost (and counts it).
    pub(crate) fn take_ack_loss(&self) -> bool {
        take_request(&self.acks_lost)
    }

    /// `ack-delay`: trade-stream answers go `delay` late until `until` (None: for good).
    pub(crate) fn delay_acks(&self, delay: Duration, until: Option<Instant>) {
        *self
            .ack_delay
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((delay, until));
    }

    /// How late an answer sent at `now` goes, if at all.
    pub(crate) fn ack_delay(&self, now: Instant) -> Option<Duration> {
        let policy = *self
            .ack_delay
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        policy
            .filter(|(_, until)| in_force(*until, now))
            .map(|(delay, _)| delay)
    }

    /// `cancel-ignored`: the next `requests` cancels (and cancel-alls, with `all`) are
    /// answered and not done.
    pub(crate) fn ignore_cancels(&self, requests: u32, all: bool) {
        add_requests(&self.cancels_ignored, requests);
        if all {
            add_requests(&self.cancel_alls_ignored, requests);
        }
    }

    /// True when this cancel (a cancel-all with `all`) is to be answered and not done (and
    /// counts it).
    pub(crate) fn take_cancel_ignored(&self, all: bool) -> bool {
        take_request(if all {
            &self.cancel_alls_ignored
        } else {
            &self.cancels_ignored
        })
    }

    /// `fatal`: the next `requests` order requests are refused with `code`.
    pub(crate) fn refuse_orders(&self, code: i64, requests: u32) {
        self.refusal_code.store(code, Ordering::Release);
        add_requests(&self.orders_refused, requests);
    }

    /// The code this order request is to be refused with, if any (and counts it).
    pub(crate) fn take_order_refusal(&self) -> Option<i64> {
        take_request(&self.orders_refused).then(|| self.refusal_code.load(Ordering::Acquire))
    }

    /// `rest-delay`: signed REST answers go `delay` late until `until` (None: for good).
    pub(crate) fn delay_rest(&self, delay: Duration, until: Option<Instant>) {
        *self
            .rest_delay
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((delay, until));
    }

    /// How late a signed REST answer given at `now` goes, if at all.
    pub(crate) fn rest_delay(&self, now: Instant) -> Option<Duration> {
        let policy = *self
            .rest_delay
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        policy
            .filter(|(_, until)| in_force(*until, now))
            .map(|(delay, _)| delay)
    }

    fn pong(&self) -> MutexGuard<'_, PongPolicy> {
        self.pong.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `pong-lost`: pings go unanswered until `until` (None: for good).
    pub(crate) fn lose_pongs(&self, until: Option<Instant>) {
        self.pong().lost = Some(until);
    }

    /// `pong-delay`: pongs go `delay` late until `until` (None: for good).
    pub(crate) fn delay_pongs(&self, delay: Duration, until: Option<Instant>) {
        self.pong().delay = Some((delay, until));
    }

    /// What to do with a ping received at `now`.
    pub(crate) fn pong_action(&self, now: Instant) -> PongAction {
        let policy = *self.pong();
        if policy.lost.is_some_and(|until| in_force(until, now)) {
            return PongAction::Withhold;
        }
        match policy.delay {
            Some((delay, until)) if in_force(until, now) => PongAction::Later(delay),
            _ => PongAction::Now,
        }
    }
}

/// Everything the market thread and the connections share.
#[derive(Debug)]
pub(crate) struct Venue {
    market: Mutex<Market>,
    /// Faults each connection applies itself.
    pub(crate) faults: ConnFaults,
    /// The account the private endpoints serve.
    pub(crate) account: super::account::Account,
    seed: u64,
    next_id: AtomicU64,
    /// Set when the market's source has no more frames.
    ended: AtomicBool,
}

impl Venue {
    /// A venue serving `market` and `account`; `seed` makes the connection ids.
    pub(crate) fn new(market: Market, account: super::account::Account, seed: u64) -> Venue {
        Venue {
            market: Mutex::new(market),
            faults: ConnFaults::default(),
            account,
            seed,
            next_id: AtomicU64::new(1),
            ended: AtomicBool::new(false),
        }
    }

    /// Records that the market's source has no more frames.
    pub(crate) fn set_ended(&self) {
        self.ended.store(true, Ordering::Release);
    }

    /// Waits (up to `timeout`) until the market has a book or its source ended; false on
    /// timeout.
    pub(crate) fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.market().has_book() || self.ended.load(Ordering::Acquire) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The market, locked.
    pub(crate) fn market(&self) -> MutexGuard<'_, Market> {
        self.market.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The seed of the venue's random choices.
    pub(crate) const fn seed(&self) -> u64 {
        self.seed
    }

    /// A number for a new connection.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers public connection `id`: its queue and its uuid-shaped `conn_id`.
    pub(crate) fn connect(&self, id: u64) -> ClientHandle {
        let (queue, overflowed) = self.market().add_client(id);
        ClientHandle {
            id,
            conn_id: conn_id(self.seed, id),
            queue,
            overflowed,
        }
    }
}

/// A uuid-shaped connection id, the same for the same seed and connection number.
fn conn_id(seed: u64, id: u64) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ id.rotate_left(32) ^ 0xC044_1D00);
    let value: u128 = rng.random();
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        (value >> 96) as u32,
        (value >> 80) as u16,
        (value >> 64) as u16,
        (value >> 48) as u16,
        value & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn btc() -> Symbol {
        Symbol::new("BTCUSDT").unwrap()
    }

    fn lv(price: &str, size: &str) -> Level {
        Level {
            price: price.parse().unwrap(),
            size: size.parse().unwrap(),
        }
    }

    #[test]
    fn topics_parse_only_in_their_canonical_form() {
        assert_eq!(
            Topic::parse("orderbook.50.BTCUSDT", btc()),
            Some(Topic::Book(50))
        );
        assert_eq!(
            Topic::parse("publicTrade.BTCUSDT", btc()),
            Some(Topic::Trades)
        );
        assert_eq!(Topic::parse("tickers.BTCUSDT", btc()), Some(Topic::Tickers));
        for bad in [
            "orderbook.500.BTCUSDT",
            "orderbook.050.BTCUSDT",
            "orderbook.50.ETHUSDT",
            "orderbook.BTCUSDT",
            "kline.1.BTCUSDT",
            "",
        ] {
            assert_eq!(Topic::parse(bad, btc()), None, "{bad}");
        }
    }

    #[test]
    fn a_diff_turns_the_old_window_into_the_new() {
        let old = [lv("100", "1"), lv("99", "2"), lv("98", "3")];
        let new = [lv("100.5", "1"), lv("100", "1"), lv("98", "4")];
        let mut out = Vec::new();
        diff(Side::Buy, &old, &new, &mut out);
        assert_eq!(out, [lv("100.5", "1"), lv("99", "0"), lv("98", "4")]);
        out.clear();
        let old = [lv("101", "1"), lv("102", "2")];
        let new = [lv("102", "2"), lv("103", "1")];
        diff(Side::Sell, &old, &new, &mut out);
        assert_eq!(out, [lv("101", "0"), lv("103", "1")]);
    }

    #[test]
    fn time_stamps_shift_and_nothing_else_does() {
        let frame = r#"{"topic":"publicTrade.BTCUSDT","ts":1000,"data":[{"T":990,"s":"BTCUSDT","i":"ts"}],"cts": 5}"#;
        assert_eq!(
            shift_times(frame, 25),
            r#"{"topic":"publicTrade.BTCUSDT","ts":1025,"data":[{"T":1015,"s":"BTCUSDT","i":"ts"}],"cts": 30}"#
        );
        assert_eq!(shift_times(r#"{"ts":10}"#, -20), r#"{"ts":0}"#);
    }

    #[test]
    fn the_number_format_is_read_from_the_frame() {
        let frame = br#"{"topic":"orderbook.50.X","type":"snapshot","ts":1,"data":{"s":"X","b":[["100.10","1.000"]],"a":[["100.2","0.5"]],"u":1,"seq":1}}"#;
        assert_eq!(
            NumberFormat::infer(frame),
            NumberFormat {
                price: Some(2),
                size: Some(3)
            }
        );
    }

    #[test]
    fn conn_ids_are_uuid_shaped_and_seeded() {
        let id = conn_id(7, 1);
        assert_eq!(id.len(), 36);
        assert_eq!(id, conn_id(7, 1));
        assert_ne!(id, conn_id(7, 2));
    }
}

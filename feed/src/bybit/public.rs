//! Decoding of the Bybit v5 public linear stream: order books, trades, tickers and the control
//! replies (subscribe acks and failures, both pong shapes).
//!
//! A frame is parsed in place by simd-json into a reused tape, then read field by field into
//! fixed-size events: prices and sizes become [`Fixed`] straight from their decimal strings,
//! symbols and ids are copied into inline strings, and book levels and trades go into buffers
//! the decoder owns, sized once for the largest message Bybit sends (1000 levels a side, 1024
//! trades). After the first frames nothing allocates. Key order is never relied on and unknown
//! fields are ignored; a malformed or unexpected message is a [`DecodeError`], counted by kind in
//! [`DecodeStats`], never a panic.

// Only the scalar accessors: the prelude's `Array` trait would make `Vec::iter` return a boxed
// iterator, allocating on every call.
use simd_json::prelude::{ValueAsScalar, ValueIntoString};
use simd_json::value::tape::{Array, Object, Value};
use simd_json::{Buffers, Node, Tape};

use crate::fixed::{Fixed, ParseFixedError};
use crate::frame::FrameBuf;
use crate::side::Side;
use crate::text::{InlineStr, Symbol};

/// Most levels a side of one book message may carry (orderbook.1000 snapshots).
pub const MAX_LEVELS: usize = 1000;
/// Most trades one publicTrade message may carry.
pub const MAX_TRADES: usize = 1024;
/// Most symbols whose ticker state is kept.
pub const MAX_TICKERS: usize = 64;

/// Book depths Bybit serves for linear contracts (500 was served until 2025 and is still read).
pub const BOOK_DEPTHS: [u16; 5] = [1, 50, 200, 500, 1000];

/// A request or trade id, or a short server message.
pub type ShortText = InlineStr<64>;

/// Snapshot or delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateKind {
    /// The full state: replaces what was there.
    Snapshot,
    /// Changes to apply to the last state.
    Delta,
}

impl UpdateKind {
    /// Bybit's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            UpdateKind::Snapshot => "snapshot",
            UpdateKind::Delta => "delta",
        }
    }
}

/// One price level: an absolute size at a price (size 0 deletes the level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Level {
    /// Price.
    pub price: Fixed,
    /// Size at that price.
    pub size: Fixed,
}

/// An `orderbook.{depth}.{symbol}` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookUpdate<'a> {
    /// Symbol (`data.s`).
    pub symbol: Symbol,
    /// Depth of the stream (from the topic).
    pub depth: u16,
    /// Snapshot or delta.
    pub kind: UpdateKind,
    /// When the system produced the message, ms.
    pub ts: u64,
    /// Matching-engine time, ms (0 when absent).
    pub cts: u64,
    /// Update id of this depth's stream (`data.u`).
    pub update_id: u64,
    /// Cross sequence (`data.seq`).
    pub seq: u64,
    /// Bids as sent (descending prices).
    pub bids: &'a [Level],
    /// Asks as sent (ascending prices).
    pub asks: &'a [Level],
}

/// Tick direction of a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TickDirection {
    /// Price above the previous trade.
    PlusTick,
    /// Same price, previous change was up.
    ZeroPlusTick,
    /// Price below the previous trade.
    MinusTick,
    /// Same price, previous change was down.
    ZeroMinusTick,
    /// Absent or not one of the above.
    Unknown,
}

impl TickDirection {
    fn from_bybit(text: &str) -> TickDirection {
        match text {
            "PlusTick" => TickDirection::PlusTick,
            "ZeroPlusTick" => TickDirection::ZeroPlusTick,
            "MinusTick" => TickDirection::MinusTick,
            "ZeroMinusTick" => TickDirection::ZeroMinusTick,
            _ => TickDirection::Unknown,
        }
    }

    /// Bybit's spelling (`""` for unknown).
    pub const fn as_str(self) -> &'static str {
        match self {
            TickDirection::PlusTick => "PlusTick",
            TickDirection::ZeroPlusTick => "ZeroPlusTick",
            TickDirection::MinusTick => "MinusTick",
            TickDirection::ZeroMinusTick => "ZeroMinusTick",
            TickDirection::Unknown => "",
        }
    }
}

/// One public trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trade {
    /// Fill time, ms (`T`).
    pub time: u64,
    /// Symbol (`s`).
    pub symbol: Symbol,
    /// Taker side (`S`).
    pub taker_side: Side,
    /// Size (`v`).
    pub size: Fixed,
    /// Price (`p`).
    pub price: Fixed,
    /// Tick direction (`L`).
    pub tick: TickDirection,
    /// Trade id (`i`).
    pub id: ShortText,
    /// Block trade (`BT`).
    pub block_trade: bool,
    /// Retail-price-improvement trade (`RPI`, false when absent).
    pub rpi: bool,
    /// Cross sequence (`seq`, 0 when absent).
    pub seq: u64,
}

/// A `publicTrade.{symbol}` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradeBatch<'a> {
    /// Symbol of the topic.
    pub symbol: Symbol,
    /// When the system produced the message, ms.
    pub ts: u64,
    /// The trades, oldest first.
    pub trades: &'a [Trade],
}

/// The merged state of a `tickers.{symbol}` stream: the snapshot with every later delta
/// applied (a field missing from a delta is unchanged; `""` means not applicable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ticker {
    /// Symbol.
    pub symbol: Symbol,
    /// Time of the last message, ms.
    pub ts: u64,
    /// Cross sequence of the last message.
    pub cs: u64,
    /// Last traded price.
    pub last_price: Option<Fixed>,
    /// Mark price.
    pub mark_price: Option<Fixed>,
    /// Index price.
    pub index_price: Option<Fixed>,
    /// Best bid price.
    pub bid1_price: Option<Fixed>,
    /// Best bid size.
    pub bid1_size: Option<Fixed>,
    /// Best ask price.
    pub ask1_price: Option<Fixed>,
    /// Best ask size.
    pub ask1_size: Option<Fixed>,
    /// Current funding rate.
    pub funding_rate: Option<Fixed>,
    /// Next funding time, ms.
    pub next_funding_time: Option<u64>,
    /// Open interest, base units.
    pub open_interest: Option<Fixed>,
    /// 24 h volume, base units.
    pub volume_24h: Option<Fixed>,
    /// 24 h price change, fraction.
    pub price_24h_pcnt: Option<Fixed>,
}

/// A control reply on the public stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlReply {
    /// A subscribe request succeeded (the ack does not name the topics: match `req_id`).
    Subscribed {
        /// The request id echoed (`""` when none was sent).
        req_id: ShortText,
    },
    /// A subscribe request failed for one topic.
    SubscribeFailed {
        /// The request id echoed.
        req_id: ShortText,
        /// The topic named in `ret_msg` (empty when it names none).
        topic: ShortText,
        /// The reason (`ret_msg` without the topic).
        reason: ShortText,
    },
    /// An unsubscribe reply.
    Unsubscribed {
        /// The request id echoed.
        req_id: ShortText,
        /// Whether it succeeded.
        success: bool,
    },
    /// A pong: linear's `op: "ping", ret_msg: "pong"` (no time) or `op: "pong", args: [ms]`.
    Pong {
        /// Server time, ms, when the reply carries it.
        server_time: Option<u64>,
    },
}

/// A decoded public message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicMessage<'a> {
    /// An order book snapshot or delta.
    Book(BookUpdate<'a>),
    /// Public trades.
    Trades(TradeBatch<'a>),
    /// The ticker state after merging this message.
    Ticker(&'a Ticker),
    /// A control reply.
    Control(ControlReply),
}

/// What kind of message a frame was (as far as it could be told), for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `orderbook.*`
    Orderbook,
    /// `publicTrade.*`
    PublicTrade,
    /// `tickers.*`
    Tickers,
    /// `op` replies.
    Control,
    /// Not recognizable.
    Unknown,
}

impl MessageKind {
    /// Every kind, in counter order.
    pub const ALL: [MessageKind; 5] = [
        MessageKind::Orderbook,
        MessageKind::PublicTrade,
        MessageKind::Tickers,
        MessageKind::Control,
        MessageKind::Unknown,
    ];

    /// A stable label for metrics.
    pub const fn label(self) -> &'static str {
        match self {
            MessageKind::Orderbook => "orderbook",
            MessageKind::PublicTrade => "publicTrade",
            MessageKind::Tickers => "tickers",
            MessageKind::Control => "control",
            MessageKind::Unknown => "unknown",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON.
    #[error("invalid JSON at byte {offset}")]
    InvalidJson {
        /// Where the parser stopped.
        offset: usize,
    },
    /// JSON, but not an object.
    #[error("message is not a JSON object")]
    NotAnObject,
    /// A required field is absent.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// A field has the wrong JSON type or an unknown value.
    #[error("field {0} has an unexpected type or value")]
    BadField(&'static str),
    /// A decimal field does not parse.
    #[error("field {field}: {error}")]
    BadNumber {
        /// The field.
        field: &'static str,
        /// Why.
        error: ParseFixedError,
    },
    /// A topic this decoder does not handle.
    #[error("unknown topic")]
    UnknownTopic,
    /// An object with neither a known topic nor a known op.
    #[error("unexpected message")]
    UnexpectedMessage,
    /// More levels on one side than [`MAX_LEVELS`].
    #[error("more than {MAX_LEVELS} levels on one side")]
    TooManyLevels,
    /// More trades than [`MAX_TRADES`].
    #[error("more than {MAX_TRADES} trades in one message")]
    TooManyTrades,
    /// Ticker state for more than [`MAX_TICKERS`] symbols.
    #[error("ticker state full ({MAX_TICKERS} symbols)")]
    TooManyTickers,
    /// More items in one private push or REST list than the decoder holds.
    #[error("more than {max} items in one message")]
    TooManyItems {
        /// The most it holds.
        max: usize,
    },
}

impl DecodeError {
    /// A stable label for metrics.
    pub const fn label(&self) -> &'static str {
        match self {
            DecodeError::InvalidJson { .. } => "invalid_json",
            DecodeError::NotAnObject => "not_an_object",
            DecodeError::MissingField(_) => "missing_field",
            DecodeError::BadField(_) => "bad_field",
            DecodeError::BadNumber { .. } => "bad_number",
            DecodeError::UnknownTopic => "unknown_topic",
            DecodeError::UnexpectedMessage => "unexpected_message",
            DecodeError::TooManyLevels => "too_many_levels",
            DecodeError::TooManyTrades => "too_many_trades",
            DecodeError::TooManyTickers => "too_many_tickers",
            DecodeError::TooManyItems { .. } => "too_many_items",
        }
    }
}

/// Messages decoded and errors, by message kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecodeStats {
    decoded: [u64; 5],
    errors: [u64; 5],
}

impl DecodeStats {
    /// Messages of `kind` decoded.
    pub const fn decoded(&self, kind: MessageKind) -> u64 {
        self.decoded[kind.index()]
    }

    /// Frames of `kind` (as far as it could be told) that failed.
    pub const fn errors(&self, kind: MessageKind) -> u64 {
        self.errors[kind.index()]
    }

    /// All errors.
    pub fn total_errors(&self) -> u64 {
        self.errors.iter().sum()
    }
}

/// What [`PublicDecoder::interpret`] found, before it is turned into a view of the decoder's
/// buffers (the tape borrows the frame and must be handed back first).
enum Decoded {
    Book { header: BookHeader },
    Trades { symbol: Symbol, ts: u64 },
    Ticker { slot: usize },
    Control(ControlReply),
}

#[derive(Clone, Copy)]
struct BookHeader {
    symbol: Symbol,
    depth: u16,
    kind: UpdateKind,
    ts: u64,
    cts: u64,
    update_id: u64,
    seq: u64,
}

/// Decoder of public stream frames; reuses its buffers across frames.
pub struct PublicDecoder {
    buffers: Buffers,
    tape: Vec<Node<'static>>,
    bids: Vec<Level>,
    asks: Vec<Level>,
    trades: Vec<Trade>,
    tickers: Vec<Ticker>,
    stats: DecodeStats,
}

impl Default for PublicDecoder {
    fn default() -> Self {
        PublicDecoder::new()
    }
}

impl PublicDecoder {
    /// A decoder with every buffer sized for the largest messages.
    pub fn new() -> Self {
        PublicDecoder {
            buffers: Buffers::new(256 * 1024),
            tape: Vec::with_capacity(16 * 1024),
            bids: Vec::with_capacity(MAX_LEVELS),
            asks: Vec::with_capacity(MAX_LEVELS),
            trades: Vec::with_capacity(MAX_TRADES),
            tickers: Vec::with_capacity(MAX_TICKERS),
            stats: DecodeStats::default(),
        }
    }

    /// Counters so far.
    pub const fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// The merged ticker state of `symbol`, if any message of it was seen.
    pub fn ticker(&self, symbol: &str) -> Option<&Ticker> {
        self.tickers.iter().find(|ticker| ticker.symbol == symbol)
    }

    /// Decodes the frame held in `frame` (its bytes may be rewritten in place).
    pub fn decode(&mut self, frame: &mut FrameBuf) -> Result<PublicMessage<'_>, DecodeError> {
        self.decode_counting(frame, true)
    }

    /// [`PublicDecoder::decode`] without counting the frame in [`PublicDecoder::stats`]: for
    /// decoding once more a copy of a book or trade frame already decoded (the hot thread's
    /// idle rehearsal). A tickers frame would be merged into the ticker state again.
    pub fn decode_uncounted(
        &mut self,
        frame: &mut FrameBuf,
    ) -> Result<PublicMessage<'_>, DecodeError> {
        self.decode_counting(frame, false)
    }

    fn decode_counting(
        &mut self,
        frame: &mut FrameBuf,
        count: bool,
    ) -> Result<PublicMessage<'_>, DecodeError> {
        let (bytes, len) = frame.padded_mut();
        let mut tape = Tape(std::mem::take(&mut self.tape)).reset();
        let mut kind = MessageKind::Unknown;
        let result = match simd_json::fill_tape_padded(bytes, len, &mut self.buffers, &mut tape) {
            Ok(()) => self.interpret(tape.as_value(), &mut kind),
            Err(err) => Err(DecodeError::InvalidJson {
                offset: err.index(),
            }),
        };
        self.tape = tape.reset().0;
        match result {
            Ok(decoded) => {
                self.stats.decoded[kind.index()] += u64::from(count);
                Ok(self.view(decoded))
            }
            Err(err) => {
                self.stats.errors[kind.index()] += u64::from(count);
                Err(err)
            }
        }
    }

    /// Decodes a frame given as a byte slice, copying it into `scratch` first.
    pub fn decode_bytes(
        &mut self,
        scratch: &mut FrameBuf,
        frame: &[u8],
    ) -> Result<PublicMessage<'_>, DecodeError> {
        scratch.fill(frame);
        self.decode(scratch)
    }

    fn view(&self, decoded: Decoded) -> PublicMessage<'_> {
        match decoded {
            Decoded::Book { header } => PublicMessage::Book(BookUpdate {
                symbol: header.symbol,
                depth: header.depth,
                kind: header.kind,
                ts: header.ts,
                cts: header.cts,
                update_id: header.update_id,
                seq: header.seq,
                bids: &self.bids,
                asks: &self.asks,
            }),
            Decoded::Trades { symbol, ts } => PublicMessage::Trades(TradeBatch {
                symbol,
                ts,
                trades: &self.trades,
            }),
            Decoded::Ticker { slot } => PublicMessage::Ticker(&self.tickers[slot]),
            Decoded::Control(reply) => PublicMessage::Control(reply),
        }
    }

    fn interpret(
        &mut self,
        root: Value<'_, '_>,
        kind: &mut MessageKind,
    ) -> Result<Decoded, DecodeError> {
        let object = root.as_object().ok_or(DecodeError::NotAnObject)?;
        let mut top = TopLevel::default();
        for (key, value) in object.iter() {
            match key {
                "topic" => top.topic = value.into_string(),
                "type" => top.kind = value.into_string(),
                "ts" => top.ts = value.as_u64(),
                "cts" => top.cts = value.as_u64(),
                "cs" => top.cs = value.as_u64(),
                "data" => top.data = Some(value),
                "op" => top.op = value.into_string(),
                "success" => top.success = value.as_bool(),
                "ret_msg" => top.ret_msg = value.into_string(),
                "req_id" => top.req_id = value.into_string(),
                "args" => top.args = value.as_array(),
                _ => {}
            }
        }
        if let Some(topic) = top.topic {
            if let Some(rest) = topic.strip_prefix("orderbook.") {
                *kind = MessageKind::Orderbook;
                return self.book(rest, &top).map(|header| Decoded::Book { header });
            }
            if let Some(symbol) = topic.strip_prefix("publicTrade.") {
                *kind = MessageKind::PublicTrade;
                return self.trades(symbol, &top);
            }
            if let Some(symbol) = topic.strip_prefix("tickers.") {
                *kind = MessageKind::Tickers;
                return self
                    .ticker_update(symbol, &top)
                    .map(|slot| Decoded::Ticker { slot });
            }
            return Err(DecodeError::UnknownTopic);
        }
        if let Some(op) = top.op {
            *kind = MessageKind::Control;
            return control(op, &top).map(Decoded::Control);
        }
        Err(DecodeError::UnexpectedMessage)
    }

    fn book(
        &mut self,
        topic_rest: &str,
        top: &TopLevel<'_, '_>,
    ) -> Result<BookHeader, DecodeError> {
        let (depth, topic_symbol) = topic_rest
            .split_once('.')
            .ok_or(DecodeError::UnknownTopic)?;
        let depth: u16 = depth.parse().map_err(|_| DecodeError::UnknownTopic)?;
        if !BOOK_DEPTHS.contains(&depth) {
            return Err(DecodeError::UnknownTopic);
        }
        let kind = update_kind(top.kind)?;
        let data = top.data.ok_or(DecodeError::MissingField("data"))?;
        let data = data.as_object().ok_or(DecodeError::BadField("data"))?;
        self.bids.clear();
        self.asks.clear();
        let (mut symbol, mut update_id, mut seq) = (None, None, None);
        let (mut saw_bids, mut saw_asks) = (false, false);
        for (key, value) in data.iter() {
            match key {
                "s" => symbol = Some(value.into_string().ok_or(DecodeError::BadField("data.s"))?),
                "b" => {
                    read_levels(value, &mut self.bids, "data.b")?;
                    saw_bids = true;
                }
                "a" => {
                    read_levels(value, &mut self.asks, "data.a")?;
                    saw_asks = true;
                }
                "u" => update_id = Some(value.as_u64().ok_or(DecodeError::BadField("data.u"))?),
                "seq" => seq = Some(value.as_u64().ok_or(DecodeError::BadField("data.seq"))?),
                _ => {}
            }
        }
        if !saw_bids {
            return Err(DecodeError::MissingField("data.b"));
        }
        if !saw_asks {
            return Err(DecodeError::MissingField("data.a"));
        }
        let symbol = symbol.unwrap_or(topic_symbol);
        Ok(BookHeader {
            symbol: Symbol::new(symbol).map_err(|_| DecodeError::BadField("data.s"))?,
            depth,
            kind,
            ts: top.ts.ok_or(DecodeError::MissingField("ts"))?,
            cts: top.cts.unwrap_or(0),
            update_id: update_id.ok_or(DecodeError::MissingField("data.u"))?,
            seq: seq.unwrap_or(0),
        })
    }

    fn trades(
        &mut self,
        topic_symbol: &str,
        top: &TopLevel<'_, '_>,
    ) -> Result<Decoded, DecodeError> {
        let symbol = Symbol::new(topic_symbol).map_err(|_| DecodeError::UnknownTopic)?;
        let data = top.data.ok_or(DecodeError::MissingField("data"))?;
        let data = data.as_array().ok_or(DecodeError::BadField("data"))?;
        self.trades.clear();
        for item in data.iter() {
            if self.trades.len() == MAX_TRADES {
                return Err(DecodeError::TooManyTrades);
            }
            self.trades.push(read_trade(item, symbol)?);
        }
        Ok(Decoded::Trades {
            symbol,
            ts: top.ts.ok_or(DecodeError::MissingField("ts"))?,
        })
    }

    fn ticker_update(
        &mut self,
        topic_symbol: &str,
        top: &TopLevel<'_, '_>,
    ) -> Result<usize, DecodeError> {
        let symbol = Symbol::new(topic_symbol).map_err(|_| DecodeError::UnknownTopic)?;
        let kind = update_kind(top.kind)?;
        let data = top.data.ok_or(DecodeError::MissingField("data"))?;
        let data = data.as_object().ok_or(DecodeError::BadField("data"))?;
        // Merge into a copy so that a bad message leaves the stored state as it was.
        let existing = self
            .tickers
            .iter()
            .position(|ticker| ticker.symbol == symbol);
        let mut state = match (kind, existing) {
            (UpdateKind::Delta, Some(slot)) => self.tickers[slot],
            _ => Ticker {
                symbol,
                ..Ticker::default()
            },
        };
        merge_ticker(&mut state, data)?;
        state.ts = top.ts.ok_or(DecodeError::MissingField("ts"))?;
        state.cs = top.cs.unwrap_or(state.cs);
        let slot = match existing {
            Some(slot) => slot,
            None if self.tickers.len() < MAX_TICKERS => {
                self.tickers.push(state);
                self.tickers.len() - 1
            }
            None => return Err(DecodeError::TooManyTickers),
        };
        self.tickers[slot] = state;
        Ok(slot)
    }
}

/// The top-level fields of any public message.
#[derive(Default)]
struct TopLevel<'t, 'i> {
    topic: Option<&'i str>,
    kind: Option<&'i str>,
    ts: Option<u64>,
    cts: Option<u64>,
    cs: Option<u64>,
    data: Option<Value<'t, 'i>>,
    op: Option<&'i str>,
    success: Option<bool>,
    ret_msg: Option<&'i str>,
    req_id: Option<&'i str>,
    args: Option<Array<'t, 'i>>,
}

fn update_kind(kind: Option<&str>) -> Result<UpdateKind, DecodeError> {
    match kind {
        Some("snapshot") => Ok(UpdateKind::Snapshot),
        Some("delta") => Ok(UpdateKind::Delta),
        Some(_) => Err(DecodeError::BadField("type")),
        None => Err(DecodeError::MissingField("type")),
    }
}

fn fixed(text: &str, field: &'static str) -> Result<Fixed, DecodeError> {
    Fixed::parse_bytes(text.as_bytes()).map_err(|error| DecodeError::BadNumber { field, error })
}

/// `[[price, size], ...]` into `levels`.
fn read_levels(
    value: Value<'_, '_>,
    levels: &mut Vec<Level>,
    field: &'static str,
) -> Result<(), DecodeError> {
    let array = value.as_array().ok_or(DecodeError::BadField(field))?;
    for pair in array.iter() {
        let pair = pair.as_array().ok_or(DecodeError::BadField(field))?;
        let (Some(price), Some(size), 2) = (pair.get(0), pair.get(1), pair.len()) else {
            return Err(DecodeError::BadField(field));
        };
        let price = fixed(
            price.into_string().ok_or(DecodeError::BadField(field))?,
            field,
        )?;
        let size = fixed(
            size.into_string().ok_or(DecodeError::BadField(field))?,
            field,
        )?;
        if levels.len() == MAX_LEVELS {
            return Err(DecodeError::TooManyLevels);
        }
        levels.push(Level { price, size });
    }
    Ok(())
}

fn read_trade(value: Value<'_, '_>, topic_symbol: Symbol) -> Result<Trade, DecodeError> {
    let object: Object<'_, '_> = value.as_object().ok_or(DecodeError::BadField("data[]"))?;
    let (mut time, mut side, mut size, mut price) = (None, None, None, None);
    let mut trade = Trade {
        time: 0,
        symbol: topic_symbol,
        taker_side: Side::Buy,
        size: Fixed::ZERO,
        price: Fixed::ZERO,
        tick: TickDirection::Unknown,
        id: ShortText::EMPTY,
        block_trade: false,
        rpi: false,
        seq: 0,
    };
    for (key, value) in object.iter() {
        match key {
            "T" => time = Some(value.as_u64().ok_or(DecodeError::BadField("data[].T"))?),
            "s" => {
                let text = value
                    .into_string()
                    .ok_or(DecodeError::BadField("data[].s"))?;
                trade.symbol = Symbol::new(text).map_err(|_| DecodeError::BadField("data[].s"))?;
            }
            "S" => {
                let text = value
                    .into_string()
                    .ok_or(DecodeError::BadField("data[].S"))?;
                side = Some(Side::from_bybit(text).ok_or(DecodeError::BadField("data[].S"))?);
            }
            "v" => {
                size = Some(fixed(
                    value
                        .into_string()
                        .ok_or(DecodeError::BadField("data[].v"))?,
                    "data[].v",
                )?)
            }
            "p" => {
                price = Some(fixed(
                    value
                        .into_string()
                        .ok_or(DecodeError::BadField("data[].p"))?,
                    "data[].p",
                )?)
            }
            "L" => trade.tick = TickDirection::from_bybit(value.into_string().unwrap_or_default()),
            "i" => trade.id = ShortText::truncated(value.into_string().unwrap_or_default()),
            "BT" => trade.block_trade = value.as_bool().unwrap_or(false),
            "RPI" => trade.rpi = value.as_bool().unwrap_or(false),
            "seq" => trade.seq = value.as_u64().ok_or(DecodeError::BadField("data[].seq"))?,
            _ => {}
        }
    }
    trade.time = time.ok_or(DecodeError::MissingField("data[].T"))?;
    trade.taker_side = side.ok_or(DecodeError::MissingField("data[].S"))?;
    trade.size = size.ok_or(DecodeError::MissingField("data[].v"))?;
    trade.price = price.ok_or(DecodeError::MissingField("data[].p"))?;
    Ok(trade)
}

/// Applies the fields present in `data` to `state`.
fn merge_ticker(state: &mut Ticker, data: Object<'_, '_>) -> Result<(), DecodeError> {
    for (key, value) in data.iter() {
        let target = match key {
            "lastPrice" => &mut state.last_price,
            "markPrice" => &mut state.mark_price,
            "indexPrice" => &mut state.index_price,
            "bid1Price" => &mut state.bid1_price,
            "bid1Size" => &mut state.bid1_size,
            "ask1Price" => &mut state.ask1_price,
            "ask1Size" => &mut state.ask1_size,
            "fundingRate" => &mut state.funding_rate,
            "openInterest" => &mut state.open_interest,
            "volume24h" => &mut state.volume_24h,
            "price24hPcnt" => &mut state.price_24h_pcnt,
            "nextFundingTime" => {
                let text = value
                    .into_string()
                    .ok_or(DecodeError::BadField("data.nextFundingTime"))?;
                state.next_funding_time = if text.is_empty() {
                    None
                } else {
                    Some(
                        text.parse()
                            .map_err(|_| DecodeError::BadField("data.nextFundingTime"))?,
                    )
                };
                continue;
            }
            _ => continue,
        };
        let text = value.into_string().ok_or(DecodeError::BadField("data"))?;
        *target = if text.is_empty() {
            None
        } else {
            Some(fixed(text, "data")?)
        };
    }
    Ok(())
}

/// Interprets an `op` reply.
fn control(op: &str, top: &TopLevel<'_, '_>) -> Result<ControlReply, DecodeError> {
    let req_id = ShortText::truncated(top.req_id.unwrap_or_default());
    match op {
        "subscribe" => match top.success {
            Some(true) => Ok(ControlReply::Subscribed { req_id }),
            Some(false) => {
                let message = top.ret_msg.unwrap_or_default();
                let (reason, topic) = match message.split_once(",topic:") {
                    Some((reason, topic)) => (reason, topic),
                    None => (message, ""),
                };
                let reason = reason.strip_prefix("error:").unwrap_or(reason);
                Ok(ControlReply::SubscribeFailed {
                    req_id,
                    topic: ShortText::truncated(topic),
                    reason: ShortText::truncated(reason),
                })
            }
            None => Err(DecodeError::MissingField("success")),
        },
        "unsubscribe" => match top.success {
            Some(success) => Ok(ControlReply::Unsubscribed { req_id, success }),
            None => Err(DecodeError::MissingField("success")),
        },
        "ping" if top.ret_msg == Some("pong") => Ok(ControlReply::Pong { server_time: None }),
        "pong" => {
            let server_time = match top.args.as_ref().and_then(|args| args.get(0)) {
                Some(arg) => Some(
                    arg.into_string()
                        .and_then(|text| text.parse().ok())
                        .or_else(|| arg.as_u64())
                        .ok_or(DecodeError::BadField("args"))?,
                ),
                None => None,
            };
            Ok(ControlReply::Pong { server_time })
        }
        _ => Err(DecodeError::UnexpectedMessage),
    }
}

//! Order entry for Bybit v5 linear: the requests of the trade stream (`/v5/trade`) and the REST
//! bodies they share, written without allocating, and the trade stream's replies decoded.
//!
//! - **Orders** are limit orders, `PostOnly` always (the engine is maker-only), one-way mode
//!   (`positionIdx` 0); exits add `reduceOnly`. The `orderLinkId` is the client's
//!   [`OrderId`] under a per-run prefix ([`LinkIds`]), so an order the venue reports maps back
//!   to the order that made it, and an id from another run or another client is told apart.
//! - **Requests** carry a `reqId` (at most 36 characters; the caller's sequence number under the
//!   same prefix) and the `X-BAPI-TIMESTAMP` / `X-BAPI-RECV-WINDOW` header.
//! - **Replies** ([`TradeReply`]) carry `retCode`, the ids and the rate-limit header. An ack
//!   only means accepted: what became of the order comes from the private `order` stream.
//!
//! [`TradeWriter`] writes into a buffer it owns, sized at construction, so the hot thread
//! builds, signs and sends an order without touching the allocator.

use simd_json::prelude::{ValueAsScalar, ValueIntoString};

use super::json::{JsonScratch, millis, text};
use super::private::OrderIdText;
use super::public::{DecodeError, ShortText};
use super::sign::{Signer, decimal};
use crate::fixed::Fixed;
use crate::frame::FrameBuf;
use crate::order::OrderId;
use crate::side::Side;
use crate::text::{InlineStr, Symbol};

/// The longest `orderLinkId` and `reqId` Bybit takes.
pub const MAX_ID_LEN: usize = 36;
/// The longest run prefix: room for `-` and a 20-digit order id within [`MAX_ID_LEN`].
pub const MAX_PREFIX_LEN: usize = MAX_ID_LEN - 21;

/// Why a run prefix was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// Empty, longer than [`MAX_PREFIX_LEN`], or holding characters other than ASCII letters
    /// and digits.
    #[error(
        "an order id prefix is 1 to {MAX_PREFIX_LEN} ASCII letters and digits, got {len} bytes"
    )]
    Invalid {
        /// Its length.
        len: usize,
    },
}

/// The ids of one run: `orderLinkId` `{prefix}-{order id}` and `reqId` `{prefix}-r{n}`.
///
/// The prefix is chosen per run (the engine takes its start time in base 36), so ids are never
/// reused across runs, as Bybit requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkIds {
    prefix: InlineStr<MAX_PREFIX_LEN>,
}

impl LinkIds {
    /// Ids under `prefix`.
    pub fn new(prefix: &str) -> Result<LinkIds, PrefixError> {
        let valid = !prefix.is_empty()
            && prefix.len() <= MAX_PREFIX_LEN
            && prefix.bytes().all(|byte| byte.is_ascii_alphanumeric());
        match InlineStr::new(prefix) {
            Ok(prefix) if valid => Ok(LinkIds { prefix }),
            _ => Err(PrefixError::Invalid { len: prefix.len() }),
        }
    }

    /// A prefix for a run started at `start_ms` (ms since the epoch): `e` and the time in base
    /// 36 (9 characters until 2059, 10 until the year 5188).
    pub fn for_run(start_ms: u64) -> LinkIds {
        const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut text = [0; 16];
        let mut start = text.len();
        let mut rest = start_ms;
        loop {
            start -= 1;
            text[start] = DIGITS[(rest % 36) as usize];
            rest /= 36;
            if rest == 0 {
                break;
            }
        }
        start -= 1;
        text[start] = b'e';
        let prefix = std::str::from_utf8(&text[start..]).unwrap_or("e");
        LinkIds {
            prefix: InlineStr::truncated(prefix),
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        self.prefix.as_str()
    }

    /// The `orderLinkId` of `id`.
    pub fn link_id(&self, id: OrderId) -> OrderIdText {
        let mut digits = [0; 20];
        let mut text = [0; MAX_ID_LEN];
        let len = join(
            &mut text,
            &[self.prefix().as_bytes(), b"-", decimal(id.0, &mut digits)],
        );
        OrderIdText::new(std::str::from_utf8(&text[..len]).unwrap_or_default()).unwrap_or_default()
    }

    /// The client id behind an `orderLinkId` of this run; `None` for another run's, another
    /// client's or none.
    pub fn order_id(&self, link_id: &str) -> Option<OrderId> {
        let digits = link_id.strip_prefix(self.prefix())?.strip_prefix('-')?;
        if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(OrderId)
    }

    fn req_id(&self, seq: u64, text: &mut [u8; MAX_ID_LEN]) -> usize {
        let mut digits = [0; 20];
        join(
            text,
            &[self.prefix().as_bytes(), b"-r", decimal(seq, &mut digits)],
        )
    }
}

/// Copies `parts` one after the other into `out`; returns the length written.
fn join(out: &mut [u8], parts: &[&[u8]]) -> usize {
    let mut len = 0;
    for part in parts {
        let end = (len + part.len()).min(out.len());
        out[len..end].copy_from_slice(&part[..end - len]);
        len = end;
    }
    len
}

/// A new order, as the engine means it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewOrder {
    /// The client's id (its `orderLinkId` is [`LinkIds::link_id`]).
    pub id: OrderId,
    /// Symbol.
    pub symbol: Symbol,
    /// Side.
    pub side: Side,
    /// Limit price (a multiple of the tick).
    pub price: Fixed,
    /// Quantity (a multiple of the step).
    pub qty: Fixed,
    /// An exit: only reduces the position.
    pub reduce_only: bool,
}

/// Which order an amend or cancel is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderRef<'a> {
    /// The client's id (its `orderLinkId`).
    Client(OrderId),
    /// The venue's id (an order another run or client placed).
    Venue(&'a str),
}

/// Writes trade-stream requests and REST bodies into a buffer it owns.
pub struct TradeWriter {
    ids: LinkIds,
    recv_window_ms: u64,
    buf: Vec<u8>,
}

/// Room for the longest request: an order create with every field at its longest.
const REQUEST_CAPACITY: usize = 512;

impl TradeWriter {
    /// A writer for the run's `ids`, signing requests valid for `recv_window_ms`.
    pub fn new(ids: LinkIds, recv_window_ms: u64) -> TradeWriter {
        TradeWriter {
            ids,
            recv_window_ms,
            buf: Vec::with_capacity(REQUEST_CAPACITY),
        }
    }

    /// The run's ids.
    pub const fn ids(&self) -> &LinkIds {
        &self.ids
    }

    /// The receive window, ms.
    pub const fn recv_window_ms(&self) -> u64 {
        self.recv_window_ms
    }

    /// `{"op":"auth","args":[key, expires, signature]}` (private and trade streams alike).
    pub fn auth(&mut self, signer: &Signer, expires_ms: u64) -> &[u8] {
        let signature = signer.sign_ws_auth(expires_ms);
        let mut digits = [0; 20];
        self.buf.clear();
        self.put(b"{\"op\":\"auth\",\"args\":[\"");
        self.put(signer.api_key().as_bytes());
        self.put(b"\",");
        self.put(decimal(expires_ms, &mut digits));
        self.put(b",\"");
        self.put(signature.as_str().as_bytes());
        self.put(b"\"]}");
        &self.buf
    }

    /// `{"op":"ping"}`.
    pub fn ping(&mut self) -> &[u8] {
        self.buf.clear();
        self.put(b"{\"op\":\"ping\"}");
        &self.buf
    }

    /// The `order.create` request `req_seq` for `order`, stamped `now_ms`.
    pub fn create(&mut self, req_seq: u64, now_ms: u64, order: &NewOrder) -> &[u8] {
        self.head(req_seq, now_ms, b"order.create");
        self.put_create(order);
        self.put(b"]}");
        &self.buf
    }

    /// The `order.amend` request `req_seq` moving `order` to `price` and `qty`.
    pub fn amend(
        &mut self,
        req_seq: u64,
        now_ms: u64,
        symbol: Symbol,
        order: OrderRef<'_>,
        price: Fixed,
        qty: Fixed,
    ) -> &[u8] {
        self.head(req_seq, now_ms, b"order.amend");
        self.put_amend(symbol, order, price, qty);
        self.put(b"]}");
        &self.buf
    }

    /// The `order.cancel` request `req_seq` for `order`.
    pub fn cancel(
        &mut self,
        req_seq: u64,
        now_ms: u64,
        symbol: Symbol,
        order: OrderRef<'_>,
    ) -> &[u8] {
        self.head(req_seq, now_ms, b"order.cancel");
        self.put_cancel(symbol, order);
        self.put(b"]}");
        &self.buf
    }

    /// The body of `POST /v5/order/create` for `order` (the same object the trade stream
    /// sends).
    pub fn create_body(&mut self, order: &NewOrder) -> &[u8] {
        self.buf.clear();
        self.put_create(order);
        &self.buf
    }

    /// The body of `POST /v5/order/amend`.
    pub fn amend_body(
        &mut self,
        symbol: Symbol,
        order: OrderRef<'_>,
        price: Fixed,
        qty: Fixed,
    ) -> &[u8] {
        self.buf.clear();
        self.put_amend(symbol, order, price, qty);
        &self.buf
    }

    /// The body of `POST /v5/order/cancel`.
    pub fn cancel_body(&mut self, symbol: Symbol, order: OrderRef<'_>) -> &[u8] {
        self.buf.clear();
        self.put_cancel(symbol, order);
        &self.buf
    }

    /// Appends the order object of a create.
    fn put_create(&mut self, order: &NewOrder) {
        let mut number = [0; 32];
        self.put(b"{\"category\":\"linear\",\"symbol\":\"");
        self.put(order.symbol.as_str().as_bytes());
        self.put(b"\",\"side\":\"");
        self.put(order.side.as_str().as_bytes());
        self.put(b"\",\"orderType\":\"Limit\",\"qty\":\"");
        self.put(order.qty.format_into(None, &mut number).as_bytes());
        self.put(b"\",\"price\":\"");
        self.put(order.price.format_into(None, &mut number).as_bytes());
        self.put(b"\",\"timeInForce\":\"PostOnly\",\"positionIdx\":0,\"orderLinkId\":\"");
        let link = self.ids.link_id(order.id);
        self.put(link.as_str().as_bytes());
        self.put(if order.reduce_only {
            b"\",\"reduceOnly\":true}".as_slice()
        } else {
            b"\",\"reduceOnly\":false}".as_slice()
        });
    }

    /// Appends the order object of an amend.
    fn put_amend(&mut self, symbol: Symbol, order: OrderRef<'_>, price: Fixed, qty: Fixed) {
        let mut number = [0; 32];
        self.order_ref(symbol, order);
        self.put(b",\"qty\":\"");
        self.put(qty.format_into(None, &mut number).as_bytes());
        self.put(b"\",\"price\":\"");
        self.put(price.format_into(None, &mut number).as_bytes());
        self.put(b"\"}");
    }

    /// Appends the order object of a cancel.
    fn put_cancel(&mut self, symbol: Symbol, order: OrderRef<'_>) {
        self.order_ref(symbol, order);
        self.put(b"}");
    }

    /// `{"category":"linear","symbol":S,"orderLinkId"|"orderId":ID` (the object left open).
    fn order_ref(&mut self, symbol: Symbol, order: OrderRef<'_>) {
        self.put(b"{\"category\":\"linear\",\"symbol\":\"");
        self.put(symbol.as_str().as_bytes());
        match order {
            OrderRef::Client(id) => {
                let link = self.ids.link_id(id);
                self.put(b"\",\"orderLinkId\":\"");
                self.put(link.as_str().as_bytes());
            }
            OrderRef::Venue(order_id) => {
                self.put(b"\",\"orderId\":\"");
                self.put_escaped(order_id.as_bytes());
            }
        }
        self.put(b"\"");
    }

    /// `{"reqId":..,"header":{..},"op":OP,"args":[` into a cleared buffer.
    fn head(&mut self, req_seq: u64, now_ms: u64, op: &[u8]) {
        let mut req_id = [0; MAX_ID_LEN];
        let len = self.ids.req_id(req_seq, &mut req_id);
        let mut digits = [0; 20];
        self.buf.clear();
        self.put(b"{\"reqId\":\"");
        self.put(&req_id[..len]);
        self.put(b"\",\"header\":{\"X-BAPI-TIMESTAMP\":\"");
        self.put(decimal(now_ms, &mut digits));
        self.put(b"\",\"X-BAPI-RECV-WINDOW\":\"");
        self.put(decimal(self.recv_window_ms, &mut digits));
        self.put(b"\"},\"op\":\"");
        self.put(op);
        self.put(b"\",\"args\":[");
    }

    fn put(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// A venue id into a JSON string: ids are `[A-Za-z0-9-]`; anything else is dropped rather
    /// than let break the request.
    fn put_escaped(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
                self.buf.push(byte);
            }
        }
    }
}

/// The operation a trade-stream reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TradeOp {
    /// `auth`.
    Auth,
    /// `order.create`.
    Create,
    /// `order.amend`.
    Amend,
    /// `order.cancel`.
    Cancel,
    /// `pong`.
    Pong,
    /// Anything else (batch ops, which this engine does not send).
    Other,
}

impl TradeOp {
    fn from_bybit(op: &str) -> TradeOp {
        match op {
            "auth" => TradeOp::Auth,
            "order.create" => TradeOp::Create,
            "order.amend" => TradeOp::Amend,
            "order.cancel" => TradeOp::Cancel,
            "pong" | "ping" => TradeOp::Pong,
            _ => TradeOp::Other,
        }
    }
}

/// The rate-limit header of a reply (`X-Bapi-Limit*`; absent on some replies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitStatus {
    /// Requests allowed per window.
    pub limit: u32,
    /// Requests left in the window.
    pub remaining: u32,
    /// When the window resets, ms.
    pub reset_ms: u64,
}

/// A trade-stream reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradeReply {
    /// The operation.
    pub op: TradeOp,
    /// The request id echoed (`""` when none, as for auth and pong).
    pub req_id: ShortText,
    /// 0 for success.
    pub ret_code: i64,
    /// The venue's message.
    pub ret_msg: ShortText,
    /// The venue's order id (`""` when none).
    pub order_id: OrderIdText,
    /// The client's order id (`""` when none).
    pub order_link_id: OrderIdText,
    /// The rate-limit header, when present and complete.
    pub limit: Option<LimitStatus>,
    /// Server time, ms (`Timenow`, or a pong's `data[0]`), when present.
    pub server_time: Option<u64>,
}

/// Decoder of trade-stream replies; reuses its buffers across frames.
pub struct TradeReplyDecoder {
    json: JsonScratch,
}

impl Default for TradeReplyDecoder {
    fn default() -> Self {
        TradeReplyDecoder::new()
    }
}

impl TradeReplyDecoder {
    /// A decoder.
    pub fn new() -> TradeReplyDecoder {
        TradeReplyDecoder {
            json: JsonScratch::new(16 * 1024),
        }
    }

    /// Decodes the reply held in `frame` (its bytes may be rewritten in place).
    pub fn decode(&mut self, frame: &mut FrameBuf) -> Result<TradeReply, DecodeError> {
        self.json.parse(frame, |root| {
            let object = root.as_object().ok_or(DecodeError::NotAnObject)?;
            let mut reply = TradeReply {
                op: TradeOp::Other,
                req_id: ShortText::EMPTY,
                ret_code: 0,
                ret_msg: ShortText::EMPTY,
                order_id: OrderIdText::EMPTY,
                order_link_id: OrderIdText::EMPTY,
                limit: None,
                server_time: None,
            };
            let (mut saw_op, mut saw_code) = (false, false);
            for (key, value) in object.iter() {
                match key {
                    "op" => {
                        reply.op = TradeOp::from_bybit(text(value, "op")?);
                        saw_op = true;
                    }
                    "reqId" => reply.req_id = ShortText::truncated(text(value, "reqId")?),
                    "retCode" => {
                        reply.ret_code = value.as_i64().ok_or(DecodeError::BadField("retCode"))?;
                        saw_code = true;
                    }
                    "retMsg" => reply.ret_msg = ShortText::truncated(text(value, "retMsg")?),
                    "data" => read_data(value, &mut reply)?,
                    "header" => read_header(value, &mut reply)?,
                    _ => {}
                }
            }
            if !saw_op {
                return Err(DecodeError::MissingField("op"));
            }
            if !saw_code {
                return Err(DecodeError::MissingField("retCode"));
            }
            Ok(reply)
        })
    }
}

/// `data`: `{orderId, orderLinkId}` of an order op, `["<ms>"]` of a pong.
fn read_data(
    value: simd_json::value::tape::Value<'_, '_>,
    reply: &mut TradeReply,
) -> Result<(), DecodeError> {
    if let Some(array) = value.as_array() {
        if let Some(first) = array.get(0) {
            reply.server_time = Some(millis(first, "data")?);
        }
        return Ok(());
    }
    let Some(object) = value.as_object() else {
        return Ok(());
    };
    for (key, value) in object.iter() {
        let target = match key {
            "orderId" => &mut reply.order_id,
            "orderLinkId" => &mut reply.order_link_id,
            _ => continue,
        };
        *target = OrderIdText::new(value.into_string().ok_or(DecodeError::BadField("data"))?)
            .map_err(|_| DecodeError::BadField("data"))?;
    }
    Ok(())
}

/// `header`: the rate-limit fields and the server time, all strings.
fn read_header(
    value: simd_json::value::tape::Value<'_, '_>,
    reply: &mut TradeReply,
) -> Result<(), DecodeError> {
    let object = value.as_object().ok_or(DecodeError::BadField("header"))?;
    let (mut limit, mut remaining, mut reset) = (None, None, None);
    for (key, value) in object.iter() {
        match key {
            "X-Bapi-Limit" => limit = Some(millis(value, "header.X-Bapi-Limit")?),
            "X-Bapi-Limit-Status" => remaining = Some(millis(value, "header.X-Bapi-Limit-Status")?),
            "X-Bapi-Limit-Reset-Timestamp" => {
                reset = Some(millis(value, "header.X-Bapi-Limit-Reset-Timestamp")?)
            }
            "Timenow" => reply.server_time = Some(millis(value, "header.Timenow")?),
            _ => {}
        }
    }
    if let (Some(limit), Some(remaining), Some(reset_ms)) = (limit, remaining, reset) {
        reply.limit = Some(LimitStatus {
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_ms,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    #[test]
    fn link_ids_map_back_to_this_runs_orders_only() {
        let ids = LinkIds::new("e1abc").unwrap();
        assert_eq!(ids.link_id(OrderId(42)), "e1abc-42");
        assert_eq!(ids.order_id("e1abc-42"), Some(OrderId(42)));
        assert_eq!(ids.order_id("e1abd-42"), None);
        assert_eq!(ids.order_id("e1abc-4x"), None);
        assert_eq!(ids.order_id("e1abc-"), None);
        assert_eq!(ids.order_id(""), None);
        let longest = ids.link_id(OrderId(u64::MAX));
        assert!(longest.as_str().len() <= MAX_ID_LEN);
        let widest = LinkIds::new(&"z".repeat(MAX_PREFIX_LEN)).unwrap();
        assert_eq!(widest.link_id(OrderId(u64::MAX)).as_str().len(), MAX_ID_LEN);
        assert_eq!(
            widest.order_id(widest.link_id(OrderId(u64::MAX)).as_str()),
            Some(OrderId(u64::MAX))
        );
    }

    #[test]
    fn bad_prefixes_are_refused() {
        for bad in ["", "a-b", "a b", &"z".repeat(MAX_PREFIX_LEN + 1)] {
            assert_eq!(
                LinkIds::new(bad),
                Err(PrefixError::Invalid { len: bad.len() })
            );
        }
    }

    #[test]
    fn a_runs_prefix_is_its_start_time_in_base_36() {
        // 1_700_000_000_000 is "loyw3v28" in base 36.
        assert_eq!(LinkIds::for_run(1_700_000_000_000).prefix(), "eloyw3v28");
        assert_eq!(LinkIds::for_run(0).prefix(), "e0");
    }

    #[test]
    fn requests_are_written_exactly() {
        let mut writer = TradeWriter::new(LinkIds::new("e1").unwrap(), 5000);
        let symbol = Symbol::new("BTCUSDT").unwrap();
        let order = NewOrder {
            id: OrderId(7),
            symbol,
            side: Side::Buy,
            price: fx("60000.10"),
            qty: fx("0.010"),
            reduce_only: false,
        };
        assert_eq!(
            std::str::from_utf8(writer.create(3, 1_700_000_000_000, &order)).unwrap(),
            r#"{"reqId":"e1-r3","header":{"X-BAPI-TIMESTAMP":"1700000000000","X-BAPI-RECV-WINDOW":"5000"},"op":"order.create","args":[{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.01","price":"60000.1","timeInForce":"PostOnly","positionIdx":0,"orderLinkId":"e1-7","reduceOnly":false}]}"#
        );
        let exit = NewOrder {
            side: Side::Sell,
            reduce_only: true,
            ..order
        };
        assert_eq!(
            std::str::from_utf8(writer.create_body(&exit)).unwrap(),
            r#"{"category":"linear","symbol":"BTCUSDT","side":"Sell","orderType":"Limit","qty":"0.01","price":"60000.1","timeInForce":"PostOnly","positionIdx":0,"orderLinkId":"e1-7","reduceOnly":true}"#
        );
        assert_eq!(
            std::str::from_utf8(writer.amend(
                4,
                5,
                symbol,
                OrderRef::Client(OrderId(7)),
                fx("60000.2"),
                fx("0.02")
            ))
            .unwrap(),
            r#"{"reqId":"e1-r4","header":{"X-BAPI-TIMESTAMP":"5","X-BAPI-RECV-WINDOW":"5000"},"op":"order.amend","args":[{"category":"linear","symbol":"BTCUSDT","orderLinkId":"e1-7","qty":"0.02","price":"60000.2"}]}"#
        );
        assert_eq!(
            std::str::from_utf8(writer.cancel(5, 6, symbol, OrderRef::Venue("9aac161b-8ed6\"x")))
                .unwrap(),
            r#"{"reqId":"e1-r5","header":{"X-BAPI-TIMESTAMP":"6","X-BAPI-RECV-WINDOW":"5000"},"op":"order.cancel","args":[{"category":"linear","symbol":"BTCUSDT","orderId":"9aac161b-8ed6x"}]}"#
        );
        assert_eq!(writer.ping(), br#"{"op":"ping"}"#);
    }

    #[test]
    fn the_auth_request_carries_the_key_expiry_and_signature() {
        let signer = Signer::new("test_api_key", "test_secret").unwrap();
        let mut writer = TradeWriter::new(LinkIds::new("e1").unwrap(), 5000);
        // The nautilus_trader WebSocket vector.
        assert_eq!(
            std::str::from_utf8(writer.auth(&signer, 1_700_000_000_000)).unwrap(),
            r#"{"op":"auth","args":["test_api_key",1700000000000,"bacffe7500499eb829bb58c45d36d1b3e5ac67c14eaeba91df5e99ccee013925"]}"#
        );
    }
}

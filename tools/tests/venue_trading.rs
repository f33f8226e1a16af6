//! `toolkit venue` trades: the private and trade streams and the order endpoints, served from
//! the paper matching engine, spoken to with the engine's own transport, request writer and
//! decoders. Post-only rejects, resting orders, cancels, fills with their execution, position
//! and wallet pushes, reduce-only exits, and every refusal at the door in Bybit's words.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::{Venue, WAIT, rest_client};
use feed::bybit::limits::Endpoint as Bucket;
use feed::bybit::private::{
    Execution, OrderStatus, OrderUpdate, PositionUpdate, PrivateControl, PrivateDecoder,
    PrivateMessage,
};
use feed::bybit::rest::replies::{order_page, position_page};
use feed::bybit::rest::{Method, RestClient};
use feed::bybit::sign::Signer;
use feed::bybit::trade::{
    LinkIds, NewOrder, OrderRef, TradeOp, TradeReply, TradeReplyDecoder, TradeWriter,
};
use feed::net::{Endpoint, WsConnection, WsRead, connect};
use feed::order::OrderId;
use feed::{Fixed, FrameBuf, Side, Symbol};

const KEY: &str = "tradekey01";
const SECRET: &str = "trade-secret-5b1e";
/// How long a fill may take in the simulated market.
const FILL_WAIT: Duration = Duration::from_secs(90);

fn fx(text: &str) -> Fixed {
    text.parse().unwrap()
}

fn now_ms() -> u64 {
    feed::bybit::rest::local_ms()
}

/// A WebSocket to the venue, read until a whole message.
struct Stream {
    conn: WsConnection,
    frame: FrameBuf,
}

impl Stream {
    fn open(venue: &Venue, path: &str) -> Stream {
        let conn = connect(&Endpoint::parse(&venue.url(path)).unwrap(), None, WAIT).unwrap();
        Stream {
            conn,
            frame: FrameBuf::with_capacity(1 << 16),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.conn.send_text(bytes).unwrap();
    }

    /// The next message, within `within`.
    fn next(&mut self, within: Duration) -> Option<&mut FrameBuf> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            match self.conn.read_message(&mut self.frame).unwrap() {
                WsRead::Message => return Some(&mut self.frame),
                WsRead::Idle => std::thread::sleep(Duration::from_millis(1)),
                WsRead::Closed => panic!("the venue closed the stream"),
            }
        }
        None
    }
}

/// The private stream, authenticated and subscribed to everything.
struct Private {
    stream: Stream,
    decoder: PrivateDecoder,
}

impl Private {
    fn open(venue: &Venue, writer: &mut TradeWriter, signer: &Signer) -> Private {
        let mut private = Private {
            stream: Stream::open(venue, "/v5/private"),
            decoder: PrivateDecoder::new(),
        };
        private.stream.send(writer.auth(signer, now_ms() + 10_000));
        assert_eq!(
            private.control(),
            PrivateControl::Auth {
                success: true,
                message: Default::default()
            }
        );
        private
            .stream
            .send(br#"{"op":"subscribe","req_id":"all","args":["order","execution","position","wallet"]}"#);
        assert!(matches!(
            private.control(),
            PrivateControl::Subscribed { success: true, .. }
        ));
        private
    }

    fn control(&mut self) -> PrivateControl {
        let frame = self.stream.next(WAIT).expect("a control reply");
        match self.decoder.decode(frame).unwrap() {
            PrivateMessage::Control(reply) => reply,
            other => panic!("{other:?}"),
        }
    }

    /// Pushes until `until` finds what it wants, within `within`: the orders, executions and
    /// positions seen on the way.
    fn until(
        &mut self,
        within: Duration,
        mut until: impl FnMut(&[OrderUpdate], &[Execution], &[PositionUpdate]) -> bool,
    ) -> (Vec<OrderUpdate>, Vec<Execution>, Vec<PositionUpdate>) {
        let deadline = Instant::now() + within;
        let (mut orders, mut executions, mut positions) = (Vec::new(), Vec::new(), Vec::new());
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = self
                .stream
                .next(left)
                .unwrap_or_else(|| panic!("not seen within {within:?}: {orders:?} {executions:?}"));
            match self.decoder.decode(frame).unwrap() {
                PrivateMessage::Orders { orders: got, .. } => orders.extend_from_slice(got),
                PrivateMessage::Executions {
                    executions: got, ..
                } => executions.extend_from_slice(got),
                PrivateMessage::Positions { positions: got, .. } => {
                    positions.extend_from_slice(got)
                }
                PrivateMessage::Wallet { .. }
                | PrivateMessage::Dcp { .. }
                | PrivateMessage::Control(_) => {}
            }
            if until(&orders, &executions, &positions) {
                return (orders, executions, positions);
            }
        }
    }
}

/// The trade stream, authenticated.
struct Trade {
    stream: Stream,
    decoder: TradeReplyDecoder,
    seq: u64,
}

impl Trade {
    fn open(venue: &Venue, writer: &mut TradeWriter, signer: &Signer) -> Trade {
        let mut trade = Trade {
            stream: Stream::open(venue, "/v5/trade"),
            decoder: TradeReplyDecoder::new(),
            seq: 0,
        };
        trade.stream.send(writer.auth(signer, now_ms() + 10_000));
        let reply = trade.reply();
        assert_eq!((reply.op, reply.ret_code), (TradeOp::Auth, 0), "{reply:?}");
        trade
    }

    fn reply(&mut self) -> TradeReply {
        let frame = self.stream.next(WAIT).expect("a trade reply");
        self.decoder.decode(frame).unwrap()
    }

    fn create(&mut self, writer: &mut TradeWriter, order: &NewOrder) -> TradeReply {
        self.seq += 1;
        self.stream.send(writer.create(self.seq, now_ms(), order));
        self.reply()
    }

    fn cancel(&mut self, writer: &mut TradeWriter, order: OrderRef<'_>) -> TradeReply {
        self.seq += 1;
        let symbol = Symbol::new("BTCUSDT").unwrap();
        self.stream
            .send(writer.cancel(self.seq, now_ms(), symbol, order));
        self.reply()
    }
}

fn open_orders(client: &RestClient) -> Vec<OrderUpdate> {
    let answer = client
        .call(
            Method::Get,
            "/v5/order/realtime",
            "category=linear&symbol=BTCUSDT",
            Some(Bucket::Query),
        )
        .unwrap();
    order_page(&answer.body).unwrap().items
}

fn position(client: &RestClient) -> Fixed {
    let answer = client
        .call(
            Method::Get,
            "/v5/position/list",
            "category=linear&symbol=BTCUSDT",
            Some(Bucket::Query),
        )
        .unwrap();
    let page = position_page(&answer.body).unwrap();
    assert_eq!(page.items.len(), 1);
    page.items[0].signed_size()
}

/// The venue's best bid and ask.
fn touch(venue: &Venue) -> (Fixed, Fixed) {
    let book = venue.orderbook(1);
    let bid = common::levels_of(&book["b"])[0].0;
    let ask = common::levels_of(&book["a"])[0].0;
    (bid, ask)
}

fn order(id: u64, side: Side, price: Fixed, qty: &str, reduce_only: bool) -> NewOrder {
    NewOrder {
        id: OrderId(id),
        symbol: Symbol::new("BTCUSDT").unwrap(),
        side,
        price,
        qty: fx(qty),
        reduce_only,
    }
}

#[test]
fn orders_rest_reject_cancel_and_fill_as_the_private_stream_and_rest_report() {
    let venue = Venue::start_with_credentials(
        &["--regime", "high-vol", "--seed", "3"],
        Some((KEY, SECRET)),
    );
    let signer = Signer::new(KEY, SECRET).unwrap();
    let ids = LinkIds::new("t1").unwrap();
    let mut writer = TradeWriter::new(ids, 5000);
    let mut private = Private::open(&venue, &mut writer, &signer);
    let mut trade = Trade::open(&venue, &mut writer, &signer);
    let client = rest_client(&venue, KEY, SECRET);
    let tick = fx("0.1");

    // A post-only buy at the ask would take: accepted at the door, then cancelled by the
    // matching engine with EC_PostOnlyWillTakeLiquidity.
    let (_, ask) = touch(&venue);
    let ack = trade.create(&mut writer, &order(1, Side::Buy, ask, "0.010", false));
    assert_eq!(
        (ack.op, ack.ret_code, ack.order_link_id.as_str()),
        (TradeOp::Create, 0, "t1-1")
    );
    assert_eq!(ack.req_id, "t1-r1");
    let (orders, _, _) = private.until(WAIT, |orders, _, _| !orders.is_empty());
    assert_eq!(orders[0].order_link_id, "t1-1");
    assert_eq!(orders[0].order_id, ack.order_id);
    assert!(orders[0].is_post_only_reject(), "{:?}", orders[0]);
    assert!(open_orders(&client).is_empty());

    // A buy far under the touch rests, is listed, and is cancelled on request.
    let (bid, _) = touch(&venue);
    let far = Fixed::from_raw(bid.raw() - 500 * tick.raw());
    let ack = trade.create(&mut writer, &order(2, Side::Buy, far, "0.010", false));
    assert_eq!(ack.ret_code, 0, "{ack:?}");
    let (orders, _, _) = private.until(WAIT, |orders, _, _| !orders.is_empty());
    assert_eq!(
        (orders[0].status, orders[0].price),
        (OrderStatus::New, Some(far))
    );
    let listed = open_orders(&client);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].order_link_id.as_str(), listed[0].qty),
        ("t1-2", fx("0.01"))
    );
    let ack = trade.cancel(&mut writer, OrderRef::Client(OrderId(2)));
    assert_eq!((ack.op, ack.ret_code), (TradeOp::Cancel, 0), "{ack:?}");
    let (orders, _, _) = private.until(WAIT, |orders, _, _| !orders.is_empty());
    assert_eq!(orders[0].status, OrderStatus::Cancelled);
    assert_eq!(orders[0].cancel_type, "CancelByUser");
    assert!(!orders[0].is_post_only_reject());
    assert!(open_orders(&client).is_empty());
    // Cancelling it again: already gone.
    let again = trade.cancel(&mut writer, OrderRef::Client(OrderId(2)));
    assert_eq!(again.ret_code, 110001, "{again:?}");

    // Refusals at the door, in Bybit's words.
    let reduce = trade.create(&mut writer, &order(3, Side::Sell, ask, "0.010", true));
    assert_eq!(
        (reduce.ret_code, reduce.ret_msg.as_str()),
        (110017, "Reduce-only rule not satisfied")
    );
    let small = trade.create(&mut writer, &order(4, Side::Buy, far, "0.0001", false));
    assert_eq!(small.ret_code, 10001, "{small:?}");
    let off_tick = trade.create(
        &mut writer,
        &order(5, Side::Buy, fx("1000.05"), "0.010", false),
    );
    assert_eq!(off_tick.ret_code, 10001, "{off_tick:?}");
    let duplicate = trade.create(&mut writer, &order(2, Side::Buy, far, "0.010", false));
    assert_eq!(duplicate.ret_code, 110072, "{duplicate:?}");

    // A buy at the touch joins the queue and fills as sellers trade through it: the execution,
    // the order Filled, the position. (Should the touch move before the order arrives, it is a
    // post-only reject, and the next try goes to the new touch.)
    let mut entry = None;
    for id in 6..16 {
        let (bid, _) = touch(&venue);
        let ack = trade.create(&mut writer, &order(id, Side::Buy, bid, "0.001", false));
        assert_eq!(ack.ret_code, 0, "{ack:?}");
        let link = format!("t1-{id}");
        let seen = private.until(FILL_WAIT, |orders, executions, positions| {
            let mine = |order: &OrderUpdate| order.order_link_id == link.as_str();
            orders
                .iter()
                .any(|order| mine(order) && order.is_post_only_reject())
                || orders
                    .iter()
                    .any(|order| mine(order) && order.status == OrderStatus::Filled)
                    && !executions.is_empty()
                    && !positions.is_empty()
        });
        if !seen.1.is_empty() {
            entry = Some((bid, seen));
            break;
        }
    }
    let (bid, (_, executions, positions)) = entry.expect("no entry filled in ten tries");
    let fill = &executions[0];
    assert!(fill.order_link_id.as_str().starts_with("t1-"), "{fill:?}");
    assert_eq!(
        (fill.exec_qty, fill.exec_price, fill.is_maker),
        (fx("0.001"), bid, true)
    );
    assert_eq!(
        fill.exec_fee,
        Some(Fixed::from_raw(
            bid.wide_mul(fx("0.001")) as i64 / 100_000_000 * 2 / 10_000
        ))
    );
    assert_eq!(positions.last().unwrap().signed_size(), fx("0.001"));
    assert_eq!(position(&client), fx("0.001"));

    // The reduce-only exit is taken now; offered at the ask until it fills, the position is
    // flat.
    let mut filled = false;
    for id in 20..30 {
        let (_, ask) = touch(&venue);
        let exit = trade.create(&mut writer, &order(id, Side::Sell, ask, "0.001", true));
        assert_eq!(exit.ret_code, 0, "{exit:?}");
        let link = format!("t1-{id}");
        let (orders, _, _) = private.until(FILL_WAIT, |orders, _, _| {
            orders
                .iter()
                .any(|order| order.order_link_id == link.as_str() && !order.status.is_open())
        });
        if orders
            .iter()
            .any(|order| order.status == OrderStatus::Filled)
        {
            filled = true;
            break;
        }
    }
    assert!(filled, "no exit filled in ten tries");
    private.until(WAIT, |_, _, positions| {
        positions
            .last()
            .is_some_and(|position| position.signed_size().is_zero())
    });
    assert_eq!(position(&client), Fixed::ZERO);
    assert!(open_orders(&client).is_empty());
}

#[test]
fn an_amend_moves_a_resting_order_under_its_ids_and_unauthenticated_orders_are_refused() {
    let venue = Venue::start_with_credentials(&[], Some((KEY, SECRET)));
    let signer = Signer::new(KEY, SECRET).unwrap();
    let mut writer = TradeWriter::new(LinkIds::new("t2").unwrap(), 5000);

    // Before auth: refused.
    let mut anonymous = Trade {
        stream: Stream::open(&venue, "/v5/trade"),
        decoder: TradeReplyDecoder::new(),
        seq: 0,
    };
    let (bid, _) = touch(&venue);
    let far = Fixed::from_raw(bid.raw() - 5_000_000_000);
    let refused = anonymous.create(&mut writer, &order(1, Side::Buy, far, "0.010", false));
    assert_eq!(
        (refused.ret_code, refused.ret_msg.as_str()),
        (10003, "Request not authorized")
    );
    // A wrong signature does not authenticate.
    anonymous
        .stream
        .send(writer.auth(&Signer::new(KEY, "wrong").unwrap(), now_ms() + 10_000));
    assert_eq!(anonymous.reply().ret_code, 10004);

    let mut private = Private::open(&venue, &mut writer, &signer);
    let mut trade = Trade::open(&venue, &mut writer, &signer);
    let ack = trade.create(&mut writer, &order(1, Side::Buy, far, "0.010", false));
    assert_eq!(ack.ret_code, 0, "{ack:?}");
    let (orders, _, _) = private.until(WAIT, |orders, _, _| !orders.is_empty());
    assert_eq!(orders[0].status, OrderStatus::New);
    let lower = Fixed::from_raw(far.raw() - 10_000_000);
    trade.seq += 1;
    let symbol = Symbol::new("BTCUSDT").unwrap();
    trade.stream.send(writer.amend(
        trade.seq,
        now_ms(),
        symbol,
        OrderRef::Client(OrderId(1)),
        lower,
        fx("0.02"),
    ));
    let amended = trade.reply();
    assert_eq!(
        (amended.op, amended.ret_code),
        (TradeOp::Amend, 0),
        "{amended:?}"
    );
    assert_eq!(amended.order_id, ack.order_id);
    let (orders, _, _) = private.until(WAIT, |orders, _, _| !orders.is_empty());
    assert_eq!(
        (
            orders[0].status,
            orders[0].price,
            orders[0].qty,
            orders[0].order_id
        ),
        (OrderStatus::New, Some(lower), fx("0.02"), ack.order_id)
    );
    let listed = open_orders(&rest_client(&venue, KEY, SECRET));
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].price, listed[0].qty), (Some(lower), fx("0.02")));
}

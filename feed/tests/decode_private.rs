//! Every private-stream fixture (copied from the shared Bybit fixtures, see SOURCES.md there)
//! decodes to exactly the expected message, field by field; the REST order captures, wrapped
//! as the `order` pushes they mirror, decode too; malformed pushes are clear errors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;

use feed::bybit::DecodeError;
use feed::bybit::private::{
    Category, CoinBalance, ExecType, Execution, OrderIdText, OrderStatus, OrderType, OrderUpdate,
    PositionUpdate, PrivateControl, PrivateDecoder, PrivateMessage, TimeInForce, WalletAccount,
};
use feed::bybit::public::ShortText;
use feed::{Fixed, FrameBuf, Side, Symbol};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/bybit")
            .join(name),
    )
    .unwrap()
}

fn fx(text: &str) -> Fixed {
    text.parse().unwrap()
}

fn some(text: &str) -> Option<Fixed> {
    Some(fx(text))
}

fn id(text: &str) -> OrderIdText {
    OrderIdText::new(text).unwrap()
}

fn short(text: &str) -> ShortText {
    ShortText::new(text).unwrap()
}

fn decode<'a>(
    decoder: &'a mut PrivateDecoder,
    frame: &'a mut FrameBuf,
    bytes: &[u8],
) -> Result<PrivateMessage<'a>, DecodeError> {
    frame.fill(bytes);
    decoder.decode(frame)
}

#[test]
fn a_linear_execution_decodes_field_by_field() {
    let (mut decoder, mut frame) = (PrivateDecoder::new(), FrameBuf::with_capacity(1 << 16));
    let bytes = fixture("ws_private_execution_linear.json");
    let message = decode(&mut decoder, &mut frame, &bytes).unwrap();
    let expected = Execution {
        category: Category::Linear,
        symbol: Symbol::new("BTCUSDT").unwrap(),
        exec_id: id("0ab1bdf7-4219-438b-b30a-32ec863018f7"),
        order_id: id("9aac161b-8ed6-450d-9cab-c5cc67c21784"),
        order_link_id: OrderIdText::EMPTY,
        side: Side::Sell,
        exec_price: fx("95900.1"),
        exec_qty: fx("0.5"),
        exec_value: some("47950.05"),
        exec_type: ExecType::Trade,
        exec_time: 1_746_270_400_353,
        is_maker: false,
        exec_fee: some("26.3725275"),
        fee_rate: some("0.00055"),
        leaves_qty: some("0"),
        order_price: some("94942.5"),
        order_qty: some("0.5"),
        closed_size: some("0.5"),
        exec_pnl: some("0.05"),
        mark_price: some("95901.48"),
        seq: 140_612_148_849_382,
    };
    assert_eq!(
        message,
        PrivateMessage::Executions {
            creation_time: 1_746_270_400_355,
            fast: false,
            executions: &[expected],
        }
    );
}

#[test]
fn a_fast_execution_decodes_with_the_fields_it_has() {
    let (mut decoder, mut frame) = (PrivateDecoder::new(), FrameBuf::with_capacity(1 << 16));
    let bytes = fixture("ws_private_fast_execution.json");
    let message = decode(&mut decoder, &mut frame, &bytes).unwrap();
    let expected = Execution {
        category: Category::Linear,
        symbol: Symbol::new("ICPUSDT").unwrap(),
        exec_id: id("3510f361-0add-5c7b-a2e7-9679810944fc"),
        order_id: id("443d63fa-b4c3-4297-b7b1-23bca88b04dc"),
        order_link_id: id("test-00001"),
        side: Side::Sell,
        exec_price: fx("12.015"),
        exec_qty: fx("3000"),
        exec_value: None,
        exec_type: ExecType::Unknown,
        exec_time: 1_716_800_399_334,
        is_maker: false,
        exec_fee: None,
        fee_rate: None,
        leaves_qty: None,
        order_price: None,
        order_qty: None,
        closed_size: None,
        exec_pnl: None,
        mark_price: None,
        seq: 34_771_365_464,
    };
    assert_eq!(
        message,
        PrivateMessage::Executions {
            creation_time: 1_716_800_399_338,
            fast: true,
            executions: &[expected],
        }
    );
}

#[test]
fn the_docs_order_push_decodes_field_by_field() {
    let (mut decoder, mut frame) = (PrivateDecoder::new(), FrameBuf::with_capacity(1 << 16));
    let bytes = fixture("ws_private_order.docs_option.json");
    let message = decode(&mut decoder, &mut frame, &bytes).unwrap();
    let expected = OrderUpdate {
        category: Category::Option,
        symbol: Symbol::new("ETH-30DEC22-1400-C").unwrap(),
        order_id: id("5cf98598-39a7-459e-97bf-76ca765ee020"),
        order_link_id: OrderIdText::EMPTY,
        side: Side::Sell,
        order_type: OrderType::Market,
        price: some("72.5"),
        qty: fx("1"),
        time_in_force: TimeInForce::Ioc,
        status: OrderStatus::Filled,
        reject_reason: short("EC_NoError"),
        cancel_type: short("UNKNOWN"),
        reduce_only: false,
        position_idx: 0,
        leaves_qty: None,
        cum_exec_qty: fx("1"),
        cum_exec_value: some("75"),
        avg_price: some("75"),
        created_time: 1_672_364_262_444,
        updated_time: 1_672_364_262_457,
    };
    assert_eq!(
        message,
        PrivateMessage::Orders {
            creation_time: 1_672_364_262_474,
            orders: &[expected],
        }
    );
    assert!(!expected.status.is_open());
    assert!(!expected.is_post_only_reject());
}

/// The `list` items of a REST order reply, wrapped as the `order` push they mirror.
fn as_order_push(rest_reply: &str) -> Vec<u8> {
    let reply: serde_json::Value = serde_json::from_slice(&fixture(rest_reply)).unwrap();
    serde_json::to_vec(&serde_json::json!({
        "id": "wrapped",
        "topic": "order",
        "creationTime": 1,
        "data": reply["result"]["list"],
    }))
    .unwrap()
}

#[test]
fn a_post_only_order_that_would_take_is_a_reject_not_a_cancel() {
    let (mut decoder, mut frame) = (PrivateDecoder::new(), FrameBuf::with_capacity(1 << 16));
    let bytes = as_order_push("rest_order_history_postonly_cancelled.json");
    let PrivateMessage::Orders { orders, .. } = decode(&mut decoder, &mut frame, &bytes).unwrap()
    else {
        panic!("not orders")
    };
    let expected = OrderUpdate {
        category: Category::Unknown,
        symbol: Symbol::new("BTCUSDT").unwrap(),
        order_id: id("14bad3a1-6454-43d8-bcf2-5345896cf74d"),
        order_link_id: id("YLxaWKMiHU"),
        side: Side::Buy,
        order_type: OrderType::Limit,
        price: some("26864.40"),
        qty: fx("0.003"),
        time_in_force: TimeInForce::PostOnly,
        status: OrderStatus::Cancelled,
        reject_reason: short("EC_PostOnlyWillTakeLiquidity"),
        cancel_type: short("UNKNOWN"),
        reduce_only: false,
        position_idx: 1,
        leaves_qty: some("0"),
        cum_exec_qty: fx("0"),
        cum_exec_value: some("0"),
        avg_price: some("0"),
        created_time: 1_684_476_068_369,
        updated_time: 1_684_476_068_372,
    };
    assert_eq!(orders, [expected]);
    assert!(orders[0].is_post_only_reject());
}

#[test]
fn a_captured_user_cancel_is_not_a_post_only_reject() {
    let (mut decoder, mut frame) = (PrivateDecoder::new(), FrameBuf::with_capacity(1 << 16));
    let bytes = as_order_push("rest_order_realtime_linear_XRPUSDT.captured.json");
    let PrivateMessage::Orders { orders, .. } = decode(&mut decoder, &mut frame, &bytes).unwrap()
    else {
        panic!("not orders")
    };
    let [order] = orders else {
        panic!("{orders:?}")
    };
    assert_eq!(order.symbol, "XRPUSDT");
    assert_eq!(order.order_id, "d7cae7eb-3c98-4116-85a8-b5857c226a8b");
    assert_eq!(
        (order.status, order.time_in_force),
        (OrderStatus::Cancelled, TimeInForce::Gtc)
    );
    assert_eq!((order.price, order.qty), (some("2.7862"), fx("4")));
    assert_eq!((order.leaves_qty, order.avg_price), (None, None));
    assert_eq!(order.cancel_type, "CancelByUser");
    assert_eq!(order.reject_reason, "EC_PerCancelRequest");
    assert_eq!(
        (order.created_time, order.updated_time),
        (1_737_695_479_611, 1_737_695_925_793)
    );
    assert!(!order.is_post_only_reject());
}

#[test]
fn a_flat_hedge_mode_position_decodes_field_by_field() {
    let (mut decoder, mut frame) = (PrivateDecoder::new(), FrameBuf::with_capacity(1 << 16));
    let bytes = fixture("ws_private_position_linear.json");
    let message = decode(&mut decoder, &mut frame, &bytes).unwrap();
    let expected = PositionUpdate {
        category: Category::Linear,
        symbol: Symbol::new("BTCUSDT").unwrap(),
        side: None,
        size: fx("0"),
        position_idx: 2,
        entry_price: some("0"),
        mark_price: some("28184.5"),
        liq_price: some("0"),
        leverage: some("10"),
        unrealised_pnl: some("0"),
        cur_realised_pnl: some("1.26"),
        cum_realised_pnl: some("-25.06579337"),
        status: short("Normal"),
        seq: 8_327_597_863,
        updated_time: 1_697_682_317_038,
    };
    assert_eq!(
        message,
        PrivateMessage::Positions {
            creation_time: 1_697_682_317_044,
            positions: &[expected],
        }
    );
    assert_eq!(expected.signed_size(), Fixed::ZERO);
}

#[test]
fn a_short_position_has_a_negative_signed_size() {
    let (mut decoder, mut frame) = (PrivateDecoder::new(), FrameBuf::with_capacity(1 << 16));
    let bytes = br#"{"topic":"position.linear","creationTime":5,"data":[{"symbol":"BTCUSDT","side":"Sell","size":"0.012","positionIdx":0,"avgPrice":"60000.5","liqPrice":""}]}"#;
    let PrivateMessage::Positions { positions, .. } =
        decode(&mut decoder, &mut frame, bytes).unwrap()
    else {
        panic!("not positions")
    };
    assert_eq!(positions[0].signed_size(), fx("-0.012"));
    assert_eq!(positions[0].entry_price, some("60000.5"));
    assert_eq!(positions[0].liq_price, None);
}

#[test]
fn a_unified_wallet_decodes_field_by_field() {
    let (mut decoder, mut frame) = (PrivateDecoder::new(), FrameBuf::with_capacity(1 << 16));
    let bytes = fixture("ws_private_wallet.json");
    let message = decode(&mut decoder, &mut frame, &bytes).unwrap();
    let account = WalletAccount {
        account_type: "UNIFIED".parse_inline(),
        total_equity: some("10262.91335023"),
        total_wallet_balance: some("9684.46297164"),
        total_margin_balance: some("9684.46297164"),
        total_available_balance: some("9556.6056555"),
        total_initial_margin: some("0"),
        total_maintenance_margin: some("0"),
        first_coin: 0,
        coin_count: 1,
    };
    let coin = CoinBalance {
        coin: "BTC".parse_inline(),
        equity: some("0.00102964"),
        wallet_balance: some("0.00102964"),
        unrealised_pnl: some("0"),
        cum_realised_pnl: some("-0.00000973"),
        locked: some("0"),
        usd_value: some("36.70759517"),
    };
    assert_eq!(
        message,
        PrivateMessage::Wallet {
            creation_time: 1_700_034_722_104,
            accounts: &[account],
            coins: &[coin],
        }
    );
    assert_eq!(account.coins(&[coin]), [coin]);
}

trait ParseInline {
    fn parse_inline<const N: usize>(self) -> feed::text::InlineStr<N>;
}

impl ParseInline for &str {
    fn parse_inline<const N: usize>(self) -> feed::text::InlineStr<N> {
        feed::text::InlineStr::new(self).unwrap()
    }
}

#[test]
fn control_replies_decode() {
    let (mut decoder, mut frame) = (PrivateDecoder::new(), FrameBuf::with_capacity(1 << 16));
    let cases = [
        (
            fixture("ws_private_auth_response.json"),
            PrivateControl::Auth {
                success: true,
                message: ShortText::EMPTY,
            },
        ),
        (
            fixture("ws_private_subscribe_response.json"),
            PrivateControl::Subscribed {
                success: true,
                req_id: ShortText::EMPTY,
                message: ShortText::EMPTY,
            },
        ),
        (
            fixture("ws_private_pong.json"),
            PrivateControl::Pong {
                server_time: Some(1_675_418_560_633),
            },
        ),
        (
            br#"{"success":false,"ret_msg":"Request not authorized","op":"auth","conn_id":"x"}"#
                .to_vec(),
            PrivateControl::Auth {
                success: false,
                message: short("Request not authorized"),
            },
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(
            decode(&mut decoder, &mut frame, &bytes).unwrap(),
            PrivateMessage::Control(expected)
        );
    }
}

#[test]
fn malformed_pushes_are_named_errors() {
    let (mut decoder, mut frame) = (PrivateDecoder::new(), FrameBuf::with_capacity(1 << 16));
    let cases: [(&[u8], DecodeError); 7] = [
        (b"{not json", DecodeError::InvalidJson { offset: 1 }),
        (b"[1]", DecodeError::NotAnObject),
        (br#"{"topic":"greeks","data":[]}"#, DecodeError::UnknownTopic),
        (br#"{"topic":"order"}"#, DecodeError::MissingField("data")),
        (
            br#"{"topic":"order","data":[{"symbol":"BTCUSDT","side":"Buy","qty":"1","orderStatus":"New"}]}"#,
            DecodeError::MissingField("orderId"),
        ),
        (
            br#"{"topic":"order","data":[{"symbol":"BTCUSDT","orderId":"a","side":"Buy","qty":"1","orderStatus":"Sleeping"}]}"#,
            DecodeError::BadField("orderStatus"),
        ),
        (
            br#"{"topic":"execution","data":[{"symbol":"BTCUSDT","execId":"e","orderId":"a","side":"Buy","execPrice":"1.2.3","execQty":"1"}]}"#,
            DecodeError::BadNumber {
                field: "execPrice",
                error: "1.2.3".parse::<Fixed>().unwrap_err(),
            },
        ),
    ];
    for (bytes, expected) in cases {
        let got = decode(&mut decoder, &mut frame, bytes);
        assert_eq!(got, Err(expected), "{}", String::from_utf8_lossy(bytes));
    }
}

//! Every trade-stream reply fixture (copied from the shared Bybit fixtures, see SOURCES.md
//! there) decodes to exactly the expected reply; malformed replies are clear errors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;

use feed::FrameBuf;
use feed::bybit::DecodeError;
use feed::bybit::private::OrderIdText;
use feed::bybit::public::ShortText;
use feed::bybit::trade::{LimitStatus, TradeOp, TradeReply, TradeReplyDecoder};

fn decode(bytes: &[u8]) -> Result<TradeReply, DecodeError> {
    let mut frame = FrameBuf::with_capacity(1 << 14);
    frame.fill(bytes);
    TradeReplyDecoder::new().decode(&mut frame)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/bybit")
            .join(name),
    )
    .unwrap()
}

fn short(text: &str) -> ShortText {
    ShortText::new(text).unwrap()
}

const EMPTY_REPLY: TradeReply = TradeReply {
    op: TradeOp::Other,
    req_id: ShortText::EMPTY,
    ret_code: 0,
    ret_msg: ShortText::EMPTY,
    order_id: OrderIdText::EMPTY,
    order_link_id: OrderIdText::EMPTY,
    limit: None,
    server_time: None,
};

#[test]
fn an_order_create_ack_decodes_with_its_rate_limit_header() {
    assert_eq!(
        decode(&fixture("ws_trade_order_create_response.json")).unwrap(),
        TradeReply {
            op: TradeOp::Create,
            req_id: short("test-005"),
            ret_code: 0,
            ret_msg: short("OK"),
            order_id: OrderIdText::new("a4c1718e-fe53-4659-a118-1f6ecce04ad9").unwrap(),
            order_link_id: OrderIdText::EMPTY,
            limit: Some(LimitStatus {
                limit: 10,
                remaining: 9,
                reset_ms: 1_711_001_595_208,
            }),
            server_time: Some(1_711_001_595_209),
        }
    );
}

#[test]
fn auth_pong_and_batch_replies_decode() {
    assert_eq!(
        decode(&fixture("ws_trade_auth_response.json")).unwrap(),
        TradeReply {
            op: TradeOp::Auth,
            ret_msg: short("OK"),
            ..EMPTY_REPLY
        }
    );
    assert_eq!(
        decode(&fixture("ws_trade_pong_response.json")).unwrap(),
        TradeReply {
            op: TradeOp::Pong,
            ret_msg: short("OK"),
            server_time: Some(1_711_002_002_529),
            ..EMPTY_REPLY
        }
    );
    // A batch op is not one this engine sends: its op is Other, the header still read.
    assert_eq!(
        decode(&fixture("ws_trade_order_create_batch_response.json")).unwrap(),
        TradeReply {
            op: TradeOp::Other,
            ret_msg: short("OK"),
            limit: Some(LimitStatus {
                limit: 150,
                remaining: 147,
                reset_ms: 1_740_453_408_555,
            }),
            server_time: Some(1_740_453_408_556),
            ..EMPTY_REPLY
        }
    );
}

#[test]
fn an_error_reply_keeps_its_code_and_message_and_a_partial_header_is_no_limit() {
    let reply = br#"{"reqId":"e1-r9","retCode":10006,"retMsg":"Too many visits!","op":"order.create","data":{},"header":{"X-Bapi-Limit":"10","Timenow":"5"},"connId":"x"}"#;
    assert_eq!(
        decode(reply).unwrap(),
        TradeReply {
            op: TradeOp::Create,
            req_id: short("e1-r9"),
            ret_code: 10006,
            ret_msg: short("Too many visits!"),
            server_time: Some(5),
            ..EMPTY_REPLY
        }
    );
}

#[test]
fn malformed_replies_are_named_errors() {
    let cases: [(&[u8], DecodeError); 4] = [
        (b"[]", DecodeError::NotAnObject),
        (br#"{"retCode":0}"#, DecodeError::MissingField("op")),
        (
            br#"{"op":"order.cancel"}"#,
            DecodeError::MissingField("retCode"),
        ),
        (
            br#"{"op":"order.cancel","retCode":"0"}"#,
            DecodeError::BadField("retCode"),
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(
            decode(bytes),
            Err(expected),
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

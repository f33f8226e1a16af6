//! The REST replies the engine reads (captured Bybit answers and the docs' examples, copied
//! from the shared fixtures, see SOURCES.md there) decode field by field; every captured error
//! answer means what the protocol notes say it means.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;

use feed::bybit::codes::{Outcome, Request, classify};
use feed::bybit::private::{Category, OrderStatus, TimeInForce};
use feed::bybit::rest::replies::{
    ApiKeyInfo, FeeRate, FeeRates, InstrumentsPage, RuleMismatch, ServerTime, WalletBalances,
    order_page, position_page, rule_mismatches,
};
use feed::bybit::rest::{Answer, Method, result_of};
use feed::order::RejectReason;
use feed::{Fixed, Side};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/bybit")
            .join(name),
    )
    .unwrap()
}

fn result<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let answer = Answer {
        ret_code: 0,
        body: fixture(name),
        time_ms: 0,
    };
    result_of(Method::Get, "/test", &answer).unwrap()
}

fn fx(text: &str) -> Fixed {
    text.parse().unwrap()
}

#[test]
fn the_captured_btcusdt_rules_decode_and_their_old_max_qty_is_named() {
    let page: InstrumentsPage = result("rest_instruments_info_linear_BTCUSDT.captured.json");
    let [info] = page.list.as_slice() else {
        panic!("{page:?}")
    };
    assert_eq!(
        (info.symbol.as_str(), info.status.as_str()),
        ("BTCUSDT", "Trading")
    );
    assert_eq!(info.price_filter.tick_size, fx("0.10"));
    let lot = info.lot_size_filter;
    assert_eq!(
        (
            lot.qty_step,
            lot.min_order_qty,
            lot.max_order_qty,
            lot.min_notional_value
        ),
        (fx("0.001"), fx("0.001"), fx("100.000"), None)
    );
    let leverage = info.leverage_filter;
    assert_eq!(
        (
            leverage.min_leverage,
            leverage.max_leverage,
            leverage.leverage_step
        ),
        (fx("1"), fx("100.00"), fx("0.01"))
    );
    assert_eq!(page.next_cursor, "");
    // symbols.yml holds today's 1190 BTC; this 2023 capture allowed 100. The minimum notional
    // is not in the capture, so it is not compared.
    assert_eq!(
        rule_mismatches(&feed::fixtures::btcusdt(), info),
        [RuleMismatch {
            field: "max_qty",
            configured: fx("1190"),
            venue: fx("100"),
        }]
    );
    assert_eq!(
        rule_mismatches(&feed::fixtures::btcusdt(), info)[0].to_string(),
        "max_qty is 1190 in symbols.yml but 100 at the venue"
    );
}

#[test]
fn the_docs_instrument_list_carries_the_minimum_notional() {
    let page: InstrumentsPage = result("rest_instruments_info_linear.json");
    assert!(!page.list.is_empty());
    assert_eq!(
        page.list[0].lot_size_filter.min_notional_value,
        Some(fx("5"))
    );
}

#[test]
fn fee_rates_server_time_and_the_wallet_decode() {
    let fees: FeeRates = result("rest_fee_rate_response.json");
    assert_eq!(
        fees.list,
        [FeeRate {
            symbol: "ETHUSDT".to_owned(),
            maker_fee_rate: fx("0.0001"),
            taker_fee_rate: fx("0.0006"),
        }]
    );
    let time: ServerTime = result("rest_server_time_response.captured.json");
    assert_eq!(time.millis(), Some(1_696_233_582_169));
    let wallets: WalletBalances = result("rest_wallet_balance_unified.captured.json");
    let [wallet] = wallets.list.as_slice() else {
        panic!("{wallets:?}")
    };
    assert_eq!(wallet.account_type, "UNIFIED");
    assert_eq!(
        (
            wallet.total_equity,
            wallet.total_wallet_balance,
            wallet.total_available_balance
        ),
        (
            Some(fx("999.729")),
            Some(fx("839.77236")),
            Some(fx("839.77236"))
        )
    );
}

#[test]
fn the_api_key_answer_names_the_account() {
    let answer = Answer {
        ret_code: 0,
        body: br#"{"retCode":0,"retMsg":"","result":{"id":"13770661","note":"engine","apiKey":"XXXX","readOnly":0,"secret":"","permissions":{},"ips":["*"],"type":1,"deadlineDay":83,"expiredAt":"","createdAt":"","unified":0,"uta":0,"userID":24617703,"inviterID":0,"vipLevel":"No VIP","mktMakerLevel":"0","affiliateID":0},"retExtInfo":{},"time":1697525990798}"#.to_vec(),
        time_ms: 0,
    };
    let info: ApiKeyInfo = result_of(Method::Get, "/v5/user/query-api", &answer).unwrap();
    assert_eq!(
        info,
        ApiKeyInfo {
            user_id: 24_617_703,
            read_only: 0,
            note: "engine".to_owned(),
        }
    );
}

#[test]
fn order_and_position_lists_decode_with_the_stream_readers() {
    let orders = order_page(&fixture("rest_order_realtime_linear_XRPUSDT.captured.json")).unwrap();
    assert_eq!(orders.items.len(), 1);
    assert_eq!(
        orders.items[0].order_id,
        "d7cae7eb-3c98-4116-85a8-b5857c226a8b"
    );
    assert_eq!(orders.items[0].status, OrderStatus::Cancelled);
    assert_eq!(orders.items[0].time_in_force, TimeInForce::Gtc);
    assert!(
        orders
            .next_cursor
            .starts_with("d7cae7eb-3c98-4116-85a8-b5857c226a8b%3A")
    );
    let empty = order_page(&fixture("rest_order_realtime_empty.captured.json")).unwrap();
    assert!(empty.items.is_empty());
    let positions = position_page(&fixture("rest_position_list_response_linear.json")).unwrap();
    let [position] = positions.items.as_slice() else {
        panic!("{positions:?}")
    };
    assert_eq!(position.symbol, "XRPUSDT");
    assert_eq!((position.side, position.size), (Some(Side::Buy), fx("100")));
    assert_eq!(position.signed_size(), fx("100"));
    assert_eq!(position.entry_price, Some(fx("0.3615")));
    assert_eq!(position.liq_price, Some(fx("0.0001")));
    assert_eq!(position.leverage, Some(fx("10")));
    assert_eq!(position.category, Category::Unknown);
    assert_eq!(position.position_idx, 0);
    assert_eq!(positions.next_cursor, "updateAt%3D1672279322668");
}

#[test]
fn every_captured_error_means_what_the_notes_say() {
    let cases = [
        (
            "rest_error_10001_cancel_missing_id.captured.json",
            Request::Cancel,
            Outcome::Rejected(RejectReason::InvalidOrder),
        ),
        (
            "rest_error_10001_position_idx_mismatch.captured.json",
            Request::Create,
            Outcome::Rejected(RejectReason::InvalidOrder),
        ),
        (
            "rest_error_10001_qty_below_min.captured.json",
            Request::Create,
            Outcome::Rejected(RejectReason::InvalidOrder),
        ),
        (
            "rest_error_10001_side_invalid.captured.json",
            Request::Create,
            Outcome::Rejected(RejectReason::InvalidOrder),
        ),
        (
            "rest_error_10002_recv_window.captured.json",
            Request::Create,
            Outcome::ClockSkew,
        ),
        (
            "rest_error_10002_recv_window_2.captured.json",
            Request::Other,
            Outcome::ClockSkew,
        ),
        (
            "rest_error_10003_invalid_api_key.captured.json",
            Request::Other,
            Outcome::Fatal,
        ),
        (
            "rest_error_10004_error_sign.captured.json",
            Request::Other,
            Outcome::Fatal,
        ),
        (
            "rest_error_10010_unmatched_ip.captured.json",
            Request::Other,
            Outcome::Fatal,
        ),
        (
            "rest_error_110001_order_not_exist.captured.json",
            Request::Cancel,
            Outcome::AlreadyGone,
        ),
        (
            "rest_error_110003_price_out_of_range.captured.json",
            Request::Create,
            Outcome::Rejected(RejectReason::InvalidOrder),
        ),
        (
            "rest_error_110017_reduce_only_not_satisfied.captured.json",
            Request::Create,
            Outcome::Rejected(RejectReason::ReduceOnlyNotSatisfied),
        ),
        (
            "rest_error_110025_position_mode_not_modified.captured.json",
            Request::Other,
            Outcome::NotModified,
        ),
        (
            "rest_error_110043_leverage_not_modified.captured.json",
            Request::Other,
            Outcome::NotModified,
        ),
    ];
    for (name, request, outcome) in cases {
        let body: serde_json::Value = serde_json::from_slice(&fixture(name)).unwrap();
        let code = body["retCode"].as_i64().unwrap();
        assert_eq!(classify(request, code), outcome, "{name}");
    }
}

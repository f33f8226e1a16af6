//! `toolkit flatten` against `toolkit venue`: open orders cancelled, and with `--close` the
//! position closed with reduce-only orders; what is left printed, and exit 1 when anything is.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Venue, rest_client};
use feed::bybit::limits::Endpoint;
use feed::bybit::rest::RestClient;
use feed::bybit::trade::{LinkIds, NewOrder, TradeWriter};
use feed::order::OrderId;
use feed::{Fixed, Side, Symbol};

const KEY: &str = "flatkey01";
const SECRET: &str = "flatten-secret-88e1";

fn create(client: &RestClient, writer: &mut TradeWriter, id: u64, side: Side, price: Fixed) {
    let order = NewOrder {
        id: OrderId(id),
        symbol: Symbol::new("BTCUSDT").unwrap(),
        side,
        price,
        qty: "0.002".parse().unwrap(),
        reduce_only: false,
    };
    let body = String::from_utf8(writer.create_body(&order).to_vec()).unwrap();
    client
        .post("/v5/order/create", &body, Endpoint::Create)
        .unwrap();
}

fn flatten(venue: &Venue, dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let profile = venue.rest_profile(dir);
    let output = Command::new(env!("CARGO_BIN_EXE_toolkit"))
        .current_dir(tests::workspace_root())
        .arg("flatten")
        .arg("--profile")
        .arg(&profile)
        .args(args)
        .env("BYBIT_API_KEY", KEY)
        .env("BYBIT_API_SECRET", SECRET)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
    (output.status.code().unwrap(), stdout + &stderr)
}

#[test]
fn flatten_cancels_every_order_and_with_close_closes_the_position() {
    let venue = Venue::start_with_credentials(
        &["--regime", "high-vol", "--seed", "6"],
        Some((KEY, SECRET)),
    );
    let client = rest_client(&venue, KEY, SECRET);
    client.sync_clock().unwrap();
    let mut writer = TradeWriter::new(LinkIds::new("fl1").unwrap(), 5000);
    let dir = tempfile::tempdir().unwrap();

    // A long position: buys at the touch until one fills.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut id = 0;
    while engine::account::position(&client, "BTCUSDT")
        .unwrap()
        .is_zero()
    {
        assert!(Instant::now() < deadline, "no fill");
        let book = venue.orderbook(1);
        let bid = common::levels_of(&book["b"])[0].0;
        id += 1;
        create(&client, &mut writer, id, Side::Buy, bid);
        std::thread::sleep(Duration::from_secs(2));
        engine::account::cancel_all(&client, "BTCUSDT").unwrap();
    }
    let held = engine::account::position(&client, "BTCUSDT").unwrap();
    assert!(held.is_positive());
    // Two orders far from the touch.
    let book = venue.orderbook(1);
    let bid = common::levels_of(&book["b"])[0].0;
    for n in 0..2 {
        create(
            &client,
            &mut writer,
            100 + n,
            Side::Buy,
            Fixed::from_raw(bid.raw() - 5_000_000_000),
        );
    }
    assert_eq!(
        engine::account::open_orders(&client, "BTCUSDT")
            .unwrap()
            .len(),
        2
    );

    // Without --close: the orders go and the position stays (said, not a failure: it was not
    // asked to close).
    let (code, output) = flatten(&venue, dir.path(), &[]);
    assert_eq!(code, 0, "{output}");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "flatten: REAL MONEY: account 1001 at {} (API key flat…): BTCUSDT",
            venue.rest_url()
        )
    );
    assert_eq!(lines[1], "BTCUSDT: cancelled 2 open orders; 0 left");
    assert_eq!(
        lines[2],
        format!("BTCUSDT: position {held} left open (--close closes it)")
    );
    assert!(
        engine::account::open_orders(&client, "BTCUSDT")
            .unwrap()
            .is_empty()
    );

    // With --close: reduce-only orders at the ask until flat.
    let (code, output) = flatten(
        &venue,
        dir.path(),
        &[
            "--close",
            "--symbol",
            "BTCUSDT",
            "--reprice",
            "2s",
            "--timeout",
            "120s",
        ],
    );
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains("BTCUSDT: cancelled 0 open orders; 0 left"),
        "{output}"
    );
    assert!(
        output.contains(&format!("closing Sell {held} at ")),
        "{output}"
    );
    assert!(
        output
            .trim_end()
            .ends_with(&format!("BTCUSDT: position {held} closed; flat")),
        "{output}"
    );
    assert_eq!(
        engine::account::position(&client, "BTCUSDT").unwrap(),
        Fixed::ZERO
    );
    assert!(
        engine::account::open_orders(&client, "BTCUSDT")
            .unwrap()
            .is_empty()
    );
    // Every closing order was reduce-only (flatten's own ids: the run prefix `e…`).
    let answer = client
        .call(
            feed::bybit::rest::Method::Get,
            "/v5/order/history",
            "category=linear&symbol=BTCUSDT&limit=50",
            Some(Endpoint::Query),
        )
        .unwrap();
    let closes: Vec<_> = feed::bybit::rest::replies::order_page(&answer.body)
        .unwrap()
        .items
        .into_iter()
        .filter(|order| order.order_link_id.as_str().starts_with('e'))
        .collect();
    assert!(!closes.is_empty());
    assert!(
        closes
            .iter()
            .all(|order| order.reduce_only && order.side == Side::Sell),
        "{closes:?}"
    );
}

#[test]
fn flatten_exits_1_and_says_what_is_left_when_the_venue_keeps_an_order() {
    // The venue answers every cancel-all and cancels nothing.
    let venue = Venue::start_with_credentials(
        &["--faults", "cancel-ignored:scope=all:times=1000"],
        Some((KEY, SECRET)),
    );
    let client = rest_client(&venue, KEY, SECRET);
    client.sync_clock().unwrap();
    let mut writer = TradeWriter::new(LinkIds::new("fl2").unwrap(), 5000);
    let bid = common::levels_of(&venue.orderbook(1)["b"])[0].0;
    create(
        &client,
        &mut writer,
        1,
        Side::Buy,
        Fixed::from_raw(bid.raw() - 5_000_000_000),
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, output) = flatten(&venue, dir.path(), &["--timeout", "2s"]);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("BTCUSDT: cancelled 1 open orders; 1 left"),
        "{output}"
    );
}

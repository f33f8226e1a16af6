//! `toolkit venue` answers as Bybit does where a standard client library looks: ccxt, unchanged
//! but for its URLs, loads every market (every category, instruments paged by cursor), reads
//! the book, posts a post-only order, sees it open, cancels it and reads the positions and the
//! balance.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::process::Command;

use common::Venue;
use serde_json::json;

const KEY: &str = "ccxtkey01";
const SECRET: &str = "ccxt-secret-5b7e";

#[test]
fn instruments_are_listed_for_every_linear_symbol_a_page_at_a_time() {
    let venue = Venue::start(&[]);
    let (status, first) = venue.get("/v5/market/instruments-info?category=linear&limit=3");
    assert_eq!(status, 200);
    let names = |page: &serde_json::Value| -> Vec<String> {
        page["result"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["symbol"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&first), ["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
    assert_eq!(first["result"]["nextPageCursor"], "3");
    let (_, second) = venue.get("/v5/market/instruments-info?category=linear&limit=3&cursor=3");
    assert_eq!(names(&second), ["XRPUSDT"]);
    assert_eq!(second["result"]["nextPageCursor"], "");
    // Other categories list nothing here; a limit over 1000 is refused as Bybit refuses it.
    let (_, spot) = venue.get("/v5/market/instruments-info?category=spot");
    assert_eq!(spot["result"]["list"], json!([]));
    let (_, refused) = venue.get("/v5/market/instruments-info?category=linear&limit=1001");
    assert_eq!(refused["retCode"], 10001);
}

#[test]
fn a_standard_bybit_client_library_trades_the_loopback_venue_unchanged_but_for_its_urls() {
    let venue = Venue::start_with_credentials(&[], Some((KEY, SECRET)));
    let root = tests::workspace_root();
    let library = root.join(".runtime/ccxt");
    assert!(
        library.join("ccxt").is_dir(),
        "ccxt is not installed in {}: run scripts/setup.sh",
        library.display()
    );
    let output = Command::new("python3")
        .arg(root.join("tools/tests/clients/ccxt_bybit.py"))
        .arg(venue.rest_url())
        .arg(KEY)
        .env("PYTHONPATH", &library)
        .env("BYBIT_API_SECRET", SECRET)
        .env_remove("BYBIT_API_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let id = seen["created"].as_str().unwrap();
    assert_eq!(id.len(), 36, "{seen}");
    let price = seen["price"].as_f64().unwrap();
    assert_eq!(
        seen,
        json!({
            "swaps": ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "XRP/USDT:USDT"],
            "precision": [0.1, 0.001],
            "limits": [0.001, 5.0],
            "book": true,
            "created": id,
            "open": [[id, "open", price, 0.001, true]],
            "one": [id, "open", "buy", "limit"],
            "cancelled": id,
            "after": 0,
            "positions": [["BTC/USDT:USDT", 0.0]],
            "usdt": [10000.0, 10000.0],
            "price": price,
        })
    );
    // What it asked, signed as it signs, all answered.
    for path in [
        "GET /v5/asset/coin/query-info ok",
        "GET /v5/user/query-api ok",
        "GET /v5/account/info ok",
        "POST /v5/order/create ok",
        "GET /v5/order/realtime ok",
        "POST /v5/order/cancel ok",
        "GET /v5/position/list ok",
        "GET /v5/account/wallet-balance ok",
    ] {
        assert!(!venue.history(path).is_empty(), "{path}");
    }
    assert!(
        venue.history("refused").is_empty(),
        "{:?}",
        venue.history("refused")
    );
}

//! `engine size`: the sizing and gates walk-through, as an operator runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;

fn engine_size(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_engine"))
        .arg("size")
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env_remove("EXCHANGE_MODE")
        .output()
        .unwrap();
    let text =
        String::from_utf8(output.stdout).unwrap() + &String::from_utf8(output.stderr).unwrap();
    (output.status.success(), text)
}

#[test]
fn the_worked_example_orders_0_333_btc() {
    let (ok, text) = engine_size(&["--price", "60000", "--balance", "5000"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("qty = floor(budget / 60000 / 0.001) x 0.001 = 0.333"),
        "{text}"
    );
    assert!(
        text.ends_with("decision  ORDER Buy 0.333 BTCUSDT @ 60000 PostOnly\n"),
        "{text}"
    );
}

#[test]
fn a_rejected_entry_says_which_gate() {
    let (ok, text) = engine_size(&[
        "--side",
        "sell",
        "--price",
        "60000",
        "--balance",
        "5000",
        "--liq-price",
        "60200",
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("gate      near_liquidation   FAIL"), "{text}");
    assert!(
        text.ends_with("decision  DROP (near_liquidation)\n"),
        "{text}"
    );
}

#[test]
fn a_too_small_balance_is_dropped_not_inflated() {
    let (ok, text) = engine_size(&["--price", "60000", "--balance", "0.5"]);
    assert!(ok, "{text}");
    assert!(text.ends_with("decision  DROP (below_min_qty)\n"), "{text}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let (ok, text) = engine_size(&["--price", "6e4", "--balance", "1"]);
    assert!(!ok);
    assert!(text.contains("\"6e4\" is not a decimal"), "{text}");
    let (ok, text) = engine_size(&["--price", "1", "--balance", "1", "--symbol", "DOGEUSDT"]);
    assert!(!ok);
    assert!(
        text.contains("DOGEUSDT has no entry in config/symbols.yml"),
        "{text}"
    );
}

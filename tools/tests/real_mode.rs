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

/// A real-mode session of `seconds` against a venue started with `venue_args`: the venue, the
/// summary, the decision log's records, and the directory holding the run's outputs.
fn session(
    venue_args: &[&str],
    seconds: u32,
) -> (Venue, String, Vec<serde_json::Value>, tempfile::TempDir) {
    let venue = Venue::start_with_credentials(venue_args, Some((KEY, SECRET)));
    session_with(venue, seconds, "", |venue| venue)
}

/// [`session`] against `venue` (started by the caller), with `exchange` added to the profile's
/// `exchange:` keys; `during` has the venue while the engine runs (on a thread of its own) and
/// gives back the venue the session ends with.
fn session_with(
    venue: Venue,
    seconds: u32,
    exchange: &str,
    during: impl FnOnce(Venue) -> Venue + Send,
) -> (Venue, String, Vec<serde_json::Value>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let profile = engine::model::synthetic::scratch_profile(dir.path()).unwrap();
    let base = venue.url("");
    let text = std::fs::read_to_string(&profile).unwrap()
        + &format!(
            "exchange:\n{exchange}  endpoints:\n    mainnet:\n      rest: {}\n      ws_public: {base}/v5/public/linear\n      \
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
        seconds.to_string().as_ref(),
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
    let (venue, summary) = std::thread::scope(|scope| {
        let venue = scope.spawn(move || during(venue));
        let summary = run_engine(&args.run, Arc::new(AtomicBool::new(false))).unwrap();
        (venue.join().unwrap(), summary)
    });
    eprintln!("{summary}");
    let log = std::fs::read_to_string(out.join("decisions.jsonl")).unwrap();
    let records = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (venue, summary, records, dir)
}

/// What every session must leave: the venue's open orders (none) and position equal to the
/// engine's view, every order the log placed or adopted ended in the log, no order left
/// behind, the secret in no output. The number of orders sent.
fn check_session(venue: &Venue, summary: &str, records: &[serde_json::Value], dir: &Path) -> u64 {
    let client = common::rest_client(venue, KEY, SECRET);
    assert!(
        engine::account::open_orders(&client, "BTCUSDT")
            .unwrap()
            .is_empty()
    );
    let position = engine::account::position(&client, "BTCUSDT").unwrap();
    let engine_position: Fixed = field(summary, "pnl:", "position ").parse().unwrap();
    assert_eq!(position, engine_position, "{summary}");
    assert_eq!(
        summary.lines().last().unwrap(),
        format!("venue: 0 open orders, position {position} BTCUSDT")
    );
    // The decision log is complete: every order placed ended there.
    let ids = |kinds: &[&str], ended: bool| -> BTreeSet<u64> {
        records
            .iter()
            .filter(|line| {
                kinds.iter().any(|kind| line["type"] == *kind)
                    && (!ended || line["type"] != "fill" || line["leaves_qty"] == "0")
            })
            .map(|line| line["id"].as_u64().unwrap())
            .collect()
    };
    let mut worked = ids(&["place"], false);
    worked.extend(
        records
            .iter()
            .filter(|line| line["type"] == "reconcile" && line["event"] == "foreign_adopted")
            .map(|line| line["id"].as_u64().unwrap()),
    );
    assert_eq!(
        worked,
        ids(&["cancelled", "rejected", "fill"], true),
        "{summary}"
    );
    // Every output of the run, and the summary: no secret.
    assert!(!summary.contains(SECRET));
    for entry in std::fs::read_dir(dir.join("run")).unwrap() {
        let path = entry.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        assert!(
            !text.contains(SECRET),
            "the secret is in {}",
            path.display()
        );
    }
    field(summary, "orders:", "orders:      ").parse().unwrap()
}

#[test]
fn a_real_mode_session_trades_the_loopback_venue_and_leaves_it_as_the_engine_sees_it() {
    let (venue, summary, records, dir) = session(&["--regime", "high-vol", "--seed", "4"], 40);
    let sent = check_session(&venue, &summary, &records, dir.path());
    assert!(sent >= 1, "{summary}");

    // Orders went out, each once.
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

    // The venue's links and order entry, in the summary and the metrics.
    assert!(
        summary.contains(
            "venue links: private 1 connects, 0 lost; trade 1 connects, 0 lost; 0 auth failures;"
        ),
        "{summary}"
    );
    let metrics = std::fs::read_to_string(dir.path().join("run/metrics.prom")).unwrap();
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
}

#[test]
fn a_real_mode_session_through_the_venues_faults_still_leaves_it_as_the_engine_sees_it() {
    // Every connection dropped every 12 s, two answers lost, six pushes lost, two 10006s.
    let faults = "drop:every=12s,ack-lost:after=5s:times=2,push-lost:after=9s:times=6,rate-limit:after=15s:times=2";
    let (venue, summary, records, dir) = session(
        &["--regime", "high-vol", "--seed", "4", "--faults", faults],
        45,
    );
    check_session(&venue, &summary, &records, dir.path());
    // The links were lost and made again, and reconciliation ran, each time in the log.
    let lost: u64 = field(&summary, "venue links:", "connects, ")
        .parse()
        .unwrap();
    assert!(lost >= 2, "{summary}");
    let reconciled = records
        .iter()
        .filter(|line| line["type"] == "reconcile" && line["event"] == "reconciled")
        .count();
    assert!(reconciled >= 2, "{summary}");
    assert!(
        summary.contains("0 position corrections")
            || records
                .iter()
                .any(|line| line["event"] == "position_corrected"),
        "{summary}"
    );
}

#[test]
fn orders_another_client_left_are_adopted_worked_and_cancelled_at_the_end() {
    let venue = Venue::start_with_credentials(&[], Some((KEY, SECRET)));
    let rest = common::rest_client(&venue, KEY, SECRET);
    rest.sync_clock().unwrap();
    let book = venue.orderbook(1);
    let bid = common::levels_of(&book["b"])[0].0;
    let far = Fixed::from_raw(bid.raw() - 5_000_000_000);
    common::place_foreign(&rest, 1, feed::Side::Buy, far, "0.010");
    let (venue, summary, records, dir) =
        session_with(venue, 15, "  adopt_unknown_orders: true\n", |venue| venue);
    check_session(&venue, &summary, &records, dir.path());
    assert!(
        summary.contains("0 foreign orders cancelled, 1 adopted"),
        "{summary}"
    );
    // Adopted as the first of the adopted ids, and cancelled at the end by the engine.
    let id = feed::bybit::venue::ADOPTED_IDS;
    let about = |kind: &str| {
        records
            .iter()
            .filter(|line| line["id"] == id && (line["type"] == kind || line["event"] == kind))
            .count()
    };
    assert_eq!((about("foreign_adopted"), about("cancelled")), (1, 1));
    let metrics = std::fs::read_to_string(dir.path().join("run/metrics.prom")).unwrap();
    assert!(
        metrics.contains("\nvenue_foreign_orders_adopted_total 1\n"),
        "{metrics}"
    );
}

#[test]
fn a_real_mode_session_through_late_answers_a_venue_restart_and_a_skewed_clock() {
    // Answers 1.5 s late for a while; at 14 s the venue goes away and comes back on the same
    // address knowing nothing, and its clock later runs 20 s behind (10002 to the requests
    // stamped by the old measure).
    let first = Venue::start_with_credentials(
        &[
            "--regime",
            "high-vol",
            "--seed",
            "5",
            "--faults",
            "ack-delay:ms=1500:after=3s:for=6s",
        ],
        Some((KEY, SECRET)),
    );
    let (venue, summary, records, dir) = session_with(first, 40, "", |first| {
        std::thread::sleep(std::time::Duration::from_secs(14));
        let addr = first.addr.clone();
        drop(first);
        std::thread::sleep(std::time::Duration::from_millis(500));
        Venue::start_with_credentials(
            &[
                "--addr",
                &addr,
                "--regime",
                "high-vol",
                "--seed",
                "6",
                "--faults",
                "skew:ms=-20000:after=8s",
            ],
            Some((KEY, SECRET)),
        )
    });
    check_session(&venue, &summary, &records, dir.path());
    // The restart was noticed and reconciled.
    let reconciled = records
        .iter()
        .filter(|line| line["type"] == "reconcile" && line["event"] == "reconciled")
        .count();
    assert!(reconciled >= 1, "{summary}");
    assert!(
        summary.contains("venue links: private 2 connects"),
        "{summary}"
    );
}

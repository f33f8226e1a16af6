//! `engine run --mode real` against `toolkit venue`: whole real-mode sessions of the `engine`
//! binary over the Bybit v5 protocol on loopback, clean and through every race and refusal the
//! venue can make. Each session ends checked against the venue: no order left (and none left
//! by the engine before its own safety net), the venue's position equal to the engine's, every
//! fill booked once (order by order, the venue's `cumExecQty`), the decision log complete, and
//! neither the secret nor the whole API key in the engine's stdout or stderr, its files or the
//! venue's log.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use common::Venue;
use engine::cli::RunArgs;
use feed::Fixed;
use feed::order::OrderId;

const KEY: &str = "realkey01";
const SECRET: &str = "real-mode-secret-4c2a9e";

/// A finished session.
struct Session {
    venue: Venue,
    status: ExitStatus,
    stdout: String,
    stderr: String,
    /// The decision log's records.
    records: Vec<serde_json::Value>,
    dir: tempfile::TempDir,
}

/// The value after `label` on the line of `text` starting with `line`.
fn field<'a>(text: &'a str, line: &str, label: &str) -> &'a str {
    let found = text
        .lines()
        .find(|text| text.starts_with(line))
        .unwrap_or_else(|| panic!("no {line} line in {text}"));
    let rest = &found[found
        .find(label)
        .unwrap_or_else(|| panic!("{label} in {found}"))
        + label.len()..];
    rest.split([' ', ',', ';']).next().unwrap()
}

/// The configuration profile and credentials file of a session against `venue` in `dir`, with
/// `exchange` added to the profile's `exchange:` keys.
fn profile(venue: &Venue, dir: &std::path::Path, exchange: &str) -> Vec<String> {
    let profile = engine::model::synthetic::scratch_profile(dir).unwrap();
    let base = venue.url("");
    let text = std::fs::read_to_string(&profile).unwrap()
        + &format!(
            "exchange:\n{exchange}  endpoints:\n    mainnet:\n      rest: {}\n      ws_public: {base}/v5/public/linear\n      \
             ws_private: {base}/v5/private\n      ws_trade: {base}/v5/trade\n  connection:\n    \
             ping_interval: 1s\n    pong_timeout: 4s\n    stale_after: 6s\n    reconnect_initial: 200ms\n    reconnect_max: 2s\n\
             engine:\n  busy_poll: false\n",
            venue.rest_url()
        );
    std::fs::write(&profile, text).unwrap();
    let credentials = dir.join("bybit.env");
    std::fs::write(
        &credentials,
        format!("BYBIT_API_KEY={KEY}\nBYBIT_API_SECRET={SECRET}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o600)).unwrap();
    let root = tests::workspace_root();
    [
        "--config".to_owned(),
        root.join("config/app.yml").display().to_string(),
        "--profile".to_owned(),
        profile.display().to_string(),
        "--credentials".to_owned(),
        credentials.display().to_string(),
    ]
    .into()
}

/// A real-mode session of the `engine` binary for `seconds` against `venue` (started by the
/// caller), with `exchange` added to the profile's `exchange:` keys; `during` has the venue
/// while the engine runs (on a thread of its own) and gives back the venue the session ends
/// with.
fn session(
    venue: Venue,
    seconds: u32,
    exchange: &str,
    during: impl FnOnce(Venue) -> Venue + Send,
) -> Session {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = Command::new(common::engine_binary())
        .arg("run")
        .args(["--mode", "real", "--feed", "bybit"])
        .args(["--duration", &seconds.to_string()])
        .args(profile(&venue, dir.path(), exchange))
        .arg("--out")
        .arg(&out)
        .arg("--onnxruntime")
        .arg(tests::onnxruntime_library())
        .env_remove("BYBIT_API_KEY")
        .env_remove("BYBIT_API_SECRET")
        .current_dir(tests::workspace_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(u64::from(seconds) + 90);
    let (venue, status) = std::thread::scope(|scope| {
        let venue = scope.spawn(move || during(venue));
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the engine did not end within {seconds} s and 90 s more");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        (venue.join().unwrap(), status)
    });
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    eprintln!("[engine stdout]\n{stdout}\n[engine stderr]\n{stderr}");
    let records = std::fs::read_to_string(out.join("decisions.jsonl"))
        .map(|log| {
            log.lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect()
        })
        .unwrap_or_default();
    Session {
        venue,
        status,
        stdout,
        stderr,
        records,
        dir,
    }
}

impl Session {
    /// Records of `kind` (`type`), and of `event` when given.
    fn records_of(&self, kind: &str, event: Option<&str>) -> Vec<&serde_json::Value> {
        self.records
            .iter()
            .filter(|line| line["type"] == kind && event.is_none_or(|event| line["event"] == event))
            .collect()
    }

    /// The run's order-id prefix, as the venue saw it in the requests' `reqId`s.
    fn prefix(&self) -> Option<String> {
        self.venue
            .history("order.create ")
            .iter()
            .filter_map(|line| line.split("order.create ").nth(1))
            .filter_map(|rest| rest.split("-r").next())
            .map(str::to_owned)
            .next()
    }
}

/// The venue's view of the account, over REST.
fn rest(venue: &Venue) -> feed::bybit::rest::RestClient {
    let rest = common::rest_client(venue, KEY, SECRET);
    rest.sync_clock().unwrap();
    rest
}

/// What every session must leave, whatever it went through: the engine exited 0 (so it left
/// no order before its own safety net), the venue's open orders (none) and position equal to
/// the engine's view, every fill booked once (the log's fills of each order sum to the venue's
/// `cumExecQty`), every order placed or adopted ended in the log, the secrets nowhere. The
/// number of orders sent.
fn check_session(session: &Session) -> u64 {
    check_session_of(session, Venues::One)
}

/// Whether the venue the session ends with knows every order of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Venues {
    /// One venue throughout: it knows every order.
    One,
    /// The venue was replaced mid-session (a restart that lost its state): orders it does not
    /// know are not compared.
    Restarted,
}

/// [`check_session`], against the venue(s) of `venues`.
fn check_session_of(session: &Session, venues: Venues) -> u64 {
    assert!(session.status.success(), "{}", session.stderr);
    let client = rest(&session.venue);
    assert!(
        engine::account::open_orders(&client, "BTCUSDT")
            .unwrap()
            .is_empty()
    );
    let position = engine::account::position(&client, "BTCUSDT").unwrap();
    let engine_position: Fixed = field(&session.stdout, "pnl:", "position ").parse().unwrap();
    assert_eq!(position, engine_position, "{}", session.stdout);
    assert_eq!(
        session.stdout.lines().last().unwrap(),
        format!("venue: 0 open orders, position {position} BTCUSDT")
    );
    check_log(session, &client, venues);
    check_secrets(session);
    field(&session.stdout, "orders:", "orders:      ")
        .parse()
        .unwrap()
}

/// The decision log: every order placed or adopted ended there, and every order's fills there
/// sum to what the venue says filled.
fn check_log(session: &Session, client: &feed::bybit::rest::RestClient, venues: Venues) {
    let records = &session.records;
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
    let placed = ids(&["place"], false);
    let mut worked = placed.clone();
    worked.extend(
        session
            .records_of("reconcile", Some("foreign_adopted"))
            .iter()
            .map(|line| line["id"].as_u64().unwrap()),
    );
    assert_eq!(worked, ids(&["cancelled", "rejected", "fill"], true));
    let mut filled: BTreeMap<u64, Fixed> = BTreeMap::new();
    for fill in session.records_of("fill", None) {
        let qty: Fixed = fill["qty"].as_str().unwrap().parse().unwrap();
        let sum = filled.entry(fill["id"].as_u64().unwrap()).or_default();
        *sum = sum.saturating_add(qty);
    }
    let Some(prefix) = session.prefix() else {
        assert!(placed.is_empty());
        return;
    };
    let link_ids = feed::bybit::trade::LinkIds::new(&prefix).unwrap();
    for id in placed {
        let link = link_ids.link_id(OrderId(id));
        let cum = common::bybit::venue_order(client, link.as_str()).map(|order| order.cum_exec_qty);
        if cum.is_none() && venues == Venues::Restarted {
            continue;
        }
        assert_eq!(
            filled.get(&id).copied().unwrap_or_default(),
            cum.unwrap_or_default(),
            "order {link}: booked in the log against the venue's cumExecQty"
        );
    }
}

/// A session that failed left no order at the venue and showed no credential.
fn assert_left_nothing(session: &Session) {
    assert!(
        engine::account::open_orders(&rest(&session.venue), "BTCUSDT")
            .unwrap()
            .is_empty()
    );
    check_secrets(session);
}

/// Neither the secret nor the whole API key in the engine's output, its files or the venue's
/// log.
fn check_secrets(session: &Session) {
    let venue_log = session.venue.all_lines().join("\n");
    for (what, text) in [
        ("stdout", &session.stdout),
        ("stderr", &session.stderr),
        ("the venue's log", &venue_log),
    ] {
        assert!(!text.contains(SECRET), "the secret is in {what}");
        assert!(!text.contains(KEY), "the API key is in {what}");
    }
    // A run refused at start made no files.
    let files = std::fs::read_dir(session.dir.path().join("run"))
        .into_iter()
        .flatten();
    for entry in files {
        let path = entry.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        assert!(
            !text.contains(SECRET) && !text.contains(KEY),
            "a secret is in {}",
            path.display()
        );
    }
}

/// The venue of a session: the high-vol market (fills come quickly) with `faults`.
fn venue_with(faults: &str, extra: &[&str]) -> Venue {
    let mut args = vec!["--regime", "high-vol", "--seed", "4"];
    if !faults.is_empty() {
        args.extend(["--faults", faults]);
    }
    args.extend(extra);
    Venue::start_with_credentials(&args, Some((KEY, SECRET)))
}

#[test]
fn a_clean_session_trades_arms_dcp_and_leaves_the_venue_as_the_engine_sees_it() {
    let session = session(
        venue_with("", &["--dcp"]),
        30,
        "  dcp_window: 10s\n",
        |venue| venue,
    );
    let sent = check_session(&session);
    assert!(sent >= 1, "{}", session.stdout);
    let venue = &session.venue;

    // Orders went out, each once.
    let creates = venue.history("order.create ");
    let request_ids: BTreeSet<&str> = creates
        .iter()
        .filter_map(|line| line.split("order.create ").nth(1)?.split(' ').next())
        .collect();
    assert_eq!(request_ids.len(), creates.len(), "{creates:?}");
    assert_eq!(creates.len() as u64, sent, "{creates:?}");

    // Nothing changed before the banner: the banner, then the settings; and DCP armed, then
    // subscribed on its own, after the data topics.
    let banner = session.stdout.find("REAL MONEY: account 1001").unwrap();
    let settings = session.stdout.find("account: one-way mode").unwrap();
    assert!(banner < settings);
    assert!(
        session
            .stdout
            .contains("account: disconnect-cancel-all armed: 10 s (dcp.future)")
    );
    let subscriptions: Vec<String> = venue
        .history(" subscribed ")
        .into_iter()
        .filter(|line| !line.contains("BTCUSDT"))
        .collect();
    assert_eq!(
        subscriptions
            .iter()
            .map(|line| line.split(" subscribed ").nth(1).unwrap())
            .collect::<Vec<_>>(),
        [
            "order.linear,execution.linear,position.linear",
            "wallet",
            "dcp.future"
        ],
        "{subscriptions:?}"
    );
    // No reconciliation refused (history is asked 50 at a time, as Bybit takes it).
    assert!(venue.history("refused: 10001").is_empty());

    // The venue's links and order entry, in the summary and the metrics.
    assert!(
        session.stdout.contains(
            "venue links: private 1 connects, 0 lost; trade 1 connects, 0 lost; 0 auth failures;"
        ),
        "{}",
        session.stdout
    );
    let metrics = std::fs::read_to_string(session.dir.path().join("run/metrics.prom")).unwrap();
    for line in [
        format!("venue_requests_total{{kind=\"create\"}} {sent}"),
        "venue_connected{stream=\"trade\"} 1".to_owned(),
        "venue_reconciling 0".to_owned(),
        "venue_entries_halted 0".to_owned(),
    ] {
        assert!(
            metrics.contains(&format!("\n{line}\n")),
            "{line}\n{metrics}"
        );
    }
    // Every real order is shadowed by the paper venue and compared in the log (a fill time
    // for each side that filled it); the metrics count the same.
    let placed: BTreeSet<u64> = session
        .records
        .iter()
        .filter(|line| line["type"] == "place")
        .map(|line| line["id"].as_u64().unwrap())
        .collect();
    let filled: BTreeSet<u64> = session
        .records
        .iter()
        .filter(|line| line["type"] == "fill")
        .map(|line| line["id"].as_u64().unwrap())
        .collect();
    let compared: Vec<&serde_json::Value> = session
        .records
        .iter()
        .filter(|line| line["type"] == "shadow")
        .collect();
    // Every order placed is compared once: the venue done with it, its shadow is cancelled, and
    // what the kill switch left is settled at both.
    let compared_ids: BTreeSet<u64> = compared
        .iter()
        .map(|record| record["id"].as_u64().unwrap())
        .collect();
    assert_eq!(compared_ids, placed, "{}", session.stdout);
    assert_eq!(compared.len(), placed.len());
    for record in &compared {
        let id = record["id"].as_u64().unwrap();
        assert_eq!(
            record["venue_fill_ns"].is_u64(),
            filled.contains(&id),
            "{record}"
        );
    }
    let counted: f64 = ["both_filled", "venue_only", "paper_only", "neither"]
        .iter()
        .map(|outcome| {
            let prefix = format!("\nvenue_shadow_orders_total{{outcome=\"{outcome}\"}} ");
            let at = metrics
                .find(&prefix)
                .unwrap_or_else(|| panic!("{prefix}\n{metrics}"));
            let rest = &metrics[at + prefix.len()..];
            rest[..rest.find('\n').unwrap()].parse::<f64>().unwrap()
        })
        .sum();
    assert_eq!(counted, compared.len() as f64, "{metrics}");

    // One clock in the decision log: time never runs backwards from one record to the next by
    // more than the hot thread's own lag between its clocks (a millisecond).
    let times: Vec<u64> = session
        .records
        .iter()
        .map(|line| line["ts_ns"].as_u64().unwrap())
        .collect();
    for pair in times.windows(2) {
        assert!(pair[1] + 1_000_000 >= pair[0], "{pair:?}");
    }
}

#[test]
fn a_session_through_drops_lost_answers_lost_pushes_10006_and_gaps_still_leaves_it_as_the_engine_sees_it()
 {
    // Every connection dropped every 12 s, two answers lost, six pushes lost, two 10006s, a
    // book gap every 3 s.
    let faults = "drop:every=12s,ack-lost:after=5s:times=2,push-lost:after=9s:times=6,\
                  rate-limit:after=15s:times=2,gap:every=3s";
    let session = session(venue_with(faults, &[]), 40, "", |venue| venue);
    check_session(&session);
    // The links were lost and made again, and reconciliation ran, each time in the log.
    let lost: u64 = field(&session.stdout, "venue links:", "connects, ")
        .parse()
        .unwrap();
    assert!(lost >= 2, "{}", session.stdout);
    assert!(session.records_of("reconcile", Some("reconciled")).len() >= 2);
    // The book went invalid with every gap and drop, and was mended each time.
    assert!(
        session
            .records_of("market", None)
            .iter()
            .filter(|line| line["event"] == "book_invalid")
            .count()
            >= 4,
        "{}",
        session.stdout
    );
}

#[test]
fn orders_another_client_left_are_adopted_worked_and_cancelled_at_the_end() {
    let venue = venue_with("", &[]);
    let client = rest(&venue);
    let book = venue.orderbook(1);
    let bid = common::levels_of(&book["b"])[0].0;
    let far = Fixed::from_raw(bid.raw() - 5_000_000_000);
    common::place_foreign(&client, 1, feed::Side::Buy, far, "0.010");
    let session = session(venue, 15, "  adopt_unknown_orders: true\n", |venue| venue);
    check_session(&session);
    assert!(
        session
            .stdout
            .contains("0 foreign orders cancelled, 1 adopted"),
        "{}",
        session.stdout
    );
    // Adopted as the first of the adopted ids, and cancelled at the end by the engine.
    let id = feed::bybit::venue::ADOPTED_IDS;
    let about = |kind: &str| {
        session
            .records
            .iter()
            .filter(|line| line["id"] == id && (line["type"] == kind || line["event"] == kind))
            .count()
    };
    assert_eq!((about("foreign_adopted"), about("cancelled")), (1, 1));
}

#[test]
fn a_session_through_late_answers_a_venue_restart_and_a_skewed_clock() {
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
    let session = session(first, 40, "", |first| {
        std::thread::sleep(Duration::from_secs(14));
        let addr = first.addr.clone();
        drop(first);
        std::thread::sleep(Duration::from_millis(500));
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
    check_session_of(&session, Venues::Restarted);
    assert!(
        !session
            .records_of("reconcile", Some("reconciled"))
            .is_empty()
    );
    assert!(
        session.stdout.contains("venue links: private 2 connects"),
        "{}",
        session.stdout
    );
}

#[test]
fn order_pushes_before_their_executions_lose_no_fill() {
    let session = session(venue_with("order-first:ms=800", &[]), 35, "", |venue| venue);
    let sent = check_session(&session);
    assert!(sent >= 1);
    // Orders whose end (`Filled`) came before their fills waited for them.
    let drained: u64 = field(&session.stdout, "races:", "stale pushes, ")
        .parse()
        .unwrap();
    let completed = session
        .records_of("fill", None)
        .iter()
        .filter(|fill| fill["leaves_qty"] == "0")
        .count() as u64;
    assert!(drained >= completed, "{}", session.stdout);
    assert!(
        session.stdout.contains("0 position corrections"),
        "{}",
        session.stdout
    );
}

#[test]
fn a_position_closed_from_outside_reaches_the_order_manager_and_no_exit_storms_against_it() {
    let session = session(venue_with("", &[]), 40, "", |venue| {
        // Once the engine holds a position, it is closed from the web UI.
        let client = rest(&venue);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if !engine::account::position(&client, "BTCUSDT")
                .unwrap()
                .is_zero()
            {
                venue.fire("manual-close");
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        venue
    });
    check_session(&session);
    let corrected = session.records_of("reconcile", Some("position_corrected"));
    assert!(!corrected.is_empty(), "{}", session.stdout);
    assert!(
        session
            .records_of("reconcile", Some("outside_execution"))
            .iter()
            .any(|line| line["kind"] == "other_order")
    );
    // The order manager took the venue's position: its exit for the closed position ended
    // without a storm of reduce-only refusals.
    let refusals = session.venue.history("refused: 110017").len();
    assert!(refusals <= 2, "{refusals} reduce-only refusals");
}

#[test]
fn fills_during_slow_reconciliations_are_booked_once() {
    // Every signed REST answer 300 ms late, a routine reconciliation every 5 s.
    let session = session(
        venue_with("rest-delay:ms=300", &[]),
        40,
        "  reconcile_every: 5s\n",
        |venue| venue,
    );
    check_session(&session);
    assert!(
        session.records_of("reconcile", Some("reconciled")).len() >= 4,
        "{}",
        session.stdout
    );
    assert!(
        session
            .records_of("reconcile", Some("position_corrected"))
            .is_empty()
    );
    assert!(
        session
            .records_of("reconcile", Some("missed_fill"))
            .is_empty()
    );
}

#[test]
fn an_order_the_engine_cannot_cancel_makes_the_run_fail_and_the_safety_net_cancels_it() {
    // Another client's order, adopted; every single-order cancel is answered and not done. The
    // engine cannot end it: the final check finds it, the safety net (cancel-all) cancels it,
    // and the run fails.
    let venue = venue_with("cancel-ignored:times=100000", &[]);
    let client = rest(&venue);
    let bid = common::levels_of(&venue.orderbook(1)["b"])[0].0;
    common::place_foreign(
        &client,
        1,
        feed::Side::Buy,
        Fixed::from_raw(bid.raw() - 5_000_000_000),
        "0.010",
    );
    let session = session(venue, 12, "  adopt_unknown_orders: true\n", |venue| venue);
    assert!(!session.status.success());
    assert!(
        session
            .stderr
            .contains("the final cancel-all cancelled them"),
        "{}",
        session.stderr
    );
    assert!(session.stderr.contains("other-1"), "{}", session.stderr);
    assert_left_nothing(&session);
}

#[test]
fn a_feed_that_fails_mid_session_ends_the_run_with_every_order_cancelled() {
    // At 8 s every connection drops; the public stream's resubscription is refused: the feed
    // cannot go on.
    let session = session(
        venue_with("subscribe-fail:after=7s,drop:after=8s", &[]),
        40,
        "",
        |venue| venue,
    );
    assert!(!session.status.success());
    assert!(
        session.stderr.contains("bybit public stream"),
        "{}",
        session.stderr
    );
    // The engine cancelled its own orders on the way out: the safety net found none.
    assert!(
        session
            .stderr
            .contains("real mode: after the failure: venue: 0 open orders"),
        "{}",
        session.stderr
    );
    assert!(
        !session.stderr.contains("the engine left"),
        "{}",
        session.stderr
    );
    assert_left_nothing(&session);
}

#[test]
fn a_key_that_loses_its_permission_stops_the_engine_with_what_to_fix() {
    // Once the engine has sent its first order, the key loses its trading permission: the
    // next order request (an exit, an amend or a cancel) is refused.
    let session = session(venue_with("", &[]), 40, "", |venue| {
        venue.wait_log(" order.create ", Duration::from_secs(30));
        venue.fire("fatal:code=10005");
        venue
    });
    assert!(!session.status.success());
    assert!(
        session.stderr.contains(
            "real mode stopped: the venue answered 10005: the API key lacks a permission: give it \
             Contract trading"
        ),
        "{}",
        session.stderr
    );
    assert!(
        session.stdout.contains("the venue refused the credentials"),
        "{}",
        session.stdout
    );
    assert_left_nothing(&session);
}

#[test]
fn real_mode_refuses_to_start_over_an_open_position_and_changes_nothing() {
    let venue = venue_with("", &[]);
    let client = rest(&venue);
    common::buy_a_position_as_another_client(&venue, &client);
    let posts = venue.history(" POST ").len();
    let session = session(venue, 10, "", |venue| venue);
    assert!(!session.status.success());
    assert!(
        session
            .stderr
            .contains("real mode: BTCUSDT: a position of ")
            && session.stderr.contains(
                " is open at the venue; the engine starts flat: close it first; no order was sent"
            ),
        "{}",
        session.stderr
    );
    assert!(!session.stdout.contains("REAL MONEY"), "{}", session.stdout);
    // Not one POST: no setting changed, nothing cancelled, nothing placed.
    assert_eq!(session.venue.history(" POST ").len(), posts);
    check_secrets(&session);
}

#[test]
fn the_configured_rate_limits_are_the_buckets_the_real_venue_draws_on() {
    let venue = venue_with("", &[]);
    let dir = tempfile::tempdir().unwrap();
    #[derive(Parser)]
    struct Engine {
        #[command(flatten)]
        run: RunArgs,
    }
    let mut args = vec![
        "engine".to_owned(),
        "--mode".to_owned(),
        "real".to_owned(),
        "--feed".to_owned(),
        "bybit".to_owned(),
    ];
    args.extend(profile(
        &venue,
        dir.path(),
        "  rate_limits:\n    create: 3\n    cancel: 4\n    query: 7\n",
    ));
    let engine = Engine::parse_from(args);
    let mut spec = engine.run.spec().unwrap();
    let (check, real) = engine.run.real_venue(&mut spec).unwrap();
    assert_eq!(
        real.rate_limits().rates(),
        spec.config.exchange.rate_limits.rates()
    );
    assert_eq!(real.rate_limits().rates().per_second, [3, 10, 4, 10, 7, 5]);
    drop(real);
    check.finish().unwrap();
}

//! `toolkit calibrate-fill` against known answers.
//!
//! - Engine sessions: the engine trading a simulated high-volatility half hour under three
//!   known paper venue settings, recorded, then calibrated from their decision logs and
//!   recordings. Both latency legs come back within stated tolerances (their 10th, 50th and
//!   90th percentiles: 10 % for the order leg, which a paper log shows to the ns; 15 % for the
//!   response leg, which it shows only to the frame), the true queue power is among those the
//!   fit cannot tell apart, and the fitted model fills every order as the session did.
//! - Scripted sessions: orders resting long behind the touch, where the queue power decides
//!   some fills, on two simulated days: the power comes back as exactly as the market allows.
//! - Bad input: a log that does not parse is refused with its line; a log whose day has no
//!   journal is refused with the path looked for.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::{succeeded, toolkit_in};
use engine::model::registry::{Slot, Thresholds};
use engine::model::synthetic::promote_synthetic;
use engine::runtime::source::Pace;
use engine::runtime::{FeedSpec, RunSpec, run};
use feed::sim::Regime;
use feed::{Fixed, Symbol};
use serde_json::{Value, json};

/// A paper venue's settings: the profile overlay, and what the calibration must give back.
struct Setting {
    name: &'static str,
    profile: &'static str,
    /// (floor, median, sigma), ms.
    order_leg: (f64, f64, f64),
    response_leg: (f64, f64, f64),
    queue_power: f64,
}

const SETTINGS: [Setting; 3] = [
    Setting {
        name: "shipped",
        profile: "",
        order_leg: (2.0, 15.0, 0.5),
        response_leg: (1.0, 5.0, 0.5),
        queue_power: 2.0,
    },
    Setting {
        name: "slow",
        profile: "paper:\n  latency_min: 5ms\n  latency_median: 40ms\n  latency_sigma: 0.3\n  \
                  response_latency_min: 20ms\n  response_latency_median: 30ms\n  \
                  response_latency_sigma: 0.4\n  queue_power: 1\n  latency_scaling:\n    by: off\n",
        order_leg: (5.0, 40.0, 0.3),
        response_leg: (20.0, 30.0, 0.4),
        queue_power: 1.0,
    },
    Setting {
        name: "jumpy",
        profile: "paper:\n  latency_min: 1ms\n  latency_median: 8ms\n  latency_sigma: 0.7\n  \
                  response_latency_min: 10ms\n  response_latency_median: 60ms\n  \
                  response_latency_sigma: 0.3\n  queue_power: 3.5\n  latency_scaling:\n    \
                  by: volatility\n    reference: 20\n    max_factor: 3\n",
        order_leg: (1.0, 8.0, 0.7),
        response_leg: (10.0, 60.0, 0.3),
        queue_power: 3.5,
    },
];

/// The 10th, 50th and 90th percentiles of a floor plus a log-normal, ms.
fn deciles((floor, median, sigma): (f64, f64, f64)) -> [f64; 3] {
    const Z90: f64 = 1.281_551_565_544_6;
    [-Z90, 0.0, Z90].map(|z| floor + median * (sigma * z).exp())
}

/// A fitted leg of the report as (floor, median, sigma), ms.
fn leg(report: &Value, name: &str) -> (f64, f64, f64) {
    let leg = &report[name];
    (
        leg["min_ns"].as_f64().unwrap() / 1e6,
        leg["median_ns"].as_f64().unwrap() / 1e6,
        leg["sigma"].as_f64().unwrap(),
    )
}

fn assert_close(name: &str, fitted: (f64, f64, f64), truth: (f64, f64, f64), tolerance: f64) {
    for (got, want) in deciles(fitted).iter().zip(deciles(truth)) {
        assert!(
            (got / want - 1.0).abs() <= tolerance,
            "{name}: fitted {fitted:?} against {truth:?}: deciles {:?} against {:?}",
            deciles(fitted),
            deciles(truth)
        );
    }
}

/// Runs the engine on a simulated 30-minute high-volatility session under `setting`,
/// recording the market; returns (decision log, journal directory).
fn engine_session(dir: &Path, setting: &Setting) -> (String, String) {
    let profile = dir.join(format!("{}.yml", setting.name));
    std::fs::write(&profile, setting.profile).unwrap();
    let loaded =
        engine::config::load(&tests::shipped_config(), Some(profile.to_str().unwrap())).unwrap();
    let mut config = loaded.config;
    let registry = dir.join("registry");
    if !registry.exists() {
        let thresholds = Thresholds {
            tau_entry: 0.5,
            tau_hold: 0.4,
        };
        promote_synthetic(&registry, "synthetic-42", 42, thresholds, Slot::Active).unwrap();
    }
    config.paths.registry = registry;
    config.engine.busy_poll = false;
    let out = dir.join("runs").join(setting.name);
    let journal = dir.join("journals").join(setting.name);
    let instrument = tests::shipped_instrument("BTCUSDT");
    let venue = engine::venues::paper(&config, &instrument).unwrap();
    let spec = RunSpec {
        config,
        symbol: Symbol::new("BTCUSDT").unwrap(),
        instrument,
        feed: FeedSpec::Sim {
            regime: Regime::HighVol,
            seed: 9,
            start_ms: 1_767_225_600_000,
            start_price: Fixed::from_int(60_000).unwrap(),
        },
        pace: Pace::AsFastAsPossible,
        duration: Some(Duration::from_secs(30 * 60)),
        metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        out_dir: out.clone(),
        onnxruntime: tests::onnxruntime_library(),
        record: Some(journal.clone()),
        apply_rollbacks: false,
        entry_rule: engine::pipeline::EntryRule::Model,
        pin_threads: false,
    };
    run(spec, venue, Arc::new(AtomicBool::new(false)), |_| {}).unwrap();
    (
        out.join("decisions.jsonl").to_str().unwrap().to_owned(),
        journal.to_str().unwrap().to_owned(),
    )
}

/// `toolkit calibrate-fill` under `profile` (it names the latency scaling the sessions ran
/// with); returns its output and the report.
fn calibrate(
    dir: &Path,
    profile: &Path,
    logs: &str,
    days: Option<&str>,
    out: &str,
) -> (std::process::Output, Value) {
    let mut args = vec![
        "calibrate-fill",
        "--profile",
        profile.to_str().unwrap(),
        "--logs",
        logs,
        "--out",
        out,
    ];
    if let Some(days) = days {
        args.extend(["--days", days]);
    }
    let output = toolkit_in(dir, &args);
    let report = std::fs::read_to_string(dir.join(out).join("calibration.json"))
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap_or(Value::Null);
    (output, report)
}

#[test]
fn sessions_with_known_paper_settings_are_calibrated_back_to_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut pinned = serde_json::Map::new();
    for setting in &SETTINGS {
        let (log, journal) = engine_session(dir.path(), setting);
        let out = format!("calibrated/{}", setting.name);
        let profile = dir.path().join(format!("{}.yml", setting.name));
        let (output, report) = calibrate(dir.path(), &profile, &log, Some(&journal), &out);
        let stdout = succeeded(output);
        assert!(stdout.contains("PASS"), "{stdout}");

        assert_close(
            "order leg",
            leg(&report, "order_leg"),
            setting.order_leg,
            0.10,
        );
        assert_close(
            "response leg",
            leg(&report, "response_leg"),
            setting.response_leg,
            0.15,
        );
        let (low, high) = (
            report["queue"]["equally_close"][0].as_f64().unwrap(),
            report["queue"]["equally_close"][1].as_f64().unwrap(),
        );
        assert!(
            (low..=high).contains(&setting.queue_power),
            "{}: {low} to {high}",
            setting.name
        );
        // At a power that reproduces the session, the model fills every order as it did.
        for stratum in report["strata"].as_array().unwrap() {
            assert_eq!(stratum["largest_gap"], 0.0, "{stratum}");
        }

        // The overlay is a profile the configuration takes.
        let overlay = dir.path().join(&out).join("fill_profile.yml");
        let text = std::fs::read_to_string(&overlay).unwrap();
        assert!(text.contains("latency_median:"), "{text}");
        succeeded(toolkit_in(
            dir.path(),
            &["validate-config", "--profile", overlay.to_str().unwrap()],
        ));
        let round = |ms: f64| (ms * 1e4).round() / 1e4;
        let fitted = |name: &str| {
            let (floor, median, sigma) = leg(&report, name);
            json!([round(floor), round(median), round(sigma)])
        };
        pinned.insert(
            setting.name.to_owned(),
            json!({
                "orders": report["orders"],
                "answers": report["answers"],
                "order_leg_ms": fitted("order_leg"),
                "response_leg_ms": fitted("response_leg"),
                "queue_power_indistinguishable": report["queue"]["equally_close"],
                "fill_within_1_5_30s": report["strata"][0]["within_s"],
            }),
        );
    }
    tests::pins::check("calibrate_fill_engine_sessions", &Value::Object(pinned));
}

/// A scripted paper session: the engine's pipeline and paper venue (queue power `power`,
/// trades-only fills, the shipped latencies) over the journal `day`, a buy and a sell placed
/// every 2 s at 0 to 4 ticks behind each touch and cancelled 40 s later, everything logged as
/// `engine run` logs it and in the hot loop's order (orders in flight arrive, trades print,
/// the book updates, the answers that came are taken, new requests leave). Orders resting long
/// behind the touch meet the queue's growth and cancels, where the power decides some fills;
/// the engine's own entries, at the touch for seconds, fill or not whatever the power.
fn scripted_session(dir: &Path, day: &Path, power: f64) -> String {
    use engine::pipeline::{FrameOutcome, Pipeline};
    use engine::runtime::log::format_record;
    use engine::runtime::rings::{CancelReason, LogRecord, Purpose};
    use feed::journal::{JournalReader, OnCorrupt, StreamId};
    use feed::order::{OrderId, OrderRequest};
    use feed::{FrameBuf, Side};

    let mut config = engine::config::Config::default();
    config.paper.queue_power = power;
    config.paper.cross_fill = engine::config::CrossFill::TradesOnly;
    let instrument = tests::shipped_instrument("BTCUSDT");
    let mut venue = engine::venues::paper(&config, &instrument).unwrap();
    let mut pipeline =
        Pipeline::new(&config, Symbol::new("BTCUSDT").unwrap(), instrument, 1.0).unwrap();
    let mut lines = String::new();
    let mut log = |record: LogRecord| {
        format_record(&record, &mut lines);
        lines.push('\n');
    };
    let tick = instrument.tick_size.raw();
    let (mut next_id, mut next_place) = (1_u64, 0_u64);
    let mut working: Vec<(u64, u64)> = Vec::new();
    let mut reader = JournalReader::open(day, OnCorrupt::Fail).unwrap();
    let mut frame = FrameBuf::default();
    while let Some(record) = reader.next_record().unwrap() {
        if record.stream != StreamId::PUBLIC_LINEAR {
            continue;
        }
        let now = record.wall_ns;
        venue.advance(now, pipeline.book());
        frame.fill(record.frame);
        let outcome =
            pipeline.on_frame_observing(&mut frame, |trades| venue.on_trades(trades, now));
        let book = pipeline.book();
        if matches!(outcome, FrameOutcome::Book { .. }) {
            venue.on_book(book, now);
        }
        venue.drain_events(|event| {
            log(LogRecord::Venue {
                event,
                received_ns: now,
            });
        });
        if !matches!(outcome, FrameOutcome::Book { .. }) {
            continue;
        }
        while let Some(&(id, _)) = working.first().filter(|(_, due)| *due <= now) {
            working.remove(0);
            venue.cancel(OrderId(id), now);
            log(LogRecord::Cancel {
                ts_ns: now,
                id: OrderId(id),
                reason: CancelReason::Ttl,
            });
        }
        let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) else {
            continue;
        };
        if now < next_place || !book.is_valid() {
            continue;
        }
        next_place = now + 2_000_000_000;
        let behind = (next_id / 2 % 5) as i64 * tick;
        for (side, price) in [
            (Side::Buy, bid.price.raw() - behind),
            (Side::Sell, ask.price.raw() + behind),
        ] {
            let order = OrderRequest {
                id: OrderId(next_id),
                side,
                price: Fixed::from_raw(price),
                qty: Fixed::from_raw(1_000_000),
                reduce_only: false,
            };
            venue.submit(order, now);
            log(LogRecord::Place {
                ts_ns: now,
                order,
                purpose: Purpose::Entry,
            });
            working.push((next_id, now + 40_000_000_000));
            next_id += 1;
        }
    }
    let path = dir.join(format!(
        "scripted-{power}-{}.jsonl",
        day.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&path, lines).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn scripted_sessions_give_back_their_queue_power_as_exactly_as_the_market_allows() {
    let dir = tempfile::tempdir().unwrap();
    let mut days = Vec::new();
    for (regime, date) in [("normal", "2026-03-01"), ("high-vol", "2026-03-02")] {
        let out = succeeded(toolkit_in(
            dir.path(),
            &[
                "synth", "--days", regime, "--start", date, "--hours", "0.5", "--seed", "3",
                "--out", "days",
            ],
        ));
        assert!(out.contains("frames"), "{out}");
        days.push(dir.path().join("days/BTCUSDT").join(date));
    }
    let overlay = dir.path().join("trades-only.yml");
    std::fs::write(&overlay, "paper:\n  cross_fill: trades_only\n").unwrap();
    let day_list = days
        .iter()
        .map(|day| day.to_str().unwrap())
        .collect::<Vec<_>>()
        .join(",");
    let mut pinned = serde_json::Map::new();
    let mut first_logs = String::new();
    for power in [1.0, 3.0] {
        let logs = days
            .iter()
            .map(|day| scripted_session(dir.path(), day, power))
            .collect::<Vec<_>>()
            .join(",");
        if first_logs.is_empty() {
            first_logs.clone_from(&logs);
        }
        let out = format!("calibrated-{power}");
        let (output, report) = calibrate(dir.path(), &overlay, &logs, Some(&day_list), &out);
        succeeded(output);
        assert_close(
            "order leg",
            leg(&report, "order_leg"),
            (2.0, 15.0, 0.5),
            0.10,
        );
        let (low, high) = (
            report["queue"]["equally_close"][0].as_f64().unwrap(),
            report["queue"]["equally_close"][1].as_f64().unwrap(),
        );
        assert!((low..=high).contains(&power), "{power}: {low} to {high}");
        let distances: Vec<Value> = report["queue"]["by_power"]
            .as_array()
            .unwrap()
            .iter()
            .map(|score| {
                json!([
                    score["power"],
                    score["mismatched_orders"],
                    score["difference_s"]
                ])
            })
            .collect();
        pinned.insert(
            format!("power {power}"),
            json!({
                "orders": report["queue"]["orders"],
                "fitted": report["queue"]["power"],
                "indistinguishable": report["queue"]["equally_close"],
                "by_power": distances,
            }),
        );
    }
    tests::pins::check("calibrate_fill_queue_power", &Value::Object(pinned));

    // Without --days, each day the logs cover comes from the archive: the days dumped from
    // days/, found through their partitions' sidecars while paths.journal points elsewhere.
    std::fs::write(
        dir.path().join("dump.yml"),
        "paths:\n  journal: days\n  parquet: archive\n  market: market\n",
    )
    .unwrap();
    succeeded(toolkit_in(
        dir.path(),
        &["dump-parquet", "--profile", "dump.yml"],
    ));
    let archived = dir.path().join("archived.yml");
    std::fs::write(
        &archived,
        "paths:\n  journal: nowhere\n  parquet: archive\n  market: market\n\
         paper:\n  cross_fill: trades_only\n",
    )
    .unwrap();
    let (output, report) = calibrate(dir.path(), &archived, &first_logs, None, "from-archive");
    succeeded(output);
    assert_eq!(
        report["days"],
        json!(["days/BTCUSDT/2026-03-01", "days/BTCUSDT/2026-03-02"])
    );
    assert_eq!(report["queue"]["equally_close"], json!([1.0, 1.0]));
}

#[test]
fn bad_logs_are_refused_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.jsonl"),
        "{\"ts_ns\":1,\"type\":\"place\",\"purpose\":\"entry\",\"id\":1,\"side\":\"Buy\",\
         \"price\":\"1\",\"qty\":\"1\",\"reduce_only\":false}\nnot json\n",
    )
    .unwrap();
    let output = toolkit_in(dir.path(), &["calibrate-fill", "--logs", "bad.jsonl"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.jsonl line 2: not JSON"), "{stderr}");

    // A good log, but no journal of its day where the configuration keeps them.
    std::fs::write(
        dir.path().join("lonely.jsonl"),
        "{\"ts_ns\":1767225600000000000,\"type\":\"place\",\"purpose\":\"entry\",\"id\":1,\
         \"side\":\"Buy\",\"price\":\"1\",\"qty\":\"1\",\"reduce_only\":false}\n",
    )
    .unwrap();
    let output = toolkit_in(dir.path(), &["calibrate-fill", "--logs", "lonely.jsonl"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "the logs cover 2026-01-01 but data/journal/BTCUSDT/2026-01-01 holds no journal"
        ),
        "{stderr}"
    );
}

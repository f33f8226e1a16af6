//! The engine end to end: paper trading on a simulated session with its metrics and log,
//! replay determinism, a cold path that stalls, and `/metrics` served over loopback while it
//! runs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use engine::config::Config;
use engine::model::registry::{Slot, Thresholds};
use engine::model::synthetic::promote_synthetic;
use engine::runtime::source::Pace;
use engine::runtime::{FeedSpec, RunReport, RunSpec, run};
use feed::journal::{ClockAnchor, JournalOptions, JournalWriter, StreamId};
use feed::paper::PaperVenue;
use feed::sim::{MarketSim, Regime, SimConfig};
use feed::{Fixed, Symbol};

const START_MS: u64 = 1_767_225_600_000;

/// A configuration whose registry holds the synthetic model (tau_entry 0.5, tau_hold 0.4).
fn config(dir: &Path) -> Config {
    let registry = dir.join("registry");
    let thresholds = Thresholds {
        tau_entry: 0.5,
        tau_hold: 0.4,
    };
    promote_synthetic(&registry, "synthetic-42", 42, thresholds, Slot::Active).unwrap();
    let mut config = Config::default();
    config.paths.registry = registry;
    // Sleeping when idle: tests run side by side, and a spinning hot thread each, all pinned
    // to the same core, would race for it (no decision depends on it).
    config.engine.busy_poll = false;
    config
}

fn spec(config: Config, feed: FeedSpec, pace: Pace, minutes: u64, out: PathBuf) -> RunSpec {
    RunSpec {
        config,
        symbol: Symbol::new("BTCUSDT").unwrap(),
        instrument: tests::shipped_instrument("BTCUSDT"),
        feed,
        pace,
        duration: Some(Duration::from_secs(minutes * 60)),
        metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        out_dir: out,
        onnxruntime: tests::onnxruntime_library(),
        record: None,
        apply_rollbacks: false,
        entry_rule: engine::pipeline::EntryRule::Model,
        pin_threads: true,
    }
}

fn sim(regime: Regime) -> FeedSpec {
    FeedSpec::Sim {
        regime,
        seed: 5,
        start_ms: START_MS,
        start_price: Fixed::from_int(60_000).unwrap(),
    }
}

/// The paper venue of `spec`'s configuration, as `engine run` builds it.
fn paper(spec: &RunSpec) -> PaperVenue {
    engine::venues::paper(&spec.config, &spec.instrument).unwrap()
}

fn run_to_end(spec: RunSpec) -> RunReport {
    let venue = paper(&spec);
    run(spec, venue, Arc::new(AtomicBool::new(false)), |_| {}).unwrap_or_else(|err| panic!("{err}"))
}

/// What a seeded run is pinned by: its decision log and its key counts and money.
fn outcome(report: &RunReport) -> serde_json::Value {
    let stats = &report.hot.stats;
    serde_json::json!({
        "decision_log_sha256": report.log.sha256,
        "decision_log_records": report.log.records,
        "frames": stats.frames,
        "candidates": stats.total_candidates(),
        "entries": stats.entries,
        "orders": stats.orders,
        "fills": stats.fills,
        "closed_trades": stats.closed_trades[0],
        "wins": stats.wins[0],
        "realized_pnl_usd": format!("{:.8}", stats.realized_pnl),
        "fees_usd": format!("{:.8}", stats.fees),
    })
}

fn log_lines(report: &RunReport) -> Vec<serde_json::Value> {
    std::fs::read_to_string(&report.log.path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Samples of a Prometheus exposition: `name{labels}` to value.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let lines = text.lines().map(|line| Ok(line.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    scrape
        .samples
        .into_iter()
        .map(|sample| {
            let mut labels: Vec<String> = sample
                .labels
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect();
            labels.sort();
            let value = match sample.value {
                prometheus_parse::Value::Counter(value)
                | prometheus_parse::Value::Gauge(value)
                | prometheus_parse::Value::Untyped(value) => value,
                prometheus_parse::Value::Histogram(buckets) => {
                    buckets.last().map_or(0.0, |bucket| bucket.count)
                }
                prometheus_parse::Value::Summary(_) => f64::NAN,
            };
            (format!("{}{{{}}}", sample.metric, labels.join(",")), value)
        })
        .collect()
}

#[test]
fn a_simulated_session_trades_fills_and_reports_it_in_its_log_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let report = run_to_end(spec(
        config(dir.path()),
        sim(Regime::HighVol),
        Pace::AsFastAsPossible,
        20,
        out.clone(),
    ));
    let stats = report.hot.stats;
    eprintln!(
        "{}",
        engine::runtime::summary::format(&report, &Config::default().engine.latency_budget_ns)
    );

    // It traded, exactly as pinned (seeded simulator, seeded paper venue, lockstep).
    tests::pins::check("simulated_session_high_vol_20min", &outcome(&report));
    assert!(
        stats.entries > 0 && stats.fills > 0 && stats.closed_trades[0] > 0,
        "{stats:?}"
    );
    assert_eq!(stats.decode_errors, [0; 5]);
    assert_eq!(stats.ring_drops, [0; 8]);

    // The log holds every decision, order and fill the counters counted.
    let lines = log_lines(&report);
    let count = |kind: &str| lines.iter().filter(|line| line["type"] == kind).count() as u64;
    assert_eq!(count("decision"), stats.total_candidates());
    assert_eq!(count("fill"), stats.fills);
    assert_eq!(count("place"), stats.orders);
    assert_eq!(count("cancel"), stats.cancels);
    assert_eq!(count("rejected"), stats.venue_rejects);
    assert_eq!(report.log.records, lines.len() as u64);
    let entries = lines
        .iter()
        .filter(|line| line["purpose"] == "entry")
        .count() as u64;
    assert_eq!(entries, stats.entries);

    // Every order ended: filled, cancelled or refused; nothing rests at the venue.
    let placed: BTreeSet<u64> = lines
        .iter()
        .filter(|line| line["type"] == "place")
        .map(|line| line["id"].as_u64().unwrap())
        .collect();
    let ended: BTreeSet<u64> = lines
        .iter()
        .filter(|line| {
            line["type"] == "cancelled"
                || line["type"] == "rejected"
                || (line["type"] == "fill" && line["leaves_qty"] == "0")
        })
        .map(|line| line["id"].as_u64().unwrap())
        .collect();
    assert_eq!(placed, ended);
    assert_eq!(report.hot.resting_after_shutdown, 0);
    // Post-only and reduce-only by construction: entries never reduce, exits always do.
    for line in lines.iter().filter(|line| line["type"] == "place") {
        let exit = line["purpose"] != "entry" && line["purpose"] != "reprice";
        assert_eq!(line["reduce_only"], exit, "{line}");
    }

    // The final exposition, as written next to the log, says the same.
    let text = std::fs::read_to_string(out.join("metrics.prom")).unwrap();
    let metrics = parse_metrics(&text);
    let metric = |key: &str| *metrics.get(key).unwrap_or_else(|| panic!("{key} missing"));
    assert_eq!(metric("fills_total{}"), stats.fills as f64);
    assert_eq!(metric("orders_total{}"), stats.orders as f64);
    assert_eq!(metric("entries_total{}"), stats.entries as f64);
    assert_eq!(
        metric("candidates_total{route=active}"),
        stats.candidates[0] as f64
    );
    assert_eq!(metric("candidates_total{route=canary}"), 0.0);
    assert_eq!(
        metric("closed_trades_total{route=active}"),
        stats.closed_trades[0] as f64
    );
    assert_eq!(metric("fill_rate{}"), stats.fill_rate());
    assert_eq!(
        metric("feed_messages_total{topic=orderbook}"),
        stats.decoded[0] as f64
    );
    assert_eq!(metric("model_active_id{backend=onnx,id=synthetic-42}"), 1.0);
    assert_eq!(metric("model_shadow_id{id=}"), 0.0);
    assert_eq!(metric("tau_entry_current{model=synthetic-42}"), 0.5);
    assert_eq!(metric("winrate_canary{}"), 0.0);
    assert_eq!(metric("sample_canary{}"), 0.0);
    assert_eq!(metric("shadow_signals_evaluated_total{}"), 0.0);
    assert_eq!(metric("shadow_signals_approved_total{}"), 0.0);
    assert_eq!(metric("rollback_total{}"), 0.0);
    assert_eq!(metric("onnx_parity_fail_total{}"), 0.0);
    assert_eq!(
        metric("parity_rows_compared_total{}"),
        stats.candidates[0] as f64
    );
    assert_eq!(
        metric("mode_switch_total{}"),
        report.board.mode_switch_total as f64
    );
    assert_eq!(metric("winrate_baseline_active{}"), report.board.winrate[0]);
    assert!(metric("stage_latency_ns{quantile=0.5,stage=decode}") > 0.0);
    assert!(text.contains("shadow_score_distribution_bucket{split=\"online\",le=\"+Inf\"} 0"));
}

/// Writes `minutes` of the simulator into a journal, as `toolkit synth` does.
fn journal(dir: &Path, regime: Regime, minutes: u64) {
    let config = SimConfig {
        duration_ms: minutes * 60_000,
        ..SimConfig::btcusdt(regime, START_MS, 9)
    };
    let anchor = ClockAnchor {
        mono_ns: 1_000_000_000,
        wall_ns: START_MS * 1_000_000,
    };
    let (mut writer, _) =
        JournalWriter::open(dir, JournalOptions::with_segment_mib(16), anchor).unwrap();
    let (mut sim, mut frame) = (MarketSim::new(config), Vec::new());
    while let Some(produced) = sim.next_frame(&mut frame) {
        let mono_ns = anchor.mono_ns + (produced.recv_ns - anchor.wall_ns);
        writer
            .append(mono_ns, StreamId::PUBLIC_LINEAR, &frame)
            .unwrap();
    }
    writer.flush().unwrap();
}

#[test]
fn replaying_a_journal_twice_makes_the_same_decisions_and_fills_and_so_does_its_recording() {
    let dir = tempfile::tempdir().unwrap();
    let journal_dir = dir.path().join("journal");
    journal(&journal_dir, Regime::HighVol, 15);
    let config = config(dir.path());
    let replay = |name: &str| {
        run_to_end(spec(
            config.clone(),
            FeedSpec::Replay {
                dir: journal_dir.clone(),
            },
            Pace::AsFastAsPossible,
            60,
            dir.path().join(name),
        ))
    };
    let (first, second) = (replay("first"), replay("second"));
    tests::pins::check("replay_high_vol_15min", &outcome(&first));
    assert!(first.hot.stats.fills > 0, "{:?}", first.hot.stats);
    // A third run records what it receives; replaying the recording decides the same again.
    let recorded = dir.path().join("recorded");
    let mut recording = spec(
        config.clone(),
        FeedSpec::Replay {
            dir: journal_dir.clone(),
        },
        Pace::AsFastAsPossible,
        60,
        dir.path().join("recording"),
    );
    recording.record = Some(recorded.clone());
    let recording = run_to_end(recording);
    assert_eq!(
        recording.record.as_ref().map(|record| record.frames),
        Some(recording.hot.stats.frames)
    );
    let replayed = run_to_end(spec(
        config.clone(),
        FeedSpec::Replay { dir: recorded },
        Pace::AsFastAsPossible,
        60,
        dir.path().join("replayed"),
    ));
    for run in [&recording, &replayed] {
        assert_eq!(run.log.sha256, first.log.sha256);
    }
    assert_eq!(first.log.sha256, second.log.sha256);
    assert_eq!(first.log.records, second.log.records);
    assert_eq!(
        std::fs::read(&first.log.path).unwrap(),
        std::fs::read(&second.log.path).unwrap()
    );
    assert_eq!(first.hot.stats.fills, second.hot.stats.fills);
    assert_eq!(first.hot.stats.balance, second.hot.stats.balance);
}

fn scrape(addr: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[test]
fn metrics_are_served_over_loopback_while_the_engine_runs_and_a_stop_shuts_it_down() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(
        config(dir.path()),
        sim(Regime::HighVol),
        Pace::RealTime,
        60,
        dir.path().join("run"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (url_sender, url) = std::sync::mpsc::channel();
    let engine = std::thread::spawn({
        let stop = Arc::clone(&stop);
        let venue = paper(&spec);
        move || {
            run(spec, venue, stop, |started| {
                url_sender.send(started.metrics_url.clone()).unwrap();
            })
        }
    });
    let url = url.recv_timeout(Duration::from_secs(60)).unwrap();
    let addr = url
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap()
        .to_owned();
    // Scrape until the feed has been counted.
    assert!(scrape(&addr).unwrap().starts_with("HTTP/1.0 200 OK"));
    let metrics = wait_for(&addr, "the first frames", |metrics| {
        metrics["feed_frames_total{}"] > 0.0
    });
    for name in [
        "winrate_baseline_active{}",
        "winrate_canary{}",
        "sample_canary{}",
        "onnx_parity_fail_total{}",
        "model_active_id{backend=onnx,id=synthetic-42}",
        "model_shadow_id{id=}",
        "shadow_signals_evaluated_total{}",
        "shadow_signals_approved_total{}",
        "shadow_score_distribution{split=online}",
        "tau_entry_current{model=synthetic-42}",
        "mode_switch_total{}",
        "rollback_total{}",
        "ring_drops_total{ring=log}",
        "stage_latency_ns{quantile=0.99,stage=decision}",
        "pnl_usd{kind=net}",
        "markout_bps{horizon=5s}",
        "candidate_rejections_total{reason=liquidity_by_side}",
        "book_resyncs_total{reason=gap,symbol=BTCUSDT}",
    ] {
        assert!(
            metrics.contains_key(name),
            "{name} missing from {metrics:?}"
        );
    }
    assert!(metrics["feed_frames_total{}"] > 0.0, "{metrics:?}");
    let not_found = scrape(&addr).map(|_| ()).and_then(|()| {
        let mut stream = TcpStream::connect(&addr)?;
        stream.write_all(b"GET /other HTTP/1.0\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    });
    assert!(not_found.unwrap().starts_with("HTTP/1.0 404"));

    stop.store(true, Ordering::Relaxed);
    let report = engine.join().unwrap().unwrap();
    assert_eq!(report.hot.stop, engine::runtime::hot::StopReason::Signal);
    assert_eq!(report.hot.resting_after_shutdown, 0);
    // The metrics thread ended with the run (its last exposition is in the report); whether
    // the freed port refuses a connection is not asked: another test may have taken it.
    assert!(report.metrics.text.contains("\nfeed_frames_total "));
}

#[test]
fn a_canary_trades_its_share_and_the_shadow_model_scores_every_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    let thresholds = Thresholds {
        tau_entry: 0.45,
        tau_hold: 0.35,
    };
    promote_synthetic(
        &config.paths.registry,
        "synthetic-7",
        7,
        thresholds,
        Slot::Shadow,
    )
    .unwrap();
    config.rollout.mode = engine::config::RolloutMode::Canary;
    config.rollout.canary_fraction = 0.5;
    config.ai_scorer.shadow.enabled = true;
    let report = run_to_end(spec(
        config,
        sim(Regime::HighVol),
        Pace::AsFastAsPossible,
        20,
        dir.path().join("run"),
    ));
    let stats = report.hot.stats;
    let [active, canary] = stats.candidates;
    assert!(active > 50 && canary > 50, "{stats:?}");
    let lines = log_lines(&report);
    let routed = |route: &str| {
        lines
            .iter()
            .filter(|line| line["type"] == "decision" && line["route"] == route)
            .count() as u64
    };
    assert_eq!((routed("active"), routed("canary")), (active, canary));
    let board = &report.board;
    assert_eq!(board.shadow_id.as_deref(), Some("synthetic-7"));
    assert_eq!(board.shadow_evaluated, stats.total_candidates());
    assert_eq!(board.tau_entry.get("synthetic-7"), Some(&0.45));
    // Parity is checked on what the active model scored.
    assert_eq!(board.parity_compared, active);
    let text = std::fs::read_to_string(dir.path().join("run/metrics.prom")).unwrap();
    let metrics = parse_metrics(&text);
    assert_eq!(metrics["model_shadow_id{id=synthetic-7}"], 1.0);
    assert_eq!(
        metrics["shadow_signals_evaluated_total{}"],
        stats.total_candidates() as f64
    );
    assert_eq!(
        metrics["shadow_score_distribution{split=online}"],
        stats.total_candidates() as f64
    );
    assert_eq!(metrics["candidates_total{route=canary}"], canary as f64);
    assert_eq!(metrics["rollout_mode{mode=canary}"], 1.0);
    assert_eq!(metrics["sample_canary{}"], board.window_samples[1] as f64);
    assert_eq!(metrics["winrate_canary{}"], board.winrate[1]);
}

/// Scrapes until `done` holds for the samples, or panics after ten seconds.
fn wait_for(
    addr: &str,
    what: &str,
    done: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    for _ in 0..200 {
        let response = scrape(addr).unwrap();
        let metrics = parse_metrics(response.split("\r\n\r\n").nth(1).unwrap());
        if done(&metrics) {
            return metrics;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn a_new_model_in_the_active_slot_is_swapped_in_and_a_bad_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let registry = config.paths.registry.clone();
    let spec = spec(
        config,
        sim(Regime::Normal),
        Pace::RealTime,
        60,
        dir.path().join("run"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (url_sender, url) = std::sync::mpsc::channel();
    let engine = std::thread::spawn({
        let stop = Arc::clone(&stop);
        let venue = paper(&spec);
        move || {
            run(spec, venue, stop, |started| {
                url_sender.send(started.metrics_url.clone()).unwrap()
            })
        }
    });
    let url = url.recv_timeout(Duration::from_secs(60)).unwrap();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_owned();

    // A good model: checked and swapped in.
    let thresholds = Thresholds {
        tau_entry: 0.55,
        tau_hold: 0.45,
    };
    promote_synthetic(&registry, "synthetic-9", 9, thresholds, Slot::Active).unwrap();
    let metrics = wait_for(&addr, "the new model", |metrics| {
        metrics.contains_key("model_active_id{backend=onnx,id=synthetic-9}")
            && metrics["model_swaps_total{}"] == 1.0
    });
    assert_eq!(metrics["model_loads_total{}"], 2.0);
    assert_eq!(metrics["tau_entry_current{model=synthetic-9}"], 0.55);

    // A model trained on another feature schema: refused, the running one kept. It is made
    // aside and moved in whole, then the slot points at it.
    let scratch = dir.path().join("scratch");
    promote_synthetic(&scratch, "other-schema", 3, thresholds, Slot::Active).unwrap();
    let info_path = scratch.join("other-schema/model.json");
    let info = std::fs::read_to_string(&info_path).unwrap();
    let info = info.replace(engine::features::FEATURE_SCHEMA_HASH, "0000");
    std::fs::write(&info_path, info).unwrap();
    std::fs::rename(scratch.join("other-schema"), registry.join("other-schema")).unwrap();
    engine::model::registry::set_slot(&registry, Slot::Active, "other-schema").unwrap();
    let metrics = wait_for(&addr, "the refusal", |metrics| {
        metrics["model_load_failures_total{}"] >= 1.0
    });
    assert!(metrics.contains_key("model_active_id{backend=onnx,id=synthetic-9}"));
    assert_eq!(metrics["model_swaps_total{}"], 1.0);

    // Every drill model (toolkit drill-model): refused in turn, the running one kept.
    use engine::model::drills::{ModelFault, write_faulty};
    let good = registry.join("synthetic-9");
    for (index, fault) in [
        ModelFault::Disagree,
        ModelFault::Width,
        ModelFault::NanSplit,
        ModelFault::ThresholdRange,
        ModelFault::Truncated,
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("drill-{index}");
        write_faulty(&good, fault, &scratch.join(&id), &id).unwrap();
        std::fs::rename(scratch.join(&id), registry.join(&id)).unwrap();
        engine::model::registry::set_slot(&registry, Slot::Active, &id).unwrap();
        let failures = 2.0 + index as f64;
        let metrics = wait_for(&addr, &format!("the refusal of {fault:?}"), |metrics| {
            metrics["model_load_failures_total{}"] >= failures
        });
        assert!(
            metrics.contains_key("model_active_id{backend=onnx,id=synthetic-9}"),
            "{fault:?}"
        );
        assert_eq!(metrics["model_swaps_total{}"], 1.0, "{fault:?}");
    }

    stop.store(true, Ordering::Relaxed);
    let report = engine.join().unwrap().unwrap();
    assert_eq!(report.board.active_id, "synthetic-9");
    assert_eq!(report.hot.stats.model_swaps, 1);
}

/// Real money never trades on a scorer nothing checks: without ONNX Runtime, real mode does not
/// start, even with the native backend (paper mode warns and goes on: `engine/tests/run_cli.rs`).
#[test]
fn real_mode_does_not_start_without_onnx_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.exchange.mode = engine::config::Mode::Real;
    config.ai_scorer.backend = engine::config::ScorerBackend::Native;
    let mut spec = spec(
        config,
        sim(Regime::Normal),
        Pace::AsFastAsPossible,
        1,
        dir.path().join("run"),
    );
    spec.onnxruntime = PathBuf::from("/nonexistent/libonnxruntime.so");
    let venue = paper(&spec);
    let started = std::cell::Cell::new(false);
    let error = run(spec, venue, Arc::new(AtomicBool::new(false)), |_| {
        started.set(true);
    })
    .err()
    .unwrap();
    assert!(!started.get());
    assert_eq!(
        error.to_string(),
        "real mode checks the native evaluator against ONNX Runtime on every candidate: cannot \
         load ONNX Runtime from /nonexistent/libonnxruntime.so: no such file (scripts/setup.sh \
         installs it)"
    );
}

/// A registry whose active model, `synthetic-42`, was promoted after `synthetic-41`, and whose
/// reference says every score it gave in training was at or above 0.9999: any live session
/// drifts from it.
fn drifting_registry(config: &mut Config) {
    use engine::model::registry::{
        MODEL_INFO_FILE, ManifestEntry, ModelInfo, append_manifest, write_json_atomically,
    };
    let registry = config.paths.registry.clone();
    let thresholds = Thresholds {
        tau_entry: 0.5,
        tau_hold: 0.4,
    };
    promote_synthetic(&registry, "synthetic-41", 41, thresholds, Slot::Active).unwrap();
    promote_synthetic(&registry, "synthetic-42", 42, thresholds, Slot::Active).unwrap();
    for id in ["synthetic-41", "synthetic-42"] {
        let mut info = ModelInfo::read(&registry.join(id)).unwrap();
        info.reference = vec![engine::model::registry::Histogram {
            name: "score".to_owned(),
            edges: vec![0.0001, 0.9999],
            counts: vec![0, 0, 1000],
        }];
        write_json_atomically(&registry.join(id).join(MODEL_INFO_FILE), &info).unwrap();
        append_manifest(
            &registry,
            ManifestEntry {
                id: id.to_owned(),
                created_at: info.created_at.clone(),
                schema_hash: info.schema_hash.clone(),
                thresholds,
                path: PathBuf::from(id),
                notes: String::new(),
                release: "release check passed at 2026-01-01T00:00:00Z".to_owned(),
                rolled_back: None,
            },
        )
        .unwrap();
    }
    config.rollout_guard.drift_window = 10;
    config.rollout_guard.drift_windows = 2;
}

#[test]
fn a_drifting_active_model_is_rolled_back_to_the_previous_one_and_held_until_cleared() {
    use engine::model::registry::{clear_hold, read_hold, read_manifest, read_slot};
    use engine::runtime::drift::{ks, psi};
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    drifting_registry(&mut config);
    let registry = config.paths.registry.clone();
    // Twenty minutes of the high-vol market, fast, into `out`.
    let session = |out: &str| {
        run_to_end(spec(
            config.clone(),
            sim(Regime::HighVol),
            Pace::AsFastAsPossible,
            20,
            dir.path().join(out),
        ))
    };
    let report = session("run");

    // The first twenty decisions are the two windows; every score below 0.9999.
    let decisions: Vec<serde_json::Value> = log_lines(&report)
        .into_iter()
        .filter(|line| line["type"] == "decision")
        .take(20)
        .collect();
    let mut live = [0_u64; 3];
    for decision in &decisions[10..] {
        let score = decision["score"].as_f64().unwrap();
        live[usize::from(score >= 0.0001) + usize::from(score >= 0.9999)] += 1;
    }
    assert_eq!(live[2], 0, "{live:?}");
    let (psi, ks) = (psi(&[0, 0, 1000], &live), ks(&[0, 0, 1000], &live));
    assert_eq!(ks, 1.0);
    let detail =
        format!("2 drift windows of 10 in a row: score psi {psi:.3} > 0.2, score ks {ks:.3} > 0.1");
    let rolled_at_ms = decisions[19]["ts_ns"].as_u64().unwrap() / 1_000_000;

    // The registry: synthetic-41 active again, synthetic-42 marked, the hold left.
    assert_eq!(
        read_slot(&registry, Slot::Active).unwrap().as_deref(),
        Some("synthetic-41")
    );
    let manifest = read_manifest(&registry).unwrap();
    assert_eq!(manifest[0].rolled_back, None);
    assert_eq!(
        manifest[1].rolled_back.as_deref(),
        Some(format!("at {rolled_at_ms} ms by drift: {detail}").as_str())
    );
    let hold = read_hold(&registry).unwrap().unwrap();
    assert_eq!(
        (hold.from.as_str(), hold.to.as_deref(), hold.ts_ms),
        ("synthetic-42", Some("synthetic-41"), rolled_at_ms)
    );

    // The board and the metrics: one rollback, as a MODE_SWITCH, the rollout held; the drift
    // of the model rolled back, then of the one swapped in.
    let board = &report.board;
    assert_eq!(board.rollback_total, 1);
    let rollbacks: Vec<_> = board
        .mode_switches
        .iter()
        .filter(|switch| switch.kind == "rollback")
        .collect();
    assert_eq!(rollbacks.len(), 1);
    assert_eq!(rollbacks[0].ts_ms, rolled_at_ms);
    assert_eq!(
        rollbacks[0].detail,
        format!(
            "drift: {detail}; active model synthetic-42 -> synthetic-41; rollout disabled until \
             toolkit rollout clear"
        )
    );
    assert!(board.rollout_held);
    assert_eq!(board.active_id, "synthetic-41");
    assert_eq!(report.hot.stats.model_swaps, 1);
    let text = std::fs::read_to_string(dir.path().join("run/metrics.prom")).unwrap();
    let metrics = parse_metrics(&text);
    assert_eq!(metrics["rollback_total{}"], 1.0);
    assert_eq!(metrics["rollout_held{}"], 1.0);
    assert_eq!(metrics["rollout_mode{mode=disabled}"], 1.0);
    assert_eq!(
        metrics["model_drift_ks{feature=score,model=synthetic-41}"],
        1.0
    );
    assert!(metrics["model_drift_psi{feature=score,model=synthetic-41}"] > 0.2);
    assert_eq!(metrics["halted{reason=model}"], 0.0);

    // A restart finds the hold: synthetic-41 trades, nothing is rolled back again however it
    // drifts, and the rollout stays off.
    let again = session("again");
    assert_eq!(again.board.rollback_total, 0);
    assert!(again.board.rollout_held);
    assert_eq!(again.started.active_id, "synthetic-41");
    assert_eq!(
        read_slot(&registry, Slot::Active).unwrap().as_deref(),
        Some("synthetic-41")
    );

    // Cleared (as `toolkit rollout clear` does), the next session rolls synthetic-41 back in
    // turn: there is no model before it that was not rolled back, so entries halt.
    clear_hold(&registry).unwrap();
    let cleared = session("cleared");
    assert_eq!(cleared.board.rollback_total, 1);
    let hold = read_hold(&registry).unwrap().unwrap();
    assert_eq!((hold.from.as_str(), hold.to), ("synthetic-41", None));
    assert_eq!(cleared.board.halts, 4);
    let text = std::fs::read_to_string(dir.path().join("cleared/metrics.prom")).unwrap();
    assert_eq!(parse_metrics(&text)["halted{reason=model}"], 1.0);
    // No entry after the halt (the first session, which had a model to go back to, went on
    // entering after its rollback).
    let entries_after = |report: &RunReport, ms: u64| {
        log_lines(report)
            .into_iter()
            .filter(|line| {
                line["type"] == "place"
                    && line["purpose"] == "entry"
                    && line["ts_ns"].as_u64().unwrap() > (ms + 1) * 1_000_000
            })
            .count()
    };
    assert!(entries_after(&report, rolled_at_ms) > 10);
    assert_eq!(entries_after(&cleared, hold.ts_ms), 0);
}

#[test]
fn a_replay_records_the_rollback_it_would_make_and_leaves_the_registry_alone_unless_asked() {
    use engine::model::registry::{read_hold, read_manifest, read_slot};
    let dir = tempfile::tempdir().unwrap();
    let journal_dir = dir.path().join("journal");
    journal(&journal_dir, Regime::HighVol, 20);
    let mut config = config(dir.path());
    drifting_registry(&mut config);
    let registry = config.paths.registry.clone();
    let manifest_before = std::fs::read(registry.join("manifest.json")).unwrap();
    let replay = |out: &str, apply_rollbacks: bool| {
        let mut spec = spec(
            config.clone(),
            FeedSpec::Replay {
                dir: journal_dir.clone(),
            },
            Pace::AsFastAsPossible,
            60,
            dir.path().join(out),
        );
        spec.apply_rollbacks = apply_rollbacks;
        run_to_end(spec)
    };

    // Recorded once, as a MODE_SWITCH of its own; the model kept, nothing halted.
    let research = replay("research", false);
    let board = &research.board;
    let kinds: Vec<&str> = board
        .mode_switches
        .iter()
        .map(|switch| switch.kind)
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|&&kind| kind == "rollback_recorded")
            .count(),
        1,
        "{kinds:?}"
    );
    assert!(!kinds.contains(&"rollback"), "{kinds:?}");
    let recorded = board
        .mode_switches
        .iter()
        .find(|switch| switch.kind == "rollback_recorded")
        .unwrap();
    assert!(
        recorded
            .detail
            .starts_with("drift: 2 drift windows of 10 in a row: score psi ")
            && recorded.detail.ends_with(
                "; active model synthetic-42 kept: a replay never changes the registry \
                 (engine run --apply-rollbacks applies it)"
            ),
        "{}",
        recorded.detail
    );
    assert_eq!(board.rollback_total, 0);
    assert!(!board.rollout_held);
    assert_eq!(board.halts, 0);
    assert_eq!(board.active_id, "synthetic-42");
    assert_eq!(research.hot.stats.model_swaps, 0);
    // The registry is byte for byte what it was.
    assert_eq!(
        read_slot(&registry, Slot::Active).unwrap().as_deref(),
        Some("synthetic-42")
    );
    assert_eq!(read_hold(&registry).unwrap(), None);
    assert_eq!(
        std::fs::read(registry.join("manifest.json")).unwrap(),
        manifest_before
    );

    // Asked to, the replay rolls the registry back as a live session would.
    let applied = replay("applied", true);
    assert_eq!(applied.board.rollback_total, 1);
    assert_eq!(
        read_slot(&registry, Slot::Active).unwrap().as_deref(),
        Some("synthetic-41")
    );
    assert_eq!(
        read_hold(&registry).unwrap().map(|hold| hold.from),
        Some("synthetic-42".to_owned())
    );
    assert!(read_manifest(&registry).unwrap()[1].rolled_back.is_some());
}

//! `toolkit simulate-execution` end to end: a simulated day replayed through the engine's hot
//! loop under each kind of shock, the same report on one core and on two, known answers where
//! a shock's effect is certain, the PnL floor's exit status, and a bad scenarios file refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::fs;
use std::path::Path;

use common::{succeeded, toolkit_in};
use engine::model::synthetic::scratch_profile;
use serde_json::{Value, json};

/// Every kind of shock, and two whose outcome is known: the feed gone for longer than the day
/// (nothing to trade on) and the venue paused for longer than the day (nothing reaches it
/// before the market ends).
const SCENARIOS: &str = "\
scenarios:
  - name: as-recorded
  - name: slow
    latency: {factor: [2.0, 4.0], with_volatility: 8.0}
  - name: pause
    shocks: [{kind: venue_pause, count: 2, duration: 1m}]
  - name: gap
    shocks: [{kind: feed_gap, count: 2, duration: 30s}]
  - name: thin
    shocks: [{kind: liquidity_withdrawal, count: 1, duration: 2m, keep: 0.1}]
  - name: flash
    shocks: [{kind: flash_move, count: 1, duration: 1m, move_bps: 100}]
  - name: feed-gone
    shocks: [{kind: feed_gap, count: 1, duration: 1h}]
  - name: venue-gone
    shocks: [{kind: venue_pause, count: 1, duration: 1h}]
";

/// The profile (the synthetic model active), a 12-minute normal day, the scenarios file.
fn setup(dir: &Path) -> (String, String, String) {
    let profile = scratch_profile(dir).unwrap();
    let profile = profile.to_str().unwrap().to_owned();
    let out = succeeded(toolkit_in(
        dir,
        &[
            "synth",
            "--days",
            "normal",
            "--start",
            "2026-03-01",
            "--hours",
            "0.2",
            "--seed",
            "11",
            "--out",
            "days",
        ],
    ));
    assert!(out.contains("frames"), "{out}");
    fs::write(dir.join("scenarios.yml"), SCENARIOS).unwrap();
    let model = dir.join("registry/synthetic-42");
    (
        profile,
        model.to_str().unwrap().to_owned(),
        "days/BTCUSDT/2026-03-01".to_owned(),
    )
}

fn simulate(
    dir: &Path,
    profile: &str,
    model: &str,
    day: &str,
    extra: &[&str],
) -> std::process::Output {
    let onnxruntime = tests::onnxruntime_library().to_string_lossy().into_owned();
    let mut args = vec![
        "simulate-execution",
        "--profile",
        profile,
        "--model",
        model,
        "--days",
        day,
        "--scenarios",
        "scenarios.yml",
        "--runs",
        "4",
        "--seed",
        "5",
        "--onnxruntime",
        &onnxruntime,
    ];
    args.extend_from_slice(extra);
    toolkit_in(dir, &args)
}

/// A scenario's runs' figures that the pin keeps.
fn figures(scenario: &Value) -> Value {
    let runs: Vec<Value> = scenario["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| {
            json!([
                run["pnl_usd"],
                run["trades"],
                run["entries"],
                run["fill_rate"],
                run["markout_5s_bps"],
                run["worst_drawdown_usd"],
                run["requests_delayed"],
                run["frames_dropped"],
                run["snapshots_written"],
            ])
        })
        .collect();
    json!({ "name": scenario["name"], "runs": runs, "pnl_usd": scenario["distribution"]["pnl_usd"] })
}

#[test]
fn every_shock_runs_through_the_hot_loop_the_same_on_any_number_of_cores() {
    let dir = tempfile::tempdir().unwrap();
    let (profile, model, day) = setup(dir.path());
    let one = succeeded(simulate(
        dir.path(),
        &profile,
        &model,
        &day,
        &["--jobs", "1", "--out", "one"],
    ));
    assert!(one.contains("| as-recorded |"), "{one}");
    let two = succeeded(simulate(
        dir.path(),
        &profile,
        &model,
        &day,
        &["--jobs", "2", "--out", "two"],
    ));
    let report = fs::read(dir.path().join("one/execution_report.json")).unwrap();
    assert_eq!(
        report,
        fs::read(dir.path().join("two/execution_report.json")).unwrap(),
        "one core and two disagree"
    );
    let table = |out: &str| out.replace("one/", "OUT/").replace("two/", "OUT/");
    assert_eq!(table(&one), table(&two));
    // The runs' scratch journals and logs are gone; the page is there.
    assert!(!dir.path().join("one/runs").exists());
    let page = fs::read_to_string(dir.path().join("one/execution_report.html")).unwrap();
    assert!(page.contains("<h2>Net PnL, USD</h2><svg"), "{page}");

    let report: Value = serde_json::from_slice(&report).unwrap();
    let scenarios = report["scenarios"].as_array().unwrap();
    let by_name = |name: &str| -> &Value { scenarios.iter().find(|s| s["name"] == name).unwrap() };
    // Known answers. The feed gone all day: every frame dropped, nothing traded.
    let frames: u64 = {
        let session: Value = serde_json::from_str(
            &fs::read_to_string(dir.path().join(&day).join("session.json")).unwrap(),
        )
        .unwrap();
        session["frames"].as_u64().unwrap()
    };
    for run in by_name("feed-gone")["runs"].as_array().unwrap() {
        assert_eq!(run["frames_dropped"], frames, "{run}");
        assert_eq!(
            (run["trades"].as_u64(), run["entries"].as_u64()),
            (Some(0), Some(0))
        );
        assert_eq!(run["pnl_usd"], 0.0);
    }
    // The venue paused all day: the entry and what followed it (4 requests) reached it only
    // after the market's end, so nothing filled.
    for run in by_name("venue-gone")["runs"].as_array().unwrap() {
        assert_eq!(
            (
                run["requests_delayed"].as_u64(),
                run["trades"].as_u64(),
                run["pnl_usd"].as_f64()
            ),
            (Some(4), Some(0), Some(0.0)),
            "{run}"
        );
    }
    // Shocks that change the feed rewrote it; the others did not.
    for name in ["as-recorded", "slow", "pause"] {
        for run in by_name(name)["runs"].as_array().unwrap() {
            assert_eq!(
                (
                    run["frames_dropped"].as_u64(),
                    run["snapshots_written"].as_u64()
                ),
                (Some(0), Some(0))
            );
        }
    }
    let pinned: Vec<Value> = scenarios.iter().map(figures).collect();
    tests::pins::check("simulate_execution", &json!(pinned));
}

#[test]
fn a_pnl_floor_fails_the_run_and_a_bad_scenarios_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (profile, model, day) = setup(dir.path());
    fs::write(
        dir.path().join("scenarios.yml"),
        "scenarios:\n  - name: as-recorded\n",
    )
    .unwrap();
    let output = simulate(
        dir.path(),
        &profile,
        &model,
        &day,
        &["--out", "floor", "--min-p5-pnl-usd", "1000000"],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL as-recorded: 5th-percentile PnL "),
        "{stdout}"
    );
    assert!(stdout.contains(" is below +1000000.00"), "{stdout}");
    // The report is written all the same.
    assert!(dir.path().join("floor/execution_report.json").exists());

    fs::write(
        dir.path().join("scenarios.yml"),
        "scenarios:\n  - name: a\n    shocks: [{kind: flash_move, count: 1, duration: 1m, move_bps: 0}]\n",
    )
    .unwrap();
    let output = simulate(dir.path(), &profile, &model, &day, &["--out", "bad"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: checking scenarios.yml: scenario a: flash_move move_bps 0 is not in (0, 5000)\n"
    );
    assert!(!dir.path().join("bad").exists());
}

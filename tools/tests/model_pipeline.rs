//! The offline model pipeline end to end on three short simulated days: `dump-parquet`,
//! `label`, `train`, `canary`, `release-check` and `promote`, each run as a user runs it, in a
//! scratch working directory with the shipped configuration. The simulator's market has no edge
//! a maker can earn after fees, so the release gates must refuse the model. With its planted
//! edges on (`synth --edge`: a weak trend and informed accumulation before a step), the known
//! answer is swept over four strengths: refused at none and below the detection limit,
//! released above it with every baseline beaten, the share of the oracle's PnL and the score's
//! correlation with what the informed knew rising with strength; negative controls (labels
//! shuffled, features a minute late) refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use engine::features::{FEATURE_NAMES, FEATURE_SCHEMA_HASH};
use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn toolkit(dir: &Path, args: &[&str]) -> Output {
    let config = workspace().join("config/app.yml");
    let runtime = workspace().join(".runtime/onnxruntime-1.31.1/libonnxruntime.so.1.31.1");
    let mut full: Vec<&str> = args.to_vec();
    if args[0] != "drill-model" {
        full.extend(["--config", config.to_str().unwrap()]);
    }
    Command::new(env!("CARGO_BIN_EXE_toolkit"))
        .args(&full)
        .current_dir(dir)
        .env("ORT_DYLIB_PATH", runtime)
        .output()
        .unwrap()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// Replays the journal `day` at full speed with the active model of `registry` (the native
/// evaluator), rollbacks applied as a live session applies them; the cold path's final state.
fn replay_day(registry: &Path, day: &Path, out: &Path) -> engine::runtime::board::Board {
    use engine::runtime::source::Pace;
    use engine::runtime::{FeedSpec, RunSpec, run};
    let loaded = engine::config::load(&workspace().join("config/app.yml"), None).unwrap();
    let mut config = loaded.config;
    config.paths.registry = registry.to_path_buf();
    config.ai_scorer.backend = engine::config::ScorerBackend::Native;
    config.engine.busy_poll = false;
    let instrument = loaded.symbols.symbols["BTCUSDT"];
    let spec = RunSpec {
        symbol: feed::Symbol::new("BTCUSDT").unwrap(),
        instrument,
        feed: FeedSpec::Replay {
            dir: day.to_path_buf(),
        },
        pace: Pace::AsFastAsPossible,
        duration: None,
        metrics_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        out_dir: out.to_path_buf(),
        onnxruntime: out.join("no-onnxruntime.so"),
        record: None,
        apply_rollbacks: true,
        entry_rule: engine::pipeline::EntryRule::Model,
        pin_threads: false,
        config,
    };
    let venue = engine::venues::paper(&spec.config, &spec.instrument).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    run(spec, venue, stop, |_| {})
        .unwrap_or_else(|err| panic!("{err}"))
        .board
}

/// What pyarrow (installed by scripts/setup.sh) reads back from a candidate file: every column
/// with its type, and the rows that break an invariant the columns must keep.
const PYARROW_CHECK: &str = r#"
import json, sys
import pyarrow.parquet as pq
table = pq.read_table(sys.argv[1], partitioning=None)
rows = table.to_pylist()
broken = 0
for row in rows:
    bid, ask = row["best_bid"], row["best_ask"]
    touch = bid if row["side"] == "buy" else ask
    spread_bps = (ask - bid) / ((bid + ask) / 2) * 1e4
    if (row["mid"] != (bid + ask) / 2 or row["price"] != touch
            or row["signal_id"] % 2 != (0 if row["side"] == "buy" else 1)
            or abs(row["spread_bps"] - spread_bps) > 1e-3 * max(1.0, spread_bps)):
        broken += 1
print(json.dumps({
    "columns": [[f.name, str(f.type)] for f in table.schema],
    "rows": table.num_rows,
    "broken": broken,
    "first_ts": rows[0]["ts"].isoformat() if rows else None,
}))
"#;

#[test]
fn three_simulated_days_become_a_promoted_model() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    ok(toolkit(
        dir,
        &[
            "synth",
            "--hours",
            "0.5",
            "--seed",
            "11",
            "--out",
            "data/journal",
        ],
    ));
    // Three more days, held out for the canary.
    ok(toolkit(
        dir,
        &[
            "synth",
            "--hours",
            "0.25",
            "--start",
            "2026-01-04",
            "--seed",
            "21",
            "--out",
            "data/holdout",
        ],
    ));

    // The archive.
    let dumped = ok(toolkit(dir, &["dump-parquet"]));
    assert!(dumped.contains("dumped 3 partitions"), "{dumped}");
    let partition = dir.join("data/parquet/symbol=BTCUSDT/date=2026-01-02");
    let sidecar = json(&partition.join("_partition.json"));
    assert_eq!(sidecar["schema_hash"], FEATURE_SCHEMA_HASH);
    assert_eq!(sidecar["regime"], "event");
    assert_eq!(
        sidecar["feature_names"].as_array().unwrap().len(),
        FEATURE_NAMES.len()
    );
    assert_eq!(sidecar["rows"]["decode_errors"], 0);
    let candidates = sidecar["rows"]["candidates"].as_u64().unwrap();
    assert!(candidates > 100, "{sidecar}");
    assert!(
        dir.join("data/market/symbol=BTCUSDT/date=2026-01-02/tops-0.parquet")
            .exists()
    );
    let again = ok(toolkit(dir, &["dump-parquet"]));
    assert!(again.contains("3 partitions complete already"), "{again}");
    let only_one = ok(toolkit(
        dir,
        &[
            "dump-parquet",
            "--force",
            "--from",
            "2026-01-02",
            "--to",
            "2026-01-02",
        ],
    ));
    assert!(only_one.contains("dumped 1 partitions"), "{only_one}");

    // pyarrow reads every column back.
    let read = Command::new("python3")
        .args(["-c", PYARROW_CHECK])
        .arg(partition.join("part-0.parquet"))
        .env("PYTHONPATH", workspace().join(".runtime/python"))
        .output()
        .unwrap();
    let read: Value = serde_json::from_str(&ok(read)).unwrap();
    let mut expected = vec![
        ("ts", "timestamp[ms, tz=UTC]"),
        ("signal_id", "int64"),
        ("side", "string"),
        ("price", "double"),
    ];
    expected.extend(FEATURE_NAMES.iter().map(|name| (*name, "float")));
    expected.extend([
        ("best_bid", "double"),
        ("best_ask", "double"),
        ("mid", "double"),
    ]);
    let expected: Vec<Value> = expected
        .into_iter()
        .map(|(name, kind)| serde_json::json!([name, kind]))
        .collect();
    assert_eq!(read["columns"], Value::Array(expected));
    assert_eq!(read["rows"].as_u64(), Some(candidates));
    assert_eq!(read["broken"], 0);
    assert!(
        read["first_ts"]
            .as_str()
            .unwrap()
            .starts_with("2026-01-02T00:"),
        "{read}"
    );

    // Labels, incrementally.
    let labeled = ok(toolkit(dir, &["label"]));
    assert!(
        labeled.contains("labeled 3 partitions (0 up to date already)"),
        "{labeled}"
    );
    let relabeled = ok(toolkit(dir, &["label"]));
    assert!(
        relabeled.contains("labeled 0 partitions (3 up to date already)"),
        "{relabeled}"
    );
    let training = json(&dir.join("data/training.json"));
    assert_eq!(training["partitions"].as_array().unwrap().len(), 3);
    assert!(training["positives"].as_u64().unwrap() > 0);

    // Training, with parity on every validation row. Half-hour days leave a threshold fold in
    // which an engine trading one position at a time takes fewer than the shipped 50
    // candidates at any threshold: a profile lowers the minimum for these short days.
    let short_days = dir.join("short-days.yml");
    fs::write(&short_days, "training:\n  min_approved: 10\n").unwrap();
    let short_days = short_days.to_str().unwrap();
    let trained = ok(toolkit(
        dir,
        &[
            "train",
            "--profile",
            short_days,
            "--output-dir",
            "models/latest",
            "--model-card",
            "docs/model_card.md",
        ],
    ));
    let model = dir.join("models/latest");
    for file in [
        "model.onnx",
        "model.txt",
        "lgbm_meta.json",
        "model.json",
        "pr_curve.png",
        "score_histogram.png",
    ] {
        assert!(model.join(file).exists(), "{file} missing; {trained}");
    }
    let meta = json(&model.join("lgbm_meta.json"));
    assert_eq!(meta["schema_hash"], FEATURE_SCHEMA_HASH);

    // The same training with its export made to disagree (the drill): the parity check fails
    // on the first validation row and nothing is written, neither the model nor the card.
    let drilled = toolkit(
        dir,
        &[
            "train",
            "--profile",
            short_days,
            "--drill-disagree",
            "--output-dir",
            "models/drilled",
            "--model-card",
            "docs/drilled.md",
        ],
    );
    assert_eq!(drilled.status.code(), Some(1));
    let stderr = String::from_utf8(drilled.stderr).unwrap();
    assert!(
        stderr.contains("parity failed on validation row 0: native ")
            && stderr.contains("are not bit-identical"),
        "{stderr}"
    );
    for path in ["models/drilled", "models/drilled.tmp", "docs/drilled.md"] {
        assert!(!dir.join(path).exists(), "{path} was written");
    }
    assert!(meta["parity"]["max_diff_native"].as_f64().unwrap() <= 1e-6);
    assert!(meta["parity"]["max_diff_onnxruntime"].as_f64().unwrap() <= 1e-6);
    assert_eq!(
        meta["parity"]["rows"],
        meta["metrics"]["validation"]["support"]
    );
    assert_eq!(
        meta["reference"]["features"].as_array().unwrap().len(),
        FEATURE_NAMES.len()
    );
    let regimes: Vec<&String> = meta["metrics"]["by_regime"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(regimes, ["event", "high-vol", "normal"]);
    // Positions are held as the labels held them: no exit on the score.
    assert_eq!(meta["thresholds"]["tau_hold"], 0.0);
    let info = json(&model.join("model.json"));
    let drift_features = info["drift_features"].as_array().unwrap();
    assert_eq!(drift_features.len(), 5, "{info}");
    assert!(
        drift_features
            .iter()
            .all(|name| FEATURE_NAMES.contains(&name.as_str().unwrap())),
        "{info}"
    );
    let card = fs::read_to_string(dir.join("docs/model_card.md")).unwrap();
    assert!(
        card.contains("## Intended use") && card.contains("| high-vol |"),
        "{card}"
    );

    // The canary alone: judged on held-out days only, and never on a day that trained it.
    let canary = toolkit(
        dir,
        &[
            "canary",
            "--candidate",
            "models/latest",
            "--baseline",
            "none",
            "--out",
            "canary",
        ],
    );
    let printed = String::from_utf8_lossy(&canary.stdout).into_owned();
    let report = json(&dir.join("canary/canary_report.json"));
    assert_eq!(
        report["judged_on"],
        serde_json::json!([
            "BTCUSDT 2026-01-04 (normal)",
            "BTCUSDT 2026-01-05 (event)",
            "BTCUSDT 2026-01-06 (high-vol)"
        ])
    );
    assert_eq!(
        report["trained_on"],
        serde_json::json!([
            "BTCUSDT 2026-01-01",
            "BTCUSDT 2026-01-02",
            "BTCUSDT 2026-01-03"
        ])
    );
    let verdict = report["verdict"].as_str().unwrap();
    assert_eq!(
        canary.status.code(),
        Some(if verdict == "inconclusive" { 2 } else { 1 }),
        "{printed}"
    );
    assert_ne!(verdict, "pass", "{printed}");
    assert_eq!(report["earlier_looks"], serde_json::json!([]));
    assert!(
        printed.contains("held-out days: none judged a model before (a first look)"),
        "{printed}"
    );
    let html = fs::read_to_string(dir.join("canary/canary_report.html")).unwrap();
    assert!(
        html.contains("Equity curves")
            && html.contains("<svg")
            && html.contains("Fills by queue position"),
        "{html}"
    );
    let trained_day = toolkit(
        dir,
        &[
            "canary",
            "--candidate",
            "models/latest",
            "--days",
            "data/journal/BTCUSDT/2026-01-01",
        ],
    );
    assert_eq!(trained_day.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&trained_day.stderr).contains("(BTCUSDT 2026-01-01) trained lgbm-"),
        "{}",
        String::from_utf8_lossy(&trained_day.stderr)
    );
    // Nor on a day before the training window ends, though it did not train the model.
    let early = dir.join("data/early/BTCUSDT/2025-12-31");
    fs::create_dir_all(&early).unwrap();
    for entry in fs::read_dir(dir.join("data/holdout/BTCUSDT/2026-01-04")).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, early.join(path.file_name().unwrap())).unwrap();
    }
    let early_day = toolkit(
        dir,
        &[
            "canary",
            "--candidate",
            "models/latest",
            "--days",
            "data/early/BTCUSDT/2025-12-31",
        ],
    );
    assert_eq!(early_day.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&early_day.stderr)
            .contains("(BTCUSDT 2025-12-31) is not after lgbm-")
            && String::from_utf8_lossy(&early_day.stderr).contains(
                "'s training window, which ends 2026-01-03: the canary judges on later days only"
            ),
        "{}",
        String::from_utf8_lossy(&early_day.stderr)
    );

    // The release check: the model is its own benchmark here, so those rows are skipped. It
    // found no threshold that pays and the canary did not pass: not releasable.
    let checked = toolkit(
        dir,
        &["release-check", "--model", "models/latest", "--seed", "3"],
    );
    assert_eq!(checked.status.code(), Some(1));
    let checked = String::from_utf8(checked.stdout).unwrap();
    assert!(checked.contains("| feature schema hash"), "{checked}");
    assert!(
        checked.contains("is this model's own metadata"),
        "{checked}"
    );
    assert!(
        checked
            .lines()
            .any(|l| l.contains("ONNX parity") && l.contains("PASS")),
        "{checked}"
    );
    let failing = |stdout: &str| {
        stdout
            .lines()
            .filter(|line| line.contains("| FAIL"))
            .map(|line| line.split('|').nth(1).unwrap_or_default().trim().to_owned())
            .collect::<Vec<_>>()
    };
    let refused = [
        "report-fold net expectancy at tau_entry > 0",
        "canary gates on held-out days",
    ];
    assert_eq!(failing(&checked), refused, "{checked}");
    // Its canary says the held-out days judged this model once before (the canary above).
    let looked = checked
        .lines()
        .filter(|line| line.starts_with("looked at before: "))
        .map(|line| line.split(" since ").next().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(
        looked,
        [
            "looked at before: BTCUSDT 2026-01-04 by 1 canary",
            "looked at before: BTCUSDT 2026-01-05 by 1 canary",
            "looked at before: BTCUSDT 2026-01-06 by 1 canary",
        ],
        "{checked}"
    );
    let release = json(&model.join("release_report.json"));
    assert_eq!(release["releasable"], false);
    assert_eq!(release["model_id"], meta["model_id"]);

    // A benchmark it does not reach fails the check.
    let mut better = meta.clone();
    better["model_id"] = Value::from("better");
    better["metrics"]["validation"]["pr_auc"] = Value::from(1.0);
    fs::write(dir.join("better.json"), better.to_string()).unwrap();
    let failed = toolkit(
        dir,
        &[
            "release-check",
            "--model",
            "models/latest",
            "--benchmark",
            "better.json",
            "--days",
            "data/holdout/BTCUSDT/2026-01-04",
        ],
    );
    assert_eq!(failed.status.code(), Some(1));
    let failed = String::from_utf8(failed.stdout).unwrap();
    assert!(
        failed
            .lines()
            .any(|l| l.contains("PR-AUC >= benchmark") && l.contains("FAIL")),
        "{failed}"
    );

    // Every other FAIL row, each besides those of the model itself.
    // (The canary of these runs judges one held-out day.)
    let fail_rows = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--days", "data/holdout/BTCUSDT/2026-01-04"]);
        let output = toolkit(dir, &args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(stdout.contains("NOT RELEASABLE: "), "{stdout}");
        failing(&stdout)
            .into_iter()
            .filter(|row| !refused.contains(&row.as_str()))
            .collect::<Vec<_>>()
    };
    let mut precise = meta.clone();
    precise["model_id"] = Value::from("precise");
    precise["metrics"]["validation"]["pr_auc"] = Value::from(0.0);
    precise["metrics"]["validation"]["at_entry"]["precision"] = Value::from(1.0);
    fs::write(dir.join("precise.json"), precise.to_string()).unwrap();
    assert_eq!(
        fail_rows(&[
            "release-check",
            "--model",
            "models/latest",
            "--benchmark",
            "precise.json",
            "--seed",
            "3"
        ]),
        ["precision at tau_entry >= benchmark"]
    );
    // A copy of the model whose model.json names another feature schema.
    let copy = |name: &str| {
        let to = dir.join("models").join(name);
        fs::create_dir_all(&to).unwrap();
        for entry in fs::read_dir(dir.join("models/latest")).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
            }
        }
        to
    };
    let other_schema = copy("other-schema");
    let info_path = other_schema.join("model.json");
    let info = fs::read_to_string(&info_path).unwrap();
    fs::write(&info_path, info.replace(FEATURE_SCHEMA_HASH, "0000")).unwrap();
    assert_eq!(
        fail_rows(&[
            "release-check",
            "--model",
            "models/other-schema",
            "--seed",
            "3"
        ]),
        ["feature schema hash"]
    );
    // A copy whose ONNX graph ONNX Runtime scores differently from the native evaluator (the
    // `disagree` drill of `toolkit drill-model`).
    let disagreeing = copy("disagreeing");
    let id = meta["model_id"].as_str().unwrap();
    ok(toolkit(
        dir,
        &[
            "drill-model",
            "--from",
            "models/latest",
            "--fault",
            "disagree",
            "--out",
            "models/drill",
            "--id",
            id,
        ],
    ));
    fs::copy(
        dir.join("models/drill/model.onnx"),
        disagreeing.join("model.onnx"),
    )
    .unwrap();
    assert_eq!(
        fail_rows(&[
            "release-check",
            "--model",
            "models/disagreeing",
            "--seed",
            "3"
        ]),
        ["ONNX parity (fresh sample)"]
    );

    // Promotion: refused, as the release check failed (run again: the last one above had
    // another benchmark); forced only with a reason, which the
    // manifest keeps.
    toolkit(
        dir,
        &["release-check", "--model", "models/latest", "--seed", "3"],
    );
    let refused_promotion = toolkit(dir, &["promote", "--to", "active", "--id", id]);
    assert_eq!(refused_promotion.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused_promotion.stderr);
    assert!(
        stderr.contains(&format!(
            "{id} is not releasable: its release check failed (report-fold net expectancy at \
             tau_entry > 0, canary gates on held-out days; "
        )) && stderr.contains("only --force --reason TEXT promotes it anyway"),
        "{stderr}"
    );
    assert!(!dir.join("models/registry/active").exists());
    let no_reason = toolkit(dir, &["promote", "--to", "active", "--id", id, "--force"]);
    assert_eq!(no_reason.status.code(), Some(2));
    let forced = ok(toolkit(
        dir,
        &[
            "promote",
            "--to",
            "active",
            "--id",
            id,
            "--force",
            "--reason",
            "drill: no edge",
        ],
    ));
    assert!(forced.contains("FORCED: "), "{forced}");
    // What the model earned on its last release check's canary went into the registry beside
    // it, for the live performance guard: every closed trade's net PnL.
    let figures = json(
        &dir.join("models/registry")
            .join(id)
            .join("performance.json"),
    );
    let canary = json(&model.join("canary_report.json"));
    let canary_trades: Vec<Value> = canary["candidate_results"]["days"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|day| day["trades"].as_array().unwrap().iter())
        .map(|trade| trade["pnl_usd"].clone())
        .collect();
    assert_eq!(figures["model_id"], Value::from(id));
    assert_eq!(
        figures["trades"],
        canary["candidate_results"]["overall"]["trades"]
    );
    assert_eq!(figures["trade_pnls_usd"], Value::from(canary_trades));
    assert_eq!(figures["judged_on"], canary["judged_on"]);
    // And every entry fill's markout at the gates' horizon (30 s: the third).
    let canary_markouts: Vec<Value> = canary["candidate_results"]["days"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|day| day["markouts_bps"][2].as_array().unwrap().iter())
        .map(|markout| markout["bps"].clone())
        .collect();
    assert!(!canary_markouts.is_empty());
    assert_eq!(figures["markout_horizon_ms"], Value::from(30_000));
    assert_eq!(figures["entry_markouts_bps"], Value::from(canary_markouts));
    ok(toolkit(
        dir,
        &[
            "promote",
            "--to",
            "shadow",
            "--id",
            id,
            "--force",
            "--reason",
            "drill: no edge",
        ],
    ));
    let registry = dir.join("models/registry");
    assert_eq!(
        fs::read_link(registry.join("active")).unwrap(),
        Path::new(id)
    );
    assert_eq!(
        fs::read_link(registry.join("shadow")).unwrap(),
        Path::new(id)
    );
    assert!(registry.join(id).join("model.onnx").exists());
    assert!(registry.join(id).join("artifacts/lgbm_meta.json").exists());
    let manifest = json(&registry.join("manifest.json"));
    assert_eq!(manifest.as_array().unwrap().len(), 1);
    assert_eq!(manifest[0]["id"], id);
    assert_eq!(manifest[0]["schema_hash"], FEATURE_SCHEMA_HASH);
    assert_eq!(manifest[0]["release"], "forced: drill: no edge");

    // An id the model directory does not hold is refused, and the slot stays.
    let wrong = toolkit(dir, &["promote", "--to", "active", "--id", "lgbm-nope"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("not lgbm-nope"));
    assert_eq!(
        fs::read_link(registry.join("active")).unwrap(),
        Path::new(id)
    );
}

/// The planted edges' strengths the known-answer test sweeps (`synth --edge`, percent).
const STRENGTHS: [(&str, &str); 4] = [
    ("none", "0"),
    ("low", "25"),
    ("medium", "50"),
    ("high", "100"),
];

/// One strength's run through the pipeline: its scratch directory, the trained model's
/// metadata, the canary's report and whether the release check passed it.
struct Dose {
    name: &'static str,
    scratch: tempfile::TempDir,
    meta: Value,
    report: Value,
    released: bool,
    printed: String,
}

/// Three training days and three held-out days at `edge`, then `dump-parquet`, `label`,
/// `train` and `release-check`, each as a user runs it.
fn dose(name: &'static str, edge: &str) -> Dose {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    for (start, seed, out) in [
        ("2026-01-01", "7", "data/journal"),
        ("2026-01-04", "17", "data/holdout"),
    ] {
        ok(toolkit(
            dir,
            &[
                "synth", "--hours", DOSE_HOURS, "--start", start, "--seed", seed, "--edge", edge,
                "--out", out,
            ],
        ));
    }
    ok(toolkit(dir, &["dump-parquet"]));
    ok(toolkit(dir, &["label"]));
    ok(toolkit(dir, &["train", "--output-dir", "models/candidate"]));
    let checked = toolkit(dir, &["release-check", "--model", "models/candidate"]);
    let printed = String::from_utf8_lossy(&checked.stdout).into_owned();
    let released = match checked.status.code() {
        Some(0) => true,
        Some(1) => false,
        other => panic!("release-check exited {other:?}:\n{printed}"),
    };
    Dose {
        name,
        meta: json(&dir.join("models/candidate/lgbm_meta.json")),
        report: json(&dir.join("models/candidate/canary_report.json")),
        released,
        printed,
        scratch,
    }
}

/// Hours of each simulated day of a dose: enough held-out trades for the canary's power at
/// the medium strength.
const DOSE_HOURS: &str = "6";

#[test]
fn planted_edges_are_found_in_proportion_to_their_strength_and_released_above_the_detection_limit()
{
    // The four strengths side by side (each its own scratch directory).
    let doses: Vec<Dose> = std::thread::scope(|scope| {
        let runs: Vec<_> = STRENGTHS
            .iter()
            .map(|&(name, edge)| scope.spawn(move || dose(name, edge)))
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    let money = |value: &Value| format!("{:.2}", value.as_f64().unwrap());
    let share = |dose: &Dose| dose.report["oracle"]["captured_share"].as_f64();
    let correlation = |dose: &Dose| dose.report["oracle"]["score_correlation"].as_f64();
    let beats_every_baseline = |dose: &Dose| {
        dose.report["baselines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|baseline| {
                baseline["candidate_minus_baseline_usd"]["low"]
                    .as_f64()
                    .unwrap()
                    > 0.0
            })
    };
    let failed_gates = |dose: &Dose| -> Vec<String> {
        dose.report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|check| check["passed"] == false)
            .map(|check| check["gate"].as_str().unwrap().to_owned())
            .collect()
    };
    let [none, low, medium, high] = &doses[..] else {
        unreachable!()
    };
    // Nothing planted: nothing found, and no answer key to judge by.
    assert!(!none.released, "{}", none.printed);
    assert!(none.report["oracle"].is_null());
    // Below the detection limit: even the oracle's trades do not pay their fees; the model is
    // refused.
    assert!(!low.released, "{}", low.printed);
    assert_eq!(share(low), None, "{}", low.printed);
    // At the limit, with three 6-hour held-out days: the model is found (it beats every
    // baseline by a paired lower bound above zero, and its PnL per trade's lower bound is
    // positive) but its winrate misses the round trip's break-even, and it is refused.
    assert!(!medium.released, "{}", medium.printed);
    assert!(beats_every_baseline(medium), "{}", medium.printed);
    assert_eq!(failed_gates(medium), ["winrate (and break-even)"]);
    // Above it: released, beating every baseline.
    assert!(high.released, "{}", high.printed);
    assert_eq!(high.report["verdict"], "pass");
    assert!(beats_every_baseline(high), "{}", high.printed);
    assert!(high.printed.contains("\nRELEASABLE: "), "{}", high.printed);
    // The stronger the edge, the larger the share of the oracle's money the model earns, and
    // the closer its score follows what the informed knew.
    assert!(share(medium).unwrap() < share(high).unwrap());
    assert!(correlation(low).unwrap() < correlation(medium).unwrap());
    assert!(correlation(medium).unwrap() < correlation(high).unwrap());
    // The seeded outcomes, exactly.
    tests::pins::check(
        "planted_edges_dose_response",
        &serde_json::json!(doses
            .iter()
            .map(|dose| {
                let overall = &dose.report["candidate_results"]["overall"];
                let oracle = &dose.report["oracle"];
                serde_json::json!({
                    "strength": dose.name,
                    "released": dose.released,
                    "tau_entry": format!("{:.4}", dose.meta["thresholds"]["tau_entry"].as_f64().unwrap()),
                    "report_fold_per_trade_usd": money(&dose.meta["thresholds"]["entry"]["per_trade_usd"]["mean"]),
                    "canary": [
                        dose.report["verdict"],
                        overall["trades"],
                        money(&overall["net_pnl_usd"]),
                        money(&overall["pnl_per_trade_block"]["low"]),
                    ],
                    "best_baseline": [
                        dose.report["best_baseline"],
                        dose.report["baselines"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|baseline| baseline["name"] == dose.report["best_baseline"])
                            .map(|baseline| money(&baseline["results"]["overall"]["net_pnl_usd"])),
                    ],
                    "oracle": oracle.get("results").map(|results| serde_json::json!([
                        results["overall"]["trades"],
                        money(&results["overall"]["net_pnl_usd"]),
                        share(dose).map(|share| format!("{share:.3}")),
                        correlation(dose).map(|rho| format!("{rho:.3}")),
                    ])),
                })
            })
            .collect::<Vec<_>>()),
    );

    // Negative controls on the high strength's days: labels shuffled within each day, and
    // features a minute late. Neither has anything to learn: the report fold, which chose
    // nothing, finds no threshold that pays, and the release check refuses both on that as
    // well as for being controls.
    let dir = high.scratch.path();
    for control in ["shuffle-labels", "lag-features"] {
        let out = format!("models/control-{control}");
        ok(toolkit(
            dir,
            &[
                "train",
                "--control",
                control,
                "--output-dir",
                &out,
                "--model-card",
                &format!("{out}/model_card.md"),
            ],
        ));
        let meta = json(&dir.join(&out).join("lgbm_meta.json"));
        let entry = &meta["thresholds"]["entry"];
        assert!(
            entry["expectancy_bps"].as_f64().unwrap() <= 0.0,
            "{control}: {entry}"
        );
        let checked = toolkit(
            dir,
            &[
                "release-check",
                "--model",
                &out,
                "--days",
                "data/holdout/BTCUSDT/2026-01-06",
            ],
        );
        let printed = String::from_utf8_lossy(&checked.stdout).into_owned();
        assert_eq!(checked.status.code(), Some(1), "{printed}");
        for gate in [
            "not a negative control",
            "report-fold net expectancy at tau_entry > 0",
        ] {
            let row = printed
                .lines()
                .find(|line| line.starts_with(&format!("| {gate} ")))
                .unwrap_or_else(|| panic!("{gate}:\n{printed}"));
            assert!(row.contains("| FAIL "), "{row}");
        }
    }

    // The high strength's model through its own high-vol training day, rollbacks applied as
    // live. The day is one regime and the score's reference a mix of three, so the score
    // strays from it by design; by the levels the trainer calibrated on windows of the model's
    // own held-out candidates, it is not rolled back.
    let meta = &high.meta;
    let levels = json(&dir.join("models/candidate/model.json"))["score_drift_levels"].clone();
    assert_eq!(levels["window"], 500, "{levels}");
    let mut uncalibrated = json(&dir.join("models/candidate/model.json"));
    uncalibrated
        .as_object_mut()
        .unwrap()
        .remove("score_drift_levels");
    fs::create_dir_all(dir.join("models/uncalibrated")).unwrap();
    for file in ["model.onnx", "lgbm_meta.json"] {
        fs::copy(
            dir.join("models/candidate").join(file),
            dir.join("models/uncalibrated").join(file),
        )
        .unwrap();
    }
    fs::write(
        dir.join("models/uncalibrated/model.json"),
        uncalibrated.to_string(),
    )
    .unwrap();
    let own_day = |model: &str| {
        let registry = dir.join("replay").join(model);
        let profile = dir.join(format!("{model}.yml"));
        fs::write(
            &profile,
            format!("paths:\n  registry: {}\n", registry.display()),
        )
        .unwrap();
        ok(toolkit(
            dir,
            &[
                "promote",
                "--profile",
                profile.to_str().unwrap(),
                "--to",
                "active",
                "--id",
                meta["model_id"].as_str().unwrap(),
                "--model",
                &format!("models/{model}"),
                "--force",
                "--reason",
                "replay of its own training day",
            ],
        ));
        replay_day(
            &registry,
            &dir.join("data/journal/BTCUSDT/2026-01-03"),
            &dir.join("replay").join(format!("{model}-run")),
        )
    };
    let drift_rollbacks = |board: &engine::runtime::board::Board| -> Vec<String> {
        board
            .mode_switches
            .iter()
            .filter(|switch| switch.kind == "rollback" && switch.detail.starts_with("drift"))
            .map(|switch| switch.detail.clone())
            .collect()
    };
    let healthy = own_day("candidate");
    let calibrated = drift_rollbacks(&healthy);
    let configured = drift_rollbacks(&own_day("uncalibrated"));
    assert_eq!(calibrated, Vec::<String>::new());
    // Nor does its realized performance, held to its canary's figures, roll it back.
    let rollbacks = |board: &engine::runtime::board::Board| -> Vec<(u64, String)> {
        board
            .mode_switches
            .iter()
            .filter(|switch| switch.kind == "rollback")
            .map(|switch| (switch.ts_ms, switch.detail.clone()))
            .collect()
    };
    assert_eq!(rollbacks(&healthy), Vec::new());
    tests::pins::check(
        "planted_edges_own_day_drift",
        &serde_json::json!({
            "score_drift_levels": format!(
                "{} windows: psi {:.4}, ks {:.4}",
                levels["windows"],
                levels["psi"].as_f64().unwrap(),
                levels["ks"].as_f64().unwrap()
            ),
            // What the configured levels alone find (the rest names the model, whose id has
            // the time in it).
            "configured_levels_rollbacks": configured
                .iter()
                .map(|detail| detail.split("; no model before").next().unwrap_or_default())
                .collect::<Vec<_>>(),
        }),
    );

    // Walk-forward over the three training days: a model trained on the first two, judged by
    // the canary, beside the same baselines and the oracle, on the third.
    let too_many = toolkit(
        dir,
        &["walk-forward", "--days", "4", "--train", "2", "--test", "1"],
    );
    assert_eq!(too_many.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&too_many.stderr).contains(
            "walking over 4 days needs 4 labeled days of BTCUSDT; data/training.parquet has 3"
        ),
        "{}",
        String::from_utf8_lossy(&too_many.stderr)
    );
    let walked = toolkit(
        dir,
        &["walk-forward", "--days", "3", "--train", "2", "--test", "1"],
    );
    let printed = String::from_utf8_lossy(&walked.stdout).into_owned();
    let walk = json(&dir.join("models/walk-forward/walk_forward.json"));
    let fold = &walk["folds"][0];
    assert_eq!(walk["folds"].as_array().unwrap().len(), 1, "{printed}");
    assert_eq!(
        fold["trained_on"],
        serde_json::json!(["2026-01-01", "2026-01-02"])
    );
    assert_eq!(fold["tested_on"], serde_json::json!(["2026-01-03"]));
    let fold_meta = json(&dir.join("models/walk-forward/fold-1/lgbm_meta.json"));
    let trained_days: Vec<&str> = fold_meta["data"]["source"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|partition| partition["date"].as_str().unwrap())
        .collect();
    assert_eq!(trained_days, ["2026-01-01", "2026-01-02"]);
    let expected_code = match fold["verdict"].as_str().unwrap() {
        "pass" => 0,
        "fail" => 1,
        _ => 2,
    };
    assert_eq!(walked.status.code(), Some(expected_code), "{printed}");
    assert!(
        printed.contains("| 1 | 2026-01-01..2026-01-02 | 2026-01-03 |"),
        "{printed}"
    );
    let html = fs::read_to_string(dir.join("models/walk-forward/walk_forward.html")).unwrap();
    assert!(
        html.contains("Equity by fold") && html.contains("<svg"),
        "{html}"
    );
    tests::pins::check(
        "planted_edges_walk_forward",
        &serde_json::json!({
            "verdict": fold["verdict"],
            "trades": fold["trades"],
            "net_pnl_usd": money(&fold["net_pnl_usd"]),
            "best_baseline": fold["best_baseline"],
            "minus_best_baseline_usd": money(&fold["minus_best_baseline_usd"]["estimate"]),
            "failed_gates": fold["failed_gates"],
        }),
    );

    // Refused models are not promoted without --force; the released one is.
    let promote = |dose: &Dose| {
        toolkit(
            dose.scratch.path(),
            &[
                "promote",
                "--to",
                "active",
                "--id",
                dose.meta["model_id"].as_str().unwrap(),
                "--model",
                "models/candidate",
            ],
        )
    };
    assert_eq!(promote(low).status.code(), Some(1));
    assert!(!low.scratch.path().join("models/registry/active").exists());
    ok(promote(high));
    assert_eq!(
        fs::read_link(dir.join("models/registry/active")).unwrap(),
        Path::new(high.meta["model_id"].as_str().unwrap())
    );

    // The released model on a day whose edges stop paying after two hours: the informed go on
    // accumulating behind the touch, but no step follows. The features look as they did, so
    // the model keeps trading; its realized PnL falls from what its canary measured, and the
    // performance guard rolls it back, after the edges stopped and not before.
    ok(toolkit(
        dir,
        &[
            "synth",
            "--days",
            "normal",
            "--hours",
            DOSE_HOURS,
            "--start",
            "2026-01-10",
            "--seed",
            "29",
            "--edge",
            "100",
            "--edge-off-after",
            "2h",
            "--out",
            "data/decay",
        ],
    ));
    let session = json(&dir.join("data/decay/BTCUSDT/2026-01-10/session.json"));
    let edge_until_ms = session["edge_until_ms"].as_u64().unwrap();
    assert_eq!(
        edge_until_ms,
        session["start_ms"].as_u64().unwrap() + 2 * 3_600_000
    );
    let decayed = replay_day(
        &dir.join("models/registry"),
        &dir.join("data/decay/BTCUSDT/2026-01-10"),
        &dir.join("replay/decayed-run"),
    );
    let rolled = rollbacks(&decayed);
    assert_eq!(rolled.len(), 1, "{rolled:?}");
    let (at_ms, detail) = &rolled[0];
    assert!(*at_ms > edge_until_ms, "{rolled:?}");
    assert!(detail.starts_with("performance: "), "{detail}");
    tests::pins::check(
        "planted_edges_decay",
        &serde_json::json!({
            "minutes_after_the_edges_stopped": (at_ms - edge_until_ms) / 60_000,
            // The rest names the model, whose id has the time in it.
            "rollback": detail.split("; no model before").next(),
        }),
    );
}

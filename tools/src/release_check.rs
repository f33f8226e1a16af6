//! `toolkit release-check`: the release checklist of a trained model, as a table, written to
//! `release_report.json` in the model's directory, which `toolkit promote` requires. Exit 1
//! when any check fails.
//!
//! The checks: one feature schema everywhere; tau_entry pays after fees on the report fold
//! (which chose nothing); PR-AUC and precision no worse than the benchmark; ONNX parity on a fresh sample; and
//! the canary ([`crate::canary`]): held-out days replayed through the engine, where every gate
//! must pass (an inconclusive canary, or one that cannot run, is not a pass). What the model
//! earned on the canary (each closed trade's net PnL, their mean and design effect) is written
//! beside it as `performance.json`: the figures the live performance guard holds its realized
//! trades to once it is promoted.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use engine::features::{FEATURE_COUNT, FEATURE_SCHEMA_HASH};
use engine::model::ort_backend::{OrtScorer, load_runtime};
use engine::model::registry::{
    MODEL_FILE, ModelInfo, PERFORMANCE_FILE, PerformanceReference, write_json_atomically,
};
use engine::model::synthetic::boundary_rows;
use engine::model::{NativeModel, read_onnx};
use lightgbm3::Booster;

use crate::archive::Sidecar;
use crate::canary::{self, DaysArg};
use crate::train::{META_FILE, Meta, PARITY_TOLERANCE};
use engine::cli::{ConfigArgs, OnnxRuntimeArg};
use engine::config::Loaded;
use serde::{Deserialize, Serialize};

/// Rows of the fresh parity sample.
const PARITY_ROWS: usize = 20_000;

/// File name of the release report, in the model's directory.
pub(crate) const RELEASE_REPORT: &str = "release_report.json";

/// Arguments of `release-check`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// The trained model directory.
    #[arg(long)]
    model: PathBuf,
    /// Metadata of the model to beat (default: the current models/latest/lgbm_meta.json).
    #[arg(long, value_name = "FILE")]
    benchmark: Option<PathBuf>,
    /// Seed of the fresh parity sample (default: from the clock, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// The canary's baseline: `active` (the registry's active model, if any), `none`, or a
    /// model directory.
    #[arg(long, default_value = "active")]
    baseline: String,
    #[command(flatten)]
    days: DaysArg,
    #[command(flatten)]
    onnxruntime: OnnxRuntimeArg,
}

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Pass,
    Fail,
    /// Nothing to check against (no benchmark yet).
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }

    fn of(passed: bool) -> Status {
        if passed { Status::Pass } else { Status::Fail }
    }
}

/// One check as run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Check {
    pub(crate) name: String,
    pub(crate) status: Status,
    pub(crate) detail: String,
}

/// `release_report.json`: the checklist of one model, as `toolkit promote` reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ReleaseReport {
    pub(crate) model_id: String,
    /// When it was checked, RFC 3339.
    pub(crate) checked_at: String,
    /// No check failed.
    pub(crate) releasable: bool,
    pub(crate) checks: Vec<Check>,
}

impl ReleaseReport {
    /// Reads `dir/release_report.json`.
    pub(crate) fn read(dir: &Path) -> Result<ReleaseReport> {
        let path = dir.join(RELEASE_REPORT);
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
    }
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let loaded = args.config.load()?;
    let meta = Meta::read(&args.model.join(META_FILE))?;
    let info = ModelInfo::read(&args.model)?;
    let benchmark_path = args
        .benchmark
        .clone()
        .unwrap_or_else(|| PathBuf::from("models/latest").join(META_FILE));
    // A benchmark written by an older trainer (another metadata format) cannot be compared.
    let benchmark = match benchmark_path.exists().then(|| Meta::read(&benchmark_path)) {
        Some(Ok(meta)) => Ok(Some(meta)),
        Some(Err(err)) => Err(format!("{err:#}")),
        None => Ok(None),
    };
    let seed = args.seed.unwrap_or_else(|| {
        jiff::Timestamp::now()
            .as_nanosecond()
            .unsigned_abs()
            .try_into()
            .unwrap_or(7)
    });
    let mut checks = vec![
        schema_check(&meta, &info)?,
        control_check(&meta),
        economics_check(&meta),
    ];
    checks.extend(benchmark_checks(&meta, benchmark, &benchmark_path));
    checks.push(parity_check(&args.model, &args.onnxruntime.path, seed)?);
    checks.push(canary_check(&loaded, args));

    println!(
        "release check of {} ({})",
        meta.model_id,
        args.model.display()
    );
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    println!("| {:width$} | status  | detail", "check");
    println!("|-{:-<width$}-|---------|-------", "");
    for check in &checks {
        println!(
            "| {:width$} | {:7} | {}",
            check.name,
            check.status.label(),
            check.detail
        );
    }
    let count = |status| checks.iter().filter(|c| c.status == status).count();
    let (passed, failed, skipped) = (
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skip),
    );
    let report = ReleaseReport {
        model_id: meta.model_id.clone(),
        checked_at: jiff::Timestamp::now().to_string(),
        releasable: failed == 0,
        checks,
    };
    engine::model::registry::write_json_atomically(&args.model.join(RELEASE_REPORT), &report)?;
    println!(
        "{}: {passed} passed, {failed} failed, {skipped} skipped; {}",
        if failed == 0 {
            "RELEASABLE"
        } else {
            "NOT RELEASABLE"
        },
        args.model.join(RELEASE_REPORT).display()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The schema hash of every parquet sidecar used, the metadata, the registry record and the
/// engine must be one and the same.
fn schema_check(meta: &Meta, info: &ModelInfo) -> Result<Check> {
    let mut differing = Vec::new();
    for partition in &meta.data.source.partitions {
        let text = fs::read_to_string(&partition.sidecar)
            .with_context(|| format!("reading {}", partition.sidecar.display()))?;
        let sidecar: Sidecar = serde_json::from_str(&text)
            .with_context(|| format!("reading {}", partition.sidecar.display()))?;
        if sidecar.schema_hash != FEATURE_SCHEMA_HASH {
            differing.push(format!(
                "{} has {}",
                partition.sidecar.display(),
                sidecar.schema_hash
            ));
        }
    }
    for (what, hash) in [
        ("lgbm_meta.json", &meta.schema_hash),
        ("model.json", &info.schema_hash),
    ] {
        if *hash != FEATURE_SCHEMA_HASH {
            differing.push(format!("{what} has {hash}"));
        }
    }
    Ok(Check {
        name: "feature schema hash".to_owned(),
        status: Status::of(differing.is_empty()),
        detail: if differing.is_empty() {
            format!(
                "{} parquet sidecars, metadata, model.json and engine agree: {}",
                meta.data.source.partitions.len(),
                &FEATURE_SCHEMA_HASH[..16]
            )
        } else {
            format!(
                "engine has {}; {}",
                &FEATURE_SCHEMA_HASH[..16],
                differing.join("; ")
            )
        },
    })
}

/// A negative control (`train --control`) tests the pipeline and is never traded, whatever the
/// other checks find (if they pass it, something leaks).
fn control_check(meta: &Meta) -> Check {
    Check {
        name: "not a negative control".to_owned(),
        status: Status::of(meta.negative_control.is_none()),
        detail: meta.negative_control.as_ref().map_or_else(
            || "trained on the data as it is".to_owned(),
            |control| format!("trained as a negative control: {control}"),
        ),
    }
}

/// tau_entry must earn money after fees on the report fold, which chose nothing.
fn economics_check(meta: &Meta) -> Check {
    let entry = &meta.thresholds.entry;
    Check {
        name: "report-fold net expectancy at tau_entry > 0".to_owned(),
        status: Status::of(entry.pays()),
        detail: format!(
            "{:+.2} bps per candidate taken ({} approved, {} taken, {} filled), {} per trade",
            entry.expectancy_bps,
            entry.approved,
            entry.taken,
            entry.filled,
            crate::train::per_trade(entry)
        ),
    }
}

fn benchmark_checks(
    meta: &Meta,
    benchmark: Result<Option<Meta>, String>,
    path: &Path,
) -> Vec<Check> {
    const NAMES: [&str; 2] = ["PR-AUC >= benchmark", "precision at tau_entry >= benchmark"];
    let ours = &meta.metrics.validation;
    let skip = |reason: String| -> Vec<Check> {
        NAMES
            .into_iter()
            .zip([ours.pr_auc, ours.at_entry.precision])
            .map(|(name, value)| Check {
                name: name.to_owned(),
                status: Status::Skip,
                detail: format!("{value:.4}; {reason}"),
            })
            .collect()
    };
    let benchmark = match benchmark {
        Ok(Some(benchmark)) if benchmark.model_id != meta.model_id => benchmark,
        Ok(Some(_)) => return skip(format!("{} is this model's own metadata", path.display())),
        Ok(None) => return skip(format!("no benchmark at {}", path.display())),
        Err(err) => return skip(format!("the benchmark is unreadable: {err}")),
    };
    let theirs = &benchmark.metrics.validation;
    NAMES
        .into_iter()
        .zip([
            (ours.pr_auc, theirs.pr_auc),
            (ours.at_entry.precision, theirs.at_entry.precision),
        ])
        .map(|(name, (value, bar))| Check {
            name: name.to_owned(),
            status: Status::of(value >= bar),
            detail: format!("{value:.4} vs {bar:.4} of {}", benchmark.model_id),
        })
        .collect()
}

/// The canary on the held-out days: every gate must pass. A canary that cannot run fails.
fn canary_check(loaded: &Loaded, args: &Args) -> Check {
    let name = "canary gates on held-out days".to_owned();
    match canary::judge(
        loaded,
        &args.model,
        &canary::Baseline::parse(&args.baseline),
        &args.days,
        &args.model,
        &args.onnxruntime.path,
    ) {
        Ok(report) => {
            let overall = &report.candidate_results.overall;
            // What the model earned here is what the live performance guard holds it to.
            let figures = PerformanceReference {
                model_id: report.candidate.id.clone(),
                trades: overall.trades,
                pnl_per_trade_usd: overall.pnl_per_trade_usd.mean,
                trade_pnls_usd: report
                    .candidate_results
                    .days
                    .iter()
                    .flat_map(|day| day.trades.iter().map(|trade| trade.pnl_usd))
                    .collect(),
                design_effect: report.power.design_effect,
                judged_on: report.judged_on.clone(),
                markout_horizon_ms: u64::try_from(report.gates.markout_horizon.get().as_millis())
                    .unwrap_or(u64::MAX),
                entry_markouts_bps: report.candidate_entry_markouts_bps(),
                markout_design_effect: report.candidate_markout_design_effect(),
            };
            let figures_path = args.model.join(PERFORMANCE_FILE);
            if let Err(err) = write_json_atomically(&figures_path, &figures) {
                return Check {
                    name,
                    status: Status::Fail,
                    detail: format!("the canary's figures could not be written: {err}"),
                };
            }
            let failed: Vec<&str> = report
                .checks
                .iter()
                .filter(|check| !check.passed)
                .map(|check| check.gate.as_str())
                .collect();
            Check {
                name,
                status: Status::of(report.verdict == canary::Verdict::Pass),
                detail: format!(
                    "{}: {} trades, winrate {:.3}, net PnL {:+.2} USD over {}{}",
                    report.verdict.label(),
                    overall.trades,
                    overall.winrate,
                    overall.net_pnl_usd,
                    report.judged_on.join(", "),
                    if failed.is_empty() {
                        String::new()
                    } else {
                        format!("; failed: {}", failed.join(", "))
                    }
                ),
            }
        }
        Err(err) => Check {
            name,
            status: Status::Fail,
            detail: format!("the canary could not run: {err:#}"),
        },
    }
}

/// LightGBM (from the model's text), the native evaluator and ONNX Runtime on a fresh sample of
/// random rows and rows on and next to the model's thresholds.
fn parity_check(dir: &Path, runtime: &Path, seed: u64) -> Result<Check> {
    let onnx = fs::read(dir.join(MODEL_FILE))
        .with_context(|| format!("reading {}", dir.join(MODEL_FILE).display()))?;
    let ensemble = read_onnx(&onnx).with_context(|| format!("reading {}", dir.display()))?;
    let text_path = dir.join("model.txt");
    let text = fs::read_to_string(&text_path)
        .with_context(|| format!("reading {}", text_path.display()))?;
    let booster = Booster::from_string(&text)
        .map_err(|err| anyhow::anyhow!("LightGBM cannot read {}: {err}", text_path.display()))?;
    let rows = boundary_rows(&ensemble, PARITY_ROWS, seed);
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    let reference = booster
        .predict(&flat, i32::try_from(FEATURE_COUNT)?, true)
        .map_err(|err| anyhow::anyhow!("LightGBM: {err}"))?;
    let environment = load_runtime(runtime)?;
    let mut ort = OrtScorer::new(&environment, &onnx, FEATURE_COUNT)?;
    let native = NativeModel::compile(&ensemble);
    let (mut mismatches, mut max_diff, mut first) = (0_u64, 0.0_f64, None);
    for (index, (row, &lightgbm)) in rows.iter().zip(&reference).enumerate() {
        let scores = [native.predict(row), ort.predict(row)?];
        let split = scores[0].to_bits() != scores[1].to_bits();
        for score in scores {
            let diff = (f64::from(score) - lightgbm).abs();
            max_diff = max_diff.max(diff);
            if diff > PARITY_TOLERANCE || split {
                mismatches += 1;
                first.get_or_insert_with(|| {
                    format!(
                        "; first: row {index}, LightGBM {lightgbm}, native {}, ONNX Runtime {}, \
                         features {row:?}",
                        scores[0], scores[1]
                    )
                });
            }
        }
    }
    Ok(Check {
        name: "ONNX parity (fresh sample)".to_owned(),
        status: Status::of(mismatches == 0),
        detail: format!(
            "{} rows (seed {seed}): native vs ONNX Runtime to the bit, LightGBM within \
             {PARITY_TOLERANCE:e} (max diff {max_diff:.1e}): {mismatches} mismatches{}",
            rows.len(),
            first.unwrap_or_default()
        ),
    })
}

//! `toolkit release-check`: the release checklist of a trained model, as a table. Exit 1 when
//! any check fails; a check that cannot run yet says so and is never counted as a pass.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use engine::features::{FEATURE_COUNT, FEATURE_SCHEMA_HASH};
use engine::model::ort_backend::{OrtScorer, load_runtime};
use engine::model::registry::{MODEL_FILE, ModelInfo};
use engine::model::synthetic::boundary_rows;
use engine::model::{NativeModel, read_onnx};
use lightgbm3::Booster;

use crate::archive::Sidecar;
use crate::train::{META_FILE, Meta, PARITY_TOLERANCE};
use engine::cli::OnnxRuntimeArg;

/// Rows of the fresh parity sample.
const PARITY_ROWS: usize = 20_000;

/// Arguments of `release-check`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The trained model directory.
    #[arg(long)]
    model: PathBuf,
    /// Metadata of the model to beat (default: the current models/latest/lgbm_meta.json).
    #[arg(long, value_name = "FILE")]
    benchmark: Option<PathBuf>,
    /// Seed of the fresh parity sample (default: from the clock, printed).
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    onnxruntime: OnnxRuntimeArg,
}

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pass,
    Fail,
    /// Nothing to check against (no benchmark yet).
    Skip,
    /// The check does not exist yet.
    NotRun,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
            Status::NotRun => "not run",
        }
    }
}

struct Check {
    name: &'static str,
    status: Status,
    detail: String,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let meta = Meta::read(&args.model.join(META_FILE))?;
    let info = ModelInfo::read(&args.model)?;
    let benchmark_path = args
        .benchmark
        .clone()
        .unwrap_or_else(|| PathBuf::from("models/latest").join(META_FILE));
    let benchmark = if benchmark_path.exists() {
        Some(Meta::read(&benchmark_path)?)
    } else {
        None
    };
    let seed = args.seed.unwrap_or_else(|| {
        jiff::Timestamp::now()
            .as_nanosecond()
            .unsigned_abs()
            .try_into()
            .unwrap_or(7)
    });
    let mut checks = vec![schema_check(&meta, &info)?];
    checks.extend(benchmark_checks(&meta, benchmark.as_ref(), &benchmark_path));
    checks.push(parity_check(&args.model, &args.onnxruntime.path, seed)?);
    checks.push(Check {
        name: "canary gates (winrate, markout, fill rate)",
        status: Status::NotRun,
        detail: "no canary simulator yet: nothing vouches for live behaviour".to_owned(),
    });

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
    let failed = count(Status::Fail);
    println!(
        "{}: {} passed, {failed} failed, {} skipped, {} not run",
        if failed == 0 {
            "RELEASABLE"
        } else {
            "NOT RELEASABLE"
        },
        count(Status::Pass),
        count(Status::Skip),
        count(Status::NotRun)
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
        name: "feature schema hash",
        status: if differing.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
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

fn benchmark_checks(meta: &Meta, benchmark: Option<&Meta>, path: &Path) -> Vec<Check> {
    let ours = &meta.metrics.validation;
    let Some(benchmark) = benchmark.filter(|b| b.model_id != meta.model_id) else {
        let reason = if benchmark.is_some() {
            format!("{} is this model's own metadata", path.display())
        } else {
            format!("no benchmark at {}", path.display())
        };
        return ["PR-AUC >= benchmark", "precision at tau_entry >= benchmark"]
            .into_iter()
            .zip([ours.pr_auc, ours.at_entry.precision])
            .map(|(name, value)| Check {
                name,
                status: Status::Skip,
                detail: format!("{value:.4}; {reason}"),
            })
            .collect();
    };
    let theirs = &benchmark.metrics.validation;
    [
        ("PR-AUC >= benchmark", ours.pr_auc, theirs.pr_auc),
        (
            "precision at tau_entry >= benchmark",
            ours.at_entry.precision,
            theirs.at_entry.precision,
        ),
    ]
    .into_iter()
    .map(|(name, value, bar)| Check {
        name,
        status: if value >= bar {
            Status::Pass
        } else {
            Status::Fail
        },
        detail: format!("{value:.4} vs {bar:.4} of {}", benchmark.model_id),
    })
    .collect()
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
        name: "ONNX parity (fresh sample)",
        status: if mismatches == 0 {
            Status::Pass
        } else {
            Status::Fail
        },
        detail: format!(
            "{} rows (seed {seed}): native vs ONNX Runtime to the bit, LightGBM within \
             {PARITY_TOLERANCE:e} (max diff {max_diff:.1e}): {mismatches} mismatches{}",
            rows.len(),
            first.unwrap_or_default()
        ),
    })
}

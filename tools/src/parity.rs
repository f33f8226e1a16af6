//! `toolkit parity`: a model's probabilities through ONNX Runtime and the native evaluator.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use engine::features::FEATURE_COUNT;
use engine::model::ort_backend::{OrtScorer, load_runtime};
use engine::model::parity::{PARITY_TOLERANCE, ParityChecker};
use engine::model::synthetic::boundary_rows;
use engine::model::{NativeModel, read_onnx};

/// Arguments of `parity`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The model file (model.onnx).
    #[arg(long)]
    model: PathBuf,
    /// Rows to compare: random rows, and rows with features set on the model's thresholds and
    /// their f32 neighbours.
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// Seed of the rows.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The ONNX Runtime library (default: ORT_DYLIB_PATH, else what scripts/setup.sh installs).
    #[arg(
        long,
        env = "ORT_DYLIB_PATH",
        default_value = ".runtime/onnxruntime-1.31.1/libonnxruntime.so.1.31.1"
    )]
    onnxruntime: PathBuf,
}

/// Exit 0 when every row agrees within 1e-6, 1 otherwise.
pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let bytes =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let ensemble =
        read_onnx(&bytes).with_context(|| format!("reading {}", args.model.display()))?;
    if ensemble.n_features != FEATURE_COUNT {
        bail!(
            "{} takes {} features; the engine's feature set has {FEATURE_COUNT}",
            args.model.display(),
            ensemble.n_features
        );
    }
    let environment = load_runtime(&args.onnxruntime)?;
    let ort = OrtScorer::new(&environment, &bytes, FEATURE_COUNT)?;
    let mut checker = ParityChecker::new(NativeModel::compile(&ensemble), ort, PARITY_TOLERANCE);
    for row in boundary_rows(&ensemble, args.rows, args.seed) {
        checker.check(&row)?;
    }
    println!("model:              {}", args.model.display());
    println!("rows compared:      {}", checker.compared());
    println!("max abs difference: {:e}", checker.max_difference());
    println!("mismatches (>1e-6): {}", checker.mismatches());
    Ok(if checker.mismatches() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

//! `toolkit parity`: a model's probabilities through ONNX Runtime and the native evaluator.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use engine::features::{FEATURE_COUNT, FEATURE_NAMES};
use engine::model::ort_backend::{OrtScorer, load_runtime};
use engine::model::parity::ParityChecker;
use engine::model::synthetic::boundary_rows;
use engine::model::{NativeModel, read_onnx};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

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
    /// Take the rows from this parquet file instead (its columns named after the features;
    /// other columns are ignored, nulls become NaN); --rows then caps how many are read.
    #[arg(long, value_name = "PARQUET")]
    data: Option<PathBuf>,
    #[command(flatten)]
    onnxruntime: engine::cli::OnnxRuntimeArg,
}

/// Exit 0 when every row is bit-identical in both backends, 1 otherwise.
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
    let environment = load_runtime(&args.onnxruntime.path)?;
    let ort = OrtScorer::new(&environment, &bytes, FEATURE_COUNT)?;
    let mut checker = ParityChecker::new(NativeModel::compile(&ensemble), ort);
    let rows = match &args.data {
        Some(path) => {
            parquet_rows(path, args.rows).with_context(|| format!("reading {}", path.display()))?
        }
        None => boundary_rows(&ensemble, args.rows, args.seed),
    };
    for row in rows {
        checker.check(&row)?;
    }
    println!("model:              {}", args.model.display());
    println!("rows compared:      {}", checker.compared());
    println!("max abs difference: {:e}", checker.max_difference());
    println!("not bit-identical:   {}", checker.mismatches());
    Ok(if checker.mismatches() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Up to `limit` feature vectors from the columns of a parquet file named after the features.
fn parquet_rows(path: &std::path::Path, limit: usize) -> Result<Vec<Vec<f32>>> {
    let reader = SerializedFileReader::new(std::fs::File::open(path)?)?;
    let columns: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|column| column.name().to_owned())
        .collect();
    let missing: Vec<&str> = FEATURE_NAMES
        .iter()
        .copied()
        .filter(|name| !columns.iter().any(|c| c == name))
        .collect();
    if !missing.is_empty() {
        bail!("feature columns missing: {}", missing.join(", "));
    }
    let mut rows = Vec::new();
    for record in reader.get_row_iter(None)?.take(limit) {
        let record = record?;
        let mut row = vec![f32::NAN; FEATURE_COUNT];
        for (name, field) in record.get_column_iter() {
            let Some(index) = FEATURE_NAMES.iter().position(|feature| feature == name) else {
                continue;
            };
            row[index] = match field {
                Field::Float(value) => *value,
                Field::Double(value) => *value as f32,
                Field::Int(value) => *value as f32,
                Field::Long(value) => *value as f32,
                Field::Null => f32::NAN,
                other => bail!("column {name} holds {other}, not a number"),
            };
        }
        rows.push(row);
    }
    Ok(rows)
}

//! `toolkit train`: a LightGBM binary model on the labeled candidates, exported to ONNX by the
//! project's own writer, checked for exact parity, with its metadata, registry record, charts
//! and model card.
//!
//! `--from` and `--to` train on a span of the data's days (`toolkit walk-forward` trains its
//! folds so); the model's metadata then names only those days.
//!
//! Steps:
//! 1. Split walk-forward by time, day by day, into four folds in time order: training, then
//!    `training.validation_fraction` of the day for early stopping, `threshold_fraction` for
//!    choosing the thresholds, and the last `report_fraction` for the figures the model is
//!    reported and released on, which chose nothing. Each fold is purged before the next one
//!    starts: a row whose label ends (entry, fill and exit: `time_to_fill_ms +
//!    time_to_flat_ms`; `training.embargo` for an entry that never filled) at or after the next
//!    fold's start is dropped, so no label reaches across a boundary. Every day, and so every
//!    regime, is in every fold.
//! 2. Train with early stopping on the early-stopping fold's log-loss (single-threaded and
//!    deterministic: the same data and config give the same trees).
//! 3. Export: LightGBM's text model, read into a tree ensemble, written as ONNX with every
//!    threshold rounded down to f32. LightGBM, the native evaluator and ONNX Runtime then score
//!    every validation row (ONNX Runtime and native to the bit, LightGBM within 1e-6 of both);
//!    any other difference fails the run before anything final is written.
//! 4. Thresholds on net expectancy after fees ([`economics`]), on the threshold fold: tau_entry
//!    is the threshold whose candidates taken (approved while the engine, one position at a
//!    time, was free) have the summed net return with the highest lower 95 % bound (at least
//!    `training.min_approved` of them; how many thresholds were tried is recorded), tau_hold 0 (held as labeled: see economics). The report fold then says what
//!    tau_entry earns on candidates that chose nothing: that is the expectancy the release check
//!    reads, the metrics, precision and recall are the report fold's, and the model card states
//!    the expected PnL per trade with its interval, and says plainly when no threshold pays.
//! 5. Write `model.onnx`, `model.txt`, `lgbm_meta.json`, `model.json`, `pr_curve.png`,
//!    `score_histogram.png` into the output directory (through a temporary directory renamed
//!    into place) and the model card.

mod card;
mod economics;
mod lightgbm_text;
mod metrics;
mod plots;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail, ensure};
use engine::cli::ConfigArgs;
use engine::config::Config;
use engine::features::{FEATURE_COUNT, FEATURE_NAMES, FEATURE_SCHEMA_HASH};
use engine::model::NativeModel;
use engine::model::ort_backend::{OrtScorer, load_runtime};
use engine::model::registry::{Histogram, ModelInfo, ScoreDriftLevels, Thresholds};
use engine::runtime::drift;
use lightgbm3::{Booster, Dataset};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::label::{TrainingSidecar, sha256_hex};
use crate::table::{self, Table};
use engine::cli::OnnxRuntimeArg;

pub(crate) use economics::Economics;
use economics::{Outcome, RegimeThresholds};
pub(crate) use metrics::Metrics;

/// Largest difference tolerated between LightGBM and the two backends: LightGBM sums its trees
/// in f64, the backends in f32 (ONNX Runtime's type), so they differ by rounding. The native
/// evaluator and ONNX Runtime sum the same f32 values in the same order and must agree to the
/// bit.
pub(crate) const PARITY_TOLERANCE: f64 = 1e-6;
/// File names in a model directory.
pub(crate) const META_FILE: &str = "lgbm_meta.json";
const TEXT_MODEL_FILE: &str = "model.txt";
const PR_CURVE_FILE: &str = "pr_curve.png";
const SCORE_HISTOGRAM_FILE: &str = "score_histogram.png";
/// Bins of the reference histograms.
const FEATURE_BINS: usize = 10;
const SCORE_BINS: usize = 20;
/// Features with the most gain whose live drift the engine watches beside the score's.
const DRIFT_FEATURES: usize = 5;

/// Arguments of `train`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// The labeled candidates (`toolkit label` writes them).
    #[arg(long, default_value = "data/training.parquet")]
    data: PathBuf,
    /// Where the model and its artifacts go (replaced as a whole).
    #[arg(long, default_value = "models/latest")]
    output_dir: PathBuf,
    /// Where the generated model card goes.
    #[arg(long, default_value = "docs/model_card.md")]
    model_card: PathBuf,
    /// Boosting rounds at most (default: training.num_iterations).
    #[arg(long)]
    num_iterations: Option<u32>,
    /// Learning rate (default: training.learning_rate).
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Leaves per tree (default: training.num_leaves).
    #[arg(long)]
    num_leaves: Option<u32>,
    /// Train on the days from this one (UTC, inclusive; default: the first in the data).
    #[arg(long, value_name = "YYYY-MM-DD")]
    from: Option<jiff::civil::Date>,
    /// ... to this one (inclusive; default: the last).
    #[arg(long, value_name = "YYYY-MM-DD")]
    to: Option<jiff::civil::Date>,
    /// Spans of market time, ms since the epoch, whose rows are left out (`toolkit
    /// walk-forward`'s embargo after each earlier test block).
    #[arg(skip)]
    excluded_ms: Vec<(i64, i64)>,
    /// A drill: the exported ONNX gains a `base_values` the native evaluator does not apply,
    /// so the parity check fails and the run must write nothing.
    #[arg(long)]
    drill_disagree: bool,
    /// A negative control, to test the pipeline itself: a model trained this way has nothing
    /// real to learn, and the release gates must refuse it (one they pass means a leak).
    #[arg(long, value_enum)]
    control: Option<Control>,
    /// How far `--control lag-features` lags the features.
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
    control_lag: std::time::Duration,
    #[command(flatten)]
    onnxruntime: OnnxRuntimeArg,
}

/// A negative control ([`Args::control`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Control {
    /// Each day's outcomes (label, net return, time to flat) permuted among its candidates,
    /// seeded by `training.seed`: the features no longer say anything about them.
    ShuffleLabels,
    /// Each candidate given the features of the latest candidate of its day at least
    /// `--control-lag` earlier (those without one left out): what was known a minute ago.
    LagFeatures,
}

impl Args {
    /// The arguments `toolkit walk-forward` trains one fold with: the days `from` to `to` of
    /// `data` less `excluded_ms`, into `output_dir`, with its model card beside it.
    pub(crate) fn fold(
        config: ConfigArgs,
        data: PathBuf,
        output_dir: PathBuf,
        (from, to): (jiff::civil::Date, jiff::civil::Date),
        excluded_ms: Vec<(i64, i64)>,
        onnxruntime: OnnxRuntimeArg,
    ) -> Args {
        Args {
            config,
            data,
            model_card: output_dir.join("model_card.md"),
            output_dir,
            num_iterations: None,
            learning_rate: None,
            num_leaves: None,
            from: Some(from),
            to: Some(to),
            excluded_ms,
            drill_disagree: false,
            control: None,
            control_lag: std::time::Duration::from_secs(60),
            onnxruntime,
        }
    }

    /// What the negative control asked for does, in words; None without one.
    fn control_description(&self) -> Option<String> {
        Some(match self.control? {
            Control::ShuffleLabels => {
                "labels shuffled within each day (outcomes permuted among its candidates)"
                    .to_owned()
            }
            Control::LagFeatures => format!(
                "features lagged by {} (each candidate scored on an earlier one's)",
                humantime::format_duration(self.control_lag)
            ),
        })
    }
}

/// `lgbm_meta.json`: everything about a trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Meta {
    /// Model id.
    pub(crate) model_id: String,
    /// When it was trained, RFC 3339.
    pub(crate) created_at: String,
    /// Input features, in order, and their schema hash.
    pub(crate) feature_names: Vec<String>,
    pub(crate) schema_hash: String,
    /// Thresholds and how they were chosen.
    pub(crate) thresholds: ThresholdChoice,
    /// Report-fold metrics, overall and per regime; training fold size.
    pub(crate) metrics: MetricsReport,
    /// The split.
    pub(crate) training_window: Window,
    /// LightGBM parameters as passed, the best iteration and the trees kept.
    pub(crate) parameters: Value,
    pub(crate) best_iteration: u32,
    /// Where the data came from.
    pub(crate) data: DataInfo,
    /// Parity of the exported model on the validation fold.
    pub(crate) parity: Parity,
    /// Reference histograms of every feature (training fold) and of the score (validation).
    pub(crate) reference: Reference,
    /// Seconds per step.
    pub(crate) timings_s: BTreeMap<String, f64>,
    /// The negative control this model was trained as (`train --control`), if any: never a
    /// model to trade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) negative_control: Option<String>,
}

/// Thresholds, chosen on net expectancy after fees on the threshold fold ([`economics`]), and
/// what the report fold's candidates earned at them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ThresholdChoice {
    /// Enter at or above: the threshold whose summed net return had the highest lower bound
    /// on the threshold fold.
    pub(crate) tau_entry: f64,
    /// Hold at or above: 0, a position is held as the labels held it ([`economics`]).
    pub(crate) tau_hold: f64,
    /// Least approvals a threshold needs.
    pub(crate) min_approved: u32,
    /// Thresholds tried (every distinct threshold-fold score with enough approvals): the more,
    /// the more the chosen one's threshold-fold figures flatter it.
    pub(crate) thresholds_tried: u64,
    /// The threshold fold's candidates tau_entry approves (the figures that chose it).
    pub(crate) selection: Economics,
    /// The report fold's candidates tau_entry approves (figures that chose nothing).
    pub(crate) entry: Economics,
    /// The report fold's, per regime.
    pub(crate) entry_by_regime: BTreeMap<String, Economics>,
    /// Regime-specific thresholds measured against tau_entry (absent in models trained
    /// before they were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) regime_thresholds: Option<RegimeThresholds>,
}

/// Metrics of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MetricsReport {
    /// Report fold (the JSON name is kept for readers of earlier files).
    pub(crate) validation: Metrics,
    /// Report fold by regime.
    pub(crate) by_regime: BTreeMap<String, Metrics>,
    /// Rows and positives of the training fold.
    pub(crate) train_rows: u64,
    pub(crate) train_positives: u64,
}

/// The split in time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Window {
    /// First and last candidate time of all the data, ms since the epoch.
    pub(crate) data_ms: [i64; 2],
    /// Where each day's early-stopping block starts.
    pub(crate) validation_starts_ms: Vec<i64>,
    /// Where each day's threshold and report blocks start.
    #[serde(default)]
    pub(crate) threshold_starts_ms: Vec<i64>,
    #[serde(default)]
    pub(crate) report_starts_ms: Vec<i64>,
    /// The reach of a label whose entry never filled, ms, and each fold's share of a day.
    pub(crate) embargo_ms: u64,
    pub(crate) validation_fraction: f64,
    #[serde(default)]
    pub(crate) threshold_fraction: f64,
    #[serde(default)]
    pub(crate) report_fraction: f64,
    /// Rows dropped because their label reached into the next fold.
    pub(crate) embargoed_rows: u64,
}

/// The training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DataInfo {
    /// The file and its SHA-256, and the rows trained on (the days asked for).
    pub(crate) path: PathBuf,
    pub(crate) sha256: String,
    pub(crate) rows: u64,
    /// The archive partitions it was built from.
    pub(crate) source: TrainingSidecar,
}

/// Parity of the export.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Parity {
    /// Rows compared.
    pub(crate) rows: u64,
    /// Largest |LightGBM - native| and |LightGBM - ONNX Runtime|.
    pub(crate) max_diff_native: f64,
    pub(crate) max_diff_onnxruntime: f64,
}

/// Reference distributions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Reference {
    /// One per feature, in order.
    pub(crate) features: Vec<Histogram>,
    /// The validation scores.
    pub(crate) score: Histogram,
    /// The features with the most gain, most first (at most [`DRIFT_FEATURES`], none without
    /// gain): the engine watches their drift beside the score's.
    #[serde(default)]
    pub(crate) drift_features: Vec<String>,
    /// The score's drift alarm levels ([`score_drift_levels`]).
    #[serde(default)]
    pub(crate) score_drift_levels: Option<ScoreDriftLevels>,
}

impl Meta {
    /// Reads `dir/lgbm_meta.json`.
    pub(crate) fn read(path: &Path) -> Result<Meta> {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
    }
}

/// Rows of the training set, as the trainer needs them.
struct Rows {
    /// Row-major features.
    features: Vec<f32>,
    labels: Vec<bool>,
    /// Net return after fees of each candidate traded alone, bps and USD (None: never filled).
    net_bps: Vec<Option<f64>>,
    net_usd: Vec<Option<f64>>,
    ts: Vec<i64>,
    /// How far past `ts` the label looked: fill and exit when the entry filled.
    reach_ms: Vec<Option<i64>>,
    regimes: Vec<String>,
    symbols: Vec<String>,
}

impl Rows {
    fn read(data: &Table) -> Result<Rows> {
        let columns = FEATURE_NAMES
            .iter()
            .map(|name| data.f32s(name))
            .collect::<Result<Vec<_>>>()?;
        let mut features = Vec::with_capacity(data.rows() * FEATURE_COUNT);
        for row in 0..data.rows() {
            features.extend(columns.iter().map(|column| column[row]));
        }
        let net_bps = data.opt_f64s("net_return_bps")?.to_vec();
        // The notional of the filled entry turns bps into USD.
        let net_usd = net_bps
            .iter()
            .zip(data.f64s("filled_qty")?)
            .zip(data.opt_f64s("entry_fill_price")?)
            .map(|((bps, qty), price)| Some(bps.as_ref()? / 1e4 * qty * price.as_ref()?))
            .collect();
        Ok(Rows {
            features,
            labels: data.i64s("label")?.iter().map(|&v| v == 1).collect(),
            net_bps,
            net_usd,
            ts: data.i64s("ts")?.to_vec(),
            reach_ms: data
                .opt_f64s("time_to_fill_ms")?
                .iter()
                .zip(data.opt_f64s("time_to_flat_ms")?)
                .map(|(fill, flat)| Some((fill.as_ref()? + flat.as_ref()?).ceil() as i64))
                .collect(),
            regimes: data.strs("regime")?.to_vec(),
            symbols: data.strs("symbol")?.to_vec(),
        })
    }

    fn row(&self, index: usize) -> &[f32] {
        &self.features[index * FEATURE_COUNT..(index + 1) * FEATURE_COUNT]
    }

    fn gather(&self, indices: &[usize]) -> Vec<f32> {
        indices
            .iter()
            .flat_map(|&i| self.row(i).iter().copied())
            .collect()
    }

    /// The rows whose candidate time `keep` accepts, in their order.
    fn select(self, keep: impl Fn(i64) -> bool) -> Rows {
        let kept: Vec<usize> = (0..self.ts.len()).filter(|&i| keep(self.ts[i])).collect();
        self.recombined(&kept, &kept, &kept)
    }

    /// Row `k` of the result takes its features from `features[k]`, its outcome (label, net
    /// return, reach) from `outcomes[k]` and its time, regime and symbol from `keys[k]`.
    fn recombined(&self, features: &[usize], outcomes: &[usize], keys: &[usize]) -> Rows {
        let pick = |values: &[Option<f64>]| outcomes.iter().map(|&i| values[i]).collect();
        Rows {
            features: self.gather(features),
            labels: outcomes.iter().map(|&i| self.labels[i]).collect(),
            net_bps: pick(&self.net_bps),
            net_usd: pick(&self.net_usd),
            reach_ms: outcomes.iter().map(|&i| self.reach_ms[i]).collect(),
            ts: keys.iter().map(|&i| self.ts[i]).collect(),
            regimes: keys.iter().map(|&i| self.regimes[i].clone()).collect(),
            symbols: keys.iter().map(|&i| self.symbols[i].clone()).collect(),
        }
    }

    /// Row indices by symbol and UTC day, each in time order.
    fn days(&self) -> BTreeMap<(&str, i64), Vec<usize>> {
        let mut days: BTreeMap<(&str, i64), Vec<usize>> = BTreeMap::new();
        for (index, &ts) in self.ts.iter().enumerate() {
            days.entry((self.symbols[index].as_str(), ts.div_euclid(DAY_MS)))
                .or_default()
                .push(index);
        }
        for rows in days.values_mut() {
            rows.sort_by_key(|&index| self.ts[index]);
        }
        days
    }

    /// The negative control `--control shuffle-labels`: each day's outcomes permuted among its
    /// candidates, seeded.
    fn outcomes_shuffled_within_days(self, seed: u64) -> Rows {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (mut keys, mut outcomes) = (Vec::new(), Vec::new());
        for rows in self.days().into_values() {
            let mut shuffled = rows.clone();
            shuffled.shuffle(&mut rng);
            keys.extend(rows);
            outcomes.extend(shuffled);
        }
        self.recombined(&keys, &outcomes, &keys)
    }

    /// The negative control `--control lag-features`: each candidate with the features of the
    /// latest candidate of its day at least `lag_ms` earlier; those without one are left out.
    fn features_lagged(self, lag_ms: i64) -> Rows {
        let (mut keys, mut features) = (Vec::new(), Vec::new());
        for rows in self.days().into_values() {
            let mut earlier = 0;
            for (position, &index) in rows.iter().enumerate() {
                while earlier < position && self.ts[rows[earlier + 1]] <= self.ts[index] - lag_ms {
                    earlier += 1;
                }
                if self.ts[rows[earlier]] <= self.ts[index] - lag_ms {
                    keys.push(index);
                    features.push(rows[earlier]);
                }
            }
        }
        self.recombined(&features, &keys, &keys)
    }
}

/// Midnight (UTC) starting `date`, ms since the epoch.
pub(crate) fn day_start_ms(date: jiff::civil::Date) -> i64 {
    date.to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map_or(0, |zoned| zoned.timestamp().as_millisecond())
}

/// The walk-forward split: row indices of the four folds, in time order.
struct Split {
    train: Vec<usize>,
    /// Early stopping.
    validation: Vec<usize>,
    /// Threshold selection.
    threshold: Vec<usize>,
    /// The report: chose nothing.
    report: Vec<usize>,
    window: Window,
}

const DAY_MS: i64 = 86_400_000;

/// The shares of a day the three held-out folds take, in time order.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Fractions {
    validation: f64,
    threshold: f64,
    report: f64,
}

/// Splits each day (and symbol) by time into training, early-stopping, threshold and report
/// folds (the last three taking `fractions` of the day), and purges every fold but the last of
/// the rows whose label reaches the next fold's start (`unfilled_reach_ms` for an entry that
/// never filled).
fn split(rows: &Rows, fractions: Fractions, unfilled_reach_ms: u64) -> Split {
    let mut days: BTreeMap<(&str, i64), Vec<usize>> = BTreeMap::new();
    for (index, &ts) in rows.ts.iter().enumerate() {
        days.entry((rows.symbols[index].as_str(), ts.div_euclid(DAY_MS)))
            .or_default()
            .push(index);
    }
    let mut folds: [Vec<usize>; 4] = Default::default();
    let mut starts: [Vec<i64>; 3] = Default::default();
    let mut purged = 0;
    for indices in days.values() {
        let first = indices.iter().map(|&i| rows.ts[i]).min().unwrap_or(0);
        let last = indices.iter().map(|&i| rows.ts[i]).max().unwrap_or(0);
        let span = (last - first) as f64;
        let report = last - (span * fractions.report) as i64;
        let threshold = report - (span * fractions.threshold) as i64;
        let validation = threshold - (span * fractions.validation) as i64;
        let bounds = [validation, threshold, report];
        for (fold, bound) in bounds.iter().enumerate() {
            starts[fold].push(*bound);
        }
        for &index in indices {
            let ts = rows.ts[index];
            let fold = bounds.iter().filter(|&&bound| ts >= bound).count();
            let reach = rows.reach_ms[index].unwrap_or(unfilled_reach_ms as i64);
            if fold < 3 && ts + reach >= bounds[fold] {
                purged += 1;
            } else {
                folds[fold].push(index);
            }
        }
    }
    let data_ms = [
        rows.ts.iter().copied().min().unwrap_or(0),
        rows.ts.iter().copied().max().unwrap_or(0),
    ];
    let [train, validation, threshold, report] = folds;
    let [validation_starts_ms, threshold_starts_ms, report_starts_ms] = starts;
    Split {
        train,
        validation,
        threshold,
        report,
        window: Window {
            data_ms,
            validation_starts_ms,
            threshold_starts_ms,
            report_starts_ms,
            embargo_ms: unfilled_reach_ms,
            validation_fraction: fractions.validation,
            threshold_fraction: fractions.threshold,
            report_fraction: fractions.report,
            embargoed_rows: purged,
        },
    }
}

fn lgbm(err: lightgbm3::Error) -> anyhow::Error {
    anyhow!("LightGBM: {err}")
}

/// Times the steps of the run.
struct Stopwatch(Instant, BTreeMap<String, f64>);

impl Stopwatch {
    fn lap(&mut self, step: &str) {
        self.1
            .insert(step.to_owned(), self.0.elapsed().as_secs_f64());
        self.0 = Instant::now();
    }
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    train(args)?;
    Ok(ExitCode::SUCCESS)
}

/// Trains, exports and writes the model `args` asks for; its metadata.
pub(crate) fn train(args: &Args) -> Result<Meta> {
    let loaded = args.config.load()?;
    let config = &loaded.config;
    let mut clock = Stopwatch(Instant::now(), BTreeMap::new());
    let bytes = fs::read(&args.data).with_context(|| format!("reading {}", args.data.display()))?;
    let data = table::read(&args.data)?;
    let mut source = TrainingSidecar::beside(&args.data)?;
    if source.schema_hash != FEATURE_SCHEMA_HASH {
        bail!(
            "{} was built with feature schema {}, the engine's is {FEATURE_SCHEMA_HASH}",
            args.data.display(),
            source.schema_hash
        );
    }
    let rows = Rows::read(&data).with_context(|| format!("reading {}", args.data.display()))?;
    // The days asked for, less the spans left out.
    let first_ms = args.from.map_or(i64::MIN, day_start_ms);
    let end_ms = args
        .to
        .and_then(|to| to.tomorrow().ok())
        .map_or(i64::MAX, day_start_ms);
    let excluded = args.excluded_ms.clone();
    let rows = rows.select(|ts| {
        ts >= first_ms && ts < end_ms && !excluded.iter().any(|&(from, to)| ts >= from && ts < to)
    });
    let rows = match args.control {
        None => rows,
        Some(Control::ShuffleLabels) => rows.outcomes_shuffled_within_days(config.training.seed),
        Some(Control::LagFeatures) => rows.features_lagged(
            i64::try_from(args.control_lag.as_millis()).context("--control-lag is too long")?,
        ),
    };
    if args.from.is_some() || args.to.is_some() {
        let mut kept = Vec::with_capacity(source.partitions.len());
        for partition in source.partitions {
            let day = partition.day()?;
            if args.from.is_none_or(|from| day >= from) && args.to.is_none_or(|to| day <= to) {
                kept.push(partition);
            }
        }
        source.partitions = kept;
        ensure!(
            !source.partitions.is_empty(),
            "{} holds no day from {} to {}",
            args.data.display(),
            args.from
                .map_or("the first".to_owned(), |date| date.to_string()),
            args.to
                .map_or("the last".to_owned(), |date| date.to_string())
        );
        source.rows = rows.ts.len() as u64;
        source.positives = rows.labels.iter().filter(|&&label| label).count() as u64;
    }
    let training = &config.training;
    let embargo_ms = u64::try_from(training.embargo.get().as_millis()).unwrap_or(u64::MAX);
    let fractions = Fractions {
        validation: training.validation_fraction,
        threshold: training.threshold_fraction,
        report: training.report_fraction,
    };
    let split = split(&rows, fractions, embargo_ms);
    ensure!(
        [
            &split.train,
            &split.validation,
            &split.threshold,
            &split.report
        ]
        .iter()
        .all(|fold| fold.len() >= 100),
        "too little data: {} training, {} early-stopping, {} threshold and {} report rows (100 \
         each at least)",
        split.train.len(),
        split.validation.len(),
        split.threshold.len(),
        split.report.len()
    );
    clock.lap("read");

    let parameters = json!({
        "objective": "binary",
        "metric": "binary_logloss",
        "num_iterations": args.num_iterations.unwrap_or(training.num_iterations),
        "learning_rate": args.learning_rate.unwrap_or(training.learning_rate),
        "num_leaves": args.num_leaves.unwrap_or(training.num_leaves),
        "min_data_in_leaf": training.min_data_in_leaf,
        "feature_fraction": training.feature_fraction,
        "early_stopping_rounds": training.early_stopping_rounds,
        "seed": training.seed,
        "deterministic": true,
        "force_row_wise": true,
        "num_threads": 1,
        "verbosity": -1,
    });
    let (train_x, validation_x) = (rows.gather(&split.train), rows.gather(&split.validation));
    let label_values = |indices: &[usize]| -> Vec<f32> {
        indices
            .iter()
            .map(|&i| f32::from(u8::from(rows.labels[i])))
            .collect()
    };
    let width = i32::try_from(FEATURE_COUNT)?;
    let names: Vec<String> = FEATURE_NAMES.iter().map(|n| (*n).to_owned()).collect();
    let mut train_set =
        Dataset::from_slice(&train_x, &label_values(&split.train), width, true).map_err(lgbm)?;
    train_set.set_feature_names(&names).map_err(lgbm)?;
    let validation_set = Dataset::from_slice_with_reference(
        &validation_x,
        &label_values(&split.validation),
        width,
        true,
        Some(&train_set),
    )
    .map_err(lgbm)?;
    let booster =
        Booster::train_with_valid(train_set, Some(validation_set), &parameters).map_err(lgbm)?;
    let best_iteration = u32::try_from(booster.num_iterations())?;
    clock.lap("train");

    // Export and parity before anything final is written.
    let model_text = booster.save_string().map_err(lgbm)?;
    let ensemble = lightgbm_text::parse(&model_text).context("reading LightGBM's model")?;
    ensure!(
        ensemble.n_features == FEATURE_COUNT,
        "LightGBM's model takes {} features, the feature set has {FEATURE_COUNT}",
        ensemble.n_features
    );
    let threshold_scores = booster
        .predict(&rows.gather(&split.threshold), width, true)
        .map_err(lgbm)?;
    let report_x = rows.gather(&split.report);
    let reference_scores = booster.predict(&report_x, width, true).map_err(lgbm)?;
    let created = jiff::Timestamp::now();
    let provisional_onnx = engine::model::write_onnx(&ensemble, &[]);
    let model_id = format!(
        "lgbm-{}-{}",
        created.strftime("%Y%m%dT%H%M%SZ"),
        &sha256_hex(&provisional_onnx)[..8]
    );
    let validation_labels: Vec<bool> = split.report.iter().map(|&i| rows.labels[i]).collect();
    let choice = thresholds(config, &split, &rows, &threshold_scores, &reference_scores)?;
    let (tau_entry, tau_hold) = (choice.tau_entry, choice.tau_hold);
    let onnx = engine::model::write_onnx(
        &ensemble,
        &[
            ("model_id", &model_id),
            ("feature_schema_hash", FEATURE_SCHEMA_HASH),
            ("tau_entry", &tau_entry.to_string()),
            ("tau_hold", &tau_hold.to_string()),
        ],
    );
    let onnx = if args.drill_disagree {
        engine::model::drills::disagreeing(&onnx).map_err(anyhow::Error::msg)?
    } else {
        onnx
    };
    let parity = check_parity(&onnx, &ensemble, &report_x, &reference_scores, args)?;
    clock.lap("export_and_parity");

    let by_regime = per_regime(&split.report, &rows, &reference_scores, tau_entry, tau_hold);
    let validation = metrics::evaluate(&reference_scores, &validation_labels, tau_entry, tau_hold);
    let train_positives = split.train.iter().filter(|&&i| rows.labels[i]).count() as u64;
    let reference = Reference {
        features: FEATURE_NAMES
            .iter()
            .enumerate()
            .map(|(feature, name)| {
                let values: Vec<f64> = split
                    .train
                    .iter()
                    .map(|&i| f64::from(rows.row(i)[feature]))
                    .collect();
                metrics::quantile_histogram(name, &values, FEATURE_BINS)
            })
            .collect(),
        score: metrics::unit_histogram("score", &reference_scores, SCORE_BINS),
        drift_features: most_gain(&model_text)?,
        score_drift_levels: None,
    };
    // The score's drift alarm levels, from every held-out candidate in time order.
    let validation_scores = booster.predict(&validation_x, width, true).map_err(lgbm)?;
    let mut held_out: Vec<(i64, f64)> = [
        (&split.validation, &validation_scores),
        (&split.threshold, &threshold_scores),
        (&split.report, &reference_scores),
    ]
    .into_iter()
    .flat_map(|(fold, scores)| fold.iter().map(|&i| rows.ts[i]).zip(scores.iter().copied()))
    .collect();
    held_out.sort_by_key(|&(ts, _)| ts);
    let held_out_scores: Vec<f64> = held_out.into_iter().map(|(_, score)| score).collect();
    let reference = Reference {
        score_drift_levels: score_drift_levels(
            &reference.score,
            &held_out_scores,
            config.rollout_guard.drift_window,
        ),
        ..reference
    };
    let meta = Meta {
        model_id: model_id.clone(),
        created_at: created.to_string(),
        feature_names: names.clone(),
        schema_hash: FEATURE_SCHEMA_HASH.to_owned(),
        thresholds: choice,
        metrics: MetricsReport {
            validation,
            by_regime,
            train_rows: split.train.len() as u64,
            train_positives,
        },
        training_window: split.window.clone(),
        parameters: parameters.clone(),
        best_iteration,
        data: DataInfo {
            path: args.data.clone(),
            sha256: sha256_hex(&bytes),
            rows: rows.ts.len() as u64,
            source,
        },
        parity,
        reference,
        timings_s: BTreeMap::new(),
        negative_control: args.control_description(),
    };
    let info = model_info(&meta);
    let staging = crate::table::temporary_path(&args.output_dir);
    if staging.exists() {
        fs::remove_dir_all(&staging).with_context(|| format!("clearing {}", staging.display()))?;
    }
    fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    fs::write(staging.join(engine::model::registry::MODEL_FILE), &onnx)?;
    fs::write(staging.join(TEXT_MODEL_FILE), &model_text)?;
    let curve = metrics::pr_curve(&reference_scores, &validation_labels);
    let positive_rate = validation.positives as f64 / validation.support.max(1) as f64;
    plots::pr_curve(
        &staging.join(PR_CURVE_FILE),
        &curve,
        positive_rate,
        (validation.at_entry.precision, validation.at_entry.recall),
        validation.pr_auc,
    )?;
    plots::score_histogram(
        &staging.join(SCORE_HISTOGRAM_FILE),
        &reference_scores,
        &validation_labels,
        tau_entry,
        tau_hold,
    )?;
    clock.lap("artifacts");
    let meta = Meta {
        timings_s: clock.1.clone(),
        ..meta
    };
    engine::model::registry::write_json_atomically(&staging.join(META_FILE), &meta)?;
    engine::model::registry::write_json_atomically(
        &staging.join(engine::model::registry::MODEL_INFO_FILE),
        &info,
    )?;
    if args.output_dir.exists() {
        fs::remove_dir_all(&args.output_dir)
            .with_context(|| format!("replacing {}", args.output_dir.display()))?;
    }
    if let Some(parent) = args.output_dir.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::rename(&staging, &args.output_dir)
        .with_context(|| format!("moving the model into {}", args.output_dir.display()))?;
    card::write(&args.model_card, &meta, &args.output_dir)?;
    print_summary(&meta, &args.output_dir, &args.model_card);
    Ok(meta)
}

/// tau_entry and tau_hold on net expectancy after fees (see [`economics`]): chosen on the
/// threshold fold, reported on the report fold.
fn thresholds(
    config: &Config,
    split: &Split,
    rows: &Rows,
    threshold_scores: &[f64],
    report_scores: &[f64],
) -> Result<ThresholdChoice> {
    // An unfilled entry holds the engine while it works.
    let working_ms = i64::try_from(config.labeling.fill_horizon.get().as_millis())
        .context("labeling.fill_horizon is too long")?;
    let mut symbols: Vec<&str> = rows.symbols.iter().map(String::as_str).collect();
    symbols.sort_unstable();
    symbols.dedup();
    let mut regimes: Vec<&str> = rows.regimes.iter().map(String::as_str).collect();
    regimes.sort_unstable();
    regimes.dedup();
    let outcomes = |indices: &mut dyn Iterator<Item = (usize, f64)>| -> Vec<Outcome> {
        let mut outcomes: Vec<Outcome> = indices
            .map(|(index, score)| Outcome {
                score,
                net_bps: rows.net_bps[index],
                net_usd: rows.net_usd[index],
                ts_ms: rows.ts[index],
                symbol: symbols
                    .binary_search(&rows.symbols[index].as_str())
                    .unwrap_or_default(),
                regime: regimes
                    .binary_search(&rows.regimes[index].as_str())
                    .unwrap_or_default(),
                busy_ms: rows.reach_ms[index].unwrap_or(working_ms),
            })
            .collect();
        outcomes.sort_by_key(|outcome| outcome.ts_ms);
        outcomes
    };
    let choosing = outcomes(
        &mut split
            .threshold
            .iter()
            .copied()
            .zip(threshold_scores.iter().copied()),
    );
    let min_approved = u64::from(config.training.min_approved);
    let (tau_entry, thresholds_tried) =
        economics::most_surely_paying_threshold(&choosing, min_approved).with_context(|| {
            format!(
                "no threshold approves training.min_approved = {min_approved} of the {} \
                 threshold-fold candidates",
                choosing.len()
            )
        })?;
    let tau_hold = 0.0;
    let report = outcomes(
        &mut split
            .report
            .iter()
            .copied()
            .zip(report_scores.iter().copied()),
    );
    let mut by_regime = BTreeMap::new();
    for (position, &index) in split.report.iter().enumerate() {
        by_regime
            .entry(rows.regimes[index].clone())
            .or_insert_with(Vec::new)
            .push((index, report_scores[position]));
    }
    let regime_thresholds = RegimeThresholds::measure(
        &choosing,
        &report,
        &regimes
            .iter()
            .map(|&regime| regime.to_owned())
            .collect::<Vec<_>>(),
        tau_entry,
        min_approved,
    );
    Ok(ThresholdChoice {
        tau_entry,
        tau_hold,
        min_approved: config.training.min_approved,
        thresholds_tried,
        regime_thresholds: Some(regime_thresholds),
        selection: economics::at(&choosing, tau_entry),
        entry: economics::at(&report, tau_entry),
        entry_by_regime: by_regime
            .into_iter()
            .map(|(regime, rows)| {
                let outcomes = outcomes(&mut rows.into_iter());
                (regime, economics::at(&outcomes, tau_entry))
            })
            .collect(),
    })
}

fn per_regime(
    report: &[usize],
    rows: &Rows,
    scores: &[f64],
    tau_entry: f64,
    tau_hold: f64,
) -> BTreeMap<String, Metrics> {
    let mut groups: BTreeMap<&str, (Vec<f64>, Vec<bool>)> = BTreeMap::new();
    for (position, &index) in report.iter().enumerate() {
        let group = groups.entry(rows.regimes[index].as_str()).or_default();
        group.0.push(scores[position]);
        group.1.push(rows.labels[index]);
    }
    groups
        .into_iter()
        .map(|(regime, (scores, labels))| {
            (
                regime.to_owned(),
                metrics::evaluate(&scores, &labels, tau_entry, tau_hold),
            )
        })
        .collect()
}

/// Scores every validation row with the native evaluator and ONNX Runtime and compares both
/// with LightGBM; the first row beyond the tolerance fails the run.
fn check_parity(
    onnx: &[u8],
    ensemble: &engine::model::TreeEnsemble,
    rows: &[f32],
    reference: &[f64],
    args: &Args,
) -> Result<Parity> {
    let environment = load_runtime(&args.onnxruntime.path)?;
    let mut ort = OrtScorer::new(&environment, onnx, FEATURE_COUNT)?;
    let native = NativeModel::compile(ensemble);
    let (mut max_native, mut max_ort) = (0.0_f64, 0.0_f64);
    for (index, (row, &lightgbm)) in rows.chunks_exact(FEATURE_COUNT).zip(reference).enumerate() {
        let (native32, ort32) = (native.predict(row), ort.predict(row)?);
        let (native_score, ort_score) = (f64::from(native32), f64::from(ort32));
        let (native_diff, ort_diff) = (
            (native_score - lightgbm).abs(),
            (ort_score - lightgbm).abs(),
        );
        if native32.to_bits() != ort32.to_bits() {
            bail!(
                "parity failed on validation row {index}: native {native32} and ONNX Runtime \
                 {ort32} are not bit-identical; row {row:?}"
            );
        }
        if native_diff > PARITY_TOLERANCE || ort_diff > PARITY_TOLERANCE {
            bail!(
                "parity failed on validation row {index}: LightGBM {lightgbm}, native \
                 {native_score}, ONNX Runtime {ort_score} (tolerance {PARITY_TOLERANCE:e}); \
                 row {row:?}"
            );
        }
        max_native = max_native.max(native_diff);
        max_ort = max_ort.max(ort_diff);
    }
    Ok(Parity {
        rows: reference.len() as u64,
        max_diff_native: max_native,
        max_diff_onnxruntime: max_ort,
    })
}

fn model_info(meta: &Meta) -> ModelInfo {
    let validation = &meta.metrics.validation;
    let metrics = BTreeMap::from([
        ("pr_auc".to_owned(), validation.pr_auc),
        ("roc_auc".to_owned(), validation.roc_auc),
        ("log_loss".to_owned(), validation.log_loss),
        (
            "precision_at_entry".to_owned(),
            validation.at_entry.precision,
        ),
        ("recall_at_entry".to_owned(), validation.at_entry.recall),
        (
            "positive_rate".to_owned(),
            validation.positives as f64 / validation.support.max(1) as f64,
        ),
    ]);
    let mut reference = meta.reference.features.clone();
    reference.push(meta.reference.score.clone());
    ModelInfo {
        id: meta.model_id.clone(),
        created_at: meta.created_at.clone(),
        schema_hash: meta.schema_hash.clone(),
        feature_names: meta.feature_names.clone(),
        thresholds: Thresholds {
            tau_entry: meta.thresholds.tau_entry,
            tau_hold: meta.thresholds.tau_hold,
        },
        metrics,
        training_window_ms: meta.training_window.data_ms,
        reference,
        drift_features: meta.reference.drift_features.clone(),
        score_drift_levels: meta.reference.score_drift_levels,
    }
}

/// How far the score strays from its `reference` histogram in windows of `window` candidates
/// of the model's own held-out data (`scores`, in time order): the largest PSI and KS over the
/// whole windows, with the engine's own binning and statistics, so that live score drift is
/// judged against what the model's data already did; `None` without one whole window. The
/// engine scores in f32, so the scores are rounded so first.
fn score_drift_levels(
    reference: &Histogram,
    scores: &[f64],
    window: u32,
) -> Option<ScoreDriftLevels> {
    let size = usize::try_from(window).ok().filter(|&size| size > 0)?;
    let mut levels: Option<ScoreDriftLevels> = None;
    for chunk in scores.chunks_exact(size) {
        let mut live = vec![0_u64; reference.counts.len()];
        for &score in chunk {
            let value = f64::from(score as f32);
            live[reference.edges.partition_point(|&edge| edge <= value)] += 1;
        }
        let (psi, ks) = (
            drift::psi(&reference.counts, &live),
            drift::ks(&reference.counts, &live),
        );
        let level = levels.get_or_insert(ScoreDriftLevels {
            window,
            windows: 0,
            psi,
            ks,
        });
        level.windows += 1;
        level.psi = level.psi.max(psi);
        level.ks = level.ks.max(ks);
    }
    levels
}

/// The [`DRIFT_FEATURES`] features with the most gain, most first.
fn most_gain(model_text: &str) -> Result<Vec<String>> {
    let gains = lightgbm_text::gain_by_feature(model_text, FEATURE_COUNT)
        .context("reading the split gains of LightGBM's model")?;
    let mut ranked: Vec<(usize, f64)> = gains
        .into_iter()
        .enumerate()
        .filter(|&(_, gain)| gain > 0.0)
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(ranked
        .into_iter()
        .take(DRIFT_FEATURES)
        .map(|(feature, _)| FEATURE_NAMES[feature].to_owned())
        .collect())
}

/// Net PnL per trade with its 95 % interval, in bps and USD.
pub(crate) fn per_trade(economics: &Economics) -> String {
    let (bps, usd) = (&economics.per_trade_bps, &economics.per_trade_usd);
    format!(
        "{:+.2} bps [{:+.2}, {:+.2}] = {:+.2} USD [{:+.2}, {:+.2}]",
        bps.mean, bps.low, bps.high, usd.mean, usd.low, usd.high
    )
}

fn print_summary(meta: &Meta, dir: &Path, card: &Path) {
    let validation = &meta.metrics.validation;
    println!("model {} -> {}", meta.model_id, dir.display());
    println!(
        "  data: {} rows ({} training, {} report, {} purged), {} trees",
        meta.data.rows,
        meta.metrics.train_rows,
        validation.support,
        meta.training_window.embargoed_rows,
        meta.best_iteration
    );
    println!(
        "  report fold: PR-AUC {:.4} (positive rate {:.4}), ROC-AUC {:.4}, log-loss {:.4}",
        validation.pr_auc,
        validation.positives as f64 / validation.support.max(1) as f64,
        validation.roc_auc,
        validation.log_loss
    );
    let t = &meta.thresholds;
    println!(
        "  tau_entry {:.4} (of {} thresholds tried, the surest to pay on the threshold fold: \
         expectancy {:+.2} bps per candidate taken there)",
        t.tau_entry, t.thresholds_tried, t.selection.expectancy_bps
    );
    println!(
        "  on the report fold: {} approved, {} taken (one position at a time), {} filled, \
         expectancy {:+.2} bps per candidate taken, {} per trade; precision {:.4}, recall {:.4}",
        t.entry.approved,
        t.entry.taken,
        t.entry.filled,
        t.entry.expectancy_bps,
        per_trade(&t.entry),
        validation.at_entry.precision,
        validation.at_entry.recall,
    );
    if !t.entry.pays() {
        println!("  NO THRESHOLD PAYS: the chosen one loses money after fees on the report fold");
    }
    if let Some(control) = &meta.negative_control {
        println!("  NEGATIVE CONTROL ({control}): a test of the pipeline, never a model to trade");
    }
    println!(
        "  tau_hold {:.4}: positions are held to take-profit, stop or max hold, as labeled",
        t.tau_hold
    );
    if let Some(regimes) = &t.regime_thresholds {
        println!("  {}", regimes.verdict());
    }
    for (regime, metrics) in &meta.metrics.by_regime {
        println!(
            "  {regime:<9} PR-AUC {:.4} (positive rate {:.4}), precision at tau_entry {:.4} over {}",
            metrics.pr_auc,
            metrics.positives as f64 / metrics.support.max(1) as f64,
            metrics.at_entry.precision,
            metrics.at_entry.approved
        );
    }
    println!(
        "  parity on {} rows: max |LightGBM - native| {:e}, max |LightGBM - ONNX Runtime| {:e}",
        meta.parity.rows, meta.parity.max_diff_native, meta.parity.max_diff_onnxruntime
    );
    println!("  model card: {}", card.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scores_drift_levels_are_the_largest_over_whole_windows_of_held_out_scores() {
        let reference = Histogram {
            name: "score".to_owned(),
            edges: vec![0.5],
            counts: vec![50, 50],
        };
        // A window split as the reference, one all above 0.5, and a partial one left out.
        let scores = [0.1, 0.9, 0.2, 0.8, 0.9, 0.9, 0.9, 0.9, 0.1];
        let levels = score_drift_levels(&reference, &scores, 4).unwrap();
        assert_eq!((levels.window, levels.windows), (4, 2));
        assert_eq!(format!("{:.3} {:.3}", levels.psi, levels.ks), "4.604 0.500");
        assert_eq!(score_drift_levels(&reference, &scores[..3], 4), None);
    }

    #[test]
    fn the_split_has_four_folds_in_time_order_and_purges_labels_reaching_the_next() {
        // Two days, a row every minute for 100 minutes each; a filled label reaches 90 s ahead,
        // except at minute 54 (an entry that never filled: the 120 s embargo).
        let mut ts = Vec::new();
        for day in [0, 1] {
            for minute in 0..100 {
                ts.push(day * DAY_MS + minute * 60_000);
            }
        }
        let rows = Rows {
            features: vec![0.0; ts.len() * FEATURE_COUNT],
            labels: vec![false; ts.len()],
            net_bps: vec![None; ts.len()],
            net_usd: vec![None; ts.len()],
            reach_ms: ts
                .iter()
                .map(|&t| (t % DAY_MS != 54 * 60_000).then_some(90_000))
                .collect(),
            regimes: vec![String::new(); ts.len()],
            symbols: vec!["BTCUSDT".to_owned(); ts.len()],
            ts,
        };
        let fractions = Fractions {
            validation: 0.15,
            threshold: 0.15,
            report: 0.15,
        };
        let split = split(&rows, fractions, 120_000);
        // A 99-minute span: the report starts at 99 - 14.85 = minute 84.15, the threshold
        // fold at 69.3, early stopping at 54.45. Purged each day: minute 53 (reaches 54.5), 54
        // (never filled: reaches 56), 68, 69, 83 and 84 (each reaches past the next start).
        let minutes = |fold: &[usize]| -> Vec<i64> {
            fold.iter()
                .filter(|&&i| rows.ts[i] < DAY_MS)
                .map(|&i| rows.ts[i] / 60_000)
                .collect()
        };
        assert_eq!(minutes(&split.report), (85..100).collect::<Vec<_>>());
        assert_eq!(minutes(&split.threshold), (70..83).collect::<Vec<_>>());
        assert_eq!(minutes(&split.validation), (55..68).collect::<Vec<_>>());
        assert_eq!(minutes(&split.train), (0..53).collect::<Vec<_>>());
        assert_eq!(split.window.embargoed_rows, 2 * 6);
        assert_eq!(split.window.report_starts_ms[0], 84 * 60_000 + 9_000);
    }

    /// Rows on two days: candidates at the given seconds of each, the first feature and the
    /// net return both equal to the second, labeled when it is even.
    fn rows_at(seconds: &[i64]) -> Rows {
        let mut rows = Rows {
            features: Vec::new(),
            labels: Vec::new(),
            net_bps: Vec::new(),
            net_usd: Vec::new(),
            reach_ms: Vec::new(),
            ts: Vec::new(),
            regimes: Vec::new(),
            symbols: Vec::new(),
        };
        for day in [0, 1] {
            for &second in seconds {
                let mut features = [0.0; FEATURE_COUNT];
                features[0] = second as f32;
                rows.features.extend(features);
                rows.labels.push(second % 2 == 0);
                rows.net_bps.push(Some(second as f64));
                rows.net_usd.push(Some(second as f64));
                rows.reach_ms.push(Some(second));
                rows.ts.push(day * DAY_MS + second * 1_000);
                rows.regimes.push(format!("day {day}"));
                rows.symbols.push("BTCUSDT".to_owned());
            }
        }
        rows
    }

    #[test]
    fn shuffled_labels_stay_within_their_day_and_keep_every_outcome_once() {
        let seconds: Vec<i64> = (0..50).collect();
        let rows = rows_at(&seconds).outcomes_shuffled_within_days(42);
        assert_eq!(rows.ts.len(), 100);
        for day in 0..2 {
            let range = day * 50..(day + 1) * 50;
            // Times, regimes and features stay; the outcomes are the day's own, permuted.
            let mut outcomes: Vec<i64> = rows.net_bps[range.clone()]
                .iter()
                .map(|net| net.unwrap() as i64)
                .collect();
            assert!(range.clone().all(|i| rows.row(i)[0] == (i % 50) as f32));
            assert!(
                range
                    .clone()
                    .all(|i| rows.regimes[i] == format!("day {day}"))
            );
            assert!(
                range
                    .clone()
                    .all(|i| rows.labels[i] == (rows.net_bps[i].unwrap() as i64 % 2 == 0))
            );
            let moved = outcomes
                .iter()
                .enumerate()
                .filter(|&(i, &o)| o != i as i64)
                .count();
            // Seeded: on the first day every outcome moved, on the second all but one.
            assert_eq!(moved, [50, 49][day]);
            outcomes.sort_unstable();
            assert_eq!(outcomes, seconds);
        }
        // Seeded: the same permutation again.
        assert_eq!(
            rows_at(&seconds).outcomes_shuffled_within_days(42).net_bps,
            rows.net_bps
        );
    }

    #[test]
    fn lagged_features_are_the_latest_a_lag_earlier_on_the_same_day() {
        // Candidates at 0, 30, 59, 60, 61, 130 s each day, lagged 60 s: 0..59 have no candidate
        // a minute before and are left out; 60 and 61 take 0's features, 130 takes 61's
        // (the latest at or before 70 s) and keeps its own outcome and time.
        let rows = rows_at(&[0, 30, 59, 60, 61, 130]).features_lagged(60_000);
        assert_eq!(rows.ts.len(), 6);
        let firsts: Vec<f32> = (0..6).map(|i| rows.row(i)[0]).collect();
        assert_eq!(firsts, [0.0, 0.0, 61.0, 0.0, 0.0, 61.0]);
        let outcomes: Vec<f64> = rows.net_bps.iter().map(|net| net.unwrap()).collect();
        assert_eq!(outcomes, [60.0, 61.0, 130.0, 60.0, 61.0, 130.0]);
        assert_eq!(rows.ts[3], DAY_MS + 60_000);
    }
}

//! `toolkit label`: labels for every archived candidate, made by trading it.
//!
//! Each candidate is placed as the engine places it (a post-only entry at the touch, sized for
//! a flat account holding `paper.initial_balance_usd`) and traded by the engine's own order
//! manager on the paper venue, the one fill model of paper trading and the canary, over the
//! partition's journal replayed through the engine's pipeline ([`trial`]). So the labels follow
//! the trader's rules exactly: queue-aware, partial fills, entry and response latency,
//! post-only rejects, reprices and `strategy.entry_ttl`; then a take-profit at
//! `labeling.take_profit_pct` queued like any resting order, a stop at `risk.assumed_sl_pct`
//! triggered on the mid and chased at the touch, and an exit at the touch after
//! `strategy.max_hold`.
//!
//! A row's label is 1 when the position closed on its take-profit (which, checked at start,
//! pays more than the maker fees of both legs), 0 otherwise. Each row also records the outcome,
//! the simulated fills (time to the first entry fill and to flat, average prices, quantity),
//! the net return in bps after fees, markouts of the mid 1 s, 5 s and 30 s after the first
//! fill, and the regime (the simulated day's, or one read off the volatility features).
//!
//! Work is incremental: a partition is labeled again only when its archive sidecar or the
//! settings the labels depend on changed. `paths.data/training.parquet` is then rebuilt from
//! every labeled partition: candidates and their labels side by side.

#[cfg(test)]
mod parity;
mod trial;

use std::fs;
use std::path::{Path, PathBuf};

use std::collections::HashMap;

use anyhow::{Context, Result, bail, ensure};
use engine::cli::ConfigArgs;
use engine::config::Config;
use engine::executor::{SizingRules, compute_order_qty};
use engine::features::{FEATURE_NAMES, FEATURE_SCHEMA_HASH, Feature};
use engine::runtime::trader::TraderRules;
use feed::{Fixed, Instrument, Symbol};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::archive::{self, Partition, Sidecar};
use crate::table::{self, Column, Table};
use engine::model::registry::write_json_atomically;
use trial::{Outcome, Replay, TrialResult};

/// File name of the labels of a partition.
const LABEL_FILE: &str = "labels-0.parquet";
/// Sidecar of a partition's labels.
const LABEL_SIDECAR: &str = "_labels.json";
/// The training set, in `paths.data`.
pub(crate) const TRAINING_FILE: &str = "training.parquet";
/// Its sidecar.
pub(crate) const TRAINING_SIDECAR: &str = "training.json";
/// Markout columns, by horizon.
const MARKOUT_COLUMNS: [&str; 3] = ["markout_1s_bps", "markout_5s_bps", "markout_30s_bps"];
/// The version of the fill model and trial rules; labels made by another are made again.
const FILL_MODEL_VERSION: u32 = 2;

/// Arguments of `label`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArgs,
}

/// What the labels of a symbol depend on beyond the data: the order manager's rules, the
/// paper venue, the entry size and the book depth.
struct Rules {
    trader: TraderRules,
    qty_of: SizingRules,
    instrument: Instrument,
    /// SHA-256 of all of it, recorded with the labels.
    fingerprint: String,
}

impl Rules {
    fn new(config: &Config, instrument: &Instrument, symbol: &str) -> Result<Rules> {
        let fee = instrument.maker_fee_rate.to_f64();
        if config.labeling.take_profit_pct <= 2.0 * fee {
            bail!(
                "labeling.take_profit_pct {} does not cover the maker fees of both legs (2 x {} \
                 for {symbol}): no candidate could be labeled 1",
                config.labeling.take_profit_pct,
                fee
            );
        }
        let qty_of = SizingRules::from_config(&config.executor.sizing)
            .context("the configured sizing does not fit")?;
        let settings = serde_json::json!({
            "fill_model": FILL_MODEL_VERSION,
            "strategy": config.strategy,
            "labeling": config.labeling,
            "stop": config.risk.assumed_sl_pct,
            "paper": config.paper,
            "sizing": config.executor.sizing,
            "book_depth": config.engine.book_depth,
            "instrument": format!("{instrument:?}"),
        });
        Ok(Rules {
            trader: TraderRules::from_config(config, instrument),
            qty_of,
            instrument: *instrument,
            fingerprint: sha256_hex(settings.to_string().as_bytes()),
        })
    }
}

/// What `_labels.json` records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LabelSidecar {
    /// SHA-256 of the archive sidecar the labels were made from.
    partition_fingerprint: String,
    /// SHA-256 of the settings the labels depend on.
    settings_fingerprint: String,
    /// Rows, rows whose entry filled, positives and rows whose fate the data did not reach.
    rows: u64,
    filled: u64,
    positives: u64,
    unknown: u64,
}

/// What `training.json` records about the training set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TrainingSidecar {
    /// Feature schema hash of every partition in it.
    pub(crate) schema_hash: String,
    /// The partitions, with their archive sidecars.
    pub(crate) partitions: Vec<TrainingPartition>,
    /// Rows (candidates whose fate is known) and positives.
    pub(crate) rows: u64,
    pub(crate) positives: u64,
}

impl TrainingSidecar {
    /// The sidecar of the training set `data`: `training.json` beside it.
    pub(crate) fn beside(data: &Path) -> Result<TrainingSidecar> {
        let path = data
            .parent()
            .unwrap_or(Path::new("."))
            .join(TRAINING_SIDECAR);
        let text = fs::read_to_string(&path)
            .with_context(|| format!("reading {} (toolkit label writes it)", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
    }
}

/// One partition of the training set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TrainingPartition {
    /// Symbol and day.
    pub(crate) symbol: String,
    pub(crate) date: String,
    /// Its archive sidecar.
    pub(crate) sidecar: PathBuf,
    /// The schema hash that sidecar gives.
    pub(crate) schema_hash: String,
}

impl TrainingPartition {
    /// Its day.
    pub(crate) fn day(&self) -> Result<jiff::civil::Date> {
        self.date
            .parse()
            .with_context(|| format!("partition {} names no day: {:?}", self.symbol, self.date))
    }
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let loaded = args.config.load()?;
    let config = &loaded.config;
    let partitions = archive::complete_partitions(config)?;
    if partitions.is_empty() {
        bail!(
            "no complete partitions in {}: run `toolkit dump-parquet` first",
            config.paths.parquet.display()
        );
    }
    let (mut labeled, mut kept) = (0, 0);
    let mut training = Table::new();
    let mut used = Vec::new();
    for (partition, sidecar) in &partitions {
        if sidecar.schema_hash != FEATURE_SCHEMA_HASH {
            bail!(
                "{} {} was archived with feature schema {}, the engine's is {}: dump it again \
                 with --force",
                partition.symbol,
                partition.date,
                sidecar.schema_hash,
                FEATURE_SCHEMA_HASH
            );
        }
        let instrument = loaded
            .symbols
            .symbols
            .get(&partition.symbol)
            .with_context(|| {
                format!(
                    "{} has no entry in {}",
                    partition.symbol,
                    loaded.source.symbols.display()
                )
            })?;
        let rules = Rules::new(config, instrument, &partition.symbol)?;
        let sidecar_path = partition.candidates_dir(config).join(archive::SIDECAR);
        let fingerprint = sha256_hex(&fs::read(&sidecar_path)?);
        let label_dir = partition.dir(&config.paths.labels);
        let current = read_label_sidecar(&label_dir)?;
        let fresh = current.as_ref().is_some_and(|labels| {
            labels.partition_fingerprint == fingerprint
                && labels.settings_fingerprint == rules.fingerprint
        });
        let candidates = read_candidates(config, partition, sidecar)?;
        let labels = if fresh {
            kept += 1;
            table::read(&label_dir.join(LABEL_FILE))?
        } else {
            let labels = label_partition(config, partition, sidecar, &candidates, &rules)?;
            let summary = write_labels(&label_dir, &labels, &fingerprint, &rules)?;
            println!(
                "{} {}: {} candidates, {} filled, {} positive ({:.1}%), {} unknown at the end \
                 of the data",
                partition.symbol,
                partition.date,
                summary.rows,
                summary.filled,
                summary.positives,
                100.0 * summary.positives as f64 / summary.rows.max(1) as f64,
                summary.unknown
            );
            labeled += 1;
            labels
        };
        let mut rows = Table::new();
        rows.push(
            "symbol",
            Column::Str(vec![partition.symbol.clone(); candidates.rows()]),
        )?;
        rows.join_columns(candidates)?;
        rows.join_columns(labels)?;
        training.append(&known_rows(&rows)?)?;
        used.push(TrainingPartition {
            symbol: partition.symbol.clone(),
            date: partition.date.to_string(),
            sidecar: sidecar_path,
            schema_hash: sidecar.schema_hash.clone(),
        });
    }
    let positives = training.i64s("label")?.iter().filter(|&&v| v == 1).count();
    let path = config.paths.data.join(TRAINING_FILE);
    table::write(
        &path,
        &training,
        &[("feature_schema_hash", FEATURE_SCHEMA_HASH.to_owned())],
    )?;
    write_json_atomically(
        &config.paths.data.join(TRAINING_SIDECAR),
        &TrainingSidecar {
            schema_hash: FEATURE_SCHEMA_HASH.to_owned(),
            partitions: used,
            rows: training.rows() as u64,
            positives: positives as u64,
        },
    )?;
    println!(
        "labeled {labeled} partitions ({kept} up to date already); {} has {} rows, {} positive \
         ({:.1}%)",
        path.display(),
        training.rows(),
        positives,
        100.0 * positives as f64 / training.rows().max(1) as f64
    );
    Ok(())
}

/// Hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn read_label_sidecar(dir: &Path) -> Result<Option<LabelSidecar>> {
    let path = dir.join(LABEL_SIDECAR);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(serde_json::from_str(&text).ok()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

fn read_candidates(config: &Config, partition: &Partition, sidecar: &Sidecar) -> Result<Table> {
    let dir = partition.candidates_dir(config);
    let mut candidates = Table::new();
    for file in &sidecar.candidate_files {
        candidates.append(&table::read(&dir.join(file))?)?;
    }
    Ok(candidates)
}

/// The regime of a candidate: the simulated day's, else read off its volatility features.
fn regime_of(
    day: Option<&str>,
    vol_ratio: f32,
    realized_vol_60s: f32,
    vol_halt_bps: f64,
) -> String {
    if let Some(day) = day {
        return day.to_owned();
    }
    if f64::from(realized_vol_60s) > vol_halt_bps / 2.0 {
        "high-vol".to_owned()
    } else if vol_ratio > 1.5 {
        "event".to_owned()
    } else {
        "normal".to_owned()
    }
}

fn label_partition(
    config: &Config,
    partition: &Partition,
    sidecar: &Sidecar,
    candidates: &Table,
    rules: &Rules,
) -> Result<Table> {
    let (signal, side) = (candidates.i64s("signal_id")?, candidates.strs("side")?);
    let vol_ratio = candidates.f32s(FEATURE_NAMES[Feature::VolRatio10s60s as usize])?;
    let vol_60s = candidates.f32s(FEATURE_NAMES[Feature::RealizedVol60sBps as usize])?;
    let halt_bps = config.risk.volatility_halt.max_realized_vol_bps;
    let rows = candidates.rows();
    let wanted: HashMap<u64, usize> = signal
        .iter()
        .enumerate()
        .map(|(row, &id)| (id as u64, row))
        .collect();
    let symbol = Symbol::new(&partition.symbol).context("symbol too long")?;
    let balance = Fixed::from_f64(config.paper.initial_balance_usd).unwrap_or(Fixed::ZERO);
    let journal = &sidecar.source.journal;
    let replay = Replay::new(config, symbol, rules.instrument, rules.trader)?;
    let trials = replay.run(journal, |candidate| {
        if !wanted.contains_key(&candidate.id.0) {
            return None;
        }
        // Sized as the engine sizes an entry of a flat account; one the sizing refuses is
        // still traded at the least quantity, so that every candidate has a label.
        Some(
            compute_order_qty(&rules.qty_of, &rules.instrument, candidate.price, balance)
                .unwrap_or(rules.instrument.min_qty),
        )
    })?;
    let mut by_row: Vec<Option<TrialResult>> = vec![None; rows];
    for trial in trials {
        if let Some(&row) = wanted.get(&trial.signal) {
            by_row[row] = Some(trial);
        }
    }
    let mut columns = LabelColumns::default();
    for (row, trial) in by_row.into_iter().enumerate() {
        let trial = trial.with_context(|| {
            format!(
                "the journal {} no longer gives candidate {} of the archive of {} {}: dump the \
                 partition again with `toolkit dump-parquet --force`",
                journal.display(),
                signal[row],
                partition.symbol,
                partition.date
            )
        })?;
        let traded = archive::side_name(trial.side);
        ensure!(
            side[row] == traded,
            "candidate {} of {} {} is a {} in the archive and a {traded} in the journal {}: dump \
             the partition again with `toolkit dump-parquet --force`",
            signal[row],
            partition.symbol,
            partition.date,
            side[row],
            journal.display()
        );
        columns.push(&trial);
        columns.regime.push(regime_of(
            sidecar.regime.as_deref(),
            vol_ratio[row],
            vol_60s[row],
            halt_bps,
        ));
    }
    columns.into_table()
}

/// The label columns, row by row.
#[derive(Default)]
struct LabelColumns {
    label: Vec<i64>,
    outcome: Vec<String>,
    net_return_bps: Vec<Option<f64>>,
    time_to_fill_ms: Vec<Option<f64>>,
    time_to_flat_ms: Vec<Option<f64>>,
    qty: Vec<f64>,
    filled_qty: Vec<f64>,
    entry_fill_price: Vec<Option<f64>>,
    exit_fill_price: Vec<Option<f64>>,
    markouts: [Vec<Option<f64>>; 3],
    regime: Vec<String>,
}

impl LabelColumns {
    fn push(&mut self, trial: &TrialResult) {
        let ms = |from: u64, to: Option<u64>| to.map(|to| to.saturating_sub(from) as f64 / 1e6);
        self.label
            .push(i64::from(trial.outcome == Outcome::TakeProfit));
        self.outcome.push(trial.outcome.name().to_owned());
        self.net_return_bps.push(trial.net_return_bps());
        self.time_to_fill_ms
            .push(ms(trial.placed_ns, trial.first_fill_ns));
        self.time_to_flat_ms.push(
            trial
                .first_fill_ns
                .and_then(|first| ms(first, trial.closed_ns)),
        );
        self.qty.push(trial.qty.to_f64());
        self.filled_qty.push(trial.entry_qty.to_f64());
        self.entry_fill_price.push(trial.entry_price);
        self.exit_fill_price.push(trial.exit_price);
        for (column, value) in self.markouts.iter_mut().zip(trial.markouts_bps) {
            column.push(value);
        }
    }

    fn into_table(self) -> Result<Table> {
        let mut table = Table::new();
        table.push("label", Column::I64(self.label))?;
        table.push("outcome", Column::Str(self.outcome))?;
        table.push("net_return_bps", Column::OptF64(self.net_return_bps))?;
        table.push("time_to_fill_ms", Column::OptF64(self.time_to_fill_ms))?;
        table.push("time_to_flat_ms", Column::OptF64(self.time_to_flat_ms))?;
        table.push("qty", Column::F64(self.qty))?;
        table.push("filled_qty", Column::F64(self.filled_qty))?;
        table.push("entry_fill_price", Column::OptF64(self.entry_fill_price))?;
        table.push("exit_fill_price", Column::OptF64(self.exit_fill_price))?;
        for (name, values) in MARKOUT_COLUMNS.iter().zip(self.markouts) {
            table.push(*name, Column::OptF64(values))?;
        }
        table.push("regime", Column::Str(self.regime))?;
        Ok(table)
    }
}

fn write_labels(
    dir: &Path,
    labels: &Table,
    fingerprint: &str,
    rules: &Rules,
) -> Result<LabelSidecar> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    table::write(&dir.join(LABEL_FILE), labels, &[])?;
    let outcomes = labels.strs("outcome")?;
    let summary = LabelSidecar {
        partition_fingerprint: fingerprint.to_owned(),
        settings_fingerprint: rules.fingerprint.clone(),
        rows: labels.rows() as u64,
        filled: outcomes
            .iter()
            .filter(|name| *name != Outcome::NoFill.name() && *name != Outcome::Unknown.name())
            .count() as u64,
        positives: labels.i64s("label")?.iter().filter(|&&v| v == 1).count() as u64,
        unknown: outcomes
            .iter()
            .filter(|name| *name == Outcome::Unknown.name())
            .count() as u64,
    };
    write_json_atomically(&dir.join(LABEL_SIDECAR), &summary)?;
    Ok(summary)
}

/// The rows whose fate the data reached (the last minutes of a day stay unlabeled).
fn known_rows(rows: &Table) -> Result<Table> {
    let outcomes = rows.strs("outcome")?;
    let keep: Vec<usize> = (0..rows.rows())
        .filter(|&row| outcomes[row] != Outcome::Unknown.name())
        .collect();
    Ok(rows.take(&keep))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_take_profit_inside_the_fees_is_refused() {
        let config = Config {
            labeling: engine::config::Labeling {
                take_profit_pct: 0.0004,
                ..Default::default()
            },
            ..Config::default()
        };
        let err = Rules::new(&config, &feed::fixtures::btcusdt(), "BTCUSDT")
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "labeling.take_profit_pct 0.0004 does not cover the maker fees of both legs (2 x \
             0.0002 for BTCUSDT): no candidate could be labeled 1"
        );
    }
}

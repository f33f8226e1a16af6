//! `toolkit label`: maker-aware labels for every archived candidate.
//!
//! A candidate is a post-only entry at the touch on its side, at the candidate's price:
//!
//! 1. **Fill** (queue-aware): the queue ahead is the size resting at that price when the
//!    candidate fired. Trades after it at that price, by takers on the other side, consume the
//!    queue; the entry fills at the first such trade once the queue is gone, or at the first
//!    trade through the price. No fill within `labeling.fill_horizon` is a miss.
//! 2. **Exit**: from the fill, a take-profit at `labeling.take_profit_pct` from the entry, filled
//!    by the first trade at or beyond it, races a stop at `risk.assumed_sl_pct`, triggered when
//!    the touch the position would exit into (the bid for a long, the ask for a short) reaches
//!    it. Events are taken in time order; in the same millisecond the stop wins. Neither within
//!    `labeling.hold_horizon` is a timeout, marked at the mid.
//! 3. **Label** 1 when the take-profit is reached first, which (checked at start) pays more than
//!    the maker fees of both legs from `config/symbols.yml`; 0 otherwise.
//!
//! Each row also gets the net return in basis points, markouts of the mid 1 s, 5 s and 30 s
//! after the fill, the time to fill and the regime (the simulated day's, or one read off the
//! volatility features).
//!
//! Work is incremental: a partition is labeled again only when its archive sidecar or the
//! labeling settings changed. `paths.data/training.parquet` is then rebuilt from every labeled
//! partition: candidates and their labels side by side.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use engine::cli::ConfigArgs;
use engine::config::Config;
use engine::features::{FEATURE_NAMES, FEATURE_SCHEMA_HASH, Feature};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::archive::{self, Partition, Sidecar};
use crate::table::{self, Column, Table};
use engine::model::registry::write_json_atomically;

/// File name of the labels of a partition.
const LABEL_FILE: &str = "labels-0.parquet";
/// Sidecar of a partition's labels.
const LABEL_SIDECAR: &str = "_labels.json";
/// The training set, in `paths.data`.
pub(crate) const TRAINING_FILE: &str = "training.parquet";
/// Its sidecar.
pub(crate) const TRAINING_SIDECAR: &str = "training.json";
/// Markout horizons, ms.
const MARKOUTS_MS: [(u64, &str); 3] = [
    (1_000, "markout_1s_bps"),
    (5_000, "markout_5s_bps"),
    (30_000, "markout_30s_bps"),
];

/// Arguments of `label`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArgs,
}

/// Labeling settings, as one value (recorded with the labels, compared to relabel).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Rules {
    /// Fill horizon, ms.
    pub(crate) fill_horizon_ms: u64,
    /// Hold horizon, ms.
    pub(crate) hold_horizon_ms: u64,
    /// Take-profit distance, fraction of the entry.
    pub(crate) take_profit_pct: f64,
    /// Stop distance, fraction of the entry.
    pub(crate) stop_loss_pct: f64,
    /// Maker fee rate of each leg.
    pub(crate) maker_fee_rate: f64,
}

impl Rules {
    fn new(config: &Config, maker_fee_rate: f64, symbol: &str) -> Result<Rules> {
        let rules = Rules {
            fill_horizon_ms: millis(config.labeling.fill_horizon.get()),
            hold_horizon_ms: millis(config.labeling.hold_horizon.get()),
            take_profit_pct: config.labeling.take_profit_pct,
            stop_loss_pct: config.risk.assumed_sl_pct,
            maker_fee_rate,
        };
        if rules.take_profit_pct <= 2.0 * maker_fee_rate {
            bail!(
                "labeling.take_profit_pct {} does not cover the maker fees of both legs (2 x {} \
                 for {symbol}): no candidate could be labeled 1",
                rules.take_profit_pct,
                maker_fee_rate
            );
        }
        Ok(rules)
    }
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The top of book at one time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Top {
    /// Time, ms.
    pub(crate) ts: i64,
    /// Best bid and its size.
    pub(crate) bid: f64,
    pub(crate) bid_size: f64,
    /// Best ask and its size.
    pub(crate) ask: f64,
    pub(crate) ask_size: f64,
}

/// One trade.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Print {
    /// Time, ms.
    pub(crate) ts: i64,
    /// Price.
    pub(crate) price: f64,
    /// Size.
    pub(crate) size: f64,
    /// +1 taker buy, -1 taker sell.
    pub(crate) taker_sign: f64,
}

/// A candidate to label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Entry {
    /// Time, ms.
    pub(crate) ts: i64,
    /// +1 long, -1 short.
    pub(crate) sign: f64,
    /// Entry price.
    pub(crate) price: f64,
}

/// How a candidate ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Outcome {
    /// Not filled within the fill horizon.
    NoFill,
    /// Take-profit reached first.
    TakeProfit,
    /// Stop reached first.
    Stop,
    /// Neither within the hold horizon.
    Timeout,
    /// The data ends before the candidate's fate is known.
    Unknown,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::NoFill => "no_fill",
            Outcome::TakeProfit => "take_profit",
            Outcome::Stop => "stop",
            Outcome::Timeout => "timeout",
            Outcome::Unknown => "unknown",
        }
    }
}

/// The label of one candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Labeled {
    /// How it ended.
    pub(crate) outcome: Outcome,
    /// Time from the candidate to the fill, ms.
    pub(crate) time_to_fill_ms: Option<f64>,
    /// Net return after both fees, bps (None without a fill).
    pub(crate) net_return_bps: Option<f64>,
    /// Markouts of the mid after the fill, bps, signed by side.
    pub(crate) markouts_bps: [Option<f64>; 3],
}

/// The market of one partition, sorted by time.
pub(crate) struct Market {
    tops: Vec<Top>,
    prints: Vec<Print>,
}

impl Market {
    /// A market from tops and trades in time order.
    pub(crate) fn new(tops: Vec<Top>, prints: Vec<Print>) -> Result<Market> {
        ensure!(
            tops.windows(2).all(|pair| pair[0].ts <= pair[1].ts),
            "book tops are not in time order"
        );
        ensure!(
            prints.windows(2).all(|pair| pair[0].ts <= pair[1].ts),
            "trades are not in time order"
        );
        Ok(Market { tops, prints })
    }

    fn end_ts(&self) -> i64 {
        let tops = self.tops.last().map_or(i64::MIN, |top| top.ts);
        let prints = self.prints.last().map_or(i64::MIN, |print| print.ts);
        tops.max(prints)
    }

    /// The last top at or before `ts`.
    fn top_at(&self, ts: i64) -> Option<&Top> {
        let after = self.tops.partition_point(|top| top.ts <= ts);
        after.checked_sub(1).map(|index| &self.tops[index])
    }

    /// Labels `entry` under `rules`.
    pub(crate) fn label(&self, entry: &Entry, rules: &Rules) -> Labeled {
        let unknown = Labeled {
            outcome: Outcome::Unknown,
            time_to_fill_ms: None,
            net_return_bps: None,
            markouts_bps: [None; 3],
        };
        let Some(fill_ts) = self.fill_time(entry, rules) else {
            let outcome = if self.end_ts() >= entry.ts + rules.fill_horizon_ms as i64 {
                Outcome::NoFill
            } else {
                Outcome::Unknown
            };
            return Labeled { outcome, ..unknown };
        };
        let fees_bps = 2.0 * rules.maker_fee_rate * 1e4;
        let (outcome, gross_bps) = self.exit(entry, fill_ts, rules);
        let mut markouts_bps = [None; 3];
        for (slot, (horizon, _)) in markouts_bps.iter_mut().zip(MARKOUTS_MS) {
            let at = fill_ts + horizon as i64;
            if at <= self.end_ts()
                && let Some(top) = self.top_at(at)
            {
                let mid = (top.bid + top.ask) / 2.0;
                *slot = Some(entry.sign * (mid - entry.price) / entry.price * 1e4);
            }
        }
        Labeled {
            outcome,
            time_to_fill_ms: Some((fill_ts - entry.ts) as f64),
            net_return_bps: gross_bps.map(|gross| gross - fees_bps),
            markouts_bps,
        }
    }

    /// When the entry fills, if within the fill horizon.
    fn fill_time(&self, entry: &Entry, rules: &Rules) -> Option<i64> {
        let mut queue = self.top_at(entry.ts).map_or(0.0, |top| {
            match (
                entry.sign > 0.0,
                top.bid == entry.price,
                top.ask == entry.price,
            ) {
                (true, true, _) => top.bid_size,
                (false, _, true) => top.ask_size,
                _ => 0.0,
            }
        });
        let deadline = entry.ts + rules.fill_horizon_ms as i64;
        let start = self.prints.partition_point(|print| print.ts <= entry.ts);
        for print in &self.prints[start..] {
            if print.ts > deadline {
                break;
            }
            // Takers on the other side: sellers hit a resting bid, buyers lift a resting ask.
            if print.taker_sign == entry.sign {
                continue;
            }
            let beyond = entry.sign * (entry.price - print.price);
            if beyond > 0.0 {
                return Some(print.ts);
            }
            if beyond == 0.0 {
                queue -= print.size;
                if queue < 0.0 {
                    return Some(print.ts);
                }
            }
        }
        None
    }

    /// How the position opened at `fill_ts` ends, and its gross return in bps (None when the
    /// data ends first).
    fn exit(&self, entry: &Entry, fill_ts: i64, rules: &Rules) -> (Outcome, Option<f64>) {
        let sign = entry.sign;
        let take_profit = entry.price * (1.0 + sign * rules.take_profit_pct);
        let stop = entry.price * (1.0 - sign * rules.stop_loss_pct);
        let deadline = fill_ts + rules.hold_horizon_ms as i64;
        let mut tops = self.tops[self.tops.partition_point(|top| top.ts <= fill_ts)..]
            .iter()
            .take_while(|top| top.ts <= deadline)
            .peekable();
        let mut prints = self.prints[self.prints.partition_point(|print| print.ts <= fill_ts)..]
            .iter()
            .take_while(|print| print.ts <= deadline)
            .peekable();
        loop {
            let next_top = tops.peek().map(|top| top.ts);
            let next_print = prints.peek().map(|print| print.ts);
            // Book tops first when both come in the same millisecond: the stop wins ties.
            let top_next = match (next_top, next_print) {
                (None, None) => break,
                (Some(top_ts), Some(print_ts)) => top_ts <= print_ts,
                (Some(_), None) => true,
                (None, Some(_)) => false,
            };
            if top_next {
                let Some(top) = tops.next() else { break };
                let exit_touch = if sign > 0.0 { top.bid } else { top.ask };
                if sign * (exit_touch - stop) <= 0.0 {
                    return (Outcome::Stop, Some(-rules.stop_loss_pct * 1e4));
                }
            } else {
                let Some(print) = prints.next() else { break };
                if print.taker_sign == sign && sign * (print.price - take_profit) >= 0.0 {
                    return (Outcome::TakeProfit, Some(rules.take_profit_pct * 1e4));
                }
            }
        }
        if self.end_ts() < deadline {
            return (Outcome::Unknown, None);
        }
        let gross = self.top_at(deadline).map(|top| {
            let mid = (top.bid + top.ask) / 2.0;
            sign * (mid - entry.price) / entry.price * 1e4
        });
        (Outcome::Timeout, gross)
    }
}

/// What `_labels.json` records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LabelSidecar {
    /// SHA-256 of the archive sidecar the labels were made from.
    partition_fingerprint: String,
    /// The rules applied.
    rules: Rules,
    /// Rows, positives and rows whose fate the data did not reach.
    rows: u64,
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
        let rules = Rules::new(
            config,
            instrument.maker_fee_rate.to_f64(),
            &partition.symbol,
        )?;
        let sidecar_path = partition.candidates_dir(config).join(archive::SIDECAR);
        let fingerprint = sha256_hex(&fs::read(&sidecar_path)?);
        let label_dir = partition.dir(&config.paths.labels);
        let current = read_label_sidecar(&label_dir)?;
        let fresh = current.as_ref().is_some_and(|labels| {
            labels.partition_fingerprint == fingerprint && labels.rules == rules
        });
        let candidates = read_candidates(config, partition, sidecar)?;
        let labels = if fresh {
            kept += 1;
            table::read(&label_dir.join(LABEL_FILE))?
        } else {
            let labels = label_partition(config, partition, sidecar, &candidates, &rules)?;
            let summary = write_labels(&label_dir, &labels, &fingerprint, rules)?;
            println!(
                "{} {}: {} candidates, {} positive ({:.1}%), {} unknown at the end of the data",
                partition.symbol,
                partition.date,
                summary.rows,
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

fn read_market(config: &Config, partition: &Partition, sidecar: &Sidecar) -> Result<Market> {
    let dir = partition.market_dir(config);
    let (mut tops, mut prints) = (Vec::new(), Vec::new());
    for file in &sidecar.market_files {
        let data = table::read(&dir.join(file))?;
        if file.starts_with("tops-") {
            let (ts, bid, bid_size) = (data.i64s("ts")?, data.f64s("bid")?, data.f64s("bid_size")?);
            let (ask, ask_size) = (data.f64s("ask")?, data.f64s("ask_size")?);
            for row in 0..data.rows() {
                tops.push(Top {
                    ts: ts[row],
                    bid: bid[row],
                    bid_size: bid_size[row],
                    ask: ask[row],
                    ask_size: ask_size[row],
                });
            }
        } else if file.starts_with("trades-") {
            let (ts, price, size) = (data.i64s("ts")?, data.f64s("price")?, data.f64s("size")?);
            let side = data.strs("taker_side")?;
            for row in 0..data.rows() {
                prints.push(Print {
                    ts: ts[row],
                    price: price[row],
                    size: size[row],
                    taker_sign: if side[row] == "buy" { 1.0 } else { -1.0 },
                });
            }
        }
    }
    Market::new(tops, prints)
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
    let market = read_market(config, partition, sidecar)?;
    let (ts, side, price) = (
        candidates.i64s("ts")?,
        candidates.strs("side")?,
        candidates.f64s("price")?,
    );
    let vol_ratio = candidates.f32s(FEATURE_NAMES[Feature::VolRatio10s60s as usize])?;
    let vol_60s = candidates.f32s(FEATURE_NAMES[Feature::RealizedVol60sBps as usize])?;
    let halt_bps = config.risk.volatility_halt.max_realized_vol_bps;
    let rows = candidates.rows();
    let mut label = Vec::with_capacity(rows);
    let mut outcome = Vec::with_capacity(rows);
    let mut net = Vec::with_capacity(rows);
    let mut fill = Vec::with_capacity(rows);
    let mut markouts: [Vec<Option<f64>>; 3] = Default::default();
    let mut regime = Vec::with_capacity(rows);
    for row in 0..rows {
        let entry = Entry {
            ts: ts[row],
            sign: if side[row] == "buy" { 1.0 } else { -1.0 },
            price: price[row],
        };
        let labeled = market.label(&entry, rules);
        label.push(i64::from(labeled.outcome == Outcome::TakeProfit));
        outcome.push(labeled.outcome.name().to_owned());
        net.push(labeled.net_return_bps);
        fill.push(labeled.time_to_fill_ms);
        for (column, value) in markouts.iter_mut().zip(labeled.markouts_bps) {
            column.push(value);
        }
        regime.push(regime_of(
            sidecar.regime.as_deref(),
            vol_ratio[row],
            vol_60s[row],
            halt_bps,
        ));
    }
    let mut table = Table::new();
    table.push("label", Column::I64(label))?;
    table.push("outcome", Column::Str(outcome))?;
    table.push("net_return_bps", Column::OptF64(net))?;
    table.push("time_to_fill_ms", Column::OptF64(fill))?;
    for ((_, name), values) in MARKOUTS_MS.iter().zip(markouts) {
        table.push(*name, Column::OptF64(values))?;
    }
    table.push("regime", Column::Str(regime))?;
    Ok(table)
}

fn write_labels(
    dir: &Path,
    labels: &Table,
    fingerprint: &str,
    rules: Rules,
) -> Result<LabelSidecar> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    table::write(&dir.join(LABEL_FILE), labels, &[])?;
    let outcomes = labels.strs("outcome")?;
    let summary = LabelSidecar {
        partition_fingerprint: fingerprint.to_owned(),
        rules,
        rows: labels.rows() as u64,
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

    const RULES: Rules = Rules {
        fill_horizon_ms: 5_000,
        hold_horizon_ms: 60_000,
        take_profit_pct: 0.001,
        stop_loss_pct: 0.003,
        maker_fee_rate: 0.0002,
    };

    fn top(ts: i64, bid: f64, ask: f64) -> Top {
        Top {
            ts,
            bid,
            bid_size: 2.0,
            ask,
            ask_size: 3.0,
        }
    }

    fn print(ts: i64, price: f64, size: f64, taker_sign: f64) -> Print {
        Print {
            ts,
            price,
            size,
            taker_sign,
        }
    }

    const LONG: Entry = Entry {
        ts: 1_000,
        sign: 1.0,
        price: 1000.0,
    };

    /// A long at 1000 with 2 resting ahead: sellers trade 1.5 then 1.0 at 1000 (fill at
    /// 2_000), then a buyer lifts 1001 at 10_000 (the take-profit), the data going on to 90 s.
    fn winning_market() -> Market {
        Market::new(
            vec![
                top(1_000, 1000.0, 1000.5),
                top(3_000, 1000.2, 1000.4),
                top(10_000, 1000.8, 1001.0),
                top(90_000, 1000.9, 1001.1),
            ],
            vec![
                print(1_500, 1000.0, 1.5, -1.0),
                print(1_700, 1000.5, 9.0, 1.0),
                print(2_000, 1000.0, 1.0, -1.0),
                print(10_000, 1001.0, 0.1, 1.0),
            ],
        )
        .unwrap()
    }

    #[test]
    fn the_queue_ahead_is_traded_through_before_the_fill() {
        let labeled = winning_market().label(&LONG, &RULES);
        assert_eq!(labeled.outcome, Outcome::TakeProfit);
        assert_eq!(labeled.time_to_fill_ms, Some(1_000.0));
        // 10 bps gross less 2 x 2 bps of maker fees.
        assert!((labeled.net_return_bps.unwrap() - 6.0).abs() < 1e-9);
        // Mids 1 s, 5 s and 30 s after the fill at 2_000: 1000.3, 1000.3, 1000.9.
        let expected = [3.0, 3.0, 9.0];
        for (markout, want) in labeled.markouts_bps.iter().zip(expected) {
            assert!(
                (markout.unwrap() - want).abs() < 1e-6,
                "{markout:?} vs {want}"
            );
        }
    }

    #[test]
    fn too_little_volume_at_the_price_is_no_fill() {
        let market = Market::new(
            vec![top(1_000, 1000.0, 1000.5), top(20_000, 1000.0, 1000.5)],
            vec![
                print(1_500, 1000.0, 1.9, -1.0),
                print(6_500, 999.0, 1.0, -1.0),
            ],
        )
        .unwrap();
        let labeled = market.label(&LONG, &RULES);
        assert_eq!(labeled.outcome, Outcome::NoFill);
        assert_eq!(labeled.net_return_bps, None);
    }

    #[test]
    fn a_trade_through_the_price_fills_at_once() {
        let market = Market::new(
            vec![
                top(1_000, 1000.0, 1000.5),
                top(2_000, 996.0, 996.5),
                top(70_000, 996.0, 996.5),
            ],
            vec![print(1_200, 999.5, 0.1, -1.0)],
        )
        .unwrap();
        let labeled = market.label(&LONG, &RULES);
        // The bid at 996 is below the stop at 997: stopped out at 2_000.
        assert_eq!(labeled.outcome, Outcome::Stop);
        assert_eq!(labeled.time_to_fill_ms, Some(200.0));
        assert!((labeled.net_return_bps.unwrap() - (-34.0)).abs() < 1e-9);
    }

    #[test]
    fn neither_target_is_a_timeout_marked_at_the_mid() {
        let market = Market::new(
            vec![
                top(1_000, 1000.0, 1000.5),
                top(61_000, 1000.4, 1000.6),
                top(70_000, 1000.0, 1000.5),
            ],
            vec![print(1_200, 999.5, 0.1, -1.0)],
        )
        .unwrap();
        // Filled at 1_200, deadline 61_200: marked at the mid of 61_000, 1000.5.
        let labeled = market.label(&LONG, &RULES);
        assert_eq!(labeled.outcome, Outcome::Timeout);
        assert!((labeled.net_return_bps.unwrap() - (5.0 - 4.0)).abs() < 1e-6);
    }

    #[test]
    fn shorts_mirror_longs() {
        let market = Market::new(
            vec![top(1_000, 999.5, 1000.0), top(70_000, 998.0, 998.5)],
            vec![
                print(1_200, 1000.5, 0.1, 1.0),
                print(5_000, 999.0, 1.0, -1.0),
            ],
        )
        .unwrap();
        let short = Entry { sign: -1.0, ..LONG };
        let labeled = market.label(&short, &RULES);
        assert_eq!(labeled.outcome, Outcome::TakeProfit);
        assert_eq!(labeled.time_to_fill_ms, Some(200.0));
    }

    #[test]
    fn a_fate_beyond_the_data_is_unknown() {
        let market = Market::new(
            vec![top(1_000, 1000.0, 1000.5), top(3_000, 1000.0, 1000.5)],
            vec![print(1_200, 999.5, 0.1, -1.0)],
        )
        .unwrap();
        assert_eq!(market.label(&LONG, &RULES).outcome, Outcome::Unknown);
    }

    #[test]
    fn a_take_profit_inside_the_fees_is_refused() {
        let config = Config {
            labeling: engine::config::Labeling {
                take_profit_pct: 0.0004,
                ..Default::default()
            },
            ..Config::default()
        };
        let err = Rules::new(&config, 0.0002, "BTCUSDT").unwrap_err();
        assert_eq!(
            err.to_string(),
            "labeling.take_profit_pct 0.0004 does not cover the maker fees of both legs (2 x \
             0.0002 for BTCUSDT): no candidate could be labeled 1"
        );
    }
}

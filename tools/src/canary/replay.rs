//! One model on one held-out day: the engine's own run (`engine run --feed replay`: the hot
//! loop at fast pace, in lockstep with the supervisor, on the paper venue) against a private
//! registry whose active slot holds the model, entries approved by the model or by a
//! baseline's [`EntryRule`], then its decision log read back.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use engine::config::{Config, RolloutMode};
use engine::model::registry::{ModelInfo, Slot, set_slot};
use engine::pipeline::EntryRule;
use engine::runtime::source::Pace;
use engine::runtime::{FeedSpec, RunSpec};
use feed::markout::MARKOUT_HORIZONS_NS;
use feed::{Instrument, Side, Symbol, Venue};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A closed round trip.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Trade {
    /// When the position went flat, ms since the epoch.
    pub(crate) ts_ms: u64,
    /// Net PnL after fees, USD.
    pub(crate) pnl_usd: f64,
}

/// The markout of an entry fill.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Markout {
    /// When it was measured, ms since the epoch.
    pub(crate) ts_ms: u64,
    /// Signed by side, bps.
    pub(crate) bps: f64,
}

/// An entry order and how far back in the queue it joined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// Size ahead of it when the venue accepted it, base units.
    pub(crate) queue_ahead: f64,
    /// Whether any of it filled.
    pub(crate) filled: bool,
}

/// A candidate the model scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scored {
    /// When it was decided, ms since the epoch.
    pub(crate) ts_ms: u64,
    pub(crate) side: Side,
    pub(crate) score: f64,
}

/// What one model did on one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DayRun {
    /// The day, its regime and its journal.
    pub(crate) date: String,
    pub(crate) regime: String,
    pub(crate) journal: PathBuf,
    /// Orders sent and fills received.
    pub(crate) orders: u64,
    pub(crate) fills: u64,
    /// Market time of the first and last record of the run, ms since the epoch.
    pub(crate) start_ms: u64,
    pub(crate) end_ms: u64,
    /// Candidates decided, and those the entry rule refused (`rejected` for `score`).
    pub(crate) decisions: u64,
    pub(crate) refused: u64,
    /// Closed round trips, in order.
    pub(crate) trades: Vec<Trade>,
    /// Markout of every entry fill (entries and their reprices) at 1 s, 5 s and 30 s.
    pub(crate) markouts_bps: [Vec<Markout>; 3],
    /// Every entry order accepted.
    pub(crate) entries: Vec<Entry>,
    /// Entries the supervisor's halts held back.
    pub(crate) halted: u64,
    /// Every candidate decided, with its score (not written to the report).
    #[serde(skip)]
    pub(crate) scored: Vec<Scored>,
    /// The run's decision log and its SHA-256.
    pub(crate) log: PathBuf,
    pub(crate) log_sha256: String,
}

/// One held-out day to replay.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Day {
    /// `YYYY-MM-DD`, from the journal directory's name.
    pub(crate) date: String,
    /// From its `session.json` (`unknown` for a recorded day without one).
    pub(crate) regime: String,
    pub(crate) journal: PathBuf,
}

/// Replays `day` with the model in `model_dir`, entries approved by `entry_rule`, on the paper
/// venue of `config`; outputs go to `out`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn replay(
    config: &Config,
    symbol: Symbol,
    instrument: Instrument,
    model_dir: &Path,
    entry_rule: EntryRule,
    day: &Day,
    out: &Path,
    onnxruntime: &Path,
) -> Result<DayRun> {
    replay_on(
        config,
        symbol,
        instrument,
        model_dir,
        entry_rule,
        day,
        out,
        onnxruntime,
        |config| Ok(engine::venues::paper(config, &instrument)?),
    )
}

/// [`replay`] on the venue `venue_of` builds from the run's configuration (the paper venue,
/// or one wrapped in a scenario's faults).
#[allow(clippy::too_many_arguments)]
pub(crate) fn replay_on<V: Venue + Send + 'static>(
    config: &Config,
    symbol: Symbol,
    instrument: Instrument,
    model_dir: &Path,
    entry_rule: EntryRule,
    day: &Day,
    out: &Path,
    onnxruntime: &Path,
    venue_of: impl FnOnce(&Config) -> Result<V>,
) -> Result<DayRun> {
    if out.exists() {
        fs::remove_dir_all(out).with_context(|| format!("clearing {}", out.display()))?;
    }
    // A registry of one: the model, linked, in the active slot.
    let registry = out.join("registry");
    fs::create_dir_all(&registry).with_context(|| format!("creating {}", registry.display()))?;
    let info = ModelInfo::read(model_dir)?;
    let model_dir = fs::canonicalize(model_dir)
        .with_context(|| format!("resolving {}", model_dir.display()))?;
    std::os::unix::fs::symlink(&model_dir, registry.join(&info.id)).with_context(|| {
        format!(
            "linking {} into {}",
            model_dir.display(),
            registry.display()
        )
    })?;
    set_slot(&registry, Slot::Active, &info.id)?;

    let mut config = config.clone();
    config.paths.registry = registry;
    config.rollout.mode = RolloutMode::Disabled;
    config.ai_scorer.shadow.enabled = false;
    // A held-out day is one regime; the model's reference is its training mix of all three, so
    // it drifts from it by design. The canary judges what the model earns, not that.
    config.rollout_guard.drift_rollback = false;
    // Nor against figures of an earlier canary.
    config.rollout_guard.performance_rollback = false;
    let venue = venue_of(&config)?;
    let spec = RunSpec {
        config,
        symbol,
        instrument,
        feed: FeedSpec::Replay {
            dir: day.journal.clone(),
        },
        pace: Pace::AsFastAsPossible,
        duration: None,
        metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        out_dir: out.to_path_buf(),
        onnxruntime: onnxruntime.to_path_buf(),
        record: None,
        apply_rollbacks: false,
        entry_rule,
        // A replay is offline work, and may run beside others (simulate-execution).
        pin_threads: false,
    };
    let label = spec.entry_rule.label();
    let report = engine::runtime::run(spec, venue, Arc::new(AtomicBool::new(false)), |_| {})
        .with_context(|| {
            format!(
                "replaying {} with {} (entries: {})",
                day.journal.display(),
                info.id,
                label
            )
        })?;
    let stats = &report.hot.stats;
    let mut run = read_log(&report.log.path)?;
    run.date.clone_from(&day.date);
    run.regime.clone_from(&day.regime);
    run.journal.clone_from(&day.journal);
    run.orders = stats.orders;
    run.fills = stats.fills;
    run.log_sha256.clone_from(&report.log.sha256);
    Ok(run)
}

/// Reads what the canary needs from a decision log.
fn read_log(path: &Path) -> Result<DayRun> {
    let file = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut trades = Vec::new();
    // (order id, horizon index, bps), kept to the entries' once every order is known.
    let mut markouts = Vec::new();
    let mut entry_ids = BTreeSet::new();
    let mut entry_order_ids = BTreeSet::new();
    let mut accepted: BTreeMap<u64, f64> = BTreeMap::new();
    let mut filled = BTreeSet::new();
    let mut halted = 0;
    let (mut decisions, mut refused) = (0, 0);
    let mut scored = Vec::new();
    let (mut start_ms, mut end_ms) = (None, 0);
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let record: Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not JSON", path.display(), number + 1))?;
        let field = |name: &str| {
            record
                .get(name)
                .with_context(|| format!("{}:{}: no field {name}", path.display(), number + 1))
        };
        let number_of = |value: &Value| -> Result<f64> {
            match value {
                Value::Number(number) => number.as_f64(),
                Value::String(text) => text.parse().ok(),
                _ => None,
            }
            .with_context(|| format!("{}:{}: {value} is not a number", path.display(), number + 1))
        };
        let ts_ms = || -> Result<u64> {
            Ok(field("ts_ns")?
                .as_u64()
                .with_context(|| format!("{}:{}: bad ts_ns", path.display(), number + 1))?
                / 1_000_000)
        };
        let id = || -> Result<u64> {
            field("id")?
                .as_u64()
                .with_context(|| format!("{}:{}: bad id", path.display(), number + 1))
        };
        let now_ms = ts_ms()?;
        start_ms.get_or_insert(now_ms);
        end_ms = end_ms.max(now_ms);
        match record.get("type").and_then(Value::as_str) {
            Some("closed") => trades.push(Trade {
                ts_ms: now_ms,
                pnl_usd: number_of(field("pnl")?)?,
            }),
            Some("markout") => {
                let horizon_ms = field("horizon_ms")?.as_u64().with_context(|| {
                    format!("{}:{}: bad horizon_ms", path.display(), number + 1)
                })?;
                let horizon = MARKOUT_HORIZONS_NS
                    .iter()
                    .position(|&h| h == horizon_ms * 1_000_000)
                    .with_context(|| {
                        format!(
                            "{}:{}: a markout at {horizon_ms} ms, not 1, 5 or 30 s",
                            path.display(),
                            number + 1
                        )
                    })?;
                let markout = Markout {
                    ts_ms: now_ms,
                    bps: number_of(field("bps")?)?,
                };
                markouts.push((id()?, horizon, markout));
            }
            Some("place") => {
                let purpose = field("purpose")?.as_str();
                if purpose == Some("entry") {
                    entry_ids.insert(id()?);
                }
                if matches!(purpose, Some("entry" | "reprice")) {
                    entry_order_ids.insert(id()?);
                }
            }
            Some("accepted") => {
                accepted.insert(id()?, number_of(field("queue_ahead")?)?);
            }
            Some("fill") => {
                filled.insert(id()?);
            }
            Some("decision") => {
                decisions += 1;
                let side = match field("side").ok().and_then(Value::as_str) {
                    Some("Buy") => Some(Side::Buy),
                    Some("Sell") => Some(Side::Sell),
                    _ => None,
                };
                if let (Some(side), Some(score)) =
                    (side, record.get("score").and_then(Value::as_f64))
                {
                    scored.push(Scored {
                        ts_ms: now_ms,
                        side,
                        score,
                    });
                }
                match field("outcome")?.as_str() {
                    Some("halted") => halted += 1,
                    Some("rejected") if field("reason")?.as_str() == Some("score") => refused += 1,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    // Markouts judge the maker entries (a take-profit filled on the way up marks out below
    // zero exactly when the entry was right).
    let mut markouts_bps: [Vec<Markout>; 3] = Default::default();
    for (id, horizon, markout) in markouts {
        if entry_order_ids.contains(&id) {
            markouts_bps[horizon].push(markout);
        }
    }
    let entries = accepted
        .into_iter()
        .filter(|(id, _)| entry_ids.contains(id))
        .map(|(id, queue_ahead)| Entry {
            queue_ahead,
            filled: filled.contains(&id),
        })
        .collect();
    Ok(DayRun {
        date: String::new(),
        regime: String::new(),
        journal: PathBuf::new(),
        orders: 0,
        fills: 0,
        start_ms: start_ms.unwrap_or(0),
        end_ms,
        decisions,
        refused,
        trades,
        markouts_bps,
        entries,
        halted,
        scored,
        log: path.to_path_buf(),
        log_sha256: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `lines` as a decision log and reads it back.
    fn read(lines: &[&str]) -> Result<DayRun> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("decisions.jsonl");
        fs::write(&path, lines.join("\n") + "\n")?;
        read_log(&path)
    }

    #[test]
    fn markouts_are_the_entry_fills_and_fill_rates_the_entries() {
        let run = read(&[
            r#"{"ts_ns":0,"type":"decision","outcome":"rejected","reason":"score"}"#,
            r#"{"ts_ns":0,"type":"decision","outcome":"rejected","reason":"max_position"}"#,
            r#"{"ts_ns":1,"type":"decision","outcome":"placed"}"#,
            r#"{"ts_ns":1,"type":"place","purpose":"entry","id":1}"#,
            r#"{"ts_ns":2,"type":"accepted","id":1,"queue_ahead":"0.5"}"#,
            r#"{"ts_ns":3,"type":"place","purpose":"reprice","id":2}"#,
            r#"{"ts_ns":4,"type":"fill","id":2}"#,
            r#"{"ts_ns":5,"type":"place","purpose":"take_profit","id":3}"#,
            r#"{"ts_ns":6,"type":"fill","id":3}"#,
            r#"{"ts_ns":7,"type":"markout","id":2,"horizon_ms":1000,"bps":2.5}"#,
            r#"{"ts_ns":8,"type":"markout","id":3,"horizon_ms":1000,"bps":-7.0}"#,
            r#"{"ts_ns":9,"type":"markout","id":2,"horizon_ms":30000,"bps":4.0}"#,
            r#"{"ts_ns":10000000,"type":"closed","route":"active","side":"Buy","qty":"0.1","pnl":3.25}"#,
        ])
        .unwrap();
        // The take-profit's markout is left out; the reprice is the entry's.
        let bps = |horizon: usize| -> Vec<f64> {
            run.markouts_bps[horizon].iter().map(|m| m.bps).collect()
        };
        assert_eq!((bps(0), bps(1), bps(2)), (vec![2.5], vec![], vec![4.0]));
        assert_eq!((run.start_ms, run.end_ms), (0, 10));
        // Three candidates decided, one refused by the entry rule (the score).
        assert_eq!((run.decisions, run.refused), (3, 1));
        assert_eq!(run.trades.len(), 1);
        assert_eq!((run.trades[0].ts_ms, run.trades[0].pnl_usd), (10, 3.25));
        // Entry 1 was accepted and never filled (its reprice was).
        assert_eq!(run.entries.len(), 1);
        assert!(!run.entries[0].filled);
    }

    #[test]
    fn a_record_the_canary_cannot_read_is_an_error_naming_its_line() {
        let err = read(&[
            r#"{"ts_ns":1,"type":"place","purpose":"entry","id":1}"#,
            r#"{"ts_ns":7,"type":"markout","id":1,"horizon_ms":2000,"bps":2.5}"#,
        ])
        .unwrap_err();
        assert!(
            format!("{err:#}")
                .ends_with("decisions.jsonl:2: a markout at 2000 ms, not 1, 5 or 30 s"),
            "{err:#}"
        );
        let err = read(&[r#"{"ts_ns":"x","type":"closed","pnl":1.0}"#]).unwrap_err();
        assert!(
            format!("{err:#}").ends_with("decisions.jsonl:1: bad ts_ns"),
            "{err:#}"
        );
    }
}

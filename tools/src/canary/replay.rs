//! One model on one held-out day: the engine's own run (`engine run --feed replay`: the hot
//! loop at fast pace, in lockstep with the supervisor, on the paper venue) against a private
//! registry whose active slot holds the model, then its decision log read back.

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
use engine::runtime::source::Pace;
use engine::runtime::{FeedSpec, RunSpec};
use feed::markout::MARKOUT_HORIZONS_NS;
use feed::{Instrument, Symbol};
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

/// An entry order and how far back in the queue it joined.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// Size ahead of it when the venue accepted it, base units.
    pub(crate) queue_ahead: f64,
    /// Whether any of it filled.
    pub(crate) filled: bool,
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
    /// Closed round trips, in order.
    pub(crate) trades: Vec<Trade>,
    /// Markout of every fill at 1 s, 5 s and 30 s, bps.
    pub(crate) markouts_bps: [Vec<f64>; 3],
    /// Every entry order accepted.
    pub(crate) entries: Vec<Entry>,
    /// Entries the supervisor's halts held back.
    pub(crate) halted: u64,
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

/// Replays `day` with the model in `model_dir`; outputs go to `out`.
pub(crate) fn replay(
    config: &Config,
    symbol: Symbol,
    instrument: Instrument,
    model_dir: &Path,
    day: &Day,
    out: &Path,
    onnxruntime: &Path,
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
    let venue = engine::venues::paper(&config, &instrument)?;
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
    };
    let report = engine::runtime::run(spec, venue, Arc::new(AtomicBool::new(false)), |_| {})
        .with_context(|| format!("replaying {} with {}", day.journal.display(), info.id))?;
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
    let mut markouts_bps: [Vec<f64>; 3] = Default::default();
    let mut entry_ids = BTreeSet::new();
    let mut accepted: BTreeMap<u64, f64> = BTreeMap::new();
    let mut filled = BTreeSet::new();
    let mut halted = 0;
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
        let id = || -> Result<u64> {
            field("id")?
                .as_u64()
                .with_context(|| format!("{}:{}: bad id", path.display(), number + 1))
        };
        match record.get("type").and_then(Value::as_str) {
            Some("closed") => trades.push(Trade {
                ts_ms: field("ts_ns")?.as_u64().unwrap_or(0) / 1_000_000,
                pnl_usd: number_of(field("pnl")?)?,
            }),
            Some("markout") => {
                let horizon_ns = field("horizon_ms")?.as_u64().unwrap_or(0) * 1_000_000;
                if let Some(index) = MARKOUT_HORIZONS_NS.iter().position(|&h| h == horizon_ns) {
                    markouts_bps[index].push(number_of(field("bps")?)?);
                }
            }
            Some("place") if field("purpose")?.as_str() == Some("entry") => {
                entry_ids.insert(id()?);
            }
            Some("accepted") => {
                accepted.insert(id()?, number_of(field("queue_ahead")?)?);
            }
            Some("fill") => {
                filled.insert(id()?);
            }
            Some("decision") if field("outcome")?.as_str() == Some("halted") => halted += 1,
            _ => {}
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
        trades,
        markouts_bps,
        entries,
        halted,
        log: path.to_path_buf(),
        log_sha256: String::new(),
    })
}

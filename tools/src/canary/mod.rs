//! `toolkit canary`: a candidate model judged on market days it was not trained on.
//!
//! Each held-out day (by default every journal under `paths.holdout/SYMBOL/`) is replayed
//! through the engine's own run (the code of `engine run --feed replay`: hot loop at fast pace,
//! supervisor in lockstep, paper venue) once with the candidate and once with the baseline,
//! same seeds, and the decision logs are read back ([`replay`]). Per regime and overall it
//! reports closed trades, winrate with its Wilson interval, average markouts of the entry fills at 1/5/30 s, fill
//! rate, net PnL after fees, PnL per trade with its 95 % interval and the max drawdown of the
//! closed-trade equity curve.
//!
//! The candidate passes when every gate of `canary.gates` holds over all days together. Below
//! `canary.gates.min_trades` closed trades the result is inconclusive: too little to judge,
//! never a pass. The baseline is compared, not gated: a two-proportion test of the winrates,
//! inconclusive below `rollout_guard.min_samples` trades a side.
//!
//! Writes `canary_report.json` and a self-contained `canary_report.html` ([`html`]), prints a
//! table, and exits 0 on a pass, 1 on a failed gate and 2 when inconclusive. A day the
//! candidate was trained on is refused: the report says which days trained it and which
//! judged it.

mod html;
pub(crate) mod replay;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use engine::cli::{ConfigArgs, OnnxRuntimeArg};
use engine::config::{CanaryGates, Config, Loaded};
use engine::model::registry::{ModelInfo, Slot, read_slot};
use feed::markout::MARKOUT_HORIZONS_NS;
use serde::{Deserialize, Serialize};

use crate::estimate::{MeanInterval, wilson};
use crate::synth::{SESSION_FILE, Session};
use crate::train::{META_FILE, Meta};
use replay::{Day, DayRun};

/// File names of the report, written into the output directory.
pub(crate) const REPORT_JSON: &str = "canary_report.json";
pub(crate) const REPORT_HTML: &str = "canary_report.html";

/// Arguments of `canary`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// The candidate: a trained model directory (`toolkit train` output).
    #[arg(long)]
    candidate: PathBuf,
    /// The model to compare with: `active` (the registry's active slot, if any), `none`, or a
    /// model directory.
    #[arg(long, default_value = "active")]
    baseline: String,
    #[command(flatten)]
    days: DaysArg,
    /// Where canary_report.json and canary_report.html go (default: the candidate directory).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    onnxruntime: OnnxRuntimeArg,
}

/// Which held-out days to judge on.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DaysArg {
    /// Journal directories of the held-out days (default: every day under
    /// paths.holdout/SYMBOL/).
    #[arg(long = "days", value_delimiter = ',', value_name = "DIR,...")]
    pub(crate) dirs: Vec<PathBuf>,
}

/// How a canary ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    /// Every gate held over enough trades.
    Pass,
    /// A gate failed.
    Fail,
    /// Too few trades to judge.
    Inconclusive,
}

impl Verdict {
    /// As printed.
    pub(crate) const fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "INCONCLUSIVE",
        }
    }

    /// The exit code of `toolkit canary`.
    pub(crate) fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Inconclusive => 2,
        })
    }
}

/// A model taking part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ModelRef {
    pub(crate) id: String,
    pub(crate) dir: PathBuf,
}

/// What a model did over a set of days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Summary {
    /// Closed round trips and the winners among them (PnL after fees > 0).
    pub(crate) trades: u64,
    pub(crate) wins: u64,
    pub(crate) winrate: f64,
    /// Wilson 95 % interval of the winrate.
    pub(crate) winrate_interval: (f64, f64),
    /// Average markout of the entry fills at 1 s, 5 s and 30 s, bps.
    pub(crate) markout_bps: [f64; 3],
    /// Orders sent, fills, fills per order.
    pub(crate) orders: u64,
    pub(crate) fills: u64,
    pub(crate) fill_rate: f64,
    /// Net PnL of the closed trades after fees, USD.
    pub(crate) net_pnl_usd: f64,
    /// PnL per trade, USD, with its 95 % interval.
    pub(crate) pnl_per_trade_usd: MeanInterval,
    /// Largest fall of the closed-trade equity curve from a peak, USD.
    pub(crate) max_drawdown_usd: f64,
    /// Candidates the supervisor's halts held back.
    pub(crate) halted: u64,
}

/// The columns of a summary, as printed and in the HTML report ([`Summary::cells`]).
pub(crate) const SUMMARY_COLUMNS: [&str; 10] = [
    "trades",
    "winrate [95 %]",
    "markout 1 s (bps)",
    "5 s",
    "30 s",
    "fill rate",
    "net PnL (USD)",
    "PnL per trade [95 %] (USD)",
    "max drawdown (USD)",
    "halted",
];

impl Summary {
    /// The summary's cells, in the order of [`SUMMARY_COLUMNS`].
    pub(crate) fn cells(&self) -> [String; SUMMARY_COLUMNS.len()] {
        let interval = &self.pnl_per_trade_usd;
        [
            self.trades.to_string(),
            format!(
                "{:.3} [{:.3}, {:.3}]",
                self.winrate, self.winrate_interval.0, self.winrate_interval.1
            ),
            format!("{:+.2}", self.markout_bps[0]),
            format!("{:+.2}", self.markout_bps[1]),
            format!("{:+.2}", self.markout_bps[2]),
            format!("{:.3}", self.fill_rate),
            format!("{:+.2}", self.net_pnl_usd),
            format!(
                "{:+.2} [{:+.2}, {:+.2}]",
                interval.mean, interval.low, interval.high
            ),
            format!("{:.2}", self.max_drawdown_usd),
            self.halted.to_string(),
        ]
    }

    /// The summary of `runs`, taken in order.
    pub(crate) fn of<'a>(runs: impl IntoIterator<Item = &'a DayRun>) -> Summary {
        let runs: Vec<&DayRun> = runs.into_iter().collect();
        let pnls: Vec<f64> = runs
            .iter()
            .flat_map(|run| run.trades.iter().map(|trade| trade.pnl_usd))
            .collect();
        let wins = pnls.iter().filter(|&&pnl| pnl > 0.0).count() as u64;
        let trades = pnls.len() as u64;
        let (orders, fills) = runs
            .iter()
            .fold((0, 0), |(o, f), run| (o + run.orders, f + run.fills));
        let markout_bps = std::array::from_fn(|horizon| {
            let values: Vec<f64> = runs
                .iter()
                .flat_map(|run| run.markouts_bps[horizon].iter().copied())
                .collect();
            MeanInterval::of(&values).mean
        });
        let (mut equity, mut peak, mut drawdown) = (0.0_f64, 0.0_f64, 0.0_f64);
        for pnl in &pnls {
            equity += pnl;
            peak = peak.max(equity);
            drawdown = drawdown.max(peak - equity);
        }
        Summary {
            trades,
            wins,
            winrate: if trades == 0 {
                0.0
            } else {
                wins as f64 / trades as f64
            },
            winrate_interval: wilson(wins, trades),
            markout_bps,
            orders,
            fills,
            fill_rate: if orders == 0 {
                0.0
            } else {
                fills as f64 / orders as f64
            },
            net_pnl_usd: pnls.iter().sum(),
            pnl_per_trade_usd: MeanInterval::of(&pnls),
            max_drawdown_usd: drawdown,
            halted: runs.iter().map(|run| run.halted).sum(),
        }
    }
}

/// One model's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Results {
    pub(crate) overall: Summary,
    pub(crate) by_regime: BTreeMap<String, Summary>,
    pub(crate) days: Vec<DayRun>,
}

impl Results {
    /// Each regime, then `all`.
    pub(crate) fn slices(&self) -> impl Iterator<Item = (&str, &Summary)> {
        self.by_regime
            .iter()
            .map(|(regime, summary)| (regime.as_str(), summary))
            .chain([("all", &self.overall)])
    }

    fn of(days: Vec<DayRun>) -> Results {
        let mut regimes: BTreeMap<String, Vec<&DayRun>> = BTreeMap::new();
        for day in &days {
            regimes.entry(day.regime.clone()).or_default().push(day);
        }
        Results {
            overall: Summary::of(&days),
            by_regime: regimes
                .into_iter()
                .map(|(regime, runs)| (regime, Summary::of(runs)))
                .collect(),
            days,
        }
    }
}

/// One gate as judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GateCheck {
    pub(crate) gate: String,
    pub(crate) value: f64,
    pub(crate) bar: f64,
    pub(crate) passed: bool,
}

/// The candidate's winrate against the baseline's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Comparison {
    /// Candidate minus baseline.
    pub(crate) winrate_difference: f64,
    /// The two-proportion z statistic (pooled), when both sides have enough trades.
    pub(crate) z: Option<f64>,
    /// `better`, `worse`, `no significant difference` (|z| < 1.96) or `inconclusive`.
    pub(crate) finding: String,
    /// Trades a side the comparison needs (`rollout_guard.min_samples`).
    pub(crate) min_samples: u32,
}

/// `canary_report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Report {
    pub(crate) candidate: ModelRef,
    pub(crate) baseline: Option<ModelRef>,
    /// `SYMBOL DATE` of every day that trained the candidate, and the days that judged it.
    pub(crate) trained_on: Vec<String>,
    pub(crate) judged_on: Vec<String>,
    pub(crate) gates: CanaryGates,
    pub(crate) candidate_results: Results,
    pub(crate) baseline_results: Option<Results>,
    pub(crate) comparison: Option<Comparison>,
    pub(crate) checks: Vec<GateCheck>,
    pub(crate) verdict: Verdict,
}

impl Report {
    /// The candidate's results, then the baseline's if there is one.
    pub(crate) fn models(&self) -> Vec<(&'static str, &Results)> {
        let mut models = vec![("candidate", &self.candidate_results)];
        if let Some(baseline) = &self.baseline_results {
            models.push(("baseline", baseline));
        }
        models
    }
}

/// The baseline to compare with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Baseline {
    /// The registry's active model, when there is one.
    Active,
    None,
    Dir(PathBuf),
}

impl Baseline {
    /// `active`, `none` or a directory.
    pub(crate) fn parse(text: &str) -> Baseline {
        match text {
            "active" => Baseline::Active,
            "none" => Baseline::None,
            dir => Baseline::Dir(PathBuf::from(dir)),
        }
    }

    /// The baseline's model directory, if any.
    fn resolve(&self, config: &Config) -> Result<Option<PathBuf>> {
        Ok(match self {
            Baseline::None => None,
            Baseline::Dir(dir) => Some(dir.clone()),
            Baseline::Active => read_slot(&config.paths.registry, Slot::Active)?
                .map(|id| config.paths.registry.join(id)),
        })
    }
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let loaded = args.config.load()?;
    let out = args.out.clone().unwrap_or_else(|| args.candidate.clone());
    let report = judge(
        &loaded,
        &args.candidate,
        &Baseline::parse(&args.baseline),
        &args.days,
        &out,
        &args.onnxruntime.path,
    )?;
    Ok(report.verdict.exit_code())
}

/// Runs the canary of `candidate` and writes, then prints, its report.
pub(crate) fn judge(
    loaded: &Loaded,
    candidate: &Path,
    baseline: &Baseline,
    days: &DaysArg,
    out: &Path,
    onnxruntime: &Path,
) -> Result<Report> {
    let config = &loaded.config;
    let symbol_name = config
        .exchange
        .symbols
        .first()
        .context("no exchange.symbols")?;
    let instrument = *loaded
        .symbols
        .symbols
        .get(symbol_name)
        .with_context(|| format!("{symbol_name} has no entry in symbols.yml"))?;
    let symbol = feed::Symbol::new(symbol_name).context("symbol too long")?;
    let meta = Meta::read(&candidate.join(META_FILE))?;
    let trained_on: Vec<String> = meta
        .data
        .source
        .partitions
        .iter()
        .map(|partition| format!("{} {}", partition.symbol, partition.date))
        .collect();
    let days = held_out_days(config, symbol_name, days)?;
    for day in &days {
        let name = format!("{symbol_name} {}", day.date);
        if trained_on.contains(&name) {
            bail!(
                "{} ({name}) trained {}: the canary judges on held-out days only",
                day.journal.display(),
                meta.model_id
            );
        }
    }
    let candidate_ref = ModelRef {
        id: ModelInfo::read(candidate)?.id,
        dir: candidate.to_path_buf(),
    };
    let baseline_ref = baseline
        .resolve(config)?
        .map(|dir| -> Result<ModelRef> {
            Ok(ModelRef {
                id: ModelInfo::read(&dir)?.id,
                dir,
            })
        })
        .transpose()?;
    let runs_dir = config.paths.data.join("canary").join(&candidate_ref.id);
    let replay_all = |role: &str, model: &ModelRef| -> Result<Results> {
        let mut runs = Vec::new();
        for day in &days {
            eprintln!(
                "canary: {role} {} on {} ({})",
                model.id, day.date, day.regime
            );
            runs.push(replay::replay(
                config,
                symbol,
                instrument,
                &model.dir,
                day,
                &runs_dir.join(role).join(&day.date),
                onnxruntime,
            )?);
        }
        Ok(Results::of(runs))
    };
    let candidate_results = replay_all("candidate", &candidate_ref)?;
    let baseline_results = baseline_ref
        .as_ref()
        .map(|model| replay_all("baseline", model))
        .transpose()?;
    let gates = config.canary.gates.clone();
    let checks = gate_checks(&gates, &candidate_results.overall);
    let verdict = if candidate_results.overall.trades < u64::from(gates.min_trades) {
        Verdict::Inconclusive
    } else if checks.iter().all(|check| check.passed) {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    let comparison = baseline_results.as_ref().map(|baseline| {
        compare(
            &candidate_results.overall,
            &baseline.overall,
            config.rollout_guard.min_samples,
        )
    });
    let report = Report {
        candidate: candidate_ref,
        baseline: baseline_ref,
        trained_on,
        judged_on: days
            .iter()
            .map(|day| format!("{symbol_name} {} ({})", day.date, day.regime))
            .collect(),
        gates,
        candidate_results,
        baseline_results,
        comparison,
        checks,
        verdict,
    };
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    engine::model::registry::write_json_atomically(&out.join(REPORT_JSON), &report)?;
    let html_path = out.join(REPORT_HTML);
    fs::write(&html_path, html::render(&report))
        .with_context(|| format!("writing {}", html_path.display()))?;
    print!("{}", table(&report));
    println!(
        "canary report: {} and {}",
        out.join(REPORT_JSON).display(),
        html_path.display()
    );
    Ok(report)
}

/// The held-out days: the directories given, or every day under `paths.holdout/SYMBOL/`.
fn held_out_days(config: &Config, symbol: &str, days: &DaysArg) -> Result<Vec<Day>> {
    let dirs = if days.dirs.is_empty() {
        let root = config.paths.holdout.join(symbol);
        let mut dirs: Vec<PathBuf> = match fs::read_dir(&root) {
            Ok(entries) => entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| path.is_dir())
                .collect(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(err) => return Err(err).with_context(|| format!("listing {}", root.display())),
        };
        dirs.sort();
        if dirs.is_empty() {
            bail!(
                "no held-out days under {}: simulate some (toolkit synth --out {}) or give --days",
                root.display(),
                config.paths.holdout.display()
            );
        }
        dirs
    } else {
        days.dirs.clone()
    };
    dirs.into_iter()
        .map(|journal| {
            let date = journal
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .with_context(|| format!("{} names no day", journal.display()))?;
            let session = journal.join(SESSION_FILE);
            let regime = if session.exists() {
                let text = fs::read_to_string(&session)
                    .with_context(|| format!("reading {}", session.display()))?;
                serde_json::from_str::<Session>(&text)
                    .with_context(|| format!("reading {}", session.display()))?
                    .regime
            } else {
                "unknown".to_owned()
            };
            Ok(Day {
                date,
                regime,
                journal,
            })
        })
        .collect()
}

/// Every gate of `gates` against `overall`.
fn gate_checks(gates: &CanaryGates, overall: &Summary) -> Vec<GateCheck> {
    let horizon_ns = gates.markout_horizon.get().as_nanos() as u64;
    let horizon = MARKOUT_HORIZONS_NS
        .iter()
        .position(|&h| h == horizon_ns)
        .unwrap_or(MARKOUT_HORIZONS_NS.len() - 1);
    [
        ("winrate", overall.winrate, gates.winrate_min),
        (
            &*format!("average markout at {}", gates.markout_horizon),
            overall.markout_bps[horizon],
            gates.markout_min_bps,
        ),
        ("fill rate", overall.fill_rate, gates.fill_rate_min),
        ("net PnL (USD)", overall.net_pnl_usd, gates.net_pnl_min_usd),
    ]
    .into_iter()
    .map(|(gate, value, bar)| GateCheck {
        gate: gate.to_owned(),
        value,
        bar,
        passed: value >= bar,
    })
    .collect()
}

/// The two-proportion z-test of the winrates (pooled variance).
fn compare(candidate: &Summary, baseline: &Summary, min_samples: u32) -> Comparison {
    let difference = candidate.winrate - baseline.winrate;
    let enough = u64::from(min_samples);
    if candidate.trades < enough || baseline.trades < enough {
        return Comparison {
            winrate_difference: difference,
            z: None,
            finding: format!(
                "inconclusive: {} and {} trades, {min_samples} a side needed",
                candidate.trades, baseline.trades
            ),
            min_samples,
        };
    }
    let (n1, n2) = (candidate.trades as f64, baseline.trades as f64);
    let pooled = (candidate.wins + baseline.wins) as f64 / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    let z = if se > 0.0 { difference / se } else { 0.0 };
    let finding = if z >= crate::estimate::Z95 {
        "better"
    } else if z <= -crate::estimate::Z95 {
        "worse"
    } else {
        "no significant difference"
    };
    Comparison {
        winrate_difference: difference,
        z: Some(z),
        finding: finding.to_owned(),
        min_samples,
    }
}

/// The printed report.
fn table(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "canary of {} (baseline {})",
        report.candidate.id,
        report
            .baseline
            .as_ref()
            .map_or("none", |baseline| baseline.id.as_str())
    );
    let _ = writeln!(out, "trained on: {}", report.trained_on.join(", "));
    let _ = writeln!(out, "judged on:  {}", report.judged_on.join(", "));
    let _ = writeln!(out, "| model | regime | {} |", SUMMARY_COLUMNS.join(" | "));
    let _ = writeln!(out, "|---|---|{}", "---|".repeat(SUMMARY_COLUMNS.len()));
    for (role, results) in report.models() {
        for (regime, summary) in results.slices() {
            let _ = writeln!(
                out,
                "| {role} | {regime} | {} |",
                summary.cells().join(" | ")
            );
        }
    }
    if let Some(comparison) = &report.comparison {
        let _ = writeln!(
            out,
            "winrate vs baseline: {:+.3}{}: {}",
            comparison.winrate_difference,
            comparison
                .z
                .map_or_else(String::new, |z| format!(" (z = {z:+.2})")),
            comparison.finding
        );
    }
    for check in &report.checks {
        let _ = writeln!(
            out,
            "gate {:<28} {:>10.4} >= {:<10.4} {}",
            check.gate,
            check.value,
            check.bar,
            if check.passed { "pass" } else { "FAIL" }
        );
    }
    let trades = report.candidate_results.overall.trades;
    let _ = writeln!(
        out,
        "canary: {}{}",
        report.verdict.label(),
        match report.verdict {
            Verdict::Inconclusive => format!(
                " ({trades} closed trades, canary.gates.min_trades = {} needed to judge)",
                report.gates.min_trades
            ),
            Verdict::Fail => " (a gate failed)".to_owned(),
            Verdict::Pass => " (every gate held)".to_owned(),
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use replay::Trade;

    fn day(regime: &str, pnls: &[f64], fills: u64, orders: u64) -> DayRun {
        DayRun {
            date: "2026-01-04".to_owned(),
            regime: regime.to_owned(),
            journal: PathBuf::new(),
            orders,
            fills,
            trades: pnls
                .iter()
                .enumerate()
                .map(|(index, &pnl_usd)| Trade {
                    ts_ms: index as u64,
                    pnl_usd,
                })
                .collect(),
            markouts_bps: [vec![1.0, -3.0], vec![2.0], vec![-4.0, 0.0]],
            entries: Vec::new(),
            halted: 2,
            log: PathBuf::new(),
            log_sha256: String::new(),
        }
    }

    #[test]
    fn a_summary_counts_trades_markouts_and_the_drawdown() {
        let runs = [
            day("normal", &[5.0, -2.0, -4.0], 6, 10),
            day("event", &[3.0], 2, 10),
        ];
        let summary = Summary::of(&runs);
        assert_eq!((summary.trades, summary.wins), (4, 2));
        assert_eq!(summary.winrate, 0.5);
        assert_eq!(summary.markout_bps, [-1.0, 2.0, -2.0]);
        assert_eq!(
            (summary.fills, summary.orders, summary.fill_rate),
            (8, 20, 0.4)
        );
        assert_eq!(summary.net_pnl_usd, 2.0);
        // Equity 5, 3, -1, 2: the fall from 5 to -1.
        assert_eq!(summary.max_drawdown_usd, 6.0);
        assert_eq!(summary.pnl_per_trade_usd.mean, 0.5);
        assert_eq!(summary.halted, 4);
    }

    #[test]
    fn gates_judge_the_overall_summary() {
        let gates = CanaryGates::default();
        let losing = Summary::of(&[day("normal", &[5.0, -2.0, -4.0], 6, 10)]);
        let checks = gate_checks(&gates, &losing);
        let failed: Vec<&str> = checks
            .iter()
            .filter(|check| !check.passed)
            .map(|check| check.gate.as_str())
            .collect();
        // Winrate 1/3, markout at 30 s -2 bps, fill rate 0.6, net PnL -1.
        assert_eq!(
            failed,
            ["winrate", "average markout at 30s", "net PnL (USD)"]
        );
    }

    #[test]
    fn the_winrate_comparison_waits_for_enough_trades_a_side() {
        let summary = |wins: u64, trades: u64| Summary {
            wins,
            trades,
            winrate: wins as f64 / trades as f64,
            ..Summary::of(&[])
        };
        let few = compare(&summary(30, 40), &summary(20, 60), 50);
        assert_eq!(few.z, None);
        assert!(few.finding.starts_with("inconclusive"));
        // 60 % of 100 against 40 % of 100: pooled 0.5, se sqrt(0.005), z = 0.2 / 0.0707.
        let clear = compare(&summary(60, 100), &summary(40, 100), 50);
        let z = clear.z.unwrap();
        assert!((z - 0.2 / 0.005_f64.sqrt()).abs() < 1e-12);
        assert_eq!(clear.finding, "better");
        assert_eq!(
            compare(&summary(52, 100), &summary(48, 100), 50).finding,
            "no significant difference"
        );
    }
}

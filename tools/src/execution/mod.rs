//! `toolkit simulate-execution`: Monte-Carlo of a model's execution on recorded days under
//! latency and shock scenarios.
//!
//! Each run of each scenario draws the paper venue's seed, a latency factor and the times of
//! its shocks ([`scenario`]), applies the feed's shocks to each day's journal ([`perturb`]),
//! and replays the day through the engine's own hot loop and paper venue (the canary's replay),
//! the order gateway paused where the run says ([`pause`]). What each run earned and suffered
//! is read back from its decision log; the report gives each scenario's distribution of it
//! (quantiles) and every run's figures, in `execution_report.json` and, as charts,
//! `execution_report.html`.
//!
//! Runs go to every core (rayon, `--jobs`); each draws only from its own seeded stream and the
//! results are merged in scenario and run order, so the same seed gives the same report,
//! byte for byte, on any number of cores.

mod html;
mod pause;
mod perturb;
mod scenario;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use engine::cli::{ConfigArgs, OnnxRuntimeArg};
use engine::model::registry::ModelInfo;
use engine::pipeline::EntryRule;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use crate::canary::replay::{self, Day, DayRun};
use crate::canary::{DaysArg, held_out_days, traded};
use crate::estimate::quantile;
use pause::PausingVenue;
use perturb::Rewritten;
use scenario::{Draw, Effect, Scenario, ScenarioFile, Shock};

/// The report, in the output directory.
const REPORT_JSON: &str = "execution_report.json";
const REPORT_HTML: &str = "execution_report.html";

/// `toolkit simulate-execution`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// The model that trades: a trained model directory (`toolkit train` output).
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    days: DaysArg,
    /// The scenarios (YAML; see the shipped file for the format).
    #[arg(long, default_value = "config/scenarios.yml")]
    scenarios: PathBuf,
    /// Runs of each scenario.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Seed of every draw: the same seed gives the same report.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Runs at once (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Exit 1 when a scenario's 5th-percentile PnL over its runs is below this, USD.
    #[arg(long, value_name = "USD", allow_hyphen_values = true)]
    min_p5_pnl_usd: Option<f64>,
    /// Where the report goes (default: paths.data/simulate-execution/MODEL_ID).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    onnxruntime: OnnxRuntimeArg,
}

/// What one run of a scenario did over every day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct RunResult {
    /// Its number and what it drew (the shocks per day).
    #[serde(flatten)]
    pub(crate) draw: Draw,
    /// Net PnL of the closed round trips after fees, USD.
    pub(crate) pnl_usd: f64,
    /// Closed round trips.
    pub(crate) trades: u64,
    /// Entry orders accepted, and the share of them that filled.
    pub(crate) entries: u64,
    pub(crate) fill_rate: Option<f64>,
    /// Mean markout of the entry fills at 1, 5 and 30 s, bps (signed by side).
    pub(crate) markout_1s_bps: Option<f64>,
    pub(crate) markout_5s_bps: Option<f64>,
    pub(crate) markout_30s_bps: Option<f64>,
    /// Adverse selection: the share of entry fills the market moved through within 1 s
    /// (markout below 0).
    pub(crate) adverse_fill_share: Option<f64>,
    /// Largest fall of cumulative PnL from its peak (from 0 at the start), USD.
    pub(crate) worst_drawdown_usd: f64,
    /// Requests the venue's pauses held back.
    pub(crate) requests_delayed: u64,
    /// Frames the feed's shocks dropped, and book frames they replaced by a snapshot.
    pub(crate) frames_dropped: u64,
    pub(crate) snapshots_written: u64,
}

/// Quantiles of one figure over a scenario's runs (those where it is defined).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Spread {
    pub(crate) runs: usize,
    pub(crate) mean: f64,
    pub(crate) p5: f64,
    pub(crate) p25: f64,
    pub(crate) p50: f64,
    pub(crate) p75: f64,
    pub(crate) p95: f64,
}

impl Spread {
    fn of(values: impl Iterator<Item = Option<f64>>) -> Option<Spread> {
        let mut sorted: Vec<f64> = values.flatten().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let at = |q| quantile(&sorted, q);
        Some(Spread {
            runs: sorted.len(),
            mean: sorted.iter().sum::<f64>() / sorted.len().max(1) as f64,
            p5: at(0.05)?,
            p25: at(0.25)?,
            p50: at(0.5)?,
            p75: at(0.75)?,
            p95: at(0.95)?,
        })
    }
}

/// Each figure's spread over a scenario's runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Distribution {
    pub(crate) pnl_usd: Option<Spread>,
    pub(crate) trades: Option<Spread>,
    pub(crate) fill_rate: Option<Spread>,
    pub(crate) markout_1s_bps: Option<Spread>,
    pub(crate) markout_5s_bps: Option<Spread>,
    pub(crate) markout_30s_bps: Option<Spread>,
    pub(crate) adverse_fill_share: Option<Spread>,
    pub(crate) worst_drawdown_usd: Option<Spread>,
}

impl Distribution {
    fn of(runs: &[RunResult]) -> Distribution {
        let spread = |figure: fn(&RunResult) -> Option<f64>| Spread::of(runs.iter().map(figure));
        Distribution {
            pnl_usd: spread(|run| Some(run.pnl_usd)),
            trades: spread(|run| Some(run.trades as f64)),
            fill_rate: spread(|run| run.fill_rate),
            markout_1s_bps: spread(|run| run.markout_1s_bps),
            markout_5s_bps: spread(|run| run.markout_5s_bps),
            markout_30s_bps: spread(|run| run.markout_30s_bps),
            adverse_fill_share: spread(|run| run.adverse_fill_share),
            worst_drawdown_usd: spread(|run| Some(run.worst_drawdown_usd)),
        }
    }
}

/// A scenario's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ScenarioResult {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) distribution: Distribution,
    pub(crate) runs: Vec<RunResult>,
}

/// A day replayed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct DayRef {
    pub(crate) date: String,
    pub(crate) regime: String,
    pub(crate) journal: PathBuf,
}

/// `execution_report.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Report {
    /// The model that traded.
    pub(crate) model: String,
    pub(crate) days: Vec<DayRef>,
    pub(crate) runs_per_scenario: u32,
    pub(crate) seed: u64,
    pub(crate) scenarios: Vec<ScenarioResult>,
}

/// Runs every scenario's runs, writes the report and prints its table; exit 1 when a
/// scenario's 5th-percentile PnL is below `--min-p5-pnl-usd`.
pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let loaded = args.config.load()?;
    let config = &loaded.config;
    let (symbol_name, symbol, instrument) = traded(&loaded)?;
    let scenarios = ScenarioFile::read(&args.scenarios)?.scenarios;
    let days = held_out_days(config, &symbol_name, &args.days)?;
    let spans = days
        .iter()
        .map(|day| perturb::span(&day.journal))
        .collect::<Result<Vec<_>>>()?;
    let model_id = ModelInfo::read(&args.model)?.id;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| config.paths.data.join("simulate-execution").join(&model_id));
    let work = out.join("runs");
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("clearing {}", work.display()))?;
    }
    let jobs: Vec<(usize, u32)> = (0..scenarios.len())
        .flat_map(|index| (0..args.runs).map(move |run| (index, run)))
        .collect();
    let progress = ProgressBar::new(jobs.len() as u64).with_style(
        ProgressStyle::with_template(
            "simulate-execution [{bar:40}] {pos}/{len} runs ({per_sec}, eta {eta})",
        )?
        .progress_chars("=> "),
    );
    let threads = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("starting the run threads")?;
    let setup = Setup {
        config,
        symbol,
        instrument,
        model: &args.model,
        onnxruntime: &args.onnxruntime.path,
        days: &days,
    };
    let results: Vec<RunResult> = pool.install(|| {
        jobs.par_iter()
            .map(|&(index, run)| {
                let scenario = &scenarios[index];
                let draw = Draw::of(scenario, index, run, args.seed, &spans);
                let dir = work.join(&scenario.name).join(run.to_string());
                let result = run_once(&setup, scenario, draw, &dir)
                    .with_context(|| format!("scenario {}, run {run}", scenario.name));
                progress.inc(1);
                result
            })
            .collect::<Result<Vec<_>>>()
    })?;
    progress.finish_and_clear();
    fs::remove_dir_all(&work).with_context(|| format!("clearing {}", work.display()))?;
    let mut results = results.into_iter();
    let report = Report {
        model: model_id,
        days: days
            .iter()
            .map(|day| DayRef {
                date: day.date.clone(),
                regime: day.regime.clone(),
                journal: day.journal.clone(),
            })
            .collect(),
        runs_per_scenario: args.runs,
        seed: args.seed,
        scenarios: scenarios
            .iter()
            .map(|scenario| {
                let runs: Vec<RunResult> = results.by_ref().take(args.runs as usize).collect();
                ScenarioResult {
                    name: scenario.name.clone(),
                    description: scenario.description.clone(),
                    distribution: Distribution::of(&runs),
                    runs,
                }
            })
            .collect(),
    };
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let json = out.join(REPORT_JSON);
    fs::write(&json, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", json.display()))?;
    let page = out.join(REPORT_HTML);
    fs::write(&page, html::page(&report)).with_context(|| format!("writing {}", page.display()))?;
    print!("{}", table(&report));
    println!("report: {} and {}", json.display(), page.display());
    let below = args
        .min_p5_pnl_usd
        .map(|floor| below_floor(&report, floor))
        .unwrap_or_default();
    if below.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for line in below {
        println!("{line}");
    }
    Ok(ExitCode::FAILURE)
}

/// What every run shares.
struct Setup<'a> {
    config: &'a engine::config::Config,
    symbol: feed::Symbol,
    instrument: feed::Instrument,
    model: &'a Path,
    onnxruntime: &'a Path,
    days: &'a [Day],
}

/// Replays every day once as `draw` says, in `dir` (removed after).
fn run_once(setup: &Setup<'_>, scenario: &Scenario, draw: Draw, dir: &Path) -> Result<RunResult> {
    let mut config = setup.config.clone();
    draw.apply(scenario, &mut config);
    let mut day_runs = Vec::with_capacity(setup.days.len());
    let (mut delayed, mut rewritten) = (0, Rewritten::default());
    for (index, day) in setup.days.iter().enumerate() {
        let shocks: &[Shock] = &draw.shocks[index];
        let day_dir = dir.join(&day.date);
        let journal = if draw.rewrites_feed(index) {
            let journal = day_dir.join("journal");
            let counts = perturb::rewrite(&day.journal, &journal, shocks, &setup.instrument)?;
            rewritten.dropped += counts.dropped;
            rewritten.snapshots += counts.snapshots;
            journal
        } else {
            day.journal.clone()
        };
        let pauses: Vec<(u64, u64)> = shocks
            .iter()
            .filter(|shock| shock.effect == Effect::VenuePause)
            .map(|shock| (shock.start_ns, shock.end_ns))
            .collect();
        let delayed_here = Arc::new(AtomicU64::new(0));
        let day_run = replay::replay_on(
            &config,
            setup.symbol,
            setup.instrument,
            setup.model,
            EntryRule::Model,
            &Day {
                journal,
                ..day.clone()
            },
            &day_dir.join("run"),
            setup.onnxruntime,
            |config| {
                let paper = engine::venues::paper(config, &setup.instrument)?;
                Ok(PausingVenue::new(paper, pauses, Arc::clone(&delayed_here)))
            },
        )?;
        delayed += delayed_here.load(Ordering::Relaxed);
        day_runs.push(day_run);
    }
    fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    Ok(RunResult::of(draw, &day_runs, delayed, rewritten))
}

impl RunResult {
    fn of(draw: Draw, days: &[DayRun], requests_delayed: u64, rewritten: Rewritten) -> RunResult {
        let pnls: Vec<f64> = days
            .iter()
            .flat_map(|day| day.trades.iter().map(|trade| trade.pnl_usd))
            .collect();
        let (mut equity, mut peak, mut worst_drawdown_usd) = (0.0_f64, 0.0_f64, 0.0_f64);
        for pnl in &pnls {
            equity += pnl;
            peak = peak.max(equity);
            worst_drawdown_usd = worst_drawdown_usd.max(peak - equity);
        }
        let entries: Vec<bool> = days
            .iter()
            .flat_map(|day| day.entries.iter().map(|entry| entry.filled))
            .collect();
        let markouts = |horizon: usize| -> Vec<f64> {
            days.iter()
                .flat_map(|day| day.markouts_bps[horizon].iter().map(|markout| markout.bps))
                .collect()
        };
        let mean = |values: &[f64]| {
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        };
        let share = |hits: usize, of: usize| (of > 0).then(|| hits as f64 / of as f64);
        let first_second = markouts(0);
        RunResult {
            draw,
            // + 0.0: no trades sum to -0.0, written as such.
            pnl_usd: pnls.iter().sum::<f64>() + 0.0,
            trades: pnls.len() as u64,
            entries: entries.len() as u64,
            fill_rate: share(
                entries.iter().filter(|&&filled| filled).count(),
                entries.len(),
            ),
            markout_1s_bps: mean(&first_second),
            markout_5s_bps: mean(&markouts(1)),
            markout_30s_bps: mean(&markouts(2)),
            adverse_fill_share: share(
                first_second.iter().filter(|&&bps| bps < 0.0).count(),
                first_second.len(),
            ),
            worst_drawdown_usd,
            requests_delayed,
            frames_dropped: rewritten.dropped,
            snapshots_written: rewritten.snapshots,
        }
    }
}

/// A line for each scenario whose 5th-percentile PnL is below `floor`.
fn below_floor(report: &Report, floor: f64) -> Vec<String> {
    report
        .scenarios
        .iter()
        .filter_map(|scenario| {
            let p5 = scenario.distribution.pnl_usd?.p5;
            (p5 < floor).then(|| {
                format!(
                    "FAIL {}: 5th-percentile PnL {p5:+.2} USD is below {floor:+.2}",
                    scenario.name
                )
            })
        })
        .collect()
}

/// The printed report.
fn table(report: &Report) -> String {
    let mut out = String::new();
    let dates: Vec<&str> = report.days.iter().map(|day| day.date.as_str()).collect();
    let _ = writeln!(
        out,
        "simulate-execution of {} on {} ({} runs a scenario, seed {})",
        report.model,
        dates.join(", "),
        report.runs_per_scenario,
        report.seed
    );
    let _ = writeln!(
        out,
        "| scenario | PnL USD p5 | p50 | p95 | trades p50 | fill rate p50 | markout 5 s bps p50 | \
         adverse fills p50 | worst drawdown USD p95 |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    let cell = |spread: Option<Spread>, pick: fn(&Spread) -> f64, digits: usize| {
        spread.map_or_else(|| "-".to_owned(), |s| format!("{:+.digits$}", pick(&s)))
    };
    let share = |spread: Option<Spread>| {
        spread.map_or_else(|| "-".to_owned(), |s| format!("{:.1} %", 100.0 * s.p50))
    };
    for scenario in &report.scenarios {
        let d = &scenario.distribution;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            scenario.name,
            cell(d.pnl_usd, |s| s.p5, 2),
            cell(d.pnl_usd, |s| s.p50, 2),
            cell(d.pnl_usd, |s| s.p95, 2),
            d.trades
                .map_or_else(|| "-".to_owned(), |s| format!("{:.0}", s.p50)),
            share(d.fill_rate),
            cell(d.markout_5s_bps, |s| s.p50, 2),
            share(d.adverse_fill_share),
            d.worst_drawdown_usd
                .map_or_else(|| "-".to_owned(), |s| format!("{:.2}", s.p95)),
        );
    }
    out
}

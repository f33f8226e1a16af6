//! `toolkit walk-forward`: the pipeline judged as it would have run, day after day. Over the
//! last `--days N` labeled days of the data, each fold trains on a window of `--train D` days
//! (the trainer's own purged folds within each day, every label purged by its own end time)
//! and is judged by the canary, with the same baselines and gates as a release, on the
//! `--test T` days right after its window; the window then moves on by `--step` days
//! (default `T`) and the next fold trains afresh. Rows in the first `training.embargo` after
//! every earlier fold's test block are left out of later training windows. A fold's test days
//! always come after its training window (the canary refuses any other).
//!
//! Each fold's model, model card and canary report go to `--out`/`fold-K/`; the folds
//! together to `walk_forward.json`, `walk_forward.html` (the folds' table and one equity
//! curve per fold) and a table on the terminal: what each fold earned, with its lower bound
//! and its margin over the best trivial baseline, and how the per-fold results are spread.
//! Exit 0 when every fold passed its canary, 1 when one failed, 2 when none failed but one was
//! inconclusive.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use engine::cli::{ConfigArgs, OnnxRuntimeArg};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::canary::{self, Baseline, DaysArg, Verdict};
use crate::estimate::BootstrapInterval;
use crate::label::{TrainingPartition, TrainingSidecar};
use crate::train::{self, day_start_ms};

/// File names of the report, in `--out`.
const REPORT_JSON: &str = "walk_forward.json";
const REPORT_HTML: &str = "walk_forward.html";

/// Arguments of `walk-forward`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// Days to walk over: the last N labeled days of the symbol in the data.
    #[arg(long, value_name = "N")]
    days: usize,
    /// Days each fold trains on.
    #[arg(long, value_name = "D")]
    train: usize,
    /// Days each fold is judged on, right after its training window.
    #[arg(long, value_name = "T")]
    test: usize,
    /// Days the window moves between folds (default: --test, so test blocks do not overlap).
    #[arg(long, value_name = "S")]
    step: Option<usize>,
    /// The labeled candidates (`toolkit label` writes them).
    #[arg(long, default_value = "data/training.parquet")]
    data: PathBuf,
    /// Where the folds and the report go (replaced fold by fold).
    #[arg(long, default_value = "models/walk-forward")]
    out: PathBuf,
    #[command(flatten)]
    onnxruntime: OnnxRuntimeArg,
}

/// The days of one fold.
#[derive(Debug, Clone, PartialEq)]
struct FoldPlan {
    train: Vec<Date>,
    test: Vec<Date>,
}

/// The folds over `days` (ascending): windows of `train` days, each followed by `test` days,
/// moving by `step`, as many as fit.
fn plan(days: &[Date], train: usize, test: usize, step: usize) -> Result<Vec<FoldPlan>> {
    if train == 0 || test == 0 || step == 0 {
        bail!("--train, --test and --step must be at least 1 day");
    }
    let folds: Vec<FoldPlan> = (0..)
        .map(|fold| fold * step)
        .take_while(|start| start + train + test <= days.len())
        .map(|start| FoldPlan {
            train: days[start..start + train].to_vec(),
            test: days[start + train..start + train + test].to_vec(),
        })
        .collect();
    if folds.is_empty() {
        bail!(
            "{} days hold no fold of {train} training and {test} test days",
            days.len()
        );
    }
    Ok(folds)
}

/// What one fold found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FoldResult {
    /// 1-based.
    pub(crate) fold: usize,
    /// The days it trained on and was judged on.
    pub(crate) trained_on: Vec<String>,
    pub(crate) tested_on: Vec<String>,
    pub(crate) model_id: String,
    /// Its directory (model, card, canary report).
    pub(crate) dir: PathBuf,
    pub(crate) tau_entry: f64,
    pub(crate) thresholds_tried: u64,
    /// Net expectancy per candidate at tau_entry on its report fold, bps.
    pub(crate) report_fold_expectancy_bps: f64,
    /// The canary on its test days.
    pub(crate) verdict: Verdict,
    pub(crate) trades: u64,
    pub(crate) winrate: f64,
    pub(crate) net_pnl_usd: f64,
    pub(crate) pnl_per_trade_usd: BootstrapInterval,
    /// The trivial baseline that earned most, and the model's margin over it.
    pub(crate) best_baseline: String,
    pub(crate) minus_best_baseline_usd: BootstrapInterval,
    pub(crate) failed_gates: Vec<String>,
    /// Cumulative net PnL after each closed trade, USD.
    pub(crate) equity_usd: Vec<f64>,
}

/// How the folds' results are spread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Spread {
    pub(crate) folds: usize,
    pub(crate) passed: usize,
    pub(crate) failed: usize,
    pub(crate) inconclusive: usize,
    /// Folds with net PnL above 0.
    pub(crate) profitable: usize,
    /// PnL per trade across folds, USD: lowest, median, highest.
    pub(crate) pnl_per_trade_min_usd: f64,
    pub(crate) pnl_per_trade_median_usd: f64,
    pub(crate) pnl_per_trade_max_usd: f64,
    /// All folds' trades together.
    pub(crate) trades: u64,
    pub(crate) net_pnl_usd: f64,
}

impl Spread {
    fn of(folds: &[FoldResult]) -> Spread {
        let mut per_trade: Vec<f64> = folds
            .iter()
            .map(|fold| fold.pnl_per_trade_usd.estimate)
            .collect();
        per_trade.sort_by(f64::total_cmp);
        let median = match per_trade.len() {
            0 => 0.0,
            n if n % 2 == 1 => per_trade[n / 2],
            n => 0.5 * (per_trade[n / 2 - 1] + per_trade[n / 2]),
        };
        let count = |verdict: Verdict| folds.iter().filter(|f| f.verdict == verdict).count();
        Spread {
            folds: folds.len(),
            passed: count(Verdict::Pass),
            failed: count(Verdict::Fail),
            inconclusive: count(Verdict::Inconclusive),
            profitable: folds.iter().filter(|fold| fold.net_pnl_usd > 0.0).count(),
            pnl_per_trade_min_usd: per_trade.first().copied().unwrap_or(0.0),
            pnl_per_trade_median_usd: median,
            pnl_per_trade_max_usd: per_trade.last().copied().unwrap_or(0.0),
            trades: folds.iter().map(|fold| fold.trades).sum(),
            net_pnl_usd: folds.iter().map(|fold| fold.net_pnl_usd).sum(),
        }
    }

    /// 0 when every fold passed, 1 when one failed, 2 otherwise.
    fn exit_code(&self) -> ExitCode {
        ExitCode::from(if self.passed == self.folds {
            0
        } else if self.failed > 0 {
            1
        } else {
            2
        })
    }
}

/// `walk_forward.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Report {
    pub(crate) symbol: String,
    /// `--days`, `--train`, `--test`, `--step`, and the embargo after each test block, ms.
    pub(crate) days: usize,
    pub(crate) train: usize,
    pub(crate) test: usize,
    pub(crate) step: usize,
    pub(crate) embargo_ms: u64,
    pub(crate) folds: Vec<FoldResult>,
    pub(crate) spread: Spread,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let loaded = args.config.load()?;
    let config = &loaded.config;
    let symbol = config
        .exchange
        .symbols
        .first()
        .context("no exchange.symbols")?
        .clone();
    let days = labeled_days(&args.data, &symbol)?;
    if days.len() < args.days {
        bail!(
            "walking over {} days needs {} labeled days of {symbol}; {} has {}",
            args.days,
            args.days,
            args.data.display(),
            days.len()
        );
    }
    let days = &days[days.len() - args.days..];
    let step = args.step.unwrap_or(args.test);
    let folds = plan(days, args.train, args.test, step)?;
    let embargo_ms = u64::try_from(config.training.embargo.get().as_millis()).unwrap_or(u64::MAX);
    for fold in &folds {
        for day in &fold.test {
            let journal = journal_of(config, &symbol, *day);
            if !journal.is_dir() {
                bail!(
                    "{} is missing: the canary replays each test day's journal",
                    journal.display()
                );
            }
        }
    }
    fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;

    let mut results = Vec::with_capacity(folds.len());
    for (index, fold) in folds.iter().enumerate() {
        let number = index + 1;
        let (first, last) = (fold.train[0], fold.train[fold.train.len() - 1]);
        eprintln!(
            "walk-forward: fold {number} of {}: training on {first}..{last}, testing on {}",
            folds.len(),
            join(&fold.test)
        );
        // The first embargo of every earlier test block stays out of this window.
        let excluded: Vec<(i64, i64)> = folds[..index]
            .iter()
            .filter_map(|earlier| earlier.test.last()?.tomorrow().ok())
            .map(|end| {
                let end_ms = day_start_ms(end);
                (end_ms, end_ms.saturating_add(embargo_ms as i64))
            })
            .collect();
        let dir = args.out.join(format!("fold-{number}"));
        let meta = train::train(&train::Args::fold(
            args.config.clone(),
            args.data.clone(),
            dir.clone(),
            (first, last),
            excluded,
            args.onnxruntime.clone(),
        ))
        .with_context(|| format!("fold {number}: training on {first}..{last}"))?;
        let test_days = DaysArg {
            dirs: fold
                .test
                .iter()
                .map(|day| journal_of(config, &symbol, *day))
                .collect(),
        };
        let report = canary::judge(
            &loaded,
            &dir,
            &Baseline::None,
            &test_days,
            &dir,
            &args.onnxruntime.path,
        )
        .with_context(|| format!("fold {number}: the canary on {}", join(&fold.test)))?;
        results.push(fold_result(number, fold, &dir, &meta, &report)?);
    }

    let spread = Spread::of(&results);
    let report = Report {
        symbol,
        days: args.days,
        train: args.train,
        test: args.test,
        step,
        embargo_ms,
        folds: results,
        spread,
    };
    engine::model::registry::write_json_atomically(&args.out.join(REPORT_JSON), &report)?;
    let html = args.out.join(REPORT_HTML);
    fs::write(&html, render_html(&report))
        .with_context(|| format!("writing {}", html.display()))?;
    print!("{}", table(&report));
    println!(
        "walk-forward report: {} and {}",
        args.out.join(REPORT_JSON).display(),
        html.display()
    );
    Ok(report.spread.exit_code())
}

/// The days of `symbol` in the training set's sidecar, ascending.
fn labeled_days(data: &Path, symbol: &str) -> Result<Vec<Date>> {
    let mut days = TrainingSidecar::beside(data)?
        .partitions
        .iter()
        .filter(|partition| partition.symbol == symbol)
        .map(TrainingPartition::day)
        .collect::<Result<Vec<_>>>()?;
    days.sort();
    days.dedup();
    Ok(days)
}

fn journal_of(config: &engine::config::Config, symbol: &str, day: Date) -> PathBuf {
    config.paths.journal.join(symbol).join(day.to_string())
}

fn join(days: &[Date]) -> String {
    days.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn fold_result(
    number: usize,
    fold: &FoldPlan,
    dir: &Path,
    meta: &train::Meta,
    report: &canary::Report,
) -> Result<FoldResult> {
    let overall = &report.candidate_results.overall;
    let best = report
        .baselines
        .iter()
        .find(|baseline| baseline.name == report.best_baseline)
        .context("the canary named no best baseline")?;
    Ok(FoldResult {
        fold: number,
        trained_on: fold.train.iter().map(ToString::to_string).collect(),
        tested_on: fold.test.iter().map(ToString::to_string).collect(),
        model_id: meta.model_id.clone(),
        dir: dir.to_path_buf(),
        tau_entry: meta.thresholds.tau_entry,
        thresholds_tried: meta.thresholds.thresholds_tried,
        report_fold_expectancy_bps: meta.thresholds.entry.expectancy_bps,
        verdict: report.verdict,
        trades: overall.trades,
        winrate: overall.winrate,
        net_pnl_usd: overall.net_pnl_usd,
        pnl_per_trade_usd: overall.pnl_per_trade_block,
        best_baseline: best.name.clone(),
        minus_best_baseline_usd: best.candidate_minus_baseline_usd,
        failed_gates: report
            .checks
            .iter()
            .filter(|check| !check.passed)
            .map(|check| check.gate.clone())
            .collect(),
        equity_usd: report.candidate_results.equity_usd(),
    })
}

/// The folds as a markdown table, then their spread.
fn table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "walk-forward of {} over {} days: {} training, {} test, step {}",
        report.symbol, report.days, report.train, report.test, report.step
    );
    let _ = writeln!(
        out,
        "| fold | trained on | tested on | tau_entry | report fold bps | trades | net PnL USD | \
         PnL/trade USD [95 %] | minus best baseline USD [95 %] | verdict |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for fold in &report.folds {
        let per_trade = &fold.pnl_per_trade_usd;
        let margin = &fold.minus_best_baseline_usd;
        let _ = writeln!(
            out,
            "| {} | {}..{} | {} | {:.4} | {:+.2} | {} | {:+.2} | {:+.2} [{:+.2}, {:+.2}] | {} {:+.2} \
             [{:+.2}, {:+.2}] | {} |",
            fold.fold,
            fold.trained_on.first().map_or("", String::as_str),
            fold.trained_on.last().map_or("", String::as_str),
            fold.tested_on.join(", "),
            fold.tau_entry,
            fold.report_fold_expectancy_bps,
            fold.trades,
            fold.net_pnl_usd,
            per_trade.estimate,
            per_trade.low,
            per_trade.high,
            fold.best_baseline,
            margin.estimate,
            margin.low,
            margin.high,
            fold.verdict.label()
        );
    }
    let spread = &report.spread;
    let _ = writeln!(
        out,
        "folds: {} passed, {} failed, {} inconclusive of {}; {} profitable; PnL per trade across \
         folds {:+.2} / {:+.2} / {:+.2} USD (lowest / median / highest); all folds: {} trades, \
         {:+.2} USD",
        spread.passed,
        spread.failed,
        spread.inconclusive,
        spread.folds,
        spread.profitable,
        spread.pnl_per_trade_min_usd,
        spread.pnl_per_trade_median_usd,
        spread.pnl_per_trade_max_usd,
        spread.trades,
        spread.net_pnl_usd
    );
    out
}

/// The report as a self-contained page: the table, then each fold's equity curve.
fn render_html(report: &Report) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Walk-forward of {}</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}\
         th{{background:#f4f4f4}}</style></head><body><h1>Walk-forward of {}</h1>",
        canary::escape(&report.symbol),
        canary::escape(&report.symbol)
    );
    page.push_str("<pre>");
    page.push_str(&canary::escape(&table(report)));
    page.push_str("</pre><h2>Equity by fold (net PnL after each closed trade, USD)</h2>");
    let curves: Vec<(String, Vec<f64>)> = report
        .folds
        .iter()
        .map(|fold| {
            let mut curve = vec![0.0];
            curve.extend(&fold.equity_usd);
            (format!("fold {}", fold.fold), curve)
        })
        .collect();
    page.push_str(&canary::equity_svg(&curves));
    page.push_str("<h2>Each fold's canary</h2><ul>");
    for fold in &report.folds {
        let _ = write!(
            page,
            "<li>fold {}: {}/canary_report.html</li>",
            fold.fold,
            canary::escape(&fold.dir.display().to_string())
        );
    }
    page.push_str("</ul></body></html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(count: i8) -> Vec<Date> {
        (1..=count)
            .map(|day| jiff::civil::date(2026, 1, day))
            .collect()
    }

    #[test]
    fn folds_roll_forward_and_test_right_after_their_window() {
        let folds = plan(&days(7), 3, 2, 2).unwrap();
        let show = |dates: &[Date]| dates.iter().map(|d| d.day()).collect::<Vec<_>>();
        let shown: Vec<(Vec<i8>, Vec<i8>)> = folds
            .iter()
            .map(|fold| (show(&fold.train), show(&fold.test)))
            .collect();
        assert_eq!(
            shown,
            [(vec![1, 2, 3], vec![4, 5]), (vec![3, 4, 5], vec![6, 7])]
        );
        assert_eq!(plan(&days(7), 3, 1, 1).unwrap().len(), 4);
        let none = plan(&days(3), 3, 1, 1).unwrap_err();
        assert_eq!(
            none.to_string(),
            "3 days hold no fold of 3 training and 1 test days"
        );
        assert!(plan(&days(3), 1, 0, 1).is_err());
    }

    #[test]
    fn the_spread_counts_verdicts_and_orders_per_trade_results() {
        let interval = |estimate: f64| BootstrapInterval {
            estimate,
            low: estimate - 1.0,
            high: estimate + 1.0,
            blocks: 4,
            observations: 40,
        };
        let fold = |number: usize, verdict: Verdict, net: f64, per_trade: f64| FoldResult {
            fold: number,
            trained_on: Vec::new(),
            tested_on: Vec::new(),
            model_id: String::new(),
            dir: PathBuf::new(),
            tau_entry: 0.5,
            thresholds_tried: 10,
            report_fold_expectancy_bps: 0.0,
            verdict,
            trades: 10,
            winrate: 0.5,
            net_pnl_usd: net,
            pnl_per_trade_usd: interval(per_trade),
            best_baseline: "every".to_owned(),
            minus_best_baseline_usd: interval(0.0),
            failed_gates: Vec::new(),
            equity_usd: Vec::new(),
        };
        let spread = Spread::of(&[
            fold(1, Verdict::Pass, 30.0, 3.0),
            fold(2, Verdict::Fail, -20.0, -2.0),
            fold(3, Verdict::Inconclusive, 10.0, 1.0),
        ]);
        assert_eq!(
            spread,
            Spread {
                folds: 3,
                passed: 1,
                failed: 1,
                inconclusive: 1,
                profitable: 2,
                pnl_per_trade_min_usd: -2.0,
                pnl_per_trade_median_usd: 1.0,
                pnl_per_trade_max_usd: 3.0,
                trades: 30,
                net_pnl_usd: 20.0,
            }
        );
        assert_eq!(spread.exit_code(), ExitCode::from(1));
    }
}

//! `toolkit canary`: a candidate model judged on market days it was not trained on.
//!
//! Each held-out day (by default every journal under `paths.holdout/SYMBOL/`) is replayed
//! through the engine's own run (the code of `engine run --feed replay`: hot loop at fast pace,
//! supervisor in lockstep, paper venue) with the candidate, with the registry's model to
//! compare with, and with the trivial baselines a model must beat, all on the same seeds: the
//! candidate's scores with every candidate entered (`every`: what the trigger alone earns),
//! with `canary.random_baselines` seeds of random approvals at the candidate's own approval
//! rate (`random-N`: a model without skill), and with entries on the side of the last 30 s of
//! mid return (`momentum`, the engine's `mid_return_30s_bps` feature). The decision logs are
//! read back ([`replay`]). Per regime and overall it reports closed trades, winrate with its
//! Wilson interval, average markouts of the entry fills at 1/5/30 s with the gate horizon's
//! block-bootstrap interval, the entry fill rate, net PnL after fees, PnL per trade with its
//! block-bootstrap interval and the max drawdown of the closed-trade equity curve.
//!
//! On simulated days with a planted edge (each with the simulator's answer key,
//! `latent.csv`), an oracle runs too: the same candidates, approved when what the informed
//! traders knew says the fair price will move their way by at least the round trip's fees
//! within the label's horizon. It is the ceiling, not a baseline: the report gives the share
//! of the oracle's net PnL the candidate earned.
//!
//! The candidate passes when every gate of `canary.gates` holds over all days together; the
//! gates on PnL per trade, markout and the difference against the best baseline (the one with
//! the most net PnL, paired block by block) read the lower end of a 95 % block bootstrap over
//! `canary.gates.block_length` blocks of market time ([`crate::estimate`]), and the winrate
//! must reach the round trip's break-even. Below `canary.gates.min_trades` closed trades, or
//! below what `canary.gates.detectable_pnl_usd` needs for 80 % power, the result is
//! inconclusive: too little to judge, never a pass. The registry's model is compared, not
//! gated: a two-proportion test of the winrates, inconclusive below
//! `rollout_guard.min_samples` trades a side.
//!
//! Writes `canary_report.json` and a self-contained `canary_report.html` ([`html`]), prints a
//! table, and exits 0 on a pass, 1 on a failed gate and 2 when inconclusive. A day the
//! candidate was trained on, or any day not after its training window, is refused: the report
//! says which days trained it and which judged it, and how often each of those was looked at
//! before ([`looks`]).

pub(crate) mod html;
pub(crate) mod looks;
pub(crate) use html::{equity_svg, escape};
pub(crate) mod replay;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use engine::cli::{ConfigArgs, OnnxRuntimeArg};
use engine::config::{CanaryGates, Config, Loaded};
use engine::model::registry::{ModelInfo, Slot, read_slot};
use engine::pipeline::{EntryRule, Foresight};
use serde::{Deserialize, Serialize};

use crate::estimate::{
    Block, BootstrapInterval, MeanInterval, Statistic, Z95, block_bootstrap, break_even_winrate,
    spearman, trades_for_power, wilson,
};
use crate::latent::LatentTrack;
use crate::synth::{SESSION_FILE, Session};
use crate::train::{META_FILE, Meta};
use looks::EarlierLooks;
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
    /// The average markout at the gate's horizon with its block-bootstrap interval, bps.
    pub(crate) gate_markout_bps: BootstrapInterval,
    /// Orders sent, fills, fills per order.
    pub(crate) orders: u64,
    pub(crate) fills: u64,
    pub(crate) fill_rate: f64,
    /// Entry orders the venue accepted, those that filled, and their ratio.
    pub(crate) entries: u64,
    pub(crate) entry_fills: u64,
    pub(crate) entry_fill_rate: f64,
    /// Candidates decided, and the share the entry rule approved.
    pub(crate) decisions: u64,
    pub(crate) approval_rate: f64,
    /// Net PnL of the closed trades after fees, USD.
    pub(crate) net_pnl_usd: f64,
    /// PnL per trade, USD, with its 95 % interval as if trades were independent.
    pub(crate) pnl_per_trade_usd: MeanInterval,
    /// PnL per trade, USD, with its block-bootstrap interval (the one the gate reads).
    pub(crate) pnl_per_trade_block: BootstrapInterval,
    /// Largest fall of the closed-trade equity curve from a peak, USD.
    pub(crate) max_drawdown_usd: f64,
    /// Candidates the supervisor's halts held back.
    pub(crate) halted: u64,
}

/// The columns of a summary, as printed and in the HTML report ([`Summary::cells`]).
pub(crate) const SUMMARY_COLUMNS: [&str; 12] = [
    "trades",
    "approved",
    "winrate [95 %]",
    "markout 1 s (bps)",
    "5 s",
    "30 s",
    "gate markout [block 95 %]",
    "entry fill rate",
    "net PnL (USD)",
    "PnL per trade [block 95 %] (USD)",
    "max drawdown (USD)",
    "halted",
];

impl Summary {
    /// The summary's cells, in the order of [`SUMMARY_COLUMNS`].
    pub(crate) fn cells(&self) -> [String; SUMMARY_COLUMNS.len()] {
        let interval = |interval: &BootstrapInterval| {
            format!(
                "{:+.2} [{:+.2}, {:+.2}]",
                interval.estimate, interval.low, interval.high
            )
        };
        [
            self.trades.to_string(),
            format!("{:.3}", self.approval_rate),
            format!(
                "{:.3} [{:.3}, {:.3}]",
                self.winrate, self.winrate_interval.0, self.winrate_interval.1
            ),
            format!("{:+.2}", self.markout_bps[0]),
            format!("{:+.2}", self.markout_bps[1]),
            format!("{:+.2}", self.markout_bps[2]),
            interval(&self.gate_markout_bps),
            format!("{:.3}", self.entry_fill_rate),
            format!("{:+.2}", self.net_pnl_usd),
            interval(&self.pnl_per_trade_block),
            format!("{:.2}", self.max_drawdown_usd),
            self.halted.to_string(),
        ]
    }

    /// The summary of `runs`, taken in order; intervals over blocks of `blocking`.
    pub(crate) fn of<'a>(
        runs: impl IntoIterator<Item = &'a DayRun>,
        blocking: Blocking,
    ) -> Summary {
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
                .flat_map(|run| run.markouts_bps[horizon].iter().map(|markout| markout.bps))
                .collect();
            MeanInterval::of(&values).mean
        });
        let pnl_blocks = blocking.blocks(&runs, |run| {
            run.trades
                .iter()
                .map(|trade| (trade.ts_ms, trade.pnl_usd))
                .collect()
        });
        let markout_blocks = blocking.blocks(&runs, |run| {
            run.markouts_bps[blocking.horizon]
                .iter()
                .map(|markout| (markout.ts_ms, markout.bps))
                .collect()
        });
        let entries: Vec<_> = runs.iter().flat_map(|run| &run.entries).collect();
        let entry_fills = entries.iter().filter(|entry| entry.filled).count() as u64;
        let decisions: u64 = runs.iter().map(|run| run.decisions).sum();
        let refused: u64 = runs.iter().map(|run| run.refused).sum();
        let (mut equity, mut peak, mut drawdown) = (0.0_f64, 0.0_f64, 0.0_f64);
        for pnl in &pnls {
            equity += pnl;
            peak = peak.max(equity);
            drawdown = drawdown.max(peak - equity);
        }
        Summary {
            trades,
            wins,
            winrate: ratio(wins, trades),
            winrate_interval: wilson(wins, trades),
            markout_bps,
            orders,
            fills,
            fill_rate: ratio(fills, orders),
            gate_markout_bps: block_bootstrap(&markout_blocks, Statistic::Ratio, BOOTSTRAP_SEED),
            entries: entries.len() as u64,
            entry_fills,
            entry_fill_rate: ratio(entry_fills, entries.len() as u64),
            decisions,
            approval_rate: ratio(decisions - refused.min(decisions), decisions),
            net_pnl_usd: pnls.iter().sum(),
            pnl_per_trade_usd: MeanInterval::of(&pnls),
            pnl_per_trade_block: block_bootstrap(&pnl_blocks, Statistic::Ratio, BOOTSTRAP_SEED),
            max_drawdown_usd: drawdown,
            halted: runs.iter().map(|run| run.halted).sum(),
        }
    }
}

/// Seed of every block bootstrap of the canary (a seeded run reports the same intervals).
const BOOTSTRAP_SEED: u64 = 0xB10C;

/// `part / whole`, 0 when there is no whole.
fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// How observations are cut into blocks of market time for the intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Blocking {
    /// Block length, ms.
    pub(crate) block_ms: u64,
    /// The markout horizon the gate reads (index into the 1/5/30 s horizons).
    pub(crate) horizon: usize,
}

impl Blocking {
    /// From `canary.gates`.
    pub(crate) fn of(gates: &CanaryGates) -> Blocking {
        Blocking {
            block_ms: (gates.block_length.get().as_millis() as u64).max(1),
            horizon: engine::runtime::hot::markout_horizon_index(gates),
        }
    }

    /// Every block each run spans (empty ones too: the market time in which nothing
    /// happened is part of what is resampled), with the sum and count of `values` in it.
    fn blocks(&self, runs: &[&DayRun], values: impl Fn(&DayRun) -> Vec<(u64, f64)>) -> Vec<Block> {
        runs.iter()
            .flat_map(|run| self.span_blocks(run.start_ms, run.end_ms, values(run)))
            .collect()
    }

    /// The blocks from `start_ms` to `end_ms`, with the sum and count of `values` (time,
    /// value) in each; a value outside the span counts in its nearest block.
    fn span_blocks(
        &self,
        start_ms: u64,
        end_ms: u64,
        values: impl IntoIterator<Item = (u64, f64)>,
    ) -> Vec<Block> {
        let first = start_ms / self.block_ms;
        let mut blocks = vec![Block::default(); (end_ms / self.block_ms - first + 1) as usize];
        for (ts_ms, value) in values {
            let block =
                &mut blocks[(ts_ms.clamp(start_ms, end_ms) / self.block_ms - first) as usize];
            block.sum += value;
            block.count += 1;
        }
        blocks
    }

    /// The candidate's net PnL minus `baseline`'s over all the days, paired block by block
    /// (the same days in the same order), with its block-bootstrap interval.
    fn difference(&self, candidate: &Results, baseline: &Results) -> BootstrapInterval {
        let mut blocks = Vec::new();
        for (ours, theirs) in candidate.days.iter().zip(&baseline.days) {
            let (start_ms, end_ms) = (
                ours.start_ms.min(theirs.start_ms),
                ours.end_ms.max(theirs.end_ms),
            );
            let pnl = |run: &DayRun| {
                self.span_blocks(
                    start_ms,
                    end_ms,
                    run.trades.iter().map(|trade| (trade.ts_ms, trade.pnl_usd)),
                )
            };
            blocks.extend(
                pnl(ours)
                    .iter()
                    .zip(&pnl(theirs))
                    .map(|(mine, other)| Block {
                        sum: mine.sum - other.sum,
                        count: mine.count + other.count,
                    }),
            );
        }
        block_bootstrap(&blocks, Statistic::Total, BOOTSTRAP_SEED)
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
    /// Net PnL after each closed trade of every day in turn, cumulated, USD.
    pub(crate) fn equity_usd(&self) -> Vec<f64> {
        let mut equity = 0.0;
        self.days
            .iter()
            .flat_map(|day| &day.trades)
            .map(|trade| {
                equity += trade.pnl_usd;
                equity
            })
            .collect()
    }

    /// Each regime, then `all`.
    pub(crate) fn slices(&self) -> impl Iterator<Item = (&str, &Summary)> {
        self.by_regime
            .iter()
            .map(|(regime, summary)| (regime.as_str(), summary))
            .chain([("all", &self.overall)])
    }

    fn of(days: Vec<DayRun>, blocking: Blocking) -> Results {
        let mut regimes: BTreeMap<String, Vec<&DayRun>> = BTreeMap::new();
        for day in &days {
            regimes.entry(day.regime.clone()).or_default().push(day);
        }
        Results {
            overall: Summary::of(&days, blocking),
            by_regime: regimes
                .into_iter()
                .map(|(regime, runs)| (regime, Summary::of(runs, blocking)))
                .collect(),
            days,
        }
    }

    /// The regime with the least net PnL per trade among those that traded, when there are
    /// several regimes.
    pub(crate) fn weakest_regime(&self) -> Option<(&str, &Summary)> {
        if self.by_regime.len() < 2 {
            return None;
        }
        self.by_regime
            .iter()
            .filter(|(_, summary)| summary.trades > 0)
            .min_by(|a, b| {
                a.1.pnl_per_trade_usd
                    .mean
                    .total_cmp(&b.1.pnl_per_trade_usd.mean)
            })
            .map(|(regime, summary)| (regime.as_str(), summary))
    }
}

/// One gate as judged: `value >= bar`, or `value > bar` for a lower bound (`strict`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GateCheck {
    pub(crate) gate: String,
    pub(crate) value: f64,
    pub(crate) bar: f64,
    pub(crate) strict: bool,
    pub(crate) passed: bool,
}

impl GateCheck {
    fn new(gate: &str, value: f64, bar: f64, strict: bool) -> GateCheck {
        GateCheck {
            gate: gate.to_owned(),
            value,
            bar,
            strict,
            passed: if strict { value > bar } else { value >= bar },
        }
    }
}

/// A trivial entry rule replayed beside the candidate on the same days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BaselineRun {
    /// `every`, `random-N` or `momentum`.
    pub(crate) name: String,
    /// What it enters.
    pub(crate) rule: String,
    pub(crate) results: Results,
    /// The candidate's net PnL minus this baseline's, USD, paired by block.
    pub(crate) candidate_minus_baseline_usd: BootstrapInterval,
}

/// The ceiling: what a judge that knew the simulator's latent state earned from the same
/// candidates, and the candidate's share of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OracleRun {
    /// What it enters.
    pub(crate) rule: String,
    pub(crate) results: Results,
    /// The candidate's net PnL over the oracle's, when the oracle earned anything.
    pub(crate) captured_share: Option<f64>,
    /// Spearman's rank correlation of the candidate's score with the move the informed
    /// expected in each candidate's favour, over every candidate it decided: whether the
    /// score orders candidates as the latent state does.
    pub(crate) score_correlation: Option<f64>,
}

impl OracleRun {
    /// What the candidate earned of it, and how its score follows the latent state, in words.
    pub(crate) fn findings(&self) -> String {
        format!(
            "the candidate earned {}; its score's rank correlation with the move the informed \
             expected: {}",
            self.captured_share.map_or_else(
                || "- (the oracle earned nothing)".to_owned(),
                |share| format!("{:.1} % of it", 100.0 * share)
            ),
            self.score_correlation
                .map_or_else(|| "-".to_owned(), |rho| format!("{rho:+.3}"))
        )
    }
}

/// The oracle's rule and a judge per held-out day, when every day has the simulator's answer
/// key (`latent.csv`); `None` otherwise (recorded days, or days simulated without an edge).
fn oracle_judges(
    config: &Config,
    instrument: feed::Instrument,
    days: &[Day],
) -> Result<Option<OracleJudges>> {
    let horizon = config.labeling.fill_horizon.get() + config.labeling.hold_horizon.get();
    let horizon_ms = u64::try_from(horizon.as_millis()).unwrap_or(u64::MAX);
    let fees_bps = 2.0 * instrument.maker_fee_rate.to_f64() * 1e4;
    let mut tracks = Vec::with_capacity(days.len());
    for day in days {
        let Some(track) = LatentTrack::load(&day.journal)? else {
            return Ok(None);
        };
        tracks.push((day.journal.clone(), std::sync::Arc::new(track)));
    }
    if tracks.is_empty() {
        return Ok(None);
    }
    let rule = format!(
        "candidates the simulator's informed traders expected to gain at least the {fees_bps:.1} bps round trip within {} (latent.csv: the trend and any step announced)",
        humantime::format_duration(horizon)
    );
    Ok(Some(OracleJudges {
        rule,
        horizon_ms,
        fees_bps,
        tracks,
    }))
}

/// The oracle's rule and each held-out day's answer key.
struct OracleJudges {
    rule: String,
    /// The label's horizon (entry working, then held), and the round trip's fees.
    horizon_ms: u64,
    fees_bps: f64,
    tracks: Vec<(PathBuf, std::sync::Arc<LatentTrack>)>,
}

impl OracleJudges {
    /// The answer key of the day whose journal is `journal`.
    fn track(&self, journal: &Path) -> Option<&std::sync::Arc<LatentTrack>> {
        self.tracks
            .iter()
            .find(|(day, _)| day == journal)
            .map(|(_, track)| track)
    }

    /// The oracle of `day`: what the informed expect within the horizon pays the fees.
    fn judge(&self, day: &Day) -> EntryRule {
        let Some(track) = self.track(&day.journal).cloned() else {
            return EntryRule::Every;
        };
        let (horizon_ms, fees_bps) = (self.horizon_ms, self.fees_bps);
        EntryRule::Foresight(Foresight::new(move |candidate| {
            track.expected_move_bps(candidate.ts_ms, horizon_ms, candidate.side) >= fees_bps
        }))
    }

    /// Spearman's correlation of the scores of `results` with the expected move in each
    /// candidate's favour.
    fn score_correlation(&self, results: &Results) -> Option<f64> {
        let (mut scores, mut moves) = (Vec::new(), Vec::new());
        for run in &results.days {
            let Some(track) = self.track(&run.journal) else {
                continue;
            };
            for scored in &run.scored {
                scores.push(scored.score);
                moves.push(track.expected_move_bps(scored.ts_ms, self.horizon_ms, scored.side));
            }
        }
        spearman(&scores, &moves)
    }
}

/// How many trades the canary needs, and why.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Power {
    /// Standard deviation of one trade's net PnL, USD.
    pub(crate) sd_usd: f64,
    /// Variance of the mean per trade by block bootstrap over the one of independent trades.
    pub(crate) design_effect: f64,
    /// The edge per trade to be seen with 80 % power (`canary.gates.detectable_pnl_usd`).
    pub(crate) detectable_usd: f64,
    /// Trades that takes, and the floor `canary.gates.min_trades`: the larger is required.
    pub(crate) trades_for_power: u64,
    pub(crate) required_trades: u64,
}

impl Power {
    fn of(summary: &Summary, gates: &CanaryGates) -> Power {
        let interval = &summary.pnl_per_trade_usd;
        let n = interval.n.max(1) as f64;
        let independent_se = (interval.high - interval.low) / (2.0 * Z95);
        let sd_usd = independent_se * n.sqrt();
        let block = &summary.pnl_per_trade_block;
        let block_se = (block.high - block.low) / (2.0 * Z95);
        let design_effect = if independent_se > 0.0 {
            (block_se / independent_se).powi(2)
        } else {
            1.0
        };
        let needed = if interval.n < 2 {
            u64::MAX
        } else {
            trades_for_power(sd_usd, gates.detectable_pnl_usd, design_effect)
        };
        Power {
            sd_usd,
            design_effect,
            detectable_usd: gates.detectable_pnl_usd,
            trades_for_power: needed,
            required_trades: needed.max(u64::from(gates.min_trades)),
        }
    }
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
    /// The trivial baselines, and the one with the most net PnL (the one the gate reads).
    pub(crate) baselines: Vec<BaselineRun>,
    pub(crate) best_baseline: String,
    /// The winrate at which a round trip breaks even: (stop + fees) / (take-profit + stop).
    pub(crate) break_even_winrate: f64,
    pub(crate) power: Power,
    pub(crate) checks: Vec<GateCheck>,
    pub(crate) verdict: Verdict,
    /// How often each held-out day judged a model before this canary ([`looks`]).
    #[serde(default)]
    pub(crate) earlier_looks: Vec<EarlierLooks>,
    /// What an oracle earned on the same days, when every one has the simulator's answer key.
    #[serde(default)]
    pub(crate) oracle: Option<OracleRun>,
}

impl Report {
    /// The candidate's results, the registry model's if there is one, each trivial
    /// baseline's, then the oracle's if it ran.
    pub(crate) fn models(&self) -> Vec<(&str, &Results)> {
        let mut models = vec![("candidate", &self.candidate_results)];
        if let Some(baseline) = &self.baseline_results {
            models.push(("baseline", baseline));
        }
        models.extend(
            self.baselines
                .iter()
                .map(|baseline| (baseline.name.as_str(), &baseline.results)),
        );
        if let Some(oracle) = &self.oracle {
            models.push(("oracle", &oracle.results));
        }
        models
    }

    /// How much the candidate's entry markouts cluster: the variance of their mean by block
    /// bootstrap over the one of independent fills (1 when it cannot be told).
    pub(crate) fn candidate_markout_design_effect(&self) -> f64 {
        let independent = MeanInterval::of(&self.candidate_entry_markouts_bps());
        let block = &self.candidate_results.overall.gate_markout_bps;
        let (independent_se, block_se) =
            (independent.high - independent.low, block.high - block.low);
        if independent_se > 0.0 && block_se.is_finite() {
            (block_se / independent_se).powi(2)
        } else {
            1.0
        }
    }

    /// The markout of each of the candidate's entry fills at the gates' horizon, bps, day
    /// by day in the order they came due.
    pub(crate) fn candidate_entry_markouts_bps(&self) -> Vec<f64> {
        let horizon = Blocking::of(&self.gates).horizon;
        self.candidate_results
            .days
            .iter()
            .flat_map(|day| day.markouts_bps[horizon].iter().map(|markout| markout.bps))
            .collect()
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

/// The symbol replays trade (the first of `exchange.symbols`): its name, as a symbol, and its
/// rules.
pub(crate) fn traded(loaded: &Loaded) -> Result<(String, feed::Symbol, feed::Instrument)> {
    let name = loaded
        .config
        .exchange
        .symbols
        .first()
        .context("no exchange.symbols")?;
    let instrument = *loaded
        .symbols
        .symbols
        .get(name)
        .with_context(|| format!("{name} has no entry in symbols.yml"))?;
    let symbol = feed::Symbol::new(name).context("symbol too long")?;
    Ok((name.clone(), symbol, instrument))
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
    let (symbol_name, symbol, instrument) = traded(loaded)?;
    let symbol_name = symbol_name.as_str();
    let meta = Meta::read(&candidate.join(META_FILE))?;
    let trained_on: Vec<String> = meta
        .data
        .source
        .partitions
        .iter()
        .map(|partition| format!("{} {}", partition.symbol, partition.date))
        .collect();
    let last_trained = meta
        .data
        .source
        .partitions
        .iter()
        .map(|partition| partition.day().context(META_FILE))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .max();
    let days = held_out_days(config, symbol_name, days)?;
    let mut day_ids = Vec::with_capacity(days.len());
    for day in &days {
        let name = format!("{symbol_name} {}", day.date);
        if trained_on.contains(&name) {
            bail!(
                "{} ({name}) trained {}: the canary judges on held-out days only",
                day.journal.display(),
                meta.model_id
            );
        }
        let date: jiff::civil::Date = day
            .date
            .parse()
            .with_context(|| format!("{} names no day (YYYY-MM-DD)", day.journal.display()))?;
        if let Some(last) = last_trained.filter(|&last| date <= last) {
            bail!(
                "{} ({name}) is not after {}'s training window, which ends {last}: the canary \
                 judges on later days only, as the model would meet them live",
                day.journal.display(),
                meta.model_id
            );
        }
        day_ids.push(looks::DayId::of(name, &day.journal)?);
    }
    let looks_record = config.paths.data.join("canary").join(looks::LOOKS_FILE);
    let earlier_looks = looks::earlier(&looks_record, &day_ids)?;
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
    let gates = config.canary.gates.clone();
    let blocking = Blocking::of(&gates);
    let replay_all =
        |role: &str, model: &ModelRef, rule_of: &dyn Fn(&Day) -> EntryRule| -> Result<Results> {
            let mut runs = Vec::new();
            for day in &days {
                let rule = rule_of(day);
                eprintln!(
                    "canary: {role} {} on {} ({})",
                    model.id, day.date, day.regime
                );
                runs.push(replay::replay(
                    config,
                    symbol,
                    instrument,
                    &model.dir,
                    rule,
                    day,
                    &runs_dir.join(role).join(&day.date),
                    onnxruntime,
                )?);
            }
            Ok(Results::of(runs, blocking))
        };
    let candidate_results = replay_all("candidate", &candidate_ref, &|_| EntryRule::Model)?;
    let baseline_results = baseline_ref
        .as_ref()
        .map(|model| replay_all("baseline", model, &|_| EntryRule::Model))
        .transpose()?;
    let rate = candidate_results.overall.approval_rate;
    let mut rules = vec![(
        "every".to_owned(),
        "every candidate (a constant score)".to_owned(),
        EntryRule::Every,
    )];
    rules.extend((1..=u64::from(config.canary.random_baselines)).map(|seed| {
        (
            format!("random-{seed}"),
            format!("each candidate with probability {rate:.4}, the candidate's approval rate (seed {seed})"),
            EntryRule::Random { rate, seed },
        )
    }));
    rules.push((
        "momentum".to_owned(),
        "candidates on the side of the last 30 s of mid return (mid_return_30s_bps)".to_owned(),
        EntryRule::Momentum,
    ));
    let mut baselines = Vec::new();
    for (name, rule_text, rule) in rules {
        let results = replay_all(&name, &candidate_ref, &|_| rule.clone())?;
        baselines.push(BaselineRun {
            candidate_minus_baseline_usd: blocking.difference(&candidate_results, &results),
            name,
            rule: rule_text,
            results,
        });
    }
    let best = baselines
        .iter()
        .max_by(|a, b| {
            a.results
                .overall
                .net_pnl_usd
                .total_cmp(&b.results.overall.net_pnl_usd)
        })
        .context("no baseline ran")?;
    let oracle = match oracle_judges(config, instrument, &days)? {
        Some(judges) => {
            let results = replay_all("oracle", &candidate_ref, &|day| judges.judge(day))?;
            let earned = results.overall.net_pnl_usd;
            Some(OracleRun {
                rule: judges.rule.clone(),
                captured_share: (earned > 0.0)
                    .then(|| candidate_results.overall.net_pnl_usd / earned),
                score_correlation: judges.score_correlation(&candidate_results),
                results,
            })
        }
        None => None,
    };
    let break_even = break_even_winrate(
        config.labeling.take_profit_pct,
        config.risk.assumed_sl_pct,
        2.0 * instrument.maker_fee_rate.to_f64(),
    );
    let power = Power::of(&candidate_results.overall, &gates);
    let checks = gate_checks(&gates, &candidate_results.overall, break_even, best);
    let verdict = if candidate_results.overall.trades < power.required_trades {
        Verdict::Inconclusive
    } else if checks.iter().all(|check| check.passed) {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    let best_baseline = best.name.clone();
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
        baselines,
        best_baseline,
        break_even_winrate: break_even,
        power,
        checks,
        verdict,
        earlier_looks,
        oracle,
    };
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    engine::model::registry::write_json_atomically(&out.join(REPORT_JSON), &report)?;
    let html_path = out.join(REPORT_HTML);
    fs::write(&html_path, html::render(&report))
        .with_context(|| format!("writing {}", html_path.display()))?;
    looks::record(
        &looks_record,
        &day_ids,
        &report.candidate.id,
        &jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
    )?;
    print!("{}", table(&report));
    println!(
        "canary report: {} and {}",
        out.join(REPORT_JSON).display(),
        html_path.display()
    );
    Ok(report)
}

/// The held-out days: the directories given, or every day under `paths.holdout/SYMBOL/`.
pub(crate) fn held_out_days(config: &Config, symbol: &str, days: &DaysArg) -> Result<Vec<Day>> {
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
            if let Some(imported) = crate::history::ImportedDay::read(&journal)? {
                imported.check_depth(&journal, config.engine.book_depth)?;
            }
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

/// Every gate of `gates` against `overall`, the round trip's break-even winrate and the best
/// baseline.
fn gate_checks(
    gates: &CanaryGates,
    overall: &Summary,
    break_even: f64,
    best: &BaselineRun,
) -> Vec<GateCheck> {
    vec![
        GateCheck::new(
            "winrate (and break-even)",
            overall.winrate,
            gates.winrate_min.max(break_even),
            false,
        ),
        GateCheck::new(
            &format!("markout at {}, lower bound", gates.markout_horizon),
            overall.gate_markout_bps.low,
            gates.markout_min_bps,
            true,
        ),
        GateCheck::new(
            "entry fill rate",
            overall.entry_fill_rate,
            gates.fill_rate_min,
            false,
        ),
        GateCheck::new(
            "net PnL (USD)",
            overall.net_pnl_usd,
            gates.net_pnl_min_usd,
            false,
        ),
        GateCheck::new(
            "PnL per trade, lower bound (USD)",
            overall.pnl_per_trade_block.low,
            gates.pnl_per_trade_min_usd,
            true,
        ),
        GateCheck::new(
            &format!("beats {}, lower bound (USD)", best.name),
            best.candidate_minus_baseline_usd.low,
            gates.beat_baseline_min_usd,
            true,
        ),
    ]
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
    for line in looks::describe(&report.earlier_looks) {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "| model | regime | {} |", SUMMARY_COLUMNS.join(" | "));
    let _ = writeln!(out, "|---|---|{}", "---|".repeat(SUMMARY_COLUMNS.len()));
    for (role, results) in report.models() {
        for (regime, summary) in results.slices() {
            // The baselines' and the oracle's overall rows only: the candidate's regimes are
            // what matter.
            if regime != "all"
                && (role == "oracle" || report.baselines.iter().any(|b| b.name == role))
            {
                continue;
            }
            let _ = writeln!(
                out,
                "| {role} | {regime} | {} |",
                summary.cells().join(" | ")
            );
        }
    }
    if let Some((regime, summary)) = report.candidate_results.weakest_regime() {
        let _ = writeln!(
            out,
            "weakest regime: {regime}, {} trades, PnL per trade {:+.2} USD [{:+.2}, {:+.2}]",
            summary.trades,
            summary.pnl_per_trade_block.estimate,
            summary.pnl_per_trade_block.low,
            summary.pnl_per_trade_block.high
        );
    }
    for baseline in &report.baselines {
        let difference = &baseline.candidate_minus_baseline_usd;
        let _ = writeln!(
            out,
            "candidate - {:<10} {:+10.2} USD [{:+.2}, {:+.2}] over {} blocks{}",
            baseline.name,
            difference.estimate,
            difference.low,
            difference.high,
            difference.blocks,
            if baseline.name == report.best_baseline {
                " (the best baseline)"
            } else {
                ""
            }
        );
    }
    if let Some(oracle) = &report.oracle {
        let overall = &oracle.results.overall;
        let _ = writeln!(
            out,
            "oracle (the simulator's answer key): {} trades, {:+.2} USD; {}",
            overall.trades,
            overall.net_pnl_usd,
            oracle.findings()
        );
    }
    let power = &report.power;
    let _ = writeln!(
        out,
        "break-even winrate {:.3}; trades needed {} (80 % power for {:.2} USD per trade: sd {:.2} USD, design effect {:.2}; floor {})",
        report.break_even_winrate,
        if power.trades_for_power == u64::MAX {
            "all".to_owned()
        } else {
            power.trades_for_power.to_string()
        },
        power.detectable_usd,
        power.sd_usd,
        power.design_effect,
        report.gates.min_trades
    );
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
            "gate {:<34} {:>10.4} {:<2} {:<10.4} {}",
            check.gate,
            check.value,
            if check.strict { ">" } else { ">=" },
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
                " ({trades} closed trades, {} needed to judge)",
                if report.power.required_trades == u64::MAX {
                    "more".to_owned()
                } else {
                    report.power.required_trades.to_string()
                }
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
    use replay::{Entry, Markout, Trade};

    /// Minutes as ms.
    const MIN: u64 = 60_000;

    /// A day from 0 to 60 minutes with `pnls` closed a minute apart from minute 1.
    fn day(regime: &str, pnls: &[f64], fills: u64, orders: u64) -> DayRun {
        let at = |ts_ms: u64, bps: f64| Markout { ts_ms, bps };
        DayRun {
            date: "2026-01-04".to_owned(),
            regime: regime.to_owned(),
            journal: PathBuf::new(),
            orders,
            fills,
            start_ms: 0,
            end_ms: 60 * MIN,
            decisions: 10,
            refused: 6,
            trades: pnls
                .iter()
                .enumerate()
                .map(|(index, &pnl_usd)| Trade {
                    ts_ms: (index as u64 + 1) * MIN,
                    pnl_usd,
                })
                .collect(),
            markouts_bps: [
                vec![at(MIN, 1.0), at(2 * MIN, -3.0)],
                vec![at(MIN, 2.0)],
                vec![at(MIN, -4.0), at(40 * MIN, 0.0)],
            ],
            entries: [true, false, false, true]
                .into_iter()
                .map(|filled| Entry {
                    queue_ahead: 0.0,
                    filled,
                })
                .collect(),
            halted: 2,
            scored: Vec::new(),
            log: PathBuf::new(),
            log_sha256: String::new(),
        }
    }

    /// 15-minute blocks, the markout gate at 30 s.
    fn blocking() -> Blocking {
        Blocking {
            block_ms: 15 * MIN,
            horizon: 2,
        }
    }

    #[test]
    fn blocking_follows_the_gates() {
        assert_eq!(
            Blocking::of(&CanaryGates::default()),
            Blocking {
                block_ms: 5 * MIN,
                horizon: 2
            }
        );
    }

    #[test]
    fn a_summary_counts_trades_markouts_entries_and_the_drawdown() {
        let runs = [
            day("normal", &[5.0, -2.0, -4.0], 6, 10),
            day("event", &[3.0], 2, 10),
        ];
        let summary = Summary::of(&runs, blocking());
        assert_eq!((summary.trades, summary.wins), (4, 2));
        assert_eq!(summary.winrate, 0.5);
        assert_eq!(summary.markout_bps, [-1.0, 2.0, -2.0]);
        assert_eq!(
            (summary.fills, summary.orders, summary.fill_rate),
            (8, 20, 0.4)
        );
        // Two of four entries filled on each day; 4 of 10 candidates approved.
        assert_eq!(
            (
                summary.entries,
                summary.entry_fills,
                summary.entry_fill_rate
            ),
            (8, 4, 0.5)
        );
        assert_eq!((summary.decisions, summary.approval_rate), (20, 0.4));
        assert_eq!(summary.net_pnl_usd, 2.0);
        // Equity 5, 3, -1, 2: the fall from 5 to -1.
        assert_eq!(summary.max_drawdown_usd, 6.0);
        assert_eq!(summary.pnl_per_trade_usd.mean, 0.5);
        assert_eq!(summary.halted, 4);
        // Two days of five 15-minute blocks (0-60 minutes, the 60th minute in a fifth).
        let block = summary.pnl_per_trade_block;
        assert_eq!(
            (block.estimate, block.blocks, block.observations),
            (0.5, 10, 4)
        );
        // The seeded bootstrap's interval, exactly (it holds the estimate).
        assert_eq!(
            format!("{:.4} {:.4}", block.low, block.high),
            "-0.3333 3.0000"
        );
        let markout = summary.gate_markout_bps;
        assert_eq!((markout.estimate, markout.observations), (-2.0, 4));
    }

    #[test]
    fn the_difference_against_a_baseline_is_paired_block_by_block() {
        let results = |pnls: &[f64]| Results::of(vec![day("normal", pnls, 1, 1)], blocking());
        // Every trade falls in the first of five blocks.
        let candidate = results(&[2.0, 2.0, 2.0, 2.0]);
        let baseline = results(&[1.0, -1.0]);
        let difference = blocking().difference(&candidate, &baseline);
        assert_eq!(
            (
                difference.estimate,
                difference.blocks,
                difference.observations
            ),
            (8.0, 5, 6)
        );
        // Every block pays the candidate at least as well: the resampled totals are all >= 0.
        assert_eq!(
            format!("{:.4} {:.4}", difference.low, difference.high),
            "0.0000 24.0000"
        );
        let against_itself = blocking().difference(&candidate, &candidate);
        assert_eq!(
            (
                against_itself.low,
                against_itself.estimate,
                against_itself.high
            ),
            (0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn gates_read_lower_bounds_the_break_even_and_the_best_baseline() {
        let gates = CanaryGates::default();
        let losing = Summary::of(&[day("normal", &[5.0, -2.0, -4.0], 6, 10)], blocking());
        let every = Results::of(vec![day("normal", &[-9.0], 1, 1)], blocking());
        let best = BaselineRun {
            name: "every".to_owned(),
            rule: String::new(),
            candidate_minus_baseline_usd: blocking().difference(
                &Results::of(vec![day("normal", &[5.0, -2.0, -4.0], 6, 10)], blocking()),
                &every,
            ),
            results: every,
        };
        let checks = gate_checks(&gates, &losing, 0.85, &best);
        let verdicts: Vec<(&str, f64, bool)> = checks
            .iter()
            .map(|check| (check.gate.as_str(), check.bar, check.passed))
            .collect();
        // Winrate 1/3 under the 0.85 break-even; markout -4 and 0 bps; half the entries filled;
        // net PnL -1; per trade -1/3; 8 USD better than entering every candidate, but all of it
        // in one block of five: a resample without that block (one in three) gains nothing, so
        // the lower bound is 0, not above it.
        assert_eq!(
            verdicts,
            [
                ("winrate (and break-even)", 0.85, false),
                ("markout at 30s, lower bound", 0.0, false),
                ("entry fill rate", 0.2, true),
                ("net PnL (USD)", 0.0, false),
                ("PnL per trade, lower bound (USD)", 0.0, false),
                ("beats every, lower bound (USD)", 0.0, false),
            ]
        );
        assert_eq!(checks[5].value, 0.0);
        assert_eq!(best.candidate_minus_baseline_usd.estimate, 8.0);
        assert!(checks[4].strict && !checks[3].strict);
        // A lower bound exactly at its bar fails: it must be above.
        assert!(!GateCheck::new("x", 0.0, 0.0, true).passed);
        assert!(GateCheck::new("x", 0.0, 0.0, false).passed);
    }

    #[test]
    fn power_needs_more_trades_when_they_spread_and_cluster() {
        let summary = Summary::of(&[day("normal", &[5.0, -2.0, -4.0, 3.0], 6, 10)], blocking());
        let power = Power::of(&summary, &CanaryGates::default());
        // sd of 5, -2, -4, 3 is sqrt(53/3); ((1.96 + 0.84) x sd / 5)^2 = 5.5 trades, the design
        // effect (all four trades in one block) no less than 1: 6, under the floor of 30.
        assert!(
            (power.sd_usd - (53.0_f64 / 3.0).sqrt()).abs() < 1e-9,
            "{power:?}"
        );
        assert_eq!(power.trades_for_power, 6);
        assert_eq!(
            power.trades_for_power,
            trades_for_power(power.sd_usd, 5.0, power.design_effect)
        );
        assert_eq!(power.required_trades, 30);
        assert_eq!(
            Power::of(&Summary::of(&[], blocking()), &CanaryGates::default()).required_trades,
            u64::MAX
        );
    }

    #[test]
    fn the_weakest_regime_is_the_one_earning_least_per_trade() {
        let results = Results::of(
            vec![
                day("normal", &[5.0, -2.0, -4.0], 6, 10),
                day("event", &[3.0], 2, 10),
            ],
            blocking(),
        );
        assert_eq!(
            results.weakest_regime().map(|(regime, _)| regime),
            Some("normal")
        );
        let one = Results::of(vec![day("event", &[3.0], 2, 10)], blocking());
        assert_eq!(one.weakest_regime(), None);
    }

    #[test]
    fn the_winrate_comparison_waits_for_enough_trades_a_side() {
        let summary = |wins: u64, trades: u64| Summary {
            wins,
            trades,
            winrate: wins as f64 / trades as f64,
            ..Summary::of(&[], blocking())
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

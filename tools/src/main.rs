//! The `toolkit` binary: one subcommand per offline job.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use feed::Fixed;

mod archive;
mod calibrate;
mod canary;
mod decode;
mod drill;
mod estimate;
mod execution;
mod export_history;
mod flatten;
mod history;
mod label;
mod latent;
mod parity;
mod profile;
mod promote;
mod release_check;
mod rollout;
mod scan_gaps;
mod synth;
mod table;
mod train;
mod validate_config;
mod validate_symbols;
mod venue;
mod walk_forward;

/// Offline toolkit of the trading engine: configuration, data, models.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the effective configuration (after ${VAR} interpolation and the profile overlay)
    /// or every error in it; exit status 0 when valid, 1 when not.
    ValidateConfig(validate_config::Args),
    /// Check symbols.yml against Bybit's instruments-info and fee-rate answers (files, or the
    /// configured venue) and the take-profit against the fees; exit 1 on any mismatch.
    ValidateSymbols(validate_symbols::Args),
    /// Simulate market days (one per regime given) and write them to journals at simulation
    /// speed.
    Synth(synth::Args),
    /// Turn Bybit's public order-book and trade archives into journal days (one per symbol and
    /// day, the sources merged in time order), every line and row checked and accounted for.
    ImportHistory(history::Args),
    /// Write journal days as Bybit's public archives (the order-book zip and the trade csv.gz
    /// of each day), which import-history takes back: the inverse of import-history.
    ExportHistory(export_history::Args),
    /// Print the normalized events of a journal directory or an NDJSON file of raw frames as
    /// JSON lines.
    Decode(decode::Args),
    /// Score rows with ONNX Runtime and the native evaluator and compare; exit 1 unless every
    /// probability is bit-identical.
    Parity(parity::Args),
    /// Find what is missing or inconsistent in the parquet archive and its journals: missing
    /// days, journals never dumped, gaps in the book tops, sidecars that disagree with their
    /// files, holes in imported update ids; exit 1 on any finding.
    ScanGaps(scan_gaps::Args),
    /// Replay recorded days through the engine's decoder, book, features and trigger into the
    /// parquet archive: candidates with features, book tops and trades, one partition per
    /// symbol and day.
    DumpParquet(archive::Args),
    /// Label every archived candidate as a post-only entry at the touch (queue-aware fill,
    /// take-profit before stop, net of maker fees) and rebuild data/training.parquet.
    Label(label::Args),
    /// Train a LightGBM model on data/training.parquet, export it to ONNX with exact parity,
    /// and write its metadata, registry record, charts and model card.
    Train(train::Args),
    /// Judge a candidate model on held-out days through the engine's own replay, against a
    /// baseline: gates, canary_report.json and .html; exit 0 pass, 1 a gate failed, 2
    /// inconclusive.
    Canary(canary::Args),
    /// Monte-Carlo of a model's execution on recorded days through the engine's hot loop and
    /// paper venue under latency and shock scenarios (--scenarios): quantiles of PnL, fill
    /// rate, markouts, adverse selection and drawdown per scenario, as JSON, a table and
    /// charts; exit 1 when a scenario's 5th-percentile PnL is below --min-p5-pnl-usd.
    SimulateExecution(execution::Args),
    /// Fit the paper venue to what a venue did in paper or real sessions (decision logs and
    /// their market): latency of both legs, the queue power, fill curves by distance from the
    /// touch and queue ahead; a profile overlay, JSON and charts; exit 1 when the fitted
    /// model's fill curves are further than --max-fill-gap from the observed ones.
    CalibrateFill(calibrate::Args),
    /// The release checklist of a trained model as a table; exit 1 on any failure.
    ReleaseCheck(release_check::Args),
    /// Train on a rolling window of days and judge each fold's model with the canary on the
    /// days right after it, fold after fold: one report with the spread of the folds' results;
    /// exit 0 when every fold passed, 1 when one failed, 2 when one was inconclusive.
    WalkForward(walk_forward::Args),
    /// Copy a trained model into the registry and point the active or shadow slot at it.
    Promote(promote::Args),
    /// After the engine rolled the active model back (drift, parity): `status` shows the
    /// registry and the hold the rollback left; `clear` lifts the hold.
    Rollout(rollout::Args),
    /// The kill switch from outside: cancel every open order of the symbol (or of every
    /// configured one) at the venue and, with --close, close the position with reduce-only
    /// orders; exit 1 when anything is left.
    Flatten(flatten::Args),
    /// Write a broken copy of a good model (backends that disagree, wrong width, NaN split,
    /// out-of-range threshold, truncated file) for a drill: the engine must refuse it.
    DrillModel(drill::Args),
    /// Run an engine entrypoint (`-- run ...`, as `engine run`) under a sampling profiler:
    /// its per-stage latency table against the budgets, and a flamegraph SVG.
    Profile(profile::Args),
    /// A loopback Bybit v5 venue for tests: the public, private and trade streams and REST,
    /// the market from the simulator in real time or a journal, orders filled by the paper
    /// matching engine, with injectable faults; runs until SIGINT or SIGTERM.
    Venue(venue::Args),
}

/// Parses a decimal argument exactly.
pub(crate) fn parse_fixed(text: &str) -> Result<Fixed, String> {
    text.parse()
        .map_err(|err| format!("{text:?} is not a decimal: {err}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::ValidateConfig(args) => validate_config::run(&args),
        Command::Synth(args) => synth::run(&args).map(|()| ExitCode::SUCCESS),
        Command::ImportHistory(args) => history::run(&args).map(|()| ExitCode::SUCCESS),
        Command::ExportHistory(args) => export_history::run(&args).map(|()| ExitCode::SUCCESS),
        Command::ScanGaps(args) => scan_gaps::run(&args),
        Command::ValidateSymbols(args) => validate_symbols::run(&args),
        Command::Decode(args) => decode::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Parity(args) => parity::run(&args),
        Command::DumpParquet(args) => archive::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Label(args) => label::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Train(args) => train::run(&args),
        Command::Canary(args) => canary::run(&args),
        Command::SimulateExecution(args) => execution::run(&args),
        Command::CalibrateFill(args) => calibrate::run(&args),
        Command::ReleaseCheck(args) => release_check::run(&args),
        Command::WalkForward(args) => walk_forward::run(&args),
        Command::Promote(args) => promote::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Rollout(args) => rollout::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Flatten(args) => flatten::run(&args),
        Command::DrillModel(args) => drill::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Profile(args) => profile::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Venue(args) => venue::run(&args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

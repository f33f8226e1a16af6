//! The `engine` binary: the trading runtime and its operator commands.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// Maker-only trading engine for Bybit v5 linear perpetuals.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show how one entry would be sized and gated under the effective configuration, step by
    /// step, without placing anything.
    Size(cmd::size::SizeArgs),
    /// Run the engine: the pinned hot path with the cold-path threads, paper trading on the
    /// simulated, replayed or live market, or real trading on Bybit (`--mode real --feed
    /// bybit`), `/metrics` served while it runs.
    Run(engine::cli::RunArgs),
    /// Record a live feed to a journal (`sim` plays the market simulator in real time).
    Collect(cmd::collect::CollectArgs),
    /// What the host gives the hot thread (isolated CPUs, nohz_full, rcu_nocbs, governor, SMT
    /// sibling, network interrupts, huge pages, clock source) against an isolated host, each
    /// with its fix; exit 1 when the configuration requires isolation and the hot core lacks it.
    Doctor(cmd::doctor::DoctorArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Size(args) => cmd::size::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Collect(args) => cmd::collect::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Run(args) => cmd::run::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Doctor(args) => cmd::doctor::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

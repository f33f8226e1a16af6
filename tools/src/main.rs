//! The `toolkit` binary: one subcommand per offline job.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod validate_config;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::ValidateConfig(args) => validate_config::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

//! `engine doctor`: what the host gives the hot thread, against what an isolated host gives.

use std::process::ExitCode;

use anyhow::Result;
use engine::cli::ConfigArgs;
use engine::host::{self, Status};

/// Arguments of `doctor`.
#[derive(Debug, clap::Args)]
pub(crate) struct DoctorArgs {
    /// The configuration and profile (`--profile bare-metal` for a dedicated host).
    #[command(flatten)]
    config: ConfigArgs,
    /// Print the checks as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Prints the checks; exit 1 when one fails what the configuration requires.
pub(crate) fn run(args: &DoctorArgs) -> Result<ExitCode> {
    let config = args.config.load()?.config;
    let layout = &config.engine;
    let checks = host::check(&host::root(), layout, layout.require_isolated_hot_core);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        println!(
            "engine doctor: hot core {}, cold cores {:?}, isolation {}",
            layout.hot_core,
            layout.cold_cores,
            if layout.require_isolated_hot_core {
                "required (engine run refuses a shared hot core)"
            } else {
                "advised (engine run warns)"
            }
        );
        print!("{}", host::table(&checks));
    }
    Ok(if checks.iter().any(|check| check.status == Status::Fail) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

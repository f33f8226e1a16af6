//! `engine run`: the engine, end to end, paper or real.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use engine::cli::{RunArgs, run_engine};

/// Runs `engine run`: prints the set-up, runs until the feed ends, the duration passes or
/// Ctrl-C / SIGTERM, then prints the summary.
pub(crate) fn run(args: &RunArgs) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    print!("{}", run_engine(args, stop)?);
    Ok(())
}

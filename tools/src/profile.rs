//! `toolkit profile -- <command>`: runs an engine entrypoint in this process under a sampling
//! profiler, prints its per-stage latency table against the budgets, and writes a flamegraph.
//!
//! The entrypoint is `run` with the arguments of `engine run`, for example
//! `toolkit profile -- run --feed replay:data/journal/BTCUSDT/2026-01-01`. The profiler
//! (pprof) samples every thread of the process `--frequency` times a second of CPU time, so the
//! busy-polling hot thread and the cold threads all show; the SVG is written when the run ends.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use clap::Parser;
use engine::cli::{RunArgs, run_engine};

/// Arguments of `profile`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where the flamegraph SVG is written.
    #[arg(long, default_value = "data/profile/flamegraph.svg")]
    flamegraph: PathBuf,
    /// Samples per second of CPU time.
    #[arg(long, default_value_t = 997)]
    frequency: i32,
    /// The entrypoint and its arguments, after `--`: `run [engine run arguments]`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// The entrypoints that can be profiled.
#[derive(Debug, Parser)]
#[command(name = "toolkit profile --", no_binary_name = true)]
enum Entrypoint {
    /// `engine run`.
    Run(RunArgs),
}

/// Runs `profile`.
pub(crate) fn run(args: &Args) -> Result<()> {
    if args.frequency <= 0 {
        bail!("--frequency must be positive");
    }
    let Entrypoint::Run(run_args) = Entrypoint::try_parse_from(&args.command)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let profiler = pprof::ProfilerGuardBuilder::default()
        .frequency(args.frequency)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .context("starting the profiler")?;
    let summary = run_engine(&run_args, stop)?;
    print!("{summary}");
    let report = profiler.report().build().context("building the profile")?;
    if let Some(parent) = args.flamegraph.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let file = File::create(&args.flamegraph)
        .with_context(|| format!("creating {}", args.flamegraph.display()))?;
    report
        .flamegraph(file)
        .with_context(|| format!("writing {}", args.flamegraph.display()))?;
    let samples: isize = report.data.values().sum();
    println!(
        "flamegraph: {} ({samples} samples at {} Hz)",
        args.flamegraph.display(),
        args.frequency
    );
    Ok(())
}

//! `engine run`: the engine, end to end, in paper mode.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use engine::cli::{FeedArg, RunArgs};
use engine::runtime::{self, summary};

/// Runs `engine run`: prints the set-up, runs until the feed ends, the duration passes or
/// Ctrl-C / SIGTERM, then prints the summary.
pub(crate) fn run(args: &RunArgs) -> Result<()> {
    let spec = args.spec()?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let config = spec.config.clone();
    let feed = match &args.feed {
        FeedArg::Sim => format!("sim ({}, seed {})", args.regime.name(), args.seed),
        FeedArg::Replay(dir) => format!("replay of {}", dir.display()),
        FeedArg::Bybit => "bybit".to_owned(),
    };
    let pace = match spec.pace {
        runtime::source::Pace::RealTime => "real time",
        runtime::source::Pace::AsFastAsPossible => "as fast as possible",
    };
    let report = runtime::run(spec, stop, |started| {
        println!(
            "engine run: mode paper, venue {} (paper fills), feed {feed} [{pace}]",
            config.exchange.venue
        );
        println!(
            "model: active {} ({}), shadow {}",
            started.active_id,
            started.backend,
            started.shadow_id.as_deref().unwrap_or("none")
        );
        println!(
            "cpu: hot thread pinned to core {}, cold threads on cores {:?}",
            config.engine.hot_core, config.engine.cold_cores
        );
        println!("metrics: {}", started.metrics_url);
        println!("outputs: {}", started.out_dir.display());
    })?;
    print!(
        "{}",
        summary::format(&report, &config.engine.latency_budget_ns)
    );
    Ok(())
}

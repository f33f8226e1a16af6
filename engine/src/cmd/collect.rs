//! `engine collect`: record a live feed to a journal.
//!
//! Every frame is stamped with the monotonic clock when it arrives and appended to the journal
//! as it is; it is also decoded, to count messages and errors by kind for the summary. The
//! `sim` feed plays the market simulator in real time: each frame is handed over when the wall
//! clock reaches its simulated receive time. The `bybit` feed is the live public stream of
//! `exchange.endpoints` for every configured symbol, recorded by [`engine::collect::live`]
//! with its snapshots and connection losses, so that a replay sees the market as a live engine
//! did. Ctrl-C or SIGTERM stops cleanly: the journal is flushed and the summary printed.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use engine::cli::ConfigArgs;
use feed::bybit::{MessageKind, PublicDecoder};
use feed::journal::{ClockAnchor, JournalOptions, JournalWriter, StreamId, monotonic_ns};
use feed::sim::{MarketSim, Regime, SimConfig};
use feed::{Fixed, FrameBuf, Symbol};

/// A feed to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FeedArg {
    /// The market simulator, in real time.
    Sim,
    /// The live Bybit v5 public stream (exchange.endpoints, every configured symbol).
    Bybit,
}

/// Arguments of `collect`.
#[derive(Debug, clap::Args)]
pub(crate) struct CollectArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The feed to record.
    #[arg(long, value_enum)]
    feed: FeedArg,
    /// Journal directory (created if missing; a new segment is started in an existing one).
    #[arg(long)]
    out: PathBuf,
    /// Stop after this many seconds (default: run until Ctrl-C or SIGTERM).
    #[arg(long)]
    duration: Option<f64>,
    /// Symbol (default: the first of exchange.symbols).
    #[arg(long)]
    symbol: Option<String>,
    /// Regime the simulator plays: normal, event or high-vol.
    #[arg(long, default_value = "normal", value_parser = parse_regime)]
    regime: Regime,
    /// Seed of the simulator.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Mid price the simulator starts at.
    #[arg(long, default_value = "60000", value_parser = super::parse_fixed)]
    start_price: Fixed,
    /// Segment size of the journal, MiB.
    #[arg(long, default_value_t = 64)]
    segment_mib: u64,
}

fn parse_regime(text: &str) -> Result<Regime, String> {
    Regime::from_name(text)
        .ok_or_else(|| format!("unknown regime {text:?} (normal, event, high-vol)"))
}

/// Runs `collect`.
pub(crate) fn run(args: &CollectArgs) -> Result<()> {
    if args
        .duration
        .is_some_and(|seconds| seconds.is_nan() || seconds <= 0.0)
    {
        bail!("--duration must be positive");
    }
    let loaded = args.config.load()?;
    let symbol_name = match &args.symbol {
        Some(symbol) => symbol.clone(),
        None => loaded
            .config
            .exchange
            .symbols
            .first()
            .cloned()
            .context("exchange.symbols is empty")?,
    };
    let instrument = loaded.symbols.symbols.get(&symbol_name).with_context(|| {
        format!(
            "{symbol_name} has no entry in {}",
            loaded.source.symbols.display()
        )
    })?;

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }

    let clock = quanta::Clock::new();
    let anchor = ClockAnchor::now(&clock);
    let options = JournalOptions::with_segment_mib(args.segment_mib);
    let (mut journal, recovery) = JournalWriter::open(&args.out, options, anchor)
        .with_context(|| format!("opening the journal in {}", args.out.display()))?;
    if let Some(cut) = recovery.cut_at {
        eprintln!(
            "journal: cut a torn tail of {} at offset {cut}, kept {} records",
            recovery
                .segment
                .as_ref()
                .map_or_else(String::new, |p| p.display().to_string()),
            recovery.records_kept
        );
    }

    if args.feed == FeedArg::Bybit {
        return collect_live(args, &loaded.config, journal, &clock, &stop);
    }
    let duration_ms = args
        .duration
        .map_or(365 * 24 * 3_600_000, |seconds| (seconds * 1000.0) as u64);
    let config = SimConfig {
        symbol: Symbol::new(&symbol_name).context("symbol too long")?,
        tick_size: instrument.tick_size,
        qty_step: instrument.qty_step,
        start_price: args.start_price,
        start_ms: anchor.wall_ns / 1_000_000,
        duration_ms,
        regime: args.regime,
        seed: args.seed,
        ..SimConfig::btcusdt(args.regime, 0, args.seed)
    };
    println!(
        "collecting {symbol_name} from the simulator ({}) into {} (segment {})",
        args.regime.name(),
        args.out.display(),
        journal.current_segment().display()
    );

    let mut sim = MarketSim::new(config);
    let mut decoder = PublicDecoder::new();
    let mut frame = Vec::with_capacity(64 * 1024);
    let mut scratch = FrameBuf::default();
    let (mut frames, mut bytes) = (0_u64, 0_u64);
    let started = Instant::now();
    'feed: while let Some(produced) = sim.next_frame(&mut frame) {
        // Wait for the frame's receive time, waking to notice a stop.
        loop {
            if stop.load(Ordering::Relaxed) {
                break 'feed;
            }
            let now_wall = anchor.wall_of(monotonic_ns(&clock));
            if now_wall >= produced.recv_ns {
                break;
            }
            std::thread::sleep(
                Duration::from_nanos(produced.recv_ns - now_wall).min(Duration::from_millis(50)),
            );
        }
        journal.append(monotonic_ns(&clock), StreamId::PUBLIC_LINEAR, &frame)?;
        frames += 1;
        bytes += frame.len() as u64;
        scratch.fill(&frame);
        // Decoding only counts here; the frame is recorded whatever it holds.
        let _ = decoder.decode(&mut scratch);
    }
    journal.flush()?;
    report(args, frames, bytes, started, &decoder);
    Ok(())
}

/// Records the live public stream until the duration passes or a stop.
fn collect_live(
    args: &CollectArgs,
    config: &engine::config::Config,
    journal: JournalWriter,
    clock: &quanta::Clock,
    stop: &AtomicBool,
) -> Result<()> {
    let settings = engine::cli::live_feed_settings(config, args.seed)?;
    println!(
        "collecting {} from {} into {} (segment {})",
        config.exchange.symbols.join(", "),
        settings.endpoint,
        args.out.display(),
        journal.current_segment().display()
    );
    let started = Instant::now();
    let until = args
        .duration
        .map(|seconds| started + Duration::from_secs_f64(seconds));
    let recorded = engine::collect::live(settings, journal, clock, stop, until)?;
    report(
        args,
        recorded.frames,
        recorded.bytes,
        started,
        &recorded.decoder,
    );
    let feed = recorded.feed;
    println!(
        "  connection: {} reconnects, {} failed attempts, {} resyncs, {} losses recorded",
        feed.reconnects(),
        feed.connect_failures,
        feed.resyncs,
        feed.losses.iter().sum::<u64>()
    );
    Ok(())
}

/// Prints what was recorded.
fn report(args: &CollectArgs, frames: u64, bytes: u64, started: Instant, decoder: &PublicDecoder) {
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "recorded {frames} frames ({:.1} MB) in {elapsed:.1} s into {}",
        bytes as f64 / 1e6,
        args.out.display()
    );
    let stats = decoder.stats();
    for kind in MessageKind::ALL {
        let (decoded, errors) = (stats.decoded(kind), stats.errors(kind));
        if decoded + errors > 0 {
            println!(
                "  {:<12} {decoded:>9} decoded {errors:>6} errors",
                kind.label()
            );
        }
    }
}

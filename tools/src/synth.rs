//! `toolkit synth`: simulated market days, written to journals at simulation speed.
//!
//! Each day is one journal directory, `OUT/<SYMBOL>/<DATE>/`, holding the segments and a
//! `session.json` that says what was simulated (regime, seed, start, length, frames, the
//! simulator's version) and, with a planted edge, `latent.csv`: what the informed traders knew
//! (the answer key, never read by the pipeline; see `latent`).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use engine::cli::ConfigArgs;
use feed::journal::{ClockAnchor, JournalOptions, JournalWriter, StreamId};
use feed::sim::{MarketSim, Regime, SIMULATOR_VERSION, SimConfig};
use feed::{Fixed, Symbol};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::latent::LatentWriter;

/// Monotonic time the simulated clock starts at in journals (any positive value would do).
const SIM_MONO_BASE_NS: u64 = 1_000_000_000;

/// Arguments of `synth`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// Regimes of the days to simulate, in order, one day each: normal, event, high-vol.
    #[arg(long, value_delimiter = ',', default_value = "normal,event,high-vol", value_parser = parse_regime)]
    days: Vec<Regime>,
    /// Date of the first day (UTC); the others follow day by day.
    #[arg(long, default_value = "2026-01-01")]
    start: Date,
    /// Seed of the simulator; day i uses seed + i.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Symbol; its tick size and quantity step come from symbols.yml.
    #[arg(long, default_value = "BTCUSDT")]
    symbol: String,
    /// Mid price at the start of each day (default: 60000 for BTCUSDT, 3000 for ETHUSDT).
    #[arg(long, value_parser = crate::parse_fixed)]
    start_price: Option<Fixed>,
    /// Hours simulated per day, from midnight UTC (24 is a whole day).
    #[arg(long, default_value_t = 24.0)]
    hours: f64,
    /// Output directory; days go to OUT/SYMBOL/DATE/.
    #[arg(long)]
    out: PathBuf,
    /// Segment size of the journals, MiB.
    #[arg(long, default_value_t = 64)]
    segment_mib: u64,
    /// Strength of the planted edges, percent (0 none, 100 full): a weak trend, and informed
    /// orders resting behind the touch before a step of the price (feed::sim, "The planted
    /// edges").
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    edge: u8,
    /// Stop the planted edges this long into each day (a decayed edge: what a model trained on
    /// them meets once they are gone).
    #[arg(long, value_parser = humantime::parse_duration)]
    edge_off_after: Option<std::time::Duration>,
}

fn parse_regime(text: &str) -> Result<Regime, String> {
    Regime::from_name(text)
        .ok_or_else(|| format!("unknown regime {text:?} (normal, event, high-vol)"))
}

/// What `session.json` records about a simulated day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Session {
    /// Symbol.
    pub(crate) symbol: String,
    /// The day (UTC).
    pub(crate) date: String,
    /// Regime name.
    pub(crate) regime: String,
    /// Simulator seed.
    pub(crate) seed: u64,
    /// Strength of the planted edge, percent (0: none).
    #[serde(default)]
    pub(crate) edge_pct: u8,
    /// When the planted edges stopped, ms since the epoch (absent: they never did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) edge_until_ms: Option<u64>,
    /// The simulator's version (`feed::sim::SIMULATOR_VERSION`; 1 before it was recorded).
    #[serde(default = "first_simulator")]
    pub(crate) simulator: u32,
    /// Start, ms since the epoch.
    pub(crate) start_ms: u64,
    /// Length, ms.
    pub(crate) duration_ms: u64,
    /// Frames written.
    pub(crate) frames: u64,
    /// Bytes of frames written.
    pub(crate) bytes: u64,
}

const fn first_simulator() -> u32 {
    1
}

/// File name of the session metadata in a day's directory.
pub(crate) const SESSION_FILE: &str = "session.json";

pub(crate) fn run(args: &Args) -> Result<()> {
    if !(args.hours > 0.0 && args.hours <= 24.0) {
        bail!("--hours must be in (0, 24], got {}", args.hours);
    }
    if args.edge_off_after.is_some() && args.edge == 0 {
        bail!("--edge-off-after stops a planted edge: give its strength with --edge");
    }
    let loaded = args.config.load()?;
    let instrument = loaded.symbols.symbols.get(&args.symbol).with_context(|| {
        format!(
            "{} has no entry in {}",
            args.symbol,
            loaded.source.symbols.display()
        )
    })?;
    let start_price = match (args.start_price, args.symbol.as_str()) {
        (Some(price), _) => price,
        (None, "BTCUSDT") => Fixed::from_int(60_000).unwrap_or_default(),
        (None, "ETHUSDT") => Fixed::from_int(3_000).unwrap_or_default(),
        (None, other) => bail!("give --start-price for {other}"),
    };
    let symbol = Symbol::new(&args.symbol).context("symbol too long")?;
    let duration_ms = (args.hours * 3_600_000.0).round() as u64;

    for (index, &regime) in args.days.iter().enumerate() {
        let date = args
            .start
            .checked_add(jiff::Span::new().days(index as i64))
            .context("date out of range")?;
        let start_ms = date
            .to_zoned_datetime(TimeZone::UTC)
            .context("date out of range")?
            .timestamp()
            .as_millisecond();
        let config = SimConfig {
            symbol,
            tick_size: instrument.tick_size,
            qty_step: instrument.qty_step,
            price_decimals: decimals(instrument.tick_size).max(2),
            size_decimals: decimals(instrument.qty_step),
            start_price,
            start_ms: u64::try_from(start_ms).context("dates before 1970 are not simulated")?,
            duration_ms,
            regime,
            seed: args.seed + index as u64,
            edge_pct: args.edge,
            edge_until_ms: match args.edge_off_after {
                Some(after) => start_ms
                    .saturating_add(i64::try_from(after.as_millis()).unwrap_or(i64::MAX))
                    .try_into()
                    .context("dates before 1970 are not simulated")?,
                None => u64::MAX,
            },
        };
        let dir = args.out.join(&args.symbol).join(date.to_string());
        simulate_day(
            &config,
            &dir,
            JournalOptions::with_segment_mib(args.segment_mib),
        )
        .with_context(|| format!("simulating {date} ({})", regime.name()))?;
    }
    Ok(())
}

/// Decimal places of a step (0.001 has 3).
fn decimals(step: Fixed) -> u32 {
    let mut raw = step.raw();
    let mut digits = Fixed::DECIMALS;
    while digits > 0 && raw % 10 == 0 {
        raw /= 10;
        digits -= 1;
    }
    digits
}

pub(crate) fn simulate_day(
    config: &SimConfig,
    dir: &Path,
    options: JournalOptions,
) -> Result<Session> {
    if dir.exists() && fs::read_dir(dir)?.next().is_some() {
        bail!(
            "{} already holds data; remove it or choose another --out",
            dir.display()
        );
    }
    let started = Instant::now();
    let anchor = ClockAnchor {
        mono_ns: SIM_MONO_BASE_NS,
        wall_ns: config.start_ms * 1_000_000,
    };
    let (mut journal, _) = JournalWriter::open(dir, options, anchor)?;
    let mut sim = MarketSim::new(*config);
    let progress = ProgressBar::new(config.duration_ms / 1000).with_style(
        ProgressStyle::with_template(
            "{prefix:>22} [{bar:40}] {pos}/{len} simulated s ({per_sec}, eta {eta})",
        )?
        .progress_chars("=> "),
    );
    progress.set_prefix(format!("{} {}", config.regime.name(), dir.display()));
    let mut frame = Vec::with_capacity(64 * 1024);
    let (mut frames, mut bytes) = (0_u64, 0_u64);
    let mut latent = if config.edge_pct > 0 {
        Some(LatentWriter::create(dir, config.start_ms)?)
    } else {
        None
    };
    while let Some(produced) = sim.next_frame(&mut frame) {
        let mono_ns = anchor.mono_ns + (produced.recv_ns - anchor.wall_ns);
        journal.append(mono_ns, StreamId::PUBLIC_LINEAR, &frame)?;
        if let Some(latent) = &mut latent {
            latent.record(sim.now_ns() / 1_000_000, &sim.latent())?;
        }
        frames += 1;
        bytes += frame.len() as u64;
        if frames % 4096 == 0 {
            progress
                .set_position((sim.now_ns() / 1_000_000).saturating_sub(config.start_ms) / 1000);
        }
    }
    progress.finish_and_clear();
    drop(journal);
    if let Some(latent) = latent {
        latent.finish()?;
    }
    let session = Session {
        symbol: config.symbol.to_string(),
        date: dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
        regime: config.regime.name().to_owned(),
        seed: config.seed,
        edge_pct: config.edge_pct,
        edge_until_ms: (config.edge_until_ms < config.start_ms + config.duration_ms)
            .then_some(config.edge_until_ms),
        simulator: SIMULATOR_VERSION,
        start_ms: config.start_ms,
        duration_ms: config.duration_ms,
        frames,
        bytes,
    };
    let text = serde_json::to_string_pretty(&session)?;
    fs::write(dir.join(SESSION_FILE), text + "\n")?;
    println!(
        "{:<9} {}: {frames} frames, {:.1} MB, {:.1} s",
        config.regime.name(),
        dir.display(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(session)
}

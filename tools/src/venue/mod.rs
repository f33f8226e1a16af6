//! `toolkit venue`: a loopback Bybit v5 venue for tests: the public linear stream, the private
//! and trade streams, and REST.
//!
//! It listens on one loopback port for the WebSocket streams (`/v5/public/linear`,
//! `/v5/private`, `/v5/trade`) and the REST endpoints (market data, the account, order entry),
//! in clear or, with `--tls`, behind a self-signed certificate it writes out for the client to
//! trust. The market is the simulator played in real time, or a journal replayed at its
//! recorded pace; the venue keeps its own books and publishes them as Bybit does (see
//! [`stream`]). The account's orders are filled against that market by the paper venue, the
//! engine's one fill model (see [`exchange`]); private requests are signed and checked as Bybit
//! checks them (see [`account`]). Faults are injected on a schedule (see [`faults`]).
//!
//! Once its market has a book (or its source ended), standard output gets exactly the lines a
//! test parses, flushed at once:
//!
//! ```text
//! toolkit venue: listening on ws://127.0.0.1:PORT      (wss:// with --tls)
//! toolkit venue: certificate PATH                      (with --tls)
//! ```
//!
//! and standard error one line per event (connection, subscription, fault, close). It runs until
//! SIGINT or SIGTERM and then exits 0.

mod account;
mod exchange;
mod faults;
mod server;
mod source;
mod stream;
mod tls;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use feed::bybit::sign::Signer;
use feed::sim::{MarketSim, Regime, SimConfig};
use feed::{Fixed, Symbol};

use account::{Account, PositionMode};
use exchange::Exchange;
use faults::{FaultPlan, FaultSchedule};
use source::{MarketSource, Player};
use stream::{Market, NumberFormat, Venue, wall_ms};

/// Length of the simulated session: longer than any test runs.
const SIM_DAYS: u64 = 30;
/// Longest the venue waits for its market's first book before it announces itself.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// Arguments of `venue`.
#[derive(Debug, clap::Args)]
#[command(after_help = faults::HELP)]
pub(crate) struct Args {
    /// Address to listen on; loopback only (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: String,
    /// Serve wss:// and https:// with a self-signed certificate (localhost, 127.0.0.1) made at
    /// start.
    #[arg(long)]
    tls: bool,
    /// Where to write the certificate (PEM) with --tls [default: the temporary directory's
    /// toolkit-venue-PORT.pem].
    #[arg(long, requires = "tls")]
    cert_out: Option<PathBuf>,
    /// Regime of the simulated market: normal, event, high-vol.
    #[arg(long, default_value = "normal", value_parser = parse_regime, conflicts_with = "replay")]
    regime: Regime,
    /// Seed of the simulated market, of the connection ids and of random faults.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Replay the public stream of this journal directory at its recorded pace (from its first
    /// record, time stamps shifted to the present) instead of simulating; once it ends the
    /// venue keeps serving its final book.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Faults to inject (grammar below).
    #[arg(long, value_name = "SPEC")]
    faults: Option<FaultPlan>,
    /// The symbol served (simulated with BTCUSDT's parameters; from a journal, its frames of
    /// this symbol); other symbols' topics do not exist.
    #[arg(long, default_value = "BTCUSDT")]
    symbol: String,
    /// The API key the private endpoints accept (without it every signed request is refused
    /// with 10003).
    #[arg(long, env = "BYBIT_API_KEY")]
    api_key: Option<String>,
    /// The secret of --api-key; from the environment only, never the command line.
    #[arg(skip = std::env::var("BYBIT_API_SECRET").ok())]
    api_secret: Option<String>,
    /// The account's USDT balance.
    #[arg(long, default_value = "10000", value_name = "USD")]
    balance: Fixed,
    /// The account's position mode at start: one-way or hedge.
    #[arg(long, default_value = "one-way", value_parser = PositionMode::from_name)]
    position_mode: PositionMode,
    /// Grant disconnect-cancel-all (Bybit grants it to some account types only; without this
    /// the request is refused).
    #[arg(long)]
    dcp: bool,
}

fn parse_regime(text: &str) -> Result<Regime, String> {
    Regime::from_name(text)
        .ok_or_else(|| format!("unknown regime {text:?} (normal, event, high-vol)"))
}

/// The address to listen on, refused unless every address it names is loopback.
fn loopback_addr(text: &str) -> Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .with_context(|| format!("--addr {text:?} is not an address (HOST:PORT)"))?
        .collect();
    match addrs.first() {
        Some(addr) if addrs.iter().all(|addr| addr.ip().is_loopback()) => Ok(*addr),
        Some(_) => bail!(
            "--addr {text} is not a loopback address: the venue is a test double and listens on \
             127.0.0.1 or ::1 only"
        ),
        None => bail!("--addr {text:?} names no address"),
    }
}

/// Faults typed on standard input, one spec a line, as they come (a line that does not parse
/// is reported and skipped; the end of the input ends nothing but this).
fn fault_input() -> std::sync::mpsc::Receiver<FaultPlan> {
    let (sender, plans) = std::sync::mpsc::channel();
    let reader = std::thread::Builder::new()
        .name("venue-stdin".to_owned())
        .spawn(move || {
            for line in std::io::stdin().lines().map_while(Result::ok) {
                let spec = line.trim();
                if spec.is_empty() {
                    continue;
                }
                match spec.parse::<FaultPlan>() {
                    Ok(plan) => {
                        if sender.send(plan).is_err() {
                            return;
                        }
                    }
                    Err(err) => eprintln!("toolkit venue: standard input: {err}; skipped"),
                }
            }
        });
    if let Err(err) = reader {
        eprintln!("toolkit venue: standard input is not read: {err}");
    }
    plans
}

/// Runs the venue until SIGINT or SIGTERM.
pub(crate) fn run(args: &Args) -> Result<()> {
    let addr = loopback_addr(&args.addr)?;
    if args.symbol.is_empty() || !args.symbol.bytes().all(|b| b.is_ascii_alphanumeric()) {
        bail!(
            "--symbol {:?} is not a symbol (letters and digits)",
            args.symbol
        );
    }
    let symbol = Symbol::new(&args.symbol)
        .map_err(|_| anyhow::anyhow!("--symbol {:?} is too long", args.symbol))?;
    let plan = args.faults.clone().unwrap_or_default();

    let started = Instant::now();
    // BTCUSDT's rules, as config/symbols.yml ships them, under the served symbol.
    let rules = feed::fixtures::btcusdt();
    let exchange = || Exchange::new(symbol, rules, args.balance, args.seed);
    let (source, market, origin_ns) = match &args.replay {
        Some(dir) => (
            MarketSource::replay(dir)?,
            Market::new(symbol, None, exchange()),
            None,
        ),
        None => {
            let config = SimConfig {
                symbol,
                duration_ms: SIM_DAYS * 24 * 3_600_000,
                ..SimConfig::btcusdt(args.regime, wall_ms(), args.seed)
            };
            let format = NumberFormat {
                price: Some(config.price_decimals),
                size: Some(config.size_decimals),
            };
            let origin_ns = config.start_ms * 1_000_000;
            (
                MarketSource::Sim(Box::new(MarketSim::new(config))),
                Market::new(symbol, Some(format), exchange()),
                Some(origin_ns),
            )
        }
    };

    let listener = TcpListener::bind(addr).with_context(|| format!("listening on {addr}"))?;
    let local = listener.local_addr()?;
    let tls = if args.tls {
        let path = args.cert_out.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("toolkit-venue-{}.pem", local.port()))
        });
        Some((tls::self_signed(&path)?, path))
    } else {
        None
    };

    // Signals first, so that a stop right after the address is printed is not lost.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing the signal handler")?;
    }

    let signer = match (&args.api_key, &args.api_secret) {
        (Some(key), Some(secret)) => {
            Some(Signer::new(key, secret).context("the venue's credentials")?)
        }
        (Some(_), None) => bail!("--api-key needs BYBIT_API_SECRET in the environment"),
        (None, _) => None,
    };
    let account = Account::new(signer, symbol, rules, args.position_mode, args.dcp);
    let venue = Arc::new(Venue::new(market, account, args.seed));
    let schedule = FaultSchedule::new(&plan, started, args.seed);
    let player = Player::new(Arc::clone(&venue), source, schedule, started, origin_ns)
        .with_fault_input(fault_input());
    let market_thread = std::thread::Builder::new()
        .name("venue-market".to_owned())
        .spawn({
            let stop = Arc::clone(&stop);
            move || player.run(&stop)
        })
        .context("starting the market thread")?;

    // Ready when the market has a book: a client connecting at once gets a real snapshot.
    if !venue.wait_ready(READY_TIMEOUT) {
        eprintln!(
            "toolkit venue: no book from the market after {}; serving anyway",
            humantime::format_duration(READY_TIMEOUT)
        );
    }
    {
        let mut stdout = std::io::stdout().lock();
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        writeln!(stdout, "toolkit venue: listening on {scheme}://{local}")?;
        if let Some((_, path)) = &tls {
            writeln!(stdout, "toolkit venue: certificate {}", path.display())?;
        }
        stdout.flush()?;
    }
    match &args.replay {
        Some(dir) => eprintln!("toolkit venue: replaying {} ({symbol})", dir.display()),
        None => eprintln!(
            "toolkit venue: simulating {symbol}, regime {}, seed {}",
            args.regime.name(),
            args.seed
        ),
    }
    if !plan.is_empty() {
        eprintln!("toolkit venue: faults {plan}");
    }

    server::serve(
        &listener,
        tls.as_ref().map(|(config, _)| config),
        &venue,
        &stop,
    )?;
    let _ = market_thread.join();
    eprintln!(
        "toolkit venue: stopped ({} connections open)",
        venue.market().clients()
    );
    Ok(())
}

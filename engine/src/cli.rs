//! Command-line pieces shared by the `engine` and `toolkit` binaries.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use crate::config::{ConfigError, Loaded, load};

/// `--config` and `--profile`, as every command that reads the configuration takes them.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// The configuration file; symbols.yml is read from the same directory.
    #[arg(long, value_name = "PATH", default_value = "config/app.yml")]
    pub config: PathBuf,
    /// A profile deep-merged over the configuration: a name (paper, real, bare-metal: read from
    /// profiles/NAME.yml beside the config directory) or a path to a .yml file.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

impl ConfigArgs {
    /// Loads and checks the configuration these arguments name, reading the process
    /// environment for `${VAR}` expressions.
    pub fn load(&self) -> Result<Loaded, ConfigError> {
        load(&self.config, self.profile.as_deref())
    }
}

/// `--onnxruntime PATH`: the ONNX Runtime library, for every command that scores with it.
#[derive(Debug, Clone, Args)]
pub struct OnnxRuntimeArg {
    /// The ONNX Runtime library (default: ORT_DYLIB_PATH, else what scripts/setup.sh installs).
    #[arg(
        long = "onnxruntime",
        env = "ORT_DYLIB_PATH",
        default_value = ".runtime/onnxruntime-1.31.1/libonnxruntime.so.1.31.1"
    )]
    pub path: PathBuf,
}

/// `--feed`: where the market comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedArg {
    /// `sim`: the market simulator.
    Sim,
    /// `replay:DIR`: a journal directory.
    Replay(PathBuf),
    /// `bybit`: the live Bybit v5 public stream.
    Bybit,
}

/// Parses `sim`, `replay:DIR` or `bybit`.
pub fn parse_feed(text: &str) -> Result<FeedArg, String> {
    match text {
        "sim" => Ok(FeedArg::Sim),
        "bybit" => Ok(FeedArg::Bybit),
        _ => match text.strip_prefix("replay:") {
            Some(dir) if !dir.is_empty() => Ok(FeedArg::Replay(PathBuf::from(dir))),
            _ => Err(format!("{text:?}: expected sim, replay:DIR or bybit")),
        },
    }
}

/// `--pace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PaceArg {
    /// At the market's pace (the simulator in real time; a replay at recorded pace).
    RealTime,
    /// As fast as the hot thread goes.
    Fast,
}

/// Arguments of `engine run` (and of `toolkit profile -- ...`).
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The configuration and profile.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Trading mode; default: exchange.mode of the configuration (EXCHANGE_MODE), else paper.
    #[arg(long, value_enum)]
    pub mode: Option<crate::config::Mode>,
    /// The market: sim (the simulator), replay:DIR (a journal) or bybit (the live stream).
    #[arg(long, default_value = "sim", value_parser = parse_feed)]
    pub feed: FeedArg,
    /// Pace; default: real time for sim, fast for a replay.
    #[arg(long, value_enum)]
    pub pace: Option<PaceArg>,
    /// Stop after this many seconds of market time (default: until the feed ends, Ctrl-C or
    /// SIGTERM).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Prometheus endpoint (default: metrics.listen; port 0 picks a free port).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Directory for the decision log and the final metrics (default: paths.data/runs/TIME).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Record every frame received into a journal in this directory (replayable with
    /// --feed replay:DIR).
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// On a replay, apply the supervisor's rollbacks to the registry (paths.registry) as a
    /// live session would; without it a replay only records them and changes nothing there.
    #[arg(long)]
    pub apply_rollbacks: bool,
    /// Simulator regime: normal, event or high-vol.
    #[arg(long, default_value = "normal", value_parser = parse_regime)]
    pub regime: feed::sim::Regime,
    /// Simulator seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Real mode: a file holding `BYBIT_API_KEY=...` and `BYBIT_API_SECRET=...` lines,
    /// readable by its owner only (default: those variables in the environment).
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// The ONNX Runtime library.
    #[command(flatten)]
    pub onnxruntime: OnnxRuntimeArg,
    /// Start even when engine.require_isolated_hot_core is set and the kernel does not isolate
    /// the hot core (the host check is printed all the same).
    #[arg(long)]
    pub allow_shared_core: bool,
}

fn parse_regime(text: &str) -> Result<feed::sim::Regime, String> {
    feed::sim::Regime::from_name(text)
        .ok_or_else(|| format!("unknown regime {text:?} (normal, event, high-vol)"))
}

/// Why `engine run` does not start.
#[derive(Debug, thiserror::Error)]
pub enum RunArgsError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Real mode without usable credentials.
    #[error("real mode needs credentials: {0}")]
    Credentials(crate::account::LoadCredentialsError),
    /// The REST client could not be made.
    #[error("exchange.tls_ca_file {0}")]
    RestClient(#[from] feed::bybit::rest::ClientError),
    /// The account or the symbol failed a start-up check.
    #[error("real mode: {0}; no order was sent")]
    Account(crate::account::AccountError),
    /// Real mode trades the live market only.
    #[error("real mode trades the live market: run it with --feed bybit")]
    RealNeedsLiveFeed,
    /// The venue could not be built.
    #[error(transparent)]
    Venue(#[from] crate::venues::VenueError),
    /// Orders were left at the venue after the run, or the venue could not be asked.
    #[error("real mode: {0}")]
    LeftAtVenue(String),
    /// The venue refused the credentials for good mid-run: the engine stopped.
    #[error("real mode stopped: {failure}; {venue}")]
    VenueRefused {
        /// What the venue said, and what to do about it.
        failure: feed::venue::VenueFailure,
        /// What the final check found.
        venue: String,
    },
    /// The live feed's TLS configuration could not be built.
    #[error("exchange.tls_ca_file {0}")]
    Tls(#[from] feed::net::TlsError),
    /// A bad argument.
    #[error("{0}")]
    Invalid(String),
    /// The configuration requires an isolated hot core and the host does not give one.
    #[error(
        "engine.require_isolated_hot_core: {check}: {found}, expected {expected}; {fix}, or \
         start with --allow-shared-core (engine doctor checks the rest of the host)"
    )]
    SharedHotCore {
        /// The check that failed.
        check: &'static str,
        /// What the host shows.
        found: String,
        /// What it should show.
        expected: String,
        /// How to get there.
        fix: String,
    },
}

/// The kill switch's last act, armed once real mode's start-up is done: after the run,
/// however it ends (done, an error, a panic that unwinds), it asks the venue what the engine
/// left open, cancels whatever that is (cancel-all: the safety net), and checks that nothing is
/// left. [`FinalCheck::finish`] on the paths that return; `Drop` on the others.
pub struct FinalCheck {
    client: std::sync::Arc<feed::bybit::rest::RestClient>,
    symbol: String,
    finished: bool,
}

/// What the final check found.
struct Left {
    /// The engine's own leftovers, before the safety net: their `orderLinkId`s.
    by_engine: Vec<String>,
    /// The line that says what the venue holds after the safety net.
    line: String,
    /// Orders still open after the safety net.
    still_open: usize,
}

impl FinalCheck {
    fn new(client: std::sync::Arc<feed::bybit::rest::RestClient>, symbol: String) -> FinalCheck {
        FinalCheck {
            client,
            symbol,
            finished: false,
        }
    }

    /// Counts what the engine left, then cancels it and asks again.
    fn check(&self) -> Result<Left, String> {
        let orders = |what: &str| {
            crate::account::open_orders(&self.client, &self.symbol)
                .map_err(|error| format!("{what}: {error}"))
        };
        let by_engine: Vec<String> = orders("open orders")?
            .iter()
            .map(|order| order.order_link_id.to_string())
            .collect();
        crate::account::cancel_all(&self.client, &self.symbol).map_err(|err| err.to_string())?;
        let still_open = orders("open orders after cancel-all")?.len();
        let position =
            crate::account::position(&self.client, &self.symbol).map_err(|err| err.to_string())?;
        Ok(Left {
            by_engine,
            line: format!(
                "venue: {still_open} open orders, position {position} {}",
                self.symbol
            ),
            still_open,
        })
    }

    /// After a run that returned: the venue line to print, or why the run must fail (an
    /// order the engine left, even one the safety net then cancelled).
    pub fn finish(mut self) -> Result<String, RunArgsError> {
        self.finished = true;
        let left = self.check().map_err(|error| {
            RunArgsError::LeftAtVenue(format!(
                "the venue could not be checked after the run ({error}): orders may be open \
                 there; look in Bybit's web UI, or run `toolkit flatten` once the key works"
            ))
        })?;
        if left.by_engine.is_empty() && left.still_open == 0 {
            return Ok(left.line);
        }
        Err(RunArgsError::LeftAtVenue(format!(
            "{}: the engine left {} orders at the venue ({}); the final cancel-all {}",
            left.line,
            left.by_engine.len(),
            left.by_engine.join(", "),
            if left.still_open == 0 {
                "cancelled them"
            } else {
                "could not cancel them all"
            }
        )))
    }
}

impl Drop for FinalCheck {
    /// A run that did not return (a panic unwinding): the safety net all the same.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        match self.check() {
            Ok(left) => eprintln!(
                "real mode: the run did not end cleanly; {} orders were open and were cancelled; {}",
                left.by_engine.len(),
                left.line
            ),
            Err(error) => eprintln!(
                "real mode: the run did not end cleanly and the venue could not be checked: {error}; run `toolkit flatten`"
            ),
        }
    }
}

// By hand, not `#[from]`: the message already says the cause, which must not be chained again.
impl From<crate::account::LoadCredentialsError> for RunArgsError {
    fn from(error: crate::account::LoadCredentialsError) -> Self {
        RunArgsError::Credentials(error)
    }
}

impl From<crate::account::AccountError> for RunArgsError {
    fn from(error: crate::account::AccountError) -> Self {
        RunArgsError::Account(error)
    }
}

impl RunArgs {
    /// Real mode's set-up: the credentials, the account read over signed REST (refused over an
    /// open position), the `REAL MONEY` banner, and only then the account's settings,
    /// disconnect-cancel-all, and the orders the engine did not place cancelled (or left to be
    /// adopted); the venue's fee rates taken into `spec`, and the venue the hot thread will
    /// drive, with the final check armed (what `engine run --mode real` does before its hot
    /// thread starts).
    pub fn real_venue(
        &self,
        spec: &mut crate::runtime::RunSpec,
    ) -> Result<(FinalCheck, feed::bybit::venue::BybitVenue), RunArgsError> {
        use feed::bybit::limits::RateLimits;

        let signer = crate::account::load_signer(self.credentials.as_deref(), &|name| {
            std::env::var(name).ok()
        })?;
        let config = &spec.config;
        let limits = std::sync::Arc::new(RateLimits::new(config.exchange.rate_limits.rates()));
        let client = std::sync::Arc::new(crate::account::rest_client(
            config,
            signer.clone(),
            std::sync::Arc::clone(&limits),
        )?);
        let symbol = spec.symbol.as_str().to_owned();
        let leverage = feed::Fixed::from_f64(config.executor.sizing.leverage).ok_or_else(|| {
            RunArgsError::Invalid("executor.sizing.leverage is not a decimal".to_owned())
        })?;
        let check = crate::account::check_account(&client, &symbol, &spec.instrument)?;
        if !check.position.is_zero() {
            return Err(crate::account::AccountError::OpenPosition {
                symbol,
                position: check.position,
            }
            .into());
        }
        print!("{check}");
        let settings = crate::account::prepare_account(&client, &symbol, leverage)?;
        print!("{settings}");
        let final_check = FinalCheck::new(std::sync::Arc::clone(&client), symbol.clone());
        let mut dcp_granted = false;
        if let Some(window) = &config.exchange.dcp_window {
            let seconds = window.get().as_secs();
            match crate::account::set_dcp(&client, seconds) {
                Ok(()) => {
                    dcp_granted = true;
                    println!("account: disconnect-cancel-all armed: {seconds} s (dcp.future)");
                }
                Err(err) => println!(
                    "account: disconnect-cancel-all refused by the venue ({err}); trading \
                     without it"
                ),
            }
        }
        if config.exchange.adopt_unknown_orders {
            if check.open_orders > 0 {
                println!(
                    "account: {} open orders the engine did not place: adopted once the streams \
                     are up (exchange.adopt_unknown_orders)",
                    check.open_orders
                );
            }
        } else {
            let cancelled = crate::account::cancel_all(&client, &symbol)?;
            if cancelled > 0 {
                println!("account: cancelled {cancelled} open orders the engine did not place");
            }
        }
        spec.instrument.maker_fee_rate = check.maker_fee_rate;
        spec.instrument.taker_fee_rate = check.taker_fee_rate;
        let account = feed::order::Account {
            available: Some(check.available_balance),
            ..feed::order::Account::flat(check.wallet_balance)
        };
        let venue = crate::venues::bybit(
            &spec.config,
            spec.symbol,
            signer,
            limits,
            client,
            account,
            self.seed,
            dcp_granted,
        )?;
        Ok((final_check, venue))
    }

    /// The run these arguments describe, with the configuration loaded and checked.
    pub fn spec(&self) -> Result<crate::runtime::RunSpec, RunArgsError> {
        use crate::runtime::source::Pace;
        use crate::runtime::{FeedSpec, RunSpec};

        let loaded = self.config.load()?;
        let mut config = loaded.config;
        let mode = self.mode.unwrap_or(config.exchange.mode);
        // The run sees the mode in force, whichever way it was chosen.
        config.exchange.mode = mode;
        if mode == crate::config::Mode::Real && self.feed != FeedArg::Bybit {
            return Err(RunArgsError::RealNeedsLiveFeed);
        }
        if let Some(seconds) = self.duration
            && !(seconds > 0.0 && seconds.is_finite())
        {
            return Err(RunArgsError::Invalid(format!(
                "--duration {seconds}: must be a positive number of seconds"
            )));
        }
        let symbol_name = config.exchange.symbols.first().cloned().unwrap_or_default();
        let instrument = *loaded.symbols.symbols.get(&symbol_name).ok_or_else(|| {
            RunArgsError::Invalid(format!("{symbol_name} has no entry in symbols.yml"))
        })?;
        let symbol = feed::Symbol::new(&symbol_name)
            .map_err(|_| RunArgsError::Invalid(format!("symbol {symbol_name:?} is too long")))?;
        let (feed, default_pace) = match &self.feed {
            FeedArg::Bybit => (
                FeedSpec::Bybit(Box::new(live_feed_settings(&config, self.seed)?)),
                Pace::RealTime,
            ),
            FeedArg::Sim => (
                FeedSpec::Sim {
                    regime: self.regime,
                    seed: self.seed,
                    start_ms: 1_767_225_600_000,
                    start_price: feed::Fixed::from_int(60_000).unwrap_or_default(),
                },
                Pace::RealTime,
            ),
            FeedArg::Replay(dir) => (
                FeedSpec::Replay { dir: dir.clone() },
                Pace::AsFastAsPossible,
            ),
        };
        let pace = match self.pace {
            Some(PaceArg::RealTime) => Pace::RealTime,
            Some(PaceArg::Fast) => Pace::AsFastAsPossible,
            None => default_pace,
        };
        let out_dir = self.out.clone().unwrap_or_else(|| {
            let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string()
                .replace([':', '-'], "");
            config.paths.data.join("runs").join(stamp)
        });
        Ok(RunSpec {
            metrics_addr: self.metrics_addr.unwrap_or(config.metrics.listen),
            symbol,
            instrument,
            feed,
            pace,
            duration: self.duration.map(std::time::Duration::from_secs_f64),
            out_dir,
            onnxruntime: self.onnxruntime.path.clone(),
            record: self.record.clone(),
            apply_rollbacks: self.apply_rollbacks,
            entry_rule: crate::pipeline::EntryRule::Model,
            pin_threads: true,
            config,
        })
    }
}

/// The live public stream's settings from the configuration: the active environment's
/// `ws_public`, every configured symbol at `engine.book_depth`, `exchange.connection`, and
/// `exchange.tls_ca_file` trusted besides the public roots. `seed` seeds the back-off jitter.
pub fn live_feed_settings(
    config: &crate::config::Config,
    seed: u64,
) -> Result<feed::bybit::live::FeedSettings, RunArgsError> {
    use feed::bybit::live::FeedSettings;

    let exchange = &config.exchange;
    let url = &exchange.active_endpoints().ws_public;
    // The loader checked every endpoint; this only repeats the parse.
    let endpoint =
        feed::net::Endpoint::parse(url).map_err(|err| RunArgsError::Invalid(err.to_string()))?;
    let tls = if endpoint.scheme.is_tls() {
        Some(feed::net::client_config(exchange.tls_ca_file.as_deref())?)
    } else {
        None
    };
    let symbols = exchange
        .symbols
        .iter()
        .map(|name| {
            feed::Symbol::new(name)
                .map_err(|_| RunArgsError::Invalid(format!("symbol {name:?} is too long")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let connection = &exchange.connection;
    Ok(FeedSettings {
        endpoint,
        tls,
        symbols,
        depth: config.engine.book_depth,
        liveness: connection.liveness(),
        backoff: connection.backoff(),
        connect_timeout: connection.connect_timeout.get(),
        seed,
    })
}

/// Why `engine run` failed.
#[derive(Debug, thiserror::Error)]
pub enum RunCommandError {
    /// The arguments or the configuration.
    #[error(transparent)]
    Args(#[from] RunArgsError),
    /// The run.
    #[error(transparent)]
    Run(#[from] crate::runtime::RunError),
}

/// The host checks at start: under `engine.require_isolated_hot_core`, a refusal when the hot
/// core is offline or not isolated (unless `allow_shared_core`), else every check short of an
/// isolated host for the banner; otherwise only the isolation checks' warnings.
fn host_findings(
    layout: &crate::config::EngineLayout,
    allow_shared_core: bool,
) -> Result<String, RunArgsError> {
    use crate::host::{Status, check, root};
    let required = layout.require_isolated_hot_core;
    let checks = check(&root(), layout, required);
    if let Some(failed) = checks
        .iter()
        .find(|check| check.status == Status::Fail)
        .filter(|_| !allow_shared_core)
    {
        return Err(RunArgsError::SharedHotCore {
            check: failed.name,
            found: failed.found.clone(),
            expected: failed.expected.clone(),
            fix: failed.fix.clone(),
        });
    }
    let mut out = String::new();
    for finding in checks {
        let short = matches!(finding.status, Status::Warn | Status::Fail);
        if short && (required || finding.is_isolation()) {
            let _ = writeln!(
                out,
                "host: {} {}: {} (expected {}); {}",
                finding.status.label(),
                finding.name,
                finding.found,
                finding.expected,
                finding.fix
            );
        }
    }
    Ok(out)
}

/// Runs the engine as `engine run` does: prints the set-up once everything is up, runs until
/// the feed ends, the duration passes or `stop` is set, and returns the exit summary.
pub fn run_engine(
    args: &RunArgs,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<String, RunCommandError> {
    use crate::runtime::source::Pace;

    let spec = args.spec()?;
    let config = spec.config.clone();
    let host = host_findings(&config.engine, args.allow_shared_core)?;
    let feed = match &args.feed {
        FeedArg::Sim => format!("sim ({}, seed {})", args.regime.name(), args.seed),
        FeedArg::Replay(dir) => format!("replay of {}", dir.display()),
        FeedArg::Bybit => match &spec.feed {
            crate::runtime::FeedSpec::Bybit(live) => format!(
                "bybit {} ({} at depth {})",
                live.endpoint,
                config.exchange.symbols.join(", "),
                live.depth
            ),
            _ => "bybit".to_owned(),
        },
    };
    let pace = match spec.pace {
        Pace::RealTime => "real time",
        Pace::AsFastAsPossible => "as fast as possible",
    };
    let banner = |started: &crate::runtime::Started, mode: &str, fills: &str| {
        println!(
            "engine run: mode {mode}, venue {} ({fills}), feed {feed} [{pace}]",
            config.exchange.venue
        );
        println!(
            "model: active {} ({}), shadow {}",
            started.active_id,
            started.backend,
            started.shadow_id.as_deref().unwrap_or("none")
        );
        println!(
            "cpu: hot thread on core {}, cold threads on cores {:?}",
            config.engine.hot_core, config.engine.cold_cores
        );
        print!("{host}");
        println!("metrics: {}", started.metrics_url);
        println!("outputs: {}", started.out_dir.display());
    };
    if config.exchange.mode == crate::config::Mode::Real {
        let mut spec = spec;
        let (final_check, venue) = args.real_venue(&mut spec)?;
        // Every real order is shadowed by the paper venue, and the two compared.
        let paper = crate::venues::paper(&spec.config, &spec.instrument)
            .map_err(crate::runtime::RunError::from)?;
        let venue = feed::paper::shadow::Shadowed::new(venue, paper);
        let endpoint = config.exchange.active_endpoints().ws_trade.clone();
        let run = crate::runtime::run(spec, venue, stop, |started| {
            banner(started, "REAL MONEY", &format!("orders to {endpoint}"));
        });
        // Whatever the run did, the venue is asked what is left, and that is cancelled.
        let venue_line = final_check.finish();
        let report = match run {
            Ok(report) => report,
            Err(error) => {
                let venue = venue_line.unwrap_or_else(|err| err.to_string());
                eprintln!("real mode: after the failure: {venue}");
                return Err(error.into());
            }
        };
        let summary = crate::runtime::summary::format(&report, &config.engine.latency_budget_ns);
        if let Some(code) = report.hot.stats.venue.and_then(|venue| venue.fatal_code) {
            print!("{summary}");
            return Err(RunArgsError::VenueRefused {
                failure: feed::venue::VenueFailure {
                    code,
                    advice: feed::bybit::codes::fatal_advice(code),
                },
                venue: venue_line.unwrap_or_else(|err| err.to_string()),
            }
            .into());
        }
        return match venue_line {
            Ok(line) => Ok(format!("{summary}{line}\n")),
            Err(error) => {
                print!("{summary}");
                Err(error.into())
            }
        };
    }
    let venue = crate::venues::paper(&spec.config, &spec.instrument)
        .map_err(crate::runtime::RunError::from)?;
    let report = crate::runtime::run(spec, venue, stop, |started| {
        banner(started, "paper", "paper fills");
    })?;
    Ok(crate::runtime::summary::format(
        &report,
        &config.engine.latency_budget_ns,
    ))
}

//! The running engine: one pinned hot thread and the cold-path threads around it, joined by
//! lock-free rings.
//!
//! ```text
//!             control (halt, resume, rollout)            new models
//!   supervisor ─────────────────────────────┐   ┌──────────────────── registry
//!        ▲                                   ▼   ▼                        ▲  ▲
//!        │ closed trades, mids, scores  ┌──────────┐     retired models   │  │ shadow samples
//!        └──────────────────────────────│   hot    │──────────────────────┘  │
//!   metrics ◄── counters, histograms ───│ (pinned) │─────────────────────────┘
//!        └── empty histograms ─────────►└──────────┘──► parity samples ──► parity
//!                                             └──────► decision log ─────► log writer
//! ```
//!
//! - **hot** ([`hot`]): source → decode → book → features → order manager → candidates →
//!   route → score → gates → sizing → orders, against whichever [`Venue`] the caller hands
//!   [`run`]; pinned to `engine.hot_core`, busy-polling, no allocation, lock or blocking call.
//! - **metrics** ([`metrics`]): Prometheus text at `/metrics`.
//! - **supervisor** ([`supervisor`]): rolling winrates, precision and volatility halts,
//!   canary rollback, drift ([`drift`]) and parity rollback of the active model through the
//!   registry, `MODE_SWITCH` events.
//! - **registry** and **parity** ([`models`]): model loading and checks, hot swaps, shadow
//!   scoring, live parity.
//! - **log writer** ([`log`]): the decision and fill log and its hash;
//! - **journal** ([`recorder`], with `--record DIR`): every frame as received, into a journal
//!   that replays as the run saw it.
//!
//! Cold threads run on `engine.cold_cores`. Every ring is bounded; a full ring drops and
//! counts on the hot side (`ring_drops_total`).

pub mod board;
pub mod drift;
pub mod frame_ring;
pub mod hot;
pub mod log;
pub mod metrics;
pub mod models;
pub mod performance;
pub mod recorder;
pub mod rings;
pub mod source;
pub mod stats;
pub mod summary;
pub mod supervisor;
pub mod trader;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use feed::order::OrderId;
use feed::sim::{Regime, SimConfig};
use feed::{Fixed, Instrument, Symbol, Venue};

use crate::config::{Config, Mode, RolloutMode, ScorerBackend};
use crate::executor::UnrepresentableValue;
use crate::features::FEATURE_COUNT;
use crate::model::ort_backend::{OrtError, load_runtime};
use crate::model::registry::Slot;
use crate::signals::SignalId;
use board::{Board, SharedBoard};
use hot::{HotLoop, HotReport, HotRings, Lockstep};
use log::{LogError, LogReport};
use metrics::{MetricsInputs, MetricsReport};
use models::{ModelLoadError, ParityInputs, RegistryInputs};
use rings::{CancelReason, LogRecord, Route, Sample, SupervisorEvent, ring, warmed_ring};
use source::{Pace, ReplaySource, SimSource, Source, SourceError};
use stats::{HotStats, StageHistograms};
use supervisor::{Supervisor, SupervisorInputs, SupervisorRules};

/// Where the market comes from.
#[derive(Debug, Clone)]
pub enum FeedSpec {
    /// The market simulator.
    Sim {
        /// Regime.
        regime: Regime,
        /// Seed.
        seed: u64,
        /// Simulated start, ms since the epoch (ignored in real time: the simulation starts
        /// now).
        start_ms: u64,
        /// Mid price it starts at.
        start_price: Fixed,
    },
    /// A journal directory.
    Replay {
        /// The directory.
        dir: PathBuf,
    },
    /// The live Bybit public stream (`exchange.endpoints`, every configured symbol).
    Bybit(Box<feed::bybit::live::FeedSettings>),
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The effective configuration.
    pub config: Config,
    /// The traded symbol.
    pub symbol: Symbol,
    /// Its trading rules.
    pub instrument: Instrument,
    /// The market.
    pub feed: FeedSpec,
    /// How fast it plays.
    pub pace: Pace,
    /// Stop after this much market time.
    pub duration: Option<Duration>,
    /// Where `/metrics` listens (port 0: any free port).
    pub metrics_addr: SocketAddr,
    /// Directory of the run's outputs (created).
    pub out_dir: PathBuf,
    /// The ONNX Runtime library.
    pub onnxruntime: PathBuf,
    /// Record every frame received into a journal in this directory.
    pub record: Option<PathBuf>,
    /// Apply the supervisor's rollbacks to the registry even on a replay, which otherwise
    /// only records them ([`supervisor`]: a replay is research and never changes the registry
    /// a live engine reads).
    pub apply_rollbacks: bool,
    /// Which candidates may become orders: the model's score (trading), or a baseline the
    /// canary judges the model against.
    pub entry_rule: crate::pipeline::EntryRule,
    /// Pin the hot thread to `engine.hot_core` and the cold threads to `engine.cold_cores`
    /// (the engine trading). Offline replays running side by side leave placement to the OS:
    /// pinned, every one of them would share the same two cores.
    pub pin_threads: bool,
}

/// What a run looks like once started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The `/metrics` URL.
    pub metrics_url: String,
    /// The active model.
    pub active_id: String,
    /// The shadow model, if any.
    pub shadow_id: Option<String>,
    /// Scoring backend.
    pub backend: &'static str,
    /// The run's output directory.
    pub out_dir: PathBuf,
}

/// What a run did.
pub struct RunReport {
    /// How it started.
    pub started: Started,
    /// The hot thread's report.
    pub hot: HotReport,
    /// The metrics thread's report: latency, memory, the last exposition.
    pub metrics: MetricsReport,
    /// The cold path's final state.
    pub board: Board,
    /// The decision and fill log.
    pub log: LogReport,
    /// The recording, if the run recorded.
    pub record: Option<recorder::RecordReport>,
    /// Whether the hot thread ran pinned to its core.
    pub hot_pinned: bool,
}

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The active model could not be loaded.
    #[error("active model")]
    Model(#[from] ModelLoadError),
    /// ONNX Runtime is needed and could not be loaded.
    #[error(transparent)]
    Ort(#[from] OrtError),
    /// Real mode without ONNX Runtime: the native evaluator's live parity checks need it.
    #[error("real mode checks the native evaluator against ONNX Runtime on every candidate: {0}")]
    ParityRequired(OrtError),
    /// The source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A configuration value cannot be represented exactly.
    #[error(transparent)]
    Unrepresentable(#[from] UnrepresentableValue),
    /// The metrics endpoint could not listen.
    #[error("metrics endpoint {addr}: {message}")]
    Metrics {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        message: String,
    },
    /// The output directory could not be created.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The decision log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// Recording failed.
    #[error(transparent)]
    Record(#[from] recorder::RecordError),
    /// A thread could not start or panicked.
    #[error("the {0} thread failed")]
    Thread(&'static str),
}

/// Pins the current thread to `core`; false when that core does not exist here.
fn pin(core: u16) -> bool {
    core_affinity::get_core_ids()
        .and_then(|cores| cores.into_iter().find(|id| id.id == usize::from(core)))
        .is_some_and(core_affinity::set_for_current)
}

fn spawn<T: Send + 'static>(
    name: &'static str,
    core: Option<u16>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, RunError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            if let Some(core) = core {
                pin(core);
            }
            work()
        })
        .map_err(|_| RunError::Thread(name))
}

fn join<T>(name: &'static str, handle: JoinHandle<T>) -> Result<T, RunError> {
    handle.join().map_err(|_| RunError::Thread(name))
}

/// Runs the engine on `venue` until the feed ends, the duration passes or `stop` is set;
/// `on_start` is called once everything is up, before the first frame. The caller builds the
/// venue (see [`crate::venues`]); the runtime never knows which one it drives.
pub fn run<V: Venue + Send + 'static>(
    spec: RunSpec,
    venue: V,
    stop: Arc<AtomicBool>,
    on_start: impl FnOnce(&Started),
) -> Result<RunReport, RunError> {
    let config = &spec.config;
    std::fs::create_dir_all(&spec.out_dir).map_err(|source| RunError::Io {
        path: spec.out_dir.clone(),
        source,
    })?;

    // ONNX Runtime: required to score with it; for parity checks otherwise.
    let backend = config.ai_scorer.backend;
    // Real money never trades on a scorer nothing checks: without ONNX Runtime only paper mode
    // goes on, with the native evaluator alone.
    let environment = match load_runtime(&spec.onnxruntime) {
        Ok(environment) => Some(environment),
        Err(err) if backend == ScorerBackend::Native && config.exchange.mode == Mode::Paper => {
            eprintln!("warning: {err}; parity checks are off");
            None
        }
        Err(source) if config.exchange.mode == Mode::Real => {
            return Err(RunError::ParityRequired(source));
        }
        Err(err) => return Err(err.into()),
    };
    let env = environment.as_deref();

    // Models: the active one must load; a shadow one that does not is refused and skipped.
    let registry = config.paths.registry.clone();
    let active = models::load_slot(&registry, Slot::Active, env)?;
    let mut load_failures = 0;
    let shadow = match models::load_slot(&registry, Slot::Shadow, env) {
        Ok(model) => Some(model),
        Err(ModelLoadError::EmptySlot { .. }) => None,
        Err(err) => {
            eprintln!("registry: shadow model refused: {err}");
            load_failures += 1;
            None
        }
    };
    let active_swap = models::swap(&active, Route::Active, active.info.thresholds, backend, env)?;
    let rollout = config.rollout.mode;
    let canary_swap = match (&shadow, rollout) {
        (Some(model), RolloutMode::Canary | RolloutMode::Full) => {
            let taus = models::shadow_thresholds(&model.info, &config.ai_scorer.shadow);
            Some(models::swap(model, Route::Canary, taus, backend, env)?)
        }
        _ => None,
    };
    let parity_checker = env.map(|env| active.parity_checker(env)).transpose()?;

    let mut board = Board::new(
        active.info.id.clone(),
        active_swap.scorer.backend(),
        rollout,
    );
    board
        .tau_entry
        .insert(active.info.id.clone(), active.info.thresholds.tau_entry);
    if let Some(model) = &shadow {
        board.shadow_id = Some(model.info.id.clone());
        let taus = models::shadow_thresholds(&model.info, &config.ai_scorer.shadow);
        board
            .tau_entry
            .insert(model.info.id.clone(), taus.tau_entry);
    }
    board.symbol = spec.symbol.to_string();
    board.model_loads = 1 + u64::from(canary_swap.is_some());
    board.model_load_failures = load_failures;
    let board = SharedBoard::new(board);

    // The hot path's parts.
    let source = match &spec.feed {
        FeedSpec::Sim {
            regime,
            seed,
            start_ms,
            start_price,
        } => Source::Sim(Box::new(SimSource::new(
            SimConfig {
                symbol: spec.symbol,
                tick_size: spec.instrument.tick_size,
                qty_step: spec.instrument.qty_step,
                start_price: *start_price,
                duration_ms: spec.duration.map_or(365 * 86_400_000, |duration| {
                    duration.as_millis() as u64 + 1000
                }),
                ..SimConfig::btcusdt(*regime, *start_ms, *seed)
            },
            spec.pace,
        ))),
        FeedSpec::Replay { dir } => Source::Replay(Box::new(ReplaySource::open(dir, spec.pace)?)),
        FeedSpec::Bybit(settings) => Source::Live(Box::new(
            feed::bybit::live::PublicFeed::new((**settings).clone())
                .map_err(|_| RunError::Thread("feed-connect"))?,
        )),
    };

    // Rings.
    let capacity = |n: u32| n as usize;
    let sizes = &config.engine.rings;
    let (stats_out, stats_in) = warmed_ring(capacity(sizes.metrics), &HotStats::default());
    let (latency_out, latency_in) = ring::<Box<StageHistograms>>(4);
    let (mut spare_out, spare_in) = rtrb::RingBuffer::<Box<StageHistograms>>::new(4);
    for _ in 0..2 {
        let _ = spare_out.push(Box::new(StageHistograms::new()));
    }
    let mid = SupervisorEvent::Market { ts_ns: 0, mid: 0.0 };
    let (supervisor_out, supervisor_in) = warmed_ring(capacity(sizes.trades), &mid);
    let sample = Sample {
        ts_ns: 0,
        signal: SignalId(0),
        features: [0.0; FEATURE_COUNT],
        score: 0.0,
        route: Route::Active,
    };
    let (shadow_out, shadow_in) = warmed_ring(capacity(sizes.samples), &sample);
    let (parity_out, parity_in) = warmed_ring(capacity(sizes.samples), &sample);
    let record = LogRecord::Cancel {
        ts_ns: 0,
        id: OrderId(0),
        reason: CancelReason::Shutdown,
    };
    let (log_out, log_in) = warmed_ring(capacity(sizes.log), &record);
    let (control_out, control_in) = rtrb::RingBuffer::new(capacity(sizes.control));
    let (mut models_out, models_in) = rtrb::RingBuffer::new(4);
    let (retired_out, retired_in) = ring(4);
    if let Some(canary) = canary_swap {
        // An empty ring of four takes it.
        let _ = models_out.push(canary);
    }
    let (parity_sender, parity_receiver) = crossbeam_channel::unbounded();

    let server = tiny_http::Server::http(spec.metrics_addr).map_err(|err| RunError::Metrics {
        addr: spec.metrics_addr,
        message: err.to_string(),
    })?;
    let metrics_addr = server.server_addr().to_ip().unwrap_or(spec.metrics_addr);
    let started = Started {
        metrics_url: format!("http://{metrics_addr}/metrics"),
        active_id: active.info.id.clone(),
        shadow_id: shadow.as_ref().map(|model| model.info.id.clone()),
        backend: active_swap.scorer.backend(),
        out_dir: spec.out_dir.clone(),
    };

    // Cold threads, round-robin over the cold cores.
    let done = Arc::new(AtomicBool::new(false));
    let cold = config.engine.cold_cores.clone();
    let cold_core = |index: usize| {
        cold.get(index % cold.len().max(1))
            .copied()
            .filter(|_| spec.pin_threads)
    };
    let lockstep = spec.pace == Pace::AsFastAsPossible;
    let handled = Arc::new(AtomicU64::new(0));

    let metrics_thread = spawn("metrics", cold_core(0), {
        let (board, done) = (board.clone(), Arc::clone(&done));
        move || {
            metrics::run(MetricsInputs {
                stats: stats_in,
                latency: latency_in,
                spare: spare_out,
                board,
                server,
                done,
            })
        }
    })?;
    let supervisor_thread = spawn("supervisor", cold_core(1), {
        let supervisor = Supervisor::new(SupervisorRules::from_config(config))
            .with_registry(registry.clone(), &active.info)
            .map_err(ModelLoadError::from)?;
        let supervisor = match spec.feed {
            FeedSpec::Replay { .. } if !spec.apply_rollbacks => supervisor.recording_rollbacks(),
            _ => supervisor,
        };
        let inputs = SupervisorInputs {
            events: supervisor_in,
            control: control_out,
            handled: Arc::clone(&handled),
            done: Arc::clone(&done),
            board: board.clone(),
            spin: lockstep,
        };
        move || supervisor::run(supervisor, inputs)
    })?;
    let registry_thread = spawn("registry", cold_core(2), {
        let inputs = RegistryInputs {
            registry,
            active_id: active.info.id.clone(),
            shadow,
            backend,
            shadow_config: config.ai_scorer.shadow.clone(),
            rollout,
            environment: environment.clone(),
            models: models_out,
            retired: retired_in,
            samples: shadow_in,
            parity: parity_sender,
            board: board.clone(),
            done: Arc::clone(&done),
        };
        move || models::run_registry(inputs)
    })?;
    let parity_thread = spawn("parity", cold_core(3), {
        let inputs = ParityInputs {
            checker: parity_checker,
            checkers: parity_receiver,
            samples: parity_in,
            board: board.clone(),
            done: Arc::clone(&done),
        };
        move || models::run_parity(inputs)
    })?;
    let log_thread = spawn("log", cold_core(4), {
        let (path, done) = (spec.out_dir.join("decisions.jsonl"), Arc::clone(&done));
        move || log::run(&path, log_in, &done)
    })?;

    let (recorder, record_thread) = match &spec.record {
        Some(dir) => {
            // A byte ring of `engine.rings.journal` frames of 512 bytes.
            let (recorder, frames) = recorder::recorder(capacity(sizes.journal) * 512);
            let (dir, done) = (dir.clone(), Arc::clone(&done));
            let thread = spawn("journal", cold_core(5), move || {
                recorder::run(&dir, frames, &done)
            })?;
            (Some(recorder), Some(thread))
        }
        None => (None, None),
    };

    on_start(&started);

    let hot_loop = HotLoop::from_config(
        config,
        spec.symbol,
        spec.instrument,
        source,
        venue,
        active_swap,
        spec.duration,
        HotRings {
            stats: stats_out,
            latency: latency_out,
            latency_spare: spare_in,
            supervisor: supervisor_out,
            shadow: shadow_out,
            parity: parity_out,
            log: log_out,
            control: control_in,
            models: models_in,
            retired: retired_out,
        },
        lockstep.then(|| Lockstep {
            handled: Arc::clone(&handled),
            sent: 0,
        }),
    )?;
    let hot_loop = hot_loop.with_entry_rule(spec.entry_rule);
    let hot_loop = match recorder {
        Some(recorder) => hot_loop.with_recorder(recorder),
        None => hot_loop,
    };
    let hot_core = config.engine.hot_core;
    let pin_hot = spec.pin_threads;
    let hot_thread = std::thread::Builder::new()
        .name("hot".to_owned())
        .spawn(move || {
            let pinned = pin_hot && pin(hot_core);
            // The loop is handed back and dropped only once the metrics thread has taken its
            // last memory sample: what it frees when dropped is not the running engine's.
            let mut hot_loop = hot_loop;
            (hot_loop.run(&stop), hot_loop, pinned)
        })
        .map_err(|_| RunError::Thread("hot"))?;
    let hot_result = join("hot", hot_thread);
    // Whatever the hot thread did, the cold threads drain and stop.
    done.store(true, Ordering::Release);
    let metrics = join("metrics", metrics_thread)?;
    join("supervisor", supervisor_thread)?;
    join("registry", registry_thread)?;
    join("parity", parity_thread)?;
    let log = join("log", log_thread)??;
    let record = match record_thread {
        Some(thread) => Some(join("journal", thread)??),
        None => None,
    };
    let (hot, hot_loop, hot_pinned) = hot_result?;
    drop(hot_loop);
    let hot = hot?;
    std::fs::write(spec.out_dir.join("metrics.prom"), &metrics.text).map_err(|source| {
        RunError::Io {
            path: spec.out_dir.join("metrics.prom"),
            source,
        }
    })?;
    let board = board.lock().clone();
    Ok(RunReport {
        started,
        hot,
        metrics,
        board,
        log,
        record,
        hot_pinned,
    })
}

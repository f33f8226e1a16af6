//! The engine on the live public stream of `toolkit venue` over loopback, with its faults: it
//! recovers from each by itself and its book ends equal to the venue's; a refused first
//! subscription stops it naming the topic; TLS works with the venue's certificate and only
//! with it; it halts entries while its book is invalid; a recorded session replays to the same
//! decisions; and the collector records the stream with its snapshots and losses.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use engine::config::{Config, ScorerBackend};
use engine::model::registry::{Slot, Thresholds};
use engine::model::synthetic::promote_synthetic;
use engine::runtime::hot::HotLoop;
use engine::runtime::source::Pace;
use engine::runtime::source::SourceError;
use engine::runtime::stats::HotStats;
use engine::runtime::{FeedSpec, RunSpec, run};
use feed::book::InvalidReason;
use feed::bybit::live::{FeedSettings, LossReason};
use feed::bybit::{PublicDecoder, PublicMessage};
use feed::paper::PaperVenue;
use feed::{Fixed, FrameBuf, OrderBook, Side, Symbol};

mod common;
use common::{Venue, book_levels, levels_of, live_hot_loop, live_settings};

const DEPTH: usize = 50;

/// Price and size of each level, best first.
type Levels = Vec<(Fixed, Fixed)>;

/// A journal of `seconds` of simulated market (normal regime), written by `toolkit synth`.
fn journal(dir: &Path, seconds: f64) -> PathBuf {
    let hours = format!("{}", seconds / 3600.0);
    let out = dir.join("journal");
    let status = Command::new(env!("CARGO_BIN_EXE_toolkit"))
        .args([
            "synth", "--days", "normal", "--hours", &hours, "--seed", "11", "--out",
        ])
        .arg(&out)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let symbol = out.join("BTCUSDT");
    let day = std::fs::read_dir(&symbol).unwrap().next().unwrap().unwrap();
    day.path()
}

/// The engine's hot loop on the live stream (paper venue, synthetic model), stepped as the hot
/// thread steps it.
struct Engine {
    hot: HotLoop<PaperVenue>,
    stop: AtomicBool,
}

impl Engine {
    fn new(settings: FeedSettings) -> Engine {
        Engine {
            hot: live_hot_loop(settings),
            stop: AtomicBool::new(false),
        }
    }

    /// Steps for `duration`.
    fn run(&mut self, duration: Duration) -> Result<(), SourceError> {
        let end = Instant::now() + duration;
        while Instant::now() < end {
            assert_eq!(self.hot.step(&self.stop)?, None);
        }
        Ok(())
    }

    fn stats(&self) -> &HotStats {
        self.hot.stats()
    }

    fn book(&self) -> &OrderBook {
        self.hot.book()
    }

    fn levels(&self, side: Side) -> Levels {
        book_levels(self.book(), side, DEPTH)
    }
}

/// Runs the engine against a venue replaying a short journal with `faults`, until the replay
/// has ended and the engine's book equals the venue's; returns the engine for the fault's own
/// checks.
fn survives(faults: &str) -> Engine {
    survives_with(faults, |_| {})
}

/// [`survives`], with the engine's live settings adjusted by `adjust`.
fn survives_with(faults: &str, adjust: impl FnOnce(&mut FeedSettings)) -> Engine {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path(), 12.0);
    let venue = Venue::start(&[
        "--seed",
        "3",
        "--replay",
        journal.to_str().unwrap(),
        "--faults",
        faults,
    ]);
    let mut settings = live_settings(&venue.url("/v5/public/linear"), None);
    adjust(&mut settings);
    let mut engine = Engine::new(settings);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut previous = None;
    loop {
        engine.run(Duration::from_millis(500)).unwrap();
        let rest = venue.orderbook(DEPTH);
        let book = (levels_of(&rest["b"]), levels_of(&rest["a"]));
        let still = previous.as_ref() == Some(&book);
        if still
            && engine.book().is_valid()
            && engine.levels(Side::Buy) == book.0
            && engine.levels(Side::Sell) == book.1
        {
            assert!(!book.0.is_empty() && !book.1.is_empty());
            return engine;
        }
        assert!(
            Instant::now() < deadline,
            "{faults}: no agreement with the venue in 90 s (valid {}, stats {:?})",
            engine.book().is_valid(),
            engine.stats().feed
        );
        previous = Some(book);
    }
}

#[test]
fn a_dropped_connection_is_remade_and_the_book_rebuilt_from_the_new_snapshot() {
    let engine = survives("drop:after=3s");
    let stats = engine.stats();
    assert!(stats.feed.reconnects() >= 1, "{:?}", stats.feed);
    assert!(stats.book_invalidations[InvalidReason::Disconnected.index()] >= 1);
    assert!(
        engine.book().snapshots() >= 2,
        "{}",
        engine.book().snapshots()
    );
}

#[test]
fn a_stalled_connection_is_found_stale_and_remade() {
    // No pings, so that the silence itself is what gives the connection away.
    let engine = survives_with("stall:after=3s:for=8s", |settings| {
        settings.liveness.ping_interval = Duration::from_secs(60);
    });
    let stats = engine.stats().feed;
    assert!(stats.losses[LossReason::Stale.index()] >= 1, "{stats:?}");
    assert!(stats.reconnects() >= 1, "{stats:?}");
}

#[test]
fn a_skipped_update_invalidates_the_book_until_a_resubscription_brings_a_snapshot() {
    let engine = survives("gap:after=3s");
    let stats = engine.stats();
    assert!(
        stats.book_invalidations[0] >= 1,
        "{:?}",
        stats.book_invalidations
    );
    assert!(stats.feed.resyncs >= 1, "{:?}", stats.feed);
}

#[test]
fn a_snapshot_mid_stream_and_a_restart_at_u_1_reset_the_book() {
    // Each is taken as a reset, never as a gap.
    for fault in ["snapshot:after=3s", "restart:after=3s"] {
        let engine = survives(fault);
        assert!(
            engine.book().snapshots() >= 2,
            "{fault}: {}",
            engine.book().snapshots()
        );
        // (A disconnect on a loaded host would be a recovery of its own, not a mistake.)
        let [gaps, crossed, _] = engine.stats().book_invalidations;
        assert_eq!((gaps, crossed), (0, 0), "{fault}");
    }
}

#[test]
fn malformed_and_truncated_frames_are_counted_and_lose_nothing_else() {
    let engine = survives("malformed:after=3s");
    assert!(engine.stats().decode_errors.iter().sum::<u64>() >= 1);
    let engine = survives("truncated:after=3s");
    assert!(engine.stats().decode_errors.iter().sum::<u64>() >= 1);
    // The truncated delta is lost: the next one shows the gap, and a resync mends it.
    assert!(engine.stats().book_invalidations[0] >= 1);
}

#[test]
fn lost_and_late_pongs_mean_a_dead_connection() {
    for fault in ["pong-lost:after=1s:for=5s", "pong-delay:ms=4000:for=6s"] {
        let stats = survives(fault).stats().feed;
        assert!(
            stats.losses[LossReason::PongTimeout.index()] >= 1,
            "{fault}: {stats:?}"
        );
    }
}

#[test]
fn a_burst_faster_than_real_time_and_a_skewed_clock_change_nothing_in_the_book() {
    let engine = survives("burst:after=2s:frames=300");
    assert!(engine.stats().frames > 300);
    survives("skew:ms=-3000");
}

#[test]
fn a_subscription_refused_after_a_reconnect_is_retried_on_a_new_connection() {
    // Armed after the first subscription, the refusal meets the reconnect's.
    let stats = survives("subscribe-fail:after=2s,drop:after=3s")
        .stats()
        .feed;
    assert!(
        stats.losses[LossReason::SubscribeFailed.index()] >= 1,
        "{stats:?}"
    );
    assert!(stats.reconnects() >= 2, "{stats:?}");
}

#[test]
fn a_refused_first_subscription_stops_the_engine_naming_the_topic() {
    let venue = Venue::start(&["--faults", "subscribe-fail"]);
    let mut engine = Engine::new(live_settings(&venue.url("/v5/public/linear"), None));
    let deadline = Instant::now() + Duration::from_secs(20);
    let error = loop {
        if let Err(err) = engine.run(Duration::from_millis(100)) {
            break err;
        }
        assert!(Instant::now() < deadline, "the refusal was not reported");
    };
    let message = error.to_string();
    assert!(
        message.starts_with("bybit public stream: subscribing orderbook.50.BTCUSDT failed: "),
        "{message}"
    );
}

#[test]
fn tls_reaches_the_venue_through_its_certificate_and_is_refused_without_it() {
    let venue = Venue::start(&["--tls"]);
    let certificate = venue.cert.clone().unwrap();
    let trusted = feed::net::client_config(Some(&certificate)).unwrap();
    let mut engine = Engine::new(live_settings(
        &venue.url("/v5/public/linear"),
        Some(trusted),
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !engine.book().is_valid() {
        engine.run(Duration::from_millis(100)).unwrap();
        assert!(Instant::now() < deadline, "no book over TLS");
    }

    // The public roots alone do not trust the venue: no connection, no frame, no book.
    let untrusted = feed::net::client_config(None).unwrap();
    let mut engine = Engine::new(live_settings(
        &venue.url("/v5/public/linear"),
        Some(untrusted),
    ));
    engine.run(Duration::from_secs(2)).unwrap();
    assert_eq!(engine.stats().frames, 0);
    assert!(!engine.book().is_valid());
}

/// The live stream's settings for the engine, at `venue`.
fn live(venue: &Venue) -> FeedSettings {
    live_settings(&venue.url("/v5/public/linear"), None)
}

/// An engine run on `feed` for 12 s of market: the synthetic model (native backend, low
/// thresholds so that it trades), no volatility halt (the supervisor's timing would then decide
/// where a halt lands, live), recording into `record` when given.
fn engine_spec(dir: &Path, feed: FeedSpec, record: Option<PathBuf>) -> RunSpec {
    let registry = dir.join("registry");
    if !registry.exists() {
        let thresholds = Thresholds {
            tau_entry: 0.05,
            tau_hold: 0.01,
        };
        promote_synthetic(&registry, "synthetic-42", 42, thresholds, Slot::Active).unwrap();
    }
    let mut config = Config::default();
    config.paths.registry = registry;
    config.ai_scorer.backend = ScorerBackend::Native;
    config.engine.busy_poll = false;
    config.risk.volatility_halt.enabled = false;
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/app.yml");
    let instrument = engine::config::load(&shipped, None)
        .unwrap()
        .symbols
        .symbols["BTCUSDT"];
    let replay = matches!(feed, FeedSpec::Replay { .. });
    RunSpec {
        symbol: Symbol::new("BTCUSDT").unwrap(),
        instrument,
        feed,
        pace: if replay {
            Pace::AsFastAsPossible
        } else {
            Pace::RealTime
        },
        duration: (!replay).then_some(Duration::from_secs(12)),
        metrics_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        out_dir: dir.join(if replay { "replay" } else { "live" }),
        onnxruntime: dir.join("no-onnxruntime.so"),
        record,
        apply_rollbacks: false,
        entry_rule: engine::pipeline::EntryRule::Model,
        pin_threads: true,
        config,
    }
}

fn run_engine(spec: RunSpec) -> engine::runtime::RunReport {
    let venue = engine::venues::paper(&spec.config, &spec.instrument).unwrap();
    run(spec, venue, Arc::new(AtomicBool::new(false)), |_| {}).unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn a_recorded_live_session_replays_to_the_same_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let venue = Venue::start(&[
        "--regime",
        "high-vol",
        "--faults",
        "gap:every=3s,drop:after=6s",
    ]);
    let journal = dir.path().join("journal");
    let spec = engine_spec(
        dir.path(),
        FeedSpec::Bybit(Box::new(live(&venue))),
        Some(journal.clone()),
    );
    let live = run_engine(spec);
    assert!(
        live.hot.stats.feed.reconnects() >= 1,
        "{:?}",
        live.hot.stats.feed
    );
    let replay = run_engine(engine_spec(
        dir.path(),
        FeedSpec::Replay { dir: journal },
        None,
    ));
    let (live_log, replay_log) = (
        std::fs::read_to_string(&live.log.path).unwrap(),
        std::fs::read_to_string(&replay.log.path).unwrap(),
    );
    assert!(live_log.contains(r#""event":"link_lost""#));
    assert!(live.hot.stats.total_candidates() > 0);
    assert_eq!(replay.hot.stats.frames, live.hot.stats.frames);
    assert_eq!(replay_log, live_log);
}

#[test]
fn the_collector_records_the_live_stream_with_its_snapshots_and_losses() {
    let dir = tempfile::tempdir().unwrap();
    let venue = Venue::start(&[
        "--regime",
        "high-vol",
        "--faults",
        "gap:every=2s,drop:after=4s",
    ]);
    let journal_dir = dir.path().join("collected");
    let clock = quanta::Clock::new();
    let (journal, _) = feed::journal::JournalWriter::open(
        &journal_dir,
        feed::journal::JournalOptions::default(),
        feed::journal::ClockAnchor::now(&clock),
    )
    .unwrap();
    let until = Instant::now() + Duration::from_secs(8);
    let stop = AtomicBool::new(false);
    let recorded =
        engine::collect::live(live(&venue), journal, &clock, &stop, Some(until)).unwrap();
    assert!(recorded.frames > 200, "{} frames", recorded.frames);
    assert!(
        recorded.losses >= 1 && recorded.feed.resyncs >= 1,
        "{:?}",
        recorded.feed
    );

    // The journal holds every frame and each loss where it happened, and a replay rebuilds
    // the book after each: a snapshot follows every gap and every loss.
    let mut reader =
        feed::journal::JournalReader::open(&journal_dir, feed::journal::OnCorrupt::Fail).unwrap();
    let (mut frames, mut links) = (0, Vec::new());
    let mut decoder = PublicDecoder::new();
    let mut book = OrderBook::new(Symbol::new("BTCUSDT").unwrap(), DEPTH);
    let mut frame = FrameBuf::default();
    let mut invalid_spells = 0;
    while let Some(record) = reader.next_record().unwrap() {
        if record.stream == feed::journal::StreamId::LINK {
            links.push(String::from_utf8(record.frame.to_vec()).unwrap());
            book.invalidate_disconnected();
            continue;
        }
        frames += 1;
        frame.fill(record.frame);
        if let Ok(PublicMessage::Book(update)) = decoder.decode(&mut frame) {
            let was_valid = book.is_valid();
            book.apply(&update);
            invalid_spells += u64::from(was_valid && !book.is_valid());
        }
    }
    assert_eq!(frames, recorded.frames);
    assert_eq!(links.len() as u64, recorded.losses);
    assert!(
        links
            .iter()
            .all(|reason| reason == "closed" || reason == "error"),
        "{links:?}"
    );
    assert!(invalid_spells >= 1);
    assert!(book.is_valid(), "the last snapshot restored the book");
}

#[test]
fn the_engine_paper_trades_the_live_stream_through_faults_and_halts_entries_while_its_book_is_invalid()
 {
    let dir = tempfile::tempdir().unwrap();
    let venue = Venue::start(&[
        "--regime",
        "high-vol",
        "--faults",
        "gap:every=2s,drop:after=5s",
    ]);
    let spec = engine_spec(dir.path(), FeedSpec::Bybit(Box::new(live(&venue))), None);
    let report = run_engine(spec);
    let stats = report.hot.stats;
    assert!(stats.feed.reconnects() >= 1, "{:?}", stats.feed);
    assert!(
        stats.book_invalidations[0] >= 1,
        "{:?}",
        stats.book_invalidations
    );
    assert!(
        stats.book_invalidations[2] >= 1,
        "{:?}",
        stats.book_invalidations
    );
    assert!(stats.frames > 100);

    // The decision log: no entry placed and no candidate decided while the book was invalid.
    let log = std::fs::read_to_string(&report.log.path).unwrap();
    let mut invalid = false;
    let (mut halts, mut resumes) = (0, 0);
    for line in log.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        match (record["type"].as_str().unwrap(), record["event"].as_str()) {
            ("market", Some("book_invalid")) => {
                invalid = true;
                halts += 1;
            }
            ("market", Some("book_valid")) => {
                invalid = false;
                resumes += 1;
            }
            ("decision", _) => assert!(!invalid, "a decision on an invalid book: {line}"),
            ("place", _) if record["purpose"] == "entry" => {
                assert!(!invalid, "an entry on an invalid book: {line}");
            }
            _ => {}
        }
    }
    assert!(
        halts >= 2 && resumes >= 2,
        "{halts} halts, {resumes} resumes"
    );
}

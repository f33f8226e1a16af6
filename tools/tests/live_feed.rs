//! The live public stream against `toolkit venue` over loopback, with its faults: the client
//! recovers from each by itself and its book ends equal to the venue's; a refused first
//! subscription stops it naming the topic; TLS works with the venue's certificate and only
//! with it; and the engine paper-trades through faults, halting entries while its book is
//! invalid.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use engine::config::{Config, ScorerBackend};
use engine::model::registry::{Slot, Thresholds};
use engine::model::synthetic::promote_synthetic;
use engine::runtime::source::Pace;
use engine::runtime::{FeedSpec, RunSpec, run};
use feed::book::InvalidReason;
use feed::bybit::live::{
    Backoff, FeedError, FeedPoll, FeedSettings, Liveness, LossReason, PublicFeed,
};
use feed::bybit::{PublicDecoder, PublicMessage};
use feed::net::Endpoint;
use feed::{Fixed, FrameBuf, OrderBook, Side, Symbol};

const DEPTH: usize = 50;

/// Price and size of each level, best first.
type Levels = Vec<(Fixed, Fixed)>;

/// `toolkit venue`, killed when dropped.
struct Venue {
    child: Child,
    /// `ws://127.0.0.1:PORT` or `wss://...`.
    base: String,
    certificate: Option<PathBuf>,
}

impl Venue {
    fn start(args: &[&str]) -> Venue {
        let mut child = Command::new(env!("CARGO_BIN_EXE_toolkit"))
            .args(["venue", "--addr", "127.0.0.1:0", "--seed", "3"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let base = first
            .strip_prefix("toolkit venue: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        let certificate = base.starts_with("wss://").then(|| {
            let line = lines.next().unwrap().unwrap();
            PathBuf::from(line.strip_prefix("toolkit venue: certificate ").unwrap())
        });
        // Keep reading stdout so the venue never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Venue {
            child,
            base,
            certificate,
        }
    }

    fn public_url(&self) -> String {
        format!("{}/v5/public/linear", self.base)
    }

    /// The venue's book as `GET /v5/market/orderbook` answers it (plain HTTP venues only):
    /// bids and asks, best first.
    fn orderbook(&self) -> (Levels, Levels) {
        let authority = self.base.strip_prefix("ws://").unwrap();
        let mut stream = TcpStream::connect(authority).unwrap();
        write!(
            stream,
            "GET /v5/market/orderbook?category=linear&symbol=BTCUSDT&limit={DEPTH} HTTP/1.1\r\n\
             Host: {authority}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["retCode"], 0, "{body}");
        let side = |key: &str| {
            json["result"][key]
                .as_array()
                .unwrap()
                .iter()
                .map(|level| {
                    (
                        level[0].as_str().unwrap().parse().unwrap(),
                        level[1].as_str().unwrap().parse().unwrap(),
                    )
                })
                .collect::<Levels>()
        };
        (side("b"), side("a"))
    }
}

impl Drop for Venue {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

/// Quick liveness and back-off, so that every fault is noticed and recovered from in seconds.
fn settings(url: &str, tls: Option<Arc<rustls::ClientConfig>>) -> FeedSettings {
    FeedSettings {
        endpoint: Endpoint::parse(url).unwrap(),
        tls,
        symbols: vec![Symbol::new("BTCUSDT").unwrap()],
        depth: DEPTH as u16,
        liveness: Liveness {
            ping_interval: Duration::from_millis(500),
            pong_timeout: Duration::from_secs(2),
            stale_after: Duration::from_secs(3),
        },
        backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(1),
            multiplier: 2.0,
            jitter: 0.2,
        },
        connect_timeout: Duration::from_secs(2),
        seed: 1,
    }
}

/// The feed with a decoder and a book, as the hot loop drives them.
struct Client {
    feed: PublicFeed,
    decoder: PublicDecoder,
    book: OrderBook,
    frame: FrameBuf,
    resets: u64,
    restarts: u64,
    decode_errors: u64,
    losses: u64,
}

impl Client {
    fn new(settings: FeedSettings) -> Client {
        Client {
            feed: PublicFeed::new(settings).unwrap(),
            decoder: PublicDecoder::new(),
            book: OrderBook::new(Symbol::new("BTCUSDT").unwrap(), DEPTH),
            frame: FrameBuf::default(),
            resets: 0,
            restarts: 0,
            decode_errors: 0,
            losses: 0,
        }
    }

    /// Polls for `duration`.
    fn pump(&mut self, duration: Duration) -> Result<(), FeedError> {
        let end = Instant::now() + duration;
        while Instant::now() < end {
            match self.feed.poll(&mut self.frame)? {
                FeedPoll::Frame { .. } => match self.decoder.decode(&mut self.frame) {
                    Ok(PublicMessage::Book(update)) => {
                        let outcome = self.book.apply(&update);
                        if outcome == feed::book::ApplyOutcome::Reset {
                            self.resets += 1;
                            self.restarts += u64::from(update.update_id == 1);
                        }
                        if self.book.take_resync_request() {
                            self.feed.resync(self.book.symbol());
                        }
                    }
                    Ok(_) => {}
                    Err(_) => self.decode_errors += 1,
                },
                FeedPoll::Idle => std::thread::sleep(Duration::from_micros(200)),
                FeedPoll::Lost(_) => {
                    self.losses += 1;
                    self.book.invalidate_disconnected();
                }
            }
        }
        Ok(())
    }

    fn levels(&self, side: Side) -> Levels {
        self.book
            .levels(side)
            .iter()
            .map(|level| (level.price, level.size))
            .collect()
    }
}

/// Runs a client against a venue replaying a short journal with `faults`, until the replay has
/// ended and the client's book equals the venue's; returns the client for the fault's own
/// checks.
fn survives(faults: &str) -> Client {
    survives_with(faults, |_| {})
}

/// [`survives`], with the client's settings adjusted by `adjust`.
fn survives_with(faults: &str, adjust: impl FnOnce(&mut FeedSettings)) -> Client {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal(dir.path(), 12.0);
    let venue = Venue::start(&["--replay", journal.to_str().unwrap(), "--faults", faults]);
    let mut settings = settings(&venue.public_url(), None);
    adjust(&mut settings);
    let mut client = Client::new(settings);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut previous = None;
    loop {
        client.pump(Duration::from_millis(500)).unwrap();
        let book = venue.orderbook();
        let still = previous.as_ref() == Some(&book);
        if still
            && client.book.is_valid()
            && client.levels(Side::Buy) == book.0
            && client.levels(Side::Sell) == book.1
        {
            assert!(!book.0.is_empty() && !book.1.is_empty());
            return client;
        }
        assert!(
            Instant::now() < deadline,
            "{faults}: no agreement with the venue in 90 s (valid {}, stats {:?})",
            client.book.is_valid(),
            client.feed.stats()
        );
        previous = Some(book);
    }
}

#[test]
fn a_dropped_connection_is_remade_and_the_book_rebuilt_from_the_new_snapshot() {
    let client = survives("drop:after=3s");
    let stats = client.feed.stats();
    assert!(stats.reconnects >= 1, "{stats:?}");
    assert!(client.book.invalidations()[InvalidReason::Disconnected.index()] >= 1);
    assert!(client.resets >= 2, "snapshots applied: {}", client.resets);
}

#[test]
fn a_stalled_connection_is_found_stale_and_remade() {
    // No pings, so that the silence itself is what gives the connection away.
    let client = survives_with("stall:after=3s:for=8s", |settings| {
        settings.liveness.ping_interval = Duration::from_secs(60);
    });
    let stats = client.feed.stats();
    assert!(stats.losses[LossReason::Stale.index()] >= 1, "{stats:?}");
    assert!(stats.reconnects >= 1, "{stats:?}");
}

#[test]
fn a_skipped_update_invalidates_the_book_until_a_resubscription_brings_a_snapshot() {
    let client = survives("gap:after=3s");
    let stats = client.feed.stats();
    assert!(
        client.book.invalidations()[0] >= 1,
        "{:?}",
        client.book.invalidations()
    );
    assert!(stats.resyncs >= 1, "{stats:?}");
    assert_eq!(
        stats.reconnects, 0,
        "a gap is mended on the same connection"
    );
}

#[test]
fn a_snapshot_mid_stream_and_a_restart_at_u_1_reset_the_book() {
    let client = survives("snapshot:after=3s");
    assert!(client.resets >= 2, "snapshots applied: {}", client.resets);
    let client = survives("restart:after=3s");
    assert!(client.restarts >= 1, "u = 1 resets: {}", client.restarts);
}

#[test]
fn malformed_and_truncated_frames_are_counted_and_lose_nothing_else() {
    let client = survives("malformed:after=3s");
    assert!(client.decode_errors >= 1);
    let client = survives("truncated:after=3s");
    assert!(client.decode_errors >= 1);
    // The truncated delta is lost: the next one shows the gap, and a resync mends it.
    assert!(client.book.invalidations()[0] >= 1);
}

#[test]
fn lost_and_late_pongs_mean_a_dead_connection() {
    let client = survives("pong-lost:after=1s:for=5s");
    let stats = client.feed.stats();
    assert!(
        stats.losses[LossReason::PongTimeout.index()] >= 1,
        "{stats:?}"
    );
    let client = survives("pong-delay:ms=4000:for=6s");
    let stats = client.feed.stats();
    assert!(
        stats.losses[LossReason::PongTimeout.index()] >= 1,
        "{stats:?}"
    );
}

#[test]
fn a_burst_faster_than_real_time_and_a_skewed_clock_change_nothing_in_the_book() {
    let client = survives("burst:after=2s:frames=300");
    assert!(client.feed.stats().frames > 300);
    survives("skew:ms=-3000");
}

#[test]
fn a_subscription_refused_after_a_reconnect_is_retried_on_a_new_connection() {
    // Armed after the first subscription, the refusal meets the reconnect's.
    let client = survives("subscribe-fail:after=2s,drop:after=3s");
    let stats = client.feed.stats();
    assert!(
        stats.losses[LossReason::SubscribeFailed.index()] >= 1,
        "{stats:?}"
    );
    assert!(stats.reconnects >= 2, "{stats:?}");
}

#[test]
fn a_refused_first_subscription_stops_the_feed_naming_the_topic() {
    let venue = Venue::start(&["--faults", "subscribe-fail"]);
    let mut client = Client::new(settings(&venue.public_url(), None));
    let deadline = Instant::now() + Duration::from_secs(20);
    let error = loop {
        if let Err(err) = client.pump(Duration::from_millis(100)) {
            break err;
        }
        assert!(Instant::now() < deadline, "the refusal was not reported");
    };
    let message = error.to_string();
    assert!(
        message.starts_with("subscribing orderbook.50.BTCUSDT failed: "),
        "{message}"
    );
}

#[test]
fn tls_reaches_the_venue_through_its_certificate_and_is_refused_without_it() {
    let venue = Venue::start(&["--tls"]);
    let certificate = venue.certificate.clone().unwrap();
    let trusted = feed::net::client_config(Some(&certificate)).unwrap();
    let mut client = Client::new(settings(&venue.public_url(), Some(trusted)));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !client.book.is_valid() {
        client.pump(Duration::from_millis(100)).unwrap();
        assert!(Instant::now() < deadline, "no book over TLS");
    }
    assert!(client.feed.stats().frames > 0);

    // The public roots alone do not trust the venue: every attempt fails.
    let untrusted = feed::net::client_config(None).unwrap();
    let mut client = Client::new(settings(&venue.public_url(), Some(untrusted)));
    client.pump(Duration::from_secs(2)).unwrap();
    let stats = client.feed.stats();
    assert!(
        stats.connect_failures >= 1 && stats.connects == 0,
        "{stats:?}"
    );
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
    let registry = dir.path().join("registry");
    let thresholds = Thresholds {
        tau_entry: 0.05,
        tau_hold: 0.01,
    };
    promote_synthetic(&registry, "synthetic-42", 42, thresholds, Slot::Active).unwrap();
    let mut config = Config::default();
    config.paths.registry = registry;
    config.ai_scorer.backend = ScorerBackend::Native;
    config.engine.busy_poll = false;
    let live = settings(&venue.public_url(), None);
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/app.yml");
    let instrument = engine::config::load(&shipped, None)
        .unwrap()
        .symbols
        .symbols["BTCUSDT"];
    let spec = RunSpec {
        symbol: Symbol::new("BTCUSDT").unwrap(),
        instrument,
        feed: FeedSpec::Bybit(Box::new(live)),
        pace: Pace::RealTime,
        duration: Some(Duration::from_secs(12)),
        metrics_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        out_dir: dir.path().join("run"),
        onnxruntime: dir.path().join("no-onnxruntime.so"),
        record: None,
        config,
    };
    let venue_model = engine::venues::paper(&spec.config, &spec.instrument).unwrap();
    let report = run(spec, venue_model, Arc::new(AtomicBool::new(false)), |_| {})
        .unwrap_or_else(|err| panic!("{err}"));
    let stats = report.hot.stats;
    assert!(stats.feed.reconnects >= 1, "{:?}", stats.feed);
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

//! What the toolkit's tests share: `toolkit` run in a directory with the shipped configuration;
//! the venue as a child process (killed when dropped), its stdout contract and stderr log, plain
//! HTTP against it, and book levels to compare.
#![allow(dead_code)] // each test file uses its own part of it

pub(crate) mod bybit;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use engine::runtime::hot::{HotLoop, HotRings};
use engine::runtime::source::Source;
use feed::bybit::live::{Backoff, FeedSettings, Liveness, PublicFeed};
use feed::net::Endpoint;
use feed::paper::PaperVenue;
use feed::{Fixed, OrderBook, Side, Symbol};
use serde_json::Value;

/// `toolkit ARGS --config <the shipped config>`, run in `dir`.
pub(crate) fn toolkit_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_toolkit"))
        .args(args)
        .args([
            "--config",
            tests::shipped_config().to_str().unwrap_or_default(),
        ])
        .current_dir(dir)
        .output()
        .expect("toolkit runs")
}

/// The stdout of a run that must succeed (both streams shown when it did not).
pub(crate) fn succeeded(output: std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// How long any expected event may take.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The `engine` binary of this build, beside `toolkit`. Built (or found up to date) once per
/// test process: `cargo test -p tools` alone builds no other package's binary, and a binary
/// left from an older build must not stand in for the engine under test. The workspace's
/// binaries are built together, so the features are those `cargo test --workspace` builds
/// with (nothing is rebuilt after it).
pub(crate) fn engine_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = Command::new(cargo)
                .args(["build", "--workspace", "--bins", "--locked", "--quiet"])
                .current_dir(tests::workspace_root())
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building the engine binary failed");
            PathBuf::from(env!("CARGO_BIN_EXE_toolkit")).with_file_name("engine")
        })
        .clone()
}

/// Kills the child when the test ends, however it ends.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `toolkit venue`.
pub(crate) struct Venue {
    pub(crate) child: KillOnDrop,
    /// Its standard input: faults to fire now.
    faults: std::sync::Mutex<Option<std::process::ChildStdin>>,
    /// `127.0.0.1:PORT`
    pub(crate) addr: String,
    pub(crate) scheme: String,
    pub(crate) cert: Option<PathBuf>,
    pub(crate) log: Receiver<String>,
    /// Every stderr line so far, kept (the channel above is consumed by the waits).
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Venue {
    /// A venue without credentials (whatever the test's environment holds).
    pub(crate) fn start(args: &[&str]) -> Venue {
        Venue::start_with_credentials(args, None)
    }

    /// A venue whose private endpoints accept `credentials` (key, secret).
    pub(crate) fn start_with_credentials(
        args: &[&str],
        credentials: Option<(&str, &str)>,
    ) -> Venue {
        let mut command = Command::new(env!("CARGO_BIN_EXE_toolkit"));
        command
            .env_remove("BYBIT_API_KEY")
            .env_remove("BYBIT_API_SECRET");
        if let Some((key, secret)) = credentials {
            command
                .env("BYBIT_API_KEY", key)
                .env("BYBIT_API_SECRET", secret);
        }
        let mut child = command
            .arg("venue")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let faults = std::sync::Mutex::new(child.stdin.take());
        let child = KillOnDrop(child);
        let (out_tx, out_rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let _ = out_tx.send(line.unwrap_or_default());
            }
        });
        let (log_tx, log) = channel();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = std::sync::Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[venue] {line}");
                kept.lock().unwrap().push(line.clone());
                let _ = log_tx.send(line);
            }
        });
        let first = out_rx
            .recv_timeout(WAIT)
            .expect("the venue printed no address line");
        let url = first
            .strip_prefix("toolkit venue: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        let (scheme, addr) = url.split_once("://").unwrap();
        let cert = (scheme == "wss").then(|| {
            let line = out_rx
                .recv_timeout(WAIT)
                .expect("the venue printed no certificate line");
            PathBuf::from(
                line.strip_prefix("toolkit venue: certificate ")
                    .unwrap_or_else(|| panic!("unexpected second line {line:?}")),
            )
        });
        Venue {
            child,
            faults,
            addr: addr.to_owned(),
            scheme: scheme.to_owned(),
            cert,
            log,
            lines,
        }
    }

    /// Every stderr line so far that contains `needle` (nothing is consumed).
    pub(crate) fn history(&self, needle: &str) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains(needle))
            .cloned()
            .collect()
    }

    /// Every stderr line so far.
    pub(crate) fn all_lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Fires the faults of `spec` now (their `after` counted from now), through the venue's
    /// standard input; returns once the venue said it took them.
    pub(crate) fn fire(&self, spec: &str) {
        let mut input = self.faults.lock().unwrap();
        let stdin = input.as_mut().expect("the venue's standard input");
        writeln!(stdin, "{spec}").unwrap();
        stdin.flush().unwrap();
        drop(input);
        self.wait_log(&format!("faults from standard input: {spec}"), WAIT);
    }

    /// Waits for a stderr line containing `needle`.
    pub(crate) fn wait_log(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line with {needle:?} within {within:?}"),
            }
        }
    }

    /// A stderr line containing `needle` among those logged so far, without waiting.
    pub(crate) fn logged(&self, needle: &str) -> Option<String> {
        self.log.try_iter().find(|line| line.contains(needle))
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    /// The REST base URL (`http://` or `https://`).
    pub(crate) fn rest_url(&self) -> String {
        let scheme = if self.scheme == "wss" {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// Writes `dir/venue.yml`, a profile whose REST endpoint is this venue; returns its path.
    pub(crate) fn rest_profile(&self, dir: &std::path::Path) -> PathBuf {
        let profile = dir.join("venue.yml");
        std::fs::write(
            &profile,
            format!(
                "exchange:\n  endpoints:\n    mainnet:\n      rest: {}\n",
                self.rest_url()
            ),
        )
        .unwrap();
        profile
    }

    /// A plain HTTP GET: status and body.
    pub(crate) fn get(&self, path: &str) -> (u16, Value) {
        let mut tcp = TcpStream::connect(&self.addr).unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        http_get(&mut tcp, path)
    }

    pub(crate) fn orderbook(&self, limit: usize) -> Value {
        let (status, body) = self.get(&format!(
            "/v5/market/orderbook?category=linear&symbol=BTCUSDT&limit={limit}"
        ));
        assert_eq!(status, 200);
        assert_eq!(body["retCode"], 0, "{body}");
        body["result"].clone()
    }
}

pub(crate) fn http_get(stream: &mut impl ReadWrite, path: &str) -> (u16, Value) {
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream.flush().unwrap();
    let mut response = Vec::new();
    // The venue closes after answering (Connection: close); a TLS peer may end without
    // close_notify, which counts as the end too.
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole HTTP response");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap())
}

pub(crate) trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

/// Levels of a REST or WebSocket book side (`[["price","size"],...]`), best first.
pub(crate) fn levels_of(json: &Value) -> Vec<(Fixed, Fixed)> {
    json.as_array()
        .unwrap()
        .iter()
        .map(|level| {
            (
                level[0].as_str().unwrap().parse().unwrap(),
                level[1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// The first `limit` levels of a side of `book`.
pub(crate) fn book_levels(book: &OrderBook, side: Side, limit: usize) -> Vec<(Fixed, Fixed)> {
    book.levels(side)
        .iter()
        .take(limit)
        .map(|level| (level.price, level.size))
        .collect()
}

/// Quick liveness for tests: a ping every 300 ms, dead after 2 s without a pong or 3 s without
/// a message.
pub(crate) const QUICK_LIVENESS: Liveness = Liveness {
    ping_interval: Duration::from_millis(300),
    pong_timeout: Duration::from_secs(2),
    stale_after: Duration::from_secs(3),
};

/// Quick back-off for tests: 50 ms doubling to 1 s.
pub(crate) const QUICK_BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(50),
    max: Duration::from_secs(1),
    multiplier: 2.0,
    jitter: 0.2,
};

/// A signed REST client of `venue` for `key` and `secret`, with Bybit's linear rate limits.
pub(crate) fn rest_client(venue: &Venue, key: &str, secret: &str) -> feed::bybit::rest::RestClient {
    feed::bybit::rest::RestClient::new(
        &feed::bybit::rest::RestSettings {
            base_url: venue.rest_url(),
            recv_window_ms: 5000,
            timeout: WAIT,
            ca_file: None,
        },
        feed::bybit::sign::Signer::new(key, secret).unwrap(),
        std::sync::Arc::new(feed::bybit::limits::RateLimits::new(
            feed::bybit::limits::Rates::BYBIT_LINEAR,
        )),
    )
    .unwrap()
}

/// Places a post-only limit order over REST as another client (`other-N` ids) would.
pub(crate) fn place_foreign(
    rest: &feed::bybit::rest::RestClient,
    id: u64,
    side: Side,
    price: Fixed,
    qty: &str,
) {
    let mut foreign = feed::bybit::trade::TradeWriter::new(
        feed::bybit::trade::LinkIds::new("other").unwrap(),
        5000,
    );
    let body = String::from_utf8(
        foreign
            .create_body(&feed::bybit::trade::NewOrder {
                id: feed::order::OrderId(id),
                symbol: Symbol::new("BTCUSDT").unwrap(),
                side,
                price,
                qty: qty.parse().unwrap(),
                reduce_only: false,
            })
            .to_vec(),
    )
    .unwrap();
    rest.post(
        "/v5/order/create",
        &body,
        feed::bybit::limits::Endpoint::Create,
    )
    .unwrap();
}

/// Buys a long position at `venue` as another client of the account would (a post-only bid at
/// the touch, again every 2 s until one fills, for up to 90 s); the position it holds then.
pub(crate) fn buy_a_position_as_another_client(
    venue: &Venue,
    rest: &feed::bybit::rest::RestClient,
) -> Fixed {
    let deadline = Instant::now() + Duration::from_secs(90);
    for id in 1.. {
        let held = feed::bybit::rest::snapshot::position(rest, "BTCUSDT").unwrap();
        if !held.is_zero() {
            return held;
        }
        assert!(Instant::now() < deadline, "no fill");
        let bid = levels_of(&venue.orderbook(1)["b"])[0].0;
        place_foreign(rest, id, Side::Buy, bid, "0.002");
        std::thread::sleep(Duration::from_secs(2));
        engine::account::cancel_all(rest, "BTCUSDT").unwrap();
    }
    unreachable!("ids run out")
}

/// The Bybit venue's settings for tests against `venue`: BTCUSDT, the run's ids under `prefix`,
/// quick liveness and back-off, no disconnect-cancel-all, no routine reconciliation.
pub(crate) fn venue_settings(venue: &Venue, prefix: &str) -> feed::bybit::venue::VenueSettings {
    feed::bybit::venue::VenueSettings {
        private: Endpoint::parse(&venue.url("/v5/private")).unwrap(),
        trade: Endpoint::parse(&venue.url("/v5/trade")).unwrap(),
        tls: None,
        symbol: Symbol::new("BTCUSDT").unwrap(),
        ids: feed::bybit::trade::LinkIds::new(prefix).unwrap(),
        recv_window_ms: 5000,
        liveness: QUICK_LIVENESS,
        backoff: QUICK_BACKOFF,
        connect_timeout: Duration::from_secs(2),
        seed: 1,
        dcp: false,
        adopt_unknown_orders: false,
        reconcile_every: Duration::ZERO,
    }
}

/// The live stream's settings for tests: BTCUSDT at depth 50, quick liveness and back-off, so
/// that every fault is noticed and mended in seconds.
pub(crate) fn live_settings(
    url: &str,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
) -> FeedSettings {
    FeedSettings {
        endpoint: Endpoint::parse(url).unwrap(),
        tls,
        symbols: vec![Symbol::new("BTCUSDT").unwrap()],
        depth: 50,
        liveness: QUICK_LIVENESS,
        backoff: QUICK_BACKOFF,
        connect_timeout: Duration::from_secs(2),
        seed: 1,
    }
}

/// The engine's hot loop on the live stream of `settings`, with the paper venue, a synthetic
/// 200 x 31 model (native, thresholds low enough to trade) and rings nobody reads (a stalled
/// cold path: full rings drop and count).
pub(crate) fn live_hot_loop(settings: FeedSettings) -> HotLoop<PaperVenue> {
    let source = Source::Live(Box::new(PublicFeed::new(settings).unwrap()));
    let (rings, held) = HotRings::unread(1 << 16);
    std::mem::forget(held); // the rings stay connected for the whole test
    // Sleeping when idle: these tests run for tens of seconds beside the venue's process.
    tests::paper_hot_loop(source, rings, (0.05, 0.01), false)
}

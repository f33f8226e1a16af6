//! `toolkit venue` over loopback, as any Bybit client sees it: the subscribe protocol, books that
//! a client rebuilds exactly from snapshot and deltas, REST, TLS, and every fault observed at
//! the protocol level. Each test starts its own venue (the binary, on a free port) and waits
//! for what it expects with a deadline.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use feed::book::ApplyOutcome;
use feed::bybit::{PublicDecoder, PublicMessage};
use feed::journal::{ClockAnchor, JournalOptions, JournalWriter, StreamId};
use feed::sim::{MarketSim, Regime, SimConfig};
use feed::{FrameBuf, OrderBook, Side, Symbol};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tungstenite::{Message, WebSocket};

mod common;
use common::{ReadWrite, Venue, WAIT, book_levels, http_get, levels_of};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A client of the venue's public stream.
fn connect(venue: &Venue) -> Client {
    let tcp = TcpStream::connect(&venue.addr).unwrap();
    let handle = tcp.try_clone().unwrap();
    Client::handshake(&venue.url("/v5/public/linear"), &handle, Box::new(tcp))
}

/// What a client read.
#[derive(Debug)]
enum Event {
    Text(String),
    /// A close frame.
    CloseFrame,
    /// The connection ended without one (or failed).
    Gone(String),
    Timeout,
}

/// A WebSocket client of the public stream.
struct Client {
    ws: WebSocket<Box<dyn ReadWrite>>,
}

impl Client {
    /// The WebSocket handshake over `stream` (whose socket is `tcp`).
    fn handshake(url: &str, tcp: &TcpStream, stream: Box<dyn ReadWrite>) -> Client {
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let (ws, _) = tungstenite::client(url, stream).unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        Client { ws }
    }

    fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).unwrap();
    }

    fn next(&mut self, deadline: Instant) -> Event {
        loop {
            if Instant::now() >= deadline {
                return Event::Timeout;
            }
            match self.ws.read() {
                Ok(Message::Text(text)) => return Event::Text(text.as_str().to_owned()),
                Ok(Message::Close(_)) => return Event::CloseFrame,
                Ok(_) => {}
                Err(tungstenite::Error::Io(err))
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(err) => return Event::Gone(err.to_string()),
            }
        }
    }

    /// The next text frame, failing the test on anything else.
    fn text(&mut self, deadline: Instant, what: &str) -> String {
        match self.next(deadline) {
            Event::Text(text) => text,
            other => panic!("waiting for {what}: {other:?}"),
        }
    }

    /// The first JSON message within `within` for which `wanted` holds.
    fn expect(
        &mut self,
        what: &str,
        within: Duration,
        mut wanted: impl FnMut(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let text = self.text(deadline, what);
            if let Ok(value) = serde_json::from_str::<Value>(&text)
                && wanted(&value)
            {
                return value;
            }
        }
    }

    fn subscribe(&mut self, req_id: &str, topics: &[&str]) {
        let request = serde_json::json!({"req_id": req_id, "op": "subscribe", "args": topics});
        self.send(&request.to_string());
    }

    /// Subscribes and waits for the success ack.
    fn subscribed(&mut self, topics: &[&str]) {
        self.subscribe("s", topics);
        let ack = self.expect("the subscribe ack", WAIT, |m| m["op"] == "subscribe");
        assert_eq!(ack["success"], true, "{ack}");
    }
}

fn is_book(message: &Value, depth: u16) -> bool {
    message["topic"] == format!("orderbook.{depth}.BTCUSDT")
}

fn u_of(message: &Value) -> u64 {
    message["data"]["u"].as_u64().unwrap()
}

fn kind_of(message: &Value) -> &str {
    message["type"].as_str().unwrap()
}

/// Books rebuilt from the messages, one per depth, as a client keeps them.
struct Books {
    decoder: PublicDecoder,
    frame: FrameBuf,
    books: BTreeMap<u16, OrderBook>,
}

impl Books {
    fn new(depths: &[u16]) -> Books {
        let symbol = Symbol::new("BTCUSDT").unwrap();
        Books {
            decoder: PublicDecoder::new(),
            frame: FrameBuf::default(),
            books: depths
                .iter()
                .map(|&depth| (depth, OrderBook::new(symbol, usize::from(depth))))
                .collect(),
        }
    }

    /// Applies a frame if it is a book message; the book must stay valid.
    fn apply(&mut self, text: &str) -> Option<u16> {
        let message = self.decoder.decode_bytes(&mut self.frame, text.as_bytes());
        let Ok(PublicMessage::Book(update)) = message else {
            return None;
        };
        let book = self.books.get_mut(&update.depth).unwrap();
        let outcome = book.apply(&update);
        assert!(
            matches!(outcome, ApplyOutcome::Applied | ApplyOutcome::Reset),
            "{outcome:?} applying {text}"
        );
        Some(update.depth)
    }

    fn book(&self, depth: u16) -> &OrderBook {
        &self.books[&depth]
    }
}

/// The JSON keys of an object, sorted.
fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[test]
fn the_subscribe_ack_and_first_messages_have_bybits_shape() {
    let venue = Venue::start(&[]);
    let mut client = connect(&venue);
    client.subscribe(
        "x",
        &[
            "orderbook.50.BTCUSDT",
            "publicTrade.BTCUSDT",
            "tickers.BTCUSDT",
        ],
    );
    let deadline = Instant::now() + WAIT;
    let ack: Value = serde_json::from_str(&client.text(deadline, "the ack")).unwrap();
    assert_eq!(
        keys(&ack),
        ["conn_id", "op", "req_id", "ret_msg", "success"]
    );
    assert_eq!(ack["success"], true);
    assert_eq!(ack["ret_msg"], "");
    assert_eq!(ack["req_id"], "x");
    assert_eq!(ack["op"], "subscribe");
    let conn_id = ack["conn_id"].as_str().unwrap();
    let groups: Vec<usize> = conn_id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{conn_id}");

    // The book snapshot comes right after the ack.
    let snapshot: Value = serde_json::from_str(&client.text(deadline, "the snapshot")).unwrap();
    assert!(is_book(&snapshot, 50), "{snapshot}");
    assert_eq!(keys(&snapshot), ["cts", "data", "topic", "ts", "type"]);
    assert_eq!(kind_of(&snapshot), "snapshot");
    assert_eq!(keys(&snapshot["data"]), ["a", "b", "s", "seq", "u"]);
    assert_eq!(snapshot["data"]["s"], "BTCUSDT");
    // Prices and sizes as the simulator writes them: "60000.10", "0.250".
    let bid = &snapshot["data"]["b"][0];
    let (price, size) = (bid[0].as_str().unwrap(), bid[1].as_str().unwrap());
    assert_eq!(price.split_once('.').unwrap().1.len(), 2, "{price}");
    assert_eq!(size.split_once('.').unwrap().1.len(), 3, "{size}");
    // Live: stamped now.
    let ts = snapshot["ts"].as_i64().unwrap();
    assert!((ts - now_ms()).abs() < 5_000, "ts {ts}");

    let ticker = client.expect("a ticker", WAIT, |m| m["topic"] == "tickers.BTCUSDT");
    assert_eq!(kind_of(&ticker), "snapshot");
    assert_eq!(ticker["data"]["symbol"], "BTCUSDT");
    let trade = client.expect("a trade", WAIT, |m| m["topic"] == "publicTrade.BTCUSDT");
    assert_eq!(trade["data"][0]["s"], "BTCUSDT");
}

#[test]
fn bad_topics_fail_one_frame_each_naming_the_topic() {
    let venue = Venue::start(&[]);
    let mut client = connect(&venue);
    client.subscribe(
        "bad",
        &[
            "orderbook.500.BTCUSDT",
            "orderbook.50.BTCUSDT",
            "orderbook.50.ETHUSDT",
        ],
    );
    let deadline = Instant::now() + WAIT;
    let mut failures = Vec::new();
    for _ in 0..2 {
        let reply: Value = serde_json::from_str(&client.text(deadline, "a failure")).unwrap();
        assert_eq!(reply["success"], false, "{reply}");
        assert_eq!(reply["op"], "subscribe");
        assert_eq!(reply["req_id"], "bad");
        failures.push(reply["ret_msg"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        failures,
        [
            "error:handler not found,topic:orderbook.500.BTCUSDT",
            "error:handler not found,topic:orderbook.50.ETHUSDT"
        ]
    );
    // The good topic is subscribed all the same.
    let snapshot: Value = serde_json::from_str(&client.text(deadline, "the snapshot")).unwrap();
    assert!(
        is_book(&snapshot, 50) && kind_of(&snapshot) == "snapshot",
        "{snapshot}"
    );

    client.subscribe("again", &["orderbook.50.BTCUSDT"]);
    let reply = client.expect("the second reply", WAIT, |m| m["op"] == "subscribe");
    assert_eq!(reply["success"], false);
    assert_eq!(
        reply["ret_msg"],
        "error:already subscribed,topic:orderbook.50.BTCUSDT"
    );
}

#[test]
fn snapshot_then_deltas_with_consecutive_u_rebuild_every_depth() {
    let venue = Venue::start(&["--regime", "high-vol", "--seed", "3"]);
    let mut client = connect(&venue);
    client.subscribed(&[
        "orderbook.1.BTCUSDT",
        "orderbook.50.BTCUSDT",
        "orderbook.200.BTCUSDT",
    ]);
    let mut books = Books::new(&[1, 50, 200]);
    let mut last_u: BTreeMap<u16, u64> = BTreeMap::new();
    let mut deltas: BTreeMap<u16, u32> = BTreeMap::new();
    let deadline = Instant::now() + WAIT;
    while deltas.get(&50).copied().unwrap_or(0) < 40 || deltas.get(&200).copied().unwrap_or(0) < 40
    {
        let text = client.text(deadline, "book messages");
        let message: Value = serde_json::from_str(&text).unwrap();
        let Some(depth) = [1, 50, 200].into_iter().find(|&d| is_book(&message, d)) else {
            continue;
        };
        let u = u_of(&message);
        match (last_u.get(&depth), kind_of(&message)) {
            (None, kind) => assert_eq!(kind, "snapshot", "first message of depth {depth}"),
            (Some(_), "snapshot") => assert_eq!(depth, 1, "only depth 1 sends snapshots"),
            (Some(&last), _) => {
                assert_eq!(u, last + 1, "u of depth {depth}");
                *deltas.entry(depth).or_default() += 1;
            }
        }
        if depth == 1 {
            let last = last_u.get(&1).copied().unwrap_or(0);
            assert!(
                u == last || u == last + 1 || last == 0,
                "depth 1 u {last} -> {u}"
            );
        }
        last_u.insert(depth, u);
        // Bids best first (descending), asks ascending.
        let (bids, asks) = (
            levels_of(&message["data"]["b"]),
            levels_of(&message["data"]["a"]),
        );
        assert!(bids.windows(2).all(|w| w[0].0 > w[1].0), "{text}");
        assert!(asks.windows(2).all(|w| w[0].0 < w[1].0), "{text}");
        books.apply(&text);
        // A depth's message comes after the shallower depths' of the same market frame, so
        // the shallower books are the deeper book's top here.
        let deeper = books.book(depth);
        for shallower in [1, 50].into_iter().filter(|&d| d < depth) {
            if last_u.contains_key(&shallower) {
                for side in [Side::Buy, Side::Sell] {
                    assert_eq!(
                        book_levels(books.book(shallower), side, 1000),
                        book_levels(deeper, side, usize::from(shallower)),
                        "depth {shallower} against depth {depth}"
                    );
                }
            }
        }
    }
    assert_eq!(books.book(50).len(Side::Buy), 50);
    assert_eq!(books.book(1).len(Side::Sell), 1);
}

/// A journal of `seconds` of simulated market, one record a millisecond (so it replays fast),
/// with a private-stream record the venue must skip.
fn write_journal(dir: &Path, seconds: u64) -> u64 {
    let config = SimConfig {
        duration_ms: seconds * 1000,
        ..SimConfig::btcusdt(Regime::Event, 1_767_225_600_000, 5)
    };
    let anchor = ClockAnchor {
        mono_ns: 1_000_000_000,
        wall_ns: config.start_ms * 1_000_000,
    };
    let (mut journal, _) =
        JournalWriter::open(dir, JournalOptions::with_segment_mib(4), anchor).unwrap();
    let mut sim = MarketSim::new(config);
    let mut frame = Vec::new();
    let mut records = 0;
    while sim.next_frame(&mut frame).is_some() {
        journal
            .append(
                anchor.mono_ns + records * 1_000_000,
                StreamId::PUBLIC_LINEAR,
                &frame,
            )
            .unwrap();
        records += 1;
        if records == 100 {
            journal
                .append(
                    anchor.mono_ns + records * 1_000_000,
                    StreamId::PRIVATE,
                    b"{}",
                )
                .unwrap();
        }
    }
    records
}

#[test]
fn a_client_book_equals_the_rest_book_once_the_replay_ends() {
    let dir = tempfile::tempdir().unwrap();
    let records = write_journal(dir.path(), 30);
    assert!(records > 1000);
    let venue = Venue::start(&["--replay", dir.path().to_str().unwrap()]);
    let mut client = connect(&venue);
    client.subscribed(&[
        "orderbook.50.BTCUSDT",
        "orderbook.1000.BTCUSDT",
        "tickers.BTCUSDT",
        "publicTrade.BTCUSDT",
    ]);
    let mut books = Books::new(&[50, 1000]);
    let mut last_u: BTreeMap<u16, u64> = BTreeMap::new();
    // Applies what arrives until `until` (or the first message), checking u and stamps.
    let mut follow = |client: &mut Client, books: &mut Books, until: Instant| {
        let text = match client.next(until) {
            Event::Text(text) => text,
            Event::Timeout => return,
            other => panic!("the replay stream ended: {other:?}"),
        };
        if let Some(depth) = books.apply(&text) {
            let message: Value = serde_json::from_str(&text).unwrap();
            let u = u_of(&message);
            if let Some(&last) = last_u.get(&depth) {
                assert_eq!(u, last + 1, "u of depth {depth}");
            }
            last_u.insert(depth, u);
            // Replayed stamps are shifted to the present.
            let ts = message["ts"].as_i64().unwrap();
            assert!((ts - now_ms()).abs() < 60_000, "ts {ts}");
        }
    };
    // Follow the stream until the replay is over...
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        if let Some(line) = venue.logged("replay ended") {
            break line;
        }
        assert!(Instant::now() < deadline, "the replay did not end");
        follow(
            &mut client,
            &mut books,
            Instant::now() + Duration::from_millis(50),
        );
    };
    assert!(log.contains(&format!("after {records} frames")), "{log}");
    // ...then until the client has everything the venue published.
    let rest = venue.orderbook(1000);
    let final_u = rest["u"].as_u64().unwrap();
    let deadline = Instant::now() + WAIT;
    while books.book(1000).update_id() != final_u {
        assert!(
            Instant::now() < deadline,
            "the client never reached u {final_u}"
        );
        follow(&mut client, &mut books, deadline);
    }
    for (depth, limit) in [(1000, 1000), (50, 50)] {
        let rest = venue.orderbook(limit);
        assert_eq!(rest["s"], "BTCUSDT");
        assert_eq!(
            book_levels(books.book(depth), Side::Buy, 1000),
            levels_of(&rest["b"]),
            "bids of depth {depth}"
        );
        assert_eq!(
            book_levels(books.book(depth), Side::Sell, 1000),
            levels_of(&rest["a"]),
            "asks of depth {depth}"
        );
    }
    assert_eq!(venue.orderbook(5)["b"].as_array().unwrap().len(), 5);

    // A client arriving after the end gets the same book and the merged ticker; pings are
    // still answered.
    let mut late = connect(&venue);
    late.subscribed(&["orderbook.50.BTCUSDT", "tickers.BTCUSDT"]);
    let mut late_books = Books::new(&[50]);
    let snapshot = late.expect("the late snapshot", WAIT, |m| is_book(m, 50));
    late_books.apply(&snapshot.to_string());
    assert_eq!(u_of(&snapshot), last_u[&50]);
    for side in [Side::Buy, Side::Sell] {
        assert_eq!(
            book_levels(late_books.book(50), side, 50),
            book_levels(books.book(50), side, 50)
        );
    }
    let ticker = late.expect("the late ticker", WAIT, |m| m["topic"] == "tickers.BTCUSDT");
    assert_eq!(kind_of(&ticker), "snapshot");
    late_books
        .decoder
        .decode_bytes(&mut late_books.frame, ticker.to_string().as_bytes())
        .unwrap();
    assert_eq!(
        late_books.decoder.ticker("BTCUSDT"),
        books.decoder.ticker("BTCUSDT"),
        "the merged ticker"
    );
    late.send(r#"{"op":"ping"}"#);
    late.expect("a pong", WAIT, |m| m["ret_msg"] == "pong");
}

#[test]
fn unsubscribe_is_answered_and_stops_the_topic() {
    let venue = Venue::start(&[]);
    let mut client = connect(&venue);
    client.subscribed(&["orderbook.50.BTCUSDT", "orderbook.200.BTCUSDT"]);
    client.expect("a delta", WAIT, |m| is_book(m, 50) && kind_of(m) == "delta");
    client.send(r#"{"req_id":"u1","op":"unsubscribe","args":["orderbook.50.BTCUSDT"]}"#);
    let reply = client.expect("the unsubscribe reply", WAIT, |m| m["op"] == "unsubscribe");
    assert_eq!(reply["success"], true, "{reply}");
    assert_eq!(reply["req_id"], "u1");
    assert_eq!(reply["ret_msg"], "");
    // Everything after the reply is depth 200 only.
    for _ in 0..30 {
        let message = client.expect("depth 200 deltas", WAIT, |m| m.get("topic").is_some());
        assert!(is_book(&message, 200), "{message}");
    }
}

#[test]
fn ping_gets_the_linear_pong() {
    let venue = Venue::start(&[]);
    let mut client = connect(&venue);
    client.send(r#"{"op":"ping"}"#);
    let pong = client.expect("a pong", WAIT, |m| m["op"] == "ping");
    assert_eq!(
        keys(&pong),
        ["conn_id", "op", "req_id", "ret_msg", "success"]
    );
    assert_eq!(pong["success"], true);
    assert_eq!(pong["ret_msg"], "pong");
    assert_eq!(pong["req_id"], "");
    client.send(r#"{"req_id":"p7","op":"ping"}"#);
    let pong = client.expect("a pong", WAIT, |m| m["op"] == "ping");
    assert_eq!(pong["req_id"], "p7");
    // Unreadable input is ignored; the connection stays.
    client.send("not json");
    client.send(r#"{"req_id":"p8","op":"ping"}"#);
    let pong = client.expect("a pong", WAIT, |m| m["op"] == "ping");
    assert_eq!(pong["req_id"], "p8");
}

#[test]
fn rest_answers_like_bybit_and_other_paths_are_404() {
    let venue = Venue::start(&[]);
    let (status, time) = venue.get("/v5/market/time");
    assert_eq!(status, 200);
    assert_eq!(
        keys(&time),
        ["result", "retCode", "retExtInfo", "retMsg", "time"]
    );
    assert_eq!(time["retCode"], 0);
    let seconds: i64 = time["result"]["timeSecond"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let nanos: i128 = time["result"]["timeNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(i128::from(seconds), nanos / 1_000_000_000);
    assert!((time["time"].as_i64().unwrap() - now_ms()).abs() < 5_000);

    let book = venue.orderbook(3);
    assert_eq!(keys(&book), ["a", "b", "cts", "s", "seq", "ts", "u"]);
    assert_eq!(book["b"].as_array().unwrap().len(), 3);
    let (_, default) = venue.get("/v5/market/orderbook?category=linear&symbol=BTCUSDT");
    assert_eq!(default["result"]["a"].as_array().unwrap().len(), 25);

    for bad in [
        "/v5/market/orderbook?category=spot&symbol=BTCUSDT",
        "/v5/market/orderbook?category=linear&symbol=ETHUSDT",
        "/v5/market/orderbook?category=linear",
        "/v5/market/orderbook?category=linear&symbol=BTCUSDT&limit=0",
    ] {
        let (status, body) = venue.get(bad);
        assert_eq!(status, 200, "{bad}");
        assert_eq!(body["retCode"], 10001, "{bad}: {body}");
    }
    let (status, body) = venue.get("/v5/market/kline");
    assert_eq!(status, 404);
    assert_ne!(body["retCode"], 0);

    // A WebSocket upgrade on another path is a 404 too.
    let tcp = TcpStream::connect(&venue.addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    match tungstenite::client(venue.url("/v5/public/spot"), tcp) {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            assert_eq!(response.status(), 404);
        }
        other => panic!(
            "expected a 404, got {:?}",
            other.map(|(_, response)| response)
        ),
    }
}

#[test]
fn non_loopback_addresses_and_unknown_faults_are_refused() {
    let toolkit = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_toolkit"))
            .arg("venue")
            .args(args)
            .output()
            .unwrap()
    };
    let output = toolkit(&["--addr", "0.0.0.0:0"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");

    let output = toolkit(&["--faults", "gap,explode"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown fault kind \"explode\"") && stderr.contains("drop, stall, gap"),
        "{stderr}"
    );
    let output = toolkit(&["--faults", "stall:every=1s:ms=3"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("valid keys: after, every, times, for"),
        "{stderr}"
    );

    let help = toolkit(&["--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("FAULT = KIND") && help.contains("pong-delay:ms=N"),
        "{help}"
    );
}

#[test]
fn sigterm_stops_the_venue_with_status_0() {
    let mut venue = Venue::start(&[]);
    let _client = connect(&venue);
    venue.wait_log("connected", WAIT);
    let pid = venue.child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = venue.child.0.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the venue did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Follows `orderbook.50` until `found` says so, checking u runs on by one otherwise.
/// `found(message, last_u)` sees every book message after the first snapshot.
fn watch_book(
    client: &mut Client,
    within: Duration,
    mut found: impl FnMut(&Value, u64) -> bool,
) -> Value {
    client.subscribed(&["orderbook.50.BTCUSDT"]);
    let first = client.expect("the snapshot", WAIT, |m| is_book(m, 50));
    let mut last = u_of(&first);
    let deadline = Instant::now() + within;
    loop {
        let message = client.expect("book messages", deadline - Instant::now(), |m| {
            is_book(m, 50)
        });
        if found(&message, last) {
            return message;
        }
        assert_eq!(kind_of(&message), "delta", "{message}");
        assert_eq!(u_of(&message), last + 1);
        last = u_of(&message);
    }
}

#[test]
fn fault_gap_makes_u_jump() {
    let venue = Venue::start(&["--faults", "gap:every=400ms"]);
    let mut client = connect(&venue);
    watch_book(&mut client, WAIT, |m, last| {
        kind_of(m) == "delta" && u_of(m) == last + 2
    });
}

#[test]
fn fault_restart_sends_a_snapshot_with_u_1() {
    let venue = Venue::start(&["--faults", "restart:every=500ms"]);
    let mut client = connect(&venue);
    let restart = watch_book(&mut client, WAIT, |m, _| kind_of(m) == "snapshot");
    assert_eq!(u_of(&restart), 1, "{restart}");
    let next = client.expect("the next delta", WAIT, |m| is_book(m, 50));
    assert_eq!((kind_of(&next), u_of(&next)), ("delta", 2));
}

#[test]
fn fault_snapshot_sends_the_view_mid_stream() {
    let venue = Venue::start(&["--faults", "snapshot:every=400ms"]);
    let mut client = connect(&venue);
    let mut books = Books::new(&[50]);
    client.subscribed(&["orderbook.50.BTCUSDT"]);
    let first = client.expect("the snapshot", WAIT, |m| is_book(m, 50));
    books.apply(&first.to_string());
    let mut last = u_of(&first);
    let deadline = Instant::now() + WAIT;
    loop {
        let message = client.expect("book messages", deadline - Instant::now(), |m| {
            is_book(m, 50)
        });
        assert_eq!(u_of(&message), last + 1, "{message}");
        last = u_of(&message);
        if kind_of(&message) == "snapshot" {
            // It is the book the client already has.
            assert_eq!(
                book_levels(books.book(50), Side::Buy, 50),
                levels_of(&message["data"]["b"])
            );
            assert_eq!(
                book_levels(books.book(50), Side::Sell, 50),
                levels_of(&message["data"]["a"])
            );
            break;
        }
        books.apply(&message.to_string());
    }
}

#[test]
fn fault_malformed_sends_invalid_json_and_the_stream_goes_on() {
    let venue = Venue::start(&["--faults", "malformed:every=400ms"]);
    let mut client = connect(&venue);
    client.subscribed(&["orderbook.50.BTCUSDT"]);
    let deadline = Instant::now() + WAIT;
    loop {
        let text = client.text(deadline, "a malformed frame");
        if serde_json::from_str::<Value>(&text).is_err() {
            break;
        }
    }
    client.expect("a delta after it", WAIT, |m| {
        is_book(m, 50) && kind_of(m) == "delta"
    });
}

#[test]
fn fault_truncated_cuts_a_delta_in_half() {
    let venue = Venue::start(&["--faults", "truncated:every=400ms"]);
    let mut client = connect(&venue);
    client.subscribed(&["orderbook.50.BTCUSDT"]);
    let first = client.expect("the snapshot", WAIT, |m| is_book(m, 50));
    let mut last = u_of(&first);
    let deadline = Instant::now() + WAIT;
    loop {
        let text = client.text(deadline, "a truncated delta");
        match serde_json::from_str::<Value>(&text) {
            Ok(message) if is_book(&message, 50) => {
                assert_eq!(u_of(&message), last + 1);
                last = u_of(&message);
            }
            Ok(_) => {}
            Err(_) => {
                assert!(
                    text.starts_with(r#"{"topic":"orderbook.50.BTCUSDT","type":"delta""#),
                    "{text}"
                );
                break;
            }
        }
    }
    // The cut delta counted: the next one is two on.
    let next = client.expect("the next delta", WAIT, |m| is_book(m, 50));
    assert_eq!(u_of(&next), last + 2);
}

#[test]
fn fault_drop_closes_without_a_close_frame_and_reconnecting_works() {
    let venue = Venue::start(&["--faults", "drop:every=1s:times=2"]);
    let mut client = connect(&venue);
    client.subscribed(&["orderbook.50.BTCUSDT"]);
    let deadline = Instant::now() + WAIT;
    loop {
        match client.next(deadline) {
            Event::Text(_) => {}
            Event::Gone(reason) => {
                assert!(
                    reason.contains("without closing handshake") || reason.contains("reset"),
                    "{reason}"
                );
                break;
            }
            other => panic!("expected the connection to drop, got {other:?}"),
        }
    }
    venue.wait_log("dropped (fault drop)", WAIT);
    let mut again = connect(&venue);
    again.subscribed(&["orderbook.50.BTCUSDT"]);
    again.expect("a snapshot", WAIT, |m| is_book(m, 50));
}

#[test]
fn fault_stall_sends_nothing_for_a_while_then_data_again() {
    let venue = Venue::start(&["--faults", "stall:after=1s:every=3s:for=1s"]);
    let mut client = connect(&venue);
    client.subscribed(&["orderbook.50.BTCUSDT"]);
    let first = client.expect("the snapshot", WAIT, |m| is_book(m, 50));
    let mut last_u = u_of(&first);
    let mut last_at = Instant::now();
    let mut pinged = false;
    let deadline = Instant::now() + WAIT;
    loop {
        // Ping into the silence: it is read and not answered.
        if !pinged && last_at.elapsed() > Duration::from_millis(300) {
            client.send(r#"{"req_id":"stalled","op":"ping"}"#);
            pinged = true;
        }
        let wait = (Instant::now() + Duration::from_millis(50)).min(deadline);
        match client.next(wait) {
            Event::Text(text) => {
                let message: Value = serde_json::from_str(&text).unwrap();
                assert_ne!(message["req_id"], "stalled", "a stalled ping was answered");
                let silence = last_at.elapsed();
                last_at = Instant::now();
                if is_book(&message, 50) {
                    if silence > Duration::from_millis(700) {
                        // Data again; what was due meanwhile was dropped, so u jumps.
                        assert!(pinged);
                        assert!(u_of(&message) > last_u + 1, "{message}");
                        break;
                    }
                    last_u = u_of(&message);
                }
            }
            Event::Timeout => assert!(Instant::now() < deadline, "no stall seen"),
            other => panic!("{other:?}"),
        }
    }
    venue.wait_log("stall over", WAIT);
}

#[test]
fn fault_subscribe_fail_fails_the_next_requests() {
    let venue = Venue::start(&["--faults", "subscribe-fail:times=2"]);
    venue.wait_log("fault subscribe-fail fired", WAIT);
    let mut client = connect(&venue);
    client.subscribe("f1", &["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT"]);
    let deadline = Instant::now() + WAIT;
    for topic in ["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT"] {
        let reply: Value = serde_json::from_str(&client.text(deadline, "a failure")).unwrap();
        assert_eq!(reply["success"], false);
        assert_eq!(reply["req_id"], "f1");
        assert!(
            reply["ret_msg"]
                .as_str()
                .unwrap()
                .ends_with(&format!(",topic:{topic}")),
            "{reply}"
        );
    }
    client.subscribe("f2", &["orderbook.50.BTCUSDT"]);
    let reply: Value = serde_json::from_str(&client.text(deadline, "a failure")).unwrap();
    assert_eq!(
        (reply["success"].clone(), reply["req_id"].clone()),
        (false.into(), "f2".into())
    );
    client.subscribe("f3", &["orderbook.50.BTCUSDT"]);
    let reply: Value = serde_json::from_str(&client.text(deadline, "the ack")).unwrap();
    assert_eq!(
        (reply["success"].clone(), reply["req_id"].clone()),
        (true.into(), "f3".into())
    );
    client.expect("the snapshot", WAIT, |m| is_book(m, 50));
}

#[test]
fn fault_pong_lost_leaves_pings_unanswered_for_a_while() {
    let venue = Venue::start(&["--faults", "pong-lost:for=3s"]);
    venue.wait_log("fault pong-lost fired", WAIT);
    let mut client = connect(&venue);
    client.subscribed(&["orderbook.50.BTCUSDT"]);
    client.send(r#"{"req_id":"early","op":"ping"}"#);
    let deadline = Instant::now() + WAIT;
    let mut sent = 0;
    let mut next_ping = Instant::now();
    loop {
        if Instant::now() >= next_ping {
            sent += 1;
            client.send(&format!(r#"{{"req_id":"p{sent}","op":"ping"}}"#));
            next_ping += Duration::from_millis(250);
        }
        let wait = next_ping.min(deadline);
        match client.next(wait) {
            Event::Text(text) => {
                let message: Value = serde_json::from_str(&text).unwrap();
                if message["ret_msg"] == "pong" {
                    assert_ne!(message["req_id"], "early");
                    // Pings sent during the window were never answered.
                    assert!(message["req_id"] != "p1", "{message}");
                    break;
                }
            }
            Event::Timeout => assert!(Instant::now() < deadline, "pongs never came back"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn fault_pong_delay_answers_late() {
    let venue = Venue::start(&["--faults", "pong-delay:ms=700"]);
    venue.wait_log("fault pong-delay fired", WAIT);
    let mut client = connect(&venue);
    let sent = Instant::now();
    client.send(r#"{"req_id":"late","op":"ping"}"#);
    let pong = client.expect("the pong", WAIT, |m| m["ret_msg"] == "pong");
    assert_eq!(pong["req_id"], "late");
    assert!(
        sent.elapsed() >= Duration::from_millis(700),
        "{:?}",
        sent.elapsed()
    );
}

#[test]
fn fault_burst_sends_frames_back_to_back() {
    let venue = Venue::start(&["--faults", "burst:after=1500ms:frames=300"]);
    let mut client = connect(&venue);
    client.subscribed(&[
        "orderbook.50.BTCUSDT",
        "publicTrade.BTCUSDT",
        "tickers.BTCUSDT",
    ]);
    // At the market's pace 100 messages take over a second; in a burst, a moment.
    let mut arrivals: Vec<Instant> = Vec::new();
    let mut last_u = None;
    let deadline = Instant::now() + WAIT;
    loop {
        let text = client.text(deadline, "a burst");
        arrivals.push(Instant::now());
        let message: Value = serde_json::from_str(&text).unwrap();
        if is_book(&message, 50) {
            let u = u_of(&message);
            if let Some(last) = last_u {
                assert_eq!(u, last + 1, "the burst keeps u consecutive");
            }
            last_u = Some(u);
        }
        if arrivals.len() > 100 {
            let span = arrivals[arrivals.len() - 1] - arrivals[arrivals.len() - 101];
            if span < Duration::from_millis(300) {
                break;
            }
        }
    }
    venue.wait_log("fault burst fired", WAIT);
}

#[test]
fn fault_skew_shifts_every_time_stamp() {
    let hour = 3_600_000;
    let venue = Venue::start(&["--faults", "skew:ms=3600000"]);
    venue.wait_log("fault skew fired", WAIT);
    let mut client = connect(&venue);
    client.subscribed(&["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT"]);
    let near_an_hour_ahead = |ms: i64| (ms - now_ms() - hour).abs() < 10_000;
    let book = client.expect("a book message", WAIT, |m| is_book(m, 50));
    assert!(
        near_an_hour_ahead(book["ts"].as_i64().unwrap()),
        "{}",
        book["ts"]
    );
    assert!(
        near_an_hour_ahead(book["cts"].as_i64().unwrap()),
        "{}",
        book["cts"]
    );
    let trade = client.expect("a trade", WAIT, |m| m["topic"] == "publicTrade.BTCUSDT");
    assert!(near_an_hour_ahead(trade["ts"].as_i64().unwrap()));
    assert!(near_an_hour_ahead(trade["data"][0]["T"].as_i64().unwrap()));
    let (_, time) = venue.get("/v5/market/time");
    assert!(near_an_hour_ahead(time["time"].as_i64().unwrap()));
    let rest = venue.orderbook(1);
    assert!(near_an_hour_ahead(rest["ts"].as_i64().unwrap()));
}

#[test]
fn fault_chaos_fires_faults_chosen_by_the_seed() {
    let chosen = || {
        let venue = Venue::start(&["--seed", "11", "--faults", "chaos:every=150ms:times=6"]);
        (0..6)
            .map(|_| {
                let line = venue.wait_log("venue: fault ", WAIT);
                let kind = line
                    .split("fault ")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .unwrap()
                    .to_owned();
                assert!(
                    [
                        "drop",
                        "stall",
                        "gap",
                        "snapshot",
                        "restart",
                        "malformed",
                        "truncated",
                        "pong-lost",
                        "burst"
                    ]
                    .contains(&kind.as_str()),
                    "{line}"
                );
                kind
            })
            .collect::<Vec<_>>()
    };
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(chosen);
        (first.join().unwrap(), chosen())
    });
    assert_eq!(first, second);
}

fn tls_client_config(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

fn tls_stream(
    venue: &Venue,
    config: Arc<rustls::ClientConfig>,
    name: &'static str,
) -> (
    TcpStream,
    rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
) {
    let tcp = TcpStream::connect(&venue.addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let handle = tcp.try_clone().unwrap();
    let connection =
        rustls::ClientConnection::new(config, ServerName::try_from(name).unwrap()).unwrap();
    (handle, rustls::StreamOwned::new(connection, tcp))
}

#[test]
fn tls_serves_wss_and_https_with_the_written_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("venue.pem");
    let venue = Venue::start(&["--tls", "--cert-out", cert_path.to_str().unwrap()]);
    assert_eq!(venue.scheme, "wss");
    assert_eq!(venue.cert.as_deref(), Some(cert_path.as_path()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&cert_path).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let trusted = tls_client_config(roots);

    for name in ["localhost", "127.0.0.1"] {
        let (tcp, stream) = tls_stream(&venue, Arc::clone(&trusted), name);
        let mut client = Client::handshake(&venue.url("/v5/public/linear"), &tcp, Box::new(stream));
        client.subscribed(&["orderbook.50.BTCUSDT"]);
        client.expect("a snapshot over TLS", WAIT, |m| is_book(m, 50));
        client.send(r#"{"op":"ping"}"#);
        client.expect("a pong over TLS", WAIT, |m| m["ret_msg"] == "pong");
    }

    let (_, mut stream) = tls_stream(&venue, Arc::clone(&trusted), "localhost");
    let (status, time) = http_get(&mut stream, "/v5/market/time");
    assert_eq!((status, time["retCode"].clone()), (200, 0.into()));

    // Without the certificate the handshake fails: nothing here skips verification.
    let (_, mut untrusted) = tls_stream(
        &venue,
        tls_client_config(rustls::RootCertStore::empty()),
        "localhost",
    );
    let error = untrusted
        .write_all(b"GET / HTTP/1.1\r\n\r\n")
        .and_then(|()| untrusted.flush());
    let error = match error {
        Err(error) => error,
        Ok(()) => untrusted.read(&mut [0; 16]).unwrap_err(),
    };
    assert!(error.to_string().contains("certificate"), "{error}");
}

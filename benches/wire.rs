//! From socket bytes to the applied book: one orderbook.50 delta read off a loopback WebSocket
//! (plain, then TLS), unframed, decoded and applied, timed one by one into hdrhistograms.
//!
//! A server thread (tungstenite for the upgrade, rustls with a certificate made here for TLS)
//! writes the simulator's orderbook.50 frames one at a time, 30 us apart (`WIRE_GAP_US`), so
//! that each arrives on its own; the client is the engine's own ([`feed::net::connect`], then
//! [`feed::net::WsConnection::read_message`] polled without blocking). Only the poll that
//! brings a whole message is timed, from the call to the book applied: the read syscall, TLS
//! decryption, unframing, decoding and the book.
//!
//! Tick to order: the same, then an order built, signed into its trade-stream request
//! ([`feed::bybit::trade::TradeWriter`]) and written on a second loopback WebSocket (the trade
//! stream; the server reads and drops what it gets), timed from the poll that brought the
//! frame to the order's bytes handed to the socket.
//!
//! `cargo bench -p benches --bench wire` (20,000 frames each; `WIRE_FRAMES` changes that).
//! Under `cargo test` it sends a few hundred, as a smoke test.

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use feed::bybit::{PublicDecoder, PublicMessage};
use feed::net::{Endpoint, WsRead};
use feed::sim::{MarketSim, Regime, SimConfig};
use feed::{FrameBuf, OrderBook};
use hdrhistogram::Histogram;

fn frames_to_send() -> usize {
    let benching = std::env::args().any(|arg| arg == "--bench");
    let default = if benching { 20_000 } else { 300 };
    std::env::var("WIRE_FRAMES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

/// The simulator's orderbook.50 frames (a snapshot, then deltas), each framed as a server's
/// WebSocket text message.
fn book_frames(count: usize) -> Vec<Vec<u8>> {
    let config = SimConfig {
        duration_ms: 3_600_000,
        ..SimConfig::btcusdt(Regime::Normal, 1_767_225_600_000, 9)
    };
    let mut sim = MarketSim::new(config);
    let mut out = Vec::new();
    let mut frames = Vec::new();
    while frames.len() < count && sim.next_frame(&mut out).is_some() {
        if out.starts_with(br#"{"topic":"orderbook"#) {
            let mut framed = vec![0x81];
            match out.len() {
                len @ 0..=125 => framed.push(len as u8),
                len @ 126..=0xFFFF => {
                    framed.push(126);
                    framed.extend_from_slice(&(len as u16).to_be_bytes());
                }
                len => {
                    framed.push(127);
                    framed.extend_from_slice(&(len as u64).to_be_bytes());
                }
            }
            framed.extend_from_slice(&out);
            frames.push(framed);
        }
    }
    frames
}

/// Time between two frames the server sends (`WIRE_GAP_US`, default 30 us).
fn gap() -> Duration {
    Duration::from_micros(
        std::env::var("WIRE_GAP_US")
            .ok()
            .and_then(|text| text.parse().ok())
            .unwrap_or(30),
    )
}

/// Upgrades `socket` and writes `frames`, [`gap`] apart.
fn serve(stream: impl std::io::Read + Write, frames: &[Vec<u8>]) {
    let gap = gap();
    let Ok(mut ws) = tungstenite::accept(stream) else {
        return;
    };
    for frame in frames {
        if ws
            .get_mut()
            .write_all(frame)
            .and_then(|()| ws.get_mut().flush())
            .is_err()
        {
            return;
        }
        let next = Instant::now() + gap;
        while Instant::now() < next {
            std::hint::spin_loop();
        }
    }
    // Let the client read the last frames before the socket closes.
    std::thread::sleep(Duration::from_millis(200));
}

/// An empty histogram, 1 ns to 60 s.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap_or_else(|err| panic!("{err}"))
}

/// An empty BTCUSDT book of 50 levels.
fn book() -> OrderBook {
    OrderBook::new(
        feed::Symbol::new("BTCUSDT").unwrap_or_else(|err| panic!("{err}")),
        50,
    )
}

/// Prints a distribution.
fn report(name: &str, histogram: &Histogram<u64>) {
    println!(
        "{name:<44} p50 {:>7} ns  p99 {:>7} ns  p99.9 {:>7} ns  max {:>9} ns  ({} frames)",
        histogram.value_at_quantile(0.50),
        histogram.value_at_quantile(0.99),
        histogram.value_at_quantile(0.999),
        histogram.max(),
        histogram.len()
    );
}

/// A self-signed certificate for 127.0.0.1: the server's configuration and the client's, which
/// trusts exactly it.
fn tls_pair() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
        .unwrap_or_else(|err| panic!("certificate: {err}"));
    let pem = tempfile::NamedTempFile::new().unwrap_or_else(|err| panic!("{err}"));
    std::fs::write(pem.path(), certified.cert.pem()).unwrap_or_else(|err| panic!("{err}"));
    let client = feed::net::client_config(Some(pem.path())).unwrap_or_else(|err| panic!("{err}"));
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| {
            builder
                .with_no_client_auth()
                .with_single_cert(vec![certified.cert.der().clone()], key)
        })
        .unwrap_or_else(|err| panic!("server config: {err}"));
    (Arc::new(server), client)
}

/// Receives `frames` over a loopback connection (TLS when `tls`) and prints the distribution.
fn measure(name: &str, frames: &Arc<Vec<Vec<u8>>>, tls: bool) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|err| panic!("{err}"));
    let port = listener.local_addr().map_or(0, |address| address.port());
    let (server_config, client_config) = tls_pair();
    let server = std::thread::spawn({
        let frames = Arc::clone(frames);
        move || {
            let Ok((socket, _)) = listener.accept() else {
                return;
            };
            let _ = socket.set_nodelay(true);
            if tls {
                match rustls::ServerConnection::new(server_config) {
                    Ok(connection) => {
                        serve(rustls::StreamOwned::new(connection, socket), &frames);
                    }
                    Err(err) => eprintln!("server: {err}"),
                }
            } else {
                serve(socket, &frames);
            }
        }
    });
    let scheme = if tls { "wss" } else { "ws" };
    let endpoint = Endpoint::parse(&format!("{scheme}://127.0.0.1:{port}/v5/public/linear"))
        .unwrap_or_else(|err| panic!("{err}"));
    let mut connection =
        feed::net::connect(&endpoint, Some(&client_config), Duration::from_secs(5))
            .unwrap_or_else(|err| panic!("connect: {err}"));

    let clock = quanta::Clock::new();
    let mut histogram = histogram();
    let mut decoder = PublicDecoder::new();
    let mut frame = FrameBuf::with_capacity(1 << 20);
    let mut book = book();
    let warm = frames.len() / 10;
    let mut applied = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while applied < frames.len() && Instant::now() < deadline {
        let start = clock.raw();
        match connection.read_message(&mut frame) {
            Ok(WsRead::Message) => {
                if let Ok(PublicMessage::Book(update)) = decoder.decode(&mut frame) {
                    std::hint::black_box(book.apply(&update));
                }
                let end = clock.raw();
                applied += 1;
                if applied > warm {
                    let _ = histogram.record(clock.delta_as_nanos(start, end).max(1));
                }
            }
            Ok(WsRead::Idle) => std::hint::spin_loop(),
            Ok(WsRead::Closed) | Err(_) => break,
        }
    }
    let _ = server.join();
    assert!(
        book.is_valid(),
        "{name}: the book did not follow the frames"
    );
    report(name, &histogram);
}

/// Accepts one WebSocket on `listener` (TLS with `tls`) and reads what the client writes until
/// it closes: the trade stream's far end.
fn drain_trade_stream(listener: TcpListener, tls: Option<Arc<rustls::ServerConfig>>) {
    fn drain(stream: impl std::io::Read + Write) {
        let Ok(mut ws) = tungstenite::accept(stream) else {
            return;
        };
        while ws.read().is_ok() {}
    }
    let Ok((socket, _)) = listener.accept() else {
        return;
    };
    let _ = socket.set_nodelay(true);
    match tls {
        Some(config) => match rustls::ServerConnection::new(config) {
            Ok(connection) => drain(rustls::StreamOwned::new(connection, socket)),
            Err(err) => eprintln!("trade server: {err}"),
        },
        None => drain(socket),
    }
}

/// Tick to order: receives `frames` (TLS when `tls`), and on each applied book writes a
/// post-only order at the best bid on a trade-stream connection; prints the distribution of
/// poll start to order written.
fn measure_to_order(name: &str, frames: &Arc<Vec<Vec<u8>>>, tls: bool) {
    use feed::bybit::trade::{LinkIds, NewOrder, TradeWriter};

    let public = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|err| panic!("{err}"));
    let trade = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|err| panic!("{err}"));
    let ports = [&public, &trade].map(|listener| listener.local_addr().map_or(0, |a| a.port()));
    let (server_config, client_config) = tls_pair();
    let server = std::thread::spawn({
        let frames = Arc::clone(frames);
        let config = server_config.clone();
        move || {
            let Ok((socket, _)) = public.accept() else {
                return;
            };
            let _ = socket.set_nodelay(true);
            if tls {
                if let Ok(connection) = rustls::ServerConnection::new(config) {
                    serve(rustls::StreamOwned::new(connection, socket), &frames);
                }
            } else {
                serve(socket, &frames);
            }
        }
    });
    let drain = std::thread::spawn(move || drain_trade_stream(trade, tls.then_some(server_config)));
    let scheme = if tls { "wss" } else { "ws" };
    let connect = |port: u16, path: &str| {
        let endpoint = Endpoint::parse(&format!("{scheme}://127.0.0.1:{port}{path}"))
            .unwrap_or_else(|err| panic!("{err}"));
        feed::net::connect(&endpoint, Some(&client_config), Duration::from_secs(5))
            .unwrap_or_else(|err| panic!("connect: {err}"))
    };
    let mut trade_stream = connect(ports[1], "/v5/trade");
    let mut connection = connect(ports[0], "/v5/public/linear");

    let clock = quanta::Clock::new();
    let mut histogram = histogram();
    let mut decoder = PublicDecoder::new();
    let mut frame = FrameBuf::with_capacity(1 << 20);
    let mut book = book();
    let mut writer = TradeWriter::new(LinkIds::for_run(1_767_225_600_000), 5000);
    let symbol = book.symbol();
    let warm = frames.len() / 10;
    let mut applied = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while applied < frames.len() && Instant::now() < deadline {
        let start = clock.raw();
        match connection.read_message(&mut frame) {
            Ok(WsRead::Message) => {
                let Ok(PublicMessage::Book(update)) = decoder.decode(&mut frame) else {
                    continue;
                };
                std::hint::black_box(book.apply(&update));
                applied += 1;
                let Some(bid) = book.best_bid() else {
                    continue;
                };
                let order = NewOrder {
                    id: feed::order::OrderId(applied as u64),
                    symbol,
                    side: feed::Side::Buy,
                    price: bid.price,
                    qty: feed::Fixed::from_raw(100_000),
                    reduce_only: false,
                };
                let request = writer.create(applied as u64, 1_767_225_600_000, &order);
                trade_stream
                    .send_text(request)
                    .unwrap_or_else(|err| panic!("{name}: writing the order: {err}"));
                let end = clock.raw();
                if applied > warm {
                    let _ = histogram.record(clock.delta_as_nanos(start, end).max(1));
                }
            }
            Ok(WsRead::Idle) => std::hint::spin_loop(),
            Ok(WsRead::Closed) | Err(_) => break,
        }
    }
    let _ = server.join();
    trade_stream.close();
    let _ = drain.join();
    assert!(
        book.is_valid(),
        "{name}: the book did not follow the frames"
    );
    report(name, &histogram);
}

/// The reference, measured in the same run: the same frames decoded and applied from memory.
fn in_memory(frames: &[Vec<u8>]) {
    let clock = quanta::Clock::new();
    let mut histogram = histogram();
    let mut decoder = PublicDecoder::new();
    let mut frame = FrameBuf::with_capacity(1 << 20);
    let mut book = book();
    let warm = frames.len() / 10;
    for (index, framed) in frames.iter().enumerate() {
        let payload = &framed[framed.len() - payload_len(framed)..];
        let start = clock.raw();
        frame.fill(payload);
        if let Ok(PublicMessage::Book(update)) = decoder.decode(&mut frame) {
            std::hint::black_box(book.apply(&update));
        }
        let end = clock.raw();
        if index >= warm {
            let _ = histogram.record(clock.delta_as_nanos(start, end).max(1));
        }
    }
    report("in memory: copy, decode, apply (reference)", &histogram);
}

/// The payload length of a server frame made by [`book_frames`].
fn payload_len(framed: &[u8]) -> usize {
    match framed[1] {
        126 => usize::from(u16::from_be_bytes([framed[2], framed[3]])),
        127 => framed.len() - 10,
        len => usize::from(len),
    }
}

fn main() {
    let frames = Arc::new(book_frames(frames_to_send()));
    in_memory(&frames);
    measure("ws:// delta: socket bytes -> applied book", &frames, false);
    measure("wss:// delta: socket bytes -> applied book", &frames, true);
    measure_to_order(
        "ws:// tick to order: socket -> book -> order written",
        &frames,
        false,
    );
    measure_to_order(
        "wss:// tick to order: socket -> book -> order written",
        &frames,
        true,
    );
}

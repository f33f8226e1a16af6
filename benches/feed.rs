//! Decoding Bybit frames, applying them to the book and computing features: the first three
//! hot-path stages.
//!
//! Targets on the reference machine: a typical orderbook.50 delta decodes in at most 500 ns and
//! applies in at most 100 ns.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use engine::features::{FEATURE_COUNT, FeatureEngine};
use feed::bybit::{BookUpdate, Level, PublicDecoder, PublicMessage, UpdateKind};
use feed::{Fixed, FrameBuf, OrderBook, Symbol};

const DELTA: &[u8] =
    include_bytes!("../feed/tests/fixtures/bybit/ws_public_orderbook50_delta.json");
const TRADE: &[u8] = include_bytes!("../feed/tests/fixtures/bybit/ws_public_trade.json");

/// The fixture with its whitespace removed, as the venue sends it.
fn compact(pretty: &[u8]) -> Vec<u8> {
    let mut in_string = false;
    pretty
        .iter()
        .copied()
        .filter(|&byte| {
            if byte == b'"' {
                in_string = !in_string;
            }
            in_string || !byte.is_ascii_whitespace()
        })
        .collect()
}

/// The parser alone (simd-json's tape into reused buffers): the floor under the decoder.
fn parse_only(c: &mut Criterion) {
    let bytes = compact(DELTA);
    let len = bytes.len();
    let mut input = bytes.clone();
    input.resize(len + simd_json::INPUT_PADDING, 0);
    let mut buffers = simd_json::Buffers::new(4096);
    let mut nodes: Vec<simd_json::Node<'static>> = Vec::with_capacity(4096);
    c.bench_function("simd_json_tape_orderbook50_delta", |b| {
        b.iter(|| {
            input[..len].copy_from_slice(&bytes);
            let mut tape = simd_json::Tape(std::mem::take(&mut nodes)).reset();
            let parsed =
                simd_json::fill_tape_padded(black_box(&mut input), len, &mut buffers, &mut tape);
            nodes = tape.reset().0;
            parsed.is_ok()
        })
    });
    let numbers: [&[u8]; 5] = [b"30247.20", b"30.028", b"0.224", b"30240.00", b"0"];
    c.bench_function("parse_5_decimals", |b| {
        b.iter(|| numbers.map(|text| Fixed::parse_bytes(black_box(text)).map(Fixed::raw)))
    });
}

fn decode(c: &mut Criterion) {
    let mut decoder = PublicDecoder::new();
    let mut frame = FrameBuf::default();
    for (name, bytes) in [
        ("decode_orderbook50_delta", compact(DELTA)),
        ("decode_public_trade", compact(TRADE)),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| {
                frame.fill(black_box(&bytes));
                decoder.decode(&mut frame).is_ok()
            })
        });
    }
}

/// A book of `depth` levels a side on a 0.1 grid around 30000, and the fixture delta's levels
/// moved onto that grid.
fn book_and_delta(depth: usize) -> (OrderBook, Vec<Level>, Vec<Level>) {
    let symbol = Symbol::new("BTCUSDT").unwrap_or_default();
    let level = |ticks: i64, lots: i64| Level {
        price: Fixed::from_raw(ticks * 10_000_000),
        size: Fixed::from_raw(lots * 100_000),
    };
    let bids: Vec<Level> = (0..depth as i64)
        .map(|i| level(300_000 - i, 100 + i))
        .collect();
    let asks: Vec<Level> = (0..depth as i64)
        .map(|i| level(300_001 + i, 100 + i))
        .collect();
    let mut book = OrderBook::new(symbol, depth);
    book.apply(&BookUpdate {
        symbol,
        depth: depth as u16,
        kind: UpdateKind::Snapshot,
        ts: 1,
        cts: 1,
        update_id: 10,
        seq: 10,
        bids: &bids,
        asks: &asks,
    });
    // Like the fixture: 5 bid changes (one removal) and 7 ask changes (two removals) near the top.
    let delta_bids = vec![
        level(300_000, 250),
        level(299_998, 7),
        level(299_995, 31),
        level(299_993, 2),
        level(299_990, 0),
    ];
    let delta_asks = vec![
        level(300_002, 0),
        level(300_003, 12),
        level(300_004, 18),
        level(300_006, 0),
        level(300_009, 29),
        level(300_012, 6),
        level(300_015, 45),
    ];
    (book, delta_bids, delta_asks)
}

fn apply(c: &mut Criterion) {
    for depth in [50, 1000] {
        let (mut book, bids, asks) = book_and_delta(depth);
        let symbol = book.symbol();
        c.bench_function(&format!("apply_delta_{depth}_levels"), |b| {
            b.iter(|| {
                let update = BookUpdate {
                    symbol,
                    depth: depth as u16,
                    kind: UpdateKind::Delta,
                    ts: 2,
                    cts: 2,
                    update_id: book.update_id() + 1,
                    seq: 11,
                    bids: black_box(&bids),
                    asks: black_box(&asks),
                };
                book.apply(&update)
            })
        });
    }
}

fn decode_and_apply(c: &mut Criterion) {
    // The fixture delta on its own book: decode, then apply (update ids kept consecutive).
    let mut decoder = PublicDecoder::new();
    let mut frame = FrameBuf::default();
    let bytes = compact(DELTA);
    let symbol = Symbol::new("BTCUSDT").unwrap_or_default();
    let mut book = OrderBook::new(symbol, 50);
    let mut next_u = 0;
    c.bench_function("decode_and_apply_orderbook50_delta", |b| {
        b.iter(|| {
            frame.fill(black_box(&bytes));
            if let Ok(PublicMessage::Book(mut update)) = decoder.decode(&mut frame) {
                if next_u == 0 {
                    update.kind = UpdateKind::Snapshot;
                }
                next_u += 1;
                update.update_id = next_u;
                black_box(book.apply(&update));
            }
        })
    });
}

fn features(c: &mut Criterion) {
    let (book, _, _) = book_and_delta(50);
    let mut engine = FeatureEngine::new();
    let mut vector = [0.0_f32; FEATURE_COUNT];
    let mut now_ms = 1_000;
    c.bench_function("features_update_and_compute_per_book_event", |b| {
        b.iter(|| {
            now_ms += 20;
            engine.on_book(black_box(&book), now_ms);
            engine.compute(&book, &mut vector);
            vector[0]
        })
    });
}

criterion_group!(
    benches,
    parse_only,
    decode,
    apply,
    decode_and_apply,
    features
);
criterion_main!(benches);

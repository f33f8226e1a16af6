//! Latency distributions (p50, p99, p99.9, max) over many single calls, timed one by one with
//! quanta into hdrhistograms: the feature update for one book event, one-row scoring with the
//! native evaluator and with ONNX Runtime (200 trees x 31 leaves), and decode to decision for one
//! orderbook.50 delta.
//!
//! `cargo bench -p benches --bench latency` (1M calls each; `LATENCY_CALLS` changes that).
//! Under `cargo test` it runs a few calls of each, as a smoke test.

use std::hint::black_box;

use engine::config::Config;
use engine::features::{FEATURE_COUNT, FeatureEngine, FeatureVector};
use engine::model::ort_backend::{OrtScorer, load_runtime};
use engine::model::synthetic::{boundary_rows, generate};
use engine::model::{NativeModel, write_onnx};
use engine::pipeline::{Account, FrameOutcome, Pipeline};
use engine::signals::{Candidate, SignalId};
use feed::bybit::{PublicDecoder, PublicMessage};
use feed::sim::{MarketSim, Regime, SimConfig};
use feed::{Fixed, FrameBuf, OrderBook, Side};
use hdrhistogram::Histogram;

fn calls() -> usize {
    let benching = std::env::args().any(|arg| arg == "--bench");
    let default = if benching { 1_000_000 } else { 1_000 };
    std::env::var("LATENCY_CALLS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

/// Times `work` `calls` times and prints the distribution.
fn measure(name: &str, calls: usize, mut work: impl FnMut(usize)) {
    let clock = quanta::Clock::new();
    let mut histogram = match Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3) {
        Ok(histogram) => histogram,
        Err(err) => panic!("histogram: {err}"),
    };
    for call in 0..calls.min(10_000) {
        work(call);
    }
    for call in 0..calls {
        let start = clock.raw();
        work(call);
        let end = clock.raw();
        let _ = histogram.record(clock.delta_as_nanos(start, end).max(1));
    }
    println!(
        "{name:<44} p50 {:>7} ns  p99 {:>7} ns  p99.9 {:>7} ns  max {:>9} ns  ({calls} calls)",
        histogram.value_at_quantile(0.50),
        histogram.value_at_quantile(0.99),
        histogram.value_at_quantile(0.999),
        histogram.max()
    );
}

fn main() {
    let calls = calls();
    let config = SimConfig {
        duration_ms: 600_000,
        ..SimConfig::btcusdt(Regime::Normal, 1_767_225_600_000, 9)
    };
    let mut sim = MarketSim::new(config);
    let mut frames = Vec::new();
    let mut out = Vec::new();
    while sim.next_frame(&mut out).is_some() {
        frames.push(out.clone());
    }

    // Feature update for one book event, along a simulated session.
    let mut decoder = PublicDecoder::new();
    let mut frame = FrameBuf::with_capacity(1 << 20);
    let mut book = OrderBook::new(config.symbol, 50);
    let mut features = FeatureEngine::new();
    let mut vector = [0.0_f32; FEATURE_COUNT];
    let mut updates = Vec::new();
    for bytes in &frames {
        frame.fill(bytes);
        if let Ok(PublicMessage::Book(update)) = decoder.decode(&mut frame) {
            book.apply(&update);
            updates.push(update.ts);
        }
    }
    let mut now = updates.last().copied().unwrap_or(0);
    measure("features: update + compute per book event", calls, |_| {
        now += 20;
        features.on_book(black_box(&book), now);
        features.compute(&book, &mut vector);
    });

    let model = generate(200, 31, FEATURE_COUNT, 42);
    let rows = boundary_rows(&model, 4096, 3);
    let native = NativeModel::compile(&model);
    measure("native: one row, 200 x 31", calls, |call| {
        black_box(native.predict(black_box(&rows[call % rows.len()])));
    });

    let library = std::env::var_os("ORT_DYLIB_PATH").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../.runtime/onnxruntime-1.31.1/libonnxruntime.so.1.31.1")
        },
        std::path::PathBuf::from,
    );
    // One ONNX Runtime environment per process, shared by both measurements.
    let environment = load_runtime(&library);
    let mut ort = environment
        .as_ref()
        .map_err(|err| err.to_string())
        .and_then(|environment| {
            OrtScorer::new(environment, &write_onnx(&model, &[]), FEATURE_COUNT)
                .map_err(|err| err.to_string())
        });
    match ort.as_mut() {
        Ok(ort) => measure("onnx runtime: one row, 200 x 31", calls, |call| {
            black_box(
                ort.predict(black_box(&rows[call % rows.len()]))
                    .unwrap_or(f32::NAN),
            );
        }),
        Err(err) => println!("onnx runtime: skipped ({err})"),
    }

    let symbol = config.symbol;
    decode_to_decision(
        "decode -> decision (native)",
        calls,
        &frames,
        symbol,
        false,
        |row| native.predict(row),
    );
    decode_to_decision(
        "decode -> decision, every frame scored (native)",
        calls,
        &frames,
        symbol,
        true,
        |row| native.predict(row),
    );
    if let Ok(ort) = ort.as_mut() {
        decode_to_decision(
            "decode -> decision, every frame scored (onnx)",
            calls,
            &frames,
            symbol,
            true,
            |row| ort.predict(row).unwrap_or(f32::NAN),
        );
    }
}

/// Decode to decision through `engine::pipeline` (decode, book, features, trigger, score, size,
/// gate) for consecutive orderbook.50 frames of the session, each frame one call (most end at
/// the trigger). The session is replayed as often as needed, each time on a fresh pipeline
/// (built inside the timed call: about twenty of the samples).
///
/// With `score_every_frame`, the trigger is bypassed and every frame is scored as a buy at the
/// bid: the full path for a delta that produces a candidate.
fn decode_to_decision(
    name: &str,
    calls: usize,
    frames: &[Vec<u8>],
    symbol: feed::Symbol,
    score_every_frame: bool,
    mut score: impl FnMut(&FeatureVector) -> f32,
) {
    let book_frames: Vec<&Vec<u8>> = frames
        .iter()
        .filter(|bytes| bytes.starts_with(b"{\"topic\":\"orderbook"))
        .collect();
    let new_pipeline = || {
        Pipeline::new(&Config::default(), symbol, benches::btcusdt(), 0.5)
            .unwrap_or_else(|err| panic!("{err}"))
    };
    let mut pipeline = new_pipeline();
    let mut frame = FrameBuf::with_capacity(1 << 20);
    let account = Account {
        free_balance: Fixed::from_int(5_000).unwrap_or_default(),
        position: Fixed::ZERO,
        liq_price: None,
    };
    let mut next = 0;
    measure(name, calls.min(book_frames.len() * 20), |_| {
        if next == book_frames.len() {
            next = 0;
            pipeline = new_pipeline();
        }
        frame.fill(book_frames[next]);
        next += 1;
        if !score_every_frame {
            black_box(pipeline.on_frame_decide(&mut frame, &account, &mut score));
            return;
        }
        let FrameOutcome::Book { ts_ms, seq } = pipeline.on_frame(&mut frame) else {
            return;
        };
        let Some(bid) = pipeline.book().best_bid() else {
            return;
        };
        let candidate = Candidate {
            id: SignalId::new(seq, Side::Buy),
            side: Side::Buy,
            ts_ms,
            price: bid.price,
        };
        black_box(pipeline.decide(candidate, &account, &mut score));
    });
}

//! The hot path allocates nothing once warm: decode, book, features, candidates, scoring, gates
//! and sizing (engine::pipeline) over simulated frames of every regime, under a counting global
//! allocator.

use engine::config::Config;
use engine::features::{FEATURE_COUNT, FeatureVector};
use engine::model::ort_backend::{OrtScorer, load_runtime};
use engine::model::synthetic::generate;
use engine::model::{NativeModel, write_onnx};
use engine::pipeline::{Account, Pipeline};
use feed::sim::{MarketSim, Regime, SimConfig};
use feed::{Fixed, FrameBuf, Symbol};
use tests::allocations::{CountingAllocator, count};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Frames of `minutes` simulated minutes of each regime, on consecutive days.
fn frames(minutes: u64) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for (day, regime) in Regime::ALL.into_iter().enumerate() {
        let start_ms = 1_767_225_600_000 + day as u64 * 86_400_000;
        let config = SimConfig {
            duration_ms: minutes * 60_000,
            ..SimConfig::btcusdt(regime, start_ms, 5)
        };
        let mut sim = MarketSim::new(config);
        let mut out = Vec::new();
        while sim.next_frame(&mut out).is_some() {
            frames.push(out.clone());
        }
    }
    frames
}

/// What the path decided, to check it did real work.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    events: u64,
    candidates: u64,
    approved: u64,
    orders: u64,
}

fn pipeline() -> Pipeline {
    let Ok(symbol) = Symbol::new("BTCUSDT") else {
        panic!("symbol")
    };
    Pipeline::new(
        &Config::default(),
        symbol,
        tests::shipped_instrument("BTCUSDT"),
        0.5,
    )
    .unwrap_or_else(|err| panic!("{err}"))
}

fn run(
    pipeline: &mut Pipeline,
    frame: &mut FrameBuf,
    frames: &[Vec<u8>],
    score: &mut impl FnMut(&FeatureVector) -> f32,
) -> Tally {
    let account = Account {
        free_balance: Fixed::from_int(5_000).unwrap_or_default(),
        position: Fixed::ZERO,
        liq_price: None,
    };
    let mut tally = Tally::default();
    for bytes in frames {
        tally.events += 1;
        frame.fill(bytes);
        let Some(decision) = pipeline.on_frame_decide(frame, &account, score) else {
            continue;
        };
        tally.candidates += 1;
        if decision.score >= 0.5 {
            tally.approved += 1;
        }
        if decision.order_qty.is_ok() {
            tally.orders += 1;
        }
    }
    assert_eq!(pipeline.decoder().stats().total_errors(), 0);
    assert_eq!(
        pipeline.feature_overflows(),
        0,
        "windows are large enough for these rates"
    );
    tally
}

/// One test function: both backends in one process share ONNX Runtime's environment.
#[test]
fn hot_path_allocates_nothing() {
    let frames = frames(30);
    let warm_up = frames.len() / 10;
    let mut frame = FrameBuf::with_capacity(1 << 20);

    // Native scoring.
    let model = NativeModel::compile(&generate(200, 31, FEATURE_COUNT, 42));
    let mut score = |row: &FeatureVector| model.predict(row);
    let mut path = pipeline();
    run(&mut path, &mut frame, &frames[..warm_up], &mut score);
    let (tally, allocations, deallocations) =
        count(|| run(&mut path, &mut frame, &frames[warm_up..], &mut score));
    eprintln!("native: {tally:?}, allocations {allocations}, deallocations {deallocations}");
    assert!(tally.events >= 100_000, "{tally:?}");
    assert!(
        tally.candidates > 100 && tally.approved > 0 && tally.orders > 0,
        "{tally:?}"
    );
    assert_eq!((allocations, deallocations), (0, 0), "{tally:?}");

    // ONNX Runtime scoring: no Rust-side allocation either (ONNX Runtime's own C++ allocations
    // do not go through the Rust allocator and are not counted here).
    let library = tests::onnxruntime_library();
    let environment =
        load_runtime(&library).unwrap_or_else(|err| panic!("{err} (run scripts/setup.sh)"));
    let onnx = write_onnx(&generate(200, 31, FEATURE_COUNT, 42), &[]);
    let mut ort =
        OrtScorer::new(&environment, &onnx, FEATURE_COUNT).unwrap_or_else(|err| panic!("{err}"));
    let mut score = |row: &FeatureVector| ort.predict(row).unwrap_or(f32::NAN);
    let mut path = pipeline();
    run(&mut path, &mut frame, &frames[..warm_up], &mut score);
    let (ort_tally, allocations, deallocations) =
        count(|| run(&mut path, &mut frame, &frames[warm_up..], &mut score));
    eprintln!(
        "onnx runtime: {ort_tally:?}, Rust-side allocations {allocations}, deallocations {deallocations}"
    );
    assert_eq!(ort_tally, tally, "both backends decide alike");
    assert_eq!((allocations, deallocations), (0, 0), "{ort_tally:?}");
}

/// The idle hot thread's rehearsal (`Pipeline::rehearse`, run between the frames of a live
/// feed) changes no feature, no candidate and no counter, and allocates nothing: a pipeline
/// that rehearses every book frame twice matches one that never does, bit for bit.
#[test]
fn rehearsing_between_frames_changes_nothing_and_allocates_nothing() {
    let frames = frames(30);
    let warm_up = frames.len() / 10;
    let (mut plain, mut rehearsing) = (pipeline(), pipeline());
    let (mut frame, mut copy) = (
        FrameBuf::with_capacity(1 << 20),
        FrameBuf::with_capacity(1 << 20),
    );
    let mut step = |bytes: &[u8], plain: &mut Pipeline, rehearsing: &mut Pipeline| {
        frame.fill(bytes);
        let expected = plain.on_frame(&mut frame);
        frame.fill(bytes);
        let outcome = rehearsing.on_frame(&mut frame);
        assert_eq!(outcome, expected);
        let mut rehearsals = 0;
        if let engine::pipeline::FrameOutcome::Book { ts_ms, seq } = outcome {
            for _ in 0..2 {
                copy.fill(bytes);
                std::hint::black_box(rehearsing.rehearse(&mut copy));
                rehearsals += 1;
            }
            let features = |path: &Pipeline| path.features().map(f32::to_bits);
            assert_eq!(features(rehearsing), features(plain));
            assert_eq!(
                rehearsing.candidate(ts_ms, seq),
                plain.candidate(ts_ms, seq)
            );
        }
        rehearsals
    };
    for bytes in &frames[..warm_up] {
        step(bytes, &mut plain, &mut rehearsing);
    }
    let (rehearsals, allocations, deallocations) = count(|| {
        frames[warm_up..]
            .iter()
            .map(|bytes| step(bytes, &mut plain, &mut rehearsing))
            .sum::<u64>()
    });
    assert!(rehearsals > 100_000, "{rehearsals} rehearsals");
    assert_eq!((allocations, deallocations), (0, 0));
    assert_eq!(rehearsing.decoder().stats(), plain.decoder().stats());
    assert_eq!(rehearsing.book().resyncs(), plain.book().resyncs());
}

/// Order entry on the hot thread allocates nothing once warm: building and signing trade-stream
/// requests (auth, create, amend, cancel), taking rate-limit tokens, decoding every private
/// push and trade-stream reply of the shared fixtures, and mapping an `orderLinkId` back.
#[test]
fn order_entry_and_the_private_stream_allocate_nothing() {
    use feed::Side;
    use feed::bybit::limits::{Endpoint, RateLimits, Rates};
    use feed::bybit::private::{PrivateDecoder, PrivateMessage};
    use feed::bybit::sign::Signer;
    use feed::bybit::trade::{LinkIds, NewOrder, OrderRef, TradeReplyDecoder, TradeWriter};
    use feed::order::OrderId;

    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../feed/tests/fixtures/bybit");
    let read = |name: &str| std::fs::read(fixtures.join(name)).unwrap();
    let private: Vec<Vec<u8>> = [
        "ws_private_order.docs_option.json",
        "ws_private_execution_linear.json",
        "ws_private_fast_execution.json",
        "ws_private_position_linear.json",
        "ws_private_wallet.json",
        "ws_private_pong.json",
        "ws_private_auth_response.json",
    ]
    .iter()
    .map(|name| read(name))
    .collect();
    let replies: Vec<Vec<u8>> = [
        "ws_trade_order_create_response.json",
        "ws_trade_auth_response.json",
        "ws_trade_pong_response.json",
    ]
    .iter()
    .map(|name| read(name))
    .collect();

    let signer = Signer::new("hotpathkey", "hotpath-secret").unwrap();
    let ids = LinkIds::for_run(1_767_225_600_000);
    let mut writer = TradeWriter::new(ids, 5000);
    let limits = RateLimits::new(Rates::BYBIT_LINEAR);
    let mut decoder = PrivateDecoder::new();
    let mut reply_decoder = TradeReplyDecoder::new();
    let mut frame = FrameBuf::with_capacity(1 << 16);
    let symbol = Symbol::new("BTCUSDT").unwrap();

    let mut work = |round: u64| -> (usize, u64) {
        let mut bytes = 0;
        let mut seen = 0;
        bytes += writer.auth(&signer, 1_767_225_610_000 + round).len();
        for n in 0..20 {
            let id = OrderId(round * 100 + n);
            let order = NewOrder {
                id,
                symbol,
                side: if n % 2 == 0 { Side::Buy } else { Side::Sell },
                price: Fixed::from_raw(6_000_010_000_000 + n as i64 * 10_000_000),
                qty: Fixed::from_raw(1_000_000),
                reduce_only: n % 3 == 0,
            };
            let _ = limits.try_acquire(Endpoint::Create, round * 1_000_000_000 + n);
            bytes += writer.create(n, 1_767_225_600_000 + n, &order).len();
            bytes += writer
                .amend(n, 1, symbol, OrderRef::Client(id), order.price, order.qty)
                .len();
            bytes += writer.cancel(n, 2, symbol, OrderRef::Client(id)).len();
            let link = writer.ids().link_id(id);
            seen += u64::from(writer.ids().order_id(link.as_str()) == Some(id));
        }
        for push in &private {
            frame.fill(push);
            seen += match decoder.decode(&mut frame).unwrap() {
                PrivateMessage::Orders { orders, .. } => orders.len() as u64,
                PrivateMessage::Executions { executions, .. } => executions.len() as u64,
                PrivateMessage::Positions { positions, .. } => positions.len() as u64,
                PrivateMessage::Wallet { coins, .. } => coins.len() as u64,
                PrivateMessage::Control(_) | PrivateMessage::Dcp { .. } => 1,
            };
        }
        for reply in &replies {
            frame.fill(reply);
            seen += u64::from(reply_decoder.decode(&mut frame).unwrap().ret_code == 0);
        }
        (bytes, seen)
    };
    let warm = work(0);
    let ((bytes, seen), allocations, deallocations) = count(|| work(1));
    assert_eq!((allocations, deallocations), (0, 0));
    // The same work: 20 orders mapped back, 7 pushes (1 order, 1 + 1 executions, 1 position,
    // 1 coin, 2 control replies) and 3 replies.
    assert_eq!(seen, 20 + 7 + 3);
    assert_eq!(seen, warm.1);
    assert!(bytes > 20 * 3 * 100, "{bytes}");
}

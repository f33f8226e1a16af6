//! The market-data half of the hot path (decode, book, features, candidate signals) allocates
//! nothing once warm, over simulated frames of every regime.

use engine::config::Signals;
use engine::features::{FEATURE_COUNT, FeatureEngine};
use engine::signals::{SignalEngine, SignalRules};
use feed::bybit::{PublicDecoder, PublicMessage};
use feed::sim::{MarketSim, Regime, SimConfig};
use feed::{FrameBuf, OrderBook, Symbol};
use tests::allocations::{CountingAllocator, count};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn decode_book_and_features_allocate_nothing_after_warm_up() {
    // Ten simulated minutes of each regime, generated before anything is counted.
    let mut frames = Vec::new();
    for (day, regime) in Regime::ALL.into_iter().enumerate() {
        let start_ms = 1_767_225_600_000 + day as u64 * 86_400_000;
        let config = SimConfig {
            duration_ms: 600_000,
            ..SimConfig::btcusdt(regime, start_ms, 3)
        };
        let mut sim = MarketSim::new(config);
        let mut out = Vec::new();
        while sim.next_frame(&mut out).is_some() {
            frames.push(out.clone());
        }
    }
    let Ok(symbol) = Symbol::new("BTCUSDT") else {
        panic!("symbol")
    };
    let mut decoder = PublicDecoder::new();
    let mut frame = FrameBuf::with_capacity(1 << 20);
    let mut book = OrderBook::new(symbol, 50);
    let mut features = FeatureEngine::new();
    let mut vector = [0.0_f32; FEATURE_COUNT];
    let mut trigger = SignalEngine::new(SignalRules::from_config(&Signals::default()));
    let mut run = |frames: &[Vec<u8>]| {
        let (mut sum, mut candidates) = (0.0_f64, 0_u64);
        for bytes in frames {
            frame.fill(bytes);
            match decoder.decode(&mut frame) {
                Ok(PublicMessage::Book(update)) => {
                    book.apply(&update);
                    features.on_book(&book, update.ts);
                    features.compute(&book, &mut vector);
                    sum += vector.iter().map(|&value| f64::from(value)).sum::<f64>();
                    if trigger
                        .evaluate(&vector, &book, update.ts, update.seq)
                        .is_some()
                    {
                        candidates += 1;
                    }
                }
                Ok(PublicMessage::Trades(batch)) => features.on_trades(batch.trades),
                Ok(_) => {}
                Err(err) => panic!("{err}"),
            }
        }
        (sum, candidates)
    };
    let warm_up = frames.len() / 10;
    run(&frames[..warm_up]);
    let ((sum, candidates), allocations, deallocations) = count(|| run(&frames[warm_up..]));
    assert!(
        frames.len() - warm_up > 50_000,
        "{} frames measured",
        frames.len() - warm_up
    );
    assert!(sum.is_finite() && sum != 0.0);
    // A candidate every few seconds: 27 simulated minutes give hundreds.
    assert!(
        (100..20_000).contains(&candidates),
        "{candidates} candidates"
    );
    assert_eq!((allocations, deallocations), (0, 0));
    assert_eq!(
        features.overflowed(),
        0,
        "windows are large enough for these rates"
    );
}

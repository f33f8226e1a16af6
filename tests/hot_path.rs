//! The hot path allocates nothing once warm: decode, book, features, candidates, scoring, gates
//! and sizing over simulated frames of every regime, under a counting global allocator.

use engine::config::{Config, Signals};
use engine::executor::{EntryCheck, GateRules, SizingRules, compute_order_qty};
use engine::features::{FEATURE_COUNT, FeatureEngine};
use engine::model::ort_backend::{OrtScorer, load_runtime};
use engine::model::synthetic::generate;
use engine::model::{NativeModel, write_onnx};
use engine::signals::{SignalEngine, SignalRules};
use feed::bybit::{PublicDecoder, PublicMessage};
use feed::sim::{MarketSim, Regime, SimConfig};
use feed::{Fixed, FrameBuf, Instrument, OrderBook, Side, Symbol};
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
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    events: u64,
    candidates: u64,
    approved: u64,
    orders: u64,
}

/// The hot path over `frames`, scoring with `score`.
struct HotPath<S> {
    decoder: PublicDecoder,
    frame: FrameBuf,
    book: OrderBook,
    features: FeatureEngine,
    vector: [f32; FEATURE_COUNT],
    trigger: SignalEngine,
    gates: GateRules,
    sizing: SizingRules,
    instrument: Instrument,
    score: S,
}

impl<S: FnMut(&[f32]) -> f32> HotPath<S> {
    fn new(score: S) -> Self {
        let config = Config::default();
        let Ok(symbol) = Symbol::new("BTCUSDT") else {
            panic!("symbol")
        };
        HotPath {
            decoder: PublicDecoder::new(),
            frame: FrameBuf::with_capacity(1 << 20),
            book: OrderBook::new(symbol, 50),
            features: FeatureEngine::new(),
            vector: [0.0; FEATURE_COUNT],
            trigger: SignalEngine::new(SignalRules::from_config(&Signals::default())),
            gates: GateRules::from_config(&config).unwrap_or_else(|err| panic!("{err}")),
            sizing: SizingRules::from_config(&config.executor.sizing)
                .unwrap_or_else(|err| panic!("{err}")),
            instrument: tests::shipped_instrument("BTCUSDT"),
            score,
        }
    }

    fn run(&mut self, frames: &[Vec<u8>]) -> Tally {
        let mut tally = Tally::default();
        let balance = Fixed::from_int(5_000).unwrap_or_default();
        for bytes in frames {
            tally.events += 1;
            self.frame.fill(bytes);
            match self.decoder.decode(&mut self.frame) {
                Ok(PublicMessage::Book(update)) => {
                    self.book.apply(&update);
                    if !self.book.is_valid() {
                        continue;
                    }
                    self.features.on_book(&self.book, update.ts);
                    self.features.compute(&self.book, &mut self.vector);
                    let Some(candidate) =
                        self.trigger
                            .evaluate(&self.vector, &self.book, update.ts, update.seq)
                    else {
                        continue;
                    };
                    tally.candidates += 1;
                    if (self.score)(&self.vector) < 0.5 {
                        continue;
                    }
                    tally.approved += 1;
                    let Ok(qty) =
                        compute_order_qty(&self.sizing, &self.instrument, candidate.price, balance)
                    else {
                        continue;
                    };
                    let mut depth = [Fixed::ZERO; 10];
                    for (slot, size) in depth.iter_mut().zip(self.book.sizes(candidate.side)) {
                        *slot = size;
                    }
                    let entry = EntryCheck {
                        side: candidate.side,
                        price: candidate.price,
                        qty,
                        free_balance: balance,
                        position: Fixed::ZERO,
                        liq_price: None,
                        join_side_sizes: &depth,
                    };
                    if self.gates.check_entry(&entry).is_ok() {
                        tally.orders += 1;
                    }
                }
                Ok(PublicMessage::Trades(batch)) => self.features.on_trades(batch.trades),
                Ok(_) => {}
                Err(err) => panic!("{err}"),
            }
        }
        let _ = Side::Buy;
        tally
    }
}

/// One test function, so that nothing else in this binary allocates while counting (the count
/// is process-wide and tests run on parallel threads).
#[test]
fn hot_path_allocates_nothing() {
    let frames = frames(30);

    // Native scoring.
    let model = NativeModel::compile(&generate(200, 31, FEATURE_COUNT, 42));
    let mut path = HotPath::new(|row: &[f32]| model.predict(row));
    let warm_up = frames.len() / 10;
    path.run(&frames[..warm_up]);
    let (tally, allocations, deallocations) = count(|| path.run(&frames[warm_up..]));
    eprintln!("native: {tally:?}, allocations {allocations}, deallocations {deallocations}");
    assert!(tally.events >= 100_000, "{tally:?}");
    assert!(
        tally.candidates > 100 && tally.approved > 0 && tally.orders > 0,
        "{tally:?}"
    );
    assert_eq!((allocations, deallocations), (0, 0), "{tally:?}");

    // ONNX Runtime scoring: no Rust-side allocation either (ONNX Runtime's own C++ allocations
    // do not go through the Rust allocator and are not counted here).
    let library = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.runtime/onnxruntime-1.31.1/libonnxruntime.so.1.31.1");
    let library = std::env::var_os("ORT_DYLIB_PATH").map_or(library, std::path::PathBuf::from);
    let environment =
        load_runtime(&library).unwrap_or_else(|err| panic!("{err} (run scripts/setup.sh)"));
    let onnx = write_onnx(&generate(200, 31, FEATURE_COUNT, 42), &[]);
    let mut ort =
        OrtScorer::new(&environment, &onnx, FEATURE_COUNT).unwrap_or_else(|err| panic!("{err}"));
    let mut path = HotPath::new(|row: &[f32]| ort.predict(row).unwrap_or(f32::NAN));
    path.run(&frames[..warm_up]);
    let (ort_tally, allocations, deallocations) = count(|| path.run(&frames[warm_up..]));
    eprintln!(
        "onnx runtime: {ort_tally:?}, Rust-side allocations {allocations}, deallocations {deallocations}"
    );
    assert_eq!(
        (ort_tally.candidates, ort_tally.approved),
        (tally.candidates, tally.approved),
        "both backends decide alike"
    );
    assert_eq!((allocations, deallocations), (0, 0), "{ort_tally:?}");
}

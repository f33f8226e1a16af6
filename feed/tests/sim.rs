//! The market simulator: Bybit-shaped frames that the decoder and the book accept, at
//! realistic rates, deterministic for a seed, with a learnable and regime-dependent signal.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::hash::{DefaultHasher, Hash, Hasher};

use feed::bybit::{PublicDecoder, PublicMessage, UpdateKind};
use feed::sim::{FrameKind, MarketSim, Regime, SimConfig};
use feed::{FrameBuf, OrderBook, Side};

const START_MS: u64 = 1_767_225_600_000; // 2026-01-01

fn config(regime: Regime, seed: u64, minutes: u64) -> SimConfig {
    SimConfig {
        duration_ms: minutes * 60_000,
        ..SimConfig::btcusdt(regime, START_MS, seed)
    }
}

fn fingerprint(config: SimConfig) -> (u64, usize) {
    let mut sim = MarketSim::new(config);
    let mut out = Vec::new();
    let mut hasher = DefaultHasher::new();
    let mut frames = 0;
    while let Some(frame) = sim.next_frame(&mut out) {
        out.hash(&mut hasher);
        frame.recv_ns.hash(&mut hasher);
        frames += 1;
    }
    (hasher.finish(), frames)
}

#[test]
fn the_same_seed_gives_the_same_frames() {
    let first = fingerprint(config(Regime::Event, 7, 3));
    assert_eq!(fingerprint(config(Regime::Event, 7, 3)), first);
    assert_ne!(fingerprint(config(Regime::Event, 8, 3)).0, first.0);
    assert_ne!(fingerprint(config(Regime::Normal, 7, 3)).0, first.0);
}

/// What a session looks like through the decoder and the book.
struct Session {
    kinds: Vec<FrameKind>,
    book_deltas: usize,
    trade_messages: usize,
    /// (ts ms, mid, book imbalance over 5 levels)
    samples: Vec<(u64, f64, f64)>,
    max_spread: f64,
}

fn run(config: SimConfig) -> Session {
    let mut sim = MarketSim::new(config);
    let mut out = Vec::new();
    let mut frame = FrameBuf::default();
    let mut decoder = PublicDecoder::new();
    let mut book = OrderBook::new(config.symbol, 50);
    let mut session = Session {
        kinds: Vec::new(),
        book_deltas: 0,
        trade_messages: 0,
        samples: Vec::new(),
        max_spread: 0.0,
    };
    let (mut last_recv, mut last_u, mut last_seq) = (0, 0, 0);
    while let Some(produced) = sim.next_frame(&mut out) {
        assert!(produced.recv_ns > last_recv, "receive times go forward");
        last_recv = produced.recv_ns;
        session.kinds.push(produced.kind);
        frame.fill(&out);
        match decoder.decode(&mut frame).unwrap() {
            PublicMessage::Book(update) => {
                assert_eq!(update.update_id, last_u + 1);
                assert!(update.seq >= last_seq);
                assert!(update.ts >= update.cts && update.ts - update.cts <= 100);
                // A delta names at most the 50 levels that left the window and the 50 that entered.
                assert!(update.bids.len() <= 100 && update.asks.len() <= 100);
                (last_u, last_seq) = (update.update_id, update.seq);
                if update.kind == UpdateKind::Delta {
                    session.book_deltas += 1;
                }
                book.apply(&update);
                assert!(book.is_valid(), "{:?}", book.state());
                assert_eq!(book.len(Side::Buy), 50);
                let bids = book.cumulative_size(Side::Buy, 5).to_f64();
                let asks = book.cumulative_size(Side::Sell, 5).to_f64();
                session.samples.push((
                    update.ts,
                    book.mid().unwrap().to_f64(),
                    (bids - asks) / (bids + asks),
                ));
                session.max_spread = session.max_spread.max(book.spread().unwrap().to_f64());
            }
            PublicMessage::Trades(batch) => {
                assert!(!batch.trades.is_empty());
                session.trade_messages += 1;
            }
            PublicMessage::Ticker(ticker) => assert!(ticker.bid1_price < ticker.ask1_price),
            PublicMessage::Control(_) => {}
        }
    }
    assert_eq!(decoder.stats().total_errors(), 0);
    session
}

/// Correlation of the book imbalance with the mid change over the next 5 seconds.
fn imbalance_signal(samples: &[(u64, f64, f64)]) -> f64 {
    let mut pairs = Vec::new();
    let mut ahead = 0;
    for (index, &(ts, mid, imbalance)) in samples.iter().enumerate().step_by(10) {
        ahead = ahead.max(index);
        while ahead < samples.len() && samples[ahead].0 < ts + 5_000 {
            ahead += 1;
        }
        if let Some(&(_, later, _)) = samples.get(ahead) {
            pairs.push((imbalance, later - mid));
        }
    }
    let n = pairs.len() as f64;
    let (mx, my) = (
        pairs.iter().map(|p| p.0).sum::<f64>() / n,
        pairs.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let cov = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / n;
    let sx = (pairs.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>() / n).sqrt();
    let sy = (pairs.iter().map(|p| (p.1 - my).powi(2)).sum::<f64>() / n).sqrt();
    cov / sx / sy
}

#[test]
fn a_normal_session_is_realistic_and_learnable() {
    let session = run(config(Regime::Normal, 7, 20));
    assert_eq!(
        session.kinds[..2],
        [FrameKind::SubscribeAck, FrameKind::BookSnapshot]
    );
    let seconds = 20.0 * 60.0;
    let deltas_per_second = session.book_deltas as f64 / seconds;
    assert!(
        (20.0..=50.0).contains(&deltas_per_second),
        "{deltas_per_second} deltas/s"
    );
    let trades_per_second = session.trade_messages as f64 / seconds;
    assert!(
        (1.0..=6.0).contains(&trades_per_second),
        "{trades_per_second} trade messages/s"
    );
    assert!(session.kinds.contains(&FrameKind::Pong) && session.kinds.contains(&FrameKind::Ticker));
    let signal = imbalance_signal(&session.samples);
    assert!(signal > 0.03, "imbalance predicts the next moves: {signal}");
}

#[test]
fn regimes_differ() {
    let normal = run(config(Regime::Normal, 11, 10));
    let event = run(config(Regime::Event, 11, 60));
    let high_vol = run(config(Regime::HighVol, 11, 10));
    // Event days blow the spread out after their jumps.
    assert!(
        event.max_spread > 2.0 && event.max_spread > normal.max_spread,
        "{} vs {}",
        event.max_spread,
        normal.max_spread
    );
    // High-vol days trade and update faster.
    assert!(high_vol.trade_messages > 2 * normal.trade_messages);
    assert!(high_vol.book_deltas > normal.book_deltas);
}

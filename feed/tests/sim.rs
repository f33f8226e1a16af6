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

/// Each planted step the latent state announced (side, when, bps), and the mid's move, bps in
/// the step's favour, over the 20 s before it and the 10 s after it began.
fn planted_steps(config: SimConfig) -> Vec<(f64, f64, f64)> {
    let mut sim = MarketSim::new(config);
    let mut out = Vec::new();
    let mut frame = FrameBuf::default();
    let mut decoder = PublicDecoder::new();
    let mut book = OrderBook::new(config.symbol, 50);
    let (mut mids, mut steps) = (Vec::new(), Vec::new());
    while let Some(_produced) = sim.next_frame(&mut out) {
        if let Some(step) = sim.latent().step
            && steps.last() != Some(&step)
        {
            steps.push(step);
        }
        frame.fill(&out);
        if let PublicMessage::Book(update) = decoder.decode(&mut frame).unwrap() {
            book.apply(&update);
            mids.push((update.ts, book.mid().unwrap().to_f64()));
        }
    }
    let mid_at = |ts: u64| mids[mids.partition_point(|&(at, _)| at <= ts).max(1) - 1].1;
    let end_ms = mids.last().unwrap().0;
    steps
        .into_iter()
        .filter(|step| step.at_ms + 10_000 <= end_ms)
        .map(|step| {
            let sign = if step.side == Side::Buy { 1.0 } else { -1.0 };
            let bps = |from: u64, to: u64| sign * (mid_at(to) / mid_at(from) - 1.0) * 1e4;
            (
                step.bps,
                bps(step.at_ms - 20_000, step.at_ms),
                bps(step.at_ms, step.at_ms + 10_000),
            )
        })
        .collect()
}

#[test]
fn a_planted_step_moves_the_mid_by_its_size_and_nothing_moves_it_before() {
    // Two hours at full strength: the informed accumulate, then the fair price steps 25 bps and
    // the book follows within 10 s (recovered within 3 bps on average); over the 20 s of
    // accumulation before it the mid goes nowhere in particular (within 2 bps on average).
    let config = SimConfig {
        edge_pct: 100,
        ..config(Regime::Normal, 3, 120)
    };
    let steps = planted_steps(config);
    assert_eq!(steps.len(), 66);
    let mean = |values: &mut dyn Iterator<Item = f64>| {
        let values: Vec<f64> = values.collect();
        values.iter().sum::<f64>() / values.len() as f64
    };
    let after = mean(&mut steps.iter().map(|step| step.2));
    let before = mean(&mut steps.iter().map(|step| step.1));
    assert!(steps.iter().all(|step| step.0 == 25.0));
    assert!((after - 25.0).abs() < 3.0, "{after}");
    assert!(before.abs() < 2.0, "{before}");
    assert_eq!(format!("{after:.2} {before:.2}"), "24.72 -0.24");
    // Decayed after the first hour: the steps announced from then on are of 0 bps, and the
    // mid does not follow them.
    let decayed = planted_steps(SimConfig {
        edge_until_ms: START_MS + 3_600_000,
        ..config
    });
    let late: Vec<&(f64, f64, f64)> = decayed.iter().filter(|step| step.0 == 0.0).collect();
    assert_eq!(late.len(), 35);
    let after = mean(&mut late.iter().map(|step| step.2));
    assert!(after.abs() < 2.0, "{after}");
    assert_eq!(format!("{after:.2}"), "-0.46");
}

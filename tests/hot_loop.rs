//! The engine's hot loop allocates nothing once warm: source, recording, decode, book, features,
//! the order manager, candidates, routing, scoring, gates, sizing, the paper venue and the rings,
//! frame after frame of simulated high-vol market, under a counting global allocator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::sync::atomic::AtomicBool;

use engine::runtime::hot::{HotLoop, HotRings};
use engine::runtime::source::{Pace, SimSource, Source};
use feed::paper::PaperVenue;
use feed::sim::{Regime, SimConfig};
use tests::allocations::{CountingAllocator, count};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// The simulator runs on its own thread, as an exchange would, and allocates there; the count is
/// the hot thread's (this test's thread).
#[test]
fn the_hot_loop_allocates_nothing_once_warm() {
    // The counter counts.
    let ((), allocations, deallocations) = count(|| drop(std::hint::black_box(vec![0_u8; 8])));
    assert_eq!((allocations, deallocations), (1, 1));

    // Rings nobody reads: what does not fit is dropped and counted, and dropping a message
    // frees nothing.
    let (rings, _held) = HotRings::unread(1 << 16);
    let sim = SimConfig {
        duration_ms: 40 * 60_000,
        ..SimConfig::btcusdt(Regime::HighVol, 1_767_225_600_000, 11)
    };
    let source = Source::Sim(Box::new(SimSource::new(sim, Pace::AsFastAsPossible)));
    let hot = tests::paper_hot_loop(source, rings, (0.5, 0.4), true);
    // Recording too (nobody writes the journal: the ring fills and then drops).
    let (recorder, _frames) = engine::runtime::recorder::recorder(1 << 20);
    let mut hot = hot.with_recorder(recorder);
    let stop = AtomicBool::new(false);
    let turns = |frames: u64, hot: &mut HotLoop<PaperVenue>| {
        let start = hot.stats().frames;
        while hot.stats().frames < start + frames {
            assert_eq!(hot.step(&stop).unwrap(), None);
        }
    };
    // Ten simulated minutes to warm up, then thirty counted.
    turns(20_000, &mut hot);
    let warm = *hot.stats();
    let ((), allocations, deallocations) = count(|| turns(80_000, &mut hot));
    let stats = *hot.stats();
    eprintln!("{stats:?}");
    assert!(
        stats.total_candidates() > warm.total_candidates() + 100,
        "{stats:?}"
    );
    assert!(stats.orders > warm.orders + 20, "{stats:?}");
    assert!(stats.fills > warm.fills + 5, "{stats:?}");
    assert!(stats.closed_trades[0] > warm.closed_trades[0], "{stats:?}");
    assert_eq!((allocations, deallocations), (0, 0), "{stats:?}");
}

//! A bounded soak: the engine's hot loop on the live stream of `toolkit venue` while the venue
//! injects a random fault every 1.5 s (drops, stalls, gaps, snapshots, restarts, malformed and
//! truncated frames, lost pongs, bursts), for `SOAK_SECONDS` (90 by default). Once warm, its
//! resident memory stays flat and nothing of its connections piles up: no socket, no thread,
//! no buffer outlives the connection it belonged to. Alone in its test binary, so that the
//! process's memory is the hot loop's.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use engine::runtime::metrics::resident_bytes;

mod common;
use common::{Venue, live_hot_loop, live_settings};

/// Open file descriptors and threads of this process.
fn handles() -> (usize, usize) {
    let count = |dir: &str| std::fs::read_dir(dir).unwrap().count();
    (count("/proc/self/fd"), count("/proc/self/task"))
}

#[test]
fn random_faults_for_minutes_leave_memory_sockets_and_threads_flat() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(90);
    let venue = Venue::start(&[
        "--regime",
        "high-vol",
        "--seed",
        "5",
        "--faults",
        "chaos:every=1500ms",
    ]);
    let mut hot = live_hot_loop(live_settings(&venue.url("/v5/public/linear"), None));
    let stop = AtomicBool::new(false);
    let run_for = |hot: &mut engine::runtime::hot::HotLoop<feed::paper::PaperVenue>,
                   duration: Duration| {
        let end = Instant::now() + duration;
        while Instant::now() < end {
            assert_eq!(hot.step(&stop).unwrap(), None);
        }
    };
    // Warm: a few reconnects' worth of buffers have come and gone.
    let warm_for = Duration::from_secs((seconds / 4).max(15));
    run_for(&mut hot, warm_for);
    let (warm_memory, warm_handles, warm) = (resident_bytes(), handles(), *hot.stats());
    run_for(
        &mut hot,
        Duration::from_secs(seconds) - warm_for.min(Duration::from_secs(seconds)),
    );
    let (memory, now_handles, stats) = (resident_bytes(), handles(), *hot.stats());
    eprintln!(
        "soak {seconds} s: {:?}; book invalidations {:?}; anonymous RSS {:.1} -> {:.1} MiB; \
         fds, threads {warm_handles:?} -> {now_handles:?}",
        stats.feed,
        stats.book_invalidations,
        warm_memory.anonymous as f64 / 1048576.0,
        memory.anonymous as f64 / 1048576.0,
    );
    // It went through the faults, and came through them.
    let reconnects = stats.feed.reconnects() - warm.feed.reconnects();
    assert!(reconnects >= 3, "{:?}", stats.feed);
    assert!(stats.feed.resyncs > warm.feed.resyncs, "{:?}", stats.feed);
    assert!(
        stats.frames > warm.frames + 1000,
        "{} frames",
        stats.frames - warm.frames
    );
    // Memory: within one connection's buffers (4 MiB in, 2 MiB of fragments, 256 kB out,
    // made on the connecting thread) of where it was, however many connections came and went.
    let growth = memory.anonymous.saturating_sub(warm_memory.anonymous);
    assert!(growth < 8 << 20, "anonymous RSS grew by {growth} bytes");
    // Sockets and threads: the same, give or take a connection being made and one being
    // closed (a socket and an epoll descriptor each); 16 leaked connections would be 32.
    assert!(
        now_handles.0 <= warm_handles.0 + 4,
        "{warm_handles:?} -> {now_handles:?}"
    );
    assert_eq!(now_handles.1, warm_handles.1, "threads");
}

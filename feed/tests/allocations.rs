//! Decoding and applying frames allocates nothing once warm: counted by a global allocator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use feed::bybit::{PublicDecoder, PublicMessage};
use feed::sim::{MarketSim, Regime, SimConfig};
use feed::{FrameBuf, OrderBook, Side};

/// Counts allocations and deallocations while `COUNTING` is set.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static DEALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            DEALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the pointer and layout the caller got from `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn decode_and_book_allocate_nothing_after_warm_up() {
    // Frames of ten simulated minutes of each regime, made before counting.
    let mut frames = Vec::new();
    for regime in Regime::ALL {
        let config = SimConfig {
            duration_ms: 600_000,
            ..SimConfig::btcusdt(regime, 1_767_225_600_000, 3)
        };
        let mut sim = MarketSim::new(config);
        let mut out = Vec::new();
        while sim.next_frame(&mut out).is_some() {
            frames.push(out.clone());
        }
    }
    let symbol = feed::Symbol::new("BTCUSDT").unwrap();
    let mut decoder = PublicDecoder::new();
    let mut frame = FrameBuf::with_capacity(1 << 20);
    let mut book = OrderBook::new(symbol, 50);
    let mut run = |frames: &[Vec<u8>]| {
        let mut checksum = 0_i64;
        for bytes in frames {
            frame.fill(bytes);
            match decoder.decode(&mut frame) {
                Ok(PublicMessage::Book(update)) => {
                    book.apply(&update);
                    checksum ^= book
                        .level(Side::Buy, 0)
                        .map_or(0, |level| level.price.raw());
                }
                Ok(PublicMessage::Trades(batch)) => checksum ^= batch.trades.len() as i64,
                Ok(_) => {}
                Err(err) => panic!("{err}"),
            }
        }
        checksum
    };
    let warm_up = frames.len() / 10;
    run(&frames[..warm_up]);

    COUNTING.store(true, Ordering::SeqCst);
    let checksum = run(&frames[warm_up..]);
    COUNTING.store(false, Ordering::SeqCst);

    assert!(
        frames.len() - warm_up > 50_000,
        "{} frames measured",
        frames.len() - warm_up
    );
    assert_ne!(checksum, 0);
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), 0, "allocations");
    assert_eq!(DEALLOCATIONS.load(Ordering::SeqCst), 0, "deallocations");
}

//! The live receive path allocates nothing once warm: socket bytes, WebSocket unframing, pings
//! and pongs, decode, book, features, the order manager, scoring and the paper venue, on the
//! hot thread, against `toolkit venue` over loopback, through book resyncs and a reconnect,
//! under a counting global allocator.
//!
//! Over TLS, rustls 0.23 decrypts each record into a `Vec` of its own (its buffered and its
//! unbuffered API alike: `CommonState::take_received_plaintext`; in-place decryption is still
//! to come there), so that path allocates and frees one buffer per record and nothing else:
//! the TLS test holds it to that.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use engine::config::Config;
use engine::features::FEATURE_COUNT;
use engine::model::NativeModel;
use engine::model::synthetic::generate;
use engine::runtime::hot::{HotLoop, HotRings};
use engine::runtime::rings::{ModelSwap, Route};
use engine::runtime::source::Source;
use feed::Symbol;
use feed::bybit::live::{Backoff, FeedSettings, Liveness, PublicFeed};
use feed::net::Endpoint;
use feed::paper::PaperVenue;
use tests::allocations::{CountingAllocator, count};

mod common;
use common::Venue;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn hot_loop(url: &str, tls: Option<std::sync::Arc<rustls::ClientConfig>>) -> HotLoop<PaperVenue> {
    let settings = FeedSettings {
        endpoint: Endpoint::parse(url).unwrap(),
        tls,
        symbols: vec![Symbol::new("BTCUSDT").unwrap()],
        depth: 50,
        liveness: Liveness {
            ping_interval: Duration::from_millis(300),
            pong_timeout: Duration::from_secs(2),
            stale_after: Duration::from_secs(3),
        },
        backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(1),
            multiplier: 2.0,
            jitter: 0.2,
        },
        connect_timeout: Duration::from_secs(2),
        seed: 1,
    };
    let source = Source::Live(Box::new(PublicFeed::new(settings).unwrap()));
    let (rings, held) = HotRings::unread(1 << 16);
    std::mem::forget(held); // the rings stay connected for the whole test
    let model = ModelSwap {
        route: Route::Active,
        id: "synthetic".to_owned(),
        scorer: Box::new(NativeModel::compile(&generate(200, 31, FEATURE_COUNT, 42))),
        tau_entry: 0.05,
        tau_hold: 0.01,
    };
    let mut config = Config::default();
    config.engine.busy_poll = false;
    let instrument = tests::shipped_instrument("BTCUSDT");
    let venue = engine::venues::paper(&config, &instrument).unwrap();
    HotLoop::from_config(
        &config,
        Symbol::new("BTCUSDT").unwrap(),
        instrument,
        source,
        venue,
        model,
        None,
        rings,
        None,
    )
    .unwrap()
}

/// Steps until `frames` more frames were handled.
fn turns(hot: &mut HotLoop<PaperVenue>, frames: u64) {
    let stop = AtomicBool::new(false);
    let start = hot.stats().frames;
    while hot.stats().frames < start + frames {
        assert_eq!(hot.step(&stop).unwrap(), None);
    }
}

/// Runs the hot loop against `venue`, warm, then counts its allocations over 1500 frames that
/// include resyncs (and a reconnect when `reconnect`); returns (allocations, deallocations,
/// frames counted).
fn allocations_once_warm(
    venue: &Venue,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    reconnect: bool,
) -> (u64, u64, u64) {
    let mut hot = hot_loop(&venue.url("/v5/public/linear"), tls);
    // Warm: the first snapshot, acks, pongs and a resync or two.
    turns(&mut hot, 600);
    let warm = *hot.stats();
    let ((), allocations, deallocations) = count(|| turns(&mut hot, 1500));
    let stats = *hot.stats();
    eprintln!("{:?}", stats.feed);
    // What the counted stretch went through.
    assert!(stats.feed.pongs > warm.feed.pongs + 5, "{:?}", stats.feed);
    assert!(stats.feed.resyncs > warm.feed.resyncs, "{:?}", stats.feed);
    assert_eq!(
        stats.feed.reconnects > warm.feed.reconnects,
        reconnect,
        "{:?}",
        stats.feed
    );
    (allocations, deallocations, stats.frames - warm.frames)
}

#[test]
fn the_live_receive_path_allocates_nothing_once_warm_over_plain_websocket() {
    // A gap every 2 s (a resubscription on the same connection) and a dropped connection at
    // 15 s (a reconnect), both inside the counted stretch (warm-up takes about 10 s).
    let venue = Venue::start(&[
        "--regime",
        "high-vol",
        "--faults",
        "gap:every=2s,drop:after=15s",
    ]);
    let (allocations, deallocations, _) = allocations_once_warm(&venue, None, true);
    assert_eq!((allocations, deallocations), (0, 0));
}

#[test]
fn the_live_receive_path_allocates_nothing_once_warm_over_tls() {
    let venue = Venue::start(&["--tls", "--regime", "high-vol", "--faults", "gap:every=2s"]);
    let trusted = feed::net::client_config(venue.cert.as_deref()).unwrap();
    let (allocations, deallocations, frames) = allocations_once_warm(&venue, Some(trusted), false);
    // One buffer per record (a frame, a pong or an ack each), freed once read: no more, and
    // nothing kept beyond the records in flight when the count stops (rustls decrypts up to
    // 16 KiB of plaintext ahead, a few dozen records).
    assert!(
        allocations <= frames + frames / 4,
        "{allocations} allocations, {frames} frames"
    );
    assert!(
        deallocations <= allocations,
        "{allocations} / {deallocations}"
    );
    assert!(
        allocations - deallocations <= 64,
        "{allocations} / {deallocations}"
    );
}

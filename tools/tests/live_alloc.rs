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

use engine::runtime::hot::HotLoop;
use feed::paper::PaperVenue;
use tests::allocations::{CountingAllocator, count};

mod common;
use common::{Venue, live_hot_loop, live_settings};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

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
    let mut hot = live_hot_loop(live_settings(&venue.url("/v5/public/linear"), tls));
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
        stats.feed.reconnects() > warm.feed.reconnects(),
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

/// Order entry through the loopback venue allocates nothing once warm: building, signing and
/// writing creates and cancels on the trade stream, reading their answers and the private
/// pushes they bring (accepted, cancelled), pings and pongs on both links.
/// A Bybit venue on `loopback` (reconciling over REST every `reconcile_every` when given),
/// ready, with unlimited rate limits.
fn ready_venue(
    loopback: &Venue,
    reconcile_every: Option<std::time::Duration>,
) -> feed::bybit::venue::BybitVenue {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use feed::bybit::limits::{RateLimits, Rates};
    use feed::bybit::sign::Signer;
    use feed::bybit::venue::BybitVenue;
    use feed::order::Account;
    use feed::{Fixed, venue::Venue as _};

    let mut settings = common::venue_settings(loopback, "al1");
    settings.liveness.ping_interval = Duration::from_millis(100);
    let rest = reconcile_every.map(|every| {
        settings.reconcile_every = every;
        let rest = Arc::new(common::rest_client(loopback, "allockey", "alloc-secret"));
        rest.sync_clock().unwrap();
        rest
    });
    let clock = rest.as_ref().map_or_else(
        || Arc::new(std::sync::atomic::AtomicI64::new(0)),
        |rest| rest.clock(),
    );
    let mut venue = BybitVenue::new(
        settings,
        Signer::new("allockey", "alloc-secret").unwrap(),
        Arc::new(RateLimits::new(Rates { per_second: [0; 6] })),
        clock,
        Account::flat(Fixed::from_int(10_000).unwrap()),
        rest,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !venue.is_ready() || venue.is_reconciling() {
        assert!(Instant::now() < deadline, "{:?}", venue.stats());
        venue.poll();
    }
    venue
}

/// Places order `id` far under the touch of `loopback`, cancels it once accepted, and waits
/// for the cancel: (accepted, cancelled) events seen. `book` is the market a simulated venue
/// (the paper shadow) sees: the order rests there too.
fn round<V: feed::venue::Venue>(
    venue: &mut V,
    book: &feed::OrderBook,
    far: feed::Fixed,
    id: u64,
) -> (u32, u32) {
    use std::time::{Duration, Instant};

    use feed::order::{OrderId, OrderRequest, VenueEvent};
    use feed::{Fixed, Side};

    let now_ns = || feed::bybit::rest::local_ms() * 1_000_000;
    let (mut accepted, mut cancelled) = (0, 0);
    venue.submit(
        OrderRequest {
            id: OrderId(id),
            side: Side::Buy,
            price: far,
            qty: Fixed::from_raw(1_000_000),
            reduce_only: false,
        },
        now_ns(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while cancelled == 0 {
        assert!(Instant::now() < deadline, "{:?}", venue.live_stats());
        venue.advance(now_ns(), book);
        venue.on_book(book, now_ns());
        venue.poll();
        let mut cancel = false;
        venue.drain_events(|event| match event {
            VenueEvent::Accepted { .. } => {
                accepted += 1;
                cancel = true;
            }
            VenueEvent::Cancelled { .. } => cancelled += 1,
            _ => {}
        });
        if cancel {
            venue.cancel(OrderId(id), now_ns());
        }
        venue.drain_notes(|_| {});
    }
    (accepted, cancelled)
}

/// The price far under the touch of `loopback` that orders rest at unfilled.
fn far_under_the_touch(loopback: &Venue) -> feed::Fixed {
    let book = loopback.orderbook(1);
    let bid = common::levels_of(&book["b"])[0].0;
    feed::Fixed::from_raw(bid.raw() - 5_000_000_000)
}

/// A book whose touch is a tick and two above `far`: an order at `far` rests there.
fn book_above(far: feed::Fixed) -> feed::OrderBook {
    let tick = feed::fixtures::btcusdt().tick_size;
    feed::fixtures::touch_book(
        far.saturating_add(tick),
        far.saturating_add(tick).saturating_add(tick),
        feed::Fixed::from_int(1).unwrap(),
    )
}

/// As real mode runs it: the venue shadowed by the paper venue (which sees a book where the
/// order rests too, and compares each order).
#[test]
fn order_entry_allocates_nothing_once_warm_through_the_loopback_venue() {
    use feed::paper::shadow::Shadowed;
    use feed::paper::{PaperConfig, PaperVenue};
    use feed::venue::Venue as _;

    let loopback = Venue::start_with_credentials(&[], Some(("allockey", "alloc-secret")));
    let far = far_under_the_touch(&loopback);
    let book = book_above(far);
    let paper = PaperVenue::new(PaperConfig::new(
        feed::Fixed::from_int(10_000).unwrap(),
        feed::Fixed::ZERO,
    ));
    let mut venue = Shadowed::new(ready_venue(&loopback, None), paper);
    for id in 1..=20 {
        round(&mut venue, &book, far, id);
    }
    let (rounds, allocations, deallocations) = count(|| {
        (21..=60)
            .map(|id| round(&mut venue, &book, far, id))
            .fold((0, 0), |(a, c), (accepted, cancelled)| {
                (a + accepted, c + cancelled)
            })
    });
    assert_eq!(rounds, (40, 40));
    let stats = venue.live_stats().unwrap();
    assert_eq!((allocations, deallocations), (0, 0), "{stats:?}");
    assert_eq!(stats.unknown_fates, 0);
    // Every order was compared: none filled at either.
    assert_eq!(stats.shadow.outcomes, [0, 0, 0, 60]);
    assert_eq!(stats.shadow.left_out, 0);
}

/// Reconciliation's snapshots are taken on a cold thread, applied on the hot one and handed
/// back to be freed where they were made: applying them allocates and frees nothing there.
#[test]
fn reconciliation_applied_on_the_hot_thread_allocates_and_frees_nothing_once_warm() {
    let loopback = Venue::start_with_credentials(&[], Some(("allockey", "alloc-secret")));
    let mut venue = ready_venue(&loopback, Some(std::time::Duration::from_millis(150)));
    let far = far_under_the_touch(&loopback);
    let book = book_above(far);
    for id in 1..=20 {
        round(&mut venue, &book, far, id);
    }
    // Rounds until three more reconciliations were applied (one asked about an order in flight
    // is asked again a second later).
    let before = venue.stats().reconciliations;
    let (rounds, allocations, deallocations) = count(|| {
        let (mut id, mut rounds) = (20, (0, 0));
        while venue.stats().reconciliations < before + 3 {
            id += 1;
            let (accepted, cancelled) = round(&mut venue, &book, far, id);
            rounds = (rounds.0 + accepted, rounds.1 + cancelled);
        }
        (rounds, u32::try_from(id - 20).unwrap())
    });
    let ((accepted, cancelled), ids) = rounds;
    assert_eq!((accepted, cancelled), (ids, ids));
    let stats = *venue.stats();
    assert_eq!((allocations, deallocations), (0, 0), "{stats:?}");
    assert_eq!(stats.position_corrections, 0);
}

//! The engine's Bybit venue (`feed::bybit::venue::BybitVenue`), driven as the trading loop
//! drives a venue, against `toolkit venue`: post-only rejects, resting orders and cancels, fills
//! booked into the account, a reduce-only exit, links lost and made again, and orders refused
//! locally while the trade link is down.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::bybit::{
    FILL_WAIT, KEY, SECRET, assert_rejected, bybit_venue, events_until, fx, now_ns, order,
    poll_for, poll_until, poll_until_logged, ready, reconciling_venue, reconciling_venue_with,
    touch,
};
use common::{Venue as LoopbackVenue, WAIT, place_foreign, rest_client, venue_settings};
use feed::bybit::limits::{RateLimits, Rates};
use feed::bybit::sign::Signer;
use feed::bybit::venue::{BybitVenue, VenueSettings};
use feed::net::Endpoint;
use feed::order::{Account, OrderId, RejectReason, VenueEvent};
use feed::venue::{Doubt, Venue, VenueNote};
use feed::{Fixed, OrderBook, Side, Symbol};

#[test]
fn the_venue_trades_as_the_loop_expects_rejects_rests_cancels_fills_and_exits() {
    let loopback = LoopbackVenue::start_with_credentials(
        &["--regime", "high-vol", "--seed", "5"],
        Some((KEY, SECRET)),
    );
    let mut venue = bybit_venue(&loopback, "hv1");
    ready(&mut venue);
    let book = OrderBook::new(Symbol::new("BTCUSDT").unwrap(), 1);

    // At the ask: the post-only reject the paper venue gives too.
    let (_, ask) = touch(&loopback);
    venue.submit(order(1, Side::Buy, ask, "0.010", false), now_ns());
    let events = events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Rejected { .. })
    });
    assert_rejected(&events, 1, RejectReason::PostOnlyWillTakeLiquidity);
    assert_eq!(venue.resting_orders(), 0);

    // Far under the touch: accepted, resting, cancelled on request.
    let (bid, _) = touch(&loopback);
    let far = Fixed::from_raw(bid.raw() - 5_000_000_000);
    venue.submit(order(2, Side::Buy, far, "0.010", false), now_ns());
    let events = events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Accepted { .. })
    });
    assert!(
        matches!(events[..], [VenueEvent::Accepted { id: OrderId(2), .. }]),
        "{events:?}"
    );
    assert_eq!(venue.resting_orders(), 1);
    venue.cancel(OrderId(2), now_ns());
    let events = events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Cancelled { .. })
    });
    assert!(
        matches!(events[..], [VenueEvent::Cancelled { id: OrderId(2), filled, .. }] if filled.is_zero()),
        "{events:?}"
    );
    assert_eq!(venue.resting_orders(), 0);

    // A reduce-only exit with nothing to reduce: refused here, as the venue would (110017),
    // without asking it.
    venue.submit(order(3, Side::Sell, ask, "0.010", true), now_ns());
    let events = events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Rejected { .. })
    });
    assert_rejected(&events, 3, RejectReason::ReduceOnlyNotSatisfied);
    assert!(loopback.history("110017").is_empty());

    // At the touch until a fill: booked into the account.
    let mut filled = None;
    for id in 10..20 {
        let (bid, _) = touch(&loopback);
        venue.submit(order(id, Side::Buy, bid, "0.001", false), now_ns());
        let events = events_until(&mut venue, FILL_WAIT, |event| {
            matches!(event, VenueEvent::Rejected { .. })
                || matches!(event, VenueEvent::Filled(fill) if fill.leaves_qty.is_zero())
        });
        if let Some(VenueEvent::Filled(fill)) = events
            .iter()
            .find(|event| matches!(event, VenueEvent::Filled(_)))
        {
            filled = Some(*fill);
            break;
        }
    }
    let fill = filled.expect("no entry filled in ten tries");
    assert_eq!((fill.side, fill.qty), (Side::Buy, fx("0.001")));
    assert_eq!(
        Some(fill.fee),
        fill.price
            .checked_mul_floor(fx("0.001"))
            .and_then(|v| v.checked_mul_floor(fx("0.0002")))
    );
    let account = *venue.account();
    assert_eq!(
        (account.position, account.entry_price),
        (fx("0.001"), fill.price)
    );
    assert_eq!(account.fees, fill.fee);
    assert_eq!(venue.resting_orders(), 0);

    // The exit, reduce-only at the ask until it fills: flat, the round trip realized.
    let mut exited = None;
    for id in 20..30 {
        let (_, ask) = touch(&loopback);
        venue.submit(order(id, Side::Sell, ask, "0.001", true), now_ns());
        let events = events_until(&mut venue, FILL_WAIT, |event| {
            matches!(event, VenueEvent::Rejected { .. })
                || matches!(event, VenueEvent::Filled(fill) if fill.leaves_qty.is_zero())
        });
        if let Some(VenueEvent::Filled(fill)) = events
            .iter()
            .find(|event| matches!(event, VenueEvent::Filled(_)))
        {
            exited = Some(*fill);
            break;
        }
    }
    let exit = exited.expect("no exit filled in ten tries");
    let account = *venue.account();
    assert_eq!(account.position, Fixed::ZERO);
    assert_eq!(
        account.realized,
        Fixed::from_raw((exit.price.raw() - fill.price.raw()) / 1000)
    );
    assert_eq!(account.fees, fill.fee.saturating_add(exit.fee));
    let stats = *venue.stats();
    assert_eq!(stats.fills, 2);
    assert_eq!(
        (
            stats.unknown_fates,
            stats.decode_errors,
            stats.auth_failures
        ),
        (0, 0, 0)
    );
    venue.settle(&book);
}

#[test]
fn links_are_made_again_after_a_drop_and_orders_wait_for_the_trade_link() {
    let loopback =
        LoopbackVenue::start_with_credentials(&["--faults", "drop:after=2s"], Some((KEY, SECRET)));
    // Holding a long position, as REST found it at start (the venue itself holds none).
    let rest = rest_client(&loopback, KEY, SECRET);
    rest.sync_clock().unwrap();
    let mut venue = BybitVenue::new(
        venue_settings(&loopback, "dr1"),
        Signer::new(KEY, SECRET).unwrap(),
        Arc::new(RateLimits::new(Rates::BYBIT_LINEAR)),
        rest.clock(),
        Account {
            position: fx("0.010"),
            entry_price: fx("60000"),
            ..Account::flat(fx("10000"))
        },
        None,
    )
    .unwrap();
    // Before the trade link is up: an entry is refused locally (handed over on the next poll),
    // nothing sent.
    venue.submit(order(1, Side::Buy, fx("1000"), "0.010", false), now_ns());
    let mut events = Vec::new();
    venue.drain_events(|event| events.push(event));
    assert!(events.is_empty(), "{events:?}");
    venue.poll();
    venue.drain_events(|event| events.push(event));
    assert_rejected(&events, 1, RejectReason::VenueUnavailable);
    // An exit is held instead (no REST here to send it by), and goes once the link is up: the
    // venue refuses it, for it holds no position to reduce.
    venue.submit(order(3, Side::Sell, fx("1000000"), "0.010", true), now_ns());
    venue.poll();
    venue.drain_events(|event| events.push(event));
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(venue.resting_orders(), 1);
    ready(&mut venue);
    let events = events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Rejected { id: OrderId(3), .. })
    });
    assert_rejected(&events, 3, RejectReason::ReduceOnlyNotSatisfied);
    loopback.wait_log("fault drop fired", WAIT);
    poll_until(&mut venue, WAIT, |venue| {
        venue.stats().connects == [2, 2] && venue.is_ready()
    });
    assert_eq!(venue.stats().losses, [1, 1]);
    // Trading again on the new links.
    let (bid, _) = touch(&loopback);
    venue.submit(
        order(
            2,
            Side::Buy,
            Fixed::from_raw(bid.raw() - 5_000_000_000),
            "0.010",
            false,
        ),
        now_ns(),
    );
    events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Accepted { id: OrderId(2), .. })
    });
}

#[test]
fn a_wrong_secret_never_authenticates() {
    let loopback = LoopbackVenue::start_with_credentials(&[], Some((KEY, SECRET)));
    let rest_clock = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let mut venue = BybitVenue::new(
        venue_settings(&loopback, "ws1"),
        Signer::new(KEY, "not-the-secret").unwrap(),
        Arc::new(RateLimits::new(Rates::BYBIT_LINEAR)),
        rest_clock,
        Account::flat(fx("10000")),
        None,
    )
    .unwrap();
    poll_until(&mut venue, WAIT, |venue| venue.stats().auth_failures >= 2);
    assert!(!venue.is_ready());
}

#[test]
fn a_lost_answer_is_settled_by_reconciliation_and_entries_wait_for_it() {
    let loopback = LoopbackVenue::start_with_credentials(
        &["--faults", "ack-lost:after=1s"],
        Some((KEY, SECRET)),
    );
    let mut venue = reconciling_venue(&loopback, "la1");
    ready(&mut venue);
    loopback.wait_log("fault ack-lost fired", WAIT);
    let (bid, _) = touch(&loopback);
    let far = Fixed::from_raw(bid.raw() - 5_000_000_000);
    venue.submit(order(1, Side::Buy, far, "0.010", false), now_ns());
    // The answer is lost, but the private stream says the order rests.
    events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Accepted { id: OrderId(1), .. })
    });
    loopback.wait_log("answer lost (fault)", WAIT);
    // Unanswered for 5 s: its fate counts as unknown, and REST settles it.
    let deadline = Instant::now() + Duration::from_secs(15);
    while venue.stats().reconciliations == 0 {
        assert!(Instant::now() < deadline, "{:?}", venue.stats());
        if venue.is_reconciling() {
            // Entries wait meanwhile.
            venue.submit(order(2, Side::Buy, far, "0.010", false), now_ns());
            let mut events = Vec::new();
            venue.poll();
            venue.drain_events(|event| events.push(event));
            assert_rejected(&events, 2, RejectReason::VenueUnavailable);
        }
        venue.poll();
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = *venue.stats();
    assert_eq!(
        (
            stats.unknown_fates,
            stats.orders_settled,
            stats.foreign_cancels
        ),
        (1, 0, 0)
    );
    assert!(!venue.is_reconciling());
    assert_eq!(venue.resting_orders(), 1);
    venue.cancel(OrderId(1), now_ns());
    events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Cancelled { id: OrderId(1), .. })
    });
}

#[test]
fn a_cancel_whose_push_is_lost_is_settled_by_reconciliation_while_trading_and_at_shutdown() {
    let loopback = LoopbackVenue::start_with_credentials(
        &["--faults", "push-lost:after=2s,push-lost:after=8s"],
        Some((KEY, SECRET)),
    );
    let mut venue = reconciling_venue(&loopback, "cl1");
    ready(&mut venue);
    let (bid, _) = touch(&loopback);
    let far = Fixed::from_raw(bid.raw() - 5_000_000_000);
    let mut notes = Vec::new();

    // While trading: the cancel is answered, its `order` push lost. 3 s without it, the
    // order's fate counts as unknown and REST finds it cancelled.
    venue.submit(order(1, Side::Buy, far, "0.010", false), now_ns());
    events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Accepted { id: OrderId(1), .. })
    });
    loopback.wait_log("fault push-lost fired", WAIT);
    venue.cancel(OrderId(1), now_ns());
    loopback.wait_log("order push lost (fault)", WAIT);
    let events = events_until(&mut venue, Duration::from_secs(15), |event| {
        matches!(event, VenueEvent::Cancelled { id: OrderId(1), .. })
    });
    assert_eq!(events.len(), 1, "{events:?}");
    venue.drain_notes(|note| notes.push(note));
    assert_eq!(
        notes,
        [
            VenueNote::UnknownFate { id: OrderId(1) },
            VenueNote::OrderSettled {
                id: OrderId(1),
                at_venue: true
            },
            VenueNote::Reconciled
        ]
    );

    // At shutdown: the loop's last cancel, its push lost; settling does not end with the
    // order still working in the engine's view.
    venue.submit(order(2, Side::Buy, far, "0.010", false), now_ns());
    events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Accepted { id: OrderId(2), .. })
    });
    loopback.wait_log("fault push-lost fired", WAIT);
    venue.cancel(OrderId(2), now_ns());
    venue.settle(&OrderBook::new(Symbol::new("BTCUSDT").unwrap(), 1));
    assert_eq!(venue.resting_orders(), 0);
    let mut events = Vec::new();
    venue.drain_events(|event| events.push(event));
    assert!(
        matches!(
            events[..],
            [VenueEvent::Cancelled {
                id: OrderId(2),
                filled: Fixed::ZERO,
                ..
            }]
        ),
        "{events:?}"
    );
    loopback.wait_log("order push lost (fault)", WAIT);
    let stats = *venue.stats();
    assert_eq!(
        (
            stats.unknown_fates,
            stats.orders_settled,
            stats.reconciliations
        ),
        (2, 2, 2)
    );
    notes.clear();
    venue.drain_notes(|note| notes.push(note));
    assert_eq!(
        notes,
        [
            VenueNote::UnknownFate { id: OrderId(2) },
            VenueNote::OrderSettled {
                id: OrderId(2),
                at_venue: true
            },
            VenueNote::Reconciled
        ]
    );
}

#[test]
fn fills_pushed_while_the_streams_were_down_and_unknown_orders_are_found_by_reconciliation() {
    // Every private push is lost, and the connections drop every 3 s: what happened is known
    // only from REST, after each reconnect.
    let loopback = LoopbackVenue::start_with_credentials(
        &[
            "--regime",
            "high-vol",
            "--seed",
            "8",
            "--faults",
            "push-lost:times=1000000,drop:every=3s",
        ],
        Some((KEY, SECRET)),
    );
    let mut venue = reconciling_venue(&loopback, "pl1");
    ready(&mut venue);
    let rest = rest_client(&loopback, KEY, SECRET);
    rest.sync_clock().unwrap();
    // An order another client placed.
    let (bid, _) = touch(&loopback);
    let far = Fixed::from_raw(bid.raw() - 5_000_000_000);
    place_foreign(&rest, 1, Side::Buy, far, "0.010");

    // Entries at the touch until one fills: every event comes from reconciliation.
    let mut filled = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut id = 10;
    while filled.is_none() {
        assert!(Instant::now() < deadline, "{:?}", venue.stats());
        if venue.is_ready() && !venue.is_reconciling() && venue.resting_orders() == 0 {
            let (bid, _) = touch(&loopback);
            id += 1;
            venue.submit(order(id, Side::Buy, bid, "0.001", false), now_ns());
        }
        venue.poll();
        venue.drain_events(|event| {
            if let VenueEvent::Filled(fill) = event {
                filled = Some(fill);
            }
        });
        std::thread::sleep(Duration::from_millis(5));
    }
    let fill = filled.unwrap();
    assert_eq!(fill.qty, fx("0.001"));
    let stats = *venue.stats();
    assert!(
        stats.missed_fills >= 1 && stats.reconciliations >= 1,
        "{stats:?}"
    );
    assert_eq!(stats.missed_fills, stats.fills, "{stats:?}");
    assert!(stats.foreign_cancels >= 1, "{stats:?}");
    // The venue and the engine agree: the position, and no order of the other client left.
    let position = feed::bybit::rest::snapshot::position(&rest, "BTCUSDT").unwrap();
    assert_eq!(venue.account().position, position);
    let open = feed::bybit::rest::snapshot::open_orders(&rest, "BTCUSDT").unwrap();
    assert!(
        open.iter()
            .all(|order| !order.order_link_id.as_str().starts_with("other-")),
        "{open:?}"
    );
}

#[test]
fn adopted_orders_are_kept_their_fills_booked_and_they_are_cancelled_at_shutdown() {
    // The links drop every 4 s: each reconnect reconciles, and adopts what is new.
    let loopback = LoopbackVenue::start_with_credentials(
        &["--regime", "high-vol", "--faults", "drop:every=4s"],
        Some((KEY, SECRET)),
    );
    let rest = rest_client(&loopback, KEY, SECRET);
    rest.sync_clock().unwrap();
    // Another client's order, there before the engine, far from the touch.
    let (bid, _) = touch(&loopback);
    place_foreign(
        &rest,
        1,
        Side::Buy,
        Fixed::from_raw(bid.raw() - 5_000_000_000),
        "0.010",
    );
    let mut venue = reconciling_venue_with(
        &loopback,
        VenueSettings {
            adopt_unknown_orders: true,
            ..venue_settings(&loopback, "ad1")
        },
    );
    // Reconciled once up: adopted, not cancelled; entries wait meanwhile.
    assert!(venue.is_reconciling());
    poll_until(&mut venue, WAIT, |venue| venue.stats().reconciliations == 1);
    let mut notes = Vec::new();
    venue.drain_notes(|note| notes.push(note));
    let first = OrderId(feed::bybit::venue::ADOPTED_IDS);
    assert!(
        matches!(
            notes[..],
            [
                VenueNote::Doubt {
                    reason: Doubt::Adoption
                },
                VenueNote::ForeignAdopted { id, .. },
                VenueNote::Reconciled
            ] if id == first
        ),
        "{notes:?}"
    );
    assert_eq!(venue.resting_orders(), 1);

    // More of its orders, at the touch, adopted at the next reconnect until one fills as an
    // adopted order: the fill is booked into the position, as the venue books it.
    let mut foreign_id = 1;
    let mut placed_before = 0;
    let deadline = Instant::now() + FILL_WAIT;
    let fill = loop {
        assert!(Instant::now() < deadline, "{:?}", venue.stats());
        let reconciliations = venue.stats().reconciliations;
        if venue.resting_orders() == 1 && reconciliations > placed_before && venue.is_ready() {
            let (bid, ask) = touch(&loopback);
            place_foreign(&rest, foreign_id + 1, Side::Buy, bid, "0.001");
            place_foreign(&rest, foreign_id + 2, Side::Sell, ask, "0.001");
            foreign_id += 2;
            placed_before = reconciliations;
        }
        venue.poll();
        let mut fill = None;
        venue.drain_events(|event| {
            if let VenueEvent::Filled(filled) = event {
                fill = Some(filled);
            }
        });
        venue.drain_notes(|note| notes.push(note));
        if let Some(fill) = fill {
            break fill;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let adopted: BTreeSet<OrderId> = notes
        .iter()
        .filter_map(|note| match note {
            VenueNote::ForeignAdopted { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert!(
        adopted.contains(&fill.id) && fill.id != first,
        "{fill:?} {notes:?}"
    );
    assert_eq!(fill.qty, fx("0.001"));
    assert_eq!(venue.stats().foreign_cancels, 0);
    poll_until(&mut venue, WAIT, |venue| {
        venue.is_ready()
            && feed::bybit::rest::snapshot::position(&rest, "BTCUSDT").unwrap()
                == venue.account().position
    });

    // At shutdown the adopted orders still open are cancelled, and end.
    venue.settle(&OrderBook::new(Symbol::new("BTCUSDT").unwrap(), 1));
    assert_eq!(venue.resting_orders(), 0);
    let mut ended = BTreeSet::new();
    venue.drain_events(|event| {
        if let VenueEvent::Cancelled { id, .. } = event {
            ended.insert(id);
        }
    });
    assert!(
        ended.contains(&first) && ended.is_subset(&adopted),
        "{ended:?}"
    );
    assert!(
        feed::bybit::rest::snapshot::open_orders(&rest, "BTCUSDT")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn disconnect_cancel_all_cancels_the_orders_once_the_private_stream_is_down_its_window() {
    // Not granted: refused, which real mode reports and trades on.
    let plain = LoopbackVenue::start_with_credentials(&[], Some((KEY, SECRET)));
    let refused = engine::account::set_dcp(&rest_client(&plain, KEY, SECRET), 3).unwrap_err();
    assert_eq!(refused.code(), Some(10001), "{refused}");

    let loopback = LoopbackVenue::start_with_credentials(&["--dcp"], Some((KEY, SECRET)));
    let rest = rest_client(&loopback, KEY, SECRET);
    rest.sync_clock().unwrap();
    engine::account::set_dcp(&rest, 3).unwrap();
    loopback.wait_log("disconnect-cancel-all armed: 3 s", WAIT);
    let mut settings = venue_settings(&loopback, "dc1");
    settings.dcp = true;
    let mut venue = BybitVenue::new(
        settings,
        Signer::new(KEY, SECRET).unwrap(),
        Arc::new(RateLimits::new(Rates::BYBIT_LINEAR)),
        rest.clock(),
        Account::flat(fx("10000")),
        None,
    )
    .unwrap();
    ready(&mut venue);
    let (bid, _) = touch(&loopback);
    venue.submit(
        order(
            1,
            Side::Buy,
            Fixed::from_raw(bid.raw() - 5_000_000_000),
            "0.010",
            false,
        ),
        now_ns(),
    );
    events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Accepted { .. })
    });
    assert_eq!(
        feed::bybit::rest::snapshot::open_orders(&rest, "BTCUSDT")
            .unwrap()
            .len(),
        1
    );
    // The engine's connections go away and do not come back.
    drop(venue);
    loopback.wait_log(
        "disconnect-cancel-all: the private stream down 3 s, 1 orders cancelled",
        WAIT,
    );
    assert!(
        feed::bybit::rest::snapshot::open_orders(&rest, "BTCUSDT")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn while_the_trade_stream_is_down_exits_and_cancels_go_over_rest_and_entries_wait() {
    let loopback = LoopbackVenue::start_with_credentials(
        &["--regime", "high-vol", "--seed", "9"],
        Some((KEY, SECRET)),
    );
    let rest = Arc::new(rest_client(&loopback, KEY, SECRET));
    rest.sync_clock().unwrap();
    let held = common::buy_a_position_as_another_client(&loopback, &rest);
    // The trade stream is unreachable (a closed port); the private stream is up.
    let mut settings = venue_settings(&loopback, "fb1");
    settings.trade = Endpoint::parse("ws://127.0.0.1:1/v5/trade").unwrap();
    let mut venue = BybitVenue::new(
        settings,
        Signer::new(KEY, SECRET).unwrap(),
        Arc::new(RateLimits::new(Rates::BYBIT_LINEAR)),
        rest.clock(),
        // The account as the engine reads it before it starts: holding that position.
        Account {
            position: held,
            ..Account::flat(fx("10000"))
        },
        Some(Arc::clone(&rest)),
    )
    .unwrap();
    poll_until(&mut venue, WAIT, |venue| venue.stats().connects[0] > 0);
    std::thread::sleep(Duration::from_millis(200));
    venue.poll();
    // An entry waits for the trade stream.
    let (_, ask) = touch(&loopback);
    venue.submit(
        order(
            1,
            Side::Buy,
            Fixed::from_raw(ask.raw() - 5_000_000_000),
            "0.001",
            false,
        ),
        now_ns(),
    );
    let events = events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Rejected { .. })
    });
    assert_rejected(&events, 1, RejectReason::VenueUnavailable);
    // An exit goes over REST: it rests (the private stream says so) and is cancelled over REST.
    let above = Fixed::from_raw(ask.raw() + 5_000_000_000);
    venue.submit(order(2, Side::Sell, above, "0.001", true), now_ns());
    events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Accepted { id: OrderId(2), .. })
    });
    let open = feed::bybit::rest::snapshot::open_orders(&rest, "BTCUSDT").unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].order_link_id, "fb1-2");
    assert!(open[0].reduce_only);
    venue.cancel(OrderId(2), now_ns());
    events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Cancelled { id: OrderId(2), .. })
    });
    assert!(
        feed::bybit::rest::snapshot::open_orders(&rest, "BTCUSDT")
            .unwrap()
            .is_empty()
    );
    assert_eq!(venue.stats().rest_fallbacks, 2);
    assert_eq!(venue.stats().creates, 0);
}

#[test]
fn a_10006_storm_on_the_trade_stream_rejects_and_holds_entries_until_the_reset() {
    let loopback = LoopbackVenue::start_with_credentials(
        &["--faults", "rate-limit:after=1s:times=2"],
        Some((KEY, SECRET)),
    );
    let mut venue = reconciling_venue(&loopback, "rl1");
    ready(&mut venue);
    loopback.wait_log("fault rate-limit fired", WAIT);
    let (bid, _) = touch(&loopback);
    let far = Fixed::from_raw(bid.raw() - 5_000_000_000);
    venue.submit(order(1, Side::Buy, far, "0.010", false), now_ns());
    let events = events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Rejected { .. })
    });
    assert_rejected(&events, 1, RejectReason::RateLimited);
    // The create bucket is held until the venue's reset: the next entry is not even sent.
    venue.submit(order(2, Side::Buy, far, "0.010", false), now_ns());
    let events = poll_for(&mut venue, Duration::from_millis(50));
    assert_rejected(&events, 2, RejectReason::RateLimited);
    assert_eq!(venue.stats().local_rejects, 1);
    // After the reset: the second refusal, then the order.
    std::thread::sleep(Duration::from_millis(1100));
    venue.submit(order(3, Side::Buy, far, "0.010", false), now_ns());
    events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Rejected { id: OrderId(3), .. })
    });
    std::thread::sleep(Duration::from_millis(1100));
    venue.submit(order(4, Side::Buy, far, "0.010", false), now_ns());
    events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Accepted { id: OrderId(4), .. })
    });
    // Two refusals at the venue, no more: no retry storm.
    for _ in 0..2 {
        loopback.wait_log("refused: 10006 Too many visits!", WAIT);
    }
    assert_eq!(loopback.logged("refused: 10006"), None);
    assert_eq!(venue.stats().creates, 3);
}

#[test]
fn a_10002_from_a_skewed_venue_clock_rejects_the_order_and_the_clock_is_measured_again() {
    // The venue's clock falls 20 s behind at 2 s, and 20 s more at 7 s.
    let loopback = LoopbackVenue::start_with_credentials(
        &["--faults", "skew:ms=-20000:after=2s:every=5s:times=2"],
        Some((KEY, SECRET)),
    );
    let mut venue = reconciling_venue(&loopback, "sk1");
    ready(&mut venue);
    let (bid, _) = touch(&loopback);
    let far = Fixed::from_raw(bid.raw() - 5_000_000_000);
    venue.submit(order(1, Side::Buy, far, "0.010", false), now_ns());
    events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Accepted { id: OrderId(1), .. })
    });
    poll_until_logged(&mut venue, &loopback, "fault skew fired");
    venue.submit(order(2, Side::Buy, far, "0.010", false), now_ns());
    let events = events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Rejected { .. })
    });
    assert_rejected(&events, 2, RejectReason::ClockSkew);
    poll_until(&mut venue, WAIT, |venue| venue.stats().reconciliations > 0);
    venue.submit(order(3, Side::Buy, far, "0.010", false), now_ns());
    events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Accepted { id: OrderId(3), .. })
    });

    // A cancel refused for its time stamp is sent again once the clock is measured again,
    // not before: refused once, then done.
    poll_until_logged(&mut venue, &loopback, "fault skew fired");
    venue.cancel(OrderId(1), now_ns());
    events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Cancelled { id: OrderId(1), .. })
    });
    assert_eq!(venue.stats().reconciliations, 2);
    let mut refusals = 0;
    while let Some(line) = loopback.logged("refused: 10002") {
        assert!(line.contains("order.cancel"), "{line}");
        refusals += 1;
    }
    assert_eq!(refusals, 1);
}

#[test]
fn a_late_answer_is_no_doubt_the_private_stream_already_said_what_happened() {
    let loopback = LoopbackVenue::start_with_credentials(
        &["--faults", "ack-delay:ms=1500:after=1s"],
        Some((KEY, SECRET)),
    );
    let mut venue = reconciling_venue(&loopback, "ad1");
    ready(&mut venue);
    loopback.wait_log("fault ack-delay fired", WAIT);
    let (bid, _) = touch(&loopback);
    venue.submit(
        order(
            1,
            Side::Buy,
            Fixed::from_raw(bid.raw() - 5_000_000_000),
            "0.010",
            false,
        ),
        now_ns(),
    );
    events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Accepted { id: OrderId(1), .. })
    });
    poll_for(&mut venue, Duration::from_secs(2));
    let stats = *venue.stats();
    assert_eq!(
        (stats.unknown_fates, stats.reconciliations),
        (0, 0),
        "{stats:?}"
    );
    assert!(!venue.is_reconciling());
}

#[test]
fn after_a_venue_restart_the_orders_it_forgot_end_and_trading_resumes() {
    let first = LoopbackVenue::start_with_credentials(&[], Some((KEY, SECRET)));
    let addr = first.addr.clone();
    let mut venue = reconciling_venue(&first, "vr1");
    ready(&mut venue);
    let (bid, _) = touch(&first);
    let far = Fixed::from_raw(bid.raw() - 5_000_000_000);
    venue.submit(order(1, Side::Buy, far, "0.010", false), now_ns());
    events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Accepted { id: OrderId(1), .. })
    });
    // The venue goes away and comes back on the same address, knowing nothing.
    drop(first);
    poll_for(&mut venue, Duration::from_millis(300));
    let second = LoopbackVenue::start_with_credentials(&["--addr", &addr], Some((KEY, SECRET)));
    let events = events_until(&mut venue, Duration::from_secs(20), |event| {
        matches!(event, VenueEvent::Rejected { id: OrderId(1), .. })
    });
    assert!(
        events.iter().any(|event| matches!(
            event,
            VenueEvent::Rejected {
                id: OrderId(1),
                reason: RejectReason::VenueUnavailable,
                ..
            }
        )),
        "{events:?}"
    );
    let stats = *venue.stats();
    assert!(
        stats.reconciliations >= 1 && stats.orders_settled == 1,
        "{stats:?}"
    );
    assert_eq!(venue.resting_orders(), 0);
    ready(&mut venue);
    let (bid, _) = touch(&second);
    venue.submit(
        order(
            2,
            Side::Buy,
            Fixed::from_raw(bid.raw() - 5_000_000_000),
            "0.010",
            false,
        ),
        now_ns(),
    );
    events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Accepted { id: OrderId(2), .. })
    });
}

#[test]
fn an_amend_moves_a_resting_order_in_one_request_and_a_crossing_one_ends_it_as_post_only() {
    let loopback = LoopbackVenue::start_with_credentials(&[], Some((KEY, SECRET)));
    let mut venue = reconciling_venue(&loopback, "am1");
    ready(&mut venue);
    let (bid, ask) = touch(&loopback);
    let far = Fixed::from_raw(bid.raw() - 5_000_000_000);
    venue.submit(order(1, Side::Buy, far, "0.010", false), now_ns());
    events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Accepted { id: OrderId(1), .. })
    });
    // Nearer the touch, and larger: one amend, done when the push shows the new terms.
    let nearer = Fixed::from_raw(far.raw() + 1_000_000_000);
    venue.amend(OrderId(1), nearer, fx("0.020"), now_ns());
    let events = events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Amended { id: OrderId(1), .. })
    });
    assert!(
        matches!(
            events[..],
            [VenueEvent::Amended { price, qty, .. }] if price == nearer && qty == fx("0.020")
        ),
        "{events:?}"
    );
    let open =
        feed::bybit::rest::snapshot::open_orders(&rest_client(&loopback, KEY, SECRET), "BTCUSDT")
            .unwrap();
    assert_eq!((open[0].price, open[0].qty), (Some(nearer), fx("0.020")));
    // Well through the ask (the simulated market moves meanwhile, so not at a touch that may
    // have gone): a post-only order that would take is cancelled by the venue.
    let through = Fixed::from_raw(ask.raw() + 5_000_000_000);
    venue.amend(OrderId(1), through, fx("0.020"), now_ns());
    let events = events_until(&mut venue, WAIT, |event| {
        matches!(event, VenueEvent::Rejected { id: OrderId(1), .. })
    });
    assert_rejected(&events, 1, RejectReason::PostOnlyWillTakeLiquidity);
    // An order no longer worked on: refused on the next poll, nothing sent.
    venue.amend(OrderId(1), far, fx("0.010"), now_ns());
    let events = poll_for(&mut venue, Duration::from_millis(50));
    assert!(
        matches!(
            events[..],
            [VenueEvent::AmendRejected { id: OrderId(1), .. }]
        ),
        "{events:?}"
    );
    assert_eq!(venue.stats().amends, 2);
    assert_eq!(loopback.history("order.amend ").len(), 2);
}

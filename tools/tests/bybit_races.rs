//! The engine's Bybit venue against `toolkit venue` made as rude as Bybit: pushes out of order,
//! executions late or missing from REST for a while, fills during a reconciliation, the
//! position moved from outside (a manual close, auto-deleveraging, a liquidation), another
//! client's order, nine-decimal fees, a code that refuses the credentials, and the protocol's
//! own refusals (a history page above 50, the bare `dcp` topic, mixed subscriptions). Each ends
//! with the books checked order by order against the venue's: every fill booked once, every
//! order ended once, nothing working, the positions equal.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::bybit::{
    KEY, SECRET, Seen, assert_books_match, fill_at_touch, fx, now_ns, order, ready,
    reconciling_venue, reconciling_venue_with, touch,
};
use common::{Venue as LoopbackVenue, WAIT, rest_client, venue_settings};
use feed::bybit::venue::{BybitVenue, VenueSettings};
use feed::order::{OrderId, RejectReason, VenueEvent};
use feed::venue::{CancelKind, Doubt, OutsideKind, Venue, VenueNote};
use feed::{Fixed, Side};

/// A venue with `faults` on the high-vol market (fills come quickly), and the engine's venue on
/// it under `prefix`, reconciling over REST, ready.
fn rude_venue(faults: &str, prefix: &str) -> (LoopbackVenue, BybitVenue) {
    let mut args = vec!["--regime", "high-vol", "--seed", "5"];
    if !faults.is_empty() {
        args.extend(["--faults", faults]);
    }
    let loopback = LoopbackVenue::start_with_credentials(&args, Some((KEY, SECRET)));
    let mut venue = reconciling_venue(&loopback, prefix);
    ready(&mut venue);
    (loopback, venue)
}

fn rest(loopback: &LoopbackVenue) -> feed::bybit::rest::RestClient {
    let rest = rest_client(loopback, KEY, SECRET);
    rest.sync_clock().unwrap();
    rest
}

/// Buys `qty` at the touch until a buy fills, then sells what is held at the touch until flat.
fn round_trip(
    venue: &mut BybitVenue,
    loopback: &LoopbackVenue,
    seen: &mut Seen,
    next_id: &mut u64,
    qty: &str,
) {
    fill_at_touch(venue, loopback, seen, next_id, Side::Buy, qty, false);
    while !venue.account().position.is_zero() {
        let held = venue.account().position.to_string();
        fill_at_touch(venue, loopback, seen, next_id, Side::Sell, &held, true);
    }
}

#[test]
fn order_pushes_before_their_executions_book_every_fill_once_and_end_after_them() {
    // Each fill's `order` push 800 ms before its execution, position and wallet.
    let (loopback, mut venue) = rude_venue("order-first:ms=800", "of1");
    let (mut seen, mut next_id) = (Seen::default(), 0);
    round_trip(&mut venue, &loopback, &mut seen, &mut next_id, "0.002");
    assert_books_match(&venue, &rest(&loopback), "of1", &seen);
    let stats = *venue.stats();
    // The orders that filled completely heard `Filled` first: they drained.
    assert!(stats.drained >= 2, "{stats:?}");
    assert_eq!(
        (
            stats.unknown_fates,
            stats.decode_errors,
            stats.position_corrections
        ),
        (0, 0, 0),
        "{stats:?}"
    );
    // Accepted before every fill of its order.
    for id in seen.orders() {
        let first = seen.events.iter().position(|event| match event {
            VenueEvent::Filled(fill) => fill.id == id,
            _ => false,
        });
        let accepted = seen.events.iter().position(
            |event| matches!(event, VenueEvent::Accepted { id: accepted, .. } if *accepted == id),
        );
        if let Some(first) = first {
            assert!(accepted.is_some_and(|accepted| accepted < first), "{id:?}");
        }
    }
}

#[test]
fn pushes_in_a_random_order_leave_the_same_books() {
    let (loopback, mut venue) = rude_venue("push-reorder:ms=600", "pr1");
    let (mut seen, mut next_id) = (Seen::default(), 0);
    round_trip(&mut venue, &loopback, &mut seen, &mut next_id, "0.002");
    round_trip(&mut venue, &loopback, &mut seen, &mut next_id, "0.001");
    assert_books_match(&venue, &rest(&loopback), "pr1", &seen);
    let stats = *venue.stats();
    assert_eq!(
        (stats.decode_errors, stats.position_corrections),
        (0, 0),
        "{stats:?}"
    );
}

#[test]
fn a_position_closed_from_outside_is_found_and_the_exit_is_not_sent_against_it_again_and_again() {
    let (loopback, mut venue) = rude_venue("", "mc1");
    let (mut seen, mut next_id) = (Seen::default(), 0);
    fill_at_touch(
        &mut venue,
        &loopback,
        &mut seen,
        &mut next_id,
        Side::Buy,
        "0.002",
        false,
    );
    let held = venue.account().position;
    assert!(held.is_positive());
    // A take-profit far above the touch rests, reduce-only.
    let (_, ask) = touch(&loopback);
    next_id += 1;
    let take_profit = OrderId(next_id);
    seen.place_resting(
        &mut venue,
        order(
            next_id,
            Side::Sell,
            Fixed::from_raw(ask.raw() + 50_000_000_000),
            &held.to_string(),
            true,
        ),
    );

    // Closed from the web UI. A loop that has not heard yet sends its exit, and again each
    // time it is refused: the venue refuses the first (110017); the position is then in doubt,
    // the next exits wait for reconciliation, which takes the flat position, and from then on
    // an exit that reduces nothing is refused without asking the venue. Never a storm.
    loopback.fire("manual-close");
    loopback.wait_log("fault manual-close fired", WAIT);
    let until = Instant::now() + Duration::from_secs(4);
    let (mut exits, mut last_exit) = (0, None);
    while Instant::now() < until {
        if last_exit.is_none_or(|id| seen.ended(id)) {
            next_id += 1;
            exits += 1;
            last_exit = Some(OrderId(next_id));
            venue.submit(
                order(next_id, Side::Sell, ask, &held.to_string(), true),
                now_ns(),
            );
        }
        seen.poll(&mut venue);
        std::thread::sleep(Duration::from_millis(5));
    }
    let refusals = loopback.history("refused: 110017").len();
    assert!(exits >= 10, "{exits}");
    assert!(
        (1..=2).contains(&refusals),
        "{refusals} refusals for {exits} exits"
    );
    assert!(venue.stats().doubts[Doubt::ReduceOnlyRefused.index()] >= 1);
    // The venue cut the take-profit (nothing left to reduce); the close's execution is none of
    // the engine's; reconciliation took the flat position.
    assert!(
        seen.events.iter().any(|event| matches!(
            event,
            VenueEvent::Rejected { id, reason: RejectReason::ReduceOnlyNotSatisfied, .. }
                if *id == take_profit
        )),
        "{:?}",
        seen.events
    );
    assert!(
        seen.notes.contains(&VenueNote::OutsideExecution {
            kind: OutsideKind::OtherOrder,
            qty: Fixed::from_raw(-held.raw()),
        }),
        "{:?}",
        seen.notes
    );
    assert!(
        seen.notes.contains(&VenueNote::PositionCorrected {
            engine: held,
            venue: Fixed::ZERO
        }),
        "{:?}",
        seen.notes
    );
    assert_eq!(venue.account().position, Fixed::ZERO);
    assert_books_match(&venue, &rest(&loopback), "mc1", &seen);
}

#[test]
fn auto_deleveraging_takes_part_of_the_position_and_the_venue_follows() {
    let (loopback, mut venue) = rude_venue("", "ad2");
    let (mut seen, mut next_id) = (Seen::default(), 0);
    fill_at_touch(
        &mut venue,
        &loopback,
        &mut seen,
        &mut next_id,
        Side::Buy,
        "0.004",
        false,
    );
    loopback.fire("adl:share=0.5");
    seen.until(&mut venue, Duration::from_secs(15), |seen, _| {
        seen.notes
            .iter()
            .any(|note| matches!(note, VenueNote::PositionCorrected { .. }))
    });
    assert!(seen.notes.contains(&VenueNote::OutsideExecution {
        kind: OutsideKind::Adl,
        qty: fx("-0.002"),
    }));
    assert!(seen.notes.contains(&VenueNote::PositionCorrected {
        engine: fx("0.004"),
        venue: fx("0.002")
    }));
    assert_eq!(venue.stats().doubts[Doubt::OutsideExecution.index()], 1);
    // The rest is closed as usual.
    while !venue.account().position.is_zero() {
        let held = venue.account().position.to_string();
        fill_at_touch(
            &mut venue,
            &loopback,
            &mut seen,
            &mut next_id,
            Side::Sell,
            &held,
            true,
        );
    }
    assert_books_match(&venue, &rest(&loopback), "ad2", &seen);
}

#[test]
fn a_liquidation_cancels_ahead_of_it_halts_entries_and_leaves_the_venue_flat() {
    let (loopback, mut venue) = rude_venue("", "lq1");
    let (mut seen, mut next_id) = (Seen::default(), 0);
    fill_at_touch(
        &mut venue,
        &loopback,
        &mut seen,
        &mut next_id,
        Side::Buy,
        "0.002",
        false,
    );
    // An entry resting far under the touch: the venue cancels it ahead of the liquidation.
    let (bid, _) = touch(&loopback);
    next_id += 1;
    let resting = OrderId(next_id);
    seen.place_resting(
        &mut venue,
        order(
            next_id,
            Side::Buy,
            Fixed::from_raw(bid.raw() - 50_000_000_000),
            "0.002",
            false,
        ),
    );
    loopback.fire("liquidation");
    seen.until(&mut venue, Duration::from_secs(15), |seen, venue| {
        seen.ended(resting) && venue.account().position.is_zero() && !venue.is_reconciling()
    });
    assert!(seen.notes.contains(&VenueNote::OutsideCancel {
        id: resting,
        kind: CancelKind::PrepareLiquidation
    }));
    assert!(seen.notes.contains(&VenueNote::EntriesHalted));
    assert!(seen.notes.contains(&VenueNote::OutsideExecution {
        kind: OutsideKind::Liquidation,
        qty: fx("-0.002"),
    }));
    assert!(venue.live_stats().unwrap().entries_halted);
    // No entry goes from now on.
    next_id += 1;
    venue.submit(order(next_id, Side::Buy, bid, "0.001", false), now_ns());
    let halted = OrderId(next_id);
    seen.until(&mut venue, WAIT, |seen, _| seen.ended(halted));
    assert!(seen.events.iter().any(|event| matches!(
        event,
        VenueEvent::Rejected { id, reason: RejectReason::EntriesHalted, .. } if *id == halted
    )));
    assert_books_match(&venue, &rest(&loopback), "lq1", &seen);
}

#[test]
fn another_clients_order_is_found_and_cancelled() {
    let (loopback, mut venue) = rude_venue("", "fo1");
    let mut seen = Seen::default();
    loopback.fire("foreign-order");
    seen.until(&mut venue, Duration::from_secs(15), |seen, _| {
        seen.notes
            .iter()
            .any(|note| matches!(note, VenueNote::ForeignCancelled { .. }))
    });
    assert!(seen.notes.contains(&VenueNote::Doubt {
        reason: Doubt::ForeignOrder
    }));
    let rest = rest(&loopback);
    let deadline = Instant::now() + WAIT;
    while !feed::bybit::rest::snapshot::open_orders(&rest, "BTCUSDT")
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline);
        seen.poll(&mut venue);
    }
}

#[test]
fn executions_missing_from_the_stream_and_late_in_rest_keep_the_order_draining_until_listed() {
    // Executions are listed by REST only 4 s after they happen.
    let (loopback, mut venue) = rude_venue("exec-lag:ms=4000", "el1");
    let (mut seen, mut next_id) = (Seen::default(), 0);
    // A buy at the touch; its execution push is lost: only REST can tell, and only later.
    let mut filled = None;
    let deadline = Instant::now() + common::bybit::FILL_WAIT;
    while filled.is_none() {
        assert!(Instant::now() < deadline, "{:?}", venue.stats());
        next_id += 1;
        let id = OrderId(next_id);
        let (bid, _) = touch(&loopback);
        seen.until(&mut venue, WAIT, |_, venue| !venue.is_reconciling());
        venue.submit(order(next_id, Side::Buy, bid, "0.002", false), now_ns());
        seen.until(&mut venue, WAIT, |seen, _| {
            seen.ended(id)
                || seen
                    .events
                    .iter()
                    .any(|event| matches!(event, VenueEvent::Accepted { id: a, .. } if *a == id))
        });
        if seen.ended(id) {
            continue;
        }
        loopback.fire("push-lost:times=1");
        let rested = Instant::now();
        seen.until(&mut venue, Duration::from_secs(30), |seen, _| {
            seen.ended(id) || rested.elapsed() > Duration::from_secs(3)
        });
        if !seen.ended(id) {
            venue.cancel(id, now_ns());
            seen.until(&mut venue, Duration::from_secs(30), |seen, _| {
                seen.ended(id)
            });
        }
        if seen.filled(id).is_positive() {
            filled = Some(id);
        }
    }
    let stats = *venue.stats();
    assert!(stats.missed_fills >= 1, "{stats:?}");
    assert!(stats.reconciles_deferred >= 1, "{stats:?}");
    assert!(
        seen.notes
            .iter()
            .any(|note| matches!(note, VenueNote::MissedFill { .. })),
        "{:?}",
        seen.notes
    );
    // Flat again, and the books agree.
    while !venue.account().position.is_zero() {
        let held = venue.account().position.to_string();
        fill_at_touch(
            &mut venue,
            &loopback,
            &mut seen,
            &mut next_id,
            Side::Sell,
            &held,
            true,
        );
    }
    assert_books_match(&venue, &rest(&loopback), "el1", &seen);
}

#[test]
fn fills_during_slow_reconciliations_are_booked_once_and_never_corrected_away() {
    // Every signed REST answer 300 ms late, and a routine reconciliation every 5 s: the
    // snapshots take over a second while orders fill.
    let loopback = LoopbackVenue::start_with_credentials(
        &[
            "--regime",
            "high-vol",
            "--seed",
            "5",
            "--faults",
            "rest-delay:ms=300",
        ],
        Some((KEY, SECRET)),
    );
    let mut venue = reconciling_venue_with(
        &loopback,
        VenueSettings {
            reconcile_every: Duration::from_secs(5),
            ..venue_settings(&loopback, "sr1")
        },
    );
    ready(&mut venue);
    let (mut seen, mut next_id) = (Seen::default(), 0);
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        round_trip(&mut venue, &loopback, &mut seen, &mut next_id, "0.001");
    }
    assert_books_match(&venue, &rest(&loopback), "sr1", &seen);
    let stats = *venue.stats();
    assert!(stats.reconciliations >= 4, "{stats:?}");
    // Nothing moved the position from outside: a correction would be a fill counted twice or
    // corrected away.
    assert_eq!(stats.position_corrections, 0, "{stats:?}");
    assert_eq!(stats.missed_fills, 0, "{stats:?}");
}

#[test]
fn fees_with_a_ninth_decimal_are_read_and_booked_rounded() {
    let (loopback, mut venue) = rude_venue("fee-decimals", "fd1");
    let (mut seen, mut next_id) = (Seen::default(), 0);
    let id = fill_at_touch(
        &mut venue,
        &loopback,
        &mut seen,
        &mut next_id,
        Side::Buy,
        "0.001",
        false,
    );
    let fill = seen
        .events
        .iter()
        .find_map(|event| match event {
            VenueEvent::Filled(fill) if fill.id == id => Some(*fill),
            _ => None,
        })
        .unwrap();
    // The venue charged the maker fee at 8 decimals and wrote a ninth (1): read, rounded away.
    assert_eq!(
        Some(fill.fee),
        fill.price
            .checked_mul_floor(fx("0.001"))
            .and_then(|value| value.checked_mul_floor(fx("0.0002")))
    );
    assert_eq!(venue.stats().decode_errors, 0);
}

#[test]
fn a_code_that_refuses_the_credentials_stops_the_venue() {
    let (loopback, mut venue) = rude_venue("", "fa1");
    let mut seen = Seen::default();
    loopback.fire("fatal:code=10005");
    let (bid, _) = touch(&loopback);
    venue.submit(
        order(
            1,
            Side::Buy,
            Fixed::from_raw(bid.raw() - 5_000_000_000),
            "0.001",
            false,
        ),
        now_ns(),
    );
    seen.until(&mut venue, WAIT, |_, venue| venue.failure().is_some());
    let failure = venue.failure().unwrap();
    assert_eq!(failure.code, 10005);
    assert!(
        failure.to_string().starts_with(
            "the venue answered 10005: the API key lacks a permission: give it Contract trading"
        ),
        "{failure}"
    );
    // No entry goes from now on.
    venue.submit(order(2, Side::Buy, bid, "0.001", false), now_ns());
    seen.until(&mut venue, WAIT, |seen, _| seen.ended(OrderId(2)));
    assert!(seen.events.iter().any(|event| matches!(
        event,
        VenueEvent::Rejected {
            id: OrderId(2),
            reason: RejectReason::EntriesHalted,
            ..
        }
    )));
    assert_eq!(venue.live_stats().unwrap().fatal_code, Some(10005));
}

/// A private-stream connection to `loopback`, authenticated.
fn private_stream(loopback: &LoopbackVenue) -> (feed::net::WsConnection, feed::FrameBuf) {
    let endpoint = feed::net::Endpoint::parse(&loopback.url("/v5/private")).unwrap();
    let mut connection = feed::net::connect(&endpoint, None, WAIT).unwrap();
    let signer = feed::bybit::sign::Signer::new(KEY, SECRET).unwrap();
    let mut writer = feed::bybit::trade::TradeWriter::new(
        feed::bybit::trade::LinkIds::new("ws1").unwrap(),
        5000,
    );
    let expires = feed::bybit::rest::local_ms() + 10_000;
    connection.send_text(writer.auth(&signer, expires)).unwrap();
    let mut frame = feed::FrameBuf::with_capacity(1 << 16);
    assert!(read_reply(&mut connection, &mut frame).contains(r#""success":true"#));
    (connection, frame)
}

/// The next message on `connection`, as text.
fn read_reply(connection: &mut feed::net::WsConnection, frame: &mut feed::FrameBuf) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no reply");
        match connection.read_message(frame).unwrap() {
            feed::net::WsRead::Message => {
                return String::from_utf8_lossy(frame.as_bytes()).into_owned();
            }
            feed::net::WsRead::Idle => std::thread::sleep(Duration::from_millis(2)),
            feed::net::WsRead::Closed => panic!("closed"),
        }
    }
}

#[test]
fn the_venue_refuses_what_bybit_refuses_a_history_page_over_50_the_bare_dcp_topic_mixed_topics() {
    let loopback = LoopbackVenue::start_with_credentials(&[], Some((KEY, SECRET)));
    let rest = rest(&loopback);
    let get = |path: &str, query: &str| {
        rest.call(
            feed::bybit::rest::Method::Get,
            path,
            query,
            Some(feed::bybit::limits::Endpoint::Query),
        )
        .err()
        .and_then(|error| error.code())
    };
    let base = "category=linear&symbol=BTCUSDT";
    assert_eq!(
        get("/v5/order/history", &format!("{base}&limit=100")),
        Some(10001)
    );
    assert_eq!(get("/v5/order/history", &format!("{base}&limit=50")), None);
    assert_eq!(
        get("/v5/order/history", &format!("{base}&startTime=1")),
        Some(10001)
    );
    assert_eq!(
        get("/v5/order/realtime", &format!("{base}&limit=51")),
        Some(10001)
    );
    assert_eq!(
        get("/v5/execution/list", &format!("{base}&limit=101")),
        Some(10001)
    );
    assert_eq!(
        get("/v5/execution/list", &format!("{base}&limit=100")),
        None
    );
    assert_eq!(
        get(
            "/v5/execution/list",
            &format!("{base}&startTime=1&endTime={}", 8 * 24 * 3_600_000)
        ),
        Some(10001)
    );

    let (mut connection, mut frame) = private_stream(&loopback);
    let mut subscribe = |args: &str| {
        connection
            .send_text(format!(r#"{{"op":"subscribe","req_id":"t","args":[{args}]}}"#).as_bytes())
            .unwrap();
        read_reply(&mut connection, &mut frame)
    };
    let bare = subscribe(r#""dcp""#);
    assert!(
        bare.contains(r#""success":false"#) && bare.contains("handler not found,topic:dcp"),
        "{bare}"
    );
    let mixed = subscribe(r#""order","execution.linear""#);
    assert!(
        mixed.contains(r#""success":false"#) && mixed.contains("cannot be in the same"),
        "{mixed}"
    );
    let categorised = subscribe(r#""order.linear","execution.linear","position.linear""#);
    assert!(categorised.contains(r#""success":true"#), "{categorised}");
    let dcp = subscribe(r#""dcp.future""#);
    assert!(dcp.contains(r#""success":true"#), "{dcp}");
}

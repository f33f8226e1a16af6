//! Driving the engine's Bybit venue (`feed::bybit::venue::BybitVenue`) as the trading loop
//! does, against `toolkit venue`: building it, polling it until something holds, the orders
//! tests place, and the touch they place them at.

use std::sync::Arc;
use std::time::{Duration, Instant};

use feed::bybit::limits::{RateLimits, Rates};
use feed::bybit::sign::Signer;
use feed::bybit::venue::{BybitVenue, VenueSettings};
use feed::order::{Account, OrderId, OrderRequest, RejectReason, VenueEvent};
use feed::venue::Venue as _;
use feed::{Fixed, Side};

use super::{Venue as LoopbackVenue, WAIT, rest_client, venue_settings};

pub(crate) const KEY: &str = "hotkey01";
pub(crate) const SECRET: &str = "hot-secret-0d1f";
pub(crate) const FILL_WAIT: Duration = Duration::from_secs(90);

pub(crate) fn fx(text: &str) -> Fixed {
    text.parse().unwrap()
}

/// A venue that reconciles over REST.
pub(crate) fn reconciling_venue(venue: &LoopbackVenue, prefix: &str) -> BybitVenue {
    reconciling_venue_with(venue, venue_settings(venue, prefix))
}

/// A venue of `settings` that reconciles over REST.
pub(crate) fn reconciling_venue_with(venue: &LoopbackVenue, settings: VenueSettings) -> BybitVenue {
    let rest = Arc::new(rest_client(venue, KEY, SECRET));
    rest.sync_clock().unwrap();
    BybitVenue::new(
        settings,
        Signer::new(KEY, SECRET).unwrap(),
        Arc::new(RateLimits::new(Rates::BYBIT_LINEAR)),
        rest.clock(),
        Account::flat(fx("10000")),
        Some(rest),
    )
    .unwrap()
}

pub(crate) fn bybit_venue(venue: &LoopbackVenue, prefix: &str) -> BybitVenue {
    let rest = rest_client(venue, KEY, SECRET);
    rest.sync_clock().unwrap();
    BybitVenue::new(
        venue_settings(venue, prefix),
        Signer::new(KEY, SECRET).unwrap(),
        Arc::new(RateLimits::new(Rates::BYBIT_LINEAR)),
        rest.clock(),
        Account::flat(fx("10000")),
        None,
    )
    .unwrap()
}

pub(crate) fn ready(venue: &mut BybitVenue) {
    poll_until(venue, WAIT, BybitVenue::is_ready);
}

/// Polls `venue` until `done` holds, within `within`.
pub(crate) fn poll_until(
    venue: &mut BybitVenue,
    within: Duration,
    done: impl Fn(&BybitVenue) -> bool,
) {
    let deadline = Instant::now() + within;
    while !done(venue) {
        assert!(
            Instant::now() < deadline,
            "not within {within:?}: {:?}",
            venue.stats()
        );
        venue.poll();
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Polls until `until` holds for an event, within `within`; the events on the way.
pub(crate) fn events_until(
    venue: &mut BybitVenue,
    within: Duration,
    until: impl Fn(&VenueEvent) -> bool,
) -> Vec<VenueEvent> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        venue.poll();
        venue.drain_events(|event| seen.push(event));
        if seen.iter().any(&until) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "not seen within {within:?}: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Polls `venue` (its links stay alive) until the loopback venue logs a line with `needle`.
pub(crate) fn poll_until_logged(venue: &mut BybitVenue, loopback: &LoopbackVenue, needle: &str) {
    let deadline = Instant::now() + WAIT;
    while loopback.logged(needle).is_none() {
        assert!(Instant::now() < deadline, "no {needle:?} within {WAIT:?}");
        venue.poll();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Asserts that `events` are one rejection: of order `id`, for `reason`.
#[track_caller]
pub(crate) fn assert_rejected(events: &[VenueEvent], id: u64, reason: RejectReason) {
    assert!(
        matches!(
            events,
            [VenueEvent::Rejected { id: rejected, reason: why, .. }]
                if *rejected == OrderId(id) && *why == reason
        ),
        "{events:?}"
    );
}

pub(crate) fn touch(venue: &LoopbackVenue) -> (Fixed, Fixed) {
    let book = venue.orderbook(1);
    (
        super::levels_of(&book["b"])[0].0,
        super::levels_of(&book["a"])[0].0,
    )
}

pub(crate) fn order(
    id: u64,
    side: Side,
    price: Fixed,
    qty: &str,
    reduce_only: bool,
) -> OrderRequest {
    OrderRequest {
        id: OrderId(id),
        side,
        price,
        qty: fx(qty),
        reduce_only,
    }
}

pub(crate) fn now_ns() -> u64 {
    feed::bybit::rest::local_ms() * 1_000_000
}

/// Polls for `period`, collecting events.
pub(crate) fn poll_for(venue: &mut BybitVenue, period: Duration) -> Vec<VenueEvent> {
    let until = Instant::now() + period;
    let mut seen = Vec::new();
    while Instant::now() < until {
        venue.poll();
        venue.drain_events(|event| seen.push(event));
        std::thread::sleep(Duration::from_millis(2));
    }
    seen
}

/// Everything a venue handed over so far: events and notes, in order.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub(crate) events: Vec<VenueEvent>,
    pub(crate) notes: Vec<feed::venue::VenueNote>,
}

impl Seen {
    /// One poll of `venue`, keeping what it handed over.
    pub(crate) fn poll(&mut self, venue: &mut BybitVenue) {
        venue.poll();
        venue.drain_events(|event| self.events.push(event));
        venue.drain_notes(|note| self.notes.push(note));
    }

    /// Polls `venue` until `done` holds, within `within`.
    pub(crate) fn until(
        &mut self,
        venue: &mut BybitVenue,
        within: Duration,
        done: impl Fn(&Seen, &BybitVenue) -> bool,
    ) {
        let deadline = Instant::now() + within;
        while !done(self, venue) {
            assert!(
                Instant::now() < deadline,
                "not within {within:?}: {:?}\n{:?}\n{:?}",
                venue.stats(),
                self.events,
                self.notes
            );
            self.poll(venue);
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Sends `request` and polls until the venue says it rests.
    pub(crate) fn place_resting(&mut self, venue: &mut BybitVenue, request: OrderRequest) {
        let placed = request.id;
        venue.submit(request, now_ns());
        self.until(venue, WAIT, |seen, _| {
            seen.events
                .iter()
                .any(|event| matches!(event, VenueEvent::Accepted { id, .. } if *id == placed))
        });
    }

    /// What filled of order `id`.
    pub(crate) fn filled(&self, id: OrderId) -> Fixed {
        self.events
            .iter()
            .filter_map(|event| match event {
                VenueEvent::Filled(fill) if fill.id == id => Some(fill.qty),
                _ => None,
            })
            .fold(Fixed::ZERO, Fixed::saturating_add)
    }

    /// How many times order `id` ended (a fill that left nothing, a cancel, a reject).
    pub(crate) fn ends(&self, id: OrderId) -> usize {
        self.events.iter().filter(|event| ends(event, id)).count()
    }

    /// True once order `id` ended.
    pub(crate) fn ended(&self, id: OrderId) -> bool {
        self.ends(id) > 0
    }

    /// The ids of every order an event was about.
    pub(crate) fn orders(&self) -> std::collections::BTreeSet<OrderId> {
        self.events
            .iter()
            .map(|event| match event {
                VenueEvent::Accepted { id, .. }
                | VenueEvent::Rejected { id, .. }
                | VenueEvent::Cancelled { id, .. }
                | VenueEvent::Amended { id, .. }
                | VenueEvent::AmendRejected { id, .. } => *id,
                VenueEvent::Filled(fill) => fill.id,
            })
            .collect()
    }
}

/// True when `event` ends order `id`.
fn ends(event: &VenueEvent, id: OrderId) -> bool {
    match event {
        VenueEvent::Filled(fill) => fill.id == id && fill.leaves_qty.is_zero(),
        VenueEvent::Cancelled { id: ended, .. } | VenueEvent::Rejected { id: ended, .. } => {
            *ended == id
        }
        VenueEvent::Accepted { .. }
        | VenueEvent::Amended { .. }
        | VenueEvent::AmendRejected { .. } => false,
    }
}

/// Places an order of `qty` on `side` at the touch (reduce-only when `exit`), under the next id
/// of `next_id`, until one fills completely; each one that rests 3 s unfilled is cancelled
/// first. The id of the one that filled.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fill_at_touch(
    venue: &mut BybitVenue,
    loopback: &LoopbackVenue,
    seen: &mut Seen,
    next_id: &mut u64,
    side: Side,
    qty: &str,
    exit: bool,
) -> OrderId {
    let deadline = Instant::now() + FILL_WAIT;
    loop {
        assert!(Instant::now() < deadline, "no fill: {:?}", venue.stats());
        *next_id += 1;
        let id = OrderId(*next_id);
        let (bid, ask) = touch(loopback);
        let price = if side == Side::Buy { bid } else { ask };
        seen.until(venue, WAIT, |_, venue| {
            venue.is_ready() && (exit || !venue.is_reconciling())
        });
        venue.submit(order(id.0, side, price, qty, exit), now_ns());
        let rested = Instant::now();
        seen.until(venue, FILL_WAIT, |seen, _| {
            seen.ended(id) || rested.elapsed() > Duration::from_secs(3)
        });
        if !seen.ended(id) {
            venue.cancel(id, now_ns());
            seen.until(venue, FILL_WAIT, |seen, _| seen.ended(id));
        }
        let filled = seen.events.iter().any(|event| {
            matches!(event, VenueEvent::Filled(fill) if fill.id == id && fill.leaves_qty.is_zero())
        });
        if filled {
            return id;
        }
    }
}

/// Asserts that the venue's books and the engine's agree on every order `seen` was told of
/// (under the run's `prefix`): the fills booked are what the venue counts (`cumExecQty`), each
/// order ended exactly once, nothing is left working, and the positions are equal.
pub(crate) fn assert_books_match(
    venue: &BybitVenue,
    rest: &feed::bybit::rest::RestClient,
    prefix: &str,
    seen: &Seen,
) {
    let ids = feed::bybit::trade::LinkIds::new(prefix).unwrap();
    for id in seen.orders() {
        let link = ids.link_id(id);
        let cum = venue_order(rest, link.as_str()).map_or(Fixed::ZERO, |order| order.cum_exec_qty);
        assert_eq!(seen.filled(id), cum, "order {link}: {:?}", seen.events);
        assert_eq!(seen.ends(id), 1, "order {link}: {:?}", seen.events);
    }
    assert_eq!(venue.resting_orders(), 0);
    assert_eq!(
        venue.account().position,
        feed::bybit::rest::snapshot::position(rest, "BTCUSDT").unwrap()
    );
}

/// The venue's record of BTCUSDT's order `link`: closed (history) or open, if it has one.
pub(crate) fn venue_order(
    rest: &feed::bybit::rest::RestClient,
    link: &str,
) -> Option<feed::bybit::private::OrderUpdate> {
    ["/v5/order/history", "/v5/order/realtime"]
        .iter()
        .find_map(|path| {
            let answer = rest
                .call(
                    feed::bybit::rest::Method::Get,
                    path,
                    &format!("category=linear&symbol=BTCUSDT&orderLinkId={link}"),
                    Some(feed::bybit::limits::Endpoint::Query),
                )
                .unwrap();
            feed::bybit::rest::replies::order_page(&answer.body)
                .unwrap()
                .items
                .first()
                .copied()
        })
}

//! A venue whose order gateway pauses: requests sent while it is paused wait and reach the
//! venue when the pause ends, in the order sent; what already rests there goes on trading and
//! its events flow as before (Bybit's order entry stalling while its matching engine runs).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use feed::bybit::public::Trade;
use feed::order::{Account, OrderId, OrderRequest, VenueEvent};
use feed::{Fixed, OrderBook, Venue};

/// A request held back by a pause.
#[derive(Debug, Clone, Copy)]
enum Held {
    Submit(OrderRequest),
    Cancel(OrderId),
    Amend(OrderId, Fixed, Fixed),
}

/// `V` behind an order gateway that pauses over given windows.
pub(crate) struct PausingVenue<V> {
    inner: V,
    /// `[start, end)` receive times, ns, sorted by start.
    pauses: Vec<(u64, u64)>,
    held: Vec<Held>,
    /// When the pause holding `held` ends.
    release_ns: u64,
    /// Requests held back, counted where the caller reads them after the run.
    delayed: Arc<AtomicU64>,
}

impl<V: Venue> PausingVenue<V> {
    /// `inner` paused over `pauses` (`[start, end)`, ns), counting the requests it holds back
    /// in `delayed`.
    pub(crate) fn new(
        inner: V,
        mut pauses: Vec<(u64, u64)>,
        delayed: Arc<AtomicU64>,
    ) -> PausingVenue<V> {
        pauses.sort_unstable();
        PausingVenue {
            inner,
            pauses,
            held: Vec::with_capacity(1024),
            release_ns: 0,
            delayed,
        }
    }

    /// The end of the pause under way at `now_ns` (the latest, where pauses overlap).
    fn paused_until(&self, now_ns: u64) -> Option<u64> {
        self.pauses
            .iter()
            .filter(|&&(start, end)| (start..end).contains(&now_ns))
            .map(|&(_, end)| end)
            .max()
    }

    /// Holds `request` if the gateway is paused at `now_ns`; otherwise hands it back.
    fn hold(&mut self, request: Held, now_ns: u64) -> Option<Held> {
        let until = self.paused_until(now_ns).or_else(|| {
            // Behind requests still held, a request waits its turn.
            (!self.held.is_empty()).then_some(self.release_ns)
        });
        match until {
            Some(until) => {
                self.release_ns = self.release_ns.max(until);
                self.held.push(request);
                self.delayed.fetch_add(1, Ordering::Relaxed);
                None
            }
            None => Some(request),
        }
    }

    fn send(&mut self, request: Held, now_ns: u64) {
        match request {
            Held::Submit(order) => self.inner.submit(order, now_ns),
            Held::Cancel(id) => self.inner.cancel(id, now_ns),
            Held::Amend(id, price, qty) => self.inner.amend(id, price, qty, now_ns),
        }
    }

    /// Sends what was held once its pause is over at `now_ns`.
    fn release(&mut self, now_ns: u64) {
        if self.held.is_empty() || now_ns < self.release_ns {
            return;
        }
        let at = self.release_ns;
        let held = std::mem::take(&mut self.held);
        for request in &held {
            self.send(*request, at);
        }
        self.held = held;
        self.held.clear();
    }
}

impl<V: Venue> Venue for PausingVenue<V> {
    const MAX_EVENTS: usize = V::MAX_EVENTS;
    const AMENDS: bool = V::AMENDS;

    fn submit(&mut self, order: OrderRequest, now_ns: u64) {
        if let Some(request) = self.hold(Held::Submit(order), now_ns) {
            self.send(request, now_ns);
        }
    }

    fn cancel(&mut self, id: OrderId, now_ns: u64) {
        if let Some(request) = self.hold(Held::Cancel(id), now_ns) {
            self.send(request, now_ns);
        }
    }

    fn amend(&mut self, id: OrderId, price: Fixed, qty: Fixed, now_ns: u64) {
        if let Some(request) = self.hold(Held::Amend(id, price, qty), now_ns) {
            self.send(request, now_ns);
        }
    }

    fn drain_events(&mut self, on_event: impl FnMut(VenueEvent)) {
        self.inner.drain_events(on_event);
    }

    fn account(&self) -> &Account {
        self.inner.account()
    }

    fn resting_orders(&self) -> usize {
        self.inner.resting_orders()
    }

    fn advance(&mut self, now_ns: u64, book: &OrderBook) {
        self.release(now_ns);
        self.inner.advance(now_ns, book);
    }

    fn on_book(&mut self, book: &OrderBook, now_ns: u64) {
        self.inner.on_book(book, now_ns);
    }

    fn on_trades(&mut self, trades: &[Trade], now_ns: u64) {
        self.inner.on_trades(trades, now_ns);
    }

    fn settle(&mut self, book: &OrderBook) {
        // The end of the run: the gateway opens for what still waits.
        self.release(u64::MAX);
        self.inner.settle(book);
    }
}

#[cfg(test)]
mod tests {
    use feed::Side;
    use feed::paper::{PaperConfig, PaperVenue};

    use super::*;

    const MS: u64 = 1_000_000;

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    fn book() -> OrderBook {
        feed::fixtures::touch_book(fx("100.0"), fx("100.1"), fx("1"))
    }

    fn order(id: u64) -> OrderRequest {
        OrderRequest {
            id: OrderId(id),
            side: Side::Buy,
            price: fx("100.0"),
            qty: fx("0.5"),
            reduce_only: false,
        }
    }

    /// (id, time) of what the venue accepted and cancelled since the last call.
    fn answers(venue: &mut PausingVenue<PaperVenue>) -> Vec<(&'static str, u64, u64)> {
        let mut answers = Vec::new();
        venue.drain_events(|event| match event {
            VenueEvent::Accepted { id, ts_ns, .. } => answers.push(("accepted", id.0, ts_ns)),
            VenueEvent::Cancelled { id, ts_ns, .. } => answers.push(("cancelled", id.0, ts_ns)),
            _ => {}
        });
        answers
    }

    #[test]
    fn requests_in_a_pause_reach_the_venue_when_it_ends_in_order_and_others_at_once() {
        let paper = PaperVenue::new(PaperConfig::new(fx("10000"), fx("0.0002")));
        let delayed = Arc::new(AtomicU64::new(0));
        let mut venue = PausingVenue::new(paper, vec![(10 * MS, 20 * MS)], Arc::clone(&delayed));
        let book = book();
        venue.submit(order(1), 5 * MS);
        venue.advance(6 * MS, &book);
        assert_eq!(answers(&mut venue), [("accepted", 1, 5 * MS)]);
        venue.submit(order(2), 12 * MS);
        venue.cancel(OrderId(1), 13 * MS);
        venue.advance(19 * MS, &book);
        assert_eq!(answers(&mut venue), []);
        // After the pause, in the order sent, at its end.
        venue.advance(21 * MS, &book);
        assert_eq!(
            answers(&mut venue),
            [("accepted", 2, 20 * MS), ("cancelled", 1, 20 * MS)]
        );
        // Once it is over, at once again.
        venue.cancel(OrderId(2), 30 * MS);
        venue.advance(31 * MS, &book);
        assert_eq!(answers(&mut venue), [("cancelled", 2, 30 * MS)]);
        assert_eq!(
            (delayed.load(Ordering::Relaxed), venue.resting_orders()),
            (2, 0)
        );
    }
}

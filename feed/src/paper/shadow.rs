//! A live venue shadowed by the paper venue.
//!
//! Every order and cancel sent to the venue is also sent to a [`PaperVenue`] fed the same
//! market, and each order's fate at the two is compared once both are done with it: filled at
//! both, at the venue only, at the paper venue only, or at neither, and the gap between their
//! first fills. An order the venue is done with (filled, cancelled, refused) has its shadow
//! cancelled, so the paper venue has until that cancel arrives to fill it too. The fills'
//! markouts are measured at [`SHADOW_MARKOUT_NS`] on both sides. Times are the engine's clock
//! on both sides (`ts_ns`: when the venue's fill was received; when the frame that filled the
//! shadow was). What the paper venue would have done is what labels, the canary and paper
//! trading assume: the comparison says how far that is from the venue's own, live
//! ([`ShadowStats`], in the venue's metrics) and order by order ([`VenueNote::ShadowCompared`],
//! in the decision log, which `toolkit calibrate-fill` reads).
//!
//! An amend is not the paper venue's: its shadow is cancelled and what is left of it placed
//! again at the new price (at the back of the queue, as Bybit puts a repriced order).
//!
//! Nothing allocates after construction: orders compared, markouts waiting and notes live in
//! buffers of fixed capacity; what does not fit is counted and left out.

use crate::book::OrderBook;
use crate::bybit::Trade;
use crate::fixed::Fixed;
use crate::order::{Account, OrderId, OrderRequest, VenueEvent};
use crate::side::Side;
use crate::venue::{Venue, VenueFailure, VenueNote, VenueStats};

use super::PaperVenue;

/// Orders compared at once at most (more than the venue holds: an order stays until both
/// sides are done with it).
const COMPARED: usize = 32;
/// Markouts waiting for their horizon at most.
const PENDING_MARKOUTS: usize = 64;
/// Notes waiting to be drained at most.
const NOTES: usize = 64;
/// The horizon of the compared markouts, ns.
pub const SHADOW_MARKOUT_NS: u64 = 5_000_000_000;

/// How an order's fate at the venue and at its paper shadow compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShadowOutcome {
    /// Both filled it.
    BothFilled,
    /// The venue filled it, the paper venue did not.
    VenueOnly,
    /// The paper venue filled it, the venue did not.
    PaperOnly,
    /// Neither did.
    Neither,
}

impl ShadowOutcome {
    /// Every outcome, in index order.
    pub const ALL: [ShadowOutcome; 4] = [
        ShadowOutcome::BothFilled,
        ShadowOutcome::VenueOnly,
        ShadowOutcome::PaperOnly,
        ShadowOutcome::Neither,
    ];

    /// Label for logs and metrics.
    pub const fn label(self) -> &'static str {
        match self {
            ShadowOutcome::BothFilled => "both_filled",
            ShadowOutcome::VenueOnly => "venue_only",
            ShadowOutcome::PaperOnly => "paper_only",
            ShadowOutcome::Neither => "neither",
        }
    }

    /// Index in [`ShadowStats::outcomes`].
    pub const fn index(self) -> usize {
        self as usize
    }

    const fn of(venue_filled: bool, paper_filled: bool) -> ShadowOutcome {
        match (venue_filled, paper_filled) {
            (true, true) => ShadowOutcome::BothFilled,
            (true, false) => ShadowOutcome::VenueOnly,
            (false, true) => ShadowOutcome::PaperOnly,
            (false, false) => ShadowOutcome::Neither,
        }
    }
}

/// The comparison so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShadowStats {
    /// Orders compared, by [`ShadowOutcome::index`].
    pub outcomes: [u64; 4],
    /// Over orders both filled: the sum of the gaps between their first fills, ns.
    pub fill_gap_ns_sum: u64,
    /// How many gaps that sum holds.
    pub fill_gaps: u64,
    /// Markouts of the fills at [`SHADOW_MARKOUT_NS`], venue then paper: their sum in
    /// millionths of a bps.
    pub markout_micro_bps_sum: [i64; 2],
    /// How many markouts each sum holds.
    pub markouts: [u64; 2],
    /// Orders, markouts and notes left out because their buffer was full.
    pub left_out: u64,
}

/// The venue's side of the comparison, and the paper venue's.
const VENUE: usize = 0;
const PAPER: usize = 1;

/// One side's view of an order.
#[derive(Debug, Clone, Copy, Default)]
struct Fate {
    first_fill_ns: Option<u64>,
    filled: Fixed,
    done: bool,
}

#[derive(Debug, Clone, Copy)]
struct Compared {
    id: OrderId,
    /// By [`VENUE`] and [`PAPER`].
    fates: [Fate; 2],
    /// The shadow is being replaced after an amend: the paper venue's next cancel of it is the
    /// replacement's, not its end.
    replacing: bool,
}

#[derive(Debug, Clone, Copy)]
struct PendingMarkout {
    due_ns: u64,
    side: Side,
    price: Fixed,
    /// [`VENUE`] or [`PAPER`].
    which: usize,
}

/// A live venue and its paper shadow; see the module documentation.
#[derive(Debug)]
pub struct Shadowed<V> {
    venue: V,
    paper: PaperVenue,
    comparison: Comparison,
    /// The latest market time seen, ns.
    now_ns: u64,
}

/// The orders being compared and what the comparison found.
#[derive(Debug)]
struct Comparison {
    compared: Vec<Compared>,
    markouts: Vec<PendingMarkout>,
    notes: Vec<VenueNote>,
    stats: ShadowStats,
}

impl<V: Venue> Shadowed<V> {
    /// `venue`, shadowed by `paper`.
    pub fn new(venue: V, paper: PaperVenue) -> Shadowed<V> {
        Shadowed {
            venue,
            paper,
            comparison: Comparison {
                compared: Vec::with_capacity(COMPARED),
                markouts: Vec::with_capacity(PENDING_MARKOUTS),
                notes: Vec::with_capacity(NOTES),
                stats: ShadowStats::default(),
            },
            now_ns: 0,
        }
    }

    /// The comparison so far.
    pub const fn stats(&self) -> &ShadowStats {
        &self.comparison.stats
    }
}

impl Comparison {
    fn entry(&mut self, id: OrderId) -> Option<&mut Compared> {
        self.compared.iter_mut().find(|entry| entry.id == id)
    }

    /// Notes one side's event about an order, and compares the order once both sides are done
    /// with it. Returns the order whose shadow is to be cancelled: the venue is done with it,
    /// its shadow is not.
    fn track(&mut self, event: &VenueEvent, which: usize) -> Option<OrderId> {
        let (id, fill, done) = match event {
            VenueEvent::Filled(fill) => {
                self.markout(fill.ts_ns, fill.side, fill.price, which);
                (
                    fill.id,
                    Some((fill.ts_ns, fill.qty)),
                    !fill.leaves_qty.is_positive(),
                )
            }
            VenueEvent::Cancelled { id, .. } | VenueEvent::Rejected { id, .. } => (*id, None, true),
            VenueEvent::Accepted { .. }
            | VenueEvent::Amended { .. }
            | VenueEvent::AmendRejected { .. } => return None,
        };
        let index = self.compared.iter().position(|c| c.id == id)?;
        let entry = &mut self.compared[index];
        if which == PAPER && entry.replacing && matches!(event, VenueEvent::Cancelled { .. }) {
            // The old shadow's end; its replacement goes on.
            entry.replacing = false;
            return None;
        }
        let fate = &mut entry.fates[which];
        if let Some((ts_ns, qty)) = fill {
            fate.first_fill_ns.get_or_insert(ts_ns);
            fate.filled = fate.filled.saturating_add(qty);
        }
        fate.done |= done;
        let [venue, paper] = entry.fates;
        if !(venue.done && paper.done) {
            return (which == VENUE && venue.done).then_some(id);
        }
        self.compared.swap_remove(index);
        let (venue_fill, paper_fill) = (venue.first_fill_ns, paper.first_fill_ns);
        let outcome = ShadowOutcome::of(venue_fill.is_some(), paper_fill.is_some());
        self.stats.outcomes[outcome.index()] += 1;
        if let (Some(a), Some(b)) = (venue_fill, paper_fill) {
            self.stats.fill_gap_ns_sum = self.stats.fill_gap_ns_sum.saturating_add(a.abs_diff(b));
            self.stats.fill_gaps += 1;
        }
        self.note(VenueNote::ShadowCompared {
            id,
            venue_fill_ns: venue_fill,
            paper_fill_ns: paper_fill,
        });
        None
    }

    fn markout(&mut self, at_ns: u64, side: Side, price: Fixed, which: usize) {
        if self.markouts.len() == PENDING_MARKOUTS {
            self.stats.left_out += 1;
            return;
        }
        self.markouts.push(PendingMarkout {
            due_ns: at_ns.saturating_add(SHADOW_MARKOUT_NS),
            side,
            price,
            which,
        });
    }

    fn note(&mut self, note: VenueNote) {
        if self.notes.len() == NOTES {
            self.stats.left_out += 1;
        } else {
            self.notes.push(note);
        }
    }
}

impl<V: Venue> Venue for Shadowed<V> {
    const MAX_EVENTS: usize = V::MAX_EVENTS;
    const AMENDS: bool = V::AMENDS;

    fn submit(&mut self, order: OrderRequest, now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
        let comparison = &mut self.comparison;
        if comparison.compared.len() < COMPARED {
            comparison.compared.push(Compared {
                id: order.id,
                fates: [Fate::default(); 2],
                replacing: false,
            });
            self.paper.submit(order, now_ns);
        } else {
            // Not compared, so not shadowed: nothing would end its shadow.
            comparison.stats.left_out += 1;
        }
        self.venue.submit(order, now_ns);
    }

    fn cancel(&mut self, id: OrderId, now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
        self.paper.cancel(id, now_ns);
        self.venue.cancel(id, now_ns);
    }

    fn amend(&mut self, id: OrderId, price: Fixed, qty: Fixed, now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
        if let Some(order) = self.paper.known_order(id) {
            // What the shadow has left of the amended quantity, placed again at the new price.
            let entry = self.comparison.entry(id);
            let filled = entry
                .as_ref()
                .map_or(Fixed::ZERO, |e| e.fates[PAPER].filled);
            let left = qty.saturating_sub(filled);
            self.paper.cancel(id, now_ns);
            if left.is_positive() {
                if let Some(entry) = entry {
                    entry.replacing = true;
                }
                self.paper.submit(
                    OrderRequest {
                        price,
                        qty: left,
                        ..order
                    },
                    now_ns,
                );
            }
        }
        self.venue.amend(id, price, qty, now_ns);
    }

    fn drain_events(&mut self, mut on_event: impl FnMut(VenueEvent)) {
        let (paper, comparison, now_ns) = (&mut self.paper, &mut self.comparison, self.now_ns);
        // The paper venue's events are the comparison's only: they never reach the caller.
        paper.drain_events(|event| {
            comparison.track(&event, PAPER);
        });
        self.venue.drain_events(|event| {
            if let Some(id) = comparison.track(&event, VENUE) {
                paper.cancel(id, now_ns);
            }
            on_event(event);
        });
    }

    fn account(&self) -> &Account {
        self.venue.account()
    }

    fn resting_orders(&self) -> usize {
        self.venue.resting_orders()
    }

    fn poll(&mut self) -> bool {
        self.venue.poll()
    }

    fn drain_notes(&mut self, mut on_note: impl FnMut(VenueNote)) {
        self.venue.drain_notes(&mut on_note);
        for note in self.comparison.notes.drain(..) {
            on_note(note);
        }
    }

    fn live_stats(&self) -> Option<VenueStats> {
        self.venue.live_stats().map(|stats| VenueStats {
            shadow: self.comparison.stats,
            ..stats
        })
    }

    fn failure(&self) -> Option<VenueFailure> {
        self.venue.failure()
    }

    fn advance(&mut self, now_ns: u64, book: &OrderBook) {
        self.now_ns = self.now_ns.max(now_ns);
        self.paper.advance(now_ns, book);
        self.venue.advance(now_ns, book);
    }

    fn on_book(&mut self, book: &OrderBook, now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
        self.paper.on_book(book, now_ns);
        self.venue.on_book(book, now_ns);
        if let Some(mid) = book.mid().filter(|mid| mid.is_positive()) {
            let Comparison {
                markouts, stats, ..
            } = &mut self.comparison;
            markouts.retain(|pending| {
                if pending.due_ns > now_ns {
                    return true;
                }
                let sign = match pending.side {
                    Side::Buy => 1.0,
                    Side::Sell => -1.0,
                };
                let price = pending.price.to_f64();
                let bps = sign * (mid.to_f64() - price) / price * 1e4;
                stats.markout_micro_bps_sum[pending.which] += (bps * 1e6).round() as i64;
                stats.markouts[pending.which] += 1;
                false
            });
        }
    }

    fn on_trades(&mut self, trades: &[Trade], now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
        self.paper.on_trades(trades, now_ns);
        self.venue.on_trades(trades, now_ns);
    }

    /// The venue settles first; then every shadow still working is cancelled and the paper
    /// venue settled, so the orders of the session are all compared by the time the caller
    /// drains the venue's last events.
    fn settle(&mut self, book: &OrderBook) {
        self.venue.settle(book);
        for entry in &self.comparison.compared {
            if !entry.fates[PAPER].done {
                self.paper.cancel(entry.id, self.now_ns);
            }
        }
        self.paper.settle(book);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code

    use super::*;
    use crate::fixtures::{print, touch_book};
    use crate::paper::PaperConfig;
    use crate::paper::latency::LogNormalLatency;

    const MS: u64 = 1_000_000;

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    fn paper(latency_ns: u64) -> PaperVenue {
        PaperVenue::new(PaperConfig {
            entry_latency: LogNormalLatency {
                min_ns: latency_ns,
                median_ns: 0,
                sigma: 0.0,
            },
            ..PaperConfig::new(fx("10000"), fx("0.0002"))
        })
    }

    fn order(id: u64, side: Side, price: &str) -> OrderRequest {
        OrderRequest {
            id: OrderId(id),
            side,
            price: fx(price),
            qty: fx("1"),
            reduce_only: false,
        }
    }

    /// Real mode amends through the wrapper as through the venue it wraps.
    const _: () = assert!(<Shadowed<crate::bybit::venue::BybitVenue> as Venue>::AMENDS);

    /// A venue that answers at once, shadowed by a paper venue 10 ms away: a print the venue's
    /// order meets before its shadow has arrived fills only the venue's (the venue done with
    /// it, its shadow is cancelled); a new level both reach in time fills both at the same
    /// print; an order cancelled at once fills neither. Each comparison is noted, counted, and
    /// the fills' markouts measured.
    #[test]
    fn each_order_is_compared_with_its_shadow_once_both_are_done() {
        let book = touch_book(fx("100.0"), fx("100.1"), fx("2"));
        let mut venue = Shadowed::new(paper(0), paper(10 * MS));
        let mut events = Vec::new();
        let mut step = |venue: &mut Shadowed<PaperVenue>, now: u64, trades: &[Trade]| {
            venue.advance(now, &book);
            venue.on_trades(trades, now);
            venue.on_book(&book, now);
            venue.drain_events(|event| events.push(event));
        };
        venue.submit(order(1, Side::Buy, "100.0"), 0);
        step(&mut venue, MS, &[]);
        // 3 sold at 100.0: 2 ahead, then the venue's order; its shadow is not there yet.
        step(
            &mut venue,
            5 * MS,
            &[print(Side::Sell, fx("100.0"), fx("3"))],
        );
        venue.cancel(OrderId(1), 20 * MS);
        step(&mut venue, 30 * MS, &[]);
        // A level of its own at 99.9: both orders are there when 1 is sold at it.
        venue.submit(order(2, Side::Buy, "99.9"), 30 * MS);
        step(&mut venue, 45 * MS, &[]);
        step(
            &mut venue,
            50 * MS,
            &[print(Side::Sell, fx("99.9"), fx("1"))],
        );
        // Placed and cancelled at once: neither fills.
        venue.submit(order(3, Side::Sell, "100.1"), 60 * MS);
        venue.cancel(OrderId(3), 61 * MS);
        step(&mut venue, 80 * MS, &[]);
        // 5 s after the fills, the mid is 100.05.
        step(&mut venue, 5_100 * MS, &[]);

        let mut notes = Vec::new();
        venue.drain_notes(|note| notes.push(note));
        let compared = |id, venue_fill_ns, paper_fill_ns| VenueNote::ShadowCompared {
            id: OrderId(id),
            venue_fill_ns,
            paper_fill_ns,
        };
        assert_eq!(
            notes,
            [
                compared(1, Some(5 * MS), None),
                compared(2, Some(50 * MS), Some(50 * MS)),
                compared(3, None, None),
            ]
        );
        let stats = *venue.stats();
        assert_eq!(stats.outcomes, [1, 1, 0, 1]);
        assert_eq!((stats.fill_gaps, stats.fill_gap_ns_sum), (1, 0));
        // Venue: +5 bps on 100.0 and +15.015 bps on 99.9; paper: the latter only.
        assert_eq!(stats.markouts, [2, 1]);
        assert_eq!(stats.markout_micro_bps_sum, [20_015_015, 15_015_015]);
        assert_eq!(stats.left_out, 0);
        // Only the venue's events reach the caller: two fills, one refused cancel (the order
        // had filled), three acks, one cancel.
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, VenueEvent::Filled(_)))
                .count(),
            2
        );
        assert_eq!(events.len(), 7, "{events:?}");
    }

    /// An amended order's shadow is replaced at the new price (its old shadow's end is not the
    /// order's) and fills there; the venue (which takes no amend here) leaves the order where
    /// it was, unfilled, until it is cancelled: the paper venue alone filled it. At the end,
    /// settling cancels what is still shadowed, so every order is compared.
    #[test]
    fn an_amended_order_is_shadowed_at_its_new_price_and_settling_compares_the_rest() {
        let book = touch_book(fx("100.0"), fx("100.1"), fx("2"));
        let mut venue = Shadowed::new(paper(0), paper(10 * MS));
        let step = |venue: &mut Shadowed<PaperVenue>, now: u64, trades: &[Trade]| {
            venue.advance(now, &book);
            venue.on_trades(trades, now);
            venue.on_book(&book, now);
            venue.drain_events(|_| {});
        };
        venue.submit(order(4, Side::Buy, "99.8"), 0);
        step(&mut venue, 20 * MS, &[]);
        venue.amend(OrderId(4), fx("99.9"), fx("1"), 20 * MS);
        step(&mut venue, 40 * MS, &[]);
        step(
            &mut venue,
            50 * MS,
            &[print(Side::Sell, fx("99.9"), fx("1"))],
        );
        venue.cancel(OrderId(4), 60 * MS);
        step(&mut venue, 80 * MS, &[]);
        // Order 5 rests at both when the session ends.
        venue.submit(order(5, Side::Buy, "99.5"), 80 * MS);
        step(&mut venue, 100 * MS, &[]);
        venue.cancel(OrderId(5), 100 * MS);
        venue.settle(&book);
        venue.drain_events(|_| {});
        let mut notes = Vec::new();
        venue.drain_notes(|note| notes.push(note));
        assert_eq!(
            notes,
            [
                VenueNote::ShadowCompared {
                    id: OrderId(4),
                    venue_fill_ns: None,
                    paper_fill_ns: Some(50 * MS),
                },
                VenueNote::ShadowCompared {
                    id: OrderId(5),
                    venue_fill_ns: None,
                    paper_fill_ns: None,
                },
            ]
        );
        assert_eq!(venue.stats().outcomes, [0, 0, 1, 1]);
    }
}

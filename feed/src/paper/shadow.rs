//! A live venue shadowed by the paper venue.
//!
//! Every order and cancel sent to the venue is also sent to a [`PaperVenue`] fed the same
//! market, and each order's fate at the two is compared once both are done with it: filled at
//! both, at the venue only, at the paper venue only, or at neither, and the gap between their
//! first fills. The fills' markouts are measured at [`SHADOW_MARKOUT_NS`] on both sides. What
//! the paper venue would have done is what labels, the canary and paper trading assume: the
//! comparison says how far that is from the venue's own, live ([`ShadowStats`], in the venue's
//! metrics) and order by order ([`VenueNote::ShadowCompared`], in the decision log, which
//! `toolkit calibrate-fill` reads).
//!
//! An amend is not the paper venue's: its shadow is cancelled and placed again at the new
//! price and quantity (at the back of the queue, as Bybit puts a repriced order).
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

/// One side's view of an order.
#[derive(Debug, Clone, Copy, Default)]
struct Fate {
    first_fill_ns: Option<u64>,
    done: bool,
}

#[derive(Debug, Clone, Copy)]
struct Compared {
    id: OrderId,
    venue: Fate,
    paper: Fate,
}

#[derive(Debug, Clone, Copy)]
struct PendingMarkout {
    due_ns: u64,
    side: Side,
    price: Fixed,
    /// 0: the venue's fill, 1: the paper venue's.
    which: usize,
}

/// A live venue and its paper shadow; see the module documentation.
#[derive(Debug)]
pub struct Shadowed<V> {
    venue: V,
    paper: PaperVenue,
    comparison: Comparison,
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
        }
    }

    /// The venue shadowed.
    pub const fn venue(&self) -> &V {
        &self.venue
    }

    /// The comparison so far.
    pub const fn stats(&self) -> &ShadowStats {
        &self.comparison.stats
    }

    fn drain_paper(&mut self) {
        // The paper venue's events are the comparison's only: they never reach the caller.
        let comparison = &mut self.comparison;
        self.paper.drain_events(|event| comparison.track(&event, 1));
    }
}

impl Comparison {
    /// Notes one side's event about an order (`which`: 0 the venue, 1 the paper venue), and
    /// compares the order once both sides are done with it.
    fn track(&mut self, event: &VenueEvent, which: usize) {
        let (id, fill, done) = match event {
            VenueEvent::Filled(fill) => {
                // The venue's time of the fill when it sent one.
                let at = if fill.venue_ms > 0 {
                    fill.venue_ms.saturating_mul(1_000_000)
                } else {
                    fill.ts_ns
                };
                self.markout(at, fill.side, fill.price, which);
                (fill.id, Some(at), !fill.leaves_qty.is_positive())
            }
            VenueEvent::Cancelled { id, .. } | VenueEvent::Rejected { id, .. } => (*id, None, true),
            VenueEvent::Accepted { .. }
            | VenueEvent::Amended { .. }
            | VenueEvent::AmendRejected { .. } => return,
        };
        let Some(index) = self.compared.iter().position(|c| c.id == id) else {
            return;
        };
        let entry = &mut self.compared[index];
        let fate = if which == 0 {
            &mut entry.venue
        } else {
            &mut entry.paper
        };
        if fate.first_fill_ns.is_none() {
            fate.first_fill_ns = fill;
        }
        fate.done |= done;
        if !(entry.venue.done && entry.paper.done) {
            return;
        }
        let entry = self.compared.swap_remove(index);
        let (venue_fill, paper_fill) = (entry.venue.first_fill_ns, entry.paper.first_fill_ns);
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

    fn submit(&mut self, order: OrderRequest, now_ns: u64) {
        let comparison = &mut self.comparison;
        if comparison.compared.len() < COMPARED {
            comparison.compared.push(Compared {
                id: order.id,
                venue: Fate::default(),
                paper: Fate::default(),
            });
        } else {
            comparison.stats.left_out += 1;
        }
        self.paper.submit(order, now_ns);
        self.venue.submit(order, now_ns);
    }

    fn cancel(&mut self, id: OrderId, now_ns: u64) {
        self.paper.cancel(id, now_ns);
        self.venue.cancel(id, now_ns);
    }

    fn amend(&mut self, id: OrderId, price: Fixed, qty: Fixed, now_ns: u64) {
        if let Some(order) = self.paper.order(id) {
            self.paper.cancel(id, now_ns);
            self.paper.submit(
                OrderRequest {
                    price,
                    qty,
                    ..order
                },
                now_ns,
            );
        }
        self.venue.amend(id, price, qty, now_ns);
    }

    fn drain_events(&mut self, mut on_event: impl FnMut(VenueEvent)) {
        self.drain_paper();
        let comparison = &mut self.comparison;
        self.venue.drain_events(|event| {
            comparison.track(&event, 0);
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
        self.paper.advance(now_ns, book);
        self.venue.advance(now_ns, book);
    }

    fn on_book(&mut self, book: &OrderBook, now_ns: u64) {
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
        self.paper.on_trades(trades, now_ns);
        self.venue.on_trades(trades, now_ns);
    }

    fn settle(&mut self, book: &OrderBook) {
        self.paper.settle(book);
        self.venue.settle(book);
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

    /// A venue that answers at once, shadowed by a paper venue 10 ms away: a print the venue's
    /// order meets before its shadow has arrived fills only the venue's; a new level both
    /// reach in time fills both at the same print; an order cancelled at once fills neither.
    /// Each comparison is noted, counted, and the fills' markouts measured.
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
}

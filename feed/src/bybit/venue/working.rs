//! The life of one working order at Bybit, as one state machine whose transitions hold in any
//! order of the messages that drive it.
//!
//! Bybit does not order its topics with each other: an order's `order` push may come before or
//! after its `execution`s, the trade stream's answer before or after either, and a REST
//! snapshot may be older than the last push. Each transition is named for what arrived and
//! assumes nothing about what came before:
//!
//! ```text
//!          send          answered                 pushed New, or a fill
//!   Held ───────► Sent ───────────► Acknowledged ─────────────────────────► Live
//!                  │ no answer, a link     │ no push in time                  │
//!                  │ lost mid-request      ▼                                  │ pushed terminal
//!                  └──────────────────► Unknown ──── pushed, a fill, ───►     │ with fills the
//!                                                    the snapshot            ▼ venue reported
//!                                                                       Draining   unbooked
//!   ended: the venue's verdict is known and every fill it reported is booked (or the venue
//!   never saw the order); the loop hears the end exactly once.
//! ```
//!
//! - **Sent, Acknowledged**: the create is on its way, or answered ("accepted" means taken,
//!   not resting); no push yet. An answer not followed by its push in
//!   [`PUSH_TIMEOUT_NS`] makes the fate unknown.
//! - **Live**: an `order` push said `New` / `PartiallyFilled`, or a fill came: the loop hears
//!   [`VenueEvent::Accepted`] once.
//! - **Draining**: the venue's terminal push came (`Filled`, `Cancelled`, ...) while fills it
//!   counts (`cumExecQty`) are not booked yet: the order waits for their executions, for
//!   [`FILLS_TIMEOUT_NS`] before doubt; it never ends with a fill unbooked.
//! - **Unknown**: the create's fate is not known (an answer lost or saying nothing sure, a link
//!   lost mid-request, an answer without its push): reconciliation settles it.
//!
//! A push older than what is known (an earlier `updatedTime`, less filled, an open status after
//! a terminal one) is stale and changes nothing. Fills are booked by quantity: an execution
//! counts whichever state the order is in, and the order's leaves are its quantity less what is
//! booked. A cancel has a life of its own beside the order's ([`Cancel`]): wanted, sent,
//! answered (then the terminal push is awaited), refused (sent again after a pause, a few times,
//! then left to reconciliation).

use crate::fixed::Fixed;
use crate::order::{Fill, OrderId, OrderRequest, RejectReason, VenueEvent};
use crate::venue::{CancelKind, Doubt, VenueNote};

use super::super::private::{OrderIdText, OrderStatus, OrderUpdate};

/// An answer said done, with no `order` push this long after: the push counts as lost.
pub(crate) const PUSH_TIMEOUT_NS: u64 = 3_000_000_000;
/// Fills the venue reported, not booked this long after: their executions count as lost.
pub(crate) const FILLS_TIMEOUT_NS: u64 = 3_000_000_000;
/// A refused cancel is sent again after this long times the refusals so far.
const CANCEL_RETRY_NS: u64 = 1_000_000_000;
/// Refusals of a cancel after which it waits for reconciliation.
const CANCEL_REFUSALS: u8 = 3;

/// Where a working order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Not sent yet: an exit held until a link, a token or certainty about the position lets
    /// it go.
    Held,
    /// Sent; neither answered nor pushed yet.
    Sent,
    /// The venue answered that it took the create; no push yet.
    Acknowledged,
    /// Resting at the venue, as a push or a fill said.
    Live,
    /// The venue's verdict came; fills it reported are still to be booked.
    Draining,
    /// The create's fate is unknown: for reconciliation.
    Unknown,
}

/// How the venue ended an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Filled completely.
    Filled,
    /// Cancelled (possibly after some fills): on request, or by the venue (`outside`).
    Cancelled,
    /// Refused: it never rested.
    Rejected(RejectReason),
}

/// The cancel of a working order, beside the order's own life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Cancel {
    /// The loop asked for it: sent, and sent again, until the order is gone.
    pub(crate) wanted: bool,
    /// On its way, or answered (the order's end is then awaited).
    pub(crate) sent: bool,
    /// Refusals so far (neither a rate limit nor the clock).
    refusals: u8,
    /// Not sent again before then (monotonic ns).
    retry_after_ns: u64,
}

/// What a deadline of the order is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// The `order` push an answer promised.
    Push(u64),
    /// The executions of fills the venue reported.
    Fills(u64),
}

impl Due {
    const fn at(self) -> u64 {
        match self {
            Due::Push(at) | Due::Fills(at) => at,
        }
    }
}

/// What a transition asks of the venue beyond the events it handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Step {
    /// The order ended: it leaves the table.
    pub(crate) ended: bool,
    /// The state is in doubt: reconcile.
    pub(crate) doubt: Option<Doubt>,
    /// For the decision log.
    pub(crate) note: Option<VenueNote>,
    /// Entries are to halt for the session (a liquidation is being prepared).
    pub(crate) halt_entries: bool,
    /// The message was older than what is known, and changed nothing.
    pub(crate) stale: bool,
    /// The venue's verdict came before all its fills: the order drains.
    pub(crate) draining: bool,
    /// Reconciliation could not settle it (created after the snapshot was asked): again.
    pub(crate) deferred: bool,
    /// An amend's push did not come in time: the amend counts as refused.
    pub(crate) amend_lost: bool,
}

/// When and how the loop hears of a change: the loop's time, and the venue's own stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// The loop's clock, ns since the epoch (what every record of the decision log carries).
    pub(crate) ts_ns: u64,
    /// The venue's time stamp of the message, ms (0: none).
    pub(crate) venue_ms: u64,
    /// The monotonic clock, ns (what deadlines are kept in).
    pub(crate) mono_ns: u64,
}

/// One order the venue works on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WorkingOrder {
    /// The order as it stands: the client's id, side and reduce-only flag as sent, price and
    /// quantity as the venue last said (an amend changes them).
    pub(crate) order: OrderRequest,
    /// The venue's id (empty until an answer or a push gives it).
    pub(crate) venue_id: OrderIdText,
    pub(crate) stage: Stage,
    /// Placed by someone else and adopted: known by its venue id.
    pub(crate) adopted: bool,
    /// The venue-clock stamp of the create, ms: a snapshot asked before it was sent cannot say
    /// the venue never saw it.
    pub(crate) sent_stamp_ms: u64,
    pub(crate) cancel: Cancel,
    pub(crate) due: Option<Due>,
    /// [`VenueEvent::Accepted`] handed over.
    accepted: bool,
    /// Quantity of the fills booked.
    booked: Fixed,
    /// The most the venue said has filled (`cumExecQty`).
    venue_filled: Fixed,
    /// The venue's verdict, once it came (while draining).
    verdict: Option<Verdict>,
    /// `updatedTime` of the latest push or snapshot applied, ms.
    last_update_ms: u64,
    /// An amend taken or on its way: the terms it asks for (price, whole quantity).
    amend: Option<(Fixed, Fixed)>,
}

impl WorkingOrder {
    fn new(order: OrderRequest, stage: Stage, sent_stamp_ms: u64) -> WorkingOrder {
        WorkingOrder {
            order,
            venue_id: OrderIdText::EMPTY,
            stage,
            adopted: false,
            sent_stamp_ms,
            cancel: Cancel::default(),
            due: None,
            accepted: false,
            booked: Fixed::ZERO,
            venue_filled: Fixed::ZERO,
            verdict: None,
            last_update_ms: 0,
            amend: None,
        }
    }

    /// `order`, held back: to be sent by a later poll.
    pub(crate) fn held(order: OrderRequest) -> WorkingOrder {
        WorkingOrder::new(order, Stage::Held, 0)
    }

    /// `order`, sent with the venue-clock stamp `stamp_ms`.
    pub(crate) fn sent(order: OrderRequest, stamp_ms: u64) -> WorkingOrder {
        WorkingOrder::new(order, Stage::Sent, stamp_ms)
    }

    /// Open order `open` of another client, adopted as `id`: what filled before adoption is in
    /// the venue's position already, and counts as booked.
    pub(crate) fn adopted(open: &OrderUpdate, id: OrderId) -> WorkingOrder {
        let order = OrderRequest {
            id,
            side: open.side,
            price: open.price.unwrap_or(Fixed::ZERO),
            qty: open.qty,
            reduce_only: open.reduce_only,
        };
        WorkingOrder {
            venue_id: open.order_id,
            adopted: true,
            accepted: true,
            booked: open.cum_exec_qty,
            venue_filled: open.cum_exec_qty,
            last_update_ms: open.updated_time,
            ..WorkingOrder::new(order, Stage::Live, open.created_time)
        }
    }

    /// The client's id.
    pub(crate) const fn id(&self) -> OrderId {
        self.order.id
    }

    /// Quantity of the fills booked.
    #[cfg(test)]
    pub(crate) const fn booked(&self) -> Fixed {
        self.booked
    }

    /// True while the venue reported fills not booked yet.
    pub(crate) fn fills_pending(&self) -> bool {
        self.venue_filled > self.booked
    }

    /// Held → Sent: the create left with the venue-clock stamp `stamp_ms`.
    pub(crate) fn send(&mut self, stamp_ms: u64) {
        self.stage = Stage::Sent;
        self.sent_stamp_ms = stamp_ms;
    }

    /// Sent → Held: it could not leave after all (REST refused to take it now).
    pub(crate) fn hold(&mut self) {
        if self.stage == Stage::Sent {
            self.stage = Stage::Held;
        }
    }

    /// The venue answered that it took the create (`venue_id`): its push is awaited.
    pub(crate) fn acknowledged(&mut self, venue_id: OrderIdText, now_ns: u64) {
        if !venue_id.is_empty() {
            self.venue_id = venue_id;
        }
        if matches!(self.stage, Stage::Sent | Stage::Unknown) {
            self.stage = Stage::Acknowledged;
            self.due = Some(Due::Push(now_ns + PUSH_TIMEOUT_NS));
        }
    }

    /// The venue refused the create at the door for `reason`: it never rested, unless a push or
    /// a fill already said otherwise (the push is the truth).
    pub(crate) fn refused(
        &mut self,
        reason: RejectReason,
        at: Stamp,
        events: &mut Vec<VenueEvent>,
    ) -> Step {
        if !matches!(
            self.stage,
            Stage::Held | Stage::Sent | Stage::Acknowledged | Stage::Unknown
        ) || self.accepted
        {
            return Step {
                stale: true,
                ..Step::default()
            };
        }
        let mut step = Step {
            ended: true,
            ..Step::default()
        };
        if reason == RejectReason::ReduceOnlyNotSatisfied {
            step.doubt = Some(Doubt::ReduceOnlyRefused);
        }
        self.finish(Verdict::Rejected(reason), at, events);
        step
    }

    /// The create's fate is unknown (no answer in time, an answer that said nothing sure, the
    /// link lost while it was on its way): an order not known to exist becomes Unknown.
    pub(crate) fn lost(&mut self) -> Step {
        if matches!(self.stage, Stage::Sent | Stage::Acknowledged) {
            self.stage = Stage::Unknown;
            self.due = None;
        }
        Step {
            doubt: Some(Doubt::UnknownFate),
            note: Some(VenueNote::UnknownFate { id: self.id() }),
            ..Step::default()
        }
    }

    /// An `order` push (or a snapshot's view of the order) arrived.
    pub(crate) fn pushed(
        &mut self,
        update: &OrderUpdate,
        at: Stamp,
        events: &mut Vec<VenueEvent>,
    ) -> Step {
        let stale = update.updated_time < self.last_update_ms
            || update.cum_exec_qty < self.venue_filled
            || (update.status.is_open() && self.verdict.is_some());
        if stale {
            return Step {
                stale: true,
                ..Step::default()
            };
        }
        self.last_update_ms = update.updated_time;
        if !update.order_id.is_empty() {
            self.venue_id = update.order_id;
        }
        self.venue_filled = update.cum_exec_qty;
        // The venue's terms (an amend changes them).
        let terms_before = (self.order.price, self.order.qty);
        if let Some(price) = update.price.filter(|price| price.is_positive()) {
            self.order.price = price;
        }
        if update.qty.is_positive() {
            self.order.qty = update.qty;
        }
        let at = Stamp {
            venue_ms: update.updated_time,
            ..at
        };
        if update.status.is_open() {
            self.stage = Stage::Live;
            // The push of the amend's terms ends it; terms changed without one (an amend whose
            // push came after it was given up, or a change made from outside) are told too.
            let terms = (self.order.price, self.order.qty);
            let answered = self.amend == Some(terms);
            if answered {
                self.amend = None;
                self.due = None;
            }
            if answered || terms != terms_before {
                events.push(VenueEvent::Amended {
                    id: self.id(),
                    price: terms.0,
                    qty: terms.1,
                    ts_ns: at.ts_ns,
                    venue_ms: at.venue_ms,
                });
            }
            // The push awaited after a create came; after a cancel, only the end will do.
            if !self.cancel.sent {
                self.due = None;
            }
            self.accept(at, events);
            self.await_fills(at.mono_ns);
            return Step::default();
        }
        let (verdict, kind) = verdict_of(update, self.cancel.wanted);
        let mut step = Step::default();
        if let Some(kind) = kind {
            step.note = Some(VenueNote::OutsideCancel {
                id: self.id(),
                kind,
            });
            match kind {
                CancelKind::PrepareLiquidation => {
                    step.halt_entries = true;
                    step.doubt = Some(Doubt::OutsideCancel);
                }
                CancelKind::Admin => step.doubt = Some(Doubt::OutsideCancel),
                CancelKind::ReduceOnly => step.doubt = Some(Doubt::ReduceOnlyRefused),
                CancelKind::SelfMatch | CancelKind::Dcp | CancelKind::Other => {}
            }
        }
        if self.fills_pending() {
            if self.venue_filled.is_positive() {
                self.accept(at, events);
            }
            if self.stage != Stage::Draining {
                step.draining = true;
            }
            self.stage = Stage::Draining;
            self.verdict = Some(verdict);
            self.due = Some(Due::Fills(at.mono_ns + FILLS_TIMEOUT_NS));
            return step;
        }
        self.finish(verdict, at, events);
        step.ended = true;
        step
    }

    /// A fill of the order, booked by the caller (`fill`'s price, quantity, fee and realized
    /// PnL set): handed over as [`VenueEvent::Filled`] with its leaves, after
    /// [`VenueEvent::Accepted`] if the order had not been heard of yet, and before the order's
    /// end if this was the fill it waited for.
    pub(crate) fn executed(&mut self, mut fill: Fill, events: &mut Vec<VenueEvent>) -> Step {
        self.booked = self.booked.saturating_add(fill.qty);
        self.venue_filled = self.venue_filled.max(self.booked);
        let at = Stamp {
            ts_ns: fill.ts_ns,
            venue_ms: fill.venue_ms,
            mono_ns: 0,
        };
        if matches!(
            self.stage,
            Stage::Held | Stage::Sent | Stage::Acknowledged | Stage::Unknown
        ) {
            // A fill proves the order rests (or rested).
            self.stage = Stage::Live;
            if !self.cancel.sent {
                self.due = None;
            }
        }
        self.accept(at, events);
        fill.id = self.id();
        fill.side = self.order.side;
        fill.leaves_qty = self.order.qty.saturating_sub(self.booked).max(Fixed::ZERO);
        events.push(VenueEvent::Filled(fill));
        if !fill.leaves_qty.is_positive() {
            // Its last fill ends it, whatever push is still to come.
            return Step {
                ended: true,
                ..Step::default()
            };
        }
        if self.fills_pending() {
            return Step::default();
        }
        if matches!(self.due, Some(Due::Fills(_))) {
            self.due = None;
        }
        match (self.stage, self.verdict) {
            (Stage::Draining, Some(verdict)) => {
                self.finish(verdict, at, events);
                Step {
                    ended: true,
                    ..Step::default()
                }
            }
            _ => Step::default(),
        }
    }

    /// A deadline passed at `now_ns` (monotonic) without what it waited for.
    pub(crate) fn overdue(&mut self, now_ns: u64) -> Step {
        match self.due {
            Some(due) if now_ns >= due.at() => {
                self.due = None;
                match due {
                    // The amend's push did not come: it stands as it was, as far as the loop
                    // knows (a late push with the new terms just updates them).
                    Due::Push(_) if self.amend.is_some() && self.stage == Stage::Live => Step {
                        amend_lost: true,
                        ..Step::default()
                    },
                    Due::Push(_) => self.lost(),
                    Due::Fills(_) => Step {
                        doubt: Some(Doubt::FillsOverdue),
                        note: Some(VenueNote::UnknownFate { id: self.id() }),
                        ..Step::default()
                    },
                }
            }
            _ => Step::default(),
        }
    }

    /// A snapshot asked at `asked_ms` (venue clock) found the order neither open nor closed
    /// at the venue. Lists read after `asked_ms` hold every order created before it, so the
    /// venue does not know the order (it never arrived, or the venue forgot it in a restart)
    /// only when its create's stamp is older than `asked_ms` by more than the receive window
    /// (`recv_window_ms`, the longest the venue takes a create late). An order created closer
    /// to the snapshot, even one already heard of, may be in neither list: asked again.
    pub(crate) fn absent(
        &mut self,
        asked_ms: u64,
        recv_window_ms: u64,
        at: Stamp,
        events: &mut Vec<VenueEvent>,
    ) -> Step {
        if self.sent_stamp_ms.saturating_add(recv_window_ms) >= asked_ms {
            return Step {
                deferred: true,
                ..Step::default()
            };
        }
        self.finish(
            Verdict::Rejected(RejectReason::VenueUnavailable),
            at,
            events,
        );
        Step {
            ended: true,
            ..Step::default()
        }
    }

    /// True when an amend may be sent for it now: resting, neither being cancelled nor amended.
    pub(crate) fn amendable(&self) -> bool {
        self.stage == Stage::Live && !self.cancel.wanted && self.amend.is_none()
    }

    /// The loop asked to move it to `price` for `qty`: a held order is changed at once (it
    /// was never sent), [`VenueEvent::Amended`] handed over; any other awaits the venue.
    pub(crate) fn amend_requested(
        &mut self,
        price: Fixed,
        qty: Fixed,
        at: Stamp,
        events: &mut Vec<VenueEvent>,
    ) {
        if self.stage == Stage::Held {
            self.order.price = price;
            self.order.qty = qty;
            events.push(VenueEvent::Amended {
                id: self.id(),
                price,
                qty,
                ts_ns: at.ts_ns,
                venue_ms: 0,
            });
            return;
        }
        self.amend = Some((price, qty));
    }

    /// The venue took the amend: the push with the new terms is awaited, for
    /// [`PUSH_TIMEOUT_NS`].
    pub(crate) fn amend_taken(&mut self, now_ns: u64) {
        if self.amend.is_some() && self.stage != Stage::Draining {
            self.due = Some(Due::Push(now_ns + PUSH_TIMEOUT_NS));
        }
    }

    /// The venue would not amend it (or the answer was lost): it stands as it was, and the
    /// loop hears [`VenueEvent::AmendRejected`].
    pub(crate) fn amend_refused(&mut self, at: Stamp, events: &mut Vec<VenueEvent>) {
        if self.amend.take().is_some() {
            events.push(VenueEvent::AmendRejected {
                id: self.id(),
                ts_ns: at.ts_ns,
            });
        }
    }

    /// The loop asked to cancel it: a held order ends at once (never sent); any other waits
    /// for its cancel to go.
    pub(crate) fn want_cancel(&mut self, at: Stamp, events: &mut Vec<VenueEvent>) -> Step {
        if self.stage == Stage::Held {
            self.finish(Verdict::Cancelled, at, events);
            return Step {
                ended: true,
                ..Step::default()
            };
        }
        self.cancel.wanted = true;
        Step::default()
    }

    /// True when its cancel is to be sent now (`now_ns` monotonic).
    pub(crate) fn cancel_due(&self, now_ns: u64) -> bool {
        self.cancel.wanted
            && !self.cancel.sent
            && self.stage != Stage::Held
            && now_ns >= self.cancel.retry_after_ns
    }

    /// Its cancel left.
    pub(crate) fn cancel_sent(&mut self) {
        self.cancel.sent = true;
    }

    /// Its cancel is to be sent again (the link it left on was lost, or reconciliation found
    /// the order still open with no cancel on its way).
    pub(crate) fn cancel_again(&mut self) {
        if self.cancel.wanted {
            self.cancel = Cancel {
                wanted: true,
                ..Cancel::default()
            };
        }
    }

    /// The venue took the cancel (or said the order is already gone): the terminal push is
    /// awaited, for [`PUSH_TIMEOUT_NS`].
    pub(crate) fn cancel_taken(&mut self, now_ns: u64) {
        if self.stage != Stage::Draining {
            self.due = Some(Due::Push(now_ns + PUSH_TIMEOUT_NS));
        }
    }

    /// The cancel was not taken for a reason that passes (a rate limit, the clock): sent again
    /// once the bucket or the clock allows.
    pub(crate) fn cancel_deferred(&mut self) {
        self.cancel.sent = false;
    }

    /// The venue refused the cancel (`now_ns` monotonic): sent again after a growing pause, a
    /// few times; then the state is in doubt and reconciliation sends it again if the order is
    /// still open.
    pub(crate) fn cancel_refused(&mut self, now_ns: u64) -> Step {
        self.cancel.sent = false;
        self.cancel.refusals = self.cancel.refusals.saturating_add(1);
        if self.cancel.refusals >= CANCEL_REFUSALS {
            self.cancel.retry_after_ns = u64::MAX;
            return Step {
                doubt: Some(Doubt::UnknownFate),
                note: Some(VenueNote::UnknownFate { id: self.id() }),
                ..Step::default()
            };
        }
        self.cancel.retry_after_ns = now_ns + CANCEL_RETRY_NS * u64::from(self.cancel.refusals);
        Step::default()
    }

    /// Hands [`VenueEvent::Accepted`] over, once.
    fn accept(&mut self, at: Stamp, events: &mut Vec<VenueEvent>) {
        if !self.accepted {
            self.accepted = true;
            events.push(VenueEvent::Accepted {
                id: self.id(),
                queue_ahead: Fixed::ZERO,
                ts_ns: at.ts_ns,
                venue_ms: at.venue_ms,
            });
        }
    }

    /// While the venue reports fills not booked, their executions are awaited.
    fn await_fills(&mut self, now_ns: u64) {
        if self.fills_pending() && !matches!(self.due, Some(Due::Fills(_))) {
            self.due = Some(Due::Fills(now_ns + FILLS_TIMEOUT_NS));
        }
    }

    /// Hands the order's end over: a cancel (with what filled), or a reject. A fill that
    /// left nothing ended it already; a `Filled` verdict reached otherwise (the venue's
    /// quantity shrank under an amend) ends it as a cancel of the rest.
    fn finish(&mut self, verdict: Verdict, at: Stamp, events: &mut Vec<VenueEvent>) {
        let id = self.id();
        events.push(match verdict {
            Verdict::Rejected(reason) if self.booked.is_zero() => VenueEvent::Rejected {
                id,
                reason,
                ts_ns: at.ts_ns,
                venue_ms: at.venue_ms,
            },
            Verdict::Filled | Verdict::Cancelled | Verdict::Rejected(_) => VenueEvent::Cancelled {
                id,
                filled: self.booked,
                ts_ns: at.ts_ns,
                venue_ms: at.venue_ms,
            },
        });
    }
}

/// The verdict of a terminal `update`, and who cancelled it when not the engine
/// (`cancel_wanted`: the engine asked for a cancel).
fn verdict_of(update: &OrderUpdate, cancel_wanted: bool) -> (Verdict, Option<CancelKind>) {
    match update.status {
        OrderStatus::Filled => (Verdict::Filled, None),
        OrderStatus::Rejected => (Verdict::Rejected(RejectReason::InvalidOrder), None),
        _ if update.is_post_only_reject() => (
            Verdict::Rejected(RejectReason::PostOnlyWillTakeLiquidity),
            None,
        ),
        _ => {
            let kind = CancelKind::from_bybit(update.cancel_type.as_str());
            let outside = match kind {
                // The engine's own cancel, or a cancel with no stated cause while one was asked.
                CancelKind::Other => !cancel_wanted,
                _ => true,
            };
            if kind == CancelKind::ReduceOnly && update.cum_exec_qty.is_zero() {
                return (
                    Verdict::Rejected(RejectReason::ReduceOnlyNotSatisfied),
                    Some(kind),
                );
            }
            (Verdict::Cancelled, outside.then_some(kind))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::Fixed;
    use crate::side::Side;
    use crate::text::Symbol;

    use super::super::super::private::{Category, OrderType, TimeInForce};

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    const ID: OrderId = OrderId(7);

    fn request() -> OrderRequest {
        OrderRequest {
            id: ID,
            side: Side::Buy,
            price: fx("60000"),
            qty: fx("0.3"),
            reduce_only: false,
        }
    }

    fn at(ts: u64) -> Stamp {
        Stamp {
            ts_ns: ts,
            venue_ms: 0,
            mono_ns: ts,
        }
    }

    fn update(status: OrderStatus, cum: &str, updated: u64) -> OrderUpdate {
        OrderUpdate {
            category: Category::Linear,
            symbol: Symbol::new("BTCUSDT").unwrap(),
            order_id: OrderIdText::new("v-1").unwrap(),
            order_link_id: OrderIdText::new("e1-7").unwrap(),
            side: Side::Buy,
            order_type: OrderType::Limit,
            price: Some(fx("60000")),
            qty: fx("0.3"),
            time_in_force: TimeInForce::PostOnly,
            status,
            reject_reason: crate::text::InlineStr::new("EC_NoError").unwrap(),
            cancel_type: crate::text::InlineStr::new("UNKNOWN").unwrap(),
            reduce_only: false,
            position_idx: 0,
            leaves_qty: None,
            cum_exec_qty: fx(cum),
            cum_exec_value: None,
            avg_price: None,
            created_time: 1,
            updated_time: updated,
        }
    }

    fn fill(qty: &str, ts: u64) -> Fill {
        Fill {
            id: OrderId(0),
            side: Side::Sell,
            price: fx("60000"),
            qty: fx(qty),
            leaves_qty: Fixed::ZERO,
            fee: Fixed::ZERO,
            realized: Fixed::ZERO,
            ts_ns: ts,
            venue_ms: ts,
        }
    }

    /// What arrives for an order, in some order.
    #[derive(Debug, Clone, Copy)]
    enum Message {
        Ack,
        Push(OrderStatus, &'static str, u64),
        Exec(&'static str),
        Overdue(u64),
    }

    /// Drives a sent order through `messages`; the events handed over, whether it ended, and
    /// the doubts raised.
    fn drive(messages: &[Message]) -> (Vec<String>, bool, Vec<Doubt>, WorkingOrder) {
        let mut order = WorkingOrder::sent(request(), 1);
        let mut events = Vec::new();
        let mut ended = false;
        let mut doubts = Vec::new();
        for (index, message) in messages.iter().enumerate() {
            assert!(!ended, "a message after the end: {messages:?}");
            let ts = index as u64 + 10;
            let step = match *message {
                Message::Ack => {
                    order.acknowledged(OrderIdText::new("v-1").unwrap(), ts);
                    Step::default()
                }
                Message::Push(status, cum, updated) => {
                    order.pushed(&update(status, cum, updated), at(ts), &mut events)
                }
                Message::Exec(qty) => order.executed(fill(qty, ts), &mut events),
                Message::Overdue(now) => order.overdue(now),
            };
            ended |= step.ended;
            doubts.extend(step.doubt);
        }
        let described = events
            .iter()
            .map(|event| match event {
                VenueEvent::Accepted { .. } => "accepted".to_owned(),
                VenueEvent::Amended { price, .. } => format!("amended {price}"),
                VenueEvent::AmendRejected { .. } => "amend rejected".to_owned(),
                VenueEvent::Filled(fill) => format!("fill {} leaves {}", fill.qty, fill.leaves_qty),
                VenueEvent::Cancelled { filled, .. } => format!("cancelled filled {filled}"),
                VenueEvent::Rejected { reason, .. } => format!("rejected {}", reason.label()),
            })
            .collect();
        (described, ended, doubts, order)
    }

    /// Every permutation of `items`.
    fn permutations(items: &[Message]) -> Vec<Vec<Message>> {
        if items.len() <= 1 {
            return vec![items.to_vec()];
        }
        let mut all = Vec::new();
        for index in 0..items.len() {
            let mut rest = items.to_vec();
            let first = rest.remove(index);
            for mut tail in permutations(&rest) {
                tail.insert(0, first);
                all.push(tail);
            }
        }
        all
    }

    /// Pushes of a partly filled order cancelled on request, executions and the answer, in
    /// every one of their 120 orders: the same fills are booked, the order ends once, after
    /// both fills, as a cancel of what was left.
    #[test]
    fn a_partly_filled_cancel_ends_the_same_in_every_order_of_its_messages() {
        use OrderStatus::{Cancelled, New, PartiallyFilled};
        let messages = [
            Message::Ack,
            Message::Push(New, "0", 100),
            Message::Push(PartiallyFilled, "0.1", 200),
            Message::Push(Cancelled, "0.2", 300),
            Message::Exec("0.1"),
        ];
        // The second fill always comes last of the executions: prove both orders of the two.
        let mut seen = std::collections::BTreeSet::new();
        for mut order in permutations(&messages) {
            order.push(Message::Exec("0.1"));
            let (events, ended, doubts, order) = drive(&order);
            assert!(ended, "{order:?}");
            assert_eq!(order.booked(), fx("0.2"));
            assert!(doubts.is_empty(), "{doubts:?}");
            assert_eq!(events.first().map(String::as_str), Some("accepted"));
            assert_eq!(
                events.last().map(String::as_str),
                Some("cancelled filled 0.2")
            );
            assert_eq!(
                events
                    .iter()
                    .filter(|event| event.starts_with("fill"))
                    .count(),
                2
            );
            seen.insert(events);
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            [vec![
                "accepted".to_owned(),
                "fill 0.1 leaves 0.2".to_owned(),
                "fill 0.1 leaves 0.1".to_owned(),
                "cancelled filled 0.2".to_owned(),
            ]]
        );
    }

    /// A complete fill, every order of its messages: the last execution ends it; no terminal
    /// push is needed, and one that comes first waits for the fills (draining).
    #[test]
    fn a_filled_order_ends_with_its_last_fill_whichever_came_first() {
        use OrderStatus::{Filled, New};
        let messages = [
            Message::Ack,
            Message::Push(New, "0", 100),
            Message::Push(Filled, "0.3", 300),
            Message::Exec("0.2"),
            Message::Exec("0.1"),
        ];
        for order in permutations(&messages) {
            // The messages after the end are late ones, ignored by the table: stop there.
            let (events, ended, doubts, working) = drive_until_end(&order);
            assert!(ended, "{order:?}");
            assert_eq!(working.booked(), fx("0.3"), "{order:?}");
            assert!(doubts.is_empty());
            assert_eq!(events[0], "accepted");
            assert!(events.last().unwrap().ends_with(" leaves 0"), "{order:?}");
        }
    }

    fn drive_until_end(messages: &[Message]) -> (Vec<String>, bool, Vec<Doubt>, WorkingOrder) {
        for len in 1..=messages.len() {
            let result = drive(&messages[..len]);
            if result.1 {
                return result;
            }
        }
        drive(messages)
    }

    #[test]
    fn an_order_push_before_its_executions_drains_and_doubts_only_when_they_are_late() {
        use OrderStatus::Cancelled;
        let (events, ended, doubts, order) = drive(&[
            Message::Ack,
            Message::Push(Cancelled, "0.1", 300),
            Message::Overdue(10 + FILLS_TIMEOUT_NS - 1),
        ]);
        assert_eq!((ended, order.stage), (false, Stage::Draining));
        assert!(doubts.is_empty());
        assert_eq!(events, ["accepted"]);
        // Past the deadline: doubt, and still draining (never dropped).
        let (_, ended, doubts, order) = drive(&[
            Message::Ack,
            Message::Push(Cancelled, "0.1", 300),
            Message::Overdue(20 + FILLS_TIMEOUT_NS),
        ]);
        assert_eq!(
            (ended, order.stage, doubts),
            (false, Stage::Draining, vec![Doubt::FillsOverdue])
        );
    }

    #[test]
    fn stale_pushes_change_nothing() {
        use OrderStatus::{Cancelled, New, PartiallyFilled};
        let mut order = WorkingOrder::sent(request(), 1);
        let mut events = Vec::new();
        assert!(
            !order
                .pushed(&update(PartiallyFilled, "0.1", 200), at(1), &mut events)
                .stale
        );
        for old in [
            update(New, "0", 100),
            update(New, "0", 250),
            update(PartiallyFilled, "0.1", 150),
        ] {
            assert!(order.pushed(&old, at(2), &mut events).stale, "{old:?}");
        }
        // A live push after a terminal one is stale too.
        let step = order.pushed(&update(Cancelled, "0.2", 300), at(3), &mut events);
        assert!(step.draining);
        assert!(
            order
                .pushed(&update(PartiallyFilled, "0.2", 400), at(4), &mut events)
                .stale
        );
        assert_eq!(order.stage, Stage::Draining);
    }

    #[test]
    fn an_answer_without_its_push_and_a_lost_create_become_unknown_then_reconciled() {
        let (events, ended, doubts, order) =
            drive(&[Message::Ack, Message::Overdue(11 + PUSH_TIMEOUT_NS)]);
        assert_eq!(
            (events.len(), ended, doubts, order.stage),
            (0, false, vec![Doubt::UnknownFate], Stage::Unknown)
        );
        // The snapshot, asked within the receive window of the create: asked again.
        let mut order = WorkingOrder::sent(request(), 1_000);
        let mut events = Vec::new();
        let step = order.absent(5_000, 5_000, at(1), &mut events);
        assert!(step.deferred && !step.ended && events.is_empty());
        // Heard of (live), and still within the window: asked again, not ended.
        order.pushed(&update(OrderStatus::New, "0", 5), at(2), &mut events);
        assert!(order.absent(5_500, 5_000, at(2), &mut events).deferred);
        // Asked after the window: the venue cannot take it late, nor does it hold it: gone.
        let step = order.absent(6_001, 5_000, at(2), &mut events);
        assert!(step.ended);
        assert!(matches!(
            events[..],
            [
                VenueEvent::Accepted { .. },
                VenueEvent::Rejected {
                    reason: RejectReason::VenueUnavailable,
                    ..
                }
            ]
        ));
    }

    #[test]
    fn venue_cancels_are_told_apart_and_the_dangerous_ones_raise_doubt() {
        let cancelled_by = |cancel_type: &str, cum: &str, wanted: bool| {
            let mut order = WorkingOrder::sent(request(), 1);
            order.cancel.wanted = wanted;
            order.booked = fx(cum);
            let mut terminal = update(OrderStatus::Cancelled, cum, 5);
            terminal.cancel_type = crate::text::InlineStr::new(cancel_type).unwrap();
            let mut events = Vec::new();
            let step = order.pushed(&terminal, at(1), &mut events);
            (step, events)
        };
        let (step, _) = cancelled_by("CancelByUser", "0", true);
        assert_eq!((step.note, step.doubt), (None, None));
        let (step, _) = cancelled_by("CancelByPrepareLiq", "0", false);
        assert!(step.halt_entries);
        assert_eq!(step.doubt, Some(Doubt::OutsideCancel));
        assert_eq!(
            step.note,
            Some(VenueNote::OutsideCancel {
                id: ID,
                kind: CancelKind::PrepareLiquidation
            })
        );
        let (step, events) = cancelled_by("CancelByReduceOnly", "0", false);
        assert_eq!(step.doubt, Some(Doubt::ReduceOnlyRefused));
        assert!(matches!(
            events[..],
            [VenueEvent::Rejected {
                reason: RejectReason::ReduceOnlyNotSatisfied,
                ..
            }]
        ));
        let (step, events) = cancelled_by("CancelByReduceOnly", "0.1", false);
        assert_eq!(step.doubt, Some(Doubt::ReduceOnlyRefused));
        assert!(matches!(events.last(), Some(VenueEvent::Cancelled { .. })));
        let (step, _) = cancelled_by("CancelBySmp", "0", false);
        assert_eq!(step.doubt, None);
        assert!(step.note.is_some());
        let (step, _) = cancelled_by("CancelByAdmin", "0", true);
        assert_eq!(step.doubt, Some(Doubt::OutsideCancel));
        let (step, _) = cancelled_by("CancelByUser", "0", false);
        assert_eq!(
            (step.note, step.doubt),
            (
                Some(VenueNote::OutsideCancel {
                    id: ID,
                    kind: CancelKind::Other
                }),
                None
            )
        );
    }

    #[test]
    fn a_refused_cancel_is_sent_again_after_a_growing_pause_then_left_to_reconciliation() {
        let mut order = WorkingOrder::sent(request(), 1);
        let mut events = Vec::new();
        assert!(!order.want_cancel(at(0), &mut events).ended);
        assert!(order.cancel_due(0));
        order.cancel_sent();
        assert!(!order.cancel_due(0));
        assert_eq!(order.cancel_refused(0).doubt, None);
        assert!(!order.cancel_due(CANCEL_RETRY_NS - 1));
        assert!(order.cancel_due(CANCEL_RETRY_NS));
        order.cancel_sent();
        assert_eq!(order.cancel_refused(10).doubt, None);
        assert!(!order.cancel_due(10 + 2 * CANCEL_RETRY_NS - 1));
        order.cancel_sent();
        assert_eq!(order.cancel_refused(20).doubt, Some(Doubt::UnknownFate));
        assert!(!order.cancel_due(u64::MAX - 1));
        // Reconciliation finds it open: sent again at once.
        order.cancel_again();
        assert!(order.cancel_due(0));
        // A held order is cancelled without sending anything.
        let mut held = WorkingOrder::held(request());
        let step = held.want_cancel(at(3), &mut events);
        assert!(step.ended);
        assert!(matches!(
            events[..],
            [VenueEvent::Cancelled { filled, .. }] if filled.is_zero()
        ));
    }

    #[test]
    fn an_amend_ends_with_the_push_of_its_terms_or_as_refused() {
        let mut order = WorkingOrder::sent(request(), 1);
        let mut events = Vec::new();
        order.pushed(&update(OrderStatus::New, "0", 5), at(1), &mut events);
        assert!(order.amendable());
        order.amend_requested(fx("60010"), fx("0.3"), at(2), &mut events);
        assert!(!order.amendable());
        order.amend_taken(2);
        // A push of the old terms changes nothing; the push of the new ones is the amend.
        order.pushed(&update(OrderStatus::New, "0", 6), at(3), &mut events);
        let mut moved = update(OrderStatus::New, "0", 7);
        moved.price = Some(fx("60010"));
        order.pushed(&moved, at(4), &mut events);
        assert!(matches!(
            events[..],
            [
                VenueEvent::Accepted { .. },
                VenueEvent::Amended { price, .. }
            ] if price == fx("60010")
        ));
        assert!(order.amendable());
        // Refused: the loop hears it once.
        order.amend_requested(fx("60020"), fx("0.3"), at(5), &mut events);
        order.amend_refused(at(6), &mut events);
        order.amend_refused(at(7), &mut events);
        assert_eq!(
            events
                .iter()
                .filter(|event| matches!(event, VenueEvent::AmendRejected { .. }))
                .count(),
            1
        );
        // Its push overdue: refused too, not an unknown fate.
        order.amend_requested(fx("60030"), fx("0.3"), at(8), &mut events);
        order.amend_taken(10);
        let step = order.overdue(10 + PUSH_TIMEOUT_NS);
        assert!(step.amend_lost && step.doubt.is_none());
        order.amend_refused(at(10), &mut events);
        // Its push after all (or a change made in the web UI): the loop hears the new terms.
        let mut late = update(OrderStatus::New, "0", 8);
        late.price = Some(fx("60030"));
        order.pushed(&late, at(11), &mut events);
        assert!(matches!(
            events.last(),
            Some(VenueEvent::Amended { price, .. }) if *price == fx("60030")
        ));
        assert!(order.amendable());
        // A held order is amended in place.
        let mut held = WorkingOrder::held(request());
        held.amend_requested(fx("59990"), fx("0.2"), at(9), &mut events);
        assert_eq!((held.order.price, held.order.qty), (fx("59990"), fx("0.2")));
        assert!(matches!(events.last(), Some(VenueEvent::Amended { .. })));
    }

    #[test]
    fn a_refusal_after_the_push_said_it_rests_is_stale_and_a_reduce_only_refusal_is_doubt() {
        let mut order = WorkingOrder::sent(request(), 1);
        let mut events = Vec::new();
        order.pushed(&update(OrderStatus::New, "0", 5), at(1), &mut events);
        assert!(
            order
                .refused(RejectReason::InvalidOrder, at(2), &mut events)
                .stale
        );
        assert_eq!(order.stage, Stage::Live);
        let mut exit = WorkingOrder::sent(request(), 1);
        let step = exit.refused(RejectReason::ReduceOnlyNotSatisfied, at(3), &mut events);
        assert_eq!(
            (step.ended, step.doubt),
            (true, Some(Doubt::ReduceOnlyRefused))
        );
    }
}

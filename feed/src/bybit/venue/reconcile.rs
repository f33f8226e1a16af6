//! Reconciliation: REST as the truth, after any doubt and every `reconcile_every`.
//!
//! A cold thread measures the venue's clock again and takes a [`VenueSnapshot`]; the hot thread
//! applies it between two polls, against a state that went on changing while the snapshot was
//! taken. So it is judged against the stream, never over it:
//!
//! 1. **Fills.** Executions of the run's orders that were not booked are booked (their push
//!    was missed); every one is booked once, by `execId`, whichever of the stream and the
//!    snapshot brings it first.
//! 2. **Orders.** Each working order is moved by what the venue lists of it, through the same
//!    transitions as a push ([`super::working`]): a view older than what the stream already
//!    said is stale and changes nothing; a closed order whose fills are not all listed yet
//!    drains. An order in neither list is "never at the venue" only when its create's stamp is
//!    older than the receive window when the snapshot was asked (the venue can no longer take
//!    it); else the snapshot is asked again. An open order whose cancel did not reach the
//!    venue has it sent again.
//! 3. **Orders nobody works on.** One of the run's own (a stale view of an order that just
//!    ended, or one lost track of) is cancelled; another client's is cancelled, or adopted
//!    with `adopt_unknown_orders`.
//! 4. **The position**, at the snapshot's cross sequence: the venue's position at P against
//!    the fills booked up to P ([`super::ledger::Ledger::position_at`]), whatever was booked
//!    after. A difference is taken as the venue's (a manual close, auto-deleveraging, a fill
//!    of another client) only when nothing of the engine's is pending (no order with fills
//!    the venue reported and did not list); else the snapshot is asked again.
//!
//! A snapshot that could not settle everything is asked again after a growing pause; entries
//! wait while the state is in doubt, routine reconciliations do not hold them.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};

use crate::bybit::codes::Outcome;
use crate::bybit::limits::Endpoint as Bucket;
use crate::bybit::private::{OrderIdText, OrderUpdate};
use crate::bybit::rest::snapshot::{VenueSnapshot, snapshot};
use crate::bybit::rest::{RestClient, RestError};
use crate::bybit::trade::OrderRef;
use crate::order::OrderId;
use crate::text::Symbol;
use crate::venue::VenueNote;

use super::working::{Stage, WorkingOrder};
use super::{ADOPTED_IDS, BybitVenue, MAX_WORKING, TRADE, wall_ns};

/// How far before the last conclusive snapshot (or the oldest working order) the next one's
/// history and executions reach: fills listed late are still found.
const WINDOW_MARGIN_MS: u64 = 60_000;
/// An inconclusive or failed reconciliation is tried again after this long, doubling.
const RETRY_NS: u64 = 1_000_000_000;
/// The longest pause between two tries.
const MAX_RETRY_NS: u64 = 10_000_000_000;

/// What the cold thread is asked: the window and the orders whose executions to fetch; and
/// the last snapshot, applied, to be freed there (the hot thread frees nothing).
#[derive(Debug)]
pub(super) struct ReconcileRequest {
    /// History and executions from then on (venue clock, ms).
    since_ms: u64,
    /// Venue ids of orders whose fills the venue reported and did not push.
    draining: [OrderIdText; MAX_WORKING],
    count: usize,
    /// The snapshot applied last, handed back.
    retired: Option<Box<VenueSnapshot>>,
}

/// Reconciliation's cold side: a thread measuring the venue's clock again and asking REST for
/// its state.
pub(super) struct Reconciler {
    requests: Sender<ReconcileRequest>,
    results: Receiver<Result<Box<VenueSnapshot>, RestError>>,
}

impl Reconciler {
    /// Starts the thread, asking `client` about `symbol`.
    pub(super) fn start(client: Arc<RestClient>, symbol: Symbol) -> std::io::Result<Reconciler> {
        let (requests, inbox) = crossbeam_channel::bounded::<ReconcileRequest>(1);
        let (outbox, results) = crossbeam_channel::bounded(1);
        std::thread::Builder::new()
            .name("venue-reconcile".to_owned())
            .spawn(move || {
                for request in inbox {
                    drop(request.retired);
                    let orders: Vec<&str> = request.draining[..request.count]
                        .iter()
                        .map(OrderIdText::as_str)
                        .collect();
                    // The clock first: a doubt may come from a 10002.
                    let snapshot = client
                        .sync_clock()
                        .and_then(|_| snapshot(&client, symbol.as_str(), request.since_ms, &orders))
                        .map(Box::new);
                    if outbox.send(snapshot).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Reconciler { requests, results })
    }
}

/// Where reconciliation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing asked: the next routine one at `next_routine_ns`.
    Idle,
    /// To be asked once both links are up, from `after_ns` (monotonic).
    Wanted { after_ns: u64 },
    /// Asked; the answer awaited.
    InFlight,
}

/// Reconciliation's state on the hot side.
#[derive(Debug)]
pub(super) struct Reconcile {
    state: State,
    /// Something put the state in doubt: entries wait until a conclusive snapshot.
    in_doubt: bool,
    /// A doubt arose while a snapshot was in flight: it may predate it, so another follows.
    again: bool,
    /// Inconclusive or failed tries in a row.
    tries: u32,
    /// The routine period, ns (0: none).
    every_ns: u64,
    /// The next routine reconciliation (monotonic).
    next_routine_ns: u64,
    /// Where the next snapshot's history and executions start (venue clock, ms).
    since_ms: u64,
    /// The ledger's mark when the snapshot in flight was asked.
    mark: u64,
    /// The snapshot applied last, kept until the next request takes it back to be freed.
    retired: Option<Box<VenueSnapshot>>,
}

impl Reconcile {
    /// Nothing in doubt at `venue_now_ms` (venue clock); a routine one `every` (zero: never).
    pub(super) fn new(venue_now_ms: u64, every: std::time::Duration) -> Reconcile {
        let every_ns = u64::try_from(every.as_nanos()).unwrap_or(u64::MAX);
        Reconcile {
            state: State::Idle,
            in_doubt: false,
            again: false,
            tries: 0,
            every_ns,
            next_routine_ns: every_ns,
            since_ms: venue_now_ms.saturating_sub(WINDOW_MARGIN_MS),
            mark: 0,
            retired: None,
        }
    }

    /// True while the state is in doubt.
    pub(super) const fn in_doubt(&self) -> bool {
        self.in_doubt
    }

    /// The state is in doubt: ask as soon as the links allow.
    pub(super) fn doubt(&mut self) {
        self.in_doubt = true;
        match self.state {
            State::Idle => self.state = State::Wanted { after_ns: 0 },
            State::Wanted { .. } => {}
            State::InFlight => self.again = true,
        }
    }

    /// Asked again after a pause that doubles with each try in a row.
    fn retry(&mut self, now_ns: u64) {
        self.tries = self.tries.saturating_add(1);
        let pause = RETRY_NS
            .saturating_mul(1 << self.tries.min(8).saturating_sub(1))
            .min(MAX_RETRY_NS);
        self.state = State::Wanted {
            after_ns: now_ns + pause,
        };
        self.again = false;
    }
}

impl BybitVenue {
    /// Asks for the venue's state when in doubt or due, and both links are up; applies the
    /// answer.
    pub(super) fn step_reconcile(&mut self) {
        let Some(reconciler) = &self.reconciler else {
            return;
        };
        let now = self.now();
        let due = match self.reconcile.state {
            State::Idle => self.reconcile.every_ns > 0 && now >= self.reconcile.next_routine_ns,
            State::Wanted { after_ns } => now >= after_ns,
            State::InFlight => {
                match reconciler.results.try_recv() {
                    Ok(Ok(snapshot)) => {
                        self.clock_suspect = false;
                        let conclusive = self.apply_snapshot(&snapshot);
                        self.reconciled(conclusive, snapshot.asked_ms);
                        self.reconcile.retired = Some(snapshot);
                    }
                    Ok(Err(error)) => {
                        if error.outcome() == Outcome::Fatal {
                            self.fail(error.code().unwrap_or(401));
                        }
                        self.reconcile.retry(now);
                    }
                    Err(TryRecvError::Disconnected) => self.reconcile.retry(now),
                    Err(TryRecvError::Empty) => {}
                }
                false
            }
        };
        if !due || !self.is_ready() || self.failure.is_some() {
            return;
        }
        let request = self.reconcile_request();
        let Some(reconciler) = &self.reconciler else {
            return;
        };
        match reconciler.requests.try_send(request) {
            Ok(()) => {
                self.reconcile.state = State::InFlight;
                self.reconcile.mark = self.ledger.mark();
            }
            Err(TrySendError::Full(request) | TrySendError::Disconnected(request)) => {
                self.reconcile.retired = request.retired;
            }
        }
    }

    /// What to ask: a window reaching back past the last conclusive snapshot and every working
    /// order, and the executions of the orders whose fills are pending.
    fn reconcile_request(&mut self) -> ReconcileRequest {
        let oldest = self
            .orders
            .iter()
            .map(|order| order.sent_stamp_ms)
            .filter(|stamp| *stamp > 0)
            .min()
            .map_or(u64::MAX, |stamp| stamp.saturating_sub(WINDOW_MARGIN_MS));
        let mut request = ReconcileRequest {
            since_ms: self.reconcile.since_ms.min(oldest),
            draining: [OrderIdText::EMPTY; MAX_WORKING],
            count: 0,
            retired: self.reconcile.retired.take(),
        };
        for order in &self.orders {
            if order.fills_pending() && !order.venue_id.is_empty() && request.count < MAX_WORKING {
                request.draining[request.count] = order.venue_id;
                request.count += 1;
            }
        }
        request
    }

    /// After a snapshot was applied: settled (`conclusive`, and no doubt since it was asked
    /// at `asked_ms`), or asked again.
    fn reconciled(&mut self, conclusive: bool, asked_ms: u64) {
        let now = self.now();
        if conclusive && !self.reconcile.again {
            let reconcile = &mut self.reconcile;
            reconcile.in_doubt = false;
            reconcile.tries = 0;
            reconcile.state = State::Idle;
            reconcile.next_routine_ns = now.saturating_add(reconcile.every_ns);
            reconcile.since_ms = asked_ms.saturating_sub(WINDOW_MARGIN_MS);
            self.position_suspect = false;
        } else {
            self.stats.reconciles_deferred += u64::from(!conclusive);
            self.reconcile.retry(now);
        }
    }

    /// Takes the venue's state as the truth, as the module says; true when it settled
    /// everything.
    fn apply_snapshot(&mut self, snapshot: &VenueSnapshot) -> bool {
        self.stats.reconciliations += 1;
        let mut conclusive = true;
        // Fills first, oldest first: they may end orders.
        for execution in snapshot.executions.iter().rev() {
            self.on_execution(execution, super::Heard::Snapshot);
        }
        let ids = self.settings.ids;
        let recv_window = self.settings.recv_window_ms;
        // Each working order as the venue has it.
        let mut index = 0;
        while index < self.orders.len() {
            let order = self.orders[index];
            if order.stage == Stage::Held {
                index += 1;
                continue;
            }
            let link = ids.link_id(order.id());
            let is_it = |update: &&OrderUpdate| {
                if order.adopted {
                    update.order_id == order.venue_id
                } else {
                    update.order_link_id == link
                }
            };
            let open = snapshot.open_orders.iter().find(is_it);
            let closed = snapshot.closed_orders.iter().find(is_it);
            if open.is_none() && closed.is_none() {
                let at = self.stamp(0);
                let step =
                    self.orders[index].absent(snapshot.asked_ms, recv_window, at, &mut self.events);
                if step.deferred {
                    conclusive = false;
                    index += 1;
                    continue;
                }
                self.stats.orders_settled += 1;
                self.note(VenueNote::OrderSettled {
                    id: order.id(),
                    at_venue: false,
                });
                self.apply(index, step);
                continue;
            }
            // The open view first, then the closed one (an order that closed between the two
            // reads is in both; its later state wins).
            let mut ended = false;
            for update in [open, closed].into_iter().flatten() {
                let at = self.stamp(update.updated_time);
                let step = self.orders[index].pushed(update, at, &mut self.events);
                if step.ended {
                    self.stats.orders_settled += 1;
                    self.note(VenueNote::OrderSettled {
                        id: order.id(),
                        at_venue: true,
                    });
                }
                if self.apply(index, step) {
                    ended = true;
                    break;
                }
            }
            if ended {
                continue;
            }
            let working = &mut self.orders[index];
            if open.is_some() {
                // Open, as the venue says: a cancel that did not reach it (none on its way)
                // is sent again.
                let cancel_on_its_way = self.pending.iter().any(|pending| {
                    pending.id == order.id() && pending.kind == crate::bybit::codes::Request::Cancel
                });
                if !cancel_on_its_way {
                    working.cancel_again();
                }
            }
            if working.fills_pending() {
                // Fills the venue reported and did not list: asked again (by order id).
                conclusive = false;
            }
            index += 1;
        }
        self.settle_unworked(snapshot);
        // The position, at the snapshot's cut.
        let pending = self.orders.iter().any(WorkingOrder::fills_pending);
        match self
            .ledger
            .position_for(snapshot.position_seq, self.reconcile.mark)
        {
            Some(engine) if engine == snapshot.position => {}
            Some(engine_at) if !pending => {
                if let Some((engine, venue)) = self.ledger.correct(
                    engine_at,
                    snapshot.position,
                    snapshot.position_seq,
                    snapshot.entry_price,
                ) {
                    self.stats.position_corrections += 1;
                    self.venue_position = None;
                    self.note(VenueNote::PositionCorrected { engine, venue });
                }
            }
            _ => conclusive = false,
        }
        if conclusive {
            self.note(VenueNote::Reconciled);
        } else {
            self.note(VenueNote::ReconcileDeferred);
        }
        conclusive
    }

    /// Open orders the engine does not work on: the run's own are cancelled (a stale view of
    /// one that just ended is answered "already gone", harmlessly); another client's are
    /// adopted (`adopt_unknown_orders`) or cancelled by the venue's id.
    fn settle_unworked(&mut self, snapshot: &VenueSnapshot) {
        for order in &snapshot.open_orders {
            if self.find(&order.order_link_id, &order.order_id).is_some() {
                continue;
            }
            let own = self
                .settings
                .ids
                .order_id(order.order_link_id.as_str())
                .is_some();
            if !own && self.settings.adopt_unknown_orders && self.orders.len() < MAX_WORKING {
                self.adopt(order, snapshot);
                continue;
            }
            if !self.links[TRADE].is_ready()
                || self.limits.try_acquire(Bucket::Cancel, wall_ns()).is_err()
            {
                // The next reconciliation finds it again.
                continue;
            }
            self.stats.foreign_cancels += 1;
            self.note(VenueNote::ForeignCancelled {
                order_id: order.order_id,
            });
            let seq = self.next_seq;
            self.next_seq += 1;
            let stamp = self.venue_ms();
            let bytes = self.writer.cancel(
                seq,
                stamp,
                self.settings.symbol,
                OrderRef::Venue(order.order_id.as_str()),
            );
            self.stats.cancels += 1;
            if let Some(connection) = self.links[TRADE].connection.as_mut() {
                let _ = connection.send_text(bytes);
            }
        }
    }

    /// Adopts open order `order` of another client: working from now on, its fills booked
    /// (those before, in `snapshot`, are in the venue's position already), cancelled at
    /// shutdown.
    fn adopt(&mut self, order: &OrderUpdate, snapshot: &VenueSnapshot) {
        let id = OrderId(ADOPTED_IDS + self.stats.foreign_adopted);
        self.stats.foreign_adopted += 1;
        for execution in &snapshot.executions {
            if execution.order_id == order.order_id {
                self.ledger.remember(execution.exec_id);
            }
        }
        self.orders.push(WorkingOrder::adopted(order, id));
        self.note(VenueNote::ForeignAdopted {
            order_id: order.order_id,
            id,
        });
    }
}

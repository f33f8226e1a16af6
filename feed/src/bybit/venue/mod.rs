//! The Bybit venue, as the hot thread drives it: orders go out on the trade stream
//! (`/v5/trade`), and what became of them comes back on the private stream (`/v5/private`).
//!
//! [`BybitVenue`] implements [`Venue`], so the trading loop that paper-trades drives it alike.
//! It is made of:
//!
//! - [`link`]: the two WebSocket links, made on connecting threads, authenticated,
//!   (private) subscribed to `order.linear`, `execution.linear`, `position.linear` and
//!   `wallet`, and to `dcp.future` in a request of its own when disconnect-cancel-all was
//!   granted; kept alive by pings; made again after a jittered back-off;
//! - [`working`]: the life of one working order, a state machine whose transitions hold in any
//!   order of pushes, answers and snapshots;
//! - [`ledger`]: the fills booked once each, and the position they build, comparable with the
//!   venue's at any cross sequence;
//! - [`reconcile`]: reconciliation, REST as the truth after any doubt and every
//!   `reconcile_every`, judged against the stream by the snapshot's time stamp and cross
//!   sequence;
//! - [`fallback`]: exits and cancels over REST while the trade stream is down.
//!
//! What the venue does with what arrives:
//!
//! - **Orders.** [`Venue::submit`] writes an `order.create` (PostOnly limit, `reduceOnly` for
//!   exits, the `orderLinkId` of the run's [`LinkIds`]) after taking a token of the create
//!   bucket; [`Venue::cancel`] an `order.cancel`, sent again (after a reconnect, a refusal, an
//!   empty bucket) until the order is gone. Neither waits. An entry is refused locally, as a
//!   [`VenueEvent::Rejected`] handed over on the next poll (a loop that sends again on a
//!   refusal must not meet it in the same drain), unless both links are ready, nothing is in
//!   doubt, entries are not halted and the bucket has a token. An exit is never refused: it is
//!   held until it can go (and, after a reduce-only refusal or anything else that puts the
//!   position in doubt, until reconciliation has said what the position is).
//! - **Answers.** A trade-stream ack only means taken. A refusal is read by [`classify`]: a
//!   rejection of the order ends it; an answer that leaves its fate unknown, none at all, and
//!   an answer not followed by its push make the fate unknown, for reconciliation; a code that
//!   refuses the credentials for good stops the venue ([`Venue::failure`]).
//! - **Pushes.** `order` moves the working order ([`working`]); each `execution` of one of the
//!   run's orders is booked once (by `execId`), whether or not the order is still worked;
//!   executions that are none of the run's (auto-deleveraging, a liquidation, a manual close,
//!   another client) and `position` pushes that disagree with the fills booked for longer than
//!   fills take to arrive put the position in doubt; so do 110017 and `CancelByReduceOnly`,
//!   orders of other clients and pushes that do not decode. A cancel ahead of a liquidation
//!   halts entries for the session. `wallet` gives the free balance (`totalAvailableBalance`).
//!
//! Every event is stamped on one clock, the loop's (wall ns, the same the live feed stamps
//! frames with), with the venue's own time stamp beside it. Once both links are up, polling,
//! submitting and cancelling allocate nothing: requests are written into buffers made with the
//! venue, decoders and tables are sized once.

mod fallback;
mod ledger;
mod link;
mod reconcile;
mod working;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crossbeam_channel::TryRecvError;

use super::codes::{Outcome, Request as RequestKind, classify, fatal_advice};
use super::limits::{Endpoint as Bucket, RateLimits};
use super::live::{Backoff, Liveness};
use super::private::{
    ExecType, Execution, OrderIdText, OrderUpdate, PositionUpdate, PrivateControl, PrivateDecoder,
    PrivateMessage,
};
use super::rest::RestClient;
use super::sign::Signer;
use super::trade::{
    LinkIds, NewOrder, OrderRef, TradeOp, TradeReply, TradeReplyDecoder, TradeWriter,
};
use crate::book::OrderBook;
use crate::fixed::Fixed;
use crate::frame::FrameBuf;
use crate::journal::{ClockAnchor, monotonic_ns};
use crate::net::{Endpoint, WsConnection, WsRead};
use crate::order::{Account, Fill, OrderId, OrderRequest, RejectReason, VenueEvent};
use crate::text::Symbol;
use crate::venue::{Doubt, OutsideKind, Venue, VenueFailure, VenueNote, VenueStats};

use fallback::{Fallback, FallbackRequest};
use ledger::Ledger;
use link::{Link, Phase};
use reconcile::{Reconcile, Reconciler};
use working::{Stage, Stamp, Step, WorkingOrder};

/// Notes between two drains, at most (more are counted, not kept).
const MAX_NOTES: usize = 256;
/// Orders working at once, at most.
pub const MAX_WORKING: usize = 32;
/// Order ids given to adopted orders count up from here (the run's own count up from 1).
pub const ADOPTED_IDS: u64 = 1 << 62;
/// Requests awaiting their answer, at most.
const MAX_PENDING: usize = 64;
/// Events between two drains, at most.
const MAX_VENUE_EVENTS: usize = 512;
/// Messages read from one link in one poll, at most.
const READS_PER_POLL: usize = 16;
/// How far ahead an `auth` request expires.
const AUTH_EXPIRY_MS: u64 = 10_000;
/// An order request unanswered this long has an unknown fate: reconciled.
const ANSWER_TIMEOUT_NS: u64 = 5_000_000_000;
/// At shutdown, how long the last cancels' ends are awaited from the streams.
const SETTLE_NS: u64 = 1_000_000_000;
/// At shutdown, how long reconciliation may then take to find the ends not pushed.
const SETTLE_RECONCILE_NS: u64 = 5_000_000_000;
/// A REST fallback that failed is tried again after this long.
const FALLBACK_RETRY_NS: u64 = 1_000_000_000;
/// How long the venue's `position` push may disagree with the fills booked before it counts:
/// the executions behind it may still be on their way.
const POSITION_GRACE_NS: u64 = 2_000_000_000;
/// Authentications refused in a row (with no link made ready between) that stop the venue:
/// the credentials are refused for good.
const AUTH_REFUSALS: u32 = 3;
/// After a reduce-only refusal, exits pause at least this long.
const EXIT_PAUSE_NS: u64 = 1_000_000_000;
/// Outside executions remembered, to note each once.
const SEEN_OUTSIDE: usize = 256;

/// Where the venue is and how it is reached.
#[derive(Debug, Clone)]
pub struct VenueSettings {
    /// The private stream's URL.
    pub private: Endpoint,
    /// The trade stream's URL.
    pub trade: Endpoint,
    /// TLS, for `wss://`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The traded symbol.
    pub symbol: Symbol,
    /// The run's order ids.
    pub ids: LinkIds,
    /// `X-BAPI-RECV-WINDOW` of order requests, ms.
    pub recv_window_ms: u64,
    /// Liveness of both links.
    pub liveness: Liveness,
    /// Back-off between connection attempts.
    pub backoff: Backoff,
    /// Longest a connection attempt may block its thread, per step.
    pub connect_timeout: Duration,
    /// Seed of the back-off jitter.
    pub seed: u64,
    /// Disconnect-cancel-all was granted (over REST): the private stream subscribes
    /// `dcp.future`, in a request of its own.
    pub dcp: bool,
    /// Orders the engine did not place, found by reconciliation: adopted (kept, their fills
    /// booked, cancelled at shutdown) when true, else cancelled.
    pub adopt_unknown_orders: bool,
    /// A routine reconciliation this often, to catch what nothing announced (zero: never).
    pub reconcile_every: Duration,
}

/// Link index in [`VenueStats`].
const PRIVATE: usize = 0;
const TRADE: usize = 1;

/// The `req_id`s of the private stream's subscriptions.
const SUBSCRIBE_ORDERS: &str = "orders";
const SUBSCRIBE_WALLET: &str = "wallet";
const SUBSCRIBE_DCP: &str = "dcp";

/// What a request awaiting its answer was.
#[derive(Debug, Clone, Copy)]
struct Pending {
    seq: u64,
    kind: RequestKind,
    id: OrderId,
    /// When it was sent (monotonic).
    sent_ns: u64,
}

/// Where an execution was learnt of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    /// A push of the private stream.
    Pushed,
    /// A reconciliation's snapshot: its push was missed.
    Snapshot,
}

/// The Bybit venue of one symbol, polled by the hot thread.
pub struct BybitVenue {
    settings: VenueSettings,
    signer: Signer,
    limits: Arc<RateLimits>,
    /// Venue time minus local time, ms (the REST client's measurement).
    clock_offset_ms: Arc<AtomicI64>,
    links: [Link; 2],
    clock: quanta::Clock,
    /// Ties the monotonic clock to the wall clock the loop stamps records with.
    anchor: ClockAnchor,
    writer: TradeWriter,
    subscriptions: [Vec<u8>; 3],
    /// `None` only while a frame's items are being walked.
    private_decoder: Option<PrivateDecoder>,
    reply_decoder: TradeReplyDecoder,
    frame: FrameBuf,
    orders: Vec<WorkingOrder>,
    pending: Vec<Pending>,
    ledger: Ledger,
    /// Outside executions noted already.
    seen_outside: Vec<OrderIdText>,
    seen_outside_next: usize,
    events: Vec<VenueEvent>,
    /// Events of the venue's own making (local refusals), handed over from the next poll on:
    /// a loop that answers a refusal by sending again must not meet it in the same drain.
    deferred: Vec<VenueEvent>,
    notes: Vec<VenueNote>,
    next_seq: u64,
    jitter_state: u64,
    reconciler: Option<Reconciler>,
    reconcile: Reconcile,
    fallback: Option<Fallback>,
    /// After a REST fallback failed, the next waits until then (monotonic): an IP ban or a
    /// rate limit is not asked again at once.
    fallback_after_ns: u64,
    /// A request was refused for its time stamp (10002): the trade stream's requests wait
    /// until reconciliation has measured the clock again.
    clock_suspect: bool,
    /// The position is in doubt (a reduce-only refusal, an outside execution, a disagreeing
    /// push): exits are held until reconciliation says what it is.
    position_suspect: bool,
    /// After a reduce-only refusal, exits wait at least until then (monotonic), whatever
    /// reconciliation says sooner: never more than one such refusal a second.
    exits_after_ns: u64,
    /// The venue's latest `position` push: size (signed) and cross sequence.
    venue_position: Option<(Fixed, u64)>,
    /// Since when (monotonic) that push disagrees with the fills booked.
    disagrees_since: Option<u64>,
    /// A liquidation was being prepared: entries halt for the session.
    entries_halted: bool,
    /// The venue refused the credentials for good.
    failure: Option<VenueFailure>,
    /// Authentications refused since a link was last made ready.
    auth_refusals: u32,
    stats: VenueStats,
}

impl BybitVenue {
    /// A venue for `settings`, signing with `signer` on the venue clock `clock_offset_ms`,
    /// within `limits`, starting from `account` (as REST found it), reconciling over `rest`
    /// (`None`: never; for tests of the streams alone). The connecting threads start now; the
    /// first attempts are made on the first poll.
    pub fn new(
        settings: VenueSettings,
        signer: Signer,
        limits: Arc<RateLimits>,
        clock_offset_ms: Arc<AtomicI64>,
        account: Account,
        rest: Option<Arc<RestClient>>,
    ) -> std::io::Result<BybitVenue> {
        let clock = quanta::Clock::new();
        let venue_now_ms =
            super::rest::local_ms().saturating_add_signed(clock_offset_ms.load(Ordering::Relaxed));
        let reconciler = rest
            .as_ref()
            .map(|client| Reconciler::start(Arc::clone(client), settings.symbol))
            .transpose()?;
        let fallback = rest
            .map(|client| Fallback::start(client, &settings))
            .transpose()?;
        let links = [
            Link::new("private", settings.private.clone(), &settings)?,
            Link::new("trade", settings.trade.clone(), &settings)?,
        ];
        let subscribe = |req_id: &str, topics: &str| {
            format!(r#"{{"op":"subscribe","req_id":"{req_id}","args":[{topics}]}}"#).into_bytes()
        };
        let subscriptions = [
            subscribe(
                SUBSCRIBE_ORDERS,
                r#""order.linear","execution.linear","position.linear""#,
            ),
            subscribe(SUBSCRIBE_WALLET, r#""wallet""#),
            subscribe(SUBSCRIBE_DCP, r#""dcp.future""#),
        ];
        // Orders the engine did not place are adopted from the start: ask once up.
        let reconcile = Reconcile::new(venue_now_ms, settings.reconcile_every);
        let adopt_at_start = settings.adopt_unknown_orders && reconciler.is_some();
        let anchor = ClockAnchor::now(&clock);
        let mut venue = BybitVenue {
            writer: TradeWriter::new(settings.ids, settings.recv_window_ms),
            jitter_state: settings.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            settings,
            signer,
            limits,
            clock_offset_ms,
            links,
            clock,
            anchor,
            subscriptions,
            private_decoder: Some(PrivateDecoder::new()),
            reply_decoder: TradeReplyDecoder::new(),
            frame: FrameBuf::with_capacity(1 << 18),
            orders: Vec::with_capacity(MAX_WORKING),
            pending: Vec::with_capacity(MAX_PENDING),
            ledger: Ledger::new(account),
            seen_outside: vec![OrderIdText::EMPTY; SEEN_OUTSIDE],
            seen_outside_next: 0,
            events: Vec::with_capacity(MAX_VENUE_EVENTS),
            deferred: Vec::with_capacity(MAX_VENUE_EVENTS),
            notes: Vec::with_capacity(MAX_NOTES),
            next_seq: 1,
            reconciler,
            reconcile,
            fallback,
            fallback_after_ns: 0,
            clock_suspect: false,
            position_suspect: false,
            exits_after_ns: 0,
            venue_position: None,
            disagrees_since: None,
            entries_halted: false,
            failure: None,
            auth_refusals: 0,
            stats: VenueStats::default(),
        };
        if adopt_at_start {
            venue.doubt(Doubt::Adoption);
        }
        Ok(venue)
    }

    /// Counters so far.
    pub const fn stats(&self) -> &VenueStats {
        &self.stats
    }

    /// The rate limits the venue draws on.
    pub fn rate_limits(&self) -> &RateLimits {
        &self.limits
    }

    /// True when both links are up, authenticated and (private) subscribed.
    pub fn is_ready(&self) -> bool {
        self.links.iter().all(Link::is_ready)
    }

    /// True while something is in doubt: entries are refused until reconciliation is done.
    pub fn is_reconciling(&self) -> bool {
        self.reconcile.in_doubt()
    }

    /// Marks the venue's state in doubt for `reason`: reconcile as soon as both links are up.
    fn doubt(&mut self, reason: Doubt) {
        self.stats.doubts[reason.index()] += 1;
        // An unknown fate is written to the decision log under its order's id instead.
        if reason != Doubt::UnknownFate {
            self.note(VenueNote::Doubt { reason });
        }
        if self.reconciler.is_none() {
            return;
        }
        if matches!(
            reason,
            Doubt::ReduceOnlyRefused
                | Doubt::OutsideExecution
                | Doubt::OutsideCancel
                | Doubt::PositionDisagrees
        ) {
            self.position_suspect = true;
        }
        if reason == Doubt::ReduceOnlyRefused {
            self.exits_after_ns = self.now() + EXIT_PAUSE_NS;
        }
        if reason == Doubt::ClockSkew {
            self.clock_suspect = true;
        }
        self.reconcile.doubt();
    }

    /// Now on the monotonic clock, ns.
    fn now(&self) -> u64 {
        monotonic_ns(&self.clock)
    }

    /// A stamp of now, with the venue's time stamp `venue_ms` (0: none).
    fn stamp(&self, venue_ms: u64) -> Stamp {
        let mono_ns = self.now();
        Stamp {
            ts_ns: self.anchor.wall_of(mono_ns),
            venue_ms,
            mono_ns,
        }
    }

    /// Now on the venue's clock, ms.
    fn venue_ms(&self) -> u64 {
        super::rest::local_ms().saturating_add_signed(self.clock_offset_ms.load(Ordering::Relaxed))
    }

    /// Reads both links: answers, pushes, liveness, reconnects, deadlines, reconciliation; true
    /// when events wait to be drained with [`Venue::drain_events`]. Call it on every turn of the
    /// loop.
    pub fn poll_links(&mut self) -> bool {
        self.events.append(&mut self.deferred);
        for index in [PRIVATE, TRADE] {
            self.poll_link(index);
        }
        if self.orders.iter().any(|order| order.stage == Stage::Held) {
            self.send_held();
        }
        let now = self.now();
        if self.orders.iter().any(|order| order.cancel_due(now)) {
            self.send_cancels();
        }
        self.take_fallback_answers();
        self.check_deadlines();
        self.check_position();
        self.step_reconcile();
        !self.events.is_empty()
    }

    /// Answers overdue, pushes and fills overdue.
    fn check_deadlines(&mut self) {
        let now = self.now();
        if let Some(index) = self
            .pending
            .iter()
            .position(|pending| now.saturating_sub(pending.sent_ns) >= ANSWER_TIMEOUT_NS)
        {
            let late = self.pending.swap_remove(index);
            self.stats.unknown_fates += 1;
            match self.index_of(late.id) {
                Some(order) if late.kind == RequestKind::Create => {
                    let step = self.orders[order].lost();
                    self.apply(order, step);
                }
                Some(order) if late.kind == RequestKind::Amend => {
                    let at = self.stamp(0);
                    self.orders[order].amend_refused(at, &mut self.events);
                }
                _ => {
                    self.note(VenueNote::UnknownFate { id: late.id });
                    self.doubt(Doubt::UnknownFate);
                }
            }
        }
        let mut index = 0;
        while index < self.orders.len() {
            let step = self.orders[index].overdue(now);
            if step.doubt == Some(Doubt::UnknownFate) {
                self.stats.unknown_fates += 1;
            }
            if !self.apply(index, step) {
                index += 1;
            }
        }
    }

    /// The venue's `position` push, checked against the fills booked once they had time to
    /// arrive.
    fn check_position(&mut self) {
        let Some((size, seq)) = self.venue_position else {
            return;
        };
        if self.ledger.position_at(seq) == Some(size) {
            self.disagrees_since = None;
            return;
        }
        let now = self.now();
        match self.disagrees_since {
            None => self.disagrees_since = Some(now),
            Some(since) if now.saturating_sub(since) >= POSITION_GRACE_NS => {
                self.disagrees_since = None;
                self.venue_position = None;
                self.doubt(Doubt::PositionDisagrees);
            }
            Some(_) => {}
        }
    }

    /// What a transition of order `index` asks: counted, noted, doubted; the order removed
    /// when it ended. True when it was removed.
    fn apply(&mut self, index: usize, step: Step) -> bool {
        if step.amend_lost {
            let at = self.stamp(0);
            self.orders[index].amend_refused(at, &mut self.events);
        }
        if step.stale {
            self.stats.stale_pushes += 1;
        }
        if step.draining {
            self.stats.drained += 1;
        }
        if let Some(note) = step.note {
            if matches!(note, VenueNote::OutsideCancel { .. }) {
                self.stats.outside_cancels += 1;
            }
            self.note(note);
        }
        if step.halt_entries {
            self.halt_entries();
        }
        if let Some(reason) = step.doubt {
            self.doubt(reason);
        }
        if step.ended {
            self.orders.swap_remove(index);
        }
        step.ended
    }

    /// Entries halt for the session.
    fn halt_entries(&mut self) {
        if !self.entries_halted {
            self.entries_halted = true;
            self.note(VenueNote::EntriesHalted);
        }
    }

    /// The venue refused the credentials for good (`code`; 0 when it gave none): no more
    /// orders; the loop stops.
    fn fail(&mut self, code: i64) {
        if self.failure.is_none() {
            self.failure = Some(VenueFailure {
                code,
                advice: fatal_advice(code),
            });
            self.stats.fatal_code = Some(code);
        }
    }

    /// What REST answered to the exits and cancels sent over it.
    fn take_fallback_answers(&mut self) {
        while let Some(answer) = self
            .fallback
            .as_ref()
            .and_then(|fallback| fallback.answers.try_recv().ok())
        {
            let Err(error) = answer.result else {
                // Taken: what became of it comes from the private stream.
                if answer.kind == RequestKind::Cancel
                    && let Some(index) = self.index_of(answer.id)
                {
                    let now = self.now();
                    self.orders[index].cancel_taken(now);
                }
                continue;
            };
            let Some(index) = self.index_of(answer.id) else {
                continue;
            };
            let now = self.now();
            let outcome = error.outcome();
            if outcome == Outcome::Fatal {
                self.fail(error.code().unwrap_or(401));
            }
            match (answer.kind, outcome) {
                (RequestKind::Create, Outcome::Rejected(reason)) => {
                    let at = self.stamp(0);
                    let step = self.orders[index].refused(reason, at, &mut self.events);
                    self.apply(index, step);
                }
                // Not taken: held again, and sent once the trade stream is back or REST may
                // be asked again.
                (RequestKind::Create, Outcome::RateLimited | Outcome::IpBanned) => {
                    self.orders[index].hold();
                    self.fallback_after_ns = now + FALLBACK_RETRY_NS;
                }
                (RequestKind::Create, _) => {
                    self.stats.unknown_fates += 1;
                    let step = self.orders[index].lost();
                    self.apply(index, step);
                }
                (_, Outcome::AlreadyGone) => self.orders[index].cancel_taken(now),
                // A cancel that failed is sent again, after a while.
                _ => {
                    self.orders[index].cancel_deferred();
                    self.fallback_after_ns = now + FALLBACK_RETRY_NS;
                }
            }
        }
    }

    fn poll_link(&mut self, index: usize) {
        let now = self.now();
        match self.links[index].phase {
            Phase::Waiting { .. } => self.links[index].try_connect(now),
            Phase::Connecting => match self.links[index].made.try_recv() {
                Ok(Some(connection)) => self.up(index, connection, now),
                Ok(None) => self.back_off(index, now),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => {}
            },
            Phase::Authenticating | Phase::Subscribing | Phase::Ready => {
                for _ in 0..READS_PER_POLL {
                    let Some(connection) = self.links[index].connection.as_mut() else {
                        return;
                    };
                    match connection.read_message(&mut self.frame) {
                        Ok(WsRead::Message) => {
                            self.links[index].last_message_ns = now;
                            if index == PRIVATE {
                                self.on_private(now);
                            } else {
                                self.on_trade(now);
                            }
                        }
                        Ok(WsRead::Idle) => {
                            self.keep_alive(index, now);
                            return;
                        }
                        Ok(WsRead::Closed) | Err(_) => {
                            self.lose(index, now);
                            return;
                        }
                    }
                }
            }
        }
    }

    fn up(&mut self, index: usize, mut connection: Box<WsConnection>, now: u64) {
        let expires = self.venue_ms() + AUTH_EXPIRY_MS;
        if connection
            .send_text(self.writer.auth(&self.signer, expires))
            .is_err()
        {
            self.links[index].retire(connection);
            self.back_off(index, now);
            return;
        }
        self.stats.connects[index] += 1;
        let ping_interval = self.settings.liveness.ping_interval;
        self.links[index].up(connection, now, ping_interval);
    }

    fn keep_alive(&mut self, index: usize, now: u64) {
        let liveness = self.settings.liveness;
        let link = &mut self.links[index];
        // These streams are quiet between orders: only pongs come then, so silence counts
        // once a ping could have been answered.
        let quiet = liveness
            .stale_after
            .max(liveness.ping_interval + liveness.pong_timeout);
        let stale = now.saturating_sub(link.last_message_ns) > quiet.as_nanos() as u64;
        let pong_late = link.pong_due_ns.is_some_and(|due| now > due);
        if stale || pong_late {
            self.lose(index, now);
            return;
        }
        if now >= link.next_ping_ns {
            link.next_ping_ns = now + liveness.ping_interval.as_nanos() as u64;
            link.pong_due_ns = Some(now + liveness.pong_timeout.as_nanos() as u64);
            let ping = self.writer.ping();
            if let Some(connection) = link.connection.as_mut()
                && connection.send_text(ping).is_err()
            {
                self.lose(index, now);
            }
        }
    }

    fn lose(&mut self, index: usize, now: u64) {
        self.stats.losses[index] += 1;
        self.links[index].take_down(now, self.settings.backoff.max);
        // What happened meanwhile is asked of REST once the link is back.
        self.doubt(Doubt::LinkLost);
        if index == TRADE {
            // Requests in flight on it may or may not have reached the venue: creates have an
            // unknown fate, cancels are sent again on the next link (one that arrived is
            // answered 110001, harmlessly).
            self.stats.unknown_fates += self.pending.len() as u64;
            for pending_index in 0..self.pending.len() {
                let pending = self.pending[pending_index];
                let Some(order) = self.index_of(pending.id) else {
                    continue;
                };
                match pending.kind {
                    RequestKind::Create => {
                        let step = self.orders[order].lost();
                        self.apply(order, step);
                    }
                    RequestKind::Amend => {
                        let at = self.stamp(0);
                        self.orders[order].amend_refused(at, &mut self.events);
                    }
                    RequestKind::Cancel | RequestKind::Other => self.orders[order].cancel_again(),
                }
            }
            self.pending.clear();
        }
        self.back_off(index, now);
    }

    fn back_off(&mut self, index: usize, now: u64) {
        let mut x = self.jitter_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.jitter_state = x;
        let unit = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        let link = &mut self.links[index];
        let delay = self.settings.backoff.delay(link.failures, unit);
        link.failures = link.failures.saturating_add(1);
        link.phase = Phase::Waiting {
            until_ns: now + delay.as_nanos() as u64,
        };
    }

    /// An authentication the venue refused (with `code`, when it gave one): a code that
    /// refuses the credentials for good stops the venue at once, and so do [`AUTH_REFUSALS`]
    /// refusals in a row.
    fn auth_refused(&mut self, index: usize, now: u64, code: Option<i64>) {
        self.stats.auth_failures += 1;
        self.auth_refusals += 1;
        match code {
            Some(code) if classify(RequestKind::Other, code) == Outcome::Fatal => self.fail(code),
            _ if self.auth_refusals >= AUTH_REFUSALS => self.fail(0),
            _ => {}
        }
        self.lose(index, now);
    }

    fn on_private(&mut self, now: u64) {
        // Taken out while its items are walked, so that the venue may change meanwhile.
        let Some(mut decoder) = self.private_decoder.take() else {
            return;
        };
        match decoder.decode(&mut self.frame) {
            Ok(message) => self.on_private_message(message, now),
            Err(_) => {
                self.stats.decode_errors += 1;
                self.doubt(Doubt::UndecodablePush);
            }
        }
        self.private_decoder = Some(decoder);
    }

    fn on_private_message(&mut self, message: PrivateMessage<'_>, now: u64) {
        match message {
            PrivateMessage::Control(PrivateControl::Auth { success: true, .. }) => {
                self.links[PRIVATE].phase = Phase::Subscribing;
                let count = if self.settings.dcp { 3 } else { 2 };
                for subscription in &self.subscriptions[..count] {
                    if let Some(connection) = self.links[PRIVATE].connection.as_mut()
                        && connection.send_text(subscription).is_err()
                    {
                        self.lose(PRIVATE, now);
                        return;
                    }
                }
            }
            PrivateMessage::Control(PrivateControl::Auth { success: false, .. }) => {
                self.auth_refused(PRIVATE, now, None);
            }
            PrivateMessage::Control(PrivateControl::Subscribed {
                success, req_id, ..
            }) => match (req_id.as_str(), success) {
                (SUBSCRIBE_ORDERS, true) => {
                    self.links[PRIVATE].phase = Phase::Ready;
                    self.links[PRIVATE].failures = 0;
                    self.auth_refusals = 0;
                }
                // Disconnect-cancel-all refused: reported, and traded without.
                (SUBSCRIBE_DCP, false) => {
                    eprintln!(
                        "bybit private stream: dcp.future refused; disconnect-cancel-all is off"
                    );
                }
                (SUBSCRIBE_DCP | SUBSCRIBE_WALLET, true) => {}
                _ => self.lose(PRIVATE, now),
            },
            PrivateMessage::Control(PrivateControl::Pong { .. }) => {
                self.links[PRIVATE].pong_due_ns = None;
            }
            PrivateMessage::Orders { orders, .. } => {
                for order in orders {
                    self.on_order(order);
                }
            }
            PrivateMessage::Executions { executions, .. } => {
                for execution in executions {
                    self.on_execution(execution, Heard::Pushed);
                }
            }
            PrivateMessage::Positions { positions, .. } => {
                for position in positions {
                    self.on_position(position);
                }
            }
            PrivateMessage::Dcp { .. } => {}
            PrivateMessage::Wallet { accounts, .. } => {
                if let Some(wallet) = accounts
                    .iter()
                    .find(|wallet| wallet.account_type == "UNIFIED")
                {
                    let account = self.ledger.account_mut();
                    if let Some(available) = wallet.total_available_balance {
                        account.available = Some(available);
                    }
                    if let Some(balance) = wallet.total_wallet_balance {
                        account.balance = balance;
                    }
                }
            }
        }
    }

    /// An `order` push (or its snapshot view) of `update`.
    fn on_order(&mut self, update: &OrderUpdate) {
        if update.symbol != self.settings.symbol {
            return;
        }
        match self.find(&update.order_link_id, &update.order_id) {
            Some(index) => {
                let at = self.stamp(update.updated_time);
                let step = self.orders[index].pushed(update, at, &mut self.events);
                self.apply(index, step);
            }
            // One of the run's orders that ended: a late push.
            None if self
                .settings
                .ids
                .order_id(update.order_link_id.as_str())
                .is_some() =>
            {
                self.stats.stale_pushes += 1;
            }
            // Another client's order appeared: adopted or cancelled by reconciliation.
            None if update.status.is_open() => {
                self.doubt(Doubt::ForeignOrder);
            }
            None => {}
        }
    }

    /// An execution: booked once when it is one of the run's orders' fills (worked on or not),
    /// noted and doubted when it moved the position otherwise.
    fn on_execution(&mut self, execution: &Execution, heard: Heard) {
        if execution.symbol != self.settings.symbol {
            return;
        }
        let working = self.find(&execution.order_link_id, &execution.order_id);
        let own = working
            .map(|index| self.orders[index].id())
            .or_else(|| self.settings.ids.order_id(execution.order_link_id.as_str()));
        let trade = matches!(execution.exec_type, ExecType::Trade | ExecType::Unknown);
        let Some(id) = own.filter(|_| trade) else {
            self.on_outside_execution(execution, heard);
            return;
        };
        if !self.ledger.remember(execution.exec_id) {
            return;
        }
        let fee = execution.exec_fee.unwrap_or(Fixed::ZERO);
        let realized = self.ledger.book(
            execution.side,
            execution.exec_price,
            execution.exec_qty,
            fee,
            execution.seq,
        );
        self.stats.fills += 1;
        if heard == Heard::Snapshot {
            self.stats.missed_fills += 1;
            self.note(VenueNote::MissedFill {
                id,
                qty: execution.exec_qty,
            });
        }
        let at = self.stamp(execution.exec_time);
        let fill = Fill {
            id,
            side: execution.side,
            price: execution.exec_price,
            qty: execution.exec_qty,
            leaves_qty: Fixed::ZERO,
            fee,
            realized,
            ts_ns: at.ts_ns,
            venue_ms: execution.exec_time,
        };
        match working {
            Some(index) => {
                let step = self.orders[index].executed(fill, &mut self.events);
                self.apply(index, step);
            }
            // An order of the run no longer worked on: the fill counts all the same.
            None => self.events.push(VenueEvent::Filled(fill)),
        }
    }

    /// An execution that is none of the run's fills: what moved the position.
    fn on_outside_execution(&mut self, execution: &Execution, heard: Heard) {
        let kind = match execution.exec_type {
            ExecType::Funding => return,
            ExecType::AdlTrade => OutsideKind::Adl,
            ExecType::BustTrade => OutsideKind::Liquidation,
            ExecType::Delivery => OutsideKind::Delivery,
            ExecType::Trade | ExecType::Unknown => OutsideKind::OtherOrder,
        };
        if self.seen_outside.contains(&execution.exec_id) {
            return;
        }
        self.seen_outside[self.seen_outside_next] = execution.exec_id;
        self.seen_outside_next = (self.seen_outside_next + 1) % SEEN_OUTSIDE;
        self.stats.outside_executions += 1;
        self.note(VenueNote::OutsideExecution {
            kind,
            qty: Fixed::from_raw(execution.exec_qty.raw() * execution.side.sign()),
        });
        // Found in a snapshot, it is settled by that snapshot's position.
        if heard == Heard::Pushed {
            self.doubt(Doubt::OutsideExecution);
        }
        if kind == OutsideKind::Liquidation {
            self.halt_entries();
        }
    }

    /// A `position` push: the venue's position at its cross sequence, checked against the fills
    /// booked ([`BybitVenue::check_position`]).
    fn on_position(&mut self, position: &PositionUpdate) {
        if position.symbol != self.settings.symbol || position.position_idx != 0 {
            return;
        }
        let newer = self
            .venue_position
            .is_none_or(|(_, seq)| position.seq >= seq);
        if position.seq < self.ledger.cut_seq() || !newer {
            // Older than what is known; a sequence that went back is settled by the next
            // reconciliation, which reads the position now.
            self.stats.stale_pushes += 1;
            return;
        }
        if position.status.as_str() == "Liq" {
            self.halt_entries();
        }
        self.venue_position = Some((position.signed_size(), position.seq));
        self.disagrees_since = None;
    }

    fn on_trade(&mut self, now: u64) {
        let reply = match self.reply_decoder.decode(&mut self.frame) {
            Ok(reply) => reply,
            Err(_) => {
                self.stats.decode_errors += 1;
                return;
            }
        };
        match reply.op {
            TradeOp::Auth if reply.ret_code == 0 => {
                self.links[TRADE].phase = Phase::Ready;
                self.links[TRADE].failures = 0;
                self.auth_refusals = 0;
            }
            TradeOp::Auth => self.auth_refused(TRADE, now, Some(reply.ret_code)),
            TradeOp::Pong => self.links[TRADE].pong_due_ns = None,
            TradeOp::Create | TradeOp::Amend | TradeOp::Cancel => self.on_answer(&reply, now),
            TradeOp::Other => {}
        }
    }

    /// The answer to an order request.
    fn on_answer(&mut self, reply: &TradeReply, now: u64) {
        let Some(seq) = reply
            .req_id
            .as_str()
            .strip_prefix(self.settings.ids.prefix())
            .and_then(|rest| rest.strip_prefix("-r"))
            .and_then(|digits| digits.parse::<u64>().ok())
        else {
            return;
        };
        let Some(index) = self.pending.iter().position(|pending| pending.seq == seq) else {
            return;
        };
        let pending = self.pending.swap_remove(index);
        if let Some(limit) = reply.limit
            && limit.remaining == 0
        {
            self.hold_bucket(bucket_of(pending.kind), Some(limit.reset_ms));
        }
        let outcome = classify(pending.kind, reply.ret_code);
        if outcome == Outcome::Fatal {
            self.fail(reply.ret_code);
        }
        let Some(index) = self.index_of(pending.id) else {
            return;
        };
        match pending.kind {
            RequestKind::Create => self.on_create_answer(index, outcome, reply, now),
            RequestKind::Amend => self.on_amend_answer(index, outcome, now),
            RequestKind::Cancel | RequestKind::Other => {
                self.on_cancel_answer(index, outcome, now);
            }
        }
    }

    fn on_create_answer(&mut self, index: usize, outcome: Outcome, reply: &TradeReply, now: u64) {
        let at = self.stamp(reply.server_time.unwrap_or(0));
        let step = match outcome {
            // Taken, says the answer: the `order` push says how (unless it came first).
            Outcome::Ok | Outcome::NotModified | Outcome::AlreadyGone => {
                self.orders[index].acknowledged(reply.order_id, now);
                return;
            }
            Outcome::Rejected(reason) => self.orders[index].refused(reason, at, &mut self.events),
            Outcome::RateLimited => {
                self.hold_bucket(Bucket::Create, reply.limit.map(|limit| limit.reset_ms));
                self.orders[index].refused(RejectReason::RateLimited, at, &mut self.events)
            }
            // Not taken: the clock is off. Reconciliation measures it again first.
            Outcome::ClockSkew => {
                self.doubt(Doubt::ClockSkew);
                self.orders[index].refused(RejectReason::ClockSkew, at, &mut self.events)
            }
            Outcome::Reconnect => {
                self.stats.unknown_fates += 1;
                let step = self.orders[index].lost();
                self.apply(index, step);
                self.lose(TRADE, now);
                return;
            }
            Outcome::Fatal => {
                self.orders[index].refused(RejectReason::InvalidOrder, at, &mut self.events)
            }
            Outcome::Unknown | Outcome::IpBanned => {
                self.stats.unknown_fates += 1;
                self.orders[index].lost()
            }
        };
        self.apply(index, step);
    }

    fn on_amend_answer(&mut self, index: usize, outcome: Outcome, now: u64) {
        match outcome {
            // Taken: the push with the new terms says it is done.
            Outcome::Ok | Outcome::NotModified => return self.orders[index].amend_taken(now),
            Outcome::RateLimited => self.hold_bucket(Bucket::Amend, None),
            Outcome::ClockSkew => self.doubt(Doubt::ClockSkew),
            Outcome::Reconnect => self.lose(TRADE, now),
            // Refused, or the order already gone (its end comes from the stream), or a fate
            // unknown (a push with new terms would still update them): the loop falls back.
            Outcome::AlreadyGone
            | Outcome::Rejected(_)
            | Outcome::Unknown
            | Outcome::IpBanned
            | Outcome::Fatal => {}
        }
        // (Losing a link ends no order: `index` still holds this one.)
        let at = self.stamp(0);
        self.orders[index].amend_refused(at, &mut self.events);
    }

    fn on_cancel_answer(&mut self, index: usize, outcome: Outcome, now: u64) {
        match outcome {
            // Taken, or the order is already gone: its end is awaited from the private stream.
            Outcome::Ok | Outcome::NotModified | Outcome::AlreadyGone => {
                self.orders[index].cancel_taken(now);
            }
            Outcome::RateLimited => {
                self.hold_bucket(Bucket::Cancel, None);
                self.orders[index].cancel_deferred();
            }
            Outcome::ClockSkew => {
                self.orders[index].cancel_deferred();
                self.doubt(Doubt::ClockSkew);
            }
            Outcome::Reconnect => {
                self.orders[index].cancel_deferred();
                self.lose(TRADE, now);
            }
            Outcome::Fatal | Outcome::Rejected(_) | Outcome::Unknown | Outcome::IpBanned => {
                let step = self.orders[index].cancel_refused(now);
                if step.doubt.is_some() {
                    self.stats.unknown_fates += 1;
                }
                self.apply(index, step);
            }
        }
    }

    /// Closes `bucket` until the venue's reset `reset_ms` (venue clock; a second from now when
    /// it sent none).
    fn hold_bucket(&self, bucket: Bucket, reset_ms: Option<u64>) {
        let offset = self.clock_offset_ms.load(Ordering::Relaxed);
        let reset_ms = reset_ms.unwrap_or_else(|| self.venue_ms() + 1000);
        self.limits.hold_until(
            bucket,
            reset_ms
                .saturating_add_signed(-offset)
                .saturating_mul(1_000_000),
        );
    }

    /// Sends the cancels due, as far as the link and the cancel bucket allow (over REST while
    /// the trade stream is down); the rest go on a later poll.
    fn send_cancels(&mut self) {
        let now = self.now();
        for index in 0..self.orders.len() {
            let order = self.orders[index];
            if !order.cancel_due(now) {
                continue;
            }
            if !self.links[TRADE].is_ready() {
                // Over REST meanwhile (its bucket is taken there).
                if let Some(fallback) = self.usable_fallback()
                    && fallback
                        .requests
                        .try_send(FallbackRequest::Cancel {
                            id: order.id(),
                            adopted: order.adopted.then_some(order.venue_id),
                        })
                        .is_ok()
                {
                    self.stats.rest_fallbacks += 1;
                    self.orders[index].cancel_sent();
                }
                continue;
            }
            if self.clock_suspect || self.pending.len() == MAX_PENDING {
                return;
            }
            if self.limits.try_acquire(Bucket::Cancel, wall_ns()).is_err() {
                return;
            }
            let reference = if order.adopted {
                OrderRef::Venue(order.venue_id.as_str())
            } else {
                OrderRef::Client(order.id())
            };
            if self.send_cancel(order.id(), reference) {
                self.orders[index].cancel_sent();
            } else {
                return;
            }
        }
    }

    /// Writes a cancel of `reference` (for order `id`) on the trade stream, awaiting its
    /// answer; false when the link broke (it is then lost).
    fn send_cancel(&mut self, id: OrderId, reference: OrderRef<'_>) -> bool {
        let seq = self.next_seq;
        self.next_seq += 1;
        let stamp = self.venue_ms();
        let bytes = self
            .writer
            .cancel(seq, stamp, self.settings.symbol, reference);
        let sent = self.links[TRADE]
            .connection
            .as_mut()
            .is_some_and(|connection| connection.send_text(bytes).is_ok());
        self.stats.cancels += 1;
        let now = self.now();
        if !sent {
            self.lose(TRADE, now);
            return false;
        }
        self.pending.push(Pending {
            seq,
            kind: RequestKind::Cancel,
            id,
            sent_ns: now,
        });
        true
    }

    /// The REST fallback, unless it failed a moment ago.
    fn usable_fallback(&self) -> Option<&Fallback> {
        self.fallback
            .as_ref()
            .filter(|_| self.now() >= self.fallback_after_ns)
    }

    /// Keeps `note` for the decision log (while there is room: the counters say the rest).
    fn note(&mut self, note: VenueNote) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(note);
        }
    }

    /// Where the working order an update or an execution is about sits: by the `orderLinkId`
    /// of the run's own orders, by the venue's id for adopted ones.
    fn find(&self, link: &OrderIdText, venue_id: &OrderIdText) -> Option<usize> {
        let own = self.settings.ids.order_id(link.as_str());
        self.orders.iter().position(|working| {
            if working.adopted {
                working.venue_id == *venue_id
            } else {
                own == Some(working.id())
            }
        })
    }

    /// Where working order `id` sits.
    fn index_of(&self, id: OrderId) -> Option<usize> {
        self.orders.iter().position(|working| working.id() == id)
    }

    fn reject_locally(&mut self, id: OrderId, reason: RejectReason, ts_ns: u64) {
        self.stats.local_rejects += 1;
        self.deferred.push(VenueEvent::Rejected {
            id,
            reason,
            ts_ns,
            venue_ms: 0,
        });
    }

    /// Writes the `order.create` of `order` on the trade stream (a token of the create bucket
    /// taken already), awaiting its answer; the venue-clock stamp it carries.
    fn send_create(&mut self, order: OrderRequest) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let stamp = self.venue_ms();
        let request = NewOrder {
            id: order.id,
            symbol: self.settings.symbol,
            side: order.side,
            price: order.price,
            qty: order.qty,
            reduce_only: order.reduce_only,
        };
        let bytes = self.writer.create(seq, stamp, &request);
        let sent = self.links[TRADE]
            .connection
            .as_mut()
            .is_some_and(|connection| connection.send_text(bytes).is_ok());
        self.stats.creates += 1;
        let now = self.now();
        self.pending.push(Pending {
            seq,
            kind: RequestKind::Create,
            id: order.id,
            sent_ns: now,
        });
        if !sent {
            // It may have left in part: its fate is for reconciliation.
            self.lose(TRADE, now);
        }
        stamp
    }

    /// True when an exit may leave now: the venue works, the position is not in doubt, and no
    /// reduce-only refusal came in the last [`EXIT_PAUSE_NS`].
    fn exits_may_go(&self) -> bool {
        self.failure.is_none() && !self.position_suspect && self.now() >= self.exits_after_ns
    }

    /// Sends the exits held back, as far as the links and the create bucket allow: on the
    /// trade stream, or over REST while it is down (its bucket is taken there). An exit that
    /// would not reduce the position the fills built (flat, or on the position's own side) is
    /// refused here, as the venue would (110017), without asking it.
    fn send_held(&mut self) {
        if !self.exits_may_go() {
            return;
        }
        let mut index = 0;
        while index < self.orders.len() {
            let order = self.orders[index];
            if order.stage != Stage::Held {
                index += 1;
                continue;
            }
            let position = self.ledger.account().position;
            let reduces = match order.order.side {
                crate::side::Side::Buy => position.raw() < 0,
                crate::side::Side::Sell => position.is_positive(),
            };
            if !reduces {
                self.orders.swap_remove(index);
                let ts_ns = self.stamp(0).ts_ns;
                self.reject_locally(order.id(), RejectReason::ReduceOnlyNotSatisfied, ts_ns);
                continue;
            }
            index += 1;
            if !self.links[TRADE].is_ready() {
                let request = NewOrder {
                    id: order.id(),
                    symbol: self.settings.symbol,
                    side: order.order.side,
                    price: order.order.price,
                    qty: order.order.qty,
                    reduce_only: true,
                };
                if let Some(fallback) = self.usable_fallback()
                    && fallback
                        .requests
                        .try_send(FallbackRequest::Create(request))
                        .is_ok()
                {
                    self.stats.rest_fallbacks += 1;
                    let stamp = self.venue_ms();
                    self.orders[index - 1].send(stamp);
                }
                continue;
            }
            if self.clock_suspect
                || self.pending.len() == MAX_PENDING
                || self.limits.try_acquire(Bucket::Create, wall_ns()).is_err()
            {
                return;
            }
            // Marked sent first: a broken link makes its fate unknown at once.
            let stamp = self.venue_ms();
            self.orders[index - 1].send(stamp);
            let stamp = self.send_create(order.order);
            if let Some(sent) = self.index_of(order.id()) {
                self.orders[sent].sent_stamp_ms = stamp;
            }
        }
    }
}

/// Now, ns since the epoch: the rate limits' clock (the loop's market time stands still
/// between frames).
fn wall_ns() -> u64 {
    crate::bybit::rest::local_ms().saturating_mul(1_000_000)
}

/// The bucket a request draws on.
const fn bucket_of(kind: RequestKind) -> Bucket {
    match kind {
        RequestKind::Create => Bucket::Create,
        RequestKind::Amend => Bucket::Amend,
        RequestKind::Cancel | RequestKind::Other => Bucket::Cancel,
    }
}

impl Venue for BybitVenue {
    const MAX_EVENTS: usize = MAX_VENUE_EVENTS;
    const AMENDS: bool = true;

    fn submit(&mut self, order: OrderRequest, now_ns: u64) {
        if self.orders.len() == MAX_WORKING {
            return self.reject_locally(order.id, RejectReason::TooManyOrders, now_ns);
        }
        if order.reduce_only {
            // An exit is never refused here: it is held until it can go (a loop that places
            // it again on a refusal would spin while the link is down or the bucket empty).
            self.orders.push(WorkingOrder::held(order));
            return self.send_held();
        }
        // An entry waits for nothing: it goes now or is refused.
        if self.failure.is_some() || self.entries_halted {
            return self.reject_locally(order.id, RejectReason::EntriesHalted, now_ns);
        }
        if !self.is_ready() || self.is_reconciling() || self.clock_suspect {
            return self.reject_locally(order.id, RejectReason::VenueUnavailable, now_ns);
        }
        if self.pending.len() == MAX_PENDING {
            return self.reject_locally(order.id, RejectReason::TooManyOrders, now_ns);
        }
        if self.limits.try_acquire(Bucket::Create, wall_ns()).is_err() {
            return self.reject_locally(order.id, RejectReason::RateLimited, now_ns);
        }
        self.orders.push(WorkingOrder::sent(order, 0));
        let stamp = self.send_create(order);
        if let Some(index) = self.index_of(order.id) {
            self.orders[index].sent_stamp_ms = stamp;
        }
    }

    fn cancel(&mut self, id: OrderId, _now_ns: u64) {
        let Some(index) = self.index_of(id) else {
            return;
        };
        let at = self.stamp(0);
        // Held: cancelled here, handed over on the next poll.
        let step = self.orders[index].want_cancel(at, &mut self.deferred);
        if !self.apply(index, step) {
            self.send_cancels();
        }
    }

    fn amend(&mut self, id: OrderId, price: Fixed, qty: Fixed, now_ns: u64) {
        let at = self.stamp(0);
        let Some(index) = self.index_of(id) else {
            self.deferred
                .push(VenueEvent::AmendRejected { id, ts_ns: now_ns });
            return;
        };
        if self.orders[index].stage == Stage::Held {
            // Never sent: changed here, handed over on the next poll.
            return self.orders[index].amend_requested(price, qty, at, &mut self.deferred);
        }
        // What cannot go now is refused, on the next poll: the loop then cancels and places
        // again (over REST, too, while the trade stream is down).
        let refused = !self.orders[index].amendable()
            || !self.links[TRADE].is_ready()
            || self.clock_suspect
            || self.failure.is_some()
            || self.pending.len() == MAX_PENDING
            || self.limits.try_acquire(Bucket::Amend, wall_ns()).is_err();
        if refused {
            self.deferred
                .push(VenueEvent::AmendRejected { id, ts_ns: now_ns });
            return;
        }
        let order = self.orders[index];
        let reference = if order.adopted {
            OrderRef::Venue(order.venue_id.as_str())
        } else {
            OrderRef::Client(id)
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let stamp = self.venue_ms();
        let bytes = self
            .writer
            .amend(seq, stamp, self.settings.symbol, reference, price, qty);
        let sent = self.links[TRADE]
            .connection
            .as_mut()
            .is_some_and(|connection| connection.send_text(bytes).is_ok());
        self.stats.amends += 1;
        self.orders[index].amend_requested(price, qty, at, &mut self.events);
        let now = self.now();
        self.pending.push(Pending {
            seq,
            kind: RequestKind::Amend,
            id,
            sent_ns: now,
        });
        if !sent {
            self.lose(TRADE, now);
        }
    }

    fn drain_events(&mut self, mut on_event: impl FnMut(VenueEvent)) {
        for event in self.events.drain(..) {
            on_event(event);
        }
    }

    fn account(&self) -> &Account {
        self.ledger.account()
    }

    fn resting_orders(&self) -> usize {
        self.orders.len()
    }

    fn poll(&mut self) -> bool {
        self.poll_links()
    }

    fn drain_notes(&mut self, mut on_note: impl FnMut(VenueNote)) {
        for note in self.notes.drain(..) {
            on_note(note);
        }
    }

    fn live_stats(&self) -> Option<VenueStats> {
        let mut stats = self.stats;
        stats.connected = [self.links[PRIVATE].is_ready(), self.links[TRADE].is_ready()];
        stats.reconciling = self.is_reconciling();
        stats.entries_halted = self.entries_halted;
        Some(stats)
    }

    fn failure(&self) -> Option<VenueFailure> {
        self.failure
    }

    fn settle(&mut self, book: &OrderBook) {
        let _ = book;
        // The loop cancelled its own orders; the adopted ones go too.
        let at = self.stamp(0);
        for index in 0..self.orders.len() {
            if self.orders[index].adopted {
                let _ = self.orders[index].want_cancel(at, &mut self.events);
            }
        }
        self.send_cancels();
        // The ends of the last cancels, for at most a second.
        let start = self.now();
        while !self.orders.is_empty() && self.now() < start + SETTLE_NS {
            self.poll_links();
            std::thread::sleep(Duration::from_millis(1));
        }
        // What still works has an unknown end (a push lost): reconciliation finds it (and
        // sends again the cancels the venue did not get).
        if self.orders.is_empty() || self.reconciler.is_none() {
            return;
        }
        for index in 0..self.orders.len() {
            let id = self.orders[index].id();
            self.stats.unknown_fates += 1;
            self.note(VenueNote::UnknownFate { id });
        }
        self.doubt(Doubt::UnknownFate);
        while !self.orders.is_empty() && self.now() < start + SETTLE_NS + SETTLE_RECONCILE_NS {
            self.poll_links();
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

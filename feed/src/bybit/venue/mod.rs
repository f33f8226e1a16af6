//! The Bybit venue, as the hot thread drives it: orders go out on the trade stream
//! (`/v5/trade`), and what became of them comes back on the private stream (`/v5/private`).
//!
//! [`BybitVenue`] implements [`Venue`], so the trading loop that paper-trades drives it alike.
//!
//! - **Links.** Each stream is one WebSocket, made on a connecting thread of its own (a
//!   connection may block; the hot thread never does), then authenticated (`auth`, signed
//!   `GET/realtime{expires}`); the private one subscribes `order`, `execution`, `position` and
//!   `wallet`. Liveness is the public stream's: `{"op":"ping"}` every `ping_interval`, dead
//!   without a pong in `pong_timeout` or without any message in `stale_after` (at least a ping
//!   interval and a pong timeout: these streams are quiet between orders); a dead, closed or
//!   broken link is made again after a jittered exponential back-off.
//! - **REST fallback.** While the trade stream is down, exits and cancels go over REST on a
//!   cold thread; entries wait (the state is in doubt until the link is back and reconciled).
//! - **Orders.** [`Venue::submit`] writes an `order.create` (PostOnly limit, `reduceOnly` for
//!   exits, the `orderLinkId` of the run's [`LinkIds`]) after taking a token of the create
//!   bucket; [`Venue::cancel`] an `order.cancel`, sent again (after a reconnect, a refusal or an
//!   empty bucket) until the order is gone. Neither waits. An entry is refused locally,
//!   as a [`VenueEvent::Rejected`] handed over on the next poll (a loop that sends again on a
//!   refusal must not meet it in the same drain), when the trade link is not up
//!   ([`RejectReason::VenueUnavailable`]) or the bucket is empty
//!   ([`RejectReason::RateLimited`]). An exit is never refused: it is held until it can go.
//! - **Answers.** A trade-stream ack only means accepted. A refusal at the door is read by
//!   [`classify`]: a rejection of the order becomes [`VenueEvent::Rejected`]; a cancel of an
//!   order already gone is nothing (its end comes from the private stream); an answer that
//!   leaves the order's fate unknown leaves it working, counted in
//!   [`VenueStats::unknown_fates`], for reconciliation. So does an answer not followed by its
//!   `order` push, and a request never answered. What reconciliation found is told to the
//!   loop as [`VenueNote`]s. Orders the engine did not place are cancelled, or adopted when
//!   [`VenueSettings::adopt_unknown_orders`] says so: they work under ids from
//!   [`ADOPTED_IDS`] up, known by the venue's id, their fills booked, cancelled at shutdown.
//! - **The truth** is the private stream: an order `New` is [`VenueEvent::Accepted`] (queue
//!   ahead unknown: zero); `Cancelled` with `EC_PostOnlyWillTakeLiquidity` is the post-only
//!   reject the paper venue also gives; `Cancelled` otherwise is [`VenueEvent::Cancelled`];
//!   each `execution` is a [`VenueEvent::Filled`] (seen once, by `execId`), booked into the
//!   position; the `wallet` sets the balance.
//!
//! Once both links are up, polling, submitting and cancelling allocate nothing: requests are
//! written into buffers made with the venue, decoders and tables are sized once.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};

use super::codes::{Outcome, Request as RequestKind, classify};
use super::limits::{Endpoint as Bucket, RateLimits};
use super::live::{Backoff, Liveness};
use super::private::{
    ExecType, Execution, OrderIdText, OrderStatus, OrderUpdate, PrivateControl, PrivateDecoder,
    PrivateMessage,
};
use super::rest::snapshot::{VenueSnapshot, snapshot};
use super::rest::{RestClient, RestError};
use super::sign::Signer;
use super::trade::{
    LinkIds, NewOrder, OrderRef, TradeOp, TradeReply, TradeReplyDecoder, TradeWriter,
};
use crate::book::OrderBook;
use crate::fixed::Fixed;
use crate::frame::FrameBuf;
use crate::journal::monotonic_ns;
use crate::net::{Endpoint, WsConnection, WsRead, connect};
use crate::order::{Account, Fill, OrderId, OrderRequest, Position, RejectReason, VenueEvent};
use crate::text::Symbol;
use crate::venue::{Venue, VenueNote};

/// Notes between two drains, at most (more are counted, not kept).
const MAX_NOTES: usize = 256;

/// Orders working at once, at most.
pub const MAX_WORKING: usize = 32;
/// Order ids given to adopted orders count up from here (the run's own count up from 1).
pub const ADOPTED_IDS: u64 = 1 << 62;
/// Requests awaiting their answer, at most.
const MAX_PENDING: usize = 64;
/// Execution ids remembered, to count a fill once.
const SEEN_EXECUTIONS: usize = 256;
/// Events between two drains, at most.
const MAX_VENUE_EVENTS: usize = 512;
/// Messages read from one link in one poll, at most.
const READS_PER_POLL: usize = 16;
/// How far ahead an `auth` request expires.
const AUTH_EXPIRY_MS: u64 = 10_000;
/// An order request unanswered this long has an unknown fate: reconciled.
const ANSWER_TIMEOUT_NS: u64 = 5_000_000_000;
/// An order whose create or cancel was answered, with no `order` push this long after: the
/// push counts as lost, and the order's fate is reconciled.
const PUSH_TIMEOUT_NS: u64 = 3_000_000_000;
/// At shutdown, how long the last cancels' ends are awaited from the streams.
const SETTLE_NS: u64 = 1_000_000_000;
/// At shutdown, how long reconciliation may then take to find the ends not pushed.
const SETTLE_RECONCILE_NS: u64 = 5_000_000_000;
/// A reconciliation that failed is tried again after this long.
const RECONCILE_RETRY_NS: u64 = 1_000_000_000;
/// A REST fallback that failed is tried again after this long.
const FALLBACK_RETRY_NS: u64 = 1_000_000_000;

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
    /// Subscribe the `dcp` topic too, which arms disconnect-cancel-all (set over REST).
    pub dcp: bool,
    /// Orders the engine did not place, found by reconciliation: adopted (kept, their fills
    /// booked, cancelled at shutdown) when true, else cancelled.
    pub adopt_unknown_orders: bool,
}

/// Counters of the venue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VenueStats {
    /// Whether the private and the trade link are up and ready now.
    pub connected: [bool; 2],
    /// Whether reconciliation is wanted or running now (entries wait).
    pub reconciling: bool,
    /// Connections made, private and trade.
    pub connects: [u64; 2],
    /// Connections lost, private and trade.
    pub losses: [u64; 2],
    /// Authentications refused.
    pub auth_failures: u64,
    /// Creates sent.
    pub creates: u64,
    /// Cancels sent.
    pub cancels: u64,
    /// Orders refused before they were sent (link down, rate limit, table full).
    pub local_rejects: u64,
    /// Orders whose fate became unknown: an answer saying nothing sure, none at all, a link
    /// lost mid-request, no `order` push after an answer (each reconciled).
    pub unknown_fates: u64,
    /// Fills booked.
    pub fills: u64,
    /// Pushes and replies that did not decode.
    pub decode_errors: u64,
    /// Reconciliations done.
    pub reconciliations: u64,
    /// Fills found by reconciliation (their push was missed).
    pub missed_fills: u64,
    /// Open orders the engine did not place, adopted by reconciliation.
    pub foreign_adopted: u64,
    /// Working orders whose end was found by reconciliation (their push was missed, or they
    /// never reached the venue).
    pub orders_settled: u64,
    /// Open orders at the venue the engine did not know, cancelled.
    pub foreign_cancels: u64,
    /// Times the venue's position differed from the engine's and was taken.
    pub position_corrections: u64,
    /// Exits and cancels sent over REST while the trade stream was down.
    pub rest_fallbacks: u64,
}

/// Link index in [`VenueStats`].
const PRIVATE: usize = 0;
const TRADE: usize = 1;

enum ConnectRequest {
    Connect,
    Retire(Box<WsConnection>),
}

enum Phase {
    /// No connection; the next attempt at `until_ns` (monotonic).
    Waiting { until_ns: u64 },
    /// With the connecting thread.
    Connecting,
    /// Up; `auth` sent.
    Authenticating,
    /// Up and authenticated; (private) `subscribe` sent.
    Subscribing,
    /// Ready for orders and pushes.
    Ready,
}

struct Link {
    phase: Phase,
    connection: Option<Box<WsConnection>>,
    requests: Sender<ConnectRequest>,
    made: Receiver<Option<Box<WsConnection>>>,
    last_message_ns: u64,
    next_ping_ns: u64,
    pong_due_ns: Option<u64>,
    since_ns: u64,
    failures: u32,
}

impl Link {
    fn new(name: &str, endpoint: Endpoint, settings: &VenueSettings) -> std::io::Result<Link> {
        let (requests, inbox) = crossbeam_channel::bounded::<ConnectRequest>(8);
        let (outbox, made) = crossbeam_channel::bounded(1);
        let tls = settings.tls.clone();
        let timeout = settings.connect_timeout;
        let label = name.to_owned();
        std::thread::Builder::new()
            .name(format!("{name}-connect"))
            .spawn(move || {
                for request in inbox {
                    match request {
                        ConnectRequest::Connect => {
                            let connection = match connect(&endpoint, tls.as_ref(), timeout) {
                                Ok(connection) => Some(Box::new(connection)),
                                Err(err) => {
                                    eprintln!("bybit {label} stream: {err}");
                                    None
                                }
                            };
                            if outbox.send(connection).is_err() {
                                return;
                            }
                        }
                        ConnectRequest::Retire(mut connection) => connection.close(),
                    }
                }
            })?;
        Ok(Link {
            phase: Phase::Waiting { until_ns: 0 },
            connection: None,
            requests,
            made,
            last_message_ns: 0,
            next_ping_ns: 0,
            pong_due_ns: None,
            since_ns: 0,
            failures: 0,
        })
    }

    const fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready)
    }
}

/// An order the venue is working on.
#[derive(Debug, Clone, Copy)]
struct Working {
    order: OrderRequest,
    venue_id: OrderIdText,
    accepted: bool,
    filled: Fixed,
    /// The loop asked for a cancel: it is sent, and sent again, until the order is gone.
    cancel_wanted: bool,
    /// A cancel is on its way (or answered; the order's end is awaited).
    cancel_sent: bool,
    /// An exit held back (no link for it, or no create token yet): not sent yet.
    unsent: bool,
    /// An answer said done but no `order` push has said so yet: past this (monotonic), the
    /// push counts as lost and the order's fate is for reconciliation.
    push_due_ns: Option<u64>,
    /// Placed by someone else and adopted: known by its venue id (`order.id` is one of
    /// [`ADOPTED_IDS`]), cancelled at shutdown.
    adopted: bool,
}

impl Working {
    /// `order`, just submitted (`unsent`: held back, to be sent by a later poll).
    const fn new(order: OrderRequest, unsent: bool) -> Working {
        Working {
            order,
            venue_id: OrderIdText::EMPTY,
            accepted: false,
            filled: Fixed::ZERO,
            cancel_wanted: false,
            cancel_sent: false,
            unsent,
            push_due_ns: None,
            adopted: false,
        }
    }

    /// Open order `open` of another client, adopted as `id`.
    fn adopt(open: &OrderUpdate, id: OrderId) -> Working {
        Working {
            order: OrderRequest {
                id,
                side: open.side,
                price: open.price.unwrap_or(Fixed::ZERO),
                qty: open.qty,
                reduce_only: open.reduce_only,
            },
            venue_id: open.order_id,
            accepted: true,
            filled: open.cum_exec_qty,
            cancel_wanted: false,
            cancel_sent: false,
            unsent: false,
            push_due_ns: None,
            adopted: true,
        }
    }
}

/// Where the working order an update or an execution is about sits in `working`: by the
/// `orderLinkId` of the run's own orders, by the venue's id for adopted ones.
fn find_working(
    working: &[Working],
    ids: &LinkIds,
    link: &OrderIdText,
    venue_id: &OrderIdText,
) -> Option<usize> {
    let own = ids.order_id(link.as_str());
    working.iter().position(|working| {
        if working.adopted {
            working.venue_id == *venue_id
        } else {
            own == Some(working.order.id)
        }
    })
}

/// What a request awaiting its answer was.
#[derive(Debug, Clone, Copy)]
struct Pending {
    seq: u64,
    kind: RequestKind,
    id: OrderId,
    /// When it was sent (monotonic).
    sent_ns: u64,
}

/// Reconciliation's cold side: a thread measuring the venue's clock again and asking REST for
/// its state.
struct Reconciler {
    requests: Sender<()>,
    results: Receiver<Result<Box<VenueSnapshot>, RestError>>,
}

impl Reconciler {
    fn start(client: Arc<RestClient>, symbol: Symbol) -> std::io::Result<Reconciler> {
        let (requests, inbox) = crossbeam_channel::bounded::<()>(1);
        let (outbox, results) = crossbeam_channel::bounded(1);
        std::thread::Builder::new()
            .name("venue-reconcile".to_owned())
            .spawn(move || {
                for () in inbox {
                    // The clock first: a doubt may come from a 10002.
                    let snapshot = client
                        .sync_clock()
                        .and_then(|_| snapshot(&client, symbol.as_str()))
                        .map(Box::new);
                    if outbox.send(snapshot).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Reconciler { requests, results })
    }
}

/// An order request sent over REST instead of the trade stream.
#[derive(Debug, Clone, Copy)]
enum FallbackRequest {
    /// A new order (an exit: entries wait for the trade stream).
    Create(NewOrder),
    /// A cancel of order `id`, by the venue's id when it is adopted.
    Cancel {
        /// The order.
        id: OrderId,
        /// The venue's id of an adopted order.
        adopted: Option<OrderIdText>,
    },
}

/// What REST answered to a [`FallbackRequest`].
struct FallbackAnswer {
    id: OrderId,
    kind: RequestKind,
    result: Result<(), RestError>,
}

/// The REST fallback's cold side: a thread sending orders and cancels over REST while the
/// trade stream is down.
struct Fallback {
    requests: Sender<FallbackRequest>,
    answers: Receiver<FallbackAnswer>,
}

impl Fallback {
    fn start(client: Arc<RestClient>, settings: &VenueSettings) -> std::io::Result<Fallback> {
        let (requests, inbox) = crossbeam_channel::bounded::<FallbackRequest>(MAX_PENDING);
        let (outbox, answers) = crossbeam_channel::bounded(MAX_PENDING);
        let mut writer = TradeWriter::new(settings.ids, settings.recv_window_ms);
        let symbol = settings.symbol;
        std::thread::Builder::new()
            .name("venue-rest-orders".to_owned())
            .spawn(move || {
                for request in inbox {
                    let (id, kind, path, body) = match request {
                        FallbackRequest::Create(order) => (
                            order.id,
                            RequestKind::Create,
                            "/v5/order/create",
                            writer.create_body(&order),
                        ),
                        FallbackRequest::Cancel { id, adopted } => (
                            id,
                            RequestKind::Cancel,
                            "/v5/order/cancel",
                            writer.cancel_body(
                                symbol,
                                adopted.as_ref().map_or(OrderRef::Client(id), |venue_id| {
                                    OrderRef::Venue(venue_id.as_str())
                                }),
                            ),
                        ),
                    };
                    let body = String::from_utf8_lossy(body).into_owned();
                    let bucket = bucket_of(kind);
                    let result = client.post(path, &body, bucket).map(|_| ());
                    if outbox.send(FallbackAnswer { id, kind, result }).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Fallback { requests, answers })
    }
}

/// Where reconciliation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reconcile {
    /// Nothing in doubt.
    Idle,
    /// In doubt: to be asked once both links are up, from `after_ns` (monotonic).
    Wanted { after_ns: u64 },
    /// Asked; the answer awaited.
    InFlight,
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
    writer: TradeWriter,
    subscribe: Vec<u8>,
    private_decoder: PrivateDecoder,
    reply_decoder: TradeReplyDecoder,
    frame: FrameBuf,
    working: Vec<Working>,
    pending: Vec<Pending>,
    seen: Vec<OrderIdText>,
    seen_next: usize,
    events: Vec<VenueEvent>,
    /// Events of the venue's own making (local refusals), handed over from the next poll on:
    /// a loop that answers a refusal by sending again must not meet it in the same drain.
    deferred: Vec<VenueEvent>,
    notes: Vec<VenueNote>,
    account: Account,
    position: Position,
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
        let mut position = Position::default();
        if !account.position.is_zero() {
            let side = if account.position.is_positive() {
                crate::side::Side::Buy
            } else {
                crate::side::Side::Sell
            };
            position.apply(side, account.entry_price, account.position.abs());
        }
        let topics = if settings.dcp {
            r#""order","execution","position","wallet","dcp""#
        } else {
            r#""order","execution","position","wallet""#
        };
        let adopt_at_start = settings.adopt_unknown_orders;
        let subscribe =
            format!(r#"{{"op":"subscribe","req_id":"private","args":[{topics}]}}"#).into_bytes();
        Ok(BybitVenue {
            writer: TradeWriter::new(settings.ids, settings.recv_window_ms),
            jitter_state: settings.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            settings,
            signer,
            limits,
            clock_offset_ms,
            links,
            clock: quanta::Clock::new(),
            subscribe,
            private_decoder: PrivateDecoder::new(),
            reply_decoder: TradeReplyDecoder::new(),
            frame: FrameBuf::with_capacity(1 << 18),
            working: Vec::with_capacity(MAX_WORKING),
            pending: Vec::with_capacity(MAX_PENDING),
            seen: vec![OrderIdText::EMPTY; SEEN_EXECUTIONS],
            seen_next: 0,
            events: Vec::with_capacity(MAX_VENUE_EVENTS),
            deferred: Vec::with_capacity(MAX_VENUE_EVENTS),
            notes: Vec::with_capacity(MAX_NOTES),
            account,
            position,
            next_seq: 1,
            // Orders the engine did not place are adopted from the start: ask once up.
            reconcile: if adopt_at_start && reconciler.is_some() {
                Reconcile::Wanted { after_ns: 0 }
            } else {
                Reconcile::Idle
            },
            reconciler,
            fallback,
            fallback_after_ns: 0,
            clock_suspect: false,
            stats: VenueStats::default(),
        })
    }

    /// Counters so far.
    pub const fn stats(&self) -> &VenueStats {
        &self.stats
    }

    /// True when both links are up, authenticated and (private) subscribed.
    pub fn is_ready(&self) -> bool {
        self.links.iter().all(Link::is_ready)
    }

    /// True while something is in doubt: entries are refused until reconciliation is done.
    pub fn is_reconciling(&self) -> bool {
        self.reconcile != Reconcile::Idle
    }

    /// Marks the venue's state in doubt: reconcile as soon as both links are up.
    fn doubt(&mut self) {
        if self.reconciler.is_some() && self.reconcile == Reconcile::Idle {
            self.reconcile = Reconcile::Wanted { after_ns: 0 };
        }
    }

    /// Now on the venue's clock, ms.
    fn venue_ms(&self) -> u64 {
        crate::bybit::rest::local_ms()
            .saturating_add_signed(self.clock_offset_ms.load(Ordering::Relaxed))
    }

    /// Reads both links: answers, pushes, liveness, reconnects; true when events wait to be
    /// drained with [`Venue::drain_events`]. Call it on every turn of the loop.
    pub fn poll_links(&mut self) -> bool {
        self.events.append(&mut self.deferred);
        for index in [PRIVATE, TRADE] {
            self.poll_link(index);
        }
        if self.working.iter().any(|working| working.unsent) {
            self.send_held_exits();
        }
        if self
            .working
            .iter()
            .any(|working| working.cancel_wanted && !working.cancel_sent)
        {
            self.send_cancels();
        }
        self.take_fallback_answers();
        let now = monotonic_ns(&self.clock);
        if let Some(index) = self
            .pending
            .iter()
            .position(|pending| now.saturating_sub(pending.sent_ns) >= ANSWER_TIMEOUT_NS)
        {
            let late = self.pending.swap_remove(index);
            self.stats.unknown_fates += 1;
            self.note(VenueNote::UnknownFate { id: late.id });
            self.doubt();
        }
        if let Some(index) = self
            .working
            .iter()
            .position(|working| working.push_due_ns.is_some_and(|due| now >= due))
        {
            self.unheard(index);
        }
        self.step_reconcile(now);
        !self.events.is_empty()
    }

    /// What REST answered to the exits and cancels sent over it.
    fn take_fallback_answers(&mut self) {
        while let Some(answer) = self
            .fallback
            .as_ref()
            .and_then(|fallback| fallback.answers.try_recv().ok())
        {
            let Err(error) = answer.result else {
                // Accepted: what became of it comes from the private stream.
                continue;
            };
            let ts_ns = wall_ns();
            let working = self
                .working
                .iter()
                .position(|working| working.order.id == answer.id);
            match (answer.kind, error.outcome()) {
                (RequestKind::Create, Outcome::Rejected(reason)) => {
                    self.forget(answer.id);
                    self.events.push(VenueEvent::Rejected {
                        id: answer.id,
                        reason,
                        ts_ns,
                    });
                }
                // Not taken: held again, and sent once the trade stream is back or REST
                // may be asked again.
                (RequestKind::Create, Outcome::RateLimited | Outcome::IpBanned) => {
                    if let Some(index) = working {
                        self.working[index].unsent = true;
                    }
                    self.fallback_after_ns = monotonic_ns(&self.clock) + FALLBACK_RETRY_NS;
                }
                (RequestKind::Create, _) => {
                    self.stats.unknown_fates += 1;
                    self.note(VenueNote::UnknownFate { id: answer.id });
                    self.doubt();
                }
                // A cancel that failed is sent again, after a while.
                _ => {
                    if let Some(index) = working {
                        self.working[index].cancel_sent = false;
                    }
                    self.fallback_after_ns = monotonic_ns(&self.clock) + FALLBACK_RETRY_NS;
                }
            }
        }
    }

    /// Asks for the venue's state when in doubt and both links are up; applies the answer.
    fn step_reconcile(&mut self, now: u64) {
        let Some(reconciler) = &self.reconciler else {
            return;
        };
        match self.reconcile {
            Reconcile::Idle => {}
            Reconcile::Wanted { after_ns } => {
                if now >= after_ns && self.is_ready() && reconciler.requests.try_send(()).is_ok() {
                    self.reconcile = Reconcile::InFlight;
                }
            }
            Reconcile::InFlight => match reconciler.results.try_recv() {
                Ok(Ok(snapshot)) => {
                    self.reconcile = Reconcile::Idle;
                    self.clock_suspect = false;
                    self.apply_snapshot(&snapshot, crate::bybit::rest::local_ms() * 1_000_000);
                }
                Ok(Err(_)) | Err(TryRecvError::Disconnected) => {
                    self.reconcile = Reconcile::Wanted {
                        after_ns: now + RECONCILE_RETRY_NS,
                    };
                }
                Err(TryRecvError::Empty) => {}
            },
        }
    }

    /// Takes the venue's state as the truth: fills whose push was missed are booked, working
    /// orders the venue closed or never saw end, orders the engine did not place are
    /// cancelled (or adopted: [`VenueSettings::adopt_unknown_orders`]), and the venue's
    /// position is taken.
    fn apply_snapshot(&mut self, snapshot: &VenueSnapshot, ts_ns: u64) {
        self.stats.reconciliations += 1;
        let ids = self.settings.ids;
        // Fills first, oldest first: they may end orders.
        for execution in snapshot.executions.iter().rev() {
            let ours = find_working(
                &self.working,
                &ids,
                &execution.order_link_id,
                &execution.order_id,
            );
            if ours.is_none() || !remember(&mut self.seen, &mut self.seen_next, execution.exec_id) {
                continue;
            }
            if let Some(fill) = on_execution(
                execution,
                &self.settings,
                &mut self.working,
                &mut self.position,
                &mut self.account,
                ts_ns,
            ) {
                self.stats.fills += 1;
                self.stats.missed_fills += 1;
                self.note(VenueNote::MissedFill {
                    id: fill.id,
                    qty: fill.qty,
                });
                self.events.push(VenueEvent::Filled(fill));
            }
        }
        // Each working order as the venue has it.
        let mut index = 0;
        while index < self.working.len() {
            let entry = self.working[index];
            if entry.unsent {
                index += 1;
                continue;
            }
            let link = ids.link_id(entry.order.id);
            let at_venue = |orders: &[OrderUpdate]| {
                orders
                    .iter()
                    .find(|order| {
                        if entry.adopted {
                            order.order_id == entry.venue_id
                        } else {
                            order.order_link_id == link
                        }
                    })
                    .copied()
            };
            if let Some(open) = at_venue(&snapshot.open_orders) {
                on_order(
                    &open,
                    &self.settings,
                    &mut self.working,
                    &mut self.events,
                    ts_ns,
                );
                // Open, as the venue says: no push is awaited, and a cancel that did not
                // reach it (none on its way) is sent again.
                let cancel_on_its_way = self.pending.iter().any(|pending| {
                    pending.id == entry.order.id && pending.kind == RequestKind::Cancel
                });
                let working = &mut self.working[index];
                working.push_due_ns = None;
                if working.cancel_wanted && !cancel_on_its_way {
                    working.cancel_sent = false;
                }
                index += 1;
                continue;
            }
            self.stats.orders_settled += 1;
            let closed = at_venue(&snapshot.closed_orders);
            self.note(VenueNote::OrderSettled {
                id: entry.order.id,
                at_venue: closed.is_some(),
            });
            match closed {
                Some(closed) => {
                    let before = self.working.len();
                    on_order(
                        &closed,
                        &self.settings,
                        &mut self.working,
                        &mut self.events,
                        ts_ns,
                    );
                    if self.working.len() == before {
                        // Filled (its fills are booked) or otherwise over: it works no more.
                        self.working.swap_remove(index);
                    }
                }
                None => {
                    // The venue never saw it: the create was lost on the way.
                    self.working.swap_remove(index);
                    self.events.push(VenueEvent::Rejected {
                        id: entry.order.id,
                        reason: RejectReason::VenueUnavailable,
                        ts_ns,
                    });
                }
            }
        }
        // Orders the engine does not work on: adopted, or cancelled by the venue's id.
        for order in &snapshot.open_orders {
            if find_working(&self.working, &ids, &order.order_link_id, &order.order_id).is_some() {
                continue;
            }
            if self.settings.adopt_unknown_orders && self.working.len() < MAX_WORKING {
                self.adopt(order, snapshot);
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
            if let Some(connection) = self.links[TRADE].connection.as_mut() {
                let _ = connection.send_text(bytes);
            }
        }
        if snapshot.position != self.account.position {
            self.stats.position_corrections += 1;
            self.note(VenueNote::PositionCorrected {
                engine: self.account.position,
                venue: snapshot.position,
            });
            // The venue's entry price; the engine's when it gave none.
            let entry = snapshot.entry_price.unwrap_or(self.account.entry_price);
            self.position = Position::default();
            if !snapshot.position.is_zero() {
                let side = if snapshot.position.is_positive() {
                    crate::side::Side::Buy
                } else {
                    crate::side::Side::Sell
                };
                self.position.apply(side, entry, snapshot.position.abs());
            }
            self.account.position = self.position.qty();
            self.account.entry_price = self.position.entry_price();
        }
        self.note(VenueNote::Reconciled);
    }

    /// Adopts open order `order` of another client: working from now on, its fills booked
    /// (those before, in `snapshot`, are in the venue's position already), cancelled at
    /// shutdown.
    fn adopt(&mut self, order: &OrderUpdate, snapshot: &VenueSnapshot) {
        let id = OrderId(ADOPTED_IDS + self.stats.foreign_adopted);
        self.stats.foreign_adopted += 1;
        for execution in &snapshot.executions {
            if execution.order_id == order.order_id {
                remember(&mut self.seen, &mut self.seen_next, execution.exec_id);
            }
        }
        self.working.push(Working::adopt(order, id));
        self.note(VenueNote::ForeignAdopted {
            order_id: order.order_id,
            id,
        });
    }

    fn poll_link(&mut self, index: usize) {
        let now = monotonic_ns(&self.clock);
        match self.links[index].phase {
            Phase::Waiting { until_ns } => {
                if now >= until_ns {
                    match self.links[index].requests.try_send(ConnectRequest::Connect) {
                        Ok(()) => self.links[index].phase = Phase::Connecting,
                        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
                    }
                }
            }
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
            let _ = self.links[index]
                .requests
                .try_send(ConnectRequest::Retire(connection));
            self.back_off(index, now);
            return;
        }
        self.stats.connects[index] += 1;
        let liveness = self.settings.liveness;
        let link = &mut self.links[index];
        link.connection = Some(connection);
        link.phase = Phase::Authenticating;
        link.since_ns = now;
        link.last_message_ns = now;
        link.next_ping_ns = now + liveness.ping_interval.as_nanos() as u64;
        link.pong_due_ns = None;
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
        if let Some(connection) = self.links[index].connection.take() {
            let _ = self.links[index]
                .requests
                .try_send(ConnectRequest::Retire(connection));
        }
        // A link that stayed up for the back-off's cap starts the sequence afresh.
        if now.saturating_sub(self.links[index].since_ns)
            >= self.settings.backoff.max.as_nanos() as u64
        {
            self.links[index].failures = 0;
        }
        // What happened meanwhile is asked of REST once the link is back.
        self.doubt();
        if index == TRADE {
            // Requests in flight on it may or may not have reached the venue; cancels are sent
            // again on the next link (one that arrived is answered 110001, harmlessly).
            self.stats.unknown_fates += self.pending.len() as u64;
            self.pending.clear();
            for working in &mut self.working {
                working.cancel_sent = false;
            }
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

    fn on_private(&mut self, now: u64) {
        let message = match self.private_decoder.decode(&mut self.frame) {
            Ok(message) => message,
            Err(_) => {
                self.stats.decode_errors += 1;
                return;
            }
        };
        let ts_ns = now;
        match message {
            PrivateMessage::Control(PrivateControl::Auth { success: true, .. }) => {
                let link = &mut self.links[PRIVATE];
                link.phase = Phase::Subscribing;
                if let Some(connection) = link.connection.as_mut()
                    && connection.send_text(&self.subscribe).is_err()
                {
                    self.lose(PRIVATE, now);
                }
            }
            PrivateMessage::Control(PrivateControl::Auth { success: false, .. }) => {
                self.stats.auth_failures += 1;
                self.lose(PRIVATE, now);
            }
            PrivateMessage::Control(PrivateControl::Subscribed { success, .. }) => {
                if success {
                    self.links[PRIVATE].phase = Phase::Ready;
                    self.links[PRIVATE].failures = 0;
                } else {
                    self.lose(PRIVATE, now);
                }
            }
            PrivateMessage::Control(PrivateControl::Pong { .. }) => {
                self.links[PRIVATE].pong_due_ns = None;
            }
            PrivateMessage::Orders { orders, .. } => {
                for order in orders {
                    on_order(
                        order,
                        &self.settings,
                        &mut self.working,
                        &mut self.events,
                        ts_ns,
                    );
                }
            }
            PrivateMessage::Executions { executions, .. } => {
                for execution in executions {
                    if !remember(&mut self.seen, &mut self.seen_next, execution.exec_id) {
                        continue;
                    }
                    if let Some(fill) = on_execution(
                        execution,
                        &self.settings,
                        &mut self.working,
                        &mut self.position,
                        &mut self.account,
                        ts_ns,
                    ) {
                        self.stats.fills += 1;
                        self.events.push(VenueEvent::Filled(fill));
                    }
                }
            }
            PrivateMessage::Positions { .. } | PrivateMessage::Dcp { .. } => {}
            PrivateMessage::Wallet { accounts, .. } => {
                if let Some(balance) = accounts
                    .iter()
                    .find(|account| account.account_type == "UNIFIED")
                    .and_then(|account| account.total_available_balance)
                {
                    self.account.balance = balance;
                }
            }
        }
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
            }
            TradeOp::Auth => {
                self.stats.auth_failures += 1;
                self.lose(TRADE, now);
            }
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
            let offset = self.clock_offset_ms.load(Ordering::Relaxed);
            let reset_ns = limit
                .reset_ms
                .saturating_add_signed(-offset)
                .saturating_mul(1_000_000);
            self.limits.hold_until(bucket_of(pending.kind), reset_ns);
        }
        if let Some(working) = self
            .working
            .iter_mut()
            .find(|working| working.order.id == pending.id)
            && !reply.order_id.is_empty()
        {
            working.venue_id = reply.order_id;
        }
        match classify(pending.kind, reply.ret_code) {
            Outcome::Ok => {
                // Done, says the answer: the `order` push says how (unless it came first).
                if let Some(working) = self
                    .working
                    .iter_mut()
                    .find(|working| working.order.id == pending.id)
                    && (pending.kind != RequestKind::Create || !working.accepted)
                {
                    working.push_due_ns = Some(now + PUSH_TIMEOUT_NS);
                }
            }
            Outcome::NotModified | Outcome::AlreadyGone => {}
            Outcome::Rejected(reason) if pending.kind == RequestKind::Create => {
                self.forget(pending.id);
                self.events.push(VenueEvent::Rejected {
                    id: pending.id,
                    reason,
                    ts_ns: now,
                });
            }
            Outcome::RateLimited if pending.kind == RequestKind::Create => {
                let offset = self.clock_offset_ms.load(Ordering::Relaxed);
                let reset_ms = reply
                    .limit
                    .map_or(self.venue_ms() + 1000, |limit| limit.reset_ms);
                self.limits.hold_until(
                    Bucket::Create,
                    reset_ms
                        .saturating_add_signed(-offset)
                        .saturating_mul(1_000_000),
                );
                self.forget(pending.id);
                self.events.push(VenueEvent::Rejected {
                    id: pending.id,
                    reason: RejectReason::RateLimited,
                    ts_ns: now,
                });
            }
            Outcome::Reconnect => {
                self.stats.unknown_fates += 1;
                self.lose(TRADE, now);
            }
            // Not taken: the clock is off. Reconciliation measures it again first.
            Outcome::ClockSkew => {
                if pending.kind == RequestKind::Create {
                    self.forget(pending.id);
                    self.events.push(VenueEvent::Rejected {
                        id: pending.id,
                        reason: RejectReason::ClockSkew,
                        ts_ns: now,
                    });
                } else if let Some(working) = self
                    .working
                    .iter_mut()
                    .find(|working| working.order.id == pending.id)
                {
                    working.cancel_sent = false;
                }
                self.clock_suspect = self.reconciler.is_some();
                self.doubt();
            }
            // A cancel refused (rate limit, clock): sent again on a later poll.
            _ if pending.kind == RequestKind::Cancel => {
                if let Some(working) = self
                    .working
                    .iter_mut()
                    .find(|working| working.order.id == pending.id)
                {
                    working.cancel_sent = false;
                }
            }
            // Unknown fates wait for reconciliation.
            _ => {
                self.stats.unknown_fates += 1;
                self.note(VenueNote::UnknownFate { id: pending.id });
                self.doubt();
            }
        }
    }

    /// Sends the cancels wanted and not on their way, as far as the link and the cancel bucket
    /// allow; the rest go on a later poll.
    fn send_cancels(&mut self) {
        for index in 0..self.working.len() {
            let working = self.working[index];
            if !working.cancel_wanted || working.cancel_sent {
                continue;
            }
            if !self.links[TRADE].is_ready() {
                // Over REST meanwhile (its bucket is taken there).
                if let Some(fallback) = self.usable_fallback()
                    && fallback
                        .requests
                        .try_send(FallbackRequest::Cancel {
                            id: working.order.id,
                            adopted: working.adopted.then_some(working.venue_id),
                        })
                        .is_ok()
                {
                    self.stats.rest_fallbacks += 1;
                    self.working[index].cancel_sent = true;
                }
                continue;
            }
            if self.clock_suspect || self.pending.len() == MAX_PENDING {
                return;
            }
            if self.limits.try_acquire(Bucket::Cancel, wall_ns()).is_err() {
                return;
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            let stamp = self.venue_ms();
            let id = working.order.id;
            let order = if working.adopted {
                OrderRef::Venue(working.venue_id.as_str())
            } else {
                OrderRef::Client(id)
            };
            let bytes = self.writer.cancel(seq, stamp, self.settings.symbol, order);
            let sent = self.links[TRADE]
                .connection
                .as_mut()
                .is_some_and(|connection| connection.send_text(bytes).is_ok());
            self.stats.cancels += 1;
            if !sent {
                let now = monotonic_ns(&self.clock);
                self.lose(TRADE, now);
                return;
            }
            self.working[index].cancel_sent = true;
            self.pending.push(Pending {
                seq,
                kind: RequestKind::Cancel,
                id,
                sent_ns: monotonic_ns(&self.clock),
            });
        }
    }

    /// Working order `index` has not been heard of as it should have been: its fate is
    /// unknown, for reconciliation.
    fn unheard(&mut self, index: usize) {
        let working = &mut self.working[index];
        working.push_due_ns = None;
        let id = working.order.id;
        self.stats.unknown_fates += 1;
        self.note(VenueNote::UnknownFate { id });
        self.doubt();
    }

    /// The REST fallback, unless it failed a moment ago.
    fn usable_fallback(&self) -> Option<&Fallback> {
        self.fallback
            .as_ref()
            .filter(|_| monotonic_ns(&self.clock) >= self.fallback_after_ns)
    }

    /// Keeps `note` for the decision log (while there is room: the counters say the rest).
    fn note(&mut self, note: VenueNote) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(note);
        }
    }

    fn forget(&mut self, id: OrderId) {
        self.working.retain(|working| working.order.id != id);
    }

    fn reject_locally(&mut self, id: OrderId, reason: RejectReason, ts_ns: u64) {
        self.stats.local_rejects += 1;
        self.deferred
            .push(VenueEvent::Rejected { id, reason, ts_ns });
    }

    /// Writes the `order.create` of `order` on the trade stream (a token of the create bucket
    /// taken already), awaiting its answer.
    fn send_create(&mut self, order: OrderRequest) {
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
        let now = monotonic_ns(&self.clock);
        if sent {
            self.pending.push(Pending {
                seq,
                kind: RequestKind::Create,
                id: order.id,
                sent_ns: now,
            });
        } else {
            // It may have left in part: its fate is for reconciliation.
            self.stats.unknown_fates += 1;
            self.note(VenueNote::UnknownFate { id: order.id });
            self.lose(TRADE, now);
        }
    }

    /// Sends the exits held back, as far as the links and the create bucket allow: on the
    /// trade stream, or over REST while it is down (its bucket is taken there).
    fn send_held_exits(&mut self) {
        for index in 0..self.working.len() {
            let working = self.working[index];
            if !working.unsent {
                continue;
            }
            if !self.links[TRADE].is_ready() {
                let request = NewOrder {
                    id: working.order.id,
                    symbol: self.settings.symbol,
                    side: working.order.side,
                    price: working.order.price,
                    qty: working.order.qty,
                    reduce_only: true,
                };
                if let Some(fallback) = self.usable_fallback()
                    && fallback
                        .requests
                        .try_send(FallbackRequest::Create(request))
                        .is_ok()
                {
                    self.stats.rest_fallbacks += 1;
                    self.working[index].unsent = false;
                }
                continue;
            }
            if self.clock_suspect
                || self.pending.len() == MAX_PENDING
                || self.limits.try_acquire(Bucket::Create, wall_ns()).is_err()
            {
                return;
            }
            self.working[index].unsent = false;
            self.send_create(working.order);
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

/// Remembers `exec_id`; false when it was seen already.
fn remember(seen: &mut [OrderIdText], next: &mut usize, exec_id: OrderIdText) -> bool {
    if seen.contains(&exec_id) {
        return false;
    }
    seen[*next] = exec_id;
    *next = (*next + 1) % seen.len();
    true
}

/// An `order` push: what it means for a working order of this run.
fn on_order(
    order: &OrderUpdate,
    settings: &VenueSettings,
    working: &mut Vec<Working>,
    events: &mut Vec<VenueEvent>,
    ts_ns: u64,
) {
    let Some(index) = find_working(
        working,
        &settings.ids,
        &order.order_link_id,
        &order.order_id,
    ) else {
        return;
    };
    let entry = &mut working[index];
    let id = entry.order.id;
    entry.venue_id = order.order_id;
    if !entry.cancel_sent {
        // The push awaited after a create (after a cancel, only the order's end will do).
        entry.push_due_ns = None;
    }
    match order.status {
        OrderStatus::New | OrderStatus::PartiallyFilled if !entry.accepted => {
            entry.accepted = true;
            events.push(VenueEvent::Accepted {
                id,
                queue_ahead: Fixed::ZERO,
                ts_ns,
            });
        }
        OrderStatus::Cancelled if order.is_post_only_reject() => {
            working.swap_remove(index);
            events.push(VenueEvent::Rejected {
                id,
                reason: RejectReason::PostOnlyWillTakeLiquidity,
                ts_ns,
            });
        }
        OrderStatus::Cancelled
        | OrderStatus::Deactivated
        | OrderStatus::PartiallyFilledCanceled => {
            let reduce_only_cut =
                order.cancel_type == "CancelByReduceOnly" && order.cum_exec_qty.is_zero();
            working.swap_remove(index);
            events.push(if reduce_only_cut {
                VenueEvent::Rejected {
                    id,
                    reason: RejectReason::ReduceOnlyNotSatisfied,
                    ts_ns,
                }
            } else {
                VenueEvent::Cancelled {
                    id,
                    filled: order.cum_exec_qty,
                    ts_ns,
                }
            });
        }
        OrderStatus::Rejected => {
            working.swap_remove(index);
            events.push(VenueEvent::Rejected {
                id,
                reason: RejectReason::InvalidOrder,
                ts_ns,
            });
        }
        // Filled: the executions carry the fills, and the last one ends the order.
        _ => {}
    }
}

/// An `execution` push: the fill of a working order of this run, booked into the position.
fn on_execution(
    execution: &Execution,
    settings: &VenueSettings,
    working: &mut Vec<Working>,
    position: &mut Position,
    account: &mut Account,
    ts_ns: u64,
) -> Option<Fill> {
    if !matches!(execution.exec_type, ExecType::Trade | ExecType::Unknown) {
        return None;
    }
    let index = find_working(
        working,
        &settings.ids,
        &execution.order_link_id,
        &execution.order_id,
    )?;
    let entry = &mut working[index];
    let id = entry.order.id;
    entry.filled = entry.filled.saturating_add(execution.exec_qty);
    let leaves_qty = execution
        .leaves_qty
        .unwrap_or_else(|| entry.order.qty.saturating_sub(entry.filled));
    let side = entry.order.side;
    if leaves_qty.is_zero() {
        working.swap_remove(index);
    }
    let realized = position.apply(side, execution.exec_price, execution.exec_qty);
    let fee = execution.exec_fee.unwrap_or(Fixed::ZERO);
    account.position = position.qty();
    account.entry_price = position.entry_price();
    account.realized = account.realized.saturating_add(realized);
    account.fees = account.fees.saturating_add(fee);
    Some(Fill {
        id,
        side,
        price: execution.exec_price,
        qty: execution.exec_qty,
        leaves_qty,
        fee,
        realized,
        ts_ns,
    })
}

impl Venue for BybitVenue {
    const MAX_EVENTS: usize = MAX_VENUE_EVENTS;

    fn submit(&mut self, order: OrderRequest, now_ns: u64) {
        if self.working.len() == MAX_WORKING {
            return self.reject_locally(order.id, RejectReason::TooManyOrders, now_ns);
        }
        if order.reduce_only {
            // An exit is never refused here: it is held until it can go (a loop that places
            // it again on a refusal would spin while the link is down or the bucket empty).
            self.working.push(Working::new(order, true));
            return self.send_held_exits();
        }
        // An entry waits for nothing: it goes now or is refused.
        if !self.links[TRADE].is_ready() || self.is_reconciling() {
            return self.reject_locally(order.id, RejectReason::VenueUnavailable, now_ns);
        }
        if self.pending.len() == MAX_PENDING {
            return self.reject_locally(order.id, RejectReason::TooManyOrders, now_ns);
        }
        if self.limits.try_acquire(Bucket::Create, wall_ns()).is_err() {
            return self.reject_locally(order.id, RejectReason::RateLimited, now_ns);
        }
        self.working.push(Working::new(order, false));
        self.send_create(order);
    }

    fn cancel(&mut self, id: OrderId, now_ns: u64) {
        let Some(index) = self
            .working
            .iter()
            .position(|working| working.order.id == id)
        else {
            return;
        };
        if self.working[index].unsent {
            // Never sent: cancelled here.
            self.working.swap_remove(index);
            self.deferred.push(VenueEvent::Cancelled {
                id,
                filled: Fixed::ZERO,
                ts_ns: now_ns,
            });
            return;
        }
        self.working[index].cancel_wanted = true;
        self.send_cancels();
    }

    fn drain_events(&mut self, mut on_event: impl FnMut(VenueEvent)) {
        for event in self.events.drain(..) {
            on_event(event);
        }
    }

    fn account(&self) -> &Account {
        &self.account
    }

    fn resting_orders(&self) -> usize {
        self.working.len()
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
        Some(stats)
    }

    fn settle(&mut self, book: &OrderBook) {
        let _ = book;
        // The loop cancelled its own orders; the adopted ones go too.
        for working in &mut self.working {
            working.cancel_wanted |= working.adopted;
        }
        self.send_cancels();
        // The ends of the last cancels, for at most a second.
        let start = monotonic_ns(&self.clock);
        while !self.working.is_empty() && monotonic_ns(&self.clock) < start + SETTLE_NS {
            self.poll_links();
            std::thread::sleep(Duration::from_millis(1));
        }
        // What still works has an unknown end (a push lost): reconciliation finds it (and
        // sends again the cancels the venue did not get).
        if self.working.is_empty() || self.reconciler.is_none() {
            return;
        }
        for index in 0..self.working.len() {
            self.unheard(index);
        }
        while !self.working.is_empty()
            && monotonic_ns(&self.clock) < start + SETTLE_NS + SETTLE_RECONCILE_NS
        {
            self.poll_links();
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

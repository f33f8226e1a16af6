//! The live Bybit v5 public stream, as a source the hot thread polls.
//!
//! [`PublicFeed`] keeps one connection to `/v5/public/linear` alive and subscribed to
//! `orderbook.{depth}`, `publicTrade` and `tickers` of every configured symbol:
//!
//! - **Connecting** happens on a thread of its own (`feed-connect`): name resolution, TCP, TLS
//!   and the WebSocket upgrade may block, the hot thread never does. It asks for a connection
//!   and picks it up when it is ready; a connection it is done with goes back to that thread to
//!   be closed and freed there.
//! - **Subscribing**: one request for every topic as soon as a connection is up. A failure ack
//!   (`"success":false`, which names the topic) before the first successful subscription is
//!   fatal ([`FeedError::SubscribeFailed`]): the configuration asks for something the venue
//!   does not serve. Later (after a reconnect) it drops the connection and tries again.
//! - **Liveness**: `{"op":"ping"}` every `ping_interval`; no pong within `pong_timeout`, or no
//!   message at all for `stale_after`, means the connection is dead.
//! - **Reconnecting**: a dead, closed or broken connection is reported once as
//!   [`FeedPoll::Lost`] (every book of this feed is then stale until its next snapshot), and a
//!   new one is made after an exponential back-off with jitter: `initial x multiplier^n`,
//!   capped at `max`, spread by `+-jitter` (seeded), `n` counting the failures since the last
//!   connection that stayed up for `max`. The new connection subscribes everything again, and
//!   Bybit answers each book topic with a snapshot.
//! - **Resync** of one book ([`PublicFeed::resync`]): unsubscribe and subscribe its topic again
//!   on the same connection, which brings a fresh snapshot.
//!
//! Control replies (acks, pongs) are consumed here; data frames are handed to the caller with
//! their receive time. Once connected, polling allocates nothing: the requests are built when
//! the feed is made, and the connection's buffers when it is made.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};

use super::public::{ControlReply, PublicDecoder, PublicMessage, ShortText};
use crate::frame::FrameBuf;
use crate::journal::{ClockAnchor, monotonic_ns};
use crate::net::{Endpoint, WsConnection, WsError, WsRead, connect};
use crate::text::Symbol;

/// When a connection counts as dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    /// A ping is sent this often.
    pub ping_interval: Duration,
    /// A ping not answered within this is a dead connection.
    pub pong_timeout: Duration,
    /// No message at all for this long is a dead connection.
    pub stale_after: Duration,
}

/// Back-off between connection attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The largest delay; a connection that stays up this long resets the sequence.
    pub max: Duration,
    /// Each failure multiplies the delay by this (>= 1).
    pub multiplier: f64,
    /// Each delay is spread by up to this fraction either way (0..1).
    pub jitter: f64,
}

impl Backoff {
    /// The delay after `failures` failures in a row, for a jitter draw `unit` in [0, 1).
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let base = self.initial.as_secs_f64() * self.multiplier.powi(failures.min(64) as i32);
        let capped = base.min(self.max.as_secs_f64());
        let spread = 1.0 + self.jitter * (2.0 * unit - 1.0);
        Duration::from_secs_f64((capped * spread).clamp(0.0, self.max.as_secs_f64()))
    }
}

/// What the feed needs to know.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// The public stream's URL.
    pub endpoint: Endpoint,
    /// The TLS configuration, for `wss://`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Symbols to subscribe.
    pub symbols: Vec<Symbol>,
    /// Book depth (1, 50, 200 or 1000 for linear).
    pub depth: u16,
    /// Liveness rules.
    pub liveness: Liveness,
    /// Back-off between attempts.
    pub backoff: Backoff,
    /// Longest a connection attempt may block the connecting thread, per step.
    pub connect_timeout: Duration,
    /// Seed of the back-off jitter.
    pub seed: u64,
}

/// What a poll found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedPoll {
    /// A data frame is in the buffer, received at `recv_ns` (ns since the epoch).
    Frame {
        /// Receive time, ns since the epoch.
        recv_ns: u64,
    },
    /// Nothing new.
    Idle,
    /// The connection was lost: every book of this feed is stale until its next snapshot.
    Lost(LossReason),
}

/// Why a connection was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossReason {
    /// The venue closed it.
    Closed,
    /// The socket, TLS or WebSocket layer failed.
    Broken(WsError),
    /// No message for `stale_after`.
    Stale,
    /// A ping went unanswered for `pong_timeout`.
    PongTimeout,
    /// A subscription failed after a reconnect.
    SubscribeFailed,
}

impl LossReason {
    /// Every reason, in counter order.
    pub const ALL: [LossReason; 5] = [
        LossReason::Closed,
        LossReason::Broken(WsError::Io(std::io::ErrorKind::Other)),
        LossReason::Stale,
        LossReason::PongTimeout,
        LossReason::SubscribeFailed,
    ];

    /// A stable label for metrics and logs.
    pub const fn label(self) -> &'static str {
        match self {
            LossReason::Closed => "closed",
            LossReason::Broken(_) => "error",
            LossReason::Stale => "stale",
            LossReason::PongTimeout => "pong_timeout",
            LossReason::SubscribeFailed => "subscribe_failed",
        }
    }

    /// The reason of a [`LossReason::label`] (a recorded one); an unknown label reads as
    /// `closed` (the socket or framing error behind `error` is not kept).
    pub fn from_label(label: &[u8]) -> LossReason {
        match label {
            b"error" => LossReason::Broken(WsError::Io(std::io::ErrorKind::Other)),
            b"stale" => LossReason::Stale,
            b"pong_timeout" => LossReason::PongTimeout,
            b"subscribe_failed" => LossReason::SubscribeFailed,
            _ => LossReason::Closed,
        }
    }

    /// Position in [`LossReason::ALL`].
    pub const fn index(self) -> usize {
        match self {
            LossReason::Closed => 0,
            LossReason::Broken(_) => 1,
            LossReason::Stale => 2,
            LossReason::PongTimeout => 3,
            LossReason::SubscribeFailed => 4,
        }
    }
}

/// Why the feed cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The venue refused a topic of the first subscription.
    #[error("subscribing {} failed: {}", .0.topic, .0.reason)]
    SubscribeFailed(Box<SubscribeFailure>),
    /// The connecting thread is gone.
    #[error("the connecting thread of the public stream stopped")]
    ConnectorGone,
}

/// A topic the venue refused, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeFailure {
    /// The topic the venue named.
    pub topic: ShortText,
    /// Its reason.
    pub reason: ShortText,
}

/// Counters of the feed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// Connections made.
    pub connects: u64,
    /// Attempts that failed (resolve, connect, TLS, upgrade).
    pub connect_failures: u64,
    /// Connections given up, by [`LossReason::index`].
    pub losses: [u64; LossReason::ALL.len()],
    /// Data frames handed over.
    pub frames: u64,
    /// Pings sent.
    pub pings: u64,
    /// Pongs received.
    pub pongs: u64,
    /// Book resubscriptions for a resync.
    pub resyncs: u64,
    /// Whether a connection is up now.
    pub connected: bool,
    /// Wall time of the last message received, ns since the epoch (0: none yet).
    pub last_message_ns: u64,
}

impl FeedStats {
    /// Connections made after a loss: every connection after the first.
    pub const fn reconnects(&self) -> u64 {
        self.connects.saturating_sub(1)
    }
}

enum Request {
    Connect,
    Retire(Box<WsConnection>),
}

enum Link {
    /// No connection; the next attempt is due at `until_ns` (monotonic).
    Waiting { until_ns: u64 },
    /// An attempt is with the connecting thread.
    Connecting,
    /// Connected.
    Up(Session),
}

struct Session {
    connection: Box<WsConnection>,
    since_ns: u64,
    last_message_ns: u64,
    next_ping_ns: u64,
    pong_due_ns: Option<u64>,
}

/// The live public stream, polled by the hot thread.
pub struct PublicFeed {
    settings: FeedSettings,
    link: Link,
    requests: Sender<Request>,
    connections: Receiver<Option<Box<WsConnection>>>,
    connector: Option<std::thread::JoinHandle<()>>,
    clock: quanta::Clock,
    anchor: ClockAnchor,
    subscribe: Vec<u8>,
    /// Per symbol: the unsubscribe and subscribe requests of its book topic.
    resubscribe: Vec<(Symbol, Vec<u8>, Vec<u8>)>,
    ping: Vec<u8>,
    control: PublicDecoder,
    scratch: FrameBuf,
    subscribed_once: bool,
    /// A loss that happened outside a poll (a resync's request failed), for the next poll.
    unreported_loss: Option<LossReason>,
    failures: u32,
    jitter_state: u64,
    stats: FeedStats,
}

/// The `args` of a subscription to `symbols` at `depth`.
pub fn topics(symbols: &[Symbol], depth: u16) -> Vec<String> {
    symbols
        .iter()
        .flat_map(|symbol| {
            [
                format!("orderbook.{depth}.{symbol}"),
                format!("publicTrade.{symbol}"),
                format!("tickers.{symbol}"),
            ]
        })
        .collect()
}

fn request(op: &str, req_id: &str, args: &[String]) -> Vec<u8> {
    let args = args
        .iter()
        .map(|topic| format!("\"{topic}\""))
        .collect::<Vec<_>>()
        .join(",");
    format!(r#"{{"req_id":"{req_id}","op":"{op}","args":[{args}]}}"#).into_bytes()
}

impl PublicFeed {
    /// A feed for `settings`; its connecting thread starts now and the first attempt is made
    /// on the first poll.
    pub fn new(settings: FeedSettings) -> std::io::Result<PublicFeed> {
        let (requests, inbox) = crossbeam_channel::bounded::<Request>(8);
        let (outbox, connections) = crossbeam_channel::bounded(1);
        let connector = std::thread::Builder::new()
            .name("feed-connect".to_owned())
            .spawn({
                let endpoint = settings.endpoint.clone();
                let tls = settings.tls.clone();
                let timeout = settings.connect_timeout;
                move || {
                    for request in inbox {
                        match request {
                            Request::Connect => {
                                let made = match connect(&endpoint, tls.as_ref(), timeout) {
                                    Ok(connection) => Some(Box::new(connection)),
                                    Err(err) => {
                                        eprintln!("bybit public stream: {err}");
                                        None
                                    }
                                };
                                if outbox.send(made).is_err() {
                                    return;
                                }
                            }
                            Request::Retire(mut connection) => connection.close(),
                        }
                    }
                }
            })?;
        let subscribe = request(
            "subscribe",
            "subscribe",
            &topics(&settings.symbols, settings.depth),
        );
        let resubscribe = settings
            .symbols
            .iter()
            .map(|&symbol| {
                let topic = [format!("orderbook.{}.{symbol}", settings.depth)];
                (
                    symbol,
                    request("unsubscribe", "resync", &topic),
                    request("subscribe", "resync", &topic),
                )
            })
            .collect();
        let clock = quanta::Clock::new();
        let anchor = ClockAnchor::now(&clock);
        let jitter_state = settings.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        Ok(PublicFeed {
            settings,
            link: Link::Waiting { until_ns: 0 },
            requests,
            connections,
            connector: Some(connector),
            clock,
            anchor,
            subscribe,
            resubscribe,
            ping: br#"{"op":"ping"}"#.to_vec(),
            control: PublicDecoder::new(),
            scratch: FrameBuf::with_capacity(4096),
            subscribed_once: false,
            unreported_loss: None,
            failures: 0,
            jitter_state,
            stats: FeedStats::default(),
        })
    }

    /// Counters so far.
    pub const fn stats(&self) -> &FeedStats {
        &self.stats
    }

    /// The settings the feed runs with.
    pub const fn settings(&self) -> &FeedSettings {
        &self.settings
    }

    /// Polls once: picks up a connection, reads one message, keeps the connection alive.
    pub fn poll(&mut self, frame: &mut FrameBuf) -> Result<FeedPoll, FeedError> {
        if let Some(reason) = self.unreported_loss.take() {
            return Ok(FeedPoll::Lost(reason));
        }
        let now = monotonic_ns(&self.clock);
        match &mut self.link {
            Link::Waiting { until_ns } => {
                if now >= *until_ns {
                    match self.requests.try_send(Request::Connect) {
                        Ok(()) => self.link = Link::Connecting,
                        // The connecting thread is still closing old connections: next poll.
                        Err(TrySendError::Full(_)) => {}
                        Err(TrySendError::Disconnected(_)) => return Err(FeedError::ConnectorGone),
                    }
                }
                Ok(FeedPoll::Idle)
            }
            Link::Connecting => match self.connections.try_recv() {
                Ok(Some(connection)) => Ok(self.up(connection, now)),
                Ok(None) => {
                    self.stats.connect_failures += 1;
                    self.back_off(now);
                    Ok(FeedPoll::Idle)
                }
                Err(TryRecvError::Empty) => Ok(FeedPoll::Idle),
                Err(TryRecvError::Disconnected) => Err(FeedError::ConnectorGone),
            },
            Link::Up(session) => {
                let read = session.connection.read_message(frame);
                match read {
                    Ok(WsRead::Message) => {
                        session.last_message_ns = now;
                        self.stats.last_message_ns = self.anchor.wall_of(now);
                        if is_control(frame.as_bytes()) {
                            self.on_control(frame, now)
                        } else {
                            self.stats.frames += 1;
                            Ok(FeedPoll::Frame {
                                recv_ns: self.stats.last_message_ns,
                            })
                        }
                    }
                    Ok(WsRead::Idle) => Ok(self.keep_alive(now)),
                    Ok(WsRead::Closed) => Ok(self.lose(LossReason::Closed, now)),
                    Err(err) => Ok(self.lose(LossReason::Broken(err), now)),
                }
            }
        }
    }

    /// Asks for a fresh snapshot of `symbol`'s book: unsubscribes and subscribes its topic
    /// again. Nothing happens while disconnected (the reconnect brings snapshots anyway).
    pub fn resync(&mut self, symbol: Symbol) {
        let Link::Up(session) = &mut self.link else {
            return;
        };
        let Some((_, unsubscribe, subscribe)) =
            self.resubscribe.iter().find(|(known, ..)| *known == symbol)
        else {
            return;
        };
        self.stats.resyncs += 1;
        let sent = session
            .connection
            .send_text(unsubscribe)
            .and_then(|()| session.connection.send_text(subscribe));
        if let Err(err) = sent {
            // The connection goes now; the next poll reports the loss.
            let now = monotonic_ns(&self.clock);
            if let FeedPoll::Lost(reason) = self.lose(LossReason::Broken(err), now) {
                self.unreported_loss = Some(reason);
            }
        }
    }

    fn up(&mut self, mut connection: Box<WsConnection>, now: u64) -> FeedPoll {
        self.stats.connects += 1;
        self.stats.connected = true;
        let interval = self.settings.liveness.ping_interval.as_nanos() as u64;
        let sent = connection.send_text(&self.subscribe);
        self.link = Link::Up(Session {
            connection,
            since_ns: now,
            last_message_ns: now,
            next_ping_ns: now + interval,
            pong_due_ns: None,
        });
        match sent {
            Ok(()) => FeedPoll::Idle,
            Err(err) => self.lose(LossReason::Broken(err), now),
        }
    }

    fn on_control(&mut self, frame: &FrameBuf, now: u64) -> Result<FeedPoll, FeedError> {
        self.scratch.fill(frame.as_bytes());
        let reply = match self.control.decode(&mut self.scratch) {
            Ok(PublicMessage::Control(reply)) => reply,
            _ => return Ok(FeedPoll::Idle),
        };
        match reply {
            ControlReply::Pong { .. } => {
                self.stats.pongs += 1;
                if let Link::Up(session) = &mut self.link {
                    session.pong_due_ns = None;
                }
                Ok(FeedPoll::Idle)
            }
            ControlReply::Subscribed { .. } => {
                self.subscribed_once = true;
                Ok(FeedPoll::Idle)
            }
            ControlReply::SubscribeFailed { topic, reason, .. } => {
                if self.subscribed_once {
                    Ok(self.lose(LossReason::SubscribeFailed, now))
                } else {
                    Err(FeedError::SubscribeFailed(Box::new(SubscribeFailure {
                        topic,
                        reason,
                    })))
                }
            }
            ControlReply::Unsubscribed { .. } => Ok(FeedPoll::Idle),
        }
    }

    /// Pings when due; gives the connection up when it has gone quiet.
    fn keep_alive(&mut self, now: u64) -> FeedPoll {
        let Link::Up(session) = &mut self.link else {
            return FeedPoll::Idle;
        };
        let liveness = self.settings.liveness;
        if session.pong_due_ns.is_some_and(|due| now >= due) {
            return self.lose(LossReason::PongTimeout, now);
        }
        if now.saturating_sub(session.last_message_ns) >= liveness.stale_after.as_nanos() as u64 {
            return self.lose(LossReason::Stale, now);
        }
        if now >= session.next_ping_ns {
            session.next_ping_ns = now + liveness.ping_interval.as_nanos() as u64;
            session
                .pong_due_ns
                .get_or_insert(now + liveness.pong_timeout.as_nanos() as u64);
            self.stats.pings += 1;
            if let Err(err) = session.connection.send_text(&self.ping) {
                return self.lose(LossReason::Broken(err), now);
            }
        }
        FeedPoll::Idle
    }

    /// Gives the connection up (it goes back to the connecting thread to be closed) and
    /// schedules the next attempt.
    fn lose(&mut self, reason: LossReason, now: u64) -> FeedPoll {
        let link = std::mem::replace(&mut self.link, Link::Waiting { until_ns: now });
        if let Link::Up(session) = link {
            if now - session.since_ns >= self.settings.backoff.max.as_nanos() as u64 {
                self.failures = 0;
            }
            // A full queue (the connecting thread busy) closes it here instead.
            let _ = self.requests.try_send(Request::Retire(session.connection));
        }
        self.stats.connected = false;
        self.stats.losses[reason.index()] += 1;
        self.back_off(now);
        FeedPoll::Lost(reason)
    }

    fn back_off(&mut self, now: u64) {
        let unit = self.next_unit();
        let delay = self.settings.backoff.delay(self.failures, unit);
        self.failures = self.failures.saturating_add(1);
        self.link = Link::Waiting {
            until_ns: now + delay.as_nanos() as u64,
        };
    }

    /// A uniform draw in [0, 1) (xorshift64*, seeded).
    fn next_unit(&mut self) -> f64 {
        let mut x = self.jitter_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.jitter_state = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Drop for PublicFeed {
    fn drop(&mut self) {
        if let Link::Up(session) = std::mem::replace(&mut self.link, Link::Connecting) {
            let mut connection = session.connection;
            connection.close();
        }
        // Closing the request channel ends the connecting thread.
        let (closed, _) = crossbeam_channel::bounded(1);
        self.requests = closed;
        if let Some(connector) = self.connector.take() {
            let _ = connector.join();
        }
    }
}

/// True for a control reply (`op` replies); data pushes carry `topic`, at the front as Bybit
/// sends them, so that is looked at first and the whole frame only when it is not there.
fn is_control(frame: &[u8]) -> bool {
    let contains = |bytes: &[u8], needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    let head = &frame[..frame.len().min(48)];
    !contains(head, b"\"topic\"") && contains(frame, b"\"op\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_name_every_topic_of_every_symbol() {
        let symbols = [
            Symbol::new("BTCUSDT").unwrap(),
            Symbol::new("SOLUSDT").unwrap(),
        ];
        let args = topics(&symbols, 50);
        assert_eq!(
            String::from_utf8(request("subscribe", "subscribe", &args)).unwrap(),
            r#"{"req_id":"subscribe","op":"subscribe","args":["orderbook.50.BTCUSDT","publicTrade.BTCUSDT","tickers.BTCUSDT","orderbook.50.SOLUSDT","publicTrade.SOLUSDT","tickers.SOLUSDT"]}"#
        );
    }

    #[test]
    fn control_replies_are_told_from_data_pushes() {
        assert!(is_control(
            br#"{"success":true,"ret_msg":"pong","conn_id":"x","req_id":"","op":"ping"}"#
        ));
        assert!(is_control(
            br#"{"req_id":"1","op":"pong","args":["1"],"conn_id":"x"}"#
        ));
        assert!(!is_control(
            br#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{}}"#
        ));
        // Key order is not promised: a topic further in is still a data push.
        assert!(!is_control(
            br#"{"type":"snapshot","ts":1,"cts":2,"topic":"orderbook.50.BTCUSDT","data":{}}"#
        ));
    }

    #[test]
    fn loss_reasons_read_back_from_their_labels() {
        for reason in LossReason::ALL {
            let read = LossReason::from_label(reason.label().as_bytes());
            assert_eq!(
                (read.index(), read.label()),
                (reason.index(), reason.label())
            );
        }
        assert_eq!(LossReason::from_label(b"?"), LossReason::Closed);
    }

    #[test]
    fn back_off_grows_by_the_multiplier_up_to_the_cap_with_bounded_jitter() {
        let backoff = Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(5),
            multiplier: 2.0,
            jitter: 0.2,
        };
        let delays: Vec<u128> = (0..6).map(|n| backoff.delay(n, 0.5).as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 5000, 5000]);
        assert_eq!(backoff.delay(0, 0.0).as_millis(), 400);
        assert_eq!(backoff.delay(1, 0.999_999).as_millis(), 1199);
        // Jitter never exceeds the cap.
        assert_eq!(backoff.delay(10, 0.999_999), Duration::from_secs(5));
    }
}

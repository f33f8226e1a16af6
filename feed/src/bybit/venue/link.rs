//! One WebSocket link of the venue (the private or the trade stream): made on a connecting
//! thread of its own (a connection may block; the hot thread never does), then authenticated,
//! (private) subscribed, kept alive by pings, and made again after a jittered back-off when it
//! is lost.

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::net::{Endpoint, WsConnection, connect};

use super::VenueSettings;

/// What the hot thread asks of the connecting thread.
pub(super) enum ConnectRequest {
    /// Make a connection.
    Connect,
    /// Close this one (closing may block).
    Retire(Box<WsConnection>),
}

/// Where a link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// No connection; the next attempt at `until_ns` (monotonic).
    Waiting { until_ns: u64 },
    /// With the connecting thread.
    Connecting,
    /// Up; `auth` sent.
    Authenticating,
    /// Up and authenticated; (private) the data topics' `subscribe` sent.
    Subscribing,
    /// Ready for orders and pushes.
    Ready,
}

/// A link and its liveness.
pub(super) struct Link {
    pub(super) phase: Phase,
    pub(super) connection: Option<Box<WsConnection>>,
    requests: Sender<ConnectRequest>,
    pub(super) made: Receiver<Option<Box<WsConnection>>>,
    pub(super) last_message_ns: u64,
    pub(super) next_ping_ns: u64,
    pub(super) pong_due_ns: Option<u64>,
    pub(super) since_ns: u64,
    pub(super) failures: u32,
}

impl Link {
    /// The link `name` to `endpoint`; its connecting thread starts now.
    pub(super) fn new(
        name: &str,
        endpoint: Endpoint,
        settings: &VenueSettings,
    ) -> std::io::Result<Link> {
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

    /// True when up, authenticated and (private) subscribed.
    pub(super) const fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready)
    }

    /// Asks for a connection when the wait is over at `now` (monotonic).
    pub(super) fn try_connect(&mut self, now: u64) {
        if let Phase::Waiting { until_ns } = self.phase
            && now >= until_ns
        {
            match self.requests.try_send(ConnectRequest::Connect) {
                Ok(()) => self.phase = Phase::Connecting,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
            }
        }
    }

    /// Hands `connection` to the connecting thread to be closed.
    pub(super) fn retire(&self, connection: Box<WsConnection>) {
        let _ = self.requests.try_send(ConnectRequest::Retire(connection));
    }

    /// The connection `connection` is up at `now`, its `auth` sent: pings from then on.
    pub(super) fn up(&mut self, connection: Box<WsConnection>, now: u64, ping_interval: Duration) {
        self.connection = Some(connection);
        self.phase = Phase::Authenticating;
        self.since_ns = now;
        self.last_message_ns = now;
        self.next_ping_ns = now + ping_interval.as_nanos() as u64;
        self.pong_due_ns = None;
    }

    /// Drops the connection (to be closed by the connecting thread); true when one was up.
    pub(super) fn take_down(&mut self, now: u64, backoff_max: Duration) -> bool {
        let had = match self.connection.take() {
            Some(connection) => {
                self.retire(connection);
                true
            }
            None => false,
        };
        // A link that stayed up for the back-off's cap starts the sequence afresh.
        if now.saturating_sub(self.since_ns) >= backoff_max.as_nanos() as u64 {
            self.failures = 0;
        }
        had
    }
}

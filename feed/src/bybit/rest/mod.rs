//! Bybit v5 REST for cold threads: signed requests over a blocking HTTP client, on the venue's
//! clock, within the per-UID rate limits, and what their answers mean.
//!
//! - **Signing**: `X-BAPI-API-KEY`, `X-BAPI-TIMESTAMP`, `X-BAPI-RECV-WINDOW` and `X-BAPI-SIGN`
//!   over the exact query string or body sent ([`crate::bybit::sign`]).
//! - **Clock**: requests are stamped with the local clock plus the offset to the venue's,
//!   measured by [`RestClient::sync_clock`] at start and again whenever the venue answers 10002
//!   (the request is then sent once more).
//! - **Rate limits**: each call takes a token of its endpoint group from the shared
//!   [`RateLimits`] first, waiting for one at most [`MAX_LIMIT_WAIT`]. A 10006 answer closes the
//!   group until the reset time the venue sent (`X-Bapi-Limit-Reset-Timestamp`), or for a
//!   second when it sent none, and the call is tried again after it, at most
//!   [`RATE_LIMIT_RETRIES`] times: a back-off, never a retry storm. A header saying nothing is
//!   left closes the group the same way before the venue has to say 10006.
//! - **HTTP 403** (the IP limit): every REST call is refused locally for
//!   [`IP_BAN_COOLDOWN`].
//! - **Errors** ([`RestError`]) say what was asked and what came back, and carry the
//!   [`Outcome`]: a call whose answer leaves an order's fate unknown says
//!   [`Outcome::Unknown`], for the caller to reconcile. The secret appears in none of them.

pub mod replies;
pub mod snapshot;

use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;

use super::codes::{self, IP_BAN_COOLDOWN, Outcome, Request};
use super::limits::{Endpoint, RateLimits};
use super::sign::Signer;

/// Longest a call waits for a rate-limit token before giving up.
pub const MAX_LIMIT_WAIT: Duration = Duration::from_secs(5);
/// How many times a call answered 10006 is tried again, after the venue's reset.
pub const RATE_LIMIT_RETRIES: u32 = 3;
/// How long a 10006 without a reset time closes the endpoint group.
const DEFAULT_HOLD: Duration = Duration::from_secs(1);

/// GET or POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A query; the payload is the query string.
    Get,
    /// A change; the payload is the JSON body.
    Post,
}

impl Method {
    const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// Why a REST call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// No answer: the connection failed or timed out. The request may have reached the venue.
    #[error("{method} {path}: no answer: {reason}")]
    NoAnswer {
        /// GET or POST.
        method: &'static str,
        /// The path.
        path: String,
        /// What the transport said.
        reason: String,
    },
    /// An HTTP status without a Bybit answer.
    #[error("{method} {path}: HTTP {status} ({})", .outcome.label())]
    Http {
        /// GET or POST.
        method: &'static str,
        /// The path.
        path: String,
        /// The status.
        status: u16,
        /// What it means.
        outcome: Outcome,
    },
    /// The venue answered with a non-zero `retCode`.
    #[error("{method} {path}: retCode {code} {message:?} ({})", .outcome.label())]
    Venue {
        /// GET or POST.
        method: &'static str,
        /// The path.
        path: String,
        /// `retCode`.
        code: i64,
        /// `retMsg`.
        message: String,
        /// What it means.
        outcome: Outcome,
    },
    /// The answer could not be read.
    #[error("{method} {path}: unreadable answer: {reason}")]
    Unreadable {
        /// GET or POST.
        method: &'static str,
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// Not sent: REST is cooling down after an HTTP 403.
    #[error(
        "{method} {path}: not sent: REST is cooling down after an HTTP 403 for {left_s} s more"
    )]
    CoolingDown {
        /// GET or POST.
        method: &'static str,
        /// The path.
        path: String,
        /// Seconds left.
        left_s: u64,
    },
    /// Not sent: no rate-limit token within [`MAX_LIMIT_WAIT`].
    #[error("{method} {path}: not sent: the {endpoint} rate limit has no room for {wait_ms} ms")]
    NoRoom {
        /// GET or POST.
        method: &'static str,
        /// The path.
        path: String,
        /// The endpoint group.
        endpoint: &'static str,
        /// How long until a token is free.
        wait_ms: u64,
    },
}

impl RestError {
    /// What the failure means for the request.
    pub fn outcome(&self) -> Outcome {
        match self {
            RestError::NoAnswer { .. } | RestError::Unreadable { .. } => Outcome::Unknown,
            RestError::Http { outcome, .. } | RestError::Venue { outcome, .. } => *outcome,
            RestError::CoolingDown { .. } => Outcome::IpBanned,
            RestError::NoRoom { .. } => Outcome::RateLimited,
        }
    }

    /// The venue's `retCode`, for an answer that had one.
    pub fn code(&self) -> Option<i64> {
        match self {
            RestError::Venue { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Where and how to reach the venue.
#[derive(Debug, Clone)]
pub struct RestSettings {
    /// Base URL (`https://api.bybit.com`, or `http://127.0.0.1:PORT` for the loopback venue).
    pub base_url: String,
    /// `X-BAPI-RECV-WINDOW`, ms.
    pub recv_window_ms: u64,
    /// Longest one HTTP exchange may take.
    pub timeout: Duration,
    /// A PEM file whose certificates are trusted instead of the public web roots (the
    /// loopback venue's); `None`: the public web roots.
    pub ca_file: Option<std::path::PathBuf>,
}

/// What a clock sync measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSync {
    /// Venue time minus local time, ms (at the middle of the round trip).
    pub offset_ms: i64,
    /// The round trip, ms.
    pub round_trip_ms: u64,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `retCode`: 0, or a code that means success all the same (110025 and 110043 "not
    /// modified", 110001 on a cancel: already gone).
    pub ret_code: i64,
    /// The whole body.
    pub body: Vec<u8>,
    /// The venue's time stamp of it (`time`), ms.
    pub time_ms: u64,
}

/// A signed REST client. Cheap to share behind an [`Arc`]; calls may run on several threads.
pub struct RestClient {
    agent: ureq::Agent,
    base_url: String,
    signer: Signer,
    recv_window_ms: u64,
    /// Venue time minus local time, ms (shared with the trade stream, which stamps on it too).
    offset_ms: Arc<AtomicI64>,
    limits: Arc<RateLimits>,
    /// Until when REST is silent after a 403.
    cooling_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient")
            .field("base_url", &self.base_url)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

/// Why a client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The CA file could not be read.
    #[error("{path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// The certificates of the PEM file at `path`.
fn read_certificates(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, ClientError> {
    let error = |reason: String| ClientError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|err| error(err.to_string()))?;
    let mut certificates = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let ureq::tls::PemItem::Certificate(certificate) =
            item.map_err(|err| error(err.to_string()))?
        {
            certificates.push(certificate);
        }
    }
    if certificates.is_empty() {
        return Err(error("no certificate in it".to_owned()));
    }
    Ok(certificates)
}

/// Now, ms since the epoch, on the local clock.
pub fn local_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Now, ns since the epoch, on the local clock (the rate limits' clock).
fn local_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}

impl RestClient {
    /// A client of `settings` signing with `signer`, within `limits`.
    pub fn new(
        settings: &RestSettings,
        signer: Signer,
        limits: Arc<RateLimits>,
    ) -> Result<RestClient, ClientError> {
        let roots = match &settings.ca_file {
            Some(path) => ureq::tls::RootCerts::Specific(Arc::new(read_certificates(path)?)),
            None => ureq::tls::RootCerts::WebPki,
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(settings.timeout))
            .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
            .build()
            .into();
        Ok(RestClient {
            agent,
            base_url: settings.base_url.trim_end_matches('/').to_owned(),
            signer,
            recv_window_ms: settings.recv_window_ms,
            offset_ms: Arc::new(AtomicI64::new(0)),
            limits,
            cooling_until: Mutex::new(None),
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The API key (public).
    pub fn api_key(&self) -> &str {
        self.signer.api_key()
    }

    /// The API key as it is shown to people (its first four characters).
    pub fn key_shown(&self) -> String {
        self.signer.key_shown()
    }

    /// The venue clock's offset, shared: what the trade stream stamps its requests on.
    pub fn clock(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.offset_ms)
    }

    /// Venue time minus local time, ms, as last measured.
    pub fn clock_offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Now on the venue's clock, ms.
    pub fn venue_ms(&self) -> u64 {
        local_ms().saturating_add_signed(self.clock_offset_ms())
    }

    /// Measures the venue's clock (`GET /v5/market/time`) and stamps requests on it from now.
    pub fn sync_clock(&self) -> Result<ClockSync, RestError> {
        let sent = Instant::now();
        let sent_ms = local_ms();
        let answer = self.call(Method::Get, "/v5/market/time", "", None)?;
        let round_trip_ms = u64::try_from(sent.elapsed().as_millis()).unwrap_or(u64::MAX);
        let time: replies::ServerTime = result_of(Method::Get, "/v5/market/time", &answer)?;
        let venue_ms = time.millis().ok_or_else(|| RestError::Unreadable {
            method: "GET",
            path: "/v5/market/time".to_owned(),
            reason: format!("timeNano {:?} is not a time", time.time_nano),
        })?;
        let local_mid = sent_ms + round_trip_ms / 2;
        let offset_ms = i64::try_from(i128::from(venue_ms) - i128::from(local_mid)).unwrap_or(0);
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
        Ok(ClockSync {
            offset_ms,
            round_trip_ms,
        })
    }

    /// A signed GET of `path` with `query` (sent and signed exactly as given), in `endpoint`'s
    /// rate limit; the `result` read as `T`.
    pub fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &str,
        endpoint: Endpoint,
    ) -> Result<T, RestError> {
        let answer = self.call(Method::Get, path, query, Some(endpoint))?;
        result_of(Method::Get, path, &answer)
    }

    /// A signed POST of `body` (sent and signed exactly as given) to `path`, in `endpoint`'s
    /// rate limit.
    pub fn post(&self, path: &str, body: &str, endpoint: Endpoint) -> Result<Answer, RestError> {
        self.call(Method::Post, path, body, Some(endpoint))
    }

    /// A signed call of `path` with `payload` (the query string or the body), within the rate
    /// limit of `endpoint` (`None`: unsigned and unlimited, for the public server time).
    /// Answers 10002 and 10006 are handled as the module says; any other non-zero `retCode`
    /// is an error.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        payload: &str,
        endpoint: Option<Endpoint>,
    ) -> Result<Answer, RestError> {
        let mut resynced = false;
        let mut retries = 0;
        loop {
            match self.call_once(method, path, payload, endpoint) {
                Err(err) if err.outcome() == Outcome::ClockSkew && !resynced => {
                    resynced = true;
                    self.sync_clock()?;
                }
                Err(err)
                    if err.outcome() == Outcome::RateLimited
                        && matches!(err, RestError::Venue { .. })
                        && retries < RATE_LIMIT_RETRIES =>
                {
                    retries += 1;
                }
                result => return result,
            }
        }
    }

    fn call_once(
        &self,
        method: Method,
        path: &str,
        payload: &str,
        endpoint: Option<Endpoint>,
    ) -> Result<Answer, RestError> {
        let name = method.as_str();
        self.check_cooling(name, path)?;
        if let Some(endpoint) = endpoint {
            self.wait_for_token(name, path, endpoint)?;
        }
        let url = match (method, payload.is_empty()) {
            (Method::Get, false) => format!("{}{path}?{payload}", self.base_url),
            _ => format!("{}{path}", self.base_url),
        };
        let stamp = self.venue_ms();
        let signature = self
            .signer
            .sign_rest(stamp, self.recv_window_ms, payload.as_bytes());
        let no_answer = |err: ureq::Error| RestError::NoAnswer {
            method: name,
            path: path.to_owned(),
            reason: err.to_string(),
        };
        let (mut stamp_text, mut window_text) = ([0; 20], [0; 20]);
        let stamp_text =
            std::str::from_utf8(super::sign::decimal(stamp, &mut stamp_text)).unwrap_or_default();
        let window_text =
            std::str::from_utf8(super::sign::decimal(self.recv_window_ms, &mut window_text))
                .unwrap_or_default();
        let response = match (method, endpoint) {
            (Method::Get, None) => self.agent.get(&url).call(),
            (Method::Get, Some(_)) => self
                .agent
                .get(&url)
                .header("X-BAPI-API-KEY", self.signer.api_key())
                .header("X-BAPI-TIMESTAMP", stamp_text)
                .header("X-BAPI-RECV-WINDOW", window_text)
                .header("X-BAPI-SIGN", signature.as_str())
                .call(),
            (Method::Post, _) => self
                .agent
                .post(&url)
                .header("X-BAPI-API-KEY", self.signer.api_key())
                .header("X-BAPI-TIMESTAMP", stamp_text)
                .header("X-BAPI-RECV-WINDOW", window_text)
                .header("X-BAPI-SIGN", signature.as_str())
                .content_type("application/json")
                .send(payload),
        };
        let mut response = response.map_err(no_answer)?;
        let status = response.status().as_u16();
        let header = |name: &str| -> Option<u64> {
            response
                .headers()
                .get(name)?
                .to_str()
                .ok()?
                .trim()
                .parse()
                .ok()
        };
        let (remaining, reset_ms) = (
            header("X-Bapi-Limit-Status"),
            header("X-Bapi-Limit-Reset-Timestamp"),
        );
        let body = response
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_vec()
            .map_err(no_answer)?;
        if status == 403 {
            self.start_cooling();
        }
        let envelope: Option<Envelope> = serde_json::from_slice(&body).ok();
        let Some(envelope) = envelope else {
            return Err(match codes::classify_http(status) {
                Some(outcome) => RestError::Http {
                    method: name,
                    path: path.to_owned(),
                    status,
                    outcome,
                },
                None => RestError::Unreadable {
                    method: name,
                    path: path.to_owned(),
                    reason: "not a Bybit answer".to_owned(),
                },
            });
        };
        let outcome = codes::classify(request_of(path), envelope.ret_code);
        if let Some(endpoint) = endpoint {
            // The reset is on the venue's clock; the buckets run on the local one.
            let offset_ms = self.clock_offset_ms();
            let reset_ns = reset_ms.map(|ms| {
                ms.saturating_add_signed(-offset_ms)
                    .saturating_mul(1_000_000)
            });
            if outcome == Outcome::RateLimited {
                let default = local_ns().saturating_add(DEFAULT_HOLD.as_nanos() as u64);
                self.limits
                    .hold_until(endpoint, reset_ns.unwrap_or(default));
                // Wait it out here: the retry comes after it.
                self.sleep_until_ns(reset_ns.unwrap_or(default));
            } else if remaining == Some(0)
                && let Some(reset_ns) = reset_ns
            {
                self.limits.hold_until(endpoint, reset_ns);
            }
        }
        if envelope.ret_code != 0 && !outcome.is_success() {
            return Err(RestError::Venue {
                method: name,
                path: path.to_owned(),
                code: envelope.ret_code,
                // A 10004 echoes the string it signed, API key included.
                message: self.signer.masked(&envelope.ret_msg),
                outcome,
            });
        }
        if let Some(outcome) = codes::classify_http(status)
            && envelope.ret_code == 0
        {
            return Err(RestError::Http {
                method: name,
                path: path.to_owned(),
                status,
                outcome,
            });
        }
        Ok(Answer {
            ret_code: envelope.ret_code,
            body,
            time_ms: envelope.time.unwrap_or(0),
        })
    }

    fn check_cooling(&self, method: &'static str, path: &str) -> Result<(), RestError> {
        let mut cooling = self
            .cooling_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *cooling {
            Some(until) if Instant::now() < until => Err(RestError::CoolingDown {
                method,
                path: path.to_owned(),
                left_s: until.saturating_duration_since(Instant::now()).as_secs() + 1,
            }),
            Some(_) => {
                *cooling = None;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn start_cooling(&self) {
        *self
            .cooling_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(Instant::now() + IP_BAN_COOLDOWN);
    }

    fn wait_for_token(
        &self,
        method: &'static str,
        path: &str,
        endpoint: Endpoint,
    ) -> Result<(), RestError> {
        let deadline = Instant::now() + MAX_LIMIT_WAIT;
        loop {
            match self.limits.try_acquire(endpoint, local_ns()) {
                Ok(()) => return Ok(()),
                Err(wait_ns) => {
                    let wait = Duration::from_nanos(wait_ns);
                    if Instant::now() + wait > deadline {
                        return Err(RestError::NoRoom {
                            method,
                            path: path.to_owned(),
                            endpoint: endpoint.label(),
                            wait_ms: wait_ns / 1_000_000,
                        });
                    }
                    std::thread::sleep(wait);
                }
            }
        }
    }

    fn sleep_until_ns(&self, until_ns: u64) {
        let wait = Duration::from_nanos(until_ns.saturating_sub(local_ns()));
        std::thread::sleep(wait.min(MAX_LIMIT_WAIT));
    }
}

/// What kind of request a path is, for reading its answer's `retCode`.
fn request_of(path: &str) -> Request {
    match path {
        "/v5/order/create" => Request::Create,
        "/v5/order/amend" => Request::Amend,
        "/v5/order/cancel" | "/v5/order/cancel-all" => Request::Cancel,
        _ => Request::Other,
    }
}

/// The envelope of every Bybit answer.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    ret_code: i64,
    #[serde(default)]
    ret_msg: String,
    #[serde(default)]
    time: Option<u64>,
}

/// The `result` of `answer`, read as `T`.
pub fn result_of<T: DeserializeOwned>(
    method: Method,
    path: &str,
    answer: &Answer,
) -> Result<T, RestError> {
    #[derive(serde::Deserialize)]
    struct WithResult<T> {
        result: T,
    }
    serde_json::from_slice::<WithResult<T>>(&answer.body)
        .map(|with| with.result)
        .map_err(|err| RestError::Unreadable {
            method: method.as_str(),
            path: path.to_owned(),
            reason: err.to_string(),
        })
}

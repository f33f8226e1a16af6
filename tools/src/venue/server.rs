//! The listener, the connections and the routing of their requests.
//!
//! Every connection gets a thread. Its first request head is read and parsed here (httparse);
//! a WebSocket upgrade on a stream's path is answered `101` and the connection becomes that
//! stream's session (tungstenite, server role), any other request is answered from the REST
//! route table, keeping the connection alive for the next one. Paths are dispatched through
//! [`ROUTES`]: the private and trade streams and the order endpoints join it there.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection, StreamOwned};
use tungstenite::protocol::Role;
use tungstenite::{Message, Utf8Bytes, WebSocket};

use super::account::{AuthHeaders, Refusal};
use super::exchange::{ListQuery, PrivateTopic};
use super::stream::{
    ClientHandle, Outbound, PongAction, TopicFailure, Venue, json_string, wall_ms,
};

/// How often the accept loop looks at the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(5);
/// How long a request head (and the TLS handshake before it) may take, and how long an idle
/// keep-alive connection is kept.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a session waits for client input before looking at its queue again.
const SESSION_POLL: Duration = Duration::from_millis(1);
/// How long a write may block before the client counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head.
const MAX_HEAD: usize = 16 * 1024;
/// Largest request body.
const MAX_BODY: usize = 1 << 20;
/// Bybit's rate-limit window: a `rate-limit` answer resets this long after it.
const RATE_LIMIT_WINDOW_MS: u64 = 1000;

/// What serves a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// WebSocket: the public linear stream.
    PublicLinear,
    /// `GET /v5/market/time`
    ServerTime,
    /// `GET /v5/market/orderbook`
    Orderbook,
    /// `GET /v5/market/instruments-info`
    InstrumentsInfo,
    /// `GET /v5/user/query-api` (signed)
    QueryApi,
    /// `GET /v5/asset/coin/query-info` (signed)
    CoinInfo,
    /// `GET /v5/account/info` (signed)
    AccountInfo,
    /// `GET /v5/account/fee-rate` (signed)
    FeeRate,
    /// `GET /v5/account/wallet-balance` (signed)
    WalletBalance,
    /// `GET /v5/position/list` (signed)
    PositionList,
    /// `GET /v5/order/realtime` (signed)
    OpenOrders,
    /// `GET /v5/order/history` (signed)
    OrderHistory,
    /// `GET /v5/execution/list` (signed)
    ExecutionList,
    /// `POST /v5/position/switch-mode` (signed)
    SwitchMode,
    /// `POST /v5/position/set-leverage` (signed)
    SetLeverage,
    /// `POST /v5/order/create` (signed)
    OrderCreate,
    /// `POST /v5/order/amend` (signed)
    OrderAmend,
    /// `POST /v5/order/cancel` (signed)
    OrderCancel,
    /// `POST /v5/order/cancel-all` (signed)
    OrderCancelAll,
    /// `POST /v5/order/disconnected-cancel-all` (signed)
    Dcp,
    /// WebSocket: the private stream (orders, executions, position, wallet).
    Private,
    /// WebSocket: the trade stream (order entry).
    Trade,
}

impl Route {
    /// True for WebSocket streams.
    const fn is_stream(self) -> bool {
        matches!(self, Route::PublicLinear | Route::Private | Route::Trade)
    }

    /// The method a REST route takes.
    const fn method(self) -> &'static str {
        match self {
            Route::SwitchMode
            | Route::SetLeverage
            | Route::OrderCreate
            | Route::OrderAmend
            | Route::OrderCancel
            | Route::OrderCancelAll
            | Route::Dcp => "POST",
            _ => "GET",
        }
    }

    /// True for the REST routes that need a signed request.
    const fn is_private(self) -> bool {
        !self.is_stream()
            && !matches!(
                self,
                Route::ServerTime | Route::Orderbook | Route::InstrumentsInfo
            )
    }
}

/// The route table: path to what serves it.
const ROUTES: [(&str, Route); 22] = [
    ("/v5/public/linear", Route::PublicLinear),
    ("/v5/market/time", Route::ServerTime),
    ("/v5/market/orderbook", Route::Orderbook),
    ("/v5/market/instruments-info", Route::InstrumentsInfo),
    ("/v5/user/query-api", Route::QueryApi),
    ("/v5/asset/coin/query-info", Route::CoinInfo),
    ("/v5/account/info", Route::AccountInfo),
    ("/v5/account/fee-rate", Route::FeeRate),
    ("/v5/account/wallet-balance", Route::WalletBalance),
    ("/v5/position/list", Route::PositionList),
    ("/v5/order/realtime", Route::OpenOrders),
    ("/v5/order/history", Route::OrderHistory),
    ("/v5/execution/list", Route::ExecutionList),
    ("/v5/position/switch-mode", Route::SwitchMode),
    ("/v5/position/set-leverage", Route::SetLeverage),
    ("/v5/order/create", Route::OrderCreate),
    ("/v5/order/amend", Route::OrderAmend),
    ("/v5/order/cancel", Route::OrderCancel),
    ("/v5/order/cancel-all", Route::OrderCancelAll),
    ("/v5/order/disconnected-cancel-all", Route::Dcp),
    ("/v5/private", Route::Private),
    ("/v5/trade", Route::Trade),
];

fn route(path: &str) -> Option<Route> {
    ROUTES
        .iter()
        .find(|(route_path, _)| *route_path == path)
        .map(|&(_, route)| route)
}

/// A connection, in clear or in TLS.
enum Transport {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Transport {
    fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(tcp) => tcp,
            Transport::Tls(tls) => &tls.sock,
        }
    }

    /// Ends the connection in order: TLS says `close_notify` (a plain socket needs nothing
    /// more than being dropped). Not for the `drop` fault, which is abrupt on purpose.
    fn close(&mut self) {
        if let Transport::Tls(tls) = self {
            tls.conn.send_close_notify();
            while tls.conn.wants_write() {
                if tls.conn.write_tls(&mut tls.sock).is_err() {
                    break;
                }
            }
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(tcp) => tcp.read(buf),
            Transport::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(tcp) => tcp.write(buf),
            Transport::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(tcp) => tcp.flush(),
            Transport::Tls(tls) => tls.flush(),
        }
    }
}

/// Accepts connections until `stop` is set, one thread each.
pub(crate) fn serve(
    listener: &TcpListener,
    tls: Option<&Arc<ServerConfig>>,
    venue: &Arc<Venue>,
    stop: &AtomicBool,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    while !stop.load(Ordering::Relaxed) {
        let (tcp, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(ACCEPT_POLL);
                continue;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                // Out of descriptors and the like: say so, and keep serving the others.
                eprintln!("toolkit venue: accept failed: {err}");
                std::thread::sleep(ACCEPT_POLL);
                continue;
            }
        };
        let id = venue.next_id();
        let (venue, tls) = (Arc::clone(venue), tls.cloned());
        let spawned = std::thread::Builder::new()
            .name(format!("venue-conn-{id}"))
            .spawn(move || {
                if let Err(err) = connection(tcp, peer, tls, &venue, id) {
                    eprintln!("toolkit venue: conn {id} {peer}: {err}");
                }
            });
        if let Err(err) = spawned {
            eprintln!("toolkit venue: conn {id} {peer}: no thread for it: {err}");
        }
    }
    Ok(())
}

/// One request head.
#[derive(Debug)]
struct Request {
    method: String,
    path: String,
    query: String,
    /// `Sec-WebSocket-Key` of an upgrade request.
    upgrade: Option<Upgrade>,
    /// Whether the client keeps the connection for another request.
    keep_alive: bool,
    /// The `X-BAPI-*` headers of a signed request.
    auth: AuthHeaders,
    /// The body, as received.
    body: Vec<u8>,
}

/// What an upgrade request asked for.
#[derive(Debug)]
struct Upgrade {
    key: Option<String>,
    version: Option<String>,
}

/// Why a request could not be read.
#[derive(Debug, thiserror::Error)]
enum RequestError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("bad request: {0}")]
    Parse(#[from] httparse::Error),
    #[error("request head over {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("request body: {0}")]
    Body(&'static str),
}

fn header<'h>(headers: &'h [httparse::Header<'_>], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case(name))
        .and_then(|header| std::str::from_utf8(header.value).ok())
        .map(str::trim)
}

fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|value| {
        value
            .split(',')
            .any(|part| part.trim().eq_ignore_ascii_case(token))
    })
}

/// Reads one request (head and body) from `transport`; `buffer` holds bytes read past the
/// request (the next request, or the first WebSocket frames). None when the client closed
/// between requests.
fn read_request(
    transport: &mut Transport,
    buffer: &mut Vec<u8>,
) -> Result<Option<Request>, RequestError> {
    let mut chunk = [0_u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        if let httparse::Status::Complete(head_len) = parsed.parse(buffer)? {
            let target = parsed.path.unwrap_or("/");
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let headers = &*parsed.headers;
            let http10 = parsed.version == Some(0);
            let connection = header(headers, "Connection");
            let keep_alive = if http10 {
                has_token(connection, "keep-alive")
            } else {
                !has_token(connection, "close")
            };
            let upgrade = (has_token(header(headers, "Upgrade"), "websocket")
                && has_token(connection, "upgrade"))
            .then(|| Upgrade {
                key: header(headers, "Sec-WebSocket-Key").map(str::to_owned),
                version: header(headers, "Sec-WebSocket-Version").map(str::to_owned),
            });
            if header(headers, "Transfer-Encoding").is_some() {
                return Err(RequestError::Body("chunked bodies are not accepted"));
            }
            let body_len = match header(headers, "Content-Length") {
                Some(len) => len
                    .parse::<usize>()
                    .map_err(|_| RequestError::Body("bad Content-Length"))?,
                None => 0,
            };
            if body_len > MAX_BODY {
                return Err(RequestError::Body("too large"));
            }
            let owned = |name: &str| header(headers, name).map(str::to_owned);
            let mut request = Request {
                method: parsed.method.unwrap_or_default().to_owned(),
                path: path.to_owned(),
                query: query.to_owned(),
                upgrade,
                keep_alive,
                auth: AuthHeaders {
                    api_key: owned("X-BAPI-API-KEY"),
                    timestamp: owned("X-BAPI-TIMESTAMP"),
                    recv_window: owned("X-BAPI-RECV-WINDOW"),
                    sign: owned("X-BAPI-SIGN"),
                },
                body: Vec::new(),
            };
            while buffer.len() < head_len + body_len {
                let n = transport.read(&mut chunk)?;
                if n == 0 {
                    return Err(RequestError::Body("connection closed inside the body"));
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
            request.body = buffer[head_len..head_len + body_len].to_vec();
            buffer.drain(..head_len + body_len);
            return Ok(Some(request));
        }
        if buffer.len() > MAX_HEAD {
            return Err(RequestError::HeadTooLarge);
        }
        let n = transport.read(&mut chunk)?;
        if n == 0 {
            return if buffer.is_empty() {
                Ok(None)
            } else {
                Err(RequestError::Io(io::ErrorKind::UnexpectedEof.into()))
            };
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// A REST envelope: `{"retCode","retMsg","result","retExtInfo","time"}`.
fn envelope(code: i64, message: &str, result: &str, time_ms: u64) -> String {
    format!(
        r#"{{"retCode":{code},"retMsg":{},"result":{result},"retExtInfo":{{}},"time":{time_ms}}}"#,
        json_string(message)
    )
}

fn write_response(
    transport: &mut Transport,
    status: u16,
    reason: &str,
    extra_headers: &str,
    body: &str,
    keep_alive: bool,
) -> io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: {}\r\n{extra_headers}\r\n{body}",
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    transport.write_all(response.as_bytes())?;
    transport.flush()
}

/// What to do with a connection after a request.
enum Next {
    /// Read the next request.
    KeepAlive,
    /// Close it.
    Close,
    /// It is now a WebSocket on this route.
    Upgraded(Route),
}

/// Serves one connection: requests until it closes or upgrades.
fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<ServerConfig>>,
    venue: &Venue,
    id: u64,
) -> anyhow::Result<()> {
    tcp.set_nonblocking(false)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    tcp.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut transport = match tls {
        Some(config) => Transport::Tls(Box::new(StreamOwned::new(
            ServerConnection::new(config)?,
            tcp,
        ))),
        None => Transport::Plain(tcp),
    };
    let mut buffer = Vec::new();
    loop {
        let request = match read_request(&mut transport, &mut buffer) {
            Ok(Some(request)) => request,
            Ok(None) => {
                transport.close();
                return Ok(());
            }
            Err(RequestError::Io(err))
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::UnexpectedEof
                ) =>
            {
                return Ok(());
            }
            Err(err) => {
                let body = envelope(10001, &err.to_string(), "{}", wall_ms());
                let _ = write_response(&mut transport, 400, "Bad Request", "", &body, false);
                return Err(err.into());
            }
        };
        match answer(&mut transport, &request, venue)? {
            Next::KeepAlive => {}
            Next::Close => {
                transport.close();
                return Ok(());
            }
            Next::Upgraded(route @ (Route::PublicLinear | Route::Private | Route::Trade)) => {
                let leftover = std::mem::take(&mut buffer);
                let ws = WebSocket::from_partially_read(transport, leftover, Role::Server, None);
                stream_session(ws, venue, id, peer, &request.path, route);
                return Ok(());
            }
            Next::Upgraded(route) => anyhow::bail!("{route:?} is not a stream"),
        }
    }
}

/// Answers one request from the route table.
fn answer(transport: &mut Transport, request: &Request, venue: &Venue) -> io::Result<Next> {
    let found = route(&request.path);
    if let Some(upgrade) = &request.upgrade {
        return match found {
            Some(route) if route.is_stream() => {
                Ok(if upgrade_to_websocket(transport, request, upgrade)? {
                    Next::Upgraded(route)
                } else {
                    Next::Close
                })
            }
            _ => not_found(transport, &request.path, false).map(|()| Next::Close),
        };
    }
    let keep_alive = request.keep_alive;
    match found {
        Some(route) if route.is_stream() => {
            let body = envelope(10001, "websocket upgrade expected", "{}", wall_ms());
            write_response(
                transport,
                426,
                "Upgrade Required",
                "Upgrade: websocket\r\n",
                &body,
                keep_alive,
            )?;
        }
        Some(_) if venue.faults.take_rest_ban() => {
            eprintln!(
                "toolkit venue: {} {} answered HTTP 403 (fault)",
                request.method, request.path
            );
            let body = "access too frequent";
            let response = format!(
                "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            transport.write_all(response.as_bytes())?;
            transport.flush()?;
            return Ok(Next::Close);
        }
        Some(route) if request.method != route.method() => {
            let body = envelope(10001, "method not allowed", "{}", wall_ms());
            write_response(
                transport,
                405,
                "Method Not Allowed",
                &format!("Allow: {}\r\n", route.method()),
                &body,
                keep_alive,
            )?;
        }
        Some(Route::ServerTime) => {
            let body = server_time(venue);
            write_response(transport, 200, "OK", "", &body, keep_alive)?;
        }
        Some(Route::Orderbook) => {
            let body = orderbook(venue, &request.query);
            write_response(transport, 200, "OK", "", &body, keep_alive)?;
        }
        Some(route) if route == Route::InstrumentsInfo || route.is_private() => {
            let (headers, body) = account_answer(venue, route, request);
            write_response(transport, 200, "OK", &headers, &body, keep_alive)?;
        }
        Some(_) | None => {
            not_found(transport, &request.path, keep_alive)?;
        }
    }
    Ok(if keep_alive {
        Next::KeepAlive
    } else {
        Next::Close
    })
}

fn not_found(transport: &mut Transport, path: &str, keep_alive: bool) -> io::Result<()> {
    let body = envelope(10404, &format!("path not found: {path}"), "{}", wall_ms());
    write_response(transport, 404, "Not Found", "", &body, keep_alive)
}

/// Answers an upgrade request `101` (or why not); true when the connection is now a
/// WebSocket.
fn upgrade_to_websocket(
    transport: &mut Transport,
    request: &Request,
    upgrade: &Upgrade,
) -> io::Result<bool> {
    let refuse = |transport: &mut Transport, status, reason, headers, message: &str| {
        let body = envelope(10001, message, "{}", wall_ms());
        write_response(transport, status, reason, headers, &body, false).map(|()| false)
    };
    if request.method != "GET" {
        return refuse(
            transport,
            405,
            "Method Not Allowed",
            "Allow: GET\r\n",
            "GET only",
        );
    }
    if upgrade.version.as_deref() != Some("13") {
        return refuse(
            transport,
            426,
            "Upgrade Required",
            "Sec-WebSocket-Version: 13\r\n",
            "WebSocket version 13 only",
        );
    }
    let Some(key) = &upgrade.key else {
        return refuse(
            transport,
            400,
            "Bad Request",
            "",
            "Sec-WebSocket-Key missing",
        );
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    transport.write_all(response.as_bytes())?;
    transport.flush()?;
    Ok(true)
}

/// Answers a request of the account's routes: checks a private one's signature first, then
/// asks the account; returns the extra headers and the body. Every answer is logged (the API
/// key masked where the venue echoes it).
fn account_answer(venue: &Venue, route: Route, request: &Request) -> (String, String) {
    if route.is_private()
        && let Some(delay) = venue.faults.rest_delay(Instant::now())
    {
        std::thread::sleep(delay);
    }
    let now = wall_ms().saturating_add_signed(venue.market().skew_ms());
    if route.is_private() && venue.faults.take_rest_limit() {
        eprintln!(
            "toolkit venue: {} {} answered 10006 (fault)",
            request.method, request.path
        );
        let headers = format!(
            "X-Bapi-Limit: 10\r\nX-Bapi-Limit-Status: 0\r\nX-Bapi-Limit-Reset-Timestamp: {}\r\n",
            now + RATE_LIMIT_WINDOW_MS
        );
        return (headers, envelope(10006, "Too many visits!", "{}", now));
    }
    let account = &venue.account;
    let body = String::from_utf8_lossy(&request.body);
    let payload = if route.method() == "GET" {
        request.query.as_str()
    } else {
        &body
    };
    let query = |name: &str| query_param(&request.query, name).unwrap_or_default();
    let linear = || {
        if query("category") == "linear" {
            Ok(())
        } else {
            Err(Refusal {
                code: 10001,
                message: "Illegal category".to_owned(),
            })
        }
    };
    let result = if route.is_private() {
        account.authenticate(&request.auth, payload, now)
    } else {
        Ok(())
    }
    .and_then(|()| match route {
        Route::InstrumentsInfo => {
            let page = list_query(&request.query, ListRules::INSTRUMENTS)?;
            account.instruments_info(
                &query("category"),
                &query("symbol"),
                &query("status"),
                &page,
            )
        }
        Route::QueryApi => Ok(account.query_api()),
        Route::CoinInfo => Ok(account.coin_info()),
        Route::AccountInfo => Ok(account.account_info(now)),
        Route::FeeRate => linear().and_then(|()| account.fee_rate(&query("symbol"))),
        Route::WalletBalance => {
            account.wallet_balance(&query("accountType"), &venue.market().exchange)
        }
        Route::PositionList => linear().and_then(|()| {
            account.position_list(
                &query("symbol"),
                &query("settleCoin"),
                &venue.market().exchange,
            )
        }),
        Route::OpenOrders => {
            linear()?;
            let page = list_query(&request.query, ListRules::OPEN_ORDERS)?;
            account.check_scope(&query("symbol"), &query("settleCoin"))?;
            let (list, next) = venue.market().exchange.open_orders_json(&page);
            Ok(list_result(&list, &next))
        }
        Route::OrderHistory => {
            linear()?;
            let page = list_query(&request.query, ListRules::ORDER_HISTORY)?;
            account.check_scope(&query("symbol"), &query("settleCoin"))?;
            let (list, next) = venue.market().exchange.order_history_json(&page);
            Ok(list_result(&list, &next))
        }
        Route::ExecutionList => {
            linear()?;
            let page = list_query(&request.query, ListRules::EXECUTIONS)?;
            account.check_scope(&query("symbol"), &query("settleCoin"))?;
            let (list, next) = venue.market().exchange.executions_json(&page, now);
            Ok(list_result(&list, &next))
        }
        Route::Dcp => account.dcp_window(&body).map(|window| {
            venue.market().arm_dcp(window);
            eprintln!(
                "toolkit venue: disconnect-cancel-all armed: {} s",
                window.as_secs()
            );
            "{}".to_owned()
        }),
        Route::SwitchMode => account.switch_mode(&body),
        Route::SetLeverage => account.set_leverage(&body).inspect(|_| {
            venue.market().exchange.set_leverage(account.leverage());
        }),
        Route::OrderCreate | Route::OrderAmend | Route::OrderCancel | Route::OrderCancelAll => {
            order_entry(venue, route, &body)
        }
        Route::PublicLinear
        | Route::Private
        | Route::Trade
        | Route::ServerTime
        | Route::Orderbook => Err(Refusal {
            code: 10404,
            message: "not an account route".to_owned(),
        }),
    });
    let body = match result {
        Ok(result) => {
            eprintln!("toolkit venue: {} {} ok", request.method, request.path);
            envelope(0, "OK", &result, now)
        }
        Err(refusal) => {
            eprintln!(
                "toolkit venue: {} {} refused: {} {}",
                request.method,
                request.path,
                refusal.code,
                account.masked(&refusal.message)
            );
            envelope(refusal.code, &refusal.message, "{}", now)
        }
    };
    (String::new(), body)
}

/// The `result` of a list: its items and the cursor of the next page.
fn list_result(list: &[String], next: &str) -> String {
    format!(
        r#"{{"category":"linear","list":[{}],"nextPageCursor":"{next}"}}"#,
        list.join(",")
    )
}

/// What one list endpoint takes, as Bybit documents it.
#[derive(Debug, Clone, Copy)]
struct ListRules {
    /// The largest `limit`.
    max_limit: usize,
    /// `limit` when none is given.
    default_limit: usize,
    /// `startTime` and `endTime` must come together (`/v5/order/history`).
    times_together: bool,
}

impl ListRules {
    /// `/v5/order/realtime`: limit 1 to 50, 20 by default.
    const OPEN_ORDERS: ListRules = ListRules {
        max_limit: 50,
        default_limit: 20,
        times_together: false,
    };
    /// `/v5/order/history`: limit 1 to 50, 20 by default; both times or neither.
    const ORDER_HISTORY: ListRules = ListRules {
        max_limit: 50,
        default_limit: 20,
        times_together: true,
    };
    /// `/v5/execution/list`: limit 1 to 100, 50 by default.
    const EXECUTIONS: ListRules = ListRules {
        max_limit: 100,
        default_limit: 50,
        times_together: false,
    };
    /// `/v5/market/instruments-info`: limit 1 to 1000, 500 by default.
    const INSTRUMENTS: ListRules = ListRules {
        max_limit: 1000,
        default_limit: 500,
        times_together: false,
    };
}

/// The filters and the page a list request asks for, refused (10001) as Bybit refuses them: a
/// `limit` outside the endpoint's range, a cursor that is not one of the venue's, a time
/// window longer than seven days, or one time without the other where both are needed.
fn list_query(query: &str, rules: ListRules) -> Result<ListQuery, Refusal> {
    let refuse = |message: String| Refusal {
        code: 10001,
        message,
    };
    let param = |name: &str| query_param(query, name).filter(|value| !value.is_empty());
    let limit = match param("limit") {
        None => rules.default_limit,
        Some(text) => match text.parse::<usize>() {
            Ok(limit) if (1..=rules.max_limit).contains(&limit) => limit,
            _ => {
                return Err(refuse(format!(
                    "params error: limit must be in [1, {}], got {text}",
                    rules.max_limit
                )));
            }
        },
    };
    let offset = match param("cursor") {
        None => 0,
        Some(text) => text
            .parse()
            .map_err(|_| refuse(format!("params error: cursor {text} is invalid")))?,
    };
    let time = |name: &str| {
        param(name)
            .map(|text| {
                text.parse::<u64>()
                    .map_err(|_| refuse(format!("params error: {name} {text} is invalid")))
            })
            .transpose()
    };
    let (start_ms, end_ms) = (time("startTime")?, time("endTime")?);
    if rules.times_together && start_ms.is_some() != end_ms.is_some() {
        return Err(refuse(
            "params error: startTime and endTime must be passed together".to_owned(),
        ));
    }
    if let (Some(start), Some(end)) = (start_ms, end_ms)
        && (end < start || end - start > 7 * 24 * 3_600_000)
    {
        return Err(refuse(
            "params error: the time range must be at most 7 days".to_owned(),
        ));
    }
    Ok(ListQuery {
        order_id: param("orderId"),
        link_id: param("orderLinkId"),
        start_ms,
        end_ms,
        limit,
        offset,
    })
}

/// An order request (REST body or trade-stream `args[0]`) for the exchange; its `result`. The
/// exchange then catches up at once, so what became of the order is pushed right after. The
/// `fatal` fault refuses it with its code; `cancel-ignored` answers a cancel and does nothing.
fn order_entry(venue: &Venue, route: Route, body: &str) -> Result<String, Refusal> {
    fn parse<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, Refusal> {
        serde_json::from_str(body).map_err(|err| Refusal {
            code: 10001,
            message: format!("params error: {err}"),
        })
    }
    if let Some(code) = venue.faults.take_order_refusal() {
        eprintln!("toolkit venue: order request refused with {code} (fault)");
        return Err(Refusal {
            code,
            message: match code {
                10003 => "API key is invalid.",
                10004 => "error sign!",
                10005 => "Permission denied, please check your API key permissions.",
                10010 => "Unmatched IP, please check your API key's bound IP addresses.",
                _ => "Request refused.",
            }
            .to_owned(),
        });
    }
    let ignored = match route {
        Route::OrderCancel => venue.faults.take_cancel_ignored(false),
        Route::OrderCancelAll => venue.faults.take_cancel_ignored(true),
        _ => false,
    };
    if ignored {
        eprintln!("toolkit venue: cancel answered and not done (fault cancel-ignored)");
    }
    let now_ns = super::stream::wall_ns();
    let mode = venue.account.mode();
    let mut market = venue.market();
    let result = match route {
        Route::OrderCreate => market
            .exchange
            .create(&parse(body)?, mode, now_ns)
            .map(|ack| ack.json()),
        Route::OrderAmend => market
            .exchange
            .amend(&parse(body)?, now_ns)
            .map(|ack| ack.json()),
        Route::OrderCancel => market
            .exchange
            .cancel(&parse(body)?, now_ns, ignored)
            .map(|ack| ack.json()),
        _ => {
            let request: super::exchange::CancelRequest = parse(body)?;
            market
                .exchange
                .cancel_all(&request, now_ns, ignored)
                .map(|acks| {
                    let list: Vec<String> = acks.iter().map(super::exchange::Ack::json).collect();
                    format!(r#"{{"list":[{}],"success":"1"}}"#, list.join(","))
                })
        }
    };
    market.step_exchange(now_ns);
    result
}

/// `GET /v5/market/time`, on the venue's clock (with its `skew`).
fn server_time(venue: &Venue) -> String {
    let skew = venue.market().skew_ms();
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos())
        .saturating_add_signed(i128::from(skew) * 1_000_000);
    let now_ms = u64::try_from(now_ns / 1_000_000).unwrap_or(u64::MAX);
    let result = format!(
        r#"{{"timeSecond":"{}","timeNano":"{now_ns}"}}"#,
        now_ns / 1_000_000_000
    );
    envelope(0, "OK", &result, now_ms)
}

/// Decodes `%XX` and `+` in a query component.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        index += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| percent_decode(key) == name)
        .map(|(_, value)| percent_decode(value))
}

/// `GET /v5/market/orderbook?category=linear&symbol=S&limit=N` (limit 1-1000, default 25).
fn orderbook(venue: &Venue, query: &str) -> String {
    let now = wall_ms();
    let category = query_param(query, "category");
    if category.as_deref() != Some("linear") {
        return envelope(10001, "Illegal category", "{}", now);
    }
    let Some(symbol) = query_param(query, "symbol").filter(|symbol| !symbol.is_empty()) else {
        return envelope(10001, "params error: symbol is required", "{}", now);
    };
    let limit = match query_param(query, "limit") {
        None => 25,
        Some(limit) => match limit.parse::<usize>() {
            Ok(limit @ 1..=1000) => limit,
            _ => return envelope(10001, "params error: limit must be 1-1000", "{}", now),
        },
    };
    let market = venue.market();
    if market.symbol().as_str() != symbol {
        return envelope(10001, "params error: symbol invalid", "{}", now);
    }
    let time = now.saturating_add_signed(market.skew_ms());
    envelope(0, "OK", &market.rest_orderbook(limit), time)
}

/// A control reply: `{"success","ret_msg","conn_id","req_id","op"}`.
fn control_reply(success: bool, ret_msg: &str, conn_id: &str, req_id: &str, op: &str) -> String {
    format!(
        r#"{{"success":{success},"ret_msg":{},"conn_id":"{conn_id}","req_id":{},"op":{}}}"#,
        json_string(ret_msg),
        json_string(req_id),
        json_string(op)
    )
}

/// A client's request on a public stream.
#[derive(Debug, serde::Deserialize)]
struct ClientRequest {
    op: String,
    #[serde(default)]
    args: Vec<serde_json::Value>,
    #[serde(default)]
    req_id: Option<serde_json::Value>,
}

impl ClientRequest {
    fn req_id(&self) -> String {
        match &self.req_id {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
        }
    }

    /// The topics, as written (a non-string argument as its JSON text, which names no topic).
    fn topics(&self) -> Vec<String> {
        self.args
            .iter()
            .map(|arg| match arg {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect()
    }
}

/// A public stream connection after the upgrade.
struct Session<'v> {
    ws: WebSocket<Transport>,
    venue: &'v Venue,
    handle: ClientHandle,
    stalled_until: Option<Instant>,
    /// Pongs and trade-stream answers held back (`pong-delay`, `ack-delay`), with when they
    /// are due.
    delayed_pongs: VecDeque<(Instant, String)>,
    /// Which stream this is.
    route: Route,
    /// A private or trade session authenticated.
    authed: bool,
}

/// How a session ended.
enum End {
    /// The client closed it or went away.
    Closed(String),
    /// The `drop` fault.
    Dropped,
    /// The queue overflowed.
    SlowConsumer,
}

/// Runs a public stream session until it ends; logs its events.
/// Serves a WebSocket stream (`route`: public, private or trade) until it ends.
fn stream_session(
    ws: WebSocket<Transport>,
    venue: &Venue,
    id: u64,
    peer: SocketAddr,
    path: &str,
    route: Route,
) {
    if let Err(err) = ws.get_ref().tcp().set_read_timeout(Some(SESSION_POLL)) {
        eprintln!("toolkit venue: conn {id} {peer}: {err}");
        return;
    }
    let handle = venue.connect(id);
    eprintln!(
        "toolkit venue: conn {id} {peer} connected to {path} (conn_id {})",
        handle.conn_id
    );
    let mut session = Session {
        ws,
        venue,
        handle,
        stalled_until: None,
        delayed_pongs: VecDeque::new(),
        route,
        authed: false,
    };
    let end = session.run();
    venue.market().remove_client(id);
    match end {
        End::Closed(reason) => {
            session.ws.get_mut().close();
            eprintln!("toolkit venue: conn {id} closed ({reason})");
        }
        End::Dropped => {
            let _ = session.ws.get_ref().tcp().shutdown(Shutdown::Both);
            eprintln!("toolkit venue: conn {id} dropped (fault drop)");
        }
        End::SlowConsumer => {
            let _ = session.ws.get_ref().tcp().shutdown(Shutdown::Both);
            eprintln!("toolkit venue: conn {id} closed (slow consumer)");
        }
    }
}

fn is_timeout(err: &tungstenite::Error) -> bool {
    matches!(err, tungstenite::Error::Io(io) if matches!(io.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
}

impl Session<'_> {
    fn stalled(&mut self, now: Instant) -> bool {
        match self.stalled_until {
            Some(until) if now < until => true,
            Some(_) => {
                self.stalled_until = None;
                eprintln!("toolkit venue: conn {} stall over", self.handle.id);
                false
            }
            None => false,
        }
    }

    fn write(&mut self, text: Utf8Bytes) -> Result<(), End> {
        match self.ws.write(Message::Text(text)) {
            Ok(()) => Ok(()),
            Err(err) => Err(End::Closed(format!("write failed: {err}"))),
        }
    }

    fn run(&mut self) -> End {
        loop {
            if self.handle.overflowed.load(Ordering::Acquire) {
                return End::SlowConsumer;
            }
            // What the market queued, in order.
            loop {
                let outbound = match self.handle.queue.try_recv() {
                    Ok(outbound) => outbound,
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                        // The market removes a client it evicted, too.
                        if self.handle.overflowed.load(Ordering::Acquire) {
                            return End::SlowConsumer;
                        }
                        return End::Closed("removed from the market".to_owned());
                    }
                };
                match outbound {
                    Outbound::Text(text) => {
                        if !self.stalled(Instant::now())
                            && let Err(end) = self.write(text)
                        {
                            return end;
                        }
                    }
                    Outbound::Drop => {
                        let _ = self.ws.flush();
                        return End::Dropped;
                    }
                    Outbound::Stall(period) => {
                        self.stalled_until = Instant::now().checked_add(period);
                        eprintln!(
                            "toolkit venue: conn {} stalled for {}",
                            self.handle.id,
                            humantime::format_duration(period)
                        );
                    }
                }
            }
            let now = Instant::now();
            while self
                .delayed_pongs
                .front()
                .is_some_and(|(due, _)| *due <= now)
            {
                if let Some((_, pong)) = self.delayed_pongs.pop_front()
                    && !self.stalled(now)
                    && let Err(end) = self.write(Utf8Bytes::from(pong))
                {
                    return end;
                }
            }
            let flushing = Instant::now();
            match self.ws.flush() {
                Ok(()) => {}
                // A flush that waited out the write timeout: the client stopped reading.
                Err(err) if is_timeout(&err) && flushing.elapsed() >= WRITE_TIMEOUT => {
                    return End::SlowConsumer;
                }
                Err(err) if is_timeout(&err) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return End::Closed("closed by the client".to_owned());
                }
                Err(err) => return End::Closed(format!("write failed: {err}")),
            }
            // Client input, waiting at most SESSION_POLL for it.
            match self.ws.read() {
                Ok(Message::Text(text)) => {
                    if !self.stalled(Instant::now())
                        && let Err(end) = self.on_request(text.as_str())
                    {
                        return end;
                    }
                }
                Ok(Message::Binary(_)) => {
                    eprintln!(
                        "toolkit venue: conn {} sent a binary frame; ignored",
                        self.handle.id
                    );
                }
                Ok(Message::Close(_) | Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {
                }
                Err(err) if is_timeout(&err) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return End::Closed("closed by the client".to_owned());
                }
                Err(err) => return End::Closed(err.to_string()),
            }
        }
    }

    fn on_request(&mut self, text: &str) -> Result<(), End> {
        match self.route {
            Route::Private => return self.on_private_request(text),
            Route::Trade => return self.on_trade_request(text),
            _ => {}
        }
        let id = self.handle.id;
        let request: ClientRequest = match serde_json::from_str(text) {
            Ok(request) => request,
            Err(err) => {
                eprintln!("toolkit venue: conn {id} sent unreadable input ({err}); ignored");
                return Ok(());
            }
        };
        let req_id = request.req_id();
        let conn_id = self.handle.conn_id.clone();
        match request.op.as_str() {
            "ping" => match self.venue.faults.pong_action(Instant::now()) {
                PongAction::Now => {
                    self.write(control_reply(true, "pong", &conn_id, &req_id, "ping").into())?;
                }
                PongAction::Later(delay) => {
                    let due = Instant::now()
                        .checked_add(delay)
                        .unwrap_or_else(Instant::now);
                    let pong = control_reply(true, "pong", &conn_id, &req_id, "ping");
                    self.delayed_pongs.push_back((due, pong));
                }
                PongAction::Withhold => {}
            },
            "subscribe" => {
                let topics = request.topics();
                // Under one lock: the reply, then the snapshots, then the market's next data.
                let mut market = self.venue.market();
                if self.venue.faults.take_subscribe_failure() {
                    eprintln!("toolkit venue: conn {id} subscribe failed by fault subscribe-fail");
                    let failures: Vec<TopicFailure> = topics
                        .iter()
                        .map(|topic| TopicFailure {
                            topic: topic.clone(),
                            reason: "service unavailable",
                        })
                        .collect();
                    for reply in self.replies("subscribe", &topics, &failures, &req_id) {
                        market.queue_text(id, reply);
                    }
                } else {
                    let (added, failures) = market.add_topics(id, &topics);
                    for reply in self.replies("subscribe", &topics, &failures, &req_id) {
                        market.queue_text(id, reply);
                    }
                    market.send_first(id, &added);
                }
            }
            "unsubscribe" => {
                let topics = request.topics();
                // Under one lock: whatever of these topics was queued goes out before the reply.
                let mut market = self.venue.market();
                let failures = market.unsubscribe(id, &topics);
                for reply in self.replies("unsubscribe", &topics, &failures, &req_id) {
                    market.queue_text(id, reply);
                }
            }
            other => {
                eprintln!("toolkit venue: conn {id} sent unknown op {other:?}; ignored");
            }
        }
        Ok(())
    }

    /// Checks a WebSocket `auth` request's `args` (`[key, expires, signature]`): the venue's
    /// key, an expiry still ahead, the signature of `GET/realtime{expires}`.
    fn check_auth(&self, args: &[serde_json::Value]) -> Result<(), String> {
        let signer = self
            .venue
            .account
            .signer()
            .ok_or_else(|| "API key is invalid.".to_owned())?;
        let text = |value: Option<&serde_json::Value>| -> String {
            match value {
                Some(serde_json::Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            }
        };
        if text(args.first()) != signer.api_key() {
            return Err("API key is invalid.".to_owned());
        }
        let expires: u64 = text(args.get(1))
            .parse()
            .map_err(|_| "Params Error: expires".to_owned())?;
        // On the venue's clock, as every time stamp it checks.
        if expires <= wall_ms().saturating_add_signed(self.venue.market().skew_ms()) {
            return Err(format!("Params Error: expires {expires} is in the past"));
        }
        if !text(args.get(2)).eq_ignore_ascii_case(signer.sign_ws_auth(expires).as_str()) {
            return Err("Invalid signature".to_owned());
        }
        Ok(())
    }

    /// A request on the private stream: auth, subscribe (after auth), ping.
    fn on_private_request(&mut self, text: &str) -> Result<(), End> {
        let id = self.handle.id;
        let request: ClientRequest = match serde_json::from_str(text) {
            Ok(request) => request,
            Err(err) => {
                eprintln!("toolkit venue: conn {id} sent unreadable input ({err}); ignored");
                return Ok(());
            }
        };
        let req_id = request.req_id();
        let conn_id = self.handle.conn_id.clone();
        match request.op.as_str() {
            "auth" => {
                let (success, message) = match self.check_auth(&request.args) {
                    Ok(()) => (true, String::new()),
                    Err(message) => (false, message),
                };
                self.authed = success;
                eprintln!(
                    "toolkit venue: conn {id} private auth {}",
                    if success { "ok" } else { &message }
                );
                let reply = control_reply(success, &message, &conn_id, &req_id, "auth");
                self.venue.market().queue_text(id, reply);
            }
            "subscribe" => {
                let names = request.topics();
                let topics: Option<Vec<(PrivateTopic, String)>> = names
                    .iter()
                    .map(|name| PrivateTopic::parse(name).map(|topic| (topic, name.clone())))
                    .collect();
                let all_in_one = names.iter().any(|name| PrivateTopic::is_all_in_one(name));
                let categorised = names.iter().any(|name| name.ends_with(".linear"));
                let mut market = self.venue.market();
                let reply = match topics {
                    _ if !self.authed => control_reply(
                        false,
                        "Request not authorized",
                        &conn_id,
                        &req_id,
                        "subscribe",
                    ),
                    None => {
                        let unknown: Vec<&str> = names
                            .iter()
                            .filter(|name| PrivateTopic::parse(name).is_none())
                            .map(String::as_str)
                            .collect();
                        eprintln!(
                            "toolkit venue: conn {id} subscribe refused: unknown topic {}",
                            unknown.join(",")
                        );
                        control_reply(
                            false,
                            &format!("error:handler not found,topic:{}", unknown.join(",")),
                            &conn_id,
                            &req_id,
                            "subscribe",
                        )
                    }
                    Some(_) if all_in_one && categorised => {
                        eprintln!(
                            "toolkit venue: conn {id} subscribe refused: all-in-one and \
                             categorised topics in one request ({})",
                            names.join(",")
                        );
                        control_reply(
                            false,
                            "error:all-in-one topic and categorised topic cannot be in the same \
                             request",
                            &conn_id,
                            &req_id,
                            "subscribe",
                        )
                    }
                    Some(topics) => {
                        market.subscribe_private(id, &topics);
                        eprintln!("toolkit venue: conn {id} subscribed {}", names.join(","));
                        control_reply(true, "", &conn_id, &req_id, "subscribe")
                    }
                };
                market.queue_text(id, reply);
            }
            "ping" => {
                if self.venue.faults.pong_action(Instant::now()) == PongAction::Now {
                    let pong = format!(
                        r#"{{"req_id":{},"op":"pong","args":["{}"],"conn_id":"{conn_id}"}}"#,
                        super::stream::json_string(&req_id),
                        wall_ms()
                    );
                    self.write(pong.into())?;
                }
            }
            other => {
                eprintln!("toolkit venue: conn {id} sent unknown op {other:?}; ignored");
            }
        }
        Ok(())
    }

    /// A request on the trade stream: auth, order.create / amend / cancel (after auth), ping.
    fn on_trade_request(&mut self, text: &str) -> Result<(), End> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct TradeRequest {
            op: String,
            #[serde(default)]
            req_id: Option<String>,
            #[serde(default)]
            args: Vec<serde_json::Value>,
            #[serde(default)]
            header: std::collections::BTreeMap<String, String>,
        }
        let id = self.handle.id;
        let conn_id = self.handle.conn_id.clone();
        let request: TradeRequest = match serde_json::from_str(text) {
            Ok(request) => request,
            Err(err) => {
                eprintln!("toolkit venue: conn {id} sent unreadable input ({err}); ignored");
                return Ok(());
            }
        };
        let reply = |code: i64, message: &str, op: &str, req_id: Option<&str>, data: &str| {
            let req_id = req_id.map_or(String::new(), |req_id| {
                format!(r#""reqId":{},"#, super::stream::json_string(req_id))
            });
            let now = wall_ms();
            let limit = if code == 10006 {
                format!(
                    r#""X-Bapi-Limit":"10","X-Bapi-Limit-Status":"0","X-Bapi-Limit-Reset-Timestamp":"{}","#,
                    now + RATE_LIMIT_WINDOW_MS
                )
            } else {
                String::new()
            };
            format!(
                r#"{{{req_id}"retCode":{code},"retMsg":{},"op":{},"data":{data},"retExtInfo":{{}},"header":{{{limit}"Timenow":"{now}"}},"connId":"{conn_id}"}}"#,
                super::stream::json_string(message),
                super::stream::json_string(op),
            )
        };
        let req_id = request.req_id.as_deref();
        let text = match request.op.as_str() {
            "auth" => {
                let (code, message) = match self.check_auth(&request.args) {
                    Ok(()) => (0, "OK".to_owned()),
                    Err(message) => (10004, message),
                };
                self.authed = code == 0;
                eprintln!("toolkit venue: conn {id} trade auth {message}");
                reply(code, &message, "auth", None, "{}")
            }
            "ping" => {
                if self.venue.faults.pong_action(Instant::now()) != PongAction::Now {
                    return Ok(());
                }
                reply(0, "OK", "pong", None, &format!(r#"["{}"]"#, wall_ms()))
            }
            op @ ("order.create" | "order.amend" | "order.cancel") => {
                let route = match op {
                    "order.create" => Route::OrderCreate,
                    "order.amend" => Route::OrderAmend,
                    _ => Route::OrderCancel,
                };
                let result = self.trade_order(route, &request.header, &request.args);
                if let Some(delay) = self.venue.faults.ack_delay(Instant::now()) {
                    let text = match &result {
                        Ok(data) => reply(0, "OK", op, req_id, data),
                        Err(refusal) => reply(refusal.code, &refusal.message, op, req_id, "{}"),
                    };
                    let due = Instant::now()
                        .checked_add(delay)
                        .unwrap_or_else(Instant::now);
                    self.delayed_pongs.push_back((due, text));
                    return Ok(());
                }
                if self.venue.faults.take_ack_loss() {
                    eprintln!(
                        "toolkit venue: conn {id} {op} {} carried out, answer lost (fault)",
                        req_id.unwrap_or("")
                    );
                    return Ok(());
                }
                match result {
                    Ok(data) => {
                        eprintln!("toolkit venue: conn {id} {op} {} ok", req_id.unwrap_or(""));
                        reply(0, "OK", op, req_id, &data)
                    }
                    Err(refusal) => {
                        eprintln!(
                            "toolkit venue: conn {id} {op} {} refused: {} {}",
                            req_id.unwrap_or(""),
                            refusal.code,
                            refusal.message
                        );
                        reply(refusal.code, &refusal.message, op, req_id, "{}")
                    }
                }
            }
            other => reply(10404, "unknown op", other, req_id, "{}"),
        };
        self.write(text.into())
    }

    /// One trade-stream order op: authenticated, stamped within its window, then the exchange.
    fn trade_order(
        &self,
        route: Route,
        header: &std::collections::BTreeMap<String, String>,
        args: &[serde_json::Value],
    ) -> Result<String, Refusal> {
        let refuse = |code, message: &str| Refusal {
            code,
            message: message.to_owned(),
        };
        if !self.authed {
            return Err(refuse(10003, "Request not authorized"));
        }
        let now = wall_ms().saturating_add_signed(self.venue.market().skew_ms());
        let stamp: u64 = header
            .get("X-BAPI-TIMESTAMP")
            .and_then(|stamp| stamp.parse().ok())
            .ok_or_else(|| refuse(10001, "params error: X-BAPI-TIMESTAMP is required"))?;
        let window: u64 = header
            .get("X-BAPI-RECV-WINDOW")
            .and_then(|window| window.parse().ok())
            .unwrap_or(5000);
        if stamp + window < now || stamp >= now + 1000 {
            return Err(Refusal {
                code: 10002,
                message: format!(
                    "invalid request, please check your server timestamp or recv_window param. \
                     req_timestamp[{stamp}],server_timestamp[{now}],recv_window[{window}]"
                ),
            });
        }
        if self.venue.faults.take_rest_limit() {
            return Err(refuse(10006, "Too many visits!"));
        }
        let [order] = args else {
            return Err(refuse(10001, "params error: args must hold one order"));
        };
        order_entry(self.venue, route, &order.to_string())
    }

    /// The replies to a (un)subscribe request, logged: one success reply when every topic
    /// succeeded, else one failure reply per failed topic (naming it).
    fn replies(
        &self,
        op: &str,
        topics: &[String],
        failures: &[TopicFailure],
        req_id: &str,
    ) -> Vec<String> {
        let (id, conn_id) = (self.handle.id, &self.handle.conn_id);
        let succeeded: Vec<&str> = topics
            .iter()
            .filter(|topic| !failures.iter().any(|failure| &failure.topic == *topic))
            .map(String::as_str)
            .collect();
        if !succeeded.is_empty() {
            eprintln!("toolkit venue: conn {id} {op}d {}", succeeded.join(","));
        }
        if failures.is_empty() {
            return vec![control_reply(true, "", conn_id, req_id, op)];
        }
        failures
            .iter()
            .map(|failure| {
                eprintln!(
                    "toolkit venue: conn {id} {op} {} failed: {}",
                    failure.topic, failure.reason
                );
                let message = format!("error:{},topic:{}", failure.reason, failure.topic);
                control_reply(false, &message, conn_id, req_id, op)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_path() {
        assert_eq!(route("/v5/public/linear"), Some(Route::PublicLinear));
        assert_eq!(route("/v5/market/orderbook"), Some(Route::Orderbook));
        assert_eq!(route("/v5/public/spot"), None);
    }

    #[test]
    fn query_parameters_are_decoded() {
        let query = "category=linear&symbol=BTC%55SDT&limit=5&flag";
        assert_eq!(query_param(query, "symbol").as_deref(), Some("BTCUSDT"));
        assert_eq!(query_param(query, "limit").as_deref(), Some("5"));
        assert_eq!(query_param(query, "flag").as_deref(), Some(""));
        assert_eq!(query_param(query, "none"), None);
        assert_eq!(percent_decode("a%2"), "a%2");
    }

    #[test]
    fn control_replies_have_bybits_shape() {
        let reply = control_reply(true, "pong", "abc", "", "ping");
        assert_eq!(
            reply,
            r#"{"success":true,"ret_msg":"pong","conn_id":"abc","req_id":"","op":"ping"}"#
        );
    }
}

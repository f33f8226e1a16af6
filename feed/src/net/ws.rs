//! A WebSocket client connection (RFC 6455) over a non-blocking socket, for a thread that
//! busy-polls it.
//!
//! [`connect`] does everything that may block (name resolution, TCP connect, the TLS handshake,
//! the HTTP upgrade) and is meant for a cold thread. The [`WsConnection`] it returns is then
//! handed to the hot thread, which polls it with [`WsConnection::read_message`]: one
//! non-blocking read of the socket (through rustls for `wss://`), the frames in it unframed into
//! the caller's [`FrameBuf`], pings answered, a close answered. Every buffer is allocated when
//! the connection is made; reading, unframing and writing allocate nothing after that.
//!
//! Why not a crate for the framing: fastwebsockets reads allocation-free without a runtime
//! only while the caller spins on one pinned `read_frame()` future until a whole frame is in
//! (measured: README, "The live venue"); a loop that must serve other sockets and timers
//! between partial frames would have to keep that future across turns (a self-referential
//! struct, or a box per frame). tungstenite allocates a `Vec` per message. Client framing is a
//! few dozen lines (server frames are never masked, ours always are), and the loopback venue
//! serves with tungstenite, so this client is checked against an independent
//! implementation in every venue test.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha1::Digest as _;

use super::endpoint::Endpoint;
use crate::frame::FrameBuf;

/// Bytes of the receive buffer: more than the largest message Bybit sends (an `orderbook.1000`
/// snapshot or 1024 trades, a few hundred kB) plus the frames that may follow it in one read.
pub const RECEIVE_BUFFER: usize = 4 << 20;
/// Bytes of the send buffer (subscribe requests, pings, orders).
pub const SEND_BUFFER: usize = 256 << 10;
/// Largest message accepted; a longer one is a protocol error.
pub const MAX_MESSAGE: usize = RECEIVE_BUFFER / 2;
/// Largest HTTP upgrade response head accepted.
const MAX_RESPONSE_HEAD: usize = 16 << 10;
/// The GUID of RFC 6455 section 1.3.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Why making a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// The host.
        host: String,
        /// The cause.
        source: io::Error,
    },
    /// No address accepted a TCP connection.
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// The last address tried.
        address: SocketAddr,
        /// The cause.
        source: io::Error,
    },
    /// The TLS handshake failed (an untrusted certificate among the causes).
    #[error("TLS handshake with {host}: {source}")]
    Tls {
        /// The host.
        host: String,
        /// The cause.
        source: io::Error,
    },
    /// A `wss://` endpoint without a TLS configuration.
    #[error("{0} needs TLS but no TLS configuration was given")]
    NoTlsConfig(String),
    /// The server name is not valid for TLS.
    #[error("{0:?} is not a valid TLS server name")]
    ServerName(String),
    /// Reading or writing the upgrade failed.
    #[error("WebSocket upgrade: {0}")]
    Io(#[from] io::Error),
    /// The server answered the upgrade with something else than a valid `101`.
    #[error("WebSocket upgrade refused: {0}")]
    Refused(String),
}

/// Why a connection failed while polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// The socket or TLS layer failed.
    #[error("socket error: {0:?}")]
    Io(io::ErrorKind),
    /// The server broke the WebSocket protocol.
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    /// A message longer than [`MAX_MESSAGE`].
    #[error("message of {0} bytes is over the limit")]
    TooLarge(u64),
    /// The send buffer is full (the server stopped reading).
    #[error("send buffer full")]
    SendBufferFull,
}

/// What a read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsRead {
    /// A whole text or binary message is in the frame buffer.
    Message,
    /// Nothing complete yet.
    Idle,
    /// The server closed the connection (a close frame, or the end of the stream).
    Closed,
}

/// The socket under a connection: plain TCP or TLS over TCP, non-blocking.
enum NetStream {
    Plain(mio::net::TcpStream),
    Tls {
        tls: Box<rustls::ClientConnection>,
        socket: mio::net::TcpStream,
    },
}

impl NetStream {
    /// Reads what is available without blocking (`WouldBlock` when nothing is).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            NetStream::Plain(socket) => socket.read(buf),
            NetStream::Tls { tls, socket } => loop {
                match tls.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                    Err(err) => return Err(err),
                }
                // Records already received but not yet decrypted (rustls stops at its
                // plaintext limit) come before the socket.
                let state = tls.process_new_packets().map_err(io::Error::other)?;
                if state.plaintext_bytes_to_read() > 0 {
                    continue;
                }
                if tls.read_tls(socket)? == 0 {
                    return Ok(0);
                }
                Self::write_tls(tls, socket)?;
            },
        }
    }

    /// Writes as much of `buf` as the socket takes without blocking.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            NetStream::Plain(socket) => socket.write(buf),
            NetStream::Tls { tls, socket } => {
                let written = tls.writer().write(buf)?;
                Self::write_tls(tls, socket)?;
                Ok(written)
            }
        }
    }

    /// Sends what TLS has queued, as far as the socket takes it.
    fn write_tls(
        tls: &mut rustls::ClientConnection,
        socket: &mut mio::net::TcpStream,
    ) -> io::Result<()> {
        while tls.wants_write() {
            match tls.write_tls(socket) {
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    fn flush_tls(&mut self) -> io::Result<()> {
        match self {
            NetStream::Plain(_) => Ok(()),
            NetStream::Tls { tls, socket } => Self::write_tls(tls, socket),
        }
    }

    fn shutdown(&mut self) {
        let socket = match self {
            NetStream::Plain(socket) => socket,
            NetStream::Tls { tls, socket } => {
                tls.send_close_notify();
                let _ = Self::write_tls(tls, socket);
                socket
            }
        };
        let _ = socket.shutdown(std::net::Shutdown::Both);
    }
}

/// An open WebSocket client connection, polled without blocking.
pub struct WsConnection {
    stream: NetStream,
    /// Readiness of the socket (epoll, edge-triggered): the socket is read only after it was
    /// reported readable, and then until it would block. A loop that called `recv` all the
    /// time would hold the socket's lock whenever a segment arrives, and the kernel would then
    /// do the segment's TCP processing (its ACK included) inside our next `recv`.
    poll: mio::Poll,
    events: mio::Events,
    readable: bool,
    /// Received bytes; `input[start..end]` is not unframed yet.
    input: Vec<u8>,
    start: usize,
    end: usize,
    /// A fragmented message being put together.
    fragments: Vec<u8>,
    fragmented: bool,
    /// Bytes to send; `output[sent..]` is not written yet.
    output: Vec<u8>,
    sent: usize,
    /// State of the masking-key generator (xorshift64*, seeded from the OS's hasher keys).
    mask_state: u64,
    closing: bool,
    peer: String,
}

impl std::fmt::Debug for WsConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsConnection")
            .field("peer", &self.peer)
            .field("buffered", &(self.end - self.start))
            .finish_non_exhaustive()
    }
}

impl WsConnection {
    fn new(mut stream: NetStream, leftover: &[u8], peer: String) -> io::Result<WsConnection> {
        let mut input = vec![0; RECEIVE_BUFFER];
        input[..leftover.len()].copy_from_slice(leftover);
        let poll = mio::Poll::new()?;
        let socket = match &mut stream {
            NetStream::Plain(socket) | NetStream::Tls { socket, .. } => socket,
        };
        poll.registry()
            .register(socket, mio::Token(0), mio::Interest::READABLE)?;
        Ok(WsConnection {
            stream,
            poll,
            events: mio::Events::with_capacity(4),
            // Bytes may have arrived before the registration: read once to find out.
            readable: true,
            input,
            start: 0,
            end: leftover.len(),
            fragments: Vec::with_capacity(MAX_MESSAGE),
            fragmented: false,
            output: Vec::with_capacity(SEND_BUFFER),
            sent: 0,
            mask_state: mask_seed(),
            closing: false,
            peer,
        })
    }

    /// The endpoint this connection reached, for messages.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Unframes the next whole text or binary message into `frame`, reading the socket once
    /// when the buffered bytes hold none. Pings are answered and a close frame is echoed on the
    /// way; they are not returned.
    pub fn read_message(&mut self, frame: &mut FrameBuf) -> Result<WsRead, WsError> {
        let mut read_once = false;
        loop {
            match self.unframe(frame)? {
                Some(WsRead::Idle) | None => {}
                Some(found) => return Ok(found),
            }
            if read_once || self.closing {
                self.flush()?;
                return Ok(if self.closing {
                    WsRead::Closed
                } else {
                    WsRead::Idle
                });
            }
            read_once = true;
            if !self.readable {
                self.poll
                    .poll(&mut self.events, Some(std::time::Duration::ZERO))
                    .map_err(|err| WsError::Io(err.kind()))?;
                self.readable = !self.events.is_empty();
                if !self.readable {
                    continue;
                }
            }
            self.make_room();
            match self.stream.read(&mut self.input[self.end..]) {
                Ok(0) => return Ok(WsRead::Closed),
                Ok(n) => self.end += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(WsError::Io(err.kind())),
            }
        }
    }

    /// Queues `payload` as one masked text message and writes what the socket takes.
    pub fn send_text(&mut self, payload: &[u8]) -> Result<(), WsError> {
        self.queue(OP_TEXT, payload)?;
        self.flush()
    }

    /// Writes queued bytes as far as the socket takes them without blocking.
    pub fn flush(&mut self) -> Result<(), WsError> {
        while self.sent < self.output.len() {
            match self.stream.write(&self.output[self.sent..]) {
                Ok(0) => return Err(WsError::Io(io::ErrorKind::WriteZero)),
                Ok(n) => self.sent += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(WsError::Io(err.kind())),
            }
        }
        if self.sent == self.output.len() {
            self.output.clear();
            self.sent = 0;
        }
        self.stream
            .flush_tls()
            .map_err(|err| WsError::Io(err.kind()))
    }

    /// Sends a close frame (best effort) and shuts the socket down.
    pub fn close(&mut self) {
        if !self.closing {
            let _ = self.queue(OP_CLOSE, &1000u16.to_be_bytes());
            let _ = self.flush();
        }
        self.stream.shutdown();
    }

    /// Moves the unread bytes to the front when the free tail is short.
    fn make_room(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.input.len() - self.end < self.input.len() / 4 {
            self.input.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// One frame out of the buffer, if a whole one is there: `Some(Message)` when it completes
    /// a message, `Some(Closed)` on a close, `Some(Idle)` for a control or partial frame, and
    /// `None` when the buffer holds no whole frame.
    fn unframe(&mut self, frame: &mut FrameBuf) -> Result<Option<WsRead>, WsError> {
        let buffered = &self.input[self.start..self.end];
        let Some(header) = FrameHeader::parse(buffered)? else {
            return Ok(None);
        };
        if header.payload_len > MAX_MESSAGE as u64 {
            return Err(WsError::TooLarge(header.payload_len));
        }
        let total = header.header_len + header.payload_len as usize;
        if buffered.len() < total {
            if self.start + total > self.input.len() {
                // The frame fits the buffer, only not where it starts: move it to the front.
                self.input.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            return Ok(None);
        }
        let payload_at = self.start + header.header_len;
        self.start += total;
        let payload = payload_at..payload_at + header.payload_len as usize;
        match header.opcode {
            OP_TEXT | OP_BINARY if self.fragmented => {
                Err(WsError::Protocol("a new message inside a fragmented one"))
            }
            OP_TEXT | OP_BINARY if header.fin => {
                frame.fill(&self.input[payload]);
                Ok(Some(WsRead::Message))
            }
            OP_TEXT | OP_BINARY | OP_CONTINUATION => {
                if header.opcode == OP_CONTINUATION && !self.fragmented {
                    return Err(WsError::Protocol("a continuation without a message"));
                }
                if self.fragments.len() + payload.len() > MAX_MESSAGE {
                    return Err(WsError::TooLarge(
                        (self.fragments.len() + payload.len()) as u64,
                    ));
                }
                self.fragments.extend_from_slice(&self.input[payload]);
                self.fragmented = !header.fin;
                if header.fin {
                    frame.fill(&self.fragments);
                    self.fragments.clear();
                    return Ok(Some(WsRead::Message));
                }
                Ok(Some(WsRead::Idle))
            }
            OP_PING => {
                if header.payload_len > 125 || !header.fin {
                    return Err(WsError::Protocol(
                        "a control frame over 125 bytes or fragmented",
                    ));
                }
                let mut echo = [0u8; 125];
                let echo = &mut echo[..payload.len()];
                echo.copy_from_slice(&self.input[payload]);
                self.queue(OP_PONG, echo)?;
                Ok(Some(WsRead::Idle))
            }
            OP_PONG => Ok(Some(WsRead::Idle)),
            OP_CLOSE => {
                if !self.closing {
                    self.closing = true;
                    let code = if header.payload_len >= 2 {
                        [self.input[payload.start], self.input[payload.start + 1]]
                    } else {
                        1000u16.to_be_bytes()
                    };
                    self.queue(OP_CLOSE, &code)?;
                    let _ = self.flush();
                }
                Ok(Some(WsRead::Closed))
            }
            _ => Err(WsError::Protocol("unknown opcode")),
        }
    }

    /// Appends one masked frame to the send buffer.
    fn queue(&mut self, opcode: u8, payload: &[u8]) -> Result<(), WsError> {
        let header_len =
            2 + match payload.len() {
                0..=125 => 0,
                126..=0xFFFF => 2,
                _ => 8,
            } + 4;
        if self.output.len() + header_len + payload.len() > self.output.capacity() {
            return Err(WsError::SendBufferFull);
        }
        self.output.push(0x80 | opcode);
        match payload.len() {
            len @ 0..=125 => self.output.push(0x80 | len as u8),
            len @ 126..=0xFFFF => {
                self.output.push(0x80 | 126);
                self.output.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                self.output.push(0x80 | 127);
                self.output.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        let mask = self.next_mask();
        self.output.extend_from_slice(&mask);
        let at = self.output.len();
        self.output.extend_from_slice(payload);
        for (index, byte) in self.output[at..].iter_mut().enumerate() {
            *byte ^= mask[index & 3];
        }
        Ok(())
    }

    fn next_mask(&mut self) -> [u8; 4] {
        // xorshift64*: masking keys only need to be unpredictable to whoever sees the traffic
        // (RFC 6455 section 10.3), and the seed comes from the OS.
        let mut x = self.mask_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.mask_state = x;
        let word = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32;
        (word as u32).to_ne_bytes()
    }
}

impl Drop for WsConnection {
    fn drop(&mut self) {
        self.stream.shutdown();
    }
}

/// A frame header as read from the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameHeader {
    fin: bool,
    opcode: u8,
    header_len: usize,
    payload_len: u64,
}

impl FrameHeader {
    /// The header at the start of `bytes`, or `None` when it is not all there.
    fn parse(bytes: &[u8]) -> Result<Option<FrameHeader>, WsError> {
        let [first, second, ..] = *bytes else {
            return Ok(None);
        };
        if first & 0x70 != 0 {
            return Err(WsError::Protocol("reserved bits set"));
        }
        if second & 0x80 != 0 {
            return Err(WsError::Protocol("a masked frame from the server"));
        }
        let (header_len, payload_len) = match second & 0x7F {
            126 => match bytes.get(2..4) {
                Some(len) => (4, u64::from(u16::from_be_bytes([len[0], len[1]]))),
                None => return Ok(None),
            },
            127 => match bytes.get(2..10) {
                Some(len) => {
                    let mut word = [0; 8];
                    word.copy_from_slice(len);
                    (10, u64::from_be_bytes(word))
                }
                None => return Ok(None),
            },
            len => (2, u64::from(len)),
        };
        Ok(Some(FrameHeader {
            fin: first & 0x80 != 0,
            opcode: first & 0x0F,
            header_len,
            payload_len,
        }))
    }
}

/// A seed for the masking keys: the OS-seeded keys of the standard library's hasher, mixed with
/// the time.
fn mask_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos()),
    );
    hasher.finish() | 1
}

/// Opens a WebSocket connection to `endpoint`, blocking for at most about `timeout` per step:
/// resolve, TCP connect, TLS handshake (for `wss://`, with `tls`), HTTP upgrade. For a cold
/// thread; the connection it returns is non-blocking.
pub fn connect(
    endpoint: &Endpoint,
    tls: Option<&Arc<rustls::ClientConfig>>,
    timeout: Duration,
) -> Result<WsConnection, ConnectError> {
    let addresses: Vec<SocketAddr> = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|source| ConnectError::Resolve {
            host: endpoint.host.clone(),
            source,
        })?
        .collect();
    let mut last_error = None;
    let mut socket = None;
    for address in addresses {
        match StdTcpStream::connect_timeout(&address, timeout) {
            Ok(connected) => {
                socket = Some(connected);
                break;
            }
            Err(source) => last_error = Some(ConnectError::Connect { address, source }),
        }
    }
    let mut socket = match socket {
        Some(socket) => socket,
        None => {
            return Err(last_error.unwrap_or_else(|| ConnectError::Resolve {
                host: endpoint.host.clone(),
                source: io::Error::new(io::ErrorKind::NotFound, "no address"),
            }));
        }
    };
    socket.set_nodelay(true)?;
    socket.set_read_timeout(Some(timeout))?;
    socket.set_write_timeout(Some(timeout))?;

    let key = base64::engine::general_purpose::STANDARD.encode(mask_seed().to_le_bytes().repeat(2));
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
         User-Agent: maker-engine/{}\r\n\r\n",
        endpoint.path,
        endpoint.authority(),
        env!("CARGO_PKG_VERSION"),
    );
    let deadline = Instant::now() + timeout;
    let (stream, leftover) = if endpoint.scheme.is_tls() {
        let config = tls.ok_or_else(|| ConnectError::NoTlsConfig(endpoint.to_string()))?;
        let name = rustls::pki_types::ServerName::try_from(endpoint.host.clone())
            .map_err(|_| ConnectError::ServerName(endpoint.host.clone()))?;
        let mut tls = rustls::ClientConnection::new(Arc::clone(config), name).map_err(|err| {
            ConnectError::Tls {
                host: endpoint.host.clone(),
                source: io::Error::other(err),
            }
        })?;
        while tls.is_handshaking() {
            tls.complete_io(&mut socket)
                .map_err(|source| ConnectError::Tls {
                    host: endpoint.host.clone(),
                    source,
                })?;
        }
        let leftover = {
            let mut stream = rustls::Stream::new(&mut tls, &mut socket);
            upgrade(&mut stream, request.as_bytes(), &key, deadline)?
        };
        (Some(tls), leftover)
    } else {
        let leftover = upgrade(&mut socket, request.as_bytes(), &key, deadline)?;
        (None, leftover)
    };
    socket.set_nonblocking(true)?;
    socket.set_read_timeout(None)?;
    socket.set_write_timeout(None)?;
    let socket = mio::net::TcpStream::from_std(socket);
    let stream = match stream {
        Some(tls) => NetStream::Tls {
            tls: Box::new(tls),
            socket,
        },
        None => NetStream::Plain(socket),
    };
    Ok(WsConnection::new(stream, &leftover, endpoint.to_string())?)
}

/// Sends the upgrade request and reads the answer; returns the bytes read past its head.
fn upgrade(
    stream: &mut impl ReadWrite,
    request: &[u8],
    key: &str,
    deadline: Instant,
) -> Result<Vec<u8>, ConnectError> {
    stream.write_all(request)?;
    stream.flush()?;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let end = loop {
        if let Some(at) = head.windows(4).position(|window| window == b"\r\n\r\n") {
            break at + 4;
        }
        if head.len() > MAX_RESPONSE_HEAD {
            return Err(ConnectError::Refused("response head too long".to_owned()));
        }
        if Instant::now() > deadline {
            return Err(ConnectError::Io(io::ErrorKind::TimedOut.into()));
        }
        match stream.read(&mut chunk)? {
            0 => {
                return Err(ConnectError::Refused(
                    "connection closed during the upgrade".to_owned(),
                ));
            }
            n => head.extend_from_slice(&chunk[..n]),
        }
    };
    let text = String::from_utf8_lossy(&head[..end]);
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 101") {
        return Err(ConnectError::Refused(format!("server answered {status:?}")));
    }
    let header = |name: &str| {
        text.split("\r\n").skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let expected = {
        let mut sha = sha1::Sha1::new();
        sha.update(key.as_bytes());
        sha.update(ACCEPT_GUID);
        base64::engine::general_purpose::STANDARD.encode(sha.finalize())
    };
    if header("sec-websocket-accept").as_deref() != Some(expected.as_str()) {
        return Err(ConnectError::Refused(
            "wrong Sec-WebSocket-Accept".to_owned(),
        ));
    }
    if !header("upgrade").is_some_and(|value| value.eq_ignore_ascii_case("websocket")) {
        return Err(ConnectError::Refused("no Upgrade: websocket".to_owned()));
    }
    Ok(head[end..].to_vec())
}

/// Read + Write, for the upgrade over either stream.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![(u8::from(fin) << 7) | opcode];
        match payload.len() {
            len @ 0..=125 => frame.push(len as u8),
            len @ 126..=0xFFFF => {
                frame.push(126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                frame.push(127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(payload);
        frame
    }

    /// A connection over a loopback socket pair: (our connection, the server's end).
    fn pair() -> (WsConnection, StdTcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = StdTcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        client.set_nonblocking(true).unwrap();
        let stream = NetStream::Plain(mio::net::TcpStream::from_std(client));
        (
            WsConnection::new(stream, &[], "test".to_owned()).unwrap(),
            server,
        )
    }

    /// Polls until a message (or close) arrives; bounded.
    fn next(connection: &mut WsConnection, frame: &mut FrameBuf) -> WsRead {
        for _ in 0..100_000 {
            match connection.read_message(frame).unwrap() {
                WsRead::Idle => std::thread::yield_now(),
                found => return found,
            }
        }
        panic!("no message");
    }

    /// Reads one masked client frame off the server end and unmasks it.
    fn client_frame(server: &mut StdTcpStream) -> (u8, Vec<u8>) {
        let mut head = [0u8; 2];
        server.read_exact(&mut head).unwrap();
        assert_eq!(head[1] & 0x80, 0x80, "client frames are masked");
        let len = match head[1] & 0x7F {
            126 => {
                let mut len = [0u8; 2];
                server.read_exact(&mut len).unwrap();
                usize::from(u16::from_be_bytes(len))
            }
            127 => {
                let mut len = [0u8; 8];
                server.read_exact(&mut len).unwrap();
                u64::from_be_bytes(len) as usize
            }
            len => usize::from(len),
        };
        let mut mask = [0u8; 4];
        server.read_exact(&mut mask).unwrap();
        let mut payload = vec![0u8; len];
        server.read_exact(&mut payload).unwrap();
        for (index, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[index & 3];
        }
        (head[0], payload)
    }

    #[test]
    fn messages_of_every_length_class_are_unframed_whole() {
        let (mut connection, mut server) = pair();
        let small = b"{\"op\":\"ping\"}".to_vec();
        let medium = vec![b'm'; 300];
        let large = vec![b'l'; 70_000];
        for payload in [&small, &medium, &large] {
            server
                .write_all(&server_frame(true, OP_TEXT, payload))
                .unwrap();
        }
        let mut frame = FrameBuf::default();
        for payload in [&small, &medium, &large] {
            assert_eq!(next(&mut connection, &mut frame), WsRead::Message);
            assert_eq!(frame.as_bytes(), payload.as_slice());
        }
    }

    #[test]
    fn a_frame_split_across_reads_and_fragments_across_frames_are_put_together() {
        let (mut connection, mut server) = pair();
        let whole = server_frame(true, OP_TEXT, b"hello world");
        server.write_all(&whole[..5]).unwrap();
        let mut frame = FrameBuf::default();
        for _ in 0..50 {
            assert_eq!(connection.read_message(&mut frame).unwrap(), WsRead::Idle);
        }
        server.write_all(&whole[5..]).unwrap();
        assert_eq!(next(&mut connection, &mut frame), WsRead::Message);
        assert_eq!(frame.as_bytes(), b"hello world");

        server
            .write_all(&server_frame(false, OP_TEXT, b"abc"))
            .unwrap();
        server
            .write_all(&server_frame(true, OP_PING, b"p!"))
            .unwrap();
        server
            .write_all(&server_frame(false, OP_CONTINUATION, b"def"))
            .unwrap();
        server
            .write_all(&server_frame(true, OP_CONTINUATION, b"ghi"))
            .unwrap();
        assert_eq!(next(&mut connection, &mut frame), WsRead::Message);
        assert_eq!(frame.as_bytes(), b"abcdefghi");
        // The ping in the middle was answered with its payload, masked.
        assert_eq!(client_frame(&mut server), (0x80 | OP_PONG, b"p!".to_vec()));
    }

    #[test]
    fn sent_text_is_masked_and_a_close_is_echoed_then_reported() {
        let (mut connection, mut server) = pair();
        connection
            .send_text(br#"{"op":"subscribe","args":["orderbook.50.BTCUSDT"]}"#)
            .unwrap();
        let (head, payload) = client_frame(&mut server);
        assert_eq!(head, 0x80 | OP_TEXT);
        assert_eq!(
            payload,
            br#"{"op":"subscribe","args":["orderbook.50.BTCUSDT"]}"#
        );
        let long = vec![b'x'; 1000];
        connection.send_text(&long).unwrap();
        assert_eq!(client_frame(&mut server), (0x80 | OP_TEXT, long));

        server
            .write_all(&server_frame(true, OP_CLOSE, &1001u16.to_be_bytes()))
            .unwrap();
        let mut frame = FrameBuf::default();
        assert_eq!(next(&mut connection, &mut frame), WsRead::Closed);
        assert_eq!(
            client_frame(&mut server),
            (0x80 | OP_CLOSE, 1001u16.to_be_bytes().to_vec())
        );
    }

    #[test]
    fn the_end_of_the_stream_is_a_close_and_protocol_breaches_are_errors() {
        let (mut connection, server) = pair();
        drop(server);
        let mut frame = FrameBuf::default();
        assert_eq!(next(&mut connection, &mut frame), WsRead::Closed);

        for (bytes, expected) in [
            (
                vec![0x81, 0x81, 0, 0, 0, 0, b'x'],
                WsError::Protocol("a masked frame from the server"),
            ),
            (vec![0xC1, 0x00], WsError::Protocol("reserved bits set")),
            (vec![0x83, 0x00], WsError::Protocol("unknown opcode")),
            (
                vec![0x80, 0x00],
                WsError::Protocol("a continuation without a message"),
            ),
            (
                vec![0x81, 127, 0, 0, 0, 0, 0xFF, 0, 0, 0],
                WsError::TooLarge(0xFF00_0000),
            ),
        ] {
            let (mut connection, mut server) = pair();
            server.write_all(&bytes).unwrap();
            let error = (0..100_000)
                .find_map(|_| connection.read_message(&mut frame).err())
                .unwrap();
            assert_eq!(error, expected);
        }
    }

    #[test]
    fn masking_keys_differ_from_frame_to_frame() {
        let (mut connection, _server) = pair();
        let keys: std::collections::HashSet<[u8; 4]> =
            (0..1000).map(|_| connection.next_mask()).collect();
        assert!(keys.len() > 990, "{} distinct keys of 1000", keys.len());
    }
}

//! The client side of the network: endpoints, TLS, and WebSocket connections that a busy-polling
//! thread owns.
//!
//! - [`endpoint`]: URLs taken apart, and the rule that plain schemes reach loopback hosts only;
//! - [`tls`]: the rustls client configuration (public roots plus configured certificates);
//! - [`ws`]: connecting (blocking, for a cold thread) and the non-blocking, allocation-free
//!   WebSocket connection the hot thread polls.

pub mod endpoint;
pub mod tls;
pub mod ws;

pub use endpoint::{Endpoint, EndpointError, Scheme};
pub use tls::{TlsError, client_config};
pub use ws::{ConnectError, WsConnection, WsError, WsRead, connect};

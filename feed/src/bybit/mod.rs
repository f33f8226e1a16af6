//! The Bybit v5 protocol.
//!
//! - [`public`]: the public stream decoder (books, trades, tickers);
//! - [`limits`]: the per-UID rate limits, one lock-free token bucket per endpoint;
//! - [`live`]: the live public stream, as a source the hot thread polls;
//! - [`private`]: the private stream decoder (orders, executions, positions, wallet);
//! - [`codes`]: what each `retCode` and HTTP status means for an order, and what to do next;
//! - [`rest`]: signed REST for cold threads (clock, rate limits, 403 cool-down) and its replies;
//! - [`sign`]: HMAC-SHA256 signing of REST requests and WebSocket auth;
//! - [`trade`]: order entry: trade-stream requests, REST order bodies, the trade stream's replies;
//! - [`venue`]: the Bybit venue the hot thread drives: orders on the trade stream, their fate from
//!   the private stream.

pub mod codes;
mod json;
pub mod limits;
pub mod live;
pub mod private;
pub mod public;
pub mod rest;
pub mod sign;
pub mod trade;
pub mod venue;

pub use public::{
    BookUpdate, ControlReply, DecodeError, DecodeStats, Level, MessageKind, PublicDecoder,
    PublicMessage, TickDirection, Ticker, Trade, TradeBatch, UpdateKind,
};

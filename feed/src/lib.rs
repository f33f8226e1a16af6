//! Market data and venues for Bybit v5 linear perpetuals.
//!
//! This crate knows nothing of the engine.
//!
//! - [`fixed`]: the exact decimal every price and size is carried in ([`Fixed`]);
//! - [`side`]: buy or sell ([`Side`]);
//! - [`text`]: inline strings that never allocate, symbols among them ([`Symbol`]);
//! - [`instrument`]: a symbol's trading rules at the venue ([`Instrument`]);
//! - [`frame`]: the reusable buffer a received frame is held in ([`FrameBuf`]);
//! - [`bybit`]: the Bybit v5 protocol: the public stream decoder and the live public stream;
//! - [`net`]: endpoints, TLS and the non-blocking WebSocket connections a hot thread owns;
//! - [`book`]: the L2 order book, kept from snapshots and deltas ([`OrderBook`]);
//! - [`order`]: orders, venue events, fills, the position and the account, apart from any venue;
//! - [`venue`]: the one interface a trading loop drives a venue through ([`Venue`]);
//! - [`paper`]: the paper venue, which fills orders against the market without sending them
//!   anywhere, and its latency, queue and fee models;
//! - [`markout`]: how the market moved after each fill, measured for any venue;
//! - [`sim`]: the market simulator;
//! - [`journal`]: recorded frames, written and replayed as received;
//! - [`fixtures`]: reference data for tests and examples (BTCUSDT's trading rules).

pub mod book;
pub mod bybit;
pub mod fixed;
pub mod fixtures;
pub mod frame;
pub mod instrument;
pub mod journal;
pub mod markout;
pub mod net;
pub mod order;
pub mod paper;
pub mod side;
pub mod sim;
pub mod text;
pub mod venue;

pub use book::OrderBook;
pub use fixed::{Fixed, ParseFixedError};
pub use frame::FrameBuf;
pub use instrument::{Instrument, InstrumentError};
pub use side::Side;
pub use text::{InlineStr, Symbol};
pub use venue::Venue;

//! Market data and venues for Bybit v5 linear perpetuals.
//!
//! This crate knows nothing of the engine. It holds the exact decimal type every price and size
//! is carried in ([`Fixed`]), the venue's trading rules per symbol ([`Instrument`]), and the
//! Bybit v5 public stream decoder ([`bybit`]), and the paper venue that fills orders
//! against the market without sending them anywhere ([`paper`]).

pub mod book;
pub mod bybit;
pub mod fixed;
pub mod frame;
pub mod instrument;
pub mod journal;
pub mod markout;
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

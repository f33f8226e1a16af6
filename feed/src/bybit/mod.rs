//! The Bybit v5 protocol.

pub mod live;
pub mod public;
pub mod sign;

pub use public::{
    BookUpdate, ControlReply, DecodeError, DecodeStats, Level, MessageKind, PublicDecoder,
    PublicMessage, TickDirection, Ticker, Trade, TradeBatch, UpdateKind,
};

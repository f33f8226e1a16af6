//! Market data and venues for Bybit v5 linear perpetuals.
//!
//! This crate knows nothing of the engine. It holds the exact decimal type every price and size
//! is carried in ([`Fixed`]) and the venue's trading rules per symbol ([`Instrument`]).

pub mod fixed;
pub mod instrument;

pub use fixed::{Fixed, ParseFixedError};
pub use instrument::{Instrument, InstrumentError};

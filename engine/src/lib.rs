//! The engine: the hot path and its runtime.
//!
//! - [`cli`]: command-line arguments shared by the binaries;
//! - [`config`]: the one configuration file, its profiles and its strict loader;
//! - [`executor`]: order sizing and the gates an entry must pass.

pub mod cli;
pub mod config;
pub mod executor;

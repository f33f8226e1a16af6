//! The engine: the hot path and its runtime.
//!
//! - [`cli`]: command-line arguments shared by the binaries;
//! - [`config`]: the one configuration file, its profiles and its strict loader;
//! - [`executor`]: order sizing and the gates an entry must pass;
//! - [`features`]: the feature set, computed incrementally from book and trade events;
//! - [`signals`]: the rule that proposes candidate entries to be scored.

pub mod cli;
pub mod config;
pub mod executor;
pub mod features;
pub mod model;
pub mod signals;

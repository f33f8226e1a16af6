//! The engine: the hot path and its runtime.
//!
//! - [`account`]: the real account, checked over authenticated REST before anything is sent;
//! - [`cli`]: command-line arguments shared by the binaries;
//! - [`collect`]: recording the live public stream into a journal;
//! - [`config`]: the one configuration file, its profiles and its strict loader;
//! - [`executor`]: order sizing and the gates an entry must pass;
//! - [`features`]: the feature set, computed incrementally from book and trade events;
//! - [`host`]: what the host gives the hot thread (`engine doctor`, checked by `engine run`);
//! - [`signals`]: the rule that proposes candidate entries to be scored;
//! - [`model`]: tree-ensemble models, their ONNX form and the two scoring backends;
//! - [`pipeline`]: the hot path of one symbol, from a frame to a decision;
//! - [`runtime`]: the running engine: the pinned hot thread, the cold-path threads, the rings;
//! - [`venues`]: the venues the runtime trades on, built from the configuration.

pub mod account;
pub mod cli;
pub mod collect;
pub mod config;
pub mod executor;
pub mod features;
pub mod host;
pub mod model;
pub mod pipeline;
pub mod runtime;
pub mod signals;
pub mod venues;

//! The configuration: `config/app.yml`, an optional profile overlay, and `config/symbols.yml`.
//!
//! Every value has a default equal to the shipped `config/app.yml` (a test keeps the two equal),
//! so a profile or a test only writes what it changes. Loading is strict (see [`load`]): unknown
//! keys, wrong types, out-of-range values, broken cross-field rules and keys that look like
//! credentials are all reported together, each with its dotted key path.

mod interpolate;
mod load;
mod schema;
mod types;

pub use interpolate::{InterpolationError, interpolate_str};
pub use load::{ConfigError, ConfigIssue, ConfigSource, Loaded, SYMBOLS_FILE, load, load_with_env};
pub use schema::json_schema;
pub use types::*;

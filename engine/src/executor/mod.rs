//! From a scored candidate to an order: sizing ([`sizing`]) and the gates ([`gates`]).

pub mod gates;
pub mod sizing;

pub use gates::{EntryCheck, GateReject, GateRules, Side};
pub use sizing::{SizingReject, SizingRules, UnrepresentableValue, compute_order_qty};

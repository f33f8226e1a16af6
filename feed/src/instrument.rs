//! Instrument reference data: the venue's trading rules for one symbol.
//!
//! The values come from Bybit's `GET /v5/market/instruments-info` (`priceFilter`,
//! `lotSizeFilter`) and `GET /v5/account/fee-rate`, kept in `config/symbols.yml`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fixed::Fixed;

/// Trading rules of one linear contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Instrument {
    /// Price increment (`priceFilter.tickSize`).
    pub tick_size: Fixed,
    /// Quantity increment (`lotSizeFilter.qtyStep`).
    pub qty_step: Fixed,
    /// Smallest order quantity (`lotSizeFilter.minOrderQty`).
    pub min_qty: Fixed,
    /// Largest limit or post-only order quantity (`lotSizeFilter.maxOrderQty`).
    pub max_qty: Fixed,
    /// Smallest order value in quote currency (`lotSizeFilter.minNotionalValue`).
    pub min_notional: Fixed,
    /// Maker fee as a fraction of traded value (`makerFeeRate`; negative is a rebate).
    pub maker_fee_rate: Fixed,
    /// Taker fee as a fraction of traded value (`takerFeeRate`).
    pub taker_fee_rate: Fixed,
}

/// A rule of [`Instrument`] that its values break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InstrumentError {
    /// A size or increment that must be positive is zero or negative.
    #[error("{field} must be positive, got {value}")]
    NotPositive {
        /// The field name in `symbols.yml`.
        field: &'static str,
        /// Its value.
        value: Fixed,
    },
    /// A quantity limit that is not a whole number of `qty_step`.
    #[error("{field} {value} is not a whole number of qty_step {step}")]
    NotWholeSteps {
        /// The field name in `symbols.yml`.
        field: &'static str,
        /// Its value.
        value: Fixed,
        /// The quantity step.
        step: Fixed,
    },
    /// `min_qty` above `max_qty`.
    #[error("min_qty {min} is above max_qty {max}")]
    MinAboveMax {
        /// The minimum quantity.
        min: Fixed,
        /// The maximum quantity.
        max: Fixed,
    },
}

impl Instrument {
    /// Checks the internal consistency of the rules; returns every broken rule.
    pub fn check(&self) -> Vec<InstrumentError> {
        let mut errors = Vec::new();
        for (field, value) in [
            ("tick_size", self.tick_size),
            ("qty_step", self.qty_step),
            ("min_qty", self.min_qty),
            ("max_qty", self.max_qty),
        ] {
            if !value.is_positive() {
                errors.push(InstrumentError::NotPositive { field, value });
            }
        }
        if self.min_notional.raw() < 0 {
            errors.push(InstrumentError::NotPositive {
                field: "min_notional",
                value: self.min_notional,
            });
        }
        if self.qty_step.is_positive() {
            for (field, value) in [("min_qty", self.min_qty), ("max_qty", self.max_qty)] {
                if value.is_positive() && !value.is_multiple_of(self.qty_step) {
                    errors.push(InstrumentError::NotWholeSteps {
                        field,
                        value,
                        step: self.qty_step,
                    });
                }
            }
        }
        if self.min_qty > self.max_qty {
            errors.push(InstrumentError::MinAboveMax {
                min: self.min_qty,
                max: self.max_qty,
            });
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::btcusdt;

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    #[test]
    fn published_btcusdt_rules_are_consistent() {
        assert_eq!(btcusdt().check(), vec![]);
    }

    #[test]
    fn every_broken_rule_is_reported() {
        let broken = Instrument {
            tick_size: Fixed::ZERO,
            min_qty: fx("0.0015"),
            max_qty: fx("0.001"),
            ..btcusdt()
        };
        assert_eq!(
            broken.check(),
            vec![
                InstrumentError::NotPositive {
                    field: "tick_size",
                    value: Fixed::ZERO
                },
                InstrumentError::NotWholeSteps {
                    field: "min_qty",
                    value: fx("0.0015"),
                    step: fx("0.001")
                },
                InstrumentError::MinAboveMax {
                    min: fx("0.0015"),
                    max: fx("0.001")
                },
            ]
        );
    }
}

//! Order sizing: how much one entry buys or sells.
//!
//! ```text
//! budget = min(notional_cap, usable_balance * leverage)
//! qty    = floor(budget / price / qty_step) * qty_step, at most max_qty
//! ```
//!
//! `usable_balance` is the whole free balance with `use_all_in`, otherwise only the part above
//! `min_free_balance`. The division is done once, in integers, on whole lots: a budget that buys
//! exactly three lots gives three lots, never two (the float `300 / 100 / 0.001` is
//! `2999.9999999999995`). A quantity under the instrument's minimum quantity or minimum notional
//! is refused with its reason, never rounded up to the minimum.
//!
//! Everything here is `Copy` and allocation-free: it runs on the hot path.

use feed::{Fixed, Instrument};

use crate::config::Sizing;

/// Sizing parameters in exact fixed point, built once from [`Sizing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizingRules {
    /// Leverage applied to the usable balance.
    pub leverage: Fixed,
    /// Largest notional of one order, USD.
    pub notional_cap: Fixed,
    /// Whether the whole free balance backs an order (else only what exceeds the minimum).
    pub use_all_in: bool,
    /// Free balance kept back when `use_all_in` is false, USD.
    pub min_free_balance: Fixed,
}

/// A configuration value that cannot be represented exactly in [`Fixed`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {value} cannot be represented as an 8-decimal fixed-point number")]
pub struct UnrepresentableValue {
    /// Dotted key path.
    pub key: &'static str,
    /// The value.
    pub value: f64,
}

/// Converts a configuration float into [`Fixed`], naming the key when it does not fit.
pub(crate) fn config_fixed(key: &'static str, value: f64) -> Result<Fixed, UnrepresentableValue> {
    Fixed::from_f64(value).ok_or(UnrepresentableValue { key, value })
}

impl SizingRules {
    /// Converts the configuration section.
    pub fn from_config(sizing: &Sizing) -> Result<Self, UnrepresentableValue> {
        Ok(SizingRules {
            leverage: config_fixed("executor.sizing.leverage", sizing.leverage)?,
            notional_cap: config_fixed(
                "executor.sizing.notional_cap_usd",
                sizing.notional_cap_usd,
            )?,
            use_all_in: sizing.use_all_in,
            min_free_balance: config_fixed(
                "executor.sizing.min_free_balance_usd",
                sizing.min_free_balance_usd,
            )?,
        })
    }
}

/// Why no quantity was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SizingReject {
    /// The price is zero or negative.
    #[error("price {price} is not positive")]
    InvalidPrice {
        /// The price given.
        price: Fixed,
    },
    /// Nothing of the balance may back an order.
    #[error("no usable balance (free balance {free_balance})")]
    NoBudget {
        /// The free balance.
        free_balance: Fixed,
    },
    /// The whole lots the budget buys are fewer than the instrument's minimum quantity.
    #[error("qty {qty} is below the minimum order qty {min_qty}")]
    BelowMinQty {
        /// The quantity the budget buys.
        qty: Fixed,
        /// The instrument's minimum.
        min_qty: Fixed,
    },
    /// The order's value is below the instrument's minimum notional.
    #[error("notional {notional} is below the minimum notional {min_notional}")]
    BelowMinNotional {
        /// qty x price.
        notional: Fixed,
        /// The instrument's minimum.
        min_notional: Fixed,
    },
}

impl SizingReject {
    /// A stable label for metrics and logs.
    pub const fn label(&self) -> &'static str {
        match self {
            SizingReject::InvalidPrice { .. } => "invalid_price",
            SizingReject::NoBudget { .. } => "no_budget",
            SizingReject::BelowMinQty { .. } => "below_min_qty",
            SizingReject::BelowMinNotional { .. } => "below_min_notional",
        }
    }
}

/// The quantity of one entry at `price` with `free_balance` available, in whole lots of
/// `instrument.qty_step`; see the module docs for the rule.
pub fn compute_order_qty(
    rules: &SizingRules,
    instrument: &Instrument,
    price: Fixed,
    free_balance: Fixed,
) -> Result<Fixed, SizingReject> {
    if !price.is_positive() {
        return Err(SizingReject::InvalidPrice { price });
    }
    let usable = if rules.use_all_in {
        free_balance
    } else {
        free_balance.saturating_sub(rules.min_free_balance)
    };
    if !usable.is_positive() {
        return Err(SizingReject::NoBudget { free_balance });
    }

    // All three quantities below are in units of 10^-16 USD, so the comparison and the one
    // division are exact.
    let cap = rules.notional_cap.wide_mul(Fixed::ONE);
    let leveraged = usable.wide_mul(rules.leverage);
    let budget = cap.min(leveraged).max(0);
    let lot_value = price.wide_mul(instrument.qty_step);
    let max_lots = i128::from(instrument.max_qty.raw() / instrument.qty_step.raw().max(1));
    let lots = if lot_value > 0 {
        (budget / lot_value).min(max_lots)
    } else {
        0
    };
    // lots <= max_lots, and max_lots * qty_step <= max_qty fits in i64.
    let qty = Fixed::from_raw((lots * i128::from(instrument.qty_step.raw())) as i64);

    if qty < instrument.min_qty || !qty.is_positive() {
        return Err(SizingReject::BelowMinQty {
            qty,
            min_qty: instrument.min_qty,
        });
    }
    let notional = qty.checked_mul_floor(price).unwrap_or(Fixed::MAX);
    if notional < instrument.min_notional {
        return Err(SizingReject::BelowMinNotional {
            notional,
            min_notional: instrument.min_notional,
        });
    }
    Ok(qty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use feed::fixtures::btcusdt;
    use proptest::prelude::*;

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    fn rules() -> SizingRules {
        SizingRules::from_config(&Sizing::default()).unwrap()
    }

    fn size(price: &str, balance: &str) -> Result<Fixed, SizingReject> {
        compute_order_qty(&rules(), &btcusdt(), fx(price), fx(balance))
    }

    #[test]
    fn defaults_are_the_originals() {
        assert_eq!(
            rules(),
            SizingRules {
                leverage: fx("10"),
                notional_cap: fx("20000"),
                use_all_in: true,
                min_free_balance: fx("200"),
            }
        );
    }

    #[test]
    fn worked_example_btc_at_60000_gives_0_333() {
        assert_eq!(size("60000", "1000000"), Ok(fx("0.333")));
    }

    #[test]
    fn the_cap_binds_when_the_balance_is_large() {
        assert_eq!(size("60000", "2000"), Ok(fx("0.333")));
        assert_eq!(size("60000", "2000.00000001"), Ok(fx("0.333")));
    }

    #[test]
    fn the_balance_binds_when_it_is_small() {
        // 1000 x 10 / 60000 = 0.16666.. -> 0.166
        assert_eq!(size("60000", "1000"), Ok(fx("0.166")));
        // 1999.99 x 10 = 19999.9 -> 0.33333166 -> 0.333
        assert_eq!(size("60000", "1999.99"), Ok(fx("0.333")));
    }

    #[test]
    fn a_budget_of_exactly_whole_lots_keeps_every_lot() {
        // In f64, 300 / 100 / 0.001 is 2999.9999999999995 and floors to one lot short.
        let cap_300 = SizingRules {
            notional_cap: fx("300"),
            ..rules()
        };
        assert_eq!(
            compute_order_qty(&cap_300, &btcusdt(), fx("100"), fx("1000000")),
            Ok(fx("3"))
        );
        // 20000 / 40000 = 0.5 exactly.
        assert_eq!(size("40000", "1000000"), Ok(fx("0.5")));
        // 0.3 / 100 is 0.003 exactly: three lots, not two.
        let cap_third = SizingRules {
            notional_cap: fx("0.3"),
            ..rules()
        };
        let no_min_notional = Instrument {
            min_notional: Fixed::ZERO,
            ..btcusdt()
        };
        assert_eq!(
            compute_order_qty(&cap_third, &no_min_notional, fx("100"), fx("1000000")),
            Ok(fx("0.003"))
        );
    }

    #[test]
    fn one_unit_below_a_whole_lot_floors() {
        // 20000 / 0.333 = 60060.06006006006..: just under that price 0.333 lots fit, just over they do not.
        assert_eq!(size("60060.06006006", "1000000"), Ok(fx("0.333")));
        assert_eq!(size("60060.06006007", "1000000"), Ok(fx("0.332")));
    }

    #[test]
    fn eth_steps_of_0_01() {
        let eth = Instrument {
            qty_step: fx("0.01"),
            min_qty: fx("0.01"),
            ..btcusdt()
        };
        // 20000 / 3000 = 6.666.. -> 6.66
        assert_eq!(
            compute_order_qty(&rules(), &eth, fx("3000"), fx("1000000")),
            Ok(fx("6.66"))
        );
    }

    #[test]
    fn max_qty_caps_the_order() {
        let small_max = Instrument {
            max_qty: fx("0.25"),
            ..btcusdt()
        };
        assert_eq!(
            compute_order_qty(&rules(), &small_max, fx("60000"), fx("1000000")),
            Ok(fx("0.25"))
        );
    }

    #[test]
    fn below_min_qty_is_dropped_not_inflated() {
        // 0.5 x 10 / 60000 = 0.0000833 -> 0 lots.
        assert_eq!(
            size("60000", "0.5"),
            Err(SizingReject::BelowMinQty {
                qty: fx("0"),
                min_qty: fx("0.001")
            })
        );
        let min_one = Instrument {
            min_qty: fx("1"),
            ..btcusdt()
        };
        assert_eq!(
            compute_order_qty(&rules(), &min_one, fx("60000"), fx("1000000")),
            Err(SizingReject::BelowMinQty {
                qty: fx("0.333"),
                min_qty: fx("1")
            })
        );
    }

    #[test]
    fn below_min_notional_is_dropped() {
        // 0.001 BTC at 4000 is 4 USDT, under the 5 USDT minimum.
        let cap_4 = SizingRules {
            notional_cap: fx("4.5"),
            ..rules()
        };
        assert_eq!(
            compute_order_qty(&cap_4, &btcusdt(), fx("4000"), fx("1000000")),
            Err(SizingReject::BelowMinNotional {
                notional: fx("4"),
                min_notional: fx("5")
            })
        );
        // Exactly at the minimum passes.
        let cap_5 = SizingRules {
            notional_cap: fx("5"),
            ..rules()
        };
        assert_eq!(
            compute_order_qty(&cap_5, &btcusdt(), fx("5000"), fx("1000000")),
            Ok(fx("0.001"))
        );
    }

    #[test]
    fn bad_prices_and_balances_are_refused() {
        assert_eq!(
            size("0", "1000"),
            Err(SizingReject::InvalidPrice { price: fx("0") })
        );
        assert_eq!(
            size("-1", "1000"),
            Err(SizingReject::InvalidPrice { price: fx("-1") })
        );
        assert_eq!(
            size("60000", "0"),
            Err(SizingReject::NoBudget {
                free_balance: fx("0")
            })
        );
        assert_eq!(
            size("60000", "-5"),
            Err(SizingReject::NoBudget {
                free_balance: fx("-5")
            })
        );
    }

    #[test]
    fn without_all_in_the_reserve_is_kept_back() {
        let reserve = SizingRules {
            use_all_in: false,
            ..rules()
        };
        // (1200 - 200) x 10 / 60000 = 0.1666 -> 0.166
        assert_eq!(
            compute_order_qty(&reserve, &btcusdt(), fx("60000"), fx("1200")),
            Ok(fx("0.166"))
        );
        assert_eq!(
            compute_order_qty(&reserve, &btcusdt(), fx("60000"), fx("200")),
            Err(SizingReject::NoBudget {
                free_balance: fx("200")
            })
        );
    }

    #[test]
    fn labels_are_stable() {
        assert_eq!(
            SizingReject::InvalidPrice { price: Fixed::ZERO }.label(),
            "invalid_price"
        );
        assert_eq!(
            SizingReject::NoBudget {
                free_balance: Fixed::ZERO
            }
            .label(),
            "no_budget"
        );
        assert_eq!(
            SizingReject::BelowMinQty {
                qty: Fixed::ZERO,
                min_qty: Fixed::ZERO
            }
            .label(),
            "below_min_qty"
        );
        assert_eq!(
            SizingReject::BelowMinNotional {
                notional: Fixed::ZERO,
                min_notional: Fixed::ZERO
            }
            .label(),
            "below_min_notional"
        );
    }

    /// Prices from 1 to 200000 on a 0.1 tick, balances up to 10 million, caps up to 1 million.
    fn inputs() -> impl Strategy<Value = (Fixed, Fixed, Fixed, Fixed)> {
        (
            1_i64..2_000_000,
            0_i64..1_000_000_000_000_000,
            1_i64..100_000_000_000_000,
            100_000_000_i64..10_000_000_000,
        )
            .prop_map(|(ticks, balance, cap, leverage)| {
                (
                    Fixed::from_raw(ticks * 10_000_000),
                    Fixed::from_raw(balance),
                    Fixed::from_raw(cap),
                    Fixed::from_raw(leverage),
                )
            })
    }

    proptest! {
        #[test]
        fn qty_is_whole_lots_within_cap_and_balance((price, balance, cap, leverage) in inputs()) {
            let rules = SizingRules { notional_cap: cap, leverage, ..rules() };
            if let Ok(qty) = compute_order_qty(&rules, &btcusdt(), price, balance) {
                prop_assert!(qty.is_multiple_of(btcusdt().qty_step));
                prop_assert!(qty >= btcusdt().min_qty && qty <= btcusdt().max_qty);
                // qty x price <= cap and qty x price <= balance x leverage, exactly.
                prop_assert!(qty.wide_mul(price) <= cap.wide_mul(Fixed::ONE));
                prop_assert!(qty.wide_mul(price) <= balance.wide_mul(leverage));
                // One more lot would break a limit.
                let more = qty.checked_add(btcusdt().qty_step).unwrap();
                prop_assert!(
                    more.wide_mul(price) > cap.wide_mul(Fixed::ONE)
                        || more.wide_mul(price) > balance.wide_mul(leverage)
                        || more > btcusdt().max_qty
                );
            }
        }

        #[test]
        fn qty_grows_with_balance_and_shrinks_with_price(
            (price, balance, cap, leverage) in inputs(),
            extra_balance in 0_i64..1_000_000_000_000,
            extra_ticks in 0_i64..100_000,
        ) {
            let rules = SizingRules { notional_cap: cap, leverage, ..rules() };
            let qty = |price, balance| {
                compute_order_qty(&rules, &btcusdt(), price, balance).unwrap_or(Fixed::ZERO)
            };
            let richer = Fixed::from_raw(balance.raw() + extra_balance);
            let dearer = Fixed::from_raw(price.raw() + extra_ticks * 10_000_000);
            prop_assert!(qty(price, richer) >= qty(price, balance));
            prop_assert!(qty(dearer, balance) <= qty(price, balance));
        }
    }
}

//! Executor gates: the checks a sized entry must pass before it becomes an order.
//!
//! Each gate is a pure function returning `Ok(())` or a [`GateReject`] saying why, and each is
//! monotone: more balance, more resting liquidity, a liquidation price further away or a smaller
//! resulting position never turns a pass into a reject. [`GateRules::check_entry`] runs them in a
//! fixed order (free balance, near-liquidation, liquidity by side, max position) and returns the
//! first reject. All ratios are compared as exact integer cross-products; nothing allocates.
//!
//! - **Free balance**: rejected when the free balance is below `min_free_balance_usd`.
//! - **Liquidity by side**: the resting size on the first `levels` levels of the side the order
//!   joins (bids for a buy, asks for a sell, from the touch outward; fewer levels count as
//!   what is there) must be at least `alpha` x the order quantity.
//! - **Near-liquidation**: with `buffer = sl_buffer_multiplier x assumed_sl_pct`, a long is
//!   blocked when `(entry - liq) / entry < buffer`, a short when `(liq - entry) / entry < buffer`
//!   (a liquidation price on the wrong side of the entry is a negative distance and blocks).
//!   With no liquidation price known, `estimate` uses the isolated-margin distance at the
//!   configured leverage, `1 / leverage - maintenance_margin_rate` (cross margin only liquidates
//!   further away), and `block` rejects.
//! - **Max position**: rejected when `|position + signed qty| x price` exceeds
//!   `max_position_usd`.

use feed::Fixed;
pub use feed::Side;

use super::sizing::{UnrepresentableValue, config_fixed};
use crate::config::{Config, UnknownLiqPrice};

/// The liquidity-by-side rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiquidityRule {
    /// Required multiple of the order quantity.
    pub alpha: Fixed,
    /// Levels summed from the touch.
    pub levels: u16,
}

/// The near-liquidation rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NearLiqRule {
    /// Smallest allowed liquidation distance as a fraction of the entry price.
    pub buffer: Fixed,
    /// What an unknown liquidation price means.
    pub unknown: UnknownLiq,
}

/// The near-liquidation rule for an unknown liquidation price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownLiq {
    /// Use this estimated distance (fraction of the entry price).
    Estimate(Fixed),
    /// Reject the entry.
    Block,
}

/// All gate parameters in exact fixed point, built once from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateRules {
    /// Smallest free balance at which entries are allowed, USD.
    pub min_free_balance: Fixed,
    /// Liquidity by side, when enabled.
    pub liquidity: Option<LiquidityRule>,
    /// Near-liquidation guard, when enabled.
    pub near_liq: Option<NearLiqRule>,
    /// Largest absolute position value, USD.
    pub max_position: Fixed,
}

/// What the gates look at for one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryCheck<'a> {
    /// Entry side.
    pub side: Side,
    /// Limit price of the entry.
    pub price: Fixed,
    /// Sized quantity.
    pub qty: Fixed,
    /// Free balance, USD.
    pub free_balance: Fixed,
    /// Current position, signed (positive long).
    pub position: Fixed,
    /// Liquidation price of the position the entry opens or adds to, if the venue knows it.
    pub liq_price: Option<Fixed>,
    /// Resting sizes of the side the order joins, from the touch outward.
    pub join_side_sizes: &'a [Fixed],
}

/// Why a gate rejected an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GateReject {
    /// Free balance under the minimum.
    #[error("free balance {free} is below the minimum {min}")]
    FreeBalanceBelowMin {
        /// Free balance.
        free: Fixed,
        /// The minimum.
        min: Fixed,
    },
    /// Not enough resting size on the side the order joins.
    #[error(
        "resting size {resting} on the first {levels} levels is below {required} (alpha x qty)"
    )]
    InsufficientLiquidity {
        /// Resting size summed.
        resting: Fixed,
        /// alpha x qty.
        required: Fixed,
        /// Levels summed.
        levels: u16,
    },
    /// Liquidation too close to the entry.
    #[error("liquidation distance {distance} of the entry price is below the buffer {buffer}")]
    NearLiquidation {
        /// (entry - liq) / entry for a long, (liq - entry) / entry for a short.
        distance: Fixed,
        /// The required buffer.
        buffer: Fixed,
    },
    /// No liquidation price known and the rule is `block`.
    #[error("liquidation price unknown")]
    UnknownLiqPrice,
    /// The resulting position would exceed the limit.
    #[error("resulting position value {value} would exceed the maximum {max}")]
    MaxPosition {
        /// |position + signed qty| x price.
        value: Fixed,
        /// The maximum.
        max: Fixed,
    },
}

impl GateReject {
    /// A stable label for metrics and logs.
    pub const fn label(&self) -> &'static str {
        match self {
            GateReject::FreeBalanceBelowMin { .. } => "free_balance",
            GateReject::InsufficientLiquidity { .. } => "liquidity_by_side",
            GateReject::NearLiquidation { .. } => "near_liquidation",
            GateReject::UnknownLiqPrice => "unknown_liq_price",
            GateReject::MaxPosition { .. } => "max_position",
        }
    }
}

impl GateRules {
    /// Converts the configuration (`executor`, `risk.near_liq_guard`, `risk.assumed_sl_pct`).
    pub fn from_config(config: &Config) -> Result<Self, UnrepresentableValue> {
        let executor = &config.executor;
        let liquidity_config = &executor.gates.liquidity_by_side;
        let liquidity = if liquidity_config.enabled {
            Some(LiquidityRule {
                alpha: config_fixed(
                    "executor.gates.liquidity_by_side.alpha",
                    liquidity_config.alpha,
                )?,
                levels: liquidity_config.levels,
            })
        } else {
            None
        };
        let guard = &config.risk.near_liq_guard;
        let near_liq = if guard.enabled {
            let buffer = guard.sl_buffer_multiplier * config.risk.assumed_sl_pct;
            let estimate = 1.0 / executor.sizing.leverage - guard.maintenance_margin_rate;
            Some(NearLiqRule {
                buffer: config_fixed("risk.near_liq_guard.sl_buffer_multiplier", buffer)?,
                unknown: match guard.unknown_liq_price {
                    UnknownLiqPrice::Estimate => UnknownLiq::Estimate(config_fixed(
                        "risk.near_liq_guard.maintenance_margin_rate",
                        estimate,
                    )?),
                    UnknownLiqPrice::Block => UnknownLiq::Block,
                },
            })
        } else {
            None
        };
        Ok(GateRules {
            min_free_balance: config_fixed(
                "executor.sizing.min_free_balance_usd",
                executor.sizing.min_free_balance_usd,
            )?,
            liquidity,
            near_liq,
            max_position: config_fixed("executor.max_position_usd", executor.max_position_usd)?,
        })
    }

    /// Runs every enabled gate in order; the first reject wins.
    pub fn check_entry(&self, entry: &EntryCheck<'_>) -> Result<(), GateReject> {
        check_free_balance(entry.free_balance, self.min_free_balance)?;
        if let Some(rule) = &self.near_liq {
            check_near_liquidation(rule, entry.side, entry.price, entry.liq_price)?;
        }
        if let Some(rule) = &self.liquidity {
            check_liquidity(rule, entry.qty, entry.join_side_sizes)?;
        }
        check_max_position(
            self.max_position,
            entry.side,
            entry.position,
            entry.qty,
            entry.price,
        )
    }
}

/// Free-balance gate.
pub fn check_free_balance(free: Fixed, min: Fixed) -> Result<(), GateReject> {
    if free < min {
        Err(GateReject::FreeBalanceBelowMin { free, min })
    } else {
        Ok(())
    }
}

/// Liquidity-by-side gate over the sizes of the side the order joins, from the touch outward.
pub fn check_liquidity(
    rule: &LiquidityRule,
    qty: Fixed,
    sizes: &[Fixed],
) -> Result<(), GateReject> {
    let resting: i128 = sizes
        .iter()
        .take(usize::from(rule.levels))
        .map(|size| i128::from(size.raw().max(0)))
        .sum();
    // resting >= alpha x qty, both sides in 10^-16 units.
    let resting_wide = resting * i128::from(Fixed::SCALE);
    let required_wide = rule.alpha.wide_mul(qty);
    if resting_wide >= required_wide {
        return Ok(());
    }
    let to_fixed = |wide: i128| {
        Fixed::from_raw(i64::try_from(wide / i128::from(Fixed::SCALE)).unwrap_or(i64::MAX))
    };
    Err(GateReject::InsufficientLiquidity {
        resting: to_fixed(resting_wide),
        required: to_fixed(required_wide),
        levels: rule.levels,
    })
}

/// Near-liquidation gate.
pub fn check_near_liquidation(
    rule: &NearLiqRule,
    side: Side,
    entry: Fixed,
    liq_price: Option<Fixed>,
) -> Result<(), GateReject> {
    let Some(liq) = liq_price else {
        return match rule.unknown {
            UnknownLiq::Block => Err(GateReject::UnknownLiqPrice),
            UnknownLiq::Estimate(distance) if distance < rule.buffer => {
                Err(GateReject::NearLiquidation {
                    distance,
                    buffer: rule.buffer,
                })
            }
            UnknownLiq::Estimate(_) => Ok(()),
        };
    };
    if !entry.is_positive() {
        return Err(GateReject::NearLiquidation {
            distance: Fixed::ZERO,
            buffer: rule.buffer,
        });
    }
    let gap = i128::from(side.sign()) * (i128::from(entry.raw()) - i128::from(liq.raw()));
    // gap / entry < buffer  <=>  gap x SCALE < buffer x entry (entry > 0).
    if gap * i128::from(Fixed::SCALE) >= rule.buffer.wide_mul(entry) {
        return Ok(());
    }
    let distance = gap * i128::from(Fixed::SCALE) / i128::from(entry.raw());
    Err(GateReject::NearLiquidation {
        distance: Fixed::from_raw(i64::try_from(distance).unwrap_or(i64::MIN)),
        buffer: rule.buffer,
    })
}

/// Max-position gate.
pub fn check_max_position(
    max: Fixed,
    side: Side,
    position: Fixed,
    qty: Fixed,
    price: Fixed,
) -> Result<(), GateReject> {
    let resulting = i128::from(position.raw()) + i128::from(side.sign()) * i128::from(qty.raw());
    let value_wide = resulting.abs() * i128::from(price.raw().max(0));
    if value_wide <= max.wide_mul(Fixed::ONE) {
        return Ok(());
    }
    let value = i64::try_from(value_wide / i128::from(Fixed::SCALE)).unwrap_or(i64::MAX);
    Err(GateReject::MaxPosition {
        value: Fixed::from_raw(value),
        max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    fn rules() -> GateRules {
        GateRules::from_config(&Config::default()).unwrap()
    }

    fn near_liq() -> NearLiqRule {
        rules().near_liq.unwrap()
    }

    fn liquidity() -> LiquidityRule {
        rules().liquidity.unwrap()
    }

    #[test]
    fn rules_from_the_default_config() {
        assert_eq!(
            rules(),
            GateRules {
                min_free_balance: fx("200"),
                liquidity: Some(LiquidityRule {
                    alpha: fx("1.5"),
                    levels: 3
                }),
                near_liq: Some(NearLiqRule {
                    buffer: fx("0.0045"),
                    unknown: UnknownLiq::Estimate(fx("0.095")),
                }),
                max_position: fx("20000"),
            }
        );
    }

    #[test]
    fn free_balance_boundary() {
        assert_eq!(check_free_balance(fx("200"), fx("200")), Ok(()));
        assert_eq!(
            check_free_balance(fx("199.99999999"), fx("200")),
            Err(GateReject::FreeBalanceBelowMin {
                free: fx("199.99999999"),
                min: fx("200")
            })
        );
    }

    #[test]
    fn liquidity_boundary_uses_the_first_levels_only() {
        // qty 1, alpha 1.5: 1.5 needed on the first 3 levels.
        let sizes = [fx("0.5"), fx("0.5"), fx("0.5"), fx("100")];
        assert_eq!(check_liquidity(&liquidity(), fx("1"), &sizes), Ok(()));
        let short = [fx("0.5"), fx("0.5"), fx("0.49999999"), fx("100")];
        assert_eq!(
            check_liquidity(&liquidity(), fx("1"), &short),
            Err(GateReject::InsufficientLiquidity {
                resting: fx("1.49999999"),
                required: fx("1.5"),
                levels: 3
            })
        );
        // A thin book counts what it has.
        assert_eq!(
            check_liquidity(&liquidity(), fx("1"), &[fx("1")]),
            Err(GateReject::InsufficientLiquidity {
                resting: fx("1"),
                required: fx("1.5"),
                levels: 3
            })
        );
        assert!(check_liquidity(&liquidity(), fx("1"), &[]).is_err());
    }

    #[test]
    fn near_liquidation_long_boundary() {
        // (60000 - 59730) / 60000 = 0.0045 exactly: allowed.
        assert_eq!(
            check_near_liquidation(&near_liq(), Side::Buy, fx("60000"), Some(fx("59730"))),
            Ok(())
        );
        assert_eq!(
            check_near_liquidation(&near_liq(), Side::Buy, fx("60000"), Some(fx("59730.1"))),
            Err(GateReject::NearLiquidation {
                distance: fx("0.00449833"),
                buffer: fx("0.0045")
            })
        );
        // Liquidation above a long's entry: negative distance.
        assert_eq!(
            check_near_liquidation(&near_liq(), Side::Buy, fx("60000"), Some(fx("60600"))),
            Err(GateReject::NearLiquidation {
                distance: fx("-0.01"),
                buffer: fx("0.0045")
            })
        );
    }

    #[test]
    fn near_liquidation_short_is_symmetric() {
        assert_eq!(
            check_near_liquidation(&near_liq(), Side::Sell, fx("60000"), Some(fx("60270"))),
            Ok(())
        );
        assert_eq!(
            check_near_liquidation(&near_liq(), Side::Sell, fx("60000"), Some(fx("60269.9"))),
            Err(GateReject::NearLiquidation {
                distance: fx("0.00449833"),
                buffer: fx("0.0045")
            })
        );
        assert!(
            check_near_liquidation(&near_liq(), Side::Sell, fx("60000"), Some(fx("59000")))
                .is_err()
        );
    }

    #[test]
    fn unknown_liquidation_price_follows_the_rule() {
        // Estimate at leverage 10, mmr 0.005: 0.095 >= 0.0045.
        assert_eq!(
            check_near_liquidation(&near_liq(), Side::Buy, fx("60000"), None),
            Ok(())
        );
        let tight = NearLiqRule {
            buffer: fx("0.0045"),
            unknown: UnknownLiq::Estimate(fx("0.004")),
        };
        assert_eq!(
            check_near_liquidation(&tight, Side::Sell, fx("60000"), None),
            Err(GateReject::NearLiquidation {
                distance: fx("0.004"),
                buffer: fx("0.0045")
            })
        );
        let block = NearLiqRule {
            unknown: UnknownLiq::Block,
            ..near_liq()
        };
        assert_eq!(
            check_near_liquidation(&block, Side::Buy, fx("60000"), None),
            Err(GateReject::UnknownLiqPrice)
        );
    }

    #[test]
    fn max_position_boundary() {
        assert_eq!(
            check_max_position(fx("20000"), Side::Buy, fx("0"), fx("0.333"), fx("60000")),
            Ok(())
        );
        // 0.333 + 0.001 at 60000 = 20040 > 20000
        assert_eq!(
            check_max_position(
                fx("20000"),
                Side::Buy,
                fx("0.001"),
                fx("0.333"),
                fx("60000")
            ),
            Err(GateReject::MaxPosition {
                value: fx("20040"),
                max: fx("20000")
            })
        );
        // Exactly at the limit passes.
        assert_eq!(
            check_max_position(fx("20000"), Side::Sell, fx("0"), fx("0.5"), fx("40000")),
            Ok(())
        );
        // A sell against a long reduces the position.
        assert_eq!(
            check_max_position(
                fx("20000"),
                Side::Sell,
                fx("0.333"),
                fx("0.333"),
                fx("60000")
            ),
            Ok(())
        );
    }

    #[test]
    fn check_entry_runs_the_gates_in_order() {
        let depth = [fx("1"), fx("1"), fx("1")];
        let entry = EntryCheck {
            side: Side::Buy,
            price: fx("60000"),
            qty: fx("0.333"),
            free_balance: fx("5000"),
            position: Fixed::ZERO,
            liq_price: None,
            join_side_sizes: &depth,
        };
        assert_eq!(rules().check_entry(&entry), Ok(()));
        let broke = EntryCheck {
            free_balance: fx("100"),
            liq_price: Some(fx("59990")),
            ..entry
        };
        assert_eq!(
            rules().check_entry(&broke).map_err(|r| r.label()),
            Err("free_balance")
        );
        let near = EntryCheck {
            liq_price: Some(fx("59990")),
            join_side_sizes: &[],
            ..entry
        };
        assert_eq!(
            rules().check_entry(&near).map_err(|r| r.label()),
            Err("near_liquidation")
        );
        let thin_depth = [fx("0.1"), fx("0.1"), fx("0.1"), fx("10")];
        let thin = EntryCheck {
            join_side_sizes: &thin_depth,
            ..entry
        };
        assert_eq!(
            rules().check_entry(&thin).map_err(|r| r.label()),
            Err("liquidity_by_side")
        );
        let big = EntryCheck {
            position: fx("0.1"),
            ..entry
        };
        assert_eq!(
            rules().check_entry(&big).map_err(|r| r.label()),
            Err("max_position")
        );
        let disabled = GateRules {
            liquidity: None,
            near_liq: None,
            ..rules()
        };
        assert_eq!(disabled.check_entry(&near), Ok(()));
    }

    fn fixed(range: std::ops::Range<i64>) -> impl Strategy<Value = Fixed> {
        range.prop_map(Fixed::from_raw)
    }

    proptest! {
        #[test]
        fn free_balance_gate_is_monotone(free in fixed(0..1_000_000_000_000), more in fixed(0..1_000_000_000_000)) {
            if check_free_balance(free, fx("200")).is_ok() {
                prop_assert!(check_free_balance(Fixed::from_raw(free.raw() + more.raw()), fx("200")).is_ok());
            }
        }

        #[test]
        fn liquidity_gate_is_monotone_in_depth_and_qty(
            sizes in proptest::collection::vec(fixed(0..1_000_000_000), 0..6),
            extra in fixed(0..1_000_000_000),
            level in 0_usize..6,
            qty in fixed(1..1_000_000_000),
            less in fixed(0..1_000_000_000),
        ) {
            if check_liquidity(&liquidity(), qty, &sizes).is_ok() {
                let mut deeper = sizes.clone();
                if let Some(size) = deeper.get_mut(level) {
                    *size = Fixed::from_raw(size.raw() + extra.raw());
                }
                prop_assert!(check_liquidity(&liquidity(), qty, &deeper).is_ok());
                let smaller = Fixed::from_raw((qty.raw() - less.raw()).max(0));
                prop_assert!(check_liquidity(&liquidity(), smaller, &sizes).is_ok());
            }
        }

        #[test]
        fn near_liquidation_gate_is_monotone_in_distance(
            entry in fixed(100_000_000..10_000_000_000_000),
            liq in fixed(0..10_000_000_000_000),
            further in fixed(0..1_000_000_000_000),
            buy in any::<bool>(),
        ) {
            let side = if buy { Side::Buy } else { Side::Sell };
            if check_near_liquidation(&near_liq(), side, entry, Some(liq)).is_ok() {
                let moved = Fixed::from_raw(liq.raw() - side.sign() * further.raw());
                prop_assert!(check_near_liquidation(&near_liq(), side, entry, Some(moved)).is_ok());
            }
        }

    }

    /// Cases for the max-position gate that straddle the cap: a price from 0.01 to 100,000, a
    /// starting position of up to 500 either way, and an order whose resulting position is
    /// worth from 0 to twice the cap (20,000), so that about half the cases pass.
    fn max_position_cases() -> impl Strategy<Value = (Fixed, Fixed, Side, Fixed)> {
        (
            fixed(1_000_000..10_000_000_000_000),
            fixed(-50_000_000_000..50_000_000_000),
            0.0..2.0_f64,
            any::<bool>(),
        )
            .prop_map(|(price, position, share, long)| {
                // The resulting position, in raw units, worth `share` of the cap at `price`.
                let cap = 20_000.0 * share / price.to_f64();
                let resulting = (cap * Fixed::SCALE as f64) as i64 * if long { 1 } else { -1 };
                let order = resulting - position.raw();
                let side = if order >= 0 { Side::Buy } else { Side::Sell };
                (price, position, side, Fixed::from_raw(order.abs()))
            })
    }

    /// The rule in exact integers, written apart from the gate: the resulting position's
    /// value, in raw units squared, against the cap's.
    fn within_cap(max: Fixed, side: Side, position: Fixed, qty: Fixed, price: Fixed) -> bool {
        let resulting =
            i128::from(position.raw()) + i128::from(side.sign()) * i128::from(qty.raw());
        let value = resulting.unsigned_abs() * u128::from(price.raw().unsigned_abs());
        value <= u128::from(max.raw().unsigned_abs()) * u128::from(Fixed::SCALE.unsigned_abs())
    }

    proptest! {
        #[test]
        fn max_position_gate_passes_up_to_the_cap_and_fails_beyond_it(
            (price, position, side, qty) in max_position_cases(),
        ) {
            let max = fx("20000");
            let verdict = check_max_position(max, side, position, qty, price);
            if within_cap(max, side, position, qty, price) {
                prop_assert_eq!(verdict, Ok(()));
            } else {
                let Err(GateReject::MaxPosition { value, max: reported }) = verdict else {
                    return Err(TestCaseError::fail(format!("{verdict:?} beyond the cap")));
                };
                prop_assert_eq!(reported, max);
                prop_assert!(value > max, "{value} reported for a position beyond {max}");
            }
        }
    }

    #[test]
    fn the_max_position_cases_pass_and_fail_in_about_equal_shares() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut passed, mut failed) = (0, 0);
        for _ in 0..1000 {
            let (price, position, side, qty) = proptest::strategy::ValueTree::current(
                &max_position_cases().new_tree(&mut runner).unwrap(),
            );
            match check_max_position(fx("20000"), side, position, qty, price) {
                Ok(()) => passed += 1,
                Err(_) => failed += 1,
            }
        }
        assert!(
            passed > 350 && failed > 350,
            "{passed} passed, {failed} failed"
        );
    }

    proptest! {
        #[test]
        fn max_position_gate_is_monotone_in_qty_and_price(
            (price, position, side, qty) in max_position_cases(),
            less in 0.0..1.0_f64,
            cheaper in 0.0..1.0_f64,
        ) {
            let max = fx("20000");
            let ok = |qty: Fixed, price: Fixed| check_max_position(max, side, position, qty, price).is_ok();
            // From a flat start, less quantity or a lower price never breaks an order that passes.
            let flat = Fixed::ZERO;
            if check_max_position(max, side, flat, qty, price).is_ok() {
                let smaller = Fixed::from_raw((qty.raw() as f64 * less) as i64);
                prop_assert!(check_max_position(max, side, flat, smaller, price).is_ok());
                let lower = Fixed::from_raw(((price.raw() as f64 * cheaper) as i64).max(1));
                prop_assert!(check_max_position(max, side, flat, qty, lower).is_ok());
            }
            // With a position, a lower price never breaks an order that passes.
            if ok(qty, price) {
                let lower = Fixed::from_raw(((price.raw() as f64 * cheaper) as i64).max(1));
                prop_assert!(ok(qty, lower));
            }
        }
    }
}

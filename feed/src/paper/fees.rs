//! What a fill costs at the paper venue.

use crate::fixed::Fixed;

/// A maker fee: a rate of the fill's notional, rounded down to 10^-8 at each product (a
/// negative rate is a rebate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MakerFee {
    /// The rate.
    pub rate: Fixed,
}

impl MakerFee {
    /// The fee of a fill of `qty` at `price`, USD (zero if the notional does not fit).
    pub fn of(&self, price: Fixed, qty: Fixed) -> Fixed {
        price
            .checked_mul_floor(qty)
            .and_then(|notional| notional.checked_mul_floor(self.rate))
            .unwrap_or(Fixed::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    #[test]
    fn the_fee_is_the_rate_of_the_notional_and_a_negative_rate_is_a_rebate() {
        let fee = MakerFee { rate: fx("0.0002") };
        assert_eq!(fee.of(fx("99.9"), fx("0.5")), fx("0.00999"));
        let rebate = MakerFee {
            rate: fx("-0.0001"),
        };
        assert_eq!(rebate.of(fx("100"), fx("2")), fx("-0.02"));
    }
}

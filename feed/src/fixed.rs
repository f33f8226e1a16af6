//! Exact decimal numbers for prices, sizes, balances and rates.
//!
//! Bybit sends every price and size as a decimal string. Turning those strings into `f64` loses
//! exactness (`0.1 + 0.2 != 0.3`) and makes lot arithmetic drop a whole lot now and then, so the
//! whole product works in [`Fixed`]: a signed count of `10^-8` units in an `i64`. Eight decimals
//! cover every tick size, quantity step and fee rate Bybit publishes for linear contracts, and the
//! `i64` range (±92 billion units) covers every price, size and balance the engine meets.
//!
//! Parsing reads the decimal digits directly, never through `f64`, and never allocates.

use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A decimal with exactly eight fractional digits, stored as an integer count of `10^-8`.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fixed(i64);

/// Why a decimal string is not a valid [`Fixed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseFixedError {
    /// The input holds no digits.
    #[error("empty number")]
    Empty,
    /// A byte that is neither a digit, a leading sign nor the one decimal point.
    #[error("invalid character at byte {0}")]
    InvalidCharacter(usize),
    /// More than eight significant fractional digits.
    #[error("more than 8 decimal places")]
    TooPrecise,
    /// The value does not fit in the `i64` range of `10^-8` units.
    #[error("number out of range")]
    Overflow,
}

impl Fixed {
    /// Number of fractional decimal digits.
    pub const DECIMALS: u32 = 8;
    /// Raw units per whole unit: `10^DECIMALS`.
    pub const SCALE: i64 = 100_000_000;
    /// Zero.
    pub const ZERO: Fixed = Fixed(0);
    /// One whole unit.
    pub const ONE: Fixed = Fixed(Self::SCALE);
    /// The largest representable value.
    pub const MAX: Fixed = Fixed(i64::MAX);

    /// Wraps a raw count of `10^-8` units.
    pub const fn from_raw(raw: i64) -> Fixed {
        Fixed(raw)
    }

    /// The raw count of `10^-8` units.
    pub const fn raw(self) -> i64 {
        self.0
    }

    /// A whole number of units, or `None` when it does not fit.
    pub const fn from_int(units: i64) -> Option<Fixed> {
        match units.checked_mul(Self::SCALE) {
            Some(raw) => Some(Fixed(raw)),
            None => None,
        }
    }

    /// The nearest `Fixed` to a finite `f64`, or `None` for NaN, infinities and values out of
    /// range.
    ///
    /// Only for numbers that arrive as floats by nature (YAML configuration values): any decimal
    /// with at most eight fractional digits and magnitude below 2^53 / 10^8 (about 90 million)
    /// converts exactly, because rounding recovers the digits the float approximates.
    pub fn from_f64(value: f64) -> Option<Fixed> {
        if !value.is_finite() {
            return None;
        }
        let scaled = (value * Self::SCALE as f64).round();
        // `i64::MAX as f64` rounds up to 2^63, which itself does not fit: compare strictly.
        if scaled >= i64::MAX as f64 || scaled < i64::MIN as f64 {
            return None;
        }
        Some(Fixed(scaled as i64))
    }

    /// The value as an `f64` (approximate; for display, statistics and model inputs only).
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / Self::SCALE as f64
    }

    /// True when the value is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// True when the value is strictly positive.
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// `self + rhs`, or `None` on overflow.
    pub const fn checked_add(self, rhs: Fixed) -> Option<Fixed> {
        match self.0.checked_add(rhs.0) {
            Some(raw) => Some(Fixed(raw)),
            None => None,
        }
    }

    /// `self - rhs`, or `None` on overflow.
    pub const fn checked_sub(self, rhs: Fixed) -> Option<Fixed> {
        match self.0.checked_sub(rhs.0) {
            Some(raw) => Some(Fixed(raw)),
            None => None,
        }
    }

    /// `self + rhs`, clamped at the `i64` range.
    pub const fn saturating_add(self, rhs: Fixed) -> Fixed {
        Fixed(self.0.saturating_add(rhs.0))
    }

    /// `self - rhs`, clamped at the `i64` range.
    pub const fn saturating_sub(self, rhs: Fixed) -> Fixed {
        Fixed(self.0.saturating_sub(rhs.0))
    }

    /// The absolute value (saturating at the top of the range).
    pub const fn abs(self) -> Fixed {
        Fixed(self.0.saturating_abs())
    }

    /// The exact product `self * rhs` in raw units squared (`10^-16`), as an `i128`.
    ///
    /// Two `Fixed` multiply without loss in `i128`; compare such products with each other
    /// (for example `a * b < c * d`) to decide ratios exactly.
    pub const fn wide_mul(self, rhs: Fixed) -> i128 {
        self.0 as i128 * rhs.0 as i128
    }

    /// `self * rhs` rounded toward negative infinity to eight decimals, or `None` on overflow.
    pub fn checked_mul_floor(self, rhs: Fixed) -> Option<Fixed> {
        let product = self.wide_mul(rhs).div_euclid(i128::from(Self::SCALE));
        i64::try_from(product).ok().map(Fixed)
    }

    /// Parses a plain decimal (`"60000.5"`, `"-0.001"`, `"5"`, `".5"`) without going through
    /// `f64`. Trailing zeros beyond the eighth decimal are accepted; other digits there are not.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Fixed, ParseFixedError> {
        // The largest whole part that fits: i64::MAX / 10^8.
        const MAX_WHOLE: u64 = 92_233_720_368;
        // 10^(8 - fraction digits), by the number of fraction digits.
        const FRACTION_SCALE: [u64; 9] = [
            100_000_000,
            10_000_000,
            1_000_000,
            100_000,
            10_000,
            1_000,
            100,
            10,
            1,
        ];
        let (negative, sign_len) = match bytes.first() {
            Some(b'-') => (true, 1),
            Some(b'+') => (false, 1),
            _ => (false, 0),
        };
        let digits = &bytes[sign_len..];
        let mut whole: u64 = 0;
        let mut index = 0;
        for &byte in digits {
            let digit = byte.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            whole = whole * 10 + u64::from(digit);
            if whole > MAX_WHOLE {
                return Err(ParseFixedError::Overflow);
            }
            index += 1;
        }
        let mut any_digit = index > 0;
        let mut fraction: u64 = 0;
        let mut fraction_digits = 0;
        if let Some((b'.', rest)) = digits[index..].split_first() {
            index += 1;
            for &byte in rest {
                let digit = byte.wrapping_sub(b'0');
                if digit > 9 {
                    return Err(ParseFixedError::InvalidCharacter(sign_len + index));
                }
                if fraction_digits < FRACTION_SCALE.len() - 1 {
                    fraction = fraction * 10 + u64::from(digit);
                    fraction_digits += 1;
                } else if digit != 0 {
                    return Err(ParseFixedError::TooPrecise);
                }
                any_digit = true;
                index += 1;
            }
        }
        if index < digits.len() {
            return Err(ParseFixedError::InvalidCharacter(sign_len + index));
        }
        if !any_digit {
            return Err(ParseFixedError::Empty);
        }
        let magnitude = whole * FRACTION_SCALE[0] + fraction * FRACTION_SCALE[fraction_digits];
        match (negative, i64::try_from(magnitude)) {
            (false, Ok(raw)) => Ok(Fixed(raw)),
            (true, Ok(raw)) => Ok(Fixed(-raw)),
            (true, Err(_)) if magnitude == i64::MIN.unsigned_abs() => Ok(Fixed(i64::MIN)),
            _ => Err(ParseFixedError::Overflow),
        }
    }

    /// Parses a plain decimal as [`Fixed::parse_bytes`] does, but rounds what lies beyond the
    /// eighth decimal to the nearest `10^-8` (a tie to the even neighbour) instead of refusing
    /// it: for amounts Bybit may write with more decimals than the engine keeps (fees, values,
    /// PnL, balances), where a rounding of 10^-8 does not matter and a refused push would.
    pub fn parse_bytes_rounded(bytes: &[u8]) -> Result<Fixed, ParseFixedError> {
        let negative = bytes.first() == Some(&b'-');
        let Some(point) = bytes.iter().position(|&byte| byte == b'.') else {
            return Fixed::parse_bytes(bytes);
        };
        let kept_end = (point + 1 + Self::DECIMALS as usize).min(bytes.len());
        let beyond = &bytes[kept_end..];
        if let Some(bad) = beyond.iter().position(|byte| !byte.is_ascii_digit()) {
            return Err(ParseFixedError::InvalidCharacter(kept_end + bad));
        }
        let kept = Fixed::parse_bytes(&bytes[..kept_end])?;
        // Round half to even on the magnitude, from the first dropped digit and whether any
        // later one is not zero.
        let up = match beyond.split_first() {
            Some((&first, rest)) => match first.cmp(&b'5') {
                std::cmp::Ordering::Less => false,
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Equal => {
                    rest.iter().any(|&digit| digit != b'0') || kept.0.unsigned_abs() % 2 == 1
                }
            },
            None => false,
        };
        if !up {
            return Ok(kept);
        }
        let step = if negative { -1 } else { 1 };
        kept.0
            .checked_add(step)
            .map(Fixed)
            .ok_or(ParseFixedError::Overflow)
    }

    /// Rounds down (toward negative infinity) to a whole multiple of `step`.
    ///
    /// Returns `self` unchanged when `step` is not positive.
    pub const fn floor_to(self, step: Fixed) -> Fixed {
        if step.0 <= 0 {
            return self;
        }
        Fixed(self.0.div_euclid(step.0) * step.0)
    }

    /// True when the value is a whole multiple of a positive `step`.
    pub const fn is_multiple_of(self, step: Fixed) -> bool {
        step.0 > 0 && self.0 % step.0 == 0
    }
}

impl FromStr for Fixed {
    type Err = ParseFixedError;

    fn from_str(text: &str) -> Result<Fixed, ParseFixedError> {
        Fixed::parse_bytes(text.as_bytes())
    }
}

impl Fixed {
    /// Writes the decimal text into `buf` and returns it, without allocating: the shortest exact
    /// form with `decimals: None` (`0.333`, `60000`), or exactly that many fractional digits
    /// (rounded toward zero when fewer than eight), as Bybit writes prices (`"60000.10"`).
    pub fn format_into(self, decimals: Option<u32>, buf: &mut [u8; 32]) -> &str {
        let magnitude = self.0.unsigned_abs();
        let scale = Self::SCALE.unsigned_abs();
        let (mut whole, fraction) = (magnitude / scale, magnitude % scale);
        let digits = match decimals {
            Some(decimals) => decimals.min(Self::DECIMALS),
            None => {
                let mut digits = Self::DECIMALS;
                let mut rest = fraction;
                while digits > 0 && rest % 10 == 0 {
                    rest /= 10;
                    digits -= 1;
                }
                digits
            }
        };
        let mut end = buf.len();
        let mut fraction = fraction / 10_u64.pow(Self::DECIMALS - digits);
        for _ in 0..digits {
            end -= 1;
            buf[end] = b'0' + (fraction % 10) as u8;
            fraction /= 10;
        }
        if digits > 0 {
            end -= 1;
            buf[end] = b'.';
        }
        loop {
            end -= 1;
            buf[end] = b'0' + (whole % 10) as u8;
            whole /= 10;
            if whole == 0 {
                break;
            }
        }
        if self.0 < 0 {
            end -= 1;
            buf[end] = b'-';
        }
        // Only ASCII digits, '.' and '-' were written.
        std::str::from_utf8(&buf[end..]).unwrap_or_default()
    }
}

impl fmt::Display for Fixed {
    /// The shortest exact decimal form: `0.333`, `60000`, `-1.5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0; 32];
        f.pad(self.format_into(None, &mut buf))
    }
}

impl fmt::Debug for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fixed({self})")
    }
}

impl Serialize for Fixed {
    /// Serialized as its exact decimal string, as Bybit writes numbers.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fixed {
    /// Accepts a decimal string (exact) or a number (integers exactly, floats rounded to eight
    /// decimals, see [`Fixed::from_f64`]).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fixed, D::Error> {
        struct FixedVisitor;

        impl Visitor<'_> for FixedVisitor {
            type Value = Fixed;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal number with at most 8 decimal places")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Fixed, E> {
                text.parse()
                    .map_err(|err| E::custom(format_args!("invalid decimal {text:?}: {err}")))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Fixed, E> {
                Fixed::from_int(value).ok_or_else(|| E::custom("number out of range"))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Fixed, E> {
                i64::try_from(value)
                    .ok()
                    .and_then(Fixed::from_int)
                    .ok_or_else(|| E::custom("number out of range"))
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Fixed, E> {
                Fixed::from_f64(value).ok_or_else(|| E::custom("number out of range"))
            }
        }

        deserializer.deserialize_any(FixedVisitor)
    }
}

/// The textual form [`Fixed::parse_bytes`] accepts (its JSON Schema pattern).
pub const DECIMAL_PATTERN: &str = "^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)$";

impl JsonSchema for Fixed {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Decimal".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An exact decimal with at most 8 decimal places, as a string (\"0.10\") or a number.",
            "type": ["string", "number"],
            "pattern": DECIMAL_PATTERN
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    #[test]
    fn parses_bybit_decimal_strings_exactly() {
        assert_eq!(fx("60000").raw(), 6_000_000_000_000);
        assert_eq!(fx("0.10").raw(), 10_000_000);
        assert_eq!(fx("0.001").raw(), 100_000);
        assert_eq!(fx("16493.50").raw(), 1_649_350_000_000);
        assert_eq!(fx("-0.00055").raw(), -55_000);
        assert_eq!(fx("+1").raw(), 100_000_000);
        assert_eq!(fx(".5").raw(), 50_000_000);
        assert_eq!(fx("7.").raw(), 700_000_000);
        assert_eq!(fx("0.000000010000").raw(), 1);
        assert_eq!(fx("0"), Fixed::ZERO);
    }

    #[test]
    fn amounts_beyond_eight_decimals_round_half_to_even() {
        let rounded = |text: &str| Fixed::parse_bytes_rounded(text.as_bytes()).map(Fixed::raw);
        // Bybit's own execution example carries a nine-decimal fee.
        assert_eq!(rounded("0.071409"), Ok(7_140_900));
        assert_eq!(rounded("0.000123456"), Ok(12_346));
        assert_eq!(rounded("0.000123454"), Ok(12_345));
        assert_eq!(rounded("0.0000000150"), Ok(2));
        assert_eq!(rounded("0.0000000250"), Ok(2));
        assert_eq!(rounded("0.00000002501"), Ok(3));
        assert_eq!(rounded("-0.000000015"), Ok(-2));
        assert_eq!(rounded("-0.000000004"), Ok(0));
        assert_eq!(rounded("-0.000000006"), Ok(-1));
        assert_eq!(rounded("12"), Ok(1_200_000_000));
        assert_eq!(
            rounded("0.0000000001x"),
            Err(ParseFixedError::InvalidCharacter(12))
        );
        assert_eq!(rounded("92233720368.547758074"), Ok(i64::MAX));
        assert_eq!(
            rounded("92233720368.547758079"),
            Err(ParseFixedError::Overflow)
        );
    }

    #[test]
    fn rejects_what_is_not_a_plain_decimal() {
        assert_eq!("".parse::<Fixed>(), Err(ParseFixedError::Empty));
        assert_eq!("-".parse::<Fixed>(), Err(ParseFixedError::Empty));
        assert_eq!(".".parse::<Fixed>(), Err(ParseFixedError::Empty));
        assert_eq!(
            "1.2.3".parse::<Fixed>(),
            Err(ParseFixedError::InvalidCharacter(3))
        );
        assert_eq!(
            "1e5".parse::<Fixed>(),
            Err(ParseFixedError::InvalidCharacter(1))
        );
        assert_eq!(
            "-x".parse::<Fixed>(),
            Err(ParseFixedError::InvalidCharacter(1))
        );
        assert_eq!(
            "0.000000001".parse::<Fixed>(),
            Err(ParseFixedError::TooPrecise)
        );
        assert_eq!(
            "92233720369".parse::<Fixed>(),
            Err(ParseFixedError::Overflow)
        );
        assert_eq!(
            "99999999999999999999999".parse::<Fixed>(),
            Err(ParseFixedError::Overflow)
        );
    }

    #[test]
    fn displays_the_shortest_exact_form() {
        assert_eq!(fx("0.333").to_string(), "0.333");
        assert_eq!(fx("60000.00").to_string(), "60000");
        assert_eq!(fx("-1.50").to_string(), "-1.5");
        assert_eq!(fx("0.00000001").to_string(), "0.00000001");
        assert_eq!(
            Fixed::from_raw(i64::MIN).to_string(),
            "-92233720368.54775808"
        );
        assert_eq!(format!("{:>8}", fx("1.5")), "     1.5");
    }

    #[test]
    fn formats_with_a_fixed_number_of_decimals() {
        let mut buf = [0; 32];
        assert_eq!(fx("60000.1").format_into(Some(2), &mut buf), "60000.10");
        assert_eq!(fx("0.5").format_into(Some(3), &mut buf), "0.500");
        assert_eq!(fx("7").format_into(Some(0), &mut buf), "7");
        assert_eq!(fx("-0.00055").format_into(Some(4), &mut buf), "-0.0005");
        assert_eq!(fx("-0.00055").format_into(None, &mut buf), "-0.00055");
        assert_eq!(Fixed::ZERO.format_into(None, &mut buf), "0");
    }

    #[test]
    fn floats_from_configuration_convert_exactly() {
        assert_eq!(Fixed::from_f64(0.003), Some(fx("0.003")));
        assert_eq!(Fixed::from_f64(20000.0), Some(fx("20000")));
        assert_eq!(Fixed::from_f64(1.5), Some(fx("1.5")));
        assert_eq!(Fixed::from_f64(0.1 + 0.2), Some(fx("0.3")));
        assert_eq!(Fixed::from_f64(f64::NAN), None);
        assert_eq!(Fixed::from_f64(1e12), None);
    }

    #[test]
    fn floor_to_step_keeps_whole_lots() {
        assert_eq!(fx("0.3339").floor_to(fx("0.001")), fx("0.333"));
        assert_eq!(fx("0.333").floor_to(fx("0.001")), fx("0.333"));
        assert_eq!(fx("-0.0005").floor_to(fx("0.001")), fx("-0.001"));
        assert!(fx("0.333").is_multiple_of(fx("0.001")));
        assert!(!fx("0.3335").is_multiple_of(fx("0.001")));
    }

    #[test]
    fn deserializes_strings_and_numbers() {
        let from_string: Fixed = serde_yaml_ng::from_str("\"0.10\"").unwrap();
        let from_float: Fixed = serde_yaml_ng::from_str("0.1").unwrap();
        let from_int: Fixed = serde_yaml_ng::from_str("5").unwrap();
        assert_eq!(from_string, fx("0.1"));
        assert_eq!(from_float, fx("0.1"));
        assert_eq!(from_int, fx("5"));
        let error = serde_yaml_ng::from_str::<Fixed>("\"abc\"").unwrap_err();
        assert!(
            error.to_string().contains("invalid decimal \"abc\""),
            "{error}"
        );
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(raw in any::<i64>()) {
            let value = Fixed::from_raw(raw);
            prop_assert_eq!(value.to_string().parse::<Fixed>(), Ok(value));
        }

        #[test]
        fn parses_any_plain_decimal_exactly(
            whole in 0_u64..92_233_720_368,
            fraction in 0_u64..100_000_000,
            digits in 0_u32..=8,
            trailing_zeros in 0_usize..4,
            negative in any::<bool>(),
        ) {
            let fraction = fraction % 10_u64.pow(digits);
            let mut text = format!("{}{whole}", if negative { "-" } else { "" });
            if digits > 0 || trailing_zeros > 0 {
                text.push('.');
                if digits > 0 {
                    text.push_str(&format!("{fraction:0width$}", width = digits as usize));
                }
                text.push_str(&"0".repeat(trailing_zeros));
            }
            let magnitude = (whole * 100_000_000 + fraction * 10_u64.pow(8 - digits)) as i64;
            let expected = if negative { -magnitude } else { magnitude };
            prop_assert_eq!(text.parse::<Fixed>(), Ok(Fixed::from_raw(expected)), "{}", text);
        }

        #[test]
        fn floor_to_is_the_largest_multiple_not_above(raw in any::<i32>(), step in 1_i64..10_000_000) {
            let value = Fixed::from_raw(i64::from(raw));
            let step = Fixed::from_raw(step);
            let floored = value.floor_to(step);
            prop_assert!(floored <= value);
            prop_assert!(floored.is_multiple_of(step));
            prop_assert!(floored.raw() + step.raw() > value.raw());
        }
    }
}

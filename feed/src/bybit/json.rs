//! What the private-stream, trade-stream and REST decoders share: a reusable simd-json tape and
//! the readers of Bybit's field forms (decimal strings, `""` for "not applicable", times as
//! strings or numbers).

use simd_json::prelude::{ValueAsScalar, ValueIntoString};
use simd_json::value::tape::Value;
use simd_json::{Buffers, Node, Tape};

use super::public::DecodeError;
use crate::fixed::Fixed;
use crate::frame::FrameBuf;

/// simd-json's buffers and tape, kept across frames so that parsing allocates nothing once they
/// have grown to the largest frame.
pub(crate) struct JsonScratch {
    buffers: Buffers,
    tape: Vec<Node<'static>>,
}

impl JsonScratch {
    /// Buffers for frames of up to `bytes` (they grow if a larger one comes).
    pub(crate) fn new(bytes: usize) -> JsonScratch {
        JsonScratch {
            buffers: Buffers::new(bytes),
            tape: Vec::with_capacity(bytes / 8),
        }
    }

    /// Parses the frame in `frame` in place and hands its root to `read`.
    pub(crate) fn parse<R>(
        &mut self,
        frame: &mut FrameBuf,
        read: impl FnOnce(Value<'_, '_>) -> Result<R, DecodeError>,
    ) -> Result<R, DecodeError> {
        let (bytes, len) = frame.padded_mut();
        let mut tape = Tape(std::mem::take(&mut self.tape)).reset();
        let result = match simd_json::fill_tape_padded(bytes, len, &mut self.buffers, &mut tape) {
            Ok(()) => read(tape.as_value()),
            Err(err) => Err(DecodeError::InvalidJson {
                offset: err.index(),
            }),
        };
        self.tape = tape.reset().0;
        result
    }
}

/// A string field.
pub(crate) fn text<'i>(value: Value<'_, 'i>, field: &'static str) -> Result<&'i str, DecodeError> {
    value.into_string().ok_or(DecodeError::BadField(field))
}

/// A decimal string field that must hold a number.
pub(crate) fn decimal(value: Value<'_, '_>, field: &'static str) -> Result<Fixed, DecodeError> {
    parse_decimal(text(value, field)?, field)
}

/// A decimal string field where `""` means not applicable.
pub(crate) fn opt_decimal(
    value: Value<'_, '_>,
    field: &'static str,
) -> Result<Option<Fixed>, DecodeError> {
    match text(value, field)? {
        "" => Ok(None),
        digits => parse_decimal(digits, field).map(Some),
    }
}

fn parse_decimal(digits: &str, field: &'static str) -> Result<Fixed, DecodeError> {
    Fixed::parse_bytes(digits.as_bytes()).map_err(|error| DecodeError::BadNumber { field, error })
}

/// An amount where `""` means not applicable, rounded to eight decimals when it has more
/// ([`Fixed::parse_bytes_rounded`]): fees, values, PnL and balances, which Bybit may write more
/// finely than the engine keeps them. Prices and sizes are read exactly ([`decimal`]).
pub(crate) fn opt_amount(
    value: Value<'_, '_>,
    field: &'static str,
) -> Result<Option<Fixed>, DecodeError> {
    match text(value, field)? {
        "" => Ok(None),
        digits => Fixed::parse_bytes_rounded(digits.as_bytes())
            .map(Some)
            .map_err(|error| DecodeError::BadNumber { field, error }),
    }
}

/// A cross sequence (`seq`): a number, or a string of one; `-1` ("never traded") reads as 0.
pub(crate) fn sequence(value: Value<'_, '_>, field: &'static str) -> Result<u64, DecodeError> {
    if let Some(number) = value.as_u64() {
        return Ok(number);
    }
    if value.as_i64() == Some(-1) {
        return Ok(0);
    }
    match value.into_string() {
        Some("-1" | "") => Ok(0),
        Some(digits) => digits.parse().map_err(|_| DecodeError::BadField(field)),
        None => Err(DecodeError::BadField(field)),
    }
}

/// A time in ms, sent as a string (REST, most private fields) or a number; `""` reads as 0.
pub(crate) fn millis(value: Value<'_, '_>, field: &'static str) -> Result<u64, DecodeError> {
    if let Some(number) = value.as_u64() {
        return Ok(number);
    }
    match text(value, field)? {
        "" => Ok(0),
        digits => digits.parse().map_err(|_| DecodeError::BadField(field)),
    }
}

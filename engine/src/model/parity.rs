//! Parity between the two backends: the same rows through ONNX Runtime and the native
//! evaluator, counting every probability that is not bit-identical. Both sum the same f32 leaf
//! values in the same order (ONNX Runtime's), so they agree to the bit or something is wrong.
//! On the cold path this samples live feature vectors; its mismatch count is
//! `onnx_parity_fail_total`.

use super::native::NativeModel;
use super::ort_backend::{OrtError, OrtScorer};

/// Compares ONNX Runtime with the native evaluator, row by row.
pub struct ParityChecker {
    native: NativeModel,
    ort: OrtScorer,
    compared: u64,
    mismatches: u64,
    max_difference: f32,
}

impl ParityChecker {
    /// A checker of the two backends of one model.
    pub fn new(native: NativeModel, ort: OrtScorer) -> ParityChecker {
        ParityChecker {
            native,
            ort,
            compared: 0,
            mismatches: 0,
            max_difference: 0.0,
        }
    }

    /// Scores `row` with both; false (and counted) when they are not bit-identical.
    pub fn check(&mut self, row: &[f32]) -> Result<bool, OrtError> {
        let (ort, native) = (self.ort.predict(row)?, self.native.predict(row));
        let difference = (ort - native).abs();
        self.compared += 1;
        let same = ort.to_bits() == native.to_bits();
        if !same {
            self.mismatches += 1;
        }
        if difference.is_nan() || difference > self.max_difference {
            self.max_difference = difference;
        }
        Ok(same)
    }

    /// Rows compared.
    pub const fn compared(&self) -> u64 {
        self.compared
    }

    /// Rows whose probabilities were not bit-identical.
    pub const fn mismatches(&self) -> u64 {
        self.mismatches
    }

    /// Largest absolute difference seen (NaN if a backend returned NaN).
    pub const fn max_difference(&self) -> f32 {
        self.max_difference
    }
}

//! Parity between the two backends: the same rows through ONNX Runtime and the native
//! evaluator, counting every probability that differs by more than a tolerance. On the cold
//! path this samples live feature vectors; its mismatch count is `onnx_parity_fail_total`.

use super::native::NativeModel;
use super::ort_backend::{OrtError, OrtScorer};

/// Default tolerance on probabilities.
pub const PARITY_TOLERANCE: f32 = 1e-6;

/// Compares ONNX Runtime with the native evaluator, row by row.
pub struct ParityChecker {
    native: NativeModel,
    ort: OrtScorer,
    tolerance: f32,
    compared: u64,
    mismatches: u64,
    max_difference: f32,
}

impl ParityChecker {
    /// A checker of the two backends of one model.
    pub fn new(native: NativeModel, ort: OrtScorer, tolerance: f32) -> ParityChecker {
        ParityChecker {
            native,
            ort,
            tolerance,
            compared: 0,
            mismatches: 0,
            max_difference: 0.0,
        }
    }

    /// Scores `row` with both; false (and counted) when they differ by more than the tolerance.
    pub fn check(&mut self, row: &[f32]) -> Result<bool, OrtError> {
        let (ort, native) = (self.ort.predict(row)?, self.native.predict(row));
        let difference = (ort - native).abs();
        self.compared += 1;
        // NaN from either side is a mismatch too.
        let same = difference <= self.tolerance;
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

    /// Rows whose probabilities differed by more than the tolerance.
    pub const fn mismatches(&self) -> u64 {
        self.mismatches
    }

    /// Largest absolute difference seen (NaN if a backend returned NaN).
    pub const fn max_difference(&self) -> f32 {
        self.max_difference
    }
}

//! Estimates with their uncertainty: the mean of a sample with a normal-approximation 95 %
//! interval, and the Wilson interval of a proportion. Shared by the training report and the
//! canary, so both state uncertainty alike.

use serde::{Deserialize, Serialize};

/// z of a two-sided 95 % interval.
pub(crate) const Z95: f64 = 1.959_963_984_540_054;

/// A mean and its 95 % interval, `mean ± z95 x sd / sqrt(n)` (sample standard deviation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct MeanInterval {
    /// Observations.
    pub(crate) n: u64,
    /// Their mean (0 when there are none).
    pub(crate) mean: f64,
    /// Lower and upper end of the interval (the mean itself below two observations).
    pub(crate) low: f64,
    pub(crate) high: f64,
}

impl MeanInterval {
    /// The mean of `values` and its interval.
    pub(crate) fn of(values: &[f64]) -> MeanInterval {
        let n = values.len();
        if n == 0 {
            return MeanInterval {
                n: 0,
                mean: 0.0,
                low: 0.0,
                high: 0.0,
            };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let half = if n < 2 {
            0.0
        } else {
            let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            Z95 * (variance / n as f64).sqrt()
        };
        MeanInterval {
            n: n as u64,
            mean,
            low: mean - half,
            high: mean + half,
        }
    }
}

/// The Wilson score interval (95 %) of `successes` out of `n`; `(0, 1)` when `n` is 0.
pub(crate) fn wilson(successes: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (n, p) = (n as f64, successes as f64 / n as f64);
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_interval_of_a_known_sample() {
        // Mean 2, sample variance 2.5, sd/sqrt(n) = sqrt(0.5).
        let interval = MeanInterval::of(&[0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!((interval.n, interval.mean), (5, 2.0));
        let half = Z95 * 0.5_f64.sqrt();
        assert!((interval.low - (2.0 - half)).abs() < 1e-12);
        assert!((interval.high - (2.0 + half)).abs() < 1e-12);
        assert_eq!(MeanInterval::of(&[]).n, 0);
        let one = MeanInterval::of(&[3.0]);
        assert_eq!((one.low, one.mean, one.high), (3.0, 3.0, 3.0));
    }

    #[test]
    fn wilson_intervals_match_published_values() {
        // 8 of 10: (0.4902, 0.9433), as tabulated by Newcombe (1998).
        let (low, high) = wilson(8, 10);
        assert!((low - 0.4902).abs() < 1e-4 && (high - 0.9433).abs() < 1e-4);
        assert_eq!(wilson(0, 0), (0.0, 1.0));
        let (low, _) = wilson(0, 20);
        assert_eq!(low, 0.0);
    }
}

//! Estimates with their uncertainty, in one place so the training report, the canary and the
//! release check state it alike:
//!
//! - [`MeanInterval`]: a mean with its normal-approximation 95 % interval (independent
//!   observations);
//! - [`wilson`]: the Wilson interval of a proportion;
//! - [`block_bootstrap`]: the 95 % percentile interval of a ratio of sums (PnL per trade,
//!   markout per fill) or of a sum (a paired difference) over time blocks resampled with
//!   replacement. Trades cluster within signal episodes, so they are not independent; whole
//!   blocks longer than an episode are, nearly, and resampling them keeps the dependence
//!   inside each block;
//! - [`break_even_winrate`]: the winrate at which a take-profit / stop round trip pays its fees;
//! - [`trades_for_power`]: how many trades a test needs to see a given edge;
//! - [`spearman`]: the rank correlation of two series (how well a score orders an outcome).
//!
//! The normal quantiles used are constants ([`Z95`], [`Z80`]): the intervals are 95 %
//! two-sided and the power 80 %, nothing else is asked for.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// z of a two-sided 95 % interval (the 97.5 % quantile of the standard normal).
pub(crate) const Z95: f64 = 1.959_963_984_540_054;
/// z of 80 % power (the 80 % quantile of the standard normal).
pub(crate) const Z80: f64 = 0.841_621_233_572_914_3;

/// Resamples a [`block_bootstrap`] draws.
pub(crate) const BOOTSTRAP_RESAMPLES: usize = 4000;

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

/// The `q` quantile (0 to 1) of `sorted` (ascending, no NaN), interpolated linearly between
/// the order statistics around rank `q x (n - 1)` (R's default, type 7); None when empty.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = q.clamp(0.0, 1.0) * last as f64;
    let below = rank.floor() as usize;
    let above = (below + 1).min(last);
    let weight = rank - below as f64;
    Some(sorted[below] + (sorted[above] - sorted[below]) * weight)
}

/// Spearman's rank correlation of `xs` and `ys` (pairs in order; ties share their mean rank):
/// the Pearson correlation of the ranks. None below two pairs, or when either series is
/// constant.
pub(crate) fn spearman(xs: &[f64], ys: &[f64]) -> Option<f64> {
    let n = xs.len().min(ys.len());
    if n < 2 {
        return None;
    }
    let (a, b) = (ranks(&xs[..n]), ranks(&ys[..n]));
    let mean = (n as f64 + 1.0) / 2.0;
    let (mut cov, mut var_a, mut var_b) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(&b) {
        cov += (x - mean) * (y - mean);
        var_a += (x - mean).powi(2);
        var_b += (y - mean).powi(2);
    }
    (var_a > 0.0 && var_b > 0.0).then(|| cov / (var_a * var_b).sqrt())
}

/// Ranks from 1, ties at their mean rank.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        for &index in &order[start..end] {
            ranks[index] = rank;
        }
        start = end;
    }
    ranks
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

/// The observations of one time block: their sum and how many there are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Block {
    pub(crate) sum: f64,
    pub(crate) count: u64,
}

/// What a [`block_bootstrap`] estimates from the blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Statistic {
    /// Sum of the sums over sum of the counts: a mean per observation.
    Ratio,
    /// Sum of the sums: a total.
    Total,
}

impl Statistic {
    fn of(self, sum: f64, count: u64) -> f64 {
        match self {
            Statistic::Ratio if count == 0 => 0.0,
            Statistic::Ratio => sum / count as f64,
            Statistic::Total => sum,
        }
    }
}

/// An estimate and its 95 % block-bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct BootstrapInterval {
    /// The statistic on the blocks as they are.
    pub(crate) estimate: f64,
    /// 2.5 % and 97.5 % percentiles of the resampled statistic (the estimate itself with
    /// fewer than two blocks).
    pub(crate) low: f64,
    pub(crate) high: f64,
    /// Blocks and observations behind it.
    pub(crate) blocks: u64,
    pub(crate) observations: u64,
}

/// `statistic` of `blocks` with its 95 % percentile interval over [`BOOTSTRAP_RESAMPLES`]
/// resamples of whole blocks with replacement, drawn from `seed`.
pub(crate) fn block_bootstrap(
    blocks: &[Block],
    statistic: Statistic,
    seed: u64,
) -> BootstrapInterval {
    let (sum, count) = totals(blocks.iter());
    let estimate = statistic.of(sum, count);
    let mut interval = BootstrapInterval {
        estimate,
        low: estimate,
        high: estimate,
        blocks: blocks.len() as u64,
        observations: count,
    };
    if blocks.len() < 2 {
        return interval;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // A ratio of a resample without observations is undefined: it is left out.
    let mut resampled: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .filter_map(|_| {
            let (sum, count) =
                totals((0..blocks.len()).map(|_| &blocks[rng.random_range(0..blocks.len())]));
            (statistic == Statistic::Total || count > 0).then(|| statistic.of(sum, count))
        })
        .collect();
    if resampled.is_empty() {
        return interval;
    }
    resampled.sort_by(f64::total_cmp);
    let at = |quantile: f64| resampled[((resampled.len() - 1) as f64 * quantile).round() as usize];
    interval.low = at(0.025);
    interval.high = at(0.975);
    interval
}

fn totals<'a>(blocks: impl Iterator<Item = &'a Block>) -> (f64, u64) {
    blocks.fold((0.0, 0), |(sum, count), block| {
        (sum + block.sum, count + block.count)
    })
}

/// The winrate at which a round trip breaks even: it wins `take_profit - fees` and loses
/// `stop + fees` (all as fractions of the entry price, `fees` the round trip's), so
/// `p (t - f) = (1 - p)(s + f)` gives `p = (s + f) / (t + s)`.
pub(crate) fn break_even_winrate(take_profit: f64, stop: f64, fees: f64) -> f64 {
    ((stop + fees) / (take_profit + stop)).clamp(0.0, 1.0)
}

/// Trades a one-sided test at 2.5 % needs to detect a mean edge of `edge` with 80 % power,
/// when one trade varies by `sd` and clustering inflates the variance of the mean by
/// `design_effect` (bootstrap variance over the independent one, at least 1):
/// `((z95 + z80) sd / edge)^2 x design_effect`, rounded up.
pub(crate) fn trades_for_power(sd: f64, edge: f64, design_effect: f64) -> u64 {
    if edge.is_nan() || edge <= 0.0 || !sd.is_finite() {
        return u64::MAX;
    }
    (((Z95 + Z80) * sd / edge).powi(2) * design_effect.max(1.0)).ceil() as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn quantiles_interpolate_between_order_statistics() {
        let sorted = [1.0, 2.0, 4.0, 8.0, 16.0];
        let at = |q| quantile(&sorted, q).unwrap();
        assert_eq!((at(0.0), at(0.25), at(0.5), at(1.0)), (1.0, 2.0, 4.0, 16.0));
        // Rank 0.125 x 4 = 0.5: half way from 1 to 2; rank 3.5: from 8 to 16.
        assert_eq!((at(0.125), at(0.875)), (1.5, 12.0));
        assert_eq!(quantile(&[3.0], 0.95), Some(3.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    use super::*;
    use rand_distr::{Distribution, Normal};

    /// An AR(1) series: `x_t = mean + rho (x_{t-1} - mean) + e_t`, `e_t` standard normal.
    fn ar1(n: usize, mean: f64, rho: f64, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let noise = Normal::new(0.0, 1.0).unwrap();
        let mut x = mean;
        (0..n)
            .map(|_| {
                x = mean + rho * (x - mean) + noise.sample(&mut rng);
                x
            })
            .collect()
    }

    fn blocks_of(values: &[f64], length: usize) -> Vec<Block> {
        values
            .chunks(length)
            .map(|chunk| Block {
                sum: chunk.iter().sum(),
                count: chunk.len() as u64,
            })
            .collect()
    }

    #[test]
    fn the_block_bootstrap_recovers_the_uncertainty_of_an_autocorrelated_mean() {
        // Mean 0.5, rho 0.8: the mean of n values has a standard error of
        // sqrt(1 / (1 - rho)^2 / n) = 5 / sqrt(n), three times the sd / sqrt(n) an
        // independent sample of the same spread would suggest.
        let (n, mean, rho) = (40_000, 0.5, 0.8);
        let values = ar1(n, mean, rho, 11);
        let true_se = (1.0 / (1.0 - rho) / (1.0 - rho) / n as f64).sqrt();
        let interval = block_bootstrap(&blocks_of(&values, 400), Statistic::Ratio, 5);
        let se = (interval.high - interval.low) / (2.0 * Z95);
        // Within 20 % of the true standard error, and the mean within three of it.
        assert!((se / true_se - 1.0).abs() < 0.2, "{se} vs {true_se}");
        assert!(
            (interval.estimate - mean).abs() < 3.0 * true_se,
            "{interval:?}"
        );
        assert!(interval.low < mean && mean < interval.high, "{interval:?}");
        assert_eq!((interval.blocks, interval.observations), (100, 40_000));
        // The interval that assumes independence is far too narrow.
        let naive = MeanInterval::of(&values);
        assert!(
            (naive.high - naive.low) / (2.0 * Z95) < 0.5 * true_se,
            "{naive:?}"
        );
        // Seeded: the same interval again.
        assert_eq!(
            block_bootstrap(&blocks_of(&values, 400), Statistic::Ratio, 5),
            interval
        );
    }

    #[test]
    fn a_total_and_its_interval_cover_a_known_sum() {
        // 60 blocks of 10 draws of mean 1 and sd 1: the total is 600 with sd sqrt(600).
        let values = ar1(600, 1.0, 0.0, 3);
        let interval = block_bootstrap(&blocks_of(&values, 10), Statistic::Total, 9);
        let sd = 600_f64.sqrt();
        assert!((interval.estimate - 600.0).abs() < 3.0 * sd, "{interval:?}");
        let se = (interval.high - interval.low) / (2.0 * Z95);
        assert!((se / sd - 1.0).abs() < 0.2, "{se} vs {sd}");
        // One block or none: nothing to resample.
        let one = block_bootstrap(&[Block { sum: 4.0, count: 2 }], Statistic::Ratio, 1);
        assert_eq!((one.estimate, one.low, one.high), (2.0, 2.0, 2.0));
        assert_eq!(block_bootstrap(&[], Statistic::Ratio, 1).estimate, 0.0);
    }

    #[test]
    fn break_even_and_power_follow_their_formulas() {
        // A 10 bps take-profit, a 30 bps stop, 4 bps of fees: 34 / 40.
        assert!((break_even_winrate(0.001, 0.003, 0.0004) - 0.85).abs() < 1e-12);
        assert_eq!(break_even_winrate(0.001, 0.001, 0.0), 0.5);
        // sd 20, edge 4: (2.8016 x 5)^2 = 196.2, then x 1.5 for clustering.
        assert_eq!(trades_for_power(20.0, 4.0, 1.0), 197);
        assert_eq!(trades_for_power(20.0, 4.0, 1.5), 295);
        assert_eq!(trades_for_power(20.0, 4.0, 0.5), 197);
        assert_eq!(trades_for_power(20.0, 0.0, 1.0), u64::MAX);
    }

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

    #[test]
    fn spearman_recovers_the_rank_correlation_of_a_known_bivariate_normal() {
        // For a bivariate normal with correlation rho, Spearman's is (6 / pi) asin(rho / 2):
        // 0.4829 at rho 0.5. 20 000 seeded pairs recover it within 0.02 (its standard error
        // is about 0.006).
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let noise = Normal::new(0.0, 1.0).unwrap();
        let rho: f64 = 0.5;
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for _ in 0..20_000 {
            let (a, b) = (noise.sample(&mut rng), noise.sample(&mut rng));
            xs.push(a);
            ys.push(rho * a + (1.0 - rho * rho).sqrt() * b);
        }
        let expected = 6.0 / std::f64::consts::PI * (rho / 2.0).asin();
        let measured = spearman(&xs, &ys).unwrap();
        assert!(
            (measured - expected).abs() < 0.02,
            "{measured} vs {expected}"
        );
        assert_eq!(format!("{measured:.4}"), "0.4748");
        // Any increasing transform leaves it at 1; reversing the order makes it -1.
        let cubed: Vec<f64> = xs.iter().map(|x| x.powi(3)).collect();
        assert!((spearman(&xs, &cubed).unwrap() - 1.0).abs() < 1e-12);
        let negated: Vec<f64> = xs.iter().map(|x| -x).collect();
        assert!((spearman(&xs, &negated).unwrap() + 1.0).abs() < 1e-12);
        // Ties share their mean rank: ranks of [1, 2, 2, 3] are 1, 2.5, 2.5, 4.
        assert_eq!(ranks(&[1.0, 2.0, 2.0, 3.0]), [1.0, 2.5, 2.5, 4.0]);
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(spearman(&[1.0], &[1.0]), None);
    }
}

//! What a threshold would have earned: the labels carry each candidate's net return after
//! fees (`net_return_bps`, absent when the entry never filled), so a threshold is judged by the
//! money the candidates it approves made, not by how often their label is 1.
//!
//! - **Expectancy**: the mean net return per approved candidate, an unfilled one counting 0.
//! - **tau_entry** is the threshold that would most surely have earned: the largest lower 95 %
//!   bound of the sum of net returns over the candidates it approves, `n x mean - z95 x sd x
//!   sqrt(n)` (an unfilled entry counts 0), among the thresholds that approve at least
//!   `training.min_approved`. The plain largest sum favours a threshold that a few lucky
//!   candidates carried; the bound pays for the spread of what it approves. It is chosen on the
//!   threshold fold and judged on the report fold, which chose nothing. When what it approves
//!   there does not earn, no threshold pays, and the model says so ([`Economics::pays`]).
//! - **tau_hold** is 0: the labels measure a round trip held to its take-profit, its stop or
//!   `labeling.hold_horizon`, and nothing in them measures what an exit on a falling score would
//!   earn or lose. A hold threshold above 0 trades a strategy the validation never saw (a
//!   canary of the same model exiting below the lowest break-even threshold closed nine trades
//!   in ten at a loss), so the engine holds as the labels did.

use serde::{Deserialize, Serialize};

use crate::estimate::MeanInterval;

/// One candidate as the threshold rules see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Outcome {
    /// The model's score.
    pub(crate) score: f64,
    /// Net return of the round trip after fees, bps; None when the entry never filled.
    pub(crate) net_bps: Option<f64>,
    /// The same in USD.
    pub(crate) net_usd: Option<f64>,
}

/// The money made by the candidates `score >= threshold` approves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Economics {
    /// The threshold.
    pub(crate) threshold: f64,
    /// Candidates approved, and of those, entries that filled (trades).
    pub(crate) approved: u64,
    pub(crate) filled: u64,
    /// Mean net return per approved candidate, bps (unfilled ones count 0).
    pub(crate) expectancy_bps: f64,
    /// Net return per trade (filled entries), bps and USD, with 95 % intervals.
    pub(crate) per_trade_bps: MeanInterval,
    pub(crate) per_trade_usd: MeanInterval,
    /// Net PnL of all the trades, USD.
    pub(crate) total_usd: f64,
}

impl Economics {
    /// Whether the approved candidates made money after fees.
    pub(crate) fn pays(&self) -> bool {
        self.filled > 0 && self.expectancy_bps > 0.0
    }
}

/// The economics of `score >= threshold`.
pub(crate) fn at(outcomes: &[Outcome], threshold: f64) -> Economics {
    let approved: Vec<&Outcome> = outcomes.iter().filter(|o| o.score >= threshold).collect();
    let bps: Vec<f64> = approved.iter().filter_map(|o| o.net_bps).collect();
    let usd: Vec<f64> = approved.iter().filter_map(|o| o.net_usd).collect();
    Economics {
        threshold,
        approved: approved.len() as u64,
        filled: bps.len() as u64,
        expectancy_bps: if approved.is_empty() {
            0.0
        } else {
            bps.iter().sum::<f64>() / approved.len() as f64
        },
        per_trade_bps: MeanInterval::of(&bps),
        per_trade_usd: MeanInterval::of(&usd),
        total_usd: usd.iter().sum(),
    }
}

/// Every distinct score, highest first, with the approvals, the summed net return (bps) and
/// the summed squares of `score >= it`.
fn cumulative(outcomes: &[Outcome]) -> Vec<(f64, u64, f64, f64)> {
    let mut sorted: Vec<&Outcome> = outcomes.iter().collect();
    sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
    let (mut approved, mut sum, mut squares, mut index) = (0_u64, 0.0, 0.0, 0);
    let mut steps = Vec::new();
    while index < sorted.len() {
        let score = sorted[index].score;
        while index < sorted.len() && sorted[index].score == score {
            let net = sorted[index].net_bps.unwrap_or(0.0);
            approved += 1;
            sum += net;
            squares += net * net;
            index += 1;
        }
        steps.push((score, approved, sum, squares));
    }
    steps
}

/// The lower 95 % bound of a sum of `n` values with sum `sum` and summed squares `squares`:
/// `sum - z95 x sd x sqrt(n)` (the sample standard deviation; the sum itself below two).
fn sum_lower_bound(n: u64, sum: f64, squares: f64) -> f64 {
    if n < 2 {
        return sum;
    }
    let n = n as f64;
    let variance = ((squares - sum * sum / n) / (n - 1.0)).max(0.0);
    sum - crate::estimate::Z95 * variance.sqrt() * n.sqrt()
}

/// The threshold whose approvals' summed net return has the highest lower bound, among those
/// approving at least `min_approved` (the highest such threshold on a tie), and how many
/// thresholds were tried; None when none approves that many.
pub(crate) fn most_surely_paying_threshold(
    outcomes: &[Outcome],
    min_approved: u64,
) -> Option<(f64, u64)> {
    let candidates: Vec<(f64, f64)> = cumulative(outcomes)
        .into_iter()
        .filter(|&(_, approved, _, _)| approved >= min_approved)
        .map(|(score, approved, sum, squares)| (score, sum_lower_bound(approved, sum, squares)))
        .collect();
    let tried = candidates.len() as u64;
    candidates
        .into_iter()
        .fold(
            None,
            |best: Option<(f64, f64)>, (score, bound)| match best {
                Some((_, best_bound)) if best_bound >= bound => best,
                _ => Some((score, bound)),
            },
        )
        .map(|(score, _)| (score, tried))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores 0.9 .. 0.4 with net returns +8, unfilled, +6, -10, +1, -20 bps (USD = bps / 10).
    fn outcomes() -> Vec<Outcome> {
        [
            (0.9, Some(8.0)),
            (0.8, None),
            (0.7, Some(6.0)),
            (0.6, Some(-10.0)),
            (0.5, Some(1.0)),
            (0.4, Some(-20.0)),
        ]
        .into_iter()
        .map(|(score, net_bps)| Outcome {
            score,
            net_bps,
            net_usd: net_bps.map(|bps| bps / 10.0),
        })
        .collect()
    }

    #[test]
    fn tau_entry_has_the_highest_lower_bound_among_thresholds_with_enough_approvals() {
        // From the top: sums 8, 8, 14, 4, 5, -15 over 1..6 candidates (unfilled as 0).
        let bound = |values: &[f64]| {
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
            n * mean - crate::estimate::Z95 * sd * n.sqrt()
        };
        let bounds = [
            8.0,
            bound(&[8.0, 0.0]),
            bound(&[8.0, 0.0, 6.0]),
            bound(&[8.0, 0.0, 6.0, -10.0]),
            bound(&[8.0, 0.0, 6.0, -10.0, 1.0]),
            bound(&[8.0, 0.0, 6.0, -10.0, 1.0, -20.0]),
        ];
        // The single +8 has nothing to say about its spread: its bound is the sum, 8; the
        // three at 0.7 sum to 14 but spread (bound 14 - 1.96 x 4.16 x 1.73 = -0.12).
        assert_eq!(most_surely_paying_threshold(&outcomes(), 1), Some((0.9, 6)));
        assert!(bounds[2] < bounds[0], "{bounds:?}");
        // At least two approvals: the best bound among 0.8 .. 0.4.
        let best = (1..6)
            .max_by(|&a, &b| bounds[a].total_cmp(&bounds[b]))
            .unwrap();
        let scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
        assert_eq!(
            most_surely_paying_threshold(&outcomes(), 2),
            Some((scores[best], 5))
        );
        assert_eq!(most_surely_paying_threshold(&outcomes(), 7), None);
    }

    #[test]
    fn the_lower_bound_of_a_sum_pays_for_its_spread() {
        // 4 values 1, 3, 5, 7: sum 16, sd sqrt(20/3), bound 16 - 1.96 x 2.582 x 2.
        let bound = sum_lower_bound(4, 16.0, 1.0 + 9.0 + 25.0 + 49.0);
        let expected = 16.0 - crate::estimate::Z95 * (20.0_f64 / 3.0).sqrt() * 2.0;
        assert!((bound - expected).abs() < 1e-12, "{bound} vs {expected}");
        assert_eq!(sum_lower_bound(1, 5.0, 25.0), 5.0);
    }

    #[test]
    fn economics_count_an_unfilled_candidate_as_zero_and_leave_it_out_of_trades() {
        let economics = at(&outcomes(), 0.7);
        assert_eq!((economics.approved, economics.filled), (3, 2));
        assert_eq!(economics.expectancy_bps, 14.0 / 3.0);
        assert_eq!(economics.per_trade_bps.mean, 7.0);
        assert_eq!(economics.per_trade_usd.mean, 0.7);
        assert!((economics.total_usd - 1.4).abs() < 1e-12);
        assert!(economics.pays());
        assert!(!at(&outcomes(), 0.4).pays());
    }
}

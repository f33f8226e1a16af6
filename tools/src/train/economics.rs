//! What a threshold would have earned: the labels carry each candidate's net return after
//! fees (`net_return_bps`, absent when the entry never filled), so a threshold is judged by the
//! money the candidates it approves made, not by how often their label is 1.
//!
//! - **Expectancy**: the mean net return per approved candidate, an unfilled one counting 0.
//! - **tau_entry** is the threshold that would have earned the most: the largest sum of net
//!   returns over the candidates it approves (expectancy x approvals), among the thresholds
//!   that approve at least `training.min_approved`. When even that sum is not positive, no
//!   threshold pays, and the model says so ([`Economics::pays`]).
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

/// Every distinct score, highest first, with the approvals and the summed net return (bps) of
/// `score >= it`.
fn cumulative(outcomes: &[Outcome]) -> Vec<(f64, u64, f64)> {
    let mut sorted: Vec<&Outcome> = outcomes.iter().collect();
    sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
    let (mut approved, mut sum, mut index) = (0_u64, 0.0, 0);
    let mut steps = Vec::new();
    while index < sorted.len() {
        let score = sorted[index].score;
        while index < sorted.len() && sorted[index].score == score {
            approved += 1;
            sum += sorted[index].net_bps.unwrap_or(0.0);
            index += 1;
        }
        steps.push((score, approved, sum));
    }
    steps
}

/// The threshold whose approvals earned the largest net sum, among those approving at least
/// `min_approved` (the highest such threshold on a tie); None when none approves that many.
pub(crate) fn most_paying_threshold(outcomes: &[Outcome], min_approved: u64) -> Option<f64> {
    cumulative(outcomes)
        .into_iter()
        .filter(|&(_, approved, _)| approved >= min_approved)
        .fold(
            None,
            |best: Option<(f64, f64)>, (score, _, sum)| match best {
                Some((_, best_sum)) if best_sum >= sum => best,
                _ => Some((score, sum)),
            },
        )
        .map(|(score, _)| score)
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
    fn tau_entry_earns_the_most_among_thresholds_with_enough_approvals() {
        // Sums from the top: 8, 8, 14, 4, 5, -15.
        assert_eq!(most_paying_threshold(&outcomes(), 1), Some(0.7));
        assert_eq!(most_paying_threshold(&outcomes(), 4), Some(0.5));
        assert_eq!(most_paying_threshold(&outcomes(), 7), None);
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

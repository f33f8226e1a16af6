//! What a threshold would have earned: the labels carry each candidate's net return after
//! fees (`net_return_bps`, absent when the entry never filled) and how long its round trip
//! took, so a threshold is judged by the money the engine would have made with it, not by how
//! often its candidates' label is 1.
//!
//! - **One position at a time.** The engine works one entry or holds one position per symbol:
//!   a candidate approved while an earlier one is still working or held is skipped. So a
//!   threshold is judged on the candidates it would have **taken**: in time order, each one it
//!   approves that arrives once the last one taken is flat again (its `time_to_fill_ms +
//!   time_to_flat_ms` after it, or `labeling.fill_horizon` when its entry never filled). Summed
//!   over every candidate as if each traded alone, a low threshold looks best, since it adds
//!   marginal candidates that are paid for live by the better ones they crowd out: a model
//!   whose threshold fold said +8 USD a trade that way earned +0.3 USD a trade in its canary,
//!   and +6.8 at a threshold judged as here.
//! - **Expectancy**: the mean net return per candidate taken, an unfilled one counting 0.
//! - **tau_entry** is the threshold that would most surely have earned: the largest lower 95 %
//!   bound of the sum of net returns over the candidates it takes, `n x mean - z95 x sd x
//!   sqrt(n)` (an unfilled entry counts 0), among the thresholds that take at least
//!   `training.min_approved`. The plain largest sum favours a threshold that a few lucky
//!   candidates carried; the bound pays for the spread of what it takes. It is chosen on the
//!   threshold fold and judged on the report fold, which chose nothing. When what it takes
//!   there does not earn, no threshold pays, and the model says so ([`Economics::pays`]).
//! - **One threshold for every regime**, unless the data say otherwise: each regime's own
//!   threshold is chosen the same way on its part of the threshold fold (a regime with too few
//!   candidates keeps the common one), and both are judged on the report fold by the lower
//!   bound of the summed net return of what they take ([`RegimeThresholds`]). The regime is
//!   the day's, known exactly: the most an online classifier could give. When regime-specific
//!   thresholds do not beat the common one there, no classifier would make them pay.
//! - **tau_hold** is 0: the labels measure a round trip held to its take-profit, its stop or
//!   `labeling.hold_horizon`, and nothing in them measures what an exit on a falling score would
//!   earn or lose. A hold threshold above 0 trades a strategy the validation never saw (a
//!   canary of the same model exiting below the lowest break-even threshold closed nine trades
//!   in ten at a loss), so the engine holds as the labels did.

use std::collections::BTreeMap;

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
    /// When it came, ms, and which symbol's engine it would occupy (an index).
    pub(crate) ts_ms: i64,
    pub(crate) symbol: usize,
    /// Its regime (an index).
    pub(crate) regime: usize,
    /// How long it would occupy it, ms: until flat, or until its unfilled entry stopped working.
    pub(crate) busy_ms: i64,
}

/// The money made by the candidates `score >= threshold` approves and the engine takes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Economics {
    /// The threshold.
    pub(crate) threshold: f64,
    /// Candidates approved, those taken (the engine was free), and of those, entries that
    /// filled (trades).
    pub(crate) approved: u64,
    #[serde(default)]
    pub(crate) taken: u64,
    pub(crate) filled: u64,
    /// Mean net return per candidate taken, bps (unfilled ones count 0).
    pub(crate) expectancy_bps: f64,
    /// Net return per trade (filled entries), bps and USD, with 95 % intervals.
    pub(crate) per_trade_bps: MeanInterval,
    pub(crate) per_trade_usd: MeanInterval,
    /// Net PnL of all the trades, USD.
    pub(crate) total_usd: f64,
}

impl Economics {
    /// Whether the candidates taken made money after fees.
    pub(crate) fn pays(&self) -> bool {
        self.filled > 0 && self.expectancy_bps > 0.0
    }
}

/// The candidates of `outcomes` (in time order) that `score >= threshold` approves and a
/// one-position engine per symbol takes.
fn taken(outcomes: &[Outcome], threshold: f64) -> impl Iterator<Item = &Outcome> {
    taken_by(outcomes, move |outcome| outcome.score >= threshold).map(|(_, outcome)| outcome)
}

/// The candidates of `outcomes` (in time order), with their index, that `approve` approves
/// and a one-position engine per symbol takes.
fn taken_by(
    outcomes: &[Outcome],
    approve: impl Fn(&Outcome) -> bool,
) -> impl Iterator<Item = (usize, &Outcome)> {
    let mut free_from_ms: Vec<i64> = Vec::new();
    outcomes.iter().enumerate().filter(move |(_, outcome)| {
        if !approve(outcome) {
            return false;
        }
        if free_from_ms.len() <= outcome.symbol {
            free_from_ms.resize(outcome.symbol + 1, i64::MIN);
        }
        let free_from = &mut free_from_ms[outcome.symbol];
        if outcome.ts_ms < *free_from {
            return false;
        }
        *free_from = outcome.ts_ms.saturating_add(outcome.busy_ms);
        true
    })
}

/// The economics of `score >= threshold` over `outcomes` in time order.
pub(crate) fn at(outcomes: &[Outcome], threshold: f64) -> Economics {
    let approved = outcomes.iter().filter(|o| o.score >= threshold).count();
    let taken: Vec<&Outcome> = taken(outcomes, threshold).collect();
    let bps: Vec<f64> = taken.iter().filter_map(|o| o.net_bps).collect();
    let usd: Vec<f64> = taken.iter().filter_map(|o| o.net_usd).collect();
    Economics {
        threshold,
        approved: approved as u64,
        taken: taken.len() as u64,
        filled: bps.len() as u64,
        expectancy_bps: if taken.is_empty() {
            0.0
        } else {
            bps.iter().sum::<f64>() / taken.len() as f64
        },
        per_trade_bps: MeanInterval::of(&bps),
        per_trade_usd: MeanInterval::of(&usd),
        total_usd: usd.iter().sum(),
    }
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

/// The summed net return of a set of candidates taken, and its lower 95 % bound.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct TakenSum {
    /// Candidates taken.
    pub(crate) taken: u64,
    /// Their summed net return, bps (an unfilled one counts 0), and its lower 95 % bound.
    pub(crate) sum_bps: f64,
    pub(crate) lower_bound_bps: f64,
}

impl TakenSum {
    fn of<'a>(taken: impl Iterator<Item = &'a Outcome>) -> TakenSum {
        let values: Vec<f64> = taken
            .map(|outcome| outcome.net_bps.unwrap_or(0.0))
            .collect();
        TakenSum::of_values(&values)
    }

    fn of_values(values: &[f64]) -> TakenSum {
        let (mut n, mut sum, mut squares) = (0_u64, 0.0, 0.0);
        for &net in values {
            n += 1;
            sum += net;
            squares += net * net;
        }
        TakenSum {
            taken: n,
            sum_bps: sum,
            lower_bound_bps: sum_lower_bound(n, sum, squares),
        }
    }
}

/// Regime-specific thresholds against the one threshold, on the report fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RegimeThresholds {
    /// Each regime's threshold, chosen on its own threshold-fold candidates as tau_entry is
    /// on all of them; the common one where a regime has too few.
    pub(crate) tau_by_regime: BTreeMap<String, f64>,
    /// The report fold's candidates taken at the common threshold, and at their regime's.
    pub(crate) common: TakenSum,
    pub(crate) by_regime: TakenSum,
    /// What regime thresholds earn more, candidate by candidate over those either rule takes
    /// (one taken by both differs by 0): `taken` counts them, and the lower bound says whether
    /// the difference is more than the luck of which candidates each took.
    pub(crate) difference: TakenSum,
}

impl RegimeThresholds {
    /// Chooses each regime's threshold on `choosing` (the threshold fold) with at least
    /// `min_taken` taken, and judges both rules on `report`; `regimes` names the outcomes'
    /// regime indices.
    pub(crate) fn measure(
        choosing: &[Outcome],
        report: &[Outcome],
        regimes: &[String],
        tau_entry: f64,
        min_taken: u64,
    ) -> RegimeThresholds {
        let thresholds: Vec<f64> = (0..regimes.len())
            .map(|regime| {
                let own: Vec<Outcome> = choosing
                    .iter()
                    .filter(|outcome| outcome.regime == regime)
                    .copied()
                    .collect();
                most_surely_paying_threshold(&own, min_taken)
                    .map_or(tau_entry, |(threshold, _)| threshold)
            })
            .collect();
        let own_threshold =
            |outcome: &Outcome| thresholds.get(outcome.regime).copied().unwrap_or(tau_entry);
        let indices = |approve: &dyn Fn(&Outcome) -> bool| -> Vec<usize> {
            taken_by(report, approve).map(|(index, _)| index).collect()
        };
        let common = indices(&|outcome| outcome.score >= tau_entry);
        let by_regime = indices(&|outcome| outcome.score >= own_threshold(outcome));
        let mut either: Vec<usize> = common.iter().chain(&by_regime).copied().collect();
        either.sort_unstable();
        either.dedup();
        let differences: Vec<f64> = either
            .iter()
            .map(|&index| {
                let taken = |set: &[usize]| f64::from(u8::from(set.binary_search(&index).is_ok()));
                (taken(&by_regime) - taken(&common)) * report[index].net_bps.unwrap_or(0.0)
            })
            .collect();
        RegimeThresholds {
            tau_by_regime: regimes
                .iter()
                .cloned()
                .zip(thresholds.iter().copied())
                .collect(),
            common: TakenSum::of(common.iter().map(|&index| &report[index])),
            by_regime: TakenSum::of(by_regime.iter().map(|&index| &report[index])),
            difference: TakenSum::of_values(&differences),
        }
    }

    /// Whether regime-specific thresholds earned more on the report fold, by a lower bound.
    pub(crate) fn pay_better(&self) -> bool {
        self.difference.lower_bound_bps > 0.0
    }

    /// The finding in one sentence.
    pub(crate) fn verdict(&self) -> String {
        let thresholds: Vec<String> = self
            .tau_by_regime
            .iter()
            .map(|(regime, tau)| format!("{regime} {tau:.4}"))
            .collect();
        let sum = |sum: &TakenSum| {
            format!(
                "{} taken, {:+.1} bps summed (lower bound {:+.1})",
                sum.taken, sum.sum_bps, sum.lower_bound_bps
            )
        };
        format!(
            "regime thresholds ({}) on the report fold: {} against {} at tau_entry, a \
             difference of {:+.1} bps (lower bound {:+.1}) over the {} either took: {}",
            thresholds.join(", "),
            sum(&self.by_regime),
            sum(&self.common),
            self.difference.sum_bps,
            self.difference.lower_bound_bps,
            self.difference.taken,
            if self.pay_better() {
                "they earn more by a lower bound, and the engine uses one threshold (it \
                 classifies no regime online)"
            } else {
                "no surer than one threshold, which serves every regime"
            }
        )
    }
}

/// The threshold whose taken candidates' summed net return has the highest lower bound, among
/// those taking at least `min_taken` (the highest such threshold on a tie), and how many
/// thresholds were tried; None when none takes that many. `outcomes` are in time order; every
/// distinct score is a threshold.
pub(crate) fn most_surely_paying_threshold(
    outcomes: &[Outcome],
    min_taken: u64,
) -> Option<(f64, u64)> {
    let mut scores: Vec<f64> = outcomes.iter().map(|outcome| outcome.score).collect();
    scores.sort_by(|a, b| b.total_cmp(a));
    scores.dedup();
    let mut tried = 0;
    let mut best: Option<(f64, f64)> = None;
    for threshold in scores {
        let sum = TakenSum::of(taken(outcomes, threshold));
        if sum.taken < min_taken {
            continue;
        }
        tried += 1;
        let bound = sum.lower_bound_bps;
        if best.is_none_or(|(_, best_bound)| bound > best_bound) {
            best = Some((threshold, bound));
        }
    }
    best.map(|(threshold, _)| (threshold, tried))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores 0.9 .. 0.4 with net returns +8, unfilled, +6, -10, +1, -20 bps (USD = bps / 10),
    /// a minute apart, each flat again within the minute: the engine is free for every one.
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
        .enumerate()
        .map(|(index, (score, net_bps))| Outcome {
            score,
            net_bps,
            net_usd: net_bps.map(|bps| bps / 10.0),
            ts_ms: 60_000 * index as i64,
            symbol: 0,
            regime: 0,
            busy_ms: 30_000,
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
        assert_eq!(
            (economics.approved, economics.taken, economics.filled),
            (3, 3, 2)
        );
        assert_eq!(economics.expectancy_bps, 14.0 / 3.0);
        assert_eq!(economics.per_trade_bps.mean, 7.0);
        assert_eq!(economics.per_trade_usd.mean, 0.7);
        assert!((economics.total_usd - 1.4).abs() < 1e-12);
        assert!(economics.pays());
        assert!(!at(&outcomes(), 0.4).pays());
    }

    #[test]
    fn a_candidate_approved_while_the_engine_is_busy_is_not_taken() {
        // A marginal candidate (score 0.5, -2 bps) comes 10 s before a good one (0.9, +9 bps)
        // and holds the engine 40 s: at 0.5 the good one is crowded out, so the threshold that
        // takes only the good one earns more. Another symbol's engine is not busy.
        let outcome = |score, net: f64, ts_ms, symbol| Outcome {
            score,
            net_bps: Some(net),
            net_usd: Some(net / 10.0),
            ts_ms,
            symbol,
            regime: 0,
            busy_ms: 40_000,
        };
        let outcomes = [
            outcome(0.5, -2.0, 0, 0),
            outcome(0.6, 3.0, 5_000, 1),
            outcome(0.9, 9.0, 10_000, 0),
            outcome(0.9, 8.0, 50_000, 0),
        ];
        let low = at(&outcomes, 0.5);
        assert_eq!((low.approved, low.taken, low.filled), (4, 3, 3));
        assert_eq!(low.expectancy_bps, (-2.0 + 3.0 + 8.0) / 3.0);
        let high = at(&outcomes, 0.9);
        assert_eq!((high.approved, high.taken), (2, 2));
        assert_eq!(high.expectancy_bps, 8.5);
        // Taken alone, 0.5 would sum to 18 over four; taken as the engine takes them, 9 over
        // three against 17 over two.
        assert_eq!(most_surely_paying_threshold(&outcomes, 1), Some((0.9, 3)));
    }

    #[test]
    fn regime_thresholds_are_chosen_on_each_regime_and_judged_against_the_common_one() {
        // A calm regime where only the top scores pay and a wild one where low scores do,
        // the wild hour after the calm one; the report fold repeats the threshold fold an hour
        // later. Each candidate a minute apart and flat within 30 s.
        let day = |start_ms: i64| -> Vec<Outcome> {
            [
                (0, 0.9, 8.0),
                (0, 0.8, 8.0),
                (0, 0.7, -10.0),
                (0, 0.6, -10.0),
                (1, 0.5, 6.0),
                (1, 0.45, 6.0),
                (1, 0.4, 6.0),
                (1, 0.35, -15.0),
            ]
            .into_iter()
            .enumerate()
            .map(|(index, (regime, score, net))| Outcome {
                score,
                net_bps: Some(net),
                net_usd: Some(net / 10.0),
                ts_ms: start_ms + 60_000 * index as i64,
                symbol: 0,
                regime,
                busy_ms: 30_000,
            })
            .collect()
        };
        let (choosing, report) = (day(0), day(3_600_000));
        let regimes = ["calm".to_owned(), "wild".to_owned()];
        // Chosen on all: 0.8 (two +8 bps, no spread: bound 16); calm alone the same; wild
        // alone 0.4 (three +6 bps: bound 18).
        let (tau_entry, _) = most_surely_paying_threshold(&choosing, 2).unwrap();
        assert_eq!(tau_entry, 0.8);
        let measured = RegimeThresholds::measure(&choosing, &report, &regimes, tau_entry, 2);
        assert_eq!(
            measured.tau_by_regime,
            BTreeMap::from([("calm".to_owned(), 0.8), ("wild".to_owned(), 0.4)])
        );
        assert_eq!(
            measured.common,
            TakenSum {
                taken: 2,
                sum_bps: 16.0,
                lower_bound_bps: 16.0
            }
        );
        // 8, 8, 6, 6, 6: sum 34, sd sqrt(1.2), bound 34 - 1.96 x 1.095 x sqrt(5).
        assert_eq!(
            (measured.by_regime.taken, measured.by_regime.sum_bps),
            (5, 34.0)
        );
        let bound = 34.0 - crate::estimate::Z95 * 1.2_f64.sqrt() * 5.0_f64.sqrt();
        assert!((measured.by_regime.lower_bound_bps - bound).abs() < 1e-9);
        // Over the five either took (the three wild ones only by the regime rule): +18 bps,
        // every difference +6 or 0: bound 18 - 1.96 x sd(0, 0, 6, 6, 6) x sqrt(5).
        assert_eq!(
            (measured.difference.taken, measured.difference.sum_bps),
            (5, 18.0)
        );
        let sd = (((0.0_f64 - 3.6).powi(2) * 2.0 + (6.0_f64 - 3.6).powi(2) * 3.0) / 4.0).sqrt();
        let bound = 18.0 - crate::estimate::Z95 * sd * 5.0_f64.sqrt();
        assert!((measured.difference.lower_bound_bps - bound).abs() < 1e-9);
        assert!(measured.pay_better());

        // With too few candidates in each regime to choose from, both keep the common one.
        let measured = RegimeThresholds::measure(&choosing, &report, &regimes, tau_entry, 5);
        assert_eq!(
            measured.tau_by_regime,
            BTreeMap::from([("calm".to_owned(), 0.8), ("wild".to_owned(), 0.8)])
        );
        assert_eq!(measured.by_regime, measured.common);
        assert_eq!(
            (measured.difference.taken, measured.difference.sum_bps),
            (2, 0.0)
        );
        assert!(!measured.pay_better());
    }
}

//! Time to fill as a survival question: an order either fills at some time after it reached the
//! venue, or is censored when it is cancelled (or the data ends) before it did. Kaplan-Meier
//! gives the probability that it fills within t without pretending the cancelled ones would
//! never have filled; the log-rank test compares two such curves.

use serde::Serialize;

use super::latency::normal_cdf;

/// One order's time under observation and whether it ended with a fill.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Subject {
    /// Seconds from arrival at the venue to the first fill, or to the censoring.
    pub(crate) seconds: f64,
    /// True when it filled at `seconds`; false when it was censored then.
    pub(crate) filled: bool,
}

/// A Kaplan-Meier curve: the probability of having filled, as steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FillCurve {
    /// Orders observed.
    pub(crate) orders: usize,
    /// Of them, those that filled.
    pub(crate) filled: usize,
    /// (seconds, probability of a fill by then) at each time an order filled, ascending.
    pub(crate) steps: Vec<(f64, f64)>,
}

impl FillCurve {
    /// Kaplan-Meier over `subjects` (fills before censorings at equal times, as usual).
    pub(crate) fn of(subjects: &[Subject]) -> FillCurve {
        let mut sorted = subjects.to_vec();
        sorted.sort_by(|a, b| {
            a.seconds
                .total_cmp(&b.seconds)
                .then(b.filled.cmp(&a.filled))
        });
        let mut at_risk = sorted.len();
        let mut surviving = 1.0;
        let mut steps: Vec<(f64, f64)> = Vec::new();
        let mut index = 0;
        while index < sorted.len() {
            let time = sorted[index].seconds;
            let same = sorted[index..]
                .iter()
                .take_while(|s| s.seconds == time)
                .count();
            let fills = sorted[index..index + same]
                .iter()
                .filter(|s| s.filled)
                .count();
            if fills > 0 {
                surviving *= 1.0 - fills as f64 / at_risk as f64;
                steps.push((time, 1.0 - surviving));
            }
            at_risk -= same;
            index += same;
        }
        FillCurve {
            orders: subjects.len(),
            filled: subjects.iter().filter(|s| s.filled).count(),
            steps,
        }
    }

    /// The probability of a fill within `seconds`.
    pub(crate) fn at(&self, seconds: f64) -> f64 {
        self.steps
            .iter()
            .take_while(|(time, _)| *time <= seconds)
            .last()
            .map_or(0.0, |(_, p)| *p)
    }

    /// The largest vertical distance to `other` at any step of either.
    pub(crate) fn largest_gap(&self, other: &FillCurve) -> f64 {
        self.steps
            .iter()
            .chain(&other.steps)
            .map(|(time, _)| (self.at(*time) - other.at(*time)).abs())
            .fold(0.0, f64::max)
    }
}

/// The log-rank test of two groups: the chi-square statistic (1 degree of freedom) and its
/// p-value; `None` when neither has a fill.
pub(crate) fn log_rank(a: &[Subject], b: &[Subject]) -> Option<(f64, f64)> {
    let mut times: Vec<f64> = a
        .iter()
        .chain(b)
        .filter(|s| s.filled)
        .map(|s| s.seconds)
        .collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    let (mut observed_minus_expected, mut variance) = (0.0, 0.0);
    for time in times {
        let at_risk = |group: &[Subject]| group.iter().filter(|s| s.seconds >= time).count() as f64;
        let fills = |group: &[Subject]| {
            group
                .iter()
                .filter(|s| s.filled && s.seconds == time)
                .count() as f64
        };
        let (risk_a, risk_b) = (at_risk(a), at_risk(b));
        let (fills_a, total_fills) = (fills(a), fills(a) + fills(b));
        let risk = risk_a + risk_b;
        observed_minus_expected += fills_a - total_fills * risk_a / risk;
        if risk > 1.0 {
            variance += total_fills * (risk_a / risk) * (risk_b / risk) * (risk - total_fills)
                / (risk - 1.0);
        }
    }
    if variance <= 0.0 {
        return None;
    }
    let chi2 = observed_minus_expected.powi(2) / variance;
    Some((chi2, 2.0 * (1.0 - normal_cdf(chi2.sqrt()))))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code

    use super::*;

    fn subject(seconds: f64, filled: bool) -> Subject {
        Subject { seconds, filled }
    }

    /// The textbook case: censored orders leave the risk set without a step.
    #[test]
    fn kaplan_meier_steps_over_censorings() {
        let curve = FillCurve::of(&[
            subject(1.0, true),
            subject(2.0, false),
            subject(3.0, true),
            subject(3.0, false),
            subject(5.0, true),
        ]);
        // 1 - 4/5 = 0.2 at 1 s; then 3 at risk at 3 s: S = 0.8 x 2/3; then 1 at risk at 5 s.
        assert_eq!(curve.steps.len(), 3);
        assert!((curve.at(1.0) - 0.2).abs() < 1e-12);
        assert!((curve.at(2.9) - 0.2).abs() < 1e-12);
        assert!((curve.at(3.0) - (1.0 - 0.8 * 2.0 / 3.0)).abs() < 1e-12);
        assert!((curve.at(9.0) - 1.0).abs() < 1e-12);
        assert_eq!((curve.orders, curve.filled), (5, 3));
    }

    /// Same groups: no difference; a group that fills much sooner: a tiny p-value.
    #[test]
    fn log_rank_tells_apart_what_differs() {
        let early: Vec<Subject> = (1..=30)
            .map(|i| subject(f64::from(i) * 0.1, true))
            .collect();
        let late: Vec<Subject> = (1..=30)
            .map(|i| subject(f64::from(i), i % 3 != 0))
            .collect();
        let (chi2, p) = log_rank(&early, &early).unwrap();
        assert!(chi2.abs() < 1e-12 && (p - 1.0).abs() < 1e-9);
        let (_, p) = log_rank(&early, &late).unwrap();
        assert!(p < 1e-6, "{p}");
        assert_eq!(
            log_rank(&[subject(1.0, false)], &[subject(2.0, false)]),
            None
        );
    }
}

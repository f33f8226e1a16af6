//! Classification metrics of scores against 0/1 labels, and reference histograms.

use engine::model::registry::Histogram;
use serde::{Deserialize, Serialize};

/// Metrics of one set of scored rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Metrics {
    /// Rows.
    pub(crate) support: u64,
    /// Positive rows.
    pub(crate) positives: u64,
    /// Area under the precision-recall curve (average precision).
    pub(crate) pr_auc: f64,
    /// Area under the ROC curve (ties count half).
    pub(crate) roc_auc: f64,
    /// Mean log-loss, with scores clipped to [1e-15, 1 - 1e-15].
    pub(crate) log_loss: f64,
    /// Precision, recall and approved rows at tau_entry.
    pub(crate) at_entry: AtThreshold,
    /// The same at tau_hold.
    pub(crate) at_hold: AtThreshold,
}

/// Precision and recall of the rule `score >= threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct AtThreshold {
    /// The threshold.
    pub(crate) threshold: f64,
    /// Rows at or above it.
    pub(crate) approved: u64,
    /// Share of those that are positive (0 when none is approved).
    pub(crate) precision: f64,
    /// Share of the positives approved.
    pub(crate) recall: f64,
}

/// Rows sorted by score, highest first.
fn ranked(scores: &[f64], labels: &[bool]) -> Vec<(f64, bool)> {
    let mut rows: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    rows
}

/// Average precision: the sum over positive-bearing thresholds of precision x recall step,
/// rows with equal scores taken together.
pub(crate) fn pr_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let rows = ranked(scores, labels);
    let positives = rows.iter().filter(|row| row.1).count() as f64;
    if positives == 0.0 {
        return 0.0;
    }
    let (mut true_pos, mut seen, mut area, mut index) = (0.0, 0.0, 0.0, 0);
    while index < rows.len() {
        let score = rows[index].0;
        let mut new_pos = 0.0;
        while index < rows.len() && rows[index].0 == score {
            new_pos += f64::from(u8::from(rows[index].1));
            seen += 1.0;
            index += 1;
        }
        true_pos += new_pos;
        area += (true_pos / seen) * (new_pos / positives);
    }
    area
}

/// ROC-AUC by ranks (the Mann-Whitney statistic), ties counted half.
pub(crate) fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut rows = ranked(scores, labels);
    rows.reverse();
    let positives = rows.iter().filter(|row| row.1).count() as f64;
    let negatives = rows.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return 0.5;
    }
    let (mut rank_sum, mut index) = (0.0, 0);
    while index < rows.len() {
        let start = index;
        while index < rows.len() && rows[index].0 == rows[start].0 {
            index += 1;
        }
        // Ranks start + 1 ..= index share their mean.
        let mean_rank = (start + 1 + index) as f64 / 2.0;
        let tied_pos = rows[start..index].iter().filter(|row| row.1).count() as f64;
        rank_sum += mean_rank * tied_pos;
    }
    (rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

/// Mean log-loss.
pub(crate) fn log_loss(scores: &[f64], labels: &[bool]) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    let total: f64 = scores
        .iter()
        .zip(labels)
        .map(|(&score, &label)| {
            let p = score.clamp(1e-15, 1.0 - 1e-15);
            if label { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    total / scores.len() as f64
}

/// Precision and recall of `score >= threshold`.
pub(crate) fn at_threshold(scores: &[f64], labels: &[bool], threshold: f64) -> AtThreshold {
    let positives = labels.iter().filter(|&&label| label).count();
    let (mut approved, mut hits) = (0_u64, 0_u64);
    for (&score, &label) in scores.iter().zip(labels) {
        if score >= threshold {
            approved += 1;
            hits += u64::from(label);
        }
    }
    AtThreshold {
        threshold,
        approved,
        precision: if approved == 0 {
            0.0
        } else {
            hits as f64 / approved as f64
        },
        recall: if positives == 0 {
            0.0
        } else {
            hits as f64 / positives as f64
        },
    }
}

/// The precision-recall curve: (threshold, precision, recall) at every distinct score, highest
/// threshold first.
pub(crate) fn pr_curve(scores: &[f64], labels: &[bool]) -> Vec<(f64, f64, f64)> {
    let rows = ranked(scores, labels);
    let positives = rows.iter().filter(|row| row.1).count().max(1) as f64;
    let (mut true_pos, mut seen, mut index) = (0.0, 0.0, 0);
    let mut curve = Vec::new();
    while index < rows.len() {
        let score = rows[index].0;
        while index < rows.len() && rows[index].0 == score {
            true_pos += f64::from(u8::from(rows[index].1));
            seen += 1.0;
            index += 1;
        }
        curve.push((score, true_pos / seen, true_pos / positives));
    }
    curve
}

/// All metrics at the two thresholds.
pub(crate) fn evaluate(scores: &[f64], labels: &[bool], tau_entry: f64, tau_hold: f64) -> Metrics {
    Metrics {
        support: scores.len() as u64,
        positives: labels.iter().filter(|&&label| label).count() as u64,
        pr_auc: pr_auc(scores, labels),
        roc_auc: roc_auc(scores, labels),
        log_loss: log_loss(scores, labels),
        at_entry: at_threshold(scores, labels, tau_entry),
        at_hold: at_threshold(scores, labels, tau_hold),
    }
}

/// A histogram of `values` over `bins` quantile bins (edges at the quantiles, repeated edges
/// merged), for PSI and KS against live values.
pub(crate) fn quantile_histogram(name: &str, values: &[f64], bins: usize) -> Histogram {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    let mut edges: Vec<f64> = (1..bins)
        .filter_map(|q| sorted.get(q * sorted.len() / bins).copied())
        .collect();
    edges.dedup();
    histogram(name, values, edges)
}

/// A histogram of `values` over `bins` equal bins of [0, 1] (for scores).
pub(crate) fn unit_histogram(name: &str, values: &[f64], bins: usize) -> Histogram {
    let edges = (1..bins).map(|i| i as f64 / bins as f64).collect();
    histogram(name, values, edges)
}

fn histogram(name: &str, values: &[f64], edges: Vec<f64>) -> Histogram {
    let mut counts = vec![0; edges.len() + 1];
    for value in values.iter().filter(|v| !v.is_nan()) {
        counts[edges.partition_point(|edge| edge <= value)] += 1;
    }
    Histogram {
        name: name.to_owned(),
        edges,
        counts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCORES: [f64; 6] = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
    const LABELS: [bool; 6] = [true, false, true, true, false, false];

    #[test]
    fn ranking_metrics_match_hand_computed_values() {
        // AP = (1/1 + 2/3 + 3/4) / 3.
        assert!((pr_auc(&SCORES, &LABELS) - (1.0 + 2.0 / 3.0 + 0.75) / 3.0).abs() < 1e-12);
        // Positive-negative pairs ranked right: 3 + 2 + 2 of 9.
        assert!((roc_auc(&SCORES, &LABELS) - 7.0 / 9.0).abs() < 1e-12);
        // Ties count half.
        assert_eq!(roc_auc(&[0.5, 0.5], &[true, false]), 0.5);
    }

    #[test]
    fn log_loss_of_certain_and_uncertain_scores() {
        assert!((log_loss(&[0.5, 0.5], &[true, false]) - std::f64::consts::LN_2).abs() < 1e-12);
        assert!(log_loss(&[1.0], &[true]) < 1e-14);
    }

    #[test]
    fn precision_and_recall_at_a_threshold() {
        let at = at_threshold(&SCORES, &LABELS, 0.6);
        assert_eq!((at.approved, at.precision, at.recall), (4, 0.75, 1.0));
    }

    #[test]
    fn histograms_cut_at_their_edges() {
        let histogram = unit_histogram("score", &[0.0, 0.49, 0.5, 0.99, 1.0], 2);
        assert_eq!(histogram.edges, vec![0.5]);
        assert_eq!(histogram.counts, vec![2, 3]);
        let values: Vec<f64> = (0..100).map(f64::from).collect();
        let deciles = quantile_histogram("x", &values, 10);
        assert_eq!(deciles.edges.len(), 9);
        assert_eq!(deciles.counts, vec![10; 10]);
    }
}

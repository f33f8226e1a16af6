//! Drift of the live score and features against the model's training reference.
//!
//! A model's `model.json` carries reference histograms (decile edges and counts of each feature
//! on the training fold, twenty equal bins of the score on the validation fold) and names the
//! features with the most gain. The monitor bins the live values of those (and of the score)
//! on the reference's own edges, over tumbling windows of `rollout_guard.drift_window` scored
//! candidates of the active model, and at the end of each full window computes per watched
//! quantity:
//!
//! - **PSI**, the population stability index `sum((live - ref) * ln(live / ref))` over the
//!   bins' shares, each share floored at [`SHARE_FLOOR`] so that an empty bin is finite;
//! - **KS**, the two-sample Kolmogorov-Smirnov statistic `max |F_live - F_ref|` evaluated at
//!   the reference's bin edges (the exact statistic needs the raw training values, which the
//!   model does not carry; on the edges it is a lower bound of it).
//!
//! A window breaches when the score's PSI or KS exceeds its alarm level:
//! `rollout_guard.psi_max` and `ks_max`, or, when the model carries levels calibrated by the
//! trainer for windows of this size (`score_drift_levels` in `model.json`: the largest PSI and
//! KS of the score over same-sized windows of the model's own held-out candidates), the larger
//! of the two. A model trained on a mix of regimes scores one regime at a time live, and a
//! window of one regime strays from the mix by design: the calibrated level says how far its
//! own data strayed. `rollout_guard.drift_windows` breaching windows in a row trigger. The
//! watched features are measured against `psi_max` and `ks_max` too, exported and named in the
//! verdict, but never trigger on their own: a feature's shift that does not move the score
//! does not change what the model does.

use crate::features::{FEATURE_NAMES, FeatureVector};
use crate::model::registry::{Histogram, ModelInfo};

/// Smallest share a bin counts with in the PSI (a common choice: 1e-4).
pub const SHARE_FLOOR: f64 = 1e-4;
/// The reference histogram of the score is named so.
pub const SCORE: &str = "score";

/// Population stability index of `live` counts against `reference` counts on the same bins.
pub fn psi(reference: &[u64], live: &[u64]) -> f64 {
    let (reference_total, live_total) = (total(reference), total(live));
    reference
        .iter()
        .zip(live)
        .map(|(&expected, &actual)| {
            let expected = share(expected, reference_total);
            let actual = share(actual, live_total);
            (actual - expected) * (actual / expected).ln()
        })
        .sum()
}

/// Kolmogorov-Smirnov statistic of `live` counts against `reference` counts, at the bin edges.
pub fn ks(reference: &[u64], live: &[u64]) -> f64 {
    let (reference_total, live_total) = (total(reference), total(live));
    let (mut reference_cumulative, mut live_cumulative, mut largest) = (0_u64, 0_u64, 0.0_f64);
    for (&expected, &actual) in reference.iter().zip(live) {
        reference_cumulative += expected;
        live_cumulative += actual;
        let gap = reference_cumulative as f64 / reference_total.max(1) as f64
            - live_cumulative as f64 / live_total.max(1) as f64;
        largest = largest.max(gap.abs());
    }
    largest
}

fn total(counts: &[u64]) -> u64 {
    counts.iter().sum()
}

fn share(count: u64, total: u64) -> f64 {
    (count as f64 / total.max(1) as f64).max(SHARE_FLOOR)
}

/// The limits a window is judged by, and how many windows make a trigger.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftLimits {
    /// Scored candidates per window.
    pub window: u32,
    /// Breaching windows in a row that trigger.
    pub windows: u32,
    /// PSI above this breaches.
    pub psi_max: f64,
    /// KS above this breaches.
    pub ks_max: f64,
}

/// One watched quantity: the score or a feature.
#[derive(Debug, Clone)]
struct Watched {
    name: String,
    /// Index into the feature vector; `None` for the score.
    feature: Option<usize>,
    edges: Vec<f64>,
    reference: Vec<u64>,
    live: Vec<u64>,
}

/// PSI and KS of one quantity over one window.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftStat {
    /// `score` or a feature name.
    pub name: String,
    /// Population stability index.
    pub psi: f64,
    /// Kolmogorov-Smirnov statistic.
    pub ks: f64,
}

/// The verdict on a full window.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftWindow {
    /// Every watched quantity, the score first.
    pub stats: Vec<DriftStat>,
    /// The score over its alarm level, as `score psi X > max` or `score ks X > max`.
    pub breaches: Vec<String>,
    /// The features over `psi_max` or `ks_max`, written so too: diagnostics, never a trigger.
    pub diagnostics: Vec<String>,
    /// Breaching windows in a row, this one included (0 when it did not breach).
    pub in_a_row: u32,
    /// True when `in_a_row` reached the limit.
    pub triggered: bool,
}

/// Rolling drift of one model's live scores and features.
#[derive(Debug, Clone)]
pub struct DriftMonitor {
    model_id: String,
    limits: DriftLimits,
    /// The score's alarm levels, PSI and KS.
    score_levels: (f64, f64),
    watched: Vec<Watched>,
    seen: u32,
    in_a_row: u32,
}

impl DriftMonitor {
    /// A monitor of the score and of `info.drift_features` (those with a usable reference
    /// histogram); `None` when the model carries no usable reference at all.
    pub fn new(info: &ModelInfo, limits: DriftLimits) -> Option<DriftMonitor> {
        let usable = |histogram: &&Histogram| {
            histogram.counts.len() == histogram.edges.len() + 1
                && histogram.counts.iter().sum::<u64>() > 0
        };
        let find = |name: &str| {
            info.reference
                .iter()
                .filter(usable)
                .find(|h| h.name == name)
        };
        let score = find(SCORE).map(|histogram| (None, histogram));
        let features = info.drift_features.iter().filter_map(|name| {
            let index = FEATURE_NAMES.iter().position(|feature| feature == name)?;
            find(name).map(|histogram| (Some(index), histogram))
        });
        let watched: Vec<Watched> = score
            .into_iter()
            .chain(features)
            .map(|(feature, histogram)| Watched {
                name: histogram.name.clone(),
                feature,
                edges: histogram.edges.clone(),
                reference: histogram.counts.clone(),
                live: vec![0; histogram.counts.len()],
            })
            .collect();
        let score_levels = match info.score_drift_levels {
            Some(levels) if levels.window == limits.window => {
                (levels.psi.max(limits.psi_max), levels.ks.max(limits.ks_max))
            }
            _ => (limits.psi_max, limits.ks_max),
        };
        (!watched.is_empty()).then(|| DriftMonitor {
            model_id: info.id.clone(),
            limits,
            score_levels,
            watched,
            seen: 0,
            in_a_row: 0,
        })
    }

    /// The model watched.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// The score's alarm levels, PSI and KS.
    pub fn score_levels(&self) -> (f64, f64) {
        self.score_levels
    }

    /// The names watched, the score first.
    pub fn watched(&self) -> impl Iterator<Item = &str> {
        self.watched.iter().map(|watched| watched.name.as_str())
    }

    /// Counts one scored candidate; the verdict when it completes a window.
    pub fn observe(&mut self, score: f32, features: &FeatureVector) -> Option<DriftWindow> {
        for watched in &mut self.watched {
            let value = f64::from(watched.feature.map_or(score, |index| features[index]));
            if value.is_nan() {
                continue;
            }
            let bin = watched.edges.partition_point(|&edge| edge <= value);
            watched.live[bin] += 1;
        }
        self.seen += 1;
        (self.seen >= self.limits.window).then(|| self.close_window())
    }

    fn close_window(&mut self) -> DriftWindow {
        let limits = self.limits;
        let (mut breaches, mut diagnostics) = (Vec::new(), Vec::new());
        let stats = self
            .watched
            .iter_mut()
            .map(|watched| {
                let stat = DriftStat {
                    name: watched.name.clone(),
                    psi: psi(&watched.reference, &watched.live),
                    ks: ks(&watched.reference, &watched.live),
                };
                let (psi_max, ks_max, over) = match watched.feature {
                    None => (self.score_levels.0, self.score_levels.1, &mut breaches),
                    Some(_) => (limits.psi_max, limits.ks_max, &mut diagnostics),
                };
                if stat.psi > psi_max {
                    over.push(format!(
                        "{} psi {:.3} > {}",
                        stat.name,
                        stat.psi,
                        round(psi_max)
                    ));
                }
                if stat.ks > ks_max {
                    over.push(format!(
                        "{} ks {:.3} > {}",
                        stat.name,
                        stat.ks,
                        round(ks_max)
                    ));
                }
                watched.live.fill(0);
                stat
            })
            .collect();
        self.seen = 0;
        self.in_a_row = if breaches.is_empty() {
            0
        } else {
            self.in_a_row + 1
        };
        let triggered = self.in_a_row >= limits.windows;
        if triggered {
            self.in_a_row = 0;
        }
        DriftWindow {
            stats,
            breaches,
            diagnostics,
            in_a_row: if triggered {
                limits.windows
            } else {
                self.in_a_row
            },
            triggered,
        }
    }
}

/// A level as written in a verdict: a configured one as it is, a calibrated one to 3 places.
fn round(level: f64) -> f64 {
    (level * 1000.0).round() / 1000.0
}

/// A model record for tests: id `id`, reference histograms of the score and of feature 3 cut
/// at 0.5 into halves of 50, feature 3 named as a drift feature.
#[cfg(test)]
pub(crate) fn test_info(id: &str) -> ModelInfo {
    let histogram = |name: &str| Histogram {
        name: name.to_owned(),
        edges: vec![0.5],
        counts: vec![50, 50],
    };
    ModelInfo {
        id: id.to_owned(),
        created_at: String::new(),
        schema_hash: String::new(),
        feature_names: Vec::new(),
        thresholds: crate::model::registry::Thresholds {
            tau_entry: 0.5,
            tau_hold: 0.5,
        },
        metrics: Default::default(),
        training_window_ms: [0, 0],
        reference: vec![histogram(SCORE), histogram(FEATURE_NAMES[3])],
        drift_features: vec![FEATURE_NAMES[3].to_owned()],
        score_drift_levels: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FEATURE_COUNT;

    fn info(drift_features: &[&str]) -> ModelInfo {
        ModelInfo {
            drift_features: drift_features.iter().map(|&name| name.to_owned()).collect(),
            ..test_info("m")
        }
    }

    #[test]
    fn psi_and_ks_of_known_shifts() {
        // Identical shares: no drift.
        assert_eq!(psi(&[10, 20, 30], &[1, 2, 3]), 0.0);
        assert_eq!(ks(&[10, 20, 30], &[1, 2, 3]), 0.0);
        // Half and half against a quarter and three quarters:
        // (0.25 - 0.5) ln(0.5) + (0.75 - 0.5) ln(1.5) = 0.25 ln 3.
        assert!((psi(&[50, 50], &[25, 75]) - 0.25 * 3.0_f64.ln()).abs() < 1e-12);
        assert!((ks(&[50, 50], &[25, 75]) - 0.25).abs() < 1e-12);
        // Everything moved into a bin the reference never saw: the floor keeps it finite.
        let moved = psi(&[100, 0], &[0, 100]);
        let floor = SHARE_FLOOR;
        let expected = 2.0 * (1.0 - floor) * (1.0 / floor).ln();
        assert!((moved - expected).abs() < 1e-9, "{moved} vs {expected}");
        assert_eq!(ks(&[100, 0], &[0, 100]), 1.0);
    }

    const LIMITS: DriftLimits = DriftLimits {
        window: 4,
        windows: 2,
        psi_max: 0.2,
        ks_max: 0.3,
    };

    #[test]
    fn the_score_and_the_named_features_with_a_reference_are_watched() {
        let monitor = DriftMonitor::new(&info(&[FEATURE_NAMES[3], FEATURE_NAMES[4]]), LIMITS);
        let monitor = monitor.unwrap();
        assert_eq!(
            monitor.watched().collect::<Vec<_>>(),
            vec![SCORE, FEATURE_NAMES[3]]
        );
        let mut bare = info(&[]);
        bare.reference.clear();
        assert!(DriftMonitor::new(&bare, LIMITS).is_none());
    }

    #[test]
    fn a_trigger_takes_consecutive_breaching_windows() {
        let mut monitor = DriftMonitor::new(&info(&[FEATURE_NAMES[3]]), LIMITS).unwrap();
        // Four candidates: the scores, and feature 3 at each of `feature`.
        let window = |monitor: &mut DriftMonitor, scores: [f32; 4], feature: [f32; 4]| {
            let mut verdicts = Vec::new();
            for (score, value) in scores.into_iter().zip(feature) {
                let mut features = [0.0_f32; FEATURE_COUNT];
                features[3] = value;
                verdicts.extend(monitor.observe(score, &features));
            }
            assert_eq!(verdicts.len(), 1);
            verdicts.remove(0)
        };
        // Half below 0.5, half above: as the reference.
        let calm = window(&mut monitor, [0.1, 0.9, 0.2, 0.8], [0.1; 4]);
        assert_eq!(calm.stats[0].psi, 0.0);
        assert_eq!(calm.stats[0].ks, 0.0);
        // The feature sits below 0.5 all the time: KS 0.5, PSI (1e-4 floor) well above 0.2.
        // Named, never acted on alone: the score did not move.
        assert_eq!(calm.stats[1].ks, 0.5);
        assert_eq!(calm.breaches, Vec::<String>::new());
        assert_eq!(
            calm.diagnostics,
            [
                format!("{} psi 4.604 > 0.2", FEATURE_NAMES[3]),
                format!("{} ks 0.500 > 0.3", FEATURE_NAMES[3])
            ]
        );
        assert_eq!(calm.in_a_row, 0);
        assert!(!calm.triggered);
        let clean = window(&mut monitor, [0.1, 0.9, 0.2, 0.8], [0.1, 0.9, 0.2, 0.8]);
        assert_eq!(clean.breaches, Vec::<String>::new());
        assert_eq!(clean.diagnostics, Vec::<String>::new());
        assert_eq!(clean.in_a_row, 0);
        // Every score above 0.5: two windows in a row trigger.
        let first = window(&mut monitor, [0.9; 4], [0.1, 0.9, 0.2, 0.8]);
        assert_eq!(first.in_a_row, 1);
        assert!(!first.triggered);
        let second = window(&mut monitor, [0.9; 4], [0.1, 0.9, 0.2, 0.8]);
        assert!(second.triggered);
        assert_eq!(second.in_a_row, 2);
        assert_eq!(second.stats[0].ks, 0.5);
        assert_eq!(
            second.breaches[..2],
            [
                "score psi 4.604 > 0.2".to_owned(),
                "score ks 0.500 > 0.3".to_owned()
            ]
        );
    }

    #[test]
    fn calibrated_levels_for_the_window_raise_the_scores_alarm_and_others_are_ignored() {
        use crate::model::registry::ScoreDriftLevels;
        let calibrated = |window: u32| ModelInfo {
            score_drift_levels: Some(ScoreDriftLevels {
                window,
                windows: 12,
                psi: 5.0,
                ks: 0.25,
            }),
            ..info(&[])
        };
        // The model's own held-out windows strayed to PSI 5: a window at 4.604 is no alarm;
        // KS keeps the configured 0.3, the larger.
        let mut monitor = DriftMonitor::new(&calibrated(4), LIMITS).unwrap();
        assert_eq!(monitor.score_levels(), (5.0, 0.3));
        let features = [0.0_f32; FEATURE_COUNT];
        let verdict = [0.9_f32; 4]
            .iter()
            .filter_map(|&score| monitor.observe(score, &features))
            .next_back()
            .unwrap();
        assert_eq!(verdict.breaches, ["score ks 0.500 > 0.3".to_owned()]);
        // Levels calibrated for windows of another size do not apply.
        let other = DriftMonitor::new(&calibrated(500), LIMITS).unwrap();
        assert_eq!(other.score_levels(), (0.2, 0.3));
    }
}

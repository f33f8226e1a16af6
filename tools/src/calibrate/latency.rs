//! Fits the paper venue's latency model to observed delays: a floor plus a log-normal delay,
//! `L = min + median x factor x exp(sigma x N(0, 1))`, where `factor` is the market-activity
//! factor the venue would have applied when the message left (1 without scaling).
//!
//! Observations are intervals, because that is what logs give: a paper session's order leg is
//! exact (the venue stamps arrival in ns), a real venue stamps in whole milliseconds, and a
//! paper session's answers are taken at the next market frame, so their delay is only known
//! to lie between the previous frame and that one. The fit maximises the likelihood of the
//! intervals (each observation's probability under the model; an exact one counts as an
//! interval of [`EXACT_WIDTH_NS`]), over all three parameters by Nelder-Mead started from
//! several floors. A delay the model cannot produce counts with a least probability, so a
//! stray observation does not decide the floor.

use serde::Serialize;

/// The width an exactly known delay counts as, ns: it keeps every observation's probability
/// at most 1, so a floor pressed against the smallest delay is not rewarded without bound.
pub(crate) const EXACT_WIDTH_NS: f64 = 1_000.0;

/// The least density an observation counts with, per ns of its window (a stray delay spread
/// over about a second, one in a thousand): a delay the model cannot produce (one below the
/// floor, say: an answer the venue made on the engine's side, or a clock that stepped) costs
/// this much likelihood instead of ruling the model out, so a few such do not drag the floor
/// down to them.
const LEAST_DENSITY_PER_NS: f64 = 1e-12;

/// Searches started, from floors evenly spaced below the ceiling.
const STARTS: usize = 6;

/// The floor stays below all but one in this many delays' upper ends.
const FLOOR_OUTLIERS: usize = 100;

/// One observed delay: it lay in `(lo_ns, hi_ns]`, under activity `factor`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Observation {
    pub(crate) lo_ns: f64,
    pub(crate) hi_ns: f64,
    pub(crate) factor: f64,
}

impl Observation {
    /// A delay known exactly.
    pub(crate) fn exact(ns: f64, factor: f64) -> Observation {
        Observation {
            lo_ns: (ns - EXACT_WIDTH_NS / 2.0).max(0.0),
            hi_ns: ns + EXACT_WIDTH_NS / 2.0,
            factor,
        }
    }

    /// A delay known to lie in `(lo_ns, hi_ns]`.
    pub(crate) fn between(lo_ns: f64, hi_ns: f64, factor: f64) -> Observation {
        let lo_ns = lo_ns.max(0.0);
        if hi_ns - lo_ns < EXACT_WIDTH_NS {
            Observation::exact((lo_ns + hi_ns) / 2.0, factor)
        } else {
            Observation {
                lo_ns,
                hi_ns,
                factor,
            }
        }
    }

    fn mid_ns(&self) -> f64 {
        (self.lo_ns + self.hi_ns) / 2.0
    }
}

/// A fitted latency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct LatencyFit {
    /// Observations it was fitted to.
    pub(crate) observations: usize,
    /// Of them, those known only to a window wider than [`EXACT_WIDTH_NS`].
    pub(crate) interval_censored: usize,
    /// Mean width of those windows, ms.
    pub(crate) mean_window_ms: f64,
    /// The floor, ns.
    pub(crate) min_ns: f64,
    /// The median of the log-normal part at factor 1, ns.
    pub(crate) median_ns: f64,
    /// Its shape.
    pub(crate) sigma: f64,
    /// Log-likelihood at the fit.
    pub(crate) log_likelihood: f64,
    /// Goodness of fit: the Kolmogorov-Smirnov distance between the fitted distribution and
    /// the observations (at their windows' midpoints, each under its own factor).
    pub(crate) ks_distance: f64,
    /// The probability plot behind it, at most [`PLOT_POINTS`] points: (the fitted CDF at an
    /// observation, the share of observations at or below it); on the diagonal when the fit
    /// is perfect.
    pub(crate) probability_plot: Vec<(f64, f64)>,
}

/// Points of the probability plot kept.
pub(crate) const PLOT_POINTS: usize = 100;

impl LatencyFit {
    /// The fitted latency's CDF at `ns` under `factor`.
    pub(crate) fn cdf(&self, ns: f64, factor: f64) -> f64 {
        cdf(ns, self.min_ns, self.median_ns * factor, self.sigma)
    }
}

/// The standard normal CDF.
pub(crate) fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

fn cdf(ns: f64, min: f64, median: f64, sigma: f64) -> f64 {
    if ns <= min {
        0.0
    } else {
        normal_cdf(((ns - min) / median).ln() / sigma)
    }
}

/// Log-likelihood of `observations` under (min, median, sigma).
fn log_likelihood(observations: &[Observation], min: f64, median: f64, sigma: f64) -> f64 {
    observations
        .iter()
        .map(|o| {
            let scale = median * o.factor;
            let p = cdf(o.hi_ns, min, scale, sigma) - cdf(o.lo_ns, min, scale, sigma);
            p.max((o.hi_ns - o.lo_ns).max(EXACT_WIDTH_NS) * LEAST_DENSITY_PER_NS)
                .ln()
        })
        .sum()
}

/// Fits the latency model to `observations`; `None` with fewer than 10 or when no delay was
/// positive.
pub(crate) fn fit(observations: &[Observation]) -> Option<LatencyFit> {
    if observations.len() < 10 {
        return None;
    }
    // The floor lies below all but the fewest delays' upper ends (a stray one below it costs
    // only its least probability).
    let mut upper: Vec<f64> = observations.iter().map(|o| o.hi_ns).collect();
    upper.sort_by(f64::total_cmp);
    let ceiling = upper[upper.len() / FLOOR_OUTLIERS];
    if ceiling <= 0.0 {
        return None;
    }
    // For a floor, the log-normal part's moments at the midpoints start a search.
    let start_at = |min: f64| -> [f64; 3] {
        let logs: Vec<f64> = observations
            .iter()
            .map(|o| ((o.mid_ns() - min) / o.factor).max(1.0).ln())
            .collect();
        let mean = logs.iter().sum::<f64>() / logs.len() as f64;
        let var = logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / logs.len() as f64;
        [min, mean, var.sqrt().max(0.01).ln()]
    };
    let objective = |p: &[f64; 3]| -> f64 {
        let (min, median, sigma) = (p[0], p[1].exp(), p[2].exp());
        if !(0.0..ceiling).contains(&min) || !(0.005..20.0).contains(&sigma) {
            return f64::INFINITY;
        }
        -log_likelihood(observations, min, median, sigma)
    };
    // The likelihood of a floor and a log-normal can have more than one hill (the floor and
    // the median trade against each other): a search from each of several floors, the best.
    let scales = [ceiling / (2 * STARTS) as f64, 0.2, 0.2];
    let (p, value) = (0..STARTS)
        .map(|start| {
            nelder_mead(
                &objective,
                start_at(ceiling * start as f64 / STARTS as f64),
                scales,
            )
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    let (min_ns, median_ns, sigma) = (p[0], p[1].exp(), p[2].exp());
    let windows: Vec<f64> = observations
        .iter()
        .map(|o| o.hi_ns - o.lo_ns)
        .filter(|w| *w > EXACT_WIDTH_NS * 1.5)
        .collect();
    let mut fitted = LatencyFit {
        observations: observations.len(),
        interval_censored: windows.len(),
        mean_window_ms: windows.iter().sum::<f64>() / windows.len().max(1) as f64 / 1e6,
        min_ns,
        median_ns,
        sigma,
        log_likelihood: -value,
        ks_distance: 0.0,
        probability_plot: Vec::new(),
    };
    let mut transformed: Vec<f64> = observations
        .iter()
        .map(|o| fitted.cdf(o.mid_ns(), o.factor))
        .collect();
    transformed.sort_by(f64::total_cmp);
    let n = transformed.len() as f64;
    fitted.ks_distance = transformed
        .iter()
        .enumerate()
        .map(|(i, u)| (u - i as f64 / n).abs().max(((i + 1) as f64 / n - u).abs()))
        .fold(0.0, f64::max);
    let every = transformed.len().div_ceil(PLOT_POINTS);
    fitted.probability_plot = transformed
        .iter()
        .enumerate()
        .filter(|(i, _)| (i + 1) % every == 0 || i + 1 == transformed.len())
        .map(|(i, u)| (*u, (i + 1) as f64 / n))
        .collect();
    Some(fitted)
}

/// Minimises `f` from `start` by Nelder-Mead (standard coefficients), with a first simplex of
/// `scales` along each axis; a few hundred iterations at most.
fn nelder_mead(
    f: &impl Fn(&[f64; 3]) -> f64,
    start: [f64; 3],
    scales: [f64; 3],
) -> ([f64; 3], f64) {
    let mut simplex: Vec<([f64; 3], f64)> = (0..4)
        .map(|vertex| {
            let mut point = start;
            if vertex > 0 {
                point[vertex - 1] += scales[vertex - 1];
            }
            (point, f(&point))
        })
        .collect();
    for _ in 0..600 {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (best, worst) = (simplex[0].1, simplex[3].1);
        if (worst - best).abs() <= 1e-9 * (1.0 + best.abs()) {
            break;
        }
        let centroid: [f64; 3] = std::array::from_fn(|axis| {
            simplex[..3]
                .iter()
                .map(|(point, _)| point[axis])
                .sum::<f64>()
                / 3.0
        });
        let worst_point = simplex[3].0;
        let toward = |t: f64| -> [f64; 3] {
            std::array::from_fn(|axis| centroid[axis] + t * (worst_point[axis] - centroid[axis]))
        };
        let reflected = toward(-1.0);
        let reflected_value = f(&reflected);
        if reflected_value < simplex[0].1 {
            let expanded = toward(-2.0);
            let expanded_value = f(&expanded);
            simplex[3] = if expanded_value < reflected_value {
                (expanded, expanded_value)
            } else {
                (reflected, reflected_value)
            };
        } else if reflected_value < simplex[2].1 {
            simplex[3] = (reflected, reflected_value);
        } else {
            let contracted = if reflected_value < simplex[3].1 {
                toward(-0.5)
            } else {
                toward(0.5)
            };
            let contracted_value = f(&contracted);
            if contracted_value < simplex[3].1.min(reflected_value) {
                simplex[3] = (contracted, contracted_value);
            } else {
                let best = simplex[0].0;
                for vertex in simplex.iter_mut().skip(1) {
                    let point = vertex.0;
                    vertex.0 =
                        std::array::from_fn(|axis| best[axis] + 0.5 * (point[axis] - best[axis]));
                    vertex.1 = f(&vertex.0);
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex[0]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code

    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    fn draws(n: usize, min: f64, median: f64, sigma: f64, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                min + median * (sigma * z).exp()
            })
            .collect()
    }

    /// Exact delays from known parameters are fitted back: 2000 draws of 2 ms + 15 ms x
    /// exp(0.5 N) give the floor within 1 ms, the median within 8 % and the shape within 0.05
    /// (the estimator's own spread at this size: over seeds 1 to 5 the floor fell between 1.64
    /// and 2.69 ms, the median between 14.1 and 15.4 ms, the shape between 0.48 and 0.53, each
    /// fit at least as likely as the truth).
    #[test]
    fn exact_delays_give_back_their_parameters() {
        let observations: Vec<Observation> = draws(2000, 2e6, 15e6, 0.5, 1)
            .into_iter()
            .map(|ns| Observation::exact(ns, 1.0))
            .collect();
        let fit = fit(&observations).unwrap();
        assert!((fit.min_ns - 2e6).abs() < 1e6, "{fit:?}");
        assert!((fit.median_ns / 15e6 - 1.0).abs() < 0.08, "{fit:?}");
        assert!((fit.sigma - 0.5).abs() < 0.05, "{fit:?}");
        assert!(fit.log_likelihood >= log_likelihood(&observations, 2e6, 15e6, 0.5));
        assert!(fit.ks_distance < 0.03, "{fit:?}");
    }

    /// Delays seen only as the frame after them (frames every 10 ms, at a random phase) still
    /// give back 10 ms + 30 ms x exp(0.4 N): floor within 2 ms, median within 10 %, shape
    /// within 0.06.
    #[test]
    fn delays_known_to_a_frame_give_back_their_parameters() {
        let phases = draws(3000, 0.0, 1.0, 1.0, 3);
        let observations: Vec<Observation> = draws(3000, 10e6, 30e6, 0.4, 2)
            .into_iter()
            .zip(phases)
            .map(|(ns, phase)| {
                let offset = phase.fract() * 10e6;
                let frame = ((ns + offset) / 10e6).ceil() * 10e6 - offset;
                Observation::between(frame - 10e6, frame, 1.0)
            })
            .collect();
        let fit = fit(&observations).unwrap();
        assert_eq!(fit.interval_censored, 3000);
        assert!((fit.min_ns - 10e6).abs() < 2e6, "{fit:?}");
        assert!((fit.median_ns / 30e6 - 1.0).abs() < 0.1, "{fit:?}");
        assert!((fit.sigma - 0.4).abs() < 0.06, "{fit:?}");
    }

    /// The activity factor divides out: delays drawn at factors 1 to 4 give back the base
    /// median.
    #[test]
    fn the_activity_factor_divides_out() {
        let observations: Vec<Observation> = draws(2000, 1e6, 5e6, 0.3, 4)
            .into_iter()
            .enumerate()
            .map(|(i, ns)| {
                let factor = 1.0 + (i % 4) as f64;
                Observation::exact(1e6 + (ns - 1e6) * factor, factor)
            })
            .collect();
        let fit = fit(&observations).unwrap();
        assert!((fit.median_ns / 5e6 - 1.0).abs() < 0.05, "{fit:?}");
        assert!((fit.sigma - 0.3).abs() < 0.03, "{fit:?}");
    }

    #[test]
    fn too_few_delays_are_not_fitted() {
        assert_eq!(fit(&[Observation::exact(1e6, 1.0); 9]), None);
    }
}

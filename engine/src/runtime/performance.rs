//! The live guard on realized performance: one-sided CUSUMs on the active model's closed
//! trades' net PnL and on its entry fills' markouts, each held to what the same model did on
//! its release's canary.
//!
//! Drift says the inputs look unlike training; this says the money is not what the canary
//! measured, which is what matters, and realized outcomes resolve about a minute after each
//! entry. With `mu0` the canary's net PnL per trade and `sd` its standard deviation, each
//! closed trade `x` moves the statistic (Page 1954)
//!
//! ```text
//! S = max(0, S + (mu0 - x) / sd - k),   k = drop / (2 sd)
//! ```
//!
//! the CUSUM that looks for the mean falling by `rollout_guard.performance_drop_usd` per trade.
//! It alarms when `S > h`. A trade's PnL is nearly two-valued (take-profit or stop), far from
//! normal: a stop is a large step towards the limit, and the textbook (Siegmund's) normal
//! approximation of the run length would promise about 1.6 times fewer false alarms than such
//! trades give. So `h` is calibrated on the canary's own trades: the average run length from
//! `S = 0` of the CUSUM fed independent draws of them is computed exactly, up to a grid of
//! [`CELLS`] cells on `[0, h]`, as the absorption time of a Markov chain (Brook and Evans
//! 1972), and `h` is the lowest limit at which it reaches
//! `rollout_guard.performance_false_alarm_trades` (trades on a lattice reach it in steps: the
//! run length at `h` is what the supervisor states).
//! The same chain fed the canary's trades less the drop gives the expected delay to an alarm
//! once the edge has fallen. Outcomes that cluster (trades within a signal episode, the
//! overlapping 30 s markouts of fills a few seconds apart) alarm falsely far sooner than
//! independent draws: a 93-fill run of one healthy high-vol day once crossed a limit set for
//! one false alarm in 20 000 fills. So each series is standardized by its long-run deviation,
//! `sd x sqrt(design effect)`, the design effect being the canary's block-bootstrap variance of
//! the mean over the independent one ([`Cusum::new`]).
//!
//! The markout of each entry fill at `canary.gates.markout_horizon` gets a CUSUM of its own,
//! built the same way on the canary's entry markouts and looking for a fall of
//! `rollout_guard.performance_markout_drop_bps`, with the same false-alarm run (in fills). A
//! markout resolves at its horizon whatever the exit does: it says the entries have stopped
//! being right while the stops have yet to say so in money.

use crate::model::registry::PerformanceReference;

/// Cells of the grid on `[0, h]` the run length is computed on.
pub const CELLS: usize = 150;

/// Average run length from 0 of the CUSUM `S = max(0, S + y)` with limit `h`, each `y` drawn
/// uniformly from `increments`: the absorption time of the Markov chain on `CELLS + 1` states
/// (the statistic shared between the grid's two nearest cells), by solving `(I - P) L = 1`. Infinite when no draw
/// ever reaches the limit.
pub fn average_run_length(increments: &[f64], h: f64) -> f64 {
    let states = CELLS + 1;
    let width = h / CELLS as f64;
    let share = 1.0 / increments.len().max(1) as f64;
    // (I - P), row-major, and the right-hand side of ones.
    let mut system = vec![0.0; states * states];
    for from in 0..states {
        system[from * states + from] += 1.0;
        let level = from as f64 * width;
        for &step in increments {
            let next = (level + step).max(0.0);
            if next > h {
                continue;
            }
            // Shared between the two cells around it in proportion to nearness, which keeps
            // each step's mean: rounding to the nearest cell would bias a step that is always
            // the same (a take-profit, a stop) the same way every time.
            let cell = next / width;
            let below = (cell.floor() as usize).min(CELLS);
            let above_share = (cell - below as f64).clamp(0.0, 1.0);
            system[from * states + below] -= share * (1.0 - above_share);
            if above_share > 0.0 && below < CELLS {
                system[from * states + below + 1] -= share * above_share;
            }
        }
    }
    let mut lengths = vec![1.0; states];
    solve_in_place(&mut system, &mut lengths, states).map_or(f64::INFINITY, |()| lengths[0])
}

/// Solves `a x = b` (`a` row-major `n x n`, overwritten) by Gaussian elimination with partial
/// pivoting; `b` becomes `x`. `None` when `a` is singular.
fn solve_in_place(a: &mut [f64], b: &mut [f64], n: usize) -> Option<()> {
    for column in 0..n {
        let pivot = (column..n)
            .max_by(|&x, &y| a[x * n + column].abs().total_cmp(&a[y * n + column].abs()))?;
        if a[pivot * n + column].abs() < 1e-300 {
            return None;
        }
        if pivot != column {
            for k in 0..n {
                a.swap(pivot * n + k, column * n + k);
            }
            b.swap(pivot, column);
        }
        let diagonal = a[column * n + column];
        for row in column + 1..n {
            let factor = a[row * n + column] / diagonal;
            if factor == 0.0 {
                continue;
            }
            for k in column..n {
                a[row * n + k] -= factor * a[column * n + k];
            }
            b[row] -= factor * b[column];
        }
    }
    for row in (0..n).rev() {
        let known: f64 = (row + 1..n).map(|k| a[row * n + k] * b[k]).sum();
        b[row] = (b[row] - known) / a[row * n + row];
    }
    Some(())
}

/// The lowest limit (to 0.1 %) at which the CUSUM fed `increments` has an average run length
/// of at least `trades` (bisection: the run length rises with the limit, in steps when the
/// increments take few values); `None` when the increments drift upwards (the statistic would
/// alarm however high the limit).
pub fn limit_for(increments: &[f64], trades: f64) -> Option<f64> {
    let mean = increments.iter().sum::<f64>() / increments.len().max(1) as f64;
    if increments.is_empty() || mean >= 0.0 {
        return None;
    }
    let (mut low, mut high) = (0.0_f64, 1.0_f64);
    while average_run_length(increments, high) < trades {
        high *= 2.0;
        if high > 1e4 {
            return None;
        }
    }
    while high - low > 1e-3 * high {
        let middle = 0.5 * (low + high);
        if average_run_length(increments, middle) < trades {
            low = middle;
        } else {
            high = middle;
        }
    }
    Some(high)
}

/// What a CUSUM found when it alarmed.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    /// The statistic, in units of the standardizing deviation.
    pub statistic: f64,
    /// The limit it crossed.
    pub limit: f64,
    /// Observations since the statistic last stood at 0, where the fall most likely began.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
}

/// A one-sided CUSUM looking for the mean of a series to fall by a given amount below the mean
/// of a reference sample, its limit calibrated on that sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Cusum {
    /// The reference, standardized: `(mu0 - x) / sd - k`.
    increments: Vec<f64>,
    /// The reference's mean, the long-run deviation observations are standardized by, and the
    /// allowance, in units of it.
    mean: f64,
    sd: f64,
    k: f64,
    /// The limit.
    h: f64,
    statistic: f64,
    /// Observations seen, and those (with their sum) since the statistic last stood at 0.
    count: u64,
    run_count: u64,
    run_sum: f64,
}

impl Cusum {
    /// A CUSUM holding observations to the mean of `reference`, looking for a fall of `drop`,
    /// with one false alarm in `false_alarm_run` observations on average; `None` when the
    /// reference cannot calibrate it (fewer than two values, or no spread among them) or the
    /// settings are not positive.
    ///
    /// `design_effect` is how much the observations cluster: the variance of the reference's
    /// mean by block bootstrap over the one of independent draws (1 when they do not; below 1
    /// is taken as 1). Observations are standardized by the long-run deviation `sd x
    /// sqrt(design_effect)`, so that the statistic's steps have unit variance in the long run
    /// as the calibration's independent draws do (a CUSUM of correlated steps behaves like one
    /// of independent steps with their long-run variance).
    pub fn new(
        reference: &[f64],
        design_effect: f64,
        drop: f64,
        false_alarm_run: u32,
    ) -> Option<Cusum> {
        let count = reference.len() as f64;
        let mean = reference.iter().sum::<f64>() / count;
        let sd = (reference.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (count - 1.0)).sqrt();
        if reference.len() < 2
            || !(sd.is_finite() && sd > 0.0)
            || drop.is_nan()
            || drop <= 0.0
            || false_alarm_run == 0
        {
            return None;
        }
        let long_run_sd = sd * design_effect.max(1.0).sqrt();
        if !long_run_sd.is_finite() {
            return None;
        }
        let k = drop / (2.0 * long_run_sd);
        // The calibration draws the reference's values, each with unit variance, and the
        // allowance the observations get.
        let increments: Vec<f64> = reference.iter().map(|x| (mean - x) / sd - k).collect();
        let h = limit_for(&increments, f64::from(false_alarm_run))?;
        Some(Cusum {
            increments,
            mean,
            sd: long_run_sd,
            k,
            h,
            statistic: 0.0,
            count: 0,
            run_count: 0,
            run_sum: 0.0,
        })
    }

    /// Adds one observation; the alarm when the statistic crosses its limit (the statistic
    /// then starts afresh). A value that is not finite is ignored.
    pub fn observe(&mut self, value: f64) -> Option<Alarm> {
        if !value.is_finite() {
            return None;
        }
        self.count += 1;
        let z = (self.mean - value) / self.sd;
        self.statistic = (self.statistic + z - self.k).max(0.0);
        if self.statistic == 0.0 {
            (self.run_count, self.run_sum) = (0, 0.0);
            return None;
        }
        self.run_count += 1;
        self.run_sum += value;
        if self.statistic <= self.h {
            return None;
        }
        let alarm = Alarm {
            statistic: self.statistic,
            limit: self.h,
            count: self.run_count,
            mean: self.run_sum / self.run_count as f64,
        };
        (self.statistic, self.run_count, self.run_sum) = (0.0, 0, 0.0);
        Some(alarm)
    }

    /// The statistic now, in units of the reference's deviation.
    pub fn statistic(&self) -> f64 {
        self.statistic
    }

    /// The limit it alarms above.
    pub fn limit(&self) -> f64 {
        self.h
    }

    /// The reference's mean.
    pub fn reference_mean(&self) -> f64 {
        self.mean
    }

    /// Observations between false alarms, on average, at the limit (at least the number
    /// asked for).
    pub fn false_alarm_run(&self) -> f64 {
        average_run_length(&self.increments, self.h)
    }

    /// Observations expected before an alarm once every one is the drop looked for below
    /// the reference.
    pub fn expected_delay(&self) -> f64 {
        let fallen: Vec<f64> = self
            .increments
            .iter()
            .map(|step| step + 2.0 * self.k)
            .collect();
        average_run_length(&fallen, self.h)
    }
}

/// What the live guard looks for, and how often it may be wrong.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardSettings {
    /// The fall of net PnL per closed trade, USD.
    pub pnl_drop_usd: f64,
    /// The fall of an entry fill's markout, bps.
    pub markout_drop_bps: f64,
    /// Observations between false alarms, on average, of each CUSUM.
    pub false_alarm_run: u32,
}

/// Which of a guard's series alarmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// Net PnL per closed trade.
    Pnl,
    /// The markout of entry fills.
    Markout,
}

/// The guard of one model: a CUSUM on its closed trades' net PnL and one on its entry fills'
/// markouts, each held to the same figures on its release's canary.
#[derive(Debug, Clone, PartialEq)]
pub struct PerformanceGuard {
    reference: PerformanceReference,
    pnl: Cusum,
    /// Absent when the canary's figures carry no markouts (written before they did).
    markout: Option<Cusum>,
}

impl PerformanceGuard {
    /// The guard of `reference`'s model; `None` when its trades cannot calibrate the PnL
    /// CUSUM (see [`Cusum::new`]). The markout CUSUM is left out when its markouts cannot.
    pub fn new(
        reference: PerformanceReference,
        settings: GuardSettings,
    ) -> Option<PerformanceGuard> {
        let pnl = Cusum::new(
            &reference.trade_pnls_usd,
            reference.design_effect,
            settings.pnl_drop_usd,
            settings.false_alarm_run,
        )?;
        let markout = Cusum::new(
            &reference.entry_markouts_bps,
            reference.markout_design_effect,
            settings.markout_drop_bps,
            settings.false_alarm_run,
        );
        Some(PerformanceGuard {
            reference,
            pnl,
            markout,
        })
    }

    /// Adds one closed trade's net PnL, USD.
    pub fn observe_trade(&mut self, pnl_usd: f64) -> Option<Alarm> {
        self.pnl.observe(pnl_usd)
    }

    /// Adds one entry fill's markout, bps, at the canary's markout horizon.
    pub fn observe_markout(&mut self, bps: f64) -> Option<Alarm> {
        self.markout.as_mut()?.observe(bps)
    }

    /// The CUSUM on one series, if the guard has it.
    pub fn cusum(&self, series: Series) -> Option<&Cusum> {
        match series {
            Series::Pnl => Some(&self.pnl),
            Series::Markout => self.markout.as_ref(),
        }
    }

    /// The canary figures it holds the model to.
    pub fn reference(&self) -> &PerformanceReference {
        &self.reference
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// The net PnL of `trades` closed trades on a canary, `wins` of them +20 USD (a
    /// take-profit), the rest stops that lost 50 to 70 USD (slipping), evenly spread: -60 USD
    /// on average.
    fn reference(wins: usize, trades: usize) -> Vec<f64> {
        let losses = (trades - wins).max(1) as f64;
        (0..trades)
            .map(|index| {
                if index < wins {
                    20.0
                } else {
                    -70.0 + 20.0 * ((index - wins) as f64 + 0.5) / losses
                }
            })
            .collect()
    }

    #[test]
    fn the_chain_gives_the_run_length_of_a_walk_known_in_closed_form() {
        // Steps of -30 (2 in 3) or +30 (1 in 3) cells with h = CELLS = 150 cells: the grid
        // rounds nothing, and the chain must give the exact run length of a walk of unit steps
        // from 0, reflected at 0, until it passes 5: L(i) = 1 + 2/3 L(max(i - 1, 0)) +
        // 1/3 L(i + 1), L(6) = 0.
        let step = CELLS as f64 / 5.0;
        let increments = [-step, -step, step];
        let h = CELLS as f64;
        let n = 7;
        let mut a = vec![0.0; n * n];
        let mut b = vec![1.0; n];
        for i in 0..n - 1 {
            a[i * n + i] += 1.0;
            a[i * n + i.saturating_sub(1)] -= 2.0 / 3.0;
            a[i * n + i + 1] -= 1.0 / 3.0;
        }
        a[(n - 1) * n + n - 1] = 1.0;
        b[n - 1] = 0.0;
        solve_in_place(&mut a, &mut b, n).unwrap();
        let chain = average_run_length(&increments, h);
        assert!((chain / b[0] - 1.0).abs() < 1e-9, "{chain} vs {}", b[0]);
    }

    #[test]
    fn the_limit_is_the_lowest_with_the_run_length_asked_for() {
        // The lowest limit (to 0.1 %) whose run length reaches the one asked for.
        let guard = Cusum::new(&reference(65, 80), 1.0, 10.0, 1000).unwrap();
        assert!(guard.false_alarm_run() >= 1000.0);
        assert!(average_run_length(&guard.increments, guard.limit() * 0.998) < 1000.0);
        assert_eq!(format!("{:.2}", guard.limit()), "12.95");
        assert_eq!(format!("{:.1}", guard.false_alarm_run()), "1001.7");
    }

    /// Run lengths of `guard` on trades drawn by `draw`, `runs` times.
    fn mean_run_length(
        guard: &Cusum,
        runs: u32,
        rng: &mut ChaCha8Rng,
        draw: impl Fn(&mut ChaCha8Rng) -> f64,
    ) -> f64 {
        let mut total = 0_u64;
        for _ in 0..runs {
            let mut guard = guard.clone();
            loop {
                if guard.observe(draw(rng)).is_some() {
                    total += guard.count;
                    break;
                }
            }
        }
        total as f64 / f64::from(runs)
    }

    #[test]
    fn on_trades_that_win_or_lose_a_fixed_amount_the_run_lengths_are_the_ones_stated() {
        // Known answer: the canary's trades take profit (+20 USD) or stop out (-50 to -70 USD),
        // 65 in 80 winning: +5 USD a trade. The guard looks for a fall of 10 USD a trade with one
        // false alarm in 500 trades at most. Trades drawn as the canary's: the mean run length
        // over 400 runs (standard error about 5 %) is within 15 % of the run length the guard
        // states for its limit; trades winning 55 in 80
        // (-5 USD a trade) are caught within 15 % of the expected delay (computed for every
        // trade earning 10 USD less; more stops are caught a little sooner). (With every stop
        // at exactly -60 USD, the normal approximation's limit for 500 gave about 300.)
        let trade = |winrate: f64| {
            move |rng: &mut ChaCha8Rng| {
                if rng.random::<f64>() < winrate {
                    20.0
                } else {
                    -70.0 + 20.0 * rng.random::<f64>()
                }
            }
        };
        let guard = Cusum::new(&reference(65, 80), 1.0, 10.0, 500).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let in_control = mean_run_length(&guard, 400, &mut rng, trade(65.0 / 80.0));
        let after_fall = mean_run_length(&guard, 400, &mut rng, trade(55.0 / 80.0));
        let (stated, expected_delay) = (guard.false_alarm_run(), guard.expected_delay());
        // The seeded run, exactly, then what it shows.
        assert_eq!(
            format!("{stated:.1} {in_control:.3} {expected_delay:.1} {after_fall:.3}"),
            "500.9 464.855 58.3 53.250"
        );
        assert!(
            (in_control / stated - 1.0).abs() < 0.15,
            "{in_control} vs {stated}"
        );
        assert!(
            (after_fall / expected_delay - 1.0).abs() < 0.15,
            "{after_fall} vs {expected_delay}"
        );
    }

    #[test]
    fn a_reference_without_spread_or_settings_that_are_not_positive_give_no_guard() {
        assert!(Cusum::new(&reference(80, 80), 1.0, 10.0, 500).is_none());
        assert!(Cusum::new(&reference(1, 1), 1.0, 10.0, 500).is_none());
        assert!(Cusum::new(&reference(65, 80), 1.0, 0.0, 500).is_none());
        assert!(Cusum::new(&reference(65, 80), 1.0, 10.0, 0).is_none());
        let mut guard = Cusum::new(&reference(65, 80), 1.0, 10.0, 500).unwrap();
        assert_eq!(guard.observe(f64::NAN), None);
        assert_eq!(guard.statistic(), 0.0);
    }

    #[test]
    fn observations_that_cluster_are_held_to_their_long_run_deviation() {
        // Markouts in runs of four equal values (fills of one episode marking out alike):
        // the variance of a mean of them is four times that of independent draws. The
        // reference is 2000 such runs, uniform on -10..+30 bps; the guard looks for a fall of
        // 5 bps with one false alarm in 300 observations. Told the design effect (4), its
        // in-control run length over 300 seeded runs is within 25 % of the one it states (368
        // against 300: the long-run approximation errs towards fewer false alarms); treated as
        // independent, it alarms six times sooner (47).
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let clustered = |rng: &mut ChaCha8Rng, runs: usize| -> Vec<f64> {
            (0..runs)
                .flat_map(|_| std::iter::repeat_n(-10.0 + 40.0 * rng.random::<f64>(), 4))
                .collect()
        };
        let reference = clustered(&mut rng, 2000);
        let run_length = |guard: &Cusum, rng: &mut ChaCha8Rng| -> f64 {
            let mut total = 0_u64;
            for _ in 0..300 {
                let mut guard = guard.clone();
                'run: loop {
                    for value in clustered(rng, 1) {
                        if guard.observe(value).is_some() {
                            total += guard.count;
                            break 'run;
                        }
                    }
                }
            }
            total as f64 / 300.0
        };
        let told = Cusum::new(&reference, 4.0, 5.0, 300).unwrap();
        let naive = Cusum::new(&reference, 1.0, 5.0, 300).unwrap();
        let (told_run, naive_run) = (run_length(&told, &mut rng), run_length(&naive, &mut rng));
        assert_eq!(
            format!(
                "{:.1} {told_run:.1} {:.1} {naive_run:.1}",
                told.false_alarm_run(),
                naive.false_alarm_run()
            ),
            "300.1 368.1 300.1 46.6"
        );
        assert!(
            (told_run / told.false_alarm_run() - 1.0).abs() < 0.25,
            "{told_run} vs {}",
            told.false_alarm_run()
        );
        assert!(naive_run * 3.0 < naive.false_alarm_run(), "{naive_run}");
    }
}

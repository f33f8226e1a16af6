//! The scenarios file of `simulate-execution` and what one run of a scenario draws from it.
//!
//! A scenario is the recorded days plus faults: the paper venue's latency scaled by a factor
//! drawn per run, or rising with volatility; and shocks, each placed at a random time of each
//! day: liquidity withdrawn from the book, a feed gap, a pause of the venue's order gateway, a
//! flash move. Every draw comes from one ChaCha stream per (scenario, run), so a run is the same
//! whichever thread runs it.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use engine::config::{Config, HumanDuration, LatencyScaleBy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// `--scenarios FILE`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScenarioFile {
    /// In the order they are run and reported.
    pub(crate) scenarios: Vec<Scenario>,
}

/// One way the days could have gone.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scenario {
    /// Names it in the report.
    pub(crate) name: String,
    /// What it stands for, for the reader of the report.
    #[serde(default)]
    pub(crate) description: String,
    /// How the paper venue's latency differs from `paper`'s.
    #[serde(default)]
    pub(crate) latency: LatencySpec,
    /// Shocks placed on every day of a run.
    #[serde(default)]
    pub(crate) shocks: Vec<ShockSpec>,
}

/// A scenario's latency.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LatencySpec {
    /// Each run multiplies both legs' floor and median by a factor drawn uniformly from
    /// `[low, high]` (absent: 1).
    pub(crate) factor: Option<(f64, f64)>,
    /// Latency rises with volatility (absolute mid moves, bps per second) up to this many times
    /// its calm value, from `paper.latency_scaling.reference` on; replaces `paper`'s scaling.
    pub(crate) with_volatility: Option<f64>,
}

/// A shock, placed `count` times on each day at uniformly random times.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum ShockSpec {
    /// Every level of the book shows only the share `keep` of its size (rounded down to the
    /// lot) for `duration`.
    LiquidityWithdrawal {
        count: u32,
        duration: HumanDuration,
        keep: f64,
    },
    /// The public stream is lost for `duration`: the frames are gone, the connection loss is
    /// recorded, and a snapshot comes back with the reconnect.
    FeedGap { count: u32, duration: HumanDuration },
    /// The venue takes no request (order, cancel) for `duration`: those sent meanwhile reach
    /// it when the pause ends, in the order sent; resting orders go on trading.
    VenuePause { count: u32, duration: HumanDuration },
    /// The book and the prints move by up to `move_bps` (up or down, drawn) and back,
    /// linearly, over `duration`.
    FlashMove {
        count: u32,
        duration: HumanDuration,
        move_bps: f64,
    },
}

impl ShockSpec {
    fn count_and_duration(&self) -> (u32, HumanDuration) {
        match *self {
            ShockSpec::LiquidityWithdrawal {
                count, duration, ..
            }
            | ShockSpec::FeedGap { count, duration }
            | ShockSpec::VenuePause { count, duration }
            | ShockSpec::FlashMove {
                count, duration, ..
            } => (count, duration),
        }
    }
}

impl ScenarioFile {
    /// Reads and checks `path`.
    pub(crate) fn read(path: &Path) -> Result<ScenarioFile> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: ScenarioFile = serde_yaml_ng::from_str(&text)
            .with_context(|| format!("reading {}", path.display()))?;
        file.check()
            .with_context(|| format!("checking {}", path.display()))?;
        Ok(file)
    }

    fn check(&self) -> Result<()> {
        ensure!(!self.scenarios.is_empty(), "no scenarios");
        for (index, scenario) in self.scenarios.iter().enumerate() {
            let name = &scenario.name;
            ensure!(!name.is_empty(), "scenario {} has no name", index + 1);
            ensure!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    && !name.starts_with('.'),
                "scenario {name:?}: a name is letters, digits, '-', '_' and '.' (it names a \
                 directory)"
            );
            if self.scenarios[..index].iter().any(|s| &s.name == name) {
                bail!("scenario {name} is named twice");
            }
            if let Some((low, high)) = scenario.latency.factor {
                ensure!(
                    low > 0.0 && low <= high && high.is_finite(),
                    "scenario {name}: latency.factor [{low}, {high}] is not 0 < low <= high"
                );
            }
            if let Some(max) = scenario.latency.with_volatility {
                ensure!(
                    (1.0..=100.0).contains(&max),
                    "scenario {name}: latency.with_volatility {max} is not in [1, 100]"
                );
            }
            for shock in &scenario.shocks {
                let (count, duration) = shock.count_and_duration();
                ensure!(
                    count > 0 && !duration.get().is_zero(),
                    "scenario {name}: a shock needs a count and a duration above 0"
                );
                match *shock {
                    ShockSpec::LiquidityWithdrawal { keep, .. } => ensure!(
                        (0.0..1.0).contains(&keep),
                        "scenario {name}: liquidity_withdrawal keep {keep} is not in [0, 1)"
                    ),
                    ShockSpec::FlashMove { move_bps, .. } => ensure!(
                        move_bps > 0.0 && move_bps < 5_000.0,
                        "scenario {name}: flash_move move_bps {move_bps} is not in (0, 5000)"
                    ),
                    ShockSpec::FeedGap { .. } | ShockSpec::VenuePause { .. } => {}
                }
            }
        }
        Ok(())
    }
}

/// What a shock does while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Effect {
    /// The book shows this share of its sizes.
    LiquidityWithdrawal { keep: f64 },
    /// No public frame.
    FeedGap,
    /// No request reaches the venue.
    VenuePause,
    /// Prices move by up to this many bps (signed) and back.
    FlashMove { move_bps: f64 },
}

/// A shock placed on a day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Shock {
    /// Receive times it covers, `[start, end)`, ns since the epoch.
    pub(crate) start_ns: u64,
    pub(crate) end_ns: u64,
    #[serde(flatten)]
    pub(crate) effect: Effect,
}

impl Shock {
    /// Whether it is under way at `ns`.
    pub(crate) fn covers(&self, ns: u64) -> bool {
        (self.start_ns..self.end_ns).contains(&ns)
    }

    /// Its share (0 to 1 and back to 0, linearly) of the way through at `ns`.
    pub(crate) fn tent(&self, ns: u64) -> f64 {
        if !self.covers(ns) {
            return 0.0;
        }
        let span = (self.end_ns - self.start_ns) as f64;
        let through = (ns - self.start_ns) as f64 / span;
        1.0 - (2.0 * through - 1.0).abs()
    }
}

/// One run of a scenario: its latency and, for each day, its shocks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Draw {
    /// The run's number, from 0.
    pub(crate) run: u32,
    /// Seed of the paper venue's latency draws.
    pub(crate) paper_seed: u64,
    /// What both latency legs' floor and median were multiplied by.
    pub(crate) latency_factor: f64,
    /// Per day, in the order of the days, its shocks by start time.
    pub(crate) shocks: Vec<Vec<Shock>>,
}

impl Draw {
    /// Run `run` of the scenario at `index` of the file, on days spanning `spans` (first and
    /// last public frame, ns), from `seed`.
    pub(crate) fn of(
        scenario: &Scenario,
        index: usize,
        run: u32,
        seed: u64,
        spans: &[(u64, u64)],
    ) -> Draw {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(((index as u64) << 32) | u64::from(run));
        let paper_seed = rng.random();
        let latency_factor = match scenario.latency.factor {
            Some((low, high)) if high > low => rng.random_range(low..=high),
            Some((low, _)) => low,
            None => 1.0,
        };
        let shocks = spans
            .iter()
            .map(|&(first, last)| {
                let mut day = Vec::new();
                for spec in &scenario.shocks {
                    let (count, duration) = spec.count_and_duration();
                    let duration_ns = u64::try_from(duration.get().as_nanos()).unwrap_or(u64::MAX);
                    for _ in 0..count {
                        let latest = last.saturating_sub(duration_ns).max(first);
                        let start_ns = rng.random_range(first..=latest);
                        let effect = match *spec {
                            ShockSpec::LiquidityWithdrawal { keep, .. } => {
                                Effect::LiquidityWithdrawal { keep }
                            }
                            ShockSpec::FeedGap { .. } => Effect::FeedGap,
                            ShockSpec::VenuePause { .. } => Effect::VenuePause,
                            ShockSpec::FlashMove { move_bps, .. } => Effect::FlashMove {
                                move_bps: if rng.random::<bool>() {
                                    move_bps
                                } else {
                                    -move_bps
                                },
                            },
                        };
                        day.push(Shock {
                            start_ns,
                            end_ns: start_ns.saturating_add(duration_ns),
                            effect,
                        });
                    }
                }
                day.sort_by_key(|shock| shock.start_ns);
                day
            })
            .collect();
        Draw {
            run,
            paper_seed,
            latency_factor,
            shocks,
        }
    }

    /// `config` as this run's paper venue sees it.
    pub(crate) fn apply(&self, scenario: &Scenario, config: &mut Config) {
        let paper = &mut config.paper;
        paper.seed = self.paper_seed;
        let scale = |duration: &mut HumanDuration| {
            *duration = HumanDuration::from(duration.get().mul_f64(self.latency_factor));
        };
        scale(&mut paper.latency_min);
        scale(&mut paper.latency_median);
        scale(&mut paper.response_latency_min);
        scale(&mut paper.response_latency_median);
        if let Some(max_factor) = scenario.latency.with_volatility {
            paper.latency_scaling.by = LatencyScaleBy::Volatility;
            paper.latency_scaling.max_factor = max_factor;
        }
    }

    /// Whether the day at `day` has shocks that change its frames (a pause does not).
    pub(crate) fn rewrites_feed(&self, day: usize) -> bool {
        self.shocks[day]
            .iter()
            .any(|shock| shock.effect != Effect::VenuePause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Result<ScenarioFile> {
        let file: ScenarioFile = serde_yaml_ng::from_str(text)?;
        file.check()?;
        Ok(file)
    }

    #[test]
    fn the_shipped_scenarios_read() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/scenarios.yml");
        let file = ScenarioFile::read(&path).unwrap();
        let names: Vec<&str> = file.scenarios.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "as-recorded",
                "slow-venue",
                "latency-with-volatility",
                "liquidity-withdrawn",
                "feed-gaps",
                "venue-pause",
                "flash-move"
            ]
        );
    }

    #[test]
    fn a_bad_scenario_is_refused_with_its_name() {
        let err = file("scenarios:\n- name: a\n  shocks:\n  - {kind: flash_move, count: 1, duration: 1m, move_bps: 0}\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "scenario a: flash_move move_bps 0 is not in (0, 5000)"
        );
        let err = file("scenarios:\n- name: ../a\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "scenario \"../a\": a name is letters, digits, '-', '_' and '.' (it names a directory)"
        );
        let err = file("scenarios:\n- name: a\n- name: a\n").unwrap_err();
        assert_eq!(err.to_string(), "scenario a is named twice");
        let err = file("scenarios:\n- name: a\n  shocks:\n  - {kind: feed_gap, count: 1, duration: 1m, keep: 0.5}\n")
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `keep`"), "{err}");
        let err = file("scenarios:\n- name: a\n  latency: {factor: [2.0, 1.0]}\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "scenario a: latency.factor [2, 1] is not 0 < low <= high"
        );
    }

    #[test]
    fn a_draw_is_the_same_for_the_same_seed_scenario_and_run_and_fits_in_the_day() {
        let scenario = file(
            "scenarios:\n- name: a\n  latency: {factor: [1.0, 3.0]}\n  shocks:\n  \
             - {kind: flash_move, count: 2, duration: 10s, move_bps: 100}\n  \
             - {kind: feed_gap, count: 1, duration: 5s}\n",
        )
        .unwrap()
        .scenarios
        .remove(0);
        let spans = [(1_000_000_000_000, 1_060_000_000_000)];
        let draw = Draw::of(&scenario, 0, 3, 42, &spans);
        assert_eq!(draw, Draw::of(&scenario, 0, 3, 42, &spans));
        assert_ne!(draw, Draw::of(&scenario, 0, 4, 42, &spans));
        assert_ne!(draw, Draw::of(&scenario, 1, 3, 42, &spans));
        assert!((1.0..=3.0).contains(&draw.latency_factor));
        assert_eq!(draw.shocks[0].len(), 3);
        for shock in &draw.shocks[0] {
            assert!(shock.start_ns >= spans[0].0 && shock.end_ns <= spans[0].1);
        }
        assert!(draw.rewrites_feed(0));
    }

    #[test]
    fn a_tent_rises_to_one_at_the_middle_and_falls_back() {
        let shock = Shock {
            start_ns: 100,
            end_ns: 200,
            effect: Effect::FeedGap,
        };
        let tents: Vec<f64> = [99, 100, 125, 150, 175, 200]
            .iter()
            .map(|&ns| shock.tent(ns))
            .collect();
        assert_eq!(tents, [0.0, 0.0, 0.5, 1.0, 0.5, 0.0]);
    }
}

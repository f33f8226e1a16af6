//! How long messages take between the order manager and the paper venue.
//!
//! Two legs, each its own distribution: the **entry** latency of an order or cancel on its way
//! to the venue, and the **response** latency of what the venue answers (acks, rejects, fills,
//! cancels) on its way back. Each is a floor plus a log-normal delay, scaled up by market
//! activity when configured ([`Activity`]): latency that does not rise when the market is busy
//! flatters results (hftbacktest#256).
//!
//! Every draw is keyed: its standard-normal variate comes from a generator seeded with the
//! venue's seed and the message (what it is about and when it was sent), not from a stream
//! shared by all messages. The same order sent at the same time draws the same delay, whatever
//! else the venue carried before, so a labeler that simulates each candidate alone draws
//! exactly what the paper venue draws for the same order.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::fixed::Fixed;

/// A floor plus a log-normal delay: `min_ns + median_ns x exp(sigma x N(0, 1))`, the log-normal
/// part scaled by the market's activity factor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogNormalLatency {
    /// Least latency, ns.
    pub min_ns: u64,
    /// Median of the log-normal part, ns.
    pub median_ns: u64,
    /// Shape of the log-normal part.
    pub sigma: f64,
}

impl LogNormalLatency {
    /// The latency of the message `key` under activity `factor` (at least 1), ns.
    pub fn draw_ns(&self, seed: u64, key: u64, factor: f64) -> u64 {
        if self.median_ns == 0 {
            return self.min_ns;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, key));
        let normal: f64 = StandardNormal.sample(&mut rng);
        let delay = self.median_ns as f64 * factor * (self.sigma * normal).exp();
        self.min_ns.saturating_add(delay as u64)
    }
}

/// Mixes `seed` and `key` into one seed (SplitMix64's finalizer over their sum and product).
fn mix(seed: u64, key: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(key)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A key for a message: its kind and the numbers that identify it, folded together.
pub fn message_key(kind: u64, parts: [u64; 4]) -> u64 {
    parts.iter().fold(kind, |key, &part| mix(key, part))
}

/// What scales the latency up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleBy {
    /// Nothing: the factor is always 1.
    Off,
    /// Market messages (book updates and trade batches) per second.
    MessageRate,
    /// Absolute mid moves per second, bps.
    Volatility,
}

/// The activity scaling of latency: `factor = clamp(activity / reference, 1, max_factor)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScalingConfig {
    /// What is measured.
    pub by: ScaleBy,
    /// The activity from which latency starts to rise (messages/s or bps/s).
    pub reference: f64,
    /// The factor at most.
    pub max_factor: f64,
    /// Time constant of the exponentially decayed measure, ns.
    pub window_ns: u64,
}

impl ScalingConfig {
    /// No scaling.
    pub const OFF: ScalingConfig = ScalingConfig {
        by: ScaleBy::Off,
        reference: 1.0,
        max_factor: 1.0,
        window_ns: 1_000_000_000,
    };
}

/// Recent market activity, from the messages the venue sees: an exponentially decayed rate,
/// with the configured time constant, of messages ([`ScaleBy::MessageRate`]) or of absolute mid
/// moves in bps ([`ScaleBy::Volatility`]). Only the configured one is measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activity {
    config: ScalingConfig,
    /// The decayed rate, per second, as of `last_ns`.
    rate: f64,
    last_ns: u64,
    last_mid: Option<Fixed>,
}

impl Activity {
    /// No activity seen yet.
    pub const fn new(config: ScalingConfig) -> Activity {
        Activity {
            config,
            rate: 0.0,
            last_ns: 0,
            last_mid: None,
        }
    }

    /// A market message at `now_ns`, with the mid after it when it moved the book.
    pub fn on_message(&mut self, now_ns: u64, mid: Option<Fixed>) {
        let amount = match self.config.by {
            ScaleBy::Off => return,
            ScaleBy::MessageRate => 1.0,
            ScaleBy::Volatility => {
                let Some(mid) = mid else {
                    return;
                };
                let moved = self
                    .last_mid
                    .filter(|last| last.is_positive())
                    .map_or(0.0, |last| (mid.to_f64() / last.to_f64()).ln().abs() * 1e4);
                self.last_mid = Some(mid);
                moved
            }
        };
        let per_second = 1e9 / self.config.window_ns.max(1) as f64;
        self.rate = self.rate * self.decay(now_ns) + amount * per_second;
        self.last_ns = self.last_ns.max(now_ns);
    }

    /// The latency factor at `now_ns`.
    pub fn factor(&self, now_ns: u64) -> f64 {
        if self.config.by == ScaleBy::Off {
            return 1.0;
        }
        let measure = self.rate * self.decay(now_ns);
        (measure / self.config.reference.max(f64::MIN_POSITIVE))
            .clamp(1.0, self.config.max_factor.max(1.0))
    }

    fn decay(&self, now_ns: u64) -> f64 {
        let elapsed = now_ns.saturating_sub(self.last_ns) as f64;
        (-elapsed / self.config.window_ns.max(1) as f64).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn without_a_log_normal_part_the_latency_is_the_floor() {
        let latency = LogNormalLatency {
            min_ns: 10,
            median_ns: 0,
            sigma: 0.7,
        };
        assert!((0..5).all(|key| latency.draw_ns(1, key, 3.0) == 10));
    }

    #[test]
    fn a_draw_depends_on_the_seed_and_the_message_only_and_scales_with_the_factor() {
        let latency = LogNormalLatency {
            min_ns: 2 * MS,
            median_ns: 15 * MS,
            sigma: 0.5,
        };
        let key = message_key(1, [2, 3, 4, 5]);
        assert_eq!(latency.draw_ns(7, key, 1.0), latency.draw_ns(7, key, 1.0));
        assert_ne!(latency.draw_ns(7, key, 1.0), latency.draw_ns(8, key, 1.0));
        assert_ne!(key, message_key(1, [2, 3, 4, 6]));
        let (once, twice) = (latency.draw_ns(7, key, 1.0), latency.draw_ns(7, key, 2.0));
        assert!((twice - 2 * MS).abs_diff(2 * (once - 2 * MS)) <= 1);
        // With sigma 0 the draw is the median.
        let median = LogNormalLatency {
            sigma: 0.0,
            ..latency
        };
        assert_eq!(median.draw_ns(7, key, 1.0), 17 * MS);
    }

    #[test]
    fn latency_rises_with_the_message_rate_and_decays_when_the_market_calms() {
        let mut activity = Activity::new(ScalingConfig {
            by: ScaleBy::MessageRate,
            reference: 100.0,
            max_factor: 4.0,
            window_ns: 1_000 * MS,
        });
        assert_eq!(activity.factor(0), 1.0);
        // 1000 messages a second for a second: the decayed rate nears 1000 x (1 - 1/e).
        for i in 0..1_000 {
            activity.on_message(i * MS, None);
        }
        assert_eq!(activity.factor(999 * MS), 4.0);
        // Ten windows later it is back to 1.
        assert_eq!(activity.factor(11_000 * MS), 1.0);
        let rate = activity.rate;
        assert!((rate - 632.4).abs() < 1.0, "{rate}");
    }

    #[test]
    fn volatility_scaling_reads_absolute_mid_moves() {
        let mut activity = Activity::new(ScalingConfig {
            by: ScaleBy::Volatility,
            reference: 5.0,
            max_factor: 3.0,
            window_ns: 1_000 * MS,
        });
        let mid = |text: &str| Some(text.parse::<Fixed>().unwrap());
        activity.on_message(0, mid("100"));
        // A 10 bps move at once: 10 bps/s against a reference of 5: factor 2.
        activity.on_message(0, mid("100.1"));
        assert!(
            (activity.factor(0) - 2.0).abs() < 0.01,
            "{}",
            activity.factor(0)
        );
        // Messages that do not move the mid add nothing.
        activity.on_message(0, None);
        assert!((activity.factor(0) - 2.0).abs() < 0.01);
        let off = Activity::new(ScalingConfig::OFF);
        assert_eq!(off.factor(0), 1.0);
    }
}

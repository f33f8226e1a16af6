//! How long an order or cancel takes to reach the paper venue.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// A fixed least delay plus a log-normal one: `min_ns + median_ns x exp(sigma x N(0, 1))`.
///
/// One standard-normal draw per message, from the venue's one generator.
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
    /// Draws the latency of one message, ns.
    pub fn draw_ns<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        let normal: f64 = StandardNormal.sample(rng);
        let delay = self.median_ns as f64 * (self.sigma * normal).exp();
        self.min_ns + delay as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn without_a_log_normal_part_the_latency_is_the_least_one() {
        let latency = LogNormalLatency {
            min_ns: 10,
            median_ns: 0,
            sigma: 0.7,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!((0..5).all(|_| latency.draw_ns(&mut rng) == 10));
    }
}

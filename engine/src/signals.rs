//! Candidate signals: the rule that proposes a maker entry for the model to score.
//!
//! After each book update the trigger reads the feature vector. A **long** candidate (a buy
//! joining the best bid) is proposed when the book imbalance over the configured levels is at
//! or above `imbalance_threshold` and the 1 s order-flow imbalance is positive; a **short** one
//! (a sell joining the best ask) when the imbalance is at or below `-imbalance_threshold` and
//! the order flow negative. It fires on the crossing only: the condition must have been false
//! at the previous evaluation, so a book that stays imbalanced gives one candidate, not one per
//! update. And at most one candidate per side per `cooldown`.
//!
//! Each candidate's id is `seq x 2 + side` (0 for buy, 1 for sell), where `seq` is the book
//! message's cross sequence: unique per update and side, and the same on every replay of the
//! same journal.

use feed::{Fixed, OrderBook, Side};

use crate::config::Signals;
use crate::features::{Feature, FeatureVector};

/// A candidate's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignalId(pub u64);

impl SignalId {
    /// The id of a candidate on `side` from the book message with cross sequence `seq`.
    pub const fn new(seq: u64, side: Side) -> SignalId {
        let side_bit = match side {
            Side::Buy => 0,
            Side::Sell => 1,
        };
        SignalId(seq.wrapping_mul(2) | side_bit)
    }
}

/// A proposed maker entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Unique, deterministic id.
    pub id: SignalId,
    /// Entry side.
    pub side: Side,
    /// Event time, ms.
    pub ts_ms: u64,
    /// The touch on our side: the price a post-only order would join.
    pub price: Fixed,
}

/// The trigger's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalRules {
    /// The imbalance feature read.
    pub imbalance: Feature,
    /// Threshold on it.
    pub threshold: f32,
    /// Least time between two candidates on one side, ms.
    pub cooldown_ms: u64,
}

impl SignalRules {
    /// From the `signals` section (levels other than 1, 3, 5 and 10 are refused when the
    /// configuration loads; anything else reads the 3-level imbalance).
    pub fn from_config(signals: &Signals) -> SignalRules {
        let imbalance = match signals.imbalance_levels {
            1 => Feature::ImbalanceL1,
            5 => Feature::ImbalanceL5,
            10 => Feature::ImbalanceL10,
            _ => Feature::ImbalanceL3,
        };
        SignalRules {
            imbalance,
            threshold: signals.imbalance_threshold as f32,
            cooldown_ms: u64::try_from(signals.cooldown.get().as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// The trigger's state.
#[derive(Debug, Clone)]
pub struct SignalEngine {
    rules: SignalRules,
    was_on: [bool; 2],
    last_fired_ms: [Option<u64>; 2],
}

impl SignalEngine {
    /// A trigger with `rules`.
    pub const fn new(rules: SignalRules) -> SignalEngine {
        SignalEngine {
            rules,
            was_on: [false; 2],
            last_fired_ms: [None; 2],
        }
    }

    /// Evaluates the features after the book update with cross sequence `seq` at `ts_ms`.
    pub fn evaluate(
        &mut self,
        features: &FeatureVector,
        book: &OrderBook,
        ts_ms: u64,
        seq: u64,
    ) -> Option<Candidate> {
        let imbalance = features[self.rules.imbalance as usize];
        let flow = features[Feature::Ofi1s as usize];
        let long = imbalance >= self.rules.threshold && flow > 0.0;
        let short = imbalance <= -self.rules.threshold && flow < 0.0;
        let mut candidate = None;
        for (index, (side, on)) in [(Side::Buy, long), (Side::Sell, short)]
            .into_iter()
            .enumerate()
        {
            let crossed = on && !self.was_on[index];
            self.was_on[index] = on;
            let cooled = self.last_fired_ms[index]
                .is_none_or(|last| ts_ms.saturating_sub(last) >= self.rules.cooldown_ms);
            if !(crossed && cooled) {
                continue;
            }
            let touch = match side {
                Side::Buy => book.best_bid(),
                Side::Sell => book.best_ask(),
            };
            if let Some(level) = touch {
                self.last_fired_ms[index] = Some(ts_ms);
                candidate = Some(Candidate {
                    id: SignalId::new(seq, side),
                    side,
                    ts_ms,
                    price: level.price,
                });
            }
        }
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FEATURE_COUNT;

    fn book() -> OrderBook {
        let price = |text: &str| text.parse().unwrap();
        feed::fixtures::touch_book(price("100.0"), price("100.1"), Fixed::ONE)
    }

    fn features(imbalance: f32, flow: f32) -> FeatureVector {
        let mut vector = [0.0; FEATURE_COUNT];
        vector[Feature::ImbalanceL3 as usize] = imbalance;
        vector[Feature::Ofi1s as usize] = flow;
        vector
    }

    fn engine() -> SignalEngine {
        SignalEngine::new(SignalRules::from_config(&Signals::default()))
    }

    #[test]
    fn rules_from_the_default_config() {
        assert_eq!(
            SignalRules::from_config(&Signals::default()),
            SignalRules {
                imbalance: Feature::ImbalanceL3,
                threshold: 0.3,
                cooldown_ms: 2_000
            }
        );
    }

    #[test]
    fn a_long_fires_on_the_crossing_at_the_bid() {
        let (book, mut trigger) = (book(), engine());
        assert_eq!(
            trigger.evaluate(&features(0.29, 5.0), &book, 1_000, 40),
            None
        );
        assert_eq!(
            trigger.evaluate(&features(0.3, 5.0), &book, 1_020, 41),
            Some(Candidate {
                id: SignalId(82),
                side: Side::Buy,
                ts_ms: 1_020,
                price: "100".parse().unwrap()
            })
        );
        // Still imbalanced: no second candidate.
        assert_eq!(
            trigger.evaluate(&features(0.5, 5.0), &book, 5_000, 42),
            None
        );
        // Without supporting order flow the condition is off, which re-arms it.
        assert_eq!(
            trigger.evaluate(&features(0.5, -1.0), &book, 5_020, 43),
            None
        );
        assert_eq!(
            trigger
                .evaluate(&features(0.5, 1.0), &book, 5_040, 44)
                .map(|c| c.id),
            Some(SignalId(88))
        );
    }

    #[test]
    fn a_short_fires_at_the_ask_with_odd_ids() {
        let (book, mut trigger) = (book(), engine());
        let candidate = trigger
            .evaluate(&features(-0.4, -2.0), &book, 1_000, 7)
            .unwrap();
        assert_eq!(
            (candidate.side, candidate.id, candidate.price),
            (Side::Sell, SignalId(15), "100.1".parse().unwrap())
        );
    }

    #[test]
    fn the_cooldown_holds_back_a_second_crossing() {
        let (book, mut trigger) = (book(), engine());
        assert!(
            trigger
                .evaluate(&features(0.4, 1.0), &book, 1_000, 1)
                .is_some()
        );
        assert!(
            trigger
                .evaluate(&features(0.0, 1.0), &book, 1_500, 2)
                .is_none()
        );
        assert!(
            trigger
                .evaluate(&features(0.4, 1.0), &book, 2_999, 3)
                .is_none(),
            "within 2 s"
        );
        assert!(
            trigger
                .evaluate(&features(0.0, 1.0), &book, 3_000, 4)
                .is_none()
        );
        assert!(
            trigger
                .evaluate(&features(0.4, 1.0), &book, 3_001, 5)
                .is_some()
        );
        // The other side has its own cooldown.
        assert!(
            trigger
                .evaluate(&features(-0.4, -1.0), &book, 3_002, 6)
                .is_some()
        );
    }
}

//! The hot path for one symbol, from a received frame to a decision: decode, book, features,
//! candidate trigger, score, sizing and gates. Nothing allocates after construction.
//!
//! The scorer is passed in per call (native evaluator, ONNX Runtime, or anything that maps a
//! feature vector to a probability), so the same pipeline serves trading, replay, tests and
//! benches.

use feed::book::ApplyOutcome;
use feed::bybit::{DecodeError, PublicDecoder, PublicMessage, Trade};
use feed::{Fixed, FrameBuf, Instrument, OrderBook, Side, Symbol};

use crate::config::Config;
use crate::executor::{
    EntryCheck, GateReject, GateRules, SizingReject, SizingRules, UnrepresentableValue,
    compute_order_qty,
};
use crate::features::{FEATURE_COUNT, Feature, FeatureEngine, FeatureVector};
use crate::signals::{Candidate, SignalEngine, SignalRules};

/// What the account looks like to the gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// Free balance, USD.
    pub free_balance: Fixed,
    /// Current position, signed (positive long).
    pub position: Fixed,
    /// Liquidation price of the position, if the venue reports one.
    pub liq_price: Option<Fixed>,
}

/// Why a scored candidate did not become an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The score was below the entry threshold (or the baseline's [`EntryRule`] refused it).
    Score,
    /// Sizing produced no quantity.
    Sizing(SizingReject),
    /// A gate refused the entry.
    Gate(GateReject),
}

/// Which candidates may become orders, before sizing and gates. Trading uses the model; the
/// others are the baselines a canary judges a model against, run through the same hot loop and
/// paper venue (the score is still the model's, logged as it is).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum EntryRule {
    /// The model's score at or above tau_entry.
    #[default]
    Model,
    /// Every candidate, as a constant score would: what the trigger alone earns.
    Every,
    /// Each candidate with probability `rate`, drawn from its id and `seed` (the same
    /// candidates whatever else happens): a model without skill that approves as often.
    Random {
        /// Share of candidates approved.
        rate: f64,
        /// Seed of the draws.
        seed: u64,
    },
    /// Candidates on the side of the last 30 s of mid return (`mid_return_30s_bps`): a buy
    /// after a rise, a sell after a fall, nothing when the mid has not moved.
    Momentum,
    /// Candidates a judge that knows what the market will do approves: the ceiling a canary
    /// measures the model's share of, on simulated days whose latent state is known.
    Foresight(Foresight),
}

/// A judge of candidates that knows more than the market shows (a simulator's latent state):
/// research only, never a trading rule.
#[derive(Clone)]
pub struct Foresight(std::sync::Arc<dyn Fn(&Candidate) -> bool + Send + Sync>);

impl Foresight {
    /// A judge approving the candidates `approves` says yes to.
    pub fn new(approves: impl Fn(&Candidate) -> bool + Send + Sync + 'static) -> Foresight {
        Foresight(std::sync::Arc::new(approves))
    }
}

impl std::fmt::Debug for Foresight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Foresight(..)")
    }
}

impl PartialEq for Foresight {
    /// The same judge, not one that happens to agree.
    fn eq(&self, other: &Foresight) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl EntryRule {
    /// The rule's name as reported: `model`, `every`, `random`, `momentum` or `foresight`.
    pub const fn label(&self) -> &'static str {
        match self {
            EntryRule::Model => "model",
            EntryRule::Every => "every",
            EntryRule::Random { .. } => "random",
            EntryRule::Momentum => "momentum",
            EntryRule::Foresight(_) => "foresight",
        }
    }

    /// Whether `candidate`, scored `probability` on `features`, may become an order.
    fn approves(
        &self,
        candidate: &Candidate,
        probability: f32,
        tau_entry: f32,
        features: &FeatureVector,
    ) -> bool {
        match self {
            EntryRule::Model => !probability.is_nan() && probability >= tau_entry,
            EntryRule::Every => true,
            EntryRule::Random { rate, seed } => unit_draw(*seed, candidate.id.0) < *rate,
            EntryRule::Momentum => {
                let rise = features[Feature::MidReturn30sBps as usize];
                match candidate.side {
                    Side::Buy => rise > 0.0,
                    Side::Sell => rise < 0.0,
                }
            }
            EntryRule::Foresight(judge) => (judge.0)(candidate),
        }
    }
}

/// A uniform draw in [0, 1) from `seed` and `id` (SplitMix64's finaliser).
fn unit_draw(seed: u64, id: u64) -> f64 {
    let mut z = seed ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1_u64 << 53) as f64
}

/// The outcome for one candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// The candidate.
    pub candidate: Candidate,
    /// Its score.
    pub score: f32,
    /// The quantity of the post-only order to place, or why there is none.
    pub order_qty: Result<Fixed, Rejection>,
}

/// What one frame did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameOutcome {
    /// A book update applied to a valid book; features are current.
    Book {
        /// Event time, ms.
        ts_ms: u64,
        /// Cross sequence of the message.
        seq: u64,
    },
    /// Anything else that decoded (trades feed the features; other messages change nothing).
    Other,
    /// A book update of this book that left it invalid, or that it dropped while invalid or
    /// awaiting its snapshot.
    BookNotValid {
        /// Event time of the update, ms.
        ts_ms: u64,
    },
    /// The frame did not decode (counted by the decoder).
    Error(DecodeError),
}

/// A stage of [`Pipeline::on_frame_staged`], reported as it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The frame is decoded (or refused).
    Decode,
    /// The book update is applied.
    Book,
    /// The features are up to date.
    Features,
}

/// The hot path of one symbol.
pub struct Pipeline {
    decoder: PublicDecoder,
    book: OrderBook,
    features: FeatureEngine,
    vector: FeatureVector,
    /// The copy of the book that [`Pipeline::rehearse`] updates, and its features.
    rehearsal_book: OrderBook,
    rehearsal_vector: FeatureVector,
    trigger: SignalEngine,
    gates: GateRules,
    sizing: SizingRules,
    instrument: Instrument,
    tau_entry: f32,
    entry_rule: EntryRule,
    /// The resting sizes the liquidity gate reads, reused.
    join_sizes: Vec<Fixed>,
}

impl Pipeline {
    /// A pipeline for `symbol` with `config`, the instrument's rules and the entry threshold.
    pub fn new(
        config: &Config,
        symbol: Symbol,
        instrument: Instrument,
        tau_entry: f32,
    ) -> Result<Pipeline, UnrepresentableValue> {
        let gates = GateRules::from_config(config)?;
        let levels = gates.liquidity.map_or(0, |rule| usize::from(rule.levels));
        Ok(Pipeline {
            decoder: PublicDecoder::new(),
            book: OrderBook::new(symbol, usize::from(config.engine.book_depth)),
            rehearsal_book: OrderBook::new(symbol, usize::from(config.engine.book_depth)),
            rehearsal_vector: [0.0; FEATURE_COUNT],
            features: FeatureEngine::new(),
            vector: [0.0; FEATURE_COUNT],
            trigger: SignalEngine::new(SignalRules::from_config(&config.signals)),
            gates,
            sizing: SizingRules::from_config(&config.executor.sizing)?,
            instrument,
            tau_entry,
            entry_rule: EntryRule::Model,
            join_sizes: Vec::with_capacity(levels),
        })
    }

    /// The entry threshold.
    pub const fn tau_entry(&self) -> f32 {
        self.tau_entry
    }

    /// Sets the entry threshold (the runtime's, per model and route).
    pub fn set_tau_entry(&mut self, tau_entry: f32) {
        self.tau_entry = tau_entry;
    }

    /// Replaces the model's approval with `rule` (a canary's baselines).
    pub fn set_entry_rule(&mut self, rule: EntryRule) {
        self.entry_rule = rule;
    }

    /// The book.
    pub const fn book(&self) -> &OrderBook {
        &self.book
    }

    /// The feature vector after the last book update.
    pub const fn features(&self) -> &FeatureVector {
        &self.vector
    }

    /// Feature-window events dropped early because a window was full (0 at realistic rates).
    pub fn feature_overflows(&self) -> u64 {
        self.features.overflowed()
    }

    /// The decoder (for its counters).
    pub const fn decoder(&self) -> &PublicDecoder {
        &self.decoder
    }

    /// Decodes `frame` and brings the book and features up to date.
    pub fn on_frame(&mut self, frame: &mut FrameBuf) -> FrameOutcome {
        self.on_frame_observing(frame, |_| {})
    }

    /// [`Pipeline::on_frame`], handing every decoded batch of trades to `on_trades` as well
    /// (the archive records them next to the candidates).
    pub fn on_frame_observing(
        &mut self,
        frame: &mut FrameBuf,
        on_trades: impl FnMut(&[Trade]),
    ) -> FrameOutcome {
        self.on_frame_staged(frame, on_trades, |_| {})
    }

    /// [`Pipeline::on_frame_observing`], calling `stamp` as each stage ends (the runtime times
    /// the stages with it).
    pub fn on_frame_staged(
        &mut self,
        frame: &mut FrameBuf,
        mut on_trades: impl FnMut(&[Trade]),
        mut stamp: impl FnMut(Stage),
    ) -> FrameOutcome {
        let decoded = self.decoder.decode(frame);
        stamp(Stage::Decode);
        match decoded {
            Ok(PublicMessage::Book(update)) => {
                let applied = self.book.apply(&update);
                stamp(Stage::Book);
                if applied == ApplyOutcome::NotThisBook {
                    return FrameOutcome::Other;
                }
                if !self.book.is_valid() {
                    return FrameOutcome::BookNotValid { ts_ms: update.ts };
                }
                self.features.on_book(&self.book, update.ts);
                self.features.compute(&self.book, &mut self.vector);
                stamp(Stage::Features);
                FrameOutcome::Book {
                    ts_ms: update.ts,
                    seq: update.seq,
                }
            }
            Ok(PublicMessage::Trades(batch)) if batch.symbol == self.book.symbol() => {
                self.features.on_trades(batch.trades);
                on_trades(batch.trades);
                FrameOutcome::Other
            }
            Ok(_) => FrameOutcome::Other,
            Err(err) => FrameOutcome::Error(err),
        }
    }

    /// Decodes `frame`, a copy of the last book frame [`Pipeline::on_frame`] handled, once more,
    /// applies it to a copy of the book and computes features from it, changing nothing the
    /// pipeline decides with: the decoder does not count it, the live book is only read, and
    /// the features are computed read-only ([`FeatureEngine::rehearse`]; their windows keep
    /// running sums whose rounding must not depend on when the engine was idle). The hot
    /// thread does this while idle, so that the next frame of a live feed finds the code,
    /// branch history and data of decode, book and features in the caches: on a shared host
    /// they are otherwise gone within the milliseconds between two frames. Allocates nothing.
    pub fn rehearse(&mut self, frame: &mut FrameBuf) -> u64 {
        let Ok(PublicMessage::Book(update)) = self.decoder.decode_uncounted(frame) else {
            return 0;
        };
        self.rehearsal_book.rehearse(&self.book, &update);
        self.features
            .rehearse(&self.rehearsal_book, &mut self.rehearsal_vector)
    }

    /// True once when the book asked for a resync (a gap or a crossed book): the caller asks
    /// the source for a fresh snapshot.
    pub fn take_resync_request(&mut self) -> bool {
        self.book.take_resync_request()
    }

    /// Marks the book stale after a lost connection: it waits for its next snapshot.
    pub fn invalidate_book(&mut self) {
        self.book.invalidate_disconnected();
    }

    /// The candidate the trigger proposes after the book update `(ts_ms, seq)` that
    /// [`Pipeline::on_frame`] reported, if any.
    pub fn candidate(&mut self, ts_ms: u64, seq: u64) -> Option<Candidate> {
        self.trigger.evaluate(&self.vector, &self.book, ts_ms, seq)
    }

    /// Decodes `frame` and, when it brings a candidate, scores, sizes and gates it.
    pub fn on_frame_decide(
        &mut self,
        frame: &mut FrameBuf,
        account: &Account,
        score: &mut impl FnMut(&FeatureVector) -> f32,
    ) -> Option<Decision> {
        let FrameOutcome::Book { ts_ms, seq } = self.on_frame(frame) else {
            return None;
        };
        let candidate = self.candidate(ts_ms, seq)?;
        Some(self.decide(candidate, account, score))
    }

    /// Scores, sizes and gates `candidate` on the current book and features.
    pub fn decide(
        &mut self,
        candidate: Candidate,
        account: &Account,
        score: &mut impl FnMut(&FeatureVector) -> f32,
    ) -> Decision {
        let probability = score(&self.vector);
        let order_qty = self.size_and_gate(&candidate, probability, account);
        Decision {
            candidate,
            score: probability,
            order_qty,
        }
    }

    fn size_and_gate(
        &mut self,
        candidate: &Candidate,
        probability: f32,
        account: &Account,
    ) -> Result<Fixed, Rejection> {
        if !self
            .entry_rule
            .approves(candidate, probability, self.tau_entry, &self.vector)
        {
            return Err(Rejection::Score);
        }
        let qty = compute_order_qty(
            &self.sizing,
            &self.instrument,
            candidate.price,
            account.free_balance,
        )
        .map_err(Rejection::Sizing)?;
        self.join_sizes.clear();
        let levels = self.join_sizes.capacity();
        self.join_sizes
            .extend(self.book.sizes(candidate.side).take(levels));
        let entry = EntryCheck {
            side: candidate.side,
            price: candidate.price,
            qty,
            free_balance: account.free_balance,
            position: account.position,
            liq_price: account.liq_price,
            join_side_sizes: &self.join_sizes,
        };
        self.gates.check_entry(&entry).map_err(Rejection::Gate)?;
        Ok(qty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::SizingReject;
    use crate::signals::SignalId;
    use feed::fixtures::btcusdt;
    use feed::sim::{MarketSim, Regime, SimConfig};

    fn fx(text: &str) -> Fixed {
        text.parse().unwrap()
    }

    /// A pipeline fed one simulated minute, and a buy candidate at its best bid.
    fn warmed_up() -> (Pipeline, Candidate) {
        let config = SimConfig {
            duration_ms: 60_000,
            ..SimConfig::btcusdt(Regime::Normal, 1_767_225_600_000, 1)
        };
        let mut pipeline =
            Pipeline::new(&Config::default(), config.symbol, btcusdt(), 0.6).unwrap();
        let (mut sim, mut out, mut frame) =
            (MarketSim::new(config), Vec::new(), FrameBuf::default());
        let mut last = None;
        while sim.next_frame(&mut out).is_some() {
            frame.fill(&out);
            if let FrameOutcome::Book { ts_ms, seq } = pipeline.on_frame(&mut frame) {
                last = Some((ts_ms, seq));
            }
        }
        let (ts_ms, seq) = last.unwrap();
        let price = pipeline.book().best_bid().unwrap().price;
        (
            pipeline,
            Candidate {
                id: SignalId::new(seq, Side::Buy),
                side: Side::Buy,
                ts_ms,
                price,
            },
        )
    }

    fn account(balance: &str) -> Account {
        Account {
            free_balance: fx(balance),
            position: Fixed::ZERO,
            liq_price: None,
        }
    }

    #[test]
    fn a_good_score_with_room_becomes_an_order_of_the_sized_qty() {
        let (mut pipeline, candidate) = warmed_up();
        let decision = pipeline.decide(candidate, &account("5000"), &mut |_| 0.9);
        let sizing = SizingRules::from_config(&Config::default().executor.sizing).unwrap();
        let expected = compute_order_qty(&sizing, &btcusdt(), candidate.price, fx("5000")).unwrap();
        assert_eq!(
            decision,
            Decision {
                candidate,
                score: 0.9,
                order_qty: Ok(expected)
            }
        );
        assert!(expected.is_positive());
    }

    #[test]
    fn baseline_rules_approve_whatever_the_score_says() {
        let (mut pipeline, buy) = warmed_up();
        let sell = Candidate {
            side: Side::Sell,
            id: SignalId(buy.id.0 + 1),
            ..buy
        };
        let approved = |pipeline: &mut Pipeline, rule: EntryRule, candidate: Candidate| {
            pipeline.set_entry_rule(rule);
            pipeline
                .decide(candidate, &account("5000"), &mut |_| 0.0)
                .order_qty
                .is_ok()
        };
        assert!(!approved(&mut pipeline, EntryRule::Model, buy));
        assert!(approved(&mut pipeline, EntryRule::Every, buy));
        // Momentum reads the last 30 s of mid return: the side it points to only.
        let rise = pipeline.features()[Feature::MidReturn30sBps as usize];
        assert!(rise != 0.0, "{rise}");
        assert_eq!(
            approved(&mut pipeline, EntryRule::Momentum, buy),
            rise > 0.0
        );
        assert_eq!(
            approved(&mut pipeline, EntryRule::Momentum, sell),
            rise < 0.0
        );
        // Random: nothing at rate 0, everything at rate 1; in between, the share asked for.
        let random = |rate| EntryRule::Random { rate, seed: 3 };
        assert!(!approved(&mut pipeline, random(0.0), buy));
        assert!(approved(&mut pipeline, random(1.0), buy));
        let drawn = (0..100_000_u64)
            .filter(|&id| unit_draw(3, id) < 0.3)
            .count();
        assert_eq!(drawn, 29_986);
        // Foresight: whatever its judge says of the candidate.
        let buys_only =
            EntryRule::Foresight(Foresight::new(|candidate| candidate.side == Side::Buy));
        assert!(approved(&mut pipeline, buys_only.clone(), buy));
        assert!(!approved(&mut pipeline, buys_only, sell));
        assert_eq!(EntryRule::default(), EntryRule::Model);
    }

    #[test]
    fn each_stage_rejects_with_its_reason() {
        let (mut pipeline, candidate) = warmed_up();
        let rejected = |pipeline: &mut Pipeline, balance: &str, score: f32| {
            pipeline
                .decide(candidate, &account(balance), &mut |_| score)
                .order_qty
        };
        assert_eq!(rejected(&mut pipeline, "5000", 0.59), Err(Rejection::Score));
        assert_eq!(
            rejected(&mut pipeline, "5000", f32::NAN),
            Err(Rejection::Score)
        );
        assert_eq!(
            rejected(&mut pipeline, "0", 0.9),
            Err(Rejection::Sizing(SizingReject::NoBudget {
                free_balance: Fixed::ZERO
            }))
        );
        assert_eq!(
            rejected(&mut pipeline, "100", 0.9),
            Err(Rejection::Gate(GateReject::FreeBalanceBelowMin {
                free: fx("100"),
                min: fx("200")
            }))
        );
    }
}

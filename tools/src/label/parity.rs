//! The labeler against the engine: the entries a paper session of `engine run` made, traded
//! again by the labeler, alone, over the same journal, end exactly as they did in the session.
//!
//! The session runs the engine's hot loop (the code of `engine run --feed replay`) with the
//! paper venue of the default configuration (latency with jitter and activity scaling, the
//! square queue rule) over a simulated journal of each regime. Every candidate the model
//! approves is entered; tau_hold is 0, so exits are the take-profit, the stop and the max hold,
//! as in the labels. Its decision log is cut into round trips. The labeler is then given the
//! same entries (signal and quantity) and must produce, for each round trip that had the
//! account to itself (no other entry working at the same time: the labeler trades every
//! candidate alone), the same outcome, fill times, quantities, prices and net PnL, to the raw
//! unit.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

use engine::config::Config;
use engine::runtime::hot::HotRings;
use engine::runtime::rings::{ExitReason, LogRecord, Outcome as Decided, Purpose};
use engine::runtime::source::{Pace, ReplaySource, Source};
use engine::runtime::trader::TraderRules;
use feed::journal::JournalOptions;
use feed::order::{OrderId, VenueEvent};
use feed::sim::{Regime, SimConfig};
use feed::{Fixed, Side, Symbol};

use super::trial::{Outcome, Replay, TrialResult};

/// A round trip of the engine's session, as its decision log tells it.
#[derive(Debug, Clone, PartialEq)]
struct RoundTrip {
    signal: u64,
    side: Side,
    placed_ns: u64,
    qty: Fixed,
    first_fill_ns: Option<u64>,
    entry_qty: i64,
    entry_notional: i128,
    exit_qty: i64,
    exit_notional: i128,
    exit_reason: Option<ExitReason>,
    closed_ns: Option<u64>,
    net_pnl: i64,
    /// Another entry worked while this one did.
    shared: bool,
    working: Vec<OrderId>,
    position: i64,
    done: bool,
}

impl RoundTrip {
    fn outcome(&self) -> Outcome {
        match (self.entry_qty, self.exit_reason) {
            (0, _) => Outcome::NoFill,
            (_, None) => Outcome::TakeProfit,
            (_, Some(ExitReason::MaxHold)) => Outcome::Timeout,
            (_, Some(_)) => Outcome::Stop,
        }
    }

    /// What the labeler should have found.
    fn expected(&self) -> TrialResult {
        let average =
            |notional: i128, qty: i64| (qty > 0).then(|| notional as f64 / qty as f64 / 1e8);
        TrialResult {
            signal: self.signal,
            side: self.side,
            outcome: self.outcome(),
            placed_ns: self.placed_ns,
            qty: self.qty,
            first_fill_ns: self.first_fill_ns,
            entry_qty: Fixed::from_raw(self.entry_qty),
            entry_price: average(self.entry_notional, self.entry_qty),
            closed_ns: self.closed_ns,
            exit_price: average(self.exit_notional, self.exit_qty),
            net_pnl: Fixed::from_raw(self.net_pnl),
            markouts_bps: [None; 3],
        }
    }
}

/// Cuts the decision log into round trips: from an entry to flat with nothing working.
fn round_trips(records: &[LogRecord]) -> Vec<RoundTrip> {
    let mut trips: Vec<RoundTrip> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut owner: HashMap<OrderId, usize> = HashMap::new();
    for record in records {
        match *record {
            LogRecord::Place {
                ts_ns,
                order,
                purpose,
            } => {
                let trip = match purpose {
                    Purpose::Entry => {
                        close_finished(&mut trips, &mut open);
                        for &other in &open {
                            trips[other].shared = true;
                        }
                        trips.push(RoundTrip {
                            signal: 0,
                            side: order.side,
                            placed_ns: ts_ns,
                            qty: order.qty,
                            first_fill_ns: None,
                            entry_qty: 0,
                            entry_notional: 0,
                            exit_qty: 0,
                            exit_notional: 0,
                            exit_reason: None,
                            closed_ns: None,
                            net_pnl: 0,
                            shared: !open.is_empty(),
                            working: Vec::new(),
                            position: 0,
                            done: false,
                        });
                        open.push(trips.len() - 1);
                        trips.len() - 1
                    }
                    // A reprice belongs to the open trip on its side; an exit to the one
                    // holding a position on the other side.
                    _ => {
                        let side = match purpose {
                            Purpose::Reprice => order.side,
                            _ => order.side.opposite(),
                        };
                        let Some(&trip) = open.iter().rev().find(|&&index| {
                            let trip = &trips[index];
                            trip.side == side && (purpose == Purpose::Reprice || trip.position != 0)
                        }) else {
                            continue;
                        };
                        if let Purpose::Exit(reason) = purpose {
                            trips[trip].exit_reason.get_or_insert(reason);
                        }
                        trip
                    }
                };
                trips[trip].working.push(order.id);
                owner.insert(order.id, trip);
            }
            LogRecord::Decision {
                signal,
                outcome: Decided::Placed { order },
                ..
            } => {
                if let Some(&trip) = owner.get(&order.id) {
                    trips[trip].signal = signal.0;
                }
            }
            LogRecord::Venue { event, .. } => {
                let (id, gone) = match event {
                    VenueEvent::Accepted { .. }
                    | VenueEvent::Amended { .. }
                    | VenueEvent::AmendRejected { .. } => continue,
                    VenueEvent::Rejected { id, .. } | VenueEvent::Cancelled { id, .. } => {
                        (id, true)
                    }
                    VenueEvent::Filled(fill) => (fill.id, !fill.leaves_qty.is_positive()),
                };
                let Some(&index) = owner.get(&id) else {
                    continue;
                };
                let trip = &mut trips[index];
                if let VenueEvent::Filled(fill) = event {
                    let notional = i128::from(fill.qty.raw()) * i128::from(fill.price.raw());
                    if fill.side == trip.side {
                        trip.first_fill_ns.get_or_insert(fill.ts_ns);
                        trip.entry_qty += fill.qty.raw();
                        trip.entry_notional += notional;
                        trip.position += fill.qty.raw();
                    } else {
                        trip.exit_qty += fill.qty.raw();
                        trip.exit_notional += notional;
                        trip.position -= fill.qty.raw();
                        if trip.position == 0 {
                            trip.closed_ns = Some(fill.ts_ns);
                        }
                    }
                    trip.net_pnl += fill.realized.raw() - fill.fee.raw();
                }
                if gone {
                    trip.working.retain(|working| *working != id);
                }
            }
            _ => {}
        }
    }
    close_finished(&mut trips, &mut open);
    trips
}

/// Closes the open trips that are flat with nothing working. Only checked when the next entry
/// is placed (or the log ends): a cancel that empties a trip may be followed by its reprice.
fn close_finished(trips: &mut [RoundTrip], open: &mut Vec<usize>) {
    open.retain(|&index| {
        let trip = &mut trips[index];
        trip.done = trip.working.is_empty() && trip.position == 0;
        !trip.done
    });
}

/// The engine's paper session over `journal`: its decision log.
fn engine_session(config: &Config, journal: &std::path::Path) -> Vec<LogRecord> {
    let source = Source::Replay(Box::new(
        ReplaySource::open(journal, Pace::AsFastAsPossible).unwrap(),
    ));
    let (rings, mut ends) = HotRings::unread(1 << 16);
    let mut hot = tests::paper_hot_loop(source, rings, (0.0, 0.0), false);
    assert_eq!(
        config,
        &Config::default(),
        "the session runs the default settings"
    );
    let log = ends
        .iter_mut()
        .find_map(|end| end.downcast_mut::<rtrb::Consumer<LogRecord>>())
        .unwrap();
    let stop = AtomicBool::new(false);
    let mut records = Vec::new();
    while hot.step(&stop).unwrap().is_none() {
        while let Ok(record) = log.pop() {
            records.push(record);
        }
    }
    // Not shut down: the trips the data ended on stay open, as the labeler leaves them.
    while let Ok(record) = log.pop() {
        records.push(record);
    }
    records
}

#[test]
fn the_labeler_trades_every_entry_exactly_as_the_engine_and_its_paper_venue_did() {
    let config = Config::default();
    let instrument = tests::shipped_instrument("BTCUSDT");
    let symbol = Symbol::new("BTCUSDT").unwrap();
    let mut totals: HashMap<&str, usize> = HashMap::new();
    // Stops are rare but for high volatility: its day is longer.
    for (regime, seed, minutes) in [
        (Regime::Normal, 21, 30),
        (Regime::Event, 22, 30),
        (Regime::HighVol, 23, 60),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("day");
        let sim = SimConfig {
            duration_ms: minutes * 60_000,
            ..SimConfig::btcusdt(regime, 1_767_225_600_000, seed)
        };
        crate::synth::simulate_day(&sim, &journal, JournalOptions::default()).unwrap();

        let trips = round_trips(&engine_session(&config, &journal));
        let entries: HashMap<u64, Fixed> =
            trips.iter().map(|trip| (trip.signal, trip.qty)).collect();
        let rules = TraderRules::from_config(&config, &instrument);
        let labeled: HashMap<u64, TrialResult> = Replay::new(&config, symbol, instrument, rules)
            .unwrap()
            .run(&journal, |candidate| entries.get(&candidate.id.0).copied())
            .unwrap()
            .into_iter()
            .map(|trial| (trial.signal, trial))
            .collect();
        assert_eq!(
            labeled.len(),
            entries.len(),
            "{regime:?}: every entry traded"
        );

        let mut compared = 0;
        for trip in trips.iter().filter(|trip| trip.done && !trip.shared) {
            let trial = labeled[&trip.signal];
            let found = TrialResult {
                markouts_bps: [None; 3],
                ..trial
            };
            assert_eq!(found, trip.expected(), "{regime:?}: signal {}", trip.signal);
            *totals.entry(trip.outcome().name()).or_default() += 1;
            compared += 1;
        }
        eprintln!(
            "{regime:?}: {} trips, {} shared, {} open at the end, {compared} compared",
            trips.len(),
            trips.iter().filter(|trip| trip.shared).count(),
            trips.iter().filter(|trip| !trip.done).count()
        );
        assert!(
            compared >= 20,
            "{regime:?}: only {compared} round trips compared"
        );
    }
    // Every way a trip ends was compared.
    for outcome in ["no_fill", "take_profit", "stop", "timeout"] {
        assert!(totals.get(outcome).is_some_and(|&n| n > 0), "{totals:?}");
    }
}

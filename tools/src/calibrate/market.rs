//! One pass over the sessions' market (their journal days, through the engine's own pipeline)
//! that gives the calibration everything it needs from the market:
//!
//! - the time of every frame (a paper venue's answer is taken at a frame, so it came after the
//!   frame before);
//! - the paper venue's latency factor at any asked time, from the same activity measure the
//!   venue keeps ([`Activity`], fed the same messages);
//! - the book each order met on arrival: the size ahead of it at its price, the touch, its
//!   distance from the touch in ticks;
//! - each session's orders replayed on paper venues that differ only in the queue power, with
//!   no latency: every order and cancel is put in at the moment it reached the venue in the
//!   session, so a venue with the session's own power fills exactly as the session's did, and
//!   the others show what another power would have filled.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use engine::config::Config;
use engine::pipeline::{FrameOutcome, Pipeline};
use feed::journal::{JournalReader, OnCorrupt, StreamId};
use feed::order::{OrderId, OrderRequest, VenueEvent};
use feed::paper::PaperVenue;
use feed::paper::latency::{Activity, LogNormalLatency, ScalingConfig};
use feed::paper::queue::level_view;
use feed::{Fixed, FrameBuf, Instrument, OrderBook, Side, Symbol};

/// A request put to the replayed venues at the time it reached the session's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Injection {
    /// The order at `orders[index]`.
    New {
        index: usize,
        order: OrderRequest,
    },
    Cancel {
        id: OrderId,
    },
}

/// One session's requests in the order they reached the venue: (arrival ns, request).
pub(crate) type Injections = Vec<(u64, Injection)>;

/// What the book showed an order when it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct ArrivalView {
    /// Size ahead of it at its price (0 for a new level).
    pub(crate) queue_ahead: f64,
    /// Ticks behind the touch of its side (0 at the touch, negative inside the spread); `None`
    /// without a touch.
    pub(crate) ticks_from_touch: Option<i64>,
}

/// What a replayed venue did with one order: its fills.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Replayed {
    pub(crate) first_fill_ns: Option<u64>,
    pub(crate) filled: Fixed,
}

/// Everything the pass found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Market {
    /// Every frame's time, ascending.
    pub(crate) frame_times: Vec<u64>,
    /// The latency factor at each asked time, in the order asked.
    pub(crate) factors: Vec<f64>,
    /// Per session, per order: the book on arrival.
    pub(crate) views: Vec<Vec<ArrivalView>>,
    /// Per session, per power, per order: what the replayed venue did.
    pub(crate) replayed: Vec<Vec<Vec<Replayed>>>,
    /// Median size at the touch (both sides), for the queue-ahead fraction.
    pub(crate) median_touch: f64,
}

impl Market {
    /// The time of the last frame before `ns`.
    pub(crate) fn frame_before(&self, ns: u64) -> Option<u64> {
        let at = self.frame_times.partition_point(|&t| t < ns);
        at.checked_sub(1).map(|i| self.frame_times[i])
    }

    /// The last frame's time.
    pub(crate) fn end_ns(&self) -> u64 {
        self.frame_times.last().copied().unwrap_or(0)
    }
}

/// The inputs of the pass.
pub(crate) struct Pass<'a> {
    pub(crate) config: &'a Config,
    pub(crate) symbol: Symbol,
    pub(crate) instrument: Instrument,
    /// Journal days, in time order.
    pub(crate) days: &'a [PathBuf],
    /// Per session: its orders' count and its requests by arrival.
    pub(crate) sessions: Vec<(usize, Injections)>,
    /// The queue powers to replay with.
    pub(crate) powers: &'a [f64],
    /// Times at which the latency factor is wanted, in any order.
    pub(crate) factor_times: &'a [u64],
}

/// A session being replayed.
struct Replay {
    orders: usize,
    injections: Injections,
    next: usize,
    index_of: HashMap<u64, usize>,
    venues: Vec<PaperVenue>,
    views: Vec<ArrivalView>,
    replayed: Vec<Vec<Replayed>>,
}

impl Pass<'_> {
    /// Replays the days; `on_frame` is told of each frame (for a progress bar).
    pub(crate) fn run(self, mut on_frame: impl FnMut()) -> Result<Market> {
        let session_venue = engine::venues::paper_config(self.config, &self.instrument)
            .context("the paper venue's settings do not fit")?;
        let mut activity = Activity::new(session_venue.latency_scaling);
        let none = LogNormalLatency {
            min_ns: 0,
            median_ns: 0,
            sigma: 0.0,
        };
        let mut replays: Vec<Replay> = self
            .sessions
            .into_iter()
            .map(|(orders, injections)| Replay {
                orders,
                injections,
                next: 0,
                index_of: HashMap::new(),
                venues: self
                    .powers
                    .iter()
                    .map(|&power| {
                        let mut config = session_venue;
                        config.entry_latency = none;
                        config.response_latency = none;
                        config.latency_scaling = ScalingConfig::OFF;
                        config.queue.power = power;
                        PaperVenue::new(config)
                    })
                    .collect(),
                views: vec![ArrivalView::default(); orders],
                replayed: vec![vec![Replayed::default(); orders]; self.powers.len()],
            })
            .collect();
        let mut asked: Vec<(u64, usize)> = self
            .factor_times
            .iter()
            .enumerate()
            .map(|(slot, &ns)| (ns, slot))
            .collect();
        asked.sort_unstable();
        let mut factors = vec![1.0; asked.len()];
        let mut next_asked = 0;
        let mut pipeline = Pipeline::new(self.config, self.symbol, self.instrument, 1.0)
            .context("the configured sizing does not fit the instrument")?;
        let mut frame_times = Vec::new();
        let mut touches = Vec::new();
        let mut frame = FrameBuf::default();
        for day in self.days {
            let mut reader = JournalReader::open(day, OnCorrupt::Skip)
                .with_context(|| format!("opening the journal {}", day.display()))?;
            while let Some(record) = reader.next_record()? {
                if record.stream == StreamId::LINK {
                    pipeline.invalidate_book();
                    continue;
                }
                if record.stream != StreamId::PUBLIC_LINEAR {
                    continue;
                }
                let now = record.wall_ns;
                on_frame();
                while let Some(&(ns, slot)) = asked.get(next_asked).filter(|(ns, _)| *ns < now) {
                    factors[slot] = activity.factor(ns);
                    next_asked += 1;
                }
                frame_times.push(now);
                let book = pipeline.book();
                for replay in &mut replays {
                    replay.inject_until(now, book, self.instrument.tick_size);
                    for venue in &mut replay.venues {
                        venue.advance(now, book);
                    }
                }
                frame.fill(record.frame);
                let outcome = pipeline.on_frame_observing(&mut frame, |trades| {
                    activity.on_message(now, None);
                    for replay in &mut replays {
                        for venue in &mut replay.venues {
                            venue.on_trades(trades, now);
                        }
                    }
                });
                if let FrameOutcome::Book { .. } = outcome {
                    let book = pipeline.book();
                    activity.on_message(now, book.mid());
                    for level in [book.best_bid(), book.best_ask()].into_iter().flatten() {
                        touches.push(level.size.to_f64());
                    }
                    for replay in &mut replays {
                        for venue in &mut replay.venues {
                            venue.on_book(book, now);
                        }
                    }
                }
                for replay in &mut replays {
                    replay.take_events();
                }
            }
        }
        while let Some(&(ns, slot)) = asked.get(next_asked) {
            factors[slot] = activity.factor(ns);
            next_asked += 1;
        }
        let (views, replayed) = replays.into_iter().map(|r| (r.views, r.replayed)).unzip();
        let median_touch = if touches.is_empty() {
            0.0
        } else {
            let middle = touches.len() / 2;
            *touches.select_nth_unstable_by(middle, f64::total_cmp).1
        };
        Ok(Market {
            frame_times,
            factors,
            views,
            replayed,
            median_touch,
        })
    }
}

impl Replay {
    /// Puts in every request that reached the session's venue by `now`, against the book that
    /// stood then.
    fn inject_until(&mut self, now: u64, book: &OrderBook, tick: Fixed) {
        while let Some(&(at, injection)) =
            self.injections.get(self.next).filter(|(at, _)| *at <= now)
        {
            self.next += 1;
            match injection {
                Injection::New { index, order } => {
                    if index < self.orders {
                        self.index_of.insert(order.id.0, index);
                        self.views[index] = view(book, &order, tick);
                    }
                    for venue in &mut self.venues {
                        venue.submit(order, at);
                    }
                }
                Injection::Cancel { id } => {
                    for venue in &mut self.venues {
                        venue.cancel(id, at);
                    }
                }
            }
        }
    }

    fn take_events(&mut self) {
        for (venue, replayed) in self.venues.iter_mut().zip(&mut self.replayed) {
            let index_of = &self.index_of;
            venue.drain_events(|event| {
                let VenueEvent::Filled(fill) = event else {
                    return;
                };
                if let Some(order) = index_of.get(&fill.id.0).map(|&i| &mut replayed[i]) {
                    order.first_fill_ns.get_or_insert(fill.ts_ns);
                    order.filled = order.filled.saturating_add(fill.qty);
                }
            });
        }
    }
}

/// What `book` shows `order` arriving now.
fn view(book: &OrderBook, order: &OrderRequest, tick: Fixed) -> ArrivalView {
    let touch = match order.side {
        Side::Buy => book.best_bid(),
        Side::Sell => book.best_ask(),
    };
    let ticks_from_touch = touch.filter(|_| tick.is_positive()).map(|level| {
        let behind = match order.side {
            Side::Buy => level.price.raw() - order.price.raw(),
            Side::Sell => order.price.raw() - level.price.raw(),
        };
        behind.div_euclid(tick.raw())
    });
    ArrivalView {
        queue_ahead: level_view(book, order.side, order.price)
            .unwrap_or(Fixed::ZERO)
            .to_f64(),
        ticks_from_touch,
    }
}

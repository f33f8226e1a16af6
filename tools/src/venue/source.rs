//! Where the venue's market comes from, and the thread that plays it in real time: the
//! simulator (started now) or a journal's public stream (at its recorded pace from its first
//! record). The same thread fires the scheduled faults, so a fault and a market frame never
//! interleave.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use feed::FrameBuf;
use feed::bybit::{PublicDecoder, PublicMessage};
use feed::journal::{JournalError, JournalReader, OnCorrupt, StreamId};
use feed::sim::MarketSim;

use super::exchange::Outside;
use super::faults::{FaultKind, FaultSchedule};
use super::stream::{Outbound, Topic, Venue, wall_ms, wall_ns};

/// Longest the player sleeps without looking at the clock (faults, depth-1 repeats, stop).
const TICK: Duration = Duration::from_millis(50);
/// Undecodable market frames logged one by one before the rest are only counted.
const LOGGED_DECODE_ERRORS: u64 = 10;

/// Why the market cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SourceError {
    /// The journal could not be read.
    #[error("replay of {dir}: {source}")]
    Journal {
        /// The journal directory.
        dir: PathBuf,
        /// The cause.
        source: JournalError,
    },
}

/// The market's frames.
pub(crate) enum MarketSource {
    /// The simulator, started at the venue's start.
    Sim(Box<MarketSim>),
    /// A journal's public-stream records.
    Replay {
        /// The reader.
        reader: Box<JournalReader>,
        /// Its directory.
        dir: PathBuf,
    },
}

impl MarketSource {
    /// The public stream of the journal in `dir`.
    pub(crate) fn replay(dir: &Path) -> Result<MarketSource, SourceError> {
        let reader =
            JournalReader::open(dir, OnCorrupt::Fail).map_err(|source| SourceError::Journal {
                dir: dir.to_path_buf(),
                source,
            })?;
        Ok(MarketSource::Replay {
            reader: Box::new(reader),
            dir: dir.to_path_buf(),
        })
    }

    /// The next frame into `out` and its receive time (ns since the epoch), None at the end.
    fn next(&mut self, out: &mut Vec<u8>) -> Result<Option<u64>, SourceError> {
        match self {
            MarketSource::Sim(sim) => Ok(sim.next_frame(out).map(|frame| frame.recv_ns)),
            MarketSource::Replay { reader, dir } => loop {
                let record = reader
                    .next_record()
                    .map_err(|source| SourceError::Journal {
                        dir: dir.clone(),
                        source,
                    })?;
                let Some(record) = record else {
                    return Ok(None);
                };
                if record.stream == StreamId::PUBLIC_LINEAR {
                    out.clear();
                    out.extend_from_slice(record.frame);
                    return Ok(Some(record.wall_ns));
                }
            },
        }
    }

    const fn is_replay(&self) -> bool {
        matches!(self, MarketSource::Replay { .. })
    }
}

/// The market thread: plays the source into the venue's market and fires the faults.
pub(crate) struct Player {
    venue: Arc<Venue>,
    source: MarketSource,
    schedule: FaultSchedule,
    started: Instant,
    /// Receive time (ns since the epoch) played at `started`.
    origin_ns: Option<u64>,
    decoder: PublicDecoder,
    frame: FrameBuf,
    buffer: Vec<u8>,
    /// Due time of the frame in `buffer`.
    pending: Option<Instant>,
    /// Frames still to send at once (`burst`).
    burst_left: u64,
    /// Faults given on standard input.
    more_faults: Option<std::sync::mpsc::Receiver<super::faults::FaultPlan>>,
    ended: bool,
    frames: u64,
    decode_errors: u64,
}

impl Player {
    /// A player of `source` from `started`; `origin_ns` is the receive time due then (None:
    /// the first frame's, for a replay).
    pub(crate) fn new(
        venue: Arc<Venue>,
        source: MarketSource,
        schedule: FaultSchedule,
        started: Instant,
        origin_ns: Option<u64>,
    ) -> Player {
        Player {
            venue,
            source,
            schedule,
            started,
            origin_ns,
            decoder: PublicDecoder::new(),
            frame: FrameBuf::default(),
            buffer: Vec::with_capacity(64 * 1024),
            pending: None,
            burst_left: 0,
            more_faults: None,
            ended: false,
            frames: 0,
            decode_errors: 0,
        }
    }

    /// Takes faults from `plans` as well, as they come.
    pub(crate) fn with_fault_input(
        mut self,
        plans: std::sync::mpsc::Receiver<super::faults::FaultPlan>,
    ) -> Player {
        self.more_faults = Some(plans);
        self
    }

    /// Plays until `stop` is set.
    pub(crate) fn run(mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            while let Some(plan) = self
                .more_faults
                .as_ref()
                .and_then(|plans| plans.try_recv().ok())
            {
                eprintln!("toolkit venue: faults from standard input: {plan}");
                self.schedule.add(&plan, now);
            }
            for fault in self.schedule.due(now) {
                self.fire(fault, now);
            }
            if self.pending.is_none() && !self.ended {
                self.fetch();
            }
            if let Some(due) = self.pending
                && (self.burst_left > 0 || now >= due)
            {
                self.burst_left = self.burst_left.saturating_sub(1);
                self.pending = None;
                self.play();
                continue;
            }
            // Also after a replay has ended: nothing changing is when depth 1 repeats itself.
            self.venue.market().repeat_level1(now);
            self.venue.market().check_dcp(now);
            self.venue.market().release_pushes(now);
            let held = self.venue.market().next_push_due();
            let wake = [self.pending, self.schedule.next_at(), held]
                .into_iter()
                .flatten()
                .fold(now + TICK, Instant::min);
            std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        }
    }

    /// Reads the next frame and works out when it is due.
    fn fetch(&mut self) {
        match self.source.next(&mut self.buffer) {
            Ok(Some(recv_ns)) => {
                let origin = *self.origin_ns.get_or_insert_with(|| {
                    // A replay starts with its first record, its stamps shifted to the present.
                    let rebase = i64::try_from(wall_ms()).unwrap_or(i64::MAX)
                        - i64::try_from(recv_ns / 1_000_000).unwrap_or(i64::MAX);
                    self.venue.market().set_rebase(rebase);
                    recv_ns
                });
                let since = Duration::from_nanos(recv_ns.saturating_sub(origin));
                self.pending = Some(self.started.checked_add(since).unwrap_or(self.started));
            }
            Ok(None) => self.end(None),
            Err(err) => self.end(Some(err)),
        }
    }

    fn end(&mut self, error: Option<SourceError>) {
        self.ended = true;
        self.venue.set_ended();
        let what = if self.source.is_replay() {
            "replay"
        } else {
            "simulation"
        };
        match error {
            None => eprintln!(
                "toolkit venue: {what} ended after {} frames; serving the final book, no more \
                 data",
                self.frames
            ),
            Some(err) => eprintln!(
                "toolkit venue: {what} stopped after {} frames: {err}; serving the last book, no \
                 more data",
                self.frames
            ),
        }
    }

    /// Decodes the frame in `buffer` into the market.
    fn play(&mut self) {
        self.frames += 1;
        self.frame.fill(&self.buffer);
        let message = match self.decoder.decode(&mut self.frame) {
            Ok(message) => message,
            Err(err) => {
                self.decode_errors += 1;
                if self.decode_errors <= LOGGED_DECODE_ERRORS {
                    eprintln!("toolkit venue: a market frame does not decode ({err}); skipped");
                }
                return;
            }
        };
        let mut market = self.venue.market();
        let symbol = market.symbol();
        let now_ns = wall_ns();
        match message {
            PublicMessage::Book(update) => {
                market.apply_book(&update, &self.buffer);
                market.step_exchange(now_ns);
            }
            PublicMessage::Trades(batch) if batch.symbol == symbol => {
                market.forward(Topic::Trades, &self.buffer);
                market.exchange_trades(batch.trades, now_ns);
            }
            PublicMessage::Ticker(ticker) if ticker.symbol == symbol => {
                market.set_ticker(ticker);
                market.forward(Topic::Tickers, &self.buffer);
            }
            // Other symbols, and the market's own acks and pongs: the venue makes its own.
            PublicMessage::Trades(_) | PublicMessage::Ticker(_) | PublicMessage::Control(_) => {}
        }
    }

    /// Moves the account's position from outside (`what`); what it did.
    fn outside(&self, what: Outside) -> String {
        let mut market = self.venue.market();
        let (pushes, done) = market.exchange.outside_fill(what, wall_ns());
        market.push_private(pushes);
        done
    }

    /// Fires one fault.
    fn fire(&mut self, fault: FaultKind, now: Instant) {
        let faults = &self.venue.faults;
        let detail = match fault {
            FaultKind::Drop => {
                let n = self.venue.market().tell_all(|| Outbound::Drop);
                format!("{n} connections")
            }
            FaultKind::Stall { period } => {
                let n = self.venue.market().tell_all(|| Outbound::Stall(period));
                format!("{n} connections for {}", humantime::format_duration(period))
            }
            FaultKind::Gap => {
                self.venue.market().gap_next();
                "next delta of every book withheld".to_owned()
            }
            FaultKind::Snapshot => {
                self.venue.market().snapshot_all(false);
                "snapshot on every book".to_owned()
            }
            FaultKind::Restart => {
                self.venue.market().snapshot_all(true);
                "every book restarted at u=1".to_owned()
            }
            FaultKind::Malformed => {
                let n = self.venue.market().send_malformed();
                format!("{n} connections")
            }
            FaultKind::Truncated => {
                self.venue.market().truncate_next();
                "next delta of every book cut in half".to_owned()
            }
            FaultKind::SubscribeFail { requests } => {
                faults.fail_subscribes(requests);
                format!("next {requests} subscribe requests fail")
            }
            FaultKind::PongDelay { delay, period } => {
                faults.delay_pongs(delay, period.and_then(|period| now.checked_add(period)));
                format!("pongs {} ms late", delay.as_millis())
            }
            FaultKind::PongLost { period } => {
                faults.lose_pongs(period.and_then(|period| now.checked_add(period)));
                "pings unanswered".to_owned()
            }
            FaultKind::Burst { frames } => {
                self.burst_left = frames;
                format!("next {frames} frames at once")
            }
            FaultKind::Skew { ms } => {
                let mut market = self.venue.market();
                market.add_skew(ms);
                format!("time stamps now {:+} ms", market.skew_ms())
            }
            FaultKind::RateLimit { requests } => {
                faults.limit_rest(requests);
                format!("next {requests} signed REST requests answered 10006")
            }
            FaultKind::IpBan { requests } => {
                faults.ban_rest(requests);
                format!("next {requests} REST requests answered HTTP 403")
            }
            FaultKind::AckLost { requests } => {
                faults.lose_acks(requests);
                format!("next {requests} trade-stream order requests unanswered")
            }
            FaultKind::AckDelay { delay, period } => {
                faults.delay_acks(delay, period.and_then(|period| now.checked_add(period)));
                format!("trade-stream answers {} ms late", delay.as_millis())
            }
            FaultKind::PushLost { pushes } => {
                self.venue.market().lose_pushes(pushes);
                format!("next {pushes} private pushes sent to nobody")
            }
            FaultKind::OrderFirst { delay, period } => {
                let until = period.and_then(|period| now.checked_add(period));
                self.venue.market().order_first(delay, until);
                format!(
                    "order pushes first, executions {} ms after",
                    delay.as_millis()
                )
            }
            FaultKind::PushReorder { delay, period } => {
                let until = period.and_then(|period| now.checked_add(period));
                let seed = self.venue.seed();
                self.venue.market().reorder_pushes(delay, until, seed);
                format!(
                    "pushes of each change shuffled, up to {} ms late",
                    delay.as_millis()
                )
            }
            FaultKind::ExecLag { lag, period } => {
                let until = period.and_then(|period| now.checked_add(period));
                self.venue.market().exchange.lag_executions(lag, until);
                format!("executions listed {} ms late", lag.as_millis())
            }
            FaultKind::FeeDecimals { period } => {
                let until = period.and_then(|period| now.checked_add(period));
                self.venue.market().exchange.widen_fees(until);
                "fees written with a ninth decimal".to_owned()
            }
            FaultKind::Adl { per_mille } => self.outside(Outside::Adl { per_mille }),
            FaultKind::Liquidation => self.outside(Outside::Liquidation),
            FaultKind::ManualClose => self.outside(Outside::ManualClose),
            FaultKind::ForeignOrder => {
                let mut market = self.venue.market();
                let now_ns = wall_ns();
                let placed = market.exchange.foreign_order(now_ns);
                market.step_exchange(now_ns);
                match placed {
                    Ok(ack) => format!("order {} ({}) placed", ack.order_id, ack.link_id),
                    Err(refusal) => format!("refused: {} {}", refusal.code, refusal.message),
                }
            }
            FaultKind::CancelIgnored { requests, all } => {
                faults.ignore_cancels(requests, all);
                format!(
                    "next {requests} {} answered and not done",
                    if all {
                        "cancels and cancel-alls"
                    } else {
                        "cancels"
                    }
                )
            }
            FaultKind::RestDelay { delay, period } => {
                faults.delay_rest(delay, period.and_then(|period| now.checked_add(period)));
                format!("signed REST answers {} ms late", delay.as_millis())
            }
            FaultKind::Fatal { code, requests } => {
                faults.refuse_orders(code, requests);
                format!("next {requests} order requests refused with {code}")
            }
            FaultKind::Chaos => String::new(),
        };
        eprintln!("toolkit venue: fault {} fired: {detail}", fault.name());
    }
}

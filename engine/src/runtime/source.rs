//! Where the hot thread's frames come from: the market simulator or a journal replay, in real
//! time or as fast as possible, or the live Bybit public stream. A source is polled and never
//! blocks: it hands over the next frame when it is due, or says it is idle, or (the live
//! stream) that its connection was lost.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use feed::bybit::live::{FeedError, FeedPoll, FeedStats, LossReason, PublicFeed};
use feed::journal::{ClockAnchor, JournalError, JournalReader, OnCorrupt, StreamId, monotonic_ns};
use feed::sim::{MarketSim, SimConfig};
use feed::{FrameBuf, Symbol};

use super::frame_ring::{FrameReader, FrameWriter, frame_ring};

/// How fast a source plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Each frame when the wall clock reaches its receive time (relative to the first frame
    /// for a replay).
    RealTime,
    /// Every frame at once, as fast as the hot thread takes them.
    AsFastAsPossible,
}

/// What a poll found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// A frame is in the buffer; it was received at `recv_ns` (ns since the epoch), which is
    /// the market time of everything it causes.
    Frame {
        /// Receive time, ns since the epoch.
        recv_ns: u64,
    },
    /// Nothing is due yet.
    Idle,
    /// The live connection was lost: every book is stale until its next snapshot.
    Lost(LossReason),
    /// The source is exhausted.
    End,
}

/// Why a source failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The journal could not be read.
    #[error("replay of {dir}: {source}")]
    Journal {
        /// The journal directory.
        dir: PathBuf,
        /// The cause.
        source: JournalError,
    },
    /// The live stream cannot go on (a refused subscription at start).
    #[error("bybit public stream: {0}")]
    Live(#[from] FeedError),
}

/// A source of frames.
pub enum Source {
    /// The market simulator.
    Sim(Box<SimSource>),
    /// A journal.
    Replay(Box<ReplaySource>),
    /// The live Bybit public stream.
    Live(Box<PublicFeed>),
}

impl Source {
    /// Polls for the next frame, writing it into `frame` when one is due.
    pub fn poll(&mut self, frame: &mut FrameBuf) -> Result<Poll, SourceError> {
        match self {
            Source::Sim(sim) => Ok(sim.poll(frame)),
            Source::Replay(replay) => replay.poll(frame),
            Source::Live(feed) => Ok(match feed.poll(frame)? {
                FeedPoll::Frame { recv_ns } => Poll::Frame { recv_ns },
                FeedPoll::Idle => Poll::Idle,
                FeedPoll::Lost(reason) => Poll::Lost(reason),
            }),
        }
    }

    /// Asks for a fresh snapshot of `symbol`'s book (the live stream re-subscribes it; a
    /// simulated or replayed market has nobody to ask, and its next snapshot comes when it
    /// comes).
    pub fn resync(&mut self, symbol: Symbol) {
        if let Source::Live(feed) = self {
            feed.resync(symbol);
        }
    }

    /// The live connection's counters (none for other sources).
    pub fn feed_stats(&self) -> Option<&FeedStats> {
        match self {
            Source::Live(feed) => Some(feed.stats()),
            Source::Sim(_) | Source::Replay(_) => None,
        }
    }
}

/// Bytes of the ring between the simulator's thread and the hot thread.
const SIM_RING_BYTES: usize = 4 << 20;

/// The market simulator as a source. The simulator runs on a thread of its own, as an exchange
/// would, and hands its frames over on a byte ring, as a socket would: the hot thread only
/// copies them out (the simulator's own book allocates, the hot thread must not). In real time
/// a frame is handed over when the wall clock reaches its receive time (the simulation starts
/// now); as fast as possible, the ring is kept full and the frames carry simulated times from
/// the configured start.
pub struct SimSource {
    frames: FrameReader,
    /// Set by the simulator's thread after its last frame.
    finished: Arc<AtomicBool>,
    /// Set to stop the simulator's thread early.
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimSource {
    /// A source playing `config`, its simulator started on a thread named `sim-feed`.
    pub fn new(config: SimConfig, pace: Pace) -> SimSource {
        let clock = quanta::Clock::new();
        let anchor = ClockAnchor::now(&clock);
        let config = match pace {
            Pace::RealTime => SimConfig {
                start_ms: anchor.wall_ns / 1_000_000,
                ..config
            },
            Pace::AsFastAsPossible => config,
        };
        let (producer, frames) = frame_ring(SIM_RING_BYTES, true);
        let finished = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("sim-feed".to_owned())
            .spawn({
                let (finished, stop) = (Arc::clone(&finished), Arc::clone(&stop));
                move || {
                    produce(
                        MarketSim::new(config),
                        producer,
                        pace,
                        (clock, anchor),
                        &stop,
                    );
                    finished.store(true, Ordering::Release);
                }
            });
        let thread = match thread {
            Ok(thread) => Some(thread),
            Err(err) => {
                // No thread, no frames: the source ends at once, and says why.
                eprintln!("sim-feed: cannot start the simulator's thread: {err}");
                finished.store(true, Ordering::Release);
                None
            }
        };
        SimSource {
            frames,
            finished,
            stop,
            thread,
        }
    }

    fn poll(&mut self, frame: &mut FrameBuf) -> Poll {
        // Read the flag first: once it is set, every frame is in the ring.
        let finished = self.finished.load(Ordering::Acquire);
        let mut received = None;
        self.frames.read(|recv_ns, _, first, second| {
            frame.fill_parts(first, second);
            received = Some(recv_ns);
        });
        match received {
            Some(recv_ns) => Poll::Frame { recv_ns },
            None if finished => Poll::End,
            None => Poll::Idle,
        }
    }
}

impl Drop for SimSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The simulator's thread: frames into the ring, at their time in real time.
fn produce(
    mut sim: MarketSim,
    mut ring: FrameWriter,
    pace: Pace,
    (clock, anchor): (quanta::Clock, ClockAnchor),
    stop: &AtomicBool,
) {
    let mut buffer = Vec::with_capacity(64 * 1024);
    while let Some(produced) = sim.next_frame(&mut buffer) {
        if ring.too_large(buffer.len()) {
            eprintln!(
                "sim-feed: a frame of {} bytes does not fit the ring; dropped",
                buffer.len()
            );
            continue;
        }
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let now = anchor.wall_of(monotonic_ns(&clock));
            let due = pace == Pace::AsFastAsPossible || now >= produced.recv_ns;
            if due && ring.write(produced.recv_ns, &buffer) {
                break;
            }
            match pace {
                Pace::RealTime => {
                    let wait = produced.recv_ns.saturating_sub(now);
                    std::thread::sleep(Duration::from_nanos(wait.clamp(20_000, 1_000_000)));
                }
                Pace::AsFastAsPossible => std::thread::yield_now(),
            }
        }
    }
}

/// A journal as a source: the public-stream records, stamped with their recorded receive
/// times, and the connection losses recorded among them ([`StreamId::LINK`]).
pub struct ReplaySource {
    reader: JournalReader,
    dir: PathBuf,
    pace: Pace,
    clock: quanta::Clock,
    /// (first record's wall time, monotonic time it was handed over), in real time.
    origin: Option<(u64, u64)>,
    buffer: Vec<u8>,
    pending: Option<u64>,
}

impl ReplaySource {
    /// Opens the journal in `dir`; corrupt records stop the replay with an error.
    pub fn open(dir: &Path, pace: Pace) -> Result<ReplaySource, SourceError> {
        let reader =
            JournalReader::open(dir, OnCorrupt::Fail).map_err(|source| SourceError::Journal {
                dir: dir.to_path_buf(),
                source,
            })?;
        Ok(ReplaySource {
            reader,
            dir: dir.to_path_buf(),
            pace,
            clock: quanta::Clock::new(),
            origin: None,
            buffer: Vec::with_capacity(1 << 20),
            pending: None,
        })
    }

    fn poll(&mut self, frame: &mut FrameBuf) -> Result<Poll, SourceError> {
        let recv_ns = match self.pending {
            Some(recv_ns) => recv_ns,
            None => loop {
                let record = self
                    .reader
                    .next_record()
                    .map_err(|source| SourceError::Journal {
                        dir: self.dir.clone(),
                        source,
                    })?;
                let Some(record) = record else {
                    return Ok(Poll::End);
                };
                if record.stream == StreamId::LINK {
                    // Reported where it was recorded: the frames before it were handed over.
                    return Ok(Poll::Lost(LossReason::from_label(record.frame)));
                }
                if record.stream != StreamId::PUBLIC_LINEAR {
                    continue;
                }
                self.buffer.clear();
                self.buffer.extend_from_slice(record.frame);
                break record.wall_ns;
            },
        };
        if self.pace == Pace::RealTime {
            let now = monotonic_ns(&self.clock);
            let (first_wall, first_mono) = *self.origin.get_or_insert((recv_ns, now));
            if now - first_mono < recv_ns.saturating_sub(first_wall) {
                self.pending = Some(recv_ns);
                return Ok(Poll::Idle);
            }
        }
        self.pending = None;
        frame.fill(&self.buffer);
        Ok(Poll::Frame { recv_ns })
    }
}

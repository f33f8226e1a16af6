//! Where the hot thread's frames come from: the market simulator or a journal replay, in real
//! time or as fast as possible. A source is polled and never blocks: it hands over the next
//! frame when it is due, or says it is idle.

use std::path::{Path, PathBuf};

use feed::FrameBuf;
use feed::journal::{ClockAnchor, JournalError, JournalReader, OnCorrupt, StreamId, monotonic_ns};
use feed::sim::{MarketSim, SimConfig};

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
}

/// A source of frames.
pub enum Source {
    /// The market simulator.
    Sim(Box<SimSource>),
    /// A journal.
    Replay(Box<ReplaySource>),
}

impl Source {
    /// Polls for the next frame, writing it into `frame` when one is due.
    pub fn poll(&mut self, frame: &mut FrameBuf) -> Result<Poll, SourceError> {
        match self {
            Source::Sim(sim) => Ok(sim.poll(frame)),
            Source::Replay(replay) => replay.poll(frame),
        }
    }

    /// True when frames come at the market's pace (idle polls are expected).
    pub const fn is_real_time(&self) -> bool {
        match self {
            Source::Sim(sim) => matches!(sim.pace, Pace::RealTime),
            Source::Replay(replay) => matches!(replay.pace, Pace::RealTime),
        }
    }
}

/// The market simulator as a source. In real time its frames carry the wall-clock times they
/// are handed over at (the simulation starts now); as fast as possible they carry simulated
/// times from the configured start.
pub struct SimSource {
    sim: MarketSim,
    pace: Pace,
    clock: quanta::Clock,
    anchor: ClockAnchor,
    buffer: Vec<u8>,
    pending: Option<u64>,
}

impl SimSource {
    /// A source playing `config`.
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
        SimSource {
            sim: MarketSim::new(config),
            pace,
            clock,
            anchor,
            buffer: Vec::with_capacity(64 * 1024),
            pending: None,
        }
    }

    fn poll(&mut self, frame: &mut FrameBuf) -> Poll {
        let recv_ns = match self.pending {
            Some(recv_ns) => recv_ns,
            None => match self.sim.next_frame(&mut self.buffer) {
                Some(produced) => produced.recv_ns,
                None => return Poll::End,
            },
        };
        if self.pace == Pace::RealTime && self.anchor.wall_of(monotonic_ns(&self.clock)) < recv_ns {
            self.pending = Some(recv_ns);
            return Poll::Idle;
        }
        self.pending = None;
        frame.fill(&self.buffer);
        Poll::Frame { recv_ns }
    }
}

/// A journal as a source: the public-stream records, stamped with their recorded receive
/// times.
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

//! Recording what the hot thread receives: each frame, as it arrived and before it is decoded
//! (decoding rewrites it in place), goes on a byte ring to the journal thread, which appends it
//! to a journal that replays exactly as the run saw it. A full ring drops the frame and counts
//! it (`ring_drops_total{ring="journal"}`); the hot thread never waits for the disk.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use feed::journal::{ClockAnchor, JournalError, JournalOptions, JournalWriter, StreamId};

use super::frame_ring::{FrameReader, FrameWriter, frame_ring};

/// Monotonic time the recorded journal starts at (its anchor ties it to the first frame's
/// receive time).
const MONO_BASE_NS: u64 = 1_000_000_000;

/// The hot thread's end: frames onto the ring.
pub struct FrameRecorder {
    ring: FrameWriter,
    dropped: u64,
}

/// A recorder and the journal thread's end of its ring, `bytes` long (resident from the start).
pub fn recorder(bytes: usize) -> (FrameRecorder, FrameReader) {
    let (ring, frames) = frame_ring(bytes, true);
    (FrameRecorder { ring, dropped: 0 }, frames)
}

impl FrameRecorder {
    /// Puts `frame`, received at `recv_ns`, on the ring; false (and counted) when it is full.
    pub fn record(&mut self, recv_ns: u64, frame: &[u8]) -> bool {
        let written = self.ring.write(recv_ns, frame);
        self.dropped += u64::from(!written);
        written
    }

    /// Records that the live connection was lost, for `reason`, at `recv_ns` (a
    /// [`StreamId::LINK`] record: a replay reacts to it where the run did).
    pub fn record_link_loss(
        &mut self,
        recv_ns: u64,
        reason: feed::bybit::live::LossReason,
    ) -> bool {
        let written = self
            .ring
            .write_stream(recv_ns, StreamId::LINK, reason.label().as_bytes());
        self.dropped += u64::from(!written);
        written
    }

    /// Frames dropped because the ring was full.
    pub const fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// What the journal thread wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordReport {
    /// The journal directory.
    pub dir: PathBuf,
    /// Frames written.
    pub frames: u64,
}

/// Why recording failed.
#[derive(Debug, thiserror::Error)]
#[error("recording to {dir}: {source}")]
pub struct RecordError {
    /// The journal directory.
    pub dir: PathBuf,
    /// The cause.
    pub source: JournalError,
}

/// The journal thread: appends the ring's frames to a journal in `dir` until `done` is set and
/// the ring is drained.
pub fn run(
    dir: &Path,
    mut frames: FrameReader,
    done: &AtomicBool,
) -> Result<RecordReport, RecordError> {
    let error = |source| RecordError {
        dir: dir.to_path_buf(),
        source,
    };
    let mut journal: Option<(JournalWriter, ClockAnchor)> = None;
    let mut frame = Vec::with_capacity(64 * 1024);
    let mut count = 0;
    loop {
        let finished = done.load(Ordering::Acquire);
        let mut received = None;
        let got = frames.read(|recv_ns, stream, first, second| {
            frame.clear();
            frame.extend_from_slice(first);
            frame.extend_from_slice(second);
            received = Some((recv_ns, stream));
        });
        let Some((recv_ns, stream)) = received.filter(|_| got) else {
            if finished {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
            continue;
        };
        let (writer, anchor) = match journal.as_mut() {
            Some(open) => open,
            None => {
                let anchor = ClockAnchor {
                    mono_ns: MONO_BASE_NS,
                    wall_ns: recv_ns,
                };
                let (writer, _) =
                    JournalWriter::open(dir, JournalOptions::default(), anchor).map_err(error)?;
                journal.insert((writer, anchor))
            }
        };
        let mono_ns = anchor.mono_ns + recv_ns.saturating_sub(anchor.wall_ns);
        writer.append(mono_ns, stream, &frame).map_err(error)?;
        count += 1;
    }
    if let Some((writer, _)) = journal.as_ref() {
        writer.flush().map_err(error)?;
    }
    Ok(RecordReport {
        dir: dir.to_path_buf(),
        frames: count,
    })
}

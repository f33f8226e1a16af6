//! Recording what the hot thread receives: each frame, as it arrived and before it is decoded
//! (decoding rewrites it in place), goes on a byte ring to the journal thread, which appends it
//! to a journal that replays exactly as the run saw it. A full ring drops the frame and counts
//! it (`ring_drops_total{ring="journal"}`); the hot thread never waits for the disk.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use feed::journal::{ClockAnchor, JournalError, JournalOptions, JournalWriter, StreamId};
use rtrb::{Consumer, Producer, RingBuffer};

/// Bytes of a frame's header on the ring: receive time (u64) and length (u32), little-endian.
const HEADER: usize = 12;
/// Monotonic time the recorded journal starts at (its anchor ties it to the first frame's
/// receive time).
const MONO_BASE_NS: u64 = 1_000_000_000;

/// The hot thread's end: frames onto the ring.
pub struct FrameRecorder {
    ring: Producer<u8>,
    dropped: u64,
}

/// A recorder and the journal thread's end of its ring, `bytes` long. The ring is written
/// through once so that its pages are resident before the first frame.
pub fn recorder(bytes: usize) -> (FrameRecorder, Consumer<u8>) {
    let (mut ring, mut frames) = RingBuffer::new(bytes.max(HEADER));
    if let Ok(chunk) = ring.write_chunk_uninit(ring.slots()) {
        chunk.fill_from_iter(std::iter::repeat(0));
    }
    if let Ok(chunk) = frames.read_chunk(frames.slots()) {
        chunk.commit_all();
    }
    (FrameRecorder { ring, dropped: 0 }, frames)
}

impl FrameRecorder {
    /// Puts `frame`, received at `recv_ns`, on the ring; false (and counted) when it is full.
    pub fn record(&mut self, recv_ns: u64, frame: &[u8]) -> bool {
        let needed = HEADER + frame.len();
        let Ok(chunk) = self.ring.write_chunk_uninit(needed) else {
            self.dropped += 1;
            return false;
        };
        let header = recv_ns
            .to_le_bytes()
            .into_iter()
            .chain((frame.len() as u32).to_le_bytes());
        chunk.fill_from_iter(header.chain(frame.iter().copied()));
        true
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
    mut frames: Consumer<u8>,
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
        if frames.slots() < HEADER {
            if finished {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let mut header = [0_u8; HEADER];
        if let Ok(chunk) = frames.read_chunk(HEADER) {
            let (first, second) = chunk.as_slices();
            header[..first.len()].copy_from_slice(first);
            header[first.len()..].copy_from_slice(second);
            chunk.commit_all();
        }
        let (time, len) = header.split_at(8);
        let recv_ns = u64::from_le_bytes(time.try_into().unwrap_or_default());
        let len = u32::from_le_bytes(len.try_into().unwrap_or_default()) as usize;
        frame.clear();
        // Header and body were written together.
        if let Ok(chunk) = frames.read_chunk(len) {
            let (first, second) = chunk.as_slices();
            frame.extend_from_slice(first);
            frame.extend_from_slice(second);
            chunk.commit_all();
        }
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
        writer
            .append(mono_ns, StreamId::PUBLIC_LINEAR, &frame)
            .map_err(error)?;
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

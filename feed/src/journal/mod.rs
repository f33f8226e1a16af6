//! The journal: every received frame, appended to memory-mapped segment files.
//!
//! A journal is a directory of fixed-size segment files, `0000000001.jnl`, `0000000002.jnl`, ...
//! Each starts with a 64-byte header and holds length-prefixed, checksummed records, 8-byte
//! aligned, until the next one would not fit; the writer then moves to a new segment. Each run
//! of a writer starts a new segment, so that every segment has one clock anchor.
//!
//! ```text
//! segment header (64 bytes, little-endian)
//!   0  magic "BYJOURN1"        8  version u32 = 1      12  header length u32 = 64
//!   16 segment number u64      24 segment size u64
//!   32 anchor monotonic ns u64 40 anchor wall-clock ns u64 (Unix epoch)
//!   48 first record monotonic ns u64 (0 until the first record)
//! record (24-byte header + frame, padded to 8 bytes)
//!   0  frame length u32 (0: no record here, the end of the data)
//!   4  CRC-32 of bytes 8 .. 24 + length
//!   8  receive time, monotonic ns u64 (quanta)
//!   16 stream id u16           18 reserved (0) 6 bytes
//!   24 frame bytes
//! ```
//!
//! The writer fills a record's body first and its length last, so a record is either whole or
//! (after a crash) fails its checksum or has no length. Opening a directory for writing cuts a
//! torn tail of the last segment back to the last whole record and keeps everything before it;
//! a bad record with valid records after it is corruption, reported with its segment and offset,
//! never cut. The wall-clock time of a record is its segment's wall-clock anchor plus the time
//! since the monotonic anchor.

mod reader;
mod writer;

use std::path::{Path, PathBuf};

pub use reader::{JournalReader, OnCorrupt, Record, SegmentInfo};
pub use writer::{JournalWriter, Recovery};

/// Magic bytes at the start of every segment.
pub const MAGIC: [u8; 8] = *b"BYJOURN1";
/// Format version.
pub const VERSION: u32 = 1;
/// Segment header length.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Record header length.
pub const RECORD_HEADER_LEN: usize = 24;
/// Default segment size: 64 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 * 1024 * 1024;
/// Segment file extension.
pub const SEGMENT_EXTENSION: &str = "jnl";

/// Which stream a frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamId(pub u16);

impl StreamId {
    /// Bybit public linear market data.
    pub const PUBLIC_LINEAR: StreamId = StreamId(1);
    /// Bybit private stream (orders, executions, positions, wallet).
    pub const PRIVATE: StreamId = StreamId(2);
    /// Bybit trade stream (order entry replies).
    pub const TRADE: StreamId = StreamId(3);
    /// Events of the public stream's connection, as the engine saw them: a record whose bytes
    /// are the reason a connection was lost (`stale`, `closed`, ...). A replay reports it where
    /// it was recorded, so the engine reacts to it (halts, cancels) as it did live.
    pub const LINK: StreamId = StreamId(4);
}

/// Monotonic time of `clock` in ns: what records are stamped with.
pub fn monotonic_ns(clock: &quanta::Clock) -> u64 {
    clock.delta_as_nanos(0, clock.raw())
}

/// A monotonic instant paired with the wall-clock time it corresponds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockAnchor {
    /// Monotonic time, ns (the clock records are stamped with).
    pub mono_ns: u64,
    /// Wall-clock time at that instant, ns since the Unix epoch.
    pub wall_ns: u64,
}

impl ClockAnchor {
    /// The anchor of `clock` now.
    pub fn now(clock: &quanta::Clock) -> ClockAnchor {
        let wall_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
            });
        ClockAnchor {
            mono_ns: monotonic_ns(clock),
            wall_ns,
        }
    }

    /// The wall-clock time of a monotonic instant.
    pub const fn wall_of(&self, mono_ns: u64) -> u64 {
        self.wall_ns
            .wrapping_add(mono_ns.wrapping_sub(self.mono_ns))
    }
}

/// Options of a journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalOptions {
    /// Size of each segment file, bytes (at least 4 KiB).
    pub segment_size: u64,
}

impl JournalOptions {
    /// Smallest segment size.
    pub const MIN_SEGMENT_SIZE: u64 = 4096;
    /// Largest segment size (offsets in a segment are 32-bit).
    pub const MAX_SEGMENT_SIZE: u64 = 1 << 32;

    /// Options with segments of `mib` MiB (checked when a writer opens).
    pub const fn with_segment_mib(mib: u64) -> JournalOptions {
        JournalOptions {
            segment_size: mib.saturating_mul(1 << 20),
        }
    }
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
        }
    }
}

/// What went wrong with a journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A segment's header is not a journal header.
    #[error("{segment}: not a journal segment ({reason})")]
    BadHeader {
        /// The segment file.
        segment: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// A record fails its checks and valid records follow it.
    #[error("{segment}: corrupt record at offset {offset} ({reason})")]
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// Byte offset of the record in the segment.
        offset: u64,
        /// Why.
        reason: &'static str,
    },
    /// A frame larger than a segment can hold.
    #[error("frame of {len} bytes does not fit in a segment (at most {max})")]
    FrameTooLarge {
        /// The frame's length.
        len: usize,
        /// The largest frame a segment holds.
        max: usize,
    },
    /// Empty frames are not recorded.
    #[error("empty frame")]
    EmptyFrame,
    /// The segment size is outside 4 KiB to 4 GiB.
    #[error("segment size {0} bytes is outside 4 KiB to 4 GiB")]
    SegmentSize(u64),
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The header fields of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Segment number (its file name).
    pub number: u64,
    /// Size of the file, bytes.
    pub size: u64,
    /// Clock anchor of the writer that wrote it.
    pub anchor: ClockAnchor,
    /// Monotonic time of the first record (0 when empty).
    pub first_mono_ns: u64,
}

impl SegmentHeader {
    fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut bytes = [0; SEGMENT_HEADER_LEN];
        bytes[0..8].copy_from_slice(&MAGIC);
        bytes[8..12].copy_from_slice(&VERSION.to_le_bytes());
        bytes[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
        bytes[16..24].copy_from_slice(&self.number.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.size.to_le_bytes());
        bytes[32..40].copy_from_slice(&self.anchor.mono_ns.to_le_bytes());
        bytes[40..48].copy_from_slice(&self.anchor.wall_ns.to_le_bytes());
        bytes[48..56].copy_from_slice(&self.first_mono_ns.to_le_bytes());
        bytes
    }

    fn decode(bytes: &[u8], segment: &Path) -> Result<SegmentHeader, JournalError> {
        let bad = |reason| JournalError::BadHeader {
            segment: segment.to_path_buf(),
            reason,
        };
        if bytes.len() < SEGMENT_HEADER_LEN {
            return Err(bad("shorter than a header"));
        }
        if bytes[0..8] != MAGIC {
            return Err(bad("wrong magic"));
        }
        if read_u32(bytes, 8) != VERSION {
            return Err(bad("unsupported version"));
        }
        if read_u32(bytes, 12) as usize != SEGMENT_HEADER_LEN {
            return Err(bad("unexpected header length"));
        }
        Ok(SegmentHeader {
            number: read_u64(bytes, 16),
            size: read_u64(bytes, 24),
            anchor: ClockAnchor {
                mono_ns: read_u64(bytes, 32),
                wall_ns: read_u64(bytes, 40),
            },
            first_mono_ns: read_u64(bytes, 48),
        })
    }
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// Total bytes a record with a frame of `len` bytes takes.
pub const fn record_len(len: usize) -> usize {
    (RECORD_HEADER_LEN + len + 7) & !7
}

/// What is at an offset of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// A whole record: its frame spans `frame_start..frame_end`; the next record is at `next`.
    Record {
        mono_ns: u64,
        stream: u16,
        frame_start: usize,
        frame_end: usize,
        next: usize,
    },
    /// No record: the end of the data.
    End,
    /// Something that is not a whole record.
    Invalid(&'static str),
}

/// Reads the slot at `offset` of a segment's bytes.
fn read_slot(bytes: &[u8], offset: usize) -> Slot {
    if offset + 4 > bytes.len() {
        return Slot::End;
    }
    let len = read_u32(bytes, offset) as usize;
    if len == 0 {
        return Slot::End;
    }
    if offset + RECORD_HEADER_LEN > bytes.len() {
        return Slot::Invalid("header cut short");
    }
    let frame_start = offset + RECORD_HEADER_LEN;
    let Some(frame_end) = frame_start
        .checked_add(len)
        .filter(|&end| end <= bytes.len())
    else {
        return Slot::Invalid("length past the end of the segment");
    };
    let stored = read_u32(bytes, offset + 4);
    if crc32fast::hash(&bytes[offset + 8..frame_end]) != stored {
        return Slot::Invalid("checksum mismatch");
    }
    Slot::Record {
        mono_ns: read_u64(bytes, offset + 8),
        stream: u16::from_le_bytes([bytes[offset + 16], bytes[offset + 17]]),
        frame_start,
        frame_end,
        next: offset + record_len(len),
    }
}

/// The first offset after `offset` (8-byte aligned) that holds a whole record, if any.
fn next_valid_record(bytes: &[u8], offset: usize) -> Option<usize> {
    (offset + 8..bytes.len().saturating_sub(RECORD_HEADER_LEN - 1))
        .step_by(8)
        .find(|&candidate| matches!(read_slot(bytes, candidate), Slot::Record { .. }))
}

/// Segment files of a directory, in order: (number, path).
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let entries = std::fs::read_dir(dir).map_err(io_error(dir))?;
    let mut segments = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_error(dir))?.path();
        if path.extension().and_then(|ext| ext.to_str()) != Some(SEGMENT_EXTENSION) {
            continue;
        }
        if let Some(number) = path
            .file_stem()
            .and_then(|stem| stem.to_str()?.parse().ok())
        {
            segments.push((number, path));
        }
    }
    segments.sort();
    Ok(segments)
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:010}.{SEGMENT_EXTENSION}"))
}

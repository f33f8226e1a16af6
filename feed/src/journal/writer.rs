//! Appending to a journal.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

use super::{
    ClockAnchor, JournalError, JournalOptions, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
    SegmentHeader, Slot, StreamId, io_error, list_segments, next_valid_record, read_slot,
    record_len, segment_path,
};

/// What opening a journal for writing found in its last segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The last segment, if there was one.
    pub segment: Option<PathBuf>,
    /// Whole records kept in it.
    pub records_kept: u64,
    /// Offset a torn tail was cut at, if there was one.
    pub cut_at: Option<u64>,
}

/// The segment being written.
struct OpenSegment {
    path: PathBuf,
    header: SegmentHeader,
    map: MmapMut,
    offset: usize,
}

/// Appends records to a journal directory.
pub struct JournalWriter {
    dir: PathBuf,
    options: JournalOptions,
    anchor: ClockAnchor,
    current: OpenSegment,
    records: u64,
}

impl JournalWriter {
    /// Opens `dir` (created if missing) for appending with the clock `anchor`: cuts a torn tail
    /// of the last segment, then starts a new segment.
    pub fn open(
        dir: &Path,
        options: JournalOptions,
        anchor: ClockAnchor,
    ) -> Result<(JournalWriter, Recovery), JournalError> {
        let size = options.segment_size;
        if !(JournalOptions::MIN_SEGMENT_SIZE..=JournalOptions::MAX_SEGMENT_SIZE).contains(&size) {
            return Err(JournalError::SegmentSize(size));
        }
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let segments = list_segments(dir)?;
        let recovery = match segments.last() {
            Some((_, path)) => recover_tail(path)?,
            None => Recovery {
                segment: None,
                records_kept: 0,
                cut_at: None,
            },
        };
        let number = segments.last().map_or(1, |(number, _)| number + 1);
        let current = create_segment(dir, number, options.segment_size, anchor)?;
        let writer = JournalWriter {
            dir: dir.to_path_buf(),
            options,
            anchor,
            current,
            records: 0,
        };
        Ok((writer, recovery))
    }

    /// Largest frame a segment can hold.
    pub fn max_frame_len(&self) -> usize {
        self.options.segment_size as usize - SEGMENT_HEADER_LEN - RECORD_HEADER_LEN
    }

    /// Appends one frame received at monotonic time `mono_ns` on `stream`.
    pub fn append(
        &mut self,
        mono_ns: u64,
        stream: StreamId,
        frame: &[u8],
    ) -> Result<(), JournalError> {
        if frame.is_empty() {
            return Err(JournalError::EmptyFrame);
        }
        if frame.len() > self.max_frame_len() {
            return Err(JournalError::FrameTooLarge {
                len: frame.len(),
                max: self.max_frame_len(),
            });
        }
        let needed = record_len(frame.len());
        if self.current.offset + needed > self.current.map.len() {
            self.rotate()?;
        }
        let segment = &mut self.current;
        let at = segment.offset;
        let record = &mut segment.map[at..at + needed];
        // Body first, length last: a record without its length is not there.
        record[8..16].copy_from_slice(&mono_ns.to_le_bytes());
        record[16..18].copy_from_slice(&stream.0.to_le_bytes());
        record[18..RECORD_HEADER_LEN].fill(0);
        record[RECORD_HEADER_LEN..RECORD_HEADER_LEN + frame.len()].copy_from_slice(frame);
        record[RECORD_HEADER_LEN + frame.len()..].fill(0);
        let crc = crc32fast::hash(&record[8..RECORD_HEADER_LEN + frame.len()]);
        record[4..8].copy_from_slice(&crc.to_le_bytes());
        record[0..4].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        if segment.header.first_mono_ns == 0 {
            segment.header.first_mono_ns = mono_ns.max(1);
            segment.map[..SEGMENT_HEADER_LEN].copy_from_slice(&segment.header.encode());
        }
        segment.offset += needed;
        self.records += 1;
        Ok(())
    }

    /// Asks the kernel to write the dirty pages out (asynchronously).
    pub fn flush(&self) -> Result<(), JournalError> {
        self.current
            .map
            .flush_async()
            .map_err(io_error(&self.current.path))
    }

    /// Records appended by this writer.
    pub const fn records(&self) -> u64 {
        self.records
    }

    /// The segment being written.
    pub fn current_segment(&self) -> &Path {
        &self.current.path
    }

    fn rotate(&mut self) -> Result<(), JournalError> {
        self.current
            .map
            .flush()
            .map_err(io_error(&self.current.path))?;
        let number = self.current.header.number + 1;
        self.current = create_segment(&self.dir, number, self.options.segment_size, self.anchor)?;
        Ok(())
    }
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        // Best effort; a crash instead of a drop is what recovery handles.
        let _ = self.current.map.flush();
    }
}

fn create_segment(
    dir: &Path,
    number: u64,
    size: u64,
    anchor: ClockAnchor,
) -> Result<OpenSegment, JournalError> {
    let path = segment_path(dir, number);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io_error(&path))?;
    file.set_len(size).map_err(io_error(&path))?;
    let mut map = map_mut(&file, &path)?;
    let header = SegmentHeader {
        number,
        size,
        anchor,
        first_mono_ns: 0,
    };
    map[..SEGMENT_HEADER_LEN].copy_from_slice(&header.encode());
    Ok(OpenSegment {
        path,
        header,
        map,
        offset: SEGMENT_HEADER_LEN,
    })
}

fn map_mut(file: &File, path: &Path) -> Result<MmapMut, JournalError> {
    // SAFETY: the mapping is of a segment file this process owns for writing: only this writer
    // maps it mutably, and readers only read records whose checksum proves them whole.
    unsafe { MmapMut::map_mut(file) }.map_err(io_error(path))
}

/// Cuts the torn tail of a segment (the first record that is not whole, when no whole record
/// follows it) by zeroing from there to the end. A bad record followed by whole ones is
/// corruption and is left as it is.
fn recover_tail(path: &Path) -> Result<Recovery, JournalError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_error(path))?;
    let len = file.metadata().map_err(io_error(path))?.len();
    if len < SEGMENT_HEADER_LEN as u64 {
        // Crashed while creating the segment: nothing in it was ever a record.
        file.set_len(0).map_err(io_error(path))?;
        std::fs::remove_file(path).map_err(io_error(path))?;
        return Ok(Recovery {
            segment: Some(path.to_path_buf()),
            records_kept: 0,
            cut_at: Some(0),
        });
    }
    let mut map = map_mut(&file, path)?;
    SegmentHeader::decode(&map, path)?;
    let mut offset = SEGMENT_HEADER_LEN;
    let mut records = 0;
    loop {
        match read_slot(&map, offset) {
            Slot::Record { next, .. } => {
                records += 1;
                offset = next;
            }
            Slot::End => {
                return Ok(Recovery {
                    segment: Some(path.to_path_buf()),
                    records_kept: records,
                    cut_at: None,
                });
            }
            Slot::Invalid(reason) => {
                if next_valid_record(&map, offset).is_some() {
                    return Err(JournalError::Corrupt {
                        segment: path.to_path_buf(),
                        offset: offset as u64,
                        reason,
                    });
                }
                map[offset..].fill(0);
                map.flush().map_err(io_error(path))?;
                return Ok(Recovery {
                    segment: Some(path.to_path_buf()),
                    records_kept: records,
                    cut_at: Some(offset as u64),
                });
            }
        }
    }
}

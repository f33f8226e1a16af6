//! Reading a journal, in order, also while a writer appends to it.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::{
    JournalError, SEGMENT_HEADER_LEN, SegmentHeader, Slot, StreamId, io_error, list_segments,
    next_valid_record, read_slot,
};

/// What the reader does with a corrupt record (one that fails its checks with whole records
/// after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCorrupt {
    /// Return an error naming the segment and offset.
    Fail,
    /// Skip to the next whole record and count it.
    Skip,
}

/// One record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Segment number.
    pub segment: u64,
    /// Byte offset of the record in its segment.
    pub offset: u64,
    /// Receive time, monotonic ns.
    pub mono_ns: u64,
    /// Receive time, wall clock, ns since the Unix epoch.
    pub wall_ns: u64,
    /// Stream the frame came from.
    pub stream: StreamId,
    /// The frame as received.
    pub frame: &'a [u8],
}

/// A segment in the time index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Segment number.
    pub number: u64,
    /// Its file.
    pub path: PathBuf,
    /// Its header.
    pub header: SegmentHeader,
    /// Wall-clock time of its first record (None when empty).
    pub first_wall_ns: Option<u64>,
}

struct Mapped {
    number: u64,
    path: PathBuf,
    header: SegmentHeader,
    map: Mmap,
    offset: usize,
}

/// Reads the records of a journal directory in order.
pub struct JournalReader {
    dir: PathBuf,
    on_corrupt: OnCorrupt,
    segments: Vec<(u64, PathBuf)>,
    next_segment: usize,
    current: Option<Mapped>,
    skipped: u64,
    torn_tails: u64,
}

/// Where the next record is, found without holding a borrow of the mapping.
struct Found {
    mono_ns: u64,
    stream: u16,
    offset: usize,
    frame_start: usize,
    frame_end: usize,
}

impl JournalReader {
    /// Opens `dir` for reading from its first record.
    pub fn open(dir: &Path, on_corrupt: OnCorrupt) -> Result<JournalReader, JournalError> {
        Ok(JournalReader {
            dir: dir.to_path_buf(),
            on_corrupt,
            segments: list_segments(dir)?,
            next_segment: 0,
            current: None,
            skipped: 0,
            torn_tails: 0,
        })
    }

    /// Corrupt records skipped (in [`OnCorrupt::Skip`] mode).
    pub const fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Segments that ended in a torn record before a later segment began (a writer crashed and
    /// the tail was never cut).
    pub const fn torn_tails(&self) -> u64 {
        self.torn_tails
    }

    /// The time index: every segment with the wall-clock time of its first record.
    pub fn segment_index(&self) -> Result<Vec<SegmentInfo>, JournalError> {
        let mut index = Vec::with_capacity(self.segments.len());
        for (number, path) in list_segments(&self.dir)? {
            let mapped = map_segment(number, &path)?;
            let header = mapped.header;
            let first_wall_ns = match read_slot(&mapped.map, SEGMENT_HEADER_LEN) {
                Slot::Record { mono_ns, .. } => Some(header.anchor.wall_of(mono_ns)),
                _ => None,
            };
            index.push(SegmentInfo {
                number,
                path,
                header,
                first_wall_ns,
            });
        }
        Ok(index)
    }

    /// Positions the reader at the first record received at or after `wall_ns`, starting from
    /// the segment the time index points at.
    pub fn seek_wall(&mut self, wall_ns: u64) -> Result<(), JournalError> {
        let index = self.segment_index()?;
        let start = index
            .iter()
            .rposition(|segment| segment.first_wall_ns.is_some_and(|first| first <= wall_ns))
            .unwrap_or(0);
        self.segments = index
            .into_iter()
            .map(|segment| (segment.number, segment.path))
            .collect();
        self.next_segment = start;
        self.current = None;
        loop {
            let Some(mapped) = self.current.as_mut() else {
                if !self.open_next_segment()? {
                    return Ok(());
                }
                continue;
            };
            match read_slot(&mapped.map, mapped.offset) {
                Slot::Record { mono_ns, next, .. } => {
                    if mapped.header.anchor.wall_of(mono_ns) >= wall_ns {
                        return Ok(());
                    }
                    mapped.offset = next;
                }
                // What follows is for next_record to read or report.
                Slot::Invalid(_) => return Ok(()),
                Slot::End => {
                    if !self.later_segment_exists()? {
                        return Ok(());
                    }
                    self.current = None;
                }
            }
        }
    }

    /// The next record, `Ok(None)` at the end of what has been written so far (call again to
    /// pick up what a writer appends later), or an error for a corrupt record in
    /// [`OnCorrupt::Fail`] mode.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, JournalError> {
        let found = loop {
            let Some(mapped) = self.current.as_mut() else {
                if !self.open_next_segment()? {
                    return Ok(None);
                }
                continue;
            };
            match read_slot(&mapped.map, mapped.offset) {
                Slot::Record {
                    mono_ns,
                    stream,
                    frame_start,
                    frame_end,
                    next,
                } => {
                    let offset = mapped.offset;
                    mapped.offset = next;
                    break Found {
                        mono_ns,
                        stream,
                        offset,
                        frame_start,
                        frame_end,
                    };
                }
                Slot::End => {
                    if !self.later_segment_exists()? {
                        return Ok(None);
                    }
                    self.current = None;
                }
                Slot::Invalid(reason) => match next_valid_record(&mapped.map, mapped.offset) {
                    Some(next) => match self.on_corrupt {
                        OnCorrupt::Fail => {
                            return Err(JournalError::Corrupt {
                                segment: mapped.path.clone(),
                                offset: mapped.offset as u64,
                                reason,
                            });
                        }
                        OnCorrupt::Skip => {
                            self.skipped += 1;
                            mapped.offset = next;
                        }
                    },
                    None => {
                        // A torn tail, or a record a writer is still writing.
                        if !self.later_segment_exists()? {
                            return Ok(None);
                        }
                        self.torn_tails += 1;
                        self.current = None;
                    }
                },
            }
        };
        let Some(mapped) = self.current.as_ref() else {
            return Ok(None);
        };
        Ok(Some(Record {
            segment: mapped.number,
            offset: found.offset as u64,
            mono_ns: found.mono_ns,
            wall_ns: mapped.header.anchor.wall_of(found.mono_ns),
            stream: StreamId(found.stream),
            frame: &mapped.map[found.frame_start..found.frame_end],
        }))
    }

    /// Maps the next known segment; false when there is none (after looking for new ones).
    fn open_next_segment(&mut self) -> Result<bool, JournalError> {
        if self.next_segment >= self.segments.len() {
            self.segments = list_segments(&self.dir)?;
        }
        let Some((number, path)) = self.segments.get(self.next_segment).cloned() else {
            return Ok(false);
        };
        self.current = Some(map_segment(number, &path)?);
        self.next_segment += 1;
        Ok(true)
    }

    fn later_segment_exists(&mut self) -> Result<bool, JournalError> {
        if self.next_segment < self.segments.len() {
            return Ok(true);
        }
        self.segments = list_segments(&self.dir)?;
        Ok(self.next_segment < self.segments.len())
    }
}

fn map_segment(number: u64, path: &Path) -> Result<Mapped, JournalError> {
    let file = File::open(path).map_err(io_error(path))?;
    // SAFETY: a writer may append to this file while it is mapped. Appends only write past the
    // last whole record and publish a record by writing its length last; this reader only uses
    // records whose length and checksum say they are whole, and copies nothing it has not
    // checked.
    let map = unsafe { Mmap::map(&file) }.map_err(io_error(path))?;
    let header = SegmentHeader::decode(&map, path)?;
    Ok(Mapped {
        number,
        path: path.to_path_buf(),
        header,
        map,
        offset: SEGMENT_HEADER_LEN,
    })
}

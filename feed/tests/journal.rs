//! The journal: round trips across segments, the time index, torn tails cut at every byte
//! offset, corruption reported or skipped, and reading while a writer appends.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::{Path, PathBuf};

use feed::journal::{
    ClockAnchor, JournalError, JournalOptions, JournalReader, JournalWriter, OnCorrupt, StreamId,
    record_len,
};

const ANCHOR: ClockAnchor = ClockAnchor {
    mono_ns: 1_000_000,
    wall_ns: 1_767_225_600_000_000_000,
};
const SMALL: JournalOptions = JournalOptions { segment_size: 8192 };

/// Frame `i`: a JSON-ish text whose length varies with `i`.
fn frame(i: usize) -> Vec<u8> {
    format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(i * 7 % 300)).into_bytes()
}

fn mono(i: usize) -> u64 {
    ANCHOR.mono_ns + 1_000 * i as u64
}

fn stream(i: usize) -> StreamId {
    if i.is_multiple_of(3) {
        StreamId::PRIVATE
    } else {
        StreamId::PUBLIC_LINEAR
    }
}

fn write(dir: &Path, count: usize) {
    let (mut writer, recovery) = JournalWriter::open(dir, SMALL, ANCHOR).unwrap();
    assert_eq!(recovery.cut_at, None);
    for i in 0..count {
        writer.append(mono(i), stream(i), &frame(i)).unwrap();
    }
    assert_eq!(writer.records(), count as u64);
}

/// Every record as (index from the frame, mono, wall, stream), checking the bytes.
fn read_all(dir: &Path, on_corrupt: OnCorrupt) -> Result<Vec<usize>, JournalError> {
    let mut reader = JournalReader::open(dir, on_corrupt)?;
    let mut seen = Vec::new();
    while let Some(record) = reader.next_record()? {
        let text = std::str::from_utf8(record.frame).unwrap();
        let i: usize = text[5..text.find(',').unwrap()].parse().unwrap();
        assert_eq!(record.frame, frame(i).as_slice());
        assert_eq!(record.mono_ns, mono(i));
        assert_eq!(record.wall_ns, ANCHOR.wall_ns + 1_000 * i as u64);
        assert_eq!(record.stream, stream(i));
        seen.push(i);
    }
    Ok(seen)
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn records_round_trip_across_segments_in_order() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 500);
    let files = segments(dir.path());
    assert!(files.len() > 5, "{} segments", files.len());
    assert!(files[0].ends_with("0000000001.jnl"));
    assert_eq!(
        read_all(dir.path(), OnCorrupt::Fail).unwrap(),
        (0..500).collect::<Vec<_>>()
    );
}

#[test]
fn a_second_writer_continues_in_a_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 3);
    let (mut writer, recovery) = JournalWriter::open(dir.path(), SMALL, ANCHOR).unwrap();
    assert_eq!(recovery.records_kept, 3);
    writer.append(mono(3), stream(3), &frame(3)).unwrap();
    assert!(writer.current_segment().ends_with("0000000002.jnl"));
    drop(writer);
    assert_eq!(read_all(dir.path(), OnCorrupt::Fail).unwrap(), [0, 1, 2, 3]);
}

#[test]
fn the_time_index_finds_the_segment_to_start_from() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 300);
    let mut reader = JournalReader::open(dir.path(), OnCorrupt::Fail).unwrap();
    let index = reader.segment_index().unwrap();
    let firsts: Vec<u64> = index
        .iter()
        .map(|segment| segment.first_wall_ns.unwrap())
        .collect();
    assert!(firsts.windows(2).all(|pair| pair[0] < pair[1]));
    assert_eq!(firsts[0], ANCHOR.wall_ns);

    reader.seek_wall(ANCHOR.wall_ns + 1_000 * 187).unwrap();
    let record = reader.next_record().unwrap().unwrap();
    assert_eq!(record.mono_ns, mono(187));
    // Between two records: the later one.
    reader.seek_wall(ANCHOR.wall_ns + 1_000 * 42 + 1).unwrap();
    assert_eq!(reader.next_record().unwrap().unwrap().mono_ns, mono(43));
    // Past the end.
    reader.seek_wall(ANCHOR.wall_ns + 1_000 * 10_000).unwrap();
    assert!(reader.next_record().unwrap().is_none());
}

/// Offsets (in the only segment) where each record starts.
fn record_offsets(count: usize) -> Vec<usize> {
    let mut offset = feed::journal::SEGMENT_HEADER_LEN;
    (0..count)
        .map(|i| {
            let start = offset;
            offset += record_len(frame(i).len());
            start
        })
        .collect()
}

#[test]
fn a_torn_tail_is_cut_at_every_byte_offset_and_nothing_before_it_is_lost() {
    let original = tempfile::tempdir().unwrap();
    let count = 12;
    write(original.path(), count);
    let segment = segments(original.path()).remove(0);
    let bytes = fs::read(&segment).unwrap();
    let last_start = record_offsets(count)[count - 1];
    let last_end = last_start + 24 + frame(count - 1).len();

    for cut in last_start..last_end {
        for zeroed in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let copy = dir.path().join("0000000001.jnl");
            if zeroed {
                // The writes past `cut` never reached the disk.
                let mut torn = bytes.clone();
                torn[cut..].fill(0);
                // Except the length, written last: keep it to make the record look whole.
                torn[last_start..last_start + 4]
                    .copy_from_slice(&bytes[last_start..last_start + 4]);
                fs::write(&copy, torn).unwrap();
            } else {
                fs::write(&copy, &bytes[..cut]).unwrap();
            }
            let (writer, recovery) = JournalWriter::open(dir.path(), SMALL, ANCHOR).unwrap();
            drop(writer);
            assert_eq!(
                recovery.records_kept,
                count as u64 - 1,
                "cut at {cut}, zeroed {zeroed}"
            );
            let expected_cut = if !zeroed && cut < last_start + 4 {
                None
            } else {
                Some(last_start as u64)
            };
            assert_eq!(
                recovery.cut_at, expected_cut,
                "cut at {cut}, zeroed {zeroed}"
            );
            assert_eq!(
                read_all(dir.path(), OnCorrupt::Fail).unwrap(),
                (0..count - 1).collect::<Vec<_>>(),
                "cut at {cut}, zeroed {zeroed}"
            );
        }
    }
}

#[test]
fn a_corrupt_record_is_named_or_skipped_and_never_cut() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 10);
    let segment = segments(dir.path()).remove(0);
    let offset = record_offsets(10)[5];
    let mut bytes = fs::read(&segment).unwrap();
    bytes[offset + 30] ^= 0x20;
    fs::write(&segment, &bytes).unwrap();

    match read_all(dir.path(), OnCorrupt::Fail) {
        Err(JournalError::Corrupt {
            segment: path,
            offset: at,
            reason,
        }) => {
            assert_eq!(path, segment);
            assert_eq!(at, offset as u64);
            assert_eq!(reason, "checksum mismatch");
        }
        other => panic!("{other:?}"),
    }
    let mut reader = JournalReader::open(dir.path(), OnCorrupt::Skip).unwrap();
    let mut count = 0;
    while reader.next_record().unwrap().is_some() {
        count += 1;
    }
    assert_eq!((count, reader.skipped()), (9, 1));

    // A writer refuses to cut what is not a tail.
    match JournalWriter::open(dir.path(), SMALL, ANCHOR) {
        Err(JournalError::Corrupt { offset: at, .. }) => assert_eq!(at, offset as u64),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("opened over a corrupt segment"),
    }
    assert_eq!(
        fs::read(&segment).unwrap(),
        bytes,
        "the segment is untouched"
    );
}

#[test]
fn a_reader_follows_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) = JournalWriter::open(dir.path(), SMALL, ANCHOR).unwrap();
    for i in 0..10 {
        writer.append(mono(i), stream(i), &frame(i)).unwrap();
    }
    let mut reader = JournalReader::open(dir.path(), OnCorrupt::Fail).unwrap();
    let mut seen = 0;
    while reader.next_record().unwrap().is_some() {
        seen += 1;
    }
    assert_eq!(seen, 10);
    // Enough to rotate into new segments while the reader holds the old one.
    for i in 10..200 {
        writer.append(mono(i), stream(i), &frame(i)).unwrap();
    }
    let mut later = Vec::new();
    while let Some(record) = reader.next_record().unwrap() {
        later.push(record.mono_ns);
    }
    assert_eq!(later, (10..200).map(mono).collect::<Vec<_>>());
    assert!(reader.next_record().unwrap().is_none());
}

#[test]
fn bad_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) = JournalWriter::open(dir.path(), SMALL, ANCHOR).unwrap();
    assert!(matches!(
        writer.append(1, StreamId::PUBLIC_LINEAR, b""),
        Err(JournalError::EmptyFrame)
    ));
    let huge = vec![b'x'; 9000];
    assert!(matches!(
        writer.append(1, StreamId::PUBLIC_LINEAR, &huge),
        Err(JournalError::FrameTooLarge {
            len: 9000,
            max: 8104
        })
    ));
    assert!(matches!(
        JournalWriter::open(dir.path(), JournalOptions { segment_size: 100 }, ANCHOR),
        Err(JournalError::SegmentSize(100))
    ));
    assert!(matches!(
        JournalWriter::open(
            dir.path(),
            JournalOptions::with_segment_mib(u64::MAX),
            ANCHOR
        ),
        Err(JournalError::SegmentSize(u64::MAX))
    ));
    drop(writer);
    let stray = tempfile::tempdir().unwrap();
    fs::write(stray.path().join("0000000001.jnl"), vec![7; 200]).unwrap();
    let mut reader = JournalReader::open(stray.path(), OnCorrupt::Skip).unwrap();
    assert!(matches!(
        reader.next_record(),
        Err(JournalError::BadHeader {
            reason: "wrong magic",
            ..
        })
    ));
}

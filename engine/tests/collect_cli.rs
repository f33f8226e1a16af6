//! `engine collect --feed sim`: a real-time recording that stops on time or on SIGTERM, and a
//! journal that reads back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use feed::FrameBuf;
use feed::bybit::PublicDecoder;
use feed::journal::{JournalReader, OnCorrupt};

fn engine() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_engine"));
    command.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    command
}

fn journal_frames(dir: &Path) -> u64 {
    let mut reader = JournalReader::open(dir, OnCorrupt::Fail).unwrap();
    let mut decoder = PublicDecoder::new();
    let mut frame = FrameBuf::default();
    let (mut count, mut last_mono) = (0, 0);
    while let Some(record) = reader.next_record().unwrap() {
        assert!(record.mono_ns >= last_mono);
        last_mono = record.mono_ns;
        frame.fill(record.frame);
        decoder.decode(&mut frame).unwrap();
        count += 1;
    }
    count
}

#[test]
fn collects_the_simulator_for_the_given_duration() {
    let dir = tempfile::tempdir().unwrap();
    let output = engine()
        .args(["collect", "--feed", "sim", "--duration", "1.5", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let frames = journal_frames(dir.path());
    // About 60 frames a second in real time.
    assert!((30..=200).contains(&frames), "{frames} frames");
    assert!(
        stdout.contains(&format!("recorded {frames} frames")),
        "{stdout}"
    );
}

#[test]
fn sigterm_stops_cleanly_with_the_journal_intact() {
    let dir = tempfile::tempdir().unwrap();
    let child = engine()
        .args(["collect", "--feed", "sim", "--out"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let frames = journal_frames(dir.path());
    assert!(frames > 0);
    assert!(
        stdout.contains(&format!("recorded {frames} frames")),
        "{stdout}"
    );
}

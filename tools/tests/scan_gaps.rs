//! `toolkit scan-gaps` finds what was planted in an archive, and nothing else: a missing day, a
//! journal never dumped, a sidecar that disagrees with its files, a gap in the book tops, a
//! hole in an imported day's update ids.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use common::{succeeded, toolkit_in};
use feed::journal::{ClockAnchor, JournalOptions, JournalWriter, StreamId};
use serde_json::{Value, json};

fn synth(dir: &Path, start: &str, days: &str, seed: &str) {
    succeeded(toolkit_in(
        dir,
        &[
            "synth",
            "--days",
            days,
            "--start",
            start,
            "--hours",
            "0.05",
            "--seed",
            seed,
            "--out",
            "data/journal",
        ],
    ));
}

/// A depth-50 book line of BTCUSDT.
fn book_line(kind: &str, ts: u64, u: u64, bid: &str) -> String {
    json!({
        "topic": "orderbook.50.BTCUSDT",
        "type": kind,
        "ts": ts,
        "data": {"s": "BTCUSDT", "b": [[bid, "1.000"]], "a": [["60100.0", "1.000"]], "u": u, "seq": u},
        "cts": ts,
    })
    .to_string()
}

#[test]
fn the_planted_gaps_are_found_and_nothing_else() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();

    // A clean archive: two simulated days, dumped. Nothing found, exit 0.
    synth(dir, "2026-01-01", "normal,normal", "3");
    succeeded(toolkit_in(dir, &["dump-parquet"]));
    let clean = succeeded(toolkit_in(dir, &["scan-gaps"]));
    assert!(clean.ends_with("no findings\n"), "{clean}");

    // 2026-01-03 never recorded; 2026-01-04 simulated; 2026-01-05 imported from an archive
    // with ten minutes of nothing after its first two seconds; all dumped.
    synth(dir, "2026-01-04", "normal", "5");
    let t0 = 1_767_571_200_000_u64; // 2026-01-05
    let mut lines = vec![book_line("snapshot", t0, 100, "60000.0")];
    for step in 1..=20 {
        lines.push(book_line("delta", t0 + 100 * step, 100 + step, "60000.0"));
    }
    lines.push(book_line("delta", t0 + 602_000, 121, "60000.1"));
    lines.push(book_line("delta", t0 + 602_100, 122, "60000.2"));
    let archive = dir.join("2026-01-05_BTCUSDT_ob50.data.zip");
    let mut zip = zip::ZipWriter::new(File::create(&archive).unwrap());
    zip.start_file(
        "2026-01-05_BTCUSDT_ob50.data",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all((lines.join("\n") + "\n").as_bytes()).unwrap();
    zip.finish().unwrap();
    succeeded(toolkit_in(
        dir,
        &["import-history", archive.to_str().unwrap()],
    ));
    succeeded(toolkit_in(dir, &["dump-parquet"]));

    // 2026-01-06 simulated after the dump; 2026-01-07 an imported day whose stream lost two
    // updates (written directly: import-history refuses such a file).
    synth(dir, "2026-01-06", "normal", "6");
    let holed = dir.join("data/journal/BTCUSDT/2026-01-07");
    let t7 = t0 + 2 * 86_400_000;
    let anchor = ClockAnchor {
        mono_ns: 1_000_000_000,
        wall_ns: t7 * 1_000_000,
    };
    let (mut journal, _) =
        JournalWriter::open(&holed, JournalOptions::with_segment_mib(1), anchor).unwrap();
    for (index, (kind, u)) in [("snapshot", 10), ("delta", 11), ("delta", 14)]
        .into_iter()
        .enumerate()
    {
        let line = book_line(kind, t7 + 100 * index as u64, u, "60000.0");
        journal
            .append(
                1_000_000_000 + 100_000_000 * index as u64,
                StreamId::PUBLIC_LINEAR,
                line.as_bytes(),
            )
            .unwrap();
    }
    drop(journal);
    fs::copy(
        dir.join("data/journal/BTCUSDT/2026-01-05/import.json"),
        holed.join("import.json"),
    )
    .unwrap();

    // A sidecar that promises five more book tops than its files hold.
    let sidecar_path = dir.join("data/parquet/symbol=BTCUSDT/date=2026-01-02/_partition.json");
    let mut sidecar: Value =
        serde_json::from_str(&fs::read_to_string(&sidecar_path).unwrap()).unwrap();
    let tops = sidecar["rows"]["tops"].as_u64().unwrap();
    sidecar["rows"]["tops"] = json!(tops + 5);
    fs::write(&sidecar_path, sidecar.to_string()).unwrap();

    let output = toolkit_in(
        dir,
        &["scan-gaps", "--max-gap", "60s", "--json", "findings.json"],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let findings: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("findings.json")).unwrap()).unwrap();
    let finding = |date: &str, kind: &str, detail: String| json!({"symbol": "BTCUSDT", "date": date, "kind": kind, "detail": detail});
    assert_eq!(
        findings,
        json!([
            finding(
                "2026-01-02",
                "sidecar_mismatch",
                format!(
                    "tops: {} rows in the sidecar, {tops} in the files",
                    tops + 5
                )
            ),
            finding(
                "2026-01-03",
                "missing_partition",
                "no partition and no journal between 2026-01-01 and 2026-01-07".to_owned()
            ),
            finding(
                "2026-01-05",
                "time_gap",
                "no book top from 00:00:02.000 to 00:10:02.000 (600.0 s)".to_owned()
            ),
            finding(
                "2026-01-06",
                "never_dumped",
                "data/journal/BTCUSDT/2026-01-06 has no complete partition (toolkit dump-parquet)"
                    .to_owned()
            ),
            finding(
                "2026-01-07",
                "never_dumped",
                "data/journal/BTCUSDT/2026-01-07 has no complete partition (toolkit dump-parquet)"
                    .to_owned()
            ),
            finding(
                "2026-01-07",
                "u_hole",
                "orderbook.50: u 14 after 11 at 00:00:00.200 (2 updates missing)".to_owned()
            ),
        ])
    );
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.contains("| BTCUSDT | 2026-01-05 | time_gap | no book top from 00:00:02.000 to 00:10:02.000 (600.0 s) |"), "{table}");
    assert!(table.ends_with("6 findings\n"), "{table}");
}

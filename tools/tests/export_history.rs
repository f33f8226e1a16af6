//! `toolkit export-history`, then `import-history`: a simulated day written as Bybit's archives
//! and imported again is the same market, every order-book message byte for byte and every trade
//! field for field; an archive is never overwritten.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::Path;

use common::{succeeded, toolkit_in};
use feed::FrameBuf;
use feed::bybit::{PublicDecoder, PublicMessage};
use feed::journal::{JournalReader, OnCorrupt, StreamId};

/// `toolkit export-history ARGS` in `dir` (it reads no configuration).
fn export(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_toolkit"))
        .arg("export-history")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// A trade's fields, as text.
type TradeFields = (u64, String, String, String, String, String, bool, bool);

/// The order-book frames of a journal day, and its trades.
fn market(dir: &Path) -> (Vec<Vec<u8>>, Vec<TradeFields>, u64) {
    let mut reader = JournalReader::open(dir, OnCorrupt::Fail).unwrap();
    let mut decoder = PublicDecoder::new();
    let mut scratch = FrameBuf::default();
    let (mut books, mut trades, mut other) = (Vec::new(), Vec::new(), 0);
    while let Some(record) = reader.next_record().unwrap() {
        if record.stream != StreamId::PUBLIC_LINEAR {
            continue;
        }
        match decoder.decode_bytes(&mut scratch, record.frame).unwrap() {
            PublicMessage::Book(_) => books.push(record.frame.to_vec()),
            PublicMessage::Trades(batch) => trades.extend(batch.trades.iter().map(|trade| {
                (
                    trade.time,
                    trade.taker_side.as_str().to_owned(),
                    trade.size.to_string(),
                    trade.price.to_string(),
                    trade.tick.as_str().to_owned(),
                    trade.id.as_str().to_owned(),
                    trade.rpi,
                    trade.block_trade,
                )
            })),
            _ => other += 1,
        }
    }
    (books, trades, other)
}

#[test]
fn a_simulated_day_exported_and_imported_again_is_the_same_market() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    succeeded(toolkit_in(
        dir,
        &[
            "synth",
            "--days",
            "high-vol",
            "--start",
            "2026-02-01",
            "--hours",
            "0.05",
            "--seed",
            "3",
            "--out",
            "sim",
        ],
    ));
    let day = "sim/BTCUSDT/2026-02-01";
    let (books, trades, other) = market(&dir.join(day));
    let table = succeeded(export(dir, &[day, "--out", "archives"]));
    assert!(
        table.contains(&format!(
            "| {day} | archives/2026-02-01_BTCUSDT_ob50.data.zip | {} | archives/BTCUSDT2026-02-01.csv.gz | {} | {other} |",
            books.len(),
            trades.len()
        )),
        "{table}"
    );
    succeeded(toolkit_in(
        dir,
        &[
            "import-history",
            "archives/2026-02-01_BTCUSDT_ob50.data.zip",
            "archives/BTCUSDT2026-02-01.csv.gz",
            "--out",
            "imported",
        ],
    ));
    let (imported_books, imported_trades, imported_other) =
        market(&dir.join("imported/BTCUSDT/2026-02-01"));
    assert_eq!(books.len(), imported_books.len());
    assert!(books == imported_books, "the order-book messages differ");
    assert_eq!(trades, imported_trades);
    assert_eq!(imported_other, 0);

    // Again into the same place: refused, nothing changed.
    let before = std::fs::read(dir.join("archives/BTCUSDT2026-02-01.csv.gz")).unwrap();
    let output = export(dir, &[day, "--out", "archives"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(
            "error: creating archives/BTCUSDT2026-02-01.csv.gz (remove it to export again): "
        ),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(dir.join("archives/BTCUSDT2026-02-01.csv.gz")).unwrap(),
        before
    );
}

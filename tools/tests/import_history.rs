//! `toolkit import-history` turns Bybit's public archives into journal days: the book rebuilt
//! from an imported day equals the book rebuilt from the archive's lines by an independent
//! reader, at every message; trades keep every field the archive has; nothing is lost,
//! reordered or invented; bad input is refused with its file and line.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{succeeded, toolkit_in};
use feed::bybit::{PublicDecoder, PublicMessage};
use feed::journal::{JournalReader, OnCorrupt};
use feed::{Fixed, FrameBuf, OrderBook, Side, Symbol};
use serde_json::Value;

/// A real archive: the first 50 lines of Bybit's `2024-12-01_XRPUSDT_ob500.data.zip`
/// (feed/tests/fixtures/bybit/SOURCES.md).
fn real_archive() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../feed/tests/fixtures/bybit/2024-12-01_XRPUSDT_ob500.data.zip")
}

fn refused(output: Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    String::from_utf8(output.stderr).unwrap()
}

/// A zip holding one file, as Bybit packs its order-book archives.
fn write_zip(path: &Path, inner: &str, lines: &[String]) {
    let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
    zip.start_file(inner, zip::write::SimpleFileOptions::default())
        .unwrap();
    for line in lines {
        zip.write_all(line.as_bytes()).unwrap();
        zip.write_all(b"\n").unwrap();
    }
    zip.finish().unwrap();
}

fn write_gz(path: &Path, text: &str) {
    let mut gz = flate2::write::GzEncoder::new(File::create(path).unwrap(), Default::default());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap();
}

/// The lines of an order-book archive.
fn archive_lines(path: &Path) -> Vec<String> {
    let mut zip = zip::ZipArchive::new(File::open(path).unwrap()).unwrap();
    let mut text = String::new();
    zip.by_index(0).unwrap().read_to_string(&mut text).unwrap();
    text.lines().map(str::to_owned).collect()
}

/// A book's levels, best first, as (price, size): bids, then asks.
type Levels = (Vec<(Fixed, Fixed)>, Vec<(Fixed, Fixed)>);

/// An independent book, straight from the archive's JSON: a snapshot (or a delta with `u` 1)
/// replaces a side, a size of 0 deletes, and each side keeps the depth's best levels.
#[derive(Default)]
struct ReferenceBook {
    bids: BTreeMap<Fixed, Fixed>,
    asks: BTreeMap<Fixed, Fixed>,
}

impl ReferenceBook {
    fn apply(&mut self, message: &Value) {
        let depth: usize = message["topic"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let data = &message["data"];
        if message["type"] == "snapshot" || data["u"] == 1 {
            self.bids.clear();
            self.asks.clear();
        }
        for (key, side) in [("b", &mut self.bids), ("a", &mut self.asks)] {
            for level in data[key].as_array().unwrap() {
                let price: Fixed = level[0].as_str().unwrap().parse().unwrap();
                let size: Fixed = level[1].as_str().unwrap().parse().unwrap();
                if size.is_positive() {
                    side.insert(price, size);
                } else {
                    side.remove(&price);
                }
            }
        }
        while self.bids.len() > depth {
            self.bids.pop_first();
        }
        while self.asks.len() > depth {
            self.asks.pop_last();
        }
    }

    /// Levels best first: bids then asks.
    fn levels(&self) -> Levels {
        (
            self.bids.iter().rev().map(|(&p, &s)| (p, s)).collect(),
            self.asks.iter().map(|(&p, &s)| (p, s)).collect(),
        )
    }
}

fn levels_of(book: &OrderBook) -> Levels {
    let side = |side| {
        book.levels(side)
            .iter()
            .map(|level| (level.price, level.size))
            .collect()
    };
    (side(Side::Buy), side(Side::Sell))
}

/// Every frame of an imported day, with its receive time in ns.
fn journal_frames(dir: &Path) -> Vec<(u64, Vec<u8>)> {
    let mut reader = JournalReader::open(dir, OnCorrupt::Fail).unwrap();
    let mut frames = Vec::new();
    while let Some(record) = reader.next_record().unwrap() {
        frames.push((record.wall_ns, record.frame.to_vec()));
    }
    frames
}

/// The books of a journal day, one per depth, after each book message, with the message's u.
fn books_from_journal(dir: &Path, symbol: &str) -> Vec<(u64, Levels)> {
    let mut decoder = PublicDecoder::new();
    let mut frame = FrameBuf::default();
    let mut books: BTreeMap<u16, OrderBook> = BTreeMap::new();
    let mut out = Vec::new();
    for (_, bytes) in journal_frames(dir) {
        frame.fill(&bytes);
        if let Ok(PublicMessage::Book(update)) = decoder.decode(&mut frame) {
            let book = books.entry(update.depth).or_insert_with(|| {
                OrderBook::new(Symbol::new(symbol).unwrap(), usize::from(update.depth))
            });
            book.apply(&update);
            out.push((update.update_id, levels_of(book)));
        }
    }
    out
}

fn books_from_lines(lines: &[String]) -> Vec<(u64, Levels)> {
    let mut books: BTreeMap<String, ReferenceBook> = BTreeMap::new();
    lines
        .iter()
        .map(|line| {
            let message: Value = serde_json::from_str(line).unwrap();
            let book = books
                .entry(message["topic"].as_str().unwrap().to_owned())
                .or_default();
            book.apply(&message);
            (message["data"]["u"].as_u64().unwrap(), book.levels())
        })
        .collect()
}

#[test]
fn a_real_bybit_archive_becomes_a_day_whose_book_is_the_archive_s_at_every_message() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let stdout = succeeded(toolkit_in(
        dir,
        &[
            "import-history",
            real_archive().to_str().unwrap(),
            "--out",
            "imported",
            "--json",
            "import.json",
        ],
    ));
    assert!(
        stdout.contains(
            "| XRPUSDT | 2024-12-01 | 500 | 50 | 0 | 0 | 0 | imported/XRPUSDT/2024-12-01 |"
        ),
        "{stdout}"
    );
    let day = dir.join("imported/XRPUSDT/2024-12-01");
    let lines = archive_lines(&real_archive());
    assert_eq!(lines.len(), 50);

    // Each line is a frame, byte for byte, at its own ts.
    let frames = journal_frames(&day);
    assert_eq!(frames.len(), 50);
    for ((recv_ns, bytes), line) in frames.iter().zip(&lines) {
        assert_eq!(bytes, line.as_bytes());
        let message: Value = serde_json::from_str(line).unwrap();
        assert_eq!(*recv_ns, message["ts"].as_u64().unwrap() * 1_000_000);
    }
    // The engine's book over the imported day is the independent book over the lines, all 500
    // levels a side, at every message.
    let imported = books_from_journal(&day, "XRPUSDT");
    let direct = books_from_lines(&lines);
    assert_eq!(imported.len(), 50);
    assert_eq!(imported, direct);
    let (bids, asks) = &imported[49].1;
    assert_eq!((bids.len(), asks.len()), (500, 500));

    // What it came from, and how the receive time was chosen.
    let meta: Value =
        serde_json::from_str(&fs::read_to_string(day.join("import.json")).unwrap()).unwrap();
    assert_eq!(meta["depths"], serde_json::json!([500]));
    assert_eq!(meta["book_messages"], 50);
    assert_eq!(meta["trades"], 0);
    assert_eq!(meta["first_ms"], 1_733_011_200_691_u64);
    assert_eq!(meta["sources"][0]["records"], 50);
    assert_eq!(meta["sources"][0]["sha256"].as_str().unwrap().len(), 64);
    assert!(
        meta["receive_time"]
            .as_str()
            .unwrap()
            .starts_with("the messages' own times")
    );
    let report: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("import.json")).unwrap()).unwrap();
    assert_eq!(report[0]["day"], meta);

    // Importing the same day again would overwrite it: refused.
    let again = refused(toolkit_in(
        dir,
        &[
            "import-history",
            real_archive().to_str().unwrap(),
            "--out",
            "imported",
        ],
    ));
    assert!(again.contains("already holds data"), "{again}");
}

/// A book line of `depth` for `symbol`.
fn book_line(
    symbol: &str,
    depth: u16,
    kind: &str,
    ts: u64,
    u: u64,
    bids: &[(&str, &str)],
    asks: &[(&str, &str)],
) -> String {
    let levels = |levels: &[(&str, &str)]| -> Vec<[String; 2]> {
        levels
            .iter()
            .map(|(p, s)| [(*p).to_owned(), (*s).to_owned()])
            .collect()
    };
    serde_json::json!({
        "topic": format!("orderbook.{depth}.{symbol}"),
        "type": kind,
        "ts": ts,
        "data": {"s": symbol, "b": levels(bids), "a": levels(asks), "u": u, "seq": 1000 + u},
        "cts": ts - 2,
    })
    .to_string()
}

/// Two hours of a BTCUSDT day at depth 50 with a restart of `u`, then the depth-200 stream
/// that replaced it; and the day's trades, with Bybit's newer header (RPI) in another order.
fn built_day(dir: &Path) -> (Vec<String>, Vec<String>, PathBuf, PathBuf, PathBuf) {
    let t0 = 1_767_225_600_000_u64; // 2026-01-01
    let ob50 = vec![
        book_line(
            "BTCUSDT",
            50,
            "snapshot",
            t0 + 100,
            500,
            &[("60000.0", "1.000"), ("59999.9", "2.000")],
            &[("60000.1", "1.500"), ("60000.2", "3.000")],
        ),
        book_line(
            "BTCUSDT",
            50,
            "delta",
            t0 + 120,
            501,
            &[("60000.0", "0.500")],
            &[("60000.1", "0")],
        ),
        book_line(
            "BTCUSDT",
            50,
            "delta",
            t0 + 140,
            502,
            &[("59999.8", "4.000")],
            &[],
        ),
        // The venue restarted its stream: u back to 1, the book replaced.
        book_line(
            "BTCUSDT",
            50,
            "delta",
            t0 + 3_600_000,
            1,
            &[("60010.0", "1.000")],
            &[("60010.5", "1.000")],
        ),
        book_line(
            "BTCUSDT",
            50,
            "delta",
            t0 + 3_600_020,
            2,
            &[("60010.1", "0.250")],
            &[],
        ),
    ];
    let ob200 = vec![
        book_line(
            "BTCUSDT",
            200,
            "snapshot",
            t0 + 3_600_010,
            90,
            &[("60010.0", "1.000")],
            &[("60010.5", "1.000"), ("60011.0", "0.100")],
        ),
        book_line(
            "BTCUSDT",
            200,
            "delta",
            t0 + 3_600_030,
            91,
            &[],
            &[("60010.5", "0")],
        ),
    ];
    let ob50_path = dir.join("2026-01-01_BTCUSDT_ob50.data.zip");
    let ob200_path = dir.join("2026-01-01_BTCUSDT_ob200.data.zip");
    write_zip(&ob50_path, "2026-01-01_BTCUSDT_ob50.data", &ob50);
    write_zip(&ob200_path, "2026-01-01_BTCUSDT_ob200.data", &ob200);
    let trades_path = dir.join("BTCUSDT2026-01-01.csv.gz");
    // One row at .1205 s (between the book lines at .120 and .140 s), two rows of one match at
    // .1300 s (one frame), and one an hour later flagged RPI.
    write_gz(
        &trades_path,
        "symbol,timestamp,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,foreignNotional,RPI\n\
         BTCUSDT,1767225600.1205,Sell,0.010,60000.0,MinusTick,m-1,6e+10,0.01,600.0,0\n\
         BTCUSDT,1767225600.1300,Buy,0.002,60000.1,PlusTick,m-2,1.2e+10,0.002,120.0,0\n\
         BTCUSDT,1767225600.1300,Buy,0.003,60000.2,PlusTick,m-3,1.8e+10,0.003,180.0,0\n\
         BTCUSDT,1767229200.0150,Buy,0.100,60010.5,PlusTick,m-4,6e+11,0.1,6001.05,1\n",
    );
    (ob50, ob200, ob50_path, ob200_path, trades_path)
}

#[test]
fn archives_of_one_day_merge_in_time_order_and_keep_every_trade_field() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let (ob50, ob200, ob50_path, ob200_path, trades_path) = built_day(dir);
    let stdout = succeeded(toolkit_in(
        dir,
        &[
            "import-history",
            trades_path.to_str().unwrap(),
            ob200_path.to_str().unwrap(),
            ob50_path.to_str().unwrap(),
            "--out",
            "imported",
        ],
    ));
    assert!(
        stdout.contains(
            "| BTCUSDT | 2026-01-01 | 50/200 | 7 | 1 | 4 | 3 | imported/BTCUSDT/2026-01-01 |"
        ),
        "{stdout}"
    );
    let day = dir.join("imported/BTCUSDT/2026-01-01");
    let frames = journal_frames(&day);
    // In time order: book at .100 and .120 s, the trade at .1205, the match at .130, book at
    // .140; an hour later the restarted depth-50 stream at +0 ms, the depth-200 snapshot at
    // +10, the RPI trade at +15, depth 50 at +20, depth 200 at +30.
    let times: Vec<u64> = frames.iter().map(|(ns, _)| *ns).collect();
    let t0 = 1_767_225_600_000_000_000_u64;
    assert_eq!(
        times,
        [
            t0 + 100_000_000,
            t0 + 120_000_000,
            t0 + 120_500_000,
            t0 + 130_000_000,
            t0 + 140_000_000,
            t0 + 3_600_000_000_000,
            t0 + 3_600_010_000_000,
            t0 + 3_600_015_000_000,
            t0 + 3_600_020_000_000,
            t0 + 3_600_030_000_000,
        ]
    );
    // Book lines byte for byte.
    assert_eq!(frames[0].1, ob50[0].as_bytes());
    assert_eq!(frames[6].1, ob200[0].as_bytes());
    // Trades as the live stream carries them: the match of two rows in one frame.
    let trade = |index: usize| -> Value { serde_json::from_slice(&frames[index].1).unwrap() };
    assert_eq!(
        trade(3),
        serde_json::json!({
            "topic": "publicTrade.BTCUSDT",
            "type": "snapshot",
            "ts": 1_767_225_600_130_u64,
            "data": [
                {"T": 1_767_225_600_130_u64, "s": "BTCUSDT", "S": "Buy", "v": "0.002", "p": "60000.1", "L": "PlusTick", "i": "m-2", "RPI": false},
                {"T": 1_767_225_600_130_u64, "s": "BTCUSDT", "S": "Buy", "v": "0.003", "p": "60000.2", "L": "PlusTick", "i": "m-3", "RPI": false},
            ],
        })
    );
    // The engine's decoder reads them, the RPI flag kept.
    let mut decoder = PublicDecoder::new();
    let mut frame = FrameBuf::default();
    frame.fill(&frames[7].1);
    let Ok(PublicMessage::Trades(batch)) = decoder.decode(&mut frame) else {
        panic!("not trades")
    };
    assert_eq!(batch.trades.len(), 1);
    assert!(batch.trades[0].rpi);
    assert_eq!(batch.trades[0].size, "0.100".parse().unwrap());
    assert_eq!(batch.trades[0].time, 1_767_229_200_015);

    // Each depth's book over the imported day is the independent book over its lines.
    let imported = books_from_journal(&day, "BTCUSDT");
    let mut by_time: Vec<(u64, String)> = ob50
        .iter()
        .chain(&ob200)
        .map(|line| {
            (
                serde_json::from_str::<Value>(line).unwrap()["ts"]
                    .as_u64()
                    .unwrap(),
                line.clone(),
            )
        })
        .collect();
    by_time.sort_by_key(|(ts, _)| *ts);
    let ordered: Vec<String> = by_time.into_iter().map(|(_, line)| line).collect();
    assert_eq!(imported, books_from_lines(&ordered));
    // After the restart the depth-50 book holds only what came after u 1.
    assert_eq!(
        imported[5].1,
        (
            vec![
                ("60010.1".parse().unwrap(), "0.250".parse().unwrap()),
                ("60010.0".parse().unwrap(), "1.000".parse().unwrap())
            ],
            vec![("60010.5".parse().unwrap(), "1.000".parse().unwrap())],
        )
    );
    let meta: Value =
        serde_json::from_str(&fs::read_to_string(day.join("import.json")).unwrap()).unwrap();
    assert_eq!(meta["depths"], serde_json::json!([50, 200]));
    assert_eq!(
        (
            meta["book_messages"].as_u64(),
            meta["trades"].as_u64(),
            meta["trade_frames"].as_u64()
        ),
        (Some(7), Some(4), Some(3))
    );
}

/// Writes `file` with `write` into a fresh `dir/case` and imports it into `case/imported`: the
/// file's path and the import's output.
fn import_case(dir: &Path, case: &str, file: &str, write: impl FnOnce(&Path)) -> (PathBuf, Output) {
    let case_dir = dir.join(case);
    fs::create_dir_all(&case_dir).unwrap();
    let path = case_dir.join(file);
    write(&path);
    let output = toolkit_in(
        &case_dir,
        &[
            "import-history",
            path.to_str().unwrap(),
            "--out",
            "imported",
        ],
    );
    (path, output)
}

const OB50: &str = "2026-01-01_BTCUSDT_ob50.data.zip";

#[test]
fn bad_archives_are_refused_with_their_file_and_line() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let t0 = 1_767_225_600_000_u64;
    let snapshot = book_line(
        "BTCUSDT",
        50,
        "snapshot",
        t0 + 100,
        500,
        &[("60000.0", "1.000")],
        &[("60000.1", "1.000")],
    );
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "wrong-symbol",
            vec![
                snapshot.clone(),
                book_line(
                    "ETHUSDT",
                    50,
                    "delta",
                    t0 + 120,
                    501,
                    &[("3000.00", "1.00")],
                    &[],
                ),
            ],
            ":2: a message of orderbook.50.ETHUSDT in the archive of orderbook.50.BTCUSDT",
        ),
        (
            "backwards",
            vec![
                snapshot.clone(),
                book_line(
                    "BTCUSDT",
                    50,
                    "delta",
                    t0 + 90,
                    501,
                    &[("60000.0", "2.000")],
                    &[],
                ),
            ],
            ":2: time goes back, ts 1767225600090 after 1767225600100",
        ),
        (
            "gap",
            vec![
                snapshot.clone(),
                book_line(
                    "BTCUSDT",
                    50,
                    "delta",
                    t0 + 120,
                    503,
                    &[("60000.0", "2.000")],
                    &[],
                ),
            ],
            ":2: a gap in u, 503 after 500 (the stream lost messages)",
        ),
        (
            "other-depth",
            vec![
                snapshot.clone(),
                book_line(
                    "BTCUSDT",
                    200,
                    "delta",
                    t0 + 120,
                    501,
                    &[("60000.0", "2.000")],
                    &[],
                ),
            ],
            ":2: a message of orderbook.200.BTCUSDT in the archive of orderbook.50.BTCUSDT",
        ),
    ];
    for (name, lines, expected) in cases {
        let (path, output) = import_case(dir, name, OB50, |path| {
            write_zip(path, "2026-01-01_BTCUSDT_ob50.data", &lines);
        });
        let stderr = refused(output);
        assert!(
            stderr.contains(&format!("{}{expected}", path.display())),
            "{name}: {stderr}"
        );
        // Nothing is written for a refused day.
        assert!(!dir.join(name).join("imported").exists(), "{name}");
    }

    // A truncated zip: refused before anything is written.
    let whole = dir.join("whole.zip");
    write_zip(
        &whole,
        "2026-01-01_BTCUSDT_ob50.data",
        &vec![snapshot.clone(); 40],
    );
    let bytes = fs::read(&whole).unwrap();
    let (path, output) = import_case(dir, "truncated", OB50, |path| {
        fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
    });
    let stderr = refused(output);
    assert!(
        stderr.contains(&format!("{}: not a whole zip archive", path.display())),
        "{stderr}"
    );
    assert!(!dir.join("truncated/imported").exists());

    // A whole zip whose file is damaged: found at the end, and what was written removed.
    let (_, output) = import_case(dir, "damaged", OB50, |path| {
        let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("2026-01-01_BTCUSDT_ob50.data", stored)
            .unwrap();
        zip.write_all(format!("{snapshot}\n{snapshot}\n").as_bytes())
            .unwrap();
        zip.finish().unwrap();
        let mut bytes = fs::read(path).unwrap();
        let at = bytes
            .windows(7)
            .rposition(|window| window == b"60000.1")
            .unwrap();
        bytes[at] = b'7';
        fs::write(path, bytes).unwrap();
    });
    let stderr = refused(output);
    assert!(
        stderr.contains("its file is cut short or damaged (size or CRC differ from its header)"),
        "{stderr}"
    );
    assert!(!dir.join("damaged/imported/BTCUSDT/2026-01-01").exists());

    // Trades: another symbol, time going back, a header without a needed column.
    for (name, text, expected) in [
        (
            "trade-symbol",
            "timestamp,symbol,side,size,price\n1767225600.1,ETHUSDT,Buy,1.00,3000.00\n",
            ":2: a trade of ETHUSDT in the archive of BTCUSDT",
        ),
        (
            "trade-back",
            "timestamp,symbol,side,size,price\n1767225600.2,BTCUSDT,Buy,0.001,60000.0\n1767225600.1,BTCUSDT,Buy,0.001,60000.0\n",
            ":3: time goes back, 1767225600.1 after 1767225600.2",
        ),
        (
            "trade-header",
            "timestamp,symbol,size,price\n1767225600.1,BTCUSDT,0.001,60000.0\n",
            ":1: no side column",
        ),
    ] {
        let (path, output) = import_case(dir, name, "BTCUSDT2026-01-01.csv.gz", |path| {
            write_gz(path, text);
        });
        let stderr = refused(output);
        assert!(
            stderr.contains(&format!("{}{expected}", path.display())),
            "{name}: {stderr}"
        );
    }

    // An empty day: nothing to write, said so.
    let (_, output) = import_case(dir, "empty", "2026-01-02_BTCUSDT_ob50.data.zip", |path| {
        write_zip(path, "2026-01-02_BTCUSDT_ob50.data", &[]);
    });
    let stdout = succeeded(output);
    assert!(
        stdout.contains("| BTCUSDT | 2026-01-02 | 50 | 0 | 0 | 0 | 0 | empty: nothing written |"),
        "{stdout}"
    );
    assert!(!dir.join("empty/imported/BTCUSDT/2026-01-02").exists());

    // A day at a depth the engine's book (engine.book_depth: 50) would ignore: imported, and
    // refused by the toolkit with the depth to read it at.
    let deep = dir.join("deep");
    fs::create_dir_all(&deep).unwrap();
    let path = deep.join("2026-01-01_BTCUSDT_ob200.data.zip");
    let line = book_line(
        "BTCUSDT",
        200,
        "snapshot",
        t0 + 100,
        7,
        &[("60000.0", "1.000")],
        &[("60000.1", "1.000")],
    );
    write_zip(&path, "2026-01-01_BTCUSDT_ob200.data", &[line]);
    succeeded(toolkit_in(
        &deep,
        &["import-history", path.to_str().unwrap()],
    ));
    assert!(
        deep.join("data/journal/BTCUSDT/2026-01-01/import.json")
            .exists()
    );
    let stderr = refused(toolkit_in(&deep, &["dump-parquet"]));
    assert!(
        stderr.contains(
            "data/journal/BTCUSDT/2026-01-01 holds orderbook.200 messages (imported from Bybit's \
             archives) and engine.book_depth is 50: the engine's book would ignore them all; read \
             it with engine.book_depth: 200"
        ),
        "{stderr}"
    );

    // A name that is not Bybit's.
    let stderr = refused(toolkit_in(dir, &["import-history", "btc.zip"]));
    assert!(
        stderr.contains("btc.zip: not a Bybit archive name"),
        "{stderr}"
    );
}

//! `toolkit export-history`: journal days written as Bybit's public archives, the inverse of
//! `import-history`.
//!
//! Each day (`.../SYMBOL/YYYY-MM-DD/`) becomes `YYYY-MM-DD_SYMBOL_obN.data.zip`, its order-book
//! messages one per line byte for byte (one entry, named as Bybit names it), and
//! `SYMBOLYYYY-MM-DD.csv.gz`, one row per trade in Bybit's current columns (`symbol`,
//! `timestamp` in seconds with the millisecond, `side`, `size`, `price`, `tickDirection`,
//! `trdMatchID`, `grossValue`, `homeNotional`, `foreignNotional`, `RPI`) and a `BT` column Bybit's
//! files lack, so that block trades survive the round trip. Tickers and control replies have no
//! place in the archives and are left out (counted). A day recorded across a lost connection
//! keeps the snapshot that followed the loss, which the importer takes as a fresh start.
//!
//! What for: a simulated or recorded day becomes input for `import-history` and everything
//! downstream of it (`scripts/main.sh HISTORY=DIR`), and the import path is tested on days
//! whose every message is known.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use feed::bybit::{PublicDecoder, PublicMessage, Trade};
use feed::journal::{JournalReader, OnCorrupt, StreamId};
use feed::{Fixed, FrameBuf};
use serde::Serialize;

/// Arguments of `export-history`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Journal days, each a `SYMBOL/YYYY-MM-DD` directory.
    #[arg(required = true)]
    days: Vec<PathBuf>,
    /// Where the archives go (created; an archive already there is not overwritten).
    #[arg(long)]
    out: PathBuf,
}

/// Columns of the trade archives written.
const TRADE_HEADER: &str = "symbol,timestamp,side,size,price,tickDirection,trdMatchID,\
                            grossValue,homeNotional,foreignNotional,RPI,BT";

/// What was written for one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Exported {
    pub(crate) day: PathBuf,
    pub(crate) book_archive: PathBuf,
    pub(crate) trade_archive: PathBuf,
    pub(crate) book_lines: u64,
    pub(crate) trades: u64,
    /// Public frames with no place in the archives (tickers, replies).
    pub(crate) left_out: u64,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut table = String::from(
        "| day | order-book archive | lines | trade archive | trades | left out |\n|---|---|---|---|---|---|\n",
    );
    for day in &args.days {
        let exported = export_day(day, &args.out)?;
        let _ = writeln!(
            table,
            "| {} | {} | {} | {} | {} | {} |",
            exported.day.display(),
            exported.book_archive.display(),
            exported.book_lines,
            exported.trade_archive.display(),
            exported.trades,
            exported.left_out
        );
    }
    print!("{table}");
    Ok(())
}

/// Writes the archives of the journal day `day` into `out`.
fn export_day(day: &Path, out: &Path) -> Result<Exported> {
    let name = |path: &Path| {
        path.file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .with_context(|| format!("{} is not a SYMBOL/YYYY-MM-DD day", day.display()))
    };
    let date = name(day)?;
    let symbol = name(day.parent().unwrap_or(Path::new("")))?;
    ensure!(
        date.parse::<jiff::civil::Date>().is_ok(),
        "{}: {date} is not a date (YYYY-MM-DD)",
        day.display()
    );
    let mut reader = JournalReader::open(day, OnCorrupt::Fail)
        .with_context(|| format!("reading {}", day.display()))?;
    let mut decoder = PublicDecoder::new();
    let mut scratch = FrameBuf::with_capacity(1 << 20);
    let trade_archive = out.join(format!("{symbol}{date}.csv.gz"));
    let trades_file = create(&trade_archive)?;
    let mut trades_out =
        flate2::write::GzEncoder::new(BufWriter::new(trades_file), flate2::Compression::default());
    writeln!(trades_out, "{TRADE_HEADER}")?;
    // The book archive is opened with the first book message: its depth names it.
    let mut book: Option<(u16, PathBuf, zip::ZipWriter<BufWriter<File>>)> = None;
    let (mut book_lines, mut trades, mut left_out) = (0, 0, 0);
    let mut row = String::new();
    while let Some(record) = reader
        .next_record()
        .with_context(|| format!("reading {}", day.display()))?
    {
        if record.stream != StreamId::PUBLIC_LINEAR {
            continue;
        }
        let at = || format!("{} at {} ns", day.display(), record.wall_ns);
        match decoder.decode_bytes(&mut scratch, record.frame) {
            Ok(PublicMessage::Book(update)) => {
                ensure!(
                    update.symbol.as_str() == symbol,
                    "{}: an order book of {} in a day of {symbol}",
                    at(),
                    update.symbol.as_str()
                );
                let (depth, _, zip) = match &mut book {
                    Some(book) => book,
                    None => {
                        let path = out.join(format!("{date}_{symbol}_ob{}.data.zip", update.depth));
                        let mut zip = zip::ZipWriter::new(BufWriter::new(create(&path)?));
                        zip.start_file(
                            format!("{date}_{symbol}_ob{}.data", update.depth),
                            zip::write::SimpleFileOptions::default()
                                .compression_method(zip::CompressionMethod::Deflated),
                        )
                        .with_context(|| format!("writing {}", path.display()))?;
                        book.insert((update.depth, path, zip))
                    }
                };
                if update.depth != *depth {
                    bail!(
                        "{}: an order book of depth {} in a day of depth {depth}: an archive holds one",
                        at(),
                        update.depth
                    );
                }
                zip.write_all(record.frame)?;
                zip.write_all(b"\n")?;
                book_lines += 1;
            }
            Ok(PublicMessage::Trades(batch)) => {
                for trade in batch.trades {
                    row.clear();
                    trade_row(trade, &mut row);
                    trades_out.write_all(row.as_bytes())?;
                    trades += 1;
                }
            }
            Ok(PublicMessage::Ticker(_) | PublicMessage::Control(_)) => left_out += 1,
            Err(err) => bail!("{}: a frame the decoder refuses: {err}", at()),
        }
    }
    let Some((_, book_archive, zip)) = book else {
        bail!(
            "{} has no order-book message: nothing to export",
            day.display()
        );
    };
    zip.finish()
        .and_then(|mut file| file.flush().map_err(Into::into))
        .with_context(|| format!("writing {}", book_archive.display()))?;
    trades_out
        .finish()
        .and_then(|mut file| file.flush())
        .with_context(|| format!("writing {}", trade_archive.display()))?;
    Ok(Exported {
        day: day.to_path_buf(),
        book_archive,
        trade_archive,
        book_lines,
        trades,
        left_out,
    })
}

/// A new file at `path`; one already there is an error.
fn create(path: &Path) -> Result<File> {
    File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {} (remove it to export again)", path.display()))
}

/// One trade as a row of [`TRADE_HEADER`].
fn trade_row(trade: &Trade, row: &mut String) {
    let notional = trade
        .price
        .checked_mul_floor(trade.size)
        .unwrap_or(Fixed::ZERO);
    let _ = writeln!(
        row,
        "{},{}.{:03},{},{},{},{},{},{},{},{},{},{}",
        trade.symbol.as_str(),
        trade.time / 1000,
        trade.time % 1000,
        trade.taker_side.as_str(),
        trade.size,
        trade.price,
        trade.tick.as_str(),
        trade.id.as_str(),
        (notional.to_f64() * 1e8).round(),
        trade.size,
        notional,
        u8::from(trade.rpi),
        u8::from(trade.block_trade),
    );
}

//! `toolkit dump-parquet`: the parquet archive of recorded days.
//!
//! Every frame of a day's journal (`paths.journal/SYMBOL/DATE/`) is replayed through the
//! engine's own [`Pipeline`]: its decoder, book, features and candidate trigger. Nothing is
//! computed a second time here, so the archive holds exactly what the engine would have seen.
//!
//! A partition is one symbol and day. It is written as
//! - `paths.parquet/symbol=S/date=D/part-N.parquet`: one row per candidate (time, signal id,
//!   side, entry price, every feature in schema order, best bid and ask, mid; the symbol and
//!   the day are the hive partition keys of the path, as pyarrow, polars, DuckDB and Spark
//!   expect, and are not repeated inside the files);
//! - `paths.market/symbol=S/date=D/tops-N.parquet` and `trades-N.parquet`: the top of book after
//!   every book update, and every trade with its block-trade and RPI flags (research reads
//!   them; labels replay the journal itself through the paper venue, see `label`);
//! - `paths.parquet/symbol=S/date=D/_partition.json`: the sidecar (schema hash, feature names,
//!   row counts, time range, source segments, tool version), written last. A partition with a
//!   sidecar is complete; re-running skips it unless `--force`.
//!
//! Every file is written under a temporary name and renamed, so no reader sees half a file.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use engine::cli::ConfigArgs;
use engine::config::Config;
use engine::features::{FEATURE_NAMES, FEATURE_SCHEMA_HASH};
use engine::model::registry::write_json_atomically;
use engine::pipeline::{FrameOutcome, Pipeline};
use feed::journal::{JournalReader, OnCorrupt, StreamId};
use feed::{FrameBuf, Instrument, Side, Symbol};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::history::ImportedDay;
use crate::table::{self, Column, Table};

/// Rows per parquet file before the next part starts.
const PART_ROWS: usize = 1_000_000;
/// Name of the sidecar of a partition.
pub(crate) const SIDECAR: &str = "_partition.json";

/// Arguments of `dump-parquet`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// First day to dump (UTC, inclusive).
    #[arg(long)]
    from: Option<Date>,
    /// Last day to dump (UTC, inclusive).
    #[arg(long)]
    to: Option<Date>,
    /// Rewrite partitions that are complete already.
    #[arg(long)]
    force: bool,
}

/// The sidecar of a partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Sidecar {
    /// Symbol.
    pub(crate) symbol: String,
    /// Day, `YYYY-MM-DD`.
    pub(crate) date: String,
    /// SHA-256 of the feature schema the rows were computed with.
    pub(crate) schema_hash: String,
    /// Feature columns, in schema order.
    pub(crate) feature_names: Vec<String>,
    /// Candidate files, relative to the partition directory.
    pub(crate) candidate_files: Vec<String>,
    /// Market files (tops, trades), relative to the market partition directory.
    pub(crate) market_files: Vec<String>,
    /// Rows by table.
    pub(crate) rows: RowCounts,
    /// Event time of the first and last frame that decoded, ms since the epoch.
    pub(crate) time_range_ms: [u64; 2],
    /// The journal the partition was made from.
    pub(crate) source: Source,
    /// The simulated regime, when the journal is a simulated day.
    pub(crate) regime: Option<String>,
    /// The toolkit that wrote the partition.
    pub(crate) tool_version: String,
}

/// Row and frame counts of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct RowCounts {
    /// Candidates.
    pub(crate) candidates: u64,
    /// Book tops.
    pub(crate) tops: u64,
    /// Trades.
    pub(crate) trades: u64,
    /// Frames read.
    pub(crate) frames: u64,
    /// Frames that did not decode (counted and skipped).
    pub(crate) decode_errors: u64,
    /// Book updates that left the book invalid until a snapshot.
    pub(crate) book_invalid: u64,
}

/// The journal behind a partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Source {
    /// The journal directory.
    pub(crate) journal: PathBuf,
    /// Its segment files and their sizes.
    pub(crate) segments: Vec<SourceSegment>,
    /// Corrupt records skipped.
    pub(crate) corrupt_skipped: u64,
}

/// One journal segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SourceSegment {
    /// File name.
    pub(crate) file: String,
    /// Size, bytes.
    pub(crate) bytes: u64,
}

/// A symbol and day of the archive and where its files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Partition {
    /// Symbol.
    pub(crate) symbol: String,
    /// Day.
    pub(crate) date: Date,
}

impl Partition {
    /// The hive-style directory of the partition under `root`.
    pub(crate) fn dir(&self, root: &Path) -> PathBuf {
        root.join(format!("symbol={}", self.symbol))
            .join(format!("date={}", self.date))
    }

    /// Its candidate directory (holding the sidecar).
    pub(crate) fn candidates_dir(&self, config: &Config) -> PathBuf {
        self.dir(&config.paths.parquet)
    }

    /// Its market directory.
    pub(crate) fn market_dir(&self, config: &Config) -> PathBuf {
        self.dir(&config.paths.market)
    }

    /// Its sidecar, if the partition is complete.
    pub(crate) fn sidecar(&self, config: &Config) -> Result<Option<Sidecar>> {
        let path = self.candidates_dir(config).join(SIDECAR);
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .with_context(|| format!("reading {}", path.display())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }
}

/// The complete partitions of the archive, in symbol and date order.
pub(crate) fn complete_partitions(config: &Config) -> Result<Vec<(Partition, Sidecar)>> {
    let mut found = Vec::new();
    for (symbol, dates) in hive_dirs(&config.paths.parquet)? {
        for date in dates {
            let partition = Partition {
                symbol: symbol.clone(),
                date,
            };
            if let Some(sidecar) = partition.sidecar(config)? {
                found.push((partition, sidecar));
            }
        }
    }
    Ok(found)
}

/// `root/symbol=S/date=D` directories, by symbol then date.
fn hive_dirs(root: &Path) -> Result<Vec<(String, Vec<Date>)>> {
    let mut out = Vec::new();
    for (symbol, path) in sorted_subdirs(root, "symbol=")? {
        let dates = sorted_subdirs(&path, "date=")?
            .into_iter()
            .filter_map(|(date, _)| date.parse().ok())
            .collect();
        out.push((symbol, dates));
    }
    Ok(out)
}

/// Names (after `prefix`) and paths of the subdirectories of `dir` whose names start with it.
pub(crate) fn sorted_subdirs(dir: &Path, prefix: &str) -> Result<Vec<(String, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("listing {}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix(prefix)
            && entry.path().is_dir()
        {
            out.push((rest.to_owned(), entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let loaded = args.config.load()?;
    let config = &loaded.config;
    let mut todo = Vec::new();
    let mut skipped = 0;
    for symbol in &config.exchange.symbols {
        let instrument = *loaded.symbols.symbols.get(symbol).with_context(|| {
            format!(
                "{symbol} has no entry in {}",
                loaded.source.symbols.display()
            )
        })?;
        let days = sorted_subdirs(&config.paths.journal.join(symbol), "")?;
        for (name, journal) in days {
            let Ok(date) = name.parse::<Date>() else {
                continue;
            };
            if args.from.is_some_and(|from| date < from) || args.to.is_some_and(|to| date > to) {
                continue;
            }
            let partition = Partition {
                symbol: symbol.clone(),
                date,
            };
            if !args.force && partition.sidecar(config)?.is_some() {
                skipped += 1;
                continue;
            }
            if let Some(imported) = ImportedDay::read(&journal)? {
                imported.check_depth(&journal, config.engine.book_depth)?;
            }
            todo.push((partition, journal, instrument));
        }
    }
    if todo.is_empty() {
        println!(
            "nothing to dump: {skipped} partitions complete already (--force rewrites them); \
             journals are read from {}/SYMBOL/DATE/",
            config.paths.journal.display()
        );
        return Ok(());
    }
    let total_bytes = todo
        .iter()
        .map(|(_, journal, _)| journal_bytes(journal))
        .sum::<Result<u64>>()?;
    let progress = ProgressBar::new(total_bytes).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    for (partition, journal, instrument) in &todo {
        progress.set_message(format!("{} {}", partition.symbol, partition.date));
        let sidecar = dump_partition(config, partition, journal, *instrument, &progress)
            .with_context(|| format!("dumping {}", journal.display()))?;
        progress.println(format!(
            "{} {}: {} candidates, {} tops, {} trades from {} frames ({} did not decode) -> {}",
            partition.symbol,
            partition.date,
            sidecar.rows.candidates,
            sidecar.rows.tops,
            sidecar.rows.trades,
            sidecar.rows.frames,
            sidecar.rows.decode_errors,
            partition.candidates_dir(config).display()
        ));
    }
    progress.finish_and_clear();
    println!(
        "dumped {} partitions into {} and {} ({skipped} complete already, skipped)",
        todo.len(),
        config.paths.parquet.display(),
        config.paths.market.display()
    );
    Ok(())
}

fn journal_bytes(journal: &Path) -> Result<u64> {
    let reader = JournalReader::open(journal, OnCorrupt::Skip)?;
    let mut bytes = 0;
    for segment in reader.segment_index()? {
        bytes += fs::metadata(&segment.path)?.len();
    }
    Ok(bytes)
}

/// Rows of the three tables of a partition being replayed, written out in parts.
struct Tables {
    candidates: Rows,
    tops: Rows,
    trades: Rows,
}

/// Column buffers of one table and the parts written so far.
struct Rows {
    stem: &'static str,
    dir: PathBuf,
    columns: Vec<(String, Column)>,
    files: Vec<String>,
    rows: u64,
}

impl Rows {
    fn new(stem: &'static str, dir: PathBuf, columns: Vec<(String, Column)>) -> Rows {
        Rows {
            stem,
            dir,
            columns,
            files: Vec::new(),
            rows: 0,
        }
    }

    fn row_done(&mut self, metadata: &[(&str, String)]) -> Result<()> {
        self.rows += 1;
        if self
            .columns
            .first()
            .is_some_and(|(_, c)| c.len() >= PART_ROWS)
        {
            self.flush(metadata)?;
        }
        Ok(())
    }

    /// Writes the buffered rows as the next part (also when there are none and no part exists
    /// yet, so that every table has a file).
    fn flush(&mut self, metadata: &[(&str, String)]) -> Result<()> {
        let buffered = self.columns.first().map_or(0, |(_, c)| c.len());
        if buffered == 0 && !self.files.is_empty() {
            return Ok(());
        }
        let mut table = Table::new();
        for (name, column) in &mut self.columns {
            let empty = column.empty_like();
            table.push(name.clone(), std::mem::replace(column, empty))?;
        }
        let file = format!("{}-{}.parquet", self.stem, self.files.len());
        table::write(&self.dir.join(&file), &table, metadata)?;
        self.files.push(file);
        Ok(())
    }
}

fn push_i64(column: &mut Column, value: i64) {
    if let Column::TimestampMs(v) | Column::I64(v) = column {
        v.push(value);
    }
}

fn push_f64(column: &mut Column, value: f64) {
    if let Column::F64(v) = column {
        v.push(value);
    }
}

fn push_f32(column: &mut Column, value: f32) {
    if let Column::F32(v) = column {
        v.push(value);
    }
}

fn push_bool(column: &mut Column, value: bool) {
    if let Column::Bool(v) = column {
        v.push(value);
    }
}

fn push_str(column: &mut Column, value: &str) {
    if let Column::Str(v) = column {
        v.push(value.to_owned());
    }
}

/// Name of a side in the archive.
pub(crate) fn side_name(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn named(names: &[(&str, Column)]) -> Vec<(String, Column)> {
    names
        .iter()
        .map(|(name, column)| ((*name).to_owned(), column.clone()))
        .collect()
}

impl Tables {
    fn new(candidates_dir: PathBuf, market_dir: PathBuf) -> Tables {
        let mut candidate_columns = named(&[
            ("ts", Column::TimestampMs(Vec::new())),
            ("signal_id", Column::I64(Vec::new())),
            ("side", Column::Str(Vec::new())),
            ("price", Column::F64(Vec::new())),
        ]);
        candidate_columns.extend(
            FEATURE_NAMES
                .iter()
                .map(|name| ((*name).to_owned(), Column::F32(Vec::new()))),
        );
        candidate_columns.extend(named(&[
            ("best_bid", Column::F64(Vec::new())),
            ("best_ask", Column::F64(Vec::new())),
            ("mid", Column::F64(Vec::new())),
        ]));
        Tables {
            candidates: Rows::new("part", candidates_dir, candidate_columns),
            tops: Rows::new(
                "tops",
                market_dir.clone(),
                named(&[
                    ("ts", Column::TimestampMs(Vec::new())),
                    ("bid", Column::F64(Vec::new())),
                    ("bid_size", Column::F64(Vec::new())),
                    ("ask", Column::F64(Vec::new())),
                    ("ask_size", Column::F64(Vec::new())),
                ]),
            ),
            trades: Rows::new(
                "trades",
                market_dir,
                named(&[
                    ("ts", Column::TimestampMs(Vec::new())),
                    ("price", Column::F64(Vec::new())),
                    ("size", Column::F64(Vec::new())),
                    ("taker_side", Column::Str(Vec::new())),
                    ("block_trade", Column::Bool(Vec::new())),
                    ("rpi", Column::Bool(Vec::new())),
                ]),
            ),
        }
    }
}

fn dump_partition(
    config: &Config,
    partition: &Partition,
    journal: &Path,
    instrument: Instrument,
    progress: &ProgressBar,
) -> Result<Sidecar> {
    let candidates_dir = partition.candidates_dir(config);
    let market_dir = partition.market_dir(config);
    for dir in [&candidates_dir, &market_dir] {
        if dir.exists() {
            fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let symbol = Symbol::new(&partition.symbol).context("symbol too long")?;
    // The threshold plays no part: only the trigger runs, nothing is scored.
    let mut pipeline = Pipeline::new(config, symbol, instrument, 1.0)
        .context("the configured sizing does not fit the instrument")?;
    let mut reader = JournalReader::open(journal, OnCorrupt::Skip)?;
    let segments = reader
        .segment_index()?
        .into_iter()
        .map(|segment| {
            Ok(SourceSegment {
                file: segment
                    .path
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                bytes: fs::metadata(&segment.path)?.len(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = [
        ("feature_schema_hash", FEATURE_SCHEMA_HASH.to_owned()),
        ("symbol", partition.symbol.clone()),
        ("date", partition.date.to_string()),
    ];
    let mut tables = Tables::new(candidates_dir.clone(), market_dir.clone());
    let mut counts = RowCounts::default();
    let mut time_range: Option<[u64; 2]> = None;
    let mut frame = FrameBuf::default();
    let mut trade_error: Option<anyhow::Error> = None;
    while let Some(record) = reader.next_record()? {
        progress.inc(record.frame.len() as u64 + 32);
        if record.stream == StreamId::LINK {
            // The live connection was lost here: the book is stale until the next snapshot.
            pipeline.invalidate_book();
            continue;
        }
        if record.stream != StreamId::PUBLIC_LINEAR {
            continue;
        }
        counts.frames += 1;
        frame.fill(record.frame);
        let trades = &mut tables.trades;
        let outcome = pipeline.on_frame_observing(&mut frame, |batch| {
            for trade in batch {
                let [ts, price, size, side, block, rpi] = &mut trades.columns[..] else {
                    return;
                };
                push_i64(&mut ts.1, trade.time as i64);
                push_f64(&mut price.1, trade.price.to_f64());
                push_f64(&mut size.1, trade.size.to_f64());
                push_str(&mut side.1, side_name(trade.taker_side));
                push_bool(&mut block.1, trade.block_trade);
                push_bool(&mut rpi.1, trade.rpi);
                if let Err(err) = trades.row_done(&metadata) {
                    trade_error.get_or_insert(err);
                }
            }
        });
        if let Some(err) = trade_error.take() {
            return Err(err);
        }
        let (ts_ms, seq) = match outcome {
            FrameOutcome::Book { ts_ms, seq } => (ts_ms, seq),
            FrameOutcome::BookNotValid { .. } => {
                counts.book_invalid += 1;
                continue;
            }
            FrameOutcome::Error(_) => {
                counts.decode_errors += 1;
                continue;
            }
            FrameOutcome::Other => continue,
        };
        let range = time_range.get_or_insert([ts_ms, ts_ms]);
        range[1] = range[1].max(ts_ms);
        let book = pipeline.book();
        let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) else {
            continue;
        };
        let (bid_price, ask_price) = (bid.price.to_f64(), ask.price.to_f64());
        {
            let [ts, bid_col, bid_size, ask_col, ask_size] = &mut tables.tops.columns[..] else {
                bail!("tops table has an unexpected shape");
            };
            push_i64(&mut ts.1, ts_ms as i64);
            push_f64(&mut bid_col.1, bid_price);
            push_f64(&mut bid_size.1, bid.size.to_f64());
            push_f64(&mut ask_col.1, ask_price);
            push_f64(&mut ask_size.1, ask.size.to_f64());
        }
        tables.tops.row_done(&metadata)?;
        let Some(candidate) = pipeline.candidate(ts_ms, seq) else {
            continue;
        };
        let features = *pipeline.features();
        let columns = &mut tables.candidates.columns;
        push_i64(&mut columns[0].1, candidate.ts_ms as i64);
        push_i64(&mut columns[1].1, candidate.id.0 as i64);
        push_str(&mut columns[2].1, side_name(candidate.side));
        push_f64(&mut columns[3].1, candidate.price.to_f64());
        for (index, value) in features.iter().enumerate() {
            push_f32(&mut columns[4 + index].1, *value);
        }
        let after = 4 + FEATURE_NAMES.len();
        push_f64(&mut columns[after].1, bid_price);
        push_f64(&mut columns[after + 1].1, ask_price);
        push_f64(&mut columns[after + 2].1, (bid_price + ask_price) / 2.0);
        tables.candidates.row_done(&metadata)?;
    }
    for rows in [&mut tables.candidates, &mut tables.tops, &mut tables.trades] {
        rows.flush(&metadata)?;
    }
    counts.candidates = tables.candidates.rows;
    counts.tops = tables.tops.rows;
    counts.trades = tables.trades.rows;
    let regime = read_regime(journal)?;
    let sidecar = Sidecar {
        symbol: partition.symbol.clone(),
        date: partition.date.to_string(),
        schema_hash: FEATURE_SCHEMA_HASH.to_owned(),
        feature_names: FEATURE_NAMES
            .iter()
            .map(|name| (*name).to_owned())
            .collect(),
        candidate_files: tables.candidates.files,
        market_files: [tables.tops.files, tables.trades.files].concat(),
        rows: counts,
        time_range_ms: time_range.unwrap_or_default(),
        source: Source {
            journal: journal.to_path_buf(),
            segments,
            corrupt_skipped: reader.skipped(),
        },
        regime,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    write_json_atomically(&candidates_dir.join(SIDECAR), &sidecar)?;
    Ok(sidecar)
}

/// The regime of a simulated day, from the `session.json` that `toolkit synth` leaves.
fn read_regime(journal: &Path) -> Result<Option<String>> {
    let path = journal.join(crate::synth::SESSION_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let session: crate::synth::Session = serde_json::from_str(&text)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok(Some(session.regime))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

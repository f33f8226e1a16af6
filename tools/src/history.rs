//! `toolkit import-history`: Bybit's public historical market data, turned into journal days
//! that `dump-parquet`, `label`, `train`, the canary and `engine run --feed replay` take exactly
//! as they take recorded ones.
//!
//! - **Order-book archives** (`YYYY-MM-DD_SYMBOL_obN.data.zip`, any of the depths Bybit has
//!   published): one raw WebSocket message per line, a snapshot then deltas. Each line goes
//!   into the journal byte for byte, checked first by the engine's own decoder: its topic and
//!   `data.s` must name the file's symbol and depth, its `ts` must not go back, and above depth 1
//!   a delta's `u` must follow the last by one (a `u` of 1 is the venue restarting its stream,
//!   as the book treats it; a snapshot starts afresh).
//! - **Trade archives** (`SYMBOLYYYY-MM-DD.csv.gz`): parsed by their header, not by position
//!   (Bybit has added columns over the years; newer files end with `RPI`). Each row becomes a
//!   trade of a `publicTrade.SYMBOL` frame as the live stream carries them: rows of the same time
//!   (one match) share a frame, up to the 1024 a frame holds; `S`, `v`, `p` exactly as written,
//!   `L` and `i` from `tickDirection` and `trdMatchID`, `RPI` and `BT` where the file has them.
//! - **Receive time.** The archives carry none: each message is journaled at its own time, a
//!   book line at its `ts` (when Bybit pushed it) and a trade at its `timestamp` (when it
//!   matched, to the file's precision). The sources of a day are merged in that order (a book
//!   line before a trade of the same time), and `import.json` beside the journal says so.
//! - **Nothing lost, reordered or invented.** The journal is read back through the decoder when
//!   written: book messages out must equal lines in, trades out rows in, or the day is
//!   refused. Bad input (a line of another symbol or depth, time going back, a gap in `u`, a
//!   row that does not parse, a zip that is not whole) is an error naming the file and the
//!   line, never skipped.
//!
//! A day's book is kept at its archive's depth: the engine builds its book at
//! `engine.book_depth` and ignores other depths, so a day imported from `ob500` archives is read
//! with `engine.book_depth: 500` (the toolkit refuses the mismatch, naming both).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use engine::cli::ConfigArgs;
use engine::model::registry::write_json_atomically;
use feed::bybit::UpdateKind;
use feed::bybit::public::{MAX_TRADES, PublicDecoder, PublicMessage};
use feed::journal::{
    ClockAnchor, JournalOptions, JournalReader, JournalWriter, OnCorrupt, StreamId,
};
use feed::{FrameBuf, Symbol};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Arguments of `import-history`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// Bybit archives: `YYYY-MM-DD_SYMBOL_obN.data.zip` and `SYMBOLYYYY-MM-DD.csv.gz`, any number
    /// of days and symbols; the files of one symbol and day become one journal day.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Where days go (`OUT/SYMBOL/DATE/`); `paths.journal` by default.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Segment size of the journals, MiB.
    #[arg(long, default_value_t = 64)]
    segment_mib: u64,
    /// Also write the result as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// File name of an imported day's metadata, beside its journal.
pub(crate) const IMPORT_FILE: &str = "import.json";

/// Monotonic time an imported day's clock starts at in its journal (any positive value would
/// do).
const IMPORT_MONO_BASE_NS: u64 = 1_000_000_000;

/// What kind of archive a file is, from its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum ArchiveKind {
    /// An order-book archive of this depth.
    Book { depth: u16 },
    /// A trade archive.
    Trades,
}

/// One archive file, classified by its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Archive {
    symbol: String,
    date: String,
    kind: ArchiveKind,
    path: PathBuf,
}

impl Archive {
    /// Classifies `path` by Bybit's file names.
    fn classify(path: &Path) -> Result<Archive> {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .with_context(|| format!("{} names no file", path.display()))?;
        let unknown = || {
            anyhow::anyhow!(
                "{}: not a Bybit archive name (YYYY-MM-DD_SYMBOL_obN.data.zip or \
                 SYMBOLYYYY-MM-DD.csv.gz)",
                path.display()
            )
        };
        if let Some(stem) = name.strip_suffix(".data.zip") {
            let mut parts = stem.splitn(3, '_');
            let (Some(date), Some(symbol), Some(depth)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(unknown());
            };
            let depth: u16 = depth
                .strip_prefix("ob")
                .and_then(|depth| depth.parse().ok())
                .ok_or_else(unknown)?;
            ensure!(is_date(date) && !symbol.is_empty(), unknown());
            return Ok(Archive {
                symbol: symbol.to_owned(),
                date: date.to_owned(),
                kind: ArchiveKind::Book { depth },
                path: path.to_path_buf(),
            });
        }
        if let Some(stem) = name.strip_suffix(".csv.gz") {
            let split = stem.len().checked_sub(10).ok_or_else(unknown)?;
            let (symbol, date) = stem.split_at(split);
            ensure!(is_date(date) && !symbol.is_empty(), unknown());
            return Ok(Archive {
                symbol: symbol.to_owned(),
                date: date.to_owned(),
                kind: ArchiveKind::Trades,
                path: path.to_path_buf(),
            });
        }
        Err(unknown())
    }
}

/// `YYYY-MM-DD`, a real date.
fn is_date(text: &str) -> bool {
    text.len() == 10 && text.parse::<jiff::civil::Date>().is_ok()
}

/// One source file of a day, as `import.json` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SourceFile {
    /// The file as given.
    pub(crate) file: PathBuf,
    /// Its SHA-256.
    pub(crate) sha256: String,
    /// `orderbook` or `trades`.
    pub(crate) kind: String,
    /// The depth of an order-book archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) depth: Option<u16>,
    /// Lines (book messages) or rows (trades) read.
    pub(crate) records: u64,
    /// Times the book stream restarted (`u` back to 1).
    #[serde(default)]
    pub(crate) u_restarts: u64,
}

/// `import.json`: where an imported day came from and what it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ImportedDay {
    /// Symbol and day (UTC).
    pub(crate) symbol: String,
    pub(crate) date: String,
    /// How the receive time of each frame was chosen.
    pub(crate) receive_time: String,
    /// The files merged into it.
    pub(crate) sources: Vec<SourceFile>,
    /// Book depths its messages carry (the engine reads one: `engine.book_depth`).
    pub(crate) depths: Vec<u16>,
    /// Book messages, trades, and the trade frames they were written in.
    pub(crate) book_messages: u64,
    pub(crate) trades: u64,
    pub(crate) trade_frames: u64,
    /// First and last receive time, ms since the epoch.
    pub(crate) first_ms: u64,
    pub(crate) last_ms: u64,
}

impl ImportedDay {
    /// Reads `journal/import.json`; `None` when the day was not imported.
    pub(crate) fn read(journal: &Path) -> Result<Option<ImportedDay>> {
        let path = journal.join(IMPORT_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| format!("reading {}", path.display()))
                .map(Some),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// An error when the day's book is at a depth the engine's book (`book_depth`) would
    /// ignore.
    pub(crate) fn check_depth(&self, journal: &Path, book_depth: u16) -> Result<()> {
        if self.book_messages > 0 && !self.depths.contains(&book_depth) {
            bail!(
                "{} holds orderbook.{} messages (imported from Bybit's archives) and \
                 engine.book_depth is {book_depth}: the engine's book would ignore them all; \
                 read it with engine.book_depth: {} (a profile or --config)",
                journal.display(),
                join(&self.depths),
                self.depths[0]
            );
        }
        Ok(())
    }
}

fn join(depths: &[u16]) -> String {
    depths
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join("/")
}

/// What `import.json` says of the receive time.
const RECEIVE_TIME: &str = "the messages' own times (the archives carry no receive time): a book \
                            line at its ts, a trade at its timestamp; a book line before a trade \
                            of the same time";

/// One message ready for the journal.
struct Message {
    /// Receive time, ns since the epoch.
    recv_ns: u64,
    bytes: Vec<u8>,
    /// Trades in it (0 for a book message).
    trades: u64,
}

/// A source of messages in time order.
trait MessageSource {
    /// The next message, or `None` at the end.
    fn next_message(&mut self) -> Result<Option<Message>>;
    /// What `import.json` records of it, once it is exhausted.
    fn summary(&self) -> SourceFile;
}

/// The one file of a Bybit order-book archive, decompressed as it is read (a day of a deep book
/// is gigabytes) and checked against the size and CRC its header gives when it ends.
struct ZipEntry {
    data: Box<dyn Read>,
    crc: crc32fast::Hasher,
    expected_crc: u32,
    expected_size: u64,
    read: u64,
}

impl ZipEntry {
    fn open(file: File) -> Result<ZipEntry, String> {
        let mut zip = zip::ZipArchive::new(file).map_err(|err| err.to_string())?;
        if zip.len() != 1 {
            return Err(format!(
                "a Bybit order-book archive holds one file, this one {}",
                zip.len()
            ));
        }
        let (start, compressed, method, expected_crc, expected_size) = {
            let entry = zip.by_index_raw(0).map_err(|err| err.to_string())?;
            let start = entry
                .data_start()
                .ok_or_else(|| "its file's data cannot be found".to_owned())?;
            (
                start,
                entry.compressed_size(),
                entry.compression(),
                entry.crc32(),
                entry.size(),
            )
        };
        let mut file = zip.into_inner();
        file.seek(SeekFrom::Start(start))
            .map_err(|err| err.to_string())?;
        let raw = file.take(compressed);
        let data: Box<dyn Read> = match method {
            zip::CompressionMethod::Stored => Box::new(raw),
            zip::CompressionMethod::Deflated => Box::new(flate2::read::DeflateDecoder::new(raw)),
            other => return Err(format!("its file is compressed with {other}, not deflate")),
        };
        Ok(ZipEntry {
            data,
            crc: crc32fast::Hasher::new(),
            expected_crc,
            expected_size,
            read: 0,
        })
    }
}

impl Read for ZipEntry {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.data.read(buf)?;
        if read == 0 && buf.is_empty() {
            return Ok(0);
        }
        if read == 0 {
            if self.read != self.expected_size || self.crc.clone().finalize() != self.expected_crc {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not a whole zip archive: its file is cut short or damaged (size or CRC \
                     differ from its header)",
                ));
            }
            return Ok(0);
        }
        self.crc.update(&buf[..read]);
        self.read += read as u64;
        Ok(read)
    }
}

/// The lines of an order-book archive, checked.
struct BookLines {
    archive: Archive,
    sha256: String,
    lines: Box<dyn BufRead>,
    line: u64,
    decoder: PublicDecoder,
    frame: FrameBuf,
    last_ts: u64,
    last_u: Option<u64>,
    u_restarts: u64,
    symbol: Symbol,
    /// Messages read.
    messages: u64,
}

impl BookLines {
    fn open(archive: &Archive) -> Result<BookLines> {
        let path = &archive.path;
        let sha256 = file_sha256(path)?;
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let entry = ZipEntry::open(file)
            .map_err(|err| anyhow::anyhow!("{}: not a whole zip archive: {err}", path.display()))?;
        let symbol = Symbol::new(&archive.symbol)
            .map_err(|_| anyhow::anyhow!("{}: symbol too long", path.display()))?;
        Ok(BookLines {
            archive: archive.clone(),
            sha256,
            lines: Box::new(BufReader::with_capacity(1 << 20, entry)),
            line: 0,
            decoder: PublicDecoder::new(),
            frame: FrameBuf::with_capacity(1 << 20),
            last_ts: 0,
            last_u: None,
            u_restarts: 0,
            symbol,
            messages: 0,
        })
    }

    fn depth(&self) -> u16 {
        match self.archive.kind {
            ArchiveKind::Book { depth } => depth,
            ArchiveKind::Trades => 0,
        }
    }
}

impl MessageSource for BookLines {
    fn next_message(&mut self) -> Result<Option<Message>> {
        let mut text = Vec::new();
        loop {
            text.clear();
            let read = self
                .lines
                .read_until(b'\n', &mut text)
                .with_context(|| format!("{}:{}", self.archive.path.display(), self.line + 1))?;
            if read == 0 {
                return Ok(None);
            }
            self.line += 1;
            while text.last().is_some_and(|byte| byte.is_ascii_whitespace()) {
                text.pop();
            }
            if !text.is_empty() {
                break;
            }
        }
        let at = format!("{}:{}", self.archive.path.display(), self.line);
        let depth = self.depth();
        self.frame.fill(&text);
        let update = match self.decoder.decode(&mut self.frame) {
            Ok(PublicMessage::Book(update)) => update,
            Ok(_) => bail!("{at}: not an order-book message"),
            Err(err) => bail!("{at}: {err}"),
        };
        ensure!(
            update.symbol == self.symbol && update.depth == depth,
            "{at}: a message of orderbook.{}.{} in the archive of orderbook.{depth}.{}",
            update.depth,
            update.symbol,
            self.symbol
        );
        ensure!(
            update.ts >= self.last_ts,
            "{at}: time goes back, ts {} after {}",
            update.ts,
            self.last_ts
        );
        match (update.kind, self.last_u) {
            (UpdateKind::Snapshot, _) => {}
            (UpdateKind::Delta, _) if update.update_id == 1 => self.u_restarts += 1,
            (UpdateKind::Delta, None) => {
                bail!("{at}: a delta before the archive's first snapshot")
            }
            (UpdateKind::Delta, Some(last)) if depth > 1 && update.update_id != last + 1 => {
                bail!(
                    "{at}: a gap in u, {} after {last} (the stream lost messages)",
                    update.update_id
                )
            }
            (UpdateKind::Delta, Some(_)) => {}
        }
        self.last_u = Some(update.update_id);
        self.last_ts = update.ts;
        self.messages += 1;
        Ok(Some(Message {
            recv_ns: update.ts.saturating_mul(1_000_000),
            bytes: text,
            trades: 0,
        }))
    }

    fn summary(&self) -> SourceFile {
        SourceFile {
            file: self.archive.path.clone(),
            sha256: self.sha256.clone(),
            kind: "orderbook".to_owned(),
            depth: Some(self.depth()),
            records: self.messages,
            u_restarts: self.u_restarts,
        }
    }
}

/// Where each field of a trade archive's rows is, by its header.
#[derive(Debug, Clone, Copy)]
struct TradeColumns {
    timestamp: usize,
    symbol: usize,
    side: usize,
    size: usize,
    price: usize,
    tick: Option<usize>,
    id: Option<usize>,
    rpi: Option<usize>,
    block: Option<usize>,
}

impl TradeColumns {
    fn of(header: &str) -> Result<TradeColumns, String> {
        let names: Vec<&str> = header.split(',').map(str::trim).collect();
        let find = |name: &str| {
            names
                .iter()
                .position(|column| column.eq_ignore_ascii_case(name))
        };
        let need = |name: &str| find(name).ok_or_else(|| format!("no {name} column in {header:?}"));
        Ok(TradeColumns {
            timestamp: need("timestamp")?,
            symbol: need("symbol")?,
            side: need("side")?,
            size: need("size")?,
            price: need("price")?,
            tick: find("tickDirection"),
            id: find("trdMatchID"),
            rpi: find("RPI"),
            block: find("BT").or_else(|| find("blockTrade")),
        })
    }
}

/// The rows of a trade archive, checked, as `publicTrade` frames.
struct TradeRows {
    archive: Archive,
    sha256: String,
    lines: Box<dyn BufRead>,
    line: u64,
    columns: Option<TradeColumns>,
    rows: u64,
    /// The last row's time, ns, and as written.
    last_ns: u64,
    last_text: String,
    /// A row read past the last frame (of a later time).
    pending: Option<(u64, Map<String, Value>)>,
}

impl TradeRows {
    fn open(archive: &Archive) -> Result<TradeRows> {
        let path = &archive.path;
        let sha256 = file_sha256(path)?;
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(TradeRows {
            archive: archive.clone(),
            sha256,
            lines: Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file))),
            line: 0,
            columns: None,
            rows: 0,
            last_ns: 0,
            last_text: String::new(),
            pending: None,
        })
    }

    /// The next row as a trade object, with its time in ns.
    fn next_row(&mut self) -> Result<Option<(u64, Map<String, Value>)>> {
        let path = self.archive.path.display().to_string();
        loop {
            let mut text = String::new();
            let read = self
                .lines
                .read_line(&mut text)
                .with_context(|| format!("{path}:{}: not a whole gzip file", self.line + 1))?;
            if read == 0 {
                return Ok(None);
            }
            self.line += 1;
            let text = text.trim_end();
            if text.is_empty() {
                continue;
            }
            let at = format!("{path}:{}", self.line);
            let Some(columns) = self.columns else {
                self.columns =
                    Some(TradeColumns::of(text).map_err(|err| anyhow::anyhow!("{at}: {err}"))?);
                continue;
            };
            let fields: Vec<&str> = text.split(',').map(str::trim).collect();
            let field = |index: usize| -> Result<&str> {
                fields
                    .get(index)
                    .copied()
                    .with_context(|| format!("{at}: {} fields, the header has more", fields.len()))
            };
            ensure!(
                field(columns.symbol)? == self.archive.symbol,
                "{at}: a trade of {} in the archive of {}",
                field(columns.symbol)?,
                self.archive.symbol
            );
            let ns = timestamp_ns(field(columns.timestamp)?).with_context(|| {
                format!(
                    "{at}: timestamp {:?}",
                    field(columns.timestamp).unwrap_or("")
                )
            })?;
            ensure!(
                ns >= self.last_ns,
                "{at}: time goes back, {} after {}",
                field(columns.timestamp)?,
                self.last_text
            );
            self.last_ns = ns;
            field(columns.timestamp)?.clone_into(&mut self.last_text);
            let side = field(columns.side)?;
            ensure!(
                side == "Buy" || side == "Sell",
                "{at}: side {side:?} is neither Buy nor Sell"
            );
            for (name, index) in [("size", columns.size), ("price", columns.price)] {
                let value = field(index)?;
                ensure!(
                    value
                        .parse::<feed::Fixed>()
                        .is_ok_and(|fixed| fixed.is_positive()),
                    "{at}: {name} {value:?} is not a positive decimal"
                );
            }
            let mut trade = Map::new();
            trade.insert("T".into(), json!(ns / 1_000_000));
            trade.insert("s".into(), json!(self.archive.symbol));
            trade.insert("S".into(), json!(side));
            trade.insert("v".into(), json!(field(columns.size)?));
            trade.insert("p".into(), json!(field(columns.price)?));
            if let Some(index) = columns.tick {
                trade.insert("L".into(), json!(field(index)?));
            }
            if let Some(index) = columns.id {
                trade.insert("i".into(), json!(field(index)?));
            }
            if let Some(index) = columns.block {
                trade.insert(
                    "BT".into(),
                    json!(flag(field(index)?).with_context(|| format!("{at}: BT"))?),
                );
            }
            if let Some(index) = columns.rpi {
                trade.insert(
                    "RPI".into(),
                    json!(flag(field(index)?).with_context(|| format!("{at}: RPI"))?),
                );
            }
            self.rows += 1;
            return Ok(Some((ns, trade)));
        }
    }
}

impl MessageSource for TradeRows {
    fn next_message(&mut self) -> Result<Option<Message>> {
        let Some((ns, first)) = (match self.pending.take() {
            Some(row) => Some(row),
            None => self.next_row()?,
        }) else {
            return Ok(None);
        };
        // Rows of the same time are one match: one frame, as the live stream sends them.
        let mut trades = vec![Value::Object(first)];
        while trades.len() < MAX_TRADES {
            match self.next_row()? {
                Some((next_ns, trade)) if next_ns == ns => trades.push(Value::Object(trade)),
                Some(row) => {
                    self.pending = Some(row);
                    break;
                }
                None => break,
            }
        }
        let count = trades.len() as u64;
        let frame = json!({
            "topic": format!("publicTrade.{}", self.archive.symbol),
            "type": "snapshot",
            "ts": ns / 1_000_000,
            "data": trades,
        });
        Ok(Some(Message {
            recv_ns: ns,
            bytes: serde_json::to_vec(&frame)?,
            trades: count,
        }))
    }

    fn summary(&self) -> SourceFile {
        SourceFile {
            file: self.archive.path.clone(),
            sha256: self.sha256.clone(),
            kind: "trades".to_owned(),
            depth: None,
            records: self.rows,
            u_restarts: 0,
        }
    }
}

/// A trade archive's flag: `0`/`1` or `false`/`true`.
fn flag(text: &str) -> Result<bool> {
    match text {
        "0" | "false" | "False" | "" => Ok(false),
        "1" | "true" | "True" => Ok(true),
        other => bail!("{other:?} is not a flag"),
    }
}

/// A trade archive's timestamp in ns: seconds with a fraction (`1733011200.4902`), or whole
/// milliseconds in files that write them so (13 digits).
fn timestamp_ns(text: &str) -> Result<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    ensure!(
        !whole.is_empty()
            && whole.bytes().all(|byte| byte.is_ascii_digit())
            && fraction.bytes().all(|byte| byte.is_ascii_digit())
            && fraction.len() <= 9,
        "not a time"
    );
    let whole: u64 = whole.parse()?;
    if fraction.is_empty() && whole >= 100_000_000_000 {
        return whole.checked_mul(1_000_000).context("out of range");
    }
    let nanos: u64 = format!("{fraction:0<9}").parse()?;
    whole
        .checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(nanos))
        .context("out of range")
}

fn file_sha256(path: &Path) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0_u8; 1 << 16];
    loop {
        let read = file
            .read(&mut chunk)
            .with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            break;
        }
        hasher.update(&chunk[..read]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

/// What one day's import did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DayResult {
    /// Where it went (`None` when it held nothing, and nothing was written).
    pub(crate) journal: Option<PathBuf>,
    pub(crate) day: ImportedDay,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let loaded = args.config.load()?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| loaded.config.paths.journal.clone());
    let mut days: BTreeMap<(String, String), Vec<Archive>> = BTreeMap::new();
    for path in &args.files {
        let archive = Archive::classify(path)?;
        ensure!(
            loaded.symbols.symbols.contains_key(&archive.symbol),
            "{}: {} has no entry in {}",
            path.display(),
            archive.symbol,
            loaded.source.symbols.display()
        );
        days.entry((archive.symbol.clone(), archive.date.clone()))
            .or_default()
            .push(archive);
    }
    let mut results = Vec::new();
    for ((symbol, date), archives) in days {
        let dir = out.join(&symbol).join(&date);
        let result = import_day(&symbol, &date, &archives, &dir, args.segment_mib)
            .with_context(|| format!("importing {symbol} {date}"))?;
        results.push(result);
    }
    print!("{}", table(&results));
    println!(
        "every line and row read is a message written, read back through the decoder; receive \
         time: {RECEIVE_TIME}"
    );
    if let Some(path) = &args.json {
        write_json_atomically(path, &results)?;
    }
    Ok(())
}

/// Imports the archives of one symbol and day into `dir`.
fn import_day(
    symbol: &str,
    date: &str,
    archives: &[Archive],
    dir: &Path,
    segment_mib: u64,
) -> Result<DayResult> {
    if dir.exists() && fs::read_dir(dir)?.next().is_some() {
        bail!(
            "{} already holds data; remove it or choose another --out",
            dir.display()
        );
    }
    let mut sources: Vec<Box<dyn MessageSource>> = Vec::new();
    let mut depths = Vec::new();
    let mut archives = archives.to_vec();
    archives.sort();
    for archive in &archives {
        match archive.kind {
            ArchiveKind::Book { depth } => {
                depths.push(depth);
                sources.push(Box::new(BookLines::open(archive)?));
            }
            ArchiveKind::Trades => sources.push(Box::new(TradeRows::open(archive)?)),
        }
    }
    let progress = ProgressBar::new_spinner().with_style(ProgressStyle::with_template(
        "{prefix:>22} {spinner} {pos} messages ({per_sec})",
    )?);
    progress.set_prefix(format!("{symbol} {date}"));

    let written = write_day(dir, &mut sources, segment_mib, &progress);
    progress.finish_and_clear();
    depths.sort_unstable();
    depths.dedup();
    let result = written.and_then(|written| {
        let day = ImportedDay {
            symbol: symbol.to_owned(),
            date: date.to_owned(),
            receive_time: RECEIVE_TIME.to_owned(),
            sources: sources.iter().map(|source| source.summary()).collect(),
            depths,
            book_messages: written.book_messages,
            trades: written.trades,
            trade_frames: written.trade_frames,
            first_ms: written.first_ns / 1_000_000,
            last_ms: written.last_ns / 1_000_000,
        };
        if written.frames() == 0 {
            return Ok(DayResult { journal: None, day });
        }
        check_counts(&day, dir)?;
        write_json_atomically(&dir.join(IMPORT_FILE), &day)?;
        Ok(DayResult {
            journal: Some(dir.to_path_buf()),
            day,
        })
    });
    if result.is_err() {
        // A refused day leaves nothing behind: what was written of it is removed (the
        // directory was empty or absent).
        let _ = fs::remove_dir_all(dir);
    }
    result
}

/// What was written of a day.
#[derive(Debug, Clone, Copy, Default)]
struct Written {
    book_messages: u64,
    trades: u64,
    trade_frames: u64,
    /// Receive time of the first and last frame, ns since the epoch.
    first_ns: u64,
    last_ns: u64,
}

impl Written {
    fn frames(&self) -> u64 {
        self.book_messages + self.trade_frames
    }
}

/// Merges `sources` into a journal in `dir` (created with the first message): each source's
/// next message, the earliest written first (a book line before a trade of the same time, then
/// the sources' order).
fn write_day(
    dir: &Path,
    sources: &mut [Box<dyn MessageSource>],
    segment_mib: u64,
    progress: &ProgressBar,
) -> Result<Written> {
    let mut heads: Vec<Option<Message>> = Vec::with_capacity(sources.len());
    for source in sources.iter_mut() {
        heads.push(source.next_message()?);
    }
    let mut writer: Option<JournalWriter> = None;
    let mut written = Written::default();
    loop {
        let next = heads
            .iter()
            .enumerate()
            .filter_map(|(index, head)| head.as_ref().map(|message| (index, message)))
            .min_by_key(|(index, message)| (message.recv_ns, message.trades > 0, *index))
            .map(|(index, _)| index);
        let Some(index) = next else {
            return Ok(written);
        };
        let Some(message) = heads[index].take() else {
            return Ok(written);
        };
        heads[index] = sources[index].next_message()?;
        let writer = match &mut writer {
            Some(writer) => writer,
            None => {
                let anchor = ClockAnchor {
                    mono_ns: IMPORT_MONO_BASE_NS,
                    wall_ns: message.recv_ns,
                };
                let options = JournalOptions::with_segment_mib(segment_mib);
                written.first_ns = message.recv_ns;
                writer.insert(JournalWriter::open(dir, options, anchor)?.0)
            }
        };
        let mono_ns = IMPORT_MONO_BASE_NS + (message.recv_ns - written.first_ns);
        writer.append(mono_ns, StreamId::PUBLIC_LINEAR, &message.bytes)?;
        written.last_ns = message.recv_ns;
        if message.trades > 0 {
            written.trades += message.trades;
            written.trade_frames += 1;
        } else {
            written.book_messages += 1;
        }
        progress.inc(1);
    }
}

/// Reads the written journal back through the decoder: book messages and trades out must be
/// the lines and rows in.
fn check_counts(day: &ImportedDay, dir: &Path) -> Result<()> {
    let lines_in: u64 = day
        .sources
        .iter()
        .filter(|source| source.kind == "orderbook")
        .map(|source| source.records)
        .sum();
    let rows_in: u64 = day
        .sources
        .iter()
        .filter(|source| source.kind == "trades")
        .map(|source| source.records)
        .sum();
    let mut reader = JournalReader::open(dir, OnCorrupt::Fail)?;
    let mut decoder = PublicDecoder::new();
    let mut frame = FrameBuf::with_capacity(1 << 20);
    let (mut books, mut trades) = (0_u64, 0_u64);
    while let Some(record) = reader.next_record()? {
        frame.fill(record.frame);
        match decoder.decode(&mut frame) {
            Ok(PublicMessage::Book(_)) => books += 1,
            Ok(PublicMessage::Trades(batch)) => trades += batch.trades.len() as u64,
            Ok(_) => bail!("{}: a frame that is neither book nor trades", dir.display()),
            Err(err) => bail!("{}: a frame written does not decode: {err}", dir.display()),
        }
    }
    ensure!(
        books == lines_in && trades == rows_in,
        "{}: {books} book messages and {trades} trades written for {lines_in} lines and \
         {rows_in} rows read",
        dir.display()
    );
    Ok(())
}

/// The days as a markdown table.
fn table(results: &[DayResult]) -> String {
    let mut out = String::from(
        "| symbol | day | depths | book messages | u restarts | trades | trade frames | journal |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for result in results {
        let day = &result.day;
        let restarts: u64 = day.sources.iter().map(|source| source.u_restarts).sum();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {restarts} | {} | {} | {} |",
            day.symbol,
            day.date,
            join(&day.depths),
            day.book_messages,
            day.trades,
            day.trade_frames,
            result.journal.as_ref().map_or_else(
                || "empty: nothing written".to_owned(),
                |journal| journal.display().to_string(),
            ),
        );
    }
    out
}

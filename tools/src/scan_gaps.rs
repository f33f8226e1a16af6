//! `toolkit scan-gaps`: what is missing or inconsistent in the parquet archive and the journals
//! behind it, before a desk trains on them.
//!
//! Findings, each with its symbol and day:
//! - `missing_partition`: a day between a symbol's first and last that has neither a partition
//!   nor a journal (the data was never recorded or imported);
//! - `never_dumped`: a journal day without a complete partition (`toolkit dump-parquet` reads it);
//! - `time_gap`: inside a partition, book tops further apart than `--max-gap` (the feed was down,
//!   or the archive it was imported from has a hole);
//! - `sidecar_mismatch`: a partition whose sidecar disagrees with its parquet files (rows per
//!   table, the feature schema hash each file carries, a file listed and absent);
//! - `u_hole`: an imported day whose book stream skips an update id (above depth 1, a delta
//!   whose `u` is not the last plus one and not a restart at 1).
//!
//! A table on the terminal, the findings as JSON with `--json`, exit status 1 on any finding.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use engine::cli::ConfigArgs;
use engine::config::HumanDuration;
use engine::model::registry::write_json_atomically;
use feed::FrameBuf;
use feed::bybit::{PublicDecoder, PublicMessage, UpdateKind};
use feed::journal::{JournalReader, OnCorrupt, StreamId};
use jiff::civil::Date;
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde::{Deserialize, Serialize};

use crate::archive::{Partition, Sidecar, complete_partitions, sorted_subdirs};
use crate::history::ImportedDay;
use crate::table::{self, Column};

/// Arguments of `scan-gaps`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// The archive's candidate root (`paths.parquet` by default; the market tables are read
    /// from `paths.market`, the journals from `paths.journal`).
    #[arg(long)]
    archive: Option<PathBuf>,
    /// The longest time between two book tops of a partition that is not a gap (`30s`, `5m`).
    #[arg(long, default_value = "60s")]
    max_gap: HumanDuration,
    /// Also write the findings as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    MissingPartition,
    NeverDumped,
    TimeGap,
    SidecarMismatch,
    UHole,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::MissingPartition => "missing_partition",
            Kind::NeverDumped => "never_dumped",
            Kind::TimeGap => "time_gap",
            Kind::SidecarMismatch => "sidecar_mismatch",
            Kind::UHole => "u_hole",
        }
    }
}

/// One thing found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Finding {
    pub(crate) symbol: String,
    pub(crate) date: String,
    pub(crate) kind: Kind,
    pub(crate) detail: String,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let loaded = args.config.load()?;
    let mut config = loaded.config.clone();
    if let Some(archive) = &args.archive {
        config.paths.parquet.clone_from(archive);
    }
    let max_gap_ms = u64::try_from(args.max_gap.get().as_millis()).unwrap_or(u64::MAX);
    let findings = scan(&config, max_gap_ms)?;
    print!("{}", report(&findings, &config, args.max_gap));
    if let Some(path) = &args.json {
        write_json_atomically(path, &findings)?;
    }
    Ok(if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Every finding, by symbol, day and kind.
pub(crate) fn scan(config: &engine::config::Config, max_gap_ms: u64) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let partitions = complete_partitions(config)?;
    let mut partition_days: BTreeMap<String, BTreeSet<Date>> = BTreeMap::new();
    for (partition, sidecar) in &partitions {
        partition_days
            .entry(partition.symbol.clone())
            .or_default()
            .insert(partition.date);
        findings.extend(check_partition(config, partition, sidecar, max_gap_ms)?);
    }
    let mut journal_days: BTreeMap<String, BTreeMap<Date, PathBuf>> = BTreeMap::new();
    for (symbol, dir) in sorted_subdirs(&config.paths.journal, "")? {
        for (name, journal) in sorted_subdirs(&dir, "")? {
            if let Ok(date) = name.parse::<Date>() {
                journal_days
                    .entry(symbol.clone())
                    .or_default()
                    .insert(date, journal);
            }
        }
    }
    let symbols: BTreeSet<&String> = partition_days.keys().chain(journal_days.keys()).collect();
    for symbol in symbols {
        let archived = partition_days.get(symbol).cloned().unwrap_or_default();
        let journals = journal_days.get(symbol).cloned().unwrap_or_default();
        let days: BTreeSet<Date> = archived.iter().chain(journals.keys()).copied().collect();
        let (Some(&first), Some(&last)) = (days.first(), days.last()) else {
            continue;
        };
        let mut date = first;
        while date <= last {
            let finding = |kind, detail: String| Finding {
                symbol: symbol.clone(),
                date: date.to_string(),
                kind,
                detail,
            };
            match (archived.contains(&date), journals.get(&date)) {
                (false, None) => findings.push(finding(
                    Kind::MissingPartition,
                    format!("no partition and no journal between {first} and {last}"),
                )),
                (false, Some(journal)) => findings.push(finding(
                    Kind::NeverDumped,
                    format!(
                        "{} has no complete partition (toolkit dump-parquet)",
                        journal.display()
                    ),
                )),
                (true, _) => {}
            }
            if let Some(journal) = journals.get(&date) {
                findings.extend(check_update_ids(symbol, date, journal)?);
            }
            date = date.tomorrow().context("date out of range")?;
        }
    }
    findings.sort();
    Ok(findings)
}

/// A partition's files against its sidecar, and the gaps between its book tops.
fn check_partition(
    config: &engine::config::Config,
    partition: &Partition,
    sidecar: &Sidecar,
    max_gap_ms: u64,
) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let mut mismatch = |detail: String| {
        findings.push(Finding {
            symbol: partition.symbol.clone(),
            date: partition.date.to_string(),
            kind: Kind::SidecarMismatch,
            detail,
        });
    };
    let candidates_dir = partition.candidates_dir(config);
    let market_dir = partition.market_dir(config);
    let mut rows: BTreeMap<&str, u64> = BTreeMap::new();
    let files = sidecar
        .candidate_files
        .iter()
        .map(|file| ("candidates", candidates_dir.join(file)))
        .chain(sidecar.market_files.iter().map(|file| {
            let table = if file.starts_with("tops") {
                "tops"
            } else {
                "trades"
            };
            (table, market_dir.join(file))
        }));
    for (table, path) in files {
        let Ok(file) = File::open(&path) else {
            mismatch(format!(
                "{} is listed in the sidecar and absent",
                path.display()
            ));
            continue;
        };
        let reader = SerializedFileReader::new(file)
            .with_context(|| format!("reading {}", path.display()))?;
        let metadata = reader.metadata().file_metadata();
        *rows.entry(table).or_default() += u64::try_from(metadata.num_rows()).unwrap_or(0);
        let hash = metadata
            .key_value_metadata()
            .and_then(|pairs| pairs.iter().find(|pair| pair.key == "feature_schema_hash"))
            .and_then(|pair| pair.value.clone());
        if hash.as_deref() != Some(sidecar.schema_hash.as_str()) {
            mismatch(format!(
                "{} carries feature schema {}, the sidecar {}",
                path.display(),
                hash.as_deref()
                    .map_or("none", |hash| &hash[..hash.len().min(12)]),
                &sidecar.schema_hash[..sidecar.schema_hash.len().min(12)]
            ));
        }
    }
    for (table, expected) in [
        ("candidates", sidecar.rows.candidates),
        ("tops", sidecar.rows.tops),
        ("trades", sidecar.rows.trades),
    ] {
        let found = rows.get(table).copied().unwrap_or(0);
        if found != expected {
            mismatch(format!(
                "{table}: {expected} rows in the sidecar, {found} in the files"
            ));
        }
    }
    let mut times: Vec<i64> = Vec::new();
    for file in sidecar
        .market_files
        .iter()
        .filter(|file| file.starts_with("tops"))
    {
        let path = market_dir.join(file);
        if !path.exists() {
            continue;
        }
        let tops = table::read(&path)?;
        if let Column::TimestampMs(ts) = tops.column("ts")? {
            times.extend(ts);
        }
    }
    times.sort_unstable();
    let max_gap = i64::try_from(max_gap_ms).unwrap_or(i64::MAX);
    for pair in times.windows(2) {
        if pair[1] - pair[0] > max_gap {
            findings.push(Finding {
                symbol: partition.symbol.clone(),
                date: partition.date.to_string(),
                kind: Kind::TimeGap,
                detail: format!(
                    "no book top from {} to {} ({:.1} s)",
                    clock(pair[0]),
                    clock(pair[1]),
                    (pair[1] - pair[0]) as f64 / 1000.0
                ),
            });
        }
    }
    Ok(findings)
}

/// `HH:MM:SS.mmm` UTC of a time in ms since the epoch.
fn clock(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|ts| ts.strftime("%H:%M:%S%.3f").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// An imported day's book stream, update id by update id: a hole is a delta above depth 1
/// whose `u` is neither the last plus one nor a restart at 1.
fn check_update_ids(symbol: &str, date: Date, journal: &Path) -> Result<Vec<Finding>> {
    if ImportedDay::read(journal)?.is_none() {
        return Ok(Vec::new());
    }
    let mut findings = Vec::new();
    let mut reader = JournalReader::open(journal, OnCorrupt::Fail)?;
    let mut decoder = PublicDecoder::new();
    let mut frame = FrameBuf::with_capacity(1 << 20);
    let mut last: BTreeMap<u16, u64> = BTreeMap::new();
    while let Some(record) = reader.next_record()? {
        if record.stream != StreamId::PUBLIC_LINEAR {
            continue;
        }
        frame.fill(record.frame);
        let Ok(PublicMessage::Book(update)) = decoder.decode(&mut frame) else {
            continue;
        };
        let previous = last.insert(update.depth, update.update_id);
        if let (UpdateKind::Delta, Some(previous)) = (update.kind, previous)
            && update.depth > 1
            && update.update_id != 1
            && update.update_id != previous + 1
        {
            findings.push(Finding {
                symbol: symbol.to_owned(),
                date: date.to_string(),
                kind: Kind::UHole,
                detail: format!(
                    "orderbook.{}: u {} after {previous} at {} ({} updates missing)",
                    update.depth,
                    update.update_id,
                    clock(i64::try_from(update.ts).unwrap_or(i64::MAX)),
                    update.update_id.saturating_sub(previous + 1)
                ),
            });
        }
    }
    Ok(findings)
}

/// The findings as a markdown table, and what was scanned.
fn report(findings: &[Finding], config: &engine::config::Config, max_gap: HumanDuration) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scanned {} (partitions), {} (market tables) and {} (journals); gaps above {max_gap}",
        config.paths.parquet.display(),
        config.paths.market.display(),
        config.paths.journal.display()
    );
    if findings.is_empty() {
        out.push_str("no findings\n");
        return out;
    }
    out.push_str("| symbol | day | finding | detail |\n|---|---|---|---|\n");
    for finding in findings {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            finding.symbol,
            finding.date,
            finding.kind.label(),
            finding.detail
        );
    }
    let _ = writeln!(out, "{} findings", findings.len());
    out
}

//! Which held-out days have judged which models before. A held-out day is evidence only the
//! first time a model is judged on it: a model changed until it passes has been fitted to the
//! days that judged it. So every canary appends one line per day to
//! `paths.data/canary/looks.jsonl`, and its report says how often, since when and by which
//! models each of its days was looked at before.
//!
//! A day is known by `SYMBOL DATE` and a fingerprint of its journal (the names and sizes of
//! its files, and its `session.json` where there is one): a day simulated again with another
//! seed is a fresh day, a day copied elsewhere is the same one.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::label::sha256_hex;
use crate::synth::SESSION_FILE;

/// File name of the record, under `paths.data/canary/`.
pub(crate) const LOOKS_FILE: &str = "looks.jsonl";

/// One day judging one model: a line of `looks.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Look {
    /// `SYMBOL DATE`.
    day: String,
    /// The journal's fingerprint.
    fingerprint: String,
    /// The model judged.
    model: String,
    /// When, RFC 3339 (UTC).
    at: String,
}

/// A held-out day's earlier looks, as the report gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EarlierLooks {
    /// `SYMBOL DATE`.
    pub(crate) day: String,
    /// Canaries that judged on it before this one.
    pub(crate) looks: u32,
    /// The first of them, RFC 3339.
    pub(crate) first_at: String,
    /// The models they judged, in the order first judged.
    pub(crate) models: Vec<String>,
}

/// A day about to be judged: its name and fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DayId {
    pub(crate) day: String,
    pub(crate) fingerprint: String,
}

impl DayId {
    /// `day` (`SYMBOL DATE`) with the fingerprint of the journal in `journal`.
    pub(crate) fn of(day: String, journal: &Path) -> Result<DayId> {
        let mut entries: Vec<(String, u64)> = fs::read_dir(journal)
            .with_context(|| format!("listing {}", journal.display()))?
            .map(|entry| {
                let entry = entry.with_context(|| format!("listing {}", journal.display()))?;
                let size = entry
                    .metadata()
                    .with_context(|| format!("reading {}", entry.path().display()))?
                    .len();
                Ok((entry.file_name().to_string_lossy().into_owned(), size))
            })
            .collect::<Result<_>>()?;
        entries.sort();
        let mut text: String = entries
            .iter()
            .map(|(name, size)| format!("{name} {size}\n"))
            .collect();
        let session = journal.join(SESSION_FILE);
        if session.exists() {
            text.push_str(
                &fs::read_to_string(&session)
                    .with_context(|| format!("reading {}", session.display()))?,
            );
        }
        Ok(DayId {
            day,
            fingerprint: sha256_hex(text.as_bytes())[..16].to_owned(),
        })
    }
}

/// The earlier looks at each of `days` recorded in `record` (a missing file: none), in the
/// order of `days`; days never looked at are left out.
pub(crate) fn earlier(record: &Path, days: &[DayId]) -> Result<Vec<EarlierLooks>> {
    let text = match fs::read_to_string(record) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(err).with_context(|| format!("reading {}", record.display())),
    };
    let mut by_day: BTreeMap<(&str, &str), EarlierLooks> = BTreeMap::new();
    let looks: Vec<Look> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line)
                .with_context(|| format!("{} line {}", record.display(), index + 1))
        })
        .collect::<Result<_>>()?;
    for look in &looks {
        let earlier = by_day
            .entry((look.day.as_str(), look.fingerprint.as_str()))
            .or_insert_with(|| EarlierLooks {
                day: look.day.clone(),
                looks: 0,
                first_at: look.at.clone(),
                models: Vec::new(),
            });
        earlier.looks += 1;
        if !earlier.models.contains(&look.model) {
            earlier.models.push(look.model.clone());
        }
    }
    Ok(days
        .iter()
        .filter_map(|id| {
            by_day
                .get(&(id.day.as_str(), id.fingerprint.as_str()))
                .cloned()
        })
        .collect())
}

/// Appends a look at each of `days` by `model`, at `at`, to `record` (created if missing).
pub(crate) fn record(record: &Path, days: &[DayId], model: &str, at: &str) -> Result<()> {
    if let Some(dir) = record.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut lines = String::new();
    for id in days {
        let look = Look {
            day: id.day.clone(),
            fingerprint: id.fingerprint.clone(),
            model: model.to_owned(),
            at: at.to_owned(),
        };
        lines.push_str(&serde_json::to_string(&look).context("writing a look")?);
        lines.push('\n');
    }
    // One write of whole lines to a file opened for appending: canaries run side by side
    // never interleave within a line.
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(record)
        .and_then(|mut file| file.write_all(lines.as_bytes()))
        .with_context(|| format!("appending to {}", record.display()))
}

/// One line of the report per day looked at before, or that none was.
pub(crate) fn describe(earlier: &[EarlierLooks]) -> Vec<String> {
    if earlier.is_empty() {
        return vec!["held-out days: none judged a model before (a first look)".to_owned()];
    }
    earlier
        .iter()
        .map(|day| {
            format!(
                "looked at before: {} by {} canar{} since {} (models {})",
                day.day,
                day.looks,
                if day.looks == 1 { "y" } else { "ies" },
                day.first_at,
                day.models.join(", ")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(dir: &Path, name: &str, bytes: &[u8]) -> DayId {
        let journal = dir.join(name);
        fs::create_dir_all(&journal).unwrap();
        fs::write(journal.join("frames-0.bin"), bytes).unwrap();
        DayId::of(format!("BTCUSDT {name}"), &journal).unwrap()
    }

    #[test]
    fn each_look_is_counted_per_day_and_a_day_simulated_again_is_fresh() {
        let scratch = tempfile::tempdir().unwrap();
        let record_path = scratch.path().join("canary").join(LOOKS_FILE);
        let monday = day(scratch.path(), "2026-01-04", b"one");
        let tuesday = day(scratch.path(), "2026-01-05", b"two");
        assert_eq!(
            earlier(&record_path, std::slice::from_ref(&monday)).unwrap(),
            []
        );

        record(
            &record_path,
            std::slice::from_ref(&monday),
            "model-a",
            "2026-12-07T09:00:00Z",
        )
        .unwrap();
        record(
            &record_path,
            &[monday.clone(), tuesday.clone()],
            "model-b",
            "2026-12-07T10:00:00Z",
        )
        .unwrap();
        record(
            &record_path,
            std::slice::from_ref(&monday),
            "model-a",
            "2026-12-07T11:00:00Z",
        )
        .unwrap();
        let seen = earlier(&record_path, &[tuesday.clone(), monday.clone()]).unwrap();
        assert_eq!(
            seen,
            [
                EarlierLooks {
                    day: "BTCUSDT 2026-01-05".to_owned(),
                    looks: 1,
                    first_at: "2026-12-07T10:00:00Z".to_owned(),
                    models: vec!["model-b".to_owned()],
                },
                EarlierLooks {
                    day: "BTCUSDT 2026-01-04".to_owned(),
                    looks: 3,
                    first_at: "2026-12-07T09:00:00Z".to_owned(),
                    models: vec!["model-a".to_owned(), "model-b".to_owned()],
                },
            ]
        );
        assert_eq!(
            describe(&seen[..1]),
            [
                "looked at before: BTCUSDT 2026-01-05 by 1 canary since 2026-12-07T10:00:00Z \
              (models model-b)"
            ]
        );

        // The same date simulated again (other frames): a fresh day.
        let again = day(scratch.path(), "2026-01-04", b"other frames");
        assert_ne!(again.fingerprint, monday.fingerprint);
        assert_eq!(earlier(&record_path, &[again]).unwrap(), []);
    }

    #[test]
    fn a_damaged_record_is_refused_with_its_line() {
        let scratch = tempfile::tempdir().unwrap();
        let record_path = scratch.path().join(LOOKS_FILE);
        fs::write(&record_path, "{\"day\":\"BTCUSDT 2026-01-04\"}\n").unwrap();
        let err = earlier(&record_path, &[]).unwrap_err();
        assert!(
            format!("{err:#}").contains("looks.jsonl line 1: missing field"),
            "{err:#}"
        );
    }
}

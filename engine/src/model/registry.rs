//! The model registry on disk: `registry/<model_id>/` (model.onnx, model.json, artifacts/),
//! `registry/manifest.json` (every promoted model, oldest first) and the `active` and `shadow`
//! slots, symbolic links to a model directory that are replaced atomically.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of a model's registry record, next to its `model.onnx`.
pub const MODEL_INFO_FILE: &str = "model.json";
/// File name of the ONNX model.
pub const MODEL_FILE: &str = "model.onnx";
/// File name of the manifest.
pub const MANIFEST_FILE: &str = "manifest.json";
/// File name of the rollout hold a rollback leaves until an operator clears it.
pub const HOLD_FILE: &str = "rollout_hold.json";
/// File name of what a model earned on its release's canary, next to its `model.json`.
pub const PERFORMANCE_FILE: &str = "performance.json";

/// Why the registry could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A file is not the JSON it should be.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The decision thresholds of a model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Enter at a score at or above this.
    pub tau_entry: f64,
    /// Exit a position when the score falls below this.
    pub tau_hold: f64,
}

/// A histogram of a reference distribution: `counts[i]` values fell in bin `i`, the bins cut at
/// `edges` (bin 0 is below `edges[0]`, the last bin at or above the last edge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// What was counted (a feature name, or `score`).
    pub name: String,
    /// Inner bin edges, ascending.
    pub edges: Vec<f64>,
    /// Values per bin; one more than the edges.
    pub counts: Vec<u64>,
}

/// `model.json`: what the registry and the engine need to know about a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Model id.
    pub id: String,
    /// When it was trained, RFC 3339.
    pub created_at: String,
    /// The feature schema hash it was trained on.
    pub schema_hash: String,
    /// Input features, in order.
    pub feature_names: Vec<String>,
    /// Thresholds.
    pub thresholds: Thresholds,
    /// Validation metrics: name to value (pr_auc, roc_auc, log_loss, precision_at_entry, ...).
    pub metrics: std::collections::BTreeMap<String, f64>,
    /// First and last candidate time of the training data, ms since the epoch.
    pub training_window_ms: [i64; 2],
    /// Reference distributions of every feature and of the score, for PSI/KS drift.
    pub reference: Vec<Histogram>,
    /// The features with the most gain, most first: the ones whose drift is watched live
    /// beside the score's (none in a record written before they were named).
    #[serde(default)]
    pub drift_features: Vec<String>,
    /// How far the score's distribution strays, in windows of held-out candidates of the
    /// model's own data, from its reference: the alarm levels of live score drift (none in a
    /// record written before they were calibrated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_drift_levels: Option<ScoreDriftLevels>,
}

/// Alarm levels of the score's drift, calibrated by the trainer: the largest PSI and KS of the
/// score over consecutive windows of `window` held-out candidates, in time order, against the
/// score's reference histogram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreDriftLevels {
    /// Candidates per window (`rollout_guard.drift_window` when calibrated).
    pub window: u32,
    /// Windows measured.
    pub windows: u32,
    /// The largest PSI among them.
    pub psi: f64,
    /// The largest KS statistic among them.
    pub ks: f64,
}

impl ModelInfo {
    /// Reads `dir/model.json`.
    pub fn read(dir: &Path) -> Result<ModelInfo, RegistryError> {
        read_json(&dir.join(MODEL_INFO_FILE))
    }
}

/// `performance.json`: what a model earned per closed trade on its release's canary (written
/// by `toolkit release-check`, copied into the registry by `toolkit promote`): the figures the
/// live performance guard holds its realized trades to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformanceReference {
    /// The model the canary judged.
    pub model_id: String,
    /// Closed trades on the canary's days.
    pub trades: u64,
    /// Their mean net PnL, USD.
    pub pnl_per_trade_usd: f64,
    /// Each one's net PnL, USD, in the order they closed: the guard is calibrated on them.
    pub trade_pnls_usd: Vec<f64>,
    /// The variance of their mean by block bootstrap over the one of independent trades (above
    /// 1 when trades cluster; the guard's stated false-alarm rate assumes they do not).
    pub design_effect: f64,
    /// `SYMBOL DATE (regime)` of each day the canary judged on.
    pub judged_on: Vec<String>,
    /// The horizon of the entry markouts below, ms (`canary.gates.markout_horizon`); 0 when
    /// there are none (figures written before they were kept).
    #[serde(default)]
    pub markout_horizon_ms: u64,
    /// The markout of each entry fill, bps, in the order they came due.
    #[serde(default)]
    pub entry_markouts_bps: Vec<f64>,
    /// The variance of their mean by block bootstrap over the one of independent fills
    /// (markouts of fills close in time overlap, and cluster).
    #[serde(default = "independent")]
    pub markout_design_effect: f64,
}

/// The design effect of figures written before it was kept: independent.
const fn independent() -> f64 {
    1.0
}

impl PerformanceReference {
    /// Reads `dir/performance.json`; `None` when the model has none (it never had a canary).
    pub fn read(dir: &Path) -> Result<Option<PerformanceReference>, RegistryError> {
        let path = dir.join(PERFORMANCE_FILE);
        if !path.exists() {
            return Ok(None);
        }
        read_json(&path).map(Some)
    }
}

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Model id.
    pub id: String,
    /// When it was trained.
    pub created_at: String,
    /// Its feature schema hash.
    pub schema_hash: String,
    /// Its thresholds.
    pub thresholds: Thresholds,
    /// Its directory, relative to the registry.
    pub path: PathBuf,
    /// Free text: where it came from, why it was promoted.
    pub notes: String,
    /// How it was released: `release check passed at TIME`, or `forced: REASON` when it was
    /// promoted without a passing release report.
    #[serde(default)]
    pub release: String,
    /// Set when the supervisor rolled this model back: when and why. A rolled-back entry is
    /// never rolled back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back: Option<String>,
}

/// A registry slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Slot {
    /// The model the engine trades with.
    Active,
    /// The model scored alongside, without trading.
    Shadow,
}

impl Slot {
    /// The slot's link name in the registry.
    pub const fn name(self) -> &'static str {
        match self {
            Slot::Active => "active",
            Slot::Shadow => "shadow",
        }
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, RegistryError> {
    let text = fs::read_to_string(path).map_err(io_error(path))?;
    serde_json::from_str(&text).map_err(|err| RegistryError::Format {
        path: path.to_path_buf(),
        message: err.to_string(),
    })
}

/// Writes `value` as JSON to `path` through a temporary file renamed into place.
pub fn write_json_atomically(path: &Path, value: &impl Serialize) -> Result<(), RegistryError> {
    let text = serde_json::to_string_pretty(value).map_err(|err| RegistryError::Format {
        path: path.to_path_buf(),
        message: err.to_string(),
    })? + "\n";
    let temporary = path.with_extension("json.tmp");
    fs::write(&temporary, text).map_err(io_error(&temporary))?;
    fs::rename(&temporary, path).map_err(io_error(path))
}

/// The manifest's entries, oldest first (none when there is no manifest yet).
pub fn read_manifest(registry: &Path) -> Result<Vec<ManifestEntry>, RegistryError> {
    let path = registry.join(MANIFEST_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    read_json(&path)
}

/// Appends `entry` to the manifest, atomically (a reader sees the old or the new manifest).
pub fn append_manifest(registry: &Path, entry: ManifestEntry) -> Result<(), RegistryError> {
    let mut entries = read_manifest(registry)?;
    entries.push(entry);
    write_json_atomically(&registry.join(MANIFEST_FILE), &entries)
}

/// Rewrites the manifest entry of `id` with `change` (atomically); false when there is none.
pub fn update_manifest(
    registry: &Path,
    id: &str,
    change: impl FnOnce(&mut ManifestEntry),
) -> Result<bool, RegistryError> {
    let mut entries = read_manifest(registry)?;
    let Some(entry) = entries.iter_mut().rev().find(|entry| entry.id == id) else {
        return Ok(false);
    };
    change(entry);
    write_json_atomically(&registry.join(MANIFEST_FILE), &entries)?;
    Ok(true)
}

/// Points `slot` at the model directory `registry/<id>`, replacing the link atomically.
pub fn set_slot(registry: &Path, slot: Slot, id: &str) -> Result<(), RegistryError> {
    let link = registry.join(slot.name());
    let temporary = registry.join(format!(".{}.tmp", slot.name()));
    match fs::remove_file(&temporary) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(io_error(&temporary)(err)),
        _ => {}
    }
    std::os::unix::fs::symlink(id, &temporary).map_err(io_error(&temporary))?;
    fs::rename(&temporary, &link).map_err(io_error(&link))
}

/// The model id `slot` points at, if set.
pub fn read_slot(registry: &Path, slot: Slot) -> Result<Option<String>, RegistryError> {
    let link = registry.join(slot.name());
    match fs::read_link(&link) {
        Ok(target) => Ok(target
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(io_error(&link)(err)),
    }
}

/// The entry to roll back to from `active`: the latest entry promoted before `active`'s latest
/// one that is another model, was never rolled back, and whose directory holds a `model.json`.
/// With `active` absent from the manifest, the latest such entry of any other model.
pub fn previous_entry<'a>(
    registry: &Path,
    entries: &'a [ManifestEntry],
    active: &str,
) -> Option<&'a ManifestEntry> {
    let end = entries
        .iter()
        .rposition(|entry| entry.id == active)
        .unwrap_or(entries.len());
    entries[..end].iter().rev().find(|entry| {
        entry.id != active
            && entry.rolled_back.is_none()
            && registry.join(&entry.path).join(MODEL_INFO_FILE).is_file()
    })
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackRecord {
    /// Market time of the trigger, ms since the epoch.
    pub ts_ms: u64,
    /// What triggered it: `drift` or `parity`.
    pub trigger: String,
    /// Why, in words.
    pub detail: String,
    /// The model rolled back.
    pub from: String,
    /// The model now active; `None` when there was none to go back to (entries then halt).
    pub to: Option<String>,
}

/// Rolls the active model `record.from` back to the previous manifest entry: marks its manifest
/// entry rolled back, points the active slot at the previous model (each step atomic), and
/// leaves the hold that keeps another rollback and the rollout off until an operator clears it.
/// Returns the record with `to` filled in (`None` when there is no model to go back to; the
/// slot is then left alone).
pub fn roll_back(
    registry: &Path,
    mut record: RollbackRecord,
) -> Result<RollbackRecord, RegistryError> {
    let entries = read_manifest(registry)?;
    record.to = previous_entry(registry, &entries, &record.from).map(|entry| entry.id.clone());
    let note = format!(
        "at {} ms by {}: {}",
        record.ts_ms, record.trigger, record.detail
    );
    update_manifest(registry, &record.from, |entry| {
        entry.rolled_back = Some(note)
    })?;
    if let Some(to) = &record.to {
        set_slot(registry, Slot::Active, to)?;
    }
    write_json_atomically(&registry.join(HOLD_FILE), &record)?;
    Ok(record)
}

/// The rollout hold left by the last rollback, if an operator has not cleared it.
pub fn read_hold(registry: &Path) -> Result<Option<RollbackRecord>, RegistryError> {
    let path = registry.join(HOLD_FILE);
    if !path.exists() {
        return Ok(None);
    }
    read_json(&path).map(Some)
}

/// Clears the rollout hold; the hold there was, if any.
pub fn clear_hold(registry: &Path) -> Result<Option<RollbackRecord>, RegistryError> {
    let hold = read_hold(registry)?;
    if hold.is_some() {
        let path = registry.join(HOLD_FILE);
        fs::remove_file(&path).map_err(io_error(&path))?;
    }
    Ok(hold)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> ManifestEntry {
        ManifestEntry {
            id: id.to_owned(),
            created_at: "2026-01-04T00:00:00Z".to_owned(),
            schema_hash: "abc".to_owned(),
            thresholds: Thresholds {
                tau_entry: 0.6,
                tau_hold: 0.4,
            },
            path: PathBuf::from(id),
            notes: String::new(),
            release: String::new(),
            rolled_back: None,
        }
    }

    /// A registry holding `ids` (each with a `model.json`), promoted in that order.
    fn registry_of(ids: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for id in ids {
            fs::create_dir_all(dir.path().join(id)).unwrap();
            fs::write(dir.path().join(id).join(MODEL_INFO_FILE), "{}").unwrap();
            append_manifest(dir.path(), entry(id)).unwrap();
        }
        dir
    }

    fn record(from: &str) -> RollbackRecord {
        RollbackRecord {
            ts_ms: 1_000,
            trigger: "drift".to_owned(),
            detail: "score psi 0.500 > 0.2".to_owned(),
            from: from.to_owned(),
            to: None,
        }
    }

    #[test]
    fn a_rollback_reverts_to_the_previous_entry_and_holds_until_cleared() {
        let dir = registry_of(&["m1", "m2", "m3"]);
        let registry = dir.path();
        set_slot(registry, Slot::Active, "m3").unwrap();
        let done = roll_back(registry, record("m3")).unwrap();
        assert_eq!(done.to.as_deref(), Some("m2"));
        assert_eq!(
            read_slot(registry, Slot::Active).unwrap().as_deref(),
            Some("m2")
        );
        let manifest = read_manifest(registry).unwrap();
        assert_eq!(
            manifest[2].rolled_back.as_deref(),
            Some("at 1000 ms by drift: score psi 0.500 > 0.2")
        );
        assert_eq!(manifest[1].rolled_back, None);
        assert_eq!(read_hold(registry).unwrap(), Some(done.clone()));
        // Rolled back from m2 as well, it goes to m1, never to m3 again.
        let again = roll_back(registry, record("m2")).unwrap();
        assert_eq!(again.to.as_deref(), Some("m1"));
        assert_eq!(clear_hold(registry).unwrap(), Some(again));
        assert_eq!(read_hold(registry).unwrap(), None);
        assert_eq!(clear_hold(registry).unwrap(), None);
    }

    #[test]
    fn with_nothing_to_go_back_to_the_slot_stays_and_the_hold_says_so() {
        let dir = registry_of(&["m1"]);
        let registry = dir.path();
        set_slot(registry, Slot::Active, "m1").unwrap();
        let done = roll_back(registry, record("m1")).unwrap();
        assert_eq!(done.to, None);
        assert_eq!(
            read_slot(registry, Slot::Active).unwrap().as_deref(),
            Some("m1")
        );
        assert_eq!(read_hold(registry).unwrap(), Some(done));
        // A previous entry whose directory is gone is skipped too.
        let dir = registry_of(&["m1", "m2"]);
        fs::remove_dir_all(dir.path().join("m1")).unwrap();
        let entries = read_manifest(dir.path()).unwrap();
        assert_eq!(previous_entry(dir.path(), &entries, "m2"), None);
        // A model promoted twice goes back to what came before its latest promotion.
        let dir = registry_of(&["m1", "m2", "m1", "m3"]);
        let entries = read_manifest(dir.path()).unwrap();
        assert_eq!(previous_entry(dir.path(), &entries, "m3").unwrap().id, "m1");
        assert_eq!(previous_entry(dir.path(), &entries, "m1").unwrap().id, "m2");
        assert_eq!(
            previous_entry(dir.path(), &entries, "gone").unwrap().id,
            "m3"
        );
    }

    #[test]
    fn the_manifest_grows_and_slots_move() {
        let dir = tempfile::tempdir().unwrap();
        let registry = dir.path();
        assert_eq!(read_manifest(registry).unwrap(), Vec::new());
        assert_eq!(read_slot(registry, Slot::Active).unwrap(), None);
        append_manifest(registry, entry("m1")).unwrap();
        append_manifest(registry, entry("m2")).unwrap();
        assert_eq!(
            read_manifest(registry).unwrap(),
            vec![entry("m1"), entry("m2")]
        );
        set_slot(registry, Slot::Active, "m1").unwrap();
        set_slot(registry, Slot::Active, "m2").unwrap();
        set_slot(registry, Slot::Shadow, "m1").unwrap();
        assert_eq!(
            read_slot(registry, Slot::Active).unwrap().as_deref(),
            Some("m2")
        );
        assert_eq!(
            read_slot(registry, Slot::Shadow).unwrap().as_deref(),
            Some("m1")
        );
    }

    #[test]
    fn a_broken_manifest_is_a_format_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(MANIFEST_FILE), "{").unwrap();
        let err = read_manifest(dir.path()).unwrap_err();
        assert!(matches!(err, RegistryError::Format { .. }), "{err}");
        assert!(err.to_string().contains("manifest.json"), "{err}");
    }
}

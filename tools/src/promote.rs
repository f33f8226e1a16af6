//! `toolkit promote`: copies a trained model into the registry and points a slot at it.
//!
//! Only a released model is promoted: its directory must hold a `release_report.json` from
//! `toolkit release-check` for this very model that says it is releasable. `--force --reason
//! TEXT` promotes without one, and the manifest records the reason.
//!
//! `registry/<id>/` receives `model.onnx`, `model.json` and `performance.json` (what the model
//! earned on its release's canary, which the live performance guard holds it to), and every
//! other file of the trained directory under `artifacts/`; it is assembled under a temporary name and renamed. The
//! manifest gains `{id, created_at, schema_hash, thresholds, path, notes}` (rewritten through a
//! temporary file), and the `active` or `shadow` link is replaced atomically. Promoting an id
//! already in the registry only moves the slot.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use engine::cli::ConfigArgs;
use engine::features::FEATURE_SCHEMA_HASH;
use engine::model::read_onnx;
use engine::model::registry::{
    MODEL_FILE, MODEL_INFO_FILE, ManifestEntry, ModelInfo, PERFORMANCE_FILE, Slot, append_manifest,
    read_manifest, read_slot, set_slot, update_manifest,
};

use crate::release_check::{RELEASE_REPORT, ReleaseReport, Status};

/// Arguments of `promote`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// The slot to point at the model.
    #[arg(long, value_enum)]
    to: Slot,
    /// The model id (as in its model.json).
    #[arg(long)]
    id: String,
    /// The trained model directory to copy from, when the id is not in the registry yet.
    #[arg(long, default_value = "models/latest")]
    model: PathBuf,
    /// Notes for the manifest.
    #[arg(long, default_value = "")]
    notes: String,
    /// Promote without a passing release report (needs --reason, recorded in the manifest).
    #[arg(long, requires = "reason")]
    force: bool,
    /// Why the release report is overridden.
    #[arg(long, requires = "force")]
    reason: Option<String>,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let loaded = args.config.load()?;
    let registry = &loaded.config.paths.registry;
    fs::create_dir_all(registry).with_context(|| format!("creating {}", registry.display()))?;
    let target = registry.join(&args.id);
    // A model already in the registry keeps its release report among its artifacts.
    let release_dir = if target.exists() {
        target.join("artifacts")
    } else {
        args.model.clone()
    };
    let release = match (released(&release_dir, &args.id), &args.reason) {
        (Ok(checked_at), _) => format!("release check passed at {checked_at}"),
        (Err(_), Some(reason)) if args.force => format!("forced: {reason}"),
        (Err(err), _) => bail!("{err:#}; only --force --reason TEXT promotes it anyway"),
    };
    if !target.exists() {
        copy_in(&args.model, &target, &args.id)?;
    }
    let info = ModelInfo::read(&target)?;
    if info.id != args.id {
        bail!(
            "{} holds model {}, not {}",
            target.display(),
            info.id,
            args.id
        );
    }
    if !read_manifest(registry)?
        .iter()
        .any(|entry| entry.id == args.id)
    {
        append_manifest(
            registry,
            ManifestEntry {
                id: info.id.clone(),
                created_at: info.created_at.clone(),
                schema_hash: info.schema_hash.clone(),
                thresholds: info.thresholds,
                path: PathBuf::from(&args.id),
                notes: args.notes.clone(),
                release: release.clone(),
                rolled_back: None,
            },
        )?;
    } else if args.force {
        update_manifest(registry, &args.id, |entry| {
            entry.release.clone_from(&release)
        })?;
    }
    let previous = read_slot(registry, args.to)?;
    set_slot(registry, args.to, &args.id)?;
    if args.force {
        println!(
            "FORCED: {} promoted without a passing release report ({release})",
            args.id
        );
    }
    println!(
        "{} -> {} (was {}); tau_entry {:.4}, tau_hold {:.4}; manifest {}",
        registry.join(args.to.name()).display(),
        args.id,
        previous.as_deref().unwrap_or("unset"),
        info.thresholds.tau_entry,
        info.thresholds.tau_hold,
        registry
            .join(engine::model::registry::MANIFEST_FILE)
            .display()
    );
    Ok(())
}

/// When the release report in `dir` says model `id` is releasable: its time.
fn released(dir: &Path, id: &str) -> Result<String> {
    let report = ReleaseReport::read(dir).map_err(|err| {
        anyhow::anyhow!(
            "{id} has no release report ({err:#}): run toolkit release-check on its directory"
        )
    })?;
    if report.model_id != id {
        bail!(
            "{} is the release report of {}, not {id}",
            dir.join(RELEASE_REPORT).display(),
            report.model_id
        );
    }
    if !report.releasable {
        let failed: Vec<&str> = report
            .checks
            .iter()
            .filter(|check| check.status == Status::Fail)
            .map(|check| check.name.as_str())
            .collect();
        bail!(
            "{id} is not releasable: its release check failed ({}; {})",
            failed.join(", "),
            dir.join(RELEASE_REPORT).display()
        );
    }
    Ok(report.checked_at)
}

/// Checks the trained directory `source` and copies it to `target`.
fn copy_in(source: &Path, target: &Path, id: &str) -> Result<()> {
    let info = ModelInfo::read(source)?;
    if info.id != id {
        bail!("{} holds model {}, not {id}", source.display(), info.id);
    }
    if info.schema_hash != FEATURE_SCHEMA_HASH {
        bail!(
            "model {id} was trained on feature schema {}, the engine's is {FEATURE_SCHEMA_HASH}",
            info.schema_hash
        );
    }
    let onnx = fs::read(source.join(MODEL_FILE))
        .with_context(|| format!("reading {}", source.join(MODEL_FILE).display()))?;
    read_onnx(&onnx).with_context(|| format!("{} is not a usable model", source.display()))?;
    let staging = crate::table::temporary_path(target);
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    let artifacts = staging.join("artifacts");
    fs::create_dir_all(&artifacts).with_context(|| format!("creating {}", artifacts.display()))?;
    for entry in fs::read_dir(source).with_context(|| format!("listing {}", source.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if !entry.file_type()?.is_file() {
            continue;
        }
        let destination =
            if name == MODEL_FILE || name == MODEL_INFO_FILE || name == PERFORMANCE_FILE {
                staging.join(&name)
            } else {
                artifacts.join(&name)
            };
        fs::copy(entry.path(), &destination)
            .with_context(|| format!("copying {}", entry.path().display()))?;
    }
    fs::rename(&staging, target).with_context(|| format!("creating {}", target.display()))?;
    Ok(())
}

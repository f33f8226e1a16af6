//! `toolkit rollout status` and `toolkit rollout clear`: the operator's side of a rollback.
//!
//! When the engine's supervisor rolls the active model back (drift or a parity failure), it
//! points `registry/active` at the previous manifest entry, marks the rolled-back entry in the
//! manifest and leaves `registry/rollout_hold.json`. While that hold stands the rollout stays
//! disabled and no further rollback happens (and, when there was no earlier model, entries stay
//! halted). `status` shows the slots, the hold and the manifest; `clear` removes the hold, which
//! a running engine notices within a second.

use std::path::Path;

use anyhow::Result;
use engine::cli::ConfigArgs;
use engine::model::registry::{
    RollbackRecord, Slot, clear_hold, read_hold, read_manifest, read_slot,
};

/// Arguments of `rollout`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// The active and shadow models, the hold a rollback left (if any) and the manifest.
    Status,
    /// Clear the hold a rollback left: the configured rollout resumes, rollbacks are armed
    /// again, and entries halted for want of a model resume.
    Clear,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let loaded = args.config.load()?;
    let registry = &loaded.config.paths.registry;
    match args.action {
        Action::Status => status(registry),
        Action::Clear => {
            match clear_hold(registry)? {
                Some(hold) => println!("cleared the hold of the {}", describe(&hold)),
                None => println!(
                    "no rollout hold in {}: nothing to clear",
                    registry.display()
                ),
            }
            Ok(())
        }
    }
}

fn status(registry: &Path) -> Result<()> {
    println!("registry {}", registry.display());
    for slot in [Slot::Active, Slot::Shadow] {
        let id = read_slot(registry, slot)?;
        println!("  {:<8}{}", slot.name(), id.as_deref().unwrap_or("(empty)"));
    }
    match read_hold(registry)? {
        Some(hold) => {
            println!("  hold    the {}", describe(&hold));
            println!("          rollout disabled and rollbacks off until `toolkit rollout clear`");
        }
        None => println!("  hold    none"),
    }
    let manifest = read_manifest(registry)?;
    println!("manifest ({} entries, oldest first)", manifest.len());
    for entry in &manifest {
        let release = if entry.release.is_empty() {
            "release not recorded"
        } else {
            entry.release.as_str()
        };
        println!("  {}  {release}", entry.id);
        if let Some(rolled_back) = &entry.rolled_back {
            println!("      rolled back {rolled_back}");
        }
    }
    Ok(())
}

/// `drift rollback of m2 at 2026-01-04T00:12:00Z: DETAIL; active m2 -> m1`.
fn describe(hold: &RollbackRecord) -> String {
    let at = i64::try_from(hold.ts_ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(|| format!("{} ms", hold.ts_ms), |ts| ts.to_string());
    let outcome = match &hold.to {
        Some(to) => format!("active {} -> {to}", hold.from),
        None => format!("no model before {}: entries halted", hold.from),
    };
    format!(
        "{} rollback of {} at {at} (market time): {}; {outcome}",
        hold.trigger, hold.from, hold.detail
    )
}

//! `toolkit rollout status` and `toolkit rollout clear` as an operator runs them after the
//! engine rolled the active model back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

use engine::model::registry::{
    ManifestEntry, ModelInfo, RollbackRecord, Slot, append_manifest, read_hold, roll_back,
};
use engine::model::synthetic::{promote_synthetic, scratch_profile};

/// Runs the toolkit; its exit code and stdout.
fn toolkit(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_toolkit"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.is_empty(), "{stderr}");
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

fn manifest_entry(registry: &Path, id: &str, release: &str) -> ManifestEntry {
    let info = ModelInfo::read(&registry.join(id)).unwrap();
    ManifestEntry {
        id: id.to_owned(),
        created_at: info.created_at,
        schema_hash: info.schema_hash,
        thresholds: info.thresholds,
        path: PathBuf::from(id),
        notes: String::new(),
        release: release.to_owned(),
        rolled_back: None,
    }
}

#[test]
fn status_shows_the_hold_a_rollback_left_and_clear_lifts_it() {
    let dir = tempfile::tempdir().unwrap();
    // The profile's registry holds synthetic-42, active; synthetic-7 was promoted before it.
    let profile = scratch_profile(dir.path()).unwrap();
    let profile = profile.to_str().unwrap();
    let registry = dir.path().join("registry");
    let thresholds = ModelInfo::read(&registry.join("synthetic-42"))
        .unwrap()
        .thresholds;
    promote_synthetic(&registry, "synthetic-7", 7, thresholds, Slot::Shadow).unwrap();
    let passed = "release check passed at 2026-01-03T10:00:00Z";
    append_manifest(&registry, manifest_entry(&registry, "synthetic-7", passed)).unwrap();
    append_manifest(
        &registry,
        manifest_entry(&registry, "synthetic-42", "forced: drill"),
    )
    .unwrap();

    let (code, before) = toolkit(&["rollout", "--profile", profile, "status"]);
    assert_eq!(code, 0);
    let registry_line = format!("registry {}", registry.display());
    assert_eq!(
        before.lines().collect::<Vec<_>>(),
        [
            registry_line.as_str(),
            "  active  synthetic-42",
            "  shadow  synthetic-7",
            "  hold    none",
            "manifest (2 entries, oldest first)",
            "  synthetic-7  release check passed at 2026-01-03T10:00:00Z",
            "  synthetic-42  forced: drill",
        ]
    );

    // What the supervisor does on a drift trigger.
    roll_back(
        &registry,
        RollbackRecord {
            ts_ms: 1_767_485_520_000,
            trigger: "drift".to_owned(),
            detail: "3 drift windows of 500 in a row: score psi 0.412 > 0.2".to_owned(),
            from: "synthetic-42".to_owned(),
            to: None,
        },
    )
    .unwrap();
    let (code, held) = toolkit(&["rollout", "--profile", profile, "status"]);
    assert_eq!(code, 0);
    let hold = "drift rollback of synthetic-42 at 2026-01-04T00:12:00Z (market time): 3 drift \
                windows of 500 in a row: score psi 0.412 > 0.2; active synthetic-42 -> synthetic-7";
    assert_eq!(
        held.lines().collect::<Vec<_>>(),
        [
            registry_line.as_str(),
            "  active  synthetic-7",
            "  shadow  synthetic-7",
            &format!("  hold    the {hold}"),
            "          rollout disabled and rollbacks off until `toolkit rollout clear`",
            "manifest (2 entries, oldest first)",
            "  synthetic-7  release check passed at 2026-01-03T10:00:00Z",
            "  synthetic-42  forced: drill",
            "      rolled back at 1767485520000 ms by drift: 3 drift windows of 500 in a row: \
             score psi 0.412 > 0.2",
        ]
    );

    let (code, cleared) = toolkit(&["rollout", "--profile", profile, "clear"]);
    assert_eq!(
        (code, cleared),
        (0, format!("cleared the hold of the {hold}\n"))
    );
    assert_eq!(read_hold(&registry).unwrap(), None);
    let (code, again) = toolkit(&["rollout", "--profile", profile, "clear"]);
    assert_eq!(
        (code, again),
        (
            0,
            format!(
                "no rollout hold in {}: nothing to clear\n",
                registry.display()
            )
        )
    );
    let (_, after) = toolkit(&["rollout", "--profile", profile, "status"]);
    assert!(after.contains("\n  hold    none\n"), "{after}");
    assert!(after.contains("\n  active  synthetic-7\n"), "{after}");
}

//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};

/// The workspace root (the directory holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shipped configuration file.
pub fn shipped_config() -> PathBuf {
    workspace_root().join("config/app.yml")
}

#!/usr/bin/env bash
# Installs what the project needs on a fresh machine; safe to run again (it only adds what is
# missing). Both README commands call it first. Nothing is fetched from outside the package
# registries (crates.io, PyPI, Debian).
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "setup: $1 not found: $2" >&2; exit 1; }
}

need cargo "install the Rust toolchain (rustup) first"
cargo fmt --version >/dev/null 2>&1 || { echo "setup: rustfmt missing (rustup component add rustfmt)" >&2; exit 1; }
cargo clippy --version >/dev/null 2>&1 || { echo "setup: clippy missing (rustup component add clippy)" >&2; exit 1; }

# Crates come from crates.io through Cargo.lock; fetch them once so the build steps that follow
# do not interleave downloads with compilation.
cargo fetch --locked --quiet
echo "setup: $(cargo --version), $(rustc --version | cut -d' ' -f1-2)"

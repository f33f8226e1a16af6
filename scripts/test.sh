#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test of every crate
# (unit, integration, end-to-end, property tests, and each bench run once in test mode).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --doc --locked
cargo test --workspace --all-targets --locked

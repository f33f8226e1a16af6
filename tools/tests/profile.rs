//! `toolkit profile -- run ...` as a user runs it: the engine under the sampling profiler, its
//! latency table, and a flamegraph on disk.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};

use engine::model::synthetic::scratch_profile;

fn toolkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_toolkit"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env_remove("EXCHANGE_MODE")
        .output()
        .unwrap()
}

#[test]
fn profile_runs_the_engine_prints_its_latency_table_and_writes_a_flamegraph() {
    let dir = tempfile::tempdir().unwrap();
    let profile = scratch_profile(dir.path()).unwrap();
    let flamegraph = dir.path().join("profile/flamegraph.svg");
    let output = toolkit(&[
        "profile",
        "--flamegraph",
        flamegraph.to_str().unwrap(),
        "--",
        "run",
        "--profile",
        profile.to_str().unwrap(),
        "--feed",
        "sim",
        "--regime",
        "high-vol",
        "--pace",
        "fast",
        "--duration",
        "300",
    ]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stdout}\n{stderr}");

    assert!(stdout.contains("== summary (duration reached"), "{stdout}");
    let header = stdout
        .lines()
        .find(|line| line.starts_with("stage "))
        .unwrap_or_else(|| panic!("no latency table in {stdout}"));
    for column in ["count", "p50 ns", "p99 ns", "p99.9 ns", "max ns", "budget"] {
        assert!(header.contains(column), "{header}");
    }
    for stage in ["decode", "book", "features", "score"] {
        assert!(
            stdout
                .lines()
                .any(|line| line.starts_with(&format!("{stage} "))),
            "no {stage} row in {stdout}"
        );
    }

    let line = stdout
        .lines()
        .find(|line| line.starts_with("flamegraph: "))
        .unwrap_or_else(|| panic!("no flamegraph line in {stdout}"));
    let samples: u64 = line
        .split_once(" (")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(samples > 0, "{line}");
    let svg = std::fs::read_to_string(&flamegraph).unwrap();
    assert!(
        svg.contains("<svg"),
        "not an SVG: {}",
        &svg[..svg.len().min(200)]
    );
    // The hot loop is in the profile.
    assert!(
        svg.contains("HotLoop"),
        "the hot loop is missing from the flamegraph"
    );
}

#[test]
fn profile_refuses_an_unknown_entrypoint_with_its_name() {
    let output = toolkit(&["profile", "--", "bogus"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("bogus"), "{stderr}");
}

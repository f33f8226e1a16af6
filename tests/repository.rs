//! Promises the repository makes about itself: CI runs exactly the README's test command, the
//! README gives exactly two commands, and the Grafana dashboard overlays the canary on the baseline.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::fs;

use tests::workspace_root;

/// The commands of the README's "Quick start" block: lines starting with `./`.
fn readme_commands() -> Vec<String> {
    let readme = fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let start = readme.find("```sh").expect("README has a ```sh block");
    let block = &readme[start + 5..];
    let end = block.find("```").expect("the block is closed");
    block[..end]
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("./"))
        .map(|line| {
            line.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[test]
fn the_readme_gives_exactly_two_commands() {
    assert_eq!(
        readme_commands(),
        ["./scripts/main.sh", "./scripts/test.sh"]
    );
}

#[test]
fn ci_runs_the_readme_test_command() {
    let ci = fs::read_to_string(workspace_root().join(".ci/run")).unwrap();
    let test_command = &readme_commands()[1];
    let ci_commands: Vec<&str> = ci
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter(|line| !line.starts_with("set ") && !line.starts_with("cd "))
        .collect();
    assert_eq!(ci_commands, [format!("exec {test_command}")]);
}

#[test]
fn the_scripts_are_executable() {
    use std::os::unix::fs::PermissionsExt;
    for script in [
        ".ci/run",
        "scripts/main.sh",
        "scripts/test.sh",
        "scripts/setup.sh",
    ] {
        let mode = fs::metadata(workspace_root().join(script))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "{script} is not executable");
    }
}

#[test]
fn the_grafana_dashboard_overlays_the_canary_winrate_on_the_baseline() {
    let path = tests::workspace_root().join("config/grafana-dashboard.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{err}"));
    let dashboard: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{err}"));
    let panels = dashboard["panels"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let overlay = panels.iter().find(|panel| {
        let exprs: Vec<&str> = panel["targets"]
            .as_array()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|target| target["expr"].as_str())
            .collect();
        exprs.contains(&"winrate_canary") && exprs.contains(&"winrate_baseline_active")
    });
    assert!(overlay.is_some(), "no panel overlays the two winrates");
}

#[test]
fn the_btcusdt_fixture_is_the_shipped_instrument() {
    assert_eq!(
        feed::fixtures::btcusdt(),
        tests::shipped_instrument("BTCUSDT")
    );
}

#[test]
fn the_main_job_knows_the_simulators_version() {
    // scripts/main.sh simulates its days again when they came from another simulator version.
    let script = fs::read_to_string(workspace_root().join("scripts/main.sh")).unwrap();
    let line = format!("SIMULATOR_VERSION={}", feed::sim::SIMULATOR_VERSION);
    assert!(
        script.lines().any(|text| text == line),
        "scripts/main.sh should set {line}"
    );
}

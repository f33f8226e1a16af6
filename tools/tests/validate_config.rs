//! `toolkit validate-config` as a user runs it, from the workspace root.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};

fn toolkit(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_toolkit"));
    command
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    command
        .env_remove("EXCHANGE_MODE")
        .env_remove("BYBIT_TESTNET");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn the_shipped_config_and_every_profile_are_valid() {
    for profile in [None, Some("paper"), Some("real"), Some("bare-metal")] {
        let mut args = vec!["validate-config"];
        if let Some(name) = profile {
            args.extend(["--profile", name]);
        }
        let output = toolkit(&args, &[]);
        assert!(output.status.success(), "{profile:?}: {}", stderr(&output));
        let text = stdout(&output);
        assert!(
            text.starts_with("# effective configuration: config/app.yml"),
            "{text}"
        );
        let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        let expected_mode = if profile == Some("real") {
            "real"
        } else {
            "paper"
        };
        assert_eq!(parsed["exchange"]["mode"].as_str(), Some(expected_mode));
    }
}

#[test]
fn exchange_mode_from_the_environment_shows_real() {
    let output = toolkit(&["validate-config"], &[("EXCHANGE_MODE", "real")]);
    assert!(output.status.success());
    let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&stdout(&output)).unwrap();
    assert_eq!(parsed["exchange"]["mode"].as_str(), Some("real"));
    assert_eq!(
        parsed["executor"]["sizing"]["leverage"].as_f64(),
        Some(10.0)
    );
}

#[test]
fn an_invalid_file_exits_1_with_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::copy(
        root.join("config/symbols.yml"),
        dir.path().join("symbols.yml"),
    )
    .unwrap();
    let config = dir.path().join("app.yml");
    std::fs::write(
        &config,
        "exchange:\n  mode: ${NOT_SET_ANYWHERE}\nexecutor:\n  sizing:\n    leverage: -1\n    lots: 3\n",
    )
    .unwrap();
    let output = toolkit(
        &["validate-config", "--config", config.to_str().unwrap()],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    let errors = stderr(&output);
    assert!(errors.contains(": 3 problems"), "{errors}");
    assert!(
        errors.contains("  - exchange.mode: ${NOT_SET_ANYWHERE} is not set"),
        "{errors}"
    );
    assert!(
        errors.contains("  - executor.sizing.leverage: -1 is less than the minimum of 1.0"),
        "{errors}"
    );
    assert!(
        errors.contains("  - executor.sizing.lots: unknown key"),
        "{errors}"
    );
}

#[test]
fn a_missing_profile_exits_1_and_lists_the_others() {
    let output = toolkit(&["validate-config", "--profile", "nope"], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("(available: bare-metal, paper, real)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_schema_is_json_with_every_section() {
    let output = toolkit(&["validate-config", "--schema"], &[]);
    assert!(output.status.success());
    let schema: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["properties"].as_object().unwrap().len(), 15);
    let sizing = &schema["$defs"]["Sizing"]["properties"];
    assert_eq!(sizing["leverage"]["minimum"], 1.0);
    assert_eq!(sizing["leverage"]["default"], 10.0);
}

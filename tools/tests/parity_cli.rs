//! `toolkit parity` on the generated model, a model of the wrong width, and a corrupt file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};

use engine::features::FEATURE_COUNT;
use engine::model::synthetic::generate;
use engine::model::write_onnx;

fn parity(model: &Path, rows: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_toolkit"))
        .args(["parity", "--rows", rows, "--model"])
        .arg(model)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .unwrap()
}

#[test]
fn the_generated_model_has_no_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.onnx");
    std::fs::write(
        &model,
        write_onnx(&generate(200, 31, FEATURE_COUNT, 42), &[]),
    )
    .unwrap();
    let output = parity(&model, "20000");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("rows compared:      20000\n"), "{stdout}");
    assert!(stdout.contains("mismatches (>1e-6): 0\n"), "{stdout}");
}

#[test]
fn models_that_do_not_fit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let narrow = dir.path().join("narrow.onnx");
    std::fs::write(&narrow, write_onnx(&generate(3, 4, 5, 1), &[])).unwrap();
    let output = parity(&narrow, "10");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("takes 5 features; the engine's feature set has 28")
    );

    let corrupt = dir.path().join("corrupt.onnx");
    std::fs::write(&corrupt, b"\x0a\xff\xff\xff").unwrap();
    let output = parity(&corrupt, "10");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not an ONNX model"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

//! `toolkit parity` on the generated model, a model of the wrong width, and a corrupt file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};

use engine::features::FEATURE_COUNT;
use engine::model::synthetic::generate;
use engine::model::write_onnx;

fn parity(model: &Path, rows: &str) -> Output {
    parity_with(model, rows, &[])
}

fn parity_with(model: &Path, rows: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_toolkit"))
        .args(["parity", "--rows", rows])
        .args(extra)
        .arg("--model")
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
    assert!(stdout.contains("not bit-identical:   0\n"), "{stdout}");
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

/// A parquet file with one FLOAT column per feature (and an extra column), from `rows`.
fn write_parquet(path: &Path, rows: &[Vec<f32>]) {
    use parquet::data_type::FloatType;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use std::sync::Arc;

    let mut message = String::from("message rows {\n  REQUIRED FLOAT mid;\n");
    for name in engine::features::FEATURE_NAMES {
        message.push_str(&format!("  OPTIONAL FLOAT {name};\n"));
    }
    message.push('}');
    let schema = Arc::new(parse_message_type(&message).unwrap());
    let file = std::fs::File::create(path).unwrap();
    let mut writer = SerializedFileWriter::new(file, schema, Default::default()).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let mut column = 0;
    while let Some(mut writer) = group.next_column().unwrap() {
        if column == 0 {
            let mids = vec![60_000.0_f32; rows.len()];
            writer
                .typed::<FloatType>()
                .write_batch(&mids, None, None)
                .unwrap();
        } else {
            // NaN is stored as a null; everything else as the value.
            let levels: Vec<i16> = rows
                .iter()
                .map(|row| i16::from(!row[column - 1].is_nan()))
                .collect();
            let values: Vec<f32> = rows
                .iter()
                .map(|row| row[column - 1])
                .filter(|value| !value.is_nan())
                .collect();
            writer
                .typed::<FloatType>()
                .write_batch(&values, Some(&levels), None)
                .unwrap();
        }
        writer.close().unwrap();
        column += 1;
    }
    group.close().unwrap();
    writer.close().unwrap();
}

#[test]
fn rows_can_come_from_a_parquet_file() {
    let dir = tempfile::tempdir().unwrap();
    let ensemble = generate(200, 31, FEATURE_COUNT, 42);
    let model = dir.path().join("model.onnx");
    std::fs::write(&model, write_onnx(&ensemble, &[])).unwrap();
    let data = dir.path().join("rows.parquet");
    write_parquet(
        &data,
        &engine::model::synthetic::boundary_rows(&ensemble, 3_000, 5),
    );
    let output = parity_with(&model, "2500", &["--data", data.to_str().unwrap()]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("rows compared:      2500\n"), "{stdout}");
    assert!(stdout.contains("not bit-identical:   0\n"), "{stdout}");

    // A file without the feature columns is refused with their names.
    let narrow = dir.path().join("narrow.parquet");
    {
        use parquet::file::writer::SerializedFileWriter;
        use parquet::schema::parser::parse_message_type;
        let schema = std::sync::Arc::new(
            parse_message_type("message rows { REQUIRED FLOAT spread_bps; }").unwrap(),
        );
        let writer = SerializedFileWriter::new(
            std::fs::File::create(&narrow).unwrap(),
            schema,
            Default::default(),
        )
        .unwrap();
        writer.close().unwrap();
    }
    let output = parity_with(&model, "10", &["--data", narrow.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("feature columns missing: microprice_offset_bps, imbalance_l1"),
        "{stderr}"
    );
}

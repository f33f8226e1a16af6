//! A model exported from LightGBM by onnxmltools (`convert_lightgbm(..., zipmap=False)`: a
//! TreeEnsembleClassifier followed by Identity, Cast and Mul nodes) loads in both backends, and
//! both give LightGBM's own probabilities. The fixture and its rows come from
//! `tests/fixtures/interop/export_lightgbm.py` (LightGBM 4.7.0, onnxmltools 1.16.0).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;

use engine::model::ort_backend::{OrtScorer, load_runtime};
use engine::model::{NativeModel, read_onnx};

#[test]
fn an_onnxmltools_export_scores_like_lightgbm_in_both_backends() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/interop");
    let bytes = std::fs::read(dir.join("lightgbm_binary.onnx")).unwrap();
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("lightgbm_binary_rows.json")).unwrap(),
    )
    .unwrap();
    let ensemble = read_onnx(&bytes).unwrap();
    assert_eq!((ensemble.n_features, ensemble.trees.len()), (28, 20));
    let native = NativeModel::compile(&ensemble);

    let library = std::env::var_os("ORT_DYLIB_PATH").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../.runtime/onnxruntime-1.31.1/libonnxruntime.so.1.31.1")
        },
        std::path::PathBuf::from,
    );
    let environment = load_runtime(&library).expect("ONNX Runtime (run scripts/setup.sh)");
    let mut ort = OrtScorer::new(&environment, &bytes, 28).unwrap();

    let rows = expected["rows"].as_array().unwrap();
    let lightgbm = expected["lightgbm"].as_array().unwrap();
    assert_eq!(rows.len(), 100);
    let mut worst = 0.0_f64;
    for (row, probability) in rows.iter().zip(lightgbm) {
        let row: Vec<f32> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let probability = probability.as_f64().unwrap();
        let (native, ort) = (native.predict(&row), ort.predict(&row).unwrap());
        assert_eq!(native.to_bits(), ort.to_bits(), "{row:?}");
        worst = worst.max((f64::from(native) - probability).abs());
    }
    assert!(worst < 1e-6, "largest difference from LightGBM {worst}");
}

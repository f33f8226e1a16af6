//! The ONNX writer and the native evaluator decide every comparison exactly as LightGBM's f64
//! thresholds do, on rows rich in values at and next to the thresholds.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use engine::features::FEATURE_COUNT;
use engine::model::ensemble::logistic;
use engine::model::synthetic::{boundary_rows, generate};
use engine::model::{ModelError, NativeModel, TreeEnsemble, TreeNode, read_onnx, write_onnx};

/// What the model gives with LightGBM's decisions (f64 thresholds), summed like ORT (f32, in
/// tree order): equal to the native score only if every comparison went the same way.
fn reference_score(model: &TreeEnsemble, row: &[f32]) -> f32 {
    model
        .leaf_values(row)
        .fold(0.0_f32, |sum, value| sum + value as f32)
}

#[test]
fn native_scores_match_lightgbm_decisions_on_100k_rows() {
    let model = generate(200, 31, FEATURE_COUNT, 42);
    assert_eq!(model.trees.len(), 200);
    assert!(
        model.trees.iter().all(|tree| tree.nodes.len() == 61),
        "31 leaves each"
    );
    let native = NativeModel::compile(&model);
    // What rounding thresholds to the nearest f32 (the naive writer) would decide.
    let mut nearest = model.clone();
    for tree in &mut nearest.trees {
        for node in &mut tree.nodes {
            if let TreeNode::Branch { threshold, .. } = node {
                *threshold = f64::from(*threshold as f32);
            }
        }
    }
    let mut naive_mismatches = 0;
    for row in boundary_rows(&model, 100_000, 7) {
        let exact = reference_score(&model, &row);
        assert_eq!(native.score(&row).to_bits(), exact.to_bits(), "{row:?}");
        assert!((f64::from(native.predict(&row)) - model.predict_reference(&row)).abs() < 1e-5);
        if reference_score(&nearest, &row) != exact {
            naive_mismatches += 1;
        }
    }
    // About half the thresholds round up to the nearest f32; with this seed the naive writer
    // scores 7251 of the 100k rows differently.
    assert_eq!(naive_mismatches, 7251);
}

#[test]
fn the_onnx_file_round_trips_to_the_same_scores() {
    let model = generate(50, 31, FEATURE_COUNT, 9);
    let bytes = write_onnx(
        &model,
        &[("feature_schema_hash", engine::features::FEATURE_SCHEMA_HASH)],
    );
    let read = read_onnx(&bytes).unwrap();
    assert_eq!(read.n_features, FEATURE_COUNT);
    assert_eq!(read.trees.len(), 50);
    let (written, reread) = (NativeModel::compile(&model), NativeModel::compile(&read));
    for row in boundary_rows(&model, 5_000, 3) {
        assert_eq!(written.score(&row).to_bits(), reread.score(&row).to_bits());
        assert_eq!(reread.predict(&row), logistic(reread.score(&row)));
    }
}

#[test]
fn a_corrupt_model_is_refused() {
    assert!(matches!(
        read_onnx(b"\x08\x96\x01garbage\xff\xff"),
        Err(ModelError::Decode(_))
    ));
    let empty = write_onnx(
        &TreeEnsemble {
            n_features: 3,
            trees: vec![],
        },
        &[],
    );
    assert!(read_onnx(&empty).is_ok());
    let mut model = engine::model::onnx::ModelProto::default();
    model.graph = Some(engine::model::onnx::GraphProto::default());
    use prost::Message;
    assert_eq!(
        read_onnx(&model.encode_to_vec()),
        Err(ModelError::NoTreeEnsemble)
    );
}

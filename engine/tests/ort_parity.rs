//! ONNX Runtime and the native evaluator give the same probabilities for the model the writer
//! produces. Needs the library `scripts/setup.sh` installs (or ORT_DYLIB_PATH).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use engine::features::FEATURE_COUNT;
use engine::model::ort_backend::{OrtError, OrtScorer, load_runtime};
use engine::model::synthetic::{boundary_rows, generate};
use engine::model::{NativeModel, write_onnx};
use ort::environment::Environment;

fn library() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../.runtime/onnxruntime-1.31.1/libonnxruntime.so.1.31.1")
        })
}

fn environment() -> &'static Environment {
    static ENVIRONMENT: OnceLock<std::sync::Arc<Environment>> = OnceLock::new();
    ENVIRONMENT
        .get_or_init(|| load_runtime(&library()).expect("ONNX Runtime (run scripts/setup.sh)"))
}

#[test]
fn ort_and_native_agree_to_the_bit_on_100k_rows() {
    let model = generate(200, 31, FEATURE_COUNT, 42);
    let bytes = write_onnx(&model, &[]);
    let mut ort = OrtScorer::new(environment(), &bytes, FEATURE_COUNT).unwrap();
    let native = NativeModel::compile(&model);
    let (mut compared, mut mismatches, mut max_difference) = (0, 0, 0.0_f32);
    for row in boundary_rows(&model, 100_000, 11) {
        let (a, b) = (ort.predict(&row).unwrap(), native.predict(&row));
        max_difference = max_difference.max((a - b).abs());
        if a.to_bits() != b.to_bits() {
            mismatches += 1;
        }
        compared += 1;
    }
    eprintln!("compared {compared} rows, max |ort - native| = {max_difference:e}");
    assert_eq!(
        (compared, mismatches),
        (100_000, 0),
        "max difference {max_difference}"
    );
}

/// The live checker behind `onnx_parity_fail_total` counts every row whose two probabilities
/// are not bit-identical: against a native model whose first tree's leaves are 1e-6 off, it
/// counts exactly the rows whose probability moved (most; near 0 or 1 an f32 absorbs the
/// shift), each by less than the 1e-6 a tolerance would have let through; the same model on
/// both sides agrees on every row.
#[test]
fn the_parity_checker_counts_every_row_that_is_not_bit_identical() {
    use engine::model::TreeNode;
    use engine::model::parity::ParityChecker;

    let model = generate(200, 31, FEATURE_COUNT, 42);
    let mut shifted = model.clone();
    for node in &mut shifted.trees[0].nodes {
        if let TreeNode::Leaf { value } = node {
            *value += 1e-6;
        }
    }
    let rows = boundary_rows(&model, 2_000, 5);
    let ort = || OrtScorer::new(environment(), &write_onnx(&model, &[]), FEATURE_COUNT).unwrap();

    let mut same = ParityChecker::new(NativeModel::compile(&model), ort());
    let mut off = ParityChecker::new(NativeModel::compile(&shifted), ort());
    let (native, native_shifted) = (NativeModel::compile(&model), NativeModel::compile(&shifted));
    let mut moved = 0;
    for row in &rows {
        let differs = native.predict(row).to_bits() != native_shifted.predict(row).to_bits();
        moved += u64::from(differs);
        assert!(same.check(row).unwrap());
        assert_eq!(off.check(row).unwrap(), !differs, "{row:?}");
    }
    assert_eq!((same.compared(), same.mismatches()), (2_000, 0));
    assert_eq!(same.max_difference(), 0.0);
    assert!(moved > 1_500, "{moved} rows moved");
    assert_eq!((off.compared(), off.mismatches()), (2_000, moved));
    assert!(
        off.max_difference() > 0.0 && off.max_difference() < 1e-6,
        "{}",
        off.max_difference()
    );
}

#[test]
fn a_model_of_another_width_is_refused() {
    let model = generate(5, 4, 7, 1);
    match OrtScorer::new(environment(), &write_onnx(&model, &[]), FEATURE_COUNT) {
        Err(OrtError::InputShape { expected, found }) => {
            assert_eq!((expected, found), (FEATURE_COUNT, vec![-1, 7]))
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("accepted a 7-feature model"),
    }
    assert!(matches!(
        OrtScorer::new(environment(), b"not a model", FEATURE_COUNT),
        Err(OrtError::Runtime(_))
    ));
}

#[test]
fn a_missing_library_is_an_error_not_a_panic() {
    let err = load_runtime(Path::new("/nonexistent/libonnxruntime.so")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot load ONNX Runtime from /nonexistent/libonnxruntime.so: no such file (scripts/setup.sh installs it)"
    );
}

#[test]
fn the_opset_5_tree_ensemble_scores_the_same() {
    use engine::model::read_onnx;
    use prost::Message;
    let model = generate(200, 31, FEATURE_COUNT, 42);
    let bytes = model.to_onnx_tree_ensemble_v5(&[]).encode_to_vec();
    // The native evaluator reads it back to the same trees...
    let read = read_onnx(&bytes).unwrap();
    assert_eq!((read.n_features, read.trees.len()), (FEATURE_COUNT, 200));
    let (native_v5, native) = (NativeModel::compile(&read), NativeModel::compile(&model));
    // ...and ONNX Runtime runs it.
    let mut ort = OrtScorer::new(environment(), &bytes, FEATURE_COUNT).unwrap();
    for row in boundary_rows(&model, 20_000, 13) {
        let expected = native.predict(&row);
        assert_eq!(
            native_v5.predict(&row).to_bits(),
            expected.to_bits(),
            "{row:?}"
        );
        // ONNX Runtime's opset-5 TreeEnsemble kernel does not sum as its
        // TreeEnsembleClassifier does (the form the registry ships, equal to the bit above):
        // on some rows it is one ulp off. Hence a tolerance here, and only here.
        let got = ort.predict(&row).unwrap();
        assert!(
            (got - expected).abs() <= 1e-6,
            "ort {got} native {expected} {row:?}"
        );
    }
}

/// Every drill model is refused at load, each with its reason, and the good model it was made
/// from loads.
#[test]
fn every_drill_model_is_refused_at_load_with_its_reason() {
    use engine::model::drills::{ModelFault, write_faulty};
    use engine::model::registry::{Slot, Thresholds};
    use engine::model::synthetic::promote_synthetic;
    use engine::runtime::models::{ModelLoadError, load_model};

    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("registry");
    let thresholds = Thresholds {
        tau_entry: 0.5,
        tau_hold: 0.4,
    };
    promote_synthetic(&registry, "good", 42, thresholds, Slot::Active).unwrap();
    let good = registry.join("good");
    assert!(load_model(&good, Some(environment())).is_ok());

    let refusal = |fault: ModelFault| {
        let out = dir.path().join(format!("{fault:?}"));
        write_faulty(&good, fault, &out, &format!("drill-{fault:?}")).unwrap();
        match load_model(&out, Some(environment())) {
            Ok(_) => panic!("{fault:?} was loaded"),
            Err(err) => err,
        }
    };
    match refusal(ModelFault::Disagree) {
        ModelLoadError::Parity {
            id,
            mismatches,
            rows,
            ..
        } => {
            assert_eq!(id, "drill-Disagree");
            assert_eq!(mismatches, rows, "every row disagrees");
        }
        other => panic!("{other}"),
    }
    let width = refusal(ModelFault::Width);
    assert_eq!(
        width.to_string(),
        format!("model drill-Width takes 29 features; the engine has {FEATURE_COUNT}")
    );
    let nan = refusal(ModelFault::NanSplit);
    assert_eq!(
        nan.to_string(),
        "model drill-NanSplit: tree 0 has a split on a non-finite threshold"
    );
    let range = refusal(ModelFault::ThresholdRange);
    assert_eq!(
        range.to_string(),
        "model drill-ThresholdRange: thresholds tau_entry 1.5 and tau_hold 0.4 must lie in \
         [0, 1] with tau_hold <= tau_entry"
    );
    let truncated = refusal(ModelFault::Truncated);
    assert!(
        matches!(truncated, ModelLoadError::Model { .. }),
        "{truncated}"
    );
    assert!(
        truncated.to_string().contains("model.onnx: "),
        "{truncated}"
    );
}

/// The parity thread counts live mismatches into the board behind `onnx_parity_fail_total`:
/// fed the active route's samples with a checker whose native side is 1e-6 off, it reports
/// exactly the samples whose probability moved, and skips the canary's.
#[test]
fn live_mismatches_reach_onnx_parity_fail_total() {
    use engine::config::RolloutMode;
    use engine::model::TreeNode;
    use engine::model::parity::ParityChecker;
    use engine::runtime::board::{Board, SharedBoard};
    use engine::runtime::models::{ParityInputs, run_parity};
    use engine::runtime::rings::{Route, Sample};
    use engine::signals::SignalId;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    let model = generate(200, 31, FEATURE_COUNT, 42);
    let mut shifted = model.clone();
    for node in &mut shifted.trees[0].nodes {
        if let TreeNode::Leaf { value } = node {
            *value += 1e-6;
        }
    }
    let ort = OrtScorer::new(environment(), &write_onnx(&model, &[]), FEATURE_COUNT).unwrap();
    let checker = ParityChecker::new(NativeModel::compile(&shifted), ort);
    let (native, native_shifted) = (NativeModel::compile(&model), NativeModel::compile(&shifted));

    let (mut producer, samples) = rtrb::RingBuffer::<Sample>::new(1024);
    let mut expected = 0;
    for (index, row) in boundary_rows(&model, 500, 9).into_iter().enumerate() {
        let route = if index % 5 == 4 {
            Route::Canary
        } else {
            Route::Active
        };
        let mut features = [0.0_f32; FEATURE_COUNT];
        features.copy_from_slice(&row);
        let moved = native.predict(&row).to_bits() != native_shifted.predict(&row).to_bits();
        expected += u64::from(moved && route == Route::Active);
        producer
            .push(Sample {
                ts_ns: index as u64,
                signal: SignalId(index as u64),
                features,
                score: 0.0,
                route,
            })
            .unwrap();
    }
    let board = SharedBoard::new(Board::new("m".to_owned(), "onnx", RolloutMode::Disabled));
    let (_checkers_in, checkers) = crossbeam_channel::bounded(1);
    run_parity(ParityInputs {
        checker: Some(checker),
        checkers,
        samples,
        board: board.clone(),
        done: Arc::new(AtomicBool::new(true)),
    });
    let board = board.lock();
    assert_eq!(board.parity_compared, 400);
    assert!(expected > 300, "{expected}");
    assert_eq!(board.onnx_parity_fail_total, expected);
}

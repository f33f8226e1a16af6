//! Scoring one row: the native evaluator and ONNX Runtime on the 200-tree, 31-leaf model.
//! The ONNX Runtime bench is skipped, with a message, when the library is not installed.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use engine::features::FEATURE_COUNT;
use engine::model::ort_backend::{OrtScorer, load_runtime};
use engine::model::synthetic::{boundary_rows, generate};
use engine::model::{NativeModel, write_onnx};

fn scoring(c: &mut Criterion) {
    let model = generate(200, 31, FEATURE_COUNT, 42);
    let rows = boundary_rows(&model, 1024, 5);
    let native = NativeModel::compile(&model);
    let mut index = 0;
    c.bench_function("native_200x31_one_row", |b| {
        b.iter(|| {
            index = (index + 1) % rows.len();
            native.predict(black_box(&rows[index]))
        })
    });
    let library = std::env::var_os("ORT_DYLIB_PATH")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| ".runtime/onnxruntime-1.31.1/libonnxruntime.so.1.31.1".into());
    let library = if library.is_relative() {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(library)
    } else {
        library
    };
    match load_runtime(&library).and_then(|env| {
        let scorer = OrtScorer::new(&env, &write_onnx(&model, &[]), FEATURE_COUNT)?;
        Ok((env, scorer))
    }) {
        Ok((_env, mut ort)) => {
            c.bench_function("ort_200x31_one_row", |b| {
                b.iter(|| {
                    index = (index + 1) % rows.len();
                    ort.predict(black_box(&rows[index])).unwrap_or(f32::NAN)
                })
            });
        }
        Err(err) => eprintln!("skipping the ONNX Runtime bench: {err}"),
    }
}

criterion_group!(benches, scoring);
criterion_main!(benches);

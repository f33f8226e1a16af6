//! The ONNX Runtime backend, through `ort` with the library loaded at run time.
//!
//! The library is ONNX Runtime 1.31.1's `libonnxruntime.so`, which `scripts/setup.sh` takes out
//! of the PyPI wheel; [`load_runtime`] loads it with `ort::init_from`, which returns an error
//! (instead of panicking) when it is missing or too old. A session runs on the calling thread:
//! one intra-op and one inter-op thread, sequential execution, no spinning, no memory-pattern
//! planner. Scoring reuses one input tensor and pre-allocated outputs, so a run makes no
//! Rust-side allocation; ONNX Runtime itself still makes about 15 C++ allocations a run.

use std::path::Path;
use std::sync::Arc;

use ort::environment::Environment;
use ort::memory::Allocator;
use ort::session::{HasSelectedOutputs, OutputSelector, RunOptions, Session};
use ort::value::Tensor;

/// Why the ONNX Runtime backend is not available or failed.
#[derive(Debug, thiserror::Error)]
pub enum OrtError {
    /// The shared library could not be loaded.
    #[error("cannot load ONNX Runtime from {path}: {message} (scripts/setup.sh installs it)")]
    Library {
        /// Where it was looked for.
        path: String,
        /// The loader's message.
        message: String,
    },
    /// The model does not fit the expected input.
    #[error("the model takes input {found:?}, [N, {expected}] expected")]
    InputShape {
        /// Features expected.
        expected: usize,
        /// The model's input shape.
        found: Vec<i64>,
    },
    /// ONNX Runtime reported an error.
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
}

impl<R> From<ort::Error<R>> for OrtError
where
    ort::Error<R>: std::fmt::Display,
{
    fn from(err: ort::Error<R>) -> Self {
        OrtError::Runtime(err.to_string())
    }
}

/// The process's ONNX Runtime environment and the library it was loaded from.
static ENVIRONMENT: std::sync::Mutex<Option<(std::path::PathBuf, Arc<Environment>)>> =
    std::sync::Mutex::new(None);

/// Loads the ONNX Runtime library at `path` and builds its environment. ONNX Runtime allows
/// one environment per process: later calls with the same path share it, and a call with
/// another path is an error.
pub fn load_runtime(path: &Path) -> Result<Arc<Environment>, OrtError> {
    if !path.is_file() {
        return Err(OrtError::Library {
            path: path.display().to_string(),
            message: "no such file".to_owned(),
        });
    }
    let mut loaded = ENVIRONMENT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((loaded_path, environment)) = loaded.as_ref() {
        return if loaded_path == path {
            Ok(Arc::clone(environment))
        } else {
            Err(OrtError::Library {
                path: path.display().to_string(),
                message: format!(
                    "this process already loaded ONNX Runtime from {}",
                    loaded_path.display()
                ),
            })
        };
    }
    let builder = ort::init_from(path).map_err(|err| OrtError::Library {
        path: path.display().to_string(),
        message: err.to_string(),
    })?;
    let environment = Arc::new(builder.with_name("engine").build()?);
    *loaded = Some((path.to_path_buf(), Arc::clone(&environment)));
    Ok(environment)
}

/// A session scoring one row at a time.
pub struct OrtScorer {
    session: Session,
    input: Tensor<f32>,
    options: RunOptions<HasSelectedOutputs>,
    n_features: usize,
    /// The output read and the column of class 1 in it.
    output: String,
    column: usize,
}

impl OrtScorer {
    /// A session for the ONNX model `bytes`, whose input must be `[N, n_features]` float.
    pub fn new(
        environment: &Environment,
        bytes: &[u8],
        n_features: usize,
    ) -> Result<OrtScorer, OrtError> {
        let session = Session::builder(environment)?
            .with_intra_threads(1)?
            .with_inter_threads(1)?
            .with_parallel_execution(false)?
            .with_intra_op_spinning(false)?
            .with_inter_op_spinning(false)?
            // Measured with an LD_PRELOAD malloc counter: 18 C++ allocations per run by default,
            // 17 without the memory-pattern planner, 15 with both outputs pre-allocated too.
            .with_memory_pattern(false)?
            .commit_from_memory(bytes)?;
        let shape: Vec<i64> = session
            .inputs()
            .first()
            .and_then(|input| input.dtype().tensor_shape().map(|shape| shape.to_vec()))
            .unwrap_or_default();
        if shape.len() != 2 || shape[1] != n_features as i64 {
            return Err(OrtError::InputShape {
                expected: n_features,
                found: shape,
            });
        }
        let input = Tensor::<f32>::new(&Allocator::default(), [1_usize, n_features])?;
        let names: Vec<String> = session
            .outputs()
            .iter()
            .map(|output| output.name().to_owned())
            .collect();
        let (output, column, selector) = if names.iter().any(|name| name == "probabilities") {
            // TreeEnsembleClassifier: probabilities [N, 2] (class 1 in column 1) and label [N].
            let mut selector = OutputSelector::no_default()
                .with("probabilities")
                .preallocate(
                    "probabilities",
                    Tensor::<f32>::new(&Allocator::default(), [1_usize, 2])?,
                );
            if names.iter().any(|name| name == "label") {
                selector = selector.with("label").preallocate(
                    "label",
                    Tensor::<i64>::new(&Allocator::default(), [1_usize])?,
                );
            }
            ("probabilities".to_owned(), 1, selector)
        } else {
            // Opset-5 TreeEnsemble: one output [N, 1], the probability of class 1.
            let name = names
                .first()
                .cloned()
                .ok_or_else(|| OrtError::Runtime("the model has no output".to_owned()))?;
            let selector = OutputSelector::no_default().with(name.clone()).preallocate(
                name.clone(),
                Tensor::<f32>::new(&Allocator::default(), [1_usize, 1])?,
            );
            (name, 0, selector)
        };
        let options = RunOptions::new()?.with_outputs(selector);
        Ok(OrtScorer {
            session,
            input,
            options,
            n_features,
            output,
            column,
        })
    }

    /// Number of input features.
    pub const fn n_features(&self) -> usize {
        self.n_features
    }

    /// The probability of class 1 for one row.
    pub fn predict(&mut self, row: &[f32]) -> Result<f32, OrtError> {
        let (_, data) = self.input.extract_tensor_mut();
        data.copy_from_slice(&row[..self.n_features]);
        let outputs = self
            .session
            .run_with_options(ort::inputs![&self.input], &self.options)?;
        let (_, probabilities) = outputs[self.output.as_str()].try_extract_tensor::<f32>()?;
        probabilities.get(self.column).copied().ok_or_else(|| {
            OrtError::Runtime(format!("{} has no column {}", self.output, self.column))
        })
    }
}

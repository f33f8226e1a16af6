//! Broken models on purpose, for tests and for operators' drills (`toolkit drill-model`): each
//! is a copy of a good model directory (`model.json` and `model.onnx`) with one fault, and the
//! engine must refuse every one at load, naming the reason, while the model it runs keeps
//! trading.
//!
//! | fault | what is broken | refused as |
//! |---|---|---|
//! | `disagree` | the ONNX graph gains a `base_values` the native reader does not apply: ONNX Runtime and the native evaluator disagree on every row | parity |
//! | `width` | the model takes one feature more than the engine has | width |
//! | `nan-split` | one split threshold is NaN (no trainer emits one) | a non-finite split |
//! | `threshold-range` | `tau_entry` is 1.5 | thresholds |
//! | `truncated` | `model.onnx` is cut in half | an unreadable model |

use std::path::{Path, PathBuf};

use prost::Message;

use super::ensemble::TreeNode;
use super::onnx::{AttributeProto, ModelProto};
use super::registry::{
    MODEL_FILE, MODEL_INFO_FILE, ModelInfo, RegistryError, write_json_atomically,
};
use super::{read_onnx, write_onnx};

/// One fault to plant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelFault {
    /// The two backends disagree on every row.
    Disagree,
    /// One input more than the engine's features.
    Width,
    /// A NaN split threshold.
    NanSplit,
    /// `tau_entry` outside [0, 1].
    ThresholdRange,
    /// The ONNX file cut in half.
    Truncated,
}

/// Why a drill model could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// The source model could not be read, or the copy written.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The source model is not a tree ensemble this engine reads.
    #[error("{path}: {reason}")]
    Source {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
}

/// `onnx` with a `base_values` of 0.25 on its TreeEnsembleClassifier: ONNX Runtime adds it to
/// every raw score, the native reader does not, so the two disagree on every row (the `disagree`
/// fault; also what `toolkit train --drill-disagree` plants in a fresh export).
pub fn disagreeing(onnx: &[u8]) -> Result<Vec<u8>, String> {
    let mut model = ModelProto::decode(onnx).map_err(|err| err.to_string())?;
    let node = model
        .graph
        .as_mut()
        .and_then(|graph| {
            graph
                .node
                .iter_mut()
                .find(|node| node.op_type == "TreeEnsembleClassifier")
        })
        .ok_or_else(|| "no TreeEnsembleClassifier node".to_owned())?;
    node.attribute
        .push(AttributeProto::floats("base_values", vec![0.25]));
    Ok(model.encode_to_vec())
}

/// Writes a copy of the model in `source` into `out` (created), as model `id`, with `fault`.
pub fn write_faulty(
    source: &Path,
    fault: ModelFault,
    out: &Path,
    id: &str,
) -> Result<(), DrillError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RegistryError::Io { path, source }
    };
    let mut info = ModelInfo::read(source)?;
    info.id = id.to_owned();
    let onnx_path = source.join(MODEL_FILE);
    let bytes = std::fs::read(&onnx_path).map_err(io(&onnx_path))?;
    let unreadable = |reason: String| DrillError::Source {
        path: onnx_path.clone(),
        reason,
    };
    let bytes = match fault {
        ModelFault::Disagree => disagreeing(&bytes).map_err(unreadable)?,
        ModelFault::Width => {
            let mut ensemble = read_onnx(&bytes).map_err(|err| unreadable(err.to_string()))?;
            ensemble.n_features += 1;
            write_onnx(&ensemble, &[])
        }
        ModelFault::NanSplit => {
            let mut ensemble = read_onnx(&bytes).map_err(|err| unreadable(err.to_string()))?;
            let split = ensemble
                .trees
                .iter_mut()
                .flat_map(|tree| tree.nodes.iter_mut())
                .find_map(|node| match node {
                    TreeNode::Branch { threshold, .. } => Some(threshold),
                    TreeNode::Leaf { .. } => None,
                })
                .ok_or_else(|| unreadable("no split to break".to_owned()))?;
            *split = f64::NAN;
            write_onnx(&ensemble, &[])
        }
        ModelFault::ThresholdRange => {
            info.thresholds.tau_entry = 1.5;
            bytes
        }
        ModelFault::Truncated => bytes[..bytes.len() / 2].to_vec(),
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let path = out.join(MODEL_FILE);
    std::fs::write(&path, bytes).map_err(io(&path))?;
    write_json_atomically(&out.join(MODEL_INFO_FILE), &info)?;
    Ok(())
}

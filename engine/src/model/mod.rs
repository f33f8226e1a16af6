//! Tree-ensemble models: the ONNX file format, the in-memory ensemble and its exact ONNX writer,
//! the native evaluator, a synthetic model for tests, and broken models for drills.

pub mod drills;
pub mod ensemble;
pub mod native;
pub mod onnx;
pub mod ort_backend;
pub mod parity;
pub mod quickscorer;
pub mod registry;
pub mod synthetic;
mod tree_ensemble_v5;

pub use ensemble::{ModelError, Tree, TreeEnsemble, TreeNode};
pub use native::NativeModel;

use prost::Message;

use crate::features::FeatureVector;

/// A model that scores one feature vector on the hot path, whatever its backend.
pub trait Scorer: Send {
    /// The probability of class 1; NaN when the backend failed (a NaN never passes a
    /// threshold).
    fn score(&mut self, row: &FeatureVector) -> f32;

    /// The backend's name: `native` or `onnx`.
    fn backend(&self) -> &'static str;
}

impl Scorer for NativeModel {
    fn score(&mut self, row: &FeatureVector) -> f32 {
        self.predict(row)
    }

    fn backend(&self) -> &'static str {
        "native"
    }
}

impl Scorer for ort_backend::OrtScorer {
    fn score(&mut self, row: &FeatureVector) -> f32 {
        self.predict(row).unwrap_or(f32::NAN)
    }

    fn backend(&self) -> &'static str {
        "onnx"
    }
}

/// Reads a model from ONNX protobuf bytes.
pub fn read_onnx(bytes: &[u8]) -> Result<TreeEnsemble, ModelError> {
    let model =
        onnx::ModelProto::decode(bytes).map_err(|err| ModelError::Decode(err.to_string()))?;
    TreeEnsemble::from_onnx(&model)
}

/// Writes a model as ONNX protobuf bytes, with `metadata` as metadata_props.
pub fn write_onnx(ensemble: &TreeEnsemble, metadata: &[(&str, &str)]) -> Vec<u8> {
    ensemble.to_onnx(metadata).encode_to_vec()
}

//! The ONNX Runtime library argument that every command scoring with ORT shares.

use std::path::PathBuf;

/// `--onnxruntime PATH`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct OnnxRuntimeArg {
    /// The ONNX Runtime library (default: ORT_DYLIB_PATH, else what scripts/setup.sh installs).
    #[arg(
        long = "onnxruntime",
        env = "ORT_DYLIB_PATH",
        default_value = ".runtime/onnxruntime-1.31.1/libonnxruntime.so.1.31.1"
    )]
    pub(crate) path: PathBuf,
}

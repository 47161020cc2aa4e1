//! The arena worker: media ingest and decoding, face detection and crops, detector sessions and
//! their upload checks, and the evaluation pipeline.

pub mod activation;
pub mod archive;
pub mod checks;
pub mod child_metrics;
pub mod context;
pub mod crops;
pub mod detector;
pub mod eval;
pub mod face_box;
pub mod face_crop;
pub mod face_model;
pub mod face_search;
pub mod faces;
pub mod fleet;
pub mod identity;
pub mod identity_model;
pub mod job_error;
pub mod job_loop;
pub mod manifest;
pub mod media;
pub mod onnx_model;
pub mod pipeline;
pub mod prepare;
pub mod sandbox;
pub mod scoring;
pub mod similarity;
#[cfg(any(test, feature = "test-support"))]
pub mod test_models;
#[cfg(test)]
mod test_support;

pub use checks::{CheckOptions, CheckReport, check_detector};
pub use detector::{
    CudaOptions, Detector, DetectorError, ExecutionProvider, OrtRuntime, RunTerminator,
    SessionOptions, aggregate,
};
pub use faces::{FaceDetector, FaceError};
pub use manifest::{Manifest, ManifestError};
pub use media::{MediaError, RgbImage};
pub use onnx_model::{InputBatch, ModelError, ModelInfo, TensorInfo};

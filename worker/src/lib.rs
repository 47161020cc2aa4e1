//! The arena worker: media ingest and decoding, detector sessions, and the evaluation pipeline.

pub mod crops;
pub mod detector;
pub mod job_loop;
pub mod manifest;
pub mod media;
pub mod onnx_model;
pub mod pipeline;
#[cfg(test)]
mod test_support;

pub use detector::{Detector, DetectorError, OrtRuntime, SessionOptions, aggregate};
pub use manifest::{Manifest, ManifestError};
pub use media::{MediaError, RgbImage};
pub use onnx_model::{InputBatch, ModelError, ModelInfo, TensorInfo};

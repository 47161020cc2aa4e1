//! What `arena eval` reports (its JSON): per video and detector scores, stage timings, the
//! detectors' summaries, and the errors that stop an evaluation or one of its videos.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::detector::DetectorError;
use crate::faces::FaceError;
use crate::job_error::JobError;
use crate::manifest::{CropMode, ManifestError};

/// What stops an evaluation before any video is scored (a video's own failure is reported in
/// its [`VideoReport`] instead).
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("onnxruntime could not be loaded from {path}: {source}")]
    Runtime {
        path: PathBuf,
        #[source]
        source: DetectorError,
    },
    #[error(transparent)]
    FaceModel(#[from] FaceError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Manifest {
        path: PathBuf,
        #[source]
        source: ManifestError,
    },
    #[error("detector {path}: {source}")]
    Detector {
        path: PathBuf,
        #[source]
        source: DetectorError,
    },
    #[error("the thread preparing videos panicked")]
    Panicked,
}

impl EvalError {
    /// A stable snake_case code, like the server's error codes.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Runtime { source, .. } | Self::Detector { source, .. } => source.code(),
            Self::FaceModel(e) => e.code(),
            Self::Read { .. } => "unreadable_file",
            Self::Manifest { source, .. } => source.code(),
            Self::Panicked => "worker_panic",
        }
    }
}

/// A failure of one video, or of one detector on one video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageError {
    pub code: String,
    pub message: String,
}

impl From<JobError> for StageError {
    fn from(e: JobError) -> Self {
        StageError {
            code: e.code.to_owned(),
            message: e.message,
        }
    }
}

impl From<DetectorError> for StageError {
    fn from(e: DetectorError) -> Self {
        StageError {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}

/// Wall milliseconds per stage. Decode includes sampling and the RGB conversion of the kept
/// frames (the whole frames come out of it); crops is cutting the face contexts; inference
/// includes each detector's crop cut from them, resize and normalisation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimings {
    pub decode_ms: f64,
    pub faces_ms: f64,
    pub crops_ms: f64,
    pub inference_ms: f64,
}

impl StageTimings {
    pub(super) fn add(&mut self, other: &StageTimings) {
        self.decode_ms += other.decode_ms;
        self.faces_ms += other.faces_ms;
        self.crops_ms += other.crops_ms;
        self.inference_ms += other.inference_ms;
    }
}

/// One detector's score for one video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairScore {
    /// The detector's manifest `name`.
    pub detector: String,
    /// P(fake) of the video (the manifest's aggregate of `per_frame`); `None` when it failed.
    pub score: Option<f32>,
    pub per_frame: Vec<f32>,
    pub inference_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StageError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoReport {
    pub path: PathBuf,
    /// Display-order indices of the sampled frames.
    pub frame_indices: Vec<u64>,
    /// Sampled frames with a real face detection (the others use the fallback crop).
    pub face_frames: usize,
    pub timings: StageTimings,
    /// One entry per detector, in the order given (empty when the video failed).
    pub scores: Vec<PairScore>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StageError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorSummary {
    pub name: String,
    pub model: PathBuf,
    pub manifest: PathBuf,
    /// The provider the session runs on (CPU after a CUDA fallback).
    pub execution_provider: String,
    pub batch: usize,
    pub frames: u32,
    pub crop: CropMode,
    /// The manifest's face-crop `margin` and `align`.
    #[serde(default = "default_margin")]
    pub margin: f32,
    #[serde(default)]
    pub align: bool,
}

fn default_margin() -> f32 {
    crate::manifest::DEFAULT_MARGIN
}

/// Everything `evaluate_offline` measured; what `arena eval` prints as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub ort_version: String,
    pub sampler_version: i32,
    pub face_detector_version: i32,
    pub sampler_frames: usize,
    pub max_side: u32,
    pub intra_threads: usize,
    /// Videos evaluated at once (threads, each with its own sessions).
    #[serde(default = "one")]
    pub parallel: usize,
    pub overlap: bool,
    pub detectors: Vec<DetectorSummary>,
    pub videos: Vec<VideoReport>,
    /// Video decodes this evaluation ran (one per video).
    pub decodes: u64,
    /// Loading the face model and the detectors' sessions (every thread's, at once).
    pub load_ms: f64,
    /// Stage times summed over the videos (with `overlap`, prepare and inference run at once,
    /// so the sum exceeds `wall_ms`).
    pub totals: StageTimings,
    /// From the first decode to the last score.
    pub wall_ms: f64,
    /// Why CUDA was asked for but the sessions run on the CPU (the warning's reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_fallback: Option<String>,
}

fn one() -> usize {
    1
}

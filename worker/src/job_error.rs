//! Why a job failed: [`JobError`], with a stable code, and whether the upload is to blame.

use crate::detector::DetectorError;
use crate::faces::FaceError;
use crate::media::MediaError;
use arena::RepoError;
use arena::evaluation::EvaluationError;
use arena::storage::StorageError;

/// Why a job failed; `permanent` failures are the upload's fault and are not retried.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct JobError {
    pub code: &'static str,
    pub message: String,
    pub permanent: bool,
}

impl JobError {
    pub(crate) fn infra(code: &'static str, err: impl std::fmt::Display) -> JobError {
        JobError {
            code,
            message: err.to_string(),
            permanent: false,
        }
    }
}

impl From<RepoError> for JobError {
    fn from(e: RepoError) -> Self {
        JobError::infra("database", e)
    }
}

impl From<EvaluationError> for JobError {
    fn from(e: EvaluationError) -> Self {
        JobError::infra("database", e)
    }
}

impl From<StorageError> for JobError {
    fn from(e: StorageError) -> Self {
        JobError::infra("storage", e)
    }
}

impl From<MediaError> for JobError {
    fn from(e: MediaError) -> Self {
        JobError {
            code: e.code(),
            message: e.to_string(),
            permanent: e.is_client_error(),
        }
    }
}

impl From<crate::onnx_model::ModelError> for JobError {
    fn from(e: crate::onnx_model::ModelError) -> Self {
        JobError {
            code: e.code(),
            message: e.to_string(),
            permanent: e.is_client_error(),
        }
    }
}

impl From<FaceError> for JobError {
    fn from(e: FaceError) -> Self {
        JobError {
            code: e.code(),
            message: e.to_string(),
            permanent: e.is_client_error(),
        }
    }
}

impl From<DetectorError> for JobError {
    fn from(e: DetectorError) -> Self {
        JobError {
            code: e.code(),
            message: e.to_string(),
            permanent: e.is_client_error(),
        }
    }
}

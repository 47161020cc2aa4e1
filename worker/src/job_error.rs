//! Why a job failed: [`JobError`], with a stable code, and whether the upload is to blame.

use crate::detector::DetectorError;
use crate::faces::FaceError;
use crate::media::MediaError;
use arena::RepoError;
use arena::evaluation::EvaluationError;
use arena::storage::StorageError;

/// Failure codes of a child that hit a limit: the upload's doing once its retries are spent.
pub const TIMEOUT: &str = "sandbox_timeout";
pub const MEMORY_LIMIT: &str = "sandbox_memory_limit";
pub const CPU_LIMIT: &str = "sandbox_cpu_limit";
pub const FILE_LIMIT: &str = "sandbox_file_limit";
/// The child died by another signal, or did not answer.
pub const KILLED: &str = "sandbox_killed";
pub const CRASHED: &str = "sandbox_crashed";
/// The child made a system call outside the seccomp allow-list and was killed (SIGSYS).
pub const SYSCALL: &str = "sandbox_syscall";
pub const PROTOCOL: &str = "sandbox_protocol";
pub const UNAVAILABLE: &str = "sandbox_unavailable";

/// True when the child died on the input (a crash, a forbidden system call, another signal)
/// rather than answering: for a parser of a team's file (an inspection), the file's doing.
pub fn died(code: &str) -> bool {
    matches!(code, CRASHED | SYSCALL | KILLED)
}

/// True for the failures an upload causes by being too big or too slow (a limit was hit): they
/// are retried like any crash, but a job that dies of one does not refund the team's quota.
pub fn blames_upload(code: &str) -> bool {
    matches!(code, TIMEOUT | MEMORY_LIMIT | CPU_LIMIT | FILE_LIMIT)
}

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

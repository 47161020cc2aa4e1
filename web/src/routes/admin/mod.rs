//! Organizer-only endpoints.

pub mod ratings_post;
pub mod reals_post;
pub mod submission_disqualify_post;
pub mod submission_requalify_post;
pub mod submission_rerun_post;
pub mod teams_post;

use arena::domain::SubmissionStatus;
use serde::Serialize;

/// A disqualification.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DisqualifyDone {
    pub submission: i64,
    /// Always `disqualified`.
    pub status: SubmissionStatus,
    /// Queued jobs taken out of the queue.
    pub cancelled_jobs: u64,
}

/// A rerun or requalification: the submission runs again.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunAgain {
    pub submission: i64,
    /// Always `running`.
    pub status: SubmissionStatus,
    /// Jobs queued again.
    pub jobs: u64,
}

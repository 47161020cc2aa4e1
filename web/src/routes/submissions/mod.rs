//! Submission status.

pub mod delete;
pub mod final_put;
pub mod get;
pub mod note_put;

use arena::domain::SubmissionStatus;
use arena::entities::submissions;
use serde::Serialize;

/// An upload taken in: the submission created, to follow at `GET /api/v1/submissions/{id}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub id: i64,
    /// `queued` (what a new submission starts as).
    #[schema(value_type = SubmissionStatus)]
    pub status: String,
}

impl Accepted {
    pub fn of(sub: submissions::Model) -> Accepted {
        Accepted {
            id: sub.id,
            status: sub.status,
        }
    }
}

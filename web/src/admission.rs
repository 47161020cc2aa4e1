//! Admission of a submission before any work ([`arena::admission`]): the phase must be open
//! (rounds mode) and the team must be within its quota. Answers 409 `phase_closed` and 429
//! `quota_exceeded`.

use crate::context::AppContext;
use crate::error::{ApiError, Code};
use arena::admission::AdmissionError;
use arena::domain::{CompetitionMode, SubmissionKind};
use arena::entities::competitions;
use arena::rules::CompetitionSettings;
use arena::time::now_ms;

/// The competition's settings (defaults for an empty record).
pub fn settings(comp: &competitions::Model) -> Result<CompetitionSettings, ApiError> {
    Ok(arena::boards::settings(comp)?)
}

pub fn mode(comp: &competitions::Model) -> Result<CompetitionMode, ApiError> {
    Ok(arena::admission::mode(comp)?)
}

/// Checks phase and quota for a team's new submission of `kind`; returns the phase it belongs to.
pub async fn admit(
    ctx: &AppContext,
    comp: &competitions::Model,
    team_id: i64,
    kind: SubmissionKind,
) -> Result<Option<i64>, ApiError> {
    arena::admission::admit(ctx.db(), comp, team_id, kind, now_ms())
        .await
        .map_err(|e| match e {
            AdmissionError::PhaseClosed(_) => ApiError::of(Code::PhaseClosed, e.to_string()),
            AdmissionError::QuotaExceeded { .. } => {
                ApiError::of(Code::QuotaExceeded, e.to_string())
            }
            AdmissionError::TeamNotFound(_) => ApiError::internal(e),
            AdmissionError::Repo(e) => e.into(),
        })
}

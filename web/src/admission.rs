//! Admission of a submission before any work: the phase must be open (rounds mode) and the
//! team must be within its quota. Answers 409 `phase_closed` and 429 `quota_exceeded`.

use crate::context::AppContext;
use crate::error::ApiError;
use actix_web::http::StatusCode;
use arena::domain::{CompetitionMode, SubmissionKind};
use arena::entities::competitions;
use arena::repo;
use arena::rules::{self, CompetitionSettings, PhaseKind};
use arena::time::now_ms;

/// The competition's settings (defaults for an empty or old record).
pub fn settings(comp: &competitions::Model) -> Result<CompetitionSettings, ApiError> {
    if comp.settings.trim().is_empty() || comp.settings.trim() == "{}" {
        return Ok(CompetitionSettings::default());
    }
    serde_json::from_str(&comp.settings).map_err(ApiError::internal)
}

pub fn mode(comp: &competitions::Model) -> Result<CompetitionMode, ApiError> {
    CompetitionMode::parse(&comp.mode)
        .ok_or_else(|| ApiError::internal(format!("competition mode {:?}", comp.mode)))
}

/// Checks phase and quota for a team's new submission of `kind`; returns the phase it belongs to.
/// Organizers' baseline teams may submit detectors outside any phase (the "D0" of round 1).
pub async fn admit(
    ctx: &AppContext,
    comp: &competitions::Model,
    team_id: i64,
    kind: SubmissionKind,
) -> Result<Option<i64>, ApiError> {
    let team = repo::teams::find(ctx.db(), team_id)
        .await?
        .ok_or_else(|| ApiError::internal("team vanished"))?;
    let now = now_ms();
    let phase_id = match mode(comp)? {
        CompetitionMode::Live => None,
        CompetitionMode::Rounds => {
            let phases = repo::phases::to_rules(&repo::phases::list(ctx.db(), comp.id).await?)?;
            let want = match kind {
                SubmissionKind::Detector => PhaseKind::Detection,
                _ => PhaseKind::Creation,
            };
            match rules::open_phase(&phases, want, now) {
                Some(p) => Some(p.id),
                None if team.is_baseline && kind == SubmissionKind::Detector => None,
                None => {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "phase_closed",
                        format!("no {} phase is open now", want.as_str()),
                    ));
                }
            }
        }
    };
    if !team.is_admin {
        check_quota(ctx, comp, team_id, kind, phase_id, now).await?;
    }
    Ok(phase_id)
}

async fn check_quota(
    ctx: &AppContext,
    comp: &competitions::Model,
    team_id: i64,
    kind: SubmissionKind,
    phase_id: Option<i64>,
    now: i64,
) -> Result<(), ApiError> {
    let s = settings(comp)?;
    let over = |what: &str, limit: u32| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "quota_exceeded",
            format!(
                "your team has used its {what} of {limit} {} submissions",
                kind.as_str()
            ),
        )
    };
    if let Some(limit) = s.total_limit {
        let used = repo::submissions::count_for_quota(ctx.db(), team_id, kind, phase_id, 0).await?;
        if used >= u64::from(limit) {
            return Err(over("total quota", limit));
        }
    }
    if let Some(limit) = s.daily_limit {
        let since = rules::utc_day_start(now);
        let used =
            repo::submissions::count_for_quota(ctx.db(), team_id, kind, phase_id, since).await?;
        if used >= u64::from(limit) {
            return Err(over("daily quota", limit));
        }
    }
    Ok(())
}

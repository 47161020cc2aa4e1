//! Admission of a submission before any work: the phase must be open (rounds mode) and the
//! team must be within its quota. Web maps [`AdmissionError`] to 409 `phase_closed` and 429
//! `quota_exceeded`. (A refused or failed submission's quota is given back by
//! `repo::submissions::refund`, called from `evaluation`.)

use crate::domain::{CompetitionMode, SubmissionKind};
use crate::entities::competitions;
use crate::error::RepoError;
use crate::repo;
use crate::rules::{self, PhaseKind};
use sea_orm::ConnectionTrait;

/// Why a submission is not admitted.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    #[error("no {} phase is open now", .0.as_str())]
    PhaseClosed(PhaseKind),
    #[error("your team has used its {what} of {limit} {} submissions", .kind.as_str())]
    QuotaExceeded {
        what: &'static str,
        limit: u32,
        kind: SubmissionKind,
    },
    #[error("team {0} not found")]
    TeamNotFound(i64),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// The competition's mode (a stored value this binary does not know is corrupt data).
pub fn mode(comp: &competitions::Model) -> Result<CompetitionMode, RepoError> {
    CompetitionMode::parse(&comp.mode)
        .ok_or_else(|| RepoError::Corrupt(format!("competition mode {:?}", comp.mode)))
}

/// Checks phase and quota for a team's new submission of `kind` at `now`; returns the phase it
/// belongs to. Organizers' baseline teams may submit detectors outside any phase (the "D0" of
/// round 1); admin teams have no quota.
pub async fn admit<C: ConnectionTrait>(
    db: &C,
    comp: &competitions::Model,
    team_id: i64,
    kind: SubmissionKind,
    now: i64,
) -> Result<Option<i64>, AdmissionError> {
    let team = repo::teams::find(db, team_id)
        .await?
        .ok_or(AdmissionError::TeamNotFound(team_id))?;
    let phase_id = match mode(comp)? {
        CompetitionMode::Live => None,
        CompetitionMode::Rounds => {
            let phases = repo::phases::to_rules(&repo::phases::list(db, comp.id).await?)?;
            let want = match kind {
                SubmissionKind::Detector => PhaseKind::Detection,
                _ => PhaseKind::Creation,
            };
            match rules::open_phase(&phases, want, now) {
                Some(p) => Some(p.id),
                None if team.is_baseline && kind == SubmissionKind::Detector => None,
                None => return Err(AdmissionError::PhaseClosed(want)),
            }
        }
    };
    if !team.is_admin {
        check_quota(db, comp, team_id, kind, phase_id, now).await?;
    }
    Ok(phase_id)
}

async fn check_quota<C: ConnectionTrait>(
    db: &C,
    comp: &competitions::Model,
    team_id: i64,
    kind: SubmissionKind,
    phase_id: Option<i64>,
    now: i64,
) -> Result<(), AdmissionError> {
    let s = crate::rules::settings(comp)?;
    let over = |what, limit| AdmissionError::QuotaExceeded { what, limit, kind };
    if let Some(limit) = s.total_limit {
        let used = repo::submissions::count_for_quota(db, team_id, kind, phase_id, 0).await?;
        if used >= u64::from(limit) {
            return Err(over("total quota", limit));
        }
    }
    if let Some(limit) = s.daily_limit {
        let since = rules::utc_day_start(now);
        let used = repo::submissions::count_for_quota(db, team_id, kind, phase_id, since).await?;
        if used >= u64::from(limit) {
            return Err(over("daily quota", limit));
        }
    }
    Ok(())
}

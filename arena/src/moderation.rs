//! Organizers' actions on a submission: rerun a failed one (its dead jobs back in the queue,
//! attempts reset) and disqualify one (off the boards and the ratings, its pairs no longer
//! count). Each runs in one transaction with the event the live boards listen to, so a refused
//! or interrupted action leaves nothing half-stored.

use crate::domain::{SubmissionKind, SubmissionStatus};
use crate::error::RepoError;
use crate::repo;
use sea_orm::{DatabaseConnection, DbErr};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    #[error("no submission {0}")]
    NotFound(i64),
    /// The submission is not in a state the action applies to (a stable `code` for the API).
    #[error("{message}")]
    WrongState { code: &'static str, message: String },
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<DbErr> for ModerationError {
    fn from(e: DbErr) -> Self {
        ModerationError::Repo(RepoError::Db(e))
    }
}

/// What a rerun did.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Rerun {
    pub submission: i64,
    pub competition_id: i64,
    /// Jobs put back in the queue.
    pub jobs: u64,
}

/// What a disqualification did.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Disqualified {
    pub submission: i64,
    pub competition_id: i64,
    /// Queued jobs taken out of the queue.
    pub cancelled_jobs: u64,
}

fn wrong(code: &'static str, message: String) -> ModerationError {
    ModerationError::WrongState { code, message }
}

/// Reruns a failed submission: its failed jobs are queued again with attempts reset, the pairs
/// its detector failed on are forgotten (scored again), its videos that failed to decode are
/// pending again, and it is `running` until the workers are done.
#[tracing::instrument(skip(db), err)]
pub async fn rerun(db: &DatabaseConnection, id: i64) -> Result<Rerun, ModerationError> {
    let txn = crate::db::begin_write(db).await?;
    let sub = repo::submissions::find(&txn, id)
        .await?
        .ok_or(ModerationError::NotFound(id))?;
    let status = repo::submissions::status(&sub)?;
    if status != SubmissionStatus::Failed {
        return Err(wrong(
            "not_failed",
            format!("only a failed submission can be rerun; #{id} is {status}"),
        ));
    }
    let jobs = repo::jobs::requeue_failed_for_submission(&txn, id).await?;
    if jobs == 0 {
        return Err(wrong(
            "nothing_to_rerun",
            format!("#{id} has no failed job to run again"),
        ));
    }
    if repo::submissions::kind(&sub)? == SubmissionKind::Detector
        && let Some(det) = repo::detectors::find_by_submission(&txn, id).await?
    {
        repo::scores::delete_failed_for_detector(&txn, det.id).await?;
    }
    repo::videos::reset_failed_for_submission(&txn, id).await?;
    if !repo::submissions::restart_from(&txn, id, SubmissionStatus::Failed).await? {
        return Err(wrong(
            "not_failed",
            format!("#{id} changed meanwhile; reload and try again"),
        ));
    }
    let done = Rerun {
        submission: id,
        competition_id: sub.competition_id,
        jobs,
    };
    repo::events::append(
        &txn,
        sub.competition_id,
        "submission_rerun",
        &serde_json::json!({ "submission": id, "jobs": jobs }),
    )
    .await?;
    txn.commit().await?;
    Ok(done)
}

/// Disqualifies a creation or a detector: it leaves the boards and the ratings (every view of
/// the game skips final submissions), its queued jobs are cancelled, and its page says
/// `disqualified` with `reason`.
#[tracing::instrument(skip(db), err)]
pub async fn disqualify(
    db: &DatabaseConnection,
    id: i64,
    reason: &str,
) -> Result<Disqualified, ModerationError> {
    let txn = crate::db::begin_write(db).await?;
    let sub = repo::submissions::find(&txn, id)
        .await?
        .ok_or(ModerationError::NotFound(id))?;
    let status = repo::submissions::status(&sub)?;
    let kind = repo::submissions::kind(&sub)?;
    if status == SubmissionStatus::Disqualified {
        return Err(wrong(
            "already_disqualified",
            format!("#{id} is already disqualified"),
        ));
    }
    if !matches!(kind, SubmissionKind::Creation | SubmissionKind::Detector) {
        return Err(wrong(
            "not_disqualifiable",
            format!("#{id} ({kind}, {status}) is not an entry of the game"),
        ));
    }
    let reason = match reason.trim() {
        "" => "disqualified by the organizers",
        r => r,
    };
    if !repo::submissions::disqualify(&txn, id, reason).await? {
        return Err(wrong(
            "already_disqualified",
            format!("#{id} is already disqualified"),
        ));
    }
    let cancelled_jobs = repo::jobs::cancel_queued_for_submission(
        &txn,
        id,
        "cancelled: the submission was disqualified",
    )
    .await?;
    repo::events::append(
        &txn,
        sub.competition_id,
        "submission_disqualified",
        &serde_json::json!({ "submission": id }),
    )
    .await?;
    txn.commit().await?;
    Ok(Disqualified {
        submission: id,
        competition_id: sub.competition_id,
        cancelled_jobs,
    })
}

/// What undoing a disqualification did.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Requalified {
    pub submission: i64,
    pub competition_id: i64,
    /// Jobs the disqualification had cancelled, queued again.
    pub jobs: u64,
}

/// Undoes a disqualification: the submission is back in the game (`running` until its pairs are
/// scored again), the jobs the disqualification cancelled are queued again.
#[tracing::instrument(skip(db), err)]
pub async fn requalify(db: &DatabaseConnection, id: i64) -> Result<Requalified, ModerationError> {
    let txn = crate::db::begin_write(db).await?;
    let sub = repo::submissions::find(&txn, id)
        .await?
        .ok_or(ModerationError::NotFound(id))?;
    if !repo::submissions::restart_from(&txn, id, SubmissionStatus::Disqualified).await? {
        let status = repo::submissions::status(&sub)?;
        return Err(wrong(
            "not_disqualified",
            format!("only a disqualified submission can be requalified; #{id} is {status}"),
        ));
    }
    let jobs = repo::jobs::requeue_failed_for_submission(&txn, id).await?;
    repo::events::append(
        &txn,
        sub.competition_id,
        "submission_requalified",
        &serde_json::json!({ "submission": id, "jobs": jobs }),
    )
    .await?;
    txn.commit().await?;
    Ok(Requalified {
        submission: id,
        competition_id: sub.competition_id,
        jobs,
    })
}

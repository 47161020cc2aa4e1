//! Withdrawal and erasure of a submission: its team takes it back while its phase is open (an
//! organizer at any time); it leaves every board and matrix, its scores, jobs and rows go, and
//! every stored byte derived from its files — the uploaded object, the crop and frame caches — is
//! deleted unless another submission still holds the same content (reference-counted by sha256).
//! The submission row stays as a `withdrawn` tombstone without any file facts, so the upload
//! keeps counting against the quota it used (withdrawing is not a way around the daily limit).

use crate::domain::{SubmissionKind, SubmissionStatus};
use crate::error::RepoError;
use crate::repo;
use crate::storage::{Storage, StorageError, model_key, video_key};
use crate::time::now_ms;
use sea_orm::{DatabaseConnection, DbErr};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum WithdrawError {
    #[error("no submission {0}")]
    NotFound(i64),
    /// Refused for this caller or in this state, with a stable `code` for the API.
    #[error("{message}")]
    Refused {
        code: &'static str,
        message: String,
        /// A conflict with the submission's state (409) rather than a permission (403).
        conflict: bool,
    },
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("deleting stored objects: {0}")]
    Storage(#[from] StorageError),
}

impl From<DbErr> for WithdrawError {
    fn from(e: DbErr) -> Self {
        WithdrawError::Repo(RepoError::Db(e))
    }
}

/// Who asks for the withdrawal.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub team_id: i64,
    pub is_admin: bool,
}

/// What a withdrawal erased.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Withdrawal {
    pub submission: i64,
    pub competition_id: i64,
    pub status: &'static str,
    pub scores_deleted: u64,
    pub jobs_deleted: u64,
    /// Object-store keys deleted (the upload, its crop and frame caches).
    pub objects_deleted: Vec<String>,
    /// Contents kept because another submission holds the same bytes.
    pub contents_kept: usize,
}

fn refused(code: &'static str, message: String, conflict: bool) -> WithdrawError {
    WithdrawError::Refused {
        code,
        message,
        conflict,
    }
}

/// Withdraws submission `id` for `caller` and erases what it stored (see the module docs).
#[tracing::instrument(skip(db, storage), err)]
pub async fn withdraw(
    db: &DatabaseConnection,
    storage: &Storage,
    id: i64,
    caller: Caller,
) -> Result<Withdrawal, WithdrawError> {
    settle(db, id).await?;
    let txn = crate::db::begin_write(db).await?;
    let sub = repo::submissions::find(&txn, id)
        .await?
        .ok_or(WithdrawError::NotFound(id))?;
    check_allowed(&txn, &sub, caller).await?;
    let running = repo::erasure::running_jobs(&txn, id).await?;
    if running > 0 {
        return Err(refused(
            "submission_busy",
            format!(
                "#{id} is being evaluated right now ({running} job(s) running); try again in a moment"
            ),
            true,
        ));
    }
    let rows = repo::erasure::delete_submission_rows(&txn, id).await?;
    repo::submissions::withdraw(&txn, id).await?;
    // Contents no other row holds any more: their crop rows go now, their objects after commit.
    let mut videos = Vec::new();
    for sha in dedup(rows.video_sha256.clone()) {
        if !repo::erasure::video_content_held(&txn, &sha).await? {
            repo::erasure::delete_crops_rows(&txn, &sha).await?;
            videos.push(sha);
        }
    }
    let mut models = Vec::new();
    for sha in dedup(rows.model_sha256.clone()) {
        if !repo::erasure::model_content_held(&txn, &sha).await? {
            models.push(sha);
        }
    }
    let held = dedup(rows.video_sha256).len() + dedup(rows.model_sha256).len();
    repo::events::append(
        &txn,
        sub.competition_id,
        "submission_withdrawn",
        &serde_json::json!({ "submission": id }),
    )
    .await?;
    txn.commit().await?;
    let mut objects_deleted = Vec::new();
    for sha in &videos {
        storage.delete(&video_key(sha)).await?;
        objects_deleted.push(video_key(sha));
        for folder in ["crops", "frames"] {
            objects_deleted.extend(storage.delete_prefix(&format!("{folder}/{sha}")).await?);
        }
    }
    for sha in &models {
        storage.delete(&model_key(sha)).await?;
        objects_deleted.push(model_key(sha));
    }
    tracing::info!(
        submission = id,
        objects = objects_deleted.len(),
        "submission withdrawn"
    );
    Ok(Withdrawal {
        submission: id,
        competition_id: sub.competition_id,
        status: SubmissionStatus::Withdrawn.as_str(),
        scores_deleted: rows.scores,
        jobs_deleted: rows.jobs,
        contents_kept: held - videos.len() - models.len(),
        objects_deleted,
    })
}

/// How long a withdrawal waits for the submission's running jobs before it answers
/// `submission_busy`. A job commits its result (and with it the submission's `finished`) just
/// before it marks itself done, so a team that withdraws the moment it reads `finished` would
/// otherwise meet a job that has no work left but is still `running`.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

async fn settle(db: &DatabaseConnection, id: i64) -> Result<(), WithdrawError> {
    let deadline = tokio::time::Instant::now() + SETTLE;
    while repo::erasure::running_jobs(db, id).await? > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort_unstable();
    v.dedup();
    v
}

/// Its team while its phase is open (live mode: while the competition runs); organizers always.
async fn check_allowed<C: sea_orm::ConnectionTrait>(
    db: &C,
    sub: &crate::entities::submissions::Model,
    caller: Caller,
) -> Result<(), WithdrawError> {
    let status = repo::submissions::status(sub)?;
    if status == SubmissionStatus::Withdrawn {
        return Err(refused(
            "already_withdrawn",
            format!("#{} was already withdrawn", sub.id),
            true,
        ));
    }
    if caller.is_admin {
        return Ok(());
    }
    if sub.team_id != caller.team_id {
        return Err(refused(
            "not_yours",
            "this submission belongs to another team".to_owned(),
            false,
        ));
    }
    let kind = repo::submissions::kind(sub)?;
    if !matches!(kind, SubmissionKind::Creation | SubmissionKind::Detector) {
        return Err(refused(
            "admin_only",
            format!("a {kind} upload is withdrawn by the organizers"),
            false,
        ));
    }
    if status == SubmissionStatus::Disqualified {
        return Err(refused(
            "disqualified",
            format!(
                "#{} was disqualified; only the organizers can erase it",
                sub.id
            ),
            true,
        ));
    }
    if let Some(phase_id) = sub.phase_id
        && let Some(phase) = repo::phases::find(db, phase_id).await?
        && now_ms() >= phase.closes_at_ms
    {
        return Err(refused(
            "phase_closed",
            format!(
                "#{}'s phase has closed; ask the organizers to erase it",
                sub.id
            ),
            true,
        ));
    }
    Ok(())
}

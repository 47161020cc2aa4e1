//! The create-submission transactions of ingest: once an upload is validated and its objects
//! stored, its submission, detector or videos, their first jobs and the `submission` event are
//! written in one transaction (a failure leaves no row). A detector's model checks run after
//! the upload, in its `activate_detector` job; a model they refuse is taken back by
//! [`refuse_detector`].

use crate::db;
use crate::domain::{SubmissionKind, SubmissionStatus, VideoRole};
use crate::entities::submissions;
use crate::error::RepoError;
use crate::queue::{self, JobPayload, QueueError};
use crate::repo;
use crate::storage::{Storage, StorageError, model_key};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<DbErr> for IntakeError {
    fn from(e: DbErr) -> Self {
        IntakeError::Repo(e.into())
    }
}

/// Appends a `submission` event in the ingest transaction: the boards gain a row, and live
/// clients (and the boards cache of every server process) hear of it.
async fn announce<C: ConnectionTrait>(db: &C, sub: &submissions::Model) -> Result<(), RepoError> {
    let payload = serde_json::json!({ "submission": sub.id, "kind": sub.kind });
    repo::events::append(db, sub.competition_id, "submission", &payload).await?;
    Ok(())
}

/// A validated detector whose model object is stored.
#[derive(Debug, Clone)]
pub struct NewDetectorUpload {
    pub competition_id: i64,
    pub team_id: i64,
    pub phase_id: Option<i64>,
    pub model_sha256: String,
    pub model_key: String,
    pub manifest_json: String,
    pub ort_version: String,
}

/// Creates the detector's submission (queued), its detector row (not ready) and its activation
/// job, which runs the model checks and then makes it live. Returns the submission and the
/// detector's id.
pub async fn create_detector(
    db: &DatabaseConnection,
    new: NewDetectorUpload,
    max_attempts: i32,
) -> Result<(submissions::Model, i64), IntakeError> {
    let txn = db::begin_write(db).await?;
    let sub = repo::submissions::create(
        &txn,
        repo::submissions::NewSubmission {
            competition_id: new.competition_id,
            team_id: new.team_id,
            kind: SubmissionKind::Detector,
            status: SubmissionStatus::Queued,
            phase_id: new.phase_id,
        },
    )
    .await?;
    let det = repo::detectors::create(
        &txn,
        repo::detectors::NewDetector {
            submission_id: sub.id,
            competition_id: new.competition_id,
            model_sha256: new.model_sha256,
            model_key: new.model_key,
            manifest_json: new.manifest_json,
            ort_version: new.ort_version,
        },
    )
    .await?;
    let job = JobPayload::ActivateDetector {
        detector_id: det.id,
    };
    queue::enqueue(&txn, &job, Some(sub.id), max_attempts).await?;
    announce(&txn, &sub).await?;
    txn.commit().await?;
    Ok((sub, det.id))
}

/// A detector whose upload checks refused its model (`code`, `message`: the checks' own, as the
/// upload request answered them when the checks ran there). Its submission fails with them and
/// is given back to the team's quota (a refused upload never counted), its detector row goes, and
/// the model object goes unless another detector holds the same bytes. Returns false when the
/// detector was already gone (withdrawn meanwhile).
#[tracing::instrument(skip(db, storage, message), err)]
pub async fn refuse_detector(
    db: &DatabaseConnection,
    storage: &Storage,
    detector_id: i64,
    code: &str,
    message: &str,
) -> Result<bool, IntakeError> {
    let txn = db::begin_write(db).await?;
    let Some(det) = repo::detectors::find(&txn, detector_id).await? else {
        return Ok(false);
    };
    repo::submissions::fail(&txn, det.submission_id, code, message).await?;
    repo::submissions::refund(&txn, det.submission_id).await?;
    repo::detectors::delete(&txn, detector_id).await?;
    let held = repo::erasure::model_content_held(&txn, &det.model_sha256).await?;
    // The object goes before the commit, so a client that reads `failed` finds nothing stored.
    // If the commit then fails, the job is retried and finds its model gone: the submission ends
    // failed with that error instead of the checks' code, and nothing is left either way.
    if !held {
        storage.delete(&model_key(&det.model_sha256)).await?;
    }
    txn.commit().await?;
    Ok(true)
}

/// Creates a video submission (queued) of `kind`, its videos (their `submission_id` and `role`
/// are set here) and their prepare jobs. Task targets get no event: they are not on the boards
/// (and are not public before their round).
pub async fn create_videos(
    db: &DatabaseConnection,
    new: repo::submissions::NewSubmission,
    videos: Vec<repo::videos::NewVideo>,
    max_attempts: i32,
) -> Result<submissions::Model, IntakeError> {
    let kind = new.kind;
    let role = match kind {
        SubmissionKind::Reals => VideoRole::Real,
        SubmissionKind::Target => VideoRole::Target,
        _ => VideoRole::Fake,
    };
    let txn = db::begin_write(db).await?;
    let sub = repo::submissions::create(&txn, new).await?;
    for mut video in videos {
        video.submission_id = Some(sub.id);
        video.role = role;
        let video = repo::videos::create(&txn, video).await?;
        let job = JobPayload::PrepareVideo { video_id: video.id };
        queue::enqueue(&txn, &job, Some(sub.id), max_attempts).await?;
    }
    if kind != SubmissionKind::Target {
        announce(&txn, &sub).await?;
    }
    txn.commit().await?;
    Ok(sub)
}

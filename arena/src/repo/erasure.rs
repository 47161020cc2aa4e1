//! Rows that go when a submission is withdrawn or erased: its scores, jobs, job logs, videos,
//! detector and human ratings, and the crop-cache rows of contents nobody else holds.

use crate::entities::{crops, detectors, human_ratings, job_logs, jobs, scores, videos};
use crate::error::RepoError;
use crate::queue::JobState;
use sea_orm::sea_query::ExprTrait as _;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

/// The contents (sha256) a submission's deleted rows held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErasedRows {
    pub video_sha256: Vec<String>,
    pub model_sha256: Vec<String>,
    pub scores: u64,
    pub jobs: u64,
}

/// How many of the submission's jobs a worker is running right now.
pub async fn running_jobs<C: ConnectionTrait>(
    db: &C,
    submission_id: i64,
) -> Result<u64, RepoError> {
    Ok(jobs::Entity::find()
        .filter(jobs::Column::SubmissionId.eq(submission_id))
        .filter(jobs::Column::State.eq(JobState::Running.as_str()))
        .count(db)
        .await?)
}

/// Deletes every row derived from the submission's files (not the submission row itself).
pub async fn delete_submission_rows<C: ConnectionTrait>(
    db: &C,
    submission_id: i64,
) -> Result<ErasedRows, RepoError> {
    let mut out = ErasedRows::default();
    let vids = videos::Entity::find()
        .filter(videos::Column::SubmissionId.eq(submission_id))
        .all(db)
        .await?;
    let video_ids: Vec<i64> = vids.iter().map(|v| v.id).collect();
    out.video_sha256 = vids.into_iter().map(|v| v.sha256).collect();
    let dets = detectors::Entity::find()
        .filter(detectors::Column::SubmissionId.eq(submission_id))
        .all(db)
        .await?;
    let detector_ids: Vec<i64> = dets.iter().map(|d| d.id).collect();
    out.model_sha256 = dets.into_iter().map(|d| d.model_sha256).collect();
    out.scores = scores::Entity::delete_many()
        .filter(
            scores::Column::VideoId
                .is_in(video_ids.clone())
                .or(scores::Column::DetectorId.is_in(detector_ids.clone())),
        )
        .exec(db)
        .await?
        .rows_affected;
    out.jobs = jobs::Entity::delete_many()
        .filter(jobs::Column::SubmissionId.eq(submission_id))
        .exec(db)
        .await?
        .rows_affected;
    job_logs::Entity::delete_many()
        .filter(job_logs::Column::SubmissionId.eq(submission_id))
        .exec(db)
        .await?;
    human_ratings::Entity::delete_many()
        .filter(human_ratings::Column::SubmissionId.eq(submission_id))
        .exec(db)
        .await?;
    crate::repo::video_ratings::delete_for_submission(db, submission_id).await?;
    videos::Entity::delete_many()
        .filter(videos::Column::Id.is_in(video_ids))
        .exec(db)
        .await?;
    detectors::Entity::delete_many()
        .filter(detectors::Column::Id.is_in(detector_ids))
        .exec(db)
        .await?;
    Ok(out)
}

/// Whether any video row (of any competition) still holds this content.
pub async fn video_content_held<C: ConnectionTrait>(
    db: &C,
    sha256: &str,
) -> Result<bool, RepoError> {
    Ok(videos::Entity::find()
        .filter(videos::Column::Sha256.eq(sha256))
        .count(db)
        .await?
        > 0)
}

/// Whether any detector row (of any competition) still holds this model.
pub async fn model_content_held<C: ConnectionTrait>(
    db: &C,
    sha256: &str,
) -> Result<bool, RepoError> {
    Ok(detectors::Entity::find()
        .filter(detectors::Column::ModelSha256.eq(sha256))
        .count(db)
        .await?
        > 0)
}

/// Forgets the crop caches of a content (their objects are deleted by the caller).
pub async fn delete_crops_rows<C: ConnectionTrait>(db: &C, sha256: &str) -> Result<u64, RepoError> {
    Ok(crops::Entity::delete_many()
        .filter(crops::Column::VideoSha256.eq(sha256))
        .exec(db)
        .await?
        .rows_affected)
}

//! Videos: hidden reals (label 0) and creators' fakes (label 1), with their probe facts.

use crate::domain::{PrepareState, VideoRole};
use crate::entities::{crops, videos};
use crate::error::RepoError;
use crate::time::now_ms;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, OnConflict},
};

/// What ingest learned about an uploaded video.
#[derive(Debug, Clone)]
pub struct NewVideo {
    pub competition_id: i64,
    pub submission_id: Option<i64>,
    pub role: VideoRole,
    pub sha256: String,
    pub storage_key: String,
    pub container: String,
    pub codec: String,
    pub width: i32,
    pub height: i32,
    /// The size a viewer sees (sample aspect ratio and rotation applied).
    pub display_width: i32,
    pub display_height: i32,
    pub fps: f64,
    pub frames: i64,
    pub duration_s: f64,
    /// The creation task this fake answers (rounds mode).
    pub task_id: Option<String>,
}

pub async fn create<C: ConnectionTrait>(db: &C, new: NewVideo) -> Result<videos::Model, RepoError> {
    let model = videos::ActiveModel {
        competition_id: Set(new.competition_id),
        submission_id: Set(new.submission_id),
        role: Set(new.role.as_str().to_owned()),
        sha256: Set(new.sha256),
        storage_key: Set(new.storage_key),
        container: Set(new.container),
        codec: Set(new.codec),
        width: Set(new.width),
        height: Set(new.height),
        display_width: Set(Some(new.display_width)),
        display_height: Set(Some(new.display_height)),
        fps: Set(new.fps),
        frames: Set(new.frames),
        duration_s: Set(new.duration_s),
        task_id: Set(new.task_id),
        prepare_state: Set(PrepareState::Pending.as_str().to_owned()),
        prepare_error: Set(None),
        crops_key: Set(None),
        created_at_ms: Set(now_ms()),
        ..Default::default()
    };
    Ok(model.insert(db).await?)
}

pub async fn find<C: ConnectionTrait>(db: &C, id: i64) -> Result<Option<videos::Model>, RepoError> {
    Ok(videos::Entity::find_by_id(id).one(db).await?)
}

pub async fn find_many<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
) -> Result<Vec<videos::Model>, RepoError> {
    Ok(videos::Entity::find()
        .filter(videos::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(videos::Column::Id)
        .all(db)
        .await?)
}

pub async fn list_for_competition<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
) -> Result<Vec<videos::Model>, RepoError> {
    Ok(videos::Entity::find()
        .filter(videos::Column::CompetitionId.eq(competition_id))
        .order_by_asc(videos::Column::Id)
        .all(db)
        .await?)
}

pub async fn list_for_submission<C: ConnectionTrait>(
    db: &C,
    submission_id: i64,
) -> Result<Vec<videos::Model>, RepoError> {
    Ok(videos::Entity::find()
        .filter(videos::Column::SubmissionId.eq(submission_id))
        .order_by_asc(videos::Column::Id)
        .all(db)
        .await?)
}

pub async fn mark_ready<C: ConnectionTrait>(
    db: &C,
    id: i64,
    crops_key: &str,
) -> Result<(), RepoError> {
    videos::Entity::update_many()
        .col_expr(
            videos::Column::PrepareState,
            Expr::value(PrepareState::Ready.as_str()),
        )
        .col_expr(videos::Column::CropsKey, Expr::value(crops_key))
        .filter(videos::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn mark_failed<C: ConnectionTrait>(
    db: &C,
    id: i64,
    reason: &str,
) -> Result<(), RepoError> {
    videos::Entity::update_many()
        .col_expr(
            videos::Column::PrepareState,
            Expr::value(PrepareState::Failed.as_str()),
        )
        .col_expr(videos::Column::PrepareError, Expr::value(reason))
        .filter(videos::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub fn role(video: &videos::Model) -> Result<VideoRole, RepoError> {
    VideoRole::parse(&video.role)
        .ok_or_else(|| RepoError::Corrupt(format!("video role {:?}", video.role)))
}

pub fn prepare_state(video: &videos::Model) -> Result<PrepareState, RepoError> {
    PrepareState::parse(&video.prepare_state)
        .ok_or_else(|| RepoError::Corrupt(format!("prepare state {:?}", video.prepare_state)))
}

/// What the face stage learned about a prepared video.
#[derive(Debug, Clone)]
pub struct FaceSummary {
    /// Sampled frames with a real face detection.
    pub face_frames: i32,
    /// Frame indices the sampler kept, in order.
    pub frame_indices: Vec<u64>,
}

/// Records the face stage's results on the video row.
pub async fn record_faces<C: ConnectionTrait>(
    db: &C,
    id: i64,
    summary: &FaceSummary,
) -> Result<(), RepoError> {
    let indices = serde_json::to_string(&summary.frame_indices)
        .map_err(|e| RepoError::Corrupt(e.to_string()))?;
    videos::Entity::update_many()
        .col_expr(videos::Column::FaceFrames, Expr::value(summary.face_frames))
        .col_expr(videos::Column::FrameIndices, Expr::value(indices))
        .filter(videos::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// A video's cached face crops, as indexed in the `crops` table.
#[derive(Debug, Clone)]
pub struct NewCrops {
    pub video_sha256: String,
    pub sampler_version: i32,
    pub face_detector_version: i32,
    pub storage_key: String,
    pub frames: i32,
}

/// Indexes a crop cache blob; a second call for the same (sha256, versions) changes nothing.
pub async fn record_crops<C: ConnectionTrait>(db: &C, new: NewCrops) -> Result<(), RepoError> {
    let model = crops::ActiveModel {
        video_sha256: Set(new.video_sha256),
        sampler_version: Set(new.sampler_version),
        face_detector_version: Set(new.face_detector_version),
        storage_key: Set(new.storage_key),
        frames: Set(new.frames),
        created_at_ms: Set(now_ms()),
        ..Default::default()
    };
    crops::Entity::insert(model)
        .on_conflict(
            OnConflict::columns([
                crops::Column::VideoSha256,
                crops::Column::SamplerVersion,
                crops::Column::FaceDetectorVersion,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The crop cache index row for (sha256, versions), if the face crops were stored.
pub async fn find_crops<C: ConnectionTrait>(
    db: &C,
    video_sha256: &str,
    sampler_version: i32,
    face_detector_version: i32,
) -> Result<Option<crops::Model>, RepoError> {
    Ok(crops::Entity::find()
        .filter(crops::Column::VideoSha256.eq(video_sha256))
        .filter(crops::Column::SamplerVersion.eq(sampler_version))
        .filter(crops::Column::FaceDetectorVersion.eq(face_detector_version))
        .one(db)
        .await?)
}

/// Records the fake's SSIM against its task's target clip.
pub async fn set_ssim<C: ConnectionTrait>(db: &C, id: i64, ssim: f64) -> Result<(), RepoError> {
    videos::Entity::update_many()
        .col_expr(videos::Column::Ssim, Expr::value(ssim))
        .filter(videos::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Records the fake's identity similarity to its task's donor (the ID term).
pub async fn set_id_similarity<C: ConnectionTrait>(
    db: &C,
    id: i64,
    similarity: f64,
) -> Result<(), RepoError> {
    videos::Entity::update_many()
        .col_expr(videos::Column::IdSimilarity, Expr::value(similarity))
        .filter(videos::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Puts a submission's videos that failed to prepare back to pending (a rerun decodes them
/// again); returns how many.
pub async fn reset_failed_for_submission<C: ConnectionTrait>(
    db: &C,
    submission_id: i64,
) -> Result<u64, RepoError> {
    let res = videos::Entity::update_many()
        .col_expr(
            videos::Column::PrepareState,
            Expr::value(PrepareState::Pending.as_str()),
        )
        .col_expr(
            videos::Column::PrepareError,
            Expr::value(Option::<String>::None),
        )
        .filter(videos::Column::SubmissionId.eq(submission_id))
        .filter(videos::Column::PrepareState.eq(PrepareState::Failed.as_str()))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

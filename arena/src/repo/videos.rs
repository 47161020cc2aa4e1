//! Videos: hidden reals (label 0) and creators' fakes (label 1), with their probe facts.

use crate::domain::{PrepareState, VideoRole};
use crate::entities::videos;
use crate::error::RepoError;
use crate::time::now_ms;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, sea_query::Expr,
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
    pub fps: f64,
    pub frames: i64,
    pub duration_s: f64,
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
        fps: Set(new.fps),
        frames: Set(new.frames),
        duration_s: Set(new.duration_s),
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

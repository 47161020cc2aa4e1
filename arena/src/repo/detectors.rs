//! Detector submissions: the stored model and its manifest.

use crate::entities::detectors;
use crate::error::RepoError;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, sea_query::Expr,
};

pub struct NewDetector {
    pub submission_id: i64,
    pub competition_id: i64,
    pub model_sha256: String,
    pub model_key: String,
    /// The manifest as JSON (parsed and validated at ingest).
    pub manifest_json: String,
    pub ort_version: String,
}

pub async fn create<C: ConnectionTrait>(
    db: &C,
    new: NewDetector,
) -> Result<detectors::Model, RepoError> {
    let model = detectors::ActiveModel {
        submission_id: Set(new.submission_id),
        competition_id: Set(new.competition_id),
        model_sha256: Set(new.model_sha256),
        model_key: Set(new.model_key),
        manifest: Set(new.manifest_json),
        ort_version: Set(new.ort_version),
        ready: Set(false),
        ..Default::default()
    };
    Ok(model.insert(db).await?)
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    id: i64,
) -> Result<Option<detectors::Model>, RepoError> {
    Ok(detectors::Entity::find_by_id(id).one(db).await?)
}

pub async fn find_by_submission<C: ConnectionTrait>(
    db: &C,
    submission_id: i64,
) -> Result<Option<detectors::Model>, RepoError> {
    Ok(detectors::Entity::find()
        .filter(detectors::Column::SubmissionId.eq(submission_id))
        .one(db)
        .await?)
}

pub async fn list_for_competition<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
) -> Result<Vec<detectors::Model>, RepoError> {
    Ok(detectors::Entity::find()
        .filter(detectors::Column::CompetitionId.eq(competition_id))
        .order_by_asc(detectors::Column::Id)
        .all(db)
        .await?)
}

pub async fn mark_ready<C: ConnectionTrait>(db: &C, id: i64) -> Result<(), RepoError> {
    detectors::Entity::update_many()
        .col_expr(detectors::Column::Ready, Expr::value(true))
        .filter(detectors::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes a detector row (a model its upload checks refused: `crate::intake::refuse_detector`).
pub async fn delete<C: ConnectionTrait>(db: &C, id: i64) -> Result<(), RepoError> {
    detectors::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

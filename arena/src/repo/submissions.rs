//! Submissions: a creation (fake videos), a detector (model + manifest), or a set of reals.

use crate::domain::{SubmissionKind, SubmissionStatus};
use crate::entities::submissions;
use crate::error::RepoError;
use crate::time::now_ms;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, sea_query::Expr,
};

pub async fn create<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
    team_id: i64,
    kind: SubmissionKind,
    status: SubmissionStatus,
) -> Result<submissions::Model, RepoError> {
    let now = now_ms();
    let model = submissions::ActiveModel {
        competition_id: Set(competition_id),
        team_id: Set(team_id),
        kind: Set(kind.as_str().to_owned()),
        status: Set(status.as_str().to_owned()),
        error_code: Set(None),
        error_message: Set(None),
        counted_against_quota: Set(true),
        created_at_ms: Set(now),
        updated_at_ms: Set(now),
        ..Default::default()
    };
    Ok(model.insert(db).await?)
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    id: i64,
) -> Result<Option<submissions::Model>, RepoError> {
    Ok(submissions::Entity::find_by_id(id).one(db).await?)
}

pub async fn list_for_team<C: ConnectionTrait>(
    db: &C,
    team_id: i64,
) -> Result<Vec<submissions::Model>, RepoError> {
    Ok(submissions::Entity::find()
        .filter(submissions::Column::TeamId.eq(team_id))
        .order_by_desc(submissions::Column::Id)
        .all(db)
        .await?)
}

pub async fn list_for_competition<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
) -> Result<Vec<submissions::Model>, RepoError> {
    Ok(submissions::Entity::find()
        .filter(submissions::Column::CompetitionId.eq(competition_id))
        .order_by_asc(submissions::Column::Id)
        .all(db)
        .await?)
}

/// Sets the status; a failed or rejected submission keeps its state (final).
pub async fn set_status<C: ConnectionTrait>(
    db: &C,
    id: i64,
    status: SubmissionStatus,
) -> Result<(), RepoError> {
    submissions::Entity::update_many()
        .col_expr(submissions::Column::Status, Expr::value(status.as_str()))
        .col_expr(submissions::Column::UpdatedAtMs, Expr::value(now_ms()))
        .filter(submissions::Column::Id.eq(id))
        .filter(submissions::Column::Status.is_not_in([
            SubmissionStatus::Failed.as_str(),
            SubmissionStatus::Rejected.as_str(),
        ]))
        .exec(db)
        .await?;
    Ok(())
}

/// Fails the submission with a stable code and a message for its team.
pub async fn fail<C: ConnectionTrait>(
    db: &C,
    id: i64,
    code: &str,
    message: &str,
) -> Result<(), RepoError> {
    submissions::Entity::update_many()
        .col_expr(
            submissions::Column::Status,
            Expr::value(SubmissionStatus::Failed.as_str()),
        )
        .col_expr(submissions::Column::ErrorCode, Expr::value(code))
        .col_expr(submissions::Column::ErrorMessage, Expr::value(message))
        .col_expr(submissions::Column::UpdatedAtMs, Expr::value(now_ms()))
        .filter(submissions::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub fn status(sub: &submissions::Model) -> Result<SubmissionStatus, RepoError> {
    SubmissionStatus::parse(&sub.status)
        .ok_or_else(|| RepoError::Corrupt(format!("status {:?}", sub.status)))
}

pub fn kind(sub: &submissions::Model) -> Result<SubmissionKind, RepoError> {
    SubmissionKind::parse(&sub.kind)
        .ok_or_else(|| RepoError::Corrupt(format!("kind {:?}", sub.kind)))
}

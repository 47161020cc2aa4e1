//! The append-only event log that feeds live updates (and SSE replay).

use crate::entities::events;
use crate::error::RepoError;
use crate::time::now_ms;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

pub async fn append<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
    kind: &str,
    payload: &serde_json::Value,
) -> Result<events::Model, RepoError> {
    let model = events::ActiveModel {
        competition_id: Set(competition_id),
        kind: Set(kind.to_owned()),
        payload: Set(payload.to_string()),
        created_at_ms: Set(now_ms()),
        ..Default::default()
    };
    Ok(model.insert(db).await?)
}

/// The newest event id of every competition (0 for an empty log): where a poller starts.
pub async fn latest_id<C: ConnectionTrait>(db: &C) -> Result<i64, RepoError> {
    Ok(events::Entity::find()
        .order_by_desc(events::Column::Id)
        .one(db)
        .await?
        .map_or(0, |e| e.id))
}

/// Events of every competition with id above `after_id`, oldest first (the events poller).
pub async fn since_all<C: ConnectionTrait>(
    db: &C,
    after_id: i64,
    limit: u64,
) -> Result<Vec<events::Model>, RepoError> {
    Ok(events::Entity::find()
        .filter(events::Column::Id.gt(after_id))
        .order_by_asc(events::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Events of a competition after `after_id`, oldest first.
pub async fn since<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
    after_id: i64,
    limit: u64,
) -> Result<Vec<events::Model>, RepoError> {
    Ok(events::Entity::find()
        .filter(events::Column::CompetitionId.eq(competition_id))
        .filter(events::Column::Id.gt(after_id))
        .order_by_asc(events::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

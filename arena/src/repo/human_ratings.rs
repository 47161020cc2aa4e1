//! Human ratings of creations, imported by organizers (DFGC-2022 style).

use crate::entities::human_ratings;
use crate::error::RepoError;
use crate::time::now_ms;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

/// Axes a rating may be on: the five DFGC-2022 axes, plus `id` (the DFGC-2021 ID term).
pub const AXES: &[&str] = &[
    "realism",
    "quality",
    "expression",
    "mouth",
    "identity",
    "id",
];

/// Replaces every rating of the competition with `rows` of (submission id, axis, value).
pub async fn replace_all<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
    rows: &[(i64, String, f64)],
) -> Result<(), RepoError> {
    human_ratings::Entity::delete_many()
        .filter(human_ratings::Column::CompetitionId.eq(competition_id))
        .exec(db)
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let models = rows
        .iter()
        .map(|(sub, axis, value)| human_ratings::ActiveModel {
            competition_id: Set(competition_id),
            submission_id: Set(*sub),
            axis: Set(axis.clone()),
            value: Set(*value),
            created_at_ms: Set(now),
            ..Default::default()
        });
    human_ratings::Entity::insert_many(models)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn list<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
) -> Result<Vec<human_ratings::Model>, RepoError> {
    Ok(human_ratings::Entity::find()
        .filter(human_ratings::Column::CompetitionId.eq(competition_id))
        .all(db)
        .await?)
}

//! Competitions.

use crate::domain::{CompetitionMode, Preset, Slug};
use crate::entities::competitions;
use crate::error::RepoError;
use crate::time::now_ms;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};

pub struct NewCompetition<'a> {
    pub slug: &'a Slug,
    pub title: &'a str,
    pub mode: CompetitionMode,
    pub preset: Preset,
    /// `rules::CompetitionSettings` as JSON.
    pub settings: String,
}

#[tracing::instrument(skip_all, fields(slug = %new.slug), err)]
pub async fn create<C: ConnectionTrait>(
    db: &C,
    new: NewCompetition<'_>,
) -> Result<competitions::Model, RepoError> {
    let model = competitions::ActiveModel {
        slug: Set(new.slug.as_str().to_owned()),
        title: Set(new.title.to_owned()),
        mode: Set(new.mode.as_str().to_owned()),
        preset: Set(new.preset.as_str().to_owned()),
        settings: Set(new.settings.clone()),
        created_at_ms: Set(now_ms()),
        ..Default::default()
    };
    model.insert(db).await.map_err(|e| {
        if RepoError::is_unique_violation(&e) {
            RepoError::Conflict(format!("competition {} already exists", new.slug))
        } else {
            RepoError::Db(e)
        }
    })
}

pub async fn find_by_slug<C: ConnectionTrait>(
    db: &C,
    slug: &str,
) -> Result<Option<competitions::Model>, RepoError> {
    Ok(competitions::Entity::find()
        .filter(competitions::Column::Slug.eq(slug))
        .one(db)
        .await?)
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    id: i64,
) -> Result<Option<competitions::Model>, RepoError> {
    Ok(competitions::Entity::find_by_id(id).one(db).await?)
}

pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<competitions::Model>, RepoError> {
    Ok(competitions::Entity::find()
        .order_by_asc(competitions::Column::Id)
        .all(db)
        .await?)
}

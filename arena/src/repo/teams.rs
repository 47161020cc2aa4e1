//! Teams and their hashed tokens.

use crate::domain::{Role, TeamName};
use crate::entities::teams;
use crate::error::RepoError;
use crate::time::now_ms;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};

/// A new team; the caller hashes the token.
pub struct NewTeam<'a> {
    pub name: &'a TeamName,
    pub role: Role,
    pub token_hash: String,
    pub is_admin: bool,
    pub is_baseline: bool,
}

#[tracing::instrument(skip_all, fields(team = %new.name), err)]
pub async fn create<C: ConnectionTrait>(
    db: &C,
    new: NewTeam<'_>,
) -> Result<teams::Model, RepoError> {
    let model = teams::ActiveModel {
        name: Set(new.name.as_str().to_owned()),
        role: Set(new.role.as_str().to_owned()),
        token_hash: Set(new.token_hash),
        is_admin: Set(new.is_admin),
        is_baseline: Set(new.is_baseline),
        created_at_ms: Set(now_ms()),
        ..Default::default()
    };
    model.insert(db).await.map_err(|e| {
        if RepoError::is_unique_violation(&e) {
            RepoError::Conflict(format!("team {} already exists", new.name))
        } else {
            RepoError::Db(e)
        }
    })
}

pub async fn find<C: ConnectionTrait>(db: &C, id: i64) -> Result<Option<teams::Model>, RepoError> {
    Ok(teams::Entity::find_by_id(id).one(db).await?)
}

pub async fn find_by_name<C: ConnectionTrait>(
    db: &C,
    name: &str,
) -> Result<Option<teams::Model>, RepoError> {
    Ok(teams::Entity::find()
        .filter(teams::Column::Name.eq(name))
        .one(db)
        .await?)
}

pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<teams::Model>, RepoError> {
    Ok(teams::Entity::find()
        .order_by_asc(teams::Column::Name)
        .all(db)
        .await?)
}

/// The stored role, parsed.
pub fn role(team: &teams::Model) -> Result<Role, RepoError> {
    Role::parse(&team.role).ok_or_else(|| RepoError::Corrupt(format!("team role {:?}", team.role)))
}

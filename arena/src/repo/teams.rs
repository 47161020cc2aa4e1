//! Teams and their hashed tokens.

use crate::domain::{Role, TeamName, TeamStatus};
use crate::entities::teams;
use crate::error::RepoError;
use crate::time::now_ms;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, sea_query::Expr,
};

/// The hash stored for a team without a usable token (no argon2 hash parses as this).
pub const NO_TOKEN: &str = "!";

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
        status: Set(TeamStatus::Approved.as_str().to_owned()),
        ..Default::default()
    };
    insert(db, model, new.name).await
}

async fn insert<C: ConnectionTrait>(
    db: &C,
    model: teams::ActiveModel,
    name: &TeamName,
) -> Result<teams::Model, RepoError> {
    model.insert(db).await.map_err(|e| {
        if RepoError::is_unique_violation(&e) {
            RepoError::Conflict(format!("team {name} already exists"))
        } else {
            RepoError::Db(e)
        }
    })
}

/// A team registered through the public form: pending, with no usable token.
#[tracing::instrument(skip_all, fields(team = %name), err)]
pub async fn register<C: ConnectionTrait>(
    db: &C,
    name: &TeamName,
    role: Role,
) -> Result<teams::Model, RepoError> {
    let model = teams::ActiveModel {
        name: Set(name.as_str().to_owned()),
        role: Set(role.as_str().to_owned()),
        token_hash: Set(NO_TOKEN.to_owned()),
        is_admin: Set(false),
        is_baseline: Set(false),
        created_at_ms: Set(now_ms()),
        status: Set(TeamStatus::Pending.as_str().to_owned()),
        ..Default::default()
    };
    insert(db, model, name).await
}

/// Approves a pending team with its first token's hash; false when it was not pending.
pub async fn approve<C: ConnectionTrait>(
    db: &C,
    id: i64,
    token_hash: &str,
) -> Result<bool, RepoError> {
    let res = teams::Entity::update_many()
        .col_expr(
            teams::Column::Status,
            Expr::value(TeamStatus::Approved.as_str()),
        )
        .col_expr(teams::Column::TokenHash, Expr::value(token_hash))
        .filter(teams::Column::Id.eq(id))
        .filter(teams::Column::Status.eq(TeamStatus::Pending.as_str()))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Turns a pending team down (it keeps no token); false when it was not pending.
pub async fn reject<C: ConnectionTrait>(db: &C, id: i64) -> Result<bool, RepoError> {
    let res = teams::Entity::update_many()
        .col_expr(
            teams::Column::Status,
            Expr::value(TeamStatus::Rejected.as_str()),
        )
        .col_expr(teams::Column::TokenHash, Expr::value(NO_TOKEN))
        .filter(teams::Column::Id.eq(id))
        .filter(teams::Column::Status.eq(TeamStatus::Pending.as_str()))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Teams in one state, oldest first (the organizers' approval queue).
pub async fn list_with_status<C: ConnectionTrait>(
    db: &C,
    status: TeamStatus,
) -> Result<Vec<teams::Model>, RepoError> {
    Ok(teams::Entity::find()
        .filter(teams::Column::Status.eq(status.as_str()))
        .order_by_asc(teams::Column::Id)
        .all(db)
        .await?)
}

/// The stored state, parsed.
pub fn status(team: &teams::Model) -> Result<TeamStatus, RepoError> {
    TeamStatus::parse(&team.status)
        .ok_or_else(|| RepoError::Corrupt(format!("team status {:?}", team.status)))
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

/// Replaces a team's stored token hash ([`NO_TOKEN`] revokes it).
pub async fn set_token_hash<C: ConnectionTrait>(
    db: &C,
    id: i64,
    token_hash: &str,
) -> Result<(), RepoError> {
    teams::Entity::update_many()
        .col_expr(teams::Column::TokenHash, Expr::value(token_hash))
        .filter(teams::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

//! Decode claims: at most one live holder per content key.

use crate::entities::decode_claims;
use crate::error::RepoError;
use crate::time::now_ms;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

/// Takes the claim on `key` for `holder` until `now + lease_ms`, unless another holder's claim is
/// still live. True when `holder` now holds it.
pub async fn try_claim<C: ConnectionTrait>(
    db: &C,
    key: &str,
    holder: &str,
    lease_ms: i64,
) -> Result<bool, RepoError> {
    let now = now_ms();
    let model = decode_claims::ActiveModel {
        content_key: Set(key.to_owned()),
        holder: Set(holder.to_owned()),
        expires_at_ms: Set(now + lease_ms),
    };
    // Insert, or take over an expired claim; a live foreign claim is left alone.
    let res = decode_claims::Entity::insert(model)
        .on_conflict(
            OnConflict::column(decode_claims::Column::ContentKey)
                .update_columns([
                    decode_claims::Column::Holder,
                    decode_claims::Column::ExpiresAtMs,
                ])
                .action_and_where(
                    Expr::col((decode_claims::Entity, decode_claims::Column::ExpiresAtMs)).lt(now),
                )
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    if res == 1 {
        return Ok(true);
    }
    let row = decode_claims::Entity::find_by_id(key.to_owned())
        .one(db)
        .await?;
    Ok(row.is_some_and(|r| r.holder == holder))
}

/// Releases `holder`'s claim on `key`.
pub async fn release<C: ConnectionTrait>(db: &C, key: &str, holder: &str) -> Result<(), RepoError> {
    decode_claims::Entity::delete_many()
        .filter(decode_claims::Column::ContentKey.eq(key))
        .filter(decode_claims::Column::Holder.eq(holder))
        .exec(db)
        .await?;
    Ok(())
}

/// Extends `holder`'s live claim on `key` (the holder heartbeats while it decodes, so a claim
/// outlives its holder by at most one lease).
pub async fn renew<C: ConnectionTrait>(
    db: &C,
    key: &str,
    holder: &str,
    lease_ms: i64,
) -> Result<bool, RepoError> {
    let res = decode_claims::Entity::update_many()
        .col_expr(
            decode_claims::Column::ExpiresAtMs,
            Expr::value(now_ms() + lease_ms),
        )
        .filter(decode_claims::Column::ContentKey.eq(key))
        .filter(decode_claims::Column::Holder.eq(holder))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

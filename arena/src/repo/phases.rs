//! Phases of a rounds competition.

use crate::entities::phases;
use crate::error::RepoError;
use crate::rules::{Phase, PhaseKind};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, sea_query::Expr,
};

pub async fn create<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
    kind: PhaseKind,
    round: i32,
    window: (i64, i64),
) -> Result<phases::Model, RepoError> {
    let model = phases::ActiveModel {
        competition_id: Set(competition_id),
        kind: Set(kind.as_str().to_owned()),
        round: Set(round),
        opens_at_ms: Set(window.0),
        closes_at_ms: Set(window.1),
        close_processed: Set(false),
        ..Default::default()
    };
    model.insert(db).await.map_err(|e| {
        if RepoError::is_unique_violation(&e) {
            RepoError::Conflict(format!("phase {}{round} already exists", kind.letter()))
        } else {
            RepoError::Db(e)
        }
    })
}

pub async fn list<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
) -> Result<Vec<phases::Model>, RepoError> {
    Ok(phases::Entity::find()
        .filter(phases::Column::CompetitionId.eq(competition_id))
        .order_by_asc(phases::Column::OpensAtMs)
        .order_by_asc(phases::Column::Id)
        .all(db)
        .await?)
}

pub async fn find<C: ConnectionTrait>(db: &C, id: i64) -> Result<Option<phases::Model>, RepoError> {
    Ok(phases::Entity::find_by_id(id).one(db).await?)
}

/// The rules' view of the stored phases.
pub fn to_rules(rows: &[phases::Model]) -> Result<Vec<Phase>, RepoError> {
    rows.iter()
        .map(|p| {
            Ok(Phase {
                id: p.id,
                kind: PhaseKind::parse(&p.kind)
                    .ok_or_else(|| RepoError::Corrupt(format!("phase kind {:?}", p.kind)))?,
                round: p.round,
                opens_at_ms: p.opens_at_ms,
                closes_at_ms: p.closes_at_ms,
            })
        })
        .collect()
}

pub async fn set_window<C: ConnectionTrait>(
    db: &C,
    id: i64,
    opens_at_ms: i64,
    closes_at_ms: i64,
) -> Result<(), RepoError> {
    phases::Entity::update_many()
        .col_expr(phases::Column::OpensAtMs, Expr::value(opens_at_ms))
        .col_expr(phases::Column::ClosesAtMs, Expr::value(closes_at_ms))
        .filter(phases::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Marks a closed phase as processed; true for the one caller that did it (idempotent).
pub async fn claim_close<C: ConnectionTrait>(db: &C, id: i64) -> Result<bool, RepoError> {
    let res = phases::Entity::update_many()
        .col_expr(phases::Column::CloseProcessed, Expr::value(true))
        .filter(phases::Column::Id.eq(id))
        .filter(phases::Column::CloseProcessed.eq(false))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Closed phases whose close has not been processed yet.
pub async fn due_closes<C: ConnectionTrait>(
    db: &C,
    now_ms: i64,
) -> Result<Vec<phases::Model>, RepoError> {
    Ok(phases::Entity::find()
        .filter(phases::Column::CloseProcessed.eq(false))
        .filter(phases::Column::ClosesAtMs.lte(now_ms))
        .order_by_asc(phases::Column::ClosesAtMs)
        .all(db)
        .await?)
}

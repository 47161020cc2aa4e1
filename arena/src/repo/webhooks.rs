//! Team webhooks and the deliveries owed to them. A delivery is recorded by the write that makes
//! a submission `finished` or `failed` (same connection, so the same transaction when there is
//! one); the sender (`arena_web::webhooks`) claims due rows, POSTs them and records the outcome.

use crate::entities::{competitions, submissions, team_webhooks, teams, webhook_deliveries};
use crate::error::RepoError;
use crate::time::now_ms;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, Query},
};

pub const SUBMISSION_FINISHED: &str = "submission.finished";
pub const SUBMISSION_FAILED: &str = "submission.failed";

pub async fn find<C: ConnectionTrait>(
    db: &C,
    team_id: i64,
) -> Result<Option<team_webhooks::Model>, RepoError> {
    Ok(team_webhooks::Entity::find_by_id(team_id).one(db).await?)
}

/// Sets (or replaces) a team's webhook.
pub async fn set<C: ConnectionTrait>(
    db: &C,
    team_id: i64,
    url: &str,
    secret: &str,
) -> Result<team_webhooks::Model, RepoError> {
    team_webhooks::Entity::delete_by_id(team_id)
        .exec(db)
        .await?;
    let model = team_webhooks::ActiveModel {
        team_id: Set(team_id),
        url: Set(url.to_owned()),
        secret: Set(secret.to_owned()),
        updated_at_ms: Set(now_ms()),
    };
    Ok(model.insert(db).await?)
}

/// Removes a team's webhook and the deliveries still owed to it. False when it had none.
pub async fn remove<C: ConnectionTrait>(db: &C, team_id: i64) -> Result<bool, RepoError> {
    let res = team_webhooks::Entity::delete_by_id(team_id)
        .exec(db)
        .await?;
    webhook_deliveries::Entity::delete_many()
        .filter(webhook_deliveries::Column::TeamId.eq(team_id))
        .filter(webhook_deliveries::Column::NextAtMs.is_not_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

/// Records a delivery of `event` for the submission's team when the team has a webhook.
pub async fn enqueue<C: ConnectionTrait>(
    db: &C,
    submission_id: i64,
    event: &str,
    status: &str,
) -> Result<Option<webhook_deliveries::Model>, RepoError> {
    // Whether the submission's team has a webhook, in one statement: most teams have none, and
    // every submission that finishes asks (until 2026-12-06 the submission was read first).
    let owner = Query::select()
        .column(submissions::Column::TeamId)
        .from(submissions::Entity)
        .and_where(submissions::Column::Id.eq(submission_id))
        .to_owned();
    let hook = team_webhooks::Entity::find()
        .filter(team_webhooks::Column::TeamId.in_subquery(owner))
        .one(db)
        .await?;
    if hook.is_none() {
        return Ok(None);
    }
    let Some(sub) = submissions::Entity::find_by_id(submission_id)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let team = teams::Entity::find_by_id(sub.team_id).one(db).await?;
    let comp = competitions::Entity::find_by_id(sub.competition_id)
        .one(db)
        .await?;
    let now = now_ms();
    let payload = serde_json::json!({
        "event": event,
        "submission": sub.id,
        "competition": comp.map(|c| c.slug),
        "team": team.map(|t| t.name),
        "status": status,
        "at_ms": now,
    });
    let model = webhook_deliveries::ActiveModel {
        team_id: Set(sub.team_id),
        submission_id: Set(sub.id),
        event: Set(event.to_owned()),
        payload: Set(payload.to_string()),
        attempts: Set(0),
        next_at_ms: Set(Some(now)),
        last_status: Set(None),
        last_error: Set(None),
        delivered_at_ms: Set(None),
        gave_up_at_ms: Set(None),
        created_at_ms: Set(now),
        ..Default::default()
    };
    Ok(Some(model.insert(db).await?))
}

/// Deliveries due at `now`, oldest due first.
pub async fn due<C: ConnectionTrait>(
    db: &C,
    now: i64,
    limit: u64,
) -> Result<Vec<webhook_deliveries::Model>, RepoError> {
    Ok(webhook_deliveries::Entity::find()
        .filter(webhook_deliveries::Column::NextAtMs.lte(now))
        .order_by_asc(webhook_deliveries::Column::NextAtMs)
        .limit(limit)
        .all(db)
        .await?)
}

/// Takes a due delivery for one attempt: moves its due time to `until` (a lease: a sender that
/// dies mid-attempt leaves it due again then) only when nobody else moved it since `seen`.
pub async fn claim<C: ConnectionTrait>(
    db: &C,
    id: i64,
    seen: i64,
    until: i64,
) -> Result<bool, RepoError> {
    let res = webhook_deliveries::Entity::update_many()
        .col_expr(webhook_deliveries::Column::NextAtMs, Expr::value(until))
        .filter(webhook_deliveries::Column::Id.eq(id))
        .filter(webhook_deliveries::Column::NextAtMs.eq(seen))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// The outcome of one attempt: delivered (`next = None`, `delivered`), to be retried at `next`,
/// or given up (`next = None`, not delivered).
pub struct Attempt<'a> {
    pub attempts: i32,
    pub status: Option<i32>,
    pub error: Option<&'a str>,
    pub delivered: bool,
    pub next: Option<i64>,
}

pub async fn record<C: ConnectionTrait>(db: &C, id: i64, a: Attempt<'_>) -> Result<(), RepoError> {
    let now = now_ms();
    let done = a.next.is_none();
    webhook_deliveries::Entity::update_many()
        .col_expr(
            webhook_deliveries::Column::Attempts,
            Expr::value(a.attempts),
        )
        .col_expr(webhook_deliveries::Column::NextAtMs, Expr::value(a.next))
        .col_expr(
            webhook_deliveries::Column::LastStatus,
            Expr::value(a.status),
        )
        .col_expr(
            webhook_deliveries::Column::LastError,
            Expr::value(a.error.map(str::to_owned)),
        )
        .col_expr(
            webhook_deliveries::Column::DeliveredAtMs,
            Expr::value(a.delivered.then_some(now)),
        )
        .col_expr(
            webhook_deliveries::Column::GaveUpAtMs,
            Expr::value((done && !a.delivered).then_some(now)),
        )
        .filter(webhook_deliveries::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// A team's most recent deliveries, newest first.
pub async fn recent_for_team<C: ConnectionTrait>(
    db: &C,
    team_id: i64,
    limit: u64,
) -> Result<Vec<webhook_deliveries::Model>, RepoError> {
    Ok(webhook_deliveries::Entity::find()
        .filter(webhook_deliveries::Column::TeamId.eq(team_id))
        .order_by_desc(webhook_deliveries::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Drops a deleted team's webhook and every delivery of it.
pub async fn delete_for_team<C: ConnectionTrait>(db: &C, team_id: i64) -> Result<(), RepoError> {
    team_webhooks::Entity::delete_by_id(team_id)
        .exec(db)
        .await?;
    webhook_deliveries::Entity::delete_many()
        .filter(webhook_deliveries::Column::TeamId.eq(team_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Drops every delivery about these (deleted) submissions.
pub async fn delete_for_submissions<C: ConnectionTrait>(
    db: &C,
    submission_ids: &[i64],
) -> Result<(), RepoError> {
    webhook_deliveries::Entity::delete_many()
        .filter(webhook_deliveries::Column::SubmissionId.is_in(submission_ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

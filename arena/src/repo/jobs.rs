//! Jobs seen from their submission: the list its page shows, and the organizers' rerun and
//! cancel. Claims, heartbeats and completion live in [`crate::queue`].

use crate::entities::jobs;
use crate::error::RepoError;
use crate::queue::JobState;
use crate::time::now_ms;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};

/// A submission's jobs, oldest first.
pub async fn list_for_submission<C: ConnectionTrait>(
    db: &C,
    submission_id: i64,
) -> Result<Vec<jobs::Model>, RepoError> {
    Ok(jobs::Entity::find()
        .filter(jobs::Column::SubmissionId.eq(submission_id))
        .order_by_asc(jobs::Column::Id)
        .all(db)
        .await?)
}

/// Puts a submission's failed (dead) jobs back in the queue with their attempts reset;
/// returns how many.
pub async fn requeue_failed_for_submission<C: ConnectionTrait>(
    db: &C,
    submission_id: i64,
) -> Result<u64, RepoError> {
    let now = now_ms();
    let res = jobs::Entity::update_many()
        .col_expr(jobs::Column::State, Expr::value(JobState::Queued.as_str()))
        .col_expr(jobs::Column::Attempts, Expr::value(0))
        .col_expr(jobs::Column::LastError, Expr::value(Option::<String>::None))
        .col_expr(jobs::Column::LockedBy, Expr::value(Option::<String>::None))
        .col_expr(
            jobs::Column::LeaseExpiresAtMs,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(jobs::Column::RunAfterMs, Expr::value(now))
        .col_expr(jobs::Column::UpdatedAtMs, Expr::value(now))
        .filter(jobs::Column::SubmissionId.eq(submission_id))
        .filter(jobs::Column::State.eq(JobState::Failed.as_str()))
        .exec(db)
        .await?;
    if res.rows_affected > 0 {
        crate::queue::notify_workers(db).await?;
    }
    Ok(res.rows_affected)
}

/// Takes a submission's queued jobs out of the queue (failed, with `reason`); a running one
/// finishes but its results no longer count. Returns how many.
pub async fn cancel_queued_for_submission<C: ConnectionTrait>(
    db: &C,
    submission_id: i64,
    reason: &str,
) -> Result<u64, RepoError> {
    let res = jobs::Entity::update_many()
        .col_expr(jobs::Column::State, Expr::value(JobState::Failed.as_str()))
        .col_expr(jobs::Column::LastError, Expr::value(reason))
        .col_expr(jobs::Column::UpdatedAtMs, Expr::value(now_ms()))
        .filter(jobs::Column::SubmissionId.eq(submission_id))
        .filter(jobs::Column::State.eq(JobState::Queued.as_str()))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Dead jobs (failed for good) across every competition, most recent first, at most `limit`:
/// the admin fleet view lists them with their last error and a rerun button.
pub async fn list_dead<C: ConnectionTrait>(
    db: &C,
    limit: u64,
) -> Result<Vec<jobs::Model>, RepoError> {
    Ok(jobs::Entity::find()
        .filter(jobs::Column::State.eq(JobState::Failed.as_str()))
        .order_by_desc(jobs::Column::UpdatedAtMs)
        .order_by_desc(jobs::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

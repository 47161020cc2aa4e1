//! Worker slots' heartbeats: each slot upserts its row while it runs (idle or on a job), so any
//! `serve` replica can show the fleet and export its liveness. A slot that dies stops beating;
//! its row goes stale and its job is reclaimed by the queue once the job's lease expires.

use crate::entities::{jobs, worker_slots};
use crate::error::RepoError;
use crate::time::now_ms;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

/// Rows whose last heartbeat is older than this are deleted when a slot starts, so restarts
/// over weeks do not grow the table.
pub const FORGET_AFTER_MS: i64 = 24 * 3600 * 1000;

/// What a slot reports on each beat.
#[derive(Debug, Clone, Copy)]
pub struct Beat<'a> {
    pub worker_id: &'a str,
    pub label: &'a str,
    /// The job it is running, if any.
    pub current_job_id: Option<i64>,
    /// It just finished a job (counted in `jobs_done`).
    pub finished_job: bool,
}

/// Records a heartbeat: inserts the slot's row the first time, then updates it.
pub async fn beat<C: ConnectionTrait>(db: &C, beat: Beat<'_>) -> Result<(), RepoError> {
    let now = now_ms();
    let done = i64::from(beat.finished_job);
    let model = worker_slots::ActiveModel {
        worker_id: Set(beat.worker_id.to_owned()),
        label: Set(beat.label.to_owned()),
        started_at_ms: Set(now),
        heartbeat_at_ms: Set(now),
        current_job_id: Set(beat.current_job_id),
        jobs_done: Set(done),
        stopped_at_ms: Set(None),
    };
    worker_slots::Entity::insert(model)
        .on_conflict(
            OnConflict::column(worker_slots::Column::WorkerId)
                .value(worker_slots::Column::HeartbeatAtMs, Expr::value(now))
                .value(
                    worker_slots::Column::CurrentJobId,
                    Expr::value(beat.current_job_id),
                )
                .value(
                    worker_slots::Column::JobsDone,
                    Expr::col((worker_slots::Entity, worker_slots::Column::JobsDone)).add(done),
                )
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Marks a slot stopped (a clean shutdown, as opposed to a slot that died).
pub async fn stopped<C: ConnectionTrait>(db: &C, worker_id: &str) -> Result<(), RepoError> {
    let now = now_ms();
    worker_slots::Entity::update_many()
        .col_expr(worker_slots::Column::StoppedAtMs, Expr::value(now))
        .col_expr(worker_slots::Column::HeartbeatAtMs, Expr::value(now))
        .col_expr(
            worker_slots::Column::CurrentJobId,
            Expr::value(Option::<i64>::None),
        )
        .filter(worker_slots::Column::WorkerId.eq(worker_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes rows not heard of for [`FORGET_AFTER_MS`]; returns how many.
pub async fn forget_old<C: ConnectionTrait>(db: &C) -> Result<u64, RepoError> {
    let res = worker_slots::Entity::delete_many()
        .filter(worker_slots::Column::HeartbeatAtMs.lt(now_ms() - FORGET_AFTER_MS))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// A slot as the fleet view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotView {
    pub slot: worker_slots::Model,
    /// Milliseconds since its last heartbeat.
    pub heartbeat_age_ms: i64,
    pub state: SlotState,
    /// Its current job's kind and state, and who holds that job now (when not this slot, the
    /// job was reclaimed by another worker after this one died).
    pub job: Option<SlotJob>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlotJob {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub attempts: i32,
    pub submission_id: Option<i64>,
    /// The job's current holder's worker id, when another slot holds it now.
    pub reclaimed_by: Option<String>,
}

/// Alive: beat within the stale window; stopped: shut down cleanly; lost: stopped beating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    Alive,
    Stopped,
    Lost,
}

impl SlotState {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotState::Alive => "alive",
            SlotState::Stopped => "stopped",
            SlotState::Lost => "lost",
        }
    }
}

/// Slots alive now (beat within `stale_ms`, not stopped), on every worker of the database.
pub async fn alive_count<C: ConnectionTrait>(db: &C, stale_ms: i64) -> Result<u64, RepoError> {
    use sea_orm::PaginatorTrait;
    Ok(worker_slots::Entity::find()
        .filter(worker_slots::Column::StoppedAtMs.is_null())
        .filter(worker_slots::Column::HeartbeatAtMs.gte(now_ms() - stale_ms))
        .count(db)
        .await?)
}

/// The most recently heard-of slots (at most `limit`), newest heartbeat first; a slot is
/// alive while its last beat is younger than `stale_ms`.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    stale_ms: i64,
    limit: u64,
) -> Result<Vec<SlotView>, RepoError> {
    let now = now_ms();
    let slots = worker_slots::Entity::find()
        .order_by_desc(worker_slots::Column::HeartbeatAtMs)
        .limit(limit)
        .all(db)
        .await?;
    let job_ids: Vec<i64> = slots.iter().filter_map(|s| s.current_job_id).collect();
    let jobs = if job_ids.is_empty() {
        Vec::new()
    } else {
        jobs::Entity::find()
            .filter(jobs::Column::Id.is_in(job_ids))
            .all(db)
            .await?
    };
    Ok(slots
        .into_iter()
        .map(|slot| {
            let age = Ord::max(now - slot.heartbeat_at_ms, 0);
            let state = if slot.stopped_at_ms.is_some() {
                SlotState::Stopped
            } else if age <= stale_ms {
                SlotState::Alive
            } else {
                SlotState::Lost
            };
            let job = slot
                .current_job_id
                .and_then(|id| jobs.iter().find(|j| j.id == id))
                .map(|j| SlotJob {
                    id: j.id,
                    kind: j.kind.clone(),
                    state: j.state.clone(),
                    attempts: j.attempts,
                    submission_id: j.submission_id,
                    reclaimed_by: j
                        .locked_by
                        .clone()
                        .filter(|holder| holder != &slot.worker_id),
                });
            SlotView {
                heartbeat_age_ms: age,
                state,
                job,
                slot,
            }
        })
        .collect())
}

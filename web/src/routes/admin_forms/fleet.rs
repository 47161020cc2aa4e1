//! The fleet part of `/admin`: worker slots with their last heartbeat and current job (a lost
//! slot's job shows who reclaimed it), the queue depth by kind, and dead jobs with their last
//! error and a rerun button (the rerun form of their submission).

use crate::context::AppContext;
use crate::error::ApiError;
use crate::views;
use arena::repo;
use arena::repo::worker_slots::SlotState;
use std::collections::BTreeMap;

/// Slots and dead jobs listed.
const MAX_SLOTS: u64 = 200;
const MAX_DEAD_JOBS: u64 = 50;
/// Longest last error shown in the table (the submission page has the whole log).
const MAX_ERROR_CHARS: usize = 300;

pub struct SlotRow {
    pub label: String,
    pub worker_id: String,
    pub state: &'static str,
    pub heartbeat: String,
    pub heartbeat_age_s: String,
    pub started: String,
    pub jobs_done: i64,
    /// `#12 score (running, attempt 2)` or empty.
    pub job: String,
    pub job_id: Option<i64>,
    /// When the slot is lost and another worker now holds its job.
    pub reclaimed_by: Option<String>,
}

pub struct DepthRow {
    pub kind: String,
    pub queued: i64,
    pub running: i64,
    pub done: i64,
    pub failed: i64,
}

pub struct DeadJobRow {
    pub id: i64,
    pub kind: String,
    pub submission_id: Option<i64>,
    pub attempts: i32,
    pub failed: String,
    pub last_error: String,
}

pub struct Fleet {
    pub slots: Vec<SlotRow>,
    pub alive: usize,
    pub depth: Vec<DepthRow>,
    pub dead_jobs: Vec<DeadJobRow>,
}

pub async fn load(ctx: &AppContext) -> Result<Fleet, ApiError> {
    let stale_ms = ctx.settings().queue.slot_stale_ms();
    let views_ = repo::worker_slots::list(ctx.db(), stale_ms, MAX_SLOTS).await?;
    let alive = views_
        .iter()
        .filter(|s| s.state == SlotState::Alive)
        .count();
    let slots = views_
        .into_iter()
        .map(|v| {
            let job = v.job.as_ref().map_or_else(String::new, |j| {
                format!("#{} {} ({}, attempt {})", j.id, j.kind, j.state, j.attempts)
            });
            SlotRow {
                label: v.slot.label.clone(),
                state: v.state.as_str(),
                heartbeat: views::time_s(v.slot.heartbeat_at_ms),
                heartbeat_age_s: format!("{:.1}", v.heartbeat_age_ms as f64 / 1000.0),
                started: views::time(v.slot.started_at_ms),
                jobs_done: v.slot.jobs_done,
                job_id: v.job.as_ref().map(|j| j.id),
                reclaimed_by: v
                    .job
                    .and_then(|j| j.reclaimed_by)
                    .map(|w| arena_worker::fleet::worker_label(&w)),
                job,
                worker_id: v.slot.worker_id,
            }
        })
        .collect();
    Ok(Fleet {
        slots,
        alive,
        depth: depth(ctx).await?,
        dead_jobs: dead_jobs(ctx).await?,
    })
}

async fn depth(ctx: &AppContext) -> Result<Vec<DepthRow>, ApiError> {
    let mut by_kind: BTreeMap<String, DepthRow> = BTreeMap::new();
    let counts = ctx
        .queue()
        .depth_by_kind()
        .await
        .map_err(ApiError::internal)?;
    for (kind, state, n) in counts {
        let row = by_kind.entry(kind.clone()).or_insert_with(|| DepthRow {
            kind,
            queued: 0,
            running: 0,
            done: 0,
            failed: 0,
        });
        match state.as_str() {
            "queued" => row.queued = n,
            "running" => row.running = n,
            "done" => row.done = n,
            "failed" => row.failed = n,
            _ => {}
        }
    }
    Ok(by_kind.into_values().collect())
}

async fn dead_jobs(ctx: &AppContext) -> Result<Vec<DeadJobRow>, ApiError> {
    Ok(repo::jobs::list_dead(ctx.db(), MAX_DEAD_JOBS)
        .await?
        .into_iter()
        .map(|j| DeadJobRow {
            id: j.id,
            kind: j.kind,
            submission_id: j.submission_id,
            attempts: j.attempts,
            failed: views::time(j.updated_at_ms),
            last_error: j
                .last_error
                .unwrap_or_default()
                .chars()
                .take(MAX_ERROR_CHARS)
                .collect(),
        })
        .collect())
}

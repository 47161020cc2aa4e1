//! A worker slot's loop: claim a job, run it while heartbeating its lease, then complete or fail
//! it. A job that runs out of attempts fails its submission with the last error.

use crate::pipeline::{self, JobError, SessionCache, WorkerContext};
use crate::sandbox;
use arena::evaluation;
use arena::queue::{ClaimedJob, FailOutcome, JobPayload, QueueError};
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument;

/// Runs one worker slot until `shutdown` turns true; a running job is finished first.
pub async fn run_slot(ctx: WorkerContext, worker_id: String, mut shutdown: watch::Receiver<bool>) {
    let mut cache = SessionCache::default();
    let poll = Duration::from_millis(ctx.settings.queue.poll_ms);
    tracing::info!(worker = %worker_id, "worker slot started");
    while !*shutdown.borrow() {
        let jobs = match ctx.queue.claim(&worker_id, 1).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "claim failed; retrying");
                Vec::new()
            }
        };
        if jobs.is_empty() {
            reap(&ctx).await;
            if let Err(e) = evaluation::process_due_phase_closes(&ctx.db, ctx.policy()).await {
                tracing::warn!(error = %e, "phase close processing failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = ctx.wakeup.notified() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        for job in jobs {
            let span = tracing::info_span!(
                "job",
                job_id = job.id,
                kind = job.payload.kind(),
                submission_id = job.submission_id,
                attempt = job.attempt
            );
            run_job(&ctx, &mut cache, &worker_id, job)
                .instrument(span)
                .await;
        }
    }
    tracing::info!(worker = %worker_id, "worker slot stopped");
}

async fn run_job(ctx: &WorkerContext, cache: &mut SessionCache, worker_id: &str, job: ClaimedJob) {
    let beat = Duration::from_millis(ctx.settings.queue.heartbeat_ms);
    let work = execute(ctx, cache, &job.payload);
    tokio::pin!(work);
    let result = loop {
        tokio::select! {
            r = &mut work => break r,
            _ = tokio::time::sleep(beat) => {
                match ctx.queue.heartbeat(job.id, worker_id).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!("lease lost while running"),
                    Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
                }
            }
        }
    };
    match result {
        Ok(()) => match ctx.queue.complete(job.id, worker_id).await {
            Ok(()) => tracing::info!("job done"),
            Err(QueueError::LeaseLost(_)) => {
                tracing::warn!("lease lost; another worker owns the job")
            }
            Err(e) => tracing::error!(error = %e, "could not complete job"),
        },
        Err(err) => fail_job(ctx, worker_id, &job, err).await,
    }
}

async fn fail_job(ctx: &WorkerContext, worker_id: &str, job: &ClaimedJob, err: JobError) {
    tracing::warn!(code = err.code, error = %err.message, permanent = err.permanent, "job failed");
    match ctx
        .queue
        .fail(job.id, worker_id, &err.to_string(), err.permanent)
        .await
    {
        Ok(FailOutcome::Retried) => {}
        Ok(FailOutcome::Dead) => {
            // Our failures refund the team; an upload that kept blowing its child's limits does not.
            let refund = !err.permanent && !sandbox::blames_upload(err.code);
            if let Err(e) = on_dead(ctx, &job.payload, &err.to_string(), refund).await {
                tracing::error!(error = %e, "could not record the dead job");
            }
        }
        Err(e) => tracing::error!(error = %e, "could not record the failure"),
    }
}

async fn execute(
    ctx: &WorkerContext,
    cache: &mut SessionCache,
    payload: &JobPayload,
) -> Result<(), JobError> {
    match payload {
        JobPayload::PrepareVideo { video_id } => {
            pipeline::prepare_video(ctx, cache, *video_id).await
        }
        JobPayload::ActivateDetector { detector_id } => {
            evaluation::on_detector_accepted(&ctx.db, *detector_id, ctx.policy()).await?;
            Ok(())
        }
        JobPayload::Score {
            detector_id,
            video_ids,
        } => pipeline::score(ctx, cache, *detector_id, video_ids).await,
        JobPayload::Noop { .. } => Ok(()),
    }
}

/// A job out of attempts: record what it means for the game; `refund` when our side failed
/// (the team's quota gets the submission back).
async fn on_dead(
    ctx: &WorkerContext,
    payload: &JobPayload,
    reason: &str,
    refund: bool,
) -> Result<(), evaluation::EvaluationError> {
    match payload {
        JobPayload::PrepareVideo { video_id } => {
            evaluation::on_video_failed(&ctx.db, *video_id, reason, refund).await
        }
        JobPayload::ActivateDetector { detector_id } => {
            if let Some(det) = arena::repo::detectors::find(&ctx.db, *detector_id).await? {
                arena::repo::submissions::fail(
                    &ctx.db,
                    det.submission_id,
                    "evaluation_failed",
                    reason,
                )
                .await?;
            }
            Ok(())
        }
        JobPayload::Score {
            detector_id,
            video_ids,
        } => evaluation::on_score_job_dead(&ctx.db, *detector_id, video_ids, reason, refund).await,
        JobPayload::Noop { .. } => Ok(()),
    }
}

/// Fails for good the jobs whose workers died on their last attempt.
async fn reap(ctx: &WorkerContext) {
    match ctx.queue.reap().await {
        Ok(dead) => {
            for job in dead {
                tracing::warn!(job_id = job.id, "job lost its worker on its last attempt");
                if let Ok(payload) = serde_json::from_str::<JobPayload>(&job.payload) {
                    let reason = job.last_error.unwrap_or_default();
                    if let Err(e) = on_dead(ctx, &payload, &reason, true).await {
                        tracing::error!(error = %e, "could not record the dead job");
                    }
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "reaper failed"),
    }
}

//! A worker slot's loop: claim a job, run it while heartbeating its lease, then complete or fail
//! it. A job that runs out of attempts fails its submission with the last error.

use crate::fleet::worker_label;
use crate::pipeline::{self, JobError, SessionCache, WorkerContext};
use crate::sandbox;
use arena::evaluation;
use arena::queue::{ClaimedJob, FailOutcome, JobPayload};
use arena::repo::job_logs::{self, Level, NewJobLog};
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument;

/// Runs one worker slot until `shutdown` turns true; a running job is finished first.
pub async fn run_slot(ctx: WorkerContext, worker_id: String, mut shutdown: watch::Receiver<bool>) {
    let mut cache = SessionCache::default();
    let poll = Duration::from_millis(ctx.settings.queue.poll_ms);
    let mut slot = crate::fleet::SlotReporter::new(&worker_id, ctx.settings.queue.heartbeat_ms);
    slot.started(&ctx.db).await;
    tracing::info!(worker = %worker_id, "worker slot started");
    pipeline::warm_up(&ctx, &mut cache).await;
    // Before the first claim: what a dead predecessor on this machine held comes back now.
    let mut swept = reclaim_dead(&ctx).await;
    while !*shutdown.borrow() {
        // Registered before the claim: a job enqueued while this slot looks and tidies up wakes
        // it, instead of waiting for the next poll.
        let wake = ctx.wakeup.notified();
        tokio::pin!(wake);
        let jobs = match ctx.queue.claim(&worker_id, 1).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "claim failed; retrying");
                Vec::new()
            }
        };
        if jobs.is_empty() {
            slot.idle(&ctx.db).await;
            if swept.elapsed() >= RECLAIM_EVERY {
                swept = reclaim_dead(&ctx).await;
                cache.forget_withdrawn(&ctx.db).await;
            }
            reap(&ctx).await;
            if let Err(e) = evaluation::process_due_phase_closes(&ctx.db, ctx.policy()).await {
                tracing::warn!(error = %e, "phase close processing failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = &mut wake => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        for job in jobs {
            let batch = claim_batch(&ctx, &worker_id, &job).await;
            let span = tracing::info_span!(
                "job",
                job_id = job.id,
                kind = job.payload.kind(),
                submission_id = job.submission_id,
                attempt = job.attempt,
                batched = batch.len()
            );
            let (id, kind) = (job.id, job.payload.kind());
            let work = run_job(&ctx, &mut cache, &worker_id, job, batch).instrument(span);
            slot.run(&ctx.db, id, kind, work).await;
            // The job may have queued more (a prepared video's scores): idle sibling slots of
            // this process take them now rather than at their next poll.
            ctx.wakeup.ping();
        }
    }
    slot.stopped(&ctx.db).await;
    tracing::info!(worker = %worker_id, "worker slot stopped");
}

/// How often an idle slot looks for leases held by dead processes of this machine (another
/// `arena worker` on it that was killed).
const RECLAIM_EVERY: Duration = Duration::from_secs(2);

/// Takes back at once the job leases and decode claims of dead processes on this machine;
/// returns when it looked.
async fn reclaim_dead(ctx: &WorkerContext) -> std::time::Instant {
    let me = arena::incarnation::Incarnation::current();
    match arena::incarnation::reclaim_dead(&ctx.db, me).await {
        Ok(r) if r.jobs + r.decode_claims > 0 => tracing::info!(
            jobs = r.jobs,
            decode_claims = r.decode_claims,
            "took back the leases of a dead worker process on this machine"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not look for dead workers' leases"),
    }
    std::time::Instant::now()
}

/// Writes one line of the job's log (for its submission's page); never fails the job.
async fn log_line(ctx: &WorkerContext, job: &ClaimedJob, worker_id: &str, level: Level, msg: &str) {
    log_lines(ctx, worker_id, &[job], level, |_| msg).await;
}

/// The queued score jobs of the same detector as `job`, claimed to run with it as one: one
/// child request, one board refresh and one event for all their videos instead of one each (a
/// detector gets one job per pair). The batch holds its share of the detector's queued videos
/// (an even split between the live slots, rounded up, so idle slots take the rest instead of
/// waiting for one slot to score them all), at most `score_batch_videos`: one claim of as many
/// jobs as videos are missing (one statement with one-video jobs), repeated while the claimed
/// jobs hold fewer (a job queued by an older version may hold several videos and take the batch
/// past the cap).
async fn claim_batch(ctx: &WorkerContext, worker_id: &str, job: &ClaimedJob) -> Vec<ClaimedJob> {
    let JobPayload::Score { video_ids, .. } = &job.payload else {
        return Vec::new();
    };
    let cap = batch_share(ctx, job, video_ids.len()).await;
    let mut videos = video_ids.len();
    let mut batch = Vec::new();
    while videos < cap {
        let missing = u64::try_from(cap - videos).unwrap_or(1);
        match ctx.queue.claim_batch_of(worker_id, job, missing).await {
            Ok(mut more) if !more.is_empty() => {
                for j in &more {
                    if let JobPayload::Score { video_ids, .. } = &j.payload {
                        videos += video_ids.len();
                    }
                }
                batch.append(&mut more);
            }
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim the detector's other score jobs");
                break;
            }
        }
    }
    batch
}

/// How many videos the batch of `job` (holding `own` videos) may reach: the detector's queued
/// jobs (one video each) and `own`, split evenly between the live slots, within
/// `score_batch_videos`. On a database error, `score_batch_videos` (the batch is an
/// optimisation, never a reason to fail).
async fn batch_share(ctx: &WorkerContext, job: &ClaimedJob, own: usize) -> usize {
    let most = ctx.settings.evaluation.score_batch_videos.max(1);
    let queued = ctx.queue.claimable_batch_of(job).await;
    let stale = ctx.settings.queue.slot_stale_ms();
    let slots = arena::repo::worker_slots::alive_count(&ctx.db, stale).await;
    match (queued, slots) {
        (Ok(queued), Ok(slots)) => {
            let all = own + usize::try_from(queued).unwrap_or(usize::MAX / 2);
            let slots = usize::try_from(slots).unwrap_or(1).max(1);
            all.div_ceil(slots).clamp(1, most)
        }
        (Err(e), _) => {
            tracing::warn!(error = %e, "could not count the detector's queued score jobs");
            most
        }
        (_, Err(e)) => {
            tracing::warn!(error = %e, "could not count the live worker slots");
            most
        }
    }
}

/// The work of `job` and the jobs batched with it (score jobs of one detector): one score job
/// over all their videos.
fn batched_payload(job: &ClaimedJob, batch: &[ClaimedJob]) -> JobPayload {
    let JobPayload::Score {
        detector_id,
        video_ids,
    } = &job.payload
    else {
        return job.payload.clone();
    };
    let mut all = video_ids.clone();
    for j in batch {
        if let JobPayload::Score { video_ids, .. } = &j.payload {
            all.extend(video_ids);
        }
    }
    all.sort_unstable();
    all.dedup();
    JobPayload::Score {
        detector_id: *detector_id,
        video_ids: all,
    }
}

async fn run_job(
    ctx: &WorkerContext,
    cache: &mut SessionCache,
    worker_id: &str,
    job: ClaimedJob,
    batch: Vec<ClaimedJob>,
) {
    let jobs: Vec<&ClaimedJob> = std::iter::once(&job).chain(&batch).collect();
    let claimed: Vec<String> = jobs
        .iter()
        .map(|j| {
            let mut claimed = format!(
                "worker {} claimed {} #{} (attempt {}/{})",
                worker_label(worker_id),
                j.payload.kind(),
                j.id,
                j.attempt,
                j.max_attempts
            );
            if j.id != job.id {
                claimed.push_str(&format!(", run with #{}", job.id));
            }
            claimed
        })
        .collect();
    log_lines(ctx, worker_id, &jobs, Level::Info, |i| &claimed[i]).await;
    let beat = Duration::from_millis(ctx.settings.queue.heartbeat_ms);
    let payload = batched_payload(&job, &batch);
    let work = execute(ctx, cache, &payload);
    tokio::pin!(work);
    let result = loop {
        tokio::select! {
            r = &mut work => break r,
            _ = tokio::time::sleep(beat) => {
                for j in &jobs {
                    match ctx.queue.heartbeat(j.id, worker_id).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(job_id = j.id, "lease lost while running"),
                        Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
                    }
                }
            }
        }
    };
    match result {
        Ok(summary) => complete(ctx, worker_id, &jobs, &summary).await,
        Err(err) => {
            for j in &jobs {
                let copy = JobError {
                    code: err.code,
                    message: err.message.clone(),
                    permanent: err.permanent,
                };
                fail_job(ctx, worker_id, j, copy).await;
            }
        }
    }
}

/// Marks `jobs` (one job, or a score batch) done: their summary lines in one statement and the
/// jobs in another, whatever their number (until 2026-12-06, two statements per job); the jobs
/// whose lease was lost meanwhile to another worker are found afterwards and logged so.
async fn complete(ctx: &WorkerContext, worker_id: &str, jobs: &[&ClaimedJob], summary: &str) {
    log_lines(ctx, worker_id, jobs, Level::Info, |_| summary).await;
    let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
    let done = match ctx.queue.complete_many(&ids, worker_id).await {
        Ok(n) if n == ids.len() as u64 => {
            for id in ids {
                tracing::info!(job_id = id, "job done");
            }
            return;
        }
        Ok(_) => ctx.queue.done_by(&ids, worker_id).await,
        Err(e) => Err(e),
    };
    let done = match done {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(error = %e, "could not complete the jobs");
            return;
        }
    };
    let mut lost = Vec::new();
    for j in jobs {
        if done.contains(&j.id) {
            tracing::info!(job_id = j.id, "job done");
        } else {
            tracing::warn!(job_id = j.id, "lease lost; another worker owns the job");
            lost.push(*j);
        }
    }
    let msg = "lease lost: another worker took the job over";
    log_lines(ctx, worker_id, &lost, Level::Warn, |_| msg).await;
}

/// One line for each of `jobs` (the `i`th's text `msg(i)`) in one statement; never fails a job.
async fn log_lines<'a>(
    ctx: &WorkerContext,
    worker_id: &str,
    jobs: &[&ClaimedJob],
    level: Level,
    msg: impl Fn(usize) -> &'a str,
) {
    let worker = worker_label(worker_id);
    let lines: Vec<NewJobLog> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| NewJobLog {
            job_id: j.id,
            submission_id: j.submission_id,
            worker: &worker,
            level,
            message: msg(i),
        })
        .collect();
    if let Err(e) = job_logs::append_many(&ctx.db, &lines).await {
        tracing::warn!(error = %e, "could not write the jobs' log lines");
    }
}

/// The failure as the team may read it: the upload's own faults in full (they are about its
/// file), ours by code only (their messages may name server paths; organizers see them).
fn failure_reason(err: &JobError) -> String {
    if err.permanent {
        err.to_string()
    } else {
        format!("{} (on our side)", err.code)
    }
}

async fn fail_job(ctx: &WorkerContext, worker_id: &str, job: &ClaimedJob, err: JobError) {
    tracing::warn!(code = err.code, error = %err.message, permanent = err.permanent, "job failed");
    crate::fleet::record_failure(job.payload.kind(), err.code);
    let outcome = ctx
        .queue
        .fail(job.id, worker_id, &err.to_string(), err.permanent)
        .await;
    let reason = failure_reason(&err);
    let line = match &outcome {
        Ok(FailOutcome::Retried) => Some(format!(
            "failed: {reason}, retry {}/{}",
            job.attempt + 1,
            job.max_attempts
        )),
        Ok(FailOutcome::Dead) if err.permanent => Some(format!("failed: {reason}; not retried")),
        Ok(FailOutcome::Dead) => Some(format!(
            "failed: {reason}; out of attempts ({}/{})",
            job.attempt, job.max_attempts
        )),
        Err(_) => None,
    };
    if let Some(line) = line {
        log_line(ctx, job, worker_id, Level::Error, &line).await;
    }
    match outcome {
        Ok(FailOutcome::Retried) => {}
        Ok(FailOutcome::Dead) => {
            // Our failures refund the team; an upload that kept blowing its child's limits does not.
            let refund = !err.permanent && !sandbox::blames_upload(err.code);
            // The team reads this on its submission: our failures by code only (their messages
            // may name server paths; the job's last error keeps them for the organizers).
            let told = if refund {
                failure_reason(&err)
            } else {
                err.to_string()
            };
            if let Err(e) = on_dead(ctx, &job.payload, &told, refund).await {
                tracing::error!(error = %e, "could not record the dead job");
            }
        }
        Err(e) => tracing::error!(error = %e, "could not record the failure"),
    }
}

/// Runs the job; on success, one line saying what it did.
async fn execute(
    ctx: &WorkerContext,
    cache: &mut SessionCache,
    payload: &JobPayload,
) -> Result<String, JobError> {
    match payload {
        JobPayload::PrepareVideo { video_id } => {
            let report = pipeline::prepare_video(ctx, cache, *video_id).await?;
            if let Some(ms) = report.decode_ms {
                crate::fleet::record_stage(payload.kind(), "decode_faces", ms);
            }
            Ok(report.line())
        }
        JobPayload::ActivateDetector { detector_id } => {
            crate::activation::activate_detector(ctx, cache, *detector_id).await
        }
        JobPayload::Score {
            detector_id,
            video_ids,
        } => {
            let report = pipeline::score(ctx, cache, *detector_id, video_ids).await?;
            crate::fleet::record_stage(payload.kind(), "score", report.elapsed_ms);
            Ok(report.line())
        }
        JobPayload::Noop { n } => Ok(format!("noop {n} done")),
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
            evaluation::on_activation_dead(&ctx.db, *detector_id, reason, refund).await
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

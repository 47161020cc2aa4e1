//! What a worker slot tells operators: its heartbeat row (the admin fleet view and the
//! fleet-wide liveness gauges come from it) and the job metrics `/metrics` exports (recorded
//! through the `metrics` facade; the process that installs an exporter serves them).

use crate::job_error::blames_upload;
use arena::repo::worker_slots::{self, Beat};
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::time::{Duration, Instant};

/// Seconds a job ran, by kind (`arena_job_duration_seconds{kind}`).
pub const JOB_DURATION: &str = "arena_job_duration_seconds";
/// Seconds of one stage of a job, by kind and stage.
pub const STAGE_DURATION: &str = "arena_job_stage_duration_seconds";
/// Failed attempts, by kind and error code.
pub const JOB_FAILURES: &str = "arena_job_failures_total";
/// Evaluation children ended by a limit (memory, CPU time, file size, wall clock), by code.
pub const LIMIT_KILLS: &str = "arena_sandbox_limit_kills_total";
pub use crate::child_metrics::{CHILD_RESTARTS, CHILD_STARTS};

/// Records a finished job's wall time.
pub fn record_job(kind: &'static str, elapsed: Duration) {
    metrics::histogram!(JOB_DURATION, "kind" => kind).record(elapsed.as_secs_f64());
}

/// Records one stage's time (`decode_faces`: decoding with face detection and crops, one
/// interleaved pass; `score`: inference over cached crops).
pub fn record_stage(kind: &'static str, stage: &'static str, ms: u64) {
    metrics::histogram!(STAGE_DURATION, "kind" => kind, "stage" => stage)
        .record(Duration::from_millis(ms).as_secs_f64());
}

/// Records a failed attempt, and a limit kill when a child hit one of its limits.
pub fn record_failure(kind: &'static str, code: &'static str) {
    metrics::counter!(JOB_FAILURES, "kind" => kind, "code" => code).increment(1);
    if blames_upload(code) {
        metrics::counter!(LIMIT_KILLS, "code" => code).increment(1);
    }
}

/// A slot's heartbeat row: written when it starts, at most every heartbeat period while idle,
/// every period while a job runs, after each job, and when it stops.
pub struct SlotReporter {
    worker_id: String,
    label: String,
    every: Duration,
    last: Option<Instant>,
}

impl SlotReporter {
    pub fn new(worker_id: &str, heartbeat_ms: u64) -> SlotReporter {
        SlotReporter {
            worker_id: worker_id.to_owned(),
            label: worker_label(worker_id),
            every: Duration::from_millis(heartbeat_ms.max(50)),
            last: None,
        }
    }

    async fn beat(&mut self, db: &DatabaseConnection, job: Option<i64>, finished: bool) {
        let beat = Beat {
            worker_id: &self.worker_id,
            label: &self.label,
            current_job_id: job,
            finished_job: finished,
        };
        if let Err(e) = worker_slots::beat(db, beat).await {
            tracing::warn!(error = %e, "could not write the slot's heartbeat");
        }
        self.last = Some(Instant::now());
    }

    /// The slot started: forget slots unheard of for a day, then beat.
    pub async fn started(&mut self, db: &DatabaseConnection) {
        if let Err(e) = worker_slots::forget_old(db).await {
            tracing::warn!(error = %e, "could not forget old worker slots");
        }
        self.beat(db, None, false).await;
    }

    /// Idle: beats when a period has passed since the last beat.
    pub async fn idle(&mut self, db: &DatabaseConnection) {
        if self.last.is_none_or(|t| t.elapsed() >= self.every) {
            self.beat(db, None, false).await;
        }
    }

    /// Runs a job's future, beating with its id every period, and records its duration.
    pub async fn run<F: Future<Output = ()>>(
        &mut self,
        db: &DatabaseConnection,
        job_id: i64,
        kind: &'static str,
        work: F,
    ) {
        let started = Instant::now();
        self.beat(db, Some(job_id), false).await;
        tokio::pin!(work);
        loop {
            tokio::select! {
                () = &mut work => break,
                _ = tokio::time::sleep(self.every) => self.beat(db, Some(job_id), false).await,
            }
        }
        record_job(kind, started.elapsed());
        self.beat(db, None, true).await;
    }

    /// The slot stopped cleanly.
    pub async fn stopped(&self, db: &DatabaseConnection) {
        if let Err(e) = worker_slots::stopped(db, &self.worker_id).await {
            tracing::warn!(error = %e, "could not mark the slot stopped");
        }
    }
}

/// A short, stable label for a worker slot in log lines: teams see it, so it names no host or
/// process, only a digest of the slot's id.
pub fn worker_label(worker_id: &str) -> String {
    format!(
        "w-{}",
        &hex::encode(Sha256::digest(worker_id.as_bytes()))[..6]
    )
}

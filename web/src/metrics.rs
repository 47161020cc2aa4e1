//! Prometheus metrics (`GET /metrics`) through the `metrics` facade and
//! `metrics-exporter-prometheus`: no hand-written exposition.
//!
//! Two sources are rendered one after the other. The process-wide recorder holds what this
//! process observed (HTTP requests, uploads, and in processes running worker slots the jobs'
//! durations, failures and evaluation children). The fleet's state is read from the database at
//! scrape time into a recorder made for that scrape (queue depth per kind and state, worker
//! slots and their heartbeat ages), so every `serve` replica reports the same numbers; this
//! process's SSE clients go there too, since several apps can share one test process.

use crate::context::AppContext;
use crate::error::ApiError;
use arena::repo::worker_slots::{self, SlotState};
use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// HTTP request durations, by method, route pattern and status.
pub const HTTP_DURATION: &str = "arena_http_request_duration_seconds";
/// Bytes received in uploads (streamed to disk, before validation).
pub const UPLOAD_BYTES: &str = "arena_upload_bytes_total";
/// Uploads answered 2xx, by route pattern.
pub const UPLOADS_ACCEPTED: &str = "arena_uploads_accepted_total";
/// Uploads refused with a 4xx, by error code.
pub const UPLOAD_REFUSALS: &str = "arena_upload_refusals_total";
/// Videos decoded on this process's behalf (by its worker slots or their evaluation children).
pub const VIDEO_DECODES: &str = "arena_video_decodes_total";
/// Jobs in the queue table, by kind and state.
pub const QUEUE_JOBS: &str = "arena_queue_jobs";
/// Worker slots heard of in the last day, by state (alive, lost, stopped).
pub const WORKER_SLOTS: &str = "arena_worker_slots";
/// Seconds since a running (alive or lost) slot's last heartbeat, by slot label.
pub const HEARTBEAT_AGE: &str = "arena_worker_heartbeat_age_seconds";
/// SSE clients connected to this process.
pub const SSE_CLIENTS: &str = "arena_sse_clients";

/// Job kinds and states always exported (0 when none), so a scaler never sees a gap.
const KINDS: [&str; 3] = ["prepare_video", "activate_detector", "score"];
const STATES: [&str; 4] = ["queued", "running", "done", "failed"];
/// Slots listed per scrape.
const MAX_SLOTS: u64 = 1000;

const HTTP_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const JOB_BUCKETS: [f64; 14] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once (later calls return the same handle); `None` when
/// another recorder was installed first (the metrics then render without this process's part).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), &HTTP_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Suffix("job_duration_seconds".to_owned()),
                        &JOB_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(arena_worker::fleet::STAGE_DURATION.to_owned()),
                        &JOB_BUCKETS,
                    )
                })
                .and_then(PrometheusBuilder::install_recorder);
            match built {
                Ok(handle) => {
                    describe_process_metrics();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

fn describe_process_metrics() {
    use arena_worker::fleet;
    metrics::describe_histogram!(HTTP_DURATION, Unit::Seconds, "HTTP request durations.");
    metrics::describe_counter!(UPLOAD_BYTES, Unit::Bytes, "Bytes received in uploads.");
    metrics::describe_counter!(UPLOADS_ACCEPTED, "Uploads accepted (2xx).");
    metrics::describe_counter!(UPLOAD_REFUSALS, "Uploads refused (4xx), by error code.");
    metrics::describe_histogram!(fleet::JOB_DURATION, Unit::Seconds, "Job wall time.");
    metrics::describe_histogram!(
        fleet::STAGE_DURATION,
        Unit::Seconds,
        "Time of one stage of a job (decode_faces, score)."
    );
    metrics::describe_counter!(fleet::JOB_FAILURES, "Failed job attempts, by code.");
    metrics::describe_counter!(fleet::LIMIT_KILLS, "Evaluation children ended by a limit.");
    metrics::describe_counter!(fleet::CHILD_STARTS, "Evaluation children started.");
    metrics::describe_counter!(
        fleet::CHILD_RESTARTS,
        "Scoring children started again after dying or spending their CPU budget."
    );
    metrics::describe_counter!(
        VIDEO_DECODES,
        "Videos decoded on this process's behalf (its worker slots and their children)."
    );
}

/// The exposition: this process's metrics, then the fleet's, read from the database now.
pub async fn render(ctx: &AppContext) -> Result<String, ApiError> {
    let mut text = match install() {
        Some(handle) => {
            // Counted by the worker crate (children report theirs); copied in at scrape time.
            metrics::counter!(VIDEO_DECODES).absolute(arena_worker::media::decode_count());
            handle.run_upkeep();
            handle.render()
        }
        None => String::new(),
    };
    let depth = ctx
        .queue()
        .depth_by_kind()
        .await
        .map_err(ApiError::internal)?;
    let stale_ms = ctx.settings().queue.slot_stale_ms();
    let slots = worker_slots::list(ctx.db(), stale_ms, MAX_SLOTS).await?;
    let sse_clients = ctx.live().clients();
    let scrape = PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&scrape, || {
        metrics::describe_gauge!(QUEUE_JOBS, "Jobs in the queue, by kind and state.");
        metrics::describe_gauge!(WORKER_SLOTS, "Worker slots heard of in the last day.");
        metrics::describe_gauge!(
            HEARTBEAT_AGE,
            Unit::Seconds,
            "Seconds since a slot's last heartbeat."
        );
        metrics::describe_gauge!(SSE_CLIENTS, "SSE clients connected to this process.");
        for kind in KINDS {
            for state in STATES {
                metrics::gauge!(QUEUE_JOBS, "kind" => kind, "state" => state).set(0.0);
            }
        }
        for (kind, state, n) in depth {
            metrics::gauge!(QUEUE_JOBS, "kind" => kind, "state" => state).set(n as f64);
        }
        for state in [SlotState::Alive, SlotState::Lost, SlotState::Stopped] {
            let n = slots.iter().filter(|s| s.state == state).count();
            metrics::gauge!(WORKER_SLOTS, "state" => state.as_str()).set(n as f64);
        }
        for s in slots.iter().filter(|s| s.state != SlotState::Stopped) {
            metrics::gauge!(HEARTBEAT_AGE, "worker" => s.slot.label.clone())
                .set(s.heartbeat_age_ms as f64 / 1000.0);
        }
        metrics::gauge!(SSE_CLIENTS).set(sse_clients as f64);
    });
    text.push_str(&scrape.handle().render());
    Ok(text)
}

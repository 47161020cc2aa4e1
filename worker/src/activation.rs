//! The `activate_detector` job: a new detector's upload checks, then its scoring. The upload
//! request only stores the model and answers 202; the checks (the model's protobuf inspected,
//! the manifest against its declared input and output, a real session scoring the probe frames
//! twice and at two batch sizes under the time limit) run here, in `arena-sandbox` children when
//! evaluation is isolated, so they overlap with the decoding of videos instead of holding the
//! upload. The session that passes the probe runs is kept for the detector's score jobs in this
//! worker slot (its scoring child, or its in-process session cache), so the slot does not build
//! it again. A model they refuse ends `failed` with the code the upload request used to answer
//! (`arena::intake::refuse_detector`); a failure of ours is retried like any job.

use crate::checks::{CheckOptions, check_loaded};
use crate::context::{SessionCache, WorkerContext};
use crate::detector::Detector;
use crate::job_error::JobError;
use crate::manifest::Manifest;
use crate::onnx_model::{ModelInfo, check_manifest_against_model, inspect_model};
use crate::sandbox::{self, SandboxConfig};
use arena::entities::detectors;
use arena::{evaluation, repo};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest an inspection child may run: it reads the model once and walks its graph.
const INSPECT_TIMEOUT: Duration = Duration::from_secs(120);
/// Beyond the probe time limit, what a check child may take to start and load the session.
const CHECK_GRACE: Duration = Duration::from_secs(15);

/// Why the checks refused a model: the code and message its team reads on the submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

/// Runs the detector's checks unless it is live already (a retried job), then makes it live.
/// Returns the job's log line.
#[tracing::instrument(skip(ctx, cache), err)]
pub async fn activate_detector(
    ctx: &WorkerContext,
    cache: &mut SessionCache,
    detector_id: i64,
) -> Result<String, JobError> {
    let Some(det) = repo::detectors::find(&ctx.db, detector_id).await? else {
        return Ok(format!(
            "detector {detector_id} is gone (withdrawn); nothing to do"
        ));
    };
    if !det.ready {
        let started = std::time::Instant::now();
        if let Err(refusal) = check_upload(ctx, cache, &det).await? {
            arena::intake::refuse_detector(
                &ctx.db,
                &ctx.storage,
                detector_id,
                refusal.code,
                &refusal.message,
            )
            .await
            .map_err(|e| JobError::infra("database", e))?;
            return Ok(format!(
                "detector {detector_id} refused by the upload checks: {}: {}",
                refusal.code, refusal.message
            ));
        }
        crate::fleet::record_stage(
            "activate_detector",
            "checks",
            u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        );
    }
    let jobs = evaluation::on_detector_accepted(&ctx.db, detector_id, ctx.policy()).await?;
    Ok(format!(
        "detector {detector_id} passed its checks and is live: {jobs} scoring job{} queued",
        if jobs == 1 { "" } else { "s" }
    ))
}

/// The checks of the stored model: `Ok(Err(_))` when they refuse it, `Err(_)` when they could
/// not run (ours; the job is retried).
async fn check_upload(
    ctx: &WorkerContext,
    cache: &mut SessionCache,
    det: &detectors::Model,
) -> Result<Result<(), Refusal>, JobError> {
    let manifest: Manifest =
        serde_json::from_str(&det.manifest).map_err(|e| JobError::infra("corrupt_manifest", e))?;
    let work = ctx.job_dir()?;
    let model = stage_model(ctx, det, work.path()).await?;
    if !ctx.settings.evaluation.isolate {
        return Ok(match check_in_process(ctx, model, manifest).await? {
            Ok(session) => {
                cache.sessions.insert(det.id, session);
                Ok(())
            }
            Err(refusal) => Err(refusal),
        });
    }
    let config = SandboxConfig::from_settings(&ctx.settings)?;
    let info = match inspect(ctx, &config, &model, work.path()).await? {
        Ok(info) => info,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if let Err(e) = check_manifest_against_model(&manifest, &info) {
        return Ok(Err(model_refusal(&e)));
    }
    let limit = Duration::from_millis(ctx.settings.evaluation.probe_time_limit_ms);
    let config = SandboxConfig {
        timeout: limit + CHECK_GRACE,
        ..config
    };
    let checked = if ctx.settings.evaluation.reuse_score_child {
        // In a fresh scoring child of this slot, kept for the detector's score jobs if it passes.
        let scratch = ctx.scratch_dir()?;
        sandbox::check_serving(
            &mut cache.score_children,
            ctx.settings.evaluation.score_children_per_slot,
            &config,
            &crate::pipeline::score_child_key(det),
            &model,
            &manifest,
            limit,
            &scratch,
        )
        .await
    } else {
        sandbox::check_detector(&config, &model, &manifest, limit, work.path()).await
    };
    match checked {
        Ok(_) => Ok(Ok(())),
        Err(e) if e.permanent || sandbox::blames_upload(e.code) => Ok(Err(Refusal {
            code: e.code,
            message: e.message,
        })),
        Err(e) => Err(e),
    }
}

/// The model file the checks read: a local store's object in place (a child may only read it:
/// docs/SANDBOX.md), else a copy in the job folder.
async fn stage_model(
    ctx: &WorkerContext,
    det: &detectors::Model,
    work: &Path,
) -> Result<PathBuf, JobError> {
    if let Some(path) = ctx.storage.local_path(&det.model_key) {
        return Ok(path);
    }
    let path = work.join("model.onnx");
    let bytes = ctx.storage.get(&det.model_key).await?;
    tokio::fs::write(&path, &bytes)
        .await
        .map_err(|e| JobError::infra("scratch", e))?;
    Ok(path)
}

/// Parses the model's protobuf in a child (a file that crashes or exhausts the parser costs the
/// child). A child that died on the file (a crash, a forbidden system call, a limit) is the
/// file's doing: refused with the sandbox's code; a missing binary or a garbled answer is ours.
async fn inspect(
    ctx: &WorkerContext,
    config: &SandboxConfig,
    model: &Path,
    work: &Path,
) -> Result<Result<ModelInfo, Refusal>, JobError> {
    let config = SandboxConfig {
        timeout: config.timeout.min(INSPECT_TIMEOUT),
        ..config.clone()
    };
    let max_bytes = ctx.settings.limits.max_model_bytes;
    let faults = ctx.settings.evaluation.sandbox_test_faults;
    match sandbox::inspect(&config, model, max_bytes, faults, work).await {
        Ok(info) => Ok(Ok(info)),
        Err(e) if e.permanent => Ok(Err(Refusal {
            code: e.code,
            message: e.message,
        })),
        Err(e) if sandbox::died(e.code) || sandbox::blames_upload(e.code) => Ok(Err(Refusal {
            code: e.code,
            message: format!("the model could not be inspected: {}", e.message),
        })),
        Err(e) => Err(e),
    }
}

fn model_refusal(e: &crate::onnx_model::ModelError) -> Refusal {
    Refusal {
        code: e.code(),
        message: e.to_string(),
    }
}

/// The same checks on a blocking thread of the worker (without `evaluation.isolate`); the
/// session that passed them when they do.
async fn check_in_process(
    ctx: &WorkerContext,
    model: PathBuf,
    manifest: Manifest,
) -> Result<Result<Detector, Refusal>, JobError> {
    let ort = ctx.ort.clone();
    let opts = CheckOptions::from_settings(&ctx.settings.evaluation);
    let cap = usize::try_from(ctx.settings.limits.max_model_bytes).unwrap_or(usize::MAX);
    tokio::task::spawn_blocking(move || {
        let bytes = std::fs::read(&model).map_err(|e| JobError::infra("storage", e))?;
        let info = match inspect_model(&bytes, cap) {
            Ok(info) => info,
            Err(e) => return Ok(Err(model_refusal(&e))),
        };
        if let Err(e) = check_manifest_against_model(&manifest, &info) {
            return Ok(Err(model_refusal(&e)));
        }
        let checked = Detector::load(&ort, &bytes, manifest, &opts.session)
            .and_then(|mut session| check_loaded(&mut session, opts.time_limit).map(|_| session));
        match checked {
            Ok(session) => Ok(Ok(session)),
            Err(e) if e.is_client_error() => Ok(Err(Refusal {
                code: e.code(),
                message: e.to_string(),
            })),
            Err(e) => Err(JobError::from(e)),
        }
    })
    .await
    .map_err(|e| JobError::infra("worker_panic", e))?
}

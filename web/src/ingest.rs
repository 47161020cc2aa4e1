//! Ingest: validate an upload completely (probe the video; parse the manifest and the model and
//! load it in onnxruntime), store the object, then create its rows and jobs in one transaction.
//! A refused upload leaves no row; an object is only written for a valid upload. With
//! `evaluation.isolate` the server parses no upload itself: the model's protobuf is inspected and
//! its session checked in `arena-sandbox` children (docs/SANDBOX.md).

use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::upload::UploadedFile;
use actix_web::http::StatusCode;
use arena::domain::SubmissionKind;
use arena::entities::{competitions, submissions};
use arena::storage;
use arena_worker::onnx_model::{ModelInfo, check_manifest_against_model, inspect_model};
use arena_worker::sandbox;
use arena_worker::{CheckOptions, Manifest, MediaError, ModelError, check_detector};

pub(crate) fn media_error(e: MediaError) -> ApiError {
    if !e.is_client_error() {
        return ApiError::internal(e);
    }
    let status = match Code::parse(e.code()) {
        Some(Code::UnsupportedMedia) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, e.code(), e.to_string())
}

fn model_error(e: ModelError) -> ApiError {
    if !e.is_client_error() {
        return ApiError::internal(e);
    }
    let status = match Code::parse(e.code()) {
        Some(Code::ModelTooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, e.code(), e.to_string())
}

pub(crate) fn intake_error(e: arena::intake::IntakeError) -> ApiError {
    match e {
        arena::intake::IntakeError::Repo(e) => e.into(),
        arena::intake::IntakeError::Queue(e) => ApiError::internal(e),
    }
}

/// Reads an uploaded `manifest.toml` as text (422 `invalid_manifest` when it is not UTF-8).
pub async fn manifest_text(file: &UploadedFile) -> Result<String, ApiError> {
    let bytes = tokio::fs::read(file.path())
        .await
        .map_err(ApiError::internal)?;
    String::from_utf8(bytes)
        .map_err(|_| ApiError::of(Code::InvalidManifest, "manifest.toml is not UTF-8"))
}

/// Ingests a detector: manifest, model structure, manifest ↔ model, then a real session scoring
/// the probe frames (finite, deterministic across runs and batch sizes, within the time limit).
#[tracing::instrument(skip(ctx, competition, model, manifest_text), fields(competition = %competition.slug, sha256 = %model.sha256), err)]
pub async fn ingest_detector(
    ctx: &AppContext,
    competition: &competitions::Model,
    team_id: i64,
    model: UploadedFile,
    manifest_text: &str,
) -> Result<submissions::Model, ApiError> {
    let phase_id =
        crate::admission::admit(ctx, competition, team_id, SubmissionKind::Detector).await?;
    let manifest = Manifest::parse(manifest_text)
        .map_err(|e| ApiError::unprocessable(e.code(), e.to_string()))?;
    let info = inspect(ctx, &model).await?;
    check_manifest_against_model(&manifest, &info).map_err(model_error)?;
    run_upload_checks(ctx, &model, &manifest).await?;

    let key = storage::model_key(&model.sha256);
    ctx.storage().put_file(&key, model.path()).await?;
    let manifest_json = serde_json::to_string(&manifest).map_err(ApiError::internal)?;
    let new = arena::intake::NewDetectorUpload {
        competition_id: competition.id,
        team_id,
        phase_id,
        model_sha256: model.sha256.clone(),
        model_key: key,
        manifest_json,
        ort_version: arena_worker::pipeline::ORT_VERSION.to_owned(),
    };
    let max_attempts = ctx.settings().queue.max_attempts;
    let (sub, detector_id) = arena::intake::create_detector(ctx.db(), new, max_attempts)
        .await
        .map_err(intake_error)?;
    ctx.live().wake();
    ctx.jobs_queued();
    tracing::info!(submission_id = sub.id, detector_id, "detector accepted");
    Ok(sub)
}

/// The longest an inspection child may run: it reads the model once and walks its graph.
const INSPECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Parses the uploaded model's protobuf and refuses what the arena never runs (oversize, external
/// data, foreign op domains; [`inspect_model`]): in an `arena-sandbox` child when evaluation is
/// isolated, so a file that crashes or exhausts the parser costs the child, not the server; else
/// in a blocking thread.
async fn inspect(ctx: &AppContext, model: &UploadedFile) -> Result<ModelInfo, ApiError> {
    let settings = ctx.settings();
    let max_bytes = settings.limits.max_model_bytes;
    if !settings.evaluation.isolate {
        let path = model.path().to_owned();
        let cap = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        return actix_web::web::block(move || {
            let bytes = std::fs::read(&path).map_err(ApiError::internal)?;
            inspect_model(&bytes, cap).map_err(model_error)
        })
        .await
        .map_err(ApiError::internal)?;
    }
    let mut config = sandbox::SandboxConfig::from_settings(settings).map_err(ApiError::internal)?;
    config.timeout = config.timeout.min(INSPECT_TIMEOUT);
    let scratch = settings.data_dir.join("scratch");
    std::fs::create_dir_all(&scratch).map_err(ApiError::internal)?;
    let work = tempfile::tempdir_in(&scratch).map_err(ApiError::internal)?;
    let faults = settings.evaluation.sandbox_test_faults;
    sandbox::inspect(&config, model.path(), max_bytes, faults, work.path())
        .await
        .map_err(inspect_error)
}

/// A refused inspection: the model errors with their in-process status (413 / 422); a child that
/// died on the file (a crash, a forbidden system call, a limit) is the file's doing too (422, the
/// sandbox's code); a missing binary or a garbled answer is ours (500).
fn inspect_error(e: arena_worker::pipeline::JobError) -> ApiError {
    let died = matches!(
        e.code,
        sandbox::CRASHED | sandbox::SYSCALL | sandbox::KILLED
    );
    if e.permanent {
        let status = match Code::parse(e.code) {
            Some(Code::ModelTooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code, e.message)
    } else if died || sandbox::blames_upload(e.code) {
        let message = format!("the model could not be inspected: {}", e.message);
        ApiError::unprocessable(e.code, message)
    } else {
        ApiError::internal(e)
    }
}

/// Loads the model, scores the probe frames twice and at two batch sizes, under the time limit —
/// in an `arena-sandbox` child when evaluation is isolated (a model that crashes or blows up
/// memory takes down the child, not the server), else in a blocking thread.
async fn run_upload_checks(
    ctx: &AppContext,
    model: &UploadedFile,
    manifest: &Manifest,
) -> Result<(), ApiError> {
    let settings = ctx.settings();
    if settings.evaluation.isolate {
        let mut config =
            sandbox::SandboxConfig::from_settings(settings).map_err(ApiError::internal)?;
        let limit = std::time::Duration::from_millis(settings.evaluation.probe_time_limit_ms);
        config.timeout = limit + std::time::Duration::from_secs(15);
        let scratch = settings.data_dir.join("scratch");
        std::fs::create_dir_all(&scratch).map_err(ApiError::internal)?;
        let work = tempfile::tempdir_in(&scratch).map_err(ApiError::internal)?;
        return match sandbox::check_detector(&config, model.path(), manifest, limit, work.path())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.permanent || sandbox::blames_upload(e.code) => {
                Err(ApiError::unprocessable(e.code, e.message))
            }
            Err(e) => Err(ApiError::internal(e)),
        };
    }
    let (ort, m) = (ctx.ort().clone(), manifest.clone());
    let opts = CheckOptions::from_settings(&settings.evaluation);
    let path = model.path().to_owned();
    actix_web::web::block(move || {
        let bytes = std::fs::read(&path).map_err(ApiError::internal)?;
        check_detector(&ort, &bytes, &m, &opts)
            .map(drop)
            .map_err(|e| {
                if e.is_client_error() {
                    ApiError::unprocessable(e.code(), e.to_string())
                } else {
                    ApiError::internal(e)
                }
            })
    })
    .await
    .map_err(ApiError::internal)?
}

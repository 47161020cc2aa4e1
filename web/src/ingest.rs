//! Ingest: validate an upload completely (probe the video; parse the manifest and the model and
//! load it in onnxruntime), store the object, then create its rows and jobs in one transaction.
//! A refused upload leaves no row; an object is only written for a valid upload.

use crate::context::AppContext;
use crate::error::ApiError;
use crate::upload::UploadedFile;
use actix_web::http::StatusCode;
use arena::domain::{SubmissionKind, SubmissionStatus};
use arena::entities::{competitions, submissions};
use arena::queue::{self, JobPayload};
use arena::repo;
use arena::storage;
use arena_worker::onnx_model::{check_manifest_against_model, inspect_model};
use arena_worker::sandbox;
use arena_worker::{CheckOptions, Manifest, MediaError, ModelError, check_detector};

pub(crate) fn media_error(e: MediaError) -> ApiError {
    if !e.is_client_error() {
        return ApiError::internal(e);
    }
    let status = match e.code() {
        "unsupported_media" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, e.code(), e.to_string())
}

fn model_error(e: ModelError) -> ApiError {
    if !e.is_client_error() {
        return ApiError::internal(e);
    }
    let status = match e.code() {
        "model_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, e.code(), e.to_string())
}

/// Appends a `submission` event in the ingest transaction: the boards gain a row, and live
/// clients (and the boards cache of every server process) hear of it.
pub(crate) async fn announce<C: sea_orm::ConnectionTrait>(
    db: &C,
    sub: &submissions::Model,
) -> Result<(), ApiError> {
    let payload = serde_json::json!({ "submission": sub.id, "kind": sub.kind });
    repo::events::append(db, sub.competition_id, "submission", &payload).await?;
    Ok(())
}

/// Reads an uploaded `manifest.toml` as text (422 `invalid_manifest` when it is not UTF-8).
pub async fn manifest_text(file: &UploadedFile) -> Result<String, ApiError> {
    let bytes = tokio::fs::read(file.path())
        .await
        .map_err(ApiError::internal)?;
    String::from_utf8(bytes)
        .map_err(|_| ApiError::unprocessable("invalid_manifest", "manifest.toml is not UTF-8"))
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
    let bytes = tokio::fs::read(model.path())
        .await
        .map_err(ApiError::internal)?;
    let cap = usize::try_from(ctx.settings().limits.max_model_bytes).unwrap_or(usize::MAX);
    let info = inspect_model(&bytes, cap).map_err(model_error)?;
    check_manifest_against_model(&manifest, &info).map_err(model_error)?;
    run_upload_checks(ctx, &model, &bytes, &manifest).await?;

    let key = storage::model_key(&model.sha256);
    ctx.storage().put(&key, bytes.into()).await?;
    let manifest_json = serde_json::to_string(&manifest).map_err(ApiError::internal)?;
    let txn = arena::db::begin_write(ctx.db()).await?;
    let sub = repo::submissions::create(
        &txn,
        repo::submissions::NewSubmission {
            competition_id: competition.id,
            team_id,
            kind: SubmissionKind::Detector,
            status: SubmissionStatus::Queued,
            phase_id,
        },
    )
    .await?;
    let det = repo::detectors::create(
        &txn,
        repo::detectors::NewDetector {
            submission_id: sub.id,
            competition_id: competition.id,
            model_sha256: model.sha256.clone(),
            model_key: key,
            manifest_json,
            ort_version: arena_worker::pipeline::ORT_VERSION.to_owned(),
        },
    )
    .await?;
    let job = JobPayload::ActivateDetector {
        detector_id: det.id,
    };
    queue::enqueue(&txn, &job, Some(sub.id), ctx.settings().queue.max_attempts)
        .await
        .map_err(ApiError::internal)?;
    announce(&txn, &sub).await?;
    txn.commit().await?;
    ctx.live().wake();
    ctx.jobs_queued();
    tracing::info!(
        submission_id = sub.id,
        detector_id = det.id,
        "detector accepted"
    );
    Ok(sub)
}

/// Loads the model, scores the probe frames twice and at two batch sizes, under the time limit —
/// in an `arena-sandbox` child when evaluation is isolated (a model that crashes or blows up
/// memory takes down the child, not the server), else in a blocking thread.
async fn run_upload_checks(
    ctx: &AppContext,
    model: &UploadedFile,
    bytes: &[u8],
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
    let load_bytes = bytes.to_vec();
    actix_web::web::block(move || check_detector(&ort, &load_bytes, &m, &opts).map(drop))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| {
            if e.is_client_error() {
                ApiError::unprocessable(e.code(), e.to_string())
            } else {
                ApiError::internal(e)
            }
        })
}

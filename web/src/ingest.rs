//! Ingest: validate an upload (probe the video; parse a detector's manifest), store the object,
//! then create its rows and jobs in one transaction. A refused upload leaves no row; an object is
//! only written for a valid upload. A detector's model is checked after its upload, in its
//! `activate_detector` job (`arena_worker::activation`): a model the checks refuse ends `failed`
//! and its object is deleted. With `evaluation.isolate` the server parses no upload itself
//! (docs/SANDBOX.md).

use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::upload::UploadedFile;
use actix_web::http::StatusCode;
use arena::domain::SubmissionKind;
use arena::entities::{competitions, submissions};
use arena::storage;
use arena_worker::{Manifest, MediaError};

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

pub(crate) fn intake_error(e: arena::intake::IntakeError) -> ApiError {
    match e {
        arena::intake::IntakeError::Repo(e) => e.into(),
        arena::intake::IntakeError::Queue(e) => ApiError::internal(e),
        arena::intake::IntakeError::Storage(e) => ApiError::internal(e),
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

/// Ingests a detector: the manifest is parsed here (a bad one is a 422 `invalid_manifest` at
/// once, with no row); the model is stored as uploaded and the 202 comes back at once. Its checks
/// (the model's structure, the manifest against it, a real session scoring the probe frames:
/// finite, deterministic across runs and batch sizes, within the time limit) run in the
/// detector's `activate_detector` job, in `arena-sandbox` children when evaluation is isolated
/// (`arena_worker::activation`): a model they refuse ends `failed` with the checks' error code,
/// its object deleted and its quota given back.
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
    tracing::info!(
        submission_id = sub.id,
        detector_id,
        "detector stored; its checks are queued"
    );
    Ok(sub)
}

//! Ingest: validate an upload completely (probe the video; parse the manifest and the model and
//! load it in onnxruntime), store the object, then create its rows and jobs in one transaction.
//! A refused upload leaves no row; an object is only written for a valid upload.

use crate::context::AppContext;
use crate::error::ApiError;
use crate::upload::UploadedFile;
use actix_web::http::StatusCode;
use arena::domain::{SubmissionKind, SubmissionStatus, VideoRole};
use arena::entities::{competitions, submissions};
use arena::queue::{self, JobPayload};
use arena::repo;
use arena::storage;
use arena_worker::media::{ProbeFacts, ProbeLimits, probe_video};
use arena_worker::onnx_model::{check_manifest_against_model, inspect_model};
use arena_worker::{Detector, Manifest, MediaError, ModelError, SessionOptions};
use sea_orm::TransactionTrait;

fn media_error(e: MediaError) -> ApiError {
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

/// Probes a video with the format whitelist, off the async executor.
pub async fn probe(ctx: &AppContext, file: &UploadedFile) -> Result<ProbeFacts, ApiError> {
    let l = &ctx.settings().limits;
    let limits = ProbeLimits {
        max_width: l.max_width,
        max_height: l.max_height,
        max_fps: l.max_fps,
        max_frames: l.max_frames,
        max_duration_s: l.max_duration_s,
        ..ProbeLimits::default()
    };
    let path = file.path().to_owned();
    actix_web::web::block(move || probe_video(&path, &limits))
        .await
        .map_err(ApiError::internal)?
        .map_err(media_error)
}

/// Ingests one video: a creator's fake (its own submission) or an organizer's real.
#[tracing::instrument(skip(ctx, competition, file), fields(competition = %competition.slug, sha256 = %file.sha256), err)]
pub async fn ingest_video(
    ctx: &AppContext,
    competition: &competitions::Model,
    team_id: i64,
    role: VideoRole,
    file: UploadedFile,
) -> Result<submissions::Model, ApiError> {
    let facts = probe(ctx, &file).await?;
    let key = storage::video_key(&file.sha256);
    ctx.storage().put_file(&key, file.path()).await?;
    let kind = match role {
        VideoRole::Fake => SubmissionKind::Creation,
        VideoRole::Real => SubmissionKind::Reals,
    };
    let txn = ctx.db().begin().await?;
    let sub = repo::submissions::create(
        &txn,
        competition.id,
        team_id,
        kind,
        SubmissionStatus::Queued,
    )
    .await?;
    let video = repo::videos::create(
        &txn,
        repo::videos::NewVideo {
            competition_id: competition.id,
            submission_id: Some(sub.id),
            role,
            sha256: file.sha256.clone(),
            storage_key: key,
            container: facts.container.clone(),
            codec: facts.codec.clone(),
            width: i32::try_from(facts.width).unwrap_or(i32::MAX),
            height: i32::try_from(facts.height).unwrap_or(i32::MAX),
            fps: facts.fps,
            frames: i64::try_from(facts.frames).unwrap_or(i64::MAX),
            duration_s: facts.duration_s,
        },
    )
    .await?;
    let job = JobPayload::PrepareVideo { video_id: video.id };
    queue::enqueue(&txn, &job, Some(sub.id), ctx.settings().queue.max_attempts)
        .await
        .map_err(ApiError::internal)?;
    txn.commit().await?;
    tracing::info!(
        submission_id = sub.id,
        video_id = video.id,
        "video accepted"
    );
    Ok(sub)
}

/// Ingests a detector: manifest, model structure, manifest ↔ model, and a real session load.
#[tracing::instrument(skip(ctx, competition, model, manifest_text), fields(competition = %competition.slug, sha256 = %model.sha256), err)]
pub async fn ingest_detector(
    ctx: &AppContext,
    competition: &competitions::Model,
    team_id: i64,
    model: UploadedFile,
    manifest_text: &str,
) -> Result<submissions::Model, ApiError> {
    let manifest = Manifest::parse(manifest_text)
        .map_err(|e| ApiError::unprocessable(e.code(), e.to_string()))?;
    let bytes = tokio::fs::read(model.path())
        .await
        .map_err(ApiError::internal)?;
    let cap = usize::try_from(ctx.settings().limits.max_model_bytes).unwrap_or(usize::MAX);
    let info = inspect_model(&bytes, cap).map_err(model_error)?;
    check_manifest_against_model(&manifest, &info).map_err(model_error)?;
    let (ort, m) = (ctx.ort().clone(), manifest.clone());
    let opts = SessionOptions { intra_threads: 1 };
    let load_bytes = bytes.clone();
    actix_web::web::block(move || Detector::load(&ort, &load_bytes, m, &opts).map(drop))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| {
            if e.is_client_error() {
                ApiError::unprocessable(e.code(), e.to_string())
            } else {
                ApiError::internal(e)
            }
        })?;

    let key = storage::model_key(&model.sha256);
    ctx.storage().put(&key, bytes.into()).await?;
    let manifest_json = serde_json::to_string(&manifest).map_err(ApiError::internal)?;
    let txn = ctx.db().begin().await?;
    let sub = repo::submissions::create(
        &txn,
        competition.id,
        team_id,
        SubmissionKind::Detector,
        SubmissionStatus::Queued,
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
    txn.commit().await?;
    tracing::info!(
        submission_id = sub.id,
        detector_id = det.id,
        "detector accepted"
    );
    Ok(sub)
}

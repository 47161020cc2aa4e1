//! The evaluation pipeline: `prepare_video` decodes a video once and caches its sampled frames;
//! `score` runs one detector over cached frames and stores one score per video.

use crate::crops::Crops;
use crate::detector::{Detector, DetectorError, OrtRuntime, SessionOptions, aggregate};
use crate::manifest::Manifest;
use crate::media::{self, MediaError};
use arena::evaluation::{self, EnqueuePolicy, EvaluationError};
use arena::queue::Queue;
use arena::repo;
use arena::storage::{self, Storage, StorageError};
use arena::{RepoError, Settings};
use bytes::Bytes;
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

/// Version of the frame sampler; part of the crop cache key.
pub const SAMPLER_VERSION: i32 = 1;
/// Version of the face stage; 0 = whole frames (no face detector yet).
pub const FACE_DETECTOR_VERSION: i32 = 0;
/// The onnxruntime release scripts/bootstrap installs (recorded with every score).
pub const ORT_VERSION: &str = "1.31.1";

/// Why a job failed; `permanent` failures are the upload's fault and are not retried.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct JobError {
    pub code: &'static str,
    pub message: String,
    pub permanent: bool,
}

impl JobError {
    fn infra(code: &'static str, err: impl std::fmt::Display) -> JobError {
        JobError {
            code,
            message: err.to_string(),
            permanent: false,
        }
    }
}

impl From<RepoError> for JobError {
    fn from(e: RepoError) -> Self {
        JobError::infra("database", e)
    }
}

impl From<EvaluationError> for JobError {
    fn from(e: EvaluationError) -> Self {
        JobError::infra("database", e)
    }
}

impl From<StorageError> for JobError {
    fn from(e: StorageError) -> Self {
        JobError::infra("storage", e)
    }
}

impl From<MediaError> for JobError {
    fn from(e: MediaError) -> Self {
        JobError {
            code: e.code(),
            message: e.to_string(),
            permanent: e.is_client_error(),
        }
    }
}

impl From<DetectorError> for JobError {
    fn from(e: DetectorError) -> Self {
        JobError {
            code: e.code(),
            message: e.to_string(),
            permanent: e.is_client_error(),
        }
    }
}

/// What every worker slot shares.
#[derive(Clone)]
pub struct WorkerContext {
    pub db: DatabaseConnection,
    pub storage: Storage,
    pub queue: Queue,
    pub settings: Settings,
    pub ort: OrtRuntime,
}

impl WorkerContext {
    pub fn policy(&self) -> EnqueuePolicy {
        EnqueuePolicy {
            score_batch_videos: self.settings.evaluation.score_batch_videos,
            max_attempts: self.settings.queue.max_attempts,
        }
    }

    fn scratch_dir(&self) -> PathBuf {
        self.settings.data_dir.join("scratch")
    }
}

/// Detector sessions kept by one worker slot, by detector id.
#[derive(Default)]
pub struct SessionCache {
    sessions: HashMap<i64, Detector>,
}

/// Decodes the video once (unless its crops are already cached) and enqueues its scoring.
#[tracing::instrument(skip(ctx), err)]
pub async fn prepare_video(ctx: &WorkerContext, video_id: i64) -> Result<(), JobError> {
    let video = repo::videos::find(&ctx.db, video_id)
        .await?
        .ok_or_else(|| JobError::infra("not_found", format!("video {video_id} is gone")))?;
    let key = storage::crops_key(&video.sha256, SAMPLER_VERSION, FACE_DETECTOR_VERSION);
    if !ctx.storage.exists(&key).await? {
        let bytes = ctx.storage.get(&video.storage_key).await?;
        let crops = decode_to_crops(ctx, &video.sha256, bytes).await?;
        ctx.storage.put(&key, Bytes::from(crops.encode())).await?;
    } else {
        tracing::info!(key, "crops already cached; not decoding again");
    }
    evaluation::on_video_prepared(&ctx.db, video_id, &key, ctx.policy()).await?;
    Ok(())
}

async fn decode_to_crops(
    ctx: &WorkerContext,
    sha256: &str,
    bytes: Bytes,
) -> Result<Crops, JobError> {
    let dir = ctx.scratch_dir();
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| JobError::infra("scratch", e))?;
    let path = dir.join(format!("{sha256}-{}.video", std::process::id()));
    tokio::fs::write(&path, &bytes)
        .await
        .map_err(|e| JobError::infra("scratch", e))?;
    let (k, max_side) = (
        ctx.settings.evaluation.sampler_frames,
        ctx.settings.evaluation.max_side,
    );
    let decode_path = path.clone();
    let sampled =
        tokio::task::spawn_blocking(move || media::sample_frames(&decode_path, k, max_side))
            .await
            .map_err(|e| JobError::infra("worker_panic", e));
    let _ = tokio::fs::remove_file(&path).await;
    let sampled = sampled??;
    if sampled.frames.is_empty() {
        return Err(JobError {
            code: "invalid_video",
            message: "no frame could be decoded".to_owned(),
            permanent: true,
        });
    }
    Ok(Crops {
        indices: sampled.indices,
        images: sampled.frames,
    })
}

/// Scores `video_ids` with one detector, skipping pairs already scored.
#[tracing::instrument(skip(ctx, cache, video_ids), fields(videos = video_ids.len()), err)]
pub async fn score(
    ctx: &WorkerContext,
    cache: &mut SessionCache,
    detector_id: i64,
    video_ids: &[i64],
) -> Result<(), JobError> {
    let det = repo::detectors::find(&ctx.db, detector_id)
        .await?
        .ok_or_else(|| JobError::infra("not_found", format!("detector {detector_id} is gone")))?;
    let done = repo::scores::scored_among(&ctx.db, detector_id, video_ids).await?;
    let todo: Vec<i64> = video_ids
        .iter()
        .copied()
        .filter(|v| !done.contains(v))
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    let manifest: Manifest =
        serde_json::from_str(&det.manifest).map_err(|e| JobError::infra("corrupt_manifest", e))?;
    let mut detector = match cache.sessions.remove(&detector_id) {
        Some(d) => d,
        None => load_detector(ctx, &det.model_key, manifest.clone()).await?,
    };
    let mut touched = Vec::new();
    for video in repo::videos::find_many(&ctx.db, &todo).await? {
        let Some(crops_key) = video.crops_key.clone() else {
            continue;
        };
        let crops = Crops::decode(&ctx.storage.get(&crops_key).await?)
            .map_err(|e| JobError::infra("corrupt_crops", e))?;
        let frames = crops.pick(manifest.frames as usize);
        let started = Instant::now();
        let (back, result) = tokio::task::spawn_blocking(move || {
            let r = detector.score_frames(&frames);
            (detector, r)
        })
        .await
        .map_err(|e| JobError::infra("worker_panic", e))?;
        detector = back;
        let per_frame = result?;
        let score = aggregate(manifest.aggregate, &per_frame);
        repo::scores::insert_once(
            &ctx.db,
            repo::scores::NewScore {
                detector_id,
                video_id: video.id,
                score: f64::from(score),
                failed: false,
                per_frame,
                elapsed_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
                ort_version: ORT_VERSION.to_owned(),
                sampler_version: SAMPLER_VERSION,
            },
        )
        .await?;
        touched.extend(video.submission_id);
    }
    cache.sessions.insert(detector_id, detector);
    publish(ctx, det.competition_id, det.submission_id, &touched).await
}

async fn load_detector(
    ctx: &WorkerContext,
    model_key: &str,
    manifest: Manifest,
) -> Result<Detector, JobError> {
    let bytes = ctx.storage.get(model_key).await?;
    let ort = ctx.ort.clone();
    let opts = SessionOptions {
        intra_threads: ctx.settings.evaluation.intra_threads,
    };
    let loaded = tokio::task::spawn_blocking(move || Detector::load(&ort, &bytes, manifest, &opts))
        .await
        .map_err(|e| JobError::infra("worker_panic", e))?;
    Ok(loaded?)
}

/// Refreshes the affected submissions and appends a board event.
async fn publish(
    ctx: &WorkerContext,
    competition_id: i64,
    detector_sub: i64,
    creation_subs: &[i64],
) -> Result<(), JobError> {
    evaluation::refresh_status(&ctx.db, detector_sub).await?;
    let mut subs = creation_subs.to_vec();
    subs.sort_unstable();
    subs.dedup();
    for sub in &subs {
        evaluation::refresh_status(&ctx.db, *sub).await?;
    }
    let payload =
        serde_json::json!({ "detector_submission": detector_sub, "creation_submissions": subs });
    repo::events::append(&ctx.db, competition_id, "scores", &payload).await?;
    Ok(())
}

//! The evaluation pipeline: `prepare_video` decodes a video once, finds its faces and caches both
//! its face crops and its whole frames; `score` runs one detector over the cached images its
//! manifest asks for and stores one score per video.

use crate::crops::Crops;
use crate::detector::{Detector, SessionOptions};
use crate::faces::{self, FaceDetector};
use crate::manifest::{CropMode, Manifest};
use crate::sandbox::{self, SandboxConfig, protocol::ScoreInput};
use arena::entities::{detectors, videos};
use arena::evaluation;
use arena::incarnation::{self, Incarnation};
use arena::repo;
use arena::storage;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::context::LazyJobDir;
pub use crate::context::{SessionCache, WorkerContext};
pub use crate::job_error::JobError;
pub use crate::prepare::{
    CacheContents, CropsSummary, FACE_DETECTOR_VERSION, PreparePlan, PreparedCaches, PreparedVideo,
    SAMPLER_VERSION, prepare_frames,
};
pub use crate::scoring::{VideoScore, score_images, score_images_many};
/// The onnxruntime release scripts/bootstrap installs (recorded with every score).
pub const ORT_VERSION: &str = "1.31.1";

/// What `prepare_video` did, for the job's log lines.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrepareReport {
    /// Frames sampled.
    pub frames: usize,
    /// Sampled frames with a face found.
    pub face_frames: usize,
    /// Time spent decoding and cropping; None when the caches were already there.
    pub decode_ms: Option<u64>,
}

impl PrepareReport {
    /// One line for the submission's page.
    pub fn line(&self) -> String {
        let faces = format!("faces in {}/{} frames", self.face_frames, self.frames);
        match self.decode_ms {
            Some(ms) => format!("decoded {} frames in {ms} ms, {faces}", self.frames),
            None => format!("frames already cached (same content seen before), {faces}"),
        }
    }
}

/// What `score` did, for the job's log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoreReport {
    pub detector_id: i64,
    /// Videos scored by this job.
    pub scored: usize,
    /// Videos of the job already scored before (a retry).
    pub skipped: usize,
    pub elapsed_ms: u64,
}

impl ScoreReport {
    /// One line for the submission's page.
    pub fn line(&self) -> String {
        let mut line = format!(
            "scored {} video{} with detector {} in {} ms",
            self.scored,
            if self.scored == 1 { "" } else { "s" },
            self.detector_id,
            self.elapsed_ms
        );
        if self.skipped > 0 {
            line.push_str(&format!(" ({} already scored)", self.skipped));
        }
        line
    }
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Decodes the video once (unless both its caches exist), stores its face crops and whole frames,
/// records its face count and frame indices, and enqueues its scoring.
#[tracing::instrument(skip(ctx, cache), err)]
pub async fn prepare_video(
    ctx: &WorkerContext,
    cache: &mut SessionCache,
    video_id: i64,
) -> Result<PrepareReport, JobError> {
    let video = repo::videos::find(&ctx.db, video_id)
        .await?
        .ok_or_else(|| JobError::infra("not_found", format!("video {video_id} is gone")))?;
    let faces_key = storage::crops_key(&video.sha256, SAMPLER_VERSION, FACE_DETECTOR_VERSION);
    let frames_key = storage::frames_key(&video.sha256, SAMPLER_VERSION);
    let mut decode_ms = None;
    // The frames this job decodes, kept for the fake's SSIM below (not read back from the store).
    let mut fresh_frames = None;
    let faces = match claim_content(ctx, &faces_key, &frames_key).await? {
        ContentClaim::Cached => {
            tracing::info!(key = faces_key, "crops already cached; not decoding again");
            let bytes = ctx.storage.get(&faces_key).await?;
            CropsSummary::of(
                &Crops::parse(&bytes).map_err(|e| JobError::infra("corrupt_crops", e))?,
            )
        }
        ContentClaim::Held(holder) => {
            let started = Instant::now();
            let work = async {
                let prepared = decode_and_crop(ctx, cache, &video).await?;
                let frames = prepared.contents.frames();
                match &prepared.contents {
                    // A decode child's files out of its reach, or this process's: moved, not
                    // written again.
                    CacheContents::Checked {
                        files: Some(files), ..
                    }
                    | CacheContents::Written(files) => {
                        ctx.storage.adopt(&frames_key, &files.frames).await?;
                        ctx.storage.adopt(&faces_key, &files.faces).await?;
                    }
                    CacheContents::Checked {
                        faces,
                        frames,
                        files: None,
                    } => {
                        ctx.storage.put(&frames_key, frames.clone()).await?;
                        ctx.storage.put(&faces_key, faces.clone()).await?;
                    }
                }
                Ok::<_, JobError>((prepared.summary, frames))
            };
            tokio::pin!(work);
            // Heartbeat the claim while decoding: if this worker dies, the claim lapses within
            // one queue lease and a waiting job takes over.
            let lease_ms = ctx.settings.queue.lease_ms;
            let beat = std::time::Duration::from_millis(
                u64::try_from(lease_ms / 3).unwrap_or(1000).max(50),
            );
            let decoded = loop {
                tokio::select! {
                    r = &mut work => break r,
                    _ = tokio::time::sleep(beat) => {
                        if let Err(e) = repo::decode_claims::renew(&ctx.db, &faces_key, &holder, lease_ms).await {
                            tracing::warn!(error = %e, "could not renew the decode claim");
                        }
                    }
                }
            };
            repo::decode_claims::release(&ctx.db, &faces_key, &holder).await?;
            let (faces, frames) = decoded?;
            fresh_frames = frames;
            decode_ms = Some(millis(started));
            faces
        }
    };
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    repo::videos::record_crops(
        &ctx.db,
        repo::videos::NewCrops {
            video_sha256: video.sha256.clone(),
            sampler_version: SAMPLER_VERSION,
            face_detector_version: FACE_DETECTOR_VERSION,
            storage_key: faces_key.clone(),
            frames: count(faces.frames),
        },
    )
    .await?;
    let summary = repo::videos::FaceSummary {
        face_frames: count(faces.face_frames),
        frame_indices: faces.indices.clone(),
    };
    repo::videos::record_faces(&ctx.db, video_id, &summary).await?;
    if let Some(target) = crate::similarity::target_of(ctx, &video).await? {
        // The fake's SSIM needs the target's frames: prepare the target here if its own job has
        // not run yet (it then finds the cache and does not decode again).
        let target_key = storage::frames_key(&target.sha256, SAMPLER_VERSION);
        if !ctx.storage.exists(&target_key).await? {
            Box::pin(prepare_video(ctx, cache, target.id)).await?;
        }
        let ssim =
            crate::similarity::ssim_against_target(ctx, &video, &target, fresh_frames.take())
                .await?;
        repo::videos::set_ssim(&ctx.db, video_id, ssim).await?;
        for reference in crate::identity::unprepared_references(ctx, &video).await? {
            Box::pin(prepare_video(ctx, cache, reference)).await?;
        }
        if let Some(id) = crate::identity::measure(ctx, cache, &video).await? {
            repo::videos::set_id_similarity(&ctx.db, video_id, id).await?;
        }
    }
    evaluation::on_video_prepared(&ctx.db, video_id, &faces_key, ctx.policy()).await?;
    Ok(PrepareReport {
        frames: faces.frames,
        face_frames: faces.face_frames,
        decode_ms,
    })
}

/// Decodes a video's bytes into its crops: in an evaluation child when `evaluation.isolate` is on
/// (the default), else on a blocking thread with this slot's face detector.
/// Whether this job decodes the content or reads another job's cache.
enum ContentClaim {
    Cached,
    Held(String),
}

/// One decode per content however many jobs race on it (the same bytes uploaded twice, or two
/// competitions sharing a video): the first job claims the content in the database and decodes;
/// the others wait for its cache, or take over once its claim expires (its worker died).
async fn claim_content(
    ctx: &WorkerContext,
    faces_key: &str,
    frames_key: &str,
) -> Result<ContentClaim, JobError> {
    let me = Incarnation::current();
    let holder = me.holder(&format!("d{:x}", rand_suffix()));
    let lease_ms = ctx.settings.queue.lease_ms;
    loop {
        if ctx.storage.exists(faces_key).await? && ctx.storage.exists(frames_key).await? {
            return Ok(ContentClaim::Cached);
        }
        if repo::decode_claims::try_claim(&ctx.db, faces_key, &holder, lease_ms).await? {
            // The holder may have finished between our look and our claim.
            if ctx.storage.exists(faces_key).await? && ctx.storage.exists(frames_key).await? {
                repo::decode_claims::release(&ctx.db, faces_key, &holder).await?;
                return Ok(ContentClaim::Cached);
            }
            return Ok(ContentClaim::Held(holder));
        }
        // A holder that died on this machine (a restarted server's predecessor) releases now.
        if incarnation::release_dead_decode_claims(&ctx.db, me).await? > 0 {
            continue;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

async fn decode_and_crop(
    ctx: &WorkerContext,
    cache: &mut SessionCache,
    video: &videos::Model,
) -> Result<PreparedCaches, JobError> {
    let sandbox = sandbox_config(ctx)?;
    let mut work = LazyJobDir::new(ctx);
    // A local store's file is read in place (the child may only read it: docs/SANDBOX.md);
    // from S3 the video is copied into the job folder first.
    let path = match ctx.storage.local_path(&video.storage_key) {
        Some(path) => path,
        None => {
            let path = work.path()?.join("input.video");
            let bytes = ctx.storage.get(&video.storage_key).await?;
            storage::write_file(&path, bytes)
                .await
                .map_err(|e| JobError::infra("scratch", e))?;
            path
        }
    };
    let plan = PreparePlan::from_settings(&ctx.settings.evaluation);
    let Some(config) = sandbox else {
        // The caches are written into the job folder (the one the video was copied into, if any).
        return prepare_in_process(ctx, cache, path, plan, work.into_dir()?).await;
    };
    match decode_child_key(ctx, video).await? {
        Some(key) if ctx.settings.evaluation.reuse_prepare_child => {
            let scratch = ctx.scratch_dir()?;
            let keep = ctx.settings.evaluation.prepare_children_per_slot;
            let kept = &mut cache.prepare_children;
            sandbox::prepare_serving(kept, keep, &config, &key, &path, &plan, &scratch).await
        }
        _ => sandbox::prepare(&config, &path, &plan, work.path()?).await,
    }
}

/// Which of the slot's decode children may decode `video`: the one of the team that uploaded it
/// (a decode child never sees two teams' videos: docs/SANDBOX.md). None for a video of no
/// submission: it gets a child of its own.
async fn decode_child_key(
    ctx: &WorkerContext,
    video: &videos::Model,
) -> Result<Option<String>, JobError> {
    let Some(sub) = video.submission_id else {
        return Ok(None);
    };
    Ok(repo::submissions::find(&ctx.db, sub)
        .await?
        .map(|s| format!("team:{}", s.team_id)))
}

/// The sandbox settings when uploads run isolated; an error when the child binary is missing
/// (never a silent fallback to in-process decoding).
fn sandbox_config(ctx: &WorkerContext) -> Result<Option<SandboxConfig>, JobError> {
    if !ctx.settings.evaluation.isolate {
        return Ok(None);
    }
    SandboxConfig::from_settings(&ctx.settings).map(Some)
}

/// Decodes and crops in this process (`evaluation.isolate = false`), leaving the caches as files
/// in `out` for the store to adopt ([`PreparedCaches::prepare_into`]).
async fn prepare_in_process(
    ctx: &WorkerContext,
    cache: &mut SessionCache,
    path: PathBuf,
    plan: PreparePlan,
    out: tempfile::TempDir,
) -> Result<PreparedCaches, JobError> {
    let mut detector = match cache.faces.take() {
        Some(d) => d,
        None => load_face_detector(ctx).await?,
    };
    let (detector, result) = tokio::task::spawn_blocking(move || {
        let r = PreparedCaches::prepare_into(&path, &plan, &mut detector, out);
        (detector, r)
    })
    .await
    .map_err(|e| JobError::infra("worker_panic", e))?;
    cache.faces = Some(detector);
    result
}

/// Readies a worker slot before its first claim, so that the first upload after a start does
/// not wait for it: the fork server (which preloads the face detector for the decode children)
/// when uploads run isolated, else the slot's own face detector. What fails here is left for
/// the first job to meet and report, as before. (Until 2026-12-05 both waited for the first
/// job: docs/BENCHMARKS.md "Slots ready before the first upload".)
pub async fn warm_up(ctx: &WorkerContext, cache: &mut SessionCache) {
    match sandbox_config(ctx) {
        Ok(Some(config)) => sandbox::start_fork_server(&config).await,
        Ok(None) if cache.faces.is_none() => match load_face_detector(ctx).await {
            Ok(detector) => cache.faces = Some(detector),
            Err(e) => tracing::debug!(error = %e, "no face detector before the first job"),
        },
        Ok(None) | Err(_) => {}
    }
}

async fn load_face_detector(ctx: &WorkerContext) -> Result<FaceDetector, JobError> {
    let path = faces::model_path(ctx.settings.evaluation.face_model.as_deref());
    let ort = ctx.ort.clone();
    let opts = SessionOptions::from_settings(&ctx.settings.evaluation);
    let loaded = tokio::task::spawn_blocking(move || FaceDetector::load(&ort, &path, &opts))
        .await
        .map_err(|e| JobError::infra("worker_panic", e))?;
    Ok(loaded?)
}

/// Scores `video_ids` with one detector, skipping pairs already scored.
#[tracing::instrument(skip(ctx, cache, video_ids), fields(videos = video_ids.len()), err)]
pub async fn score(
    ctx: &WorkerContext,
    cache: &mut SessionCache,
    detector_id: i64,
    video_ids: &[i64],
) -> Result<ScoreReport, JobError> {
    let started = Instant::now();
    let det = repo::detectors::find(&ctx.db, detector_id)
        .await?
        .ok_or_else(|| JobError::infra("not_found", format!("detector {detector_id} is gone")))?;
    let done = repo::scores::scored_among(&ctx.db, detector_id, video_ids).await?;
    let todo: Vec<i64> = video_ids
        .iter()
        .copied()
        .filter(|v| !done.contains(v))
        .collect();
    let mut report = ScoreReport {
        detector_id,
        scored: 0,
        skipped: video_ids.len().saturating_sub(todo.len()),
        elapsed_ms: 0,
    };
    if todo.is_empty() {
        return Ok(report);
    }
    let manifest: Manifest =
        serde_json::from_str(&det.manifest).map_err(|e| JobError::infra("corrupt_manifest", e))?;
    let videos: Vec<videos::Model> = repo::videos::find_many(&ctx.db, &todo)
        .await?
        .into_iter()
        .filter(|v| v.crops_key.is_some())
        .collect();
    if manifest.crop == CropMode::Face
        && crate::face_crop::CropPolicy::of(&manifest) != Default::default()
    {
        // Caches of an older face stage hold 1.3x crops, not contexts: they are read as they are.
        let current = |v: &videos::Model| {
            v.crops_key.as_deref()
                == Some(&storage::crops_key(
                    &v.sha256,
                    SAMPLER_VERSION,
                    FACE_DETECTOR_VERSION,
                ))
        };
        let stale: Vec<i64> = videos
            .iter()
            .filter(|v| !current(v))
            .map(|v| v.id)
            .collect();
        if !stale.is_empty() {
            tracing::warn!(
                detector_id,
                videos = ?stale,
                "videos prepared by an older face stage: their cached 1.3x crops are scored as they are, without the manifest's margin/align"
            );
        }
    }
    match sandbox_config(ctx)? {
        Some(config) => score_isolated(ctx, cache, &config, &det, &manifest, &videos).await?,
        None => score_in_process(ctx, cache, &det, &manifest, &videos).await?,
    }
    let touched: Vec<i64> = videos.iter().filter_map(|v| v.submission_id).collect();
    publish(ctx, det.competition_id, det.submission_id, &touched).await?;
    report.scored = videos.len();
    report.elapsed_ms = millis(started);
    Ok(report)
}

/// Scores with this slot's cached session, storing each score as soon as it is known. One
/// blocking thread scores the videos one after the other while this task maps the next video's
/// cache and stores the last score: the scoring never waits for a row or a map between two
/// videos. (Until 2026-12-05 each video was mapped, scored on a blocking thread and its row
/// written before the next was mapped: three hand-offs between threads per video on the slot's
/// path, ~5 ms a video with both cores busy; docs/BENCHMARKS.md "In-process scoring without
/// waits between videos".) After the first failure (a cache that cannot be read, a scoring
/// that fails) nothing more is scored and the scores before it are kept; a session whose
/// scoring failed is dropped rather than kept for the next job.
async fn score_in_process(
    ctx: &WorkerContext,
    cache: &mut SessionCache,
    det: &detectors::Model,
    manifest: &Manifest,
    videos: &[videos::Model],
) -> Result<(), JobError> {
    let mut detector = match cache.sessions.remove(&det.id) {
        Some(d) => d,
        None => load_detector(ctx, &det.model_key, manifest.clone()).await?,
    };
    // One video ahead: its cache is mapped while the one before is scored.
    let (to_score, mut queued) = tokio::sync::mpsc::channel::<(i64, bytes::Bytes)>(1);
    let (to_store, mut scored) = tokio::sync::mpsc::unbounded_channel();
    let scorer = tokio::task::spawn_blocking(move || {
        while let Some((video_id, bytes)) = queued.blocking_recv() {
            let r = Crops::parse(&bytes)
                .map_err(|e| JobError::infra("corrupt_crops", e))
                .and_then(|images| score_images(&mut detector, &images));
            let failed = r.is_err();
            if to_store.send((video_id, r)).is_err() || failed {
                return None;
            }
        }
        Some(detector)
    });
    let feed = async move {
        for video in videos {
            let bytes = ctx
                .storage
                .get(&cached_images_key(video, manifest.crop))
                .await?;
            if to_score.send((video.id, bytes)).await.is_err() {
                break; // the scorer stopped: its failure is what the job reports
            }
        }
        Ok::<_, JobError>(())
    };
    // The scores are stored together once the batch is scored (one insert), and those scored
    // before a failure still are.
    let store = async {
        let mut done = Vec::new();
        let mut failure = None;
        while let Some((video_id, result)) = scored.recv().await {
            match result {
                Ok(s) => done.push(new_score(det.id, video_id, s)),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        record_scores(ctx, done).await?;
        failure.map_or(Ok(()), Err)
    };
    let (fed, stored) = tokio::join!(feed, store);
    let detector = scorer
        .await
        .map_err(|e| JobError::infra("worker_panic", e))?;
    stored?;
    fed?;
    if let Some(detector) = detector {
        cache.sessions.insert(det.id, detector);
    }
    Ok(())
}

/// Scores all `videos` in an evaluation child (the slot's long-lived one, or one for the job), then
/// stores the scores.
async fn score_isolated(
    ctx: &WorkerContext,
    cache: &mut SessionCache,
    config: &SandboxConfig,
    det: &detectors::Model,
    manifest: &Manifest,
    videos: &[videos::Model],
) -> Result<(), JobError> {
    if videos.is_empty() {
        return Ok(());
    }
    let mut work = LazyJobDir::new(ctx);
    // A local store's model and caches are handed to the child in place, as a decode's video is:
    // its rule for each is read-only (docs/SANDBOX.md). From S3 they are fetched into the job
    // folder.
    let model_in_place = ctx.storage.local_path(&det.model_key);
    let model = match &model_in_place {
        Some(path) => path.clone(),
        None => work.path()?.join("model.onnx"),
    };
    let stage_model = async || -> Result<(), JobError> {
        match model_in_place {
            Some(_) => Ok(()),
            None => stage(ctx, &det.model_key, &model).await,
        }
    };
    let mut inputs = Vec::with_capacity(videos.len());
    for video in videos {
        let key = cached_images_key(video, manifest.crop);
        let images = match ctx.storage.local_path(&key) {
            Some(path) => path,
            None => {
                let path = work.path()?.join(format!("images-{}.bin", video.id));
                stage(ctx, &key, &path).await?;
                path
            }
        };
        inputs.push(ScoreInput {
            video_id: video.id,
            images,
        });
    }
    let scored = if ctx.settings.evaluation.reuse_score_child {
        let scratch = ctx.scratch_dir()?;
        let key = score_child_key(det);
        sandbox::score_serving(
            &mut cache.score_children,
            ctx.settings.evaluation.score_children_per_slot,
            config,
            &key,
            &model,
            stage_model,
            manifest,
            inputs,
            &scratch,
        )
        .await?
    } else {
        stage_model().await?;
        sandbox::score(config, &model, manifest, inputs, work.path()?).await?
    };
    let scores = scored
        .into_iter()
        .map(|s| new_score(det.id, s.video_id, s.score))
        .collect();
    record_scores(ctx, scores).await
}

/// The key of a slot's scoring child of `det` (`<detector id>:<model key>`): its upload check
/// and its score jobs share the child.
pub(crate) fn score_child_key(det: &detectors::Model) -> String {
    format!("{}:{}", det.id, det.model_key)
}

/// Fetches the object `key` from a remote store into `to`, for a child (a local store's objects
/// are handed over in place instead).
async fn stage(ctx: &WorkerContext, key: &str, to: &Path) -> Result<(), JobError> {
    let bytes = ctx.storage.get(key).await?;
    storage::write_file(to, bytes)
        .await
        .map_err(|e| JobError::infra("scratch", e))
}

/// A detector's score of one video as the `scores` table stores it.
fn new_score(detector_id: i64, video_id: i64, s: VideoScore) -> repo::scores::NewScore {
    repo::scores::NewScore {
        detector_id,
        video_id,
        score: f64::from(s.score),
        failed: false,
        per_frame: s.per_frame,
        elapsed_ms: s.elapsed_ms,
        ort_version: ORT_VERSION.to_owned(),
        sampler_version: SAMPLER_VERSION,
    }
}

/// Stores a batch's scores in one statement (until 2026-12-06, one per video).
async fn record_scores(
    ctx: &WorkerContext,
    scores: Vec<repo::scores::NewScore>,
) -> Result<(), JobError> {
    repo::scores::insert_many_once(&ctx.db, scores).await?;
    Ok(())
}

/// Where a prepared video's images for `crop` are cached.
fn cached_images_key(video: &videos::Model, crop: CropMode) -> String {
    match (crop, &video.crops_key) {
        (CropMode::Face, Some(key)) => key.clone(),
        (CropMode::Face, None) => {
            storage::crops_key(&video.sha256, SAMPLER_VERSION, FACE_DETECTOR_VERSION)
        }
        (CropMode::Frame, _) => storage::frames_key(&video.sha256, SAMPLER_VERSION),
    }
}

async fn load_detector(
    ctx: &WorkerContext,
    model_key: &str,
    manifest: Manifest,
) -> Result<Detector, JobError> {
    let bytes = ctx.storage.get(model_key).await?;
    let ort = ctx.ort.clone();
    let opts = SessionOptions::from_settings(&ctx.settings.evaluation);
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
    let mut subs = creation_subs.to_vec();
    subs.sort_unstable();
    subs.dedup();
    let mut all = subs.clone();
    all.push(detector_sub);
    evaluation::refresh_many(&ctx.db, competition_id, &all).await?;
    let payload =
        serde_json::json!({ "detector_submission": detector_sub, "creation_submissions": subs });
    repo::events::append(&ctx.db, competition_id, "scores", &payload).await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::media::{self, AsRgb};
    use crate::test_support::{decode_lock, face_detector, runtime, video};
    use arena::Settings;
    use arena::domain::{CompetitionMode, Preset, Slug, VideoRole};
    use arena::queue::Queue;
    use arena::queue::QueueConfig;
    use arena::storage::Storage;
    use std::path::Path;

    #[test]
    fn faces_are_cut_from_the_large_frames_and_capped() {
        let _guard = decode_lock();
        let before = media::decode_count();
        let plan = PreparePlan {
            frames: 6,
            decode_max_side: 1920,
            max_side: 64,
        };
        let mut det = face_detector();
        let p = prepare_frames(&video("face_moving.mp4"), &plan, &mut det).unwrap();
        assert_eq!(media::decode_count(), before + 1);
        assert_eq!(p.faces.indices, vec![0, 2, 4, 7, 9, 11]);
        assert_eq!(p.faces.face_frames(), 6);
        // Contexts of ~160 px cut from the 320x240 decode, shrunk to the 64 px cap; frames at
        // 64x48.
        assert!(
            p.faces
                .images
                .iter()
                .all(|i| (i.width, i.height) == (64, 64))
        );
        assert!(
            p.frames
                .images
                .iter()
                .all(|i| (i.width, i.height) == (64, 48))
        );
        assert_eq!(p.frames.face_frames(), 0);
        // Each default crop (cut from its context) is centred on the face: the detector finds
        // it again in the middle.
        let big = prepare_frames(
            &video("face_moving.mp4"),
            &PreparePlan {
                max_side: 512,
                ..plan
            },
            &mut det,
        )
        .unwrap();
        for (context, ctx) in big.faces.images.iter().zip(&big.faces.contexts) {
            let ctx = ctx.as_ref().expect("a context");
            assert!(ctx.face.eyes.is_some(), "{ctx:?}");
            // Not shrunk at 512: the context is its square of the frame.
            assert_eq!(context.width, ctx.rect.side);
            let crop =
                crate::face_crop::cut(context.rgb(), ctx, crate::face_crop::CropPolicy::DEFAULT);
            let face = det
                .largest_face(&crop)
                .unwrap()
                .expect("a face in the crop");
            let (cx, cy) = face.centre();
            let mid = crop.width as f32 / 2.0;
            assert!((cx - mid).abs() < 6.0 && (cy - mid).abs() < 6.0, "{face:?}");
        }
    }

    #[test]
    fn frame_detectors_read_the_whole_frames() {
        let mut v = arena::entities::videos::Model {
            id: 1,
            competition_id: 1,
            submission_id: None,
            role: "real".into(),
            sha256: "ab".into(),
            storage_key: String::new(),
            container: String::new(),
            codec: String::new(),
            width: 1,
            height: 1,
            fps: 1.0,
            frames: 1,
            duration_s: 1.0,
            prepare_state: "ready".into(),
            prepare_error: None,
            crops_key: Some("crops/ab/s1-f1.bin".into()),
            created_at_ms: 0,
            face_frames: Some(1),
            frame_indices: None,
            task_id: None,
            ssim: None,
            display_width: None,
            display_height: None,
            id_similarity: None,
        };
        assert_eq!(cached_images_key(&v, CropMode::Face), "crops/ab/s1-f1.bin");
        assert_eq!(cached_images_key(&v, CropMode::Frame), "frames/ab/s2.bin");
        v.crops_key = None;
        assert_eq!(
            cached_images_key(&v, CropMode::Face),
            storage::crops_key("ab", SAMPLER_VERSION, FACE_DETECTOR_VERSION)
        );
    }

    async fn context(dir: &Path) -> WorkerContext {
        let mut settings = Settings {
            data_dir: dir.to_owned(),
            ..Settings::default()
        };
        settings.evaluation.sampler_frames = 8;
        // The in-process path (the sandboxed one is tested in tests/sandbox.rs and the API tests).
        settings.evaluation.isolate = false;
        let url = format!("sqlite://{}?mode=rwc", dir.join("arena.db").display());
        let db = arena::db::connect_and_migrate(&url).await.unwrap();
        WorkerContext {
            storage: Storage::open(None, &dir.join("objects"), &Default::default()).unwrap(),
            queue: Queue::new(db.clone(), QueueConfig::from(&settings.queue)),
            db,
            settings,
            ort: runtime(),
            wakeup: arena::wakeup::Wakeup::default(),
        }
    }

    /// In process, a slot's warm-up loads its face detector, which its first decode then takes
    /// from the cache; a face model that cannot load is left for the first job to report.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slot_in_process_loads_its_face_detector_before_its_first_job() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path()).await;
        let mut cache = SessionCache::default();
        warm_up(&ctx, &mut cache).await;
        assert!(cache.faces.is_some(), "no face detector after the warm-up");

        std::fs::create_dir(dir.path().join("broken")).unwrap();
        let mut broken = context(&dir.path().join("broken")).await;
        broken.settings.evaluation.face_model = Some(dir.path().join("missing.onnx"));
        let mut empty = SessionCache::default();
        warm_up(&broken, &mut empty).await;
        assert!(empty.faces.is_none());
        let e = load_face_detector(&broken).await.err().unwrap();
        assert!(!e.message.is_empty(), "{e:?}");
    }

    /// A live competition; its id.
    async fn competition(ctx: &WorkerContext, slug: &str) -> i64 {
        let slug = Slug::parse(slug).unwrap();
        repo::competitions::create(
            &ctx.db,
            repo::competitions::NewCompetition {
                slug: &slug,
                title: slug.as_str(),
                mode: CompetitionMode::Live,
                preset: Preset::ALL[0],
                settings: "{}".into(),
            },
        )
        .await
        .unwrap()
        .id
    }

    /// A detector team's submission of the committed `redblue` detector (whole frames).
    async fn add_detector(ctx: &WorkerContext, competition_id: i64, team: &str) -> i64 {
        use arena::domain::{Role, SubmissionKind, SubmissionStatus, TeamName};
        let (model, manifest) = crate::test_support::detector_fixture("redblue");
        let team = repo::teams::create(
            &ctx.db,
            repo::teams::NewTeam {
                name: &TeamName::parse(team).unwrap(),
                role: Role::Detector,
                token_hash: "h".into(),
                is_admin: false,
                is_baseline: false,
            },
        )
        .await
        .unwrap();
        let submission = repo::submissions::create(
            &ctx.db,
            repo::submissions::NewSubmission {
                competition_id,
                team_id: team.id,
                kind: SubmissionKind::Detector,
                status: SubmissionStatus::Running,
                phase_id: None,
            },
        )
        .await
        .unwrap();
        let sha256 = storage::sha256_hex(&model);
        let model_key = storage::model_key(&sha256);
        ctx.storage
            .put(&model_key, bytes::Bytes::from(model))
            .await
            .unwrap();
        let new = repo::detectors::NewDetector {
            submission_id: submission.id,
            competition_id,
            model_sha256: sha256,
            model_key,
            manifest_json: serde_json::to_string(&manifest).unwrap(),
            ort_version: ORT_VERSION.into(),
        };
        repo::detectors::create(&ctx.db, new).await.unwrap().id
    }

    /// In process, a score job scores each video from its cache as `score_images` does on the
    /// same cache, stores every score and keeps the session for the detector's next job; a video
    /// whose cache is gone fails the job once the scores of the videos before it are stored,
    /// and the videos after it are not scored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[expect(
        clippy::await_holding_lock,
        reason = "the guard only keeps this binary's decode-counting tests from overlapping"
    )]
    async fn in_process_scores_are_stored_in_order_until_the_first_failure() {
        let _guard = decode_lock();
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path()).await;
        let competition = competition(&ctx, "scoring").await;
        let mut cache = SessionCache::default();
        let mut videos = Vec::new();
        for name in ["real_1.mp4", "real_2.mp4", "fake_1.mp4"] {
            let id = add_video(&ctx, competition, &std::fs::read(video(name)).unwrap()).await;
            prepare_video(&ctx, &mut cache, id).await.unwrap();
            videos.push(repo::videos::find(&ctx.db, id).await.unwrap().unwrap());
        }
        let ids: Vec<i64> = videos.iter().map(|v| v.id).collect();
        let (model, manifest) = crate::test_support::detector_fixture("redblue");
        let mut reference = Detector::load(
            &ctx.ort,
            &model,
            manifest.clone(),
            &SessionOptions::from_settings(&ctx.settings.evaluation),
        )
        .unwrap();
        let mut expected = Vec::new();
        for v in &videos {
            let bytes = ctx
                .storage
                .get(&cached_images_key(v, manifest.crop))
                .await
                .unwrap();
            let images = Crops::parse(&bytes).unwrap();
            expected.push(f64::from(
                score_images(&mut reference, &images).unwrap().score,
            ));
        }
        let stored = |detector: i64| {
            let db = ctx.db.clone();
            async move {
                let mut rows: Vec<(i64, f64)> = repo::scores::for_detector(&db, detector)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|s| (s.video_id, s.score))
                    .collect();
                rows.sort_by_key(|r| r.0);
                rows
            }
        };

        let first = add_detector(&ctx, competition, "first").await;
        let report = score(&ctx, &mut cache, first, &ids).await.unwrap();
        assert_eq!((report.scored, report.skipped), (3, 0));
        let want: Vec<(i64, f64)> = ids.iter().copied().zip(expected.iter().copied()).collect();
        assert_eq!(stored(first).await, want);
        assert!(
            cache.sessions.contains_key(&first),
            "the session was not kept"
        );

        // The second video's whole frames are gone from the store.
        let gone = storage::frames_key(&videos[1].sha256, SAMPLER_VERSION);
        ctx.storage.delete(&gone).await.unwrap();
        let second = add_detector(&ctx, competition, "second").await;
        let err = score(&ctx, &mut cache, second, &ids).await.unwrap_err();
        assert!(!err.permanent, "{err:?}");
        assert_eq!(stored(second).await, want[..1].to_vec());
    }

    async fn add_video(ctx: &WorkerContext, competition_id: i64, bytes: &[u8]) -> i64 {
        let sha256 = storage::sha256_hex(bytes);
        let storage_key = storage::video_key(&sha256);
        ctx.storage
            .put(&storage_key, bytes::Bytes::from(bytes.to_vec()))
            .await
            .unwrap();
        let new = repo::videos::NewVideo {
            competition_id,
            submission_id: None,
            role: VideoRole::Real,
            sha256,
            storage_key,
            container: "mov,mp4,m4a,3gp,3g2,mj2".into(),
            codec: "h264".into(),
            width: 320,
            height: 240,
            display_width: 320,
            display_height: 240,
            fps: 12.0,
            frames: 12,
            duration_s: 1.0,
            task_id: None,
        };
        repo::videos::create(&ctx.db, new).await.unwrap().id
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[expect(
        clippy::await_holding_lock,
        reason = "the guard only keeps this binary's decode-counting tests from overlapping"
    )]
    async fn prepare_caches_faces_and_frames_once_per_content() {
        let _guard = decode_lock();
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path()).await;
        let competition = competition(&ctx, "faces").await;
        let bytes = std::fs::read(video("face_moving.mp4")).unwrap();
        let first = add_video(&ctx, competition, &bytes).await;
        let again = add_video(&ctx, competition, &bytes).await;
        let mut cache = SessionCache::default();

        prepare_video(&ctx, &mut cache, first).await.unwrap();
        // The same content uploaded again is not decoded again: without the video file in the
        // store, only the caches can prepare it.
        let sha = storage::sha256_hex(&bytes);
        ctx.storage.delete(&storage::video_key(&sha)).await.unwrap();
        prepare_video(&ctx, &mut cache, again).await.unwrap();

        let faces_key = storage::crops_key(&sha, SAMPLER_VERSION, FACE_DETECTOR_VERSION);
        let faces = Crops::decode(&ctx.storage.get(&faces_key).await.unwrap()).unwrap();
        let frames = Crops::decode(
            &ctx.storage
                .get(&storage::frames_key(&sha, SAMPLER_VERSION))
                .await
                .unwrap(),
        )
        .unwrap();
        let indices = vec![0, 2, 3, 5, 6, 8, 9, 11];
        assert_eq!(faces.indices, indices);
        assert_eq!(frames.indices, indices);
        assert!(
            frames
                .images
                .iter()
                .all(|i| (i.width, i.height) == (320, 240))
        );
        // The faces' 2.5x contexts (the 240-px frame height at most), each with its geometry;
        // a default manifest's crop is the 1.3x square, under 120 px.
        assert!(
            faces
                .images
                .iter()
                .all(|i| i.width == i.height && i.width <= 240)
        );
        assert!(faces.contexts.iter().all(Option::is_some));
        let manifest = Manifest::parse(
            "name = \"t\"\ninput = \"i\"\noutput = \"o\"\nsize = [32, 32]\n\
             layout = \"nchw\"\ncolor = \"rgb\"\nmean = [0.0, 0.0, 0.0]\n\
             std = [1.0, 1.0, 1.0]\noutput_kind = \"logit\"\nframes = 8\n",
        )
        .unwrap();
        let crops = faces.for_detector(&manifest);
        assert_eq!(crops.len(), 8);
        assert!(
            crops
                .iter()
                .map(AsRgb::rgb)
                .all(|i| i.width == i.height && i.width < 120)
        );
        for id in [first, again] {
            let row = repo::videos::find(&ctx.db, id).await.unwrap().unwrap();
            assert_eq!(row.prepare_state, "ready");
            assert_eq!(row.crops_key.as_deref(), Some(faces_key.as_str()));
            assert_eq!(row.face_frames, Some(8));
            assert_eq!(row.frame_indices.as_deref(), Some("[0,2,3,5,6,8,9,11]"));
        }
        let index = repo::videos::find_crops(&ctx.db, &sha, SAMPLER_VERSION, FACE_DETECTOR_VERSION)
            .await
            .unwrap()
            .expect("crops row");
        assert_eq!((index.storage_key, index.frames), (faces_key, 8));
    }
}

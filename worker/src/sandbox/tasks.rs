//! One task in a fresh child each: a decode (`prepare`), a score, a new detector's checks, a
//! model inspection, an unzip, a self-test; each answer checked before use. (An upload's ingest
//! probe runs in its team's kept child: [`super::serve::ProbeChildren`].)

use super::config::{SandboxConfig, absolute};
use super::handoff;
use super::judge::protocol_error;
use super::protocol::{
    Attempt, CheckTask, InspectTask, Isolation, Output, PrepareTask, ScoreInput, ScoreTask,
    ScoredVideo, SelftestTask, Task, UnzipTask,
};
use super::spawn::run;
use crate::archive::ArchiveLimits;
use crate::checks::CheckReport;
use crate::crops::{Crops, CropsView};
use crate::job_error::JobError;
use crate::manifest::Manifest;
use crate::onnx_model::ModelInfo;
use crate::prepare::{CacheContents, CacheFiles, CropsSummary, PreparePlan, PreparedCaches};
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Decodes `video` in a child: its face crops and whole frames, as [`crate::prepare::prepare_frames`]
/// makes them, in their stored encoding. `work_dir` receives the child's output and is its
/// working directory; `video` may lie elsewhere (a local store's file: the child may only read
/// it).
#[tracing::instrument(skip_all, err)]
pub async fn prepare(
    config: &SandboxConfig,
    video: &Path,
    plan: &PreparePlan,
    work_dir: &Path,
) -> Result<PreparedCaches, JobError> {
    let work_dir = absolute(work_dir);
    let task = PrepareTask {
        video: absolute(video),
        plan: *plan,
        face_model: config.face_model.clone(),
        faces_out: work_dir.join("faces.bin"),
        frames_out: work_dir.join("frames.bin"),
    };
    let (faces_out, frames_out) = (task.faces_out.clone(), task.frames_out.clone());
    let (_, timings, output) = run(config, Task::Prepare(task), &work_dir).await?;
    // The child has exited: nothing of it holds the files.
    let handed = match work_dir.parent() {
        Some(parent) => {
            let files = vec![faces_out.clone(), frames_out.clone()];
            handoff::take(files, None, parent.to_owned()).await
        }
        None => None,
    };
    let caches = checked_caches(output, &faces_out, &frames_out, plan, handed).await?;
    tracing::debug!(
        load_ms = timings.load_ms,
        work_ms = timings.work_ms,
        "video prepared in a child"
    );
    Ok(caches)
}

/// The caches a decode child wrote, checked against its answer and the plan. The child's files
/// go to the store as they were written: checked in place (`Crops::parse_current`: the current
/// encoding, nothing more), never decoded and encoded again. `handed`: the same files moved out
/// of the child's reach ([`handoff::take`]), read there and kept for the store to adopt.
pub(super) async fn checked_caches(
    output: Output,
    faces_out: &Path,
    frames_out: &Path,
    plan: &PreparePlan,
    handed: Option<handoff::Handed>,
) -> Result<PreparedCaches, JobError> {
    let (faces_out, frames_out) = match &handed {
        Some(h) => (h.paths[0].as_path(), h.paths[1].as_path()),
        None => (faces_out, frames_out),
    };
    let Output::Prepared { decodes, .. } = output else {
        return Err(protocol_error(
            "answered a prepare request with something else",
        ));
    };
    crate::media::sampler::count_child_decodes(decodes);
    // Handed files are out of the child's reach: mapped, not copied (nothing changes them now),
    // and not populated: the check reads the images' headers, a few pages of each file.
    // Files left with the child are copied, so the bytes checked are the bytes stored.
    let mapped = handed.is_some();
    let faces = read_cache(faces_out, mapped).await?;
    let frames = read_cache(frames_out, mapped).await?;
    let summary = {
        let face_view = Crops::parse_current(&faces).map_err(|e| protocol_error(&e.to_string()))?;
        let frame_view =
            Crops::parse_current(&frames).map_err(|e| protocol_error(&e.to_string()))?;
        let too_big = |c: &CropsView<'_>| {
            c.images
                .iter()
                .any(|i| i.width.max(i.height) > plan.max_side)
        };
        if face_view.indices != frame_view.indices
            || face_view.indices.is_empty()
            || face_view.indices.len() > plan.frames
            || too_big(&face_view)
            || too_big(&frame_view)
        {
            return Err(protocol_error("wrote crops that do not match the request"));
        }
        CropsSummary::of(&face_view)
    };
    let files = handed.map(|h| CacheFiles {
        faces: h.paths[0].clone(),
        frames: h.paths[1].clone(),
        dir: h.dir,
    });
    Ok(PreparedCaches {
        contents: CacheContents::Checked {
            faces,
            frames,
            files,
        },
        summary,
    })
}

pub(super) async fn read_cache(path: &Path, mapped: bool) -> Result<Bytes, JobError> {
    let read = if mapped {
        let owned = path.to_owned();
        tokio::task::spawn_blocking(move || arena::storage::map_file_lazily(&owned))
            .await
            .map_err(|e| JobError::infra("worker_panic", e))?
    } else {
        tokio::fs::read(path).await.map(Bytes::from)
    };
    read.map_err(|e| protocol_error(&format!("left no {}: {e}", path.display())))
}

/// Scores the cached images of `videos` with the detector `model` in a child, one score per
/// video as [`crate::scoring::score_images`] gives it.
#[tracing::instrument(skip_all, fields(videos = videos.len()), err)]
pub async fn score(
    config: &SandboxConfig,
    model: &Path,
    manifest: &Manifest,
    videos: Vec<ScoreInput>,
    work_dir: &Path,
) -> Result<Vec<ScoredVideo>, JobError> {
    let mut wanted: Vec<i64> = videos.iter().map(|v| v.video_id).collect();
    let task = ScoreTask {
        model: absolute(model),
        key: None,
        manifest: manifest.clone(),
        videos: videos
            .into_iter()
            .map(|v| ScoreInput {
                images: absolute(&v.images),
                ..v
            })
            .collect(),
    };
    let (_, timings, output) = run(config, Task::Score(task), work_dir).await?;
    let scores = scores_for(&mut wanted, output)?;
    tracing::debug!(
        load_ms = timings.load_ms,
        work_ms = timings.work_ms,
        "videos scored in a child"
    );
    Ok(scores)
}

/// The scores of a score answer, checked against the videos asked for.
pub(super) fn scores_for(wanted: &mut [i64], output: Output) -> Result<Vec<ScoredVideo>, JobError> {
    let Output::Scored { scores } = output else {
        return Err(protocol_error(
            "answered a score request with something else",
        ));
    };
    let mut got: Vec<i64> = scores.iter().map(|s| s.video_id).collect();
    wanted.sort_unstable();
    got.sort_unstable();
    let in_range = |p: f32| p.is_finite() && (0.0..=1.0).contains(&p);
    let valid = scores
        .iter()
        .all(|s| in_range(s.score.score) && s.score.per_frame.iter().all(|p| in_range(*p)));
    if got != wanted || !valid {
        return Err(protocol_error(
            "answered with scores that do not match the request",
        ));
    }
    Ok(scores)
}

/// Runs a new detector's upload checks ([`crate::checks::check_detector`]) in a child, so a model
/// that crashes onnxruntime or blows the memory limit takes down the child, not the caller. Client
/// errors are the checks' own (`permanent`), plus the limit failures
/// [`blames_upload`](crate::job_error::blames_upload) names.
#[tracing::instrument(skip_all, err)]
pub async fn check_detector(
    config: &SandboxConfig,
    model: &Path,
    manifest: &Manifest,
    time_limit: Duration,
    work_dir: &Path,
) -> Result<CheckReport, JobError> {
    let task = CheckTask {
        model: absolute(model),
        manifest: manifest.clone(),
        time_limit_ms: u64::try_from(time_limit.as_millis()).unwrap_or(u64::MAX),
        key: None,
    };
    let (_, _, output) = run(config, Task::Check(task), work_dir).await?;
    check_report(output)
}

/// The report of a check answer, checked.
pub(super) fn check_report(output: Output) -> Result<CheckReport, JobError> {
    let Output::Checked(c) = output else {
        return Err(protocol_error(
            "answered a check request with something else",
        ));
    };
    if c.scores.iter().any(|p| !p.is_finite()) {
        return Err(protocol_error("answered with non-finite probe scores"));
    }
    Ok(CheckReport {
        scores: c.scores,
        batch_sizes: c.batch_sizes,
        max_diff: c.max_diff,
        execution_provider: c.execution_provider,
        elapsed: Duration::from_millis(c.elapsed_ms),
    })
}

/// Inspects an uploaded ONNX model ([`crate::onnx_model::inspect_model`]) in a child, so a file
/// that crashes or exhausts the protobuf parser costs the child, not the caller (the web server).
/// A file over `max_bytes` is refused (`model_too_large`) unread; `test_faults` is for tests only
/// ([`InspectTask::test_faults`]).
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn inspect(
    config: &SandboxConfig,
    model: &Path,
    max_bytes: u64,
    test_faults: bool,
    work_dir: &Path,
) -> Result<ModelInfo, JobError> {
    let task = InspectTask {
        model: absolute(model),
        max_bytes,
        test_faults,
    };
    match run(config, Task::Inspect(task), work_dir).await?.2 {
        Output::Inspected(info) => Ok(info),
        _ => Err(protocol_error(
            "answered an inspect request with something else",
        )),
    }
}

/// Lists and inflates a creation zip ([`crate::archive::extract_zip_from`]) in a child, into
/// `work_dir` (its job folder; one `entry-<n>` file per entry), so the zip and deflate parsers
/// never run on a team's bytes in the caller (the web server). The answer is checked against
/// what the child left: plain files of the stated sizes, together within the cap.
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn unzip(
    config: &SandboxConfig,
    archive: &Path,
    limits: &ArchiveLimits,
    work_dir: &Path,
) -> Result<Vec<(String, PathBuf)>, JobError> {
    let work_dir = absolute(work_dir);
    let task = UnzipTask {
        archive: absolute(archive),
        out_dir: work_dir.clone(),
        limits: *limits,
    };
    let Output::Unzipped { entries } = run(config, Task::Unzip(task), &work_dir).await?.2 else {
        return Err(protocol_error(
            "answered an unzip request with something else",
        ));
    };
    let mut out = Vec::with_capacity(entries.len());
    let mut total = 0u64;
    for (i, entry) in entries.into_iter().enumerate() {
        let path = work_dir.join(&entry.file);
        let plain = entry.file == format!("entry-{i}")
            && std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.len() == entry.len)
            && crate::archive::safe_entry_name(&format!("{}.mp4", entry.task)).is_some();
        total = total.saturating_add(entry.len);
        if !plain || total > limits.max_total_bytes || i >= limits.max_entries {
            return Err(protocol_error(
                "answered with entries that do not match its files",
            ));
        }
        out.push((entry.task, path));
    }
    if out.is_empty() {
        return Err(protocol_error("answered an unzip request with no entry"));
    }
    Ok(out)
}

/// Runs a [`SelftestTask`] in a child confined as a job's child in `work_dir` is: what it could
/// and could not do.
pub async fn selftest(
    config: &SandboxConfig,
    task: SelftestTask,
    work_dir: &Path,
) -> Result<(Isolation, Vec<Attempt>), JobError> {
    match run(config, Task::Selftest(task), work_dir).await? {
        (isolation, _, Output::Selftested { attempts }) => Ok((isolation, attempts)),
        _ => Err(protocol_error(
            "answered a selftest request with something else",
        )),
    }
}

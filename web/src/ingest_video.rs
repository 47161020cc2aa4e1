//! Video ingest: creations (one video, or a zip of `<task_id>.<ext>`), organizers' hidden reals
//! and task target clips. Every file is probed first and checked against its task; only a fully
//! valid upload stores objects and creates its rows and jobs, in one transaction.

use crate::admission;
use crate::context::AppContext;
use crate::error::{ApiError, Code};
use crate::ingest::media_error;
use crate::upload::{ArchiveLimits, UploadedFile, extract_zip, looks_like_zip};
use actix_web::http::StatusCode;
use arena::domain::{CompetitionMode, SubmissionKind, SubmissionStatus, VideoRole};
use arena::entities::{competitions, submissions, tasks, videos};
use arena::repo;
use arena::storage;
use arena_worker::media::{ProbeFacts, ProbeLimits, probe_video};
use arena_worker::sandbox;
use std::collections::HashSet;

/// One probed video of an upload, with the task it answers.
struct Checked {
    task: Option<String>,
    file: UploadedFile,
    facts: ProbeFacts,
}

/// Archive caps for creation zips.
pub fn archive_limits(ctx: &AppContext) -> ArchiveLimits {
    ArchiveLimits {
        max_entries: 500,
        max_total_bytes: ctx.settings().limits.max_video_bytes.saturating_mul(4),
        max_ratio: 100,
    }
}

/// Splits an uploaded creation into (task, file) items: a zip's entries, or the one video. A zip
/// is listed and inflated in an `arena-sandbox` child when evaluation is isolated (its entries
/// come back as files the server hashes and keeps); else in a blocking thread.
pub async fn creation_items(
    ctx: &AppContext,
    file: UploadedFile,
    task: Option<String>,
) -> Result<Vec<(Option<String>, UploadedFile)>, ApiError> {
    if !looks_like_zip(file.path()) {
        return Ok(vec![(task, file)]);
    }
    if task.is_some() {
        return Err(ApiError::of(
            Code::BadArchive,
            "a zip names its tasks itself; do not send `task`",
        ));
    }
    let settings = ctx.settings();
    let (limits, upload_dir) = (archive_limits(ctx), settings.upload_dir());
    let entries = if settings.evaluation.isolate {
        let mut config =
            sandbox::SandboxConfig::from_settings(settings).map_err(ApiError::internal)?;
        config.timeout = config.timeout.min(PROBE_TIMEOUT);
        let scratch = arena::scratch::dir(&settings.data_dir).map_err(ApiError::internal)?;
        let work = tempfile::tempdir_in(&scratch).map_err(ApiError::internal)?;
        let inflated = sandbox::unzip(&config, file.path(), &limits, work.path())
            .await
            .map_err(unzip_error)?;
        // Moving and hashing the inflated files is blocking work: off the executor.
        actix_web::web::block(move || {
            inflated
                .into_iter()
                .map(|(task, path)| Ok((task, UploadedFile::adopt(&path, &upload_dir)?)))
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await
        .map_err(ApiError::internal)??
    } else {
        let path = file.path().to_owned();
        actix_web::web::block(move || extract_zip(&path, &upload_dir, limits))
            .await
            .map_err(ApiError::internal)??
    };
    Ok(entries.into_iter().map(|(t, f)| (Some(t), f)).collect())
}

/// A refused zip: the archive's codes as in-process (422); a child that died on it (a crash, a
/// forbidden system call, a limit) is the zip's doing too (422, the sandbox's code); a missing
/// binary or a garbled answer is ours (500).
fn unzip_error(e: arena_worker::pipeline::JobError) -> ApiError {
    let died = matches!(
        e.code,
        sandbox::CRASHED | sandbox::SYSCALL | sandbox::KILLED
    );
    if e.permanent {
        ApiError::unprocessable(e.code, e.message)
    } else if died || sandbox::blames_upload(e.code) {
        let message = format!("the zip could not be read: {}", e.message);
        ApiError::unprocessable(e.code, message)
    } else {
        ApiError::internal(e)
    }
}

/// The longest an ingest probe child may run: it demuxes the file once and decodes one frame.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Probes an uploaded video (format whitelist, facts, limits, first frame): in `team_id`'s kept
/// `arena-sandbox` probe child when evaluation is isolated, so FFmpeg never parses an upload in
/// the server's process (a file that crashes the demuxer costs the child); else in a blocking
/// thread.
pub async fn probe(
    ctx: &AppContext,
    team_id: i64,
    file: &UploadedFile,
) -> Result<ProbeFacts, ApiError> {
    let settings = ctx.settings();
    let l = &settings.limits;
    let limits = ProbeLimits {
        max_width: l.max_width,
        max_height: l.max_height,
        max_fps: l.max_fps,
        max_frames: l.max_frames,
        max_duration_s: l.max_duration_s,
        ..ProbeLimits::default()
    };
    if !settings.evaluation.isolate {
        let path = file.path().to_owned();
        return actix_web::web::block(move || probe_video(&path, &limits))
            .await
            .map_err(ApiError::internal)?
            .map_err(media_error);
    }
    let mut config = sandbox::SandboxConfig::from_settings(settings).map_err(ApiError::internal)?;
    config.timeout = config.timeout.min(PROBE_TIMEOUT);
    let scratch = arena::scratch::dir(&settings.data_dir).map_err(ApiError::internal)?;
    let faults = settings.evaluation.sandbox_test_faults;
    let key = format!("team:{team_id}");
    ctx.probe_children()
        .probe(&config, &key, file.path(), &limits, faults, &scratch)
        .await
        .map_err(probe_error)
}

/// A refused probe: the media errors as in-process (415 / 422); a child that died on the file
/// (a crash, a forbidden system call, a limit) is the file's doing too (422, the sandbox's code);
/// a missing binary or a garbled answer is ours (500).
fn probe_error(e: arena_worker::pipeline::JobError) -> ApiError {
    let died = matches!(
        e.code,
        sandbox::CRASHED | sandbox::SYSCALL | sandbox::KILLED
    );
    if Code::parse(e.code) == Some(Code::UnsupportedMedia) && e.permanent {
        ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.code, e.message)
    } else if e.permanent || sandbox::blames_upload(e.code) || died {
        let message = if died || sandbox::blames_upload(e.code) {
            format!("the video could not be probed: {}", e.message)
        } else {
            e.message
        };
        ApiError::unprocessable(e.code, message)
    } else {
        ApiError::internal(e)
    }
}

/// Ingests a creation of one or more fake videos.
#[tracing::instrument(skip(ctx, competition, items), fields(competition = %competition.slug, files = items.len()), err)]
pub async fn ingest_creation(
    ctx: &AppContext,
    competition: &competitions::Model,
    team_id: i64,
    items: Vec<(Option<String>, UploadedFile)>,
) -> Result<submissions::Model, ApiError> {
    let phase_id = admission::admit(ctx, competition, team_id, SubmissionKind::Creation).await?;
    let mut checked = Vec::new();
    for (task, file) in items {
        let facts = probe(ctx, team_id, &file).await?;
        checked.push(Checked { task, file, facts });
    }
    check_tasks(ctx, competition, phase_id, &checked).await?;
    store(
        ctx,
        competition,
        team_id,
        SubmissionKind::Creation,
        phase_id,
        checked,
    )
    .await
}

/// Ingests an organizer's hidden real (label 0).
pub async fn ingest_real(
    ctx: &AppContext,
    competition: &competitions::Model,
    team_id: i64,
    file: UploadedFile,
) -> Result<submissions::Model, ApiError> {
    let facts = probe(ctx, team_id, &file).await?;
    let item = Checked {
        task: None,
        file,
        facts,
    };
    store(
        ctx,
        competition,
        team_id,
        SubmissionKind::Reals,
        None,
        vec![item],
    )
    .await
}

/// Ingests a task's target clip and creates the task.
pub async fn ingest_task(
    ctx: &AppContext,
    competition: &competitions::Model,
    team_id: i64,
    task: (&str, i32, &str),
    (file, reference): (UploadedFile, Option<UploadedFile>),
) -> Result<tasks::Model, ApiError> {
    let (task_id, round, donor) = task;
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-');
    if task_id.is_empty() || task_id.len() > 64 || !task_id.chars().all(ok) {
        return Err(ApiError::of(
            Code::InvalidTaskId,
            "task ids are 1-64 letters, digits, '_' or '-'",
        ));
    }
    if repo::tasks::find(ctx.db(), competition.id, task_id)
        .await?
        .is_some()
    {
        return Err(ApiError::of(
            Code::TaskExists,
            format!("task {task_id} already exists"),
        ));
    }
    // Both probed before anything is stored: a bad reference leaves no half-made task.
    let target = checked(ctx, team_id, file).await?;
    let reference = match reference {
        Some(f) => Some(checked(ctx, team_id, f).await?),
        None => None,
    };
    let video = store_target(ctx, competition, team_id, target).await?;
    let donor_reference_video_id = match reference {
        Some(item) => Some(store_target(ctx, competition, team_id, item).await?.id),
        None => None,
    };
    Ok(repo::tasks::create(
        ctx.db(),
        repo::tasks::NewTask {
            competition_id: competition.id,
            round,
            task_id,
            target_video_id: video.id,
            donor_identity: donor,
            donor_reference_video_id,
        },
    )
    .await?)
}

/// A task clip probed (in a sandbox child), not yet stored.
async fn checked(ctx: &AppContext, team_id: i64, file: UploadedFile) -> Result<Checked, ApiError> {
    let facts = probe(ctx, team_id, &file).await?;
    Ok(Checked {
        task: None,
        file,
        facts,
    })
}

/// Stores a task's clip (its target, or its donor's reference) as a target-kind
/// upload: prepared (frames and crops cached), never scored, never shown as a real.
async fn store_target(
    ctx: &AppContext,
    competition: &competitions::Model,
    team_id: i64,
    item: Checked,
) -> Result<arena::entities::videos::Model, ApiError> {
    let sub = store(
        ctx,
        competition,
        team_id,
        SubmissionKind::Target,
        None,
        vec![item],
    )
    .await?;
    repo::videos::list_for_submission(ctx.db(), sub.id)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("target video missing"))
}

/// Every file answers a task of the open round (rounds mode; optional in live mode), at most
/// once, with the target clip's resolution and frame count (within the tolerance).
async fn check_tasks(
    ctx: &AppContext,
    comp: &competitions::Model,
    phase_id: Option<i64>,
    items: &[Checked],
) -> Result<(), ApiError> {
    let rounds = admission::mode(comp)? == CompetitionMode::Rounds;
    let tolerance = admission::settings(comp)?.frame_tolerance;
    let round = match phase_id {
        Some(id) => repo::phases::find(ctx.db(), id).await?.map(|p| p.round),
        None => None,
    };
    let mut seen = HashSet::new();
    for item in items {
        let Some(task_id) = &item.task else {
            if rounds {
                return Err(ApiError::of(
                    Code::TaskRequired,
                    "name the task this video answers (`task` field or zip entry name)",
                ));
            }
            continue;
        };
        if !seen.insert(task_id.clone()) {
            return Err(ApiError::of(
                Code::DuplicateTask,
                format!("task {task_id} is answered twice"),
            ));
        }
        let task = repo::tasks::find(ctx.db(), comp.id, task_id).await?;
        let task = match (task, round) {
            (Some(t), Some(r)) if t.round == r => t,
            (Some(t), None) if !rounds => t,
            _ => {
                return Err(ApiError::of(
                    Code::UnknownTask,
                    format!("{task_id} is not a task of the open round"),
                ));
            }
        };
        let target = repo::videos::find(ctx.db(), task.target_video_id)
            .await?
            .ok_or_else(|| ApiError::internal("target missing"))?;
        check_against_target(task_id, &item.facts, &target, tolerance)?;
    }
    Ok(())
}

fn check_against_target(
    task_id: &str,
    facts: &ProbeFacts,
    target: &videos::Model,
    tolerance: f64,
) -> Result<(), ApiError> {
    // Sizes as displayed: a fake re-encoded by a tool that applied the target's rotation (as
    // FFmpeg's CLI does) looks identical to it.
    let (w, h) = (
        i64::from(facts.display_width),
        i64::from(facts.display_height),
    );
    let (tw, th) = target.display_size();
    if (w, h) != (i64::from(tw), i64::from(th)) {
        return Err(ApiError::of(
            Code::ResolutionMismatch,
            format!("{task_id}: {w}×{h} as displayed, but the target clip is {tw}×{th}"),
        ));
    }
    let frames = i64::try_from(facts.frames).unwrap_or(i64::MAX);
    if !arena::rules::frames_match(frames, target.frames, tolerance) {
        return Err(ApiError::of(
            Code::FrameCountMismatch,
            format!(
                "{task_id}: {frames} frames, but the target clip has {} (±{:.0} %)",
                target.frames,
                tolerance * 100.0
            ),
        ));
    }
    Ok(())
}

/// Stores the objects, then the submission, its videos and their prepare jobs in one transaction.
async fn store(
    ctx: &AppContext,
    competition: &competitions::Model,
    team_id: i64,
    kind: SubmissionKind,
    phase_id: Option<i64>,
    items: Vec<Checked>,
) -> Result<submissions::Model, ApiError> {
    for item in &items {
        ctx.storage()
            .put_file(&storage::video_key(&item.file.sha256), item.file.path())
            .await?;
    }
    let new = repo::submissions::NewSubmission {
        competition_id: competition.id,
        team_id,
        kind,
        status: SubmissionStatus::Queued,
        phase_id,
    };
    let videos = items
        .into_iter()
        .map(|item| {
            let f = &item.facts;
            repo::videos::NewVideo {
                competition_id: competition.id,
                submission_id: None,
                role: VideoRole::Fake,
                sha256: item.file.sha256.clone(),
                storage_key: storage::video_key(&item.file.sha256),
                container: f.container.clone(),
                codec: f.codec.clone(),
                width: i32::try_from(f.width).unwrap_or(i32::MAX),
                height: i32::try_from(f.height).unwrap_or(i32::MAX),
                display_width: i32::try_from(f.display_width).unwrap_or(i32::MAX),
                display_height: i32::try_from(f.display_height).unwrap_or(i32::MAX),
                fps: f.fps,
                frames: i64::try_from(f.frames).unwrap_or(i64::MAX),
                duration_s: f.duration_s,
                task_id: item.task.clone(),
            }
        })
        .collect();
    let max_attempts = ctx.settings().queue.max_attempts;
    let sub = arena::intake::create_videos(ctx.db(), new, videos, max_attempts)
        .await
        .map_err(crate::ingest::intake_error)?;
    ctx.live().wake();
    ctx.jobs_queued();
    tracing::info!(
        submission_id = sub.id,
        kind = kind.as_str(),
        "videos accepted"
    );
    Ok(sub)
}

//! Which (detector, video) pairs get evaluated and when, in live mode: every valid pair as soon
//! as both sides are ready. Also submission progress and the boards' input.
//!
//! Each side first records that it is ready, then looks for the other side, so of a detector and
//! a video becoming ready at the same time at least one sees the other; a pair enqueued twice is
//! harmless (scores are UNIQUE per pair and a score job skips pairs already scored).

use crate::domain::{PrepareState, SubmissionKind, SubmissionStatus, VideoRole};
use crate::entities::{detectors, submissions, teams, videos};
use crate::error::RepoError;
use crate::queue::{self, JobPayload, QueueError};
use crate::repo;
use crate::scoring::{BoardInput, CreationEntry, DetectorEntry};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// How enqueued work is sized.
#[derive(Debug, Clone, Copy)]
pub struct EnqueuePolicy {
    pub score_batch_videos: usize,
    pub max_attempts: i32,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// Detectors that count: ready, and their submission neither failed nor rejected.
pub async fn live_detectors<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
) -> Result<Vec<(detectors::Model, submissions::Model)>, RepoError> {
    let subs = live_submissions(db, competition_id).await?;
    let dets = repo::detectors::list_for_competition(db, competition_id).await?;
    Ok(dets
        .into_iter()
        .filter(|d| d.ready)
        .filter_map(|d| subs.get(&d.submission_id).cloned().map(|s| (d, s)))
        .collect())
}

async fn live_submissions<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
) -> Result<HashMap<i64, submissions::Model>, RepoError> {
    let subs = repo::submissions::list_for_competition(db, competition_id).await?;
    let mut live = HashMap::new();
    for s in subs {
        if !repo::submissions::status(&s)?.is_final() {
            live.insert(s.id, s);
        }
    }
    Ok(live)
}

/// Videos that count: the reals and the fakes of live creations, unless their decode failed.
pub async fn live_videos<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
) -> Result<Vec<videos::Model>, RepoError> {
    let subs = live_submissions(db, competition_id).await?;
    let all = repo::videos::list_for_competition(db, competition_id).await?;
    let mut live = Vec::new();
    for v in all {
        let sub_ok = match v.submission_id {
            None => true,
            Some(id) => subs.contains_key(&id),
        };
        if sub_ok && repo::videos::prepare_state(&v)? != PrepareState::Failed {
            live.push(v);
        }
    }
    Ok(live)
}

/// A validated detector: mark it ready and enqueue it against every prepared video.
#[tracing::instrument(skip(db, policy), err)]
pub async fn on_detector_accepted<C: ConnectionTrait>(
    db: &C,
    detector_id: i64,
    policy: EnqueuePolicy,
) -> Result<usize, EvaluationError> {
    repo::detectors::mark_ready(db, detector_id).await?;
    let det = repo::detectors::find(db, detector_id)
        .await?
        .ok_or(RepoError::NotFound("detector"))?;
    let ready: Vec<videos::Model> = live_videos(db, det.competition_id)
        .await?
        .into_iter()
        .filter(|v| v.prepare_state == PrepareState::Ready.as_str())
        .collect();
    let ids: Vec<i64> = ready.iter().map(|v| v.id).collect();
    let scored: HashSet<i64> = repo::scores::scored_among(db, detector_id, &ids)
        .await?
        .into_iter()
        .collect();
    let todo: Vec<i64> = ids.into_iter().filter(|v| !scored.contains(v)).collect();
    let mut jobs = 0;
    for chunk in todo.chunks(policy.score_batch_videos.max(1)) {
        let payload = JobPayload::Score {
            detector_id,
            video_ids: chunk.to_vec(),
        };
        if queue::enqueue(db, &payload, Some(det.submission_id), policy.max_attempts)
            .await?
            .is_some()
        {
            jobs += 1;
        }
    }
    refresh_status(db, det.submission_id).await?;
    // Their creations have a new pair to wait for.
    let mut subs: Vec<i64> = ready.iter().filter_map(|v| v.submission_id).collect();
    subs.sort_unstable();
    subs.dedup();
    for sub in subs {
        refresh_status(db, sub).await?;
    }
    Ok(jobs)
}

/// A video whose frames are cached: enqueue it for every live detector.
#[tracing::instrument(skip(db, policy), err)]
pub async fn on_video_prepared<C: ConnectionTrait>(
    db: &C,
    video_id: i64,
    crops_key: &str,
    policy: EnqueuePolicy,
) -> Result<usize, EvaluationError> {
    repo::videos::mark_ready(db, video_id, crops_key).await?;
    let video = repo::videos::find(db, video_id)
        .await?
        .ok_or(RepoError::NotFound("video"))?;
    let mut jobs = 0;
    for (det, _) in live_detectors(db, video.competition_id).await? {
        if !repo::scores::scored_among(db, det.id, &[video_id])
            .await?
            .is_empty()
        {
            continue;
        }
        let payload = JobPayload::Score {
            detector_id: det.id,
            video_ids: vec![video_id],
        };
        if queue::enqueue(db, &payload, Some(det.submission_id), policy.max_attempts)
            .await?
            .is_some()
        {
            jobs += 1;
        }
        refresh_status(db, det.submission_id).await?;
    }
    if let Some(sub) = video.submission_id {
        refresh_status(db, sub).await?;
    }
    Ok(jobs)
}

/// A video that could not be decoded: its creation fails; a real one leaves the real set.
pub async fn on_video_failed<C: ConnectionTrait>(
    db: &C,
    video_id: i64,
    reason: &str,
) -> Result<(), EvaluationError> {
    repo::videos::mark_failed(db, video_id, reason).await?;
    let video = repo::videos::find(db, video_id)
        .await?
        .ok_or(RepoError::NotFound("video"))?;
    if let Some(sub) = video.submission_id {
        repo::submissions::fail(db, sub, "video_prepare_failed", reason).await?;
    }
    Ok(())
}

/// A score job out of attempts: its pairs count 0.5 (flagged failed) and the detector fails.
pub async fn on_score_job_dead<C: ConnectionTrait>(
    db: &C,
    detector_id: i64,
    video_ids: &[i64],
    reason: &str,
) -> Result<(), EvaluationError> {
    for v in video_ids {
        repo::scores::insert_once(
            db,
            repo::scores::NewScore {
                detector_id,
                video_id: *v,
                score: 0.5,
                failed: true,
                per_frame: Vec::new(),
                elapsed_ms: 0,
                ort_version: String::new(),
                sampler_version: 0,
            },
        )
        .await?;
    }
    if let Some(det) = repo::detectors::find(db, detector_id).await? {
        repo::submissions::fail(db, det.submission_id, "evaluation_failed", reason).await?;
    }
    Ok(())
}

/// Pairs done and to do for a submission.
pub async fn progress<C: ConnectionTrait>(
    db: &C,
    sub: &submissions::Model,
) -> Result<Progress, RepoError> {
    match repo::submissions::kind(sub)? {
        SubmissionKind::Detector => {
            let Some(det) = repo::detectors::find_by_submission(db, sub.id).await? else {
                return Ok(Progress { done: 0, total: 0 });
            };
            let videos: Vec<i64> = live_videos(db, sub.competition_id)
                .await?
                .iter()
                .map(|v| v.id)
                .collect();
            let done = repo::scores::count_for_videos(db, &videos, &[det.id]).await?;
            Ok(Progress {
                done,
                total: videos.len() as u64,
            })
        }
        SubmissionKind::Creation | SubmissionKind::Reals => {
            let videos: Vec<i64> = repo::videos::list_for_submission(db, sub.id)
                .await?
                .iter()
                .map(|v| v.id)
                .collect();
            let dets: Vec<i64> = live_detectors(db, sub.competition_id)
                .await?
                .iter()
                .map(|(d, _)| d.id)
                .collect();
            let done = repo::scores::count_for_videos(db, &videos, &dets).await?;
            Ok(Progress {
                done,
                total: (videos.len() * dets.len()) as u64,
            })
        }
    }
}

/// Recomputes a live submission's status from its progress: finished once every pair is scored
/// and no job of its own is pending.
pub async fn refresh_status<C: ConnectionTrait>(
    db: &C,
    submission_id: i64,
) -> Result<SubmissionStatus, RepoError> {
    let Some(sub) = repo::submissions::find(db, submission_id).await? else {
        return Err(RepoError::NotFound("submission"));
    };
    let current = repo::submissions::status(&sub)?;
    if current.is_final() {
        return Ok(current);
    }
    let p = progress(db, &sub).await?;
    let videos_pending = repo::videos::list_for_submission(db, sub.id)
        .await?
        .iter()
        .any(|v| v.prepare_state == PrepareState::Pending.as_str());
    let next = if p.done >= p.total && !videos_pending {
        SubmissionStatus::Finished
    } else {
        SubmissionStatus::Running
    };
    if next != current {
        repo::submissions::set_status(db, sub.id, next).await?;
    }
    Ok(next)
}

/// Loads what the boards of a competition are computed from.
pub async fn board_input<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
) -> Result<BoardInput, RepoError> {
    let teams: HashMap<i64, teams::Model> = repo::teams::list(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let team = |id: i64| {
        teams
            .get(&id)
            .map(|t| (t.name.clone(), t.is_baseline))
            .unwrap_or_default()
    };
    let dets = live_detectors(db, competition_id).await?;
    let videos = live_videos(db, competition_id).await?;
    let subs = live_submissions(db, competition_id).await?;

    let mut creations: Vec<CreationEntry> = Vec::new();
    let mut reals = Vec::new();
    for v in &videos {
        if repo::videos::role(v)? == VideoRole::Real {
            reals.push(v.id);
            continue;
        }
        let Some(sub_id) = v.submission_id else {
            continue;
        };
        match creations.iter_mut().find(|c| c.submission_id == sub_id) {
            Some(c) => c.video_ids.push(v.id),
            None => {
                let Some(sub) = subs.get(&sub_id) else {
                    continue;
                };
                let (name, baseline) = team(sub.team_id);
                creations.push(CreationEntry {
                    submission_id: sub_id,
                    team: name,
                    baseline,
                    video_ids: vec![v.id],
                });
            }
        }
    }
    let detectors: Vec<DetectorEntry> = dets
        .iter()
        .map(|(d, s)| {
            let (name, baseline) = team(s.team_id);
            DetectorEntry {
                detector_id: d.id,
                submission_id: s.id,
                team: name,
                baseline,
            }
        })
        .collect();
    let ids: Vec<i64> = detectors.iter().map(|d| d.detector_id).collect();
    let scores = repo::scores::for_detectors(db, &ids)
        .await?
        .into_iter()
        .map(|(d, v, s)| ((d, v), s))
        .collect();
    Ok(BoardInput {
        detectors,
        creations,
        real_video_ids: reals,
        scores,
    })
}

//! Enqueueing: what each event (a detector accepted, a video prepared or failed, a phase closed,
//! a score job dead) brings into scope, enqueued in the caller's transaction.

use super::progress::{refresh_all, refresh_in};
use super::scope::{CompetitionView, LiveDetector, LiveVideo, view};
use crate::domain::PrepareState;
use crate::error::RepoError;
use crate::queue::{self, JobPayload, QueueError};
use crate::repo;
use crate::time::now_ms;
use sea_orm::{ConnectionTrait, DatabaseConnection};

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
    pub max_attempts: i32,
}

/// Enqueues every in-scope pair among `dets` × `vids` (prepared videos only) not yet scored.
async fn enqueue_pairs<C: ConnectionTrait>(
    db: &C,
    view: &CompetitionView,
    dets: &[&LiveDetector],
    vids: &[&LiveVideo],
    policy: EnqueuePolicy,
) -> Result<usize, EvaluationError> {
    let pairs: Vec<(&LiveDetector, i64)> = dets
        .iter()
        .flat_map(|det| {
            vids.iter()
                .filter(|v| {
                    v.video.prepare_state == PrepareState::Ready.as_str() && view.in_scope(det, v)
                })
                .map(move |v| (*det, v.video.id))
        })
        .collect();
    let ids: Vec<(i64, i64)> = pairs.iter().map(|(d, v)| (d.detector.id, *v)).collect();
    let scored = repo::scores::scored_pairs(db, &ids).await?;
    let mut jobs = 0;
    // One job per pair: the slot that claims one takes the detector's other queued pairs with
    // it, as many as its share of the live slots (the worker's `claim_batch`), so a detector's
    // videos are split between idle slots instead of queued as one long job.
    for (det, video_id) in pairs {
        if scored.contains(&(det.detector.id, video_id)) {
            continue;
        }
        let payload = JobPayload::Score {
            detector_id: det.detector.id,
            video_ids: vec![video_id],
        };
        if queue::enqueue(db, &payload, Some(det.submission.id), policy.max_attempts)
            .await?
            .is_some()
        {
            jobs += 1;
        }
    }
    Ok(jobs)
}

/// A validated detector: mark it ready and enqueue it against every prepared video in scope.
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
    let view = view(db, det.competition_id).await?;
    let Some(live) = view.detectors.iter().find(|d| d.detector.id == detector_id) else {
        return Ok(0);
    };
    let vids: Vec<&LiveVideo> = view.videos.iter().collect();
    let jobs = enqueue_pairs(db, &view, &[live], &vids, policy).await?;
    refresh_all(db, &view).await?;
    Ok(jobs)
}

/// A video whose frames are cached: enqueue it for every detector in scope.
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
    let view = view(db, video.competition_id).await?;
    let mut jobs = 0;
    if let Some(live) = view.videos.iter().find(|v| v.video.id == video_id) {
        let dets: Vec<&LiveDetector> = view.detectors.iter().collect();
        jobs = enqueue_pairs(db, &view, &dets, &[live], policy).await?;
    }
    // A new video changes its own submission's progress and every detector's, no one else's.
    let mut affected: Vec<i64> = view.detectors.iter().map(|d| d.submission.id).collect();
    affected.extend(video.submission_id);
    refresh_in(db, &view, &affected).await?;
    Ok(jobs)
}

/// A phase whose close time has passed: enqueue what its close brings into scope (D(k)'s finals
/// against C(k+1)'s fakes already prepared). Idempotent: only the first caller processes it.
#[tracing::instrument(skip(db, policy), err)]
pub async fn on_phase_closed<C: ConnectionTrait>(
    db: &C,
    phase_id: i64,
    policy: EnqueuePolicy,
) -> Result<usize, EvaluationError> {
    if !repo::phases::claim_close(db, phase_id).await? {
        return Ok(0);
    }
    let phase = repo::phases::find(db, phase_id)
        .await?
        .ok_or(RepoError::NotFound("phase"))?;
    let view = view(db, phase.competition_id).await?;
    let dets: Vec<&LiveDetector> = view.detectors.iter().collect();
    let vids: Vec<&LiveVideo> = view.videos.iter().collect();
    let jobs = enqueue_pairs(db, &view, &dets, &vids, policy).await?;
    refresh_all(db, &view).await?;
    repo::events::append(
        db,
        phase.competition_id,
        "phase_closed",
        &serde_json::json!({ "phase": phase_id }),
    )
    .await?;
    Ok(jobs)
}

/// Processes every phase whose close time has passed (called periodically by the server).
pub async fn process_due_phase_closes<C: ConnectionTrait>(
    db: &C,
    policy: EnqueuePolicy,
) -> Result<usize, EvaluationError> {
    let mut jobs = 0;
    for phase in repo::phases::due_closes(db, now_ms()).await? {
        jobs += on_phase_closed(db, phase.id, policy).await?;
    }
    Ok(jobs)
}

/// A video that could not be decoded: its creation fails; a real one leaves the real set.
///
/// One write transaction: a status refresh between the video turning `failed` and its
/// submission failing would find nothing left to prepare and no pair to score, and would store
/// (and notify) `finished` before the failure landed.
pub async fn on_video_failed(
    db: &DatabaseConnection,
    video_id: i64,
    reason: &str,
    refund: bool,
) -> Result<(), EvaluationError> {
    let txn = crate::db::begin_write(db).await.map_err(RepoError::from)?;
    repo::videos::mark_failed(&txn, video_id, reason).await?;
    let video = repo::videos::find(&txn, video_id)
        .await?
        .ok_or(RepoError::NotFound("video"))?;
    if let Some(sub) = video.submission_id {
        repo::submissions::fail(&txn, sub, "video_prepare_failed", reason).await?;
        if refund {
            repo::submissions::refund(&txn, sub).await?;
        }
    }
    txn.commit().await.map_err(RepoError::from)?;
    Ok(())
}

/// A detector's activation out of attempts: its submission fails, refunded when `refund`. One
/// write transaction, as [`on_video_failed`]: the failure and the refund land together or not
/// at all (a crash between them would have left a failure our side caused counted against the
/// team's quota).
pub async fn on_activation_dead(
    db: &DatabaseConnection,
    detector_id: i64,
    reason: &str,
    refund: bool,
) -> Result<(), EvaluationError> {
    // A dead score job without pairs: the detector's failure and refund, and nothing else.
    on_score_job_dead(db, detector_id, &[], reason, refund).await
}

/// A score job out of attempts: its pairs count 0.5 (flagged failed) and the detector fails.
/// One write transaction, for the reason [`on_video_failed`] gives: with its last pairs scored
/// and before it failed, the detector's submission would look finished.
pub async fn on_score_job_dead(
    db: &DatabaseConnection,
    detector_id: i64,
    video_ids: &[i64],
    reason: &str,
    refund: bool,
) -> Result<(), EvaluationError> {
    let txn = crate::db::begin_write(db).await.map_err(RepoError::from)?;
    for v in video_ids {
        repo::scores::insert_once(
            &txn,
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
    if let Some(det) = repo::detectors::find(&txn, detector_id).await? {
        repo::submissions::fail(&txn, det.submission_id, "evaluation_failed", reason).await?;
        if refund {
            repo::submissions::refund(&txn, det.submission_id).await?;
        }
    }
    txn.commit().await.map_err(RepoError::from)?;
    Ok(())
}

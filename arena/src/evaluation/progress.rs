//! Progress: pairs done and to do per submission, the submission status derived from it, and
//! the per-pair progress the submission page shows.

use super::scope::{CompetitionView, LiveDetector, LiveVideo, view};
use crate::domain::{PrepareState, SubmissionKind, SubmissionStatus, VideoRole};
use crate::entities::submissions;
use crate::error::RepoError;
use crate::repo;
use sea_orm::ConnectionTrait;
use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// Refreshes the status of every live submission of the competition.
pub(super) async fn refresh_all<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
    view: &CompetitionView,
) -> Result<(), RepoError> {
    let ids: Vec<i64> = view.submissions.keys().copied().collect();
    refresh_many(db, competition_id, &ids).await
}

/// Pairs done and to do for a submission (in scope now).
pub async fn progress<C: ConnectionTrait>(
    db: &C,
    sub: &submissions::Model,
) -> Result<Progress, RepoError> {
    let view = view(db, sub.competition_id).await?;
    progress_in(db, &view, sub).await
}

/// [`progress`] against an already loaded view of the submission's competition.
async fn progress_in<C: ConnectionTrait>(
    db: &C,
    view: &CompetitionView,
    sub: &submissions::Model,
) -> Result<Progress, RepoError> {
    let (dets, vids): (Vec<&LiveDetector>, Vec<&LiveVideo>) = match repo::submissions::kind(sub)? {
        SubmissionKind::Detector => (
            view.detectors
                .iter()
                .filter(|d| d.submission.id == sub.id)
                .collect(),
            view.videos.iter().collect(),
        ),
        SubmissionKind::Target => return Ok(Progress { done: 0, total: 0 }),
        SubmissionKind::Creation | SubmissionKind::Reals => (
            view.detectors.iter().collect(),
            view.videos
                .iter()
                .filter(|v| v.video.submission_id == Some(sub.id))
                .collect(),
        ),
    };
    let mut progress = Progress { done: 0, total: 0 };
    for det in dets {
        let ids: Vec<i64> = vids
            .iter()
            .filter(|v| view.in_scope(det, v))
            .map(|v| v.video.id)
            .collect();
        if ids.is_empty() {
            continue;
        }
        progress.total += ids.len() as u64;
        progress.done += repo::scores::scored_among(db, det.detector.id, &ids)
            .await?
            .len() as u64;
    }
    Ok(progress)
}

/// A submission as read before its progress: whether its own side is still pending.
struct Pending {
    sub: submissions::Model,
    current: SubmissionStatus,
    pending: bool,
    /// A detector whose upload checks have not passed yet: it stays as it is (`queued`).
    unchecked: bool,
}

async fn read_pending<C: ConnectionTrait>(
    db: &C,
    submission_id: i64,
) -> Result<Pending, RepoError> {
    let Some(sub) = repo::submissions::find(db, submission_id).await? else {
        return Err(RepoError::NotFound("submission"));
    };
    let current = repo::submissions::status(&sub)?;
    let videos_pending = repo::videos::list_for_submission(db, sub.id)
        .await?
        .iter()
        .any(|v| v.prepare_state == PrepareState::Pending.as_str());
    let detector_pending = match repo::detectors::find_by_submission(db, sub.id).await? {
        Some(d) => !d.ready,
        None => false,
    };
    Ok(Pending {
        sub,
        current,
        pending: videos_pending || detector_pending,
        unchecked: detector_pending,
    })
}

async fn apply_progress<C: ConnectionTrait>(
    db: &C,
    read: &Pending,
    p: Progress,
) -> Result<(SubmissionStatus, Progress), RepoError> {
    if read.current.is_final() || read.unchecked {
        return Ok((read.current, p));
    }
    let next = if p.done >= p.total && !read.pending {
        SubmissionStatus::Finished
    } else {
        SubmissionStatus::Running
    };
    if next != read.current
        && !repo::submissions::set_status(db, read.sub.id, read.current, next).await?
    {
        // It changed meanwhile (another refresh, or it turned final because a job died):
        // report what is stored, not our guess.
        let stored = repo::submissions::find(db, read.sub.id)
            .await?
            .ok_or(RepoError::NotFound("submission"))?;
        return Ok((repo::submissions::status(&stored)?, p));
    }
    Ok((next, p))
}

/// Recomputes a live submission's status from its progress: finished once every pair in scope
/// is scored and its videos are prepared; a finished one runs again when new pairs appear.
/// Returns the status and the progress it was derived from (one consistent reading).
pub async fn refresh_status<C: ConnectionTrait>(
    db: &C,
    submission_id: i64,
) -> Result<(SubmissionStatus, Progress), RepoError> {
    // Pending flags are read before the progress: a side that turns ready in between is then
    // already counted by the progress, never missed by both.
    let read = read_pending(db, submission_id).await?;
    let view = view(db, read.sub.competition_id).await?;
    let p = progress_in(db, &view, &read.sub).await?;
    apply_progress(db, &read, p).await
}

/// [`refresh_status`] for several submissions of one competition, with one view of it: every
/// pending flag is read first, then the view, then each progress (the same ordering argument).
pub async fn refresh_many<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
    submission_ids: &[i64],
) -> Result<(), RepoError> {
    let mut ids = submission_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut reads = Vec::with_capacity(ids.len());
    for id in ids {
        match read_pending(db, id).await {
            Ok(r) => reads.push(r),
            Err(RepoError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let view = view(db, competition_id).await?;
    for read in &reads {
        let p = progress_in(db, &view, &read.sub).await?;
        apply_progress(db, read, p).await?;
    }
    Ok(())
}

/// Progress of one side of a submission's pairs: a detector against a creation's videos (or the
/// hidden real set), a creation against a detector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairProgress {
    pub against: String,
    pub done: u64,
    pub total: u64,
}

async fn scored_count<C: ConnectionTrait>(
    db: &C,
    det: &LiveDetector,
    ids: &[i64],
) -> Result<u64, RepoError> {
    Ok(repo::scores::scored_among(db, det.detector.id, ids)
        .await?
        .len() as u64)
}

fn pair_ids(view: &CompetitionView, det: &LiveDetector, videos: &[&LiveVideo]) -> Vec<i64> {
    videos
        .iter()
        .filter(|v| view.in_scope(det, v))
        .map(|v| v.video.id)
        .collect()
}

fn pair_label(view: &CompetitionView, submission_id: i64) -> String {
    let team = view
        .submissions
        .get(&submission_id)
        .and_then(|s| view.teams.get(&s.team_id))
        .map(|(name, _)| name.clone())
        .unwrap_or_default();
    format!("{team} #{submission_id}")
}

/// A detector's pairs grouped by creation (and the hidden real set); a creation's by detector.
pub async fn pair_progress<C: ConnectionTrait>(
    db: &C,
    sub: &submissions::Model,
) -> Result<Vec<PairProgress>, RepoError> {
    let view = view(db, sub.competition_id).await?;
    let mut out = Vec::new();
    match repo::submissions::kind(sub)? {
        SubmissionKind::Detector => {
            let Some(det) = view.detectors.iter().find(|d| d.submission.id == sub.id) else {
                return Ok(out);
            };
            let reals: Vec<&LiveVideo> = view
                .videos
                .iter()
                .filter(|v| v.role == VideoRole::Real)
                .collect();
            let mut groups: Vec<(String, Vec<&LiveVideo>)> =
                vec![("hidden real videos".to_owned(), reals)];
            for v in view.videos.iter().filter(|v| v.role != VideoRole::Real) {
                let Some(owner) = v.video.submission_id else {
                    continue;
                };
                let name = pair_label(&view, owner);
                match groups.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, list)) => list.push(v),
                    None => groups.push((name, vec![v])),
                }
            }
            for (against, videos) in groups {
                let ids = pair_ids(&view, det, &videos);
                out.push(PairProgress {
                    against,
                    done: scored_count(db, det, &ids).await?,
                    total: ids.len() as u64,
                });
            }
        }
        SubmissionKind::Creation | SubmissionKind::Reals => {
            let mine: Vec<&LiveVideo> = view
                .videos
                .iter()
                .filter(|v| v.video.submission_id == Some(sub.id))
                .collect();
            for det in &view.detectors {
                let ids = pair_ids(&view, det, &mine);
                out.push(PairProgress {
                    against: pair_label(&view, det.submission.id),
                    done: scored_count(db, det, &ids).await?,
                    total: ids.len() as u64,
                });
            }
        }
        SubmissionKind::Target => {}
    }
    Ok(out)
}

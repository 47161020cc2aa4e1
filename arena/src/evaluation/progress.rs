//! Progress: pairs done and to do per submission, the submission status derived from it, and
//! the per-pair progress the submission page shows.

use super::scope::{CompetitionView, LiveDetector, LiveVideo, view};
use crate::domain::{SubmissionKind, SubmissionStatus, VideoRole};
use crate::entities::submissions;
use crate::error::RepoError;
use crate::repo;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// Pairs done and to do for a submission (in scope now).
pub async fn progress<C: ConnectionTrait>(
    db: &C,
    sub: &submissions::Model,
) -> Result<Progress, RepoError> {
    let view = view(db, sub.competition_id).await?;
    progress_in(db, &view, sub).await
}

/// The in-scope (detector, video) pairs of a submission: a detector's against every live video,
/// a creation's (or the real set's) videos against every live detector.
fn pairs_of(
    view: &CompetitionView,
    sub: &submissions::Model,
) -> Result<Vec<(i64, i64)>, RepoError> {
    let (dets, vids): (Vec<&LiveDetector>, Vec<&LiveVideo>) = match repo::submissions::kind(sub)? {
        SubmissionKind::Detector => (
            view.detectors
                .iter()
                .filter(|d| d.submission.id == sub.id)
                .collect(),
            view.videos.iter().collect(),
        ),
        SubmissionKind::Target => return Ok(Vec::new()),
        SubmissionKind::Creation | SubmissionKind::Reals => (
            view.detectors.iter().collect(),
            view.videos
                .iter()
                .filter(|v| v.video.submission_id == Some(sub.id))
                .collect(),
        ),
    };
    Ok(dets
        .iter()
        .flat_map(|d| pairs_with(view, d, &vids))
        .collect())
}

/// [`progress`] against an already loaded view of the submission's competition.
async fn progress_in<C: ConnectionTrait>(
    db: &C,
    view: &CompetitionView,
    sub: &submissions::Model,
) -> Result<Progress, RepoError> {
    let pairs = pairs_of(view, sub)?;
    let scored = repo::scores::scored_pairs(db, &pairs).await?;
    Ok(progress_of(&pairs, &scored))
}

/// A submission as the view saw it before its progress: whether its own side is still pending.
struct Pending {
    sub: submissions::Model,
    current: SubmissionStatus,
    pending: bool,
    /// A detector whose upload checks have not passed yet: it stays as it is (`queued`).
    unchecked: bool,
}

impl Pending {
    /// The submission's own side as `view` saw it; None when it was final (or gone) then.
    fn of(view: &CompetitionView, submission_id: i64) -> Result<Option<Pending>, RepoError> {
        let Some(sub) = view.submissions.get(&submission_id) else {
            return Ok(None);
        };
        let unchecked = view.unchecked.contains(&submission_id);
        Ok(Some(Pending {
            current: repo::submissions::status(sub)?,
            pending: unchecked || view.preparing.contains(&submission_id),
            unchecked,
            sub: sub.clone(),
        }))
    }
}

/// Stores the status `p` implies; returns it, with the stored row when a concurrent change won
/// (then its status is what is reported, not our guess).
async fn apply_progress<C: ConnectionTrait>(
    db: &C,
    read: &Pending,
    p: Progress,
) -> Result<(SubmissionStatus, Option<submissions::Model>), RepoError> {
    if read.current.is_final() || read.unchecked {
        return Ok((read.current, None));
    }
    let next = if p.done >= p.total && !read.pending {
        SubmissionStatus::Finished
    } else {
        SubmissionStatus::Running
    };
    if next != read.current
        && !repo::submissions::set_status(db, read.sub.id, read.current, next).await?
    {
        // It changed meanwhile (another refresh, or it turned final because a job died).
        let stored = repo::submissions::find(db, read.sub.id)
            .await?
            .ok_or(RepoError::NotFound("submission"))?;
        return Ok((repo::submissions::status(&stored)?, Some(stored)));
    }
    Ok((next, None))
}

/// What [`refresh_status`] found: the status, the progress it was derived from (one consistent
/// reading), and the submission row as that status was decided (its error, note and pick as
/// read then).
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub status: SubmissionStatus,
    pub progress: Progress,
    pub submission: submissions::Model,
}

/// Recomputes a live submission's status from its progress: finished once every pair in scope
/// is scored and its videos are prepared; a finished one runs again when new pairs appear.
/// `sub` is the caller's reading of the row; a newer one is taken from the view.
///
/// Ordering: the pending flags (videos still preparing, a detector still being checked) come
/// from the same [`view`] as the live sets, and every score is read after it. A side that turns
/// ready after the view is still pending in it, so the status stays `running` and the event that
/// made it ready refreshes again with a newer view; a side ready before it is in the view and its
/// pairs are counted. Never missed by both.
pub async fn refresh_status<C: ConnectionTrait>(
    db: &C,
    sub: &submissions::Model,
) -> Result<Refreshed, RepoError> {
    let view = view(db, sub.competition_id).await?;
    match Pending::of(&view, sub.id)? {
        Some(read) => {
            let progress = progress_in(db, &view, &read.sub).await?;
            let (status, stored) = apply_progress(db, &read, progress).await?;
            let mut submission = stored.unwrap_or(read.sub);
            submission.status = status.as_str().to_owned();
            Ok(Refreshed {
                status,
                progress,
                submission,
            })
        }
        // Final before the view was read: its status no longer moves (and the view holds none of
        // its pairs).
        None => {
            let stored = if repo::submissions::status(sub)?.is_final() {
                sub.clone()
            } else {
                repo::submissions::find(db, sub.id)
                    .await?
                    .ok_or(RepoError::NotFound("submission"))?
            };
            Ok(Refreshed {
                status: repo::submissions::status(&stored)?,
                progress: progress_in(db, &view, &stored).await?,
                submission: stored,
            })
        }
    }
}

/// [`refresh_status`] for several submissions of one competition, with one view of it.
pub async fn refresh_many<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
    submission_ids: &[i64],
) -> Result<(), RepoError> {
    let view = view(db, competition_id).await?;
    refresh_in(db, &view, submission_ids).await
}

/// [`refresh_many`] against a view the caller loaded after the event it reacts to (the ordering
/// argument of [`refresh_status`] holds: no score has been read before it). Submissions final
/// when it was read, and detectors whose checks have not passed, are left as they are. The
/// scored pairs of all the submissions are read in one query after the view (until 2026-12-06,
/// one query per submission: a score batch of twelve videos refreshed thirteen submissions with
/// thirteen reads; docs/BENCHMARKS.md, item 34).
pub(super) async fn refresh_in<C: ConnectionTrait>(
    db: &C,
    view: &CompetitionView,
    submission_ids: &[i64],
) -> Result<(), RepoError> {
    let mut ids = submission_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut live = Vec::new();
    for id in ids {
        if let Some(read) = Pending::of(view, id)?
            && !read.current.is_final()
            && !read.unchecked
        {
            let pairs = pairs_of(view, &read.sub)?;
            live.push((read, pairs));
        }
    }
    let asked: Vec<(i64, i64)> = live.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    let scored = repo::scores::scored_pairs(db, &asked).await?;
    for (read, pairs) in &live {
        apply_progress(db, read, progress_of(pairs, &scored)).await?;
    }
    Ok(())
}

/// The progress of `pairs` given the `scored` ones.
fn progress_of(pairs: &[(i64, i64)], scored: &HashSet<(i64, i64)>) -> Progress {
    Progress {
        done: pairs.iter().filter(|p| scored.contains(p)).count() as u64,
        total: pairs.len() as u64,
    }
}

/// Refreshes the status of every live submission of the competition, against `view`.
pub(super) async fn refresh_all<C: ConnectionTrait>(
    db: &C,
    view: &CompetitionView,
) -> Result<(), RepoError> {
    let ids: Vec<i64> = view.submissions.keys().copied().collect();
    refresh_in(db, view, &ids).await
}

/// Progress of one side of a submission's pairs: a detector against a creation's videos (or the
/// hidden real set), a creation against a detector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairProgress {
    pub against: String,
    pub done: u64,
    pub total: u64,
}

fn pairs_with(
    view: &CompetitionView,
    det: &LiveDetector,
    videos: &[&LiveVideo],
) -> Vec<(i64, i64)> {
    videos
        .iter()
        .filter(|v| view.in_scope(det, v))
        .map(|v| (det.detector.id, v.video.id))
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
    let mut groups: Vec<(String, Vec<(i64, i64)>)> = Vec::new();
    match repo::submissions::kind(sub)? {
        SubmissionKind::Detector => {
            let Some(det) = view.detectors.iter().find(|d| d.submission.id == sub.id) else {
                return Ok(Vec::new());
            };
            let reals: Vec<&LiveVideo> = view
                .videos
                .iter()
                .filter(|v| v.role == VideoRole::Real)
                .collect();
            let mut by_owner: Vec<(String, Vec<&LiveVideo>)> =
                vec![("hidden real videos".to_owned(), reals)];
            for v in view.videos.iter().filter(|v| v.role != VideoRole::Real) {
                let Some(owner) = v.video.submission_id else {
                    continue;
                };
                let name = pair_label(&view, owner);
                match by_owner.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, list)) => list.push(v),
                    None => by_owner.push((name, vec![v])),
                }
            }
            for (against, videos) in by_owner {
                groups.push((against, pairs_with(&view, det, &videos)));
            }
        }
        SubmissionKind::Creation | SubmissionKind::Reals => {
            let mine: Vec<&LiveVideo> = view
                .videos
                .iter()
                .filter(|v| v.video.submission_id == Some(sub.id))
                .collect();
            for det in &view.detectors {
                groups.push((
                    pair_label(&view, det.submission.id),
                    pairs_with(&view, det, &mine),
                ));
            }
        }
        SubmissionKind::Target => {}
    }
    let all: Vec<(i64, i64)> = groups.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    let scored = repo::scores::scored_pairs(db, &all).await?;
    Ok(groups
        .into_iter()
        .map(|(against, pairs)| PairProgress {
            against,
            done: pairs.iter().filter(|p| scored.contains(p)).count() as u64,
            total: pairs.len() as u64,
        })
        .collect())
}

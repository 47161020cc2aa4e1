//! Which (detector, video) pairs get evaluated and when, submission progress, and the boards'
//! input. Live mode: every valid pair as soon as both sides are ready. Rounds mode: the scope
//! of `rules::in_scope` (Ck against D(k−1)'s finals and every Dk detector), extended when a
//! detection phase closes.
//!
//! Each side first records that it is ready (committed), then looks for the other side, so of a
//! detector and a video becoming ready at the same time at least one sees the other; a pair
//! enqueued twice is harmless (scores are UNIQUE per pair and a score job skips scored pairs).

use crate::domain::{CompetitionMode, PrepareState, SubmissionKind, SubmissionStatus, VideoRole};
use crate::entities::{detectors, submissions, videos};
use crate::error::RepoError;
use crate::queue::{self, JobPayload, QueueError};
use crate::repo;
use crate::rules::{self, DetectorSlot, Phase, PhaseKind, VideoSlot};
use crate::scoring::{BoardInput, CreationEntry, DetectorEntry};
use crate::time::now_ms;
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

/// A live detector with its place in the schedule.
#[derive(Debug, Clone)]
pub struct LiveDetector {
    pub detector: detectors::Model,
    pub submission: submissions::Model,
    pub slot: DetectorSlot,
    pub team: String,
    pub baseline: bool,
}

/// A live video (real or fake, never a target) with its place in the schedule.
#[derive(Debug, Clone)]
pub struct LiveVideo {
    pub video: videos::Model,
    pub slot: VideoSlot,
    pub role: VideoRole,
}

/// Everything scope decisions need about one competition, loaded at once.
#[derive(Debug, Clone)]
pub struct CompetitionView {
    pub mode: CompetitionMode,
    pub phases: Vec<Phase>,
    pub detectors: Vec<LiveDetector>,
    pub videos: Vec<LiveVideo>,
    pub submissions: HashMap<i64, submissions::Model>,
    pub teams: HashMap<i64, (String, bool)>,
}

impl CompetitionView {
    /// Is the pair evaluated at all (now)?
    pub fn in_scope(&self, det: &LiveDetector, video: &LiveVideo) -> bool {
        match self.mode {
            CompetitionMode::Live => true,
            CompetitionMode::Rounds => rules::in_scope(det.slot, video.slot),
        }
    }

    fn phase_round(&self, phase_id: Option<i64>, kind: PhaseKind) -> Option<i32> {
        let id = phase_id?;
        self.phases
            .iter()
            .find(|p| p.id == id && p.kind == kind)
            .map(|p| p.round)
    }
}

/// Loads the competition's live detectors and videos with their schedule slots.
pub async fn view<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
) -> Result<CompetitionView, RepoError> {
    let comp = repo::competitions::find(db, competition_id)
        .await?
        .ok_or(RepoError::NotFound("competition"))?;
    let mode = CompetitionMode::parse(&comp.mode)
        .ok_or_else(|| RepoError::Corrupt(format!("mode {:?}", comp.mode)))?;
    let phases = repo::phases::to_rules(&repo::phases::list(db, competition_id).await?)?;
    let teams: HashMap<i64, (String, bool)> = repo::teams::list(db)
        .await?
        .into_iter()
        .map(|t| (t.id, (t.name, t.is_baseline)))
        .collect();
    let mut subs = HashMap::new();
    for s in repo::submissions::list_for_competition(db, competition_id).await? {
        if !repo::submissions::status(&s)?.is_final() {
            subs.insert(s.id, s);
        }
    }
    let mut view = CompetitionView {
        mode,
        phases,
        detectors: Vec::new(),
        videos: Vec::new(),
        submissions: HashMap::new(),
        teams,
    };
    view.detectors = live_detectors(
        &view,
        &subs,
        repo::detectors::list_for_competition(db, competition_id).await?,
    );
    for v in repo::videos::list_for_competition(db, competition_id).await? {
        let role = repo::videos::role(&v)?;
        let sub_ok = v.submission_id.is_none_or(|id| subs.contains_key(&id));
        if role == VideoRole::Target
            || !sub_ok
            || repo::videos::prepare_state(&v)? == PrepareState::Failed
        {
            continue;
        }
        let slot = match role {
            VideoRole::Real => VideoSlot::Real,
            _ => match view.phase_round(
                v.submission_id
                    .and_then(|s| subs.get(&s))
                    .and_then(|s| s.phase_id),
                PhaseKind::Creation,
            ) {
                Some(round) => VideoSlot::Fake { round },
                None => VideoSlot::Unphased,
            },
        };
        view.videos.push(LiveVideo {
            video: v,
            slot,
            role,
        });
    }
    view.submissions = subs;
    Ok(view)
}

fn live_detectors(
    view: &CompetitionView,
    subs: &HashMap<i64, submissions::Model>,
    all: Vec<detectors::Model>,
) -> Vec<LiveDetector> {
    let now = now_ms();
    let live: Vec<(detectors::Model, submissions::Model)> = all
        .into_iter()
        .filter(|d| d.ready)
        .filter_map(|d| subs.get(&d.submission_id).cloned().map(|s| (d, s)))
        .collect();
    // Finals of each closed detection phase: every team's last valid detector there.
    let mut finals = HashSet::new();
    for p in view
        .phases
        .iter()
        .filter(|p| p.kind == PhaseKind::Detection && p.is_closed(now))
    {
        let in_phase: Vec<(i64, i64)> = live
            .iter()
            .filter(|(_, s)| s.phase_id == Some(p.id))
            .map(|(d, s)| (s.team_id, d.id))
            .collect();
        finals.extend(rules::last_per_team(&in_phase));
    }
    live.into_iter()
        .map(|(detector, submission)| {
            let (team, baseline) = view
                .teams
                .get(&submission.team_id)
                .cloned()
                .unwrap_or_default();
            let slot = match view.phase_round(submission.phase_id, PhaseKind::Detection) {
                Some(round) => DetectorSlot::Round {
                    round,
                    final_of_closed: finals.contains(&detector.id),
                },
                None if baseline => DetectorSlot::Baseline,
                None => DetectorSlot::Unphased,
            };
            LiveDetector {
                detector,
                submission,
                slot,
                team,
                baseline,
            }
        })
        .collect()
}

/// Enqueues every in-scope pair among `dets` × `vids` (prepared videos only) not yet scored.
async fn enqueue_pairs<C: ConnectionTrait>(
    db: &C,
    view: &CompetitionView,
    dets: &[&LiveDetector],
    vids: &[&LiveVideo],
    policy: EnqueuePolicy,
) -> Result<usize, EvaluationError> {
    let mut jobs = 0;
    for det in dets {
        let ids: Vec<i64> = vids
            .iter()
            .filter(|v| {
                v.video.prepare_state == PrepareState::Ready.as_str() && view.in_scope(det, v)
            })
            .map(|v| v.video.id)
            .collect();
        let scored: HashSet<i64> = repo::scores::scored_among(db, det.detector.id, &ids)
            .await?
            .into_iter()
            .collect();
        let todo: Vec<i64> = ids.into_iter().filter(|v| !scored.contains(v)).collect();
        for chunk in todo.chunks(policy.score_batch_videos.max(1)) {
            let payload = JobPayload::Score {
                detector_id: det.detector.id,
                video_ids: chunk.to_vec(),
            };
            if queue::enqueue(db, &payload, Some(det.submission.id), policy.max_attempts)
                .await?
                .is_some()
            {
                jobs += 1;
            }
        }
    }
    Ok(jobs)
}

/// Refreshes the status of every live submission of the competition.
async fn refresh_all<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
    view: &CompetitionView,
) -> Result<(), RepoError> {
    let ids: Vec<i64> = view.submissions.keys().copied().collect();
    refresh_many(db, competition_id, &ids).await
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
    refresh_all(db, det.competition_id, &view).await?;
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
    refresh_many(db, video.competition_id, &affected).await?;
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
    refresh_all(db, phase.competition_id, &view).await?;
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
pub async fn on_video_failed<C: ConnectionTrait>(
    db: &C,
    video_id: i64,
    reason: &str,
    refund: bool,
) -> Result<(), EvaluationError> {
    repo::videos::mark_failed(db, video_id, reason).await?;
    let video = repo::videos::find(db, video_id)
        .await?
        .ok_or(RepoError::NotFound("video"))?;
    if let Some(sub) = video.submission_id {
        repo::submissions::fail(db, sub, "video_prepare_failed", reason).await?;
        if refund {
            repo::submissions::refund(db, sub).await?;
        }
    }
    Ok(())
}

/// A score job out of attempts: its pairs count 0.5 (flagged failed) and the detector fails.
pub async fn on_score_job_dead<C: ConnectionTrait>(
    db: &C,
    detector_id: i64,
    video_ids: &[i64],
    reason: &str,
    refund: bool,
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
        if refund {
            repo::submissions::refund(db, det.submission_id).await?;
        }
    }
    Ok(())
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
    })
}

async fn apply_progress<C: ConnectionTrait>(
    db: &C,
    read: &Pending,
    p: Progress,
) -> Result<(SubmissionStatus, Progress), RepoError> {
    if read.current.is_final() {
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

fn board_from(view: &CompetitionView, dets: &[&LiveDetector], vids: &[&LiveVideo]) -> BoardInput {
    let mut creations: Vec<CreationEntry> = Vec::new();
    let mut reals = Vec::new();
    for v in vids {
        if v.role == VideoRole::Real {
            reals.push(v.video.id);
            continue;
        }
        let Some(sub_id) = v.video.submission_id else {
            continue;
        };
        match creations.iter_mut().find(|c| c.submission_id == sub_id) {
            Some(c) => c.video_ids.push(v.video.id),
            None => {
                let Some(sub) = view.submissions.get(&sub_id) else {
                    continue;
                };
                let (team, baseline) = view.teams.get(&sub.team_id).cloned().unwrap_or_default();
                creations.push(CreationEntry {
                    submission_id: sub_id,
                    team,
                    baseline,
                    video_ids: vec![v.video.id],
                });
            }
        }
    }
    let detectors = dets
        .iter()
        .map(|d| DetectorEntry {
            detector_id: d.detector.id,
            submission_id: d.submission.id,
            team: d.team.clone(),
            baseline: d.baseline,
        })
        .collect();
    BoardInput {
        detectors,
        creations,
        real_video_ids: reals,
        scores: HashMap::new(),
    }
}

async fn with_scores<C: ConnectionTrait>(
    db: &C,
    mut input: BoardInput,
) -> Result<BoardInput, RepoError> {
    let ids: Vec<i64> = input.detectors.iter().map(|d| d.detector_id).collect();
    input.scores = repo::scores::for_detectors(db, &ids)
        .await?
        .into_iter()
        .map(|(d, v, s)| ((d, v), s))
        .collect();
    Ok(input)
}

/// What the boards are computed from. Live mode: every detector × every creation. Rounds mode:
/// `(detection board input, creation board input)` differ, see [`round_boards`].
pub async fn board_input<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
) -> Result<BoardInput, RepoError> {
    let view = view(db, competition_id).await?;
    let dets: Vec<&LiveDetector> = view.detectors.iter().collect();
    let vids: Vec<&LiveVideo> = view.videos.iter().collect();
    with_scores(db, board_from(&view, &dets, &vids)).await
}

/// The current round of a rounds competition: the highest round whose creation phase opened.
pub fn current_round(view: &CompetitionView, now: i64) -> Option<i32> {
    view.phases
        .iter()
        .filter(|p| p.kind == PhaseKind::Creation && p.opens_at_ms <= now)
        .map(|p| p.round)
        .max()
}

/// Round k's boards: detection = every Dk detector over Ck's fakes ∪ R; creation = Ck's fakes
/// against Dk's finals once Dk closed, else D(k−1)'s finals (D0 = baselines), provisional.
pub async fn round_boards<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
    round: i32,
) -> Result<(BoardInput, BoardInput, bool), RepoError> {
    let view = view(db, competition_id).await?;
    let now = now_ms();
    let dk_closed =
        rules::phase(&view.phases, PhaseKind::Detection, round).is_some_and(|p| p.is_closed(now));
    let vids: Vec<&LiveVideo> = view
        .videos
        .iter()
        .filter(|v| v.slot == VideoSlot::Real || v.slot == VideoSlot::Fake { round })
        .collect();
    let det_round: Vec<&LiveDetector> = view
        .detectors
        .iter()
        .filter(|d| matches!(d.slot, DetectorSlot::Round { round: r, .. } if r == round))
        .collect();
    let pick = rules::creation_board_detectors(round, dk_closed);
    let det_creation: Vec<&LiveDetector> = view.detectors.iter().filter(|d| pick(d.slot)).collect();
    let detection = with_scores(db, board_from(&view, &det_round, &vids)).await?;
    let creation = with_scores(db, board_from(&view, &det_creation, &vids)).await?;
    Ok((detection, creation, !dk_closed))
}

/// What the boards need beyond scores: failed pairs, each creation's SSIM and measured identity
/// similarity (means over its fakes), and the imported human ratings (mean per axis; axis `id`
/// is the DFGC-2021 ID term where no `[identity]` model measured it).
pub async fn board_extras<C: ConnectionTrait>(
    db: &C,
    competition_id: i64,
    input: &BoardInput,
) -> Result<crate::scoring::BoardExtras, RepoError> {
    use crate::scoring::presets::CreationParts;
    let ids: Vec<i64> = input.detectors.iter().map(|d| d.detector_id).collect();
    let failed = repo::scores::failed_for_detectors(db, &ids)
        .await?
        .into_iter()
        .collect();
    let mut parts: HashMap<i64, CreationParts> = HashMap::new();
    for c in &input.creations {
        let videos = repo::videos::find_many(db, &c.video_ids).await?;
        let ssims: Vec<f64> = videos.iter().filter_map(|v| v.ssim).collect();
        let ssim = (ssims.len() == videos.len() && !ssims.is_empty())
            .then(|| ssims.iter().sum::<f64>() / ssims.len() as f64);
        // ID measured by the worker's `[identity]` model, once every fake has it.
        let sims: Vec<f64> = videos.iter().filter_map(|v| v.id_similarity).collect();
        let id = (sims.len() == videos.len() && !sims.is_empty())
            .then(|| sims.iter().sum::<f64>() / sims.len() as f64);
        parts.insert(
            c.submission_id,
            CreationParts {
                ssim,
                id,
                ..CreationParts::default()
            },
        );
    }
    let mut sums: HashMap<(i64, String), (f64, f64)> = HashMap::new();
    for r in repo::human_ratings::list(db, competition_id).await? {
        let e = sums.entry((r.submission_id, r.axis)).or_default();
        *e = (e.0 + r.value, e.1 + 1.0);
    }
    for ((sub, axis), (sum, n)) in sums {
        let Some(p) = parts.get_mut(&sub) else {
            continue;
        };
        let mean = Some(sum / n);
        match axis.as_str() {
            "realism" => p.human.realism = mean,
            "quality" => p.human.quality = mean,
            "expression" => p.human.expression = mean,
            "mouth" => p.human.mouth = mean,
            "identity" => p.human.identity = mean,
            // Imported ID ratings stand in only where no model measured it.
            "id" => p.id = p.id.or(mean),
            _ => {}
        }
    }
    Ok(crate::scoring::BoardExtras { failed, parts })
}

//! Scope: the loaded view of a competition (live detectors and videos with their schedule
//! slots), which pairs it puts in scope, and the boards' input drawn from it.

use crate::domain::{CompetitionMode, PrepareState, VideoRole};
use crate::entities::{detectors, submissions, videos};
use crate::error::RepoError;
use crate::repo;
use crate::rules::{self, DetectorSlot, Phase, PhaseKind, VideoSlot};
use crate::scoring::{BoardInput, CreationEntry, DetectorEntry};
use crate::time::now_ms;
use sea_orm::ConnectionTrait;
use std::collections::{HashMap, HashSet};

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
    /// Live submissions with a video still waiting to be prepared (targets included).
    pub preparing: HashSet<i64>,
    /// Live submissions whose detector has not passed its upload checks yet.
    pub unchecked: HashSet<i64>,
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
        preparing: HashSet::new(),
        unchecked: HashSet::new(),
    };
    let detectors = repo::detectors::list_for_competition(db, competition_id).await?;
    view.unchecked = detectors
        .iter()
        .filter(|d| !d.ready && subs.contains_key(&d.submission_id))
        .map(|d| d.submission_id)
        .collect();
    view.detectors = live_detectors(&view, &subs, detectors);
    for v in repo::videos::list_for_competition(db, competition_id).await? {
        let role = repo::videos::role(&v)?;
        if let Some(sub) = v.submission_id.filter(|s| subs.contains_key(s))
            && v.prepare_state == PrepareState::Pending.as_str()
        {
            view.preparing.insert(sub);
        }
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
    // In-platform ratings count like imported rows: one value per axis and rating.
    for r in repo::video_ratings::list(db, competition_id).await? {
        for (axis, value) in r.values() {
            let e = sums.entry((r.submission_id, axis.to_owned())).or_default();
            *e = (e.0 + value, e.1 + 1.0);
        }
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

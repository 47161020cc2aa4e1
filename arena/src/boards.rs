//! A competition's published boards, as the server and CLI show them: detection and creation
//! boards (live mode: everything; rounds mode: one round) and the game ratings, with the
//! competition's preset, eligibility rule and best/last policy applied.

use crate::domain::{CompetitionMode, Preset};
use crate::entities::competitions;
use crate::error::RepoError;
use crate::evaluation;
use crate::ratings::{self, RatingOptions, RatingRow};
use crate::repo;
use crate::rules::{self, BoardPolicy, CompetitionSettings};
use crate::scoring::{self, BoardInput, CreationRow, DetectionRow, Leaderboard, ScoringRules};
use crate::split::{self, Part};
use crate::time::now_ms;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Boards {
    pub competition: String,
    pub mode: String,
    /// Rounds mode: the round shown.
    pub round: Option<i32>,
    /// Rounds mode: the creation board still ranks against D(k−1) (Dk is not closed).
    pub provisional: bool,
    /// The videos these numbers come from: `all` (no split), `public` (before the reveal) or
    /// `private` (after it), see [`crate::split`].
    pub part: Part,
    /// Why creations are not ranked by the competition's preset (`None`: the preset applies):
    /// `dfgc2021` without tasks has no SSIM term and ranks by anti-detection alone.
    pub preset_fallback: Option<String>,
    pub detection: Vec<DetectionRow>,
    pub creation: Vec<CreationRow>,
    pub ratings: Vec<RatingRow>,
}

/// The competition's settings, parsed in [`crate::rules`] (split, finals and admission read them
/// there too, below the boards).
pub use crate::rules::settings;

/// The scoring rules in force. `dfgc2021` needs SSIM against task targets, so a competition
/// without tasks ranks creations by anti-detection alone; `dfgc2022` applies whenever set.
async fn scoring_rules<C: ConnectionTrait>(
    db: &C,
    comp: &competitions::Model,
    s: &CompetitionSettings,
) -> Result<ScoringRules, RepoError> {
    let preset = Preset::parse(&comp.preset)
        .ok_or_else(|| RepoError::Corrupt(format!("preset {:?}", comp.preset)))?;
    let mut r = rules::scoring_rules(preset, s);
    if preset_fallback(db, comp).await?.is_some() {
        r.preset = None;
    }
    Ok(r)
}

/// Why the competition's preset does not apply, if it does not: `dfgc2021` compares each fake
/// with its task's target clip (SSIM), so without tasks it falls back to anti-detection alone.
pub async fn preset_fallback<C: ConnectionTrait>(
    db: &C,
    comp: &competitions::Model,
) -> Result<Option<String>, RepoError> {
    if Preset::parse(&comp.preset) == Some(Preset::Dfgc2021)
        && repo::tasks::list(db, comp.id).await?.is_empty()
    {
        return Ok(Some(
            "preset dfgc2021 needs creation tasks (its SSIM term compares each fake with its \
             task's target clip) and this competition has none: creations are ranked by \
             anti-detection alone"
                .to_owned(),
        ));
    }
    Ok(None)
}

/// The final picks in force: none when the competition has no finals.
async fn final_picks<C: ConnectionTrait>(
    db: &C,
    comp: &competitions::Model,
    s: &CompetitionSettings,
) -> Result<HashSet<i64>, RepoError> {
    if s.final_picks.is_none() {
        return Ok(HashSet::new());
    }
    repo::submissions::final_pick_ids(db, comp.id).await
}

/// Chooses each team's entries: a team with final picks among a kind's entries keeps just those
/// (the scorer then shows the best of them), any other keeps its last submission when the policy
/// says so, or all of them for the scorer's best.
fn apply_policy(input: &BoardInput, policy: BoardPolicy, finals: &HashSet<i64>) -> BoardInput {
    let choose = |items: Vec<(String, i64)>| -> HashSet<i64> {
        let picked: HashSet<&String> = items
            .iter()
            .filter(|(_, id)| finals.contains(id))
            .map(|(team, _)| team)
            .collect();
        let mut last: HashMap<&String, i64> = HashMap::new();
        let mut keep = HashSet::new();
        for (team, id) in &items {
            if picked.contains(team) {
                if finals.contains(id) {
                    keep.insert(*id);
                }
            } else if policy == BoardPolicy::Best {
                keep.insert(*id);
            } else {
                let e = last.entry(team).or_insert(*id);
                *e = (*e).max(*id);
            }
        }
        keep.extend(last.into_values());
        keep
    };
    let mut out = input.clone();
    let dets = choose(
        input
            .detectors
            .iter()
            .map(|d| (d.team.clone(), d.submission_id))
            .collect(),
    );
    out.detectors.retain(|d| dets.contains(&d.submission_id));
    let subs = choose(
        input
            .creations
            .iter()
            .map(|c| (c.team.clone(), c.submission_id))
            .collect(),
    );
    out.creations.retain(|c| subs.contains(&c.submission_id));
    out
}

/// Marks the rows that show a final pick.
fn mark_finals(lb: &mut Leaderboard, finals: &HashSet<i64>) {
    for r in &mut lb.detection {
        r.final_pick = finals.contains(&r.submission);
    }
    for r in &mut lb.creation {
        r.final_pick = finals.contains(&r.submission);
    }
}

/// `input` (after the best/last policy and final picks) cut to the part of the videos shown now
/// ([`crate::split`]). After the reveal, with `rules` (the boards and their pairs export), each
/// team is narrowed first to the entry the public board showed for it ("best public", or its last
/// submission under the `last` policy) unless it made final picks of that kind, whose best
/// private score then ranks it: the revealed ranking never picks a team's best private score
/// among submissions it did not choose.
async fn in_view<C: ConnectionTrait>(
    db: &C,
    comp: &competitions::Model,
    s: &CompetitionSettings,
    input: BoardInput,
    finals: &HashSet<i64>,
    rules: Option<&ScoringRules>,
) -> Result<BoardInput, RepoError> {
    let part = split::part_in_view(comp, s);
    if part == Part::All {
        return Ok(input);
    }
    let keys = split::keys(db, &input, &s.private_salt).await?;
    let mut input = input;
    if let (Part::Private, Some(rules)) = (part, rules) {
        let public = split::cut(&input, &keys, s.private_fraction, Part::Public);
        let extras = evaluation::board_extras(db, comp.id, &public).await?;
        let lb = scoring::compute_with(&public, &extras, rules);
        let shown: HashSet<i64> = (lb.detection.iter().map(|r| r.submission))
            .chain(lb.creation.iter().map(|r| r.submission))
            .collect();
        narrow_to_shown(&mut input, &shown, finals);
    }
    Ok(split::cut(&input, &keys, s.private_fraction, part))
}

/// Keeps, of each team without final picks of a kind, only its entry of that kind in `shown`
/// (its row on the public board); a team's final picks all stay.
fn narrow_to_shown(input: &mut BoardInput, shown: &HashSet<i64>, finals: &HashSet<i64>) {
    let picked_detectors: HashSet<String> = (input.detectors.iter())
        .filter(|d| finals.contains(&d.submission_id))
        .map(|d| d.team.clone())
        .collect();
    let picked_creations: HashSet<String> = (input.creations.iter())
        .filter(|c| finals.contains(&c.submission_id))
        .map(|c| c.team.clone())
        .collect();
    input
        .detectors
        .retain(|d| picked_detectors.contains(&d.team) || shown.contains(&d.submission_id));
    input
        .creations
        .retain(|c| picked_creations.contains(&c.team) || shown.contains(&c.submission_id));
}

async fn board<C: ConnectionTrait>(
    db: &C,
    comp: &competitions::Model,
    input: &BoardInput,
) -> Result<(Leaderboard, Vec<RatingRow>), RepoError> {
    let s = settings(comp)?;
    let rules = scoring_rules(db, comp, &s).await?;
    let finals = final_picks(db, comp, &s).await?;
    let input = apply_policy(input, s.board, &finals);
    let input = in_view(db, comp, &s, input, &finals, Some(&rules)).await?;
    let extras = evaluation::board_extras(db, comp.id, &input).await?;
    let mut lb = scoring::compute_with(&input, &extras, &rules);
    mark_finals(&mut lb, &finals);
    let opts = RatingOptions {
        seed: u64::try_from(comp.id).unwrap_or(0),
        ..RatingOptions::default()
    };
    let ratings = ratings::rate(&input, &extras, &rules, &opts)
        .map_err(|e| RepoError::Corrupt(format!("ratings: {e}")))?;
    Ok((lb, ratings))
}

/// Computes the boards of `comp` (rounds mode: `round`, default the current round).
pub async fn compute<C: ConnectionTrait>(
    db: &C,
    comp: &competitions::Model,
    round: Option<i32>,
) -> Result<Boards, RepoError> {
    let mut out = Boards {
        competition: comp.slug.clone(),
        mode: comp.mode.clone(),
        round: None,
        provisional: false,
        part: split::part_in_view(comp, &settings(comp)?),
        preset_fallback: preset_fallback(db, comp).await?,
        detection: Vec::new(),
        creation: Vec::new(),
        ratings: Vec::new(),
    };
    if CompetitionMode::parse(&comp.mode) != Some(CompetitionMode::Rounds) {
        let input = evaluation::board_input(db, comp.id).await?;
        let (lb, ratings) = board(db, comp, &input).await?;
        (out.detection, out.creation, out.ratings) = (lb.detection, lb.creation, ratings);
        return Ok(out);
    }
    let view = evaluation::view(db, comp.id).await?;
    let Some(k) = round.or_else(|| evaluation::current_round(&view, now_ms())) else {
        return Ok(out);
    };
    let (det_input, creation_input, provisional) = evaluation::round_boards(db, comp.id, k).await?;
    let (det_board, ratings) = board(db, comp, &det_input).await?;
    let (creation_board, _) = board(db, comp, &creation_input).await?;
    out.round = Some(k);
    out.provisional = provisional;
    (out.detection, out.creation, out.ratings) =
        (det_board.detection, creation_board.creation, ratings);
    Ok(out)
}

/// Which board's scope a pairs export covers. In rounds mode the two differ: the detection board
/// takes Dk's detectors on Ck's fakes, the creation board takes Ck's fakes against D(k−1)'s
/// detectors (provisional) or Dk's (once Dk closed). In live mode they are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardScope {
    Detection,
    Creation,
}

/// The pairs behind a board, as `arena score --input` reads them (`detector,creation,video,label,
/// score`; see [`crate::offline`]): every scored or failed (detector, video) pair in the board's
/// scope after the competition's best/last policy, a failure with an empty score. Detectors and
/// creations are named `<team>#<submission>`, videos `video-<id>`. Pairs still pending are left
/// out, so export once the board is complete.
pub async fn pairs_csv<C: ConnectionTrait>(
    db: &C,
    comp: &competitions::Model,
    round: Option<i32>,
    scope: BoardScope,
) -> Result<String, RepoError> {
    let input = if CompetitionMode::parse(&comp.mode) == Some(CompetitionMode::Rounds) {
        let view = evaluation::view(db, comp.id).await?;
        match round.or_else(|| evaluation::current_round(&view, now_ms())) {
            Some(k) => {
                let (det, creation, _) = evaluation::round_boards(db, comp.id, k).await?;
                match scope {
                    BoardScope::Detection => det,
                    BoardScope::Creation => creation,
                }
            }
            None => BoardInput::default(),
        }
    } else {
        evaluation::board_input(db, comp.id).await?
    };
    let s = settings(comp)?;
    let finals = final_picks(db, comp, &s).await?;
    let input = apply_policy(&input, s.board, &finals);
    let rules = scoring_rules(db, comp, &s).await?;
    let input = in_view(db, comp, &s, input, &finals, Some(&rules)).await?;
    let extras = evaluation::board_extras(db, comp.id, &input).await?;
    Ok(crate::offline::write_pairs_csv(&input, &extras.failed))
}

/// A detector's page: its submission and team, the false-positive rate fixing its threshold,
/// and its [`scoring::DetectorReport`] over the detection board's scope.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DetectorPage {
    pub submission: i64,
    pub team: String,
    pub baseline: bool,
    /// Rounds mode: the round shown.
    pub round: Option<i32>,
    /// The videos these numbers come from (see [`Boards::part`]).
    pub part: Part,
    pub fpr: f64,
    pub report: scoring::DetectorReport,
}

/// How many misses of each kind a detector page lists.
pub const WORST_MISSES: usize = 10;

/// The page of detector submission `submission` over the detection board's scope (rounds mode:
/// the current round) after the best/last policy; `None` when it is no detector in that scope.
pub async fn detector_page<C: ConnectionTrait>(
    db: &C,
    comp: &competitions::Model,
    submission: i64,
) -> Result<Option<DetectorPage>, RepoError> {
    let (input, round) = if CompetitionMode::parse(&comp.mode) == Some(CompetitionMode::Rounds) {
        let view = evaluation::view(db, comp.id).await?;
        match evaluation::current_round(&view, now_ms()) {
            Some(k) => (evaluation::round_boards(db, comp.id, k).await?.0, Some(k)),
            None => (BoardInput::default(), None),
        }
    } else {
        (evaluation::board_input(db, comp.id).await?, None)
    };
    let s = settings(comp)?;
    // The same entries as the board: a team's final picks when it made any.
    let finals = final_picks(db, comp, &s).await?;
    let input = apply_policy(&input, s.board, &finals);
    let input = in_view(db, comp, &s, input, &finals, None).await?;
    let Some(entry) = input
        .detectors
        .iter()
        .find(|d| d.submission_id == submission)
        .cloned()
    else {
        return Ok(None);
    };
    let rules = scoring_rules(db, comp, &s).await?;
    let extras = evaluation::board_extras(db, comp.id, &input).await?;
    let view = scoring::ScoredBoard::new(&input, &extras.failed);
    let report = view.detector_report(entry.detector_id, rules.fpr, WORST_MISSES);
    Ok(report.map(|report| DetectorPage {
        submission,
        team: entry.team,
        baseline: entry.baseline,
        round,
        part: split::part_in_view(comp, &s),
        fpr: rules.fpr,
        report,
    }))
}

/// A board's scope after the best/last policy: its input, failures and false-positive rate.
async fn scoped<C: ConnectionTrait>(
    db: &C,
    comp: &competitions::Model,
    scope: BoardScope,
) -> Result<(BoardInput, scoring::BoardExtras, f64), RepoError> {
    let input = if CompetitionMode::parse(&comp.mode) == Some(CompetitionMode::Rounds) {
        let view = evaluation::view(db, comp.id).await?;
        match evaluation::current_round(&view, now_ms()) {
            Some(k) => {
                let (det, creation, _) = evaluation::round_boards(db, comp.id, k).await?;
                match scope {
                    BoardScope::Detection => det,
                    BoardScope::Creation => creation,
                }
            }
            None => BoardInput::default(),
        }
    } else {
        evaluation::board_input(db, comp.id).await?
    };
    let s = settings(comp)?;
    // The same entries as the board: a team's final picks when it made any.
    let finals = final_picks(db, comp, &s).await?;
    let input = apply_policy(&input, s.board, &finals);
    let input = in_view(db, comp, &s, input, &finals, None).await?;
    let rules = scoring_rules(db, comp, &s).await?;
    let extras = evaluation::board_extras(db, comp.id, &input).await?;
    Ok((input, extras, rules.fpr))
}

/// A creation on the creation board: its fakes with the detectors each fooled at their
/// thresholds, and the detectors in scope (submission id, team) to name them.
#[derive(Debug, Clone, Serialize)]
pub struct CreationPage {
    pub submission: i64,
    pub team: String,
    pub baseline: bool,
    pub fpr: f64,
    pub fakes: Vec<scoring::Fooled>,
    pub detectors: Vec<(i64, String)>,
}

/// The page of creation submission `submission` over the creation board's scope; `None` when
/// it is no creation in that scope.
pub async fn creation_page<C: ConnectionTrait>(
    db: &C,
    comp: &competitions::Model,
    submission: i64,
) -> Result<Option<CreationPage>, RepoError> {
    let (input, extras, fpr) = scoped(db, comp, BoardScope::Creation).await?;
    let Some(entry) = input
        .creations
        .iter()
        .find(|c| c.submission_id == submission)
    else {
        return Ok(None);
    };
    let view = scoring::ScoredBoard::new(&input, &extras.failed);
    Ok(Some(CreationPage {
        submission,
        team: entry.team.clone(),
        baseline: entry.baseline,
        fpr,
        fakes: view.fooled(submission, fpr),
        detectors: (input.detectors.iter())
            .map(|d| (d.submission_id, d.team.clone()))
            .collect(),
    }))
}

/// How many fakes the board's "hardest fakes" lists.
pub const HARDEST_FAKES: usize = 10;

/// The fakes of the creation board's scope that fooled the most detectors, each with its
/// creation's team.
pub async fn hardest_fakes<C: ConnectionTrait>(
    db: &C,
    comp: &competitions::Model,
) -> Result<Vec<(scoring::Fooled, String)>, RepoError> {
    let (input, extras, fpr) = scoped(db, comp, BoardScope::Creation).await?;
    let view = scoring::ScoredBoard::new(&input, &extras.failed);
    let team = |c: i64| {
        (input.creations.iter())
            .find(|e| e.submission_id == c)
            .map(|e| e.team.clone())
            .unwrap_or_default()
    };
    Ok(view
        .hardest_fakes(fpr, HARDEST_FAKES)
        .into_iter()
        .map(|f| {
            let t = team(f.creation);
            (f, t)
        })
        .collect())
}

/// The detectors × creations AUC matrix of the same scope as the boards.
pub async fn matrix<C: ConnectionTrait>(
    db: &C,
    comp: &competitions::Model,
    round: Option<i32>,
) -> Result<scoring::Matrix, RepoError> {
    let input = if CompetitionMode::parse(&comp.mode) == Some(CompetitionMode::Rounds) {
        let view = evaluation::view(db, comp.id).await?;
        match round.or_else(|| evaluation::current_round(&view, now_ms())) {
            Some(k) => evaluation::round_boards(db, comp.id, k).await?.0,
            None => BoardInput::default(),
        }
    } else {
        evaluation::board_input(db, comp.id).await?
    };
    let s = settings(comp)?;
    let input = in_view(db, comp, &s, input, &HashSet::new(), None).await?;
    let extras = evaluation::board_extras(db, comp.id, &input).await?;
    Ok(scoring::ScoredBoard::new(&input, &extras.failed).matrix())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::scoring::{CreationEntry, DetectorEntry};

    #[test]
    fn last_policy_keeps_each_teams_latest_submission() {
        let det = |id: i64, team: &str| DetectorEntry {
            detector_id: id,
            submission_id: id,
            team: team.into(),
            baseline: false,
        };
        let cre = |id: i64, team: &str| CreationEntry {
            submission_id: id,
            team: team.into(),
            baseline: false,
            video_ids: vec![id],
        };
        let input = BoardInput {
            detectors: vec![det(1, "a"), det(2, "b"), det(3, "a")],
            creations: vec![cre(10, "c"), cre(11, "c")],
            ..BoardInput::default()
        };
        let last = apply_policy(&input, BoardPolicy::Last, &HashSet::new());
        let mut dets: Vec<i64> = last.detectors.iter().map(|d| d.submission_id).collect();
        dets.sort_unstable();
        assert_eq!(dets, vec![2, 3]);
        assert_eq!(
            last.creations
                .iter()
                .map(|c| c.submission_id)
                .collect::<Vec<_>>(),
            vec![11]
        );
        assert_eq!(
            apply_policy(&input, BoardPolicy::Best, &HashSet::new())
                .detectors
                .len(),
            3
        );
    }

    #[test]
    fn after_the_reveal_a_team_keeps_its_best_public_entry_or_its_final_picks() {
        let det = |id: i64, team: &str| DetectorEntry {
            detector_id: id,
            submission_id: id,
            team: team.into(),
            baseline: false,
        };
        // reals 1, 2 and fakes 3 (public), 4 (private) score as below per detector.
        let mut scores = HashMap::new();
        // Detector 10 (team a): best in public (AUC 1), worst in private (0).
        // Detector 11 (team a): worst in public (0), best in private (1).
        // Detectors 12, 13 (team b, both final picks): 12 better in private.
        for (d, s) in [
            (10, [0.1, 0.2, 0.9, 0.0]),
            (11, [0.5, 0.6, 0.0, 0.9]),
            (12, [0.1, 0.2, 0.0, 0.9]),
            (13, [0.1, 0.2, 0.9, 0.0]),
        ] {
            for (v, x) in [1, 2, 3, 4].into_iter().zip(s) {
                scores.insert((d, v), x);
            }
        }
        let input = BoardInput {
            detectors: vec![det(10, "a"), det(11, "a"), det(12, "b"), det(13, "b")],
            creations: vec![crate::scoring::CreationEntry {
                submission_id: 20,
                team: "c".into(),
                baseline: false,
                video_ids: vec![3, 4],
            }],
            real_video_ids: vec![1, 2],
            scores,
        };
        let keys = HashMap::from([(1, 0.9), (2, 0.1), (3, 0.8), (4, 0.2)]);
        let finals: HashSet<i64> = [12, 13].into();
        let input = apply_policy(&input, BoardPolicy::Best, &finals);
        let public = split::cut(&input, &keys, 0.5, Part::Public);
        let lb = scoring::compute(&public);
        let shown: HashSet<i64> = (lb.detection.iter().map(|r| r.submission))
            .chain(lb.creation.iter().map(|r| r.submission))
            .collect();
        let mut narrowed = input.clone();
        narrow_to_shown(&mut narrowed, &shown, &finals);
        let mut ids: Vec<i64> = narrowed.detectors.iter().map(|d| d.submission_id).collect();
        ids.sort_unstable();
        assert_eq!(
            ids,
            vec![10, 12, 13],
            "a: its best public entry; b: its picks"
        );
        let private = scoring::compute(&split::cut(&narrowed, &keys, 0.5, Part::Private));
        let row = |team: &str| {
            (private.detection.iter())
                .find(|r| r.team == team)
                .map(|r| (r.submission, r.score))
                .unwrap()
        };
        // Team a ranks on #10's private AUC (0), not #11's (1); team b on its best pick.
        assert_eq!(row("a"), (10, Some(0.0)));
        assert_eq!(row("b"), (12, Some(1.0)));
        assert_eq!(narrowed.creations.len(), 1);
    }

    #[test]
    fn a_team_with_final_picks_keeps_only_them_others_keep_the_policy() {
        let det = |id: i64, team: &str| DetectorEntry {
            detector_id: id,
            submission_id: id,
            team: team.into(),
            baseline: false,
        };
        let cre = |id: i64, team: &str| CreationEntry {
            submission_id: id,
            team: team.into(),
            baseline: false,
            video_ids: vec![id],
        };
        let input = BoardInput {
            detectors: vec![
                det(1, "a"),
                det(2, "a"),
                det(3, "a"),
                det(4, "b"),
                det(5, "b"),
            ],
            creations: vec![cre(10, "a"), cre(11, "a")],
            ..BoardInput::default()
        };
        let ids = |b: &BoardInput| {
            let mut d: Vec<i64> = b.detectors.iter().map(|d| d.submission_id).collect();
            d.sort_unstable();
            let mut c: Vec<i64> = b.creations.iter().map(|c| c.submission_id).collect();
            c.sort_unstable();
            (d, c)
        };
        // Team a picked detectors 1 and 2 (not creations): its detectors narrow to the picks,
        // its creations and team b keep the policy.
        let finals: HashSet<i64> = [1, 2].into();
        assert_eq!(
            ids(&apply_policy(&input, BoardPolicy::Best, &finals)),
            (vec![1, 2, 4, 5], vec![10, 11])
        );
        assert_eq!(
            ids(&apply_policy(&input, BoardPolicy::Last, &finals)),
            (vec![1, 2, 5], vec![11])
        );
        // A creation pick narrows the creations only.
        let finals: HashSet<i64> = [10].into();
        assert_eq!(
            ids(&apply_policy(&input, BoardPolicy::Last, &finals)),
            (vec![3, 5], vec![10])
        );
    }
}

//! Detection and creation boards from per-video scores (DESIGN.md §6, live scope).
//!
//! AUC(d, c) is the ROC-AUC of detector d over creation c's fakes plus the real set R. It is only
//! computed once d has scored (or failed on) every video of c and of R, so a half-scored pair never
//! shows; failures count 0.5 and flag the pair `incomplete` (see [`super::detection`]).

use super::detection::{DEFAULT_FPR, Pair, ScoredBoard};
pub use super::input::{BoardInput, CreationEntry, DetectorEntry};
use super::presets::{CreationParts, Eligibility, HumanRatings, Preset};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DetectionRow {
    /// 1 + rows with a strictly better score; baselines and ineligible detectors are not ranked.
    pub rank: Option<u32>,
    pub team: String,
    pub submission: i64,
    /// S_D: mean pair AUC over the creations it has fully scored.
    pub score: Option<f64>,
    /// AUC over all fakes in scope plus the real set.
    pub pooled_auc: Option<f64>,
    /// Worst pair AUC.
    pub worst_auc: Option<f64>,
    pub creations_scored: usize,
    /// Videos scored or failed on.
    pub videos_scored: usize,
    pub videos_total: usize,
    pub baseline: bool,
    /// τ_d at the competition's false-positive rate on R (5 %), see [`super::detection`].
    pub threshold: Option<f64>,
    /// Some video in scope failed for this detector (scored 0.5).
    pub incomplete: bool,
    /// `None` without an eligibility rule; else whether it clears the baseline creation.
    pub eligible: Option<bool>,
    /// A final pick of its team (set by the boards, see `crate::finals`).
    #[serde(rename = "final")]
    pub final_pick: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CreationRow {
    pub rank: Option<u32>,
    pub team: String,
    pub submission: i64,
    /// The creation score: the preset's S_C when a preset is set, else the anti-detection A(c).
    pub score: Option<f64>,
    /// A(c) = mean over detectors in scope of (1 − AUC(d, c)).
    pub anti_detection: Option<f64>,
    pub detectors_scored: usize,
    pub videos: usize,
    pub baseline: bool,
    /// SSIM(c), when known.
    pub ssim: Option<f64>,
    /// ID(c), when known.
    pub id: Option<f64>,
    /// s_r + s_q + s_e + s_m + s_id (unweighted), once all five axes have ratings.
    pub human: Option<f64>,
    /// The per-axis mean ratings, when any were imported.
    pub human_ratings: Option<HumanRatings>,
    /// The preset's S_C (`None` without a preset or while a part is missing).
    pub preset_score: Option<f64>,
    /// Some pair with a detector in scope is incomplete (a failure scored 0.5).
    pub incomplete: bool,
    /// A final pick of its team (set by the boards, see `crate::finals`).
    #[serde(rename = "final")]
    pub final_pick: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Leaderboard {
    pub detection: Vec<DetectionRow>,
    pub creation: Vec<CreationRow>,
}

/// Detectors × creations pair AUCs (`None` while a pair is pending).
#[derive(Debug, Clone, Serialize, PartialEq, Default, utoipa::ToSchema)]
pub struct Matrix {
    pub detectors: Vec<MatrixAxis>,
    pub creations: Vec<MatrixAxis>,
    /// `auc[i][j]` = AUC(detectors[i], creations[j]).
    pub auc: Vec<Vec<Option<f64>>>,
    /// `incomplete[i][j]`: the pair holds a failure scored 0.5.
    pub incomplete: Vec<Vec<bool>>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct MatrixAxis {
    pub submission: i64,
    pub team: String,
}

/// What the boards need beyond [`BoardInput`]'s scores.
#[derive(Debug, Clone, Default)]
pub struct BoardExtras {
    /// (detector id, video id) pairs the detector failed on: scored 0.5, pairs flagged incomplete.
    pub failed: HashSet<(i64, i64)>,
    /// SSIM, ID and human ratings per creation submission id.
    pub parts: HashMap<i64, CreationParts>,
}

/// A competition's scoring settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoringRules {
    /// The false-positive rate on R fixing τ_d; default [`DEFAULT_FPR`] (5 %).
    pub fpr: f64,
    /// The creation score; `None` ranks creations by A(c).
    pub preset: Option<Preset>,
    pub eligibility: Option<Eligibility>,
}

impl Default for ScoringRules {
    fn default() -> Self {
        Self {
            fpr: DEFAULT_FPR,
            preset: None,
            eligibility: None,
        }
    }
}

impl BoardInput {
    /// AUC of detector `d` over `fakes` ∪ R, if every one of those videos has its score.
    pub fn pair_auc(&self, d: i64, fakes: &[i64]) -> Option<f64> {
        ScoredBoard::new(self, &HashSet::new()).pair(d, fakes).auc
    }

    /// The pair AUCs, with no failures known.
    pub fn matrix(&self) -> Matrix {
        ScoredBoard::new(self, &HashSet::new()).matrix()
    }
}

impl ScoredBoard<'_> {
    /// The pair AUCs with failures applied.
    pub fn matrix(&self) -> Matrix {
        let pairs = self.pairs();
        Matrix {
            detectors: self
                .input
                .detectors
                .iter()
                .map(|d| axis(d.submission_id, &d.team))
                .collect(),
            creations: self
                .input
                .creations
                .iter()
                .map(|c| axis(c.submission_id, &c.team))
                .collect(),
            auc: pairs
                .iter()
                .map(|row| row.iter().map(|p| p.auc).collect())
                .collect(),
            incomplete: pairs
                .iter()
                .map(|row| row.iter().map(|p| p.incomplete).collect())
                .collect(),
        }
    }

    /// Per detector: `None` without a rule, else whether its AUC on every baseline creation ≥ θ.
    pub fn eligibility(
        &self,
        pairs: &[Vec<Pair>],
        rule: Option<&Eligibility>,
    ) -> Vec<Option<bool>> {
        let baselines: Vec<usize> = (self.input.creations.iter().enumerate())
            .filter(|(_, c)| c.baseline)
            .map(|(j, _)| j)
            .collect();
        let check = |row: &Vec<Pair>, rule: &Eligibility| {
            let aucs: Vec<Option<f64>> = baselines.iter().map(|j| row[*j].auc).collect();
            rule.is_eligible(&aucs)
        };
        pairs
            .iter()
            .map(|row| rule.map(|r| check(row, r)))
            .collect()
    }
}

fn axis(submission: i64, team: &str) -> MatrixAxis {
    MatrixAxis {
        submission,
        team: team.to_owned(),
    }
}

/// Both boards with no failures, no preset and no eligibility rule.
pub fn compute(input: &BoardInput) -> Leaderboard {
    compute_with(input, &BoardExtras::default(), &ScoringRules::default())
}

/// Both boards, one row per team (its best submission), ranked.
pub fn compute_with(input: &BoardInput, extras: &BoardExtras, rules: &ScoringRules) -> Leaderboard {
    let view = ScoredBoard::new(input, &extras.failed);
    let pairs = view.pairs();
    let eligible = view.eligibility(&pairs, rules.eligibility.as_ref());
    let detection = detection_rows(&view, &pairs, &eligible, rules);
    let creation = creation_rows(input, &pairs, &eligible, extras, rules);
    Leaderboard {
        detection: rank(
            best_per_team(detection, |r| (&r.team, r.score)),
            |r| r.score,
            |r, k| r.rank = k,
            |r| r.baseline || r.eligible == Some(false),
        ),
        creation: rank(
            best_per_team(creation, |r| (&r.team, r.score)),
            |r| r.score,
            |r, k| r.rank = k,
            |r| r.baseline,
        ),
    }
}

fn detection_rows(
    view: &ScoredBoard,
    pairs: &[Vec<Pair>],
    eligible: &[Option<bool>],
    rules: &ScoringRules,
) -> Vec<DetectionRow> {
    let input = view.input;
    let all_fakes: Vec<i64> = input
        .creations
        .iter()
        .flat_map(|c| c.video_ids.clone())
        .collect();
    let videos_total = all_fakes.len() + input.real_video_ids.len();
    let rows = input.detectors.iter().zip(pairs).zip(eligible);
    rows.map(|((d, row), eligible)| {
        let done: Vec<f64> = row.iter().filter_map(|p| p.auc).collect();
        let scored = (all_fakes.iter().chain(&input.real_video_ids))
            .filter(|v| view.score(d.detector_id, **v).is_some())
            .count();
        let pooled = view.pair(d.detector_id, &all_fakes);
        DetectionRow {
            rank: None,
            team: d.team.clone(),
            submission: d.submission_id,
            score: mean(&done),
            pooled_auc: pooled.auc,
            worst_auc: done.iter().copied().reduce(f64::min),
            creations_scored: done.len(),
            videos_scored: scored,
            videos_total,
            baseline: d.baseline,
            threshold: view.threshold(d.detector_id, rules.fpr),
            incomplete: pooled.incomplete,
            eligible: *eligible,
            final_pick: false,
        }
    })
    .collect()
}

fn creation_rows(
    input: &BoardInput,
    pairs: &[Vec<Pair>],
    eligible: &[Option<bool>],
    extras: &BoardExtras,
    rules: &ScoringRules,
) -> Vec<CreationRow> {
    let in_scope: Vec<&Vec<Pair>> = pairs
        .iter()
        .zip(eligible)
        .filter(|(_, e)| **e != Some(false))
        .map(|(p, _)| p)
        .collect();
    let rows = input.creations.iter().enumerate();
    rows.map(|(j, c)| {
        let anti: Vec<f64> = in_scope
            .iter()
            .filter_map(|row| row[j].auc)
            .map(|a| 1.0 - a)
            .collect();
        let a = mean(&anti);
        let parts = extras
            .parts
            .get(&c.submission_id)
            .copied()
            .unwrap_or_default();
        let preset_score = rules.preset.and_then(|p| p.score(&parts, a));
        CreationRow {
            rank: None,
            team: c.team.clone(),
            submission: c.submission_id,
            score: if rules.preset.is_some() {
                preset_score
            } else {
                a
            },
            anti_detection: a,
            detectors_scored: anti.len(),
            videos: c.video_ids.len(),
            baseline: c.baseline,
            ssim: parts.ssim,
            id: parts.id,
            human: parts.human.sum(),
            human_ratings: (!parts.human.is_empty()).then_some(parts.human),
            preset_score,
            incomplete: in_scope.iter().any(|row| row[j].incomplete),
            final_pick: false,
        }
    })
    .collect()
}

pub(crate) fn mean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        None
    } else {
        Some(xs.iter().sum::<f64>() / xs.len() as f64)
    }
}

/// Keeps each team's best row (the later submission wins a tie).
fn best_per_team<R>(rows: Vec<R>, key: impl Fn(&R) -> (&String, Option<f64>)) -> Vec<R> {
    let mut best: Vec<R> = Vec::new();
    for row in rows {
        let (team, score) = key(&row);
        match best.iter().position(|b| key(b).0 == team) {
            None => best.push(row),
            Some(i) => {
                let kept = key(&best[i]).1;
                if score.unwrap_or(f64::NEG_INFINITY) >= kept.unwrap_or(f64::NEG_INFINITY) {
                    best[i] = row;
                }
            }
        }
    }
    best
}

/// Sorts by score (best first, unscored last) and assigns competition ranks to rows not `unranked`.
fn rank<R>(
    mut rows: Vec<R>,
    score: impl Fn(&R) -> Option<f64>,
    set: impl Fn(&mut R, Option<u32>),
    unranked: impl Fn(&R) -> bool,
) -> Vec<R> {
    let s = |r: &R| score(r).unwrap_or(f64::NEG_INFINITY);
    rows.sort_by(|a, b| s(b).total_cmp(&s(a)));
    let ranked: Vec<f64> = rows
        .iter()
        .filter(|r| !unranked(r) && score(r).is_some())
        .map(&s)
        .collect();
    for row in &mut rows {
        let k = match (unranked(row), score(row)) {
            (false, Some(v)) => Some(1 + ranked.iter().filter(|o| **o > v).count() as u32),
            _ => None,
        };
        set(row, k);
    }
    rows
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn det(id: i64, team: &str) -> DetectorEntry {
        DetectorEntry {
            detector_id: id,
            submission_id: 100 + id,
            team: team.into(),
            baseline: false,
        }
    }

    fn cre(sub: i64, team: &str, videos: &[i64]) -> CreationEntry {
        CreationEntry {
            submission_id: sub,
            team: team.into(),
            baseline: false,
            video_ids: videos.to_vec(),
        }
    }

    /// reals 1,2,3 score 0.2 0.5 0.8; creation A = video 4 (0.3), B = video 5 (0.9).
    fn game() -> BoardInput {
        let mut scores = HashMap::new();
        for (v, s) in [(1, 0.2), (2, 0.5), (3, 0.8), (4, 0.3), (5, 0.9)] {
            scores.insert((1, v), s);
            scores.insert((2, v), 1.0 - s);
        }
        BoardInput {
            detectors: vec![det(1, "good"), det(2, "inverted")],
            creations: vec![cre(10, "a", &[4]), cre(11, "b", &[5])],
            real_video_ids: vec![1, 2, 3],
            scores,
        }
    }

    #[test]
    fn hand_computed_boards() {
        let board = compute(&game());
        let good = &board.detection[0];
        assert_eq!(good.team, "good");
        // AUC(good, a) = 1/3, AUC(good, b) = 1 → S_D = 2/3; pooled = 4/6.
        assert!((good.score.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((good.pooled_auc.unwrap() - 4.0 / 6.0).abs() < 1e-12);
        assert!((good.worst_auc.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(good.rank, Some(1));
        let inv = &board.detection[1];
        assert!((inv.score.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(inv.rank, Some(2));
        // A(a) = mean(1 − 1/3, 1 − 2/3) = 1/2; A(b) = mean(0, 1) = 1/2 → tie, both rank 1.
        for row in &board.creation {
            assert!((row.anti_detection.unwrap() - 0.5).abs() < 1e-12);
            assert_eq!(row.rank, Some(1));
        }
    }

    #[test]
    fn incomplete_pairs_stay_empty() {
        let mut input = game();
        input.scores.remove(&(1, 3));
        let board = compute(&input);
        let good = board.detection.iter().find(|r| r.team == "good").unwrap();
        assert_eq!(good.score, None);
        assert_eq!(good.rank, None);
        assert_eq!(good.videos_scored, 4);
    }

    #[test]
    fn one_row_per_team_and_baselines_unranked() {
        let mut input = game();
        input.detectors[1].team = "good".into();
        input.creations[0].baseline = true;
        let board = compute(&input);
        assert_eq!(board.detection.len(), 1);
        assert_eq!(board.detection[0].submission, 101);
        let base = board.creation.iter().find(|r| r.baseline).unwrap();
        assert_eq!(base.rank, None);
    }

    #[test]
    fn failed_videos_score_half_and_flag_rows() {
        let mut input = game();
        input.scores.remove(&(1, 3));
        let extras = BoardExtras {
            failed: HashSet::from([(1, 3)]),
            ..BoardExtras::default()
        };
        let board = compute_with(&input, &extras, &ScoringRules::default());
        let good = board.detection.iter().find(|r| r.team == "good").unwrap();
        // reals 0.2 0.5 0.5(failed): AUC(good, a) = (1 + 0 + 0) / 3, AUC(good, b) = 1 → 2/3.
        assert!((good.score.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!(good.incomplete);
        assert_eq!(good.videos_scored, 5);
        let inverted = board
            .detection
            .iter()
            .find(|r| r.team == "inverted")
            .unwrap();
        assert!(!inverted.incomplete);
        assert!(board.creation.iter().all(|c| c.incomplete));
        let matrix = ScoredBoard::new(&input, &extras.failed).matrix();
        assert_eq!(
            matrix.incomplete,
            vec![vec![true, true], vec![false, false]]
        );
        assert_eq!(input.matrix().auc[0], vec![None, None]);
    }

    #[test]
    fn threshold_on_rows() {
        // 3 reals → 0 false positives allowed: τ just above the largest real score.
        let board = compute(&game());
        let good = board.detection.iter().find(|r| r.team == "good").unwrap();
        assert_eq!(good.threshold, Some(0.8f64.next_up()));
        let inverted = board
            .detection
            .iter()
            .find(|r| r.team == "inverted")
            .unwrap();
        assert_eq!(inverted.threshold, Some(0.8f64.next_up()));
    }

    #[test]
    fn ineligible_detectors_leave_scope_and_ranking() {
        let mut input = game();
        input.creations[1].baseline = true; // b: AUC(good) = 1, AUC(inverted) = 0
        let rules = ScoringRules {
            eligibility: Some(Eligibility { min_auc: 0.5 }),
            ..ScoringRules::default()
        };
        let board = compute_with(&input, &BoardExtras::default(), &rules);
        let inverted = board
            .detection
            .iter()
            .find(|r| r.team == "inverted")
            .unwrap();
        assert_eq!((inverted.eligible, inverted.rank), (Some(false), None));
        let good = board.detection.iter().find(|r| r.team == "good").unwrap();
        assert_eq!((good.eligible, good.rank), (Some(true), Some(1)));
        // A(a) now only over "good": 1 − 1/3.
        let a = board.creation.iter().find(|r| r.team == "a").unwrap();
        assert!((a.anti_detection.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(a.detectors_scored, 1);
    }

    #[test]
    fn preset_scores_rank_creations() {
        let input = game();
        let parts = |ssim: f64| CreationParts {
            ssim: Some(ssim),
            id: None,
            human: HumanRatings::default(),
        };
        let extras = BoardExtras {
            parts: HashMap::from([(10, parts(0.9)), (11, parts(0.4))]),
            ..BoardExtras::default()
        };
        let rules = ScoringRules {
            preset: Some("dfgc2021".parse().unwrap()),
            ..ScoringRules::default()
        };
        let board = compute_with(&input, &extras, &rules);
        // A = 1/2 for both: S_C(a) = 0.9 + 0 + 1, S_C(b) = 0.4 + 0 + 1.
        let first = &board.creation[0];
        assert_eq!((first.team.as_str(), first.rank), ("a", Some(1)));
        assert!((first.score.unwrap() - 1.9).abs() < 1e-12);
        assert_eq!(first.preset_score, first.score);
        assert_eq!(first.ssim, Some(0.9));
        assert!((first.anti_detection.unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(board.creation[1].rank, Some(2));
        assert!((board.creation[1].score.unwrap() - 1.4).abs() < 1e-12);
    }
}

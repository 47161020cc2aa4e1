//! Detection and creation boards from per-video scores (DESIGN.md §6, live scope).
//!
//! AUC(d, c) is the ROC-AUC of detector d over creation c's fakes plus the real set R. It is only
//! computed once d has scored every video of c and of R, so a half-scored pair never shows.

use super::auc::auc;
use serde::Serialize;
use std::collections::HashMap;

/// A detector submission in scope.
#[derive(Debug, Clone)]
pub struct DetectorEntry {
    pub detector_id: i64,
    pub submission_id: i64,
    pub team: String,
    pub baseline: bool,
}

/// A creation submission in scope: its fake videos.
#[derive(Debug, Clone)]
pub struct CreationEntry {
    pub submission_id: i64,
    pub team: String,
    pub baseline: bool,
    pub video_ids: Vec<i64>,
}

/// Everything the boards are computed from.
#[derive(Debug, Clone, Default)]
pub struct BoardInput {
    pub detectors: Vec<DetectorEntry>,
    pub creations: Vec<CreationEntry>,
    pub real_video_ids: Vec<i64>,
    /// s_d(v) keyed by (detector id, video id).
    pub scores: HashMap<(i64, i64), f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DetectionRow {
    /// 1 + rows with a strictly better score; baselines are not ranked.
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
    pub videos_scored: usize,
    pub videos_total: usize,
    pub baseline: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CreationRow {
    pub rank: Option<u32>,
    pub team: String,
    pub submission: i64,
    /// The creation score; in this slice the anti-detection A(c).
    pub score: Option<f64>,
    /// A(c) = mean over detectors of (1 − AUC(d, c)).
    pub anti_detection: Option<f64>,
    pub detectors_scored: usize,
    pub videos: usize,
    pub baseline: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Leaderboard {
    pub detection: Vec<DetectionRow>,
    pub creation: Vec<CreationRow>,
}

/// Detectors × creations pair AUCs (`None` while a pair is incomplete).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Matrix {
    pub detectors: Vec<MatrixAxis>,
    pub creations: Vec<MatrixAxis>,
    /// `auc[i][j]` = AUC(detectors[i], creations[j]).
    pub auc: Vec<Vec<Option<f64>>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MatrixAxis {
    pub submission: i64,
    pub team: String,
}

impl BoardInput {
    /// AUC of detector `d` over `fakes` ∪ R, if every one of those videos has its score.
    pub fn pair_auc(&self, d: i64, fakes: &[i64]) -> Option<f64> {
        let mut scores = Vec::with_capacity(fakes.len() + self.real_video_ids.len());
        let mut labels = Vec::with_capacity(scores.capacity());
        for (ids, label) in [(fakes, true), (&self.real_video_ids[..], false)] {
            for v in ids {
                scores.push(*self.scores.get(&(d, *v))?);
                labels.push(label);
            }
        }
        auc(&scores, &labels)
    }

    pub fn matrix(&self) -> Matrix {
        Matrix {
            detectors: self
                .detectors
                .iter()
                .map(|d| axis(d.submission_id, &d.team))
                .collect(),
            creations: self
                .creations
                .iter()
                .map(|c| axis(c.submission_id, &c.team))
                .collect(),
            auc: self
                .detectors
                .iter()
                .map(|d| {
                    let row = self.creations.iter();
                    row.map(|c| self.pair_auc(d.detector_id, &c.video_ids))
                        .collect()
                })
                .collect(),
        }
    }
}

fn axis(submission: i64, team: &str) -> MatrixAxis {
    MatrixAxis {
        submission,
        team: team.to_owned(),
    }
}

/// Both boards, one row per team (its best submission), ranked.
pub fn compute(input: &BoardInput) -> Leaderboard {
    let matrix = input.matrix();
    let all_fakes: Vec<i64> = input
        .creations
        .iter()
        .flat_map(|c| c.video_ids.clone())
        .collect();
    let videos_total = all_fakes.len() + input.real_video_ids.len();

    let detection = input
        .detectors
        .iter()
        .zip(&matrix.auc)
        .map(|(d, aucs)| {
            let done: Vec<f64> = aucs.iter().flatten().copied().collect();
            let scored = all_fakes
                .iter()
                .chain(&input.real_video_ids)
                .filter(|v| input.scores.contains_key(&(d.detector_id, **v)))
                .count();
            DetectionRow {
                rank: None,
                team: d.team.clone(),
                submission: d.submission_id,
                score: mean(&done),
                pooled_auc: input.pair_auc(d.detector_id, &all_fakes),
                worst_auc: done.iter().copied().reduce(f64::min),
                creations_scored: done.len(),
                videos_scored: scored,
                videos_total,
                baseline: d.baseline,
            }
        })
        .collect();

    let creation = input
        .creations
        .iter()
        .enumerate()
        .map(|(j, c)| {
            let anti: Vec<f64> = matrix
                .auc
                .iter()
                .filter_map(|row| row[j])
                .map(|a| 1.0 - a)
                .collect();
            let a = mean(&anti);
            CreationRow {
                rank: None,
                team: c.team.clone(),
                submission: c.submission_id,
                score: a,
                anti_detection: a,
                detectors_scored: anti.len(),
                videos: c.video_ids.len(),
                baseline: c.baseline,
            }
        })
        .collect();

    Leaderboard {
        detection: rank(
            best_per_team(detection, |r| (&r.team, r.score)),
            |r| r.score,
            |r, k| r.rank = k,
            |r| r.baseline,
        ),
        creation: rank(
            best_per_team(creation, |r| (&r.team, r.score)),
            |r| r.score,
            |r, k| r.rank = k,
            |r| r.baseline,
        ),
    }
}

fn mean(xs: &[f64]) -> Option<f64> {
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

/// Sorts by score (best first, unscored last) and assigns competition ranks to non-baselines.
fn rank<R>(
    mut rows: Vec<R>,
    score: impl Fn(&R) -> Option<f64>,
    set: impl Fn(&mut R, Option<u32>),
    baseline: impl Fn(&R) -> bool,
) -> Vec<R> {
    let s = |r: &R| score(r).unwrap_or(f64::NEG_INFINITY);
    rows.sort_by(|a, b| s(b).total_cmp(&s(a)));
    let ranked: Vec<f64> = rows
        .iter()
        .filter(|r| !baseline(r) && score(r).is_some())
        .map(&s)
        .collect();
    for row in &mut rows {
        let k = match (baseline(row), score(row)) {
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
}

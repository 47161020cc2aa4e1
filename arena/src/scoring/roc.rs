//! ROC curves, consistent with [`super::auc`]: the trapezoid area under [`roc`] is the
//! Mann–Whitney AUC with ties counted ½, because tied scores move the curve in one diagonal step.
//! And what a detector page shows ([`DetectorReport`]): its pooled and per-creation curves, its
//! operating point at τ_d and the videos it missed most.

use super::auc::auc;
use super::detection::ScoredBoard;
use serde::Serialize;

/// One point of a ROC curve: the rates of calling a video fake when its score is ≥ a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RocPoint {
    pub fpr: f64,
    pub tpr: f64,
}

/// The ROC curve of `scores` where `labels[i]` is true for positives (fakes): from (0, 0) to
/// (1, 1), one point per distinct score (highest first), all tied scores crossed in one step.
/// `None` when a class is empty or the lengths differ, like [`auc`].
pub fn roc(scores: &[f64], labels: &[bool]) -> Option<Vec<RocPoint>> {
    let positives = labels.iter().filter(|l| **l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 || scores.len() != labels.len() {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let (p, n) = (positives as f64, negatives as f64);
    let mut points = vec![RocPoint { fpr: 0.0, tpr: 0.0 }];
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        // The same equality as `auc`'s tie groups.
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        for k in &order[i..=j] {
            if labels[*k] {
                tp += 1;
            } else {
                fp += 1;
            }
        }
        points.push(RocPoint {
            fpr: fp as f64 / n,
            tpr: tp as f64 / p,
        });
        i = j + 1;
    }
    Some(points)
}

/// The area under a polyline by the trapezoid rule (for a [`roc`] curve: its AUC).
pub fn trapezoid_area(points: &[RocPoint]) -> f64 {
    points
        .windows(2)
        .map(|w| (w[1].fpr - w[0].fpr) * (w[0].tpr + w[1].tpr) / 2.0)
        .sum()
}

/// A curve with its AUC (the board's number, from [`auc`]).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Curve {
    pub auc: f64,
    pub points: Vec<RocPoint>,
}

/// A creation's curve against the detector (`None` while the pair is pending).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CreationCurve {
    pub submission: i64,
    pub team: String,
    pub curve: Option<Curve>,
    pub incomplete: bool,
}

/// A video the detector got wrong: a real scored high or a fake scored low. `creation` is the
/// fake's creation submission (`None` for a real).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Miss {
    pub video: i64,
    pub creation: Option<i64>,
    /// The detector failed on it (scored 0.5).
    pub failed: bool,
    /// At τ_d the detector gets it wrong (a real flagged, a fake let through); `None` without τ_d.
    pub wrong_at_threshold: Option<bool>,
}

/// What a detector's page shows, from the same scores as the board.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DetectorReport {
    /// Over all fakes in scope plus R; `None` while pending.
    pub pooled: Option<Curve>,
    pub creations: Vec<CreationCurve>,
    /// τ_d at `fpr` and the pooled operating point there (rates of scores ≥ τ_d).
    pub threshold: Option<f64>,
    pub operating_point: Option<RocPoint>,
    /// Reals scored highest first (false alarms), ties by video id.
    pub missed_reals: Vec<Miss>,
    /// Fakes scored lowest first (evasions), ties by video id.
    pub missed_fakes: Vec<Miss>,
}

fn curve(scores: &[f64], labels: &[bool]) -> Option<Curve> {
    Some(Curve {
        auc: auc(scores, labels)?,
        points: roc(scores, labels)?,
    })
}

impl ScoredBoard<'_> {
    /// The scores of `detector` over `fakes` (label true) then R, once all of them are scored.
    fn labelled(&self, detector: i64, fakes: &[i64]) -> Option<(Vec<f64>, Vec<bool>)> {
        let reals = &self.input.real_video_ids[..];
        let mut scores = Vec::with_capacity(fakes.len() + reals.len());
        let mut labels = Vec::with_capacity(scores.capacity());
        for (ids, label) in [(fakes, true), (reals, false)] {
            for v in ids {
                scores.push(self.score(detector, *v)?);
                labels.push(label);
            }
        }
        Some((scores, labels))
    }

    /// The report of `detector` at false-positive rate `fpr`, keeping the `worst` misses of each
    /// kind; `None` when the detector is not in scope.
    pub fn detector_report(&self, detector: i64, fpr: f64, worst: usize) -> Option<DetectorReport> {
        let input = self.input;
        if !input.detectors.iter().any(|d| d.detector_id == detector) {
            return None;
        }
        let fakes: Vec<(i64, i64)> = (input.creations.iter())
            .flat_map(|c| c.video_ids.iter().map(|v| (*v, c.submission_id)))
            .collect();
        let fake_ids: Vec<i64> = fakes.iter().map(|(v, _)| *v).collect();
        let pooled = self
            .labelled(detector, &fake_ids)
            .and_then(|(s, l)| curve(&s, &l));
        let creations = (input.creations.iter())
            .map(|c| CreationCurve {
                submission: c.submission_id,
                team: c.team.clone(),
                curve: self
                    .labelled(detector, &c.video_ids)
                    .and_then(|(s, l)| curve(&s, &l)),
                incomplete: self.pair(detector, &c.video_ids).incomplete,
            })
            .collect();
        let threshold = self.threshold(detector, fpr);
        let operating_point = threshold.and_then(|tau| {
            let (scores, labels) = self.labelled(detector, &fake_ids)?;
            let count = |want: bool| {
                let hits = (scores.iter().zip(&labels))
                    .filter(|(s, l)| **l == want && **s >= tau)
                    .count();
                let all = labels.iter().filter(|l| **l == want).count();
                (all > 0).then(|| hits as f64 / all as f64)
            };
            Some(RocPoint {
                fpr: count(false)?,
                tpr: count(true)?,
            })
        });
        let scored = |ids: Vec<(i64, Option<i64>)>| -> Vec<(f64, Miss)> {
            ids.into_iter()
                .filter_map(|(v, creation)| {
                    let s = self.score(detector, v)?;
                    let miss = Miss {
                        video: v,
                        creation,
                        failed: self.failed.contains(&(detector, v)),
                        // A real is flagged at s ≥ τ; a fake evades at s < τ.
                        wrong_at_threshold: threshold.map(|tau| (s >= tau) == creation.is_none()),
                    };
                    Some((s, miss))
                })
                .collect()
        };
        let mut reals = scored(input.real_video_ids.iter().map(|v| (*v, None)).collect());
        reals.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.video.cmp(&b.1.video)));
        let mut missed = scored(fakes.iter().map(|(v, c)| (*v, Some(*c))).collect());
        missed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.video.cmp(&b.1.video)));
        Some(DetectorReport {
            pooled,
            creations,
            threshold,
            operating_point,
            missed_reals: reals.into_iter().take(worst).map(|(_, m)| m).collect(),
            missed_fakes: missed.into_iter().take(worst).map(|(_, m)| m).collect(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::scoring::leaderboard::{BoardInput, CreationEntry, DetectorEntry};
    use std::collections::{HashMap, HashSet};

    fn pts(p: &[(f64, f64)]) -> Vec<RocPoint> {
        p.iter()
            .map(|(fpr, tpr)| RocPoint {
                fpr: *fpr,
                tpr: *tpr,
            })
            .collect()
    }

    #[test]
    fn hand_computed_curves() {
        // reals 0.2 0.5 0.8, fakes 0.3 0.9: thresholds 0.9, 0.8, 0.5, 0.3, 0.2.
        let s = [0.2, 0.5, 0.8, 0.3, 0.9];
        let l = [false, false, false, true, true];
        let third = 1.0 / 3.0;
        assert_eq!(
            roc(&s, &l).unwrap(),
            pts(&[
                (0.0, 0.0),
                (0.0, 0.5),
                (third, 0.5),
                (2.0 * third, 0.5),
                (2.0 * third, 1.0),
                (1.0, 1.0)
            ])
        );
        // A tie between a fake and a real is one diagonal step: area ½.
        assert_eq!(
            roc(&[0.5, 0.5], &[false, true]).unwrap(),
            pts(&[(0.0, 0.0), (1.0, 1.0)])
        );
        assert_eq!(
            trapezoid_area(&roc(&[0.5, 0.5], &[false, true]).unwrap()),
            0.5
        );
        assert_eq!(roc(&[0.3], &[true]), None);
        assert_eq!(roc(&[0.3, 0.4], &[true]), None);
    }

    #[test]
    fn trapezoid_area_equals_auc_with_heavy_ties() {
        let mut seed = 5u64;
        for round in 0..300 {
            let n = 2 + round % 50;
            let mut scores = Vec::new();
            let mut labels = Vec::new();
            for _ in 0..n {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                scores.push(((seed >> 33) % 6) as f64 / 5.0);
                labels.push((seed >> 21).is_multiple_of(2));
            }
            let (Some(a), Some(curve)) = (auc(&scores, &labels), roc(&scores, &labels)) else {
                continue;
            };
            assert!((trapezoid_area(&curve) - a).abs() < 1e-12, "round {round}");
            assert_eq!(curve.first(), Some(&RocPoint { fpr: 0.0, tpr: 0.0 }));
            assert_eq!(curve.last(), Some(&RocPoint { fpr: 1.0, tpr: 1.0 }));
            assert!(
                curve
                    .windows(2)
                    .all(|w| w[0].fpr <= w[1].fpr && w[0].tpr <= w[1].tpr)
            );
        }
    }

    #[test]
    fn detector_report_matches_the_board_and_lists_misses() {
        let mut scores = HashMap::new();
        // Reals 1..=4, creation 10 fakes 5, 6; creation 11 fakes 7 (failed), 8.
        for (v, s) in [
            (1, 0.1),
            (2, 0.7),
            (3, 0.3),
            (4, 0.7),
            (5, 0.9),
            (6, 0.2),
            (8, 0.8),
        ] {
            scores.insert((9, v), s);
        }
        let input = BoardInput {
            detectors: vec![DetectorEntry {
                detector_id: 9,
                submission_id: 90,
                team: "d".into(),
                baseline: false,
            }],
            creations: vec![
                CreationEntry {
                    submission_id: 10,
                    team: "a".into(),
                    baseline: false,
                    video_ids: vec![5, 6],
                },
                CreationEntry {
                    submission_id: 11,
                    team: "b".into(),
                    baseline: false,
                    video_ids: vec![7, 8],
                },
            ],
            real_video_ids: vec![1, 2, 3, 4],
            scores,
        };
        let failed = HashSet::from([(9, 7)]);
        let view = ScoredBoard::new(&input, &failed);
        let r = view.detector_report(9, 0.05, 2).unwrap();
        let pooled = r.pooled.as_ref().unwrap();
        assert_eq!(Some(pooled.auc), view.pair(9, &[5, 6, 7, 8]).auc);
        assert!((trapezoid_area(&pooled.points) - pooled.auc).abs() < 1e-12);
        assert_eq!(r.creations.len(), 2);
        assert!(!r.creations[0].incomplete && r.creations[1].incomplete);
        for c in &r.creations {
            let fakes = input
                .creations
                .iter()
                .find(|e| e.submission_id == c.submission)
                .unwrap();
            assert_eq!(
                c.curve.as_ref().map(|k| k.auc),
                view.pair(9, &fakes.video_ids).auc
            );
        }
        // 4 reals: ⌊0.2⌋ = 0 false positives allowed → τ just above 0.7; fakes ≥ τ: 0.9, 0.8.
        assert_eq!(r.threshold, Some(0.7f64.next_up()));
        assert_eq!(r.operating_point, Some(RocPoint { fpr: 0.0, tpr: 0.5 }));
        // Highest reals 0.7 (ids 2, 4), lowest fakes 0.2 (id 6) then the failure at 0.5 (id 7).
        let ids = |m: &[Miss]| m.iter().map(|m| m.video).collect::<Vec<_>>();
        assert_eq!(ids(&r.missed_reals), vec![2, 4]);
        assert_eq!(ids(&r.missed_fakes), vec![6, 7]);
        assert_eq!(r.missed_fakes[0].creation, Some(10));
        assert!(r.missed_fakes[1].failed);
        // At τ (just above 0.7) no real is flagged, and both listed fakes evade.
        assert!(
            r.missed_reals
                .iter()
                .all(|m| m.wrong_at_threshold == Some(false))
        );
        assert!(
            r.missed_fakes
                .iter()
                .all(|m| m.wrong_at_threshold == Some(true))
        );
        assert_eq!(view.detector_report(1, 0.05, 2), None);

        // A pending video: no pooled curve, the other creation still has its own.
        let mut partial = input.clone();
        partial.scores.remove(&(9, 8));
        let view = ScoredBoard::new(&partial, &failed);
        let r = view.detector_report(9, 0.05, 2).unwrap();
        assert!(r.pooled.is_none() && r.operating_point.is_none());
        assert!(r.creations[0].curve.is_some() && r.creations[1].curve.is_none());
    }
}

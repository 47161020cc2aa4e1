//! Per-detector rules beyond the plain pair AUC: failed videos, pair status and the threshold τ_d.
//!
//! Terms used here and in the boards:
//! - a pair (d, c) is *pending* while d has not yet scored (nor failed on) every video of F_c ∪ R;
//!   its AUC is `None`;
//! - a video d *failed* on is scored [`FAILED_SCORE`] (0.5) and its pairs are *incomplete*: the AUC
//!   is computed but flagged (DESIGN.md §6).

use super::auc::auc;
use super::input::BoardInput;
use serde::Serialize;
use std::collections::HashSet;

/// The false-positive rate on the real set that fixes τ_d (DESIGN.md §6: 5 %).
pub const DEFAULT_FPR: f64 = 0.05;

/// The score a video gets when the detector failed on it.
pub const FAILED_SCORE: f64 = 0.5;

/// Slack for `fpr · |R|` landing a hair under an integer in floating point (0.29 · 100).
const COUNT_EPSILON: f64 = 1e-9;

/// τ_d: the smallest threshold `t` (over all `f64`) such that at most `fpr` of the real scores are
/// `≥ t`, i.e. the detector calls a video fake when `s ≥ τ_d` and a creator wins when `s < τ_d`.
///
/// With k = ⌊fpr·|R|⌋ allowed false positives and r₍k+1₎ the (k+1)-th largest real score,
/// τ_d = `r₍k+1₎.next_up()` (the next `f64` above it): every `t ≤ r₍k+1₎` flags at least k+1 reals,
/// and `s ≥ next_up(r)` is exactly `s > r`. Ties in the real scores are therefore never split.
/// `None` when `real_scores` is empty, holds a non-finite value, or `fpr` is outside [0, 1).
pub fn threshold_at_fpr(real_scores: &[f64], fpr: f64) -> Option<f64> {
    if real_scores.is_empty()
        || !(0.0..1.0).contains(&fpr)
        || real_scores.iter().any(|s| !s.is_finite())
    {
        return None;
    }
    let n = real_scores.len();
    let allowed = ((fpr * n as f64 + COUNT_EPSILON).floor() as usize).min(n - 1);
    let mut sorted = real_scores.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    Some(sorted[allowed].next_up())
}

/// Whether a fake scored `score` by a detector with threshold `tau` evades it (the creator wins).
pub fn creator_wins(score: f64, tau: f64) -> bool {
    score < tau
}

/// A pair's AUC and whether any of its videos was a failure scored 0.5.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Pair {
    /// `None` while the pair is pending.
    pub auc: Option<f64>,
    pub incomplete: bool,
}

/// The board's scores with failures applied: the view every scoring rule reads.
#[derive(Debug, Clone, Copy)]
pub struct ScoredBoard<'a> {
    pub input: &'a BoardInput,
    /// (detector id, video id) pairs the detector failed on.
    pub failed: &'a HashSet<(i64, i64)>,
}

impl<'a> ScoredBoard<'a> {
    pub fn new(input: &'a BoardInput, failed: &'a HashSet<(i64, i64)>) -> Self {
        Self { input, failed }
    }

    /// s_d(v): the stored score, [`FAILED_SCORE`] for a failure, `None` while unscored.
    pub fn score(&self, detector: i64, video: i64) -> Option<f64> {
        if self.failed.contains(&(detector, video)) {
            Some(FAILED_SCORE)
        } else {
            self.input.scores.get(&(detector, video)).copied()
        }
    }

    fn has_failure(&self, detector: i64, videos: &[i64]) -> bool {
        videos.iter().any(|v| self.failed.contains(&(detector, *v)))
    }

    /// AUC of `detector` over `fakes` ∪ R (pending unless every one of those videos is scored).
    pub fn pair(&self, detector: i64, fakes: &[i64]) -> Pair {
        let reals = &self.input.real_video_ids[..];
        let incomplete = self.has_failure(detector, fakes) || self.has_failure(detector, reals);
        let mut scores = Vec::with_capacity(fakes.len() + reals.len());
        let mut labels = Vec::with_capacity(scores.capacity());
        for (ids, label) in [(fakes, true), (reals, false)] {
            for v in ids {
                match self.score(detector, *v) {
                    Some(s) => scores.push(s),
                    None => {
                        return Pair {
                            auc: None,
                            incomplete,
                        };
                    }
                }
                labels.push(label);
            }
        }
        Pair {
            auc: auc(&scores, &labels),
            incomplete,
        }
    }

    /// `pairs()[i][j]` = the pair (detectors[i], creations[j]).
    pub fn pairs(&self) -> Vec<Vec<Pair>> {
        let input = self.input;
        let row = |d: i64| {
            input
                .creations
                .iter()
                .map(|c| self.pair(d, &c.video_ids))
                .collect()
        };
        input.detectors.iter().map(|d| row(d.detector_id)).collect()
    }

    /// The detector's scores on R, once it has scored all of R.
    pub fn real_scores(&self, detector: i64) -> Option<Vec<f64>> {
        let reals = &self.input.real_video_ids;
        reals.iter().map(|v| self.score(detector, *v)).collect()
    }

    /// τ_d at `fpr` on the real set ([`threshold_at_fpr`]); `None` until all of R is scored.
    pub fn threshold(&self, detector: i64, fpr: f64) -> Option<f64> {
        threshold_at_fpr(&self.real_scores(detector)?, fpr)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::scoring::input::{CreationEntry, DetectorEntry};
    use std::collections::HashMap;

    /// Counts real scores at or above t: the definition of the false-positive count.
    fn false_positives(reals: &[f64], t: f64) -> usize {
        reals.iter().filter(|r| **r >= t).count()
    }

    #[test]
    fn threshold_hand_computed() {
        // 20 reals 0.00, 0.05, …, 0.95: 5 % of 20 = 1 false positive allowed, so τ sits just above
        // the second largest (0.90): only 0.95 is ≥ τ, and 0.90 itself is below it.
        let reals: Vec<f64> = (0..20).map(|i| i as f64 * 0.05).collect();
        let tau = threshold_at_fpr(&reals, 0.05).unwrap();
        assert_eq!(tau, reals[18].next_up());
        assert_eq!(false_positives(&reals, tau), 1);
        assert_eq!(false_positives(&reals, reals[18]), 2);
        // 19 reals: ⌊0.95⌋ = 0 allowed, τ just above the maximum.
        let tau = threshold_at_fpr(&reals[..19], 0.05).unwrap();
        assert_eq!(tau, reals[18].next_up());
        assert_eq!(false_positives(&reals[..19], tau), 0);
        // 40 reals: 2 allowed → τ above the third largest.
        let reals: Vec<f64> = (0..40).map(|i| i as f64 / 40.0).collect();
        assert_eq!(
            threshold_at_fpr(&reals, 0.05),
            Some((37.0f64 / 40.0).next_up())
        );
    }

    #[test]
    fn threshold_never_splits_ties() {
        // 20 reals, the top three tied at 0.9: no threshold flags exactly one of them, so τ must clear
        // all three (0 false positives) rather than allow 3 > 1.
        let mut reals = vec![0.1; 17];
        reals.extend([0.9, 0.9, 0.9]);
        let tau = threshold_at_fpr(&reals, 0.05).unwrap();
        assert_eq!(tau, 0.9f64.next_up());
        assert_eq!(false_positives(&reals, tau), 0);
        assert!(!creator_wins(0.95, tau));
        assert!(creator_wins(0.9, tau));
    }

    #[test]
    fn threshold_is_the_smallest_admissible_on_random_sets() {
        let mut seed = 11u64;
        for n in 1..120 {
            let reals: Vec<f64> = (0..n)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((seed >> 33) % 7) as f64 / 6.0
                })
                .collect();
            let tau = threshold_at_fpr(&reals, 0.05).unwrap();
            let allowed = n / 20;
            assert!(false_positives(&reals, tau) <= allowed, "n={n}");
            assert!(false_positives(&reals, tau.next_down()) > allowed, "n={n}");
        }
        assert_eq!(threshold_at_fpr(&[], 0.05), None);
        assert_eq!(threshold_at_fpr(&[0.3], 1.0), None);
        assert_eq!(threshold_at_fpr(&[f64::NAN], 0.05), None);
    }

    #[test]
    fn failures_score_half_and_flag_the_pair() {
        let mut scores = HashMap::new();
        for (v, s) in [(1, 0.2), (2, 0.6), (3, 0.9)] {
            scores.insert((7, v), s);
        }
        let input = BoardInput {
            detectors: vec![DetectorEntry {
                detector_id: 7,
                submission_id: 1,
                team: "d".into(),
                baseline: false,
            }],
            creations: vec![CreationEntry {
                submission_id: 2,
                team: "c".into(),
                baseline: false,
                video_ids: vec![3, 4],
            }],
            real_video_ids: vec![1, 2],
            scores,
        };
        let none = HashSet::new();
        assert_eq!(
            ScoredBoard::new(&input, &none).pair(7, &[3, 4]),
            Pair {
                auc: None,
                incomplete: false
            }
        );
        let failed = HashSet::from([(7, 4)]);
        let view = ScoredBoard::new(&input, &failed);
        // fakes 0.9, 0.5 vs reals 0.2, 0.6: pairs won 2 + 1 of 4.
        let pair = view.pair(7, &[3, 4]);
        assert!(pair.incomplete);
        assert!((pair.auc.unwrap() - 0.75).abs() < 1e-12);
        assert_eq!(view.score(7, 4), Some(FAILED_SCORE));
    }
}

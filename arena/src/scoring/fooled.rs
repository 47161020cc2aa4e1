//! Which detectors a fake fooled: those whose score on it stays below their threshold τ_d
//! ([`super::detection::creator_wins`]), counted over the detectors that have τ_d (all of R
//! scored) and a score (or failure) on the fake. The creation page lists them per fake; the
//! board's "hardest fakes" are the fakes that fooled the most.

use super::detection::{ScoredBoard, creator_wins};
use serde::Serialize;

/// A fake's verdicts at the detectors' thresholds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fooled {
    pub video: i64,
    /// The fake's creation submission.
    pub creation: i64,
    /// Submission ids of the detectors it fooled, in board order.
    pub fooled: Vec<i64>,
    /// Detectors with a verdict on it (threshold known and the fake scored).
    pub judged: usize,
}

impl ScoredBoard<'_> {
    /// The verdicts on every fake of creation `creation` (board order of its videos) at `fpr`.
    pub fn fooled(&self, creation: i64, fpr: f64) -> Vec<Fooled> {
        let taus = self.thresholds(fpr);
        (self.input.creations.iter())
            .filter(|c| c.submission_id == creation)
            .flat_map(|c| {
                c.video_ids
                    .iter()
                    .map(|v| self.verdicts(*v, c.submission_id, &taus))
            })
            .collect()
    }

    /// The `n` fakes that fooled the most detectors (ties: more judges first, then video id);
    /// fakes that fooled none are left out.
    pub fn hardest_fakes(&self, fpr: f64, n: usize) -> Vec<Fooled> {
        let taus = self.thresholds(fpr);
        let mut all: Vec<Fooled> = (self.input.creations.iter())
            .flat_map(|c| {
                let taus = &taus;
                c.video_ids
                    .iter()
                    .map(move |v| self.verdicts(*v, c.submission_id, taus))
            })
            .filter(|f| !f.fooled.is_empty())
            .collect();
        all.sort_by(|a, b| {
            (b.fooled.len().cmp(&a.fooled.len()))
                .then(b.judged.cmp(&a.judged))
                .then(a.video.cmp(&b.video))
        });
        all.truncate(n);
        all
    }

    /// (detector id, submission id, τ_d) for every detector in scope with a threshold.
    fn thresholds(&self, fpr: f64) -> Vec<(i64, i64, f64)> {
        (self.input.detectors.iter())
            .filter_map(|d| {
                let tau = self.threshold(d.detector_id, fpr)?;
                Some((d.detector_id, d.submission_id, tau))
            })
            .collect()
    }

    fn verdicts(&self, video: i64, creation: i64, taus: &[(i64, i64, f64)]) -> Fooled {
        let mut out = Fooled {
            video,
            creation,
            fooled: Vec::new(),
            judged: 0,
        };
        for (detector, submission, tau) in taus {
            if let Some(s) = self.score(*detector, video) {
                out.judged += 1;
                if creator_wins(s, *tau) {
                    out.fooled.push(*submission);
                }
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::scoring::detection::ScoredBoard;
    use crate::scoring::leaderboard::{BoardInput, CreationEntry, DetectorEntry};
    use std::collections::{HashMap, HashSet};

    #[test]
    fn fooled_counts_scores_below_each_threshold() {
        let det = |id: i64| DetectorEntry {
            detector_id: id,
            submission_id: 100 + id,
            team: format!("d{id}"),
            baseline: false,
        };
        let mut scores = HashMap::new();
        // Reals 1, 2: detector 1 scores them 0.2, 0.4 → τ just above 0.4 (2 reals, 0 allowed);
        // detector 2 scores them 0.6, 0.7 → τ just above 0.7; detector 3 has not scored R.
        for (d, v, s) in [
            (1, 1, 0.2),
            (1, 2, 0.4),
            (2, 1, 0.6),
            (2, 2, 0.7),
            (3, 1, 0.1),
            // Fake 10: 0.4 for d1 (fools: not above τ), 0.9 for d2 (caught).
            (1, 10, 0.4),
            (2, 10, 0.9),
            (3, 10, 0.0),
            // Fake 11: fools both. Fake 12: caught by d1, unscored by d2.
            (1, 11, 0.1),
            (2, 11, 0.7),
            (1, 12, 0.8),
        ] {
            scores.insert((d, v), s);
        }
        let input = BoardInput {
            detectors: vec![det(1), det(2), det(3)],
            creations: vec![
                CreationEntry {
                    submission_id: 50,
                    team: "a".into(),
                    baseline: false,
                    video_ids: vec![10, 11],
                },
                CreationEntry {
                    submission_id: 51,
                    team: "b".into(),
                    baseline: false,
                    video_ids: vec![12],
                },
            ],
            real_video_ids: vec![1, 2],
            scores,
        };
        let none = HashSet::new();
        let view = ScoredBoard::new(&input, &none);
        let a = view.fooled(50, 0.05);
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[0].video, a[0].fooled.clone(), a[0].judged),
            (10, vec![101], 2)
        );
        assert_eq!(
            (a[1].video, a[1].fooled.clone(), a[1].judged),
            (11, vec![101, 102], 2)
        );
        let b = view.fooled(51, 0.05);
        assert_eq!((b[0].fooled.len(), b[0].judged), (0, 1));
        assert!(view.fooled(99, 0.05).is_empty());
        let hardest = view.hardest_fakes(0.05, 5);
        assert_eq!(
            hardest.iter().map(|f| f.video).collect::<Vec<_>>(),
            vec![11, 10]
        );
        assert_eq!(view.hardest_fakes(0.05, 1).len(), 1);
        // A failure scores 0.5: below d2's τ, so it fools d2.
        let failed = HashSet::from([(2, 12)]);
        let view = ScoredBoard::new(&input, &failed);
        assert_eq!(view.fooled(51, 0.05)[0].fooled, vec![102]);
    }
}

//! Matches from scores: every (detector d, fake video v) is a game between v's creator team and
//! d's team; the creator wins when s_d(v) < τ_d (DESIGN.md §6).

use super::contestant::{Contestant, Role};
use crate::scoring::detection::{ScoredBoard, creator_wins};
use crate::scoring::leaderboard::DetectorEntry;

/// One decided game.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub creator_team: String,
    pub detector_team: String,
    pub detector_id: i64,
    pub video_id: i64,
    /// s_d(v) < τ_d: the fake evaded the detector.
    pub creator_won: bool,
}

impl Match {
    pub fn creator(&self) -> Contestant {
        Contestant::new(&self.creator_team, Role::Creator)
    }

    pub fn detector(&self) -> Contestant {
        Contestant::new(&self.detector_team, Role::Detector)
    }

    /// (winner, loser).
    pub fn outcome(&self) -> (Contestant, Contestant) {
        if self.creator_won {
            (self.creator(), self.detector())
        } else {
            (self.detector(), self.creator())
        }
    }
}

/// The matches of `detectors` against every fake in the board, in creation, video, detector order.
///
/// A detector plays only once its threshold is known (all of R scored) and only on fakes it has
/// scored (a failure counts as the score 0.5).
pub fn build_matches(view: &ScoredBoard<'_>, detectors: &[&DetectorEntry], fpr: f64) -> Vec<Match> {
    let thresholds: Vec<Option<f64>> = detectors
        .iter()
        .map(|d| view.threshold(d.detector_id, fpr))
        .collect();
    let mut out = Vec::new();
    for c in &view.input.creations {
        for v in &c.video_ids {
            for (d, tau) in detectors.iter().zip(&thresholds) {
                let (Some(tau), Some(score)) = (tau, view.score(d.detector_id, *v)) else {
                    continue;
                };
                out.push(Match {
                    creator_team: c.team.clone(),
                    detector_team: d.team.clone(),
                    detector_id: d.detector_id,
                    video_id: *v,
                    creator_won: creator_wins(score, *tau),
                });
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::scoring::leaderboard::{BoardInput, CreationEntry};
    use std::collections::{HashMap, HashSet};

    #[test]
    fn creator_wins_below_the_threshold() {
        // 20 reals 0.00..0.95 → τ just above 0.90. Fakes: 0.95 caught, 0.90 evades, 0.5 (failed)
        // evades, video 104 unscored → no match.
        let mut scores: HashMap<(i64, i64), f64> =
            (0..20).map(|i| ((1, i), i as f64 * 0.05)).collect();
        scores.insert((1, 101), 0.95);
        scores.insert((1, 102), 0.90);
        let input = BoardInput {
            detectors: vec![DetectorEntry {
                detector_id: 1,
                submission_id: 1,
                team: "det".into(),
                baseline: false,
            }],
            creations: vec![CreationEntry {
                submission_id: 9,
                team: "cre".into(),
                baseline: false,
                video_ids: vec![101, 102, 103, 104],
            }],
            real_video_ids: (0..20).collect(),
            scores,
        };
        let failed = HashSet::from([(1, 103)]);
        let view = ScoredBoard::new(&input, &failed);
        let detectors: Vec<&DetectorEntry> = input.detectors.iter().collect();
        let matches = build_matches(&view, &detectors, 0.05);
        let won: Vec<(i64, bool)> = matches
            .iter()
            .map(|m| (m.video_id, m.creator_won))
            .collect();
        assert_eq!(won, vec![(101, false), (102, true), (103, true)]);
        assert_eq!(
            matches[1].outcome().0,
            Contestant::new("cre", Role::Creator)
        );
        // Without all of R scored there is no threshold and no match.
        let mut partial = input.clone();
        partial.scores.remove(&(1, 0));
        let view = ScoredBoard::new(&partial, &failed);
        assert!(build_matches(&view, &detectors, 0.05).is_empty());
    }
}

//! Game ratings of creator and detector teams (DESIGN.md §6): matches from scores, a Bradley–Terry
//! fit with bootstrap intervals, Chatbot Arena ranks, and a live Glicko-2 number.

pub mod bootstrap;
pub mod bradley_terry;
pub mod contestant;
pub mod glicko;
pub mod matches;

use crate::scoring::detection::ScoredBoard;
use crate::scoring::leaderboard::{BoardExtras, BoardInput, DetectorEntry, ScoringRules};
use bootstrap::{BootstrapError, BootstrapOptions, MIN_RESAMPLES};
use bradley_terry::{DEFAULT_LAMBDA, FitError, Game, elo, fit};
use glicko::LiveRatings;
use matches::{Match, build_matches};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

pub use bootstrap::Interval;
pub use contestant::{Contestant, Role};

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RatingRow {
    pub team: String,
    pub role: Role,
    /// Bradley–Terry rating on the Elo scale (mean 1000 over all rated entries).
    pub rating: f64,
    /// 95 % bootstrap percentile interval.
    pub ci_low: f64,
    pub ci_high: f64,
    /// 1 + entries of the same role whose `ci_low` exceeds this `ci_high`; baselines are not ranked.
    pub rank: Option<u32>,
    pub matches: usize,
    pub wins: usize,
    /// The live Glicko-2 rating after replaying the matches in order.
    pub glicko: Option<f64>,
    pub baseline: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatingOptions {
    /// The Bradley–Terry L2 prior λ ([`DEFAULT_LAMBDA`]).
    pub lambda: f64,
    /// Bootstrap resamples, at least [`MIN_RESAMPLES`].
    pub resamples: usize,
    pub seed: u64,
}

impl Default for RatingOptions {
    fn default() -> Self {
        Self {
            lambda: DEFAULT_LAMBDA,
            resamples: MIN_RESAMPLES,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RatingError {
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    #[error(transparent)]
    Fit(#[from] FitError),
}

/// The rating board of a live scope: matches of the detectors in scope (eligible ones, when the
/// rules have an eligibility rule) against every fake, then [`rate_matches`].
pub fn rate(
    input: &BoardInput,
    extras: &BoardExtras,
    rules: &ScoringRules,
    opts: &RatingOptions,
) -> Result<Vec<RatingRow>, RatingError> {
    let view = ScoredBoard::new(input, &extras.failed);
    let eligible = view.eligibility(&view.pairs(), rules.eligibility.as_ref());
    let scope: Vec<&DetectorEntry> = (input.detectors.iter().zip(&eligible))
        .filter(|(_, e)| **e != Some(false))
        .map(|(d, _)| d)
        .collect();
    let matches = build_matches(&view, &scope, rules.fpr);
    let creators = input
        .creations
        .iter()
        .filter(|c| c.baseline)
        .map(|c| Contestant::new(&c.team, Role::Creator));
    let detectors = input
        .detectors
        .iter()
        .filter(|d| d.baseline)
        .map(|d| Contestant::new(&d.team, Role::Detector));
    rate_matches(&matches, &creators.chain(detectors).collect(), opts)
}

/// Per-entry tallies, in a fixed (role, team) order.
#[derive(Default)]
struct Record {
    index: usize,
    matches: usize,
    wins: usize,
}

/// Fits Bradley–Terry to `matches`, bootstraps the intervals, ranks, and replays Glicko-2.
/// Rows come creators first, then detectors, each by rating (best first).
pub fn rate_matches(
    matches: &[Match],
    baselines: &HashSet<Contestant>,
    opts: &RatingOptions,
) -> Result<Vec<RatingRow>, RatingError> {
    let mut records: BTreeMap<Contestant, Record> = BTreeMap::new();
    for m in matches {
        let (winner, loser) = m.outcome();
        records.entry(winner).or_default().wins += 1;
        records.entry(loser).or_default();
        records.entry(m.creator()).or_default().matches += 1;
        records.entry(m.detector()).or_default().matches += 1;
    }
    records
        .values_mut()
        .enumerate()
        .for_each(|(i, r)| r.index = i);
    let index = |c: &Contestant| records.get(c).map_or(0, |r| r.index);
    let games: Vec<Game> = (matches.iter().map(Match::outcome))
        .map(|(w, l)| Game {
            winner: index(&w),
            loser: index(&l),
        })
        .collect();
    let theta = fit(records.len(), &games, opts.lambda)?;
    let boot = BootstrapOptions {
        resamples: opts.resamples,
        seed: opts.seed,
        lambda: opts.lambda,
    };
    let ci = bootstrap::intervals(records.len(), &games, &boot)?;
    let live = LiveRatings::replay(matches);
    let mut rows: Vec<RatingRow> = (records.iter())
        .map(|(who, r)| RatingRow {
            team: who.team.clone(),
            role: who.role,
            rating: elo(theta[r.index]),
            ci_low: ci[r.index].low,
            ci_high: ci[r.index].high,
            rank: None,
            matches: r.matches,
            wins: r.wins,
            glicko: live.rating(who),
            baseline: baselines.contains(who),
        })
        .collect();
    assign_ranks(&mut rows);
    rows.sort_by(|a, b| a.role.cmp(&b.role).then(b.rating.total_cmp(&a.rating)));
    Ok(rows)
}

/// Chatbot Arena's rule within each role: 1 + ranked entries whose lower bound is above this
/// entry's upper bound.
fn assign_ranks(rows: &mut [RatingRow]) {
    let ranked: Vec<(Role, f64)> = rows
        .iter()
        .filter(|r| !r.baseline)
        .map(|r| (r.role, r.ci_low))
        .collect();
    for row in rows.iter_mut().filter(|r| !r.baseline) {
        let above = ranked
            .iter()
            .filter(|(role, low)| *role == row.role && *low > row.ci_high)
            .count();
        row.rank = Some(1 + above as u32);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn m(creator: &str, detector: &str, creator_won: bool) -> Match {
        Match {
            creator_team: creator.into(),
            detector_team: detector.into(),
            detector_id: 0,
            video_id: 0,
            creator_won,
        }
    }

    #[test]
    fn symmetric_tournament_rates_everyone_equal() {
        let mut matches = Vec::new();
        for c in ["a", "b"] {
            for d in ["x", "y"] {
                for k in 0..10 {
                    matches.push(m(c, d, k % 2 == 0));
                }
            }
        }
        let rows = rate_matches(&matches, &HashSet::new(), &RatingOptions::default()).unwrap();
        assert_eq!(rows.len(), 4);
        for r in &rows {
            assert!((r.rating - 1000.0).abs() < 1e-9, "{r:?}");
            assert_eq!((r.rank, r.matches, r.wins), (Some(1), 20, 10));
            assert!(r.ci_low <= r.rating && r.rating <= r.ci_high);
        }
        assert_eq!(rows[0].role, Role::Creator);
    }

    #[test]
    fn dominant_team_is_finite_on_top_and_ranked_first() {
        let mut matches = Vec::new();
        for k in 0..40 {
            matches.push(m("ace", "x", true));
            matches.push(m("ace", "y", true));
            matches.push(m("weak", "x", k % 10 == 0));
            matches.push(m("weak", "y", k % 8 == 0));
        }
        let baselines = HashSet::from([Contestant::new("y", Role::Detector)]);
        let rows = rate_matches(&matches, &baselines, &RatingOptions::default()).unwrap();
        let ace = &rows[0];
        assert_eq!(
            (ace.team.as_str(), ace.rank, ace.wins),
            ("ace", Some(1), 80)
        );
        assert!(ace.rating.is_finite() && ace.rating > rows[1].rating);
        assert_eq!(rows[1].rank, Some(2)); // weak's interval lies wholly below ace's
        let y = rows.iter().find(|r| r.team == "y").unwrap();
        assert_eq!((y.baseline, y.rank), (true, None));
        let mean = rows.iter().map(|r| r.rating).sum::<f64>() / rows.len() as f64;
        assert!((mean - 1000.0).abs() < 1e-9);
        assert!(ace.glicko.unwrap() > rows[1].glicko.unwrap());
    }
}

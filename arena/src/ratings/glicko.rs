//! The live rating: Glicko-2 (the `skillratings` crate) updated one match at a time as results
//! stream in, shown between Bradley–Terry refits.
//!
//! Every contestant starts at 1000 (deviation 350, volatility 0.06; τ = 0.5) rather than the crate's
//! 1500, to sit on the same Elo-like scale as the Bradley–Terry board (Glicko-2 uses the same
//! 400/ln 10 points per logistic unit, and its updates depend only on rating differences). Each
//! match is its own rating period, so the result depends on the order matches arrive in.

use super::contestant::Contestant;
use super::matches::Match;
use skillratings::Outcomes;
use skillratings::glicko2::{Glicko2Config, Glicko2Rating, glicko2};
use std::collections::HashMap;

pub const GLICKO_START: f64 = 1000.0;

#[derive(Debug, Clone, Default)]
pub struct LiveRatings {
    config: Glicko2Config,
    ratings: HashMap<Contestant, Glicko2Rating>,
}

fn start() -> Glicko2Rating {
    Glicko2Rating {
        rating: GLICKO_START,
        ..Glicko2Rating::new()
    }
}

impl LiveRatings {
    pub fn new() -> Self {
        Self::default()
    }

    /// Ratings after `matches` in order.
    pub fn replay<'a>(matches: impl IntoIterator<Item = &'a Match>) -> Self {
        let mut live = Self::new();
        matches.into_iter().for_each(|m| live.record(m));
        live
    }

    /// Updates both sides of one match.
    pub fn record(&mut self, m: &Match) {
        let (creator, detector) = (m.creator(), m.detector());
        let c = self.ratings.get(&creator).copied().unwrap_or_else(start);
        let d = self.ratings.get(&detector).copied().unwrap_or_else(start);
        let outcome = if m.creator_won {
            Outcomes::WIN
        } else {
            Outcomes::LOSS
        };
        let (c, d) = glicko2(&c, &d, &outcome, &self.config);
        self.ratings.insert(creator, c);
        self.ratings.insert(detector, d);
    }

    /// The contestant's live rating, once it has played.
    pub fn rating(&self, who: &Contestant) -> Option<f64> {
        self.ratings.get(who).map(|r| r.rating)
    }

    /// The full Glicko-2 state (rating, deviation, volatility).
    pub fn get(&self, who: &Contestant) -> Option<Glicko2Rating> {
        self.ratings.get(who).copied()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ratings::Role;

    fn game(creator_won: bool) -> Match {
        Match {
            creator_team: "c".into(),
            detector_team: "d".into(),
            detector_id: 1,
            video_id: 1,
            creator_won,
        }
    }

    #[test]
    fn first_game_matches_glickmans_example_shifted() {
        // skillratings' documented example: 1500 vs 1500, a win → 1662 / 1338 (shifted by −500).
        let live = LiveRatings::replay(&[game(true)]);
        let c = live.get(&Contestant::new("c", Role::Creator)).unwrap();
        assert!((c.rating.round() - 1162.0).abs() < f64::EPSILON);
        assert!((c.deviation.round() - 290.0).abs() < f64::EPSILON);
        let d = live.rating(&Contestant::new("d", Role::Detector)).unwrap();
        assert!((d.round() - 838.0).abs() < f64::EPSILON);
        assert_eq!(live.rating(&Contestant::new("c", Role::Detector)), None);
    }

    #[test]
    fn winner_keeps_climbing() {
        let mut live = LiveRatings::new();
        let who = Contestant::new("d", Role::Detector);
        let mut last = GLICKO_START;
        for _ in 0..5 {
            live.record(&game(false));
            let now = live.rating(&who).unwrap();
            assert!(now > last);
            last = now;
        }
    }
}

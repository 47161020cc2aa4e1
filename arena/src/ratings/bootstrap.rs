//! 95 % percentile intervals for Bradley–Terry ratings by bootstrap resampling of the games.
//!
//! Each resample draws `games.len()` games uniformly with replacement (ChaCha8 seeded with `seed`,
//! so the result is a pure function of the games and the seed), refits every entry (an entry absent
//! from a resample is held at the prior mean, 1000), and converts to the Elo scale. The interval is
//! the 2.5th and 97.5th percentile of those ratings, interpolated linearly between order
//! statistics (numpy's default `linear` method).

use super::bradley_terry::{FitError, Game, Tally, elo, fit_tally};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// DESIGN.md §6: at least 200 resamples.
pub const MIN_RESAMPLES: usize = 200;
const LOWER: f64 = 0.025;
const UPPER: f64 = 0.975;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BootstrapOptions {
    pub resamples: usize,
    pub seed: u64,
    /// The Bradley–Terry prior λ used in every refit.
    pub lambda: f64,
}

/// An interval on the Elo scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BootstrapError {
    #[error("{got} bootstrap resamples requested; at least {MIN_RESAMPLES} are required")]
    TooFewResamples { got: usize },
    #[error(transparent)]
    Fit(#[from] FitError),
}

/// The 95 % interval of each of `entries` entries' ratings.
pub fn intervals(
    entries: usize,
    games: &[Game],
    opts: &BootstrapOptions,
) -> Result<Vec<Interval>, BootstrapError> {
    if opts.resamples < MIN_RESAMPLES {
        return Err(BootstrapError::TooFewResamples {
            got: opts.resamples,
        });
    }
    let (mut tally, slots) = Tally::index(entries, games)?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    // ratings[k] holds entry k's rating in every resample.
    let mut ratings = vec![Vec::with_capacity(opts.resamples); entries];
    for _ in 0..opts.resamples {
        tally.clear();
        if !slots.is_empty() {
            for _ in 0..slots.len() {
                tally.count(slots[rng.random_range(0..slots.len())]);
            }
        }
        let theta = fit_tally(&tally, opts.lambda)?;
        ratings
            .iter_mut()
            .zip(&theta)
            .for_each(|(r, t)| r.push(elo(*t)));
    }
    Ok(ratings
        .into_iter()
        .map(|mut r| {
            r.sort_by(f64::total_cmp);
            Interval {
                low: percentile(&r, LOWER),
                high: percentile(&r, UPPER),
            }
        })
        .collect())
}

/// The `q`-quantile of ascending `sorted` values, linear between order statistics (type 7).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ratings::bradley_terry::{DEFAULT_LAMBDA, fit};

    fn tournament() -> Vec<Game> {
        let mut games = Vec::new();
        // Creators 0..3, detectors 3..6; creator c beats detector d in (c + 1)·(d − 1) of 12 games.
        for c in 0..3 {
            for d in 3..6 {
                let wins = (c + 1) * (d - 1);
                for k in 0..12 {
                    let (winner, loser) = if k < wins { (c, d) } else { (d, c) };
                    games.push(Game { winner, loser });
                }
            }
        }
        games
    }

    fn opts(seed: u64) -> BootstrapOptions {
        BootstrapOptions {
            resamples: 200,
            seed,
            lambda: DEFAULT_LAMBDA,
        }
    }

    #[test]
    fn deterministic_for_a_seed() {
        let games = tournament();
        let a = intervals(6, &games, &opts(42)).unwrap();
        assert_eq!(a, intervals(6, &games, &opts(42)).unwrap());
        assert_ne!(a, intervals(6, &games, &opts(43)).unwrap());
    }

    #[test]
    fn intervals_contain_the_point_estimate() {
        let games = tournament();
        let theta = fit(6, &games, DEFAULT_LAMBDA).unwrap();
        let ci = intervals(6, &games, &opts(7)).unwrap();
        for (t, i) in theta.iter().zip(&ci) {
            let r = elo(*t);
            assert!(i.low < r && r < i.high, "{r} not in {i:?}");
            assert!(i.high - i.low < 400.0);
        }
    }

    #[test]
    fn percentile_matches_numpy_linear() {
        // numpy.percentile([1, 2, 3, 4, 10], [2.5, 50, 97.5]) = [1.1, 3.0, 9.4]
        let xs = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert!((percentile(&xs, 0.025) - 1.1).abs() < 1e-12);
        assert!((percentile(&xs, 0.5) - 3.0).abs() < 1e-12);
        assert!((percentile(&xs, 0.975) - 9.4).abs() < 1e-12);
    }

    #[test]
    fn requires_enough_resamples() {
        let err = intervals(
            2,
            &[],
            &BootstrapOptions {
                resamples: 199,
                ..opts(1)
            },
        );
        assert_eq!(err, Err(BootstrapError::TooFewResamples { got: 199 }));
    }
}

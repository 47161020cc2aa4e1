//! Bradley–Terry strengths by L2-penalised maximum likelihood, solved with Newton's method.
//!
//! Model: P(i beats j) = σ(θ_i − θ_j) with σ the logistic function and θ the log-strengths.
//! Objective maximised: ℓ(θ) − (λ/2)·Σ_k θ_k², ℓ the log-likelihood of the games. The prior keeps
//! perfect records finite and makes the optimum unique; at the optimum Σ_k θ_k = 0 exactly (the
//! gradient of ℓ sums to zero, so λ·Σθ = Σ∇ℓ = 0), which is the identification (mean log-strength
//! 0) — the final re-centring only removes rounding. The same fit is an L2 logistic regression
//! without intercept on features x = e_i − e_j: scikit-learn's `C` is 1/λ.
//!
//! Reported on the Elo scale: R = 1000 + 400·log10(e)·θ, so 400 points = a 10:1 strength ratio and
//! the mean over all rated entries is 1000.

use std::collections::HashMap;
use std::f64::consts::LN_10;

/// λ, the L2 prior on the log-strengths. Small: about the information of a hundredth of a game per
/// entry, enough to bound a perfect record (θ ≈ ln(games/λθ)) without moving contested ratings.
pub const DEFAULT_LAMBDA: f64 = 0.01;
/// Newton stops when no log-strength moves by more than this.
pub const TOLERANCE: f64 = 1e-10;
pub const MAX_ITERATIONS: usize = 200;
/// Below this step size the Newton step is taken whole (the quadratic-convergence region).
const FULL_STEP_BELOW: f64 = 1e-6;

pub const ELO_MEAN: f64 = 1000.0;

/// R = 1000 + 400·log10(e)·θ.
pub fn elo(theta: f64) -> f64 {
    ELO_MEAN + 400.0 / LN_10 * theta
}

/// One decided game between two entries (indices into the caller's entry list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Game {
    pub winner: usize,
    pub loser: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("the L2 prior λ must be finite and positive, got {0}")]
    BadLambda(f64),
    #[error("a game names entry {index} but there are only {entries}")]
    UnknownEntry { index: usize, entries: usize },
    #[error("Newton's method did not converge in {0} iterations")]
    NotConverged(usize),
    #[error("the Newton system is not positive definite")]
    Singular,
}

/// Where a game lands in a [`Tally`]: its unordered pair and which side of it won.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pair: usize,
    first_won: bool,
}

/// Games aggregated per unordered pair of entries: the likelihood's sufficient statistics.
#[derive(Debug, Clone)]
pub struct Tally {
    entries: usize,
    pairs: Vec<(usize, usize)>,
    /// Wins of the pair's first and second entry.
    wins: Vec<[f64; 2]>,
}

impl Tally {
    /// The tally of `games` and each game's slot (to re-count resamples cheaply).
    pub fn index(entries: usize, games: &[Game]) -> Result<(Self, Vec<Slot>), FitError> {
        let mut seen: HashMap<(usize, usize), usize> = HashMap::new();
        let mut tally = Self {
            entries,
            pairs: Vec::new(),
            wins: Vec::new(),
        };
        let mut slots = Vec::with_capacity(games.len());
        for g in games {
            if let Some(&index) = [g.winner, g.loser].iter().find(|i| **i >= entries) {
                return Err(FitError::UnknownEntry { index, entries });
            }
            let key = (g.winner.min(g.loser), g.winner.max(g.loser));
            let pair = *seen.entry(key).or_insert_with(|| {
                tally.pairs.push(key);
                tally.wins.push([0.0; 2]);
                tally.pairs.len() - 1
            });
            let slot = Slot {
                pair,
                first_won: g.winner == key.0,
            };
            tally.count(slot);
            slots.push(slot);
        }
        Ok((tally, slots))
    }

    pub fn clear(&mut self) {
        self.wins.iter_mut().for_each(|w| *w = [0.0; 2]);
    }

    pub fn count(&mut self, slot: Slot) {
        self.wins[slot.pair][usize::from(!slot.first_won)] += 1.0;
    }
}

/// Log-strengths θ (mean 0) maximising the penalised likelihood of `games` among `entries` entries.
pub fn fit(entries: usize, games: &[Game], lambda: f64) -> Result<Vec<f64>, FitError> {
    let (tally, _) = Tally::index(entries, games)?;
    fit_tally(&tally, lambda)
}

/// [`fit`] on already aggregated games.
pub fn fit_tally(tally: &Tally, lambda: f64) -> Result<Vec<f64>, FitError> {
    if !(lambda.is_finite() && lambda > 0.0) {
        return Err(FitError::BadLambda(lambda));
    }
    let mut theta = vec![0.0; tally.entries];
    for _ in 0..MAX_ITERATIONS {
        let (value, grad, neg_hessian) = derivatives(tally, &theta, lambda);
        let delta = cholesky_solve(neg_hessian, &grad, tally.entries).ok_or(FitError::Singular)?;
        let largest = delta.iter().fold(0.0f64, |m, d| m.max(d.abs()));
        let step = if largest < FULL_STEP_BELOW {
            1.0
        } else {
            backtrack(tally, &theta, &delta, (value, &grad), lambda)
        };
        theta
            .iter_mut()
            .zip(&delta)
            .for_each(|(t, d)| *t += step * d);
        if step * largest < TOLERANCE {
            let mean = theta.iter().sum::<f64>() / theta.len().max(1) as f64;
            return Ok(theta.iter().map(|t| t - mean).collect());
        }
    }
    Err(FitError::NotConverged(MAX_ITERATIONS))
}

/// Halves the step until the Armijo condition holds (the objective is strictly concave).
fn backtrack(
    tally: &Tally,
    theta: &[f64],
    delta: &[f64],
    (value, grad): (f64, &[f64]),
    lambda: f64,
) -> f64 {
    let slope: f64 = grad.iter().zip(delta).map(|(g, d)| g * d).sum();
    let mut step = 1.0;
    while step > 1e-12 {
        let trial: Vec<f64> = theta.iter().zip(delta).map(|(t, d)| t + step * d).collect();
        if objective(tally, &trial, lambda) >= value + 1e-4 * step * slope {
            break;
        }
        step /= 2.0;
    }
    step
}

/// log σ(x), stable for large |x|.
fn log_sigmoid(x: f64) -> f64 {
    -(x.max(0.0) - x + (-x.abs()).exp().ln_1p())
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn objective(tally: &Tally, theta: &[f64], lambda: f64) -> f64 {
    let likelihood: f64 = (tally.pairs.iter().zip(&tally.wins))
        .map(|(&(a, b), [wa, wb])| {
            let d = theta[a] - theta[b];
            wa * log_sigmoid(d) + wb * log_sigmoid(-d)
        })
        .sum();
    likelihood - 0.5 * lambda * theta.iter().map(|t| t * t).sum::<f64>()
}

/// The objective, its gradient and its negated Hessian (row-major, positive definite).
fn derivatives(tally: &Tally, theta: &[f64], lambda: f64) -> (f64, Vec<f64>, Vec<f64>) {
    let n = theta.len();
    let mut grad: Vec<f64> = theta.iter().map(|t| -lambda * t).collect();
    let mut h = vec![0.0; n * n];
    (0..n).for_each(|k| h[k * n + k] = lambda);
    for (&(a, b), [wa, wb]) in tally.pairs.iter().zip(&tally.wins) {
        let p = sigmoid(theta[a] - theta[b]);
        let g = wa - (wa + wb) * p;
        grad[a] += g;
        grad[b] -= g;
        let w = (wa + wb) * p * (1.0 - p);
        h[a * n + a] += w;
        h[b * n + b] += w;
        h[a * n + b] -= w;
        h[b * n + a] -= w;
    }
    (objective(tally, theta, lambda), grad, h)
}

/// Solves `m x = rhs` for symmetric positive definite `m` (n×n, row-major) by Cholesky.
fn cholesky_solve(mut m: Vec<f64>, rhs: &[f64], n: usize) -> Option<Vec<f64>> {
    // In place: the lower triangle becomes L with m = L·Lᵀ.
    for j in 0..n {
        let diag = m[j * n + j] - (0..j).map(|k| m[j * n + k].powi(2)).sum::<f64>();
        if diag <= 0.0 || !diag.is_finite() {
            return None;
        }
        let l_jj = diag.sqrt();
        m[j * n + j] = l_jj;
        for i in j + 1..n {
            let dot: f64 = (0..j).map(|k| m[i * n + k] * m[j * n + k]).sum();
            m[i * n + j] = (m[i * n + j] - dot) / l_jj;
        }
    }
    let mut y = vec![0.0; n];
    for i in 0..n {
        let dot: f64 = (0..i).map(|k| m[i * n + k] * y[k]).sum();
        y[i] = (rhs[i] - dot) / m[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let dot: f64 = (i + 1..n).map(|k| m[k * n + i] * x[k]).sum();
        x[i] = (y[i] - dot) / m[i * n + i];
    }
    Some(x)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn games(list: &[(usize, usize, usize)]) -> Vec<Game> {
        let mut out = Vec::new();
        for &(winner, loser, times) in list {
            out.extend(std::iter::repeat_n(Game { winner, loser }, times));
        }
        out
    }

    #[test]
    fn symmetric_tournament_gives_equal_ratings() {
        // Creators 0, 1 and detectors 2, 3; every pairing split 3–3.
        let mut list = Vec::new();
        for c in 0..2 {
            for d in 2..4 {
                list.extend([(c, d, 3), (d, c, 3)]);
            }
        }
        let theta = fit(4, &games(&list), DEFAULT_LAMBDA).unwrap();
        assert!(theta.iter().all(|t| t.abs() < 1e-12), "{theta:?}");
        assert!((elo(theta[0]) - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn two_entries_by_hand() {
        // 3 wins to 1, λ → the stationarity condition 3 − 4σ(2θ) = λθ for θ = θ₀ = −θ₁.
        let theta = fit(2, &games(&[(0, 1, 3), (1, 0, 1)]), DEFAULT_LAMBDA).unwrap();
        let t = theta[0];
        assert!((theta[1] + t).abs() < 1e-12);
        assert!((3.0 - 4.0 * sigmoid(2.0 * t) - DEFAULT_LAMBDA * t).abs() < 1e-9);
        // Without the prior it would be ln 3 / 2; the prior shrinks it slightly.
        assert!(t < 3f64.ln() / 2.0 && t > 3f64.ln() / 2.0 - 0.01);
        // 400·log10 of the fitted strength ratio e^{2t}.
        assert!((elo(theta[0]) - elo(theta[1]) - 400.0 * (2.0 * t).exp().log10()).abs() < 1e-9);
    }

    #[test]
    fn perfect_record_stays_finite_and_on_top() {
        let theta = fit(
            3,
            &games(&[(0, 1, 50), (0, 2, 50), (1, 2, 30), (2, 1, 20)]),
            DEFAULT_LAMBDA,
        )
        .unwrap();
        assert!(theta.iter().all(|t| t.is_finite()));
        assert!(theta[0] > theta[1] && theta[1] > theta[2]);
        assert!(theta.iter().sum::<f64>().abs() < 1e-9);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            fit(1, &games(&[(0, 1, 1)]), 0.01),
            Err(FitError::UnknownEntry {
                index: 1,
                entries: 1
            })
        );
        assert_eq!(fit(2, &[], 0.0), Err(FitError::BadLambda(0.0)));
        assert_eq!(fit(2, &[], 0.01), Ok(vec![0.0, 0.0]));
    }

    #[test]
    fn cholesky_solves_a_known_system() {
        // [[4, 2], [2, 3]] x = [2, 1] → x = [0.5, 0].
        let x = cholesky_solve(vec![4.0, 2.0, 2.0, 3.0], &[2.0, 1.0], 2).unwrap();
        assert!((x[0] - 0.5).abs() < 1e-15 && x[1].abs() < 1e-15);
        assert_eq!(cholesky_solve(vec![0.0], &[1.0], 1), None);
    }
}

"""Reference Bradley-Terry fit for arena/tests/reference.rs: an L2 logistic regression.

The Rust fit maximises  sum_games log sigmoid(theta_winner - theta_loser) - (lambda/2) |theta|^2.
Each game becomes one sample with features x = e_a - e_b (a < b its two entries) and y = 1 when a
won, so P(y = 1) = sigmoid(w . x) = sigmoid(w_a - w_b). scikit-learn's LogisticRegression without
intercept minimises  (1/2) |w|^2 + C sum_i logloss_i, which is the Rust objective negated and divided
by lambda when C = 1/lambda: the same optimum, w = theta.

Usage: bradley_terry_reference.py GAMES. GAMES' first line is `entries lambda`, then one
`winner loser` pair of 0-based entry indices per line. Prints theta_k (repr), one per line, and on
stderr the largest |gradient| of the Rust objective at that theta as a diagnostic.
"""
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression


def main(path):
    with open(path) as f:
        head, *rows = [line.split() for line in f if line.strip()]
    entries, lam = int(head[0]), float(head[1])
    games = [(int(w), int(l)) for w, l in rows]
    x = np.zeros((len(games), entries))
    y = np.zeros(len(games), dtype=int)
    for i, (w, l) in enumerate(games):
        a, b = min(w, l), max(w, l)
        x[i, a], x[i, b] = 1.0, -1.0
        y[i] = 1 if w == a else 0
    model = LogisticRegression(
        C=1.0 / lam, fit_intercept=False, solver="newton-cholesky", tol=1e-14, max_iter=10_000
    )
    model.fit(x, y)
    theta = model.coef_[0]
    # Gradient of the Rust objective at theta: sum over games of (1 - p_win) e_w - ... - lambda theta.
    grad = -lam * theta
    for w, l in games:
        p = 1.0 / (1.0 + np.exp(-(theta[w] - theta[l])))
        grad[w] += 1.0 - p
        grad[l] -= 1.0 - p
    print(f"max |gradient| at the reference optimum: {np.abs(grad).max():.3e}", file=sys.stderr)
    for t in theta:
        print(repr(float(t)))


if __name__ == "__main__":
    main(sys.argv[1])

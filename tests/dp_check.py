"""A statistical check that a mechanism's outputs respect (epsilon, delta)-DP on a pair of
neighbouring datasets, by histogram: for every bin S and both directions,
P[M(D) in S] <= e^epsilon P[M(D') in S] + delta.

The check rejects only if a Clopper-Pearson lower bound on P[M(D) in S] exceeds e^epsilon times
an upper bound on P[M(D') in S] plus delta. Each of the 2 * n_bins comparisons uses two
one-sided bounds at level alpha / (4 n_bins), so a truly (epsilon, delta)-DP mechanism fails
the check with probability at most alpha (union bound).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import beta


def cp_lower(k, n, a):
    return np.where(k > 0, beta.ppf(a, k, n - k + 1), 0.0)


def cp_upper(k, n, a):
    return np.where(k < n, beta.ppf(1 - a, k + 1, n - k), 1.0)


def dp_violation(out_d, out_dp, epsilon, delta, *, n_bins=40, alpha=1e-3):
    """Return the largest margin by which a bin violates DP (> 0 means a certified violation)
    and the largest empirical epsilon over bins (informative only)."""
    out_d = np.asarray(out_d, float)
    out_dp = np.asarray(out_dp, float)
    both = np.concatenate([out_d, out_dp])
    edges = np.quantile(both, np.linspace(0, 1, n_bins + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    c1, _ = np.histogram(out_d, edges)
    c2, _ = np.histogram(out_dp, edges)
    n1, n2 = len(out_d), len(out_dp)
    a = alpha / (4 * n_bins)
    worst = -np.inf
    for (ka, na), (kb, nb) in (((c1, n1), (c2, n2)), ((c2, n2), (c1, n1))):
        lo = cp_lower(ka, na, a)
        hi = cp_upper(kb, nb, a)
        worst = max(worst, float(np.max(lo - (np.exp(epsilon) * hi + delta))))
    return worst

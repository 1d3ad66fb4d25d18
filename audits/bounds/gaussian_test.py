"""The test that licenses a Gaussian-DP figure as a certified bound.

The Gaussian-DP route turns error rates into epsilon through the mu-GDP trade-off curve. That is
a bound only when the audited statistic's two distributions really are a Gaussian shift: if a
score is N(m, s^2) without the target and N(m + mu s, s^2) with it, every threshold test on it
traces the curve G_mu, so the mechanism (of which the score is a post-processing) is no more
private than mu-GDP, and epsilon >= epsilon_GDP(mu, delta). On Laplace, randomized response or
any other output the same arithmetic overstates epsilon by a factor of 4 to 6.

So before a Gaussian-DP figure is reported as certified, the audit tests on its own scores:

* normality of each world's scores (D'Agostino-Pearson K^2: skewness and kurtosis), and
* equal variances across the worlds (the two-sided F test),

Bonferroni over the three at ``level`` (the chance of refusing a Gaussian output). The power is
stated for the sample sizes at hand: the skewness, excess kurtosis and variance ratio that the
test detects with probability about 0.9 (normal-theory standard errors sqrt(6/n), sqrt(24/n)
and sqrt(2/(n-1))). Laplace noise (excess kurtosis 3) is detected at any size the audits use;
a discrete output (randomized response, a count) fails at once.

References
----------
.. [1] D'Agostino, Pearson, "Tests for departure from normality", Biometrika 1973.
.. [2] Dong, Roth, Su, "Gaussian differential privacy", JRSS B 2022.
.. [3] Nasr et al., "Tight auditing of differentially private machine learning", USENIX
   Security 2023 (the Gaussian-DP route and its assumption).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy import special, stats

from audits.result import AssumptionTest

__all__ = ["gaussian_scores_test", "normality_test", "DEFAULT_LEVEL", "MIN_SAMPLES"]

#: default refusal rate of the Gaussian test when the output is Gaussian
DEFAULT_LEVEL = 0.01
#: fewer scores than this in a world: the test cannot be run, and the GDP figure is not certified
MIN_SAMPLES = 20
_Z90 = 1.2815515655446004  # Phi^-1(0.9)


def _k2(x: np.ndarray) -> float:
    """p-value of D'Agostino-Pearson K^2 (NaN when the scores are constant or too few)."""
    return _k2_stat(x)[1]


def _k2_stat(x: np.ndarray) -> tuple[float, float]:
    """(K^2, p-value); NaNs when the scores are constant or too few."""
    if x.size < MIN_SAMPLES or not np.isfinite(x).all() or float(np.ptp(x)) == 0.0:
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.normaltest(x)
    return float(res.statistic), float(res.pvalue)


def _detectable(n: int, level: float) -> tuple[float, float]:
    """(skewness, excess kurtosis) the K^2 test detects with power about 0.9 at size n."""
    z = float(special.ndtri(1.0 - level / 2.0)) + _Z90
    return z * math.sqrt(6.0 / n), z * math.sqrt(24.0 / n)


def normality_test(x: Any, *, level: float = DEFAULT_LEVEL, what: str = "the scores") -> AssumptionTest:
    """One sample: are ``x`` Gaussian? (D'Agostino-Pearson K^2 at ``level``)."""
    a = np.asarray(x, dtype=np.float64).ravel()
    k2, p = _k2_stat(a)
    ok = bool(math.isfinite(p) and p >= level)
    if a.size < MIN_SAMPLES:
        power = f"not run: {a.size} values (at least {MIN_SAMPLES} needed)"
    else:
        sk, ku = _detectable(a.size, level)
        power = (f"detects |skewness| >= {sk:.3g} or |excess kurtosis| >= {ku:.3g} with power "
                 f"about 0.9 at n = {a.size} (Laplace noise has excess kurtosis 3)")
    return AssumptionTest(f"normality of {what} (D'Agostino-Pearson K^2)", k2, p, float(level),
                          ok, power)


def gaussian_scores_test(s_in: Any, s_out: Any, *, level: float = DEFAULT_LEVEL,
                         what: str = "the scores") -> AssumptionTest:
    """Are the two worlds' scores a Gaussian shift (normal, equal variances)?

    Three tests, each at ``level / 3`` (Bonferroni): K^2 normality of ``s_in`` and of ``s_out``
    and the two-sided F test of equal variances. ``p_value`` is the smallest of the three,
    multiplied by 3 (capped at 1), so ``passed`` is ``p_value >= level``. Constant scores, or
    fewer than :data:`MIN_SAMPLES` in a world, fail: nothing licenses a Gaussian figure then.
    """
    a = np.asarray(s_in, dtype=np.float64).ravel()
    b = np.asarray(s_out, dtype=np.float64).ravel()
    each = level / 3.0
    p_in, p_out = _k2(a), _k2(b)
    p_var, ratio = math.nan, math.nan
    if a.size >= MIN_SAMPLES and b.size >= MIN_SAMPLES:
        va, vb = float(np.var(a, ddof=1)), float(np.var(b, ddof=1))
        if va > 0 and vb > 0:
            ratio = va / vb
            cdf = float(stats.f.cdf(ratio, a.size - 1, b.size - 1))
            p_var = min(1.0, 2.0 * min(cdf, 1.0 - cdf))
    ps = [p_in, p_out, p_var]
    p = math.nan if any(not math.isfinite(q) for q in ps) else min(1.0, 3.0 * min(ps))
    ok = bool(math.isfinite(p) and p >= level)
    n = min(a.size, b.size)
    if n < MIN_SAMPLES:
        power = f"not run: {n} scores in the smaller world (at least {MIN_SAMPLES} needed)"
    else:
        sk, ku = _detectable(n, each)
        z = float(special.ndtri(1.0 - each / 2.0)) + _Z90
        r90 = math.exp(z * math.sqrt(2.0 / (a.size - 1) + 2.0 / (b.size - 1)))
        power = (f"detects, with power about 0.9, |skewness| >= {sk:.3g} or |excess kurtosis| >= "
                 f"{ku:.3g} in either world (n = {a.size} and {b.size}; Laplace noise has excess "
                 f"kurtosis 3) or a variance ratio beyond {r90:.3g}")
    detail = (f"K^2 p-values {p_in:.3g} (with) and {p_out:.3g} (without); variance ratio "
              f"{ratio:.4g}, F-test p {p_var:.3g}")
    return AssumptionTest(f"Gaussian shift of {what} (normality of each world, equal variances)",
                          math.nan if not math.isfinite(p) else float(min(ps)), p, float(level),
                          ok, power, detail + "; statistic: the smallest of the three p-values")

"""Test statistics for black-box mechanism audits, learnt on the selection half of the samples.

:func:`audits.releases.mechanism.audit_mechanism` reduces every output vector to one score and
thresholds it. Its default score projects the output on the standardised difference of the
two worlds' means, the optimal (Neyman-Pearson) test for a Gaussian shift. A composed release
of several Laplace statistics is not a Gaussian shift: its log-likelihood ratio is the *sum of
per-coordinate Laplace log-likelihood ratios*, each a clipped linear function
``(|x - m_0| - |x - m_1|) / b`` that saturates at ``+-|m_1 - m_0| / b``. The total saturates at
``sum_k eps_k`` exactly when every coordinate lies beyond its shift, an event of probability
``2^-K`` under D' and ``2^-K e^-eps`` under D: thresholding there is what lets an audit of a
composed pure-DP release reach its (basic-composition) epsilon. A projection, which adds the
coordinates linearly, cannot isolate that event.

:func:`product_llr` builds that statistic from the samples alone (black box): per coordinate,
the family of its noise (declared public knowledge of the mechanism, never the data) and the
locations and scales fitted on the selection half. Coordinates whose two worlds do not differ
significantly on the selection half are dropped (they add only noise to the score). Gaussian
coordinates are treated jointly (Fisher's discriminant with the pooled covariance, the
Neyman-Pearson test for a Gaussian shift); the score is the Laplace part plus the Gaussian part.

Scores are rounded to 1e-9 and the saturated Laplace terms are exact, so a test never turns
on the last bits of the released floats. Those bits do leak: ``x + b L`` rounds to a grid
that depends on ``x`` (Mironov 2012), and a score computed naively, ``|x - m_a| - |x - m_b|``,
found the difference in means "violating" epsilon = 2 by a factor e^2.5 through its rounding
residue. That is a real property of floating-point Laplace noise, but a different audit.

Choosing the score on the selection half costs nothing: the bound comes from held-out samples,
so it holds at confidence ``1 - alpha`` whatever the score is; a poor score only loses power.

References
----------
.. [1] Neyman and Pearson, "On the problem of the most efficient tests of statistical
   hypotheses", Phil. Trans. R. Soc. A 231, 1933.
.. [2] Dwork, Rothblum, Vadhan, "Boosting and differential privacy", FOCS 2010 (the privacy
   loss of a composition is the sum of the losses).
.. [3] Bichsel et al., "DP-Sniper: black-box discovery of differential privacy violations
   using classifiers", IEEE S&P 2021 (tests learnt on one half, bounds from the other).
.. [4] Mironov, "On significance of the least significant bits for differential privacy",
   CCS 2012.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from privcausal.exceptions import DataValidationError

__all__ = ["ScoreLearner", "projection_score", "product_llr", "FAMILIES"]

#: A score learner: ``learner(selection_D, selection_D_prime) -> score function``; the score
#: function maps an (n, k) array of outputs to n scores, higher meaning "more like D'".
ScoreLearner = Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]

FAMILIES = ("laplace", "gaussian")
_DECIMALS = 9  # scores are rounded: see the note in product_llr's score


def projection_score(sel_a: np.ndarray, sel_b: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Projection on the standardised difference of means (the audit's default score)."""
    if sel_a.shape[1] == 1:
        w = np.ones(1)
    else:
        sd = np.sqrt(0.5 * (sel_a.var(axis=0) + sel_b.var(axis=0))) + 1e-300
        w = (sel_b.mean(axis=0) - sel_a.mean(axis=0)) / sd**2
        w = w if np.any(w != 0) else np.ones(sel_a.shape[1])
    return lambda out: np.asarray(out, dtype=np.float64) @ w


def _laplace_part(a: np.ndarray, b: np.ndarray, min_z: float):
    """Per-coordinate Laplace fits: medians per world, pooled mean absolute deviation."""
    m_a, m_b = np.median(a, axis=0), np.median(b, axis=0)
    scale = 0.5 * (np.abs(a - m_a).mean(axis=0) + np.abs(b - m_b).mean(axis=0))
    n = min(len(a), len(b))
    # a sample median of Laplace(m, s) has standard error s / sqrt(n)
    keep = np.abs(m_b - m_a) > min_z * math.sqrt(2.0 / n) * scale
    keep |= (scale == 0) & (m_a != m_b)  # noiseless coordinates that differ: perfect tests
    tiny = 1e-12 * max(1.0, float(np.abs(np.concatenate([m_a, m_b])).max(initial=0.0)))
    scale = np.maximum(scale, tiny)
    return keep, m_a, m_b, scale


def _gaussian_part(a: np.ndarray, b: np.ndarray):
    """Fisher's discriminant: pooled covariance, weights Sigma^-1 (mu_b - mu_a)."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov = 0.5 * (np.atleast_2d(np.cov(a, rowvar=False)) + np.atleast_2d(np.cov(b, rowvar=False)))
    ridge = 1e-12 * max(float(np.trace(cov)) / cov.shape[0], 1e-300)
    w = np.linalg.lstsq(cov + ridge * np.eye(cov.shape[0]), mu_b - mu_a, rcond=None)[0]
    return w, 0.5 * (mu_a + mu_b)


def product_llr(families: str | Sequence[str] = "laplace", *, min_z: float = 3.0) -> ScoreLearner:
    """A score learner: the log-likelihood ratio of a product of Laplace coordinates (and a
    Gaussian block), fitted on the selection half.

    Parameters
    ----------
    families : "laplace", "gaussian", or one of these per output coordinate
        The noise family of each coordinate: public knowledge of the mechanism (which
        mechanism released which statistic), never read off the data.
    min_z : float
        A Laplace coordinate enters the score only if its two medians differ by more than
        ``min_z`` standard errors on the selection half.

    Returns
    -------
    ScoreLearner
        ``learner(sel_D, sel_D_prime)`` returns ``score(outputs)``, the fitted
        ``log p_D'(x) / p_D(x)`` (up to the fitting error), higher meaning "more like D'".
    """
    fams = (families,) if isinstance(families, str) else tuple(families)
    if not fams or any(f not in FAMILIES for f in fams):
        raise DataValidationError(f"families must be among {FAMILIES}, got {fams!r}")
    if not float(min_z) >= 0:
        raise DataValidationError("min_z must be >= 0")

    def learner(sel_a: np.ndarray, sel_b: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        k = sel_a.shape[1]
        fam = np.array(fams * k if len(fams) == 1 else fams)
        if fam.size != k:
            raise DataValidationError(f"{fam.size} families given for outputs with {k} coordinates")
        lap, gau = np.flatnonzero(fam == "laplace"), np.flatnonzero(fam == "gaussian")
        keep, m_a, m_b, scale = _laplace_part(sel_a[:, lap], sel_b[:, lap], float(min_z))
        if lap.size and not keep.any() and not gau.size:
            keep[:] = True  # nothing significant: keep all rather than score nothing
        lap, m_a, m_b, scale = lap[keep], m_a[keep], m_b[keep], scale[keep]
        lo, hi = np.minimum(m_a, m_b), np.maximum(m_a, m_b)
        sgn = np.where(m_b >= m_a, 1.0, -1.0)
        sat = np.abs(m_b - m_a) / scale
        g_w, g_mid = _gaussian_part(sel_a[:, gau], sel_b[:, gau]) if gau.size else (None, None)

        def score(out: np.ndarray) -> np.ndarray:
            x = np.asarray(out, dtype=np.float64)
            s = np.zeros(len(x))
            if lap.size:
                # (|x - m_a| - |x - m_b|) / b, written piecewise so that the saturated tails
                # give exactly +-|m_b - m_a| / b whatever x is (no floating-point residue)
                xl = x[:, lap]
                rising = np.where(xl <= lo, -sat, np.where(xl >= hi, sat, (2 * xl - m_a - m_b) / scale))
                s += (sgn * rising).sum(axis=1)
            if g_w is not None:
                s += (x[:, gau] - g_mid) @ g_w
            # a test of values, not of floating-point rounding: the last bits of released floats
            # do differ between neighbours (Mironov 2012), which is not what this audit measures
            return np.round(s, _DECIMALS)

        score.__name__ = (f"product log-likelihood ratio ({lap.size} Laplace coordinates"
                          + (f", {gau.size} Gaussian" if gau.size else "") + ")")
        return score

    learner.__name__ = "product_llr"
    return learner

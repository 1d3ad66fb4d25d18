"""Opt-in DP bounds for a draft domain: noisy quartiles of each numeric column, on a public grid.

A domain's bounds must be public. Where no public range is at hand (no clinical plausibility
range, no data dictionary), ``privcausal domain draft --dp-bounds EPSILON`` *releases* bounds:
for each numeric column, the lower and upper quartiles chosen by the exponential mechanism
among the candidates of :data:`GRID`, a public grid of round numbers (0 and +-{1, 1.2, 1.5, 2,
2.5, 3, 4, 5, 6, 7, 8, 9} x 10^k, k = -2 .. 5), then Tukey's far-out fences ``q1 - 3 iqr`` and
``q3 + 3 iqr`` rounded outward onto the grid (:func:`fences`, post-processing). That is a
release: it spends epsilon from the data set's ledger, its receipt goes into the draft's header,
and a :class:`~privcausal.exceptions.PrivacyLeakWarning` says so.

Mechanism: OpenDP's ``make_quantile_score_candidates`` (a candidate's score is how far its rank
is from the target, with its sensitivity under add/remove of one non-missing value) followed by
``make_noisy_max`` (a pure-DP selection with OpenDP's secure sampler), calibrated by OpenDP's
own privacy map. Each of the ``2 k`` quartiles of ``k`` columns gets ``epsilon / (2 k)``: the
bounds together are pure ``epsilon``-DP by basic composition.

Why quartiles and fences, not extreme percentiles: every grid point beyond a column's largest
value has the same score for an upper percentile, so a noisy choice among them is uniform (a
bound of 9e5 as likely as 100); a quartile's far candidates score ``n / 4`` ranks worse and are
practically never chosen. Computed from the distributions' quantiles: the fences lie 4.7
standard deviations from a normal column's mean (nothing clipped in practice), and about 1 % of a
log-normal column with log-scale sd 0.6 lies above the upper fence; a heavier tail is clipped
more, which the draft's comment asks a person to check.

References
----------
.. [1] Smith, "Privacy-preserving statistical estimation with optimal convergence rates",
   STOC 2011 (quantiles by the exponential mechanism).
.. [2] McKenna, Sheldon, "Permute-and-flip: a new mechanism for differentially private
   selection", NeurIPS 2020 (OpenDP's ``make_noisy_max``).
.. [3] The OpenDP Library v0.16, ``make_quantile_score_candidates``, ``make_noisy_max``.
"""

from __future__ import annotations

import math
import warnings
from typing import Mapping

import numpy as np
import pandas as pd

from privcausal.exceptions import DataValidationError, PrivacyLeakWarning
from privcausal.validation import check_epsilon

__all__ = ["GRID", "QUANTILES", "dp_bounds", "bounds_event"]

_MANTISSAS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)
#: the public candidates: 0 and +-m x 10^k (sorted)
GRID: tuple[float, ...] = tuple(sorted(
    {0.0} | {s * float(f"{m}e{k}") for m in _MANTISSAS for k in range(-2, 6) for s in (1.0, -1.0)}))
#: the percentiles released (the lower and upper quartiles)
QUANTILES = (0.25, 0.75)
#: bounds are the quartiles -+ FENCE x the interquartile range (Tukey's far-out fences)
FENCE = 3.0


def _measurement(quantile: float, epsilon: float):
    import opendp.prelude as dp

    dp.enable_features("contrib")
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance()

    def chain(scale: float):
        return (space >> dp.t.then_quantile_score_candidates(list(GRID), quantile)
                >> dp.m.then_noisy_max(dp.max_divergence(), scale, negate=True))

    scale = dp.binary_search_param(chain, d_in=1, d_out=float(epsilon))
    return chain(scale)


def dp_bounds(columns: Mapping[str, pd.Series], epsilon: float) -> dict[str, tuple[float, float]]:
    """Pure ``epsilon``-DP (lower, upper) bounds for each column (``epsilon`` split equally over
    the ``2 x len(columns)`` percentiles). Missing values are left out; an infinite value is an
    error naming its column. The result is a release: a :class:`PrivacyLeakWarning` says what
    it spent (charge it to the data set's ledger; the command line does)."""
    eps = check_epsilon(epsilon)
    if math.isinf(eps):
        raise DataValidationError("DP bounds need a finite epsilon")
    if not columns:
        return {}
    per = eps / (2 * len(columns))
    lower, upper = _measurement(QUANTILES[0], per), _measurement(QUANTILES[1], per)
    out: dict[str, tuple[float, float]] = {}
    for name, col in columns.items():
        v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
        v = v[~np.isnan(v)]
        if np.isinf(v).any():
            raise DataValidationError(f"column '{name}' holds infinite values: DP bounds need finite numbers")
        q1, q3 = sorted((GRID[lower(v.tolist())], GRID[upper(v.tolist())]))
        out[name] = fences(q1, q3)
    warnings.warn(f"DP bounds of {len(out)} numeric columns were released, spending epsilon {eps:.4g} "
                  "(pure DP): confirm each one is a plausible range", PrivacyLeakWarning, stacklevel=2)
    return out


def fences(q1: float, q3: float) -> tuple[float, float]:
    """Bounds from released quartiles (post-processing): ``q1 - FENCE * iqr`` and
    ``q3 + FENCE * iqr``, the lower one raised to 0 when ``q1 >= 0`` (a measurement whose lower
    quartile is not negative is taken as one that is never negative), both rounded outward onto
    :data:`GRID` (to its ends beyond it). Equal quartiles get the neighbouring grid points."""
    grid = np.asarray(GRID)
    iqr = q3 - q1
    lo, hi = q1 - FENCE * iqr, q3 + FENCE * iqr
    if q1 >= 0.0:
        lo = max(lo, 0.0)
    i = int(np.searchsorted(grid, lo, side="right")) - 1  # largest grid point <= lo
    j = int(np.searchsorted(grid, hi, side="left"))  # smallest grid point >= hi
    if iqr == 0.0:  # one value in the middle half: widen to the neighbouring grid points
        i, j = (i if lo == 0.0 and q1 >= 0.0 else i - 1), j + 1
    i, j = max(i, 0), min(j, len(grid) - 1)
    return float(grid[i]), float(grid[j])


def bounds_event(n_columns: int, epsilon: float):
    """The privacy event of :func:`dp_bounds` on ``n_columns`` columns (pure epsilon-DP; its
    accountant event is the worst case of every epsilon-DP mechanism, as for the lattice Laplace)."""
    from dp_accounting.dp_event import DiscreteLaplaceDpEvent

    from privcausal.privacy import PrivacyEvent, sequential

    per = float(epsilon) / (2 * n_columns)
    parts = [PrivacyEvent(f"DP {which} bound, column {i + 1}", "exponential mechanism (OpenDP noisy max)",
                          per, 0.0, DiscreteLaplaceDpEvent(noise_parameter=per, sensitivity=1))
             for i in range(n_columns) for which in ("lower", "upper")]
    return sequential(parts, f"DP bounds of {n_columns} numeric columns")

"""The likelihood-ratio attack (LiRA) of Carlini et al., on arrays of statistics.

For each scored record x the attacker holds the target model's statistic phi(x) (for a
classifier the logit-scaled confidence of the true label, log p_y - log(1 - p_y); see
:mod:`attacks.targets`) and the same statistic under K reference ("shadow") models, with a
boolean mask saying which reference models trained on x (IN) and which did not (OUT).

* **online**: fit N(mu_in, sd_in^2) to the IN values and N(mu_out, sd_out^2) to the OUT values
  of x, and score ``log N(phi; mu_in, sd_in) - log N(phi; mu_out, sd_out)``;
* **offline**: only OUT values; the one-sided test of the paper, score
  ``log Phi((phi - mu_out) / sd_out)`` (the log of 1 - Pr[Z > phi], Z ~ N(mu_out, sd_out^2)):
  a statistic larger than the OUT models produce means "member". (The authors' released code
  scores offline by the two-sided ``-log N(phi; mu_out, sd_out)`` instead.)
* **fixed variance**: one global sd_in and one global sd_out for all records, better with
  few reference models.

Gaussian fits, exactly (the tests recompute them by hand): ``mu`` is the mean of the IN (or
OUT) values of x and ``sd^2`` their mean squared deviation (ddof = 0, as ``np.std``). A
per-record variance needs at least two values; a record with fewer, and every record under
``fixed_variance``, uses the **pooled** variance of that side: the sum of squared deviations
from each record's own mean over the records with at least two values, divided by their
number of values. With no record holding two values (one reference model), the pooled
variance is that of all the side's values taken together (the global ``np.std`` of the
authors' code). Variances are floored at 1e-12 times the variance of all the side's values,
so identical outputs cannot divide by zero.

Convention: higher score = more likely a member.

References
----------
.. [1] Carlini, Chien, Nasr, Song, Terzis, Tramer, "Membership inference attacks from first
   principles", IEEE S&P 2022 (Algorithm 1; Sections IV-C and VI-A).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import log_ndtr

from attacks._arrays import check_reference, check_target_stat, out_counts
from privcausal.exceptions import DataValidationError

__all__ = ["GaussianFit", "fit_gaussians", "lira_online", "lira_offline", "gaussian_logpdf"]

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


def gaussian_logpdf(x: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """log N(x; mu, sd^2), elementwise."""
    z = (x - mu) / sd
    return -0.5 * z * z - np.log(sd) - _LOG_SQRT_2PI


@dataclass(frozen=True)
class GaussianFit:
    """Per-record Gaussian fits of the reference statistics (NaN where a side is empty)."""

    mu_in: np.ndarray
    sd_in: np.ndarray
    mu_out: np.ndarray
    sd_out: np.ndarray
    n_in: np.ndarray
    n_out: np.ndarray
    fixed_variance: bool


def _side(ref: np.ndarray, sel: np.ndarray, fixed: bool) -> tuple[np.ndarray, np.ndarray]:
    """mu and sd per record of the values where ``sel`` is True."""
    n = sel.sum(0)
    w = sel.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = (ref * w).sum(0) / n
        ss = (((ref - mu) ** 2) * w).sum(0)  # NaN columns (n = 0) drop out below
    vals = ref[sel]
    if vals.size == 0:
        return np.full(ref.shape[1], np.nan), np.full(ref.shape[1], np.nan)
    var_all = float(np.var(vals))
    two = n >= 2
    pooled = float(ss[two].sum() / n[two].sum()) if two.any() else var_all
    if fixed:
        var = np.full(ref.shape[1], pooled)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(two, ss / np.maximum(n, 1), pooled)
    floor = 1e-12 * var_all if var_all > 0 else 1e-300
    sd = np.sqrt(np.maximum(var, floor))
    sd[n == 0] = np.nan
    mu = np.where(n == 0, np.nan, mu)
    return mu, sd


def fit_gaussians(ref_stats: Any, ref_in: Any, *, fixed_variance: bool = False) -> GaussianFit:
    """Fit the IN and OUT Gaussians of every record (see the module docstring for the rules).

    Parameters
    ----------
    ref_stats : (K, n) statistics of K reference models on n records
    ref_in : (K, n) bool, True where reference model k trained on record i (None: all OUT)
    fixed_variance : one pooled variance per side
    """
    r = np.asarray(ref_stats, dtype=np.float64)
    r, m = check_reference(r, ref_in, r.shape[1] if r.ndim == 2 else -1)
    n_in, n_out = out_counts(m)
    mu_in, sd_in = _side(r, m, fixed_variance)
    mu_out, sd_out = _side(r, ~m, fixed_variance)
    return GaussianFit(mu_in, sd_in, mu_out, sd_out, n_in, n_out, bool(fixed_variance))


def lira_online(target_stat: Any, ref_stats: Any, ref_in: Any, *,
                fixed_variance: bool = False) -> np.ndarray:
    """Online LiRA scores: log N(phi; mu_in, sd_in) - log N(phi; mu_out, sd_out).

    Parameters
    ----------
    target_stat : (n,) the target model's statistic on each scored record
    ref_stats : (K, n) the same statistic under K reference models
    ref_in : (K, n) bool inclusion mask; every record must be IN at least one reference model
        and OUT of at least one (a balanced mask, as
        :func:`attacks.shadow.balanced_inclusion` draws, gives each record K/2 of each)
    fixed_variance : one global variance per side

    Returns
    -------
    (n,) float64 scores; higher = more likely a member.
    """
    phi = check_target_stat(target_stat)
    r, m = check_reference(ref_stats, ref_in, phi.size)
    n_in, n_out = out_counts(m)
    bad = int(np.sum((n_in == 0) | (n_out == 0)))
    if bad:
        raise DataValidationError(
            f"{bad} of {phi.size} records are IN no reference model or OUT of none: online LiRA "
            "needs both for every record (train more reference models with a balanced inclusion "
            "mask, or use the offline attack)"
        )
    f = fit_gaussians(r, m, fixed_variance=fixed_variance)
    return gaussian_logpdf(phi, f.mu_in, f.sd_in) - gaussian_logpdf(phi, f.mu_out, f.sd_out)


def lira_offline(target_stat: Any, ref_stats: Any, ref_in: Any = None, *,
                 fixed_variance: bool = False) -> np.ndarray:
    """Offline LiRA scores: log Phi((phi - mu_out) / sd_out), from OUT reference models only.

    Parameters
    ----------
    target_stat : (n,) the target model's statistic
    ref_stats : (K, n) reference statistics
    ref_in : (K, n) bool or None (None: no reference model trained on any scored record, the
        offline setting); IN values are ignored
    fixed_variance : one global OUT variance

    Returns
    -------
    (n,) float64 scores (log p-values of the one-sided test, <= 0); higher = more likely a
    member.
    """
    phi = check_target_stat(target_stat)
    r, m = check_reference(ref_stats, ref_in, phi.size)
    _, n_out = out_counts(m)
    bad = int(np.sum(n_out == 0))
    if bad:
        raise DataValidationError(
            f"{bad} of {phi.size} records are OUT of no reference model: offline LiRA needs at "
            "least one reference model that did not train on each record"
        )
    f = fit_gaussians(r, m, fixed_variance=fixed_variance)
    return log_ndtr((phi - f.mu_out) / f.sd_out)

"""Lower bounds on epsilon, at confidence 1 - alpha, from the outcomes of a membership game.

(epsilon, delta)-DP bounds every test between neighbouring worlds: TPR <= e^eps FPR + delta and
TNR <= e^eps FNR + delta. An audit runs the game, upper-bounds the error rates it observed, and
reports the largest epsilon those rates rule out. Four routes:

* :func:`clopper_pearson_bound` / ``method="clopper-pearson"``: no assumption beyond
  independent trials.
* :func:`gaussian_dp_bound` / ``method="gaussian-dp"``: a mu-GDP lower bound turned into epsilon
  at delta; valid only if the trade-off curve is Gaussian, and the result says so.
* :func:`audits.bounds.one_run.one_run_bound` with ``method="steinke"`` or ``"fdp"``: m canaries in a
  single run (module :mod:`audits.bounds.one_run`).
* :func:`bound_from_scores` and ``one_run_bound_from_scores`` choose the threshold (or the
  guesses) honestly and say how in ``threshold_selection``.

Every bound is capped by what the number of trials can show (:func:`ceiling`).

References
----------
.. [1] Jagielski, Ullman, Oprea, "Auditing differentially private machine learning: how private
   is private SGD?", NeurIPS 2020.
.. [2] Nasr, Song, Thakurta, Papernot, Carlini, "Adversary instantiation: lower bounds for
   differentially private machine learning", IEEE S&P 2021.
.. [3] Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis, "Tight auditing of
   differentially private machine learning", USENIX Security 2023.
.. [4] Dong, Roth, Su, "Gaussian differential privacy", JRSS B 2022 (Corollary 2.13).
.. [5] Steinke, Nasr, Jagielski, "Privacy auditing with one (1) training run", NeurIPS 2023.
.. [6] Mahloujifar, Melis, Chaudhuri, "Auditing f-differential privacy in one run", ICML 2025.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, special

from privcausal.exceptions import DataTypeError, DataValidationError, PrivacyParameterError
from privcausal.validation import check_alpha, check_delta, check_finite_array, check_random_state
from privcausal.jsonnum import json_value

__all__ = [
    "EpsilonLowerBound",
    "clopper_pearson_upper",
    "clopper_pearson_bound",
    "gaussian_dp_bound",
    "bound_from_scores",
    "ceiling",
    "gdp_delta",
    "gdp_epsilon",
]

ASSUME_TRIALS = "independent trials per world; nothing about the mechanism's trade-off curve"
_GDP_CAVEAT = (
    "epsilon is that of the mu-GDP curve at delta; if the curve is not Gaussian this is an "
    "estimate, not a bound"
)
ASSUME_GDP = "the mechanism's trade-off curve is Gaussian (mu-GDP): " + _GDP_CAVEAT
ASSUME_ONE_RUN = (
    "each canary included independently with probability 1/2; guesses depend on the run's "
    "output only"
)
ASSUME_ONE_RUN_FDP = ASSUME_ONE_RUN + "; tests a Gaussian (mu-GDP) trade-off curve: " + _GDP_CAVEAT
_MULTI_RUN = {"clopper-pearson": ASSUME_TRIALS, "gaussian-dp": ASSUME_GDP}


@dataclass(frozen=True)
class EpsilonLowerBound:
    """An empirical lower bound on epsilon at confidence ``1 - alpha``.

    ``epsilon_lower`` never exceeds ``ceiling``, the bound a perfect attack would reach with the
    same trials and the same corrections; a result at the ceiling means "more trials needed",
    not "epsilon is exactly this". ``mu_lower`` is the GDP parameter for the Gaussian routes.
    """

    epsilon_lower: float
    alpha: float
    delta: float
    method: str
    assumption: str
    threshold_selection: str
    n_in: int | None
    n_out: int | None
    ceiling: float
    mu_lower: float | None = None
    threshold: float | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (:func:`privcausal.jsonnum.json_value`: infinities as ``"inf"`` /
        ``"-inf"``, NaN as null)."""
        return json_value(asdict(self))


# ----------------------------------------------------------------------------------- checks
def _count(x: Any, name: str, lo: int = 0) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise DataTypeError(f"{name} must be an integer count, got {type(x).__name__}")
    if int(x) < lo:
        raise DataValidationError(f"{name} must be >= {lo}, got {int(x)}")
    return int(x)


def _rates_pair(fp: Any, n_out: Any, fn: Any, n_in: Any) -> tuple[int, int, int, int]:
    n_out, n_in = _count(n_out, "n_out", 1), _count(n_in, "n_in", 1)
    fp, fn = _count(fp, "fp"), _count(fn, "fn")
    if fp > n_out or fn > n_in:
        raise DataValidationError(
            f"counts exceed trials: fp={fp} of n_out={n_out}, fn={fn} of n_in={n_in}"
        )
    return fp, n_out, fn, n_in


def _gdp_delta_needed(delta: float, what: str) -> None:
    if delta <= 0:
        raise PrivacyParameterError(f"{what} needs delta > 0: mu-GDP gives epsilon = inf at delta 0")


# ------------------------------------------------------------------------------ primitives
def clopper_pearson_upper(k: Any, n: int, alpha: float) -> np.ndarray:
    """One-sided (1 - alpha) Clopper-Pearson upper bound on a rate with ``k`` events in ``n``.

    It is the p with P[Bin(n, p) <= k] = alpha (and 1 when k = n). Vectorised over ``k``.
    """
    k = np.asarray(k, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        ub = special.betaincinv(k + 1.0, np.maximum(n - k, 1.0), 1.0 - alpha)
    return np.where(k >= n, 1.0, ub)


def _log_gdp_delta(epsilon: float, mu: float) -> float:
    """log of Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2), computed in the log domain."""
    la = special.log_ndtr(-epsilon / mu + mu / 2)
    lb = epsilon + special.log_ndtr(-epsilon / mu - mu / 2)
    return la + math.log(-math.expm1(lb - la)) if lb < la else -math.inf


def gdp_delta(epsilon: float, mu: float) -> float:
    """delta(epsilon) of the mu-GDP trade-off curve (Dong, Roth, Su, Corollary 2.13)."""
    if mu <= 0:
        return 0.0
    return math.exp(_log_gdp_delta(float(epsilon), float(mu)))


def gdp_epsilon(mu: float, delta: float) -> float:
    """The smallest epsilon with ``gdp_delta(epsilon, mu) <= delta``: mu-GDP as (epsilon, delta)."""
    delta = check_delta(delta)
    _gdp_delta_needed(delta, "gdp_epsilon")
    mu = float(mu)
    if mu <= 0 or gdp_delta(0.0, mu) <= delta:
        return 0.0
    if math.isinf(mu):
        return math.inf
    target = math.log(delta)
    hi = 1.0
    while _log_gdp_delta(hi, mu) > target:
        hi *= 2.0
    return optimize.brentq(lambda e: _log_gdp_delta(e, mu) - target, 0.0, hi, xtol=1e-12)


def _eps_cp(fpr_ub: np.ndarray, fnr_ub: np.ndarray, delta: float) -> np.ndarray:
    """Both directions: TPR <= e^eps FPR + delta and TNR <= e^eps FNR + delta."""
    with np.errstate(divide="ignore"):
        e1 = np.log(np.clip(1.0 - fnr_ub - delta, 0.0, None)) - np.log(fpr_ub)
        e2 = np.log(np.clip(1.0 - fpr_ub - delta, 0.0, None)) - np.log(fnr_ub)
    return np.maximum(np.maximum(e1, e2), 0.0)


def _mu_gdp(fpr_ub: np.ndarray, fnr_ub: np.ndarray) -> np.ndarray:
    """Phi^-1(1 - FPR_ub) - Phi^-1(FNR_ub), floored at 0 (symmetric in the two directions)."""
    return np.maximum(-special.ndtri(fpr_ub) - special.ndtri(fnr_ub), 0.0)


def _score(method: str, fpr_ub: np.ndarray, fnr_ub: np.ndarray, delta: float) -> np.ndarray:
    """The per-threshold statistic the method maximises: epsilon (CP) or mu (GDP)."""
    return _eps_cp(fpr_ub, fnr_ub, delta) if method == "clopper-pearson" else _mu_gdp(fpr_ub, fnr_ub)


def _result(method: str, alpha: float, delta: float, selection: str, fp: int, n_out: int, fn: int,
            n_in: int, a_fp: float, a_fn: float, threshold: float | None = None,
            extra: dict[str, int] | None = None) -> EpsilonLowerBound:
    """Bound from counts with per-rate levels a_fp, a_fn (already corrected for selection)."""
    up = lambda k, n, a: clopper_pearson_upper(k, n, a)  # noqa: E731
    stat = float(_score(method, up(fp, n_out, a_fp), up(fn, n_in, a_fn), delta))
    top = float(_score(method, up(0, n_out, a_fp), up(0, n_in, a_fn), delta))
    mu = mu_top = None
    if method == "gaussian-dp":
        mu, mu_top = stat, top
        stat, top = gdp_epsilon(mu, delta), gdp_epsilon(mu_top, delta)
    counts = {"fp": int(fp), "fn": int(fn), **(extra or {})}
    return EpsilonLowerBound(stat, alpha, delta, method, _MULTI_RUN[method], selection, n_in,
                             n_out, top, mu, threshold, counts)


def _method(method: str, delta: float) -> str:
    if method not in _MULTI_RUN:
        raise DataValidationError(f"method must be one of {sorted(_MULTI_RUN)}, got {method!r}")
    if method == "gaussian-dp":
        _gdp_delta_needed(delta, "the Gaussian-DP route")
    return method


# ---------------------------------------------------------------------------- from counts
def clopper_pearson_bound(fp: int, n_out: int, fn: int, n_in: int, *, alpha: float = 0.05,
                          delta: float) -> EpsilonLowerBound:
    """Epsilon lower bound from ``fp`` false positives in ``n_out`` runs without the target and
    ``fn`` false negatives in ``n_in`` runs with it, for a threshold fixed before the runs.

    FPR and FNR are upper-bounded by Clopper-Pearson at alpha/2 each, so both hold together with
    probability >= 1 - alpha; then eps = max(log(1 - FNR_ub - delta) - log FPR_ub,
    log(1 - FPR_ub - delta) - log FNR_ub, 0).
    """
    alpha, delta = check_alpha(alpha), check_delta(delta)
    fp, n_out, fn, n_in = _rates_pair(fp, n_out, fn, n_in)
    return _result("clopper-pearson", alpha, delta, "none: counts at a threshold fixed in advance",
                   fp, n_out, fn, n_in, alpha / 2, alpha / 2)


def gaussian_dp_bound(fp: int, n_out: int, fn: int, n_in: int, *, alpha: float = 0.05,
                      delta: float) -> EpsilonLowerBound:
    """The Gaussian-DP route (Nasr et al. 2023) from the same counts as
    :func:`clopper_pearson_bound`: mu_lb = Phi^-1(1 - FPR_ub) - Phi^-1(FNR_ub), then the epsilon
    of mu_lb-GDP at ``delta``. Assumes a Gaussian trade-off curve; the result says so."""
    alpha, delta = check_alpha(alpha), check_delta(delta)
    _gdp_delta_needed(delta, "the Gaussian-DP route")
    fp, n_out, fn, n_in = _rates_pair(fp, n_out, fn, n_in)
    return _result("gaussian-dp", alpha, delta, "none: counts at a threshold fixed in advance",
                   fp, n_out, fn, n_in, alpha / 2, alpha / 2)


def ceiling(n_in: int, n_out: int, *, alpha: float = 0.05, delta: float,
            method: str = "clopper-pearson", n_tests: int = 1) -> float:
    """The largest bound any attack can give with these trials: the perfect attack (no errors),
    with the level split over ``n_tests`` Bonferroni tests. About log(N / log(2/alpha)) for CP:
    3.3, 5.6, 7.9 at N = 100, 1000, 10000 runs per world and alpha = 0.05."""
    alpha, delta = check_alpha(alpha), check_delta(delta)
    n_in, n_out, n_tests = _count(n_in, "n_in", 1), _count(n_out, "n_out", 1), _count(n_tests, "n_tests", 1)
    a = alpha / 2 / n_tests
    return _result(_method(method, delta), alpha, delta, "", 0, n_out, 0, n_in, a, a).ceiling


# ---------------------------------------------------------------------------- from scores
def _fp_fn(s_in: np.ndarray, s_out: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Errors of the rule "member if score >= t": fp = #{out >= t}, fn = #{in < t}."""
    fp = s_out.size - np.searchsorted(np.sort(s_out), t, side="left")
    return fp, np.searchsorted(np.sort(s_in), t, side="left")


def _best(method, s_in, s_out, t, a_fp, a_fn, delta) -> tuple[float, int, int]:
    fp, fn = _fp_fn(s_in, s_out, t)
    stat = _score(method, clopper_pearson_upper(fp, s_out.size, a_fp),
                  clopper_pearson_upper(fn, s_in.size, a_fn), delta)
    j = int(np.argmax(stat))
    return float(t[j]), int(fp[j]), int(fn[j])


def bound_from_scores(scores_in: Any, scores_out: Any, *, delta: float, alpha: float = 0.05,
                      method: str = "clopper-pearson", selection: str = "bonferroni",
                      threshold: float | None = None, thresholds: Any = None,
                      split_fraction: float = 0.5, random_state: Any = None) -> EpsilonLowerBound:
    """Epsilon lower bound from attack scores of runs with (``scores_in``) and without
    (``scores_out``) the target; "member" means ``score >= threshold``.

    ``selection`` says how the threshold is chosen, honestly:

    * ``"bonferroni"``: the best of many thresholds, each rate bound corrected for the number
      of tests. With a grid ``thresholds`` fixed in advance that number is its size T. With no
      grid every real threshold is tried; the FPR bound only takes ``n_out`` distinct forms
      (one per count k: it fails at some threshold only if it fails at the fixed threshold where
      the true FPR first exceeds its bound for k), so the FPR level is alpha/2/min(T, n_out) and
      the FNR level alpha/2/min(T, n_in): simultaneous over all thresholds.
    * ``"split"``: a random ``split_fraction`` of each world's runs chooses the threshold; the
      bound uses only the other runs (no correction needed). ``random_state`` seeds the split.
    * ``"fixed"``: ``threshold`` was chosen before the runs.
    """
    alpha, delta = check_alpha(alpha), check_delta(delta)
    method = _method(method, delta)
    s_in = check_finite_array(scores_in, name="scores_in", ndim=1)
    s_out = check_finite_array(scores_out, name="scores_out", ndim=1)
    if s_in.size == 0 or s_out.size == 0:
        raise DataValidationError(
            f"need runs in both worlds: got {s_in.size} with the target, {s_out.size} without"
        )
    a = alpha / 2
    if selection == "fixed":
        if threshold is None or not math.isfinite(float(threshold)):
            raise DataValidationError('selection="fixed" needs a finite threshold chosen in advance')
        fp, fn = _fp_fn(s_in, s_out, np.array([float(threshold)]))
        return _result(method, alpha, delta, "fixed threshold chosen in advance", int(fp[0]),
                       s_out.size, int(fn[0]), s_in.size, a, a, float(threshold))
    if threshold is not None or (thresholds is not None and selection != "bonferroni"):
        raise DataValidationError(
            f'threshold goes with selection="fixed", thresholds with "bonferroni"; got {selection!r}'
        )
    if selection == "bonferroni":
        grid = np.unique(np.concatenate([s_in, s_out])) if thresholds is None else np.unique(
            check_finite_array(thresholds, name="thresholds", ndim=1))
        if grid.size == 0:
            raise DataValidationError("thresholds is empty")
        k_out = s_out.size if thresholds is None else min(grid.size, s_out.size)
        k_in = s_in.size if thresholds is None else min(grid.size, s_in.size)
        t, fp, fn = _best(method, s_in, s_out, grid, a / k_out, a / k_in, delta)
        how = ("all thresholds" if thresholds is None else f"a fixed grid of {grid.size} thresholds")
        sel = (f"Bonferroni over {how}: FPR bound at alpha/2/{k_out}, FNR bound at alpha/2/{k_in}")
        return _result(method, alpha, delta, sel, fp, s_out.size, fn, s_in.size, a / k_out,
                       a / k_in, t, {"n_thresholds": int(grid.size)})
    if selection == "split":
        if not 0.0 < float(split_fraction) < 1.0:
            raise DataValidationError(f"split_fraction must lie in (0, 1), got {split_fraction!r}")
        rng = check_random_state(random_state)
        parts = []
        for s in (s_in, s_out):
            k = int(math.floor(split_fraction * s.size))
            if k < 1 or k >= s.size:
                raise DataValidationError(f"a split of {s.size} runs leaves one side empty")
            p = rng.permutation(s.size)
            parts.append((s[p[:k]], s[p[k:]]))
        (sel_in, ev_in), (sel_out, ev_out) = parts
        grid = np.unique(np.concatenate([sel_in, sel_out]))
        t = _best(method, sel_in, sel_out, grid, a, a, delta)[0]
        fp, fn = _fp_fn(ev_in, ev_out, np.array([t]))
        how = (f"held-out split: threshold chosen on {sel_in.size}+{sel_out.size} runs, bound "
               f"from the other {ev_in.size}+{ev_out.size}")
        return _result(method, alpha, delta, how, int(fp[0]), ev_out.size, int(fn[0]), ev_in.size,
                       a, a, t, {"n_select_in": sel_in.size, "n_select_out": sel_out.size})
    raise DataValidationError(f'selection must be "bonferroni", "split" or "fixed", got {selection!r}')

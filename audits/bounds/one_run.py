"""Epsilon lower bounds from a single training run with m canaries.

Each canary is included independently with probability 1/2; the auditor guesses "in" for the
k+ highest scores and "out" for the k- lowest, and v of the r = k+ + k- guesses are correct.

References
----------
.. [1] Steinke, Nasr, Jagielski, "Privacy auditing with one (1) training run", NeurIPS 2023.
.. [2] Mahloujifar, Melis, Chaudhuri, "Auditing f-differential privacy in one run", ICML 2025.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from scipy import special, stats

from audits.bounds.multi_run import (
    ASSUME_ONE_RUN,
    ASSUME_ONE_RUN_FDP,
    EpsilonLowerBound,
    _count,
    _gdp_delta_needed,
    gdp_epsilon,
)
from privcausal.exceptions import DataTypeError, DataValidationError
from privcausal.validation import check_alpha, check_delta, check_finite_array

__all__ = ["one_run_p_value", "one_run_bound", "one_run_bound_from_scores", "worst_case_correct"]


def _one_run_counts(m: Any, r: Any, v: Any) -> tuple[int, int, int]:
    m, r, v = _count(m, "m", 1), _count(r, "r"), _count(v, "v")
    if not v <= r <= m:
        raise DataValidationError(f"need correct <= guesses <= canaries, got v={v}, r={r}, m={m}")
    return m, r, v


def one_run_p_value(epsilon: float, *, m: int, r: int, v: int, delta: float) -> float:
    """p-value of "(epsilon, delta)-DP" after v correct of r guesses on m canaries (Steinke et
    al. 2023): with q = e^eps/(1+e^eps), beta = P[Bin(r,q) >= v], alpha_term = max over i=1..v of
    P[v > Bin(r,q) >= v-i]/i, p = min(1, beta + alpha_term * delta * 2m)."""
    m, r, v = _one_run_counts(m, r, v)
    delta = check_delta(delta)
    q = float(special.expit(epsilon))
    beta = float(stats.binom.sf(v - 1, r, q))
    if delta == 0 or v == 0:
        return min(1.0, beta)
    i = np.arange(1, v + 1)
    window = stats.binom.cdf(v - 1, r, q) - stats.binom.cdf(v - i - 1, r, q)
    return min(1.0, beta + float(np.max(window / i)) * delta * 2 * m)


def _fdp_objective(mu: float, m: int, r: int, v: int, alpha: float) -> float:
    """> 0 when v correct of r guesses falsify mu-GDP at level alpha (Mahloujifar et al. 2025,
    the capped r/h recursion); the inverse blow-up of mu-GDP is x -> Phi(Phi^-1(x) - mu)."""
    rr, h = alpha * v / m, alpha * (r - v) / m
    for i in range(v - 1, -1, -1):
        h_new = max(h, float(special.ndtr(special.ndtri(rr) - mu)))
        if h_new == h:  # nothing changes from here on
            break
        rr, h = min(rr + i / (r - i) * (h_new - h), 1.0), h_new
    return rr + h - r / m


def _sup_true(pred, lo: float = 0.0) -> float:
    """sup{x >= lo : pred(x)} for a predicate true on [lo, x*) and false after, by bisection;
    the value returned satisfies the predicate (a conservative lower bound)."""
    if not pred(lo):
        return lo
    hi = max(1.0, 2 * lo)
    while pred(hi):
        lo, hi = hi, 2 * hi
        if hi > 1e4:
            return math.inf
    while hi - lo > 1e-9 * max(1.0, lo):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if pred(mid) else (lo, mid)
    return lo


def _one_run(method: str, m: int, r: int, v: int, alpha: float, delta: float) -> tuple[float, float | None]:
    if method == "steinke":
        return _sup_true(lambda e: one_run_p_value(e, m=m, r=r, v=v, delta=delta) < alpha), None
    if method == "fdp":
        _gdp_delta_needed(delta, "the f-DP one-run bound")
        mu = _sup_true(lambda u: _fdp_objective(u, m, r, v, alpha) > 0, 1e-12) if r > 0 else 0.0
        mu = 0.0 if mu <= 1e-12 else mu
        return gdp_epsilon(mu, delta), mu
    raise DataValidationError(f'method must be "steinke" or "fdp", got {method!r}')


def one_run_bound(m: int, r: int, v: int, *, delta: float, alpha: float = 0.05,
                  method: str = "steinke", n_tests: int = 1,
                  n_in: int | None = None, n_out: int | None = None) -> EpsilonLowerBound:
    """Epsilon lower bound from one run with ``m`` canaries, ``r`` guesses, ``v`` correct.

    ``method="steinke"``: the largest eps with ``one_run_p_value(eps) < alpha`` (0 when
    v <= r/2). ``method="fdp"``: the largest mu whose mu-GDP curve the counts falsify
    (Mahloujifar et al. 2025), reported as epsilon at delta. ``n_tests`` > 1 applies Bonferroni
    for guess counts chosen after looking. The ceiling is the same bound with all r correct.
    """
    alpha, delta = check_alpha(alpha), check_delta(delta)
    m, r, v = _one_run_counts(m, r, v)
    a = alpha / _count(n_tests, "n_tests", 1)
    eps, mu = _one_run(method, m, r, v, a, delta)
    top = _one_run(method, m, r, r, a, delta)[0]
    how = "guess counts fixed in advance" if n_tests == 1 else f"Bonferroni over {n_tests} guess counts"
    return EpsilonLowerBound(eps, alpha, delta, f"one-run ({method})",
                             ASSUME_ONE_RUN if method == "steinke" else ASSUME_ONE_RUN_FDP, how,
                             n_in, n_out, top, mu, None, {"m": m, "r": r, "v": v})


def worst_case_correct(scores: np.ndarray, included: np.ndarray, k_plus: int, k_minus: int) -> int:
    """Correct guesses of "in" for the ``k_plus`` highest scores and "out" for the ``k_minus``
    lowest, with ties counted against the auditor.

    Where a guess count cuts through a group of equal scores the order inside the group is not
    the output's to decide, so the group's places go first to the canaries that make the guess
    wrong (non-members among the "in" guesses, members among the "out" ones). The count is
    never larger than under any tie-breaking, and the bound is monotone in it, so the bound
    stays valid; constant scores give v = 0 wrong-free guesses beyond what chance forces.
    """
    s = np.asarray(scores, dtype=np.float64)
    inc = np.asarray(included, dtype=bool)
    m = s.size
    if k_plus + k_minus > m:
        raise DataValidationError(f"need k_plus + k_minus <= m = {m}")
    uniq, inv = np.unique(s, return_inverse=True)  # ascending groups
    g_size = np.bincount(inv, minlength=uniq.size)
    g_in = np.bincount(inv, weights=inc, minlength=uniq.size).astype(np.int64)
    free_in, free_out = g_in.copy(), g_size - g_in  # canaries not yet guessed, per group
    v = 0
    # "in" guesses from the top group down: non-members first inside each group
    need = k_plus
    for g in range(uniq.size - 1, -1, -1):
        if need == 0:
            break
        take = min(need, g_size[g])
        wrong = min(take, free_out[g])
        free_out[g] -= wrong
        free_in[g] -= take - wrong
        v += take - wrong
        need -= take
    # "out" guesses from the bottom group up, among what is left: members first
    need = k_minus
    for g in range(uniq.size):
        if need == 0:
            break
        take = min(need, free_in[g] + free_out[g])
        wrong = min(take, free_in[g])
        free_in[g] -= wrong
        free_out[g] -= take - wrong
        v += take - wrong
        need -= take
    return int(v)


def one_run_bound_from_scores(scores: Any, included: Any, *, k_plus: int | Sequence[int],
                              k_minus: int | Sequence[int] = 0, delta: float, alpha: float = 0.05,
                              method: str = "steinke") -> EpsilonLowerBound:
    """One-run bound from the ``scores`` of m canaries and whether each was ``included``.

    Guess "in" for the ``k_plus`` highest scores and "out" for the ``k_minus`` lowest, ties
    counted against the auditor (:func:`worst_case_correct`). Give sequences (same length) to
    try several (k_plus, k_minus) pairs: the level is then split over them (Bonferroni) and the
    best bound is reported.
    """
    s = check_finite_array(scores, name="scores", ndim=1)
    inc = np.asarray(included)
    if inc.shape != s.shape or not np.isin(inc, (0, 1)).all():
        raise DataValidationError(
            f"included must be 0/1 with one entry per canary ({s.size}); got shape {inc.shape}"
        )
    kp, km = np.atleast_1d(k_plus), np.atleast_1d(k_minus)
    if not (np.issubdtype(kp.dtype, np.integer) and np.issubdtype(km.dtype, np.integer)):
        raise DataTypeError("k_plus and k_minus must be integers (numbers of guesses)")
    kp, km = np.broadcast_arrays(kp, km) if kp.size == 1 or km.size == 1 else (kp, km)
    if kp.ndim != 1 or kp.shape != km.shape or ((kp < 0) | (km < 0) | (kp + km > s.size)).any():
        raise DataValidationError(f"need k_plus, k_minus >= 0 with k_plus + k_minus <= m = {s.size}")
    best = None
    for p, q in zip(kp.tolist(), km.tolist()):
        v = worst_case_correct(s, inc.astype(bool), p, q)
        res = one_run_bound(s.size, p + q, v, delta=delta, alpha=alpha, method=method,
                            n_tests=kp.size, n_in=int(inc.sum()), n_out=int(s.size - inc.sum()))
        if best is None or res.epsilon_lower > best.epsilon_lower:
            best = res
    return best

"""Black-box audit of a release mechanism on a pair of neighbouring datasets.

In the style of DP-Auditorium and DP-Sniper: sample the mechanism many times on D and on D',
learn a distinguishing test on one half of the samples, and turn the test's errors on the
other, held-out half into a Clopper-Pearson lower bound on epsilon (so choosing the test costs
no correction, and the bound holds at confidence 1 - alpha whatever the mechanism is).

Any callable ``mechanism(data, random_state) -> output`` (a number or an array) can be audited;
if it also has a ``batch(data, n, random_state) -> array of n outputs`` method, that is used to
draw many samples at once. ``neighbours`` is a pair (D, D'), a callable taking no arguments that
returns one, or a list of pairs (then alpha is split over the pairs, Bonferroni).

The test: outputs are reduced to one score (the output itself for a scalar; for a vector, its
projection on the standardised difference of means learnt on the selection half), and the
rule "score >= t" or "score <= t", with either world as the positive one, is chosen with the
threshold that maximises the bound on the selection half. Threshold tests are optimal whenever
the likelihood ratio is monotone in the score (Laplace and Gaussian noise on a shift).

By default a second, precision test runs beside it on the raw bits of the outputs
(:mod:`audits.releases.precision`), each at level alpha/2: a float release whose low bits depend
on the value is flagged even when its values look private.

References
----------
.. [1] Kong et al., "DP-Auditorium: a large scale library for auditing differential privacy",
   IEEE S&P 2024.
.. [2] Bichsel et al., "DP-Sniper: black-box discovery of differential privacy violations using
   classifiers", IEEE S&P 2021.
.. [3] Jagielski, Ullman, Oprea, "Auditing differentially private machine learning: how private
   is private SGD?", NeurIPS 2020.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np

from audits.bounds.multi_run import EpsilonLowerBound, bound_from_scores, ceiling
from audits.bounds.gaussian_test import gaussian_scores_test
from audits.releases.precision import precision_score
from audits.result import AssumptionTest, Verdict
from privcausal.exceptions import DataTypeError, DataValidationError
from privcausal.validation import check_alpha, check_delta, check_epsilon, check_random_state

__all__ = ["MechanismAuditResult", "audit_mechanism", "sample_mechanism"]

THREAT_MODEL = "black-box: the adversary sees the mechanism's outputs on D or D'"


@dataclass(frozen=True)
class MechanismAuditResult(Verdict):
    """The audit of one mechanism: the theoretical epsilon beside the certified lower bound.

    ``result`` is the bound behind ``epsilon_lower``; ``trials`` the held-out samples per
    dataset it used. With ``method="gaussian-dp"`` the Gaussian-DP figure is certified only when
    the selection half's scores pass :func:`~audits.bounds.gaussian_test.gaussian_scores_test`
    (``tests``); otherwise the certified bound is Clopper-Pearson and the Gaussian figure is
    ``epsilon_estimate``.
    """

    kind: ClassVar[str] = "mechanism"
    default_trials_unit: ClassVar[str] = "held-out samples per dataset"

    epsilon_theory: float
    delta: float
    epsilon_lower: float
    alpha: float
    samples: int
    pairs: int
    test: str
    threat_model: str
    ceiling: float
    result: EpsilonLowerBound
    bound: str = "clopper-pearson"
    assumption: str = ""
    epsilon_estimate: float | None = None
    estimate_assumption: str = ""
    tests: tuple[AssumptionTest, ...] = ()
    # held-out scores of the chosen test ("score >= result.threshold" says "in"); for figures
    scores_in: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    scores_out: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    # the precision test's certified bound (None: not run)
    precision_lower: float | None = None

    @property
    def trials(self) -> int:
        return int(self.result.n_in or 0)

    @property
    def score_threshold(self) -> float | None:
        return self.result.threshold

    def to_dict(self) -> dict[str, Any]:
        out = self._fields(("samples", "pairs", "test", "precision_lower"))
        out.update(result=self.result.to_dict(), threshold_selection=self.test)
        return out


def sample_mechanism(mechanism: Callable[..., Any], data: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` outputs of ``mechanism`` on ``data`` as an (n, k) float array."""
    batch = getattr(mechanism, "batch", None)
    if callable(batch):
        out = np.asarray(batch(data, n, int(rng.integers(2**63 - 1))), dtype=np.float64)
    else:
        seeds = rng.integers(0, 2**63 - 1, size=n)
        out = np.asarray([np.asarray(mechanism(data, int(s)), dtype=np.float64).ravel() for s in seeds])
    out = out.reshape(n, -1)
    n_bad = int((~np.isfinite(out)).any(axis=1).sum())
    if n_bad:
        raise DataValidationError(f"the mechanism returned {n_bad} non-finite outputs of {n}")
    return out


def _pairs(neighbours: Any) -> list[tuple[Any, Any]]:
    if callable(neighbours):
        neighbours = neighbours()
    if isinstance(neighbours, tuple) and len(neighbours) == 2 and not (
        isinstance(neighbours[0], tuple) and len(neighbours[0]) == 2
    ):
        return [neighbours]
    pairs = list(neighbours)
    if not pairs or any(not (isinstance(p, tuple) and len(p) == 2) for p in pairs):
        raise DataTypeError("neighbours must give a pair (D, D') or a list of such pairs")
    return pairs


def _project(sel_a: np.ndarray, sel_b: np.ndarray) -> np.ndarray:
    """Weights of the score ``outputs @ w``: the standardised difference of means.

    A coordinate that is constant in both worlds carries no noise: if its two values differ it
    separates the worlds exactly (an exact count released, say), and the score is that
    coordinate alone; if they agree it is left out.
    """
    if sel_a.shape[1] == 1:
        return np.ones(1)
    var = 0.5 * (sel_a.var(axis=0) + sel_b.var(axis=0))
    diff = sel_b.mean(axis=0) - sel_a.mean(axis=0)
    const = var <= 0.0
    exact = np.flatnonzero(const & (diff != 0))
    if exact.size:
        w = np.zeros(sel_a.shape[1])
        w[exact[0]] = 1.0
        return w
    w = np.zeros(sel_a.shape[1])
    w[~const] = diff[~const] / var[~const]
    if not np.all(np.isfinite(w)):  # scales beyond double range: fall back to the signs
        w = np.where(const, 0.0, np.sign(diff))
    return w if np.any(w != 0) else np.ones(sel_a.shape[1])


def _choose_test(sa: np.ndarray, sb: np.ndarray, delta: float, alpha: float,
                 method: str) -> tuple[float, int, bool]:
    """Best (threshold, sign, b_is_positive) on the selection half."""
    best = (-1.0, 0.0, 1, True)
    for sign in (1, -1):
        for b_pos in (True, False):
            s_in, s_out = (sign * sb, sign * sa) if b_pos else (sign * sa, sign * sb)
            grid = np.quantile(np.concatenate([s_in, s_out]), np.linspace(0.0, 1.0, 401)[1:-1])
            res = bound_from_scores(s_in, s_out, delta=delta, alpha=alpha, selection="bonferroni",
                                    thresholds=grid, method=method)
            if res.epsilon_lower > best[0]:
                best = (res.epsilon_lower, float(res.threshold), sign, b_pos)
    return best[1], best[2], best[3]


def audit_mechanism(
    mechanism: Callable[..., Any],
    neighbours: Any,
    *,
    epsilon: float,
    delta: float = 0.0,
    samples: int = 100_000,
    alpha: float = 0.05,
    method: str = "clopper-pearson",
    selection_fraction: float = 0.5,
    random_state: Any = None,
    score: Any = None,
    precision: bool = True,
) -> MechanismAuditResult:
    """Audit ``mechanism`` on neighbouring datasets; see the module docstring.

    Parameters
    ----------
    mechanism : callable ``(data, random_state) -> output``
    neighbours : (D, D'), a callable returning it, or a list of pairs
    epsilon, delta : the claimed guarantee (epsilon = inf is allowed: nothing to violate)
    samples : outputs drawn per dataset
    alpha : the bound holds with probability at least 1 - alpha (over all pairs)
    method : "clopper-pearson" (assumption-free) or "gaussian-dp": the Gaussian-DP route,
        certified only when the selection half's scores pass the Gaussian-shift test
        (:mod:`audits.bounds.gaussian_test`; true of the Gaussian mechanism); on any other output
        the certified bound is Clopper-Pearson and the Gaussian figure is ``epsilon_estimate``
    selection_fraction : share of samples used to choose the test
    random_state : seeds the sampling of the mechanism (its own noise included)
    score : None or a score learner ``score(sel_D, sel_D_prime) -> f``, ``f(outputs) -> scores``
        fitted on the selection half (:mod:`audits.releases.scores`; e.g. ``product_llr()``, the
        Neyman-Pearson test of composed Laplace releases); None: the projection above
    precision : also run the precision test (:mod:`audits.releases.precision`: the raw
        outputs' lowest set bit and trailing zeros, no rounding) beside the value test, each at
        level ``alpha / 2``; the certified bound is the larger of the two (a union bound keeps
        the level). Off only for simulated ideal mechanisms whose floats are not the object

    Returns
    -------
    MechanismAuditResult
        With the certified ``epsilon_lower`` (held-out test), the ceiling that the number of
        samples allows, the test that licensed a Gaussian-DP figure (``tests``) and, where the
        Gaussian figure was refused, that figure as ``epsilon_estimate``.
    """
    eps = check_epsilon(epsilon)
    delta = check_delta(delta)
    alpha = check_alpha(alpha)
    if not isinstance(samples, (int, np.integer)) or samples < 20:
        raise DataValidationError("samples must be an integer >= 20")
    if method not in ("clopper-pearson", "gaussian-dp"):
        raise DataValidationError(f'method must be "clopper-pearson" or "gaussian-dp", got {method!r}')
    rng = check_random_state(random_state)
    pairs = _pairs(neighbours)
    a = alpha / len(pairs) / (2 if precision else 1)
    n_sel = int(samples * selection_fraction)
    if not 0 < n_sel < samples:
        raise DataValidationError("selection_fraction must leave samples on both halves")
    best: tuple | None = None
    p_best = 0.0
    for i, (d0, d1) in enumerate(pairs):
        out0 = sample_mechanism(mechanism, d0, samples, rng)
        out1 = sample_mechanism(mechanism, d1, samples, rng)
        if out0.shape[1] != out1.shape[1]:
            raise DataValidationError("the mechanism's outputs on D and D' have different sizes")
        if score is None:
            w = _project(out0[:n_sel], out1[:n_sel])
            s0, s1 = out0 @ w, out1 @ w
        else:
            f = score(out0[:n_sel], out1[:n_sel])
            s0, s1 = np.asarray(f(out0), dtype=np.float64), np.asarray(f(out1), dtype=np.float64)
        if not (np.isfinite(s0).all() and np.isfinite(s1).all()):
            raise DataValidationError("the audit's score of the outputs is not finite (outputs "
                                      "beyond double range?)")
        # the Gaussian-DP route is licensed by a test on the selection half, so the choice of
        # route does not look at the held-out samples the bound is taken on
        test = gaussian_scores_test(s1[:n_sel], s0[:n_sel], what=f"pair {i}'s selection-half scores") \
            if method == "gaussian-dp" else None
        used = "gaussian-dp" if test is not None and test.passed else "clopper-pearson"
        res, desc, s_in, s_out = _held_out(s0, s1, n_sel, delta, a, used, i, samples, score,
                                           locals().get("f"))
        est = None
        if method == "gaussian-dp" and used != method:
            est = _held_out(s0, s1, n_sel, delta, a, method, i, samples, score, locals().get("f"))[0]
        if best is None or res.epsilon_lower > best[0].epsilon_lower:
            best = (res, desc, s_in, s_out, test, est)
        if precision:
            fp = precision_score(out0[:n_sel], out1[:n_sel])
            p0, p1 = fp(out0), fp(out1)
            pres, pdesc, p_in, p_out = _held_out(p0, p1, n_sel, delta, a, "clopper-pearson", i,
                                                 samples, None, None)
            p_best = max(p_best, pres.epsilon_lower)
            if pres.epsilon_lower > best[0].epsilon_lower:
                best = (pres, "precision test (lowest set bit, trailing zeros): " + pdesc, p_in,
                        p_out, None, None)
    assert best is not None
    res, desc, s_in, s_out, test, est = best
    top = ceiling(samples - n_sel, samples - n_sel, alpha=a, delta=delta, method=res.method)
    if est is not None:
        assumption = (res.assumption + "; the Gaussian-DP figure was refused as a bound because "
                      "the selection-half scores are not a Gaussian shift")
        est_words = "the mechanism's trade-off curve is Gaussian (which the test rejected)"
    else:
        assumption = res.assumption + (
            "; licensed by a Gaussian-shift test on the selection half" if test else "")
        est_words = ""
    if precision:
        assumption += (f"; value and precision tests each at level alpha/2 (precision test's "
                       f"certified bound {p_best:.4g})")
    return MechanismAuditResult(
        eps, delta, res.epsilon_lower, alpha, samples, len(pairs), desc, THREAT_MODEL, top, res,
        res.method, assumption, None if est is None else est.epsilon_lower, est_words,
        () if test is None else (test,), s_in, s_out, p_best if precision else None)


def _held_out(s0: np.ndarray, s1: np.ndarray, n_sel: int, delta: float, a: float, method: str,
              i: int, samples: int, score: Any, f: Any) -> tuple[EpsilonLowerBound, str, np.ndarray, np.ndarray]:
    """Choose the test on the selection half, bound its errors on the held-out half."""
    t, sign, b_pos = _choose_test(s0[:n_sel], s1[:n_sel], delta, a, method)
    h0, h1 = sign * s0[n_sel:], sign * s1[n_sel:]
    s_in, s_out = (h1, h0) if b_pos else (h0, h1)
    res = bound_from_scores(s_in, s_out, delta=delta, alpha=a, selection="fixed", threshold=t,
                            method=method)
    desc = (f"pair {i}: {'-' if sign < 0 else ''}score >= {t:.6g} says "
            f"{'D_prime' if b_pos else 'D'}; test chosen on {n_sel} samples per dataset, "
            f"bound from the other {samples - n_sel}"
            + ("" if score is None else f"; score: {getattr(f, '__name__', 'custom')}"))
    return res, desc, s_in, s_out

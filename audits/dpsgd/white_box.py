"""White-box DP-SGD audit: the canary's signal and the noise both measured, then composed.

In the white-box threat model the auditor sees every intermediate model. Rescaled by the
declared learning rate and normaliser, the update's canary coordinate of step t in run j is
``o[t, j] = s[t, j] * [canary in] + noise[t, j]`` for a Dirac canary (no real record has a
gradient there), where ``s`` is what the canary really contributed: its gradient clipped at
the norm the implementation really uses, which the auditor does not know.

**Certified bound.** With per-run scores ``S_j = sgn * sum_t o[t, j] / sqrt(T)`` (``sgn`` the
sign of the canary's gradient as the auditor computes it from the visible parameters), the
release restricted to that score is, under the tested assumption below, ``N(0, sigma^2)``
without the canary and ``N(Delta, sigma^2)`` with it: a Gaussian shift, so the training is no
more private than ``mu = Delta / sigma``-GDP (post-processing), and
``epsilon >= epsilon_GDP(mu, delta)``. Both parts are measured:

* ``sigma``: a chi-square upper confidence bound from the per-step residuals around each step's
  mean in each world (``2 T (N - 1)`` degrees of freedom), at level ``a / 10``;
* ``Delta``: a one-sided lower confidence bound from the difference of the worlds' mean scores
  (standard error ``sigma sqrt(1/N_in + 1/N_out)``), at level ``9 a / 10``.

So ``mu_lower = Delta_hat / sigma_upper - z sqrt(1/N_in + 1/N_out)``: its standard error is about
sqrt(2/N) in mu units, which is why ten runs cannot certify mu ~ 0.9 and a few hundred can
(the vectorised trainer makes 1,000 trainings cost seconds). Nothing in it depends on the
declared clipping norm: a trainer that clips harder than declared is certified at its own,
smaller, leakage.

**Tested assumption.** The noise is Gaussian, with the same variance in both worlds, and
independent across steps and runs. Before the bound is reported as certified the audit tests
it on its own residuals, at total level ``level`` (the chance of refusing an honest
Gaussian trainer): normality of each world's residuals and equal variances
(:func:`~audits.bounds.gaussian_test.gaussian_scores_test`, at ``3 level / 5``), lag-1
autocorrelation along the steps and the spread of the per-step means across runs (one z-test
each, at ``level / 5``). Under the assumption the certified bound is wrong with probability
at most ``a = alpha - level``; a refused audit falls back to the run-level bound (Clopper-Pearson,
or Gaussian-DP where the run scores pass their own Gaussian-shift test), so an honest audit
errs with probability at most ``a + level = alpha`` (the refusal itself has probability at most
``level``).

**Estimate.** The route of Nasr et al. 2023 also computes the canary's clipped gradient
``c[t, j]`` at the declared norm from the visible parameters and takes
``mu_estimate = min_j sqrt(sum_t c[t, j]^2) / sigma_upper``: tight from ten runs, and it
catches noise that is not what the accountant claims (a noise multiplier off by the batch
size), but it *assumes* that the canary enters at the declared clipping norm, so it is
reported as ``epsilon_estimate``, never as a violation. ``shift_z`` (the in-world residual
mean against ``c``) says whether the data contradict that assumption.

References
----------
.. [1] Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis, "Tight auditing of
   differentially private machine learning", USENIX Security 2023 (white-box audits through
   per-step statistics and GDP composition).
.. [2] Dong, Roth, Su, "Gaussian differential privacy", JRSS B 2022.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special, stats

from audits.bounds.gaussian_test import gaussian_scores_test
from audits.bounds.multi_run import EpsilonLowerBound, gdp_epsilon
from audits.result import AssumptionTest
from privcausal.exceptions import DataValidationError
from privcausal.validation import check_alpha, check_delta

__all__ = ["ComposedNoiseCheck", "composed_white_box_bound", "ASSUME_MEASURED",
           "ESTIMATE_ASSUMPTION", "independence_tests"]

ASSUME_MEASURED = (
    "white-box, full batch: the noise on the canary coordinate is Gaussian with one variance in "
    "both worlds and independent across steps and runs (tested on the residuals); the canary's "
    "signal and the noise are both measured (one-sided bound on the mean shift of the run "
    "scores, chi-square bound on the noise), so the declared clipping norm is not assumed"
)
ESTIMATE_ASSUMPTION = (
    "the canary enters every step at its gradient clipped at the declared norm (not measured; "
    "the noise is measured), composed over the steps (Nasr et al. 2023)"
)


@dataclass(frozen=True)
class ComposedNoiseCheck:
    """Diagnostics of the white-box route: noise and signal measured, against what was claimed."""

    sigma_claimed: float
    sigma_hat: float
    sigma_upper: float
    residuals: int
    shift_z: float
    mu_lower: float
    mu_hat: float
    mu_estimate: float
    epsilon_estimate: float
    autocorrelation_z: float = 0.0
    across_runs_z: float = 0.0
    independent: bool = True
    certified: bool = True
    tests: tuple[AssumptionTest, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "tests"}
        d["tests"] = [t.to_dict() for t in self.tests]
        return d


def _independence(r: np.ndarray) -> tuple[float, float]:
    """z statistics of lag-1 autocorrelation (two-sided) and of dependence across runs
    (one-sided, large = runs share noise) for residuals ``r`` of shape (T, K)."""
    T, K = r.shape
    dm = r - r.mean(axis=0, keepdims=True)
    ss = float(np.sum(dm**2))
    if T < 3 or K < 2 or ss <= 0:
        return (0.0, 0.0) if ss > 0 or r.size == 0 else (math.inf, math.inf)
    var = ss / (K * (T - 1))
    pairs = (T - 1) * K
    # centring per run biases the lag-1 autocorrelation by about -1/(T-1): remove it
    ac = float(np.sum(dm[1:] * dm[:-1])) / pairs / var + 1.0 / (T - 1)
    z_ac = ac * math.sqrt(pairs)
    stat = float(np.sum(dm.mean(axis=1) ** 2)) * K / var
    z_runs = (stat - (T - 1)) / math.sqrt(2.0 * (T - 1))
    return z_ac, z_runs


def independence_tests(r: np.ndarray, level: float) -> tuple[AssumptionTest, AssumptionTest]:
    """The two independence z-tests on raw per-step observations ``r`` (T, K), each at ``level``."""
    z_ac, z_runs = _independence(r)
    T, K = r.shape
    p_ac = float(2 * special.ndtr(-abs(z_ac))) if math.isfinite(z_ac) else 0.0
    p_runs = float(special.ndtr(-z_runs)) if math.isfinite(z_runs) else 0.0
    crit = float(special.ndtri(1 - level / 2))
    ac = AssumptionTest(
        "independence across steps (lag-1 autocorrelation of each run's observations)", z_ac,
        p_ac, level, bool(p_ac >= level),
        f"detects a lag-1 correlation beyond {(crit + 1.2816) / math.sqrt(max((T - 1) * K, 1)):.3g} "
        f"with power about 0.9 ({(T - 1) * K} pairs)")
    crit1 = float(special.ndtri(1 - level))
    runs = AssumptionTest(
        "independence across runs (spread of the per-step means)", z_runs, p_runs, level,
        bool(p_runs >= level),
        f"detects noise shared by the runs with correlation beyond "
        f"{(crit1 + 1.2816) * math.sqrt(2.0 / max(T - 1, 1)) / max(K - 1, 1):.3g} with power about 0.9")
    return ac, runs


def composed_white_box_bound(obs_in: Any, obs_out: Any, shift_in: Any, *, sigma_claimed: float,
                             delta: float, alpha: float = 0.05,
                             level: float | None = None) -> tuple[EpsilonLowerBound, ComposedNoiseCheck]:
    """Certified epsilon lower bound from per-step canary-coordinate observations, with the
    declared-norm estimate beside it (module docstring).

    Parameters
    ----------
    obs_in, obs_out : (T, N_in) and (T, N_out) observed per-step canary-coordinate gradient sums
        of the runs with and without the canary, divided by the declared clipping norm
    shift_in : (T, N_in) the canary's gradient clipped at the declared norm, as the auditor
        computes it from the visible parameters (divided by that norm): the sign of the signal,
        and the estimate
    sigma_claimed : the noise multiplier the implementation claims (reported beside the measured)
    delta, alpha : epsilon is reported at ``delta``; the bound holds with probability 1 - alpha
    level : the assumption tests' total level (default alpha / 5)

    Returns
    -------
    (EpsilonLowerBound, ComposedNoiseCheck)
        The certified bound (``check.certified`` says whether its tests passed; when they did
        not, the harness reports the run-level bound instead) and the check,
        with the estimate (``epsilon_estimate``) and every test.
    """
    alpha, delta = check_alpha(alpha), check_delta(delta)
    if delta <= 0:
        raise DataValidationError("the composed white-box route needs delta > 0 (GDP to epsilon)")
    level = alpha / 5.0 if level is None else float(level)
    if not 0.0 < level < alpha:
        raise DataValidationError(f"level must lie in (0, alpha), got {level!r}")
    o_in = np.asarray(obs_in, dtype=np.float64)
    o_out = np.asarray(obs_out, dtype=np.float64)
    c = np.asarray(shift_in, dtype=np.float64)
    if o_in.ndim != 2 or o_in.shape != c.shape or o_out.ndim != 2 or o_out.shape[0] != o_in.shape[0]:
        raise DataValidationError("obs_in and shift_in must be (T, N) and obs_out (T, N_out)")
    if not (np.isfinite(o_in).all() and np.isfinite(o_out).all() and np.isfinite(c).all()):
        raise DataValidationError("the per-step observations contain non-finite values")
    T, n_in = o_in.shape
    n_out = o_out.shape[1]
    if n_in < 2 or n_out < 2:
        raise DataValidationError("the white-box route needs at least 2 runs in each world")
    a = alpha - level
    a_sigma, a_shift = a / 10.0, 9.0 * a / 10.0
    # noise: residuals around each step's mean in each world (any per-step shift removed)
    r_in = o_in - o_in.mean(axis=1, keepdims=True)
    r_out = o_out - o_out.mean(axis=1, keepdims=True)
    dof = T * (n_in - 1) + T * (n_out - 1)
    ss = float(np.sum(r_in**2) + np.sum(r_out**2))
    sigma_hat = math.sqrt(ss / dof)
    sigma_up = math.sqrt(ss / float(stats.chi2.ppf(a_sigma, dof)))
    # signal: the worlds' mean run scores, signed by the canary's gradient as computed
    sgn = float(np.sign(c.mean())) or 1.0
    S_in = sgn * o_in.sum(axis=0) / math.sqrt(T)
    S_out = sgn * o_out.sum(axis=0) / math.sqrt(T)
    k = math.sqrt(1.0 / n_in + 1.0 / n_out)
    d_hat = float(S_in.mean() - S_out.mean())
    z = float(special.ndtri(1.0 - a_shift))
    mu_lower = max(d_hat / sigma_up - z * k, 0.0) if sigma_up > 0 else (math.inf if d_hat > 0 else 0.0)
    mu_hat = d_hat / sigma_hat if sigma_hat > 0 else math.inf
    # the estimate: the canary's clipped gradient at the declared norm, worst over the runs
    mu_est = float(np.sqrt(np.min(np.sum(c**2, axis=0)))) / sigma_up if sigma_up > 0 else math.inf
    se = sigma_hat / math.sqrt(o_in.size)
    shift_z = float(sgn * (o_in - c).mean() / se) if se > 0 else math.inf
    # the assumption, tested on the residuals (each world's, centred per step) and the raw runs
    gauss = gaussian_scores_test(r_in.ravel(), r_out.ravel(), level=3.0 * level / 5.0,
                                 what="the per-step residuals")
    ac, runs = independence_tests(np.concatenate([o_in - c, o_out], axis=1), level / 5.0)
    tests = (gauss, ac, runs)
    certified = all(t.passed for t in tests)
    eps = gdp_epsilon(mu_lower, delta) if mu_lower > 0 else 0.0
    bound = EpsilonLowerBound(
        eps, alpha, delta, "gaussian-dp (white-box, measured shift)", ASSUME_MEASURED,
        (f"parametric: one-sided bound on the mean run-score shift at {a_shift:.3g} and "
         f"chi-square bound on the noise from {dof} residual degrees of freedom at "
         f"{a_sigma:.3g}; assumption tests at {level:.3g}"),
        int(n_in), int(n_out), math.inf, mu_lower, None,
        {"steps": int(T), "residuals": int(o_in.size + o_out.size)},
    )
    check = ComposedNoiseCheck(
        float(sigma_claimed), sigma_hat, sigma_up, int(o_in.size + o_out.size), shift_z,
        mu_lower, mu_hat, mu_est, gdp_epsilon(mu_est, delta) if mu_est > 0 else 0.0,
        float(ac.statistic), float(runs.statistic), bool(ac.passed and runs.passed), certified,
        tests)
    return bound, check

"""AdaSSP: differentially private linear regression from noisy sufficient statistics.

Wang's algorithm releases three things, each with a Gaussian mechanism calibrated (by the
analytic Gaussian mechanism) to ``(epsilon/3, delta/3)``:

1. the smallest eigenvalue of ``X'X`` plus noise (sensitivity ``B_X^2``), minus a
   high-probability margin of ``sqrt(log(6/delta))`` noise standard deviations, floored at 0;
2. ``X'X`` plus a symmetric Gaussian matrix (sensitivity ``B_X^2``);
3. ``X'y`` plus Gaussian noise (sensitivity ``B_X * B_Y``);

and returns ``theta = (noisy X'X + lambda I)^-1 noisy X'y`` with the adaptive ridge
``lambda = max(0, eta - private lam_min)``,
``eta = sqrt(d log(6/delta) log(2 d^2 / rho)) B_X^2 / (epsilon/3)``.
Sequential composition of the three releases gives ``(epsilon, delta)``-DP under add/remove
neighbouring, provided every row has ``||x|| <= B_X`` and ``|y| <= B_Y``: :func:`adassp_fit`
clips rows to the declared bounds; :func:`adassp` and :func:`adassp_stats` take statistics that
the caller computed from rows already inside them (the bounds are declared, never measured).

``epsilon = inf`` is the non-private twin: no noise, ``lambda = 0``, ordinary least squares
(the minimum-norm solution when ``X'X`` is singular).

References
----------
.. [1] Y.-X. Wang, "Revisiting differentially private linear regression: optimal and adaptive
   prediction & estimation in unbounded domain", UAI 2018 (Algorithm 2, AdaSSP).
.. [2] B. Balle and Y.-X. Wang, "Improving the Gaussian mechanism for differential privacy:
   analytical calibration and optimal denoising", ICML 2018.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from privcausal.estimators.linalg import solve_ridge  # noqa: F401  (re-exported)
from privcausal.estimators.sufficient import SufficientStats
from privcausal.exceptions import DataValidationError, PrivacyParameterError
from privcausal.privacy import GaussianMechanism, PrivacyEvent, noise_source, sequential
from privcausal.validation import check_delta, check_epsilon, check_finite_array

__all__ = ["AdaSSPResult", "adassp", "adassp_fit", "adassp_stats", "adassp_eta", "solve_ridge"]


@dataclass(frozen=True)
class AdaSSPResult:
    """What one AdaSSP release produced.

    Attributes
    ----------
    theta : (d,) coefficients.
    ridge : the adaptive ridge ``lambda`` that was added.
    xtx, xty : the noisy statistics (exact when ``epsilon = inf``).
    lam_min : the private, margin-corrected smallest eigenvalue (floored at 0).
    events : the three releases, in order.
    event : their sequential composition (what a receipt or a budget is charged).
    """

    theta: np.ndarray
    ridge: float
    xtx: np.ndarray
    xty: np.ndarray
    lam_min: float
    events: tuple[PrivacyEvent, ...]
    event: PrivacyEvent


def _positive_bound(value: Any, name: str) -> float:
    b = float(value)
    if not math.isfinite(b) or b <= 0:
        raise PrivacyParameterError(f"{name} must be a finite declared bound > 0 (not read off the data)")
    return b


def adassp_eta(d: int, epsilon: float, delta: float, bound_x: float, rho: float = 0.05) -> float:
    """Wang's ridge level ``sqrt(d log(6/delta) log(2 d^2/rho)) B_X^2 / (epsilon/3)`` (0 at inf)."""
    if math.isinf(epsilon):
        return 0.0
    return math.sqrt(d * math.log(6.0 / delta) * math.log(2.0 * d * d / rho)) * bound_x**2 / (epsilon / 3.0)


def adassp(
    xtx: Any,
    xty: Any,
    *,
    bound_x: float,
    bound_y: float,
    epsilon: float,
    delta: float,
    rho: float = 0.05,
    random_state: Any = None,
) -> AdaSSPResult:
    """AdaSSP release from exact sufficient statistics ``X'X`` (d x d) and ``X'y`` (d,).

    Parameters
    ----------
    xtx, xty : array
        Sums over records whose rows satisfy ``||x|| <= bound_x`` and ``|y| <= bound_y``.
    bound_x, bound_y : float
        Declared bounds ``B_X``, ``B_Y`` (the sensitivities come from them alone).
    epsilon, delta : float
        The total budget, split in three equal parts (``epsilon = inf``: no noise, OLS).
    rho : float
        Failure probability in the ridge level ``eta``.
    random_state : None, int, Generator or NoiseSource
        None draws the noise from the OS CSPRNG; a seed is for experiments only.

    Returns
    -------
    AdaSSPResult
    """
    eps = check_epsilon(epsilon)
    dlt = check_delta(delta)
    if math.isfinite(eps) and dlt == 0:
        raise PrivacyParameterError("AdaSSP uses Gaussian noise and needs delta > 0")
    if not 0 < float(rho) < 1:
        raise PrivacyParameterError("rho must lie in (0, 1)")
    bx = _positive_bound(bound_x, "bound_x")
    by = _positive_bound(bound_y, "bound_y")
    a = check_finite_array(xtx, name="X'X", ndim=2)
    b = check_finite_array(xty, name="X'y", ndim=1)
    d = a.shape[0]
    if a.shape != (d, d) or b.shape != (d,) or d == 0:
        raise DataValidationError(f"X'X must be d x d and X'y of length d (got {a.shape} and {b.shape})")
    if not np.allclose(a, a.T, rtol=1e-10, atol=1e-8 * max(1.0, float(np.abs(a).max()))):
        raise DataValidationError("X'X must be symmetric")
    noise = noise_source(random_state)
    e3 = eps / 3.0 if math.isfinite(eps) else math.inf
    d3 = dlt / 3.0
    m_eig = GaussianMechanism(e3, d3, bx * bx)
    m_xtx = GaussianMechanism(e3, d3, bx * bx)
    m_xty = GaussianMechanism(e3, d3, bx * by)
    lam_exact = float(np.linalg.eigvalsh(0.5 * (a + a.T))[0])
    if math.isfinite(eps):
        margin = m_eig.scale * math.sqrt(math.log(6.0 / dlt))
        lam_min = max(0.0, float(m_eig.randomise(lam_exact, noise)) - margin)
    else:
        lam_min = max(0.0, lam_exact)
    xtx_n = m_xtx.randomise_symmetric(a, noise)
    xty_n = np.asarray(m_xty.randomise(b, noise), dtype=np.float64)
    ridge = max(0.0, adassp_eta(d, eps, dlt, bx, float(rho)) - lam_min)
    theta = solve_ridge(xtx_n, xty_n, ridge)
    events = (
        m_eig.event("AdaSSP: private smallest eigenvalue of X'X"),
        m_xtx.event("AdaSSP: noisy X'X (upper triangle)"),
        m_xty.event("AdaSSP: noisy X'y"),
    )
    return AdaSSPResult(theta, ridge, xtx_n, xty_n, lam_min, events, sequential(events, "AdaSSP"))


def adassp_fit(
    X: Any,
    y: Any,
    *,
    bound_x: float,
    bound_y: float,
    epsilon: float,
    delta: float,
    rho: float = 0.05,
    random_state: Any = None,
) -> AdaSSPResult:
    """AdaSSP on rows ``X`` and outcomes ``y``, clipped to the declared bounds first.

    A row with ``||x|| > bound_x`` is scaled onto the ball of radius ``bound_x``; outcomes are
    clipped to ``[-bound_y, bound_y]``. Clipping is what makes the sensitivities valid.
    """
    bx = _positive_bound(bound_x, "bound_x")
    by = _positive_bound(bound_y, "bound_y")
    Xa = check_finite_array(X, name="X", ndim=2)
    ya = check_finite_array(y, name="y", ndim=1)
    if len(Xa) != len(ya):
        raise DataValidationError(f"X has {len(Xa)} rows but y has {len(ya)} entries")
    norms = np.linalg.norm(Xa, axis=1)
    Xc = Xa * np.minimum(1.0, bx / np.maximum(norms, 1e-300))[:, None]
    yc = np.clip(ya, -by, by)
    return adassp(Xc.T @ Xc, Xc.T @ yc, bound_x=bx, bound_y=by, epsilon=epsilon, delta=delta,
                  rho=rho, random_state=random_state)


def adassp_stats(
    stats: SufficientStats,
    *,
    bound_x: float,
    bound_y: float,
    epsilon: float,
    delta: float,
    y_center: float = 0.0,
    arm: int | None = None,
    rho: float = 0.05,
    random_state: Any = None,
) -> AdaSSPResult:
    """AdaSSP from :class:`SufficientStats` (streamed chunks, dask partitions, sites).

    The design rows ``z`` of ``stats`` (intercept first) must satisfy ``||z|| <= bound_x``
    and the outcomes ``|y - y_center| <= bound_y``. The outcome is centred algebraically:
    ``sum z (y - c) = sum z y - c sum z`` (``sum z`` is the first column of ``sum z z'``).
    ``arm`` selects one treatment arm (0 or 1); None pools both.
    """
    if not isinstance(stats, SufficientStats):
        raise DataValidationError(f"stats must be SufficientStats, got {type(stats).__name__}")
    if arm is None:
        zz, zy = stats.zz.sum(axis=0), stats.zy.sum(axis=0)
    elif arm in (0, 1):
        zz, zy = stats.zz[arm], stats.zy[arm]
    else:
        raise DataValidationError("arm must be 0, 1 or None")
    c = float(y_center)
    return adassp(zz, zy - c * zz[:, 0], bound_x=bound_x, bound_y=bound_y, epsilon=epsilon,
                  delta=delta, rho=rho, random_state=random_state)

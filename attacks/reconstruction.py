"""Informed-adversary reconstruction: the adversary knows every record but one.

The informed adversary of Balle, Cherubin and Hayes knows the training algorithm, the
release and all records except the target's, and solves for the missing record:

* **sufficient statistics** (per-arm ``n``, ``sum z z'``, ``sum z y``, ``sum y^2``, or a
  pooled ``X'X``, ``X'y``): subtract the known records' sums; with an intercept column
  (``z_0 = 1``) the target's row is the intercept column of the remainder, ``z = R[:, 0]``,
  and its outcome ``y = r[0]``; the arm is the one whose count grew by one.
* **OLS / ridge** coefficients ``theta = (Z'Z + L)^-1 Z'y``: with ``A = Z_k'Z_k + L`` and
  ``b = Z_k'y_k`` over the known records, ``g = b - A theta = z (z'theta - y)``, so
  ``z = g / g_0`` and ``y = z'theta - g_0`` (undefined when the target's residual is exactly
  0: then the release does not depend on the record).
* **logistic / softmax regression at its optimum** of ``sum_i loss_i + (l2 / 2) ||W||^2``
  (intercept not penalised; scikit-learn's ``C`` is ``l2 = 1 / C``): the target's gradient
  is minus the known records' gradients minus the regulariser's, and for one record
  ``grad_W = (p - e_y) x'``, ``grad_b = p - e_y``, so ``x`` is a row of ``grad_W`` divided
  by the matching entry of ``grad_b`` (least squares over the rows), and ``y`` is the class
  whose entry of ``grad_b`` is negative.

On non-private releases these are exact up to floating-point rounding (the tests ask for a
relative error below 1e-8; a logistic fit is only as exact as its optimiser). With DP noise
the same formulas return noise-dominated guesses; :mod:`attacks.rero` bounds how often any
attack can succeed. DP-SGD models: :mod:`attacks.gradient_reconstruction`.

References
----------
.. [1] Balle, Cherubin, Hayes, "Reconstructing training data with informed adversaries",
   IEEE S&P 2022 (Section IV: closed forms for linear and logistic models).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
from scipy.special import expit, softmax

from privcausal.exceptions import DataValidationError
from privcausal.validation import check_finite_array

__all__ = ["Reconstruction", "informed_gram", "informed_sufficient_stats", "informed_ridge",
           "informed_logistic", "prior_aware_gram", "relative_error"]


@dataclass(frozen=True)
class Reconstruction:
    """The reconstructed record.

    Attributes
    ----------
    x : (p,) the design row (with the intercept entry when the release has one)
    y : the outcome (a class index for classifiers)
    arm : the treatment arm, when the release is per arm
    details : numbers a reader may want (consistency checks)
    """

    x: np.ndarray
    y: float
    arm: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def record(self) -> np.ndarray:
        """(x, y) as one vector."""
        return np.r_[self.x, self.y]


def relative_error(estimate: Any, truth: Any) -> float:
    """||estimate - truth|| / max(||truth||, 1e-300)."""
    e, t = np.asarray(estimate, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    return float(np.linalg.norm(e - t) / max(np.linalg.norm(t), 1e-300))


def _known(X: Any, y: Any, p: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    Xk = check_finite_array(X, name="known records", ndim=2)
    yk = check_finite_array(y, name="known outcomes", ndim=1)
    if len(Xk) != len(yk):
        raise DataValidationError(f"{len(Xk)} known rows but {len(yk)} known outcomes")
    if p is not None and Xk.shape[1] != p:
        raise DataValidationError(f"the known records have {Xk.shape[1]} columns, the release {p}")
    return Xk, yk


def _intercept(z: np.ndarray, i0: int | None) -> None:
    if i0 is None:
        raise DataValidationError("the closed form reads the target's row off the intercept column; "
                                  "the release has none (intercept_index=None)")
    if not 0 <= i0 < z.shape[0]:
        raise DataValidationError("intercept_index lies outside the design")


def informed_gram(xtx: Any, xty: Any, X_known: Any, y_known: Any, *, intercept_index: int = 0
                  ) -> Reconstruction:
    """The missing record from released ``X'X`` and ``X'y`` (sums over all records, noisy or
    not) and the known records. The design must hold an intercept column (all ones)."""
    A = check_finite_array(xtx, name="released X'X", ndim=2)
    b = check_finite_array(xty, name="released X'y", ndim=1)
    p = b.size
    if A.shape != (p, p):
        raise DataValidationError(f"X'X must be {p} x {p}")
    _intercept(b, intercept_index)
    Xk, yk = _known(X_known, y_known, p)
    R = A - Xk.T @ Xk
    r = b - Xk.T @ yk
    R = 0.5 * (R + R.T)
    z = R[:, intercept_index].copy()
    return Reconstruction(z, float(r[intercept_index]), None,
                          {"intercept_entry": float(R[intercept_index, intercept_index])})


def prior_aware_gram(xtx: Any, xty: Any, X_known: Any, y_known: Any, candidates_X: Any,
                     candidates_y: Any, *, sigma_xtx: float, sigma_xty: float) -> tuple[int, np.ndarray]:
    """Which candidate record is the missing one, given a noisy ``X'X``, ``X'y`` release?

    The maximum-likelihood candidate under the release's Gaussian noise (standard deviations
    ``sigma_xtx`` on each upper-triangle entry of X'X, ``sigma_xty`` on X'y): the prior-aware
    attack of Hayes et al., whose success the ReRo bound limits. Returns the chosen index and
    every candidate's log-likelihood (up to a constant).
    """
    A = check_finite_array(xtx, name="released X'X", ndim=2)
    b = check_finite_array(xty, name="released X'y", ndim=1)
    Xk, yk = _known(X_known, y_known, b.size)
    C = check_finite_array(candidates_X, name="candidates", ndim=2)
    cy = check_finite_array(candidates_y, name="candidate outcomes", ndim=1)
    if C.shape[1] != b.size or len(C) != len(cy):
        raise DataValidationError("candidates must be (k, p) design rows with k outcomes")
    iu = np.triu_indices(b.size)
    R = (A - Xk.T @ Xk)[iu]
    r = b - Xk.T @ yk
    d1 = ((R[None, :] - C[:, iu[0]] * C[:, iu[1]]) ** 2).sum(1)
    d2 = ((r[None, :] - C * cy[:, None]) ** 2).sum(1)
    s1, s2 = float(sigma_xtx), float(sigma_xty)
    if s1 > 0 and s2 > 0:
        ll = -d1 / (2 * s1 * s1) - d2 / (2 * s2 * s2)
    else:  # no noise: the nearest candidate
        ll = -(d1 + d2)
    return int(np.argmax(ll)), ll


def informed_sufficient_stats(release: Any, known: Any, *, intercept_index: int = 0) -> Reconstruction:
    """The missing record from released per-arm :class:`SufficientStats` and the known
    records' statistics (``compute_stats`` of the known rows).

    The arm is the one whose count grew most; ``details['y_squared']`` is the remainder of
    ``sum y^2`` (equal to ``y^2`` on an exact release: a consistency check).
    """
    from privcausal.estimators.sufficient import SufficientStats

    if not isinstance(release, SufficientStats) or not isinstance(known, SufficientStats):
        raise DataValidationError("give the release and the known records' statistics as SufficientStats")
    if release.p != known.p:
        raise DataValidationError("the release and the known statistics have different designs")
    dn = np.asarray(release.n, dtype=np.float64) - known.n
    arm = int(np.argmax(dn))
    R = release.zz[arm] - known.zz[arm]
    _intercept(R, intercept_index)
    z = 0.5 * (R + R.T)[:, intercept_index]
    y = float(release.zy[arm][intercept_index] - known.zy[arm][intercept_index])
    return Reconstruction(z, y, arm, {"count_difference": dn.tolist(),
                                      "y_squared": float(release.yy[arm] - known.yy[arm])})


def informed_ridge(theta: Any, X_known: Any, y_known: Any, *, ridge: Any = 0.0,
                   intercept_index: int = 0) -> Reconstruction:
    """The missing record from OLS/ridge coefficients ``theta = (Z'Z + L)^-1 Z'y``.

    ``ridge`` is L: a scalar (added to every diagonal entry, as
    :func:`privcausal.estimators.adassp.solve_ridge` does) or a vector of per-coordinate
    penalties (0 for an unpenalised intercept).
    """
    th = check_finite_array(theta, name="released coefficients", ndim=1)
    p = th.size
    _intercept(th, intercept_index)
    Xk, yk = _known(X_known, y_known, p)
    A = Xk.T @ Xk
    A[np.diag_indices(p)] += np.broadcast_to(np.asarray(ridge, dtype=np.float64), (p,))
    g = Xk.T @ yk - A @ th
    g0 = g[intercept_index]
    if g0 == 0 or not np.isfinite(1.0 / g0):
        raise DataValidationError("the target's residual is exactly 0: the coefficients are the "
                                  "same with or without the record, which cannot be recovered")
    z = g / g0
    return Reconstruction(z, float(z @ th - g0), None, {"residual": float(g0)})


def informed_logistic(coef: Any, intercept: Any, X_known: Any, y_known: Any, *,
                      l2: float | None = None, C: float | None = None) -> Reconstruction:
    """The missing record from a logistic (binary) or softmax (multiclass) model at its optimum.

    Parameters
    ----------
    coef : (d,) or (1, d) binary, (K, d) softmax; intercept : scalar / (1,) / (K,)
    X_known : (n - 1, d) known features (no intercept column); y_known : class indices
        (0/1 for binary)
    l2 or C : the penalty ``(l2 / 2) ||W||^2`` of the objective ``sum_i loss_i``; scikit-
        learn's ``LogisticRegression(C=C)`` has ``l2 = 1 / C``; neither means no penalty

    Returns
    -------
    Reconstruction with ``x`` (d,) and ``y`` the class index. ``details['grad_b']`` is the
    target's recovered bias gradient, p - e_y.
    """
    if l2 is not None and C is not None:
        raise DataValidationError("give l2 or C, not both")
    lam = (1.0 / float(C)) if C is not None else float(l2 or 0.0)
    W = np.atleast_2d(check_finite_array(coef, name="coefficients", ndim=None))
    b = np.atleast_1d(check_finite_array(intercept, name="intercept", ndim=None)).astype(np.float64)
    if W.shape[0] != b.size:
        raise DataValidationError(f"{W.shape[0]} coefficient rows but {b.size} intercepts")
    Xk, yk = _known(X_known, y_known, W.shape[1])
    labels = yk.astype(np.int64)
    if W.shape[0] == 1:  # binary: p = sigmoid(w'x + b)
        resid = expit(Xk @ W[0] + b[0]) - yk
        gW = -(resid @ Xk + lam * W[0])[None, :]
        gb = -np.array([resid.sum()])
        y = 1 if gb[0] < 0 else 0
    else:
        P = softmax(Xk @ W.T + b, axis=1)
        P[np.arange(len(labels)), labels] -= 1.0
        gW = -(P.T @ Xk + lam * W)
        gb = -P.sum(0)
        y = int(np.argmin(gb))
    den = float(gb @ gb)
    if den == 0:
        raise DataValidationError("the recovered bias gradient is 0: the target's record cannot be read off")
    x = (gb @ gW) / den  # least squares over the rows of grad_W = grad_b x'
    return Reconstruction(x, float(y), None, {"grad_b": gb.tolist()})

"""Private nuisance models for IPW and AIPW: logistic regression by objective perturbation
(diffprivlib's Vector mechanism), and linear regression from noisy sufficient statistics.

Both models see the encoded design only through a data-independent rescaling into the unit
ball: a row ``x`` with ``||x|| <= R`` (``R = data.encoder.row_norm_bound``) becomes
``z = [a, s x]`` with ``a = sqrt(intercept_share)`` (the intercept column) and
``s = sqrt(1 - intercept_share) / R``, so ``||z|| <= 1``. Rows that would exceed ``R`` are
scaled down to it (they cannot occur for encoded data; the guard keeps the claim unconditional).

Why diffprivlib's ``Vector`` mechanism, and not its ``LogisticRegression`` class
-------------------------------------------------------------------------------
diffprivlib 0.6.6's ``LogisticRegression`` cannot be built with scikit-learn 1.8: its
``__init__`` passes ``multi_class``, which scikit-learn 1.8 removed (``TypeError``). We use the
mechanism that class wraps, diffprivlib's public :class:`~diffprivlib.mechanisms.Vector`
(objective perturbation of Chaudhuri, Monteleoni and Sarwate [1]), on the same mean logistic
loss with the same L-BFGS solver. Two things of that class we deliberately do differently:

* for a data norm ``q`` diffprivlib subtracts ``2 log(1 + c q / alpha)`` from epsilon for the
  Jacobian term, but one record's Hessian ``l''(w.x) x x'`` has eigenvalue up to
  ``c ||x||^2 = c q^2``: the term is right only for ``q <= 1``. We therefore feed unit-ball rows
  (``data_sensitivity=1``, declared, never read off the data, so no ``PrivacyLeakWarning``);
* its ``fit_intercept=True`` appends a constant column (row norm ``sqrt(q^2 + 1) > 1``) and
  leaves the intercept unpenalised, so the objective is not strongly convex along it, which the
  proof needs. Here the intercept is an ordinary, penalised column of the unit-ball row.

Add/remove neighbouring for the logistic model
----------------------------------------------
The loss is averaged and the ridge is ``1/(2 C n)``, so (times n) the perturbed objective is
``F(w) = sum_i l(w; z_i) + (Lambda/2)||w||^2 + b'w`` with ``Lambda = 1/C`` (plus the
mechanism's extra ridge when it needs one), independent of n, and ``b`` of density
proportional to ``exp(-eps' ||b|| / 2)``. For ``D' = D + {z}`` the map from output ``w`` to
noise ``b`` moves by one gradient ``grad l(w; z)``, of norm <= 1 (logistic loss,
``||z|| <= 1``), and its Jacobian gains the rank-one term ``l'' z z'`` (eigenvalue <= 1/4), so
the density ratio is at most ``exp(eps'/2) (1 + 1/(4 Lambda))``. ``Vector`` calibrates
``eps'`` so that ``eps' + 2 log(1 + 1/(4 Lambda)) = eps`` (or ``eps' = eps/2`` with
``log(1 + 1/(4 Lambda_total)) = eps/4`` in its extra-ridge branch), both giving an add/remove
loss of ``eps/2``. We therefore calibrate ``Vector`` at ``2 epsilon`` to obtain epsilon-DP
under add/remove. Like every objective-perturbation release, the proof assumes the exact
minimiser; we run L-BFGS to a tight tolerance (``tol``), and the receipts say so.

References
----------
.. [1] Chaudhuri, Monteleoni, Sarwate, "Differentially private empirical risk minimization",
   JMLR 12, 2011.
.. [2] Holohan et al., "Diffprivlib: the IBM differential privacy library", 2019.
.. [3] Kairouz, Oh, Viswanath, "The composition theorem for differential privacy", ICML 2015
   (every epsilon-DP mechanism is dominated by binary randomised response).
.. [4] Wang, "Revisiting differentially private linear regression: optimal and adaptive
   prediction & estimation in unbounded domain", UAI 2018 (sufficient-statistic perturbation).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import fmin_l_bfgs_b
from scipy.special import expit

from privcausal.exceptions import DataValidationError, PrivacyParameterError
from privcausal.privacy.events import PrivacyEvent
from privcausal.privacy.mechanisms import GaussianMechanism
from privcausal.privacy.random import independent_streams
from privcausal.validation import check_delta, check_epsilon

__all__ = [
    "PrivateLogisticModel",
    "PrivateLinearModel",
    "pure_dp_event",
    "unit_ball_design",
    "auto_C",
    "OBJECTIVE_PERTURBATION",
]

OBJECTIVE_PERTURBATION = "objective perturbation (diffprivlib Vector mechanism)"
#: Largest C (weakest ridge) used; also the non-private twin's C, so the twin stays defined
#: when classes are separable.
C_MAX = 1e4


def pure_dp_event(label: str, epsilon: float, mechanism: str) -> PrivacyEvent:
    """The event of a release known only to be epsilon-DP (no finer privacy profile).

    dp_accounting has no event for "some epsilon-DP mechanism". Every epsilon-DP mechanism is,
    on each pair of neighbours, a post-processing of binary randomised response with flip
    probability ``1/(1 + e^eps)`` [3], so that response's privacy-loss distribution is the
    exact worst case. The discrete Laplace mechanism with parameter ``eps`` and sensitivity 1
    has exactly that distribution (loss ``+eps`` with probability ``e^eps/(1 + e^eps)``,
    ``-eps`` otherwise), and dp_accounting's PLD accountant accepts it under add/remove
    neighbouring (``RandomizedResponseDpEvent`` is the same pair but is refused there).
    ``LaplaceDpEvent(1/eps)`` would be unsound here: the continuous Laplace mechanism's privacy
    profile lies strictly below the worst case (``delta(0) = 1 - e^{-eps/2} < tanh(eps/2)``),
    so composing it would undercount the loss.
    """
    eps = check_epsilon(epsilon)
    if math.isinf(eps):
        return PrivacyEvent.non_private(label)
    from dp_accounting.dp_event import DiscreteLaplaceDpEvent

    return PrivacyEvent.from_dp_event(
        label, mechanism, DiscreteLaplaceDpEvent(noise_parameter=eps, sensitivity=1), eps, 0.0
    )


def _check_share(intercept_share: float) -> float:
    a = float(intercept_share)
    if not 0.0 < a < 1.0:
        raise PrivacyParameterError("intercept_share must lie in (0, 1)")
    return a


def unit_ball_design(X: np.ndarray, row_norm_bound: float, intercept_share: float = 0.5) -> np.ndarray:
    """``[sqrt(a), sqrt(1 - a) x / R]`` for each row, every row in the unit ball."""
    a = _check_share(intercept_share)
    R = float(row_norm_bound)
    if not (math.isfinite(R) and R > 0):
        raise PrivacyParameterError("row_norm_bound must be finite and > 0 (it comes from the Domain)")
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1)
    shrink = np.minimum(1.0, R / np.maximum(norms, 1e-300))
    Z = np.empty((X.shape[0], X.shape[1] + 1))
    Z[:, 0] = math.sqrt(a)
    Z[:, 1:] = X * (shrink * math.sqrt(1.0 - a) / R)[:, None]
    return Z


def auto_C(epsilon: float) -> float:
    """Data-independent ridge: a quarter of the mechanism's budget pays the Jacobian term.

    The mechanism runs at ``eps_v = 2 epsilon`` (module docstring) and spends
    ``2 log(1 + C/4)`` of it on the Jacobian; ``C = 4 (e^{eps_v/8} - 1)`` makes that a quarter,
    leaving ``3/4 eps_v`` for the noise. Smaller C (a stronger ridge) shrinks both the noise's
    and the data's pull on the coefficients; this split worked best of those we tried on the
    simulated registry. Capped at :data:`C_MAX` (also the non-private twin's C).
    """
    eps = check_epsilon(epsilon)
    if eps / 4.0 >= math.log1p(C_MAX / 4.0):
        return C_MAX
    return 4.0 * math.expm1(eps / 4.0)


def _mean_logistic_objective(w: np.ndarray, Z: np.ndarray, y: np.ndarray, l2: float) -> tuple[float, np.ndarray]:
    """Mean logistic loss plus ``(l2/2)||w||^2`` and its gradient (scikit-learn's form, which
    diffprivlib's ``Vector`` mechanism perturbs by ``b'w/n``)."""
    raw = Z @ w
    loss = float(np.mean(np.logaddexp(0.0, raw) - y * raw)) + 0.5 * l2 * float(w @ w)
    grad = Z.T @ (expit(raw) - y) / len(y) + l2 * w
    return loss, grad


def _seed_for(rng: np.random.Generator | None) -> int | None:
    return None if rng is None else int(rng.integers(0, 2**31 - 1))


class PrivateLogisticModel:
    """epsilon-DP logistic regression (add/remove one record) on unit-ball rows.

    Serves as the propensity model (labels = treatment) and as the outcome model of a
    binary outcome (labels = outcome, one model per arm).

    Parameters
    ----------
    epsilon : float
        Privacy budget of this fit; ``inf`` fits scikit-learn's logistic regression on the
        same design with the same ridge (the non-private twin).
    C : float or "auto"
        Inverse ridge strength on the unit-ball design; "auto" is :func:`auto_C`.
    intercept_share : float
        Share of the unit ball given to the intercept column (see :func:`unit_ball_design`).
    tol, max_iter : float, int
        L-BFGS stopping rule; tight, because the guarantee assumes the exact minimiser.
    random_state : None or numpy Generator
        None draws the objective's noise from the OS CSPRNG (diffprivlib's secure sampler);
        a Generator seeds it (experiments only).
    """

    def __init__(
        self,
        *,
        epsilon: float = 1.0,
        C: float | str = "auto",
        intercept_share: float = 0.5,
        tol: float = 1e-8,
        max_iter: int = 1000,
        random_state: np.random.Generator | None = None,
    ) -> None:
        self.epsilon = epsilon
        self.C = C
        self.intercept_share = intercept_share
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: np.ndarray, labels: np.ndarray, *, row_norm_bound: float, label: str = "logistic model") -> "PrivateLogisticModel":
        eps = check_epsilon(self.epsilon)
        labels = np.asarray(labels)
        if not np.all((labels == 0) | (labels == 1)):
            raise DataValidationError("the labels of a logistic model must be 0/1")
        if labels.min() == labels.max():
            raise DataValidationError(
                f"{label}: every record in this part of the data has the same label, so a logistic "
                "model cannot be fitted; use fewer folds or more data"
            )
        C = auto_C(eps) if self.C == "auto" else float(self.C)
        if not (math.isfinite(C) and C > 0):
            raise PrivacyParameterError("C must be a positive number or 'auto'")
        self.R_ = float(row_norm_bound)
        Z = unit_ball_design(X, self.R_, self.intercept_share)
        y = labels.astype(np.float64)
        n, p = Z.shape
        objective = _mean_logistic_objective
        if math.isfinite(eps):
            from diffprivlib.mechanisms import Vector

            objective = Vector(
                epsilon=2.0 * eps,  # add/remove epsilon = diffprivlib's epsilon / 2 (module docstring)
                function_sensitivity=0.25,
                data_sensitivity=1.0,  # unit-ball rows: declared, never read off the data
                dimension=p,
                alpha=1.0 / C,
                n=n,
                random_state=_seed_for(self.random_state),
            ).randomise(_mean_logistic_objective)
        w, _, info = fmin_l_bfgs_b(
            objective, np.zeros(p), args=(Z, y, 1.0 / (C * n)), pgtol=self.tol, factr=10.0,
            maxiter=self.max_iter,
        )
        self.converged_ = info["warnflag"] == 0
        self.coef_ = np.asarray(w, dtype=np.float64)
        self.C_ = C
        self.event_ = pure_dp_event(label, eps, OBJECTIVE_PERTURBATION)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return unit_ball_design(X, self.R_, self.intercept_share) @ self.coef_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(label = 1 | x), a vector."""
        return expit(self.decision_function(X))


class PrivateLinearModel:
    """(epsilon, delta)-DP ridge regression from noisy sufficient statistics (add/remove).

    Releases ``Z'Z`` (upper triangle) and ``Z'u`` with one analytic-Gaussian draw, where ``z``
    is the unit-ball row and ``u = (y - centre) / half_width`` in [-1, 1] by the declared
    outcome bounds. One record moves the upper triangle by at most ``||z z'||_F <= 1`` and
    ``Z'u`` by ``||z u|| <= 1``: L2 sensitivity ``sqrt(2)``. The ridge that keeps the noisy
    Gram matrix positive definite, ``2 sigma sqrt(p)`` (the noise matrix's spectral norm is
    about ``2 sigma sqrt(p)``), is data-independent. Predictions are clipped to the outcome
    bounds.
    """

    def __init__(
        self,
        *,
        epsilon: float = 1.0,
        delta: float = 1e-6,
        intercept_share: float = 0.5,
        random_state: Any = None,
    ) -> None:
        self.epsilon = epsilon
        self.delta = delta
        self.intercept_share = intercept_share
        self.random_state = random_state

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        row_norm_bound: float,
        outcome_bounds: tuple[float, float],
        label: str = "linear model",
    ) -> "PrivateLinearModel":
        eps = check_epsilon(self.epsilon)
        delta = check_delta(self.delta)
        lo, hi = (float(v) for v in outcome_bounds)
        self.R_, self.bounds_ = float(row_norm_bound), (lo, hi)
        Z = unit_ball_design(X, self.R_, self.intercept_share)
        u = (np.clip(np.asarray(y, dtype=np.float64), lo, hi) - 0.5 * (lo + hi)) / (0.5 * (hi - lo))
        mech = GaussianMechanism(eps, delta if math.isfinite(eps) else 0.0, math.sqrt(2.0))
        s_gram, s_cross = independent_streams(self.random_state, 2)  # never one draw twice
        G = mech.randomise_symmetric(Z.T @ Z, s_gram)
        g = np.asarray(mech.randomise(Z.T @ u, s_cross))
        p = Z.shape[1]
        ridge = 2.0 * mech.scale * math.sqrt(p) + 1e-8
        self.coef_ = np.linalg.solve(G + ridge * np.eye(p), g)
        self.ridge_ = ridge
        self.event_ = mech.event(label)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        lo, hi = self.bounds_
        z = unit_ball_design(X, self.R_, self.intercept_share) @ self.coef_
        return np.clip(0.5 * (lo + hi) + 0.5 * (hi - lo) * z, lo, hi)


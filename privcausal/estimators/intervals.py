"""DP-aware confidence intervals by parametric bootstrap.

A private release carries two kinds of error: sampling error and privacy noise. The parametric
bootstrap of Ferrando, Wang and Sheldon covers both:

1. fit a data model to the *noisy* statistics (post-processing: no extra privacy cost);
2. B times, draw a synthetic data set's exact sufficient statistics from the model, run the
   *whole* release on them (the same mechanisms, the same budget split, fresh noise) and
   record ``release* - model truth``;
3. the estimator's base class turns these draws into the basic bootstrap interval
   ``[ate - q(1 - alpha/2), ate - q(alpha/2)]``.

Only exact sufficient statistics are simulated, never records, so a replicate costs what the
release costs. The bootstrap's noise is simulation noise, drawn from numpy, never released.

Data models here:

* :class:`OutcomeModel`: per arm, a size, a mean and a variance of the centred outcome
  (Bernoulli sums for a binary outcome, normal sums otherwise);
* :class:`LinearArmModel`: per arm, covariates with a mean and covariance (their Gram matrix
  drawn from a Wishart law by Bartlett's decomposition) and a linear outcome with residual
  variance.

A variance read off a noisy sum of squares is replaced by an upper confidence bound
(``VARIANCE_UCB_Z`` noise standard deviations above it), clipped to the largest variance the
declared domain allows (Bhatia-Davis: ``(B - m)(B + m)`` for values in ``[-B, B]`` with mean
``m``), so that a noisy variance errs on the wide side.

References
----------
.. [1] Ferrando, Wang, Sheldon, "Parametric bootstrap for differentially private confidence
   intervals", AISTATS 2022.
.. [2] Bartlett, "On the theory of statistical regression", Proc. R. Soc. Edinburgh 53, 1933
   (the Wishart decomposition).
.. [3] Bhatia and Davis, "A better bound on the variance", Amer. Math. Monthly 107(4), 2000.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from threadpoolctl import threadpool_limits

from privcausal.exceptions import DataTypeError, PrivacyParameterError

__all__ = [
    "VARIANCE_UCB_Z",
    "check_n_bootstrap",
    "parametric_bootstrap",
    "variance_upper",
    "bartlett_wishart",
    "psd_project",
    "psd_root",
    "OutcomeModel",
    "LinearArmModel",
]

#: Noise standard deviations added to a noisy variance before it enters a data model.
VARIANCE_UCB_Z = 2.0


def check_n_bootstrap(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise DataTypeError(f"n_bootstrap must be an integer, got {type(value).__name__}")
    if int(value) < 0:
        raise PrivacyParameterError("n_bootstrap must be >= 0")
    return int(value)


def parametric_bootstrap(simulate: Callable[..., Any], truth: float, n_bootstrap: int,
                         rng: np.random.Generator, *, vectorised: bool = False) -> np.ndarray:
    """Draws of ``release* - truth``.

    ``simulate(size, rng)`` returns ``size`` replicate releases when ``vectorised``, otherwise
    ``simulate(rng)`` returns one.
    """
    # Many small matrix operations: a multithreaded BLAS only adds contention here.
    with threadpool_limits(limits=1, user_api="blas"):
        if vectorised:
            draws = np.asarray(simulate(n_bootstrap, rng), dtype=np.float64).reshape(n_bootstrap)
        else:
            draws = np.fromiter((simulate(rng) for _ in range(n_bootstrap)), float, count=n_bootstrap)
    return draws - float(truth)


def variance_upper(var_hat: np.ndarray, noise_sd: np.ndarray, mean: np.ndarray, bound: float) -> np.ndarray:
    """``var_hat + VARIANCE_UCB_Z * noise_sd`` clipped to ``[0, (B - m)(B + m)]``."""
    bd = np.maximum((bound - np.asarray(mean)) * (bound + np.asarray(mean)), 0.0)
    return np.clip(np.asarray(var_hat) + VARIANCE_UCB_Z * np.asarray(noise_sd), 0.0, bd)


def bartlett_wishart(df: float, root: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A draw ``W ~ Wishart(df, root root')`` as ``(W, F)`` with ``W = F F'`` (F = root A).

    Bartlett: ``A`` lower triangular with ``A_ii ~ sqrt(chi2(df - i))`` and standard normals
    below the diagonal; ``root`` is any square root of the scale matrix (PSD allowed).
    """
    p = root.shape[0]
    a = np.tril(rng.standard_normal((p, p)), -1)
    a[np.diag_indices(p)] = np.sqrt(rng.chisquare(np.maximum(df - np.arange(p), 1.0)))
    f = root @ a
    return f @ f.T, f


def psd_project(m: np.ndarray) -> np.ndarray:
    """The nearest PSD matrix (in Frobenius norm): negative eigenvalues set to 0."""
    w, v = np.linalg.eigh(0.5 * (m + m.T))
    return (v * np.maximum(w, 0.0)) @ v.T


def psd_root(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(projection of m onto the PSD cone, its symmetric square root)``."""
    w, v = np.linalg.eigh(0.5 * (m + m.T))
    w = np.maximum(w, 0.0)
    return (v * w) @ v.T, (v * np.sqrt(w)) @ v.T


@dataclass(frozen=True)
class OutcomeModel:
    """Per-arm outcome model fitted to noisy counts, sums and (optionally) sums of squares.

    ``n``: arm sizes (rounded noisy counts, at least 2); ``mean``, ``var``: of the centred
    outcome ``u``; ``binary``: ``u`` takes the two values ``-B`` and ``B``.
    """

    n: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    bound: float
    binary: bool

    @classmethod
    def fit(cls, n_noisy: np.ndarray, s_noisy: np.ndarray, q_noisy: np.ndarray | None, plan: Any, *,
            binary: bool) -> "OutcomeModel":
        b = plan.bound
        n_hat = np.maximum(np.asarray(n_noisy, dtype=np.float64), 1.0)
        m = np.clip(np.asarray(s_noisy) / n_hat, -b, b)
        if binary or q_noisy is None:
            var = np.maximum((b - m) * (b + m), 0.0)  # exact for a binary outcome, widest otherwise
        else:
            sd = 0.0
            if math.isfinite(plan.eps_sq):
                sd = math.sqrt(2.0) * (b * b / 2) / plan.eps_sq / n_hat
                if math.isfinite(plan.eps_count):  # the noisy count used in the shift
                    sd = np.hypot(sd, math.sqrt(2.0) / plan.eps_count * (b * b / 2) / n_hat)
            var = variance_upper(np.asarray(q_noisy) / n_hat - m * m, sd, m, b)
        return cls(np.maximum(np.rint(n_hat), 2.0), m, var, b, bool(binary))

    @property
    def ate(self) -> float:
        return float(self.mean[1] - self.mean[0])

    def sample(self, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact ``(n, sum u, sum u^2)`` of ``size`` synthetic data sets, each of shape (size, 2)."""
        n = np.broadcast_to(self.n, (size, 2)).astype(np.float64)
        if self.binary:
            p = np.clip((self.mean + self.bound) / (2 * self.bound), 0.0, 1.0)
            k = rng.binomial(n.astype(np.int64), p)
            su = 2 * self.bound * k - self.bound * n
            return n, su, n * self.bound**2
        su = n * self.mean + np.sqrt(n * self.var) * rng.standard_normal((size, 2))
        return n, su, n * (self.var + self.mean**2)


@dataclass(frozen=True)
class LinearArmModel:
    """One arm of ``n`` records: Gaussian covariates with mean ``m`` and covariance ``cov``, and
    ``u = alpha + beta'(x - m) + e`` with ``Var(e) = s2`` (``u2 = E[u^2]``).

    Only the sampling law of the sufficient statistics matters: the centred Gram matrix is
    ``Wishart(n - 1, cov)``, the mean ``N(m, cov/n)``, and given the covariates the centred
    cross-product is ``C beta + N(0, s2 C)``.
    """

    n: float
    m: np.ndarray
    cov: np.ndarray
    alpha: float
    beta: np.ndarray
    s2: float
    u2: float  # E[u^2], for the sum of squares

    def sample(self, rng: np.random.Generator, root: np.ndarray | None = None) -> dict[str, Any]:
        """Exact sufficient statistics of one synthetic arm (keys n, su, suu, sx, S, Su)."""
        if root is None:
            root = psd_root(self.cov)[1]
        p = len(self.m)
        n = self.n
        c, f = bartlett_wishart(max(n - 1.0, float(p)), root, rng)
        xbar = self.m + root @ rng.standard_normal(p) / math.sqrt(n)
        s = math.sqrt(max(self.s2, 0.0))
        ubar = self.alpha + float(self.beta @ (xbar - self.m)) + s * rng.standard_normal() / math.sqrt(n)
        cu = c @ self.beta + s * (f @ rng.standard_normal(p))
        return {
            "n": n, "su": n * ubar, "suu": n * self.u2, "sx": n * xbar,
            "S": c + n * np.outer(xbar, xbar), "Su": cu + n * xbar * ubar,
        }

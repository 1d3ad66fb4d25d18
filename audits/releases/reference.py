"""Correct reference mechanisms with their exact epsilon on a worst-case pair: the auditor's own
calibration set.

An audit route is sound when, run on a *correct* mechanism, its certified bound exceeds the
mechanism's TRUE epsilon with probability at most alpha. These mechanisms make that checkable:
each draws many outputs at once (``batch``), names its neighbouring pair (``pair()``) and knows
the exact epsilon of that pair at a delta (``true_epsilon(delta)``), from a closed form or from
the exact output distribution. Used by the soundness grid (``tests/test_audit_soundness.py``,
``experiments/audit_soundness.py``).

* :class:`LaplaceRef`: value + Laplace(1/eps), sensitivity 1.
* :class:`GaussianRef`: the analytic Gaussian mechanism (Balle and Wang 2018) at (eps, delta).
* :class:`RandomizedResponseRef`: one bit kept with probability e^eps / (1 + e^eps).
* :class:`GeometricRef`: a count plus two-sided geometric noise (discrete Laplace), p = e^-eps.
* :class:`NoisyMaxRef`: report-noisy-max of two counts with Laplace(1/eps) noise.
* :class:`ExponentialRef`: the exponential mechanism over three candidates, utility sensitivity 1.
* :class:`SubsampledGaussianRef`: a Poisson-subsampled (rate q) sum plus N(0, sigma^2); its
  epsilon at delta from dp-accounting's PLD accountant (a tight numerical bound).

References
----------
.. [1] Dwork, Roth, "The algorithmic foundations of differential privacy", 2014 (Laplace,
   report-noisy-max, exponential mechanism, randomized response).
.. [2] Balle, Wang, "Improving the Gaussian mechanism for differential privacy", ICML 2018.
.. [3] Ghosh, Roughgarden, Sundararajan, "Universally utility-maximizing privacy mechanisms",
   STOC 2009 (the geometric mechanism).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LaplaceRef", "GaussianRef", "RandomizedResponseRef", "GeometricRef", "NoisyMaxRef",
           "ExponentialRef", "SubsampledGaussianRef", "reference_mechanisms", "pure_pair_epsilon"]


def _rng(seed: Any) -> np.random.Generator:
    return np.random.default_rng(seed)


def pure_pair_epsilon(p: np.ndarray, q: np.ndarray, delta: float = 0.0) -> float:
    """Exact epsilon at ``delta`` between two distributions on a finite set: the smallest eps with
    sum (p - e^eps q)_+ <= delta and the same with p and q swapped."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)

    def need(a: np.ndarray, b: np.ndarray) -> float:
        if np.sum(np.clip(a - b, 0, None)) <= delta:
            return 0.0
        if np.sum(a[b <= 0]) > delta:
            return math.inf
        both = (a > 0) & (b > 0)
        lo, hi = 0.0, float(np.max(np.log(a[both]) - np.log(b[both]))) + 1.0
        for _ in range(100):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if np.sum(np.clip(a - math.exp(mid) * b, 0, None)) > delta else (lo, mid)
        return hi

    return max(need(p, q), need(q, p))


@dataclass(frozen=True)
class LaplaceRef:
    epsilon: float
    name: str = "laplace"
    delta: float = 0.0

    def __call__(self, data: float, random_state: Any) -> float:
        return float(data + _rng(random_state).laplace(0.0, 1.0 / self.epsilon))

    def batch(self, data: float, n: int, random_state: Any) -> np.ndarray:
        return data + _rng(random_state).laplace(0.0, 1.0 / self.epsilon, n)

    def pair(self) -> tuple[float, float]:
        return 0.0, 1.0

    def true_epsilon(self, delta: float = 0.0) -> float:
        if delta <= 0:
            return self.epsilon
        # Laplace shift 1/b: delta(eps) = 1 - e^{(eps - e0)/2} for eps < e0 (both tails)
        return max(0.0, self.epsilon + 2.0 * math.log1p(-delta))


@dataclass(frozen=True)
class GaussianRef:
    epsilon: float
    delta: float = 1e-5
    name: str = "gaussian"

    @property
    def sigma(self) -> float:
        from privcausal.privacy.mechanisms import analytic_gaussian_sigma as gaussian_sigma

        return float(gaussian_sigma(self.epsilon, self.delta, 1.0))

    def __call__(self, data: float, random_state: Any) -> float:
        return float(data + _rng(random_state).normal(0.0, self.sigma))

    def batch(self, data: float, n: int, random_state: Any) -> np.ndarray:
        return data + _rng(random_state).normal(0.0, self.sigma, n)

    def pair(self) -> tuple[float, float]:
        return 0.0, 1.0

    def true_epsilon(self, delta: float | None = None) -> float:
        from audits.bounds.multi_run import gdp_epsilon

        return gdp_epsilon(1.0 / self.sigma, self.delta if delta is None else delta)


@dataclass(frozen=True)
class RandomizedResponseRef:
    epsilon: float
    name: str = "randomized-response"
    delta: float = 0.0

    def __call__(self, data: int, random_state: Any) -> float:
        return float(self.batch(data, 1, random_state)[0])

    def batch(self, data: int, n: int, random_state: Any) -> np.ndarray:
        keep = _rng(random_state).random(n) < math.exp(self.epsilon) / (1 + math.exp(self.epsilon))
        return np.where(keep, float(data), 1.0 - float(data))

    def pair(self) -> tuple[int, int]:
        return 0, 1

    def true_epsilon(self, delta: float = 0.0) -> float:
        p = math.exp(self.epsilon) / (1 + math.exp(self.epsilon))
        return pure_pair_epsilon(np.array([p, 1 - p]), np.array([1 - p, p]), delta)


@dataclass(frozen=True)
class GeometricRef:
    epsilon: float
    name: str = "geometric"
    delta: float = 0.0

    def batch(self, data: int, n: int, random_state: Any) -> np.ndarray:
        rng = _rng(random_state)
        p = 1.0 - math.exp(-self.epsilon)
        return float(data) + rng.geometric(p, n) - rng.geometric(p, n)

    def __call__(self, data: int, random_state: Any) -> float:
        return float(self.batch(data, 1, random_state)[0])

    def pair(self) -> tuple[int, int]:
        return 0, 1

    def true_epsilon(self, delta: float = 0.0) -> float:
        if delta <= 0:
            return self.epsilon
        a = math.exp(-self.epsilon)
        k = np.arange(-400, 401)
        pmf = (1 - a) / (1 + a) * a ** np.abs(k)
        return pure_pair_epsilon(pmf[1:], pmf[:-1], delta)


@dataclass(frozen=True)
class NoisyMaxRef:
    """argmax of counts (c1, c2) + Laplace(1/eps) each; the pair: (0, 0) and (1, 0)."""

    epsilon: float
    name: str = "report-noisy-max"
    delta: float = 0.0

    def batch(self, data: tuple[int, int], n: int, random_state: Any) -> np.ndarray:
        noise = _rng(random_state).laplace(0.0, 1.0 / self.epsilon, (n, 2))
        return np.argmax(np.asarray(data, dtype=float) + noise, axis=1).astype(float)

    def __call__(self, data: tuple[int, int], random_state: Any) -> float:
        return float(self.batch(data, 1, random_state)[0])

    def pair(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array([0, 0]), np.array([1, 0])

    def true_epsilon(self, delta: float = 0.0) -> float:
        b = 1.0 / self.epsilon
        # Z = L1 - L2 for iid Laplace(b): P(Z <= -t) = (1/2)(1 + t/(2b)) e^{-t/b}, t >= 0
        p_first_d1 = 1.0 - 0.5 * (1.0 + 1.0 / (2 * b)) * math.exp(-1.0 / b)
        p0 = np.array([0.5, 0.5])  # index 0 wins, index 1 wins, on (0, 0)
        p1 = np.array([p_first_d1, 1.0 - p_first_d1])
        return pure_pair_epsilon(p0, p1, delta)


@dataclass(frozen=True)
class ExponentialRef:
    """The exponential mechanism over 3 candidates, P(r) ~ exp(eps u(r) / 2), sensitivity 1."""

    epsilon: float
    name: str = "exponential"
    delta: float = 0.0

    def _probs(self, u: Any) -> np.ndarray:
        w = np.exp(self.epsilon * np.asarray(u, dtype=float) / 2.0)
        return w / w.sum()

    def batch(self, data: tuple[int, int, int], n: int, random_state: Any) -> np.ndarray:
        return _rng(random_state).choice(3, size=n, p=self._probs(data)).astype(float)

    def __call__(self, data: tuple[int, int, int], random_state: Any) -> float:
        return float(self.batch(data, 1, random_state)[0])

    def pair(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array([0, 0, 0]), np.array([1, 0, 0])

    def true_epsilon(self, delta: float = 0.0) -> float:
        return pure_pair_epsilon(self._probs((0, 0, 0)), self._probs((1, 0, 0)), delta)


@dataclass(frozen=True)
class SubsampledGaussianRef:
    """Sum of the records kept by Poisson sampling at rate q, plus N(0, sigma^2); the pair: no
    record against one record of value 1 (add/remove)."""

    sigma: float
    q: float = 0.5
    delta: float = 1e-5
    name: str = "subsampled-gaussian"

    def batch(self, data: int, n: int, random_state: Any) -> np.ndarray:
        rng = _rng(random_state)
        kept = rng.random(n) < self.q if data else np.zeros(n, dtype=bool)
        return kept.astype(float) + rng.normal(0.0, self.sigma, n)

    def __call__(self, data: int, random_state: Any) -> float:
        return float(self.batch(data, 1, random_state)[0])

    def pair(self) -> tuple[int, int]:
        return 0, 1

    @property
    def epsilon(self) -> float:
        return self.true_epsilon(self.delta)

    def true_epsilon(self, delta: float | None = None) -> float:
        import dp_accounting
        from dp_accounting.pld import pld_privacy_accountant

        acc = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-4)
        acc.compose(dp_accounting.PoissonSampledDpEvent(self.q, dp_accounting.GaussianDpEvent(self.sigma)))
        return float(acc.get_epsilon(self.delta if delta is None else delta))


def reference_mechanisms(epsilon: float, delta: float = 1e-5) -> list[Any]:
    """One of each reference mechanism at ``epsilon`` (the subsampled Gaussian at q = 1/2 with
    the noise that gives about ``epsilon`` at ``delta``; Gaussian ones at ``delta``)."""
    from privcausal.privacy.mechanisms import analytic_gaussian_sigma as gaussian_sigma

    sg_sigma = float(gaussian_sigma(epsilon, delta, 1.0)) * 0.6
    return [LaplaceRef(epsilon), GaussianRef(epsilon, delta), RandomizedResponseRef(epsilon),
            GeometricRef(epsilon), NoisyMaxRef(epsilon), ExponentialRef(epsilon),
            SubsampledGaussianRef(sg_sigma, 0.5, delta)]

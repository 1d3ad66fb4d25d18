"""Laplace and Gaussian mechanisms calibrated by diffprivlib, with secure noise by default.

The calibration is diffprivlib's: the Laplace scale ``sensitivity / epsilon`` and the analytic
Gaussian mechanism's sigma for (epsilon, delta). ``epsilon = inf`` is the non-private twin: no
noise at all (diffprivlib's analytic calibration overflows at very large epsilon, so a huge
finite epsilon is not a substitute). Each mechanism knows the dp-accounting event it emits.

References
----------
.. [1] Dwork, McSherry, Nissim, Smith, "Calibrating noise to sensitivity in private data
   analysis", TCC 2006.
.. [2] Balle and Wang, "Improving the Gaussian mechanism for differential privacy: analytical
   calibration and optimal denoising", ICML 2018.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from privcausal.exceptions import PrivacyParameterError
from privcausal.privacy.events import PrivacyEvent
from privcausal.privacy.random import noise_source
from privcausal.validation import check_delta, check_epsilon

__all__ = ["LaplaceMechanism", "GaussianMechanism", "gaussian_sigma"]


def _check_sensitivity(sensitivity: float) -> float:
    s = float(sensitivity)
    if not math.isfinite(s) or s < 0:
        raise PrivacyParameterError("sensitivity must be finite and >= 0 (it comes from the Domain)")
    return s


def gaussian_sigma(epsilon: float, delta: float, sensitivity: float = 1.0) -> float:
    """Analytic-Gaussian noise standard deviation for (epsilon, delta) and L2 sensitivity."""
    eps = check_epsilon(epsilon)
    d = check_delta(delta)
    s = _check_sensitivity(sensitivity)
    if math.isinf(eps) or s == 0:
        return 0.0
    if d == 0:
        raise PrivacyParameterError("the Gaussian mechanism needs delta > 0")
    return _analytic_sigma(eps, d, s)


@functools.lru_cache(maxsize=1024)
def _analytic_sigma(epsilon: float, delta: float, sensitivity: float) -> float:
    """diffprivlib's calibration (a numerical search, ~1 ms), memoised: it is deterministic."""
    from diffprivlib.mechanisms import GaussianAnalytic

    return float(GaussianAnalytic(epsilon=epsilon, delta=delta, sensitivity=sensitivity)._scale)


@dataclass(frozen=True)
class LaplaceMechanism:
    """Laplace mechanism for a value or vector with L1 sensitivity ``sensitivity``; pure epsilon-DP."""

    epsilon: float
    sensitivity: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "epsilon", check_epsilon(self.epsilon))
        object.__setattr__(self, "sensitivity", _check_sensitivity(self.sensitivity))

    @property
    def scale(self) -> float:
        if math.isinf(self.epsilon):
            return 0.0
        return self.sensitivity / self.epsilon

    @property
    def std(self) -> float:
        return math.sqrt(2.0) * self.scale

    def event(self, label: str) -> PrivacyEvent:
        return PrivacyEvent.laplace(label, self.epsilon, self.sensitivity, self.scale)

    def randomise(self, value: Any, random_state: Any = None) -> Any:
        """Return ``value`` plus Laplace noise (same shape)."""
        arr = np.asarray(value, dtype=np.float64)
        if self.scale == 0:
            return arr.copy() if arr.ndim else float(arr)
        noise = noise_source(random_state).standard_laplace(arr.shape if arr.ndim else None)
        out = arr + self.scale * np.asarray(noise)
        return out if arr.ndim else float(out)


@dataclass(frozen=True)
class GaussianMechanism:
    """Analytic Gaussian mechanism with L2 sensitivity ``sensitivity``; (epsilon, delta)-DP."""

    epsilon: float
    delta: float
    sensitivity: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "epsilon", check_epsilon(self.epsilon))
        object.__setattr__(self, "delta", check_delta(self.delta))
        object.__setattr__(self, "sensitivity", _check_sensitivity(self.sensitivity))
        if self.delta == 0 and not math.isinf(self.epsilon):
            raise PrivacyParameterError("the Gaussian mechanism needs delta > 0")
        object.__setattr__(self, "_sigma", gaussian_sigma(self.epsilon, self.delta, self.sensitivity))

    @property
    def scale(self) -> float:
        return self._sigma  # type: ignore[attr-defined]

    @property
    def std(self) -> float:
        return self.scale

    def event(self, label: str) -> PrivacyEvent:
        return PrivacyEvent.gaussian(label, self.epsilon, self.delta, self.sensitivity, self.scale)

    def randomise(self, value: Any, random_state: Any = None) -> Any:
        """Return ``value`` plus N(0, sigma^2) noise (same shape)."""
        arr = np.asarray(value, dtype=np.float64)
        if self.scale == 0:
            return arr.copy() if arr.ndim else float(arr)
        noise = noise_source(random_state).standard_normal(arr.shape if arr.ndim else None)
        out = arr + self.scale * np.asarray(noise)
        return out if arr.ndim else float(out)

    def randomise_symmetric(self, matrix: Any, random_state: Any = None) -> np.ndarray:
        """Add a symmetric Gaussian matrix (upper triangle drawn, mirrored), as AdaSSP does.

        The L2 sensitivity applies to the upper triangle with the diagonal, the part that is
        actually released; the mirror is post-processing.
        """
        m = np.asarray(matrix, dtype=np.float64)
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise PrivacyParameterError("randomise_symmetric needs a square matrix")
        if self.scale == 0:
            return m.copy()
        iu = np.triu_indices(m.shape[0])
        noise = np.zeros_like(m)
        noise[iu] = self.scale * np.asarray(noise_source(random_state).standard_normal(len(iu[0])))
        noise = noise + np.triu(noise, 1).T
        return m + noise

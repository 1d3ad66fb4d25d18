"""Laplace and Gaussian mechanisms, released on a lattice with exact integer noise.

Both mechanisms release through :mod:`privcausal.privacy.lattice` (round to ``2^k``, add exact
discrete Laplace or discrete Gaussian noise), so no output carries floating-point artefacts of
the value. The Laplace scale is ``sensitivity / epsilon`` (pure epsilon-DP). The Gaussian is
calibrated in zCDP: sigma is the smallest with ``rho = sensitivity^2 / (2 sigma^2)`` meeting
(epsilon, delta) under dp-accounting's zCDP-to-(epsilon, delta) conversion, which is what the
discrete Gaussian is proved to satisfy; it is about 7 % above the continuous analytic-Gaussian
sigma (measured in ``experiments/safe_noise_cost.py``). ``epsilon = inf`` is the non-private
twin: no noise at all. Each mechanism knows the dp-accounting event it emits.

References
----------
.. [1] Dwork, McSherry, Nissim, Smith, "Calibrating noise to sensitivity in private data
   analysis", TCC 2006.
.. [2] Balle and Wang, "Improving the Gaussian mechanism for differential privacy: analytical
   calibration and optimal denoising", ICML 2018 (:func:`analytic_gaussian_sigma`, used only by
   the audits' continuous reference mechanisms).
.. [3] Canonne, Kamath, Steinke, "The discrete Gaussian for differential privacy", NeurIPS 2020.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from privcausal.exceptions import PrivacyParameterError
from privcausal.privacy.events import PrivacyEvent
from privcausal.privacy.lattice import LatticeGaussian, LatticeLaplace
from privcausal.privacy.random import noise_source
from privcausal.validation import check_delta, check_epsilon

__all__ = ["LaplaceMechanism", "GaussianMechanism", "gaussian_sigma", "gaussian_rho",
           "analytic_gaussian_sigma"]


def _check_sensitivity(sensitivity: float) -> float:
    s = float(sensitivity)
    if not math.isfinite(s) or s < 0:
        raise PrivacyParameterError("sensitivity must be finite and >= 0 (it comes from the Domain)")
    return s


def _gaussian_args(epsilon: float, delta: float, sensitivity: float) -> tuple[float, float, float] | None:
    """Checked (epsilon, delta, sensitivity), or None when no noise is needed."""
    eps = check_epsilon(epsilon)
    d = check_delta(delta)
    s = _check_sensitivity(sensitivity)
    if math.isinf(eps) or s == 0:
        return None
    if d == 0:
        raise PrivacyParameterError("the Gaussian mechanism needs delta > 0")
    return eps, d, s


def gaussian_sigma(epsilon: float, delta: float, sensitivity: float = 1.0) -> float:
    """Discrete-Gaussian sigma for (epsilon, delta) and L2 sensitivity, calibrated in zCDP."""
    args = _gaussian_args(epsilon, delta, sensitivity)
    if args is None:
        return 0.0
    eps, d, s = args
    return s / math.sqrt(2.0 * gaussian_rho(eps, d))


@functools.lru_cache(maxsize=1024)
def gaussian_rho(epsilon: float, delta: float) -> float:
    """The largest zCDP ``rho`` that dp-accounting converts to at most ``epsilon`` at ``delta``.

    A bisection on ``log rho`` (about 30 ms, memoised). The receipt's accountant runs the same
    conversion, so a single Gaussian release's receipt states at most ``epsilon``.
    """
    import dp_accounting
    from dp_accounting import rdp

    def eps_of(rho: float) -> float:
        acc = rdp.RdpAccountant()
        acc.compose(dp_accounting.ZCDpEvent(rho))
        return float(acc.get_epsilon(delta))

    lo, hi = 1e-14, 1e6
    for _ in range(90):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if eps_of(mid) <= epsilon else (lo, mid)
    if eps_of(lo) > epsilon:  # pragma: no cover - epsilon below what the search reaches
        raise PrivacyParameterError("epsilon is too small for the Gaussian mechanism's calibration")
    return lo


def analytic_gaussian_sigma(epsilon: float, delta: float, sensitivity: float = 1.0) -> float:
    """The continuous analytic-Gaussian sigma (Balle and Wang); for simulated reference
    mechanisms only, never for a release (a float Gaussian leaks through its low bits)."""
    args = _gaussian_args(epsilon, delta, sensitivity)
    return 0.0 if args is None else _analytic_sigma(*args)


@functools.lru_cache(maxsize=1024)
def _analytic_sigma(epsilon: float, delta: float, sensitivity: float) -> float:
    """diffprivlib's calibration (a numerical search, ~1 ms), memoised: it is deterministic."""
    from diffprivlib.mechanisms import GaussianAnalytic

    return float(GaussianAnalytic(epsilon=epsilon, delta=delta, sensitivity=sensitivity)._scale)


@dataclass(frozen=True)
class LaplaceMechanism:
    """Laplace mechanism for a value or vector with L1 sensitivity ``sensitivity``; pure epsilon-DP.

    The release is a discrete Laplace on a lattice (:class:`~privcausal.privacy.lattice.LatticeLaplace`).
    """

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

    def lattice(self, dim: int = 1) -> LatticeLaplace:
        """The lattice release of a ``dim``-coordinate value under this mechanism."""
        return LatticeLaplace(self.scale, self.sensitivity, int(dim))

    def randomise(self, value: Any, random_state: Any = None, *, dim: int | None = None,
                  size: tuple[int, ...] = ()) -> Any:
        """Release ``value`` with discrete Laplace noise on a lattice (same shape).

        ``dim``: coordinates that one release holds (default: all of ``value``); ``size``: that
        many independent releases at once (simulations), stacked in front.
        """
        arr = np.asarray(value, dtype=np.float64)
        if self.scale == 0:
            out = np.broadcast_to(arr, tuple(size) + arr.shape).copy()
            return out if out.ndim else float(out)
        lat = self.lattice(arr.size if dim is None else dim)
        return lat.release(arr, noise_source(random_state), size)


@dataclass(frozen=True)
class GaussianMechanism:
    """Gaussian mechanism with L2 sensitivity ``sensitivity``; (epsilon, delta)-DP through zCDP.

    The release is a discrete Gaussian on a lattice (:class:`~privcausal.privacy.lattice.LatticeGaussian`).
    """

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

    def lattice(self, dim: int = 1) -> LatticeGaussian:
        return LatticeGaussian(self.scale, self.sensitivity, int(dim))

    def randomise(self, value: Any, random_state: Any = None, *, dim: int | None = None,
                  size: tuple[int, ...] = ()) -> Any:
        """Release ``value`` with discrete Gaussian noise on a lattice (same shape); ``dim`` and
        ``size`` as for :meth:`LaplaceMechanism.randomise`."""
        arr = np.asarray(value, dtype=np.float64)
        if self.scale == 0:
            out = np.broadcast_to(arr, tuple(size) + arr.shape).copy()
            return out if out.ndim else float(out)
        lat = self.lattice(arr.size if dim is None else dim)
        return lat.release(arr, noise_source(random_state), size)

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
        out = np.zeros_like(m)
        out[iu] = self.lattice(len(iu[0])).release(m[iu], noise_source(random_state))
        return out + np.triu(out, 1).T

"""Floating-point-safe releases: round to a lattice, add exact integer noise, return the lattice point.

``value + scale * noise`` in doubles leaks through its low bits (Mironov 2012): the set of
floats the sum can take depends on ``value``. Here a release of ``v`` (a vector of ``dim``
coordinates) is

    K = round(v / g) + Z,        output = float(K) * g,

with ``g = 2^k`` a power of two chosen from public quantities only (the noise scale and the
dimension), ``round`` to the nearest integer (exact: ``v / g`` only moves the exponent), and
``Z`` an integer vector of exact discrete Laplace or discrete Gaussian noise. The output is a
function of the integer ``K`` alone, so it is post-processing of an integer mechanism, and that
mechanism's privacy is proved on the integers:

* rounding moves each coordinate by at most ``g / 2``, so on neighbours the integer vectors
  differ by at most ``Delta / g + dim`` in L1 and ``Delta / g + sqrt(dim)`` in L2;
* the discrete Laplace with integer scale ``t`` is ``(Delta_1 / g + dim) / t``-DP [1];
* independent discrete Gaussians with variance ``S`` are ``(Delta_2 / g + sqrt(dim))^2 / (2 S)``-
  zCDP: the Renyi divergence of a discrete Gaussian shifted by an integer is at most the
  continuous one [2, Prop. 5] and it adds up over independent coordinates.

The mechanisms below inflate the noise by the rounding term, so the stated guarantee holds
exactly; the lattice step is ``2^-20 / dim`` (Laplace) or ``2^-20 / sqrt(dim)`` (Gaussian) of the
noise scale, so the inflation is about one part per million whatever the dimension.

References
----------
.. [1] Ghosh, Roughgarden, Sundararajan, "Universally utility-maximizing privacy mechanisms",
   STOC 2009 (the discrete Laplace / geometric mechanism).
.. [2] Canonne, Kamath, Steinke, "The discrete Gaussian for differential privacy", NeurIPS 2020.
.. [3] Mironov, "On significance of the least significant bits for differential privacy",
   CCS 2012.
.. [4] OpenDP, ``make_laplace`` / ``make_gaussian`` with granularity ``k`` (the same
   construction; OpenDP samples the secure noise here).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LatticeLaplace", "LatticeGaussian", "LATTICE_BITS", "lattice_exponent"]

#: The noise scale is about 2^LATTICE_BITS lattice steps.
LATTICE_BITS = 20


def lattice_exponent(scale: float, dim: int = 1, gaussian: bool = False,
                     bits: int = LATTICE_BITS) -> int:
    """``k`` with ``2^k`` about ``scale / (2^bits dim)`` (``sqrt(dim)`` for a Gaussian), so that
    the rounding term (``dim g`` in L1, ``sqrt(dim) g`` in L2) stays about ``2^-bits`` of the
    scale whatever the dimension."""
    d = max(int(dim), 1)
    per = scale / math.sqrt(d) if gaussian else scale / d
    return math.floor(math.log2(per)) - int(bits)


def _to_lattice(value: Any, k: int) -> tuple[np.ndarray, bool]:
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("a release must be finite before noise is added")
    scaled = np.ldexp(arr, -k)  # exact: only the exponent moves
    base = np.rint(scaled)
    big = bool(np.any(np.abs(base) >= 2.0**62))
    return (base.astype(object) if big else base.astype(np.int64)), big


def _from_lattice(k_int: np.ndarray, k: int, shape: tuple[int, ...]) -> Any:
    f = np.array([float(x) for x in k_int.ravel()]) if k_int.dtype == object else k_int.astype(np.float64)
    out = np.ldexp(f, k).reshape(shape)
    return out if shape else float(out)


def _add(base: np.ndarray, z: np.ndarray, big: bool) -> np.ndarray:
    if big or z.dtype == object:
        return np.array([int(a) + int(b) for a, b in zip(base.ravel(), z.ravel())], dtype=object)
    zz = z.astype(np.int64)
    if np.any(np.abs(zz) >= 2**62) or np.any(np.abs(base) >= 2**62):  # pragma: no cover
        return np.array([int(a) + int(b) for a, b in zip(base.ravel(), zz.ravel())], dtype=object)
    return base.ravel() + zz.ravel()


@dataclass(frozen=True)
class LatticeLaplace:
    """Discrete Laplace on the lattice ``2^k Z`` for an L1 sensitivity ``sensitivity``.

    Parameters
    ----------
    scale : float
        The continuous Laplace scale ``sensitivity / epsilon`` that the release replaces.
    sensitivity : float
        Declared L1 sensitivity of the ``dim``-coordinate value.
    dim : int
        Coordinates released together (the rounding term grows with it).
    """

    scale: float
    sensitivity: float
    dim: int = 1
    bits: int = LATTICE_BITS

    @property
    def k(self) -> int:
        return lattice_exponent(self.scale, self.dim, bits=self.bits)

    @property
    def t(self) -> int:
        """Integer noise scale: the continuous scale inflated by the rounding, in lattice steps."""
        g = 2.0**self.k
        return math.ceil(self.scale * (1.0 + self.dim * g / self.sensitivity) / g)

    @property
    def epsilon(self) -> float:
        """The exact epsilon of the integer mechanism (at most ``sensitivity / scale``)."""
        return (self.sensitivity / 2.0**self.k + self.dim) / self.t

    @property
    def std(self) -> float:
        """Standard deviation of one coordinate's noise (``sqrt(2) t g`` up to 1e-12)."""
        return math.sqrt(2.0) * self.t * 2.0**self.k

    def release(self, value: Any, noise: Any, size: tuple[int, ...] = ()) -> Any:
        """``value`` (broadcast to ``size + value.shape``) released on the lattice.

        A noise source that asks for another lattice (``lattice_bits``: the Pólya shares of
        :mod:`.polya`) gets the same release on that lattice (same scale and sensitivity; its
        rounding paid in ``t`` as here)."""
        bits = getattr(noise, "lattice_bits", self.bits)
        if bits != self.bits:
            return dataclasses.replace(self, bits=int(bits)).release(value, noise, size)
        arr = np.broadcast_to(np.asarray(value, dtype=np.float64), tuple(size) + np.shape(value))
        base, big = _to_lattice(arr, self.k)
        z = noise.discrete_laplace(self.t, base.size)
        return _from_lattice(_add(base, z, big), self.k, arr.shape)


@dataclass(frozen=True)
class LatticeGaussian:
    """Discrete Gaussian on the lattice ``2^k Z`` for an L2 sensitivity ``sensitivity``.

    Parameters
    ----------
    sd : float
        The continuous standard deviation the release replaces; the release is then
        ``sensitivity^2 / (2 sd^2)``-zCDP, exactly (rounding included).
    sensitivity : float
        Declared L2 sensitivity of the ``dim``-coordinate value.
    dim : int
        Coordinates released together.
    """

    sd: float
    sensitivity: float
    dim: int = 1

    @property
    def k(self) -> int:
        return lattice_exponent(self.sd, self.dim, gaussian=True)

    @property
    def s2(self) -> int:
        """Integer variance in lattice steps, inflated so the rounding is paid for."""
        g = 2.0**self.k
        sd = self.sd * (1.0 + math.sqrt(self.dim) * g / self.sensitivity)
        return math.ceil((sd / g) ** 2)

    @property
    def rho(self) -> float:
        """The exact zCDP rho of the integer mechanism (at most ``sensitivity^2 / (2 sd^2)``)."""
        return (self.sensitivity / 2.0**self.k + math.sqrt(self.dim)) ** 2 / (2.0 * self.s2)

    @property
    def std(self) -> float:
        return math.sqrt(self.s2) * 2.0**self.k

    def release(self, value: Any, noise: Any, size: tuple[int, ...] = ()) -> Any:
        arr = np.broadcast_to(np.asarray(value, dtype=np.float64), tuple(size) + np.shape(value))
        base, big = _to_lattice(arr, self.k)
        z = noise.discrete_gaussian(self.s2, base.size)
        return _from_lattice(_add(base, z, big), self.k, arr.shape)

"""Distributed discrete Laplace: Pólya shares whose sum over ``h`` parties is a discrete Laplace.

The geometric distribution ``P(G = k) = (1 - q) q^k`` (``k >= 0``, ``q = exp(-1 / t)``) is the
negative binomial ``NB(1, q)``, and independent ``NB(r_i, q)`` add up to ``NB(sum r_i, q)``, where
``P(N = k) = Gamma(k + r) / (Gamma(r) k!) (1 - q)^r q^k``. So if each of ``h`` parties adds a
**Pólya share** ``P_i - P'_i`` (``P_i, P'_i ~ NB(1 / h, q)``, all independent), the sum of the
``h`` shares is ``G - G'`` with ``G, G'`` independent geometric variables: exactly the discrete
Laplace of scale ``t``, ``P(z) ~ exp(-|z| / t)`` [1, 2, 3]. A sum with more than ``h`` shares in
it is that discrete Laplace plus independent noise (post-processing), so a secure sum in which
at least ``h`` honest parties' shares are sure to be is exactly as private as the central
release, and its noise variance is ``a / h`` central ones for ``a`` shares.

**Exact sampling.** ``NB(r, q)`` with ``r = 1 / h`` by rejection from the geometric: a proposal
``k`` is kept with probability ``a(k) = prod_{j<k} (j + r) / (j + 1) = prod_{j<k} (h j + 1) /
(h (j + 1))``, at most 1, which is ``NB(r)``'s pmf over the geometric's up to the constant
``(1 - q)^(r - 1)``. Each factor is a Bernoulli of a rational probability, decided by a uniform
integer below ``h (j + 1)``. Proposals are exact geometric draws (the magnitude step of
Canonne, Kamath and Steinke's discrete Laplace, :func:`~.discrete.geometric`). Every uniform
integer comes from the OS CSPRNG (``os.urandom``, cut to an exact range by rejection) for
secure noise, from the seeded generator otherwise; no floating point enters a draw (OpenDP has
no negative binomial sampler, and drawing the proposals from its discrete Laplace was ten times
slower). The acceptance rate is ``(1 - q)^(1 - r)``, about ``t^-(1 - 1/h)``, so the
shares are drawn on a coarser lattice (:data:`SHARE_LATTICE_BITS`: the noise scale is about
``2^10`` steps, ``t`` about ``[2^10, 2^11)`` per coordinate: a few hundred to two thousand
proposals a draw, drawn in vectors). Its rounding is paid as every lattice release pays it (:mod:`.lattice`): ``t`` grows
by ``dim g / Delta``, which is ``2^-10 / epsilon`` of the scale (0.4 % at epsilon 0.25).

**A share seen alone** (no honest share beside it: the *fallback* of a receipt). For an
integer shift ``d`` of one coordinate, ``NB(r)``'s ratio ``P(k) / P(k + d)`` is at most
``q^-d f(d)``, ``f(d) = Gamma(d + 1) Gamma(r) / Gamma(d + r)``, reached at ``k = 0`` (each factor
``(j + 1) / (j + r)`` falls with ``j``), and ``P(k + d) / P(k) <= q^d <= 1``. The difference of
two independent ones inherits the bound (it is a mixture of shifted copies of either). So one
share is ``D / t + m ln f(D)``-DP for an L1 shift of at most ``D`` lattice steps over at most
``m = min(dim, D)`` coordinates (:func:`share_epsilon`): ``ln f`` grows like
``ln h + (1 - 1/h) ln D``, so a share alone protects little, which is what the fallback says.

References
----------
.. [1] Ghosh, Roughgarden, Sundararajan, "Universally utility-maximizing privacy mechanisms",
   STOC 2009 (the geometric mechanism).
.. [2] Balle, Bell, Gascón, Nissim, "Private summation in the multi-message shuffle model",
   CCS 2020 (Pólya shares of the discrete Laplace).
.. [3] Harrison, Manurangsi, "Infinitely divisible noise for differential privacy: nearly
   optimal error in the high epsilon regime", FORC 2025 (the generalized discrete Laplace as
   differences of negative binomial shares).
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from privcausal.privacy.discrete import geometric
from privcausal.privacy.random import NoiseSource, SimulationNoise

__all__ = ["SHARE_LATTICE_BITS", "ShareNoise", "SimulationShareNoise", "polya_shares",
           "negative_binomial_shares", "share_epsilon", "log_share_ratio"]

#: The shares' lattice: the noise scale is about 2^SHARE_LATTICE_BITS steps (the releases' own
#: lattice, :data:`~privcausal.privacy.lattice.LATTICE_BITS`, puts 2^20 there).
SHARE_LATTICE_BITS = 10
_MAX_BATCH = 1 << 16


class _Uniform:
    """Exact uniform integers below a bound or a vector of bounds, with numpy's ``integers``
    signature (``low = 0``): the OS CSPRNG (``rng=None``; ``os.urandom``, cut to the range by
    rejection) or a seeded numpy generator."""

    def __init__(self, rng: np.random.Generator | None) -> None:
        self._rng = rng

    def integers(self, low: int, high: Any, size: Any = None) -> np.ndarray:
        if self._rng is not None:
            return self._rng.integers(low, high, size=size)
        n = np.asarray(high, dtype=np.int64) - int(low)
        if size is not None:
            n = np.broadcast_to(n, (int(size),) if np.ndim(size) == 0 else tuple(size))
        nu = np.ascontiguousarray(n, dtype=np.uint64).ravel()
        lim = (np.uint64(2**64 - 1) // nu) * nu  # a multiple of n: u < lim is uniform mod n
        out = np.empty(nu.shape, dtype=np.uint64)
        todo = np.arange(nu.size)
        while todo.size:
            u = np.frombuffer(os.urandom(8 * todo.size), dtype=np.uint64)
            ok = u < lim[todo]
            out[todo[ok]] = u[ok] % nu[todo[ok]]
            todo = todo[~ok]
        return out.astype(np.int64).reshape(n.shape) + int(low)

    def below(self, n: np.ndarray) -> np.ndarray:
        return self.integers(0, n)


def negative_binomial_shares(t: int, honest: int, size: int, base: NoiseSource) -> np.ndarray:
    """``size`` exact draws of ``NB(1 / honest, exp(-1/t))`` (rejection from the geometric)."""
    t, h, size = int(t), int(honest), int(size)
    if t < 1 or h < 1:
        raise ValueError("the share needs a positive integer scale and honest >= 1")
    if size <= 0:
        return np.zeros(0, dtype=np.int64)
    uni = _Uniform(None if base.secure else base._rng)  # noqa: SLF001 - the same stream
    if h == 1:
        return geometric(t, size, uni)
    rate = math.exp((1.0 - 1.0 / h) * math.log(-math.expm1(-1.0 / t)))  # sizing only
    out: list[np.ndarray] = []
    have = 0
    while have < size:
        m = int(min(_MAX_BATCH, max(64, 1.3 * (size - have) / rate)))
        G = geometric(t, m, uni)
        keep = G == 0
        act = np.flatnonzero(G > 0)
        j = 0
        while act.size:  # steps j .. j + L - 1, each a Bernoulli((h i + 1) / (h (i + 1)))
            L = 1 if j == 0 else (16 if j == 1 else 128)
            i = j + np.arange(L, dtype=np.int64)
            ok = uni.below(np.broadcast_to(h * (i + 1), (act.size, L)).ravel()).reshape(-1, L) < h * i + 1
            fail = np.where(ok.all(axis=1), L, np.argmin(ok, axis=1))  # steps survived in the block
            need = G[act] - j  # steps still to survive; a failure after them does not matter
            keep[act[(need <= L) & (fail >= need)]] = True
            act = act[(need > L) & (fail == L)]
            j += L
        acc = G[keep]
        out.append(acc)
        have += acc.size
    return np.concatenate(out)[:size]


def polya_shares(t: int, honest: int, size: int, base: NoiseSource) -> np.ndarray:
    """``size`` Pólya shares ``NB(1/h) - NB(1/h)`` of the discrete Laplace of scale ``t``: the sum
    of ``honest`` independent ones is that discrete Laplace exactly."""
    d = negative_binomial_shares(t, honest, 2 * int(size), base)
    return d[: int(size)] - d[int(size):]


class ShareNoise(NoiseSource):
    """A site's noise for a secure sum: the discrete Laplace as Pólya shares of ``1 / honest``
    (on the coarser share lattice, :data:`SHARE_LATTICE_BITS`), the discrete Gaussian from
    ``base`` unchanged (its shares are cut by the share plan's variance instead)."""

    lattice_bits = SHARE_LATTICE_BITS

    def __init__(self, base: NoiseSource, honest: int) -> None:
        if isinstance(base, ShareNoise):
            base = base.base
        self.base = base
        self.honest = int(honest)
        self.secure = base.secure
        self._rng = getattr(base, "_rng", None)

    @property
    def description(self) -> str:
        return (f"{self.base.description}; discrete Laplace as exact Pólya shares "
                f"(NB(1/{self.honest}) differences, {self.honest} add up to the discrete Laplace)")

    def discrete_laplace(self, t: int, size: int) -> np.ndarray:
        return polya_shares(t, self.honest, size, self.base)

    def discrete_gaussian(self, s2: int, size: int) -> np.ndarray:
        return self.base.discrete_gaussian(s2, size)


class SimulationShareNoise(SimulationNoise):
    """Fast draws of ``units`` Pólya shares' sum (``NB(units / honest)`` differences; numpy's
    negative binomial), on the share lattice: for *simulating* a secure sum (bootstraps)."""

    lattice_bits = SHARE_LATTICE_BITS

    def __init__(self, random_state: Any, honest: int, units: int = 1) -> None:
        super().__init__(random_state)
        self.shape = float(units) / float(honest)

    def discrete_laplace(self, t: int, size: int) -> np.ndarray:
        p = -np.expm1(-1.0 / t)
        return (self._rng.negative_binomial(self.shape, p, size)
                - self._rng.negative_binomial(self.shape, p, size))


def log_share_ratio(d: float, honest: int) -> float:
    """``ln f(d)``, ``f(d) = Gamma(d + 1) Gamma(r) / Gamma(d + r)``, ``r = 1 / honest``: the most
    a share's pmf ratio exceeds the discrete Laplace's for an integer shift ``d``."""
    r = 1.0 / int(honest)
    d = math.floor(d)
    if d <= 0 or honest == 1:
        return 0.0
    return math.lgamma(d + 1.0) + math.lgamma(r) - math.lgamma(d + r)


def share_epsilon(lattice: Any, honest: int) -> float:
    """The epsilon of one Pólya share of ``lattice`` (a :class:`~.lattice.LatticeLaplace`) seen
    alone: ``D / t + min(dim, D) ln f(D)``, ``D`` the L1 shift in lattice steps (rounding
    included); the lattice's own epsilon for ``honest = 1``."""
    if int(honest) == 1:
        return float(lattice.epsilon)
    D = math.floor(lattice.sensitivity / 2.0**lattice.k + lattice.dim)
    return D / lattice.t + min(lattice.dim, D) * log_share_ratio(D, honest)

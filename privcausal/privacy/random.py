"""Where release noise comes from.

Release noise is integer noise on a lattice (:mod:`privcausal.privacy.lattice`). Unseeded noise
(``random_state=None``, the default) is drawn by OpenDP's exact samplers on the operating
system's CSPRNG. Seeded noise (an int or a Generator) draws the same distributions exactly from
numpy's generator and is for experiments only: anyone who knows the seed can remove the noise.
Every receipt says which of the two produced it.

References
----------
.. [1] Canonne, Kamath, Steinke, "The discrete Gaussian for differential privacy", NeurIPS 2020.
.. [2] Mironov, "On significance of the least significant bits for differential privacy",
   CCS 2012 (why release noise should not come from a seeded PRNG or naive float sampling).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from privcausal.privacy import discrete
from privcausal.validation import check_random_state

__all__ = ["NoiseSource", "SimulationNoise", "noise_source", "independent_streams", "SECURE_NOISE",
           "SEEDED_NOISE"]

SECURE_NOISE = ("secure: exact discrete Laplace / Gaussian on a 2^k lattice, OpenDP samplers on "
                "the OS CSPRNG")
SEEDED_NOISE = (
    "seeded: exact discrete Laplace / Gaussian on a 2^k lattice driven by a numpy generator, "
    "reproducible; for experiments only, not private against anyone who knows the seed"
)


class NoiseSource:
    """Draws exact integer noise for lattice releases, securely unless a seed was given.

    Secure (``random_state=None``): OpenDP's discrete Laplace and discrete Gaussian samplers on
    the OS CSPRNG. Seeded: the same distributions by exact integer algorithms on numpy's
    generator (:mod:`privcausal.privacy.discrete`), so a seeded run has the support of a secure
    one. Continuous ``value + scale * noise`` releases are gone: see
    :mod:`privcausal.privacy.lattice`.
    """

    def __init__(self, random_state: Any = None) -> None:
        self.secure = random_state is None
        self._rng = None if self.secure else check_random_state(random_state)

    @property
    def description(self) -> str:
        return SECURE_NOISE if self.secure else SEEDED_NOISE

    def discrete_laplace(self, t: int, size: int) -> np.ndarray:
        """``size`` integer draws with ``P(z) ~ exp(-|z| / t)``."""
        if self.secure:
            return discrete.secure_discrete_laplace(t, size)
        return discrete.discrete_laplace(t, size, self._rng)

    def discrete_gaussian(self, s2: int, size: int) -> np.ndarray:
        """``size`` integer draws with ``P(z) ~ exp(-z^2 / (2 s2))``."""
        if self.secure:
            return discrete.secure_discrete_gaussian(s2, size)
        return discrete.discrete_gaussian(s2, size, self._rng)


class SimulationNoise(NoiseSource):
    """Fast draws of the lattice noise distributions, for *simulating* a release (parametric
    bootstraps of an interval), never for releasing one.

    A bootstrap reruns a release thousands of times on statistics simulated from released
    values: what it needs is the noise's distribution, not its security or the exact samplers'
    support. The discrete Laplace is drawn exactly as a difference of two geometric variables
    (numpy's); the discrete Gaussian as a normal of the same variance parameter rounded to the
    integers, whose variance is larger by about 1/12 (one lattice step squared over 12): the
    lattice releases put about 2^20 steps in a standard deviation
    (:func:`~privcausal.privacy.lattice.lattice_exponent`), so the difference is of relative
    size 1e-13. Scales beyond the vectorised samplers' fall back to the exact seeded ones.

    References
    ----------
    .. [1] Canonne, Kamath, Steinke, "The discrete Gaussian for differential privacy",
       NeurIPS 2020 (its variance is at most the parameter's, section 2.1).
    """

    def __init__(self, random_state: Any) -> None:
        self.secure = False
        self._rng = check_random_state(random_state)

    @property
    def description(self) -> str:
        return "simulation only (interval bootstraps): not a release's noise"

    def discrete_laplace(self, t: int, size: int) -> np.ndarray:
        if t > discrete.MAX_VECTOR_SCALE:
            return discrete.discrete_laplace(t, size, self._rng)
        p = -np.expm1(-1.0 / t)  # P(G = k) = (1 - p)^k p, 1 - p = exp(-1 / t)
        return self._rng.geometric(p, size) - self._rng.geometric(p, size)

    def discrete_gaussian(self, s2: int, size: int) -> np.ndarray:
        if s2 > discrete.MAX_VECTOR_SCALE**2:
            return discrete.discrete_gaussian(s2, size, self._rng)
        return np.rint(self._rng.normal(0.0, math.sqrt(s2), size)).astype(np.int64)


def independent_streams(random_state: Any, k: int) -> list[Any]:
    """``k`` independent noise streams from one ``random_state``: None stays secure (k times);
    an int or SeedSequence is spawned (``SeedSequence.spawn``), a Generator spawns children,
    so two releases never reuse one draw (an int given twice would)."""
    if random_state is None or isinstance(random_state, NoiseSource):
        return [random_state] * k
    if isinstance(random_state, np.random.Generator):
        return list(random_state.spawn(k))
    seq = random_state if isinstance(random_state, np.random.SeedSequence) else \
        np.random.SeedSequence(int(random_state))
    return [np.random.default_rng(s) for s in seq.spawn(k)]


def noise_source(random_state: Any = None) -> NoiseSource:
    """Return the noise source for ``random_state`` (None means secure)."""
    if isinstance(random_state, NoiseSource):
        return random_state
    return NoiseSource(random_state)

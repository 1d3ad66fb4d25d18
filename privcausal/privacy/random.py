"""Where release noise comes from.

Unseeded noise (``random_state=None``, the default) is drawn with diffprivlib's samplers on
:class:`secrets.SystemRandom`, the operating system's CSPRNG. Seeded noise (an int or a
Generator) draws from numpy and is for experiments only: anyone who knows the seed can remove
the noise. Every receipt says which of the two produced it.

References
----------
.. [1] Holohan et al., "Diffprivlib: the IBM differential privacy library", 2019.
.. [2] Mironov, "On significance of the least significant bits for differential privacy",
   CCS 2012 (why release noise should not come from a seeded PRNG or naive float sampling).
"""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np

from privcausal.validation import check_random_state

__all__ = ["NoiseSource", "noise_source", "independent_streams", "SECURE_NOISE", "SEEDED_NOISE"]

SECURE_NOISE = "secure: OS CSPRNG (secrets.SystemRandom) through diffprivlib samplers"
SEEDED_NOISE = (
    "seeded: numpy generator, reproducible; for experiments only, not private against "
    "anyone who knows the seed"
)


class NoiseSource:
    """Draws Gaussian and Laplace noise, securely unless a seed was given."""

    def __init__(self, random_state: Any = None) -> None:
        self.secure = random_state is None
        self._rng = None if self.secure else check_random_state(random_state)
        self._sys = secrets.SystemRandom() if self.secure else None

    @property
    def description(self) -> str:
        return SECURE_NOISE if self.secure else SEEDED_NOISE

    def standard_normal(self, size: int | tuple[int, ...] | None = None) -> np.ndarray | float:
        if not self.secure:
            return self._rng.standard_normal(size)
        n = 1 if size is None else int(np.prod(size))
        # diffprivlib's construction: average of two normalvariate draws, rescaled (HB21b),
        # which smooths the float artefacts of a single Box-Muller draw.
        g = self._sys.normalvariate
        out = np.fromiter(((g(0, 1) + g(0, 1)) / np.sqrt(2) for _ in range(n)), float, count=n)
        return float(out[0]) if size is None else out.reshape(size)

    def standard_laplace(self, size: int | tuple[int, ...] | None = None) -> np.ndarray | float:
        if not self.secure:
            return self._rng.laplace(0.0, 1.0, size)
        from diffprivlib.mechanisms import Laplace

        n = 1 if size is None else int(np.prod(size))
        r = self._sys.random
        # diffprivlib's four-uniform Laplace sampler, on the CSPRNG.
        out = np.fromiter(
            (-Laplace._laplace_sampler(r(), r(), r(), r()) for _ in range(n)), float, count=n
        )
        return float(out[0]) if size is None else out.reshape(size)


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

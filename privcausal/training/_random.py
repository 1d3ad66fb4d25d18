"""Random streams for DP-SGD: Poisson sampling, Gaussian noise and initial weights.

Two streams, one interface (``rand``, ``randn``, ``bernoulli_mask``):

* :class:`TorchStream`: a seeded ``torch.Generator`` (Mersenne Twister). Reproducible; for
  experiments, audits and tests only. Anyone who knows the seed can remove the noise.
* :class:`SecureStream`: the operating system's CSPRNG (``os.urandom``), as the privacy core
  uses for its own mechanisms. Gaussian noise is drawn with the floating-point mitigation
  opacus uses in ``secure_mode`` (the sum of four Gaussians divided by two; Holohan and
  Braghin 2021, section 5.1), from Box-Muller on 53-bit CSPRNG uniforms.

Opacus's own ``secure_mode`` needs ``torchcsprng``, whose last release (0.2.1, 2021) has
wheels only for torch 1.8 and Python <= 3.9 and no source distribution: it cannot be
installed next to torch 2.x on Python 3.10+. When it is importable, :func:`secure_stream`
uses it (as opacus would); otherwise it falls back to :class:`SecureStream` and warns.

References
----------
.. [1] Holohan and Braghin, "Secure random sampling in differential privacy", ESORICS 2021.
.. [2] Haney, Desfontaines, Hartman, Shrestha, Hay, "Precision-based attacks and interval
   refining: how to break, then fix, differential privacy on finite computers", 2022.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import numpy as np
import torch

from privcausal.exceptions import PrivacyLeakWarning

__all__ = [
    "RandomStream",
    "TorchStream",
    "SecureStream",
    "secure_stream",
    "make_stream",
    "torchcsprng_available",
    "SEEDED_TORCH",
    "UNSEEDED_TORCH",
]

SEEDED_TORCH = (
    "seeded: torch.Generator (Mersenne Twister), reproducible; for experiments only, not "
    "private against anyone who knows the seed"
)
UNSEEDED_TORCH = (
    "torch.Generator seeded from OS entropy (secure_mode=False): not a cryptographically "
    "secure generator, and the noise is not protected against floating-point attacks"
)
SECURE_OS = (
    "secure: OS CSPRNG (os.urandom) for Poisson sampling and noise, Gaussian noise as the sum "
    "of four Box-Muller draws / 2 (opacus's floating-point mitigation); torchcsprng unavailable"
)
SECURE_CSPRNG = "secure: torchcsprng /dev/urandom generator (opacus secure_mode)"

_FALLBACK_WARNING = (
    "secure_mode: opacus's secure mode needs torchcsprng, which cannot be installed here (its "
    "last release, 0.2.1, has wheels only for torch 1.8 and Python <= 3.9). privcausal falls "
    "back to its own sampler on the OS CSPRNG (os.urandom) with opacus's floating-point "
    "mitigation (sum of four Gaussians / 2). This sampler is tested for its distribution but "
    "has not had the review torchcsprng had; the receipt records which sampler was used."
)


def torchcsprng_available() -> bool:
    try:
        import torchcsprng  # noqa: F401
    except Exception:
        return False
    return True


class RandomStream:
    """Interface: ``rand(shape)`` uniforms in [0, 1), ``randn(shape)`` standard normals."""

    description: str = ""
    secure: bool = False

    def rand(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        raise NotImplementedError

    def randn(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        raise NotImplementedError

    def bernoulli_mask(self, shape: tuple[int, ...], p: float) -> torch.Tensor:
        """Independent Bernoulli(p) draws as a bool tensor (Poisson sampling)."""
        return self.rand(shape, torch.float64 if p < 1e-6 else torch.float32) < p

    def init_uniform(self, shape: tuple[int, ...], bound: float, dtype: torch.dtype) -> torch.Tensor:
        """U(-bound, bound) for initial weights (public randomness: it need not be secret)."""
        return (2.0 * self.rand(shape, dtype) - 1.0) * bound


class TorchStream(RandomStream):
    """A ``torch.Generator``: seeded (reproducible) or seeded from OS entropy."""

    def __init__(self, seed: int | None = None, generator: torch.Generator | None = None,
                 description: str | None = None) -> None:
        if generator is None:
            generator = torch.Generator()
            if seed is None:
                seed = int.from_bytes(os.urandom(8), "little") & ((1 << 63) - 1)
                self.description = UNSEEDED_TORCH
            else:
                self.description = SEEDED_TORCH
            generator.manual_seed(int(seed))
        else:
            self.description = description or SEEDED_TORCH
        self.generator = generator

    def rand(self, shape, dtype=torch.float32):
        return torch.rand(shape, generator=self.generator, dtype=dtype)

    def randn(self, shape, dtype=torch.float32):
        return torch.randn(shape, generator=self.generator, dtype=dtype)


class CsprngStream(TorchStream):  # pragma: no cover - torchcsprng is not installable here
    """torchcsprng's /dev/urandom generator with opacus's noise construction."""

    secure = True

    def __init__(self) -> None:
        import torchcsprng as csprng

        super().__init__(generator=csprng.create_random_device_generator("/dev/urandom"),
                         description=SECURE_CSPRNG)

    def randn(self, shape, dtype=torch.float32):
        out = torch.zeros(shape, dtype=dtype)
        for _ in range(4):
            out += torch.normal(0.0, 1.0, size=shape, generator=self.generator).to(dtype)
        return out / 2


def _urandom_uniform53(n: int) -> np.ndarray:
    """n uniforms in (0, 1] with 53 random bits each, from the OS CSPRNG."""
    bits = np.frombuffer(os.urandom(8 * n), dtype=np.uint64) >> np.uint64(11)
    return (bits.astype(np.float64) + 1.0) * (1.0 / 9007199254740992.0)


class SecureStream(RandomStream):
    """Uniforms, Bernoulli masks and Gaussians from ``os.urandom`` (vectorised)."""

    secure = True
    description = SECURE_OS

    def rand(self, shape, dtype=torch.float32):
        n = int(np.prod(shape)) if len(shape) else 1
        u = _urandom_uniform53(n) - (1.0 / 9007199254740992.0)  # [0, 1)
        return torch.from_numpy(u.reshape(shape)).to(dtype)

    def bernoulli_mask(self, shape, p):
        n = int(np.prod(shape)) if len(shape) else 1
        if p >= 1.0:
            return torch.ones(shape, dtype=torch.bool)
        # 32-bit comparison: P(u < t) = t / 2^32 with t = round(p 2^32): exact to 2^-33.
        thr = np.uint64(min(2**32, int(round(p * 2**32))))
        u = np.frombuffer(os.urandom(4 * n), dtype=np.uint32).astype(np.uint64)
        return torch.from_numpy((u < thr).reshape(shape))

    def randn(self, shape, dtype=torch.float32):
        n = int(np.prod(shape)) if len(shape) else 1
        # Four standard normals per output (Box-Muller gives two per pair of uniforms).
        m = 4 * n
        pairs = (m + 1) // 2
        u1 = _urandom_uniform53(pairs)
        u2 = _urandom_uniform53(pairs)
        r = np.sqrt(-2.0 * np.log(u1))
        th = 2.0 * math.pi * u2
        z = np.concatenate([r * np.cos(th), r * np.sin(th)])[:m].reshape(4, n)
        out = z.sum(axis=0) / 2.0
        return torch.from_numpy(out.reshape(shape)).to(dtype)


def secure_stream(*, warn: bool = True) -> RandomStream:
    """The secure stream: torchcsprng when importable, else the OS-CSPRNG fallback (warns)."""
    if torchcsprng_available():  # pragma: no cover
        return CsprngStream()
    if warn:
        warnings.warn(_FALLBACK_WARNING, PrivacyLeakWarning, stacklevel=3)
    return SecureStream()


def make_stream(random_state: Any, secure_mode: bool | None) -> RandomStream:
    """The stream for ``random_state`` (None, int, numpy Generator or torch Generator).

    ``secure_mode=None`` (default) is secure exactly when ``random_state`` is None, as for
    the privacy core's mechanisms. ``secure_mode=True`` with a seed is refused: a seeded
    stream cannot be secure.
    """
    from privcausal.exceptions import PrivacyParameterError

    if secure_mode is None:
        secure_mode = random_state is None
    if secure_mode:
        if random_state is not None:
            raise PrivacyParameterError(
                "secure_mode=True draws noise from the OS CSPRNG and cannot be seeded; pass "
                "random_state=None, or secure_mode=False for a reproducible experiment"
            )
        return secure_stream()
    if random_state is None:
        return TorchStream(None)
    if isinstance(random_state, torch.Generator):
        return TorchStream(generator=random_state)
    return TorchStream(seed_from(random_state))


def seed_from(random_state: Any) -> int:
    """A 63-bit torch seed from an int or a numpy Generator (not None)."""
    from privcausal.validation import check_random_state

    rng = check_random_state(random_state)
    return int(rng.integers(0, 2**63 - 1))

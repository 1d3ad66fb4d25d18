"""Exact samplers for the discrete Laplace and discrete Gaussian distributions on the integers.

Two sources draw the same distributions:

* **secure** (the default): OpenDP's samplers, which use the operating system's CSPRNG and
  exact rational arithmetic in Rust;
* **seeded** (experiments only): the algorithms of Canonne, Kamath and Steinke (2020) driven by
  a numpy ``Generator``. Every step consumes uniform random *integers* and compares integers
  (or, for the discrete Gaussian's acceptance, compares a uniform's bits with rigorous interval
  bounds), so the sampled distribution is exactly the stated one and its support is every
  integer, as with the secure source. (numpy's own ``Generator.laplace`` maps one 53-bit uniform through a
  logarithm: its support is a sparse, value-dependent set of floats, which is what a
  floating-point attack reads.)

The discrete Laplace with integer scale ``t`` has ``P(z) ~ exp(-|z| / t)``; the discrete Gaussian
with integer variance parameter ``S`` has ``P(z) ~ exp(-z^2 / (2 S))``.

References
----------
.. [1] Canonne, Kamath, Steinke, "The discrete Gaussian for differential privacy", NeurIPS 2020
   (Algorithms 1-3: Bernoulli(exp(-gamma)), discrete Laplace, discrete Gaussian).
.. [2] The OpenDP Library, ``make_laplace`` / ``make_gaussian`` on integer domains,
   https://docs.opendp.org/ (v0.16).
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["discrete_laplace", "discrete_gaussian", "secure_discrete_laplace",
           "secure_discrete_gaussian", "geometric", "MAX_VECTOR_SCALE"]

#: Largest discrete-Laplace scale sampled by the vectorised int64 path (products stay < 2^63).
MAX_VECTOR_SCALE = 2**44


# --------------------------------------------------------------------------- seeded, vectorised
#: Up to this many draws the scalar exact sampler is faster than the vectorised one.
SMALL = 256


def _bernoulli_exp_vec(num: np.ndarray, den: int, rng: np.random.Generator) -> np.ndarray:
    """Bernoulli(exp(-num/den)) elementwise for integers ``0 <= num <= den`` (CKS Algorithm 1)."""
    num = np.asarray(num, dtype=np.int64)
    out = np.zeros(num.shape, dtype=bool)
    k = np.ones(num.shape, dtype=np.int64)
    active = np.ones(num.shape, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        # Bernoulli(num / (den * k)): a uniform integer below den * k is below num
        hit = rng.integers(0, den * k[idx]) < num[idx]
        stop = idx[~hit]
        out[stop] = (k[stop] % 2) == 1
        active[stop] = False
        k[idx[hit]] += 1
    return out


def _geometric_exp1_vec(size: int, rng: np.random.Generator) -> np.ndarray:
    """How many Bernoulli(exp(-1)) successes come before the first failure (vectorised)."""
    v = np.zeros(size, dtype=np.int64)
    active = np.arange(size)
    while active.size:
        ok = _bernoulli_exp_vec(np.ones(active.size, dtype=np.int64), 1, rng)
        v[active[ok]] += 1
        active = active[ok]
    return v


def _scalar_draws(sampler, param: int, size: int, rng: np.random.Generator, big: bool) -> np.ndarray:
    """``size`` draws of a scalar exact sampler (Python integers; object dtype when ``big``)."""
    rnd = _Bits(rng)
    return np.array([sampler(param, rnd) for _ in range(size)], dtype=object if big else np.int64)


def discrete_laplace(t: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` exact draws of the discrete Laplace with integer scale ``t`` (CKS Algorithm 2).

    Vectorised in int64 for ``t <= MAX_VECTOR_SCALE``; larger scales go through the scalar
    Python-integer sampler.
    """
    t = int(t)
    if t < 1:
        raise ValueError("the discrete Laplace scale must be a positive integer")
    if t > MAX_VECTOR_SCALE or size <= SMALL:
        return _scalar_draws(_laplace_scalar, t, size, rng, t > MAX_VECTOR_SCALE)
    out = np.zeros(size, dtype=np.int64)
    todo = np.arange(size)
    while todo.size:
        m = todo.size
        u = rng.integers(0, t, size=m)
        d = _bernoulli_exp_vec(u, t, rng)
        v = _geometric_exp1_vec(m, rng)
        x = u + t * v
        b = rng.integers(0, 2, size=m).astype(bool)
        ok = d & ~(b & (x == 0))
        out[todo[ok]] = np.where(b[ok], -x[ok], x[ok])
        todo = todo[~ok]
    return out


def geometric(t: int, size: int, rng: Any) -> np.ndarray:
    """``size`` exact draws of ``P(G = k) = (1 - q) q^k``, ``k >= 0``, ``q = exp(-1/t)`` (integer
    ``t <= MAX_VECTOR_SCALE``): ``G = u + t v`` with ``u`` uniform below ``t`` kept with
    probability ``exp(-u/t)`` and ``v`` geometric with ratio ``exp(-1)`` (the magnitude step
    of CKS Algorithm 2). ``rng``: anything with numpy's ``integers(0, high, size=...)`` drawing
    exact uniform integers (a ``Generator``, or a CSPRNG adapter)."""
    t = int(t)
    if not 1 <= t <= MAX_VECTOR_SCALE:
        raise ValueError("the geometric scale must be an integer in [1, MAX_VECTOR_SCALE]")
    out = np.zeros(int(size), dtype=np.int64)
    todo = np.arange(int(size))
    while todo.size:
        m = todo.size
        u = np.asarray(rng.integers(0, t, size=m), dtype=np.int64)
        d = _bernoulli_exp_vec(u, t, rng)
        v = _geometric_exp1_vec(m, rng)
        out[todo[d]] = (u + t * v)[d]
        todo = todo[~d]
    return out


# --------------------------------------------------------------------------- seeded, scalar exact
class _Bits:
    """Exact uniform Python integers below any bound, for the scalar samplers: Python's
    ``random.Random`` (``randrange`` is exact for any integer bound) seeded once from the numpy
    generator, so a seeded run stays reproducible (seeded noise is for experiments only)."""

    def __init__(self, rng: np.random.Generator) -> None:
        import random

        self._r = random.Random(int(rng.integers(0, 2**63)))

    def below(self, n: int) -> int:
        return self._r.randrange(n)


def _bernoulli_exp_frac(num: int, den: int, rnd: _Bits) -> bool:
    k = 1
    while rnd.below(den * k) < num:
        k += 1
    return k % 2 == 1


def _bernoulli_exp(num: int, den: int, rnd: _Bits) -> bool:
    """Bernoulli(exp(-num/den)) for integers ``num >= 0``, ``den >= 1``."""
    while num > den:
        if not _bernoulli_exp_frac(1, 1, rnd):
            return False
        num -= den
    return _bernoulli_exp_frac(num, den, rnd)


def _laplace_scalar(t: int, rnd: _Bits) -> int:
    while True:
        u = rnd.below(t)
        if not _bernoulli_exp_frac(u, t, rnd):
            continue
        v = 0
        while _bernoulli_exp_frac(1, 1, rnd):
            v += 1
        x = u + t * v
        b = rnd.below(2)
        if b and x == 0:
            continue
        return -x if b else x


def _gaussian_scalar(s2: int, rnd: _Bits) -> int:
    """One discrete Gaussian draw with variance parameter ``s2`` (an integer; CKS Algorithm 3)."""
    t = math.isqrt(s2) + 1
    den = 2 * s2 * t * t
    while True:
        y = _laplace_scalar(t, rnd)
        num = (abs(y) * t - s2) ** 2  # gamma = (|y| - s2/t)^2 / (2 s2) = num / den
        if _bernoulli_exp(num, den, rnd):
            return y


def _exp_neg_bounds(num: int, den: int, prec: int) -> tuple[Fraction, Fraction]:
    """Rigorous rational bounds on ``exp(-num/den)`` (mpmath interval arithmetic)."""
    from mpmath import iv

    old = iv.prec
    iv.prec = prec
    try:
        x = iv.exp(-iv.mpf(num) / iv.mpf(den))
    finally:
        iv.prec = old
    lo, hi = x._mpi_

    def frac(v: tuple) -> Fraction:
        sign, man, exp, _ = v
        f = Fraction(int(man)) * (Fraction(2) ** int(exp))
        return -f if sign else f

    return frac(lo), frac(hi)


def _decide_exact(u: int, bits: int, num: int, den: int, rng: np.random.Generator) -> bool:
    """Is the uniform ``U`` whose first ``bits`` bits are ``u`` below ``exp(-num/den)``?

    More bits of ``U`` and more precision of the bound until the answer is certain; with
    rigorous bounds this decides ``U < p`` exactly, so the Bernoulli is exact.
    """
    prec = 128
    while True:
        lo, hi = _exp_neg_bounds(num, den, prec)
        if Fraction(u + 1, 1 << bits) <= lo:
            return True
        if Fraction(u, 1 << bits) >= hi:
            return False
        u = (u << 32) | int(rng.integers(0, 2**32))
        bits += 32
        prec += 64


def discrete_gaussian(s2: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` exact draws of the discrete Gaussian with integer variance parameter ``s2``.

    CKS Algorithm 3, vectorised: a discrete Laplace proposal with scale ``t = isqrt(s2) + 1``,
    accepted with probability ``exp(-(|y| - s2/t)^2 / (2 s2))``. The acceptance compares a
    uniform with that probability: its first 53 bits against the double-precision value with a
    generous error margin decide all but about one draw in 10^9; those are decided exactly by
    :func:`_decide_exact` (more bits, interval arithmetic). So the draws are exact.
    """
    s2 = int(s2)
    if s2 < 1:
        raise ValueError("the discrete Gaussian variance parameter must be a positive integer")
    t = math.isqrt(s2) + 1
    if t > MAX_VECTOR_SCALE or size <= SMALL:
        return _scalar_draws(_gaussian_scalar, s2, size, rng, t > MAX_VECTOR_SCALE)
    out = np.zeros(size, dtype=np.int64)
    todo = np.arange(size)
    while todo.size:
        m = todo.size
        y = discrete_laplace(t, m, rng)
        ay = np.abs(y)
        g = (ay - s2 / t) ** 2 / (2.0 * s2)
        p = np.exp(-g)
        err = 1e-9 * p * (1.0 + g) + 2.0**-60
        u = rng.integers(0, 2**53, size=m)
        lo_u = np.ldexp(u.astype(np.float64), -53)
        hi_u = np.ldexp((u + 1).astype(np.float64), -53)
        accept = hi_u <= p - err
        undecided = ~accept & ~(lo_u >= p + err)
        for i in np.flatnonzero(undecided):
            a = int(ay[i])
            accept[i] = _decide_exact(int(u[i]), 53, (a * t - s2) ** 2, 2 * s2 * t * t, rng)
        out[todo[accept]] = y[accept]
        todo = todo[~accept]
    return out


# --------------------------------------------------------------------------- secure: OpenDP
@functools.lru_cache(maxsize=256)
def _opendp_measurement(kind: str, scale: float):
    import opendp.prelude as dp

    dp.enable_features("contrib")
    dom = dp.vector_domain(dp.atom_domain(T="i64"))
    if kind == "laplace":
        return dp.m.make_laplace(dom, dp.l1_distance(T="i64"), scale=scale)
    return dp.m.make_gaussian(dom, dp.l2_distance(T="i64"), scale=scale)


def secure_discrete_laplace(t: int, size: int) -> np.ndarray:
    """``size`` discrete Laplace draws with integer scale ``t`` from OpenDP (OS CSPRNG)."""
    return np.asarray(_opendp_measurement("laplace", float(t))([0] * size), dtype=np.int64)


def secure_discrete_gaussian(s2: int, size: int) -> np.ndarray:
    """``size`` discrete Gaussian draws with variance parameter ``s2`` from OpenDP (OS CSPRNG).

    OpenDP takes the standard deviation as a float; ``sqrt(s2)`` rounded up to a float is at
    least the exact root, so the noise is never below the accounted variance.
    """
    sd = math.sqrt(s2)
    if sd * sd < s2:
        sd = math.nextafter(sd, math.inf)
    return np.asarray(_opendp_measurement("gaussian", sd)([0] * size), dtype=np.int64)

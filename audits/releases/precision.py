"""The precision test: does the floating-point form of the outputs tell D from D'?

A release computed as ``value + scale * noise`` in doubles lands on a set of floats that depends
on ``value``: the lowest set bit of the output, and how many trailing zeros its significand
has, differ between D and D' even when the noise hides the value itself (Mironov 2012; Haney et
al. 2022 found such leaks in deployed libraries). A value-only test (threshold on the output,
rounded scores) cannot see this.

This test reads each output coordinate's raw IEEE-754 bits and keeps two integers: the exponent
of its lowest set bit (the finest power of two it is a multiple of) and the trailing zeros of
its 52-bit fraction. On the selection half it learns, per coordinate, the log-ratio of the two
worlds' frequencies of each (lowest bit, trailing zeros) pair (add-1/2 smoothing; unseen pairs
score 0), and scores an output by the sum over coordinates. The held-out half then gives a
Clopper-Pearson bound exactly as for the value test, so the bound is certified whatever the
mechanism is. A lattice release (:mod:`privcausal.privacy.lattice`) puts both worlds on the same
lattice with noise that is itself epsilon-DP, so its bound stays at most the claim.

References
----------
.. [1] Mironov, "On significance of the least significant bits for differential privacy",
   CCS 2012.
.. [2] Haney, Desfontaines, Hartman, Shrestha, Hay, "Precision-based attacks and interval
   refining: how to break, then fix, differential privacy on finite computers", TPDP 2022.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["float_features", "precision_score"]

_FRAC = np.uint64((1 << 52) - 1)


def _trailing_zeros(v: np.ndarray) -> np.ndarray:
    """Trailing zero bits of each uint64 (64 for zero)."""
    v = v.astype(np.uint64)
    out = np.zeros(v.shape, dtype=np.int64)
    zero = v == 0
    low = v & (~v + np.uint64(1))  # lowest set bit
    with np.errstate(divide="ignore"):
        out[~zero] = np.log2(low[~zero].astype(np.float64)).astype(np.int64)
    out[zero] = 64
    return out


def float_features(x: np.ndarray) -> np.ndarray:
    """One integer per float: (lowest-set-bit exponent + 1200) * 64 + trailing zeros of the fraction.

    Zero maps to 0. Subnormals and normals share the formula (their exponent field differs).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    bits = x.view(np.uint64)
    frac = bits & _FRAC
    expo = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64)
    tz = np.minimum(_trailing_zeros(frac), 52)
    e = np.where(expo == 0, -1074, expo - 1075)  # exponent of the significand's last bit
    lowbit = e + tz
    key = (lowbit + 1200) * 64 + tz
    return np.where(x == 0.0, 0, key)


def precision_score(sel_a: np.ndarray, sel_b: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A score learnt on selection halves ``sel_a`` (D) and ``sel_b`` (D'): high says D'."""
    fa, fb = float_features(sel_a), float_features(sel_b)
    tables = []
    for j in range(fa.shape[1]):
        keys = np.union1d(fa[:, j], fb[:, j])
        ca = np.zeros(keys.size)
        cb = np.zeros(keys.size)
        ua, na = np.unique(fa[:, j], return_counts=True)
        ub, nb = np.unique(fb[:, j], return_counts=True)
        ca[np.searchsorted(keys, ua)] = na
        cb[np.searchsorted(keys, ub)] = nb
        k = keys.size + 1
        llr = np.log((cb + 0.5) / (len(fb) + 0.5 * k)) - np.log((ca + 0.5) / (len(fa) + 0.5 * k))
        if np.all(np.abs(llr) < 1e-12):
            continue
        tables.append((j, keys, llr))

    def precision_llr(out: np.ndarray) -> np.ndarray:
        f = float_features(np.asarray(out, dtype=np.float64).reshape(len(out), -1))
        s = np.zeros(len(f))
        for j, keys, llr in tables:
            pos = np.clip(np.searchsorted(keys, f[:, j]), 0, keys.size - 1)
            hit = keys[pos] == f[:, j]
            s += np.where(hit, llr[pos], 0.0)
        return np.round(s, 9)

    return precision_llr

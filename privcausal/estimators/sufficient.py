"""Sufficient statistics of linear models, per treatment arm: sums over records.

For an encoded design row ``z`` (with a leading 1), outcome ``y`` and arm ``t``, the
statistics are, for each arm a in {0, 1}: ``n_a``, ``sum z z'``, ``sum z y``, ``sum y^2``.
They are sums, so partial statistics of disjoint chunks, partitions or sites add up
(``a + b``); the privacy noise is added once, to the total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from privcausal.exceptions import DataValidationError

__all__ = ["SufficientStats", "compute_stats"]


@dataclass(frozen=True)
class SufficientStats:
    """Per-arm sums; arrays indexed by arm (0 = control, 1 = treated).

    Attributes
    ----------
    n : (2,) float
    zz : (2, p, p) float, sum of z z'
    zy : (2, p) float, sum of z y
    yy : (2,) float, sum of y^2
    """

    n: np.ndarray
    zz: np.ndarray
    zy: np.ndarray
    yy: np.ndarray

    @property
    def p(self) -> int:
        return int(self.zz.shape[1])

    def __add__(self, other: "SufficientStats") -> "SufficientStats":
        if not isinstance(other, SufficientStats):
            return NotImplemented
        if other.p != self.p:
            raise DataValidationError("cannot add statistics of designs with different widths")
        return SufficientStats(self.n + other.n, self.zz + other.zz, self.zy + other.zy, self.yy + other.yy)

    @classmethod
    def zeros(cls, p: int) -> "SufficientStats":
        return cls(np.zeros(2), np.zeros((2, p, p)), np.zeros((2, p)), np.zeros(2))

    def allclose(self, other: "SufficientStats", rtol: float = 1e-10, atol: float = 1e-8) -> bool:
        return all(
            np.allclose(a, b, rtol=rtol, atol=atol)
            for a, b in ((self.n, other.n), (self.zz, other.zz), (self.zy, other.zy), (self.yy, other.yy))
        )


def compute_stats(Z: np.ndarray, t: np.ndarray, y: np.ndarray) -> SufficientStats:
    """Per-arm sufficient statistics of the design ``Z`` (n x p, intercept included).

    One Gram matrix per arm; the treated arm's rows are gathered once.
    """
    Z = np.asarray(Z, dtype=np.float64)
    t = np.asarray(t)
    y = np.asarray(y, dtype=np.float64)
    if Z.ndim != 2 or len(Z) != len(t) or len(t) != len(y):
        raise DataValidationError("Z, t and y must have matching lengths")
    p = Z.shape[1]
    zz = np.empty((2, p, p))
    zy = np.empty((2, p))
    n = np.empty(2)
    yy = np.empty(2)
    mask = t == 1
    for arm, m in ((1, mask), (0, ~mask)):
        Za, ya = Z[m], y[m]
        zz[arm] = Za.T @ Za
        zy[arm] = Za.T @ ya
        n[arm] = float(m.sum())
        yy[arm] = float(ya @ ya)
    return SufficientStats(n, zz, zy, yy)

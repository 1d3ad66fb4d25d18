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


def _block_rows(q: int) -> int:
    """Rows per block: a block of q float64 columns stays near 4 MiB, in cache."""
    return int(min(65_536, max(1_024, (4 << 20) // (8 * max(q, 1)))))


def compute_stats(Z: np.ndarray, t: np.ndarray, y: np.ndarray) -> SufficientStats:
    """Per-arm sufficient statistics of the design ``Z`` (n x p, intercept included).

    Rows with ``t == 1`` form the treated arm, all others the control arm. The rows are
    processed in cache-sized blocks: each block is copied, with ``y`` as an extra column, into
    a reused buffer ``[Z, y]``, and gathered once more with its treated rows first; for each
    arm, one symmetric rank-k update (BLAS ``syrk``, which numpy uses for ``A.T @ A``) of the
    augmented rows then gives ``sum z z'``, ``sum z y`` and ``sum y^2`` at once. One pass over
    ``Z`` and two BLAS calls per block; memory beyond the inputs is two blocks, whatever n.

    References
    ----------
    .. [1] J. J. Dongarra, J. Du Croz, S. Hammarling and I. S. Duff, "A set of level 3 basic
       linear algebra subprograms", ACM TOMS 16(1), 1990 (``syrk``: C += A' A).
    """
    Z = np.asarray(Z, dtype=np.float64)
    t = np.asarray(t)
    y = np.asarray(y, dtype=np.float64)
    if Z.ndim != 2 or t.ndim != 1 or y.ndim != 1 or len(Z) != len(t) or len(t) != len(y):
        raise DataValidationError("Z, t and y must have matching lengths")
    n_rows, p = Z.shape
    q = p + 1
    gram = np.zeros((2, q, q))
    mask = t == 1
    n1 = float(np.count_nonzero(mask))
    rows = max(1, min(_block_rows(q), n_rows))
    aug = np.empty((rows, q))  # [Z, y] of the block, in the data's order
    arms = np.empty((rows, q))  # the same rows, treated first
    for start in range(0, n_rows, rows):
        stop = min(n_rows, start + rows)
        m = mask[start:stop]
        treated = np.flatnonzero(m)
        k = len(treated)
        order = np.concatenate((treated, np.flatnonzero(~m)))
        a = aug[: stop - start]
        a[:, :p] = Z[start:stop]
        a[:, p] = y[start:stop]
        b = arms[: stop - start]
        # into a contiguous ``out``, np.take writes directly; mode="clip" skips the bounds
        # check (``order`` is a permutation of the block's rows, so nothing is clipped).
        np.take(a, order, axis=0, out=b, mode="clip")
        for arm, part in ((1, b[:k]), (0, b[k:])):
            if len(part):
                gram[arm] += part.T @ part  # the same buffer transposed: numpy calls syrk
    zz = np.ascontiguousarray(gram[:, :p, :p])
    zy = np.ascontiguousarray(gram[:, :p, p])
    yy = gram[:, p, p].copy()
    return SufficientStats(np.array([n_rows - n1, n1]), zz, zy, yy)

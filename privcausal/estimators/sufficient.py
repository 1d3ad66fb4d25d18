"""Sufficient statistics of linear models, per treatment arm: sums over records.

For an encoded design row ``z`` (with a leading 1), outcome ``y`` and arm ``t``, the
statistics are, for each arm a in {0, 1}: ``n_a``, ``sum z z'``, ``sum z y``, ``sum y^2``.
They are sums, so partial statistics of disjoint chunks, partitions or sites add up
(``a + b``); the privacy noise is added once, to the total.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from privcausal.exceptions import DataValidationError

__all__ = ["SufficientStats", "compute_stats", "compute_stats_with_intercept"]


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
    """Rows per block: a block of q float64 columns stays near 512 KiB, in the core's L2 cache."""
    return int(min(8_192, max(512, (512 << 10) // (8 * max(q, 1)))))


def _arm_sums(X: np.ndarray, mask: np.ndarray, y: np.ndarray, intercept: bool, lo: int, hi: int) -> np.ndarray:
    """Both arms' ``[z, y]`` Gram matrices of rows ``lo:hi`` (``z = [1, x]`` if ``intercept``).

    Block by block, the rows are gathered treated first into a reused buffer (one ``take`` of
    the block, which the product then reads from cache); one symmetric rank-k update (BLAS
    ``syrk``) per arm gives ``sum z z'``, a matrix-vector product ``sum z y`` and a dot product
    ``sum y^2``.
    """
    p = X.shape[1] + int(intercept)
    gram = np.zeros((2, p + 1, p + 1))
    rows = max(1, min(_block_rows(p), hi - lo))
    buf = np.empty((rows, p))
    if intercept:
        buf[:, 0] = 1.0
        xbuf = np.empty((rows, X.shape[1]))
    ybuf = np.empty(rows)
    for start in range(lo, hi, rows):
        stop = min(hi, start + rows)
        r = stop - start
        m = mask[start:stop]
        treated = np.flatnonzero(m)
        k = len(treated)
        order = np.concatenate((treated, np.flatnonzero(~m)))
        b = buf[:r]
        c = ybuf[:r]
        # np.take writes straight into a contiguous ``out``; mode="clip" skips the bounds check
        # (``order`` is a permutation of the block's rows, so nothing is clipped).
        if intercept:
            np.take(X[start:stop], order, axis=0, out=xbuf[:r], mode="clip")
            b[:, 1:] = xbuf[:r]
        else:
            np.take(X[start:stop], order, axis=0, out=b, mode="clip")
        np.take(y[start:stop], order, out=c, mode="clip")
        for arm, part, yp in ((1, b[:k], c[:k]), (0, b[k:], c[k:])):
            if len(part):
                g = gram[arm]
                g[:p, :p] += part.T @ part  # the same buffer transposed: numpy calls syrk
                g[:p, p] += yp @ part
                g[p, p] += yp @ yp
    return gram


def _threads(n_threads: int | None, n_rows: int, rows: int) -> int:
    """Worker threads: ``n_threads``, or the BLAS threads in force (threadpoolctl), capped by the
    CPUs and by the blocks there are (a few blocks per worker at least)."""
    most = n_rows // (4 * rows)
    if n_threads is None:
        n_threads = 1
        if most < 2:  # too few blocks to split: no need to ask threadpoolctl
            return 1
        try:
            from threadpoolctl import threadpool_info

            found = [int(i.get("num_threads") or 1) for i in threadpool_info() if i.get("user_api") == "blas"]
            n_threads = max(found) if found else 1
        except Exception:  # pragma: no cover - threadpoolctl comes with scikit-learn
            n_threads = 1
    elif isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) or n_threads < 1:
        raise DataValidationError("n_threads must be a positive integer or None")
    return int(max(1, min(int(n_threads), os.cpu_count() or 1, most)))


def _gram(X: np.ndarray, mask: np.ndarray, y: np.ndarray, intercept: bool, n_threads: int | None) -> np.ndarray:
    n_rows = len(X)
    rows = _block_rows(X.shape[1] + int(intercept))
    workers = _threads(n_threads, n_rows, rows)
    if workers == 1:
        return _arm_sums(X, mask, y, intercept, 0, n_rows)
    # Row ranges (whole blocks) for each worker; each runs single-threaded BLAS, so the
    # workers do not contend with BLAS's own threads. numpy releases the GIL in take and BLAS.
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    cuts = [min(n_rows, rows * round(i * n_rows / (workers * rows))) for i in range(workers + 1)]
    cuts[-1] = n_rows
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(lambda i: _arm_sums(X, mask, y, intercept, cuts[i], cuts[i + 1]), range(workers)))
    return np.sum(parts, axis=0)


def _checked(Z: np.ndarray, t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    t = np.asarray(t)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if Z.ndim != 2 or t.ndim != 1 or y.ndim != 1 or len(Z) != len(t) or len(t) != len(y):
        raise DataValidationError("Z, t and y must have matching lengths")
    return Z, t == 1, y


def _stats(gram: np.ndarray, n_rows: int, n1: float) -> SufficientStats:
    p = gram.shape[1] - 1
    zz = np.ascontiguousarray(gram[:, :p, :p])
    zy = np.ascontiguousarray(gram[:, :p, p])
    yy = gram[:, p, p].copy()
    return SufficientStats(np.array([n_rows - n1, n1]), zz, zy, yy)


def compute_stats(Z: np.ndarray, t: np.ndarray, y: np.ndarray, *, n_threads: int | None = None) -> SufficientStats:
    """Per-arm sufficient statistics of the design ``Z`` (n x p, intercept included).

    Rows with ``t == 1`` form the treated arm, all others the control arm. The rows are
    processed in blocks of about 512 KiB: each block is gathered, treated rows first, into a
    reused buffer (one ``take``); per arm, one symmetric rank-k update (BLAS ``syrk``, which
    numpy uses for ``A.T @ A``) of the gathered rows gives ``sum z z'``, and a matrix-vector
    product ``sum z y``. One pass over ``Z``; memory beyond the inputs is a block per thread,
    whatever n.

    Parameters
    ----------
    Z : (n, p) array
    t : (n,) array, 1 for treated
    y : (n,) array
    n_threads : int, optional
        Threads to split the rows over (each with one BLAS thread). Default: the number of
        BLAS threads in force (``threadpoolctl``), so ``threadpool_limits(1)`` means one.

    References
    ----------
    .. [1] J. J. Dongarra, J. Du Croz, S. Hammarling and I. S. Duff, "A set of level 3 basic
       linear algebra subprograms", ACM TOMS 16(1), 1990 (``syrk``: C += A' A).
    """
    Z, mask, y = _checked(Z, t, y)
    return _stats(_gram(Z, mask, y, False, n_threads), len(Z), float(np.count_nonzero(mask)))


def compute_stats_with_intercept(
    X: np.ndarray, t: np.ndarray, y: np.ndarray, *, n_threads: int | None = None
) -> SufficientStats:
    """:func:`compute_stats` of ``Z = [1, X]`` without building ``Z`` (no n x p copy)."""
    X, mask, y = _checked(X, t, y)
    return _stats(_gram(X, mask, y, True, n_threads), len(X), float(np.count_nonzero(mask)))

"""Linear algebra the estimators share (the regression adjustment, AdaSSP)."""

from __future__ import annotations

import numpy as np

__all__ = ["solve_ridge"]


def solve_ridge(a: np.ndarray, b: np.ndarray, ridge: float | np.ndarray = 0.0) -> np.ndarray:
    """Solve ``(a + ridge) theta = b``; the minimum-norm least-squares solution if singular.

    ``ridge`` is a scalar (added to the diagonal) or a vector of per-coordinate penalties.
    """
    m = np.array(a, dtype=np.float64, copy=True)
    m[np.diag_indices_from(m)] += ridge
    try:
        theta = np.linalg.solve(m, b)
        if np.all(np.isfinite(theta)) and np.linalg.cond(m) < 1e12:
            return theta
    except np.linalg.LinAlgError:
        pass
    return np.linalg.lstsq(m, b, rcond=None)[0]

"""Shared checks for the score functions: target statistics, reference statistics, masks.

Messages give shapes and counts, never values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from privcausal.exceptions import DataValidationError
from privcausal.validation import check_finite_array

__all__ = ["check_target_stat", "check_reference", "out_counts"]


def check_target_stat(x: Any, name: str = "target statistic") -> np.ndarray:
    """A finite float64 vector."""
    return check_finite_array(x, name=name, ndim=1)


def check_reference(ref: Any, ref_in: Any, n: int, name: str = "reference statistics"
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A finite (K, n) float64 matrix and a (K, n) boolean inclusion mask (None: all OUT)."""
    r = check_finite_array(ref, name=name, ndim=2)
    if r.shape[1] != n:
        raise DataValidationError(
            f"{name} has shape {r.shape}: expected one column per scored record ({n})"
        )
    if r.shape[0] < 1:
        raise DataValidationError(f"{name} holds no reference model")
    if ref_in is None:
        m = np.zeros(r.shape, dtype=bool)
    else:
        m = np.asarray(ref_in)
        if m.dtype != bool:
            raise DataValidationError("the inclusion mask must be boolean (True = the reference "
                                      "model trained on the record)")
        if m.shape != r.shape:
            raise DataValidationError(f"the inclusion mask has shape {m.shape}, the reference "
                                      f"statistics {r.shape}")
    return r, m


def out_counts(ref_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per record, the number of reference models that included (IN) and excluded (OUT) it."""
    n_in = ref_in.sum(0)
    return n_in, ref_in.shape[0] - n_in

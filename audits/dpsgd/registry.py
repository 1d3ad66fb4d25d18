"""The records DP-SGD audits train on by default: the simulated trauma registry, encoded."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["registry_features"]


def registry_features(n: int, random_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` records of the simulated trauma registry, encoded on the declared domain with rows
    scaled into the unit ball, and the binary outcome (30-day death)."""
    from privcausal.data import simulate_trauma
    from privcausal.design import DesignEncoder

    data = simulate_trauma(n=int(n), random_state=random_state)
    enc = DesignEncoder(data.domain)
    X = enc.transform(data.covariates) / float(enc.row_norm_bound)
    return X, np.asarray(data.outcome, dtype=np.float64)

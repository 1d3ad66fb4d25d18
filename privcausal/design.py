"""Turning covariates into a numeric design matrix using the Domain alone.

Nothing here is fitted on the data: scaling comes from the declared bounds, categories from
the declared categories. Missing values (registry data is full of them) are handled by the
missing-indicator method with declared-domain imputation:

* numeric column ``x`` in [lo, hi]: ``z = (x - (lo+hi)/2) / ((hi-lo)/2)`` in [-1, 1]; a missing
  value becomes 0 (the domain's centre) and, if the column may be missing, an indicator
  column ``x__missing`` is 1;
* categorical column: one-hot over the declared categories; missing gives all zeros and the
  indicator 1.

Each original column contributes at most 1 to a row's squared L2 norm, so every encoded row
has ``||z||_2 <= sqrt(number of columns)``: :attr:`DesignEncoder.row_norm_bound`. This is the
bound AdaSSP and DP-SGD clip to, and it is data-independent. Under DP the indicator method is
the natural choice: it needs no imputation model fitted to the data (which would need its own
privacy budget) and keeps missingness informative, which it often is in trauma care (a missing
blood pressure often means a patient too unstable to measure).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from privcausal.domain import Categorical, Domain, Numeric

__all__ = ["DesignEncoder"]


@dataclass(frozen=True)
class DesignEncoder:
    """Encodes a covariate frame into a float64 matrix using only the declared domain."""

    domain: Domain

    @property
    def feature_names(self) -> list[str]:
        names: list[str] = []
        for name, spec in self.domain.covariates.items():
            if isinstance(spec, Numeric):
                names.append(name)
            else:
                names.extend(f"{name}={c}" for c in spec.categories)
            if spec.missing:
                names.append(f"{name}__missing")
        return names

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def row_norm_bound(self) -> float:
        """Data-independent bound on the L2 norm of every encoded row."""
        return math.sqrt(max(1, len(self.domain.covariates)))

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Encode ``frame`` (already clipped to the domain: see :meth:`Domain.clip_covariates`)."""
        n = len(frame)
        blocks: list[np.ndarray] = []
        for name, spec in self.domain.covariates.items():
            col = frame[name]
            miss = col.isna().to_numpy()
            if isinstance(spec, Numeric):
                x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
                z = (x - spec.center) / spec.half_width
                z = np.clip(np.where(miss, 0.0, z), -1.0, 1.0)
                blocks.append(z[:, None])
            else:
                assert isinstance(spec, Categorical)
                codes = pd.Categorical(col, categories=list(spec.categories)).codes
                onehot = np.zeros((n, len(spec.categories)))
                ok = codes >= 0
                onehot[np.nonzero(ok)[0], codes[ok]] = 1.0
                blocks.append(onehot)
            if spec.missing:
                blocks.append(miss.astype(np.float64)[:, None])
        if not blocks:
            return np.zeros((n, 0))
        return np.hstack(blocks)

    def inverse_numeric(self, name: str, z: np.ndarray) -> np.ndarray:
        """Map encoded values of numeric column ``name`` back to its original scale."""
        spec = self.domain.covariates[name]
        if not isinstance(spec, Numeric):
            raise TypeError(f"column '{name}' is not numeric")
        return spec.center + spec.half_width * np.asarray(z)

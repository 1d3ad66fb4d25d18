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
from typing import Mapping

import numpy as np
import pandas as pd

from privcausal.domain import Categorical, Domain, Numeric

__all__ = ["DesignEncoder"]


#: bytes of transposed scratch per chunk of rows in DesignEncoder.encode_arrays (cache sized)
_CHUNK_BYTES = 4 << 20


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
        values: dict[str, np.ndarray] = {}
        for name, spec in self.domain.covariates.items():
            col = frame[name]
            if isinstance(spec, Numeric):
                x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
                values[name] = np.where(col.isna().to_numpy(), np.nan, x)
            else:
                assert isinstance(spec, Categorical)
                values[name] = np.asarray(pd.Categorical(col, categories=list(spec.categories)).codes)
        return self.encode_arrays(values, len(frame))

    def encode_arrays(self, values: Mapping[str, np.ndarray], n: int, out: np.ndarray | None = None,
                      offset: int = 0) -> np.ndarray:
        """Encode columns given as arrays, writing into ``out[:, offset:]`` (allocated if None).

        ``values[name]`` is, for a numeric column, float64 with NaN where missing; for a
        categorical one, integer codes into the declared categories with -1 where missing.
        The column-at-a-time core of :meth:`transform`, used by the streamed statistics to
        write a batch's design straight into a reused buffer (no frame, no ``hstack``).
        """
        if out is None:
            out = np.empty((n, offset + self.n_features))
        # Rows are encoded in chunks that stay in cache: each chunk's columns are built as
        # contiguous rows of a transposed scratch and written into ``out`` in one transposing
        # copy (column-at-a-time writes into a row-major ``out`` are slow, and a whole-batch
        # scratch would leave the cache before it is copied).
        width = self.n_features
        step = max(256, _CHUNK_BYTES // (8 * max(width, 1)))
        scratch = np.empty((width, min(n, step)))
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            self._encode_chunk(values, lo, hi, scratch[:, : hi - lo])
            out[lo:hi, offset : offset + width] = scratch[:, : hi - lo].T
        return out

    def _encode_chunk(self, values: Mapping[str, np.ndarray], lo: int, hi: int, scratch: np.ndarray) -> None:
        j = 0
        for name, spec in self.domain.covariates.items():
            v = values[name][lo:hi]
            if isinstance(spec, Numeric):
                miss = np.isnan(v)
                z = scratch[j]
                # (clip(v, lower, upper) - center) / half_width is clip((v - center) / half_width,
                # -1, 1): one clip, after scaling (it also absorbs rounding at the bounds)
                np.subtract(v, spec.center, out=z)
                np.divide(z, spec.half_width, out=z)
                np.minimum(z, 1.0, out=z)
                np.maximum(z, -1.0, out=z)
                if spec.missing or miss.any():
                    np.copyto(z, 0.0, where=miss)
                j += 1
            else:
                codes = np.asarray(v)
                miss = codes < 0
                k = len(spec.categories)
                block = scratch[j : j + k]
                block[:] = 0.0
                ok = np.flatnonzero(~miss)
                block[codes[ok], ok] = 1.0
                j += k
            if spec.missing:
                scratch[j] = miss
                j += 1

    def inverse_numeric(self, name: str, z: np.ndarray) -> np.ndarray:
        """Map encoded values of numeric column ``name`` back to its original scale."""
        spec = self.domain.covariates[name]
        if not isinstance(spec, Numeric):
            raise TypeError(f"column '{name}' is not numeric")
        return spec.center + spec.half_width * np.asarray(z)

"""A fixed piecewise-linear basis for the numeric covariates, placed by the declared domain.

The private nuisance models (:mod:`privcausal.estimators.propensity`) are linear in the encoded
design, so on a registry whose propensity or outcome is nonlinear in a covariate (the shock
index is a ratio of heart rate to blood pressure) both AIPW's models are misspecified and the
doubly robust estimate keeps the product of their errors as a bias. This module gives them a
flexible design without spending any budget: each numeric column ``z`` in ``[-1, 1]`` (the
encoder's scaling by the declared bounds, :mod:`privcausal.design`) is replaced by ``m`` "hat"
functions, the degree-1 B-splines on ``m`` knots spaced evenly over ``[-1, 1]``,

    ``h_j(z) = max(0, 1 - |z - c_j| (m - 1) / 2)``,  ``c_j = -1 + 2 j / (m - 1)``,

so a linear model on the hats is a piecewise-linear function of ``z`` with ``m - 1`` pieces.
Nothing here looks at the data: the knots come from the declared bounds (the encoder's
scaling), so the map is public and the models' privacy analyses are unchanged given the row
norm bound below.

Row norm: at most two hats are non-zero, ``h_j + h_{j+1} = 1``, so ``sum_j h_j(z)^2 <= 1``: the
column still contributes at most 1 to a row's squared norm. A missing value (the encoder's
``z = 0`` with indicator 1) gets all hats 0, so the column with its indicator contributes 1.
Hence :attr:`DesignEncoder.row_norm_bound` (``sqrt(number of columns)``) still bounds every
expanded row, which is what the objective-perturbation and sufficient-statistics releases clip
to. ``tests/test_basis.py`` checks both facts on worst-case rows.

References
----------
.. [1] de Boor, *A Practical Guide to Splines*, Springer 1978 (B-splines of degree 1).
.. [2] Hastie, Tibshirani, Friedman, *The Elements of Statistical Learning*, 2nd ed., ch. 5
   (basis expansions for additive models).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from privcausal.design import DesignEncoder
from privcausal.domain import Numeric
from privcausal.exceptions import PrivacyParameterError

__all__ = ["HatBasis", "check_knots"]


def check_knots(knots: Any) -> int | None:
    """``knots`` checked: None (the linear design) or an integer number of hats >= 3."""
    if knots is None:
        return None
    if isinstance(knots, bool) or not isinstance(knots, (int, np.integer)) or not 3 <= knots <= 64:
        raise PrivacyParameterError("knots must be None (linear in each covariate) or an integer in [3, 64]")
    return int(knots)


class HatBasis:
    """Expand an encoded design: every numeric column becomes ``knots`` hat functions.

    Parameters
    ----------
    encoder : DesignEncoder
        The encoder that produced the design (its domain says which columns are numeric and
        which carry a missing indicator).
    knots : int
        Number of hats per numeric column (>= 3; 3 gives two linear pieces).

    Notes
    -----
    Categorical one-hot columns and missing indicators are kept as they are. The expanded
    design has ``n_features + (knots - 1) * number of numeric columns`` columns and its rows
    keep the encoder's :attr:`~DesignEncoder.row_norm_bound`.
    """

    def __init__(self, encoder: DesignEncoder, knots: int) -> None:
        k = check_knots(knots)
        if k is None:
            raise PrivacyParameterError("HatBasis needs an integer number of knots")
        self.knots = k
        self.centres = np.linspace(-1.0, 1.0, k)
        names = encoder.feature_names
        index = {name: j for j, name in enumerate(names)}
        self._numeric: list[tuple[int, int | None]] = []  # (column, its missing indicator or None)
        for name, spec in encoder.domain.covariates.items():
            if isinstance(spec, Numeric):
                self._numeric.append((index[name], index.get(f"{name}__missing") if spec.missing else None))
        numeric_cols = {j for j, _ in self._numeric}
        self._kept = [j for j in range(len(names)) if j not in numeric_cols]
        self.feature_names = [names[j] for j in self._kept] + [
            f"{names[j]}#hat{i}" for j, _ in self._numeric for i in range(k)]
        self.n_input = len(names)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """The expanded design of ``X`` (rows encoded by the encoder given at construction)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_input:
            raise ValueError(f"expected a design with {self.n_input} columns, got shape {X.shape}")
        n = X.shape[0]
        k = self.knots
        out = np.empty((n, len(self._kept) + k * len(self._numeric)))
        out[:, : len(self._kept)] = X[:, self._kept]
        scale = (k - 1) / 2.0
        col = len(self._kept)
        for j, miss in self._numeric:
            u = (np.clip(X[:, j], -1.0, 1.0) + 1.0) * scale  # position in knot units, [0, k-1]
            left = np.minimum(np.floor(u).astype(np.intp), k - 2)
            frac = u - left  # in [0, 1]: weight of the right-hand hat
            block = np.zeros((n, k))
            rows = np.arange(n)
            block[rows, left] = 1.0 - frac
            block[rows, left + 1] = frac  # exactly two entries, (1-f)^2 + f^2 <= 1
            if miss is not None:
                block[X[:, miss] > 0.5] = 0.0
            out[:, col : col + k] = block
            col += k
        return out

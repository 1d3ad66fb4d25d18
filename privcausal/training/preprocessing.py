"""Training inputs from a CausalData, using the declared domain only.

The features are ``data.X``: the :class:`~privcausal.design.DesignEncoder`'s declared-domain
scaling to [-1, 1], one-hot over declared categories and missing indicators. Nothing is
fitted on the data, so preprocessing spends no privacy. Every encoded row has L2 norm at
most ``data.encoder.row_norm_bound`` (sqrt of the number of columns); with the treatment
appended as a 0/1 column the bound grows to sqrt(columns + 1).

DP-SGD's guarantee does not rest on this bound (per-sample clipping does), but a bounded
input keeps the gradients of a linear layer bounded too, so less is lost to clipping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from privcausal.exceptions import DataTypeError

__all__ = ["EncodedData", "encode"]


@dataclass(frozen=True)
class EncodedData:
    """Encoded features and outcome, ready for :func:`~privcausal.training.train_dpsgd`.

    Attributes
    ----------
    X : (n, d) float64; y : (n,) float64
    feature_names : list of str
    row_norm_bound : float, data-independent bound on ``||X[i]||_2``
    loss : "bce" for a declared binary outcome, else "mse"
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    row_norm_bound: float
    loss: str

    @property
    def n_features(self) -> int:
        return self.X.shape[1]


def encode(data, *, include_treatment: bool = False) -> EncodedData:
    """Encode ``data`` (a CausalData); ``include_treatment`` appends the 0/1 treatment."""
    from privcausal.data import CausalData

    if not isinstance(data, CausalData):
        raise DataTypeError(f"encode expects a privcausal CausalData, got {type(data).__name__}")
    enc = data.encoder
    X = data.X
    names = list(enc.feature_names)
    bound = enc.row_norm_bound
    if include_treatment:
        X = np.hstack([X, data.treatment.astype(np.float64)[:, None]])
        names.append("treatment")
        bound = math.sqrt(bound**2 + 1.0)
    loss = "bce" if data.domain.outcome.binary else "mse"
    return EncodedData(X, np.asarray(data.outcome, dtype=np.float64), names, float(bound), loss)

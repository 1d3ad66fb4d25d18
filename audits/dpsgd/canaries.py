"""Canary designs for DP-SGD audits of linear and logistic models.

* :func:`dirac_canary` (white-box and hidden-state threat models): the training data get one
  extra feature column that is zero for every real record; the canary is the record that is
  zero everywhere except ``scale`` on that column, with outcome 1. For a linear layer its
  per-sample gradient on the weight of the canary column is ``(sigmoid(z) - 1) * scale`` and every other
  record's gradient there is exactly 0, so that coordinate of each step's noisy gradient sum
  is the canary's clipped gradient plus N(0, (sigma C)^2): a Dirac gradient canary built from
  a record (the trainer has no gradient-injection hook). It stays clipped (its gradient norm
  >= C) while ``|p - 1| * sqrt(scale^2 + 1) >= C``; :meth:`DiracCanary.gradient_norm` checks
  this along a recorded trajectory.
* :func:`input_canary` (black-box): an outlier record, far outside the data along a fixed
  random direction, with a label, whose loss on the final model is the attack score.

References
----------
.. [1] Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis, "Tight auditing of
   differentially private machine learning", USENIX Security 2023 (Dirac canaries).
.. [2] Jagielski, Ullman, Oprea, "Auditing differentially private machine learning: how private
   is private SGD?", NeurIPS 2020 (input-space canaries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from privcausal.exceptions import DataValidationError
from privcausal.validation import check_random_state

__all__ = ["DiracCanary", "InputCanary", "dirac_canary", "input_canary"]


@dataclass(frozen=True)
class DiracCanary:
    """A record whose gradient lies (almost) along one weight coordinate no real record uses.

    ``X`` is the data with the canary column appended (zeros) and the canary as its last row;
    ``y`` likewise. ``coordinate`` is the canary column, ``index`` the canary's row.
    """

    X: np.ndarray
    y: np.ndarray
    coordinate: int
    index: int
    scale: float
    label: float

    @property
    def record(self) -> tuple[np.ndarray, float]:
        return self.X[self.index], float(self.y[self.index])

    def gradient_norm(self, weight: Any, bias: Any, loss: str = "bce") -> np.ndarray:
        """Unclipped per-sample gradient norm of the canary for weights (..., d) and biases (...)."""
        w = np.asarray(weight, dtype=np.float64)[..., self.coordinate]
        b = np.asarray(bias, dtype=np.float64).reshape(w.shape)
        z = w * self.scale + b
        if loss == "bce":
            r = 1.0 / (1.0 + np.exp(-z)) - self.label
        else:
            r = 2.0 * (z - self.label)
        return np.abs(r) * np.sqrt(self.scale**2 + 1.0)

    def clipped_coordinate_gradient(self, weight: Any, bias: Any, max_grad_norm: float,
                                    loss: str = "bce") -> np.ndarray:
        """The canary's gradient on its own weight coordinate after clipping at ``max_grad_norm``,
        for weights (..., d) and biases (...): what it adds to that coordinate of the step's sum."""
        w = np.asarray(weight, dtype=np.float64)[..., self.coordinate]
        b = np.asarray(bias, dtype=np.float64).reshape(w.shape)
        z = w * self.scale + b
        r = (1.0 / (1.0 + np.exp(-z)) - self.label) if loss == "bce" else 2.0 * (z - self.label)
        norm = np.abs(r) * np.sqrt(self.scale**2 + 1.0)
        factor = np.minimum(1.0, float(max_grad_norm) / np.maximum(norm, 1e-300))
        return r * self.scale * factor


@dataclass(frozen=True)
class InputCanary:
    """An outlier record appended to the data: ``X``/``y`` hold it as row ``index``."""

    X: np.ndarray
    y: np.ndarray
    index: int

    @property
    def record(self) -> tuple[np.ndarray, float]:
        return self.X[self.index], float(self.y[self.index])


def dirac_canary(X: Any, y: Any, *, max_grad_norm: float = 1.0, scale: float | None = None,
                 label: float = 1.0) -> DiracCanary:
    """Append a zero feature column to ``X`` and the Dirac canary record as the last row.

    ``scale`` (default ``10 * max_grad_norm``) is the canary's value on the new column: its
    gradient stays clipped while the model's canary logit z keeps ``|sigmoid(z) - label|
    * sqrt(scale^2 + 1) >= max_grad_norm`` (for scale 10 C: z <= 2.2 with label 1); train from a
    zero start with a modest learning rate so that holds (check with ``gradient_norm``).
    """
    Xa = np.asarray(X, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64).ravel()
    if Xa.ndim != 2 or ya.shape[0] != Xa.shape[0]:
        raise DataValidationError("X must be (n, d) and y (n,)")
    s = 10.0 * float(max_grad_norm) if scale is None else float(scale)
    if not s > 0 or not np.isfinite(s):
        raise DataValidationError("scale must be positive and finite")
    n, d = Xa.shape
    Xc = np.zeros((n + 1, d + 1))
    Xc[:n, :d] = Xa
    Xc[n, d] = s
    yc = np.append(ya, float(label))
    return DiracCanary(Xc, yc, d, n, s, float(label))


def input_canary(X: Any, y: Any, *, distance: float = 5.0, label: float | None = None,
                 random_state: Any = None) -> InputCanary:
    """Append an outlier: the data mean plus ``distance`` times the largest column range along a
    random unit direction, labelled ``label`` (default: the rarer outcome class for 0/1 outcomes,
    else the maximum outcome)."""
    Xa = np.asarray(X, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64).ravel()
    if Xa.ndim != 2 or ya.shape[0] != Xa.shape[0]:
        raise DataValidationError("X must be (n, d) and y (n,)")
    rng = check_random_state(random_state)
    u = rng.standard_normal(Xa.shape[1])
    u /= np.linalg.norm(u)
    spread = float(np.max(Xa.max(0) - Xa.min(0))) if Xa.shape[0] > 1 else 1.0
    x = Xa.mean(0) + float(distance) * max(spread, 1.0) * u
    if label is None:
        binary = bool(np.all(np.isin(ya, (0.0, 1.0))))
        label = float(ya.mean() < 0.5) if binary else float(ya.max())
    return InputCanary(np.vstack([Xa, x]), np.append(ya, float(label)), Xa.shape[0])

"""One way for every attack to query what it attacks.

A :class:`Target` turns records into per-record statistics:

========================  ===================================================================
``loss``                  the training loss of the record (cross-entropy; squared error)
``confidence``            P(true label | x), the probability RMIA uses; for regression the
                          Gaussian likelihood ``exp(-(y - f)^2 / (2 scale^2))``
``logit``                 logit-scaled confidence log p_y - log(1 - p_y) (LiRA), computed in
                          float64 from logits, never from a rounded probability
``residual``              y - f(x) (regression)
``neg_abs_error``         -|y - f(x)| (regression)
``neg_sq_error``          -(y - f(x))^2 (regression)
``prediction``            f(x) (regression) / P(class 1) (binary)
========================  ===================================================================

Adapters: :class:`TorchTarget` (any ``torch.nn.Module`` with a ``bce``, ``mse`` or ``ce``
loss), :class:`SklearnTarget` (``predict_proba`` or ``predict``),
:class:`~attacks.targets.score_file.ScoreTarget` (per-record statistics computed elsewhere,
e.g. a CSV with an ``id`` column), and released model folders
(:class:`~attacks.targets.model_file.ReleasedModelTarget`, through
:func:`~attacks.targets.factory.load_target`). :func:`~attacks.targets.factory.as_target`
picks one.

This module holds the protocol (:class:`Target`) and the statistics; the adapters live in
:mod:`attacks.targets.adapters`, :mod:`~attacks.targets.score_file` and
:mod:`~attacks.targets.model_file`, the factory in :mod:`attacks.targets.factory`: each imports
this module and none imports the factory, so there is no import cycle.

Convention for the attacks built on these: member = 1, higher score = more likely member.

References
----------
.. [1] Carlini et al., "Membership inference attacks from first principles", IEEE S&P 2022
   (Section IV-C: the logit scaling of the confidence, and its numerically stable form).
.. [2] Zarifzadeh, Liu, Shokri, ICML 2024 (P(x | theta) as the probability of the true label).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
from scipy.special import expit, log_expit, logsumexp

from attacks.records import Records, as_records
from privcausal.exceptions import DataValidationError
from privcausal.validation import check_finite_array

__all__ = ["STATISTICS", "TASKS", "LOSS_OF_TASK", "Target", "statistic_from_outputs", "check_stat"]

TASKS = ("binary", "multiclass", "regression")
#: the training loss of each task (what a torch model of that task is queried with)
LOSS_OF_TASK = {"binary": "bce", "regression": "mse", "multiclass": "ce"}
STATISTICS = ("loss", "confidence", "logit", "residual", "neg_abs_error", "neg_sq_error", "prediction")
_CLASSIFICATION_ONLY = ("logit",)
_REGRESSION_ONLY = ("residual", "neg_abs_error", "neg_sq_error")


def check_stat(name: str, task: str) -> None:
    if name not in STATISTICS:
        raise DataValidationError(f"unknown statistic {name!r}; choose from {STATISTICS}")
    if task == "regression" and name in _CLASSIFICATION_ONLY:
        raise DataValidationError(f"the statistic {name!r} needs a classifier; this target is a regression")
    if task != "regression" and name in _REGRESSION_ONLY:
        raise DataValidationError(f"the statistic {name!r} needs a regression; this target is a classifier")


def _labels(y: Any, n_classes: int) -> np.ndarray:
    ya = check_finite_array(y, name="outcome", ndim=1)
    bad = int(np.sum((ya != np.round(ya)) | (ya < 0) | (ya >= n_classes)))
    if bad:
        raise DataValidationError(f"{bad} outcomes are not class labels 0..{n_classes - 1}")
    return ya.astype(np.int64)


def statistic_from_outputs(out: Any, y: Any, task: str, name: str, *, scale: float = 1.0) -> np.ndarray:
    """A statistic from raw model outputs.

    ``out``: logits (n,) for ``binary``; logits or log-probabilities (n, C) for ``multiclass``;
    predictions (n,) for ``regression``. Stacked outputs (K, n) or (K, n, C) give (K, n).
    ``scale`` is the Gaussian scale of a regression ``confidence``.
    """
    check_stat(name, task)
    o = np.asarray(out, dtype=np.float64)
    if task == "binary":
        yl = _labels(y, 2)
        s = np.where(yl == 1, o, -o)  # log p_y - log(1 - p_y), exact
        if name == "logit":
            return s
        if name == "loss":
            return np.logaddexp(0.0, -s)
        if name == "confidence":
            return np.exp(log_expit(s))
        return expit(o)  # prediction: P(class 1)
    if task == "multiclass":
        C = o.shape[-1]
        yl = _labels(y, C)
        logp = o - logsumexp(o, axis=-1, keepdims=True)
        idx = np.broadcast_to(yl, o.shape[:-1])[..., None]
        lp_y = np.take_along_axis(logp, idx, axis=-1)[..., 0]
        if name == "loss":
            return -lp_y
        if name == "confidence":
            return np.exp(lp_y)
        if name == "logit":
            other = logp.copy()
            np.put_along_axis(other, idx, -np.inf, axis=-1)
            return lp_y - logsumexp(other, axis=-1)
        raise DataValidationError("a multiclass target has no scalar prediction statistic")
    if task != "regression":
        raise DataValidationError(f"task must be one of {TASKS}, got {task!r}")
    ya = check_finite_array(y, name="outcome", ndim=1)
    r = ya - o
    if name == "residual":
        return r
    if name in ("loss", "neg_sq_error"):
        return r * r if name == "loss" else -(r * r)
    if name == "neg_abs_error":
        return -np.abs(r)
    if name == "confidence":
        sc = float(scale)
        if not sc > 0 or not math.isfinite(sc):
            raise DataValidationError("the Gaussian scale of a regression confidence must be positive")
        return np.exp(-0.5 * (r / sc) ** 2)
    return o + 0.0 * ya


class Target:
    """What an attack queries. Subclasses set ``task`` and implement :meth:`outputs`.

    Attributes
    ----------
    task : "binary", "multiclass" or "regression"
    feature_names : the model's feature names, or None
    n_features : the number of input columns, or None
    recipe : how the model was trained (a :class:`~privcausal.training.DPSGDRecipe` or its mapping),
        when known: reference models then follow it
    description : in words, for reports
    """

    task: str = "binary"
    feature_names: tuple[str, ...] | None = None
    n_features: int | None = None
    recipe: Mapping[str, Any] | None = None
    description: str = "model"

    def outputs(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def records(self, data: Any, **kwargs: Any) -> Records:
        """``data`` as :class:`Records` with this model's feature columns (checked)."""
        kwargs.setdefault("n_features", self.n_features)
        return as_records(data, feature_names=self.feature_names, **kwargs)

    def _check_X(self, r: Records) -> np.ndarray:
        if r.X is None:
            raise DataValidationError(f"{self.description} needs feature columns to be queried")
        if self.n_features is not None and r.X.shape[1] != self.n_features:
            raise DataValidationError(
                f"the data has {r.X.shape[1]} feature columns, {self.description} expects "
                f"{self.n_features}: encode the data as the model was trained")
        if self.feature_names is not None and r.feature_names is not None \
                and tuple(r.feature_names) != tuple(self.feature_names):
            raise DataValidationError("the records' feature columns differ from the model's "
                                      "(names or order); build them with target.records(data)")
        return r.X

    def statistic(self, data: Any, name: str, *, scale: float = 1.0) -> np.ndarray:
        """Per-record statistic ``name`` (see the module docstring) on ``data``."""
        r = data if isinstance(data, Records) else self.records(data)
        if r.y is None:
            raise DataValidationError("the records have no outcome; statistics need the true label")
        return statistic_from_outputs(self.outputs(self._check_X(r)), r.y, self.task, name, scale=scale)



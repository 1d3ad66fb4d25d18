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
:class:`attacks.score_file.ScoreTarget` (per-record statistics computed elsewhere, e.g. a CSV
with an ``id`` column), and released model folders
(:class:`attacks._model_file.ReleasedModelTarget`, through :func:`load_target`).
:func:`as_target` picks one.

Convention for the attacks built on these: member = 1, higher score = more likely member.

References
----------
.. [1] Carlini et al., "Membership inference attacks from first principles", IEEE S&P 2022
   (Section IV-C: the logit scaling of the confidence, and its numerically stable form).
.. [2] Zarifzadeh, Liu, Shokri, ICML 2024 (P(x | theta) as the probability of the true label).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import expit, log_expit, logsumexp

from attacks.records import Records, as_records
from privcausal.exceptions import DataTypeError, DataValidationError
from privcausal.validation import check_finite_array

__all__ = [
    "STATISTICS", "TASKS", "Target", "TorchTarget", "SklearnTarget",
    "as_target", "load_target", "statistic_from_outputs",
]

TASKS = ("binary", "multiclass", "regression")
STATISTICS = ("loss", "confidence", "logit", "residual", "neg_abs_error", "neg_sq_error", "prediction")
_CLASSIFICATION_ONLY = ("logit",)
_REGRESSION_ONLY = ("residual", "neg_abs_error", "neg_sq_error")


def _check_stat(name: str, task: str) -> None:
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
    _check_stat(name, task)
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


_TORCH_LOSSES = {"BCEWithLogitsLoss": "bce", "MSELoss": "mse", "CrossEntropyLoss": "ce"}


class TorchTarget(Target):
    """A ``torch.nn.Module`` mapping (n, d) features to logits or predictions.

    Parameters
    ----------
    module : torch.nn.Module; outputs (n,) or (n, 1) for ``bce``/``mse``, (n, C) for ``ce``
    loss : "bce" (binary, logits), "mse" (regression), "ce" (multiclass, logits), or the
        matching torch loss module (``BCEWithLogitsLoss``, ``MSELoss``, ``CrossEntropyLoss``)
    feature_names : optional names of the input columns
    recipe : optional training recipe (for reference models)
    batch_size : rows per forward pass
    """

    def __init__(self, module: Any, loss: Any = "bce", *, feature_names: Sequence[str] | None = None,
                 recipe: Mapping[str, Any] | None = None, batch_size: int = 65_536,
                 description: str = "torch model") -> None:
        import torch

        if not isinstance(module, torch.nn.Module):
            raise DataTypeError(f"TorchTarget needs a torch.nn.Module, got {type(module).__name__}")
        if not isinstance(loss, str):
            loss = _TORCH_LOSSES.get(type(loss).__name__, type(loss).__name__)
        if loss not in ("bce", "mse", "ce"):
            raise DataValidationError(f"unsupported loss {loss!r}: use 'bce', 'mse' or 'ce' (or "
                                      "BCEWithLogitsLoss, MSELoss, CrossEntropyLoss)")
        self.module = module.eval()
        self.loss = loss
        self.task = {"bce": "binary", "mse": "regression", "ce": "multiclass"}[loss]
        self.feature_names = None if feature_names is None else tuple(str(c) for c in feature_names)
        first = next((m for m in module.modules() if isinstance(m, torch.nn.Linear)), None)
        self.n_features = first.in_features if first is not None else (
            None if feature_names is None else len(self.feature_names))
        if self.feature_names is not None and self.n_features not in (None, len(self.feature_names)):
            raise DataValidationError(f"{len(self.feature_names)} feature names for a model with "
                                      f"{self.n_features} inputs")
        p = next(module.parameters(), None)
        self._dtype = p.dtype if p is not None else torch.float32
        self.recipe = recipe
        self.batch_size = int(batch_size)
        self.description = description

    def outputs(self, X: np.ndarray) -> np.ndarray:
        import torch

        outs = []
        with torch.no_grad():
            for s in range(0, len(X), self.batch_size):
                xt = torch.tensor(X[s:s + self.batch_size], dtype=self._dtype)
                outs.append(self.module(xt).double().numpy())
        o = np.concatenate(outs) if outs else np.zeros((0,))
        if self.loss != "ce":
            if o.ndim == 2 and o.shape[1] == 1:
                o = o[:, 0]
            if o.ndim != 1:
                raise DataValidationError(f"a {self.loss} model must have one output, got shape {o.shape}")
        elif o.ndim != 2:
            raise DataValidationError("a ce model must output (n, C) logits")
        return o


class SklearnTarget(Target):
    """A fitted scikit-learn estimator: a classifier with ``predict_proba`` or a regressor.

    Binary classifiers use ``decision_function`` when it is the logit of ``predict_proba``
    (checked on the queried rows: logistic regression, log-loss SGD); otherwise
    ``predict_log_proba``. Outcomes are mapped through ``classes_``.
    """

    def __init__(self, estimator: Any, *, feature_names: Sequence[str] | None = None,
                 recipe: Mapping[str, Any] | None = None, description: str | None = None) -> None:
        if not hasattr(estimator, "predict_proba") and not hasattr(estimator, "predict"):
            raise DataTypeError(f"{type(estimator).__name__} has neither predict_proba nor predict")
        self.estimator = estimator
        if hasattr(estimator, "predict_proba") and hasattr(estimator, "classes_"):
            self.classes = np.asarray(estimator.classes_)
            self.task = "binary" if len(self.classes) == 2 else "multiclass"
        else:
            self.classes = None
            self.task = "regression"
        names = feature_names if feature_names is not None else getattr(estimator, "feature_names_in_", None)
        self.feature_names = None if names is None else tuple(str(c) for c in names)
        self.n_features = getattr(estimator, "n_features_in_", None)
        self.recipe = recipe
        self.description = description or f"scikit-learn {type(estimator).__name__}"

    def _frame(self, X: np.ndarray) -> Any:
        if getattr(self.estimator, "feature_names_in_", None) is not None:
            return pd.DataFrame(X, columns=list(self.estimator.feature_names_in_))
        return X

    def outputs(self, X: np.ndarray) -> np.ndarray:
        est, Xf = self.estimator, self._frame(X)
        if self.task == "regression":
            return np.asarray(est.predict(Xf), dtype=np.float64).reshape(len(X))
        logp = (np.asarray(est.predict_log_proba(Xf), dtype=np.float64) if hasattr(est, "predict_log_proba")
                else np.log(np.clip(np.asarray(est.predict_proba(Xf), dtype=np.float64), 1e-300, 1.0)))
        if self.task == "multiclass":
            return logp
        if hasattr(est, "decision_function"):
            d = np.asarray(est.decision_function(Xf), dtype=np.float64).reshape(len(X))
            p1 = np.exp(logp[:, 1])
            if np.allclose(expit(d), p1, rtol=1e-6, atol=1e-9):
                return d
        return logp[:, 1] - logp[:, 0]

    def statistic(self, data: Any, name: str, *, scale: float = 1.0) -> np.ndarray:
        r = data if isinstance(data, Records) else self.records(data)
        if r.y is not None and self.classes is not None:
            y = np.asarray(r.y)
            idx = np.searchsorted(self.classes, y)
            ok = (idx < len(self.classes)) & (self.classes[np.minimum(idx, len(self.classes) - 1)] == y)
            if not ok.all():
                raise DataValidationError(f"{int((~ok).sum())} outcomes are not among the model's classes")
            r = r.replace(y=idx.astype(np.float64))
        return super().statistic(r, name, scale=scale)


def load_target(path: str | Path, **kwargs: Any) -> Target:
    """A released model file (through :mod:`privcausal.training.artifact`) or a score CSV."""
    p = Path(path)
    if p.suffix.lower() in (".csv", ".txt") or str(p).lower().endswith(".csv.gz"):
        from attacks.score_file import ScoreTarget

        return ScoreTarget.from_csv(p, **kwargs)
    from attacks._model_file import target_from_model_file

    return target_from_model_file(p, **kwargs)


def as_target(obj: Any, **kwargs: Any) -> Target:
    """A :class:`Target` from a Target, a path, a torch module, a privcausal training result,
    a scikit-learn estimator or a DataFrame of per-record statistics."""
    if isinstance(obj, Target):
        return obj
    if isinstance(obj, (str, Path)):
        return load_target(obj, **kwargs)
    if isinstance(obj, pd.DataFrame):
        from attacks.score_file import ScoreTarget

        return ScoreTarget(obj, **kwargs)
    from attacks._model_file import target_from_training

    t = target_from_training(obj, **kwargs)
    if t is not None:
        return t
    try:
        import torch

        if isinstance(obj, torch.nn.Module):
            return TorchTarget(obj, **kwargs)
    except ImportError:  # pragma: no cover
        pass
    if hasattr(obj, "predict_proba") or hasattr(obj, "predict"):
        return SklearnTarget(obj, **kwargs)
    raise DataTypeError(f"cannot attack a {type(obj).__name__}: give a released model file, a torch "
                        "module with its loss, a scikit-learn estimator or a score table")


def __getattr__(name: str) -> Any:
    if name == "ScoreTarget":  # lives in attacks.score_file (it needs Target, defined here)
        from attacks.score_file import ScoreTarget

        return ScoreTarget
    raise AttributeError(f"module 'attacks.targets' has no attribute {name!r}")

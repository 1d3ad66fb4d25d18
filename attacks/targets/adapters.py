"""Adapters of in-memory models: :class:`TorchTarget` (a ``torch.nn.Module`` with its loss) and
:class:`SklearnTarget` (``predict_proba`` or ``predict``)."""

from __future__ import annotations


from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.special import expit

from attacks.records import Records
from attacks.targets.base import Target
from attacks.targets.outputs import PROBABILITY_FLOOR, check_kind, kind_from_torch, resolve_kind, to_logits
from privcausal.exceptions import DataTypeError, DataValidationError


__all__ = ["TorchTarget", "SklearnTarget"]

_TORCH_LOSSES = {"BCEWithLogitsLoss": "bce", "MSELoss": "mse", "CrossEntropyLoss": "ce"}


class TorchTarget(Target):
    """A ``torch.nn.Module`` mapping (n, d) features to logits or predictions.

    Parameters
    ----------
    module : torch.nn.Module; outputs (n,) or (n, 1) for ``bce``/``mse``, (n, C) for ``ce``
    loss : "bce" (binary, logits), "mse" (regression), "ce" (multiclass, logits), or the
        matching torch loss module (``BCEWithLogitsLoss``, ``MSELoss``, ``CrossEntropyLoss``)
    feature_names : optional names of the input columns
    recipe : optional training recipe (for reference models): a
        :class:`~privcausal.training.DPSGDRecipe` or a function ``(X, y, random_state) -> model``
    batch_size : rows per forward pass
    outputs : "auto", "logits", "probabilities" or "log-probabilities": what the module
        returns (:mod:`attacks.targets.outputs`); "auto" reads it off the module's graph and
        refuses to guess where the graph does not say
    """

    def __init__(self, module: Any, loss: Any = "bce", *, feature_names: Sequence[str] | None = None,
                 recipe: Any = None, batch_size: int = 65_536,
                 description: str = "torch model", outputs: str = "auto") -> None:
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
        first = next((w for w in module.parameters() if w.ndim == 2), None)
        self.n_features = int(first.shape[1]) if first is not None else (
            None if feature_names is None else len(self.feature_names))
        if self.feature_names is not None and self.n_features not in (None, len(self.feature_names)):
            raise DataValidationError(f"{len(self.feature_names)} feature names for a model with "
                                      f"{self.n_features} inputs")
        p = next(module.parameters(), None)
        self._dtype = p.dtype if p is not None else torch.float32
        self.recipe = recipe
        self.batch_size = int(batch_size)
        self.description = description
        self.declared_outputs = check_kind(outputs)
        self.output_kind: str | None = None if self.task != "regression" else "logits"
        self.output_kind_source = "declared" if outputs != "auto" else None

    def _kind(self, raw: np.ndarray) -> str:
        if self.output_kind is None:
            detected = kind_from_torch(self.module, self.n_features, self._dtype)
            self.output_kind = resolve_kind(self.declared_outputs, detected, raw, self.task,
                                            self.description)
            self.output_kind_source = ("declared" if self.declared_outputs != "auto" else
                                       "the model's last operation" if detected else "the values")
        return self.output_kind

    def outputs(self, X: np.ndarray) -> np.ndarray:
        o = self.raw_outputs(X)
        return to_logits(o, self._kind(o), self.task)

    def raw_outputs(self, X: np.ndarray) -> np.ndarray:
        """What the module returns on X, unconverted."""
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
    ``predict_log_proba``, or the log of ``predict_proba`` clipped at
    :data:`~attacks.targets.outputs.PROBABILITY_FLOOR` where a probability is 0 or 1 (a random
    forest). Outcomes are mapped through ``classes_``. Reference models (LiRA, RMIA) default to
    :class:`~attacks.targets.clone_recipe.CloneRecipe`: a clone of the estimator refitted per split.
    """

    def __init__(self, estimator: Any, *, feature_names: Sequence[str] | None = None,
                 recipe: Any = None, description: str | None = None) -> None:
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
        if recipe is None:
            from attacks.targets.clone_recipe import CloneRecipe

            recipe = CloneRecipe(estimator)  # refit a clone on each reference split
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
        logp = None
        if hasattr(est, "predict_log_proba"):
            logp = np.asarray(est.predict_log_proba(Xf), dtype=np.float64)
        if logp is None or not np.all(np.isfinite(logp)):
            # probabilities of exactly 0 or 1 (a random forest's pure leaves): clipped, so that
            # every statistic is finite (attacks.targets.outputs.PROBABILITY_FLOOR)
            p = np.asarray(est.predict_proba(Xf), dtype=np.float64)
            logp = np.log(np.clip(p, PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR))
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

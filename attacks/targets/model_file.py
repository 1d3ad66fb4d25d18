"""Targets from privcausal's own training results and released model files.

A released model (:mod:`privcausal.training.artifact`) is queried through its networks:
``single`` models directly; per-arm models (T-learner, S-learner, TARNet) on each record's
observed arm, which is what the model was trained to predict, so the records must carry
their treatment. Raw covariate frames are encoded with the model's recorded domain.
Regression outputs are read on the outcome scale (the model's declared-domain scaling undone).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from attacks.records import Records, as_records
from attacks.targets.adapters import TorchTarget
from attacks.targets.base import Target, statistic_from_outputs
from privcausal.exceptions import DataNotFoundError, DataValidationError

__all__ = ["target_from_training", "target_from_model_file", "ReleasedModelTarget"]


def _recipe(obj: Any) -> Any:
    from privcausal.training import DPSGDRecipe

    cfg = getattr(obj, "config", None)
    if not cfg:
        return None
    try:
        return DPSGDRecipe.from_config(cfg)
    except (TypeError, ValueError):
        return None


def target_from_training(obj: Any, **kwargs: Any) -> Any:
    """A TorchTarget for a :class:`~privcausal.training.TrainingResult` (None for anything else)."""

    try:
        from privcausal.training import TrainingResult
    except ImportError:  # pragma: no cover
        return None
    if not isinstance(obj, TrainingResult):
        return None
    kwargs.setdefault("recipe", _recipe(obj))
    kwargs.setdefault("description", f"DP-SGD {obj.architecture.kind} model (epsilon={obj.epsilon:.3g})")
    return TorchTarget(obj.model, obj.loss, **kwargs)


class ReleasedModelTarget(Target):
    """A :class:`~privcausal.training.artifact.ReleasedModel` as an attack target."""

    def __init__(self, model: Any, *, recipe: Any = None, description: str = "released model") -> None:
        self.model = model
        self.task = "binary" if model.loss == "bce" else "regression"
        names = model.feature_names
        self.feature_names = None if names is None else tuple(names)
        self.n_features = model.n_features
        learner = model.learner or {}
        if recipe is None and model.combine == "single" and isinstance(learner.get("config"), dict):
            from privcausal.training import DPSGDRecipe

            try:
                recipe = DPSGDRecipe.from_config(learner["config"])
            except (TypeError, ValueError):
                recipe = None
        self.recipe = recipe
        self.description = description
        from attacks.arm_references import ARM_COMBINES

        #: per-arm learners train their own reference learners (attacks.arm_references)
        self.trains_own_references = recipe is None and model.combine in ARM_COMBINES

    def train_references(self, pool: Records, n_models: int, inclusion: str, *,
                         random_state: Any = None, progress: bool = False) -> Any:
        """K reference learners like this per-arm model (:mod:`attacks.arm_references`)."""
        from attacks.arm_references import train_arm_references

        return train_arm_references(self.model, pool, n_models, inclusion,
                                    random_state=random_state, progress=progress)

    def records(self, data: Any, **kwargs: Any) -> Records:
        import pandas as pd

        from privcausal.data import CausalData

        dom = self.model.domain
        frame = data.covariates if isinstance(data, CausalData) else data
        raw = isinstance(frame, pd.DataFrame) and dom is not None and set(dom.columns) <= set(
            map(str, frame.columns))
        if not raw:
            kwargs.setdefault("n_features", self.n_features)
            return as_records(data, feature_names=self.feature_names, **kwargs)
        X = self.model.encode(frame)
        if isinstance(data, CausalData):
            rec = as_records(data, **{k: v for k, v in kwargs.items() if k != "feature_names"})
            return rec.replace(X=X, feature_names=self.feature_names)
        rest = frame.drop(columns=[c for c in dom.columns], errors="ignore")
        rec = as_records(rest, **kwargs) if len(rest.columns) else None
        from privcausal.domain import Categorical

        groups = dict(rec.groups) if rec is not None else {}
        for col, spec in dom.covariates.items():
            if isinstance(spec, Categorical):
                groups.setdefault(col, frame[col].astype(object).where(frame[col].notna(),
                                                                        "(missing)").to_numpy())
        t = None if rec is None else rec.treatment
        if t is not None:
            groups.setdefault("treatment", np.where(np.asarray(t) == 1, "treated", "control").astype(object))
        return Records(X, None if rec is None else rec.y, None if rec is None else rec.ids, groups,
                       self.feature_names, t)

    def _raw(self, X: np.ndarray, arm: int) -> np.ndarray:
        f = self.model._raw(X, arm)
        if self.task == "regression":
            return np.asarray(self.model._out(f), dtype=np.float64)
        return f.double().numpy()

    def outputs(self, X: np.ndarray, treatment: Any = None) -> np.ndarray:
        if self.model.combine == "single":
            return self._raw(X, 0)
        if treatment is None:
            raise DataValidationError("this model predicts per treatment arm: the records need "
                                      "their treatment (a 'treatment' column)")
        t = np.asarray(treatment)
        out = np.empty(len(X))
        for arm in (0, 1):
            sel = t == arm
            if sel.any():
                out[sel] = self._raw(X[sel], arm)
        return out

    def statistic(self, data: Any, name: str, *, scale: float = 1.0) -> np.ndarray:

        r = data if isinstance(data, Records) else self.records(data)
        if r.y is None:
            raise DataValidationError("the records have no outcome; statistics need the true label")
        return statistic_from_outputs(self.outputs(self._check_X(r), r.treatment), r.y, self.task,
                                      name, scale=scale)


def target_from_model_file(path: str | Path, **kwargs: Any) -> Any:
    """A target from a released model folder, read by :func:`privcausal.training.artifact.load`."""
    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(f"model file not found: {p}")
    from privcausal.training import artifact

    loaded = artifact.load(p)
    kwargs.setdefault("description", f"released model {p.name}")
    return ReleasedModelTarget(loaded, **kwargs)

"""The factory: which :class:`~attacks.targets.base.Target` a path or an object becomes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from attacks.targets.adapters import SklearnTarget, TorchTarget
from attacks.targets.base import Target
from attacks.targets.model_file import target_from_model_file, target_from_training
from attacks.targets.score_file import ScoreTarget
from privcausal.exceptions import DataTypeError

__all__ = ["as_target", "load_target"]


def load_target(path: str | Path, **kwargs: Any) -> Target:
    """A model file of any supported format (:func:`attacks.targets.load_model`, which also
    returns what the file says of its privacy claim) or a score CSV."""
    p = Path(path)
    if p.suffix.lower() in (".csv", ".txt") or str(p).lower().endswith(".csv.gz"):
        return ScoreTarget.from_csv(p, **kwargs)
    if p.is_dir() or p.name == "model.json":
        return target_from_model_file(p, **kwargs)
    from attacks.targets.model_loader import load_model

    return load_model(p, **kwargs).target


def as_target(obj: Any, **kwargs: Any) -> Target:
    """A :class:`Target` from a Target, a path, a torch module, a privcausal training result,
    a scikit-learn estimator or a DataFrame of per-record statistics."""
    if isinstance(obj, Target):
        return obj
    if isinstance(obj, (str, Path)):
        return load_target(obj, **kwargs)
    if isinstance(obj, pd.DataFrame):
        return ScoreTarget(obj, **kwargs)
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

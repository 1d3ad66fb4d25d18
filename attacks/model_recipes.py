"""Reference models trained by the user's own code: a function ``(X, y, random_state) -> model``.

LiRA and RMIA need reference models trained *like the target*. privcausal's DP-SGD recipe
(:class:`~privcausal.training.DPSGDRecipe`) covers its own networks and opacus-trained MLPs;
any other model (a random forest, a Pipeline, the user's own training loop) is trained by a
**model recipe**: a callable that takes the features, the labels and an integer seed and returns
a fitted model (a scikit-learn estimator or a torch module), which :func:`train_with_recipe`
queries as it queries the target. For a scikit-learn target the default recipe is
:class:`CloneRecipe`: ``sklearn.base.clone`` of the target refitted on each reference split
(with every ``random_state`` parameter set to the split's seed).

The K trainings are independent; ``map_fn`` runs them (sequentially by default; the audit
passes a joblib pool). The function runs with the user's rights: it is the user's code.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from attacks.targets.base import LOSS_OF_TASK
from attacks.targets.clone_recipe import CloneRecipe
from privcausal.exceptions import DataValidationError, PrivCausalError

__all__ = ["ModelRecipe", "CloneRecipe", "FittedReferences", "is_model_recipe", "train_with_recipe",
           "fitted_target"]


@runtime_checkable
class ModelRecipe(Protocol):
    """Trains one reference model: ``recipe(X, y, random_state) -> fitted model``."""

    def __call__(self, X: np.ndarray, y: np.ndarray, random_state: int) -> Any: ...


def is_model_recipe(obj: Any) -> bool:
    """A callable recipe (not a DPSGDRecipe, a mapping or a string)."""
    from privcausal.training.recipe import DPSGDRecipe

    return callable(obj) and not isinstance(obj, (DPSGDRecipe, dict, str, type))


def fitted_target(model: Any, task: str, outputs: str = "auto") -> Any:
    """The Target of a model a recipe returned, queried like the target (``task``)."""
    from attacks.targets.adapters import SklearnTarget, TorchTarget
    from attacks.targets.base import Target

    if isinstance(model, Target):
        return model
    try:
        import torch

        if isinstance(model, torch.nn.Module):
            loss = LOSS_OF_TASK[task]
            return TorchTarget(model, loss, outputs=outputs, description="reference model")
    except ImportError:  # pragma: no cover
        pass
    if hasattr(model, "predict_proba") or hasattr(model, "predict"):
        return SklearnTarget(model, description="reference model")
    raise DataValidationError(f"the reference-model recipe returned a {type(model).__name__}: it "
                              "must return a fitted scikit-learn estimator or a torch module")


def _fit_one(recipe: Callable[..., Any], X: np.ndarray, y: np.ndarray, seed: int, task: str,
             outputs: str) -> Any:
    try:
        model = recipe(X, y, int(seed))
    except PrivCausalError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's code: say where it failed
        raise DataValidationError(f"the reference-model recipe raised {type(e).__name__}: {e}") from e
    if model is None:
        raise DataValidationError("the reference-model recipe returned None: it must return the "
                                  "fitted model")
    return fitted_target(model, task, outputs)


class FittedReferences:
    """K fitted reference models behind the interface :class:`attacks.shadow.ReferenceModels`
    queries (``n_models``, ``decision_function``)."""

    def __init__(self, targets: list[Any]) -> None:
        self.targets = targets
        self.n_models = len(targets)
        self.loss = LOSS_OF_TASK[targets[0].task]
        self.receipt = None

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return np.stack([t.outputs(X) for t in self.targets])


def train_with_recipe(X: Any, y: Any, mask: np.ndarray, recipe: Callable[..., Any], *, task: str,
                      outputs: str = "auto", seeds: np.ndarray, progress: bool = False,
                      map_fn: Callable[..., list[Any]] | None = None) -> tuple[FittedReferences, float]:
    """Fit ``recipe`` on each row of the (K, n) inclusion ``mask``; (references, seconds)."""
    from tqdm.auto import tqdm

    Xa, ya = np.asarray(X, dtype=np.float64), np.asarray(y)
    if task != "regression":
        ya = ya.astype(np.int64) if np.all(ya == np.round(ya)) else ya
    t0 = time.perf_counter()
    jobs = [(recipe, Xa[m], ya[m], int(s), task, outputs) for m, s in zip(mask, seeds)]
    for m in mask:
        if task != "regression" and len(np.unique(ya[m])) < 2:
            raise DataValidationError("a reference split holds one class only: give more "
                                      "candidate or population records")
    if map_fn is None:
        bar = tqdm(total=len(jobs), desc="training reference models (recipe)", unit="model",
                   disable=not progress, leave=False)
        out = []
        for j in jobs:
            out.append(_fit_one(*j))
            bar.update(1)
        bar.close()
    else:
        out = map_fn(_fit_one, jobs)
    return FittedReferences(out), time.perf_counter() - t0

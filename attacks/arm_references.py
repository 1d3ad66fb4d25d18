"""Reference models for privcausal's per-arm CATE learners (T-learner, S-learner).

A released T-learner is two networks, ``mu_0`` trained on the control records and ``mu_1`` on
the treated ones; an S-learner one network on the features with the treatment appended. An
attack queries each record on its observed arm, so a reference model must be the same pair
(or the same network), trained the same way: :func:`train_arm_references` draws the usual
inclusion mask over the pool (balanced for online attacks, halves for offline ones), then
trains, with the recipe recorded in the model file (``learner.training``: noise multiplier,
sampling rate, steps, clipping, optimiser),

* T-learner: for each reference model, ``mu_0`` on its IN records of the control arm and
  ``mu_1`` on its IN treated records (two vectorised passes of K networks each);
* S-learner: one network on ``[x, t]`` over its IN records.

:class:`ArmReferences` answers the attacks' query with each record's own arm
(:meth:`ArmReferences.outputs_records`). TARNet (a shared trunk) is not covered: its
reference models need the two-head trainer with inclusion masks.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from attacks.records import Records
from attacks.shadow import ReferenceModels, balanced_inclusion, random_halves, train_reference_models
from privcausal.exceptions import DataValidationError

__all__ = ["ArmReferences", "train_arm_references", "ARM_COMBINES"]

ARM_COMBINES = ("tlearner", "slearner")


class ArmReferences:
    """K reference learners: per-arm networks queried on each record's own arm."""

    def __init__(self, combine: str, sets: dict[int, ReferenceModels], inclusion: np.ndarray,
                 task: str, seconds: float, recipe: Any, notes: tuple[str, ...]) -> None:
        self.combine, self.sets, self.inclusion, self.task = combine, sets, inclusion, task
        self.seconds, self.recipe, self.notes = seconds, recipe, notes

    @property
    def n_models(self) -> int:
        return int(self.inclusion.shape[0])

    def outputs_records(self, records: Records, *, progress: bool = False) -> np.ndarray:
        """(K, n) outputs of every reference learner on each record's observed arm."""
        if records.treatment is None or records.X is None:
            raise DataValidationError("a per-arm model's reference learners need the records' "
                                      "features and treatment")
        t = np.asarray(records.treatment).astype(int)
        if self.combine == "slearner":
            return self.sets[0].outputs(np.c_[records.X, t], progress=progress)
        out = np.empty((self.n_models, records.n))
        for a in (0, 1):
            sel = t == a
            if sel.any():
                out[:, sel] = self.sets[a].outputs(records.X[sel], progress=progress)
        return out

    def outputs(self, X: np.ndarray, **_: Any) -> np.ndarray:  # pragma: no cover - guard
        raise DataValidationError("a per-arm model's reference learners are queried with the "
                                  "records' treatment (outputs_records)")


def train_arm_references(model: Any, pool: Records, n_models: int, inclusion: str, *,
                         random_state: Any = None, progress: bool = False) -> ArmReferences:
    """Train K reference learners like the released per-arm ``model`` on the ``pool``."""
    from privcausal.training import DPSGDRecipe
    from privcausal.validation import check_random_state

    if model.combine not in ARM_COMBINES:
        raise DataValidationError(f"reference learners for a {model.combine!r} model are not "
                                  f"implemented (only {ARM_COMBINES}): give a recipe function")
    cfg = (model.learner or {}).get("training")
    if not isinstance(cfg, dict):
        raise DataValidationError("the model file does not record how its networks were trained")
    if pool.treatment is None:
        raise DataValidationError("the pool records need their treatment (a 'treatment' column)")
    recipe = DPSGDRecipe.from_config(cfg)
    rng = check_random_state(random_state)
    K, n = int(n_models), pool.n
    mask = balanced_inclusion(K, n, rng) if inclusion == "balanced" else random_halves(K, n, rng)
    t = np.asarray(pool.treatment).astype(int)
    t0 = time.perf_counter()
    sets: dict[int, ReferenceModels] = {}
    if model.combine == "slearner":
        sets[0] = train_reference_models(np.c_[pool.X, t], pool.y, K, recipe, inclusion=mask,
                                         random_state=rng, progress=progress)
    else:
        for a in (0, 1):
            arm = mask & (t == a)[None, :]
            sets[a] = train_reference_models(pool.X, pool.y, K, recipe, inclusion=arm,
                                             random_state=rng, progress=progress)
    task = next(iter(sets.values())).task
    notes = (f"reference learners: {model.combine} networks trained like the target (its recorded "
             "recipe), each on its IN records of its own arm",)
    return ArmReferences(model.combine, sets, mask, task, time.perf_counter() - t0, recipe, notes)

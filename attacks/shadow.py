"""Reference ("shadow") models: K models trained at once, each on a random half of a pool.

The attacker trains reference models with the target's recipe (architecture, optimiser,
epochs, expected batch size, clipping and noise) on data from the same population, through
:func:`privcausal.training.train_many` (all K in one vectorised pass per chunk).

Inclusion masks:

* :func:`balanced_inclusion` (online attacks, LiRA's released code): every record is IN exactly
  K/2 models (K odd: K // 2 or K // 2 + 1 at random), so each model trains on about half;
* :func:`random_halves` (offline attacks): each model trains on exactly half the pool.

A recipe's ``batch_size`` and ``epochs`` refer to each model's own training set, as for the
target: with m records per model, the Poisson rate is q = batch_size / m and the number of
steps epochs / q.

References
----------
.. [1] Shokri, Stronati, Song, Shmatikov, "Membership inference attacks against machine learning
   models", IEEE S&P 2017 (shadow models).
.. [2] Carlini et al., "Membership inference attacks from first principles", IEEE S&P 2022.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attacks.records import Records
from attacks.targets.base import statistic_from_outputs
from privcausal.exceptions import DataValidationError
from privcausal.training.recipe import DPSGDRecipe
from privcausal.validation import check_random_state

__all__ = ["TrainingRecipe", "ReferenceModels", "balanced_inclusion", "random_halves",
           "train_reference_models"]


#: The target's recipe, as the reference models take it: privcausal's one
#: :class:`~privcausal.training.DPSGDRecipe` (this name is kept for existing code). A recipe
#: read from a model's config (:meth:`~privcausal.training.DPSGDRecipe.from_config`) keeps the
#: target's expected batch size and epochs; each reference model then trains at
#: ``q = batch_size / m`` on its own m records (:meth:`~privcausal.training.DPSGDRecipe.for_training_set`).
TrainingRecipe = DPSGDRecipe


def balanced_inclusion(n_models: int, n_records: int, random_state: Any = None) -> np.ndarray:
    """(K, n) mask: every record IN exactly K // 2 models (K odd: K // 2 or K // 2 + 1, each
    with probability 1/2), the models chosen at random per record."""
    K, n = int(n_models), int(n_records)
    if K < 1 or n < 1:
        raise DataValidationError("need at least one model and one record")
    rng = check_random_state(random_state)
    ranks = rng.random((K, n)).argsort(0).argsort(0)
    k_in = np.full(n, K // 2)
    if K % 2:
        k_in += rng.random(n) < 0.5
    return ranks < k_in


def random_halves(n_models: int, n_records: int, random_state: Any = None) -> np.ndarray:
    """(K, n) mask: each model IN for a uniformly random half (floor(n / 2)) of the records."""
    K, n = int(n_models), int(n_records)
    if K < 1 or n < 2:
        raise DataValidationError("need at least one model and two records")
    rng = check_random_state(random_state)
    return rng.random((K, n)).argsort(1).argsort(1) < n // 2


@dataclass(frozen=True)
class ReferenceModels:
    """K trained reference models and which pool records each trained on."""

    parts: tuple[Any, ...]
    inclusion: np.ndarray
    recipe: Any
    task: str
    seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_models(self) -> int:
        return int(self.inclusion.shape[0])

    @property
    def receipt(self) -> Any:
        return self.parts[0].receipt

    def outputs(self, X: np.ndarray, *, progress: bool = False) -> np.ndarray:
        """(K, n) raw outputs (logits or predictions) of every model on X."""
        from tqdm.auto import tqdm

        outs = []
        bar = tqdm(total=self.n_models, desc="scoring with reference models", unit="model",
                   disable=not progress, leave=False)
        for part in self.parts:
            outs.append(part.decision_function(X))
            bar.update(part.n_models)
        bar.close()
        return np.concatenate(outs)

    def statistic(self, records: Records, name: str, *, scale: float = 1.0,
                  progress: bool = False) -> np.ndarray:
        """(K, n) statistic ``name`` of every model on the records."""
        if records.X is None or records.y is None:
            raise DataValidationError("reference models score records with features and outcomes")
        return statistic_from_outputs(self.outputs(records.X, progress=progress), records.y,
                                      self.task, name, scale=scale)


def train_reference_models(X: Any, y: Any, n_models: int, recipe: Any, *,
                           inclusion: Any = "balanced", random_state: Any = None,
                           progress: bool = False, models_per_chunk: int | None = None,
                           task: str | None = None, outputs: str = "auto",
                           map_fn: Any = None) -> ReferenceModels:
    """Train K reference models on a pool of records.

    Parameters
    ----------
    X, y : the pool (encoded features, outcome)
    n_models : K
    recipe : the target's :class:`~privcausal.training.DPSGDRecipe` (or a config mapping, read
        with :meth:`~privcausal.training.DPSGDRecipe.from_config`); one that gives neither
        ``epsilon`` nor ``noise_multiplier`` trains non-private reference models (the notes
        say so). Or a model recipe, a function ``(X, y, random_state) -> fitted model``
        (:mod:`attacks.model_recipes`), fitted once per model
    task, outputs : for a model recipe: what the fitted models predict and return (as the target)
    map_fn : for a model recipe: ``map_fn(fn, jobs)`` runs the K fits (default: one by one)
    inclusion : "balanced" (online attacks), "halves" (offline attacks) or a (K, n) bool mask
    random_state : seeds the masks and the training (attacker-side randomness: seeded torch
        generators, never the secure noise source)
    progress : show a tqdm bar over the models
    models_per_chunk : models per call of the trainer (default: all at once without a
        progress bar, about an eighth of them with one)
    """
    from tqdm.auto import tqdm

    from attacks.model_recipes import is_model_recipe, train_with_recipe
    from privcausal.training import train_many

    function = is_model_recipe(recipe)
    rec = recipe if function else DPSGDRecipe.from_config(recipe)
    Xa = np.array(X, dtype=np.float64)  # copies: the trainer needs writable arrays
    ya = np.array(y, dtype=np.float64)
    K = int(n_models)
    rng = check_random_state(random_state)
    if isinstance(inclusion, str):
        if inclusion == "balanced":
            mask = balanced_inclusion(K, len(Xa), rng)
        elif inclusion == "halves":
            mask = random_halves(K, len(Xa), rng)
        else:
            raise DataValidationError("inclusion must be 'balanced', 'halves' or a (K, n) mask")
    else:
        mask = np.asarray(inclusion, dtype=bool)
        if mask.shape != (K, len(Xa)):
            raise DataValidationError(f"the inclusion mask must have shape ({K}, {len(Xa)})")
    empty = mask.sum(1) == 0
    if empty.any():
        raise DataValidationError(f"{int(empty.sum())} reference models would train on no record")
    if function:
        if task is None:
            raise DataValidationError("a model recipe needs the task of the models it trains")
        seeds = rng.integers(2**62, size=K)
        fitted, secs = train_with_recipe(Xa, ya, mask, rec, task=task, outputs=outputs, seeds=seeds,
                                         progress=progress, map_fn=map_fn)
        return ReferenceModels((fitted,), mask, rec, task, secs,
                               (f"reference models trained by the recipe {rec}",))
    per_model = rec.for_training_set(float(mask.sum(1).mean()))
    notes: tuple[str, ...] = ()
    if per_model.epsilon is None and per_model.noise_multiplier is None:
        per_model = per_model.replace(noise_multiplier=0.0)
        notes = ("the recipe states no noise: non-private reference models",)
    chunk = int(models_per_chunk) if models_per_chunk else (max(1, math.ceil(K / 8)) if progress else K)
    parts = []
    t0 = time.perf_counter()
    bar = tqdm(total=K, desc="training reference models", unit="model", disable=not progress, leave=False)
    for lo in range(0, K, chunk):
        hi = min(K, lo + chunk)
        parts.append(train_many(Xa, ya, mask[lo:hi], per_model, random_state=int(rng.integers(2**62)),
                                label="reference model (attacker)"))
        bar.update(hi - lo)
    bar.close()
    loss = parts[0].loss
    return ReferenceModels(tuple(parts), mask, rec, "binary" if loss == "bce" else "regression",
                           time.perf_counter() - t0, notes)

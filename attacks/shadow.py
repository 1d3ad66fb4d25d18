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
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np

from attacks.records import Records
from attacks.targets import statistic_from_outputs
from privcausal.exceptions import DataValidationError
from privcausal.validation import check_random_state

__all__ = ["TrainingRecipe", "ReferenceModels", "balanced_inclusion", "random_halves",
           "train_reference_models"]


@dataclass(frozen=True)
class TrainingRecipe:
    """How the target was trained, to train reference models the same way.

    ``noise_multiplier = 0`` (and ``epsilon = None``) is the non-private recipe; give either
    ``noise_multiplier`` or ``epsilon`` (calibrated by the trainer for the same q and steps,
    hence the same noise). ``batch_size`` is the expected batch size of one model.
    """

    architecture: Any = "mlp"
    loss: str | None = None
    hidden: tuple[int, ...] | None = None
    activation: str | None = None
    epochs: float = 10.0
    batch_size: float = 256.0
    noise_multiplier: float | None = 0.0
    epsilon: float | None = None
    delta: float = 1e-5
    max_grad_norm: float = 1.0
    lr: float = 0.1
    optimizer: str = "sgd"
    momentum: float = 0.0
    weight_decay: float = 0.0
    dtype: str = "float32"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], n_train: int | None = None) -> "TrainingRecipe":
        """From a training config (``TrainingResult.config`` or a model file's recipe)."""
        if isinstance(config, TrainingRecipe):
            return config
        c = dict(config)
        known = {f for f in cls.__dataclass_fields__}
        if "expected_batch_size" in c:
            c["batch_size"] = c.pop("expected_batch_size")
        elif "sampling_rate" in c and "batch_size" not in c and n_train:
            c["batch_size"] = float(c["sampling_rate"]) * n_train
        if "epochs" not in c and "steps" in c and "sampling_rate" in c:
            c["epochs"] = float(c["steps"]) * float(c["sampling_rate"])
        if c.get("max_grad_norm") in ("inf", math.inf, None):
            c["max_grad_norm"] = 1.0
        if isinstance(c.get("hidden"), list):
            c["hidden"] = tuple(c["hidden"])
        return cls(**{k: v for k, v in c.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        a = d["architecture"]
        if hasattr(a, "to_dict"):
            d["architecture"] = a.to_dict()
        return d

    def train_many_kwargs(self, per_model: float) -> dict[str, Any]:
        """Keyword arguments of :func:`~privcausal.training.train_many` for models that each
        train on about ``per_model`` records."""
        if not per_model >= 1:
            raise DataValidationError("reference models need at least one training record each")
        q = min(1.0, float(self.batch_size) / float(per_model))
        kw: dict[str, Any] = dict(
            architecture=self.architecture, loss=self.loss, sampling_rate=q,
            steps=max(1, int(round(float(self.epochs) / q))), max_grad_norm=self.max_grad_norm,
            lr=self.lr, optimizer=self.optimizer, momentum=self.momentum,
            weight_decay=self.weight_decay, dtype=self.dtype, delta=self.delta,
        )
        if self.hidden is not None:
            kw["hidden"] = tuple(self.hidden)
        if self.activation is not None:
            kw["activation"] = self.activation
        if self.epsilon is not None:
            kw["epsilon"] = self.epsilon
        else:
            kw["noise_multiplier"] = float(self.noise_multiplier or 0.0)
        return kw


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
    recipe: TrainingRecipe
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


def train_reference_models(X: Any, y: Any, n_models: int, recipe: TrainingRecipe | Mapping[str, Any], *,
                           inclusion: Any = "balanced", random_state: Any = None,
                           progress: bool = False, models_per_chunk: int | None = None
                           ) -> ReferenceModels:
    """Train K reference models on a pool of records.

    Parameters
    ----------
    X, y : the pool (encoded features, outcome)
    n_models : K
    recipe : :class:`TrainingRecipe` (or its dict), the target's recipe
    inclusion : "balanced" (online attacks), "halves" (offline attacks) or a (K, n) bool mask
    random_state : seeds the masks and the training (attacker-side randomness: seeded torch
        generators, never the secure noise source)
    progress : show a tqdm bar over the models
    models_per_chunk : models per call of the trainer (default: all at once without a
        progress bar, about an eighth of them with one)
    """
    from tqdm.auto import tqdm

    from privcausal.training import train_many

    rec = TrainingRecipe.from_config(recipe) if not isinstance(recipe, TrainingRecipe) else recipe
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
    kw = rec.train_many_kwargs(float(mask.sum(1).mean()))
    chunk = int(models_per_chunk) if models_per_chunk else (max(1, math.ceil(K / 8)) if progress else K)
    parts = []
    t0 = time.perf_counter()
    bar = tqdm(total=K, desc="training reference models", unit="model", disable=not progress, leave=False)
    for lo in range(0, K, chunk):
        hi = min(K, lo + chunk)
        parts.append(train_many(Xa, ya, mask[lo:hi], random_state=int(rng.integers(2**62)),
                                label="reference model (attacker)", **kw))
        bar.update(hi - lo)
    bar.close()
    loss = parts[0].loss
    return ReferenceModels(tuple(parts), mask, rec, "binary" if loss == "bce" else "regression",
                           time.perf_counter() - t0)

"""The DP-SGD recipe: every declared setting of one training, in one frozen value.

A :class:`DPSGDRecipe` says how a network is trained, never on what: the model (architecture,
loss), the privacy (a target ``epsilon`` at ``delta``, or a given ``noise_multiplier``), the
clipping norm, the Poisson sampling (``batch_size`` or ``sampling_rate``), the length
(``epochs`` or ``steps``), the optimiser, and the normaliser the noisy gradient sums are
divided by (``expected_batch_size``; default ``q`` times the number of training records,
treated as public, as opacus does).

The same value is taken by the trainers (:func:`~privcausal.training.train_dpsgd`,
:func:`~privcausal.training.train_many`), the CATE learners (``recipe=``), the attacks'
reference models (:func:`attacks.shadow.train_reference_models`, which train "the target's
recipe") and the DP-SGD audits, and it is what a saved model's file records. A new optimiser
setting is a new field here and one line in the engine.

Planning (validation, calibration of the noise, the privacy event) is
:func:`privcausal.training.planning.plan_training`; nothing here reads data.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

from privcausal.exceptions import DataTypeError, DataValidationError
from privcausal.training.calibrate import NOISE_MULTIPLIER_CAP
from privcausal.jsonnum import json_number

__all__ = ["DPSGDRecipe", "RECIPE_FIELDS", "as_recipe"]


@dataclass(frozen=True)
class DPSGDRecipe:
    """How one DP-SGD training runs (frozen; change it with :meth:`replace`).

    Parameters
    ----------
    architecture : "linear", "logistic", "mlp" (with ``hidden`` and ``activation``), an
        :class:`~privcausal.training.Architecture` or its dict; the input width is the data's.
        The CATE learners also take "auto" (linear or logistic by the outcome).
    hidden, activation : the MLP's hidden widths and activation
    loss : "bce" or "mse" (implied for linear / logistic, and by a CausalData's outcome)
    epsilon, delta : the target guarantee; the noise multiplier is calibrated with the PLD
        accountant. ``epsilon=math.inf``: the non-private twin (no clipping, no noise).
    noise_multiplier : instead of ``epsilon``, a given sigma (the receipt states its epsilon)
    max_grad_norm : per-sample clipping norm C
    epochs or steps : the length (default 10 epochs; one epoch is 1/q steps)
    batch_size or sampling_rate : the expected batch size (q = batch_size / n; default
        min(256, n)) or the Poisson rate q
    expected_batch_size : the divisor of the noisy gradient sums: one number, or one per model
        for :func:`~privcausal.training.train_many`; default ``q`` times the number of records
        each model trains on (then treated as public, as opacus does; the CATE learners give
        ``q`` times noisy counts instead)
    optimizer, lr, momentum, weight_decay, betas : "sgd" (optionally with momentum) or "adam"
    max_noise_multiplier : the calibration's cap on sigma
    dtype : "float32" or "float64"
    """

    architecture: Any = "logistic"
    hidden: tuple[int, ...] | None = None
    activation: str | None = None
    loss: str | None = None
    epsilon: float | None = None
    delta: float = 1e-5
    noise_multiplier: float | None = None
    max_grad_norm: float = 1.0
    epochs: float | None = None
    steps: int | None = None
    batch_size: float | None = None
    sampling_rate: float | None = None
    expected_batch_size: float | tuple[float, ...] | None = None
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.0
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    max_noise_multiplier: float = NOISE_MULTIPLIER_CAP
    dtype: str = "float32"

    def __post_init__(self) -> None:
        # normalise sequences to tuples, so that the recipe stays hashable and comparable
        for name in ("hidden", "betas", "expected_batch_size"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, (str, int, float)) and hasattr(v, "__iter__"):
                object.__setattr__(self, name, tuple(float(x) if name != "hidden" else int(x) for x in v))
        if isinstance(self.architecture, Mapping):
            object.__setattr__(self, "architecture", dict(self.architecture))

    def replace(self, **changes: Any) -> "DPSGDRecipe":
        """A copy with ``changes`` (field names only: an unknown name is a TypeError that
        lists the fields)."""
        _check_names(changes)
        return dataclasses.replace(self, **changes)

    @property
    def is_private(self) -> bool:
        """False for the non-private twin (``epsilon=inf``, or ``noise_multiplier=0``)."""
        if self.noise_multiplier is not None:
            return float(self.noise_multiplier) > 0
        return self.epsilon is None or math.isfinite(float(self.epsilon))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (infinities as the strings "inf"; the architecture as its dict)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if hasattr(v, "to_dict"):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, float):
                v = json_number(v)
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> "DPSGDRecipe":
        """From :meth:`to_dict`, or from a trained model's ``config`` (``TrainingResult.config``,
        a saved model's recipe): keys that are not fields (the engine, the noise's source) are
        left out, a resolved ``sampling_rate`` and ``steps`` are kept as they are."""
        if isinstance(config, DPSGDRecipe):
            return config
        if not isinstance(config, Mapping):
            raise DataTypeError("a DP-SGD recipe is a DPSGDRecipe or a mapping of its fields")
        c = {k: v for k, v in config.items() if k in RECIPE_FIELDS}
        for k in ("epsilon", "noise_multiplier", "max_grad_norm", "max_noise_multiplier"):
            if isinstance(c.get(k), str):
                c[k] = float(c[k])
        if c.get("max_grad_norm") is None or not math.isfinite(float(c.get("max_grad_norm", 1.0))):
            # the non-private twin's "no clipping": any finite C is the same recipe without noise
            c["max_grad_norm"] = 1.0
        if c.get("steps") is not None and c.get("epochs") is not None:
            c.pop("epochs")  # a resolved config states both; the steps decide
        if c.get("sampling_rate") is not None and c.get("batch_size") is not None:
            c.pop("batch_size")
        return cls(**c)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | "DPSGDRecipe", n_train: int | None = None
                    ) -> "DPSGDRecipe":
        """The recipe to train *another* model "the same way" (the attacks' reference models):
        from a trained model's config, the same expected batch size and the same epochs, whatever
        the size of the new training set. ``expected_batch_size`` (or ``sampling_rate`` times
        ``n_train``) becomes ``batch_size`` and ``steps`` times ``sampling_rate`` the
        ``epochs``; :meth:`for_training_set` then resolves them for the new set. Keys that are
        not fields are left out."""
        if isinstance(config, DPSGDRecipe):
            return config
        if not isinstance(config, Mapping):
            raise DataTypeError("a DP-SGD recipe is a DPSGDRecipe or a mapping of its fields")
        c = dict(config)
        q = c.get("sampling_rate")
        if c.get("expected_batch_size") is not None and not isinstance(c["expected_batch_size"], (list, tuple)):
            c["batch_size"] = float(c.pop("expected_batch_size"))
        elif q is not None and c.get("batch_size") is None and n_train:
            c["batch_size"] = float(q) * float(n_train)
        c.pop("expected_batch_size", None)
        if c.get("epochs") is None and c.get("steps") is not None and q is not None:
            c["epochs"] = float(c["steps"]) * float(q)
        if c.get("batch_size") is not None:
            c.pop("sampling_rate", None)
        if c.get("epochs") is not None:
            c.pop("steps", None)
        return cls.from_dict(c)

    def for_training_set(self, m: float) -> "DPSGDRecipe":
        """The recipe resolved for models that each train on about ``m`` records: ``batch_size``
        becomes the rate ``q = batch_size / m`` (at most 1) and ``epochs`` the steps
        ``round(epochs / q)``; what the attacks' reference models use, so that each trains as the
        target did on its own training set."""
        if not m >= 1:
            raise DataValidationError("a model needs at least one training record")
        if self.sampling_rate is not None:
            q = float(self.sampling_rate)
        else:
            b = float(self.batch_size) if self.batch_size is not None else min(256.0, float(m))
            q = min(1.0, b / float(m))
        steps = self.steps if self.steps is not None else max(
            1, int(round((10.0 if self.epochs is None else float(self.epochs)) / q)))
        return dataclasses.replace(self, sampling_rate=q, batch_size=None, steps=int(steps),
                                   epochs=None)


RECIPE_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(DPSGDRecipe))


def _check_names(changes: Mapping[str, Any]) -> None:
    bad = sorted(set(changes) - set(RECIPE_FIELDS))
    if bad:
        raise TypeError(f"not a DP-SGD recipe setting: {', '.join(bad)}; the settings are "
                        f"{', '.join(RECIPE_FIELDS)}")


def as_recipe(recipe: DPSGDRecipe | Mapping[str, Any] | None = None,
              settings: Mapping[str, Any] | None = None, *,
              base: DPSGDRecipe | None = None) -> DPSGDRecipe:
    """One recipe from a recipe (or a mapping of overrides on ``base``) and keyword settings.

    ``settings`` (the trainers' keyword arguments) override the recipe's fields; an unknown
    name is a TypeError.
    """
    start = base if base is not None else DPSGDRecipe()
    if recipe is None:
        r = start
    elif isinstance(recipe, DPSGDRecipe):
        r = recipe
    elif isinstance(recipe, Mapping):
        _check_names(recipe)
        r = dataclasses.replace(start, **dict(recipe))
    else:
        raise DataTypeError("recipe must be a DPSGDRecipe, a mapping of its settings, or None")
    return r.replace(**settings) if settings else r

"""A :class:`~privcausal.training.DPSGDRecipe` as the DP-SGD audits' training settings.

The audits train with a declared Poisson rate and step count (the two worlds differ by one
record, so a rate derived from a batch size and a record count would differ too) and a fixed
normaliser; :func:`audit_settings` reads those from a recipe and passes every other field
that differs from the defaults to the trainer.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, NamedTuple

from privcausal.exceptions import DataValidationError

__all__ = ["audit_settings", "AuditSettings", "AUDIT_FIELDS"]

#: the recipe fields an audit names as its own parameters
AUDIT_FIELDS = ("epsilon", "noise_multiplier", "delta", "steps", "sampling_rate", "max_grad_norm",
                "lr", "architecture")


class AuditSettings(NamedTuple):
    """The audit's own parameters, in :data:`AUDIT_FIELDS` order (unpack them as a tuple)."""

    epsilon: float | None
    noise_multiplier: float | None
    delta: float
    steps: int
    sampling_rate: float
    max_grad_norm: float
    lr: float
    architecture: Any


def audit_settings(recipe: Any) -> tuple[AuditSettings, dict[str, Any]]:
    """``(settings, extra)``: the audit's own parameters (:data:`AUDIT_FIELDS`) from ``recipe``,
    and the other fields that differ from :class:`~privcausal.training.DPSGDRecipe`'s defaults
    (momentum, hidden, expected_batch_size, ...) as trainer keyword arguments.

    ``recipe`` is a DPSGDRecipe or a mapping of its fields. It must declare ``sampling_rate``
    (not ``batch_size``) and ``steps`` (or ``epochs``, then ``steps = round(epochs / q)``).
    """
    from privcausal.training.recipe import DPSGDRecipe, as_recipe

    r = recipe if isinstance(recipe, DPSGDRecipe) else as_recipe(dict(recipe) if isinstance(
        recipe, Mapping) else recipe)
    if r.sampling_rate is None or r.batch_size is not None:
        raise DataValidationError("an audited recipe declares sampling_rate, not batch_size: the "
                                  "two worlds differ by one record, and so would q = batch / n")
    q = float(r.sampling_rate)
    steps = r.steps if r.steps is not None else max(
        1, int(round((10.0 if r.epochs is None else float(r.epochs)) / q)))
    settings = AuditSettings(r.epsilon, r.noise_multiplier, r.delta, int(steps), q, r.max_grad_norm,
                             r.lr, r.architecture)
    default = DPSGDRecipe()
    skip = set(AUDIT_FIELDS) | {"epochs", "batch_size"}
    extra = {f.name: getattr(r, f.name) for f in dataclasses.fields(r)
             if f.name not in skip and getattr(r, f.name) != getattr(default, f.name)}
    return settings, extra

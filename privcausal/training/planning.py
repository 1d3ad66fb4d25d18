"""Planning a DP-SGD training: a :class:`~privcausal.training.recipe.DPSGDRecipe` resolved for
a training set, checked, and calibrated.

:func:`plan_training` turns the declared recipe and the training set's shape into the engine's
:class:`~privcausal.training.engine.ResolvedRecipe` (the Poisson rate q, the step count T, the
noise multiplier sigma, calibrated by the PLD accountant for a target epsilon) and the privacy
event ``SelfComposed(PoissonSampled(q, Gaussian(sigma)), T)``; :func:`build_receipt` writes
the receipt of a trained model from the plan. The checks of the inputs every trainer shares
(:func:`as_training_data`, :func:`check_outcome`, :func:`check_params`) live here too.

References
----------
.. [1] Abadi et al., "Deep learning with differential privacy", CCS 2016.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch

from privcausal.exceptions import (
    DataTypeError,
    DataValidationError,
    PrivacyLeakWarning,
    PrivacyParameterError,
)
from privcausal.privacy import PrivacyEvent, Receipt, make_receipt
from privcausal.training.calibrate import calibrate_noise_multiplier, dpsgd_epsilon, dpsgd_privacy_event
from privcausal.training.engine import ResolvedRecipe
from privcausal.training.models import Architecture, check_loss
from privcausal.training.recipe import DPSGDRecipe
from privcausal.validation import check_delta, check_epsilon, check_finite_array

__all__ = ["TrainingPlan", "plan_training", "build_receipt", "epoch_history", "as_training_data",
           "resolve_architecture", "check_outcome", "check_params", "OPTIMIZERS", "DTYPES"]

OPTIMIZERS = ("sgd", "adam")
DTYPES = {"float32": torch.float32, "float64": torch.float64,
          torch.float32: torch.float32, torch.float64: torch.float64}


#: Calibration is deterministic in its arguments, and experiments and learners refit the same
#: recipe often.
_calibrate = functools.lru_cache(maxsize=512)(calibrate_noise_multiplier)


def _as_tuple(x: Any) -> tuple[float, ...]:
    return tuple(x) if isinstance(x, tuple) else (float(x),)


def as_training_data(X: Any, y: Any = None) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(X, y, implied loss) from arrays, or from a CausalData (its encoded covariates and
    outcome; the loss follows the declared outcome type)."""
    from privcausal.data import CausalData

    implied = None
    if isinstance(X, CausalData):
        if y is not None:
            raise DataValidationError("pass either a CausalData or arrays X and y, not both")
        implied = "bce" if X.domain.outcome.binary else "mse"
        X, y = X.X, X.outcome
    if y is None:
        raise DataValidationError("y (the outcome) is required")
    Xa = check_finite_array(X, name="X", ndim=2)
    ya = check_finite_array(y, name="y", ndim=1)
    if len(Xa) != len(ya):
        raise DataValidationError(f"X has {len(Xa)} rows but y has {len(ya)} entries")
    if len(Xa) == 0:
        raise DataValidationError("no training records")
    return Xa, ya, implied


def resolve_architecture(architecture: Any, input_dim: int, hidden: Any = None,
                         activation: str | None = None) -> Architecture:
    """An Architecture from an Architecture, a mapping (its to_dict()), or a kind name
    (``"linear"``, ``"logistic"``, ``"mlp"``) with ``input_dim`` taken from the data."""
    if isinstance(architecture, str):
        if architecture == "mlp":
            arch = Architecture.mlp(input_dim, hidden or (32,), activation or "relu")
        else:
            arch = Architecture(architecture, input_dim)
    else:
        arch = Architecture.from_dict(architecture)
    if arch.input_dim != input_dim:
        raise DataValidationError(
            f"the architecture expects {arch.input_dim} input features but X has {input_dim}"
        )
    return arch


def check_outcome(y: np.ndarray, loss: str) -> None:
    if loss == "bce" and not np.all((y == 0) | (y == 1)):
        raise DataValidationError(
            f"the bce loss needs a 0/1 outcome; {int(np.sum((y != 0) & (y != 1)))} entries are neither"
        )


def _positive(x: Any, name: str, allow_inf: bool = False) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.floating, np.integer)):
        raise DataTypeError(f"{name} must be a number")
    v = float(x)
    if math.isnan(v) or v <= 0 or (math.isinf(v) and not allow_inf):
        raise PrivacyParameterError(f"{name} must be positive{'' if allow_inf else ' and finite'}, got {v!r}")
    return v


@dataclass(frozen=True)
class TrainingPlan:
    """A recipe resolved for a training set: the engine's :class:`ResolvedRecipe`, the privacy
    event, and the receipt's notes."""

    recipe: ResolvedRecipe
    event: PrivacyEvent
    delta: float
    epsilon_target: float | None
    notes: tuple[str, ...]
    declared_normaliser: bool = False


def plan_training(n: int, d: int, recipe: DPSGDRecipe, *, backend: str = "handwritten",
                  implied_loss: str | None = None, label: str = "DP-SGD training") -> TrainingPlan:
    """Resolve and validate ``recipe`` for ``n`` records of ``d`` features, and calibrate its
    noise (every trainer plans through here).

    The delta warning compares delta with the training-set size implied by a declared
    normaliser (``expected_batch_size / q``, a released count for the CATE learners) when
    there is one, else with ``n``.
    """
    architecture, loss, epsilon, delta = recipe.architecture, recipe.loss, recipe.epsilon, recipe.delta
    noise_multiplier, epochs, steps = recipe.noise_multiplier, recipe.epochs, recipe.steps
    batch_size, sampling_rate, max_grad_norm = recipe.batch_size, recipe.sampling_rate, recipe.max_grad_norm
    lr, optimizer, momentum, weight_decay = recipe.lr, recipe.optimizer, recipe.momentum, recipe.weight_decay
    betas, max_noise_multiplier, dtype = recipe.betas, recipe.max_noise_multiplier, recipe.dtype
    hidden, activation = recipe.hidden, recipe.activation
    declared = recipe.expected_batch_size is not None
    arch = resolve_architecture(architecture, d, hidden, activation)
    loss = check_loss(loss if loss is not None else (implied_loss if arch.kind == "mlp" else None), arch)
    if optimizer not in OPTIMIZERS:
        raise DataValidationError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if dtype not in DTYPES:
        raise DataValidationError("dtype must be float32 or float64")
    lr = _positive(lr, "lr")
    if not 0 <= float(momentum) < 1:
        raise DataValidationError("momentum must lie in [0, 1)")
    if float(weight_decay) < 0:
        raise DataValidationError("weight_decay must be >= 0")
    # sampling
    if (batch_size is None) == (sampling_rate is None):
        if batch_size is None and sampling_rate is None:
            batch_size = min(256, n)
        else:
            raise PrivacyParameterError("give batch_size (the expected batch) or sampling_rate, not both")
    if sampling_rate is None:
        b = _positive(batch_size, "batch_size")
        if b > n:
            raise PrivacyParameterError(f"batch_size {b:g} exceeds the number of training records")
        q = b / n
    else:
        q = _positive(sampling_rate, "sampling_rate")
        if q > 1:
            raise PrivacyParameterError("sampling_rate must lie in (0, 1]")
    # steps
    if steps is not None and epochs is not None:
        raise PrivacyParameterError("give epochs or steps, not both")
    if steps is None:
        e = _positive(10.0 if epochs is None else epochs, "epochs")
        T = max(1, int(round(e / q)))
    else:
        if isinstance(steps, bool) or int(steps) != steps or steps < 1:
            raise PrivacyParameterError("steps must be a positive integer")
        T = int(steps)
    delta = check_delta(delta)
    notes = [
        f"Poisson sampling rate q={q:.6g}, {T} steps ({T * q:.4g} epochs)",
        *([] if declared else
          ["the normaliser q*n uses the number of training records, treated as public (as opacus)"]),
        "training history (losses, clipping rates) is not covered by this receipt",
    ]
    # noise
    if noise_multiplier is not None:
        if epsilon is not None:
            raise PrivacyParameterError("give epsilon (calibrated) or noise_multiplier, not both")
        sigma = float(noise_multiplier)
        if not sigma >= 0 or math.isinf(sigma):
            raise PrivacyParameterError("noise_multiplier must be >= 0 and finite")
        eps_target = None
    else:
        if epsilon is None:
            raise PrivacyParameterError(
                "give epsilon (math.inf for the non-private twin) or a noise_multiplier"
            )
        eps_target = check_epsilon(epsilon)
        if math.isfinite(eps_target) and delta == 0:
            raise PrivacyParameterError("DP-SGD needs delta > 0")
        sigma = _calibrate(float(eps_target), float(delta), float(q), int(T),
                           max_noise_multiplier=float(max_noise_multiplier))
    private = sigma > 0
    if private:
        C = _positive(max_grad_norm, "max_grad_norm")
        # against a released (noisy) size when the caller has one: the warning is then not an
        # exact function of the records either
        n_ref = float(n) if not declared else float(min(_as_tuple(recipe.expected_batch_size))) / q
        if delta >= 1.0 / max(n_ref, 1.0):
            warnings.warn(
                f"delta={delta:g} is not below 1/(number of training records): such a guarantee "
                "allows releasing a few records outright; choose delta well below it",
                PrivacyLeakWarning, stacklevel=3,
            )
        notes.append(f"per-sample clipping to L2 norm {C:g}, noise multiplier {sigma:.6g}")
    else:
        C = math.inf
        notes.append("non-private twin: no clipping, no noise")
    event = dpsgd_privacy_event(sigma, q, T, delta, label) if private else PrivacyEvent.non_private(label)
    resolved = ResolvedRecipe(
        architecture=arch, loss=loss, noise_multiplier=sigma, max_grad_norm=C, sampling_rate=q,
        steps=T, lr=lr, optimizer=optimizer, momentum=float(momentum),
        weight_decay=float(weight_decay), betas=(float(betas[0]), float(betas[1])),
        backend=backend, dtype=DTYPES[dtype],
    )
    return TrainingPlan(resolved, event, delta, eps_target, tuple(notes), declared)


def build_receipt(plan: TrainingPlan, noise: str, release: str) -> Receipt:
    """The receipt of one trained model (PLD epsilon, RDP cross-check)."""
    ev = plan.event
    r = plan.recipe
    if not ev.is_private:
        return make_receipt(release, [ev], noise="no noise (non-private twin)", notes=plan.notes,
                            epsilon_budget=math.inf)
    eps_rdp = dpsgd_epsilon(r.noise_multiplier, r.sampling_rate, r.steps, plan.delta, "rdp")
    return Receipt(
        release=release,
        mechanism=ev.mechanism,
        epsilon=ev.epsilon,
        delta=plan.delta,
        accountant="PLD (dp-accounting)",
        noise=noise,
        epsilon_rdp=eps_rdp,
        epsilon_budget=plan.epsilon_target,
        delta_budget=plan.delta if plan.epsilon_target is not None else None,
        events=(ev,),
        notes=plan.notes,
    )


def epoch_history(hist: Mapping[str, torch.Tensor], q: float) -> dict[str, list]:
    """Per-epoch summary of per-step histories (row 0 of K x T arrays)."""
    b = hist["batch_size"][0].double()
    loss = hist["loss"][0].double()
    clip = hist["clipped_fraction"][0].double()
    T = b.numel()
    per = max(1, int(round(1.0 / q)))
    out: dict[str, list] = {"epoch": [], "loss": [], "clipped_fraction": [], "mean_batch_size": []}
    for start in range(0, T, per):
        sl = slice(start, min(T, start + per))
        bs = b[sl]
        tot = float(bs.sum())
        out["epoch"].append(round(min(T, start + per) * q, 6))
        out["loss"].append(float((loss[sl] * bs).sum() / tot) if tot else float("nan"))
        out["clipped_fraction"].append(float((clip[sl] * bs).sum() / tot) if tot else float("nan"))
        out["mean_batch_size"].append(float(bs.mean()))
    return out


def check_params(params: Mapping[str, Any], arch: Architecture, dtype: torch.dtype, *,
                 stacked: bool, n_models: int | None = None) -> dict[str, torch.Tensor]:
    shapes = arch.parameter_shapes
    if set(params) != set(shapes):
        raise DataValidationError(
            f"init_params names {sorted(params)} do not match the architecture's {sorted(shapes)}"
        )
    out = {}
    for k, shape in shapes.items():
        v = params[k]
        t = v.detach().clone().to(dtype) if isinstance(v, torch.Tensor) else torch.as_tensor(
            np.asarray(v, dtype=np.float64), dtype=dtype)
        if not torch.isfinite(t).all():
            raise DataValidationError(f"init_params[{k!r}] holds non-finite values")
        if stacked and tuple(t.shape) == shape:
            t = t.unsqueeze(0).expand((n_models,) + shape).clone()
        expect = ((n_models,) + shape) if stacked else shape
        if tuple(t.shape) != expect:
            raise DataValidationError(f"init_params[{k!r}] has shape {tuple(t.shape)}, expected {expect}")
        out[k] = t
    return out

"""DP-SGD training of one small tabular network, on opacus or on the vectorised engine.

The recipe (Abadi et al. 2016, as opacus implements it):

* **Poisson sampling**: at every step each record joins the batch independently with
  probability ``q`` (so batch sizes vary, and may be 0);
* **per-sample clipping**: each record's gradient is scaled to L2 norm at most
  ``max_grad_norm`` (C), by ``min(1, C / (norm + 1e-6))`` as in opacus;
* **Gaussian noise**: N(0, (sigma C)^2) on every coordinate of the clipped sum;
* the noisy sum is divided by the **expected** batch size ``q n`` (never the realised one,
  which is private), and the optimiser (SGD, optionally with momentum, or Adam) steps.

The privacy event is ``SelfComposed(PoissonSampled(q, Gaussian(sigma)), T)`` and the receipt's
epsilon comes from the privacy core's PLD accountant (see :mod:`privcausal.training.calibrate`);
opacus's own accountant is used only as a cross-check in the tests. ``epsilon=inf`` is the
non-private twin: the same sampling, steps and optimiser, no clipping and no noise.

Engines: ``"opacus"`` (opacus's ``GradSampleModule`` hooks and ``DPOptimizer``) and
``"vectorised"`` (privcausal's hand-written per-sample gradients, :mod:`.engine`; faster on
these small networks and the same mathematics, checked against opacus in the tests).
``"auto"`` picks ``"vectorised"``.

What the receipt covers: the trained parameters. The ``history`` (losses and clipping rates
on the training batches) is computed from the private data and is **not** covered: it is
for the analyst's diagnostics and must not be released. The expected batch size ``q n`` uses
the number of training records, treated as public, as opacus does.

References
----------
.. [1] Abadi et al., "Deep learning with differential privacy", CCS 2016.
.. [2] Yousefpour et al., "Opacus: user-friendly differential privacy library in PyTorch", 2021.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from privcausal.exceptions import DataValidationError
from privcausal.privacy import Receipt
from privcausal.training._random import make_stream
from privcausal.training.engine import train_stacked
from privcausal.training.models import Architecture, build_model, init_parameters, parameters_to_dict, predict_output
from privcausal.training.opacus_engine import train_opacus
from privcausal.training.planning import (
    as_training_data,
    build_receipt,
    check_outcome,
    check_params,
    epoch_history,
    plan_training,
    resolve_architecture,
)
from privcausal.training.recipe import DPSGDRecipe, as_recipe
from privcausal.validation import check_finite_array
from privcausal.jsonnum import json_number

__all__ = ["train_dpsgd", "TrainingResult", "ENGINES", "resolve_architecture", "as_training_data"]

ENGINES = ("auto", "vectorised", "opacus")


# --------------------------------------------------------------------------- result
@dataclass(frozen=True)
class TrainingResult:
    """The outcome of :func:`train_dpsgd`.

    Attributes
    ----------
    model : torch.nn.Sequential
        The trained network (eval mode); rebuild it with
        ``model_from_dict(result.architecture, result.parameters())``.
    receipt : Receipt
        What the training spent (PLD epsilon at delta; RDP beside it).
    history : dict of lists
        Per epoch: ``epoch``, ``loss`` (mean per-sample loss on the sampled batches),
        ``clipped_fraction``, ``mean_batch_size``. Computed on the private data and NOT
        covered by the receipt: diagnostics only, never release it.
    architecture : Architecture
    loss : str
    noise_multiplier, max_grad_norm, sampling_rate : float
    steps : int
    engine : str
    config : dict
        The whole recipe, JSON-able (optimiser, learning rate, epochs...).
    recipe : DPSGDRecipe
        The declared recipe it was trained with (``epsilon`` or ``noise_multiplier`` as given).
    """

    model: nn.Module
    receipt: Receipt
    history: Mapping[str, list]
    architecture: Architecture
    loss: str
    noise_multiplier: float
    max_grad_norm: float
    sampling_rate: float
    steps: int
    engine: str
    config: Mapping[str, Any] = field(default_factory=dict)
    recipe: DPSGDRecipe | None = None

    @property
    def epsilon(self) -> float:
        return self.receipt.epsilon

    @property
    def delta(self) -> float:
        return self.receipt.delta

    @property
    def epochs(self) -> float:
        return self.steps * self.sampling_rate

    def parameters(self) -> dict[str, list]:
        """The trained parameters as nested lists (JSON-able)."""
        return parameters_to_dict(self.model)

    def decision_function(self, X: Any) -> np.ndarray:
        """Network outputs (logits for ``bce``)."""
        Xt = _as_tensor(X, self.architecture.input_dim, next(self.model.parameters()).dtype)
        with torch.no_grad():
            return self.model(Xt).squeeze(-1).double().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Predictions: probabilities for ``bce``, values for ``mse``."""
        z = torch.as_tensor(self.decision_function(X))
        return predict_output(z, self.loss).numpy()


def _as_tensor(X: Any, d: int, dtype: torch.dtype) -> torch.Tensor:
    Xa = check_finite_array(X, name="X", ndim=2)
    if Xa.shape[1] != d:
        raise DataValidationError(f"X has {Xa.shape[1]} columns, the model expects {d}")
    return torch.as_tensor(Xa, dtype=dtype)



# --------------------------------------------------------------------------- public API
def train_dpsgd(
    X: Any,
    y: Any = None,
    recipe: DPSGDRecipe | Mapping[str, Any] | None = None,
    *,
    engine: str = "auto",
    random_state: Any = None,
    secure_mode: bool | None = None,
    init_params: Mapping[str, Any] | None = None,
    label: str | None = None,
    **settings: Any,
) -> TrainingResult:
    """Train one network with DP-SGD and return it with its privacy receipt.

    Parameters
    ----------
    X : array (n, d) of encoded features, or a CausalData (then ``y`` is None and the
        features are ``data.X``: declared-domain scaling, one-hot, missing indicators, rows
        of L2 norm at most ``data.encoder.row_norm_bound``)
    y : array (n,), the outcome (0/1 for ``bce``)
    recipe : a :class:`~privcausal.training.DPSGDRecipe` (or a mapping of its fields); the
        keyword ``settings`` below override its fields, so ``train_dpsgd(X, y, epsilon=1)``
        and ``train_dpsgd(X, y, DPSGDRecipe(epsilon=1))`` are the same training.

    The recipe's settings (fields of :class:`~privcausal.training.DPSGDRecipe`):

    architecture : Architecture, its dict, or "linear" / "logistic" / "mlp" (with ``hidden``
        and ``activation``)
    loss : "bce" or "mse" (implied for linear/logistic, and for a CausalData by its outcome)
    epsilon, delta : the target; ``epsilon=math.inf`` trains the non-private twin. The noise
        multiplier is calibrated with the PLD accountant; too small an epsilon for the steps
        raises :class:`~privcausal.exceptions.InfeasiblePrivacyError`.
    noise_multiplier : instead of epsilon, a given sigma (the receipt states its epsilon)
    epochs or steps : training length (default 10 epochs); one epoch is 1/q steps
    batch_size or sampling_rate : expected batch size (q = batch_size / n; default 256)
        or Poisson sampling rate q
    max_grad_norm : per-sample clipping norm C
    lr, optimizer ("sgd" or "adam"), momentum, weight_decay, betas : the optimiser
    expected_batch_size : the divisor of the noisy sums (default q n, the count treated as
        public)
    max_noise_multiplier : calibration cap (see :mod:`privcausal.training.calibrate`)
    dtype : "float32" (default) or "float64"

    Run settings:

    engine : "auto" (= "vectorised"), "vectorised" or "opacus"
    random_state : None (secure noise from the OS CSPRNG), int or Generator (seeded, for
        experiments; the receipt says so)
    secure_mode : None = secure exactly when ``random_state`` is None; True requires
        ``random_state=None``; False with ``random_state=None`` draws from an unseeded
        torch generator. See :mod:`privcausal.training._random` for what "secure" means
        here (opacus's torchcsprng cannot be installed; the fallback warns).
    init_params : starting parameters (name -> array); default a random draw (torch's
        default initialisation distribution)

    Returns
    -------
    TrainingResult
    """
    rec = as_recipe(recipe, settings)
    Xa, ya, implied = as_training_data(X, y)
    if engine not in ENGINES:
        raise DataValidationError(f"engine must be one of {ENGINES}, got {engine!r}")
    engine = "vectorised" if engine == "auto" else engine
    n, d = Xa.shape
    lab = label or "DP-SGD model"
    if isinstance(rec.expected_batch_size, tuple):
        if len(rec.expected_batch_size) != 1:
            raise DataValidationError("train_dpsgd trains one model: give one expected_batch_size")
    plan = plan_training(n, d, rec, backend="handwritten", implied_loss=implied, label=lab)
    r = plan.recipe
    check_outcome(ya, r.loss)
    stream = make_stream(random_state, secure_mode)
    Xt = torch.as_tensor(Xa, dtype=r.dtype)
    yt = torch.as_tensor(ya, dtype=r.dtype)
    if init_params is None:
        params0 = init_parameters(r.architecture, stream, dtype=r.dtype)
    else:
        params0 = check_params(init_params, r.architecture, r.dtype, stacked=False)
    normaliser = (r.sampling_rate * n if rec.expected_batch_size is None
                  else float(np.ravel(rec.expected_batch_size)[0]))
    if engine == "opacus":
        model, hist = train_opacus(r, Xt, yt, params0, normaliser, stream)
    else:
        stacked = {k: v.unsqueeze(0) for k, v in params0.items()}
        p, hist, _ = train_stacked(r, Xt, yt, None, stacked,
                                   torch.tensor([normaliser], dtype=torch.float64), stream)
        model = build_model(r.architecture, dtype=r.dtype)
        model.load_state_dict({k: v[0] for k, v in p.items()})
    model.eval()
    for prm in model.parameters():
        prm.requires_grad_(False)
    noise_desc = stream.description if r.noise_multiplier > 0 else "no noise (non-private twin)"
    release = f"{lab}: {r.architecture.kind} network {r.architecture.to_dict()} trained on the records"
    receipt = build_receipt(plan, noise_desc, release)
    config = {
        "architecture": r.architecture.to_dict(), "loss": r.loss,
        "noise_multiplier": r.noise_multiplier,
        "max_grad_norm": json_number(r.max_grad_norm),
        "sampling_rate": r.sampling_rate, "expected_batch_size": normaliser, "steps": r.steps,
        "epochs": r.steps * r.sampling_rate, "lr": r.lr, "optimizer": r.optimizer,
        "momentum": r.momentum, "weight_decay": r.weight_decay, "betas": list(r.betas),
        "engine": engine, "dtype": str(r.dtype).replace("torch.", ""),
        "noise": noise_desc,
    }
    return TrainingResult(
        model=model, receipt=receipt, history=epoch_history(hist, r.sampling_rate),
        architecture=r.architecture, loss=r.loss, noise_multiplier=r.noise_multiplier,
        max_grad_norm=r.max_grad_norm, sampling_rate=r.sampling_rate, steps=r.steps,
        engine=engine, config=config, recipe=rec,
    )



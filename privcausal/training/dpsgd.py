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
``"vectorised"`` (privcausal's hand-written per-sample gradients, :mod:`._engine`; faster on
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

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from privcausal.exceptions import (
    DataTypeError,
    DataValidationError,
    PrivacyLeakWarning,
    PrivacyParameterError,
)
from privcausal.privacy import PrivacyEvent, Receipt, make_receipt
from privcausal.training._engine import PoissonSampler, Recipe, per_sample_loss, train_stacked
from privcausal.training._random import RandomStream, TorchStream, make_stream
from privcausal.training.calibrate import (
    NOISE_MULTIPLIER_CAP,
    calibrate_noise_multiplier,
    dpsgd_epsilon,
    dpsgd_privacy_event,
)
from privcausal.training.models import (
    Architecture,
    build_model,
    check_loss,
    init_parameters,
    parameters_to_dict,
    predict_output,
)
from privcausal.validation import check_delta, check_epsilon, check_finite_array

__all__ = ["train_dpsgd", "TrainingResult", "ENGINES", "resolve_architecture", "as_training_data"]

ENGINES = ("auto", "vectorised", "opacus")
OPTIMIZERS = ("sgd", "adam")
_DTYPES = {"float32": torch.float32, "float64": torch.float64,
           torch.float32: torch.float32, torch.float64: torch.float64}


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


# --------------------------------------------------------------------------- inputs
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


def _as_tensor(X: Any, d: int, dtype: torch.dtype) -> torch.Tensor:
    Xa = check_finite_array(X, name="X", ndim=2)
    if Xa.shape[1] != d:
        raise DataValidationError(f"X has {Xa.shape[1]} columns, the model expects {d}")
    return torch.as_tensor(Xa, dtype=dtype)


def _check_outcome(y: np.ndarray, loss: str) -> None:
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
class _Plan:
    recipe: Recipe
    event: PrivacyEvent
    delta: float
    epsilon_target: float | None
    notes: tuple[str, ...]


def plan_training(
    n: int,
    d: int,
    *,
    architecture: Any,
    loss: str | None,
    epsilon: float | None,
    delta: float,
    noise_multiplier: float | None,
    epochs: float | None,
    steps: int | None,
    batch_size: float | None,
    sampling_rate: float | None,
    max_grad_norm: float,
    lr: float,
    optimizer: str,
    momentum: float,
    weight_decay: float,
    betas: tuple[float, float],
    max_noise_multiplier: float,
    hidden: Any,
    activation: str | None,
    backend: str,
    dtype: Any,
    implied_loss: str | None = None,
    label: str = "DP-SGD training",
    public_n: float | None = None,
) -> _Plan:
    """Resolve and validate a DP-SGD recipe and calibrate its noise (shared by both trainers)."""
    arch = resolve_architecture(architecture, d, hidden, activation)
    loss = check_loss(loss if loss is not None else (implied_loss if arch.kind == "mlp" else None), arch)
    if optimizer not in OPTIMIZERS:
        raise DataValidationError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if dtype not in _DTYPES:
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
        "the normaliser q*n uses the number of training records, treated as public (as opacus)",
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
        sigma = calibrate_noise_multiplier(
            eps_target, delta, q, T, max_noise_multiplier=max_noise_multiplier
        )
    private = sigma > 0
    if private:
        C = _positive(max_grad_norm, "max_grad_norm")
        # against a released (noisy) size when the caller has one: the warning is then not an
        # exact function of the records either
        n_ref = float(n) if public_n is None else float(public_n)
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
    recipe = Recipe(
        architecture=arch, loss=loss, noise_multiplier=sigma, max_grad_norm=C, sampling_rate=q,
        steps=T, lr=lr, optimizer=optimizer, momentum=float(momentum),
        weight_decay=float(weight_decay), betas=(float(betas[0]), float(betas[1])),
        backend=backend, dtype=_DTYPES[dtype],
    )
    return _Plan(recipe, event, delta, eps_target, tuple(notes))


def build_receipt(plan: _Plan, noise: str, release: str) -> Receipt:
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


# --------------------------------------------------------------------------- opacus engine
def _train_opacus(recipe: Recipe, X: torch.Tensor, y: torch.Tensor, params0: dict[str, torch.Tensor],
                  normaliser: float, stream: RandomStream) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    model = build_model(recipe.architecture, dtype=recipe.dtype)
    model.load_state_dict({k: v.to(recipe.dtype) for k, v in params0.items()})
    private = recipe.noise_multiplier > 0
    net: nn.Module = GradSampleModule(model, loss_reduction="sum") if private else model
    if recipe.optimizer == "sgd":
        base = torch.optim.SGD(net.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                               weight_decay=recipe.weight_decay)
    else:
        base = torch.optim.Adam(net.parameters(), lr=recipe.lr, betas=recipe.betas,
                                eps=recipe.adam_eps, weight_decay=recipe.weight_decay)
    if private:
        # A torch stream: opacus's own noise with our generator. Otherwise (the OS-CSPRNG
        # fallback) opacus's optimiser with its noise drawn from our stream.
        own_noise = isinstance(stream, TorchStream)
        opt_cls = DPOptimizer if own_noise else _stream_dp_optimizer()
        opt = opt_cls(base, noise_multiplier=recipe.noise_multiplier,
                      max_grad_norm=recipe.max_grad_norm, expected_batch_size=normaliser,
                      loss_reduction="mean", generator=stream.generator if own_noise else None,
                      secure_mode=bool(own_noise and stream.secure))  # torchcsprng, if present
        if not own_noise:
            opt.stream = stream
    else:
        opt = base
    n = X.shape[0]
    T = recipe.steps
    hist = {k: torch.zeros((1, T), dtype=torch.float64) for k in ("batch_size", "loss", "clipped_fraction")}
    sampler = PoissonSampler(1, n, recipe.sampling_rate, None, stream)
    for t in range(T):
        idx, valid, _ = sampler.sample()
        idx = idx[0] if valid is None else idx[0][valid[0]]
        xb, yb = X[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        out = net(xb).squeeze(-1)
        losses = per_sample_loss(out, yb, recipe.loss)
        if private:
            with warnings.catch_warnings():
                # opacus's hooks fire on module outputs when inputs need no grad: expected.
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                losses.sum().backward()
        else:
            (losses.sum() / normaliser).backward()
        b = int(idx.numel())
        hist["batch_size"][0, t] = b
        hist["loss"][0, t] = float(losses.detach().sum()) / max(b, 1)
        if private and b:
            norms = torch.stack([torch.linalg.vector_norm(p.grad_sample.reshape(b, -1), dim=1)
                                 for p in net.parameters()], 1)
            norms = torch.linalg.vector_norm(norms, dim=1)
            hist["clipped_fraction"][0, t] = float((norms > recipe.max_grad_norm).double().mean())
        opt.step()
    if private:
        model = net._module
        for p in model.parameters():
            for attr in ("grad_sample", "summed_grad"):
                if hasattr(p, attr):
                    delattr(p, attr)
    model.zero_grad(set_to_none=True)
    return model, hist


def _stream_dp_optimizer():
    from opacus.optimizers import DPOptimizer
    from opacus.optimizers.optimizer import _check_processed_flag, _mark_as_processed

    class StreamDPOptimizer(DPOptimizer):
        """opacus's DPOptimizer drawing its noise from a privcausal RandomStream."""

        stream: RandomStream

        def add_noise(self) -> None:
            std = self.noise_multiplier * self.max_grad_norm
            for p in self.params:
                _check_processed_flag(p.summed_grad)
                noise = self.stream.randn(tuple(p.summed_grad.shape), p.summed_grad.dtype) * std
                p.grad = (p.summed_grad + noise).view_as(p)
                _mark_as_processed(p.summed_grad)

    return StreamDPOptimizer




# --------------------------------------------------------------------------- public API
def train_dpsgd(
    X: Any,
    y: Any = None,
    *,
    architecture: Any = "logistic",
    loss: str | None = None,
    epsilon: float | None = None,
    delta: float = 1e-5,
    noise_multiplier: float | None = None,
    epochs: float | None = None,
    steps: int | None = None,
    batch_size: float | None = None,
    sampling_rate: float | None = None,
    max_grad_norm: float = 1.0,
    lr: float = 0.1,
    optimizer: str = "sgd",
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    hidden: Any = None,
    activation: str | None = None,
    engine: str = "auto",
    random_state: Any = None,
    secure_mode: bool | None = None,
    init_params: Mapping[str, Any] | None = None,
    max_noise_multiplier: float = NOISE_MULTIPLIER_CAP,
    dtype: Any = "float32",
    label: str | None = None,
) -> TrainingResult:
    """Train one network with DP-SGD and return it with its privacy receipt.

    Parameters
    ----------
    X : array (n, d) of encoded features, or a CausalData (then ``y`` is None and the
        features are ``data.X``: declared-domain scaling, one-hot, missing indicators, rows
        of L2 norm at most ``data.encoder.row_norm_bound``)
    y : array (n,), the outcome (0/1 for ``bce``)
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
    engine : "auto" (= "vectorised"), "vectorised" or "opacus"
    random_state : None (secure noise from the OS CSPRNG), int or Generator (seeded, for
        experiments; the receipt says so)
    secure_mode : None = secure exactly when ``random_state`` is None; True requires
        ``random_state=None``; False with ``random_state=None`` draws from an unseeded
        torch generator. See :mod:`privcausal.training._random` for what "secure" means
        here (opacus's torchcsprng cannot be installed; the fallback warns).
    init_params : starting parameters (name -> array); default a random draw (torch's
        default initialisation distribution)
    max_noise_multiplier : calibration cap (see :mod:`privcausal.training.calibrate`)
    dtype : "float32" (default) or "float64"

    Returns
    -------
    TrainingResult
    """
    Xa, ya, implied = as_training_data(X, y)
    if engine not in ENGINES:
        raise DataValidationError(f"engine must be one of {ENGINES}, got {engine!r}")
    engine = "vectorised" if engine == "auto" else engine
    n, d = Xa.shape
    lab = label or "DP-SGD model"
    plan = plan_training(
        n, d, architecture=architecture, loss=loss, epsilon=epsilon, delta=delta,
        noise_multiplier=noise_multiplier, epochs=epochs, steps=steps, batch_size=batch_size,
        sampling_rate=sampling_rate, max_grad_norm=max_grad_norm, lr=lr, optimizer=optimizer,
        momentum=momentum, weight_decay=weight_decay, betas=betas,
        max_noise_multiplier=max_noise_multiplier, hidden=hidden, activation=activation,
        backend="handwritten", dtype=dtype, implied_loss=implied, label=lab,
    )
    r = plan.recipe
    _check_outcome(ya, r.loss)
    stream = make_stream(random_state, secure_mode)
    Xt = torch.as_tensor(Xa, dtype=r.dtype)
    yt = torch.as_tensor(ya, dtype=r.dtype)
    if init_params is None:
        params0 = init_parameters(r.architecture, stream, dtype=r.dtype)
    else:
        params0 = _check_params(init_params, r.architecture, r.dtype, stacked=False)
    normaliser = r.sampling_rate * n
    if engine == "opacus":
        model, hist = _train_opacus(r, Xt, yt, params0, normaliser, stream)
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
        "max_grad_norm": r.max_grad_norm if math.isfinite(r.max_grad_norm) else "inf",
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
        engine=engine, config=config,
    )


def _check_params(params: Mapping[str, Any], arch: Architecture, dtype: torch.dtype, *,
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

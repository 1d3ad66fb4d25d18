"""Small tabular networks described by a plain, JSON-able architecture config.

An :class:`Architecture` is everything needed to rebuild a network without pickle::

    {"kind": "mlp", "input_dim": 51, "hidden": [32], "activation": "relu", "output_dim": 1}

``kind`` is ``linear`` (one affine layer; with the ``mse`` loss, linear regression),
``logistic`` (the same layer read through a sigmoid; loss ``bce``) or ``mlp`` (dense layers
with an elementwise activation between them). Networks are ``torch.nn.Sequential`` stacks of
``Linear`` layers and activations, so parameter names are ``"0.weight"``, ``"0.bias"``,
``"2.weight"``..., the same names the vectorised trainer uses for its stacked parameters.

Losses: ``bce`` (binary outcome; binary cross-entropy on the logit) and ``mse`` (continuous
outcome; squared error ``(f - y)^2``, torch's ``MSELoss``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from privcausal.exceptions import DataTypeError, DataValidationError, PrivacyParameterError

__all__ = [
    "Architecture",
    "ACTIVATIONS",
    "LOSSES",
    "build_model",
    "init_parameters",
    "parameters_to_dict",
    "model_from_dict",
    "check_loss",
    "predict_output",
]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "softplus", "silu", "identity")
LOSSES = ("bce", "mse")
KINDS = ("linear", "logistic", "mlp")

_ACT_MODULES = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "softplus": nn.Softplus,
    "silu": nn.SiLU,
    "identity": nn.Identity,
}


@dataclass(frozen=True)
class Architecture:
    """A dense network for tabular data.

    Parameters
    ----------
    kind : {"linear", "logistic", "mlp"}
    input_dim : int
        Number of encoded features (``data.encoder.n_features``).
    hidden : tuple of int
        Hidden-layer widths (``mlp`` only; empty for ``linear`` / ``logistic``).
    activation : str
        One of :data:`ACTIVATIONS` (``mlp`` only).
    output_dim : int
        Number of outputs; the trainers support 1 (one outcome).
    bias : bool
        Whether layers have a bias.
    """

    kind: str
    input_dim: int
    hidden: tuple[int, ...] = ()
    activation: str = "relu"
    output_dim: int = 1
    bias: bool = True
    layers: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DataValidationError(f"architecture kind must be one of {KINDS}, got {self.kind!r}")
        for name in ("input_dim", "output_dim"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise DataValidationError(f"{name} must be a positive integer")
        hidden = tuple(int(h) for h in self.hidden)
        if any(h < 1 for h in hidden):
            raise DataValidationError("hidden widths must be positive integers")
        if self.kind != "mlp" and hidden:
            raise DataValidationError(f"a {self.kind} model has no hidden layers; use kind='mlp'")
        if self.kind == "mlp" and not hidden:
            raise DataValidationError("an mlp needs at least one hidden layer (else use 'linear')")
        if self.activation not in ACTIVATIONS:
            raise DataValidationError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        object.__setattr__(self, "input_dim", int(self.input_dim))
        object.__setattr__(self, "output_dim", int(self.output_dim))
        object.__setattr__(self, "hidden", hidden)
        object.__setattr__(self, "bias", bool(self.bias))
        dims = (self.input_dim, *hidden, self.output_dim)
        object.__setattr__(self, "layers", tuple(zip(dims[:-1], dims[1:])))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def linear(cls, input_dim: int, *, bias: bool = True) -> "Architecture":
        return cls("linear", input_dim, bias=bias)

    @classmethod
    def logistic(cls, input_dim: int, *, bias: bool = True) -> "Architecture":
        return cls("logistic", input_dim, bias=bias)

    @classmethod
    def mlp(cls, input_dim: int, hidden: Sequence[int] = (32,), activation: str = "relu",
            *, bias: bool = True) -> "Architecture":
        return cls("mlp", input_dim, tuple(hidden), activation, bias=bias)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | "Architecture") -> "Architecture":
        if isinstance(d, Architecture):
            return d
        if not isinstance(d, Mapping):
            raise DataTypeError("an architecture is an Architecture or a mapping (its to_dict())")
        known = {"kind", "input_dim", "hidden", "activation", "output_dim", "bias"}
        extra = set(d) - known
        if extra:
            raise DataValidationError(f"unknown architecture keys {sorted(extra)}")
        if "kind" not in d or "input_dim" not in d:
            raise DataValidationError("an architecture needs 'kind' and 'input_dim'")
        return cls(
            d["kind"], d["input_dim"], tuple(d.get("hidden", ())), d.get("activation", "relu"),
            d.get("output_dim", 1), d.get("bias", True),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "input_dim": self.input_dim,
            "hidden": list(self.hidden),
            "activation": self.activation,
            "output_dim": self.output_dim,
            "bias": self.bias,
        }

    # ------------------------------------------------------------------ views
    @property
    def linear_names(self) -> list[tuple[str, str | None]]:
        """(weight name, bias name) of each Linear layer, in order."""
        out = []
        for i in range(len(self.layers)):
            j = 2 * i  # Linear, activation, Linear, ...
            out.append((f"{j}.weight", f"{j}.bias" if self.bias else None))
        return out

    @property
    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        for (w, b), (fan_in, fan_out) in zip(self.linear_names, self.layers):
            shapes[w] = (fan_out, fan_in)
            if b is not None:
                shapes[b] = (fan_out,)
        return shapes

    @property
    def n_parameters(self) -> int:
        return int(sum(math.prod(s) for s in self.parameter_shapes.values()))

    def default_loss(self) -> str:
        return "bce" if self.kind == "logistic" else "mse" if self.kind == "linear" else ""


def check_loss(loss: str | None, architecture: Architecture) -> str:
    """Resolve the loss: explicit, or implied by a linear/logistic architecture."""
    if loss is None:
        loss = architecture.default_loss()
        if not loss:
            raise PrivacyParameterError("say which loss to train an mlp with: 'bce' or 'mse'")
    if loss not in LOSSES:
        raise DataValidationError(f"loss must be one of {LOSSES}, got {loss!r}")
    if architecture.kind == "logistic" and loss != "bce":
        raise DataValidationError("a logistic model is trained with the 'bce' loss")
    if architecture.kind == "linear" and loss != "mse":
        raise DataValidationError("a linear model is trained with the 'mse' loss (use 'logistic' for bce)")
    if architecture.output_dim != 1:
        raise DataValidationError("the trainers support one output (output_dim=1)")
    return loss


def build_model(architecture: Architecture | Mapping[str, Any], *, dtype: torch.dtype = torch.float32
                ) -> nn.Sequential:
    """The ``nn.Sequential`` network of ``architecture`` (default torch initialisation)."""
    arch = Architecture.from_dict(architecture)
    mods: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(arch.layers):
        if i > 0:
            mods.append(_ACT_MODULES[arch.activation]())
        mods.append(nn.Linear(fan_in, fan_out, bias=arch.bias, dtype=dtype))
    return nn.Sequential(*mods)


def init_parameters(architecture: Architecture, stream: Any, *, n_models: int | None = None,
                    dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Initial parameters drawn from ``stream``: torch's default ``nn.Linear`` distribution,
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.

    With ``n_models`` the tensors have a leading dimension of that size, one independent
    draw per model.
    """
    out: dict[str, torch.Tensor] = {}
    lead = () if n_models is None else (int(n_models),)
    for (w, b), (fan_in, fan_out) in zip(architecture.linear_names, architecture.layers):
        bound = 1.0 / math.sqrt(fan_in)
        out[w] = stream.init_uniform(lead + (fan_out, fan_in), bound, dtype)
        if b is not None:
            out[b] = stream.init_uniform(lead + (fan_out,), bound, dtype)
    return out


def parameters_to_dict(model: nn.Module) -> dict[str, list]:
    """The model's parameters as nested lists of floats (JSON-able, no pickle)."""
    return {k: v.detach().cpu().double().tolist() for k, v in model.state_dict().items()}


def model_from_dict(architecture: Architecture | Mapping[str, Any], params: Mapping[str, Any],
                    *, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """Rebuild a network from its architecture config and :func:`parameters_to_dict` output."""
    arch = Architecture.from_dict(architecture)
    model = build_model(arch, dtype=dtype)
    shapes = arch.parameter_shapes
    if set(params) != set(shapes):
        raise DataValidationError(
            f"parameter names {sorted(params)} do not match the architecture's {sorted(shapes)}"
        )
    state = {}
    for k, shape in shapes.items():
        t = torch.as_tensor(np.asarray(params[k], dtype=np.float64), dtype=dtype)
        if tuple(t.shape) != shape:
            raise DataValidationError(f"parameter {k} has shape {tuple(t.shape)}, expected {shape}")
        if not torch.isfinite(t).all():
            raise DataValidationError(f"parameter {k} holds non-finite values")
        state[k] = t
    model.load_state_dict(state)
    model.eval()
    return model


def predict_output(logits: torch.Tensor, loss: str) -> torch.Tensor:
    """Map network outputs to predictions: probabilities for ``bce``, values for ``mse``."""
    return torch.sigmoid(logits) if loss == "bce" else logits

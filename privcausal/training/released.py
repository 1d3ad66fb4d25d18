"""The in-memory released model: networks, their weights, and how they combine.

:mod:`privcausal.training.artifact` writes and reads it (JSON plus npz, no pickle); this module
holds what a loaded model *is* and how it predicts. Evaluating it is post-processing of what
was released: the receipt it carries covers it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from privcausal.design import DesignEncoder
from privcausal.domain import Domain
from privcausal.exceptions import (
    DataTypeError,
    DataValidationError,
    DomainError,
    ModelFileError,
)
from privcausal.privacy import Receipt
from privcausal.training.models import ACTIVATIONS, LOSSES, Architecture, build_model
from privcausal.validation import check_finite_array

__all__ = ["COMBINES", "ReleasedModel", "FORMAT_NAME", "FORMAT_VERSION", "WEIGHTS_NAME"]

FORMAT_NAME = "privcausal-model"
FORMAT_VERSION = 1
WEIGHTS_NAME = "weights.npz"

#: How the networks of an artifact make predictions (``f`` is a network's output, ``out`` maps
#: it to the outcome scale: sigmoid for bce, ``center + half_width * f`` for a scaled mse):
#:
#: * ``single``: one network ``model`` on the encoded features; ``predict(x) = out(model(x))``.
#: * ``tlearner``: networks ``mu0`` and ``mu1`` on the encoded features;
#:   ``mu_a(x) = out(mu_a(x))``, effect ``mu_1(x) - mu_0(x)``.
#: * ``slearner``: network ``mu`` on ``[features, treatment]``; ``mu_a(x) = out(mu([x, a]))``.
#: * ``tarnet``: ``trunk`` on the encoded features read through ``activation``, then heads
#:   ``head0`` and ``head1``: ``mu_a(x) = out(head_a(act(trunk(x))))``.
COMBINES: dict[str, tuple[str, ...]] = {
    "single": ("model",),
    "tlearner": ("mu0", "mu1"),
    "slearner": ("mu",),
    "tarnet": ("trunk", "head0", "head1"),
}


# --------------------------------------------------------------------------- the model
@dataclass
class ReleasedModel:
    """A released model: networks, their weights, and everything needed to use them.

    Attributes
    ----------
    combine : str
        One of :data:`COMBINES`: which networks there are and how they make predictions.
    architectures : dict name -> Architecture
    weights : dict name -> dict parameter name -> float array
    loss : "bce" (binary outcome; outputs are logits) or "mse"
    outcome : dict
        ``{"type": "binary" | "continuous", "scaling": "sigmoid" | "domain" | "none",
        "lower": ..., "upper": ...}``; ``domain`` scaling means the network was trained on
        ``(y - center) / half_width`` of the *declared* outcome bounds and predictions are
        mapped back with them.
    receipt : Receipt
        What training spent (the whole release: for a T-learner both models, composed).
    domain : Domain or None
        The declared domain used to encode covariates (None for models trained on arrays).
    feature_names : list of str
        Names of the encoded features the networks expect, in order.
    activation : str
        The trunk's output activation (``tarnet`` only).
    learner : dict
        Free-form JSON description of the learner (name, class, hyperparameters).
    """

    combine: str
    architectures: dict[str, Architecture]
    weights: dict[str, dict[str, np.ndarray]]
    loss: str
    outcome: dict[str, Any]
    receipt: Receipt
    domain: Domain | None = None
    feature_names: list[str] | None = None
    activation: str | None = None
    learner: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _validate_structure(self)
        self._nets: dict[str, torch.nn.Module] = {}

    # ----------------------------------------------------------------- networks
    def network(self, name: str) -> torch.nn.Module:
        """The torch network ``name`` (built once, eval mode, no gradients)."""
        if name not in self._nets:
            arch = self.architectures[name]
            w = self.weights[name]
            dtype = torch.float64 if next(iter(w.values())).dtype == np.float64 else torch.float32
            net = build_model(arch, dtype=dtype)
            net.load_state_dict({k: torch.from_numpy(np.array(v, copy=True)) for k, v in w.items()})
            net.eval()
            for p in net.parameters():
                p.requires_grad_(False)
            self._nets[name] = net
        return self._nets[name]

    @property
    def n_features(self) -> int:
        first = COMBINES[self.combine][0]
        d = self.architectures[first].input_dim
        return d - 1 if self.combine == "slearner" else d

    # ----------------------------------------------------------------- inputs
    def encode(self, covariates: Any) -> np.ndarray:
        """Encode a covariate frame exactly as in training: clip to the declared domain, then
        :class:`~privcausal.design.DesignEncoder` (a CausalData's covariates are used as is)."""
        from privcausal.data import CausalData

        if self.domain is None:
            raise DomainError("this model was trained on encoded arrays; pass an encoded matrix")
        if isinstance(covariates, CausalData):
            covariates = covariates.covariates
        if not isinstance(covariates, pd.DataFrame):
            raise DataTypeError("covariates must be a pandas DataFrame (or a CausalData)")
        cols = list(self.domain.columns)
        # extra columns (treatment, outcome, ids in a user's CSV) are dropped; absent declared
        # columns are reported by the domain check
        frame = covariates[cols] if set(cols) <= set(map(str, covariates.columns)) else covariates
        clipped, _ = self.domain.clip_covariates(frame)
        return DesignEncoder(self.domain).transform(clipped)

    def as_matrix(self, X: Any) -> np.ndarray:
        """An encoded (n, d) matrix from a matrix, a DataFrame of raw covariates or a CausalData."""
        from privcausal.data import CausalData

        if isinstance(X, (CausalData, pd.DataFrame)):
            X = self.encode(X)
        Xa = check_finite_array(X, name="X", ndim=2)
        if Xa.shape[1] != self.n_features:
            raise DataValidationError(
                f"X has {Xa.shape[1]} columns but the model expects {self.n_features} encoded features"
            )
        return Xa

    # ----------------------------------------------------------------- predictions
    def _out(self, f: torch.Tensor) -> np.ndarray:
        f = f.double()
        if self.loss == "bce":
            return torch.sigmoid(f).numpy()
        if self.outcome.get("scaling") == "domain":
            lo, hi = float(self.outcome["lower"]), float(self.outcome["upper"])
            return (0.5 * (lo + hi) + 0.5 * (hi - lo) * f).numpy()
        return f.numpy()

    def _raw(self, X: np.ndarray, arm: int) -> torch.Tensor:
        dtype = next(self.network(COMBINES[self.combine][0]).parameters()).dtype
        Xa = np.asarray(X)
        Xt = torch.as_tensor(Xa if Xa.flags.writeable else Xa.copy(), dtype=dtype)
        with torch.no_grad():
            if self.combine == "single":
                return self.network("model")(Xt).squeeze(-1)
            if self.combine == "tlearner":
                return self.network(f"mu{arm}")(Xt).squeeze(-1)
            if self.combine == "slearner":
                col = torch.full((Xt.shape[0], 1), float(arm), dtype=dtype)
                return self.network("mu")(torch.cat([Xt, col], 1)).squeeze(-1)
            from privcausal.training.functional import act as _act

            phi = _act(self.activation or "identity", self.network("trunk")(Xt))
            return self.network(f"head{arm}")(phi).squeeze(-1)

    def mu(self, X: Any, arm: int) -> np.ndarray:
        """Predicted outcome under arm ``arm`` (probability for a binary outcome)."""
        if self.combine == "single":
            raise DataValidationError("a single-network model has no arms; use predict()")
        if arm not in (0, 1):
            raise DataValidationError("arm must be 0 or 1")
        return self._out(self._raw(self.as_matrix(X), arm))

    def effect(self, X: Any) -> np.ndarray:
        """Individual effects ``mu_1(x) - mu_0(x)`` (risk differences for a binary outcome)."""
        Xa = self.as_matrix(X)
        return self._out(self._raw(Xa, 1)) - self._out(self._raw(Xa, 0))

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of a single-network model (probabilities for bce)."""
        if self.combine != "single":
            raise DataValidationError("this model predicts per arm: use mu(X, arm) or effect(X)")
        return self._out(self._raw(self.as_matrix(X), 0))

    # ----------------------------------------------------------------- JSON
    def to_json_dict(self, weights_sha256: str) -> dict[str, Any]:
        arrays = {
            f"{net}/{k}": {"shape": list(v.shape), "dtype": str(v.dtype)}
            for net, w in self.weights.items() for k, v in w.items()
        }
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "combine": self.combine,
            "networks": {name: a.to_dict() for name, a in self.architectures.items()},
            "activation": self.activation,
            "loss": self.loss,
            "outcome": dict(self.outcome),
            "preprocessing": {
                "encoder": "privcausal.design.DesignEncoder",
                "domain": None if self.domain is None else self.domain.to_dict(),
                "feature_names": None if self.feature_names is None else list(self.feature_names),
            },
            "learner": dict(self.learner),
            "privacy": self.receipt.to_dict(),
            "weights": {"file": WEIGHTS_NAME, "sha256": weights_sha256, "arrays": arrays},
        }


def _validate_structure(m: ReleasedModel) -> None:
    """Check that the pieces of a model fit together (raises ModelFileError)."""
    if m.combine not in COMBINES:
        raise ModelFileError(f"unknown combine rule {m.combine!r}; known: {sorted(COMBINES)}")
    need = COMBINES[m.combine]
    if set(m.architectures) != set(need) or set(m.weights) != set(need):
        raise ModelFileError(f"a {m.combine!r} model needs the networks {list(need)}")
    if m.loss not in LOSSES:
        raise ModelFileError(f"unknown loss {m.loss!r}")
    for name in need:
        arch, w = m.architectures[name], m.weights[name]
        shapes = arch.parameter_shapes
        if set(w) != set(shapes):
            raise ModelFileError(f"the parameters of network {name!r} do not match its architecture")
        for k, shape in shapes.items():
            a = w[k]
            if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64):
                raise ModelFileError(f"parameter {name}/{k} is not a float32/float64 array")
            if tuple(a.shape) != shape:
                raise ModelFileError(f"parameter {name}/{k} has shape {tuple(a.shape)}, expected {shape}")
            if not np.all(np.isfinite(a)):
                raise ModelFileError(f"parameter {name}/{k} holds non-finite values")
    dtypes = {a.dtype for w in m.weights.values() for a in w.values()}
    if len(dtypes) != 1:
        raise ModelFileError("all parameters must share one dtype")
    for name in need:
        if m.architectures[name].output_dim != 1 and not (m.combine == "tarnet" and name == "trunk"):
            raise ModelFileError(f"network {name!r} must have one output")
    if m.combine == "tarnet":
        if m.activation not in ACTIVATIONS:
            raise ModelFileError("a tarnet model needs the trunk's activation")
        k = m.architectures["trunk"].output_dim
        for h in ("head0", "head1"):
            if m.architectures[h].input_dim != k:
                raise ModelFileError(f"{h} expects {m.architectures[h].input_dim} inputs, the trunk gives {k}")
    elif m.combine == "tlearner":
        if m.architectures["mu0"].input_dim != m.architectures["mu1"].input_dim:
            raise ModelFileError("mu0 and mu1 expect different numbers of features")
    if m.feature_names is not None and len(m.feature_names) != m.n_features:
        raise ModelFileError(
            f"{len(m.feature_names)} feature names recorded but the networks expect {m.n_features} features"
        )
    if m.domain is not None:
        names = DesignEncoder(m.domain).feature_names
        if m.feature_names is not None and list(m.feature_names) != names:
            raise ModelFileError("the recorded feature names do not match the recorded domain's encoding")
    ot = m.outcome.get("type")
    if ot not in ("binary", "continuous"):
        raise ModelFileError("the outcome type must be 'binary' or 'continuous'")
    if (ot == "binary") != (m.loss == "bce"):
        raise ModelFileError("the outcome type does not match the loss")
    if m.outcome.get("scaling") == "domain":
        try:
            lo, hi = float(m.outcome["lower"]), float(m.outcome["upper"])
        except (KeyError, TypeError, ValueError):
            raise ModelFileError("domain scaling needs numeric outcome bounds") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ModelFileError("the outcome bounds are malformed")
    elif m.outcome.get("scaling") not in ("sigmoid", "none"):
        raise ModelFileError("the outcome scaling must be 'sigmoid', 'domain' or 'none'")



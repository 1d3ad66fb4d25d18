"""DP-SGD for a two-head network (TARNet-style): a shared trunk and one linear head per arm.

The network is ``mu_a(x) = w_a' phi(x) + b_a`` with ``phi(x) = act(trunk(x))`` for arms
a in {0, 1}; a record (x, t, y) contributes the *factual* loss ``l(mu_t(x), y)`` only, so its
gradient touches the trunk and its own arm's head. Every record trains the trunk: the whole
training is **one** DP-SGD run on all n records (no parallel composition), with the recipe of
:func:`privcausal.training.train_dpsgd`:

* Poisson sampling with rate ``q`` from the stream of :mod:`privcausal.training._random`;
* per-sample clipping of the gradient with respect to *all* parameters (trunk and both heads)
  to L2 norm ``C``, by ``min(1, C / (norm + 1e-6))`` as in opacus;
* N(0, (sigma C)^2) noise on every coordinate of the clipped sum (both heads included, also
  the head a record did not touch), divided by the expected batch size ``q n``;
* sigma calibrated with :func:`privcausal.training.calibrate_noise_multiplier` (PLD) and the
  event ``SelfComposed(PoissonSampled(q, Gaussian(sigma)), T)``: the same accounting as
  ``train_dpsgd``.

Per-sample gradient norms are computed exactly without materialising per-sample gradients
(dense layers: ``||delta a'||_F = ||delta|| ||a||``), as in :mod:`privcausal.training.engine`;
the tests check them against torch autograd.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch

from privcausal.exceptions import DataValidationError, PrivacyParameterError
from privcausal.privacy import Receipt
from privcausal.training._random import make_stream
from privcausal.training.functional import CLIP_EPS, act, act_grad, loss_grad, per_sample_loss
from privcausal.training.models import ACTIVATIONS, Architecture
from privcausal.training.planning import build_receipt, plan_training
from privcausal.training.recipe import DPSGDRecipe, as_recipe
from privcausal.jsonnum import json_number

__all__ = ["TwoHeadResult", "train_twohead", "twohead_forward", "twohead_architectures"]



def twohead_architectures(input_dim: int, trunk_hidden: tuple[int, ...], activation: str
                          ) -> tuple[Architecture, Architecture]:
    """(trunk, head) architectures. The trunk is the stack ``Linear(d, h1), act, ...,
    Linear(., hk)`` (an ``Architecture`` of kind linear or mlp with ``output_dim = hk``) read
    through one more ``act``; each head is ``Architecture.linear(hk)``."""
    hidden = tuple(int(h) for h in trunk_hidden)
    if not hidden or any(h < 1 for h in hidden):
        raise DataValidationError("trunk_hidden needs at least one positive width")
    if activation not in ACTIVATIONS:
        raise DataValidationError(f"activation must be one of {ACTIVATIONS}")
    if len(hidden) == 1:
        trunk = Architecture("linear", input_dim, (), activation, output_dim=hidden[0])
    else:
        trunk = Architecture("mlp", input_dim, hidden[:-1], activation, output_dim=hidden[-1])
    return trunk, Architecture.linear(hidden[-1])


def _trunk_names(trunk: Architecture) -> list[tuple[str, str]]:
    return [(w, b) for w, b in trunk.linear_names]  # bias always on here


def twohead_forward(trunk: Architecture, params: Mapping[str, torch.Tensor], X: torch.Tensor,
                    keep: bool = False):
    """Both heads' outputs (n x 2) and, with ``keep``, the layer inputs and pre-activations."""
    acts, pres = [], []
    A = X
    for w, b in _trunk_names(trunk):
        Z = A @ params["trunk." + w].T + params["trunk." + b]
        acts.append(A)
        pres.append(Z)
        A = act(trunk.activation, Z)
    F = A @ params["head.weight"].T + params["head.bias"]
    return (F, A, acts, pres) if keep else F


def _clipped_sums(trunk: Architecture, p: Mapping[str, torch.Tensor], Xb: torch.Tensor,
                  tb: torch.Tensor, yb: torch.Tensor, C: float, loss: str):
    F, phi, acts, pres = twohead_forward(trunk, p, Xb, keep=True)
    onehot = torch.nn.functional.one_hot(tb, 2).to(Xb.dtype)  # B x 2
    f = (F * onehot).sum(-1)
    losses = per_sample_loss(f, yb, loss)
    g = loss_grad(f, yb, loss)  # B
    sq = g * g * ((phi * phi).sum(-1) + 1.0)
    Wt = p["head.weight"][tb]  # B x k
    names = _trunk_names(trunk)
    L = len(names)
    deltas: list[torch.Tensor] = [None] * L  # type: ignore[list-item]
    delta = g.unsqueeze(-1) * Wt * act_grad(trunk.activation, pres[-1], phi)
    for i in range(L - 1, -1, -1):
        deltas[i] = delta
        a_in = acts[i]
        sq = sq + (delta * delta).sum(-1) * ((a_in * a_in).sum(-1) + 1.0)
        if i > 0:
            delta = (delta @ p["trunk." + names[i][0]]) * act_grad(
                trunk.activation, pres[i - 1], acts[i])
    norms = torch.sqrt(sq)
    c = torch.ones_like(norms) if math.isinf(C) else torch.clamp(C / (norms + CLIP_EPS), max=1.0)
    cg = (c * g).unsqueeze(-1) * onehot  # B x 2
    sums = {"head.weight": cg.T @ phi, "head.bias": cg.sum(0)}
    for i, (w, b) in enumerate(names):
        cd = deltas[i] * c.unsqueeze(-1)
        sums["trunk." + w] = cd.T @ acts[i]
        sums["trunk." + b] = cd.sum(0)
    return sums, norms, losses


def per_sample_grads_autograd(trunk: Architecture, p: Mapping[str, torch.Tensor], X, t, y, loss):
    """Per-sample gradients by autograd, one record at a time (for tests)."""
    out = []
    for i in range(len(y)):
        q = {k: v.detach().clone().requires_grad_(True) for k, v in p.items()}
        F = twohead_forward(trunk, q, X[i:i + 1])
        li = per_sample_loss(F[0, t[i]].reshape(1), y[i:i + 1], loss).sum()
        li.backward()
        out.append({k: v.grad.detach().clone() for k, v in q.items()})
    return out


@dataclass(frozen=True)
class TwoHeadResult:
    """A trained two-head network, its receipt and (private, unreleasable) history."""

    params: Mapping[str, torch.Tensor]
    trunk: Architecture
    head: Architecture
    loss: str
    receipt: Receipt
    noise_multiplier: float
    max_grad_norm: float
    sampling_rate: float
    steps: int
    history: Mapping[str, list] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """(n, 2) outputs of the two heads (logits for bce)."""
        dtype = self.params["head.weight"].dtype
        with torch.no_grad():
            F = twohead_forward(self.trunk, self.params, torch.as_tensor(X, dtype=dtype))
        return F.double().numpy()


def train_twohead(
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    recipe: DPSGDRecipe | Mapping[str, Any] | None = None,
    *,
    average_last: float = 0.0,
    random_state: Any = None,
    secure_mode: bool | None = None,
    label: str = "two-head network (TARNet)",
    **settings: Any,
) -> TwoHeadResult:
    """Train the two-head network with DP-SGD (``epsilon=inf``: no clipping, no noise).

    ``recipe`` (a :class:`~privcausal.training.DPSGDRecipe`; keyword ``settings`` override its
    fields): ``hidden`` are the trunk's widths (default (16,)), ``activation`` the trunk's,
    ``loss`` "mse" (default) or "bce"; the sampling, length, noise, clipping, optimiser and
    normaliser as for every trainer, planned by
    :func:`~privcausal.training.planning.plan_training`.

    ``average_last`` in [0, 1): return the mean of the iterates of the last fraction of the
    steps (tail averaging; post-processing of the iterates, which the DP-SGD analysis covers
    since it bounds the release of every iterate), 0 = the last iterate.
    """
    base = DPSGDRecipe(architecture="mlp", hidden=(16,), activation="relu", loss="mse", epsilon=1.0)
    rec = as_recipe(recipe, settings, base=base)
    if rec.architecture != "mlp":
        raise DataValidationError("the two-head network's trunk is an MLP: leave architecture='mlp' "
                                  "and give its widths as hidden")
    n, d = X.shape
    trunk_hidden = tuple(rec.hidden or (16,))
    activation = rec.activation or "relu"
    trunk, head = twohead_architectures(d, trunk_hidden, activation)
    if rec.loss not in ("mse", "bce"):
        raise DataValidationError("loss must be 'mse' or 'bce'")
    plan = plan_training(n, d, rec, implied_loss=rec.loss, label=label)
    r = plan.recipe
    q, T, sigma, C, loss = r.sampling_rate, r.steps, r.noise_multiplier, r.max_grad_norm, r.loss
    lr, optimizer, momentum, weight_decay, dtype = r.lr, r.optimizer, r.momentum, r.weight_decay, r.dtype
    beta1, beta2 = r.betas
    expected_batch_size = rec.expected_batch_size
    eps = math.inf if not rec.is_private else (rec.epsilon if rec.epsilon is not None else 1.0)
    stream = make_stream(random_state, secure_mode if math.isfinite(eps) else
                         (False if random_state is None else secure_mode))
    # initial parameters: torch's default nn.Linear distribution (public randomness)
    p: dict[str, torch.Tensor] = {}
    for (w, bn), (fan_in, fan_out) in zip(_trunk_names(trunk), trunk.layers):
        bound = 1.0 / math.sqrt(fan_in)
        p["trunk." + w] = stream.init_uniform((fan_out, fan_in), bound, dtype)
        p["trunk." + bn] = stream.init_uniform((fan_out,), bound, dtype)
    k = head.input_dim
    p["head.weight"] = stream.init_uniform((2, k), 1.0 / math.sqrt(k), dtype)
    p["head.bias"] = torch.zeros(2, dtype=dtype)
    Xt = torch.as_tensor(X, dtype=dtype)
    tt = torch.as_tensor(np.asarray(t), dtype=torch.long)
    yt = torch.as_tensor(y, dtype=dtype)
    if expected_batch_size is not None:  # declared (the learner's q x noisy count): public
        norm = float(np.ravel(expected_batch_size)[0])
        if not norm > 0 or math.isinf(norm):
            raise PrivacyParameterError("expected_batch_size must be positive and finite")
    else:
        norm = q * n
    if not 0.0 <= float(average_last) < 1.0:
        raise DataValidationError("average_last must lie in [0, 1)")
    avg_from = T - max(1, int(round(float(average_last) * T))) if average_last > 0 else T
    acc = {k_: torch.zeros_like(v) for k_, v in p.items()}
    state: dict[str, dict[str, torch.Tensor]] = {}
    hist = {"loss": [], "clipped_fraction": [], "batch_size": []}
    with torch.no_grad():
        for step in range(T):
            sel = stream.bernoulli_mask((n,), q) if q < 1 else torch.ones(n, dtype=torch.bool)
            idx = sel.nonzero().squeeze(1)
            if idx.numel():
                sums, norms, losses = _clipped_sums(trunk, p, Xt[idx], tt[idx], yt[idx], C, loss)
                hist["loss"].append(float(losses.mean()))
                hist["clipped_fraction"].append(float((norms > C).float().mean()))
            else:
                sums = {k_: torch.zeros_like(v) for k_, v in p.items()}
            hist["batch_size"].append(int(idx.numel()))
            for name in p:
                g = sums[name]
                if sigma > 0:
                    g = g + stream.randn(tuple(g.shape), dtype) * (sigma * C)
                g = g / norm
                if weight_decay:
                    g = g + weight_decay * p[name]
                st = state.setdefault(name, {})
                if optimizer == "sgd":
                    if momentum:
                        buf = st.get("buf")
                        buf = g.clone() if buf is None else buf.mul_(momentum).add_(g)
                        st["buf"] = buf
                        g = buf
                    p[name] = p[name] - lr * g
                else:
                    m = st.get("m", torch.zeros_like(g)).mul_(beta1).add_(g, alpha=1 - beta1)
                    v = st.get("v", torch.zeros_like(g)).mul_(beta2).addcmul_(g, g, value=1 - beta2)
                    st["m"], st["v"] = m, v
                    bc1, bc2 = 1 - beta1 ** (step + 1), 1 - beta2 ** (step + 1)
                    p[name] = p[name] - (lr / bc1) * m / ((v.sqrt() / math.sqrt(bc2)) + r.adam_eps)
            if step >= avg_from:
                for name in p:
                    acc[name] += p[name]
    if avg_from < T:
        p = {k_: v / (T - avg_from) for k_, v in acc.items()}
    notes = [
        "one DP-SGD run on all records (shared trunk): sequential, no parallel composition",
        *plan.notes,
        *(["the normaliser is the declared expected batch size"] if plan.declared_normaliser else []),
        "each record's gradient (trunk and its own arm's head) is clipped as a whole; noise is "
        "added to both heads",
    ]
    if avg_from < T:
        notes.append(
            f"released parameters: mean of the iterates of the last {T - avg_from} of {T} steps "
            "(tail averaging; post-processing of iterates the DP-SGD analysis already covers)"
        )
    plan = dataclasses.replace(plan, notes=tuple(notes))
    noise = stream.description if sigma > 0 else "no noise (non-private twin)"
    release = (f"{label}: trunk {trunk.to_dict()}, heads {head.to_dict()} trained on the records"
               if sigma > 0 else f"{label} (non-private twin)")
    receipt = build_receipt(plan, noise, release)
    config = {"trunk_hidden": list(trunk_hidden), "activation": activation, "loss": loss,
              "noise_multiplier": sigma, "max_grad_norm": json_number(C),
              "sampling_rate": q, "steps": T, "epochs": T * q, "lr": lr, "optimizer": optimizer,
              "momentum": momentum, "weight_decay": weight_decay,
              "average_last": float(average_last)}
    return TwoHeadResult(params=p, trunk=trunk, head=head, loss=loss, receipt=receipt,
                         noise_multiplier=sigma, max_grad_norm=C, sampling_rate=q, steps=T,
                         history=hist, config=config)

"""The crafted record canary for MLPs, with the auditor's initialisation that makes it work.

See :mod:`audits.dpsgd.crafted` for the audit that uses it, and :func:`crafted_mlp_canary` for the
design: an input column no real record uses, a hidden unit per layer reserved for the canary
(the anchor, off for every real record), and a start that keeps the canary's logit far on
the wrong side, so its clipped gradient has the same direction and full norm C at every step.

References
----------
.. [1] Cebere, Bellet, Papernot, "Tighter privacy auditing of DP-SGD in the hidden state
   threat model", ICLR 2025.
.. [2] Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis, "Tight auditing of
   differentially private machine learning", USENIX Security 2023 (Dirac canaries).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from privcausal.exceptions import DataValidationError
from privcausal.validation import check_random_state

__all__ = [
    "CraftedCanary",
    "crafted_mlp_canary",
    "canary_gradients",
    "canary_gains",
    "standard_init",
]


@dataclass(frozen=True)
class CraftedCanary:
    """Data with the canary column and record appended, and the auditor's initialisation.

    ``X`` (n + 1, d + 1) holds the data with a zero column ``coordinate`` and the canary as row
    ``index``; ``init`` maps parameter names (as in ``build_model``) to unstacked arrays;
    ``direction`` is the unit descent direction of the canary on ``W1[:, coordinate]`` at
    ``init``.
    """

    X: np.ndarray
    y: np.ndarray
    coordinate: int
    index: int
    scale: float
    label: float
    architecture: Any
    init: Mapping[str, np.ndarray]
    direction: np.ndarray

    @property
    def record(self) -> tuple[np.ndarray, float]:
        return self.X[self.index], float(self.y[self.index])


def standard_init(arch: Any, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """torch's default ``nn.Linear`` draw, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), from ``rng``."""
    out = {}
    for (w, b), (fan_in, fan_out) in zip(arch.linear_names, arch.layers):
        bound = 1.0 / math.sqrt(fan_in)
        out[w] = rng.uniform(-bound, bound, size=(fan_out, fan_in))
        if b is not None:
            out[b] = rng.uniform(-bound, bound, size=(fan_out,))
    return out


def canary_gradients(architecture: Any, params: Mapping[str, Any], x: Any,
                     y: float) -> dict[str, np.ndarray]:
    """Unclipped BCE-loss gradients of one record ``(x, y)`` under K stacked parameter sets
    ``params`` (name -> (K, ...)): name -> (K, ...) float64 arrays (torch.func vmap of grad)."""
    import torch
    from torch.func import functional_call, grad, vmap

    from privcausal.training.models import Architecture, build_model

    arch = Architecture.from_dict(architecture)
    model = build_model(arch, dtype=torch.float64)
    p = {k: torch.as_tensor(np.asarray(v, dtype=np.float64)) for k, v in params.items()}
    xt = torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(1, -1)
    yt = torch.tensor(float(y), dtype=torch.float64)

    def one(q: dict[str, Any]) -> Any:
        f = functional_call(model, q, (xt,)).reshape(())
        return torch.nn.functional.softplus(f) - f * yt

    return {k: v.numpy() for k, v in vmap(grad(one))(p).items()}


def _logit(arch: Any, init: Mapping[str, np.ndarray], x: np.ndarray) -> float:
    import torch

    from privcausal.training.models import model_from_dict

    with torch.no_grad():
        m = model_from_dict(arch, init, dtype=torch.float64)
        return float(m(torch.as_tensor(x[None])).reshape(()))


def crafted_mlp_canary(X: Any, y: Any, *, hidden: Any = (32,), max_grad_norm: float = 1.0,
                       scale: float | None = None, anchor_weight: float = 20.0,
                       logit_margin: float = 10.0, dead_margin: float = 1.0,
                       inhibit_margin: float = 1.0, noise_sd: float = 0.0,
                       random_state: Any = 0) -> CraftedCanary:
    """Append the canary column and record to ``X, y`` and build the auditor's initialisation.

    Hidden unit 0 of every layer of the ReLU MLP is reserved for the canary (the *anchor*):
    its weights from real features and from the other units are 0 and its bias
    ``-dead_margin``, so it is off for every real record, while the canary column feeds it;
    the anchor's output weight is ``-anchor_weight``. The anchor inhibits every other unit of
    the next layer for the canary (negative weights on the canary column, and from the
    anchor, reaching ``inhibit_margin`` plus six ``noise_sd`` of accumulated noise below zero),
    so the canary's logit is ``-anchor_weight * anchor + b_out``, set to ``-logit_margin`` at
    the start. With label 1 its loss gradient then stays near -1 wherever its logit moves
    within the margin, so it is clipped at every step, and its gradient lies on the anchor
    path: ``W1[0, c]`` carries all but a small share of its norm (the audit reports it). The other
    parameters start at torch's default uniform draw (seeded by ``random_state``:
    data-independent, the same for every run); real records never reach the anchor path,
    so the network they train has one unit fewer per hidden layer.

    Parameters
    ----------
    hidden : hidden widths of the ReLU MLP under audit (each >= 2)
    scale : the canary's value on its column (default ``100 * max_grad_norm``)
    anchor_weight, logit_margin, dead_margin, inhibit_margin, noise_sd : see above;
        :func:`audit_hidden_state_mlp` sets the margins from the recipe
    """
    from privcausal.training.models import Architecture

    Xa = np.asarray(X, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64).ravel()
    if Xa.ndim != 2 or ya.shape[0] != Xa.shape[0]:
        raise DataValidationError("X must be (n, d) and y (n,)")
    s = 100.0 * float(max_grad_norm) if scale is None else float(scale)
    a, M, beta = float(anchor_weight), float(logit_margin), float(dead_margin)
    if not all(v > 0 and math.isfinite(v) for v in (s, a, M, beta)):
        raise DataValidationError("scale, anchor_weight and the margins must be positive")
    hidden = tuple(int(h) for h in hidden)
    if not hidden or min(hidden) < 2:
        raise DataValidationError("the crafted canary needs hidden layers of width >= 2")
    n, d = Xa.shape
    Xc = np.zeros((n + 1, d + 1))
    Xc[:n, :d] = Xa
    Xc[n, d] = s
    yc = np.append(ya, 1.0)
    arch = Architecture.mlp(d + 1, hidden, "relu")
    init = standard_init(arch, check_random_state(random_state))
    names = arch.linear_names
    L = len(names)
    top = max((M + float(init[names[-1][1]][0])) / a, 1.0)
    acts = [top + (L - 2 - i) * beta for i in range(L - 1)]  # the canary's anchor values
    for i, (w, b) in enumerate(names[:-1]):
        W, src, feed = init[w], (d if i == 0 else 0), (s if i == 0 else acts[i - 1])
        W[0, :] = 0.0
        W[0, src] = (acts[i] + beta) / feed
        W[1:, src] = -(np.abs(init[b][1:]) + float(inhibit_margin)) / feed - 6.0 * float(noise_sd)
        init[b][0] = -beta
    init[names[-1][0]][0, 0] = -a
    g = canary_gradients(arch, {k: v[None] for k, v in init.items()}, Xc[n], 1.0)
    col = -g[names[0][0]][0, :, d]
    return CraftedCanary(Xc, yc, d, n, s, 1.0, arch, init, col / np.linalg.norm(col))


def canary_gains(canary: CraftedCanary) -> tuple[float, float]:
    """||d f / d theta|| of the canary's logit f at the init, in all and on the parameters that
    real records also train (off the anchor rows and columns and the canary column)."""
    arch, x = canary.architecture, canary.X[canary.index]
    g = canary_gradients(arch, {k: v[None] for k, v in canary.init.items()}, x, 1.0)
    r = 0.5 * (1.0 - math.tanh(0.5 * _logit(arch, canary.init, x)))  # |dloss/df|, label 1
    tot = shared = 0.0
    names = arch.linear_names
    for i, (w, b) in enumerate(names):
        gw = g[w][0] ** 2
        tot += float(gw.sum())
        if i < len(names) - 1:
            gw = gw[1:]
        shared += float(np.delete(gw, canary.coordinate if i == 0 else 0, axis=1).sum())
        if b is not None:
            gb = g[b][0] ** 2
            tot += float(gb.sum())
            shared += float(gb[1:].sum() if i < len(names) - 1 else gb.sum())
    return math.sqrt(tot) / max(r, 1e-300), math.sqrt(shared) / max(r, 1e-300)

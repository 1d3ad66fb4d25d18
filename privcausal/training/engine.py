"""The stacked DP-SGD engine: K models, one pass, hand-written or torch.func per-sample grads.

Everything here works on *stacked* parameters (a leading model dimension K) and on padded
batches: each step, every model draws its own Poisson sample of the records its inclusion
mask allows (:class:`PoissonSampler`), the sampled indices are packed to the left of a
``K x B_max`` index matrix and a validity mask marks the real entries. Padding entries get
a clipping weight of zero, so they never touch the sums.

Per-sample gradient norms of a dense layer need no per-sample gradients: for one record the
weight gradient is the outer product ``delta a'``, whose Frobenius norm is
``||delta|| ||a||``. The clipped sum is then one batched matrix product,
``sum_i c_i delta_i a_i' = (c * Delta)' A``. This is exact (no approximation) for stacks of
dense layers and elementwise activations, and it is what makes DP-SGD cost about the same as
plain training here. Three further savings, all exact: the output is one number per record,
so every layer's error is ``g_i`` times a loss-free Jacobian and the clipping weight
``g_i c_i`` is applied once, to each layer's input; the top hidden layer's Jacobian
``w_out * act'(Z)`` stays factored (its norms and sums are batched products with
``act'(Z)``); and the first layer's bias rides on a column of ones appended to the inputs.
The torch.func backend (vmap of grad) computes the same quantities the general way and is
the cross-check in the tests.

Randomness is consumed in a fixed order per step (Poisson sample, then noise parameter by
parameter in ``Architecture.parameter_shapes`` order, as opacus draws it), so for one model
and one seeded stream this engine and the opacus engine produce the same model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch

from privcausal.training import full_batch
from privcausal.training.functional import CLIP_EPS, act_grad, loss_grad, per_sample_loss, stacked_forward
from privcausal.training.models import Architecture
from privcausal.training.sampling import PoissonSampler

__all__ = ["ResolvedRecipe", "train_stacked", "clipped_sums", "stacked_forward", "per_sample_loss",
           "PoissonSampler", "CLIP_EPS"]


@dataclass(frozen=True)
class ResolvedRecipe:
    """A resolved DP-SGD recipe (everything but the data and the randomness)."""

    architecture: Architecture
    loss: str
    noise_multiplier: float
    max_grad_norm: float  # inf = no clipping (non-private twin)
    sampling_rate: float
    steps: int
    lr: float
    optimizer: str = "sgd"
    momentum: float = 0.0
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    backend: str = "handwritten"
    dtype: torch.dtype = torch.float32


# --------------------------------------------------------------------------- per-sample grads
def clipped_sums(
    arch: Architecture,
    params: dict[str, torch.Tensor],
    Xb: torch.Tensor,
    yb: torch.Tensor,
    valid: torch.Tensor,
    max_grad_norm: float,
    loss: str,
    backend: str = "handwritten",
    xsq: torch.Tensor | None = None,
    ones_col: bool = False,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Sums over each model's batch of per-sample gradients clipped to ``max_grad_norm``.

    Parameters
    ----------
    params : stacked parameters, each K x ...
    Xb, yb : K x B x d and K x B padded batches; valid : K x B bool (False = padding), or
        None (no padding)
    max_grad_norm : float, ``inf`` for no clipping
    xsq : K x B squared norms of the input rows (optional, saves a reduction)
    ones_col : Xb ends with a column of ones (see :func:`stacked_forward`; needs a bias)

    Returns
    -------
    sums : dict name -> K x ... (clipped gradient sums), norms : K x B per-sample gradient
    norms (0 at padding), losses : K x B per-sample losses (0 at padding).
    """
    if backend == "func":
        return _clipped_sums_func(arch, params, Xb, yb, valid, max_grad_norm, loss)
    ones_col = bool(ones_col and arch.bias)
    f, acts, pres = stacked_forward(arch, params, Xb, keep=True, ones_col=ones_col)
    losses = per_sample_loss(f, yb, loss)
    g = loss_grad(f, yb, loss)  # K x B
    if valid is not None:  # padding: no loss, no gradient
        vf = valid.to(Xb.dtype)
        losses = losses * vf
        g = g * vf
    names = arch.linear_names
    L = len(names)
    # the "+1" of a bias in the norm of a layer's input (layer 0's ones column carries it)
    lb = [1.0 if arch.bias else 0.0] * L
    if ones_col and xsq is None:
        lb[0] = 0.0  # the norm of the augmented input already counts the ones column

    def sqnorm(a: torch.Tensor) -> torch.Tensor:
        return torch.linalg.vector_norm(a, dim=-1).square()

    # The output is a scalar per record, so every layer's backpropagated error is g_i times
    # a Jacobian J_l (d f / d Z_l, one row per record) that does not depend on the loss:
    # the per-sample squared norm is g_i^2 * S_i with S_i = sum_l ||J_l,i||^2 (||a_l-1,i||^2 + 1).
    # The clipping weight g_i c_i is then folded into each layer's input for the sums.
    in_sq = [xsq if (i == 0 and xsq is not None) else None for i in range(L)]

    def a_sq(i: int) -> torch.Tensor:
        if in_sq[i] is None:
            in_sq[i] = sqnorm(acts[i])
        return in_sq[i]

    S = a_sq(L - 1) + lb[L - 1]  # ||J_L||^2 = 1
    # J of the top hidden layer is w_out * D with D = act'(Z) (K x B x h): kept factored, so
    # its norms and sums are batched products with D and no K x B x h product is formed
    # (for ReLU, D is 0/1 and D^2 = D).
    Js: list[torch.Tensor | None] = [None] * L
    top_D: torch.Tensor | None = None
    if L >= 2:
        w_out = params[names[L - 1][0]]  # K x 1 x h
        top_D = act_grad(arch.activation, pres[L - 2], acts[L - 1])
        D2 = top_D if arch.activation == "relu" else top_D * top_D
        jj = torch.bmm(D2, (w_out * w_out).transpose(1, 2)).squeeze(-1)  # K x B
        a_in = a_sq(L - 2) + lb[L - 2] if lb[L - 2] else a_sq(L - 2)
        S = torch.addcmul(S, jj, a_in)
        J = top_D * w_out if L >= 3 else None
        for i in range(L - 2, 0, -1):
            J = _times_act_grad(arch.activation, torch.bmm(J, params[names[i][0]]), pres[i - 1], acts[i])
            Js[i - 1] = J
            S = S + sqnorm(J) * (a_sq(i - 1) + lb[i - 1])
    norms = g.abs() * torch.sqrt(S)  # 0 at padding, where g = 0
    if math.isinf(max_grad_norm):
        gc = g
    else:
        gc = g * torch.clamp(max_grad_norm / (norms + CLIP_EPS), max=1.0)  # K x B
    gc_row = gc.unsqueeze(1)  # K x 1 x B
    sums: dict[str, torch.Tensor] = {}
    w, b = names[L - 1]
    sums[w] = torch.bmm(gc_row, acts[L - 1])  # K x 1 x in
    if b is not None and not (ones_col and L == 1):
        sums[b] = gc.sum(1, keepdim=True)
    if top_D is not None:
        i = L - 2
        w, b = names[i]
        w_col = w_out.transpose(1, 2)  # K x h x 1
        sums[w] = w_col * torch.bmm(top_D.transpose(1, 2), acts[i] * gc.unsqueeze(-1))
        if b is not None and not (ones_col and i == 0):
            sums[b] = w_out.squeeze(1) * torch.bmm(gc_row, top_D).squeeze(1)
    for i in range(L - 2):
        w, b = names[i]
        Ji = Js[i]
        sums[w] = torch.bmm(Ji.transpose(1, 2), acts[i] * gc.unsqueeze(-1))
        if b is not None and not (ones_col and i == 0):
            sums[b] = torch.bmm(gc_row, Ji).squeeze(1)
    if ones_col:  # layer 0's sum holds [weight | bias]
        w, b = names[0]
        G = sums[w]
        sums[w], sums[b] = G[..., :-1], G[..., -1]
    # Parameter order (noise is drawn in this order, as opacus does).
    sums = {k: sums[k] for k in arch.parameter_shapes}
    return sums, norms, losses


def _times_act_grad(name: str, back: torch.Tensor, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """back * act'(z), with back broadcast over records when it is K x 1 x width."""
    if name == "relu":
        return back * act_grad(name, z, a)
    if name == "identity":
        return back.expand_as(z).clone() if back.shape != z.shape else back
    return back * act_grad(name, z, a)


def _clipped_sums_func(arch, params, Xb, yb, valid, max_grad_norm, loss):
    from torch.func import functional_call, grad, vmap

    from privcausal.training.models import build_model

    model = build_model(arch, dtype=Xb.dtype)

    def loss_one(p, x, y):
        out = functional_call(model, p, (x.unsqueeze(0),)).reshape(())
        return per_sample_loss(out, y, loss)

    per_sample = vmap(grad(loss_one), in_dims=(None, 0, 0))
    per_model = vmap(per_sample, in_dims=(0, 0, 0))
    G = per_model(params, Xb, yb)  # name -> K x B x ...
    K, B = yb.shape
    if valid is None:
        valid = torch.ones((K, B), dtype=torch.bool)
    sq = sum((g.reshape(K, B, -1) ** 2).sum(-1) for g in G.values())
    norms = torch.sqrt(sq)
    vf = valid.to(Xb.dtype)
    c = vf if math.isinf(max_grad_norm) else torch.clamp(max_grad_norm / (norms + CLIP_EPS), max=1.0) * vf
    sums = {k: torch.einsum("kb,kb...->k...", c, g) for k, g in G.items()}
    with torch.no_grad():
        f = stacked_forward(arch, params, Xb)
        losses = per_sample_loss(f, yb, loss) * vf
    return sums, norms * vf, losses


# --------------------------------------------------------------------------- the loop
def train_stacked(
    recipe: ResolvedRecipe,
    X: torch.Tensor,
    y: torch.Tensor,
    mask: torch.Tensor | None,
    params: dict[str, torch.Tensor],
    normaliser: torch.Tensor,
    stream: Any,
    *,
    record: frozenset[str] = frozenset(),
    record_models: torch.Tensor | None = None,
    step_callback: Callable[[int], None] | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, list[dict[str, torch.Tensor]]]]:
    """Run ``recipe.steps`` DP-SGD steps on K stacked models (in place on copies).

    Parameters
    ----------
    X : n x d, y : n; mask : K x n bool or None (all records for all models)
    params : stacked initial parameters (K x ...), copied
    normaliser : K, the divisor of the noisy sum (expected batch size q * m_k)
    stream : the RandomStream for sampling and noise

    Returns
    -------
    params, history (``batch_size``, ``loss``, ``clipped_fraction``: K x T each), records.
    """
    K = next(iter(params.values())).shape[0]
    n = X.shape[0]
    dtype = recipe.dtype
    q = recipe.sampling_rate
    C = recipe.max_grad_norm
    sigma = recipe.noise_multiplier
    std = sigma * C if sigma > 0 else 0.0
    p = {k: v.detach().clone().to(dtype) for k, v in params.items()}
    state: dict[str, dict[str, torch.Tensor]] = {}
    xsq_all = (X * X).sum(-1)
    T = recipe.steps
    hist_b: list[torch.Tensor] = []
    hist_loss: list[torch.Tensor] = []
    hist_clip: list[torch.Tensor] = []
    plain_sgd = recipe.optimizer == "sgd" and not recipe.momentum and not recipe.weight_decay
    recs: dict[str, list[dict[str, torch.Tensor]]] = {r: [] for r in record}
    sel_models = record_models
    if "params" in recs:
        recs["params"].append(_pick(p, sel_models))
    inv_norm = (1.0 / normaliser).to(dtype)
    beta1, beta2 = recipe.betas
    sampler = PoissonSampler(K, n, q, mask, stream)
    yx = torch.stack([y, xsq_all], 1)  # one gather for outcome and row norms
    shared = full_batch.applies(recipe.architecture, q, recipe.backend)
    if shared:  # one-layer models on full batches: products with the shared inputs
        weight = mask  # K x n bool or None
        sizes = torch.full((K,), n, dtype=torch.long) if mask is None else mask.sum(1)
        X_shared = X
    ones_col = recipe.architecture.bias and recipe.backend == "handwritten"
    if ones_col:  # fold the first layer's bias into its weights
        X = torch.cat([X, torch.ones((n, 1), dtype=X.dtype)], 1)
    d = X.shape[1]
    fixed_batch = q >= 1.0  # full batches: the same records every step, no randomness drawn
    batch: tuple[Any, ...] | None = None
    for t in range(T):
        if shared:
            with torch.no_grad():
                sums, norms, losses = full_batch.full_batch_linear_sums(
                    recipe.architecture, p, X_shared, y, weight, xsq_all, C, recipe.loss)
        elif batch is None:
            idx, valid, sizes = sampler.sample()
            flat = idx.reshape(-1)
            Bm = idx.shape[1]
            Xb = torch.index_select(X, 0, flat).view(K, Bm, d)
            yxb = torch.index_select(yx, 0, flat).view(K, Bm, 2)
            yb, xsq = yxb[..., 0], yxb[..., 1]
            if fixed_batch:  # gathered once (a K x n x d copy per step was most of the cost)
                batch = (valid, sizes, Xb, yb, xsq)
        else:
            valid, sizes, Xb, yb, xsq = batch
        if not shared:
            with torch.no_grad():  # torch.func.grad ignores an outer no_grad
                sums, norms, losses = clipped_sums(
                    recipe.architecture, p, Xb, yb, valid, C, recipe.loss, recipe.backend, xsq, ones_col
                )
        hist_b.append(sizes)
        hist_loss.append(losses.sum(1))
        if math.isfinite(C):
            hist_clip.append((norms > C).sum(1))  # padding has norm 0
        if "clipped_grad" in recs:
            recs["clipped_grad"].append(_pick(sums, sel_models))
        if std > 0:
            for k in sums:  # in parameter order, as opacus draws it
                sums[k] = torch.add(sums[k], stream.randn(tuple(sums[k].shape), dtype), alpha=std)
        if "noisy_grad" in recs:
            recs["noisy_grad"].append(_pick(sums, sel_models))
        with torch.no_grad():
            for k, s in sums.items():
                shape = (K,) + (1,) * (s.dim() - 1)
                if plain_sgd:  # p - lr * s / normaliser in one operation
                    p[k] = torch.addcmul(p[k], s, inv_norm.view(shape), value=-recipe.lr)
                    continue
                g = s * inv_norm.view(shape)
                if recipe.weight_decay:
                    g = g + recipe.weight_decay * p[k]
                if recipe.optimizer == "sgd":
                    if recipe.momentum:
                        buf = state.setdefault(k, {}).get("buf")
                        buf = g.clone() if buf is None else buf.mul_(recipe.momentum).add_(g)
                        state[k]["buf"] = buf
                        g = buf
                    p[k] = p[k] - recipe.lr * g
                else:  # adam, as torch.optim.Adam (no amsgrad)
                    st = state.setdefault(k, {})
                    m = st.get("m", torch.zeros_like(g)).mul_(beta1).add_(g, alpha=1 - beta1)
                    v = st.get("v", torch.zeros_like(g)).mul_(beta2).addcmul_(g, g, value=1 - beta2)
                    st["m"], st["v"] = m, v
                    bc1 = 1 - beta1 ** (t + 1)
                    bc2 = 1 - beta2 ** (t + 1)
                    denom_a = (v.sqrt() / math.sqrt(bc2)).add_(recipe.adam_eps)
                    p[k] = p[k] - (recipe.lr / bc1) * m / denom_a
        if "params" in recs:
            recs["params"].append(_pick(p, sel_models))
        if "batch_size" in recs:
            recs["batch_size"].append({"batch_size": _pick({"b": sizes}, sel_models)["b"]})
        if step_callback is not None:
            step_callback(t)
    sizes_all = torch.stack(hist_b, 1)
    denom = sizes_all.clamp(min=1).to(torch.float64)
    history = {
        "batch_size": sizes_all.to(torch.int32),
        "loss": torch.stack(hist_loss, 1).double() / denom,
        "clipped_fraction": (torch.stack(hist_clip, 1).double() / denom) if hist_clip
        else torch.zeros((K, T), dtype=torch.float64),
    }
    return p, history, recs


def _pick(d: dict[str, torch.Tensor], rows: torch.Tensor | None) -> dict[str, torch.Tensor]:
    if rows is None:
        return {k: v.detach().clone() for k, v in d.items()}
    return {k: v.detach()[rows].clone() for k, v in d.items()}

"""The stacked networks' forward pass, activations and losses, shared by every engine.

Functions of stacked parameters (a leading model dimension K): :func:`stacked_forward`
(K x B outputs), :func:`act` and :func:`act_grad` (the activations and their derivatives),
:func:`per_sample_loss` and :func:`loss_grad`. The DP-SGD engine
(:mod:`privcausal.training.engine`), the two-headed TARNet trainer, the released-model
reader and the gradient-reconstruction attack all use these.
"""

from __future__ import annotations

import torch

from privcausal.training.models import Architecture

__all__ = ["CLIP_EPS", "act", "act_grad", "per_sample_loss", "loss_grad", "stacked_forward"]

#: Opacus's clipping factor is ``C / (norm + 1e-6)``, capped at 1; we use the same.
CLIP_EPS = 1e-6

# --------------------------------------------------------------------------- activations
def act(name: str, z: torch.Tensor) -> torch.Tensor:
    if name == "relu":
        return torch.relu(z)
    if name == "tanh":
        return torch.tanh(z)
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "elu":
        return torch.nn.functional.elu(z)
    if name == "softplus":
        return torch.nn.functional.softplus(z)
    if name == "silu":
        return torch.nn.functional.silu(z)
    return z


def act_grad(name: str, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """d act / d z, given the pre-activation z and the activation a = act(z)."""
    if name == "relu":
        # 1{z > 0} from a = relu(z) >= 0: ceil(min(a, 1)) is 0 at 0 and 1 above (exact),
        # and faster on CPU than sign() or a comparison cast to float
        return torch.clamp(a, max=1.0).ceil_()
    if name == "tanh":
        return 1.0 - a * a
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "elu":
        return torch.where(z > 0, torch.ones_like(z), a + 1.0)
    if name == "softplus":
        return torch.sigmoid(z)
    if name == "silu":
        s = torch.sigmoid(z)
        return s * (1.0 + z * (1.0 - s))
    return torch.ones_like(z)


# --------------------------------------------------------------------------- losses
def per_sample_loss(f: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "bce":
        # = binary_cross_entropy_with_logits(f, y); torch's fused kernel (log_sigmoid) is
        # parallelised without a grain size and costs milliseconds per call on a busy
        # 2-core machine, so the stable closed form is used instead.
        return torch.nn.functional.softplus(f) - f * y
    return (f - y) ** 2


def loss_grad(f: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """d loss_i / d f_i."""
    if loss == "bce":
        return torch.sigmoid(f) - y
    return 2.0 * (f - y)


# --------------------------------------------------------------------------- forward
def stacked_forward(arch: Architecture, params: dict[str, torch.Tensor], A: torch.Tensor,
                    keep: bool = False, ones_col: bool = False):
    """Outputs (K x B) of K stacked networks on inputs A (K x B x d, or B x d shared).

    With ``keep`` also returns the layer inputs and pre-activations for backprop. With
    ``ones_col`` A (K x B x (d + 1)) ends with a column of ones and the first layer's bias is
    folded into its weights (one batched product, no separate bias pass).
    """
    names = arch.linear_names
    L = len(names)
    acts, pres = [], []
    for i, (w, b) in enumerate(names):
        W = params[w]
        if i == 0 and ones_col:
            W = torch.cat([W, params[b].unsqueeze(-1)], dim=2)
            b = None
        if A.dim() == 2:  # shared inputs: (B, d) @ (K, d, out) -> (K, B, out)
            Z = torch.matmul(A, W.transpose(1, 2))
            if b is not None:
                Z = Z + params[b].unsqueeze(1)
        elif b is not None:
            Z = torch.baddbmm(params[b].unsqueeze(1), A, W.transpose(1, 2))
        else:
            Z = torch.bmm(A, W.transpose(1, 2))
        if keep:
            acts.append(A)
        if i < L - 1 and arch.activation == "relu":
            Z = Z.clamp_(min=0)  # in place: ReLU's derivative needs only the activation
            A = Z
        else:
            A = act(arch.activation, Z) if i < L - 1 else Z
        if keep:
            pres.append(Z)
    f = A.squeeze(-1)
    return (f, acts, pres) if keep else f



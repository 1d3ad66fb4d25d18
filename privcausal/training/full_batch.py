"""Full-batch DP-SGD sums for one-layer models (logistic, linear) as matrix products.

With ``sampling_rate >= 1`` every model's batch is the same set of records at every step:
the records its inclusion mask allows. For a model with one dense layer the per-sample
gradient of record i is ``g_i [x_i, 1]`` (``g_i`` the derivative of the loss at the output),
its norm ``|g_i| sqrt(||x_i||^2 + 1)``, so the K models' clipped sums are one product
``(c * g) X`` of the K x n matrix of clipped weights (0 where a model may not use a record)
with the shared n x d inputs, and the K outputs one product ``X W'``. No per-model copy of
the batch is formed: the gathered K x n x d batch and its K batched matrix-vector products
(memory-bound) become two matrix-matrix products (BLAS 3). The sums are those of
:func:`privcausal.training.engine.clipped_sums` up to floating-point summation order
(tested).
"""

from __future__ import annotations

import math

import torch

from privcausal.training.functional import CLIP_EPS, loss_grad, per_sample_loss
from privcausal.training.models import Architecture

__all__ = ["applies", "full_batch_linear_sums"]


def applies(arch: Architecture, sampling_rate: float, backend: str) -> bool:
    """Whether the full-batch product path replaces the gathered batches."""
    return sampling_rate >= 1.0 and len(arch.linear_names) == 1 and backend == "handwritten"


def full_batch_linear_sums(
    arch: Architecture,
    params: dict[str, torch.Tensor],
    X: torch.Tensor,
    y: torch.Tensor,
    weight: torch.Tensor | None,
    xsq: torch.Tensor,
    max_grad_norm: float,
    loss: str,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Clipped gradient sums of K one-layer models, each on its allowed records.

    Parameters
    ----------
    params : stacked parameters (weight K x 1 x d, bias K x 1)
    X : n x d shared inputs (without a column of ones); y : n
    weight : K x n bool, True where model k uses record i; None: every record
    xsq : n squared norms of the rows of X
    max_grad_norm : C, ``inf`` for no clipping

    Returns
    -------
    sums (name -> K x ...), norms (K x n, 0 where unused), losses (K x n, 0 where unused),
    as :func:`~privcausal.training.engine.clipped_sums` returns them for the gathered batch.
    """
    ((w, b),) = arch.linear_names
    W = params[w][:, 0, :]  # K x d
    f = torch.mm(W, X.t())  # K x n
    if b is not None:
        f = f + params[b]  # K x 1 broadcast over records
    losses = per_sample_loss(f, y, loss)
    g = loss_grad(f, y, loss)
    S = xsq + 1.0 if b is not None else xsq
    norms = g.abs() * torch.sqrt(S)
    if math.isinf(max_grad_norm):
        gc = g
    else:
        gc = g * torch.clamp(max_grad_norm / (norms + CLIP_EPS), max=1.0)
    if weight is not None:
        # where, not a product, and after the clipping: an excluded record's weight is exactly
        # 0 even where its own loss, norm or factor overflowed (0 * inf would be NaN); the
        # inputs are finite, so its row of X adds exactly 0 to the product below
        zero = torch.zeros((), dtype=g.dtype)
        losses = torch.where(weight, losses, zero)
        norms = torch.where(weight, norms, zero)
        gc = torch.where(weight, gc, zero)
    sums = {w: torch.mm(gc, X).unsqueeze(1)}
    if b is not None:
        sums[b] = gc.sum(1, keepdim=True)
    return {k: sums[k] for k in arch.parameter_shapes}, norms, losses

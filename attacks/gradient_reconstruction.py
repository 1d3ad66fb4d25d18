"""Informed-adversary reconstruction against DP-SGD, from the training trajectory.

Threat model (white box, as in Hayes et al.'s experiments): the adversary sees every
intermediate model theta_0..theta_T and every privatised gradient sum, knows all training
records but the target, and the recipe (loss, clipping norm C, noise multiplier). With full
batches (sampling rate 1, so the batch at each step is known) it subtracts the known
records' clipped gradients:

    r_t = noisy_sum_t - sum_known clip(grad(theta_t; x_i, y_i)) = clip(grad(theta_t; x*, y*)) + N(0, (sigma C)^2 I).

Then:

* :func:`reconstruct_from_gradients`: for a dense network whose first layer has a bias, one
  record's first-layer gradient is ``delta x'`` and its bias gradient ``delta``, so ``x`` is
  the least-squares ratio ``sum_t,j r_b[t,j] r_W[t,j,:] / sum_t,j r_b[t,j]^2`` (exact without
  noise, clipping or not: clipping scales both by the same factor); the label comes from
  the sign of the output bias gradient (p - y). ``refine_steps`` then minimises the
  gradient-matching objective ``sum_t ||r_t - clip(grad(theta_t; x, y))||^2`` over x (the
  maximum-likelihood record under the Gaussian noise) by Adam through torch.func.
* :func:`prior_aware_reconstruction`: the target is one of k known candidates (prior success
  kappa = 1/k); pick the candidate whose clipped gradients best explain r_t (the likelihood-
  ratio test of Hayes et al.; its success is what the ReRo bound bounds).

References
----------
.. [1] Hayes, Mahloujifar, Balle, "Bounding data reconstruction attacks with the hypothesis
   testing interpretation of differential privacy", NeurIPS 2023 (Section 5, prior-aware attack).
.. [2] Balle, Cherubin, Hayes, IEEE S&P 2022.
.. [3] Phong, Aono, Hayashi, Wang, Moriai, "Privacy-preserving deep learning via additively
   homomorphic encryption", IEEE TIFS 2018 (input = weight gradient / bias gradient).
.. [4] Zhu, Liu, Han, "Deep leakage from gradients", NeurIPS 2019 (gradient matching).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from attacks.reconstruction import Reconstruction
from privcausal.exceptions import DataValidationError
from privcausal.validation import check_finite_array

__all__ = ["GradientTrace", "trace_from_training", "gradient_residuals", "per_record_gradients",
           "reconstruct_from_gradients", "prior_aware_reconstruction", "PriorAwareResult"]


@dataclass(frozen=True)
class GradientTrace:
    """What a white-box adversary saw of one DP-SGD run.

    params : name -> (T + 1, ...) tensors, theta_0..theta_T; noisy_grads : name -> (T, ...)
    privatised clipped-gradient sums; max_grad_norm (inf: no clipping), noise_multiplier,
    sampling_rate (must be 1 for these attacks), architecture, loss.
    """

    architecture: Any
    loss: str
    params: Mapping[str, Any]
    noisy_grads: Mapping[str, Any]
    max_grad_norm: float
    noise_multiplier: float
    sampling_rate: float

    @property
    def steps(self) -> int:
        return int(next(iter(self.noisy_grads.values())).shape[0])


def trace_from_training(training: Any, model: int = 0) -> GradientTrace:
    """The trace of model ``model`` of a :class:`~privcausal.training.StackedTraining` trained
    with ``record=("params", "noisy_grad")``."""
    rec = getattr(training, "records", {})
    if "params" not in rec or "noisy_grad" not in rec:
        raise DataValidationError("train with record=('params', 'noisy_grad') to keep the trajectory")
    models = training.record_models
    j = int(model) if models is None else int(np.flatnonzero(np.asarray(models) == model)[0]) \
        if np.any(np.asarray(models) == model) else -1
    if j < 0:
        raise DataValidationError(f"model {model} was not recorded")
    pick = lambda d: {k: v[:, j].double() for k, v in d.items()}  # noqa: E731
    return GradientTrace(training.architecture, training.loss, pick(rec["params"]),
                         pick(rec["noisy_grad"]), float(training.max_grad_norm),
                         float(training.noise_multiplier), float(training.sampling_rate))


def _check(trace: GradientTrace) -> None:
    if trace.sampling_rate != 1.0:
        raise DataValidationError("these attacks need full batches (sampling rate 1): with Poisson "
                                  "sampling the known records' share of each sum is unknown")


def _step_params(trace: GradientTrace, repeat: int = 1) -> dict[str, Any]:
    """theta_0..theta_{T-1} (the points where the gradients were taken), each repeated."""
    return {k: v[:-1].repeat_interleave(repeat, dim=0) for k, v in trace.params.items()}


def gradient_residuals(trace: GradientTrace, X_known: Any, y_known: Any) -> dict[str, np.ndarray]:
    """r_t = noisy sum - the known records' clipped gradient sum, per step: name -> (T, ...)."""
    import torch

    from privcausal.training.engine import clipped_sums

    _check(trace)
    X = torch.as_tensor(check_finite_array(X_known, name="known records", ndim=2))
    y = torch.as_tensor(check_finite_array(y_known, name="known outcomes", ndim=1))
    T = trace.steps
    p = _step_params(trace)
    valid = torch.ones((T, len(X)), dtype=torch.bool)
    sums, _, _ = clipped_sums(trace.architecture, p, X.expand(T, -1, -1), y.expand(T, -1), valid,
                              trace.max_grad_norm, trace.loss)
    return {k: (trace.noisy_grads[k] - sums[k]).numpy() for k in sums}


def per_record_gradients(trace: GradientTrace, X: Any, y: Any) -> dict[str, np.ndarray]:
    """Each record's clipped gradient at each step: name -> (T, n, ...)."""
    import torch

    from privcausal.training.engine import clipped_sums

    Xt = torch.as_tensor(check_finite_array(X, name="records", ndim=2))
    yt = torch.as_tensor(check_finite_array(y, name="outcomes", ndim=1))
    T, n = trace.steps, len(Xt)
    p = _step_params(trace, n)
    Xb = Xt.repeat(T, 1).unsqueeze(1)
    yb = yt.repeat(T).unsqueeze(1)
    sums, _, _ = clipped_sums(trace.architecture, p, Xb, yb, torch.ones((T * n, 1), dtype=torch.bool),
                              trace.max_grad_norm, trace.loss)
    return {k: v.reshape((T, n) + tuple(v.shape[1:])).numpy() for k, v in sums.items()}


def _matching_objective(trace: GradientTrace, R: Mapping[str, np.ndarray]):
    import torch
    from torch.func import functional_call, grad, vmap

    from privcausal.training.functional import CLIP_EPS, per_sample_loss
    from privcausal.training.models import build_model

    model = build_model(trace.architecture, dtype=torch.float64)
    params = {k: v.detach() for k, v in _step_params(trace).items()}
    Rt = {k: torch.as_tensor(v) for k, v in R.items()}
    C = trace.max_grad_norm

    def loss_one(p, x, y):
        return per_sample_loss(functional_call(model, p, (x.unsqueeze(0),)).reshape(()), y, trace.loss)

    def clipped(p, x, y):
        g = grad(loss_one)(p, x, y)
        if math.isinf(C):
            return g
        norm = torch.sqrt(sum((v * v).sum() for v in g.values()))
        c = torch.clamp(C / (norm + CLIP_EPS), max=1.0)
        return {k: c * v for k, v in g.items()}

    def objective(x, y):
        G = vmap(clipped, in_dims=(0, None, None))(params, x, y)
        return sum(((Rt[k] - G[k]) ** 2).sum() for k in G)

    return objective


def reconstruct_from_gradients(trace: GradientTrace, X_known: Any, y_known: Any, *,
                               refine_steps: int = 0, lr: float = 0.01) -> Reconstruction:
    """The missing record from a full-batch DP-SGD trajectory (see the module docstring).

    ``details``: ``objective`` (the gradient-matching objective at the returned record) and,
    with ``refine_steps``, ``objective_closed_form`` before refinement.
    """
    import torch

    R = gradient_residuals(trace, X_known, y_known)
    arch = trace.architecture
    if not arch.bias:
        raise DataValidationError("the closed form needs a bias in the first layer")
    (w0, b0), (_, b_last) = arch.linear_names[0], arch.linear_names[-1]
    rW, rb = R[w0], R[b0]  # (T, h, d), (T, h)
    den = float((rb * rb).sum())
    if den == 0:
        raise DataValidationError("the first-layer bias gradients of the target are all 0")
    x = np.einsum("th,thd->d", rb, rW) / den
    if trace.loss == "bce":
        y = 1.0 if float(R[b_last].sum()) < 0 else 0.0  # grad of the output bias is c (p - y)
    else:  # output bias gradient 2 c (f - y); c = 1 without clipping (else refine)
        from privcausal.training.functional import stacked_forward

        with torch.no_grad():
            f = stacked_forward(arch, _step_params(trace), torch.tensor(x[None, :])).numpy()[:, 0]
        y = float(np.mean(f - R[b_last].reshape(-1) / 2.0))
    objective = _matching_objective(trace, R)
    xt = torch.tensor(x, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64)
    details: dict[str, Any] = {}
    with torch.no_grad():
        details["objective_closed_form"] = float(objective(xt, yt))
    if refine_steps:
        from torch.func import grad

        fit_y = trace.loss == "mse"
        g_fn = grad(objective, argnums=(0, 1))
        var = [xt.clone(), yt.clone()]
        m = [torch.zeros_like(v) for v in var]
        v2 = [torch.zeros_like(v) for v in var]
        b1, b2 = 0.9, 0.999
        for s in range(1, int(refine_steps) + 1):  # Adam, written out (torch.func gradients)
            grads = g_fn(var[0], var[1])
            for i in range(2 if fit_y else 1):
                g = grads[i]
                m[i] = b1 * m[i] + (1 - b1) * g
                v2[i] = b2 * v2[i] + (1 - b2) * g * g
                var[i] = var[i] - lr * (m[i] / (1 - b1 ** s)) / ((v2[i] / (1 - b2 ** s)).sqrt() + 1e-12)
        xt, yt = var
    with torch.no_grad():
        details["objective"] = float(objective(xt, yt))
    return Reconstruction(xt.detach().numpy(), float(yt), None, details)


@dataclass(frozen=True)
class PriorAwareResult:
    """The candidate chosen (index into the candidates) and every candidate's log-likelihood
    of the residual gradients (up to a constant)."""

    index: int
    log_likelihood: np.ndarray


def prior_aware_reconstruction(trace: GradientTrace, X_known: Any, y_known: Any,
                               candidates_X: Any, candidates_y: Any) -> PriorAwareResult:
    """Which of k candidate records was the target? The maximum-likelihood candidate under the
    Gaussian noise of the trajectory (the nearest, in summed squared gradient distance, when
    there is no noise)."""
    R = gradient_residuals(trace, X_known, y_known)
    G = per_record_gradients(trace, candidates_X, candidates_y)
    k = next(iter(G.values())).shape[1]
    d2 = np.zeros(k)
    for name, g in G.items():
        diff = R[name][:, None] - g
        d2 += (diff.reshape(diff.shape[0], k, -1) ** 2).sum(axis=(0, 2))
    s2 = (trace.noise_multiplier * trace.max_grad_norm) ** 2
    ll = -d2 / (2 * s2) if s2 > 0 and math.isfinite(s2) else -d2
    return PriorAwareResult(int(np.argmax(ll)), ll)

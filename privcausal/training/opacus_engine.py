"""The opacus engine, and the one place privcausal touches opacus's internals.

:func:`train_opacus` trains one network with opacus's ``GradSampleModule`` hooks and
``DPOptimizer`` (the reference implementation the vectorised engine is checked against).
When the noise must come from a privcausal :class:`~privcausal.training._random.RandomStream`
(the OS-CSPRNG fallback), :func:`stream_dp_optimizer` subclasses ``DPOptimizer`` and
overrides ``add_noise``; that override needs opacus's private ``_check_processed_flag`` and
``_mark_as_processed``, imported here and nowhere else, so an opacus upgrade that moves them
breaks one function.

References
----------
.. [1] Yousefpour et al., "Opacus: user-friendly differential privacy library in PyTorch", 2021.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from privcausal.training._random import RandomStream, TorchStream
from privcausal.training.engine import ResolvedRecipe
from privcausal.training.functional import per_sample_loss
from privcausal.training.models import build_model
from privcausal.training.sampling import PoissonSampler

__all__ = ["train_opacus", "stream_dp_optimizer"]


def train_opacus(recipe: ResolvedRecipe, X: torch.Tensor, y: torch.Tensor, params0: dict[str, torch.Tensor],
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
        opt_cls = DPOptimizer if own_noise else stream_dp_optimizer()
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


def stream_dp_optimizer():
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

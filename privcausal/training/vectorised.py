"""K independent DP-SGD trainings in one pass: shadow models and audit trials in one call.

:func:`train_many` trains K copies of one architecture with the DP-SGD recipe of
:func:`~privcausal.training.train_dpsgd`, each model on the records its row of the
inclusion mask allows:

* per model and per step, an independent Poisson sample of its allowed records
  (``uniform < q`` and ``mask[k]``);
* per-sample clipping to ``max_grad_norm`` and independent N(0, (sigma C)^2) noise per model;
* the noisy sum divided by the model's expected batch size ``q * m_k`` (``m_k`` = the
  number of records model k may use; opacus's convention), or by a fixed
  ``expected_batch_size``.

Each model alone is (epsilon, delta)-DP with respect to its own training set; the receipt
states that per-model guarantee (it says nothing about releasing all K models).

Randomness: one ``random_state`` seeds the whole call. Models never share randomness: their
initial weights, samples and noise are disjoint draws of the stream (for chunks of models,
of per-chunk child streams spawned from it). Results depend on ``random_state`` and the
chunking; with a fixed ``chunk_size`` they are reproducible.

Per-sample gradients are hand-written for dense stacks (see
:mod:`privcausal.training.engine`); ``backend="func"`` computes them with torch.func (vmap
over models and samples), slower, for cross-checks.

White-box audits: ``record=("noisy_grad", "clipped_grad", "params", "batch_size")`` keeps,
for the models in ``record_models``, the per-step noisy and noiseless clipped gradient sums,
the parameters after every step (index 0: the initial ones) or the batch sizes. Nothing is
kept when ``record`` is empty; a request larger than ``max_record_bytes`` is refused before
training starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from privcausal.exceptions import DataValidationError, PrivacyParameterError
from privcausal.privacy import Receipt
from privcausal.training._random import RandomStream, TorchStream, make_stream
from privcausal.training.engine import train_stacked
from privcausal.training.functional import per_sample_loss, stacked_forward
from privcausal.training.models import Architecture, build_model, init_parameters, predict_output
from privcausal.training.planning import (
    as_training_data,
    build_receipt,
    check_outcome,
    check_params,
    plan_training,
)
from privcausal.training.recipe import DPSGDRecipe, as_recipe
from privcausal.jsonnum import json_number

__all__ = ["train_many", "StackedTraining", "RECORDABLE", "BACKENDS"]

RECORDABLE = ("noisy_grad", "clipped_grad", "params", "batch_size")
BACKENDS = ("handwritten", "func")


@dataclass(frozen=True)
class StackedTraining:
    """K trained models with stacked parameters (leading dimension K).

    Attributes
    ----------
    params : dict name -> tensor (K, ...); names as in ``build_model(architecture)``
    architecture, loss, noise_multiplier, max_grad_norm, sampling_rate, steps
    receipt : Receipt
        The guarantee of each model alone with respect to its own training set.
    mask : (K, n) bool array or None (every model could use every record)
    normaliser : (K,) expected batch sizes the noisy sums were divided by
    history : dict of (K, T) arrays: ``batch_size``, ``loss`` (mean per-sample loss on the
        batch), ``clipped_fraction``; private diagnostics, not covered by the receipt
    records : dict kind -> dict name -> tensor (T or T+1, K_rec, ...), or empty
    record_models : indices of the recorded models (None = all)
    config : the resolved recipe, JSON-able
    recipe : the declared :class:`~privcausal.training.DPSGDRecipe`
    """

    params: Mapping[str, torch.Tensor]
    architecture: Architecture
    loss: str
    noise_multiplier: float
    max_grad_norm: float
    sampling_rate: float
    steps: int
    receipt: Receipt
    mask: np.ndarray | None
    normaliser: np.ndarray
    history: Mapping[str, np.ndarray]
    records: Mapping[str, Mapping[str, torch.Tensor]] = field(default_factory=dict)
    record_models: np.ndarray | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    recipe: DPSGDRecipe | None = None

    @property
    def n_models(self) -> int:
        return int(next(iter(self.params.values())).shape[0])

    @property
    def epsilon(self) -> float:
        return self.receipt.epsilon

    @property
    def delta(self) -> float:
        return self.receipt.delta

    def model(self, k: int) -> torch.nn.Module:
        """Model ``k`` as an ``nn.Sequential`` (eval mode)."""
        m = build_model(self.architecture, dtype=next(iter(self.params.values())).dtype)
        m.load_state_dict({name: v[k].clone() for name, v in self.params.items()})
        m.eval()
        return m

    def decision_function(self, X: Any, models: Sequence[int] | None = None,
                          chunk_size: int = 1024) -> np.ndarray:
        """Network outputs of every model (or ``models``) on X: (K, n) float64."""
        dtype = next(iter(self.params.values())).dtype
        Xa = np.asarray(X, dtype=np.float64)
        Xt = torch.as_tensor(Xa if Xa.flags.writeable else Xa.copy(), dtype=dtype)
        if Xt.dim() != 2 or Xt.shape[1] != self.architecture.input_dim:
            raise DataValidationError(f"X must have {self.architecture.input_dim} columns")
        idx = torch.arange(self.n_models) if models is None else torch.as_tensor(models)
        outs = []
        with torch.no_grad():
            for s in range(0, len(idx), chunk_size):
                sub = idx[s:s + chunk_size]
                p = {k: v[sub] for k, v in self.params.items()}
                outs.append(stacked_forward(self.architecture, p, Xt).double())
        return torch.cat(outs).numpy()

    def predict(self, X: Any, models: Sequence[int] | None = None) -> np.ndarray:
        """(K, n) predictions: probabilities for ``bce``, values for ``mse``."""
        z = torch.as_tensor(self.decision_function(X, models))
        return predict_output(z, self.loss).numpy()

    def per_sample_loss(self, X: Any, y: Any, models: Sequence[int] | None = None) -> np.ndarray:
        """(K, n) per-record losses of every model (membership-inference statistics)."""
        z = torch.as_tensor(self.decision_function(X, models))
        yt = torch.as_tensor(np.asarray(y, dtype=np.float64)).expand_as(z)
        return per_sample_loss(z, yt, self.loss).numpy()


def _spawn(stream: RandomStream, n: int) -> list[RandomStream]:
    if isinstance(stream, TorchStream):
        seeds = torch.randint(0, 2**62, (n,), generator=stream.generator).tolist()
        out = []
        for s in seeds:
            g = torch.Generator()
            g.manual_seed(int(s))
            out.append(TorchStream(generator=g, description=stream.description))
        return out
    return [stream] * n  # a CSPRNG stream has no state to split


def _auto_chunk(n: int, q: float, arch: Architecture, itemsize: int, budget: int, K: int) -> int:
    b = q * n + 5.0 * math.sqrt(q * n * (1 - q) + 1.0) + 2.0
    widths = arch.input_dim + 3 * sum(h for h in arch.hidden) + 6
    # sampler (inclusion mask as sorted record lists: 8 bytes a record), padded batch and
    # its activations, parameters with optimiser state and noise
    per_model = 16 * n + 4 * b * widths * itemsize + 8 * arch.n_parameters * itemsize
    return int(max(1, min(K, budget // max(1, int(per_model)))))


def _inclusion(mask: Any, n_models: int | None, n: int
               ) -> tuple[int, np.ndarray | None, torch.Tensor | None, torch.Tensor]:
    """(K, the mask as given, the mask for the engine (None: every record for every model), the
    record count of each model)."""
    if mask is None:
        if n_models is None or isinstance(n_models, bool) or int(n_models) < 1:
            raise DataValidationError("give an inclusion mask (K x n) or n_models")
        K = int(n_models)
        mask_t = None
        m_k = torch.full((K,), float(n), dtype=torch.float64)
        mask_np = None
    else:
        mask_np = np.asarray(mask)
        if mask_np.dtype != bool:
            raise DataValidationError("the inclusion mask must be boolean (K x n)")
        if mask_np.ndim != 2 or mask_np.shape[1] != n:
            raise DataValidationError(f"the inclusion mask must have shape (K, {n})")
        if n_models is not None and int(n_models) != mask_np.shape[0]:
            raise DataValidationError("n_models disagrees with the mask's number of rows")
        K = mask_np.shape[0]
        counts = mask_np.sum(1)
        if np.any(counts == 0):
            raise DataValidationError(f"{int(np.sum(counts == 0))} models have no training records")
        mask_t = torch.from_numpy(mask_np.copy())
        m_k = torch.as_tensor(counts, dtype=torch.float64)
        if bool(mask_np.all()):
            mask_t = None
    return K, mask_np, mask_t, m_k


def _record_request(record: Sequence[str], record_models: Sequence[int] | None, K: int, r: Any,
                    max_record_bytes: int) -> tuple[frozenset[str], np.ndarray | None]:
    """What to keep for white-box audits, checked (kinds, indices, memory) before training."""
    rec = frozenset(record)
    bad = rec - set(RECORDABLE)
    if bad:
        raise DataValidationError(f"cannot record {sorted(bad)}; choose from {RECORDABLE}")
    rec_idx = None if record_models is None else np.unique(np.asarray(record_models, dtype=np.int64))
    if rec_idx is not None and (rec_idx.min() < 0 or rec_idx.max() >= K):
        raise DataValidationError("record_models holds indices outside 0..K-1")
    if rec:
        k_rec = K if rec_idx is None else len(rec_idx)
        per = r.architecture.n_parameters * (torch.finfo(r.dtype).bits // 8)
        need = sum((r.steps + (1 if kind == "params" else 0)) * k_rec * (per if kind != "batch_size" else 8)
                   for kind in rec)
        if need > max_record_bytes:
            raise DataValidationError(
                f"recording {sorted(rec)} for {k_rec} models over {r.steps} steps needs "
                f"{need / 2**20:.0f} MiB, over max_record_bytes={max_record_bytes / 2**20:.0f} MiB; "
                "record fewer models (record_models) or raise the limit"
            )
    return rec, rec_idx


def train_many(
    X: Any,
    y: Any = None,
    mask: Any = None,
    recipe: DPSGDRecipe | Mapping[str, Any] | None = None,
    *,
    n_models: int | None = None,
    backend: str = "handwritten",
    random_state: Any = None,
    secure_mode: bool | None = None,
    init_params: Mapping[str, Any] | None = None,
    record: Sequence[str] = (),
    record_models: Sequence[int] | None = None,
    max_record_bytes: int = 2**30,
    chunk_size: int | None = None,
    memory_budget: int = 256 * 2**20,
    label: str | None = None,
    **settings: Any,
) -> StackedTraining:
    """Train K independent DP-SGD models in one pass.

    Parameters
    ----------
    X, y : encoded features (n, d) and outcome (n,), or a CausalData with ``y=None``
    mask : (K, n) bool, which records each model may train on; None = all records for
        ``n_models`` models
    recipe : a :class:`~privcausal.training.DPSGDRecipe` (or a mapping of its fields), one for
        all K models; keyword ``settings`` (its field names) override it. In it,
        ``batch_size`` or ``sampling_rate`` set one q for all models (q = batch_size / n), and
        ``expected_batch_size`` is a declared normaliser, one for all models or one per model
        (default ``q * m_k`` from the exact record counts, which the receipt then treats as
        public).
    n_models : K when ``mask`` is None
    init_params : starting parameters, unstacked (the same start for every model) or
        stacked (K, ...); default independent random draws
    record, record_models, max_record_bytes : what to keep for white-box audits (see the
        module docstring)
    chunk_size, memory_budget : models per pass (default: as many as fit the budget)
    backend : "handwritten" (the default) or "func" (torch.func, for cross-checks)
    random_state, secure_mode, label : as in :func:`~privcausal.training.train_dpsgd`.

    Returns
    -------
    StackedTraining
    """
    spec = as_recipe(recipe, settings)
    Xa, ya, implied = as_training_data(X, y)
    n, d = Xa.shape
    if backend not in BACKENDS:
        raise DataValidationError(f"backend must be one of {BACKENDS}, got {backend!r}")
    K, mask_np, mask_t, m_k = _inclusion(mask, n_models, n)
    lab = label or "DP-SGD model (one of many)"
    expected_batch_size = spec.expected_batch_size
    plan = plan_training(n, d, spec, backend=backend, implied_loss=implied, label=lab)
    r = plan.recipe
    check_outcome(ya, r.loss)
    if expected_batch_size is not None:
        eb = np.asarray(expected_batch_size, dtype=np.float64).ravel()
        if eb.size not in (1, K):
            raise DataValidationError(f"expected_batch_size: give one number or {K} (one per model)")
        eb = np.broadcast_to(eb, (K,))
        if not (np.all(eb > 0) and np.all(np.isfinite(eb))):
            raise PrivacyParameterError("expected_batch_size must be positive and finite")
        normaliser = torch.as_tensor(eb.copy(), dtype=torch.float64)
    else:
        normaliser = r.sampling_rate * m_k
    rec, rec_idx = _record_request(record, record_models, K, r, max_record_bytes)
    stream = make_stream(random_state, secure_mode)
    Xt = torch.as_tensor(Xa, dtype=r.dtype)
    yt = torch.as_tensor(ya, dtype=r.dtype)
    item = torch.finfo(r.dtype).bits // 8
    cs = int(chunk_size) if chunk_size is not None else _auto_chunk(
        n, r.sampling_rate, r.architecture, item, int(memory_budget), K)
    if cs < 1:
        raise DataValidationError("chunk_size must be positive")
    n_chunks = (K + cs - 1) // cs
    streams = _spawn(stream, n_chunks)
    if init_params is not None:
        init_all = check_params(init_params, r.architecture, r.dtype, stacked=True, n_models=K)
    out_params: list[dict[str, torch.Tensor]] = []
    hists: list[dict[str, torch.Tensor]] = []
    rec_parts: list[dict[str, list[dict[str, torch.Tensor]]]] = []
    for c in range(n_chunks):
        lo, hi = c * cs, min(K, (c + 1) * cs)
        st = streams[c]
        if init_params is None:
            p0 = init_parameters(r.architecture, st, n_models=hi - lo, dtype=r.dtype)
        else:
            p0 = {k: v[lo:hi] for k, v in init_all.items()}
        local_rec = None
        chunk_rec = rec
        if rec and rec_idx is not None:
            sel = rec_idx[(rec_idx >= lo) & (rec_idx < hi)] - lo
            local_rec = torch.as_tensor(sel)
            if len(sel) == 0:
                chunk_rec = frozenset()
        p, h, rc = train_stacked(
            r, Xt, yt, None if mask_t is None else mask_t[lo:hi], p0, normaliser[lo:hi], st,
            record=chunk_rec, record_models=local_rec,
        )
        out_params.append(p)
        hists.append(h)
        if chunk_rec:
            rec_parts.append(rc)
    params = {k: torch.cat([p[k] for p in out_params]) for k in out_params[0]}
    history = {k: torch.cat([h[k] for h in hists]).numpy() for k in hists[0]}
    records: dict[str, dict[str, torch.Tensor]] = {}
    for kind in rec:
        per_chunk = [
            {name: torch.stack([step[name] for step in part[kind]]) for name in part[kind][0]}
            for part in rec_parts
        ]
        records[kind] = {name: torch.cat([pc[name] for pc in per_chunk], dim=1) for name in per_chunk[0]}
    noise_desc = stream.description if r.noise_multiplier > 0 else "no noise (non-private twin)"
    release = (f"{lab}: {r.architecture.kind} network {r.architecture.to_dict()}, one of {K} "
               "trained together; the guarantee is per model, for its own training set")
    receipt = build_receipt(plan, noise_desc, release)
    config = {
        "architecture": r.architecture.to_dict(), "loss": r.loss, "n_models": K,
        "noise_multiplier": r.noise_multiplier,
        "max_grad_norm": json_number(r.max_grad_norm),
        "sampling_rate": r.sampling_rate, "steps": r.steps, "lr": r.lr,
        "optimizer": r.optimizer, "momentum": r.momentum, "weight_decay": r.weight_decay,
        "backend": r.backend, "chunk_size": cs, "dtype": str(r.dtype).replace("torch.", ""),
        "noise": noise_desc,
    }
    return StackedTraining(
        params=params, architecture=r.architecture, loss=r.loss,
        noise_multiplier=r.noise_multiplier, max_grad_norm=r.max_grad_norm,
        sampling_rate=r.sampling_rate, steps=r.steps, receipt=receipt, mask=mask_np,
        normaliser=normaliser.numpy(), history=history, records=records,
        record_models=rec_idx, config=config, recipe=spec,
    )

"""One batch of DP-SGD audit trials: the task that :func:`audits.runner.run.run_trials` runs.

Trial ``i`` of an audit with ``N`` runs per world trains one model, on the data with the
canary when ``i < N`` and without it otherwise. A batch ``[start, stop)`` is one call of the
trainer under audit (``train_many`` by default: all its models in one vectorised pass), and
returns per trial only what the threat model lets the auditor see, reduced to the canary:

* ``"white-box"``: the canary coordinate of every intermediate model, and the bias, so the
  auditor can rebuild each step's noisy sum and the canary's clipped gradient;
* ``"hidden-state"``: the canary coordinate of the final model (and the trajectory of up to
  16 in-world runs per batch, used only to report how often the canary was clipped);
* ``"black-box"``: the final model's loss on the canary.

The task is a picklable object, so batches can run in loky workers, on a Dask cluster or on
Ray; the trainer must then be picklable too (a module-level function).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["DPSGDTrials", "DIAGNOSTIC_RUNS"]

#: hidden-state audits record the trajectory of this many canary runs per batch
DIAGNOSTIC_RUNS = 16


@dataclass
class DPSGDTrials:
    """The batch task of a multi-run DP-SGD audit (see the module docstring).

    ``X``, ``y`` hold the canary as row ``index``; ``coordinate`` is the Dirac canary's
    column (None for an input canary); ``runs_in`` is N; ``train_kwargs`` the recipe.
    """

    X: np.ndarray
    y: np.ndarray
    index: int
    coordinate: int | None
    runs_in: int
    threat: str
    train_kwargs: dict[str, Any] = field(default_factory=dict)
    trainer: Callable[..., Any] | None = None

    def __call__(self, start: int, stop: int, seed: int) -> dict[str, np.ndarray]:
        trainer = self.trainer
        if trainer is None:
            from privcausal.training import train_many as trainer
        k = stop - start
        world_in = np.arange(start, stop) < self.runs_in
        mask = np.ones((k, self.X.shape[0]), dtype=bool)
        mask[~world_in, self.index] = False
        d = self.X.shape[1]
        kw = dict(self.train_kwargs)
        kw.setdefault("init_params", {"0.weight": np.zeros((1, d)), "0.bias": np.zeros(1)})
        record = ("params",) if self.threat != "black-box" else ()
        if self.threat == "hidden-state":
            # the trajectory only serves the clipping diagnostic: a few canary runs suffice
            # (recording all 20,000 runs' parameters would cost most of the audit's memory)
            kw["record_models"] = np.flatnonzero(world_in)[:DIAGNOSTIC_RUNS]
            if kw["record_models"].size == 0:
                record = ()
                del kw["record_models"]
        res = trainer(self.X, self.y, mask, random_state=int(seed), record=record,
                      dtype="float64", **kw)
        out = {
            "in": world_in,
            "epsilon": np.full(k, float(res.epsilon)),
            "sigma": np.full(k, float(res.noise_multiplier)),
            "steps": np.full(k, int(res.steps)),
            "bce": np.full(k, res.loss == "bce"),
        }
        if self.threat == "black-box":
            x, yy = self.X[[self.index]], self.y[[self.index]]
            out["score"] = -np.asarray(res.per_sample_loss(x, yy), dtype=np.float64)[:, 0]
            return out
        out["w_final"] = np.asarray(res.params["0.weight"], dtype=np.float64)[:, 0, self.coordinate]
        steps = int(res.steps)
        # (T+1, k_recorded) -> (k, T+1): one row per trial, NaN where nothing was recorded
        out["w"] = np.full((k, steps + 1), np.nan)
        out["b"] = np.full((k, steps + 1), np.nan)
        if record:
            w = np.asarray(res.records["params"]["0.weight"], dtype=np.float64)[:, :, 0, :]
            b = np.asarray(res.records["params"]["0.bias"], dtype=np.float64)[:, :, 0]
            rows = kw.get("record_models")
            rows = np.arange(k) if rows is None else np.asarray(rows, dtype=int)
            out["w"][rows] = w[:, :, self.coordinate].T
            out["b"][rows] = b.T
        return out

"""Training plumbing shared by the T- and S-learners: DP-SGD through
:func:`privcausal.training.train_many` (one pass for both arms of a T-learner), with optional
tail averaging of the iterates."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from privcausal.training import train_many
from privcausal.training.calibrate import NOISE_MULTIPLIER_CAP, calibrate_noise_multiplier

__all__ = ["fit_networks", "TRAIN_KEYS", "calibrated_sigma"]

#: Calibration is deterministic in its arguments, and experiments refit the same recipe often.
_calibrate = functools.lru_cache(maxsize=512)(calibrate_noise_multiplier)


def calibrated_sigma(epsilon: float, delta: float, sampling_rate: float, steps: int,
                     max_noise_multiplier: float = NOISE_MULTIPLIER_CAP) -> float:
    """:func:`~privcausal.training.calibrate_noise_multiplier`, memoised."""
    return _calibrate(float(epsilon), float(delta), float(sampling_rate), int(steps),
                      max_noise_multiplier=float(max_noise_multiplier))

#: Hyperparameters passed through to the trainer.
TRAIN_KEYS = ("epochs", "sampling_rate", "max_grad_norm", "lr", "optimizer", "momentum",
              "weight_decay", "random_state", "secure_mode", "max_noise_multiplier")


def fit_networks(X: np.ndarray, y: np.ndarray, mask: np.ndarray | None, *, architecture: Any,
                 loss: str, epsilon: float, delta: float, average_last: float, label: str,
                 **train: Any):
    """Train one network per row of ``mask`` (or one on all records) with DP-SGD.

    Returns ``(weights, receipt, notes, config)``: a list of ``{name: float32 array}`` (the
    tail-averaged iterates when ``average_last > 0``), the trainer's receipt (the guarantee of
    *one* network with respect to its own records), the notes for the learner's receipt
    (the trainer's, less the "one of K" wording) and the recipe.
    """
    if not 0.0 <= float(average_last) < 1.0:
        from privcausal.exceptions import DataValidationError

        raise DataValidationError("average_last must lie in [0, 1)")
    K = 1 if mask is None else mask.shape[0]
    declared = train.get("expected_batch_size") is not None
    rec = ("params",) if average_last > 0 else ()
    privacy: dict[str, Any] = {"epsilon": epsilon}
    q = train.get("sampling_rate")
    if math.isfinite(float(epsilon)) and q is not None and train.get("epochs") is not None:
        # the trainer's own step count (plan_training: round(epochs / q)), memoised calibration
        steps = max(1, int(round(float(train["epochs"]) / float(q))))
        cap = train.pop("max_noise_multiplier", NOISE_MULTIPLIER_CAP)
        privacy = {"noise_multiplier": calibrated_sigma(epsilon, delta, q, steps, cap)}
        train = {**train, "epochs": None, "steps": steps}
    res = train_many(
        X, y, mask, n_models=K if mask is None else None, architecture=architecture, loss=loss,
        delta=delta, record=rec, label=label, **privacy, **train,
    )
    if average_last > 0:
        T = res.steps
        m = max(1, int(round(float(average_last) * T)))
        hist = res.records["params"]  # name -> (T + 1, K, ...): index 0 is the start
        params = {k: v[T + 1 - m:].mean(0) for k, v in hist.items()}
    else:
        params = dict(res.params)
    weights = [{k: v[i].detach().cpu().numpy().astype(np.float32) for k, v in params.items()}
               for i in range(K)]
    notes = list(res.receipt.notes)
    notes = [n for n in notes if "one of" not in n]
    if declared:  # the learner's noisy counts, not the exact n, are the normalisers
        notes = [n for n in notes if "normaliser q*n" not in n]
    if average_last > 0:
        notes.append(
            f"released parameters: mean of the iterates of the last {m} of {res.steps} steps "
            "(tail averaging; post-processing of iterates the DP-SGD analysis already covers)"
        )
    cfg = dict(res.config)
    cfg.pop("n_models", None)
    cfg.pop("chunk_size", None)
    cfg["average_last"] = float(average_last)
    if not math.isfinite(float(epsilon)):
        cfg["noise"] = "no noise (non-private twin)"
    return weights, res.receipt, notes, cfg

"""Training plumbing shared by the T- and S-learners: DP-SGD through
:func:`privcausal.training.train_many` (one pass for both arms of a T-learner), with optional
tail averaging of the iterates."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from privcausal.exceptions import DataValidationError
from privcausal.training import DPSGDRecipe, train_many

__all__ = ["fit_networks"]


def fit_networks(X: np.ndarray, y: np.ndarray, mask: np.ndarray | None, recipe: DPSGDRecipe, *,
                 average_last: float, label: str, random_state: Any = None,
                 secure_mode: bool | None = None, init_params: Mapping[str, Any] | None = None):
    """Train one network per row of ``mask`` (or one on all records) with DP-SGD and ``recipe``.

    Returns ``(weights, receipt, notes, config)``: a list of ``{name: float32 array}`` (the
    tail-averaged iterates when ``average_last > 0``), the trainer's receipt (the guarantee of
    *one* network with respect to its own records), the notes for the learner's receipt
    (the trainer's, less the "one of K" wording) and the recipe.
    """
    if not 0.0 <= float(average_last) < 1.0:
        raise DataValidationError("average_last must lie in [0, 1)")
    K = 1 if mask is None else mask.shape[0]
    rec = ("params",) if average_last > 0 else ()
    res = train_many(X, y, mask, recipe, n_models=K if mask is None else None, record=rec,
                     label=label, random_state=random_state, secure_mode=secure_mode,
                     init_params=init_params)
    if average_last > 0:
        T = res.steps
        m = max(1, int(round(float(average_last) * T)))
        hist = res.records["params"]  # name -> (T + 1, K, ...): index 0 is the start
        params = {k: v[T + 1 - m:].mean(0) for k, v in hist.items()}
    else:
        params = dict(res.params)
    weights = [{k: v[i].detach().cpu().numpy().astype(np.float32) for k, v in params.items()}
               for i in range(K)]
    notes = [n for n in res.receipt.notes if "one of" not in n]
    if average_last > 0:
        notes.append(
            f"released parameters: mean of the iterates of the last {m} of {res.steps} steps "
            "(tail averaging; post-processing of iterates the DP-SGD analysis already covers)"
        )
    cfg = dict(res.config)
    cfg.pop("n_models", None)
    cfg.pop("chunk_size", None)
    cfg["average_last"] = float(average_last)
    if not recipe.is_private:
        cfg["noise"] = "no noise (non-private twin)"
    return weights, res.receipt, notes, cfg

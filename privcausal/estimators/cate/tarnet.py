"""DP shared-representation two-head network (TARNet-style).

A shared MLP trunk ``phi(x)`` and one linear head per arm, ``mu_a(x) = w_a' phi(x) + b_a``,
trained on the factual loss (each record's loss uses its own arm's head). Every record
trains the trunk, so the whole fit is **one** DP-SGD run on all n records at
(epsilon, delta): no parallel composition applies (contrast the T-learner). The DP-SGD is
privcausal's own per-sample-gradient implementation (:mod:`._twohead`) with the accounting
of :func:`privcausal.training.train_dpsgd` (Poisson sampling, PLD-calibrated noise).

References
----------
.. [1] Shalit, Johansson, Sontag, "Estimating individual treatment effect: generalization
   bounds and algorithms", ICML 2017 (TARNet is CFR without the balancing penalty).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from privcausal.estimators.cate._twohead import train_twohead
from privcausal.estimators.cate.base import CATELearner, outcome_spec, trainer_normaliser
from privcausal.exceptions import DataValidationError
from privcausal.privacy import Receipt
from privcausal.training.artifact import ReleasedModel
from privcausal.training.calibrate import NOISE_MULTIPLIER_CAP

__all__ = ["TARNet"]


class TARNet(CATELearner):
    """DP TARNet (``epsilon=math.inf``: the non-private twin).

    Parameters
    ----------
    epsilon, delta : the guarantee of the single DP-SGD run
    trunk_hidden : widths of the trunk's layers (the last is the representation's size)
    activation : the trunk's activation (also applied to its output)
    epochs, sampling_rate, max_grad_norm, lr, optimizer ("adam" or "sgd"), momentum,
    weight_decay, average_last, random_state, secure_mode, max_noise_multiplier : as in
        :class:`~privcausal.estimators.cate.TLearner`
    """

    learner_name = "dp-tarnet"

    def __init__(self, *, epsilon: float = 1.0, delta: float = 1e-5, trunk_hidden: Any = (8,),
                 activation: str = "relu", epochs: float = 50.0, sampling_rate: float = 0.27,
                 max_grad_norm: float = 0.3, lr: float = 0.01, optimizer: str = "adam",
                 momentum: float = 0.0, weight_decay: float = 0.01, average_last: float = 0.5,
                 random_state: Any = None, secure_mode: bool | None = None,
                 max_noise_multiplier: float = NOISE_MULTIPLIER_CAP,
                 ate_budget_share: float = 0.1) -> None:
        self.epsilon = epsilon
        self.delta = delta
        self.trunk_hidden = trunk_hidden
        self.activation = activation
        self.epochs = epochs
        self.sampling_rate = sampling_rate
        self.max_grad_norm = max_grad_norm
        self.lr = lr
        self.optimizer = optimizer
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.average_last = average_last
        self.random_state = random_state
        self.secure_mode = secure_mode
        self.max_noise_multiplier = max_noise_multiplier
        self.ate_budget_share = ate_budget_share

    def _train(self, data, X, t, ys, loss, epsilon, delta) -> ReleasedModel:
        q = float(self.sampling_rate)
        if not 0 < q <= 1:
            raise DataValidationError("sampling_rate must lie in (0, 1]")
        res = train_twohead(
            X, t, ys, trunk_hidden=tuple(self.trunk_hidden), activation=self.activation,
            loss=loss, epsilon=epsilon, delta=delta, epochs=self.epochs,
            sampling_rate=q, **trainer_normaliser(self, q, total=True), max_grad_norm=self.max_grad_norm, lr=self.lr,
            optimizer=self.optimizer, momentum=self.momentum, weight_decay=self.weight_decay,
            random_state=self.random_state, secure_mode=self.secure_mode,
            max_noise_multiplier=self.max_noise_multiplier, average_last=self.average_last,
            label="TARNet (shared trunk, two heads)",
        )
        rec = res.receipt
        p = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in res.params.items()}
        trunk_w = {k[len("trunk."):]: v for k, v in p.items() if k.startswith("trunk.")}
        heads = {f"head{a}": {"0.weight": p["head.weight"][a:a + 1].copy(),
                              "0.bias": p["head.bias"][a:a + 1].copy()} for a in (0, 1)}
        receipt = Receipt(
            release=rec.release, mechanism=rec.mechanism, epsilon=rec.epsilon, delta=rec.delta,
            accountant=rec.accountant, noise=rec.noise, epsilon_rdp=rec.epsilon_rdp,
            epsilon_budget=rec.epsilon_budget, delta_budget=rec.delta_budget,
            events=rec.events, notes=tuple(rec.notes),
        )
        private = math.isfinite(rec.epsilon)
        cfg = dict(res.config)
        if not private:
            cfg["noise"] = "no noise (non-private twin)"
        return ReleasedModel(
            combine="tarnet",
            architectures={"trunk": res.trunk, "head0": res.head, "head1": res.head},
            weights={"trunk": trunk_w, **heads}, loss=loss, outcome=outcome_spec(data),
            receipt=receipt, domain=data.domain, feature_names=list(data.encoder.feature_names),
            activation=self.activation,
            learner={"name": self.learner_name if private else "tarnet", "class": "TARNet",
                     "composition": "single DP-SGD run on all records (shared trunk)",
                     "effect": "head1(act(trunk(x))) - head0(act(trunk(x)))",
                     "recipe": self._recipe(), "training": _jsonable_cfg(cfg)},
        )


def _jsonable_cfg(cfg: dict) -> dict:
    return {k: (v if not isinstance(v, torch.dtype) else str(v)) for k, v in cfg.items()}

"""DP S-learner: one network on ``[x, t]``, trained on all records.

One DP-SGD run on all n records at (epsilon, delta) (a single training, so no composition
question arises); the effect is ``mu(x, 1) - mu(x, 0)``. The treatment enters as a 0/1
column appended to the encoded covariates. A linear model on ``[x, t]`` gives a constant
effect (the coefficient of t): the default is a small MLP, which can express heterogeneity.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from privcausal.estimators.cate._fit import fit_networks
from privcausal.estimators.cate.base import CATELearner, outcome_spec, trainer_normaliser
from privcausal.privacy import Receipt
from privcausal.training.artifact import ReleasedModel
from privcausal.training.calibrate import NOISE_MULTIPLIER_CAP
from privcausal.training.dpsgd import resolve_architecture

__all__ = ["SLearner"]


class SLearner(CATELearner):
    """DP S-learner (``epsilon=math.inf``: the non-private twin).

    Parameters
    ----------
    epsilon, delta : the guarantee of the single DP-SGD run
    architecture : "mlp" (default, with ``hidden`` and ``activation``), "linear",
        "logistic" or an Architecture (input dimension: encoded features + 1)
    Other parameters as in :class:`~privcausal.estimators.cate.TLearner`.
    """

    learner_name = "dp-slearner"

    def __init__(self, *, epsilon: float = 1.0, delta: float = 1e-5, architecture: Any = "mlp",
                 hidden: Any = (32,), activation: str = "relu", epochs: float = 100.0,
                 sampling_rate: float = 0.27, max_grad_norm: float = 0.5, lr: float = 0.01,
                 optimizer: str = "adam", momentum: float = 0.0, weight_decay: float = 0.0,
                 average_last: float = 0.5, random_state: Any = None,
                 secure_mode: bool | None = None,
                 max_noise_multiplier: float = NOISE_MULTIPLIER_CAP,
                 ate_budget_share: float = 0.1) -> None:
        self.epsilon = epsilon
        self.delta = delta
        self.architecture = architecture
        self.hidden = hidden
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
        Xa = np.hstack([X, t.astype(np.float64)[:, None]])
        a = self.architecture
        arch = resolve_architecture(a, Xa.shape[1], self.hidden, self.activation)
        init = None
        if arch.kind in ("linear", "logistic"):
            init = {k: np.zeros(s) for k, s in arch.parameter_shapes.items()}
        weights, rec, notes, cfg = fit_networks(
            Xa, ys, None, architecture=arch, loss=loss, epsilon=epsilon, delta=delta,
            average_last=self.average_last, label="S-learner model", epochs=self.epochs,
            sampling_rate=self.sampling_rate, max_grad_norm=self.max_grad_norm, lr=self.lr,
            optimizer=self.optimizer, momentum=self.momentum, weight_decay=self.weight_decay,
            random_state=self.random_state, secure_mode=self.secure_mode,
            max_noise_multiplier=self.max_noise_multiplier, init_params=init,
            **trainer_normaliser(self, self.sampling_rate, total=True),
        )
        private = math.isfinite(rec.epsilon)
        notes = [
            "one DP-SGD run on all the records (features and treatment): a single "
            "training, sequential accounting of its steps" if private else
            "non-private twin: no clipping, no noise (same recipe otherwise)",
            *notes,
        ]
        receipt = Receipt(
            release=f"DP S-learner: one {arch.kind} network {arch.to_dict()} on [x, t]"
            if private else f"S-learner (non-private twin): one {arch.kind} network on [x, t]",
            mechanism=rec.mechanism, epsilon=rec.epsilon, delta=rec.delta,
            accountant=rec.accountant, noise=rec.noise, epsilon_rdp=rec.epsilon_rdp,
            epsilon_budget=float(epsilon),
            delta_budget=float(delta) if private else None,
            events=rec.events, notes=tuple(notes),
        )
        return ReleasedModel(
            combine="slearner", architectures={"mu": arch}, weights={"mu": weights[0]},
            loss=loss, outcome=outcome_spec(data), receipt=receipt, domain=data.domain,
            feature_names=list(data.encoder.feature_names),
            learner={"name": self.learner_name if private else "slearner", "class": "SLearner",
                     "composition": "single DP-SGD run on all records",
                     "inputs": "encoded features, then the 0/1 treatment as the last column",
                     "effect": "mu([x, 1]) - mu([x, 0])", "recipe": self._recipe(),
                     "training": cfg},
        )

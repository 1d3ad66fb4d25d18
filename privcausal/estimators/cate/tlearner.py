"""DP T-learner: one network per arm, trained on that arm's records only.

``mu_0`` is trained on the control records and ``mu_1`` on the treated records, each with
DP-SGD at (epsilon, delta) with the same recipe (sampling rate, steps, noise multiplier).
The two training sets are disjoint, so a record (added or removed) changes the input of one
model only: by **parallel composition** the pair is (epsilon, delta)-DP, the guarantee of
one model. Both are trained in one pass of :func:`privcausal.training.train_many` with an
inclusion mask (each model Poisson-samples only its own arm). The noisy gradient sum of arm
a is divided by its expected batch size ``q n_a``: the arm sizes are treated as public, as
opacus treats n.

The effect is ``mu_1(x) - mu_0(x)``. The default networks are linear (``mse``) or logistic
(``bce``) models: with n in the hundreds, the DP noise of a larger network swamps its gain.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from privcausal.estimators.cate._fit import fit_networks
from privcausal.estimators.cate.base import CATELearner, outcome_spec, trainer_normaliser
from privcausal.privacy import Receipt, parallel
from privcausal.training.artifact import ReleasedModel
from privcausal.training.calibrate import NOISE_MULTIPLIER_CAP
from privcausal.training.dpsgd import resolve_architecture

__all__ = ["TLearner"]


class TLearner(CATELearner):
    """DP T-learner (``epsilon=math.inf``: the non-private twin, same recipe without
    clipping or noise).

    Parameters
    ----------
    epsilon, delta : the guarantee of the pair of models (parallel composition)
    architecture : "auto" (linear for a continuous outcome, logistic for a binary one),
        "linear", "logistic", "mlp" (with ``hidden``, ``activation``), or an Architecture
    epochs : passes over each arm (steps = epochs / sampling_rate)
    sampling_rate : Poisson sampling rate q, the same for both arms
    max_grad_norm, lr, optimizer, momentum, weight_decay : the DP-SGD recipe
    average_last : release the mean of the iterates of this last fraction of steps (0: last)
    random_state : None (secure noise) or a seed (experiments only; the receipt says so)
    """

    learner_name = "dp-tlearner"

    def __init__(self, *, epsilon: float = 1.0, delta: float = 1e-5, architecture: Any = "auto",
                 hidden: Any = (16,), activation: str = "relu", epochs: float = 50.0,
                 sampling_rate: float = 1.0, max_grad_norm: float = 0.3, lr: float = 0.1,
                 optimizer: str = "sgd", momentum: float = 0.5, weight_decay: float = 0.0,
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

    def _arch(self, d: int, loss: str):
        a = self.architecture
        if isinstance(a, str) and a == "auto":
            a = "logistic" if loss == "bce" else "linear"
        return resolve_architecture(a, d, self.hidden, self.activation)

    def _train(self, data, X, t, ys, loss, epsilon, delta) -> ReleasedModel:
        arch = self._arch(X.shape[1], loss)
        mask = np.vstack([t == 0, t == 1])
        init = None
        if arch.kind in ("linear", "logistic"):  # zero start: no random offset to undo
            init = {k: np.zeros(s) for k, s in arch.parameter_shapes.items()}
        weights, rec, notes, cfg = fit_networks(
            X, ys, mask, architecture=arch, loss=loss, epsilon=epsilon, delta=delta,
            average_last=self.average_last, label="T-learner arm model", epochs=self.epochs,
            sampling_rate=self.sampling_rate, max_grad_norm=self.max_grad_norm, lr=self.lr,
            optimizer=self.optimizer, momentum=self.momentum, weight_decay=self.weight_decay,
            random_state=self.random_state, secure_mode=self.secure_mode,
            max_noise_multiplier=self.max_noise_multiplier, init_params=init,
            **trainer_normaliser(self, self.sampling_rate),
        )
        ev = rec.events[0]
        par = parallel([ev, ev], "T-learner: mu_0 on the control records, mu_1 on the treated records")
        private = math.isfinite(rec.epsilon)
        notes = [
            "parallel composition: mu_0 trained on the control records, mu_1 on the treated "
            "records (disjoint), with the same recipe; each record affects one model, so "
            "the pair has the guarantee of one model" if private else
            "non-private twin: no clipping, no noise (same recipe otherwise)",
            *(["arm sizes enter the normalisers q*n_a (non-private twin)"] if not private else []),
            *notes,
        ]
        receipt = Receipt(
            release=f"DP T-learner: two {arch.kind} networks {arch.to_dict()} (mu_0, mu_1)"
            if private else f"T-learner (non-private twin): two {arch.kind} networks",
            mechanism=rec.mechanism, epsilon=rec.epsilon, delta=rec.delta,
            accountant=rec.accountant, noise=rec.noise, epsilon_rdp=rec.epsilon_rdp,
            epsilon_budget=float(epsilon),
            delta_budget=float(delta) if private else None, events=(par,),
            notes=tuple(notes),
        )
        return ReleasedModel(
            combine="tlearner", architectures={"mu0": arch, "mu1": arch},
            weights={"mu0": weights[0], "mu1": weights[1]}, loss=loss,
            outcome=outcome_spec(data), receipt=receipt, domain=data.domain,
            feature_names=list(data.encoder.feature_names),
            learner={"name": self.learner_name if private else "tlearner", "class": "TLearner",
                     "composition": "parallel (disjoint arms)",
                     "effect": "mu1(x) - mu0(x)", "recipe": self._recipe(), "training": cfg},
        )

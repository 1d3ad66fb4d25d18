"""DP S-learner: one network on ``[x, t]``, trained on all records.

One DP-SGD run on all n records at (epsilon, delta) (a single training, so no composition
question arises); the effect is ``mu(x, 1) - mu(x, 0)``. The treatment enters as a 0/1
column appended to the encoded covariates. A linear model on ``[x, t]`` gives a constant
effect (the coefficient of t): the default is a small MLP, which can express heterogeneity.
"""

from __future__ import annotations

import math

import numpy as np

from privcausal.estimators.cate._fit import fit_networks
from privcausal.estimators.cate.base import CATELearner, outcome_spec, with_normaliser
from privcausal.privacy import Receipt
from privcausal.training.artifact import ReleasedModel
from privcausal.training.planning import resolve_architecture
from privcausal.training.recipe import DPSGDRecipe

__all__ = ["SLearner"]


class SLearner(CATELearner):
    """DP S-learner (``epsilon=math.inf``: the non-private twin).

    Parameters as in :class:`~privcausal.estimators.cate.CATELearner`; ``epsilon, delta`` are
    the guarantee of the single DP-SGD run. The default recipe: an MLP (hidden (32,), ReLU; or
    "linear", "logistic", an Architecture; input dimension: encoded features + 1), 100 epochs
    at sampling rate 0.27, clipping 0.5, Adam with lr 0.01.
    """

    learner_name = "dp-slearner"
    default_recipe = DPSGDRecipe(architecture="mlp", hidden=(32,), activation="relu", epochs=100.0,
                                 sampling_rate=0.27, max_grad_norm=0.5, lr=0.01, optimizer="adam")

    def _train(self, data, X, t, ys, loss, recipe, arm_sizes) -> ReleasedModel:
        Xa = np.hstack([X, t.astype(np.float64)[:, None]])
        arch = resolve_architecture(recipe.architecture, Xa.shape[1], recipe.hidden, recipe.activation)
        epsilon, delta = recipe.epsilon, recipe.delta
        init = None
        if arch.kind in ("linear", "logistic"):
            init = {k: np.zeros(s) for k, s in arch.parameter_shapes.items()}
        training = with_normaliser(recipe.replace(architecture=arch, loss=loss), arm_sizes, total=True)
        weights, rec, notes, cfg = fit_networks(
            Xa, ys, None, training, average_last=self.average_last, label="S-learner model",
            random_state=self.random_state, secure_mode=self.secure_mode, init_params=init,
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

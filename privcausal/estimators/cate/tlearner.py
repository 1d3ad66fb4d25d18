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

import numpy as np

from privcausal.estimators.cate._fit import fit_networks
from privcausal.estimators.cate.base import CATELearner, outcome_spec, with_normaliser
from privcausal.privacy import Receipt, parallel
from privcausal.training.artifact import ReleasedModel
from privcausal.training.planning import resolve_architecture
from privcausal.training.recipe import DPSGDRecipe

__all__ = ["TLearner"]


class TLearner(CATELearner):
    """DP T-learner (``epsilon=math.inf``: the non-private twin, same recipe without
    clipping or noise).

    Parameters as in :class:`~privcausal.estimators.cate.CATELearner`; ``epsilon, delta`` are
    the guarantee of the pair of models (parallel composition). The default recipe:
    architecture "auto" (linear for a continuous outcome, logistic for a binary one; or
    "linear", "logistic", "mlp" with ``hidden`` and ``activation``, or an Architecture), 50
    epochs over each arm at sampling rate 1, clipping 0.3, SGD with lr 0.1 and momentum 0.5.
    """

    learner_name = "dp-tlearner"
    default_recipe = DPSGDRecipe(architecture="auto", hidden=(16,), activation="relu", epochs=50.0,
                                 sampling_rate=1.0, max_grad_norm=0.3, lr=0.1, optimizer="sgd",
                                 momentum=0.5)

    def _train(self, data, X, t, ys, loss, recipe, arm_sizes) -> ReleasedModel:
        a = recipe.architecture
        if isinstance(a, str) and a == "auto":
            a = "logistic" if loss == "bce" else "linear"
        arch = resolve_architecture(a, X.shape[1], recipe.hidden, recipe.activation)
        epsilon, delta = recipe.epsilon, recipe.delta
        mask = np.vstack([t == 0, t == 1])
        init = None
        if arch.kind in ("linear", "logistic"):  # zero start: no random offset to undo
            init = {k: np.zeros(s) for k, s in arch.parameter_shapes.items()}
        training = with_normaliser(recipe.replace(architecture=arch, loss=loss), arm_sizes)
        weights, rec, notes, cfg = fit_networks(
            X, ys, mask, training, average_last=self.average_last, label="T-learner arm model",
            random_state=self.random_state, secure_mode=self.secure_mode, init_params=init,
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

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

import numpy as np
import torch

from privcausal.estimators.cate._twohead import train_twohead
from privcausal.estimators.cate.base import CATELearner, outcome_spec, with_normaliser
from privcausal.exceptions import DataValidationError
from privcausal.privacy import Receipt
from privcausal.training.artifact import ReleasedModel
from privcausal.training.recipe import DPSGDRecipe

__all__ = ["TARNet"]


class TARNet(CATELearner):
    """DP TARNet (``epsilon=math.inf``: the non-private twin).

    Parameters as in :class:`~privcausal.estimators.cate.CATELearner`; ``epsilon, delta`` are
    the guarantee of the single DP-SGD run. In the recipe, ``hidden`` are the trunk's widths
    (the last is the representation's size) and ``activation`` the trunk's (also applied to
    its output). The default recipe: trunk (8,), ReLU, 50 epochs at sampling rate 0.27,
    clipping 0.3, Adam with lr 0.01 and weight decay 0.01.
    """

    learner_name = "dp-tarnet"
    default_recipe = DPSGDRecipe(architecture="mlp", hidden=(8,), activation="relu", epochs=50.0,
                                 sampling_rate=0.27, max_grad_norm=0.3, lr=0.01, optimizer="adam",
                                 weight_decay=0.01)

    def _train(self, data, X, t, ys, loss, recipe, arm_sizes) -> ReleasedModel:
        q = float(recipe.sampling_rate)
        if not 0 < q <= 1:
            raise DataValidationError("sampling_rate must lie in (0, 1]")
        training = with_normaliser(recipe.replace(loss=loss), arm_sizes, total=True)
        res = train_twohead(X, t, ys, training, average_last=self.average_last,
                            random_state=self.random_state, secure_mode=self.secure_mode,
                            label="TARNet (shared trunk, two heads)")
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
            activation=res.trunk.activation,
            learner={"name": self.learner_name if private else "tarnet", "class": "TARNet",
                     "composition": "single DP-SGD run on all records (shared trunk)",
                     "effect": "head1(act(trunk(x))) - head0(act(trunk(x)))",
                     "recipe": self._recipe(), "training": _jsonable_cfg(cfg)},
        )


def _jsonable_cfg(cfg: dict) -> dict:
    return {k: (v if not isinstance(v, torch.dtype) else str(v)) for k, v in cfg.items()}

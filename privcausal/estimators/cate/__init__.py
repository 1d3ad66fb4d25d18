"""CATE learners trained with DP-SGD, and their non-private twins.

==============  ===============================  ==========================================
name            learner                          privacy accounting
==============  ===============================  ==========================================
dp-tlearner     :class:`TLearner`                two models on disjoint arms: parallel
                                                 composition, epsilon of one model
dp-slearner     :class:`SLearner`                one DP-SGD run on all records ([x, t])
dp-tarnet       :class:`TARNet`                  one DP-SGD run on all records (shared trunk)
tlearner,       the same at ``epsilon=inf``      non-private twins: no clipping, no noise
slearner,
tarnet
==============  ===============================  ==========================================

:data:`CATE_LEARNERS` maps each name to ``(class, kwargs)``; build one with
``cls(**kwargs, epsilon=..., delta=..., random_state=...)`` (the twins fix ``epsilon=inf``)
or :func:`make_cate_learner`.
"""

from __future__ import annotations

import math
from typing import Any

from privcausal.estimators.cate.base import CATELearner
from privcausal.estimators.cate.slearner import SLearner
from privcausal.estimators.cate.tarnet import TARNet
from privcausal.estimators.cate.tlearner import TLearner
from privcausal.exceptions import PrivCausalError
from privcausal.training.recipe import RECIPE_FIELDS, as_recipe

__all__ = ["CATELearner", "TLearner", "SLearner", "TARNet", "CATE_LEARNERS", "make_cate_learner"]

CATE_LEARNERS: dict[str, tuple[type, dict[str, Any]]] = {
    "dp-tlearner": (TLearner, {}),
    "dp-slearner": (SLearner, {}),
    "dp-tarnet": (TARNet, {}),
    "tlearner": (TLearner, {"epsilon": math.inf}),
    "slearner": (SLearner, {"epsilon": math.inf}),
    "tarnet": (TARNet, {"epsilon": math.inf}),
}


def make_cate_learner(name: str, *, epsilon: float = 1.0, delta: float = 1e-5,
                      random_state: Any = None, **kwargs: Any) -> CATELearner:
    """Build the learner registered as ``name``; the non-private names ignore ``epsilon``.

    ``kwargs`` are the learner's parameters (``average_last``, ``ate_budget_share``, ...) and,
    for convenience, fields of its :class:`~privcausal.training.DPSGDRecipe` (``epochs=20``),
    which go into ``recipe`` on top of the learner's default recipe.
    """
    if name not in CATE_LEARNERS:
        raise PrivCausalError(f"unknown CATE learner {name!r}; choose from {', '.join(CATE_LEARNERS)}")
    cls, fixed = CATE_LEARNERS[name]
    settings = {k: kwargs.pop(k) for k in list(kwargs) if k in RECIPE_FIELDS}
    if settings:
        given = kwargs.pop("recipe", None)
        kwargs["recipe"] = as_recipe(given, settings, base=cls.default_recipe)
    params = {"epsilon": epsilon, "delta": delta, "random_state": random_state, **kwargs, **fixed}
    return cls(**params)

"""The default reference-model recipe of a scikit-learn target: a clone refitted per split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CloneRecipe"]


@dataclass(frozen=True)
class CloneRecipe:
    """``sklearn.base.clone(estimator)`` fitted on the split, every ``random_state`` seeded."""

    estimator: Any

    def __call__(self, X: np.ndarray, y: np.ndarray, random_state: int) -> Any:
        import pandas as pd
        from sklearn.base import clone

        est = clone(self.estimator)
        seeds = {k: int(random_state) % (2**31) for k in est.get_params()
                 if k == "random_state" or k.endswith("__random_state")}
        if seeds:
            est.set_params(**seeds)
        names = getattr(self.estimator, "feature_names_in_", None)
        Xf = pd.DataFrame(X, columns=list(names)) if names is not None else X
        return est.fit(Xf, y)

    def __str__(self) -> str:
        return f"sklearn.base.clone({type(self.estimator).__name__}) refitted per split"

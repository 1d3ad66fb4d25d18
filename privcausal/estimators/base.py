"""The estimator contract shared by every ATE estimator (scikit-learn style).

* ``__init__`` takes keyword-only arguments and stores them unchanged;
* ``fit(data)`` validates, releases, and sets trailing-underscore attributes:
  ``ate_`` (the released estimate), ``privacy_`` (the :class:`~privcausal.privacy.Receipt`),
  ``diagnostics_`` (exact counts for the analyst, NOT for publication:
  :class:`~privcausal.privacy.diagnostics.LocalDiagnostics`), and whatever the interval needs;
* ``ate_interval(alpha=0.05)`` returns ``(low, high)``, an interval that accounts for both
  sampling and privacy noise;
* each private estimator has a non-private twin: the same estimator at ``epsilon=inf``
  (its receipt says epsilon = inf), exposed under a separate name in the registry.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from privcausal.data.causal_data import CausalData
from privcausal.exceptions import DataTypeError, NotFittedError
from privcausal.privacy.diagnostics import LocalDiagnostics
from privcausal.validation import check_delta, check_epsilon, check_interval_alpha

__all__ = ["ATEEstimator", "check_causal_data"]


def check_causal_data(data: Any, min_per_arm: int = 2) -> CausalData:
    if not isinstance(data, CausalData):
        raise DataTypeError(
            f"fit expects a privcausal CausalData (see privcausal.data.from_frame), got {type(data).__name__}"
        )
    data.require_both_arms(min_per_arm)
    return data


class ATEEstimator(BaseEstimator):
    """Base class: subclasses implement ``_fit(data)`` and set ``ate_``, ``privacy_``,
    and either ``ate_draws_`` (bootstrap draws of the release around the truth) or
    ``ate_se_`` (a normal-approximation standard error)."""

    #: The ATE is estimated privately (False for non-private twins and paper baselines).
    private: bool = True

    def fit(self, data: CausalData) -> "ATEEstimator":
        data = check_causal_data(data)
        if self.private:
            check_epsilon(getattr(self, "epsilon", math.inf))
            check_delta(getattr(self, "delta", 0.0))
        self.diagnostics_ = LocalDiagnostics.of(data)
        self._fit(data)
        return self

    def _fit(self, data: CausalData) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "ate_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit(data) first")

    def ate_interval(self, alpha: float = 0.05) -> tuple[float, float]:
        """A (1 - alpha) confidence interval for the ATE covering sampling and privacy noise.

        With bootstrap draws ``ate_draws_`` of (release - truth) under the fitted data model,
        the interval is the basic (pivotal) bootstrap interval
        ``[ate_ - q(1 - alpha/2), ate_ - q(alpha/2)]``; otherwise a normal interval from
        ``ate_se_``.
        """
        self._check_fitted()
        a = check_interval_alpha(alpha)
        draws = getattr(self, "ate_draws_", None)
        if draws is not None and len(draws) > 0:
            lo_q, hi_q = np.quantile(np.asarray(draws), [a / 2, 1 - a / 2])
            return float(self.ate_ - hi_q), float(self.ate_ - lo_q)
        from scipy.stats import norm

        z = float(norm.ppf(1 - a / 2))
        se = float(getattr(self, "ate_se_", math.nan))
        return float(self.ate_ - z * se), float(self.ate_ + z * se)

"""The estimator contract shared by every ATE estimator (scikit-learn style).

* ``__init__`` takes keyword-only arguments and stores them unchanged;
* ``fit(data)`` validates, releases, and sets trailing-underscore attributes:
  ``ate_`` (the released estimate), ``privacy_`` (the :class:`~privcausal.privacy.Receipt`),
  ``diagnostics_`` (exact counts for the analyst, NOT for publication:
  :class:`~privcausal.privacy.diagnostics.LocalDiagnostics`), and whatever the interval needs;
* ``ate_interval(alpha=0.05)`` returns ``(low, high)``, an interval that accounts for both
  sampling and privacy noise;
* EconML's shape beside it: ``fit(Y, T, X=..., W=..., domain=...)`` (arrays or DataFrames,
  :func:`~privcausal.data.arrays.from_arrays`), ``effect(X)`` and ``effect_interval(X, alpha)``
  (one effect for every row: these estimate the average effect, not a CATE), and
  ``summary()`` with the receipt;
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
from privcausal.validation import ate_interval_alpha, check_delta, check_epsilon

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
    #: What the interval accounts for, in words (each estimator states its own).
    interval_covers: str = "sampling noise (normal approximation)"

    def fit(self, data: Any, T: Any = None, *, X: Any = None, W: Any = None,
            domain: Any = None) -> "ATEEstimator":
        """Fit on a :class:`~privcausal.data.CausalData`, or EconML-style on outcome ``data`` (Y),
        treatment ``T`` and covariates ``X`` and ``W`` with a declared ``domain``."""
        if not isinstance(data, CausalData) and (T is not None or X is not None or W is not None):
            from privcausal.data.arrays import from_arrays

            data = from_arrays(data, T, X, W, domain=domain)
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

    def ate_interval(self, X: Any = None, alpha: float = 0.05) -> tuple[float, float]:
        """A (1 - alpha) confidence interval for the ATE covering sampling and privacy noise.

        With bootstrap draws ``ate_draws_`` of (release - truth) under the fitted data model,
        the interval is the basic (pivotal) bootstrap interval
        ``[ate_ - q(1 - alpha/2), ate_ - q(alpha/2)]``; otherwise a normal interval from
        ``ate_se_``.
        """
        self._check_fitted()
        a = ate_interval_alpha(X, alpha)
        draws = getattr(self, "ate_draws_", None)
        if draws is not None and len(draws) > 0:
            lo_q, hi_q = np.quantile(np.asarray(draws), [a / 2, 1 - a / 2])
            return float(self.ate_ - hi_q), float(self.ate_ - lo_q)
        from scipy.stats import norm

        z = float(norm.ppf(1 - a / 2))
        se = float(getattr(self, "ate_se_", math.nan))
        return float(self.ate_ - z * se), float(self.ate_ + z * se)

    # ------------------------------------------------------------------ EconML's shape
    def effect(self, X: Any = None) -> np.ndarray:
        """The estimated average effect for each row of ``X`` (one number repeated: an ATE
        estimator does not model heterogeneity; use the CATE learners for that)."""
        self._check_fitted()
        n = 1 if X is None else len(X)
        return np.full(n, float(self.ate_))

    def effect_interval(self, X: Any = None, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """``ate_interval(alpha)`` for each row of ``X`` (arrays of lows and highs)."""
        lo, hi = self.ate_interval(alpha=alpha)
        n = 1 if X is None else len(X)
        return np.full(n, lo), np.full(n, hi)

    def summary(self, alpha: float = 0.05) -> dict[str, Any]:
        """The release in one mapping: estimate, interval, what it covers, and the receipt
        (noisy and public quantities only; ``str()`` of it is readable)."""
        lo, hi = self.ate_interval(alpha=alpha)
        return _Summary(estimator=type(self).__name__, ate=float(self.ate_), ci_low=lo, ci_high=hi,
                        alpha=float(alpha), private=bool(self.private and self.privacy_.epsilon < math.inf),
                        receipt=self.privacy_.to_dict(), adjusted=getattr(self, "plan_", "adjusted") == "adjusted",
                        interval_covers=self.interval_covers)


class _Summary(dict):
    """A summary mapping whose text form reads as a short table."""

    def __str__(self) -> str:
        r = self["receipt"]
        lines = [f"{self['estimator']}: ATE = {self['ate']:.4g}, "
                 f"{100 * (1 - self['alpha']):.3g}% CI [{self['ci_low']:.4g}, {self['ci_high']:.4g}]"
                 + ("" if self["adjusted"] else "  (NOT adjusted: difference in means)"),
                 f"the interval covers: {self['interval_covers']}",
                 f"privacy: epsilon = {r['epsilon']}, delta = {r['delta']} ({r['accountant']}; "
                 f"{r['neighbouring']})" if self["private"] else "privacy: none (non-private twin)",
                 f"release: {r['release']}"]
        return "\n".join(lines)

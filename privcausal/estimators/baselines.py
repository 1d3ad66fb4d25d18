"""Non-private baselines, as in the paper this project started from (IHDP, replication 1).

Linear regression (OLS on ``[1, T, X]``), propensity-score matching (1-NN on a logistic
propensity), stratification on propensity quantiles, propensity weighting, and the T-learner
(which gives individual effects through :meth:`TLearner.effect`). Each releases without noise
and says so: ``private = False`` and a receipt with ``epsilon = inf``.

``design`` chooses the covariates a model sees: ``"encoded"`` (the domain-scaled design
``data.X``, the same the private estimators see) or ``"raw"`` (the numeric covariate columns as
given, after clipping to the domain). The two give the same OLS and T-learner fits (the
encoding is affine per column) but different regularised logistic propensities.

Standard errors (``ate_se_``) are the usual large-sample ones and ignore the estimation of the
propensity; for matching the variance of the matched differences over n is a rough guide only
(Abadie and Imbens 2006 give the consistent one).

References
----------
.. [1] Rosenbaum and Rubin, "The central role of the propensity score in observational
   studies for causal effects", Biometrika 1983 (matching, stratification on quintiles).
.. [2] Kunzel, Sekhon, Bickel, Yu, "Metalearners for estimating heterogeneous treatment
   effects using machine learning", PNAS 2019 (T-learner).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from privcausal.data.causal_data import CausalData
from privcausal.estimators.base import ATEEstimator
from privcausal.exceptions import DataTypeError, DataValidationError, NotFittedError, PrivacyParameterError
from privcausal.privacy import PrivacyEvent, make_receipt

__all__ = [
    "LinearRegressionATE",
    "PropensityMatching",
    "PropensityStratification",
    "PropensityWeighting",
    "TLearner",
    "BASELINES",
]

_NOISE = "none: non-private baseline"


def _design(data: CausalData, design: str) -> np.ndarray:
    if design == "encoded":
        return data.X
    if design == "raw":
        try:
            return data.covariates.to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise DataTypeError("design='raw' needs numeric covariates; use design='encoded'") from None
    raise PrivacyParameterError("design must be 'encoded' or 'raw'")


def _receipt(release: str, notes: tuple[str, ...], data: CausalData):
    return make_receipt(release, [PrivacyEvent.non_private(release)], noise=_NOISE, notes=notes)


def _propensity(X: np.ndarray, t: np.ndarray, C: float) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=10_000).fit(X, t).predict_proba(X)[:, 1]


class _Baseline(ATEEstimator):
    private = False


class LinearRegressionATE(_Baseline):
    """OLS of the outcome on ``[1, T, X]``; the ATE is the coefficient of T (a constant effect)."""

    def __init__(self, *, design: str = "encoded") -> None:
        self.design = design

    def _fit(self, data: CausalData) -> None:
        X = _design(data, self.design)
        Z = np.column_stack([np.ones(data.n), data.treatment, X])
        coef, *_ = np.linalg.lstsq(Z, data.outcome, rcond=None)
        resid = data.outcome - Z @ coef
        dof = max(1, data.n - np.linalg.matrix_rank(Z))
        cov = np.linalg.pinv(Z.T @ Z) * float(resid @ resid) / dof
        self.coef_ = coef
        self.ate_ = float(coef[1])
        self.ate_se_ = float(math.sqrt(max(cov[1, 1], 0.0)))
        self.privacy_ = _receipt("ATE by OLS on [1, T, X]", ("non-private baseline",), data)

    def effect(self, data: Any) -> np.ndarray:
        self._check_fitted()
        return np.full(_n_rows(data), self.ate_)


class PropensityMatching(_Baseline):
    """1-nearest-neighbour matching on a logistic propensity score.

    Every record gets its counterfactual from the nearest record of the other arm (by
    propensity); the ATE is the mean of the matched differences (ATT and ATC weighted by the arm
    sizes). ``replace=False`` matches without replacement, greedily in random order, each
    control used at most once for the treated (and vice versa), as far as the other arm lasts.
    """

    def __init__(self, *, replace: bool = True, C: float = 1.0, design: str = "encoded",
                 random_state: Any = None) -> None:
        self.replace = replace
        self.C = C
        self.design = design
        self.random_state = random_state

    def _match(self, e_from: np.ndarray, e_to: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.replace:
            order = np.argsort(e_to)
            pos = np.clip(np.searchsorted(e_to[order], e_from), 1, len(e_to) - 1)
            left, right = order[pos - 1], order[pos]
            return np.where(np.abs(e_to[left] - e_from) <= np.abs(e_to[right] - e_from), left, right)
        free = np.ones(len(e_to), dtype=bool)
        out = np.empty(len(e_from), dtype=np.int64)
        for i in rng.permutation(len(e_from)):
            if not free.any():
                free[:] = True  # the other arm is used up: start over (documented above)
            cand = np.nonzero(free)[0]
            j = cand[np.argmin(np.abs(e_to[cand] - e_from[i]))]
            out[i], free[j] = j, False
        return out

    def _fit(self, data: CausalData) -> None:
        from privcausal.validation import check_random_state

        rng = check_random_state(self.random_state)
        e = _propensity(_design(data, self.design), data.treatment, float(self.C))
        t, y = data.treatment == 1, data.outcome
        tr, co = np.nonzero(t)[0], np.nonzero(~t)[0]
        m_tr = co[self._match(e[tr], e[co], rng)]
        m_co = tr[self._match(e[co], e[tr], rng)]
        diffs = np.concatenate([y[tr] - y[m_tr], y[m_co] - y[co]])
        self.att_ = float(np.mean(y[tr] - y[m_tr]))
        self.atc_ = float(np.mean(y[m_co] - y[co]))
        self.ate_ = float(diffs.mean())
        self.ate_se_ = float(diffs.std(ddof=1) / math.sqrt(len(diffs)))
        self.propensity_ = e
        self.privacy_ = _receipt(
            "ATE by 1-NN propensity-score matching",
            (f"matching {'with' if self.replace else 'without'} replacement; logistic propensity C={self.C:g}",
             "ate_se_ ignores the matching step (a rough guide)"),
            data,
        )


class PropensityStratification(_Baseline):
    """Stratification on quantiles of a logistic propensity score (quintiles by default).

    ATE = sum over strata of (stratum size / n) x (treated mean - control mean); strata without
    both arms are dropped (and counted in ``dropped_``), and the weights renormalised.
    """

    def __init__(self, *, n_strata: int = 5, C: float = 1.0, design: str = "encoded") -> None:
        self.n_strata = n_strata
        self.C = C
        self.design = design

    def _fit(self, data: CausalData) -> None:
        e = _propensity(_design(data, self.design), data.treatment, float(self.C))
        t, y = data.treatment == 1, data.outcome
        edges = np.quantile(e, np.linspace(0, 1, int(self.n_strata) + 1))
        strata = np.clip(np.searchsorted(edges, e, side="right") - 1, 0, int(self.n_strata) - 1)
        est, var, weight, dropped = 0.0, 0.0, 0, 0
        for s in range(int(self.n_strata)):
            m = strata == s
            y1, y0 = y[m & t], y[m & ~t]
            if len(y1) < 2 or len(y0) < 2:
                dropped += int(m.sum())
                continue
            est += m.sum() * (y1.mean() - y0.mean())
            var += m.sum() ** 2 * (y1.var(ddof=1) / len(y1) + y0.var(ddof=1) / len(y0))
            weight += int(m.sum())
        if weight == 0:
            raise DataValidationError("no propensity stratum holds both arms; use fewer strata")
        self.ate_ = float(est / weight)
        self.ate_se_ = float(math.sqrt(var) / weight)
        self.dropped_ = dropped
        self.propensity_ = e
        self.privacy_ = _receipt(
            f"ATE by stratification on {self.n_strata} propensity quantiles",
            (f"logistic propensity C={self.C:g}",), data,
        )


class PropensityWeighting(_Baseline):
    """Inverse propensity weighting with a logistic propensity clipped to [clip, 1 - clip]."""

    def __init__(self, *, normalization: str = "hajek", clip: float = 0.05, C: float = 1.0,
                 design: str = "encoded") -> None:
        self.normalization = normalization
        self.clip = clip
        self.C = C
        self.design = design

    def _fit(self, data: CausalData) -> None:
        if self.normalization not in ("hajek", "ht"):
            raise PrivacyParameterError("normalization must be 'hajek' or 'ht'")
        c = float(self.clip)
        e = np.clip(_propensity(_design(data, self.design), data.treatment, float(self.C)), c, 1 - c)
        t, y = data.treatment, data.outcome
        w1, w0 = t / e, (1 - t) / (1 - e)
        if self.normalization == "hajek":
            mu1, mu0 = (w1 @ y) / w1.sum(), (w0 @ y) / w0.sum()
            infl = data.n * (w1 * (y - mu1) / w1.sum() - w0 * (y - mu0) / w0.sum())
        else:
            mu1, mu0 = (w1 @ y) / data.n, (w0 @ y) / data.n
            infl = w1 * y - w0 * y
        self.ate_ = float(mu1 - mu0)
        self.ate_se_ = float(np.std(infl, ddof=1) / math.sqrt(data.n))
        self.propensity_ = e
        self.privacy_ = _receipt(
            f"ATE by inverse propensity weighting ({self.normalization})",
            (f"logistic propensity C={self.C:g}, clipped to [{c:g}, {1 - c:g}]",), data,
        )


class TLearner(_Baseline):
    """T-learner: one outcome model per arm; effect(x) = mu1(x) - mu0(x), ATE = its mean.

    ``learner``: "linear" (OLS) or "forest" (scikit-learn's RandomForestRegressor with
    ``n_estimators`` trees and ``min_samples_leaf``).
    """

    def __init__(self, *, learner: str = "linear", n_estimators: int = 200, min_samples_leaf: int = 1,
                 design: str = "encoded", random_state: Any = None) -> None:
        self.learner = learner
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.design = design
        self.random_state = random_state

    def _model(self):
        if self.learner == "linear":
            from sklearn.linear_model import LinearRegression

            return LinearRegression()
        if self.learner == "forest":
            from sklearn.ensemble import RandomForestRegressor

            seed = self.random_state if self.random_state is None or isinstance(self.random_state, int) \
                else int(np.random.default_rng(self.random_state).integers(2**31 - 1))
            return RandomForestRegressor(n_estimators=int(self.n_estimators),
                                         min_samples_leaf=int(self.min_samples_leaf), random_state=seed)
        raise PrivacyParameterError("learner must be 'linear' or 'forest'")

    def _fit(self, data: CausalData) -> None:
        X = _design(data, self.design)
        t, y = data.treatment == 1, data.outcome
        self.models_ = (self._model().fit(X[~t], y[~t]), self._model().fit(X[t], y[t]))
        tau = self._tau(X)
        r1 = y[t] - self.models_[1].predict(X[t])
        r0 = y[~t] - self.models_[0].predict(X[~t])
        self.ate_ = float(tau.mean())
        self.ate_se_ = float(math.sqrt(tau.var(ddof=1) / data.n + r1.var(ddof=1) / t.sum()
                                       + r0.var(ddof=1) / (~t).sum()))
        self.domain_ = data.domain
        self.privacy_ = _receipt(f"ATE by a {self.learner} T-learner", ("non-private baseline",), data)

    def _tau(self, X: np.ndarray) -> np.ndarray:
        return self.models_[1].predict(X) - self.models_[0].predict(X)

    def effect(self, data: Any) -> np.ndarray:
        """Individual effects mu1(x) - mu0(x) for a CausalData or a covariate DataFrame."""
        if not hasattr(self, "models_"):
            raise NotFittedError("TLearner is not fitted yet; call fit(data) first")
        if isinstance(data, CausalData):
            return self._tau(_design(data, self.design))
        if isinstance(data, pd.DataFrame):
            from privcausal.design import DesignEncoder

            frame, _ = self.domain_.clip_covariates(data, warn=False)
            X = frame.to_numpy(dtype=np.float64) if self.design == "raw" else DesignEncoder(self.domain_).transform(frame)
            return self._tau(X)
        raise DataTypeError("effect expects a CausalData or a DataFrame of covariates")


def _n_rows(data: Any) -> int:
    if isinstance(data, CausalData):
        return data.n
    if isinstance(data, (pd.DataFrame, np.ndarray)):
        return len(data)
    raise DataTypeError("effect expects a CausalData, a DataFrame or an array")


#: Name -> class, for the paper table and the CLI.
BASELINES = {
    "linear-regression": LinearRegressionATE,
    "matching": PropensityMatching,
    "stratification": PropensityStratification,
    "weighting": PropensityWeighting,
    "t-learner": TLearner,
}

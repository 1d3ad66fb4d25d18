"""Flexible, non-private nuisance learners for the non-private twins (AIPW at epsilon = inf).

A learner is a scikit-learn estimator, cloned and fitted per fold, or the name ``"hgb"``
(:class:`~sklearn.ensemble.HistGradientBoostingClassifier` for the propensity,
:class:`~sklearn.ensemble.HistGradientBoostingRegressor` for the outcome, with scikit-learn's
defaults). They see the records' exact values and release nothing private, so a private
estimator refuses them: they are for the twins and for comparisons with EconML-style
estimators (DRLearner with flexible nuisances), not for a release.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from privcausal.exceptions import DataTypeError, PrivacyParameterError

__all__ = ["LEARNER_NAMES", "check_learner", "fit_propensity", "fit_outcome"]

LEARNER_NAMES = ("hgb",)


def check_learner(learner: Any, role: str, private: bool) -> Any:
    """``learner`` checked for its ``role`` ("propensity" or "outcome"); None is kept (the
    estimator's own linear, private-capable models)."""
    if learner is None:
        return None
    if private:
        raise PrivacyParameterError(
            f"a {role}_learner is fitted on the exact records and is not private: it serves the "
            "non-private twin only (epsilon=inf); the private estimator uses its own DP models")
    if isinstance(learner, str):
        if learner not in LEARNER_NAMES:
            raise PrivacyParameterError(f"{role}_learner: unknown name {learner!r}; one of {LEARNER_NAMES} "
                                        "or a scikit-learn estimator")
        return learner
    need = "predict_proba" if role == "propensity" else "predict"
    if not (hasattr(learner, "fit") and hasattr(learner, need)):
        raise DataTypeError(f"{role}_learner must be a scikit-learn estimator with fit and {need}, "
                            f"got {type(learner).__name__}")
    return learner


def _build(learner: Any, role: str, seed: int) -> Any:
    from sklearn.base import clone

    if learner == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingClassifier if role == "propensity" else HistGradientBoostingRegressor
        return cls(random_state=seed)
    est = clone(learner)
    if "random_state" in est.get_params():
        est.set_params(random_state=seed)
    return est


def fit_propensity(learner: Any, X: np.ndarray, t: np.ndarray, X_new: np.ndarray, seed: int) -> np.ndarray:
    """P(T = 1 | x) on ``X_new`` from ``learner`` fitted on ``(X, t)``."""
    est = _build(learner, "propensity", seed).fit(X, t.astype(int))
    classes = list(getattr(est, "classes_", [0, 1]))
    return np.asarray(est.predict_proba(X_new))[:, classes.index(1)].astype(np.float64)


def fit_outcome(learner: Any, X: np.ndarray, y: np.ndarray, X_new: np.ndarray, seed: int) -> np.ndarray:
    """E[Y | x] on ``X_new`` from ``learner`` fitted on ``(X, y)`` (a classifier's P(Y = 1))."""
    from sklearn.base import is_classifier

    est = _build(learner, "outcome", seed)
    if is_classifier(est):
        est.fit(X, y.astype(int))
        classes = list(est.classes_)
        return np.asarray(est.predict_proba(X_new))[:, classes.index(1)].astype(np.float64)
    return np.asarray(est.fit(X, y).predict(X_new), dtype=np.float64)

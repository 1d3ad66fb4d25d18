"""The non-private AIPW anchor with flexible nuisances, and the interval's alpha contract."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression

from privcausal.estimators import ESTIMATORS, make_estimator
from privcausal.estimators.aipw import AugmentedIPW
from privcausal.exceptions import DataTypeError, PrivacyParameterError


def test_a_private_fit_refuses_non_private_learners(trauma_small):
    for kw in ({"propensity_learner": "hgb"}, {"outcome_learner": LinearRegression()}):
        with pytest.raises(PrivacyParameterError, match="not private"):
            AugmentedIPW(epsilon=1.0, **kw).fit(trauma_small)


def test_bad_learners_are_named(trauma_small):
    with pytest.raises(PrivacyParameterError, match="unknown name 'xgb'"):
        AugmentedIPW(epsilon=math.inf, propensity_learner="xgb").fit(trauma_small)
    with pytest.raises(DataTypeError, match="predict_proba"):
        AugmentedIPW(epsilon=math.inf, propensity_learner=LinearRegression()).fit(trauma_small)


def test_user_learners_are_cross_fitted_and_named_in_the_receipt(trauma_small):
    est = AugmentedIPW(epsilon=math.inf, n_folds=3, propensity_learner=RandomForestClassifier(
        n_estimators=30, min_samples_leaf=20), outcome_learner=LinearRegression(),
        random_state=0).fit(trauma_small)
    assert "RandomForestClassifier" in est.privacy_.release and not est.privacy_.epsilon < math.inf
    lo, hi = est.ate_interval()
    assert lo < est.ate_ < hi and np.isfinite(hi - lo)
    again = AugmentedIPW(epsilon=math.inf, n_folds=3, propensity_learner=RandomForestClassifier(
        n_estimators=30, min_samples_leaf=20), outcome_learner=LinearRegression(),
        random_state=0).fit(trauma_small)
    assert again.ate_ == est.ate_  # fixed seeds per fold: reproducible


def test_the_gradient_boosted_anchor_is_registered_and_non_private(trauma_small):
    spec = ESTIMATORS["aipw-hgb-np"]
    assert not spec.private
    est = make_estimator("aipw-hgb-np", random_state=0)
    assert est.propensity_learner == "hgb" and est.outcome_learner == "hgb" and est.n_folds == 5
    est.fit(trauma_small)
    # 4,000 records: within 0.05 of the truth (the DiM is biased by about 0.16 here)
    assert abs(est.ate_ - trauma_small.true_ate) < 0.05


@pytest.mark.parametrize("alpha", [0.95, 0.5000001, 1.0, 0.0, -0.1])
def test_interval_alpha_outside_zero_to_half_is_refused(trauma_small, alpha):
    est = make_estimator("dim", epsilon=1.0, random_state=0).fit(trauma_small)
    with pytest.raises(PrivacyParameterError, match="alpha"):
        est.ate_interval(alpha)


def test_the_refusal_says_what_was_meant(trauma_small):
    est = make_estimator("dim", epsilon=1.0, random_state=0).fit(trauma_small)
    with pytest.raises(PrivacyParameterError, match="pass alpha=0.05"):
        est.ate_interval(0.95)
    lo, hi = est.ate_interval(0.5)
    assert lo <= hi

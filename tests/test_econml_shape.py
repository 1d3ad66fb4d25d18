"""The EconML-shaped API beside fit(CausalData): fit(Y, T, X=..., W=..., domain=...), effect,
effect_interval, summary; the same release as the CausalData call."""

from __future__ import annotations

import math

import numpy as np
import pytest

from privcausal.domain import Domain
from privcausal.estimators import make_estimator
from privcausal.estimators.cate import TLearner
from privcausal.exceptions import DomainError


@pytest.fixture(scope="module")
def arrays(trauma_small):
    d = trauma_small
    cov = d.covariates
    X, W = cov.iloc[:, :3], cov.iloc[:, 3:]  # the domain's order: the same encoded design
    return d, d.outcome, d.treatment, X, W


def test_arrays_and_causal_data_give_the_same_release(arrays):
    d, Y, T, X, W = arrays
    a = make_estimator("dim", epsilon=1.0, random_state=0).fit(d)
    b = make_estimator("dim", epsilon=1.0, random_state=0).fit(Y, T, X=X, W=W, domain=d.domain)
    assert a.ate_ == b.ate_ and a.ate_interval() == b.ate_interval()


def test_plain_arrays_take_the_domains_column_order(arrays):
    d, Y, T, X, W = arrays
    nums = Domain({c: d.domain.covariates[c] for c in ("age", "gcs", "sbp")}, d.domain.outcome)
    Xa = d.covariates[["age", "gcs", "sbp"]].to_numpy(dtype=float)
    est = make_estimator("regression-np").fit(Y, T, X=Xa, domain=nums)
    assert math.isfinite(est.ate_)
    with pytest.raises(DomainError, match="3 columns but the domain declares"):
        make_estimator("regression-np").fit(Y, T, X=Xa, domain=d.domain)
    with pytest.raises(DomainError, match="needs domain="):
        make_estimator("dim").fit(Y, T, X=X)


def test_effect_interval_and_summary(arrays):
    d, Y, T, X, W = arrays
    est = make_estimator("ipw", epsilon=2.0, random_state=1).fit(Y, T, X=X, W=W, domain=d.domain)
    eff = est.effect(X.iloc[:5])
    lo, hi = est.effect_interval(X.iloc[:5], alpha=0.1)
    assert eff.shape == lo.shape == hi.shape == (5,) and np.all(eff == est.ate_)
    assert (lo[0], hi[0]) == est.ate_interval(0.1)
    s = est.summary()
    assert s["ate"] == est.ate_ and s["private"] and s["receipt"]["epsilon"] <= 2.0 + 1e-9
    assert "90" not in str(s) and "95% CI" in str(s) and "epsilon" in str(s)


def test_cate_learner_fits_on_arrays(arrays):
    d, Y, T, X, W = arrays
    a = TLearner(epsilon=2.0, recipe={"epochs": 2}, random_state=0).fit(d)
    b = TLearner(epsilon=2.0, recipe={"epochs": 2}, random_state=0).fit(Y, T, X=X, W=W, domain=d.domain)
    assert a.ate_ == b.ate_


def test_every_estimator_says_what_its_interval_covers(trauma_small):
    from privcausal.estimators import ESTIMATORS
    from privcausal.estimators.cate import TLearner

    for name in ("dim", "regression", "ipw", "aipw"):
        est = make_estimator(name)
        covers = est.interval_covers
        assert "noise" in covers and covers != "sampling noise (normal approximation)"
    assert "NOT the networks' own estimation error" in TLearner.interval_covers
    est = make_estimator("dim", epsilon=1.0, random_state=0).fit(trauma_small)
    assert "the interval covers: sampling and privacy noise" in str(est.summary())
    assert set(ESTIMATORS) >= {"aipw-hgb-np"}


def test_ate_interval_takes_econmls_argument_order_and_the_older_one(arrays):
    d, Y, T, X, W = arrays
    est = make_estimator("dim", epsilon=1.0, random_state=0).fit(d)
    ref = est.ate_interval(alpha=0.1)
    assert est.ate_interval(0.1) == ref  # the older positional alpha
    assert est.ate_interval(X, alpha=0.1) == ref  # EconML's order: the average effect is the same for any X
    assert est.ate_interval() == est.ate_interval(alpha=0.05)
    with pytest.raises(Exception, match="alpha twice"):
        est.ate_interval(0.1, alpha=0.2)
    with pytest.raises(Exception, match="alpha"):
        est.ate_interval(X, alpha=0.95)

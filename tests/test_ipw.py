"""IPW and its DP propensity model: privacy events, declared bounds, receipts, intervals."""

import math
import warnings

import numpy as np
import pytest

from privcausal.data import simulate_trauma
from privcausal.estimators.ipw import InversePropensityWeighting, private_mean
from privcausal.estimators.propensity import (
    PrivateLinearModel,
    PrivateLogisticModel,
    auto_C,
    pure_dp_event,
    unit_ball_design,
)
from privcausal.exceptions import DataValidationError, PrivacyParameterError
from privcausal.privacy import accountant_epsilon



def _pld(event):
    from dp_accounting import pld

    acc = pld.PLDAccountant()
    acc.compose(event.dp_event)
    return acc


@pytest.mark.parametrize("eps", [0.5, 1.0, 4.0])
def test_pure_dp_event_has_the_worst_case_epsilon_dp_profile(eps):
    # Binary randomised response with flip probability 1/(1+e^eps) is the worst epsilon-DP pair:
    # delta(eps') = (e^eps - e^eps') / (1 + e^eps) for eps' < eps, and 0 at eps.
    acc = _pld(pure_dp_event("m", eps, "some eps-DP mechanism"))
    for frac in (0.0, 0.5):
        want = (math.exp(eps) - math.exp(frac * eps)) / (1 + math.exp(eps))
        assert acc.get_delta(frac * eps) == pytest.approx(want, rel=1e-3)
    assert accountant_epsilon([pure_dp_event("m", eps, "x")], 1e-12) <= eps
    # The continuous Laplace event would undercount: its delta(0) lies below the worst case.
    from dp_accounting import LaplaceDpEvent
    from dp_accounting import pld

    lap = pld.PLDAccountant()
    lap.compose(LaplaceDpEvent(noise_multiplier=1 / eps))
    assert lap.get_delta(0.0) < acc.get_delta(0.0) - 1e-3


def test_unit_ball_design_bounds_every_row():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)) * 3  # some rows exceed the bound R = 4
    Z = unit_ball_design(X, 4.0, 0.3)
    assert np.all(np.linalg.norm(Z, axis=1) <= 1 + 1e-12)
    assert np.allclose(Z[:, 0], math.sqrt(0.3))


def test_auto_C_is_data_independent_and_monotone():
    cs = [auto_C(e) for e in (0.1, 0.5, 1.0, 4.0, 16.0, math.inf)]
    assert all(a < b for a, b in zip(cs, cs[1:]))
    assert auto_C(math.inf) == 1e4


def test_private_logistic_never_reads_bounds_off_the_data(trauma_small):
    import diffprivlib.utils

    with warnings.catch_warnings():
        warnings.simplefilter("error", diffprivlib.utils.PrivacyLeakWarning)
        m = PrivateLogisticModel(epsilon=1.0, random_state=np.random.default_rng(1))
        m.fit(trauma_small.X, trauma_small.treatment, row_norm_bound=trauma_small.encoder.row_norm_bound)
    e = m.predict_proba(trauma_small.X)
    assert np.all((e > 0) & (e < 1))
    assert m.event_.epsilon == 1.0 and m.event_.delta == 0.0
    assert m.converged_


def test_private_logistic_refuses_one_class():
    X = np.zeros((10, 2))
    with pytest.raises(DataValidationError):
        PrivateLogisticModel(epsilon=1.0).fit(X, np.ones(10), row_norm_bound=1.0)


def test_private_logistic_twin_matches_sklearn_on_the_same_objective():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, size=(300, 3))
    t = (rng.random(300) < 1 / (1 + np.exp(-X @ [1.0, -1.0, 0.5]))).astype(int)
    m = PrivateLogisticModel(epsilon=math.inf, C=2.0).fit(X, t, row_norm_bound=math.sqrt(3))
    Z = unit_ball_design(X, math.sqrt(3))
    ref = LogisticRegression(C=2.0, fit_intercept=False, tol=1e-10, max_iter=10_000).fit(Z, t)
    assert np.allclose(m.coef_, ref.coef_.ravel(), atol=1e-5)
    assert not m.event_.is_private


def _vector_noise(eps_v, C, p, n, draws):
    """Read diffprivlib's objective noise b and extra ridge off its randomised objective."""
    from diffprivlib.mechanisms import Vector

    vec = Vector(epsilon=eps_v, function_sensitivity=0.25, data_sensitivity=1.0, dimension=p,
                 alpha=1.0 / C, n=n, random_state=0)
    norms, extra = [], None
    for _ in range(draws):
        f = vec.randomise(lambda w: (0.0, np.zeros(p)))
        _, g0 = f(np.zeros(p))
        _, g1 = f(np.eye(p)[0])
        norms.append(np.linalg.norm(g0 * n))
        extra = (g1[0] - g0[0]) * n  # sum-form extra ridge, the same for every draw
    # ||b|| ~ Gamma(p, 1/beta): the noise density is proportional to exp(-beta ||b||).
    return p / np.mean(norms), extra


@pytest.mark.parametrize("eps,C", [(0.7, "auto"), (0.7, 50.0), (2.0, 0.5)])
def test_objective_perturbation_add_remove_loss_is_at_most_epsilon(eps, C):
    # The module's claim: diffprivlib's Vector at 2 epsilon on unit-ball rows is epsilon-DP under
    # add/remove. Read beta and the extra ridge off diffprivlib itself, then evaluate the exact
    # privacy loss log p_D(w) - log p_D'(w) of the output density at many outputs w, for
    # D' = D + one record. (C = 50 exercises diffprivlib's extra-ridge branch.)
    from scipy.special import expit

    C = auto_C(eps) if C == "auto" else C
    rng = np.random.default_rng(2)
    p, n = 3, 25
    beta, extra = _vector_noise(2 * eps, C, p, n, 4000)
    Z = rng.normal(size=(n, p))
    Z /= np.maximum(1.0, np.linalg.norm(Z, axis=1))[:, None]
    y = (rng.random(n) < 0.5).astype(float)
    z_new, y_new = np.array([0.6, -0.8, 0.0]), 1.0
    lam = 1.0 / C + extra

    def log_density(w, ZZ, yy):
        s = expit(ZZ @ w)
        b = -(ZZ.T @ (s - yy) + lam * w)  # the noise that makes w the minimiser
        H = (ZZ * (s * (1 - s))[:, None]).T @ ZZ + lam * np.eye(p)
        return -beta * np.linalg.norm(b) + np.linalg.slogdet(H)[1]

    Zp, yp = np.vstack([Z, z_new]), np.append(y, y_new)
    W = rng.normal(scale=4.0, size=(3000, p))
    loss = np.array([log_density(w, Z, y) - log_density(w, Zp, yp) for w in W])
    # 4000 draws estimate beta within about 1% (relative sd 1/sqrt(p * 4000)); allow 4%.
    assert np.max(np.abs(loss)) <= eps * 1.04
    assert np.max(np.abs(loss)) > 0.2 * eps  # the check is not vacuous


def test_private_linear_model_twin_is_least_squares():
    rng = np.random.default_rng(4)
    X = rng.uniform(-1, 1, size=(500, 3))
    y = 1.0 + X @ [0.5, -0.25, 0.1]
    m = PrivateLinearModel(epsilon=math.inf).fit(X, y, row_norm_bound=math.sqrt(3), outcome_bounds=(-2, 4))
    assert np.allclose(m.predict(X), y, atol=1e-5)
    assert not m.event_.is_private
    mp = PrivateLinearModel(epsilon=1.0, delta=1e-6, random_state=1).fit(
        X, y, row_norm_bound=math.sqrt(3), outcome_bounds=(-2, 4))
    assert mp.event_.delta == 1e-6 and mp.event_.sensitivity == pytest.approx(math.sqrt(2))
    assert np.all((mp.predict(X) >= -2) & (mp.predict(X) <= 4))


def test_private_mean_sensitivities_and_twin():
    psi = np.array([1.0, -2.0, 3.0, 0.5])
    pm = private_mean(psi, 3.0, math.inf, count_weight=0.2, noise=None, rng=np.random.default_rng(0),
                      n_draws=10, label="x")
    assert pm.estimate == pytest.approx(psi.mean())
    pm = private_mean(psi, 3.0, 1.0, count_weight=0.2, noise=np.random.default_rng(0),
                      rng=np.random.default_rng(0), n_draws=10, label="x")
    sens = sorted(e.sensitivity for e in pm.events)
    assert sens == [1.0, 3.0, 9.0]
    assert sum(e.epsilon for e in pm.events) == pytest.approx(1.0)


def test_ipw_receipt_and_budget(trauma_small):
    est = InversePropensityWeighting(epsilon=1.0, random_state=3).fit(trauma_small)
    r = est.privacy_
    assert r.epsilon <= 1.0 + 1e-9 and r.delta == 0.0
    assert r.events[0].label == "propensity model"
    assert "seeded" in r.noise
    lo, hi = est.ate_interval(0.05)
    assert lo < est.ate_ < hi


def test_ipw_twin_is_the_same_estimator_without_noise(trauma_small):
    from privcausal.estimators.propensity import PrivateLogisticModel

    est = InversePropensityWeighting(epsilon=math.inf, clip=0.05, random_state=0).fit(trauma_small)
    assert math.isinf(est.privacy_.epsilon)
    e = np.clip(PrivateLogisticModel(epsilon=math.inf, C="auto").fit(
        trauma_small.X, trauma_small.treatment, row_norm_bound=trauma_small.encoder.row_norm_bound
    ).predict_proba(trauma_small.X), 0.05, 0.95)
    t, y = trauma_small.treatment, trauma_small.outcome
    hajek = (t / e) @ y / (t / e).sum() - ((1 - t) / (1 - e)) @ y / ((1 - t) / (1 - e)).sum()
    assert est.ate_ == pytest.approx(hajek, abs=1e-9)


def test_ipw_is_reproducible_with_a_seed_and_validates(trauma_small):
    a = InversePropensityWeighting(epsilon=2.0, random_state=7).fit(trauma_small).ate_
    b = InversePropensityWeighting(epsilon=2.0, random_state=7).fit(trauma_small).ate_
    assert a == b
    with pytest.raises(PrivacyParameterError):
        InversePropensityWeighting(clip=0.6).fit(trauma_small)
    with pytest.raises(PrivacyParameterError):
        InversePropensityWeighting(normalization="x").fit(trauma_small)


def test_ipw_interval_covers_in_a_trial():
    # A randomised trial (no confounding): the interval must cover the true ATE at about the
    # nominal 95%. With 30 replications, 24 or fewer covers happen with probability < 1e-3 if
    # the true coverage is 0.95 (binomial tail), so the test's failure rate is below 1e-3.
    covered = 0
    for s in range(30):
        d = simulate_trauma(3000, random_state=100 + s, confounding=0.0, n_centres=5)
        lo, hi = InversePropensityWeighting(epsilon=2.0, random_state=s).fit(d).ate_interval(0.05)
        covered += lo <= d.true_ate <= hi
    assert covered >= 25

"""The composed white-box route (audits.dpsgd.white_box): tight from ten training runs, sound, and
its assumption checked.

Failure rates: the noise bound sigma_upper falls below the true noise with probability
alpha / 2 by construction (chi-square); the identity test checks that rate over 4000 simulated
audits with a binomial tail of about 1e-4. The tightness test uses fixed seeds; over 20 seeds
per epsilon the smallest ratio measured was 0.924 and the mean 0.948
(experiments/audit_dpsgd_white_box.md, lr = 0.002 so that the canary stays clipped on every
step), so an unseeded run falls under 0.9 rarely: the ratio's spread is about 0.013.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from audits.dpsgd.multi_run import audit_dpsgd
from audits.dpsgd.white_box import composed_white_box_bound
from privcausal.exceptions import DataValidationError


def _data(n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    X /= np.linalg.norm(X, axis=1).max()
    return X, (rng.random(n) < 0.5).astype(float)


def _sim(rng, T=100, N=5, sigma=10.0, shift=1.0, claimed_shift=1.0):
    o_in = shift + sigma * rng.standard_normal((T, N))
    o_out = sigma * rng.standard_normal((T, N))
    return o_in, o_out, np.full((T, N), claimed_shift)


def test_noise_bound_fails_at_its_stated_rate():
    """Identity: P(mu_lower > the true mu) <= alpha/2 + alpha/2; here (known shift consistent
    with the data) it is the chi-square bound's alpha/2 = 2.5 %. 4000 simulated audits."""
    rng = np.random.default_rng(11)
    T, sigma = 100, 10.0
    true_mu = math.sqrt(T) / sigma
    over = 0
    for _ in range(4000):
        b, _ = composed_white_box_bound(*_sim(rng, T=T, sigma=sigma), sigma_claimed=sigma,
                                        delta=1e-5, alpha=0.05)
        over += b.mu_lower > true_mu
    # Binomial(4000, 0.025): mean 100, sd 9.9; allow [55, 150] (about 4.5 sd)
    assert 55 <= over <= 150


@pytest.mark.parametrize("eps", [1.0, 2.0, 4.0])
def test_ten_training_runs_reach_nine_tenths_of_epsilon(eps):
    """The issue's target: white-box, Dirac canary, per-step statistics composed, at most 10
    training runs (5 per world), Gaussian-DP route labelled: ratio >= 0.9, and never above."""
    X, y = _data()
    r = audit_dpsgd(X, y, threat="white-box", trials=5, epsilon=eps, steps=100, lr=0.002,
                    random_state=3)
    assert r.route == "composed" and r.trials == 5
    assert 0.9 * r.epsilon_theory <= r.epsilon_lower <= r.epsilon_theory
    assert "Gaussian" in r.assumption and "composed" in r.assumption
    assert r.noise_check["residuals"] == 2 * 5 * 100
    assert abs(r.noise_check["sigma_hat"] / r.noise_multiplier - 1) < 0.1
    d = r.to_dict()
    json.dumps(d)
    assert d["route"] == "composed" and d["ceiling"] == "inf"


def test_noise_off_by_the_batch_size_is_flagged_from_ten_runs():
    """A trainer that adds sigma C / B instead of sigma C (B = the batch, here the 41 records)
    while its accountant claims sigma: ten runs expose it."""
    from privcausal.training import train_many

    def broken(*args, noise_multiplier=None, epsilon=None, **kw):
        honest = train_many(*args, epsilon=epsilon, noise_multiplier=noise_multiplier,
                            **{**kw, "steps": 1, "record": ()})
        res = train_many(*args, noise_multiplier=honest.noise_multiplier / 41.0, **kw)
        return _Claim(res, honest.noise_multiplier, honest.epsilon)

    X, y = _data()
    r = audit_dpsgd(X, y, threat="white-box", trials=5, epsilon=2.0, steps=100, random_state=4,
                    trainer=broken)
    assert r.violation and r.epsilon_lower > 10 * r.epsilon_theory
    assert r.noise_check["sigma_upper"] < r.noise_multiplier / 20


class _Claim:
    """A trained stack that reports the noise multiplier and epsilon its accountant claims."""

    def __init__(self, res, sigma, eps):
        self._res, self.noise_multiplier, self._eps = res, sigma, eps

    def __getattr__(self, name):
        return getattr(self._res, name)

    @property
    def epsilon(self):
        return self._eps


def test_more_signal_than_clipping_allows_uses_the_data_shift():
    """Clipping skipped: the canary adds 5 C per step where the auditor assumed C. The residual
    mean is far from 0, the route switches to the data's own shift bound and the bound grows."""
    rng = np.random.default_rng(5)
    honest, _ = composed_white_box_bound(*_sim(rng), sigma_claimed=10.0, delta=1e-5)
    b, check = composed_white_box_bound(*_sim(rng, shift=5.0), sigma_claimed=10.0, delta=1e-5)
    assert check.shift_z > 3 and "data shift" in check.shift_route
    assert b.epsilon_lower > 3 * honest.epsilon_lower


def test_less_signal_than_assumed_falls_back_to_the_data_shift():
    """If the canary added less than its clipped gradient (a trainer clipping harder than
    declared), assuming the declared shift would overstate the leakage: the check rejects it.
    The check sees a gap of g C per step at z of about g sqrt(N T / 2) / sigma: here sigma = 3
    and g = 1, z about -7. (At sigma = 10 the same gap gives z of about -2.2, a gap the check
    may miss: the assumption is stated with every result for that reason.)"""
    rng = np.random.default_rng(6)
    b, check = composed_white_box_bound(*_sim(rng, sigma=3.0, shift=0.0), sigma_claimed=3.0,
                                        delta=1e-5)
    assert check.shift_z < -3 and check.shift_route.startswith("data shift only")
    assert b.epsilon_lower < 0.5


def test_bad_arguments():
    rng = np.random.default_rng(0)
    o_in, o_out, c = _sim(rng)
    with pytest.raises(DataValidationError):
        composed_white_box_bound(o_in, o_out, c[:, :2], sigma_claimed=1.0, delta=1e-5)
    with pytest.raises(DataValidationError):
        composed_white_box_bound(o_in, o_out, c, sigma_claimed=1.0, delta=0.0)
    o_in[0, 0] = np.nan
    with pytest.raises(DataValidationError):
        composed_white_box_bound(o_in, o_out, c, sigma_claimed=1.0, delta=1e-5)
    X, y = _data()
    with pytest.raises(DataValidationError, match="composed"):
        audit_dpsgd(X, y, threat="hidden-state", route="composed", epsilon=1.0, steps=5)
    with pytest.raises(DataValidationError, match="plain SGD"):
        audit_dpsgd(X, y, threat="white-box", epsilon=1.0, steps=5, momentum=0.9)


def test_the_shift_check_is_signed_by_the_canary_gradient():
    """The harness's label-1 canary has a negative clipped gradient: a larger-than-clipped
    contribution is a more negative observation, and must read as z > 0 (more signal)."""
    rng = np.random.default_rng(8)
    o_in, o_out, c = _sim(rng, sigma=3.0, shift=-5.0, claimed_shift=-1.0)
    b, check = composed_white_box_bound(o_in, o_out, c, sigma_claimed=3.0, delta=1e-5)
    assert check.shift_z > 3 and "data shift" in check.shift_route and check.independent


def test_noise_reused_across_steps_or_runs_refuses_the_composition():
    """Independence diagnostics: fresh noise passes (refused beyond |z| = 4, about 1e-4 of
    honest audits; over 30 seeded ten-run audits the autocorrelation z had mean -0.1 and sd
    1.0), the same noise at every step, or shared by every run, does not."""
    rng = np.random.default_rng(9)
    o_in, o_out, c = _sim(rng)
    assert composed_white_box_bound(o_in, o_out, c, sigma_claimed=10.0, delta=1e-5)[1].independent
    steps = 10.0 * rng.standard_normal((1, 5)) * np.ones((100, 1))  # one draw per run, reused
    _, ck = composed_white_box_bound(1.0 + steps, steps, c, sigma_claimed=10.0, delta=1e-5)
    assert not ck.independent
    shared = 10.0 * rng.standard_normal((100, 1)) * np.ones((1, 5))  # one draw per step, shared
    _, ck = composed_white_box_bound(1.0 + shared, shared, c, sigma_claimed=10.0, delta=1e-5)
    assert not ck.independent and ck.across_runs_z > 10

"""DP-SGD audits (audits.dpsgd.multi_run, audits.dpsgd.canaries): soundness, what few runs can show, and a
broken accountant flagged.

Statistical tests are seeded; each bound holds with probability >= 1 - alpha = 0.95 over the
trainings (the Gaussian-DP route exactly so here: full-batch DP-SGD is a Gaussian mechanism),
so an unseeded run of a soundness test would fail at most 5 % of the time.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from audits.dpsgd.canaries import dirac_canary, input_canary
from audits.dpsgd.multi_run import audit_dpsgd
from privcausal.exceptions import DataValidationError
from privcausal.training.calibrate import dpsgd_epsilon

STEPS = 50


def _data(n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, (X[:, 0] > 0).astype(float)


def test_dirac_canary_is_alone_on_its_coordinate_and_clipped_at_start():
    X, y = _data()
    c = dirac_canary(X, y, max_grad_norm=1.0)
    assert c.X.shape == (41, 4) and c.index == 40 and c.coordinate == 3
    assert np.all(c.X[:40, 3] == 0) and c.X[40, 3] == 10.0 and np.all(c.X[40, :3] == 0)
    assert np.array_equal(c.X[:40, :3], X) and c.y[40] == 1.0
    # at zero parameters: |sigmoid(0) - 1| * sqrt(101) = 5.02 >= C
    assert c.gradient_norm(np.zeros(4), np.zeros(()))[()] == pytest.approx(0.5 * np.sqrt(101))
    ic = input_canary(X, y, random_state=0)
    assert ic.X.shape == (41, 3) and np.linalg.norm(ic.X[40] - X.mean(0)) > 3 * np.ptp(X, 0).max()


@pytest.mark.parametrize("eps", [1.0, 2.0, 4.0])
def test_white_box_is_sound(eps):
    X, y = _data()
    r = audit_dpsgd(X, y, threat="white-box", trials=50, epsilon=eps, steps=STEPS, random_state=7,
                    route="run-level")
    assert r.epsilon_theory == pytest.approx(eps, rel=1e-2)
    assert r.canary_clipped_fraction == 1.0
    assert 0.0 <= r.epsilon_lower <= r.epsilon_theory
    assert r.clopper_pearson.epsilon_lower <= r.epsilon_theory
    ps = audit_dpsgd(X, y, threat="white-box", trials=50, epsilon=eps, steps=STEPS,
                     random_state=7)
    assert ps.route == "composed" and 0.0 <= ps.epsilon_lower <= ps.epsilon_theory
    assert "Gaussian" in r.result.assumption and "measured" in ps.assumption
    # the run scores of white-box DP-SGD are Gaussian: the test licenses the GDP figure
    assert r.bound == "gaussian-dp" and r.tests and r.tests[0].passed


def test_ten_runs_certify_nothing_through_run_scores_but_an_estimate_near_theory():
    """With 5 + 5 runs the run-level ceiling is 0 at 95 %: no threshold test on run scores can
    certify anything (the composed route, tests/test_audit_white_box.py, can). The point
    estimate (no confidence) approaches the accountant's epsilon as runs grow."""
    X, y = _data()
    few = audit_dpsgd(X, y, threat="white-box", trials=5, epsilon=4.0, steps=STEPS, random_state=1,
                      route="run-level")
    assert few.ceiling == 0.0 and few.epsilon_lower == 0.0
    many = audit_dpsgd(X, y, threat="white-box", trials=200, epsilon=4.0, steps=STEPS,
                       random_state=2, route="run-level")
    assert 0.7 <= many.epsilon_estimate / many.epsilon_theory <= 1.3
    assert 0.0 < many.epsilon_lower <= many.epsilon_theory


def test_accountant_off_by_four_is_flagged():
    """The trainer's real noise gives epsilon 8; an accountant that assumed 4x the noise claims
    about 1.6. The audit of the same trainings proves more than the claim."""
    X, y = _data()
    real = audit_dpsgd(X, y, threat="white-box", trials=100, epsilon=8.0, steps=STEPS,
                       random_state=3)
    claimed = dpsgd_epsilon(4 * real.noise_multiplier, 1.0, STEPS, 1e-5)
    r = audit_dpsgd(X, y, threat="white-box", trials=100, epsilon=8.0, steps=STEPS,
                    random_state=3, claimed_epsilon=claimed)
    assert r.epsilon_theory == claimed < 2.0
    assert r.violation and r.epsilon_lower > claimed
    assert not real.violation


@pytest.mark.parametrize("threat", ["hidden-state", "black-box"])
def test_other_threat_models_are_sound_and_serialise(threat):
    X, y = _data()
    r = audit_dpsgd(X, y, threat=threat, trials=30, epsilon=4.0, steps=STEPS, random_state=4,
                    bound="clopper-pearson")
    assert r.route == "run-level" and r.trials == 30
    assert 0.0 <= r.epsilon_lower <= min(r.epsilon_theory, r.ceiling)
    d = r.to_dict()
    json.dumps(d)
    assert d["threat_model"].startswith(threat.replace("-state", " state"))


def test_bad_arguments():
    X, y = _data()
    with pytest.raises(DataValidationError):
        audit_dpsgd(X, y, threat="grey-box", epsilon=1.0)
    with pytest.raises(DataValidationError):
        audit_dpsgd(X, y, bound="wald", epsilon=1.0)
    with pytest.raises(DataValidationError):
        audit_dpsgd(X, y, trials=1, epsilon=1.0)
    with pytest.raises(DataValidationError, match="composed"):
        audit_dpsgd(X, y, threat="hidden-state", route="composed", epsilon=1.0, steps=5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epsilon": 0.0}, "epsilon must be > 0"),
        ({"epsilon": -1.0}, "epsilon must be > 0"),
        ({"epsilon": float("nan")}, "epsilon"),
        ({"epsilon": 4.0, "delta": 1.5}, r"delta must lie in \[0, 1\)"),
        ({"epsilon": 4.0, "claimed_epsilon": 0.0}, "claimed_epsilon"),
    ],
)
def test_bad_privacy_parameters_are_refused_before_any_trial(kwargs, match):
    from privcausal.exceptions import PrivacyParameterError

    X, y = _data()
    with pytest.raises(PrivacyParameterError, match=match):
        audit_dpsgd(X, y, threat="hidden-state", trials=1000, steps=5, **kwargs)

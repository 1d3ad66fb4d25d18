"""DP-SGD accounting: PLD epsilon, opacus cross-check, calibration, infeasible targets."""

import math

import numpy as np
import pytest
import torch

from privcausal.exceptions import InfeasiblePrivacyError, PrivacyParameterError
from privcausal.privacy import accountant_epsilon
from privcausal.training import (
    NOISE_MULTIPLIER_CAP,
    calibrate_noise_multiplier,
    dpsgd_epsilon,
    dpsgd_privacy_event,
    max_steps_for,
    train_dpsgd,
)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """These tensors are tiny: a second intra-op thread only adds synchronisation, which
    costs milliseconds per operation on a busy 2-core machine. Restored afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_reference_figures_and_event():
    # REFERENCES.md, Accounting: sigma = 1, q = 0.01, T = 10000, delta = 1e-5: RDP 6.72, PLD 6.19.
    assert dpsgd_epsilon(1.0, 0.01, 10_000, 1e-5) == pytest.approx(6.19, abs=0.02)
    assert dpsgd_epsilon(1.0, 0.01, 10_000, 1e-5, "rdp") == pytest.approx(6.72, abs=0.02)
    ev = dpsgd_privacy_event(1.0, 0.01, 10_000, 1e-5)
    assert type(ev.dp_event).__name__ == "SelfComposedDpEvent"
    inner = ev.dp_event.event
    assert type(inner).__name__ == "PoissonSampledDpEvent" and inner.sampling_probability == 0.01
    assert inner.event.noise_multiplier == 1.0 and ev.dp_event.count == 10_000
    # The privacy core's accountant gives the same epsilon for the wrapped event.
    assert accountant_epsilon([ev], 1e-5) == pytest.approx(ev.epsilon)
    assert dpsgd_privacy_event(0.0, 0.1, 5, 1e-5).epsilon == math.inf


@pytest.mark.parametrize("sigma,q,steps", [(1.0, 0.01, 2000), (2.0, 0.1, 100), (0.9, 0.05, 300)])
def test_cross_check_with_opacus_accountants(sigma, q, steps):
    from opacus.accountants import PRVAccountant, RDPAccountant

    delta = 1e-5
    ours_pld = dpsgd_epsilon(sigma, q, steps, delta)
    ours_rdp = dpsgd_epsilon(sigma, q, steps, delta, "rdp")
    prv, rdp = PRVAccountant(), RDPAccountant()
    prv.history = [(sigma, q, steps)]
    rdp.history = [(sigma, q, steps)]
    # PLD and PRV are both near-exact numerical accountants; RDP is an upper bound on both.
    assert ours_pld == pytest.approx(prv.get_epsilon(delta), rel=0.03)
    assert ours_rdp == pytest.approx(rdp.get_epsilon(delta), rel=0.03)
    assert ours_pld <= ours_rdp


@pytest.mark.parametrize("sigma,q,steps", [(1.2, 0.02, 500), (4.0, 0.1, 100), (30.0, 1.0, 100)])
def test_sigma_epsilon_sigma_round_trip(sigma, q, steps):
    eps = dpsgd_epsilon(sigma, q, steps, 1e-5)
    back = calibrate_noise_multiplier(eps, 1e-5, q, steps)
    assert back == pytest.approx(sigma, rel=0.01)
    assert dpsgd_epsilon(back, q, steps, 1e-5) <= eps  # the calibrated sigma meets the target
    # ... and is close to the smallest that does.
    assert dpsgd_epsilon(back * 0.99, q, steps, 1e-5) > eps


def test_infeasible_epsilon_names_the_alternatives():
    eps, delta, q, steps = 0.01, 1e-5, 0.0064, 3125
    with pytest.raises(InfeasiblePrivacyError) as info:
        calibrate_noise_multiplier(eps, delta, q, steps)
    msg = str(info.value)
    assert "epsilon >=" in msg and "at most" in msg and "max_noise_multiplier" in msg
    cap = NOISE_MULTIPLIER_CAP
    best = max_steps_for(eps, delta, q, cap, steps)
    assert 0 < best < steps
    assert dpsgd_epsilon(cap, q, best, delta) <= eps < dpsgd_epsilon(cap, q, best + 1, delta)
    assert f"at most {best} steps" in msg
    # The stated smallest epsilon is feasible for the requested steps at the cap.
    eps_min = dpsgd_epsilon(cap, q, steps, delta)
    assert calibrate_noise_multiplier(eps_min * 1.001, delta, q, steps) <= cap
    # A larger cap makes it feasible (at a huge sigma).
    assert calibrate_noise_multiplier(eps, delta, q, steps, max_noise_multiplier=500) > cap
    # Not even one step fits.
    with pytest.raises(InfeasiblePrivacyError, match="not even one step"):
        calibrate_noise_multiplier(1e-4, delta, 1.0, 10)


def test_bad_parameters():
    assert calibrate_noise_multiplier(math.inf, 1e-5, 0.1, 10) == 0.0
    with pytest.raises(PrivacyParameterError):
        calibrate_noise_multiplier(1.0, 0.0, 0.1, 10)
    with pytest.raises(PrivacyParameterError):
        calibrate_noise_multiplier(1.0, 1e-5, 1.5, 10)
    with pytest.raises(PrivacyParameterError):
        calibrate_noise_multiplier(1.0, 1e-5, 0.1, 0)
    with pytest.raises(PrivacyParameterError):
        calibrate_noise_multiplier(0.0, 1e-5, 0.1, 10)


def test_training_refuses_an_infeasible_epsilon_before_training():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 3))
    y = (rng.random(500) < 0.5).astype(float)
    with pytest.raises(InfeasiblePrivacyError, match="epochs"):
        train_dpsgd(X, y, architecture="logistic", epsilon=0.001, delta=1e-5, epochs=50,
                    batch_size=50, random_state=0)

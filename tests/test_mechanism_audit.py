"""Our own audit harness turned on our own mechanisms.

Soundness: over the whole grid below, each audit runs at alpha = ALPHA_TOTAL / grid size, so
the probability that any correct mechanism is (falsely) flagged is at most ALPHA_TOTAL = 1e-3.
Tightness: the audits reach at least 0.8 of the claimed epsilon with the assumption-free
Clopper-Pearson bound on Laplace, and 0.75 with the Gaussian-DP route on the Gaussian (its
assumption holds for the discrete Gaussian on a 2^-20-sigma lattice to within rounding; the
zCDP calibration gives it about 7 % more noise than the analytic one, so it is more private
than its claim and the bound sits lower). The value and precision tests run at alpha/2 each.
Power: a zoo of broken mechanisms must be flagged (epsilon_lower > epsilon_theory).
"""

import math

import numpy as np
import pytest

from audits.releases.mechanism import audit_mechanism
from privcausal.exceptions import DataTypeError, DataValidationError
from privcausal.privacy import GaussianMechanism, LaplaceMechanism

EPS_GRID = (0.5, 1.0, 2.0, 4.0)
ALPHA_TOTAL = 1e-3
ALPHA = ALPHA_TOTAL / (2 * len(EPS_GRID))
DELTA = 1e-5


class Vectorised:
    """Release of a bounded sum: the true answer plus the mechanism's noise."""

    def __init__(self, mech):
        self.mech = mech

    def __call__(self, answer, random_state):
        return self.mech.randomise(answer, random_state)

    def batch(self, answer, n, random_state):
        return self.mech.randomise(np.full(n, float(answer)), random_state)


# worst case for a sum of values in [0, 1] under add/remove: the extra record holds 1
WORST_PAIR = (0.0, 1.0)


@pytest.mark.parametrize("eps", EPS_GRID)
def test_laplace_audit_is_tight_and_sound(eps):
    r = audit_mechanism(Vectorised(LaplaceMechanism(eps, 1.0)), WORST_PAIR, epsilon=eps,
                        samples=1_000_000, alpha=ALPHA, random_state=int(eps * 10))
    assert not r.violation
    assert r.ratio >= 0.8
    assert r.epsilon_lower <= r.ceiling


@pytest.mark.parametrize("eps", EPS_GRID)
def test_gaussian_audit_is_tight_and_sound(eps):
    r = audit_mechanism(Vectorised(GaussianMechanism(eps, DELTA, 1.0)), WORST_PAIR, epsilon=eps,
                        delta=DELTA, samples=1_000_000, alpha=ALPHA, method="gaussian-dp",
                        random_state=int(eps * 10) + 1)
    assert not r.violation
    assert r.ratio >= 0.75
    assert "Gaussian" in r.assumption and r.bound == "gaussian-dp" and r.tests[0].passed


# ---------------------------------------------------------------- the zoo of broken mechanisms
def broken_zoo(eps):
    """(name, mechanism, neighbouring pair) for mechanisms that spend more than eps."""

    class DataBounds:
        # "bounds read off the data": sensitivity taken as the observed max of the data, which
        # is 0 for D = [0, 0, 0] and gives no noise at all on that dataset.
        def __call__(self, data, random_state):
            s = max(data) if max(data) > 0 else 1e-3
            return LaplaceMechanism(eps, s).randomise(sum(data), random_state)

        def batch(self, data, n, random_state):
            s = max(data) if max(data) > 0 else 1e-3
            return LaplaceMechanism(eps, s).randomise(np.full(n, float(sum(data))), random_state)

    return [
        ("sensitivity halved", Vectorised(LaplaceMechanism(eps, 0.5)), WORST_PAIR),
        ("noise divided by the batch size (64)", Vectorised(LaplaceMechanism(eps * 64, 1.0)), WORST_PAIR),
        ("epsilon and scale confused (scale = eps)", Vectorised(LaplaceMechanism(1 / eps, 1.0) if eps > 1 else LaplaceMechanism(eps * 3, 1.0)), WORST_PAIR),
        ("sum of values in [0, 2] declared as [0, 1]", Vectorised(LaplaceMechanism(eps, 1.0)), (0.0, 2.0)),
        ("bounds read off the data", DataBounds(), ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0])),
        ("Gaussian with delta ignored (classical sigma / 4)",
         Vectorised(GaussianMechanism(eps * 4, DELTA, 1.0)), WORST_PAIR),
    ]


@pytest.mark.parametrize("case", range(6))
def test_broken_mechanisms_are_flagged(case):
    eps = 1.0
    name, mech, pair = broken_zoo(eps)[case]
    r = audit_mechanism(mech, pair, epsilon=eps, delta=DELTA, samples=200_000, alpha=1e-3,
                        random_state=100 + case)
    assert r.violation, f"audit missed: {name} (lower bound {r.epsilon_lower:.3f})"


def test_non_vectorised_callables_and_pair_lists():
    mech = LaplaceMechanism(1.0, 1.0)
    r = audit_mechanism(lambda d, rs: mech.randomise(d, rs), lambda: [(0.0, 1.0), (1.0, 0.0)],
                        epsilon=1.0, samples=2000, random_state=0)
    assert r.pairs == 2 and 0 <= r.epsilon_lower <= 1.0
    assert set(r.to_dict()) >= {"epsilon_theory", "epsilon_lower", "alpha", "ceiling", "threat_model"}


def test_vector_outputs_are_projected():
    mech = GaussianMechanism(2.0, DELTA, 1.0)
    pair = (np.zeros(3), np.array([1.0, 0.0, 0.0]))
    r = audit_mechanism(lambda d, rs: mech.randomise(d, rs), pair, epsilon=2.0, delta=DELTA,
                        samples=4000, random_state=0)
    assert 0.2 < r.epsilon_lower <= 2.0


def test_bad_arguments():
    m = Vectorised(LaplaceMechanism(1.0, 1.0))
    with pytest.raises(DataValidationError):
        audit_mechanism(m, WORST_PAIR, epsilon=1.0, samples=5)
    with pytest.raises(DataTypeError):
        audit_mechanism(m, [1, 2, 3], epsilon=1.0, samples=100)
    nan_mech = lambda d, rs: math.nan  # noqa: E731
    with pytest.raises(DataValidationError, match="non-finite"):
        audit_mechanism(nan_mech, WORST_PAIR, epsilon=1.0, samples=100)

"""Floating-point-safe noise: lattice releases, exact integer samplers, and the precision test.

Identities (outputs on the lattice, accounting of the rounding) and statistical tests with a
stated failure rate (fixed seeds, so each is deterministic in CI).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from audits.releases.mechanism import audit_mechanism
from privcausal.privacy import GaussianMechanism, LaplaceMechanism, make_receipt
from privcausal.privacy.discrete import (discrete_gaussian, discrete_laplace,
                                         secure_discrete_gaussian, secure_discrete_laplace)
from privcausal.privacy.lattice import LatticeGaussian, LatticeLaplace


def _on_lattice(x: np.ndarray, k: int) -> bool:
    q = np.ldexp(np.asarray(x, dtype=np.float64), -k)
    return bool(np.all(q == np.rint(q)))


@pytest.mark.parametrize("value", [0.0, 1.0, 0.1, -3.7e4, 12345.678901])
def test_laplace_outputs_lie_on_the_lattice_whatever_the_value(value):
    m = LaplaceMechanism(0.7, 2.0)
    lat = m.lattice(3)
    out = m.randomise(np.full(3, value), 5)
    assert _on_lattice(out, lat.k)
    out_secure = m.randomise(np.full(3, value))
    assert _on_lattice(out_secure, lat.k)


def test_gaussian_outputs_lie_on_the_lattice_and_symmetric_release_mirrors():
    g = GaussianMechanism(1.0, 1e-6, 1.5)
    m = np.arange(16.0).reshape(4, 4) / 7
    out = g.randomise_symmetric(m + m.T, 3)
    assert np.array_equal(out, out.T)
    assert _on_lattice(out[np.triu_indices(4)], g.lattice(10).k)


def test_rounding_is_paid_for_identities():
    for eps, sens, dim in [(0.1, 1.0, 1), (1.0, 3.0, 2), (8.0, 0.5, 50)]:
        lat = LatticeLaplace(sens / eps, sens, dim)
        assert lat.epsilon <= eps * (1 + 1e-12)
        assert lat.epsilon >= eps * (1 - 1e-5)  # the inflation is a few parts per million
    for sd, sens, dim in [(4.5, 1.0, 1), (0.3, 2.0, 1830), (100.0, 1.0, 7)]:
        lat = LatticeGaussian(sd, sens, dim)
        assert lat.rho <= sens**2 / (2 * sd**2) * (1 + 1e-12)
        assert lat.std == pytest.approx(sd, rel=1e-4)


def test_huge_values_take_the_exact_integer_path():
    m = LaplaceMechanism(50.0, 1.0)  # lattice 2^-26: 1e15 is beyond int64 in lattice steps
    out = m.randomise(np.array([1e15, -1e15, 0.5]), 1)
    assert abs(out[0] - 1e15) < 10 and abs(out[1] + 1e15) < 10


def _pmf_chi2(draws: np.ndarray, pmf) -> float:
    lo, hi = -30, 30
    x = np.clip(np.asarray(draws, dtype=np.int64), lo, hi)
    ks = np.arange(lo, hi + 1)
    p = np.array([pmf(k) for k in ks], dtype=float)
    p[0] += sum(pmf(k) for k in range(lo - 400, lo))
    p[-1] += sum(pmf(k) for k in range(hi + 1, hi + 400))
    p /= p.sum()
    obs = np.array([(x == k).sum() for k in ks])
    keep = p * len(x) >= 5
    exp = p * len(x)
    o = np.append(obs[keep], obs[~keep].sum())
    e = np.append(exp[keep], exp[~keep].sum())
    return float(stats.chisquare(o, e).pvalue)


def _dlap(t):
    return lambda k: math.exp(-abs(k) / t)


def _dgauss(s2):
    return lambda k: math.exp(-k * k / (2 * s2))


def test_seeded_samplers_draw_the_stated_distributions():
    """Chi-square goodness of fit at level 1e-4 each (4 tests: failure rate below 4e-4 for a
    correct sampler; the seeds are fixed)."""
    rng = np.random.default_rng(11)
    assert _pmf_chi2(discrete_laplace(3, 40_000, rng), _dlap(3)) > 1e-4
    assert _pmf_chi2(discrete_gaussian(9, 20_000, rng), _dgauss(9)) > 1e-4
    # secure samplers: the same distributions from OpenDP
    assert _pmf_chi2(secure_discrete_laplace(3, 40_000), _dlap(3)) > 1e-4
    assert _pmf_chi2(secure_discrete_gaussian(9, 20_000), _dgauss(9)) > 1e-4


def test_scalar_path_for_small_draws_draws_the_stated_distributions():
    """Draws of at most SMALL values go through the scalar Python-integer samplers; the same
    chi-square tests at level 1e-4 each (failure rate below 2e-4; fixed seed)."""
    rng = np.random.default_rng(12)
    lap = np.concatenate([discrete_laplace(3, 100, rng) for _ in range(400)])
    assert _pmf_chi2(lap, _dlap(3)) > 1e-4
    gau = np.concatenate([discrete_gaussian(9, 100, rng) for _ in range(200)])
    assert _pmf_chi2(gau, _dgauss(9)) > 1e-4


def test_seeded_laplace_has_full_support():
    """Every integer near the centre is reached (numpy's float Laplace reaches a sparse set)."""
    z = discrete_laplace(8, 200_000, np.random.default_rng(2))
    # each of these integers has probability >= 3e-4: all are missed with probability < 1e-20
    assert set(range(-40, 41)) <= set(z.tolist())


def test_mixed_laplace_and_gaussian_receipt_is_counted_in_zcdp():
    lap = LaplaceMechanism(0.5, 1.0).event("a")
    gau = GaussianMechanism(0.5, 1e-6, 1.0).event("b")
    r = make_receipt("x", [lap, gau], noise="seeded")
    assert r.epsilon <= 1.0 + 1e-9  # never above basic composition
    # two releases: basic composition is the tighter statement, and it is what is named
    assert r.accountant == "basic composition" and r.epsilon == pytest.approx(1.0)
    many = [GaussianMechanism(0.5, 1e-7, 1.0).event(f"g{i}") for i in range(20)]
    r = make_receipt("x", many, noise="seeded", delta=2e-6)
    assert "zCDP" in r.accountant and r.epsilon < 10.0


# --------------------------------------------------------------------------- the precision test
class _FloatLaplace:
    """The old release: value + scale * numpy Laplace, in doubles."""

    def __call__(self, data, random_state):  # pragma: no cover - batch is used
        return self.batch(data, 1, random_state)[0]

    def batch(self, data, n, random_state):
        return data + np.random.default_rng(random_state).laplace(0.0, 1.0, n)


class _Lattice:
    def __init__(self, mech):
        self.mech = mech

    def __call__(self, data, random_state):
        return self.mech.randomise(data, random_state)

    def batch(self, data, n, random_state):
        return self.mech.randomise(data, random_state, dim=1, size=(n,))


def test_precision_test_flags_the_float_release_and_passes_the_lattice_one():
    """Clopper-Pearson bounds at alpha = 0.05 (the value and precision tests at 0.025 each): a
    false violation has probability at most 0.05; the seed is fixed."""
    old = audit_mechanism(_FloatLaplace(), (0.0, 1.0), epsilon=1.0, samples=60_000, random_state=1)
    assert old.violation and old.precision_lower > 3.0
    assert "precision test" in old.test
    new = audit_mechanism(_Lattice(LaplaceMechanism(1.0, 1.0)), (0.0, 1.0), epsilon=1.0,
                          samples=60_000, random_state=1)
    assert not new.violation and new.precision_lower <= 1.0
    off = audit_mechanism(_FloatLaplace(), (0.0, 1.0), epsilon=1.0, samples=20_000,
                          random_state=1, precision=False)
    assert off.precision_lower is None and not off.violation


def test_precision_test_passes_the_lattice_gaussian():
    g = GaussianMechanism(1.0, 1e-5, 1.0)
    res = audit_mechanism(_Lattice(g), (0.0, 1.0), epsilon=1.0, delta=1e-5, samples=4_000,
                          random_state=2)
    assert not res.violation and res.precision_lower <= 1.0


def _float_release(self, value, noise, size=()):
    """What releases were before: value + scale * numpy Laplace, in doubles."""
    arr = np.broadcast_to(np.asarray(value, dtype=np.float64), tuple(size) + np.shape(value))
    out = arr + self.scale * noise._rng.laplace(0.0, 1.0, arr.shape)
    return out if out.shape else float(out)


def test_precision_test_flags_the_old_float_dim_release(monkeypatch):
    """The difference in means' published noisy sums, released in doubles as before: the
    precision test certifies far above the claim (Clopper-Pearson at alpha 0.05)."""
    from audits.releases.estimator_audit import audit_release

    monkeypatch.setattr(LatticeLaplace, "release", _float_release)
    r = audit_release("dim", 2.0, samples=40_000, random_state=3)
    assert r.audit.violation and r.audit.precision_lower > 2.5


@pytest.mark.parametrize("name,samples", [("dim", 40_000), ("regression-adjusted", 2_000),
                                          ("ipw-ht", 800)])
def test_precision_test_on_each_estimators_released_statistics(name, samples):
    """Every estimator audit runs the precision test on the raw released statistics; on the
    lattice releases it certifies at most the receipt's epsilon (each audit: a false violation
    with probability at most alpha = 0.05; seeds fixed)."""
    from audits.releases.estimator_audit import audit_release

    r = audit_release(name, 2.0, samples=samples, random_state=4)
    assert r.audit.precision_lower is not None
    assert r.audit.precision_lower <= r.audit.epsilon_theory
    assert not r.audit.violation


def test_simulation_noise_draws_the_lattice_distributions_and_never_a_release():
    # SimulationNoise (interval bootstraps only) draws the discrete Laplace exactly (difference
    # of geometrics) and the discrete Gaussian as a rounded normal. Moments against the exact
    # seeded samplers' targets, 200,000 draws: the variance's standard error is under 1 % of it,
    # so a 5 % tolerance fails by chance with probability below 1e-6.
    from privcausal.privacy.random import NoiseSource, SimulationNoise

    sim = SimulationNoise(0)
    for t in (1, 7, 400):
        z = sim.discrete_laplace(t, 200_000)
        q = math.exp(-1.0 / t)
        assert z.dtype == np.int64 and abs(z.mean()) < 0.05 * math.sqrt(2 * q) / (1 - q)
        assert z.var() == pytest.approx(2 * q / (1 - q) ** 2, rel=0.05)
    for s2 in (50, 2**40):
        z = sim.discrete_gaussian(s2, 200_000)
        assert z.dtype == np.int64 and z.var() == pytest.approx(s2, rel=0.05)
    assert isinstance(sim, NoiseSource) and not sim.secure and "simulation" in sim.description

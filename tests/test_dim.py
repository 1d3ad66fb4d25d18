"""DifferenceInMeans: exact twin, release definition, accounting, a DP histogram check, intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from privcausal.data import CausalData
from privcausal.domain import Domain, Numeric, OutcomeBounds
from privcausal.estimators.dim import (
    DifferenceInMeans, arm_means, moment_plan, release_counts, release_sums,
)
from privcausal.exceptions import DataValidationError, PrivacyParameterError
from privcausal.privacy import noise_source

from .dp_check import dp_violation


def _data(n=600, binary=False, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n)
    t = rng.integers(0, 2, n)
    if binary:
        y = (rng.random(n) < 0.3 + 0.2 * t).astype(float)
        out = OutcomeBounds(0, 1, binary=True)
    else:
        y = np.clip(2 + t + x + rng.normal(0, 1, n), -5, 10)
        out = OutcomeBounds(-5, 10)
    return CausalData(pd.DataFrame({"x": x}), t, y, Domain({"x": Numeric(0, 1)}, out))


def test_twin_is_the_exact_difference_in_means():
    d = _data()
    est = DifferenceInMeans(epsilon=math.inf, random_state=0).fit(d)
    y, t = d.outcome, d.treatment
    assert est.ate_ == pytest.approx(y[t == 1].mean() - y[t == 0].mean(), abs=1e-12)
    assert not est.privacy_.is_private
    lo, hi = est.ate_interval()
    assert lo < est.ate_ < hi


@pytest.mark.parametrize("binary", [False, True])
def test_release_follows_its_definition(binary):
    """Replaying the seeded noise by hand gives the released estimate."""
    d = _data(binary=binary)
    eps = 0.7
    est = DifferenceInMeans(epsilon=eps, n_bootstrap=0, random_state=11).fit(d)
    from privcausal.privacy import LaplaceMechanism, noise_source

    noise = noise_source(np.random.default_rng(11))
    y, t = d.outcome, d.treatment
    c, b = d.domain.outcome.center, d.domain.outcome.width / 2
    u = [y[t == a] - c for a in (0, 1)]
    e_count = 0.2 * eps
    e_rest = eps - e_count
    e_sq = 0.0 if binary else 0.1 * e_rest
    # each arm's count and sum are one-coordinate lattice releases (the arms are disjoint)
    m_count, m_sum = LaplaceMechanism(e_count, 1.0), LaplaceMechanism(e_rest - e_sq, b)
    n_noisy = m_count.randomise(np.array([len(u[0]), len(u[1])], float), noise, dim=1)
    s_noisy = m_sum.randomise(np.array([u[0].sum(), u[1].sum()]), noise, dim=1)
    for v, mech in ((n_noisy, m_count), (s_noisy, m_sum)):  # on the lattice: no float residue
        q = np.ldexp(v, -mech.lattice(1).k)
        assert np.array_equal(q, np.rint(q))
    m = np.clip(s_noisy / n_noisy, -b, b)
    assert est.ate_ == pytest.approx(m[1] - m[0], rel=1e-12)
    np.testing.assert_allclose(est.n_noisy_, n_noisy)
    np.testing.assert_allclose(est.arm_means_, m + c)


@pytest.mark.parametrize("binary", [False, True])
def test_receipt_spends_exactly_the_budget(binary):
    d = _data(binary=binary)
    est = DifferenceInMeans(epsilon=1.3, n_bootstrap=0, random_state=1).fit(d)
    r = est.privacy_
    assert r.epsilon == pytest.approx(1.3) and r.epsilon <= 1.3 * (1 + 1e-12)
    assert r.delta == 0.0
    labels = [e.label for e in r.events]
    assert len(labels) == (2 if binary else 3)
    b = d.domain.outcome.width / 2
    sens = [e.sensitivity for e in r.events]
    assert sens == pytest.approx([1.0, b] + ([] if binary else [b * b / 2]))
    for e in r.events:  # each arm got the whole (share of the) budget: parallel composition
        assert len(e.parts) == 2 and all(p.epsilon == e.epsilon for p in e.parts)
    assert sum(e.epsilon for e in r.events) == pytest.approx(1.3)
    assert "seeded" in r.noise


def test_release_passes_a_dp_histogram_check_on_worst_case_neighbours():
    """Add one treated record at the top of the outcome domain to a tiny data set.

    The check (tests/dp_check.py) fails a truly epsilon-DP mechanism with probability
    <= 1e-3; the same outputs must fail it at a quarter of the claimed epsilon (power).
    """
    eps, b = 1.0, 5.0
    plan = moment_plan(eps, count_share=0.2, var_share=0.1, bound=b, binary=False)
    n = np.array([6.0, 5.0])
    su = np.array([0.0, -10.0])
    suu = np.array([20.0, 30.0])
    size = 200_000

    def ate(n, su, suu, seed):
        noise = noise_source(np.random.default_rng(seed))
        nn = release_counts(n, plan, noise, (size,))
        ss, _ = release_sums(n, nn, su, suu, plan, noise, (size,))
        m = arm_means(nn, ss, b)
        return m[:, 1] - m[:, 0]

    out_d = ate(n, su, suu, 1)
    out_dp = ate(n + [0, 1], su + [0, b], suu + [0, b * b], 2)
    assert dp_violation(out_d, out_dp, eps, 0.0) <= 0
    assert dp_violation(out_d, out_dp, eps / 4, 0.0) > 0


def test_fit_stats_gives_the_same_release():
    from privcausal.estimators.sufficient import compute_stats

    d = _data()
    Z = np.column_stack([np.ones(d.n), d.X])
    stats = compute_stats(Z[:300], d.treatment[:300], d.outcome[:300])
    stats = stats + compute_stats(Z[300:], d.treatment[300:], d.outcome[300:])
    a = DifferenceInMeans(epsilon=1.0, n_bootstrap=100, random_state=9).fit(d)
    b = DifferenceInMeans(epsilon=1.0, n_bootstrap=100, random_state=9).fit_stats(stats, d.domain)
    assert b.ate_ == pytest.approx(a.ate_, rel=1e-10) and b.diagnostics_ == a.diagnostics_
    assert b.diagnostics_.records == d.n and b.diagnostics_.treated == d.n_treated
    np.testing.assert_allclose(b.ate_draws_, a.ate_draws_, rtol=1e-8, atol=1e-10)


def test_interval_is_the_basic_bootstrap_interval_and_narrows_with_epsilon():
    d = _data(n=2000)
    widths = []
    for eps in (0.3, 3.0, math.inf):
        est = DifferenceInMeans(epsilon=eps, n_bootstrap=1000, random_state=5).fit(d)
        lo, hi = est.ate_interval(0.1)
        qlo, qhi = np.quantile(est.ate_draws_, [0.05, 0.95])
        assert (lo, hi) == pytest.approx((est.ate_ - qhi, est.ate_ - qlo))
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2] > 0


def test_without_sum_of_squares_the_variance_is_the_widest_the_domain_allows():
    d = _data(n=2000)
    narrow = DifferenceInMeans(epsilon=4.0, random_state=2).fit(d)
    wide = DifferenceInMeans(epsilon=4.0, var_share=0.0, random_state=2).fit(d)
    assert len(wide.privacy_.events) == 2
    w = lambda e: np.subtract(*e.ate_interval()[::-1])  # noqa: E731
    assert w(wide) > w(narrow)


@pytest.mark.parametrize("kwargs", [dict(count_share=0.0), dict(count_share=1.0), dict(var_share=1.0),
                                    dict(epsilon=0.0), dict(n_bootstrap=-1)])
def test_bad_parameters_raise(kwargs):
    with pytest.raises((PrivacyParameterError, TypeError, ValueError)):
        DifferenceInMeans(**kwargs).fit(_data(n=50))


def test_one_arm_raises():
    d = _data(n=50)
    one = CausalData(d.covariates, np.ones(50, dtype=int), d.outcome, d.domain)
    with pytest.raises(DataValidationError):
        DifferenceInMeans().fit(one)

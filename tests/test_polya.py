"""Pólya shares of the discrete Laplace (:mod:`privcausal.privacy.polya`): exact distributions,
the share-alone bound, the lattice they are drawn on, and our audit harness on them.

The distribution tests are chi-square tests at level 1e-3 on seeded streams (deterministic
here; under a correct sampler each would fail for 1 seed in 1,000); the variance test is a
5-sigma band (about 1 seed in 10^6). The secure-stream test draws
from the OS CSPRNG: it fails with probability 1e-4 when the sampler is right.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from privcausal.privacy.lattice import LatticeLaplace
from privcausal.privacy.polya import (SHARE_LATTICE_BITS, ShareNoise, log_share_ratio,
                                      negative_binomial_shares, polya_shares, share_epsilon)
from privcausal.privacy.random import NoiseSource


def _chi2_p(draws: np.ndarray, support: np.ndarray, pmf: np.ndarray) -> float:
    """Chi-square p-value of ``draws`` against ``pmf`` on ``support`` plus one cell for the rest."""
    n = draws.size
    obs = np.array([(draws == k).sum() for k in support], dtype=float)
    exp = pmf * n
    rest_o, rest_e = n - obs.sum(), n - exp.sum()
    chi = float(((obs - exp) ** 2 / exp).sum() + (rest_o - rest_e) ** 2 / rest_e)
    return float(stats.chi2.sf(chi, len(support)))


def _laplace_pmf(t: int, ks: np.ndarray) -> np.ndarray:
    q = math.exp(-1.0 / t)
    return (1 - q) / (1 + q) * q ** np.abs(ks)


@pytest.mark.parametrize("h,t", [(2, 3), (3, 5), (8, 3), (39, 2)])
def test_one_share_is_a_negative_binomial_of_shape_one_over_h(h, t):
    nb = negative_binomial_shares(t, h, 60_000, NoiseSource(100 + h))
    ks = np.arange(0, 12)
    assert _chi2_p(nb, ks, stats.nbinom.pmf(ks, 1.0 / h, 1 - math.exp(-1.0 / t))) > 1e-3


@pytest.mark.parametrize("h", [1, 2, 3, 8])
def test_h_shares_add_up_to_the_discrete_laplace(h):
    t, n = 3, 40_000
    s = polya_shares(t, h, n * h, NoiseSource(7 + h)).reshape(n, h).sum(axis=1)
    ks = np.arange(-12, 13)
    assert _chi2_p(s, ks, _laplace_pmf(t, ks)) > 1e-3


def test_more_shares_than_h_only_add_noise():
    """a > h shares: NB(a/h) differences, variance a/h times the discrete Laplace's."""
    t, h, a, n = 4, 3, 6, 40_000
    s = polya_shares(t, h, n * a, NoiseSource(3)).reshape(n, a).sum(axis=1)
    q = math.exp(-1.0 / t)
    var_laplace = 2 * q / (1 - q) ** 2
    # the sample variance of n draws: a 5-sigma band (its sd is about 2.4 var / sqrt(n) here)
    assert abs(s.var() / (var_laplace * a / h) - 1) < 5 * 2.5 / math.sqrt(n)


def test_the_secure_stream_draws_the_same_distribution():
    """The OS CSPRNG path (no seed): chi-square at level 1e-4 on 8 shares' sums."""
    t, h, n = 3, 8, 20_000
    s = polya_shares(t, h, n * h, NoiseSource(None)).reshape(n, h).sum(axis=1)
    ks = np.arange(-10, 11)
    assert _chi2_p(s, ks, _laplace_pmf(t, ks)) > 1e-4
    assert s.dtype == np.int64


def _nb_diff_pmf(t: int, h: int, top: int) -> tuple[np.ndarray, np.ndarray]:
    ks = np.arange(0, top)
    p = stats.nbinom.pmf(ks, 1.0 / h, 1 - math.exp(-1.0 / t))
    d = np.convolve(p, p[::-1])  # P(A - B = z), z = -(top-1) .. top-1
    return np.arange(-(top - 1), top), d


@pytest.mark.parametrize("h,t,D", [(2, 3, 1), (3, 4, 2), (8, 2, 3), (39, 3, 1)])
def test_share_alone_bound_holds_on_the_exact_pmf(h, t, D):
    """The largest log ratio of a share's pmf under an integer shift of D (computed from the
    exact pmf, away from the truncated tails) is at most D / t + ln f(D), and attained near 0."""
    z, p = _nb_diff_pmf(t, h, 400)
    mid = np.abs(z) <= 40
    worst = float(np.max(np.abs(np.log(p[mid]) - np.log(np.roll(p, -D)[mid]))))
    bound = D / t + log_share_ratio(D, h)
    assert worst <= bound + 1e-9
    assert worst >= 0.8 * bound  # the bound is not loose by much: it is reached at 0


def test_share_epsilon_is_the_lattice_epsilon_for_one_honest_site_and_grows_with_h():
    lat = LatticeLaplace(20.0, 1.0, 1, bits=SHARE_LATTICE_BITS)
    assert share_epsilon(lat, 1) == lat.epsilon
    assert lat.epsilon <= 1.0 / 20.0 + 1e-15
    e = [share_epsilon(lat, h) for h in (2, 8, 39)]
    assert lat.epsilon < e[0] < e[1] < e[2]


def test_share_noise_moves_the_release_to_the_share_lattice():
    """A lattice Laplace released with :class:`ShareNoise` lands on the coarser share lattice
    (about 2^10 steps per scale), whose rounding is paid in t: its epsilon stays at most the
    mechanism's."""
    fine = LatticeLaplace(3.0, 1.0, 1)
    coarse = LatticeLaplace(3.0, 1.0, 1, bits=SHARE_LATTICE_BITS)
    assert coarse.k == fine.k + 10 and coarse.epsilon <= 1.0 / 3.0
    assert 2**10 <= coarse.t < 2**11 * (1 + 2**-9)
    out = fine.release(np.full(50, 0.3), ShareNoise(NoiseSource(1), 4))
    steps = out / 2.0**coarse.k
    assert np.array_equal(steps, np.rint(steps))


@pytest.mark.parametrize("samples", [5_000, pytest.param(100_000, marks=pytest.mark.slow)])
def test_audit_of_h_shares_is_at_or_below_the_claim_and_one_share_alone_is_flagged(samples):
    """Our audit harness on a count released as the sum of h = 4 Pólya shares (t = 2: a
    0.5-DP count, 0.5 + 1 lattice step with rounding): no violation of the claim. The negative
    control, one share seen alone claimed at the central epsilon, is flagged."""
    from audits.releases.mechanism import audit_mechanism

    t, h = 2, 4
    claim = 1.0 / t

    def summed(data, random_state):
        return float(data + polya_shares(t, h, h, NoiseSource(random_state)).sum())

    def alone(data, random_state):
        return float(data + polya_shares(t, h, 1, NoiseSource(random_state))[0])

    ok = audit_mechanism(summed, (0, 1), epsilon=claim, samples=samples, random_state=0,
                         precision=False)
    assert not ok.violation and ok.epsilon_lower <= claim
    bad = audit_mechanism(alone, (0, 1), epsilon=claim, samples=samples, random_state=0,
                          precision=False)
    assert bad.violation

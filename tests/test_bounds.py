"""Tests of audits.bounds.multi_run by identities, independent recomputation and seeded statistics.

Every statistical test seeds its own generator and states the probability that it fails when
the code is right.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import optimize, stats

from audits.bounds import multi_run as B
from audits.bounds import one_run as R
from privcausal.exceptions import DataTypeError, DataValidationError, PrivacyParameterError

DELTA = 1e-5


def mu_for(eps: float, delta: float) -> float:
    """mu whose GDP curve has epsilon = eps at delta, by root finding on the plain formula."""
    d = lambda m: stats.norm.cdf(-eps / m + m / 2) - math.exp(eps) * stats.norm.cdf(-eps / m - m / 2)
    return optimize.brentq(lambda m: d(m) - delta, 0.05, 20, xtol=1e-13)


MU4 = mu_for(4.0, DELTA)  # 0.92493...: the Gaussian pair whose (eps, 1e-5) curve has eps = 4


def cp_recompute(fp, n_out, fn, n_in, a_fp, a_fn, delta):
    """Clopper-Pearson bound, both directions, from scipy.stats.beta quantiles."""
    up = lambda k, n, a: 1.0 if k == n else stats.beta.ppf(1 - a, k + 1, n - k)
    fpr, fnr = up(fp, n_out, a_fp), up(fn, n_in, a_fn)
    e1 = math.log(1 - fnr - delta) - math.log(fpr) if 1 - fnr - delta > 0 else -math.inf
    e2 = math.log(1 - fpr - delta) - math.log(fnr) if 1 - fpr - delta > 0 else -math.inf
    return max(e1, e2, 0.0)


def binom_acceptance(n_reps: int, rate: float, fail: float = 1e-3) -> int:
    """Largest count of Bin(n_reps, rate) reached with probability >= fail: a valid procedure
    (exceedance rate <= rate) exceeds it with probability at most ``fail``."""
    return int(stats.binom.isf(fail, n_reps, rate))


# ------------------------------------------------------------------ Clopper-Pearson
@pytest.mark.parametrize("n", [1, 10, 1000])
def test_cp_upper_is_the_binomial_tail(n):
    k = np.arange(n + 1)
    ub = B.clopper_pearson_upper(k, n, 0.025)
    inner = k < n
    assert np.allclose(stats.binom.cdf(k[inner], n, ub[inner]), 0.025, rtol=1e-8)
    assert np.allclose(ub[inner], stats.beta.ppf(0.975, k[inner] + 1, n - k[inner]), rtol=1e-10)
    assert ub[-1] == 1.0


def test_cp_bound_matches_recomputation_both_directions():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n_out, n_in = rng.integers(1, 3000, size=2)
        fp, fn = rng.integers(0, n_out + 1), rng.integers(0, n_in + 1)
        delta = rng.choice([0.0, 1e-5, 1e-2])
        res = B.clopper_pearson_bound(int(fp), int(n_out), int(fn), int(n_in), delta=delta)
        want = cp_recompute(fp, n_out, fn, n_in, 0.025, 0.025, delta)
        assert res.epsilon_lower == pytest.approx(want, rel=1e-9, abs=1e-12)
    # the TNR/FNR direction is the one that counts here: few false negatives, many false positives
    res = B.clopper_pearson_bound(500, 1000, 0, 1000, delta=0.0)
    fpr, fnr = stats.beta.ppf(0.975, 501, 500), 1 - 0.025 ** (1 / 1000)
    assert res.epsilon_lower == pytest.approx(math.log(1 - fpr) - math.log(fnr), rel=1e-9)
    assert res.epsilon_lower > math.log(1 - fnr) - math.log(fpr) + 3


def test_cp_monotone_in_counts_delta_alpha():
    grid = range(0, 101, 5)
    eps = np.array([[B.clopper_pearson_bound(fp, 100, fn, 100, delta=0).epsilon_lower for fn in grid]
                    for fp in grid])
    assert (np.diff(eps, axis=0) <= 1e-12).all() and (np.diff(eps, axis=1) <= 1e-12).all()
    by_delta = [B.clopper_pearson_bound(1, 500, 3, 500, delta=d).epsilon_lower for d in (0, 1e-3, 0.1)]
    assert by_delta[0] > by_delta[1] > by_delta[2]
    by_alpha = [B.clopper_pearson_bound(1, 500, 3, 500, delta=0, alpha=a).epsilon_lower
                for a in (0.01, 0.05, 0.2)]
    assert by_alpha[0] < by_alpha[1] < by_alpha[2]


@pytest.mark.parametrize("n, approx", [(100, 3.3), (1000, 5.6), (10000, 7.9)])
def test_ceiling_values_and_perfect_attack(n, approx):
    c = B.ceiling(n, n, delta=DELTA)
    u = 1 - 0.025 ** (1 / n)
    assert c == pytest.approx(math.log(1 - u - DELTA) - math.log(u), rel=1e-10)
    # log(N / log(2/alpha)) is the first-order form; the neglected terms are O(log(2/alpha) / N)
    assert abs(c - math.log(n / math.log(40))) < 2 * math.log(40) / n
    assert round(c, 1) == approx
    perfect = B.clopper_pearson_bound(0, n, 0, n, delta=DELTA)
    assert perfect.epsilon_lower == perfect.ceiling == c


def test_nothing_exceeds_the_ceiling_and_perfect_scores_reach_it():
    rng = np.random.default_rng(1)
    for fp, fn in rng.integers(0, 200, size=(50, 2)):
        r = B.clopper_pearson_bound(int(fp), 200, int(fn), 200, delta=DELTA)
        assert r.epsilon_lower <= r.ceiling
    s_in, s_out = rng.normal(10, 1, 300), rng.normal(0, 1, 300)
    for method in ("clopper-pearson", "gaussian-dp"):
        for sel in ("bonferroni", "split"):
            r = B.bound_from_scores(s_in, s_out, delta=DELTA, method=method, selection=sel,
                                    random_state=2)
            assert r.epsilon_lower == pytest.approx(r.ceiling, rel=1e-12)
    bonf = B.bound_from_scores(s_in, s_out, delta=DELTA)
    assert bonf.ceiling == pytest.approx(B.ceiling(300, 300, delta=DELTA, n_tests=300))


# ------------------------------------------------------------- threshold selection
def test_bonferroni_recomputed_over_a_fixed_grid_and_over_all_thresholds():
    rng = np.random.default_rng(3)
    s_in, s_out = rng.normal(1.5, 1, 400), rng.normal(0, 1, 300)
    grid = np.linspace(-1, 3, 9)
    res = B.bound_from_scores(s_in, s_out, delta=DELTA, thresholds=grid)
    want = max(cp_recompute((s_out >= t).sum(), 300, (s_in < t).sum(), 400, 0.025 / 9,
                            0.025 / 9, DELTA) for t in grid)
    assert res.epsilon_lower == pytest.approx(want, rel=1e-9)
    assert "9 thresholds" in res.threshold_selection
    every = B.bound_from_scores(s_in, s_out, delta=DELTA)
    pooled = np.unique(np.r_[s_in, s_out])
    want = max(cp_recompute((s_out >= t).sum(), 300, (s_in < t).sum(), 400, 0.025 / 300,
                            0.025 / 400, DELTA) for t in pooled)
    assert every.epsilon_lower == pytest.approx(want, rel=1e-9)
    assert every.counts["fp"] == (s_out >= every.threshold).sum()


def test_split_uses_only_the_held_out_half_and_fixed_matches_counts():
    rng = np.random.default_rng(4)
    s_in, s_out = rng.normal(1.5, 1, 101), rng.normal(0, 1, 80)
    res = B.bound_from_scores(s_in, s_out, delta=DELTA, selection="split", random_state=11)
    again = B.bound_from_scores(s_in, s_out, delta=DELTA, selection="split", random_state=11)
    assert res == again and "held-out" in res.threshold_selection
    g = np.random.default_rng(11)
    ev_in, ev_out = s_in[g.permutation(101)[50:]], s_out[g.permutation(80)[40:]]
    assert (res.n_in, res.n_out) == (51, 40)
    fixed = B.bound_from_scores(ev_in, ev_out, delta=DELTA, selection="fixed", threshold=res.threshold)
    assert fixed.epsilon_lower == res.epsilon_lower
    fp, fn = int((ev_out >= res.threshold).sum()), int((ev_in < res.threshold).sum())
    assert fixed.epsilon_lower == B.clopper_pearson_bound(fp, 40, fn, 51, delta=DELTA).epsilon_lower


# ---------------------------------------------------------------------- Gaussian DP
def test_gdp_conversion_against_high_precision_bisection_and_diffprivlib():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    for mu in (0.3, 0.92, 2.0, 5.0):
        for delta in (1e-3, 1e-5, 1e-9):
            f = lambda e: (mpmath.ncdf(-e / mu + mu / 2)
                           - mpmath.e ** e * mpmath.ncdf(-e / mu - mu / 2) - delta)
            lo, hi = mpmath.mpf(0), mpmath.mpf(100)
            if f(lo) <= 0:
                assert B.gdp_epsilon(mu, delta) == 0.0
                continue
            for _ in range(120):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
            assert B.gdp_epsilon(mu, delta) == pytest.approx(float(lo), rel=1e-8, abs=1e-10)
    from privcausal.privacy.mechanisms import analytic_gaussian_sigma as gaussian_sigma

    for eps in (0.5, 1.0, 4.0, 8.0):  # the analytic Gaussian mechanism is 1/sigma-GDP
        assert B.gdp_epsilon(1 / gaussian_sigma(eps, DELTA), DELTA) == pytest.approx(eps, rel=1e-6)
    assert MU4 == pytest.approx(0.92493, abs=5e-5)
    assert B.gdp_delta(4.0, MU4) == pytest.approx(DELTA, rel=1e-9)


def test_gdp_bound_matches_recomputation_and_says_its_assumption():
    for fp, fn, n in [(30, 200, 1000), (0, 0, 100), (400, 450, 1000), (5, 900, 1000)]:
        res = B.gaussian_dp_bound(fp, n, fn, n, delta=DELTA)
        fpr, fnr = (1.0 if k == n else stats.beta.ppf(0.975, k + 1, n - k) for k in (fp, fn))
        mu = max(0.0, stats.norm.ppf(1 - fpr) - stats.norm.ppf(fnr))
        assert res.mu_lower == pytest.approx(mu, rel=1e-8, abs=1e-12)
        want = 0.0 if mu == 0 or B.gdp_delta(0, mu) <= DELTA else optimize.brentq(
            lambda e: stats.norm.cdf(-e / mu + mu / 2) - math.exp(e) * stats.norm.cdf(-e / mu - mu / 2)
            - DELTA, 0, 60, xtol=1e-12)
        assert res.epsilon_lower == pytest.approx(want, rel=1e-7, abs=1e-9)
        assert "Gaussian" in res.assumption and res.method == "gaussian-dp"
    with pytest.raises(PrivacyParameterError):
        B.gaussian_dp_bound(1, 10, 1, 10, delta=0.0)


# -------------------------------------------------------------- calibration (seeded)
# Optimal distinguisher on N(0, 1) vs N(MU4, 1), delta = 1e-5, Bonferroni over 20 thresholds
# fixed before simulating. The reference values ("about 1.0 / 2.9 at 1000 runs per world,
# 1.7 / 3.6 at 10000", Nasr et al. 2023) are given to one decimal; the band is +-0.15.
GRID = np.linspace(-1.0, 3.0, 20)
REFERENCE = {(1000, "clopper-pearson"): 1.0, (1000, "gaussian-dp"): 2.9,
             (10000, "clopper-pearson"): 1.7, (10000, "gaussian-dp"): 3.6}
BAND = 0.15


@pytest.mark.parametrize("n, method", list(REFERENCE))
def test_calibration_typical_outcome(n, method):
    """Deterministic: the bound at the binomial-median counts of each grid threshold."""
    fp = stats.binom.median(n, stats.norm.sf(GRID)).astype(int)
    fn = stats.binom.median(n, stats.norm.cdf(GRID - MU4)).astype(int)
    a = 0.025 / GRID.size
    up = lambda k: B.clopper_pearson_upper(k, n, a)  # noqa: E731
    if method == "clopper-pearson":
        typical = B._eps_cp(up(fp), up(fn), DELTA).max()
    else:
        typical = B.gdp_epsilon(B._mu_gdp(up(fp), up(fn)).max(), DELTA)
    assert abs(typical - REFERENCE[(n, method)]) <= BAND


@pytest.mark.parametrize("n, reps", [(1000, 101), (10000, 31)])
def test_calibration_simulated_median(n, reps):
    """The sample median's distribution-free 99.9 % interval (order statistics of Bin(reps,
    1/2)) must meet the reference band: fails with probability <= 0.001 per method when the
    true median lies in the band."""
    rng = np.random.default_rng(20230807 + n)
    sims = {m: [] for m in ("clopper-pearson", "gaussian-dp")}
    for _ in range(reps):
        s_in, s_out = rng.normal(MU4, 1, n), rng.normal(0, 1, n)
        for m in sims:
            sims[m].append(B.bound_from_scores(s_in, s_out, delta=DELTA, method=m,
                                               thresholds=GRID).epsilon_lower)
    lo_i = int(stats.binom.ppf(0.0005, reps, 0.5))
    hi_i = int(stats.binom.isf(0.0005, reps, 0.5))
    for m, vals in sims.items():
        v = np.sort(vals)
        ref = REFERENCE[(n, m)]
        assert v[lo_i] <= ref + BAND and v[min(hi_i, reps - 1)] >= ref - BAND, (m, np.median(v))


# ---------------------------------------------------------------- soundness (seeded)
def test_soundness_randomized_response_counts():
    """RR at eps = 1 is exactly eps-DP; with alpha = 0.25 the bound may exceed 1 in at most 25 %
    of repetitions. Fails with probability <= 0.001 if the bound is valid."""
    rng = np.random.default_rng(7)
    eps, n, reps, alpha = 1.0, 200, 2000, 0.25
    p_wrong = 1 / (1 + math.exp(eps))
    fps, fns = rng.binomial(n, p_wrong, reps), rng.binomial(n, p_wrong, reps)
    over = sum(B.clopper_pearson_bound(int(a), n, int(b), n, delta=0.0, alpha=alpha).epsilon_lower > eps
               for a, b in zip(fps, fns))
    assert over <= binom_acceptance(reps, alpha)


@pytest.mark.parametrize("selection", ["bonferroni", "split"])
@pytest.mark.parametrize("mechanism", ["laplace", "gaussian"])
def test_soundness_from_scores(selection, mechanism):
    """Scores are mechanism outputs on neighbouring inputs 0 and 1 (sensitivity 1): Laplace with
    scale 1 is 1-DP (CP route, delta 0); Gaussian with sigma 1 is 1-GDP (GDP route, true eps
    at 1e-5). Exceedances over the true epsilon are accepted up to the Bin(reps, alpha)
    quantile at 0.999."""
    rng = np.random.default_rng(8 + len(selection) + len(mechanism))
    reps, n, alpha = 200, 300, 0.25
    if mechanism == "laplace":
        draw, method, delta, true_eps = (lambda c: c + rng.laplace(0, 1, n)), "clopper-pearson", 0.0, 1.0
    else:
        draw, method, delta = (lambda c: c + rng.normal(0, 1, n)), "gaussian-dp", DELTA
        true_eps = B.gdp_epsilon(1.0, DELTA)
    over = sum(B.bound_from_scores(draw(1.0), draw(0.0), delta=delta, alpha=alpha, method=method,
                                   selection=selection, random_state=rng).epsilon_lower > true_eps
               for _ in range(reps))
    assert over <= binom_acceptance(reps, alpha)


# ------------------------------------------------------------------------ one run
def steinke_p_exact(eps, m, r, v, delta):
    """The same p-value from explicit binomial sums (math.comb)."""
    q = math.exp(eps) / (1 + math.exp(eps))
    pmf = [math.comb(r, j) * q**j * (1 - q) ** (r - j) for j in range(r + 1)]
    beta = sum(pmf[v:])
    alpha = max((sum(pmf[v - i:v]) / i for i in range(1, v + 1)), default=0.0)
    return min(1.0, beta + alpha * delta * 2 * m)


def test_one_run_p_value_identities():
    for r, v in [(10, 7), (50, 40), (30, 30), (20, 3)]:
        assert R.one_run_p_value(0.0, m=100, r=r, v=v, delta=0.0) == pytest.approx(
            stats.binom.sf(v - 1, r, 0.5), rel=1e-12)
        for eps in (0.0, 0.7, 2.5):
            for delta in (0.0, 1e-5, 1e-3):
                assert R.one_run_p_value(eps, m=100, r=r, v=v, delta=delta) == pytest.approx(
                    steinke_p_exact(eps, 100, r, v, delta), rel=1e-9, abs=1e-15)


def test_one_run_monotone_and_bound_at_the_crossing():
    for m, r, v, delta in [(1000, 100, 80, 1e-5), (1000, 1000, 700, 1e-5), (200, 50, 50, 1e-3),
                           (1000, 100, 90, 1e-4)]:
        p = [R.one_run_p_value(e, m=m, r=r, v=v, delta=delta) for e in np.linspace(0, 12, 241)]
        assert (np.diff(p) >= -1e-15).all()
        res = R.one_run_bound(m, r, v, delta=delta)
        e = res.epsilon_lower
        assert R.one_run_p_value(e - 1e-6, m=m, r=r, v=v, delta=delta) < 0.05
        assert R.one_run_p_value(e + 1e-6, m=m, r=r, v=v, delta=delta) >= 0.05
        assert e <= res.ceiling
    assert R.one_run_bound(1000, 100, 50, delta=DELTA).epsilon_lower == 0.0  # v <= r/2
    assert R.one_run_p_value(0.0, m=1000, r=100, v=90, delta=1e-2) >= 0.05  # 2 m delta = 20
    assert R.one_run_bound(1000, 100, 90, delta=1e-2).epsilon_lower == 0.0
    assert R.one_run_bound(1000, 100, 30, delta=DELTA, method="fdp").epsilon_lower == 0.0
    by_v = [R.one_run_bound(1000, 200, v, delta=DELTA).epsilon_lower for v in (120, 150, 180, 200)]
    assert np.all(np.diff(by_v) > 0)
    one = R.one_run_bound(1000, 200, 180, delta=DELTA)
    assert R.one_run_bound(1000, 200, 180, delta=DELTA, n_tests=10).epsilon_lower < one.epsilon_lower
    perfect = R.one_run_bound(1000, 200, 200, delta=DELTA)
    assert perfect.epsilon_lower == perfect.ceiling


def fdp_falsified(mu, m, r, v, alpha):
    """Mahloujifar et al.'s r/h recursion written out with lists: True when the counts falsify
    mu-GDP at level alpha."""
    h, rr = [0.0] * (v + 1), [0.0] * (v + 1)
    rr[v], h[v] = alpha * v / m, alpha * (r - v) / m
    for i in range(v - 1, -1, -1):
        h[i] = max(h[i + 1], stats.norm.cdf(stats.norm.ppf(min(rr[i + 1], 1.0)) - mu))
        rr[i] = rr[i + 1] + i / (r - i) * (h[i] - h[i + 1])
    return min(rr[0], 1.0) + h[0] > r / m


def test_fdp_one_run_matches_transcription_and_is_tighter_than_steinke():
    coarse = np.arange(0.05, 4.0, 0.05)
    for m, r, v in [(200, 50, 45), (200, 100, 80), (1000, 100, 100), (100, 100, 75)]:
        res = R.one_run_bound(m, r, v, delta=DELTA, method="fdp")
        mu = res.mu_lower
        scan = np.array([fdp_falsified(u, m, r, v, 0.05) for u in coarse])
        assert not np.any(np.diff(scan.astype(int)) > 0)  # falsified exactly on [0, mu*)
        assert (scan == (coarse < mu)).all()
        assert fdp_falsified(mu - 1e-4, m, r, v, 0.05) and not fdp_falsified(mu + 1e-4, m, r, v, 0.05)
        assert res.epsilon_lower == pytest.approx(B.gdp_epsilon(mu, DELTA), rel=1e-12)
        assert "Gaussian" in res.assumption
        assert res.epsilon_lower >= R.one_run_bound(m, r, v, delta=DELTA).epsilon_lower


def test_one_run_from_scores_counts_and_soundness():
    scores = np.array([5.0, 4, 3, 2, 1, 0, -1, -2])
    included = np.array([1, 1, 0, 1, 0, 0, 1, 0])
    res = R.one_run_bound_from_scores(scores, included, k_plus=3, k_minus=2, delta=DELTA)
    assert res.counts == {"m": 8, "r": 5, "v": 2 + 1}  # top 3: two in; bottom 2: one out
    assert (res.n_in, res.n_out) == (4, 4)
    multi = R.one_run_bound_from_scores(scores, included, k_plus=[1, 2], k_minus=0, delta=DELTA)
    assert "Bonferroni over 2" in multi.threshold_selection
    # soundness: m canaries as independent 2-GDP Gaussian mechanisms (the whole release is
    # 2-GDP under add/remove of one canary); at alpha = 0.25 exceedances <= Bin(reps, 0.25) q.
    rng = np.random.default_rng(9)
    reps, m, mu, alpha = 40, 400, 2.0, 0.25
    true_eps = B.gdp_epsilon(mu, DELTA)
    for method in ("steinke", "fdp"):
        over = 0
        for _ in range(reps):
            inc = rng.integers(0, 2, m)
            s = mu * inc + rng.normal(0, 1, m)
            over += R.one_run_bound_from_scores(s, inc, k_plus=40, k_minus=40, delta=DELTA,
                                                alpha=alpha, method=method).epsilon_lower > true_eps
        assert over <= binom_acceptance(reps, alpha)


# ----------------------------------------------------------------- validation, JSON
def test_validation_errors_give_counts_not_values():
    with pytest.raises(DataValidationError, match="fp=11 of n_out=10"):
        B.clopper_pearson_bound(11, 10, 0, 10, delta=0)
    with pytest.raises(DataTypeError):
        B.clopper_pearson_bound(1.5, 10, 0, 10, delta=0)
    with pytest.raises(PrivacyParameterError):
        B.clopper_pearson_bound(1, 10, 0, 10, delta=0, alpha=1.5)
    with pytest.raises(DataValidationError, match="1 NaN") as err:
        B.bound_from_scores([0.123456, np.nan], [1.0, 2.0], delta=0)
    assert "0.123456" not in str(err.value)
    with pytest.raises(DataValidationError, match="selection"):
        B.bound_from_scores([1.0], [0.0], delta=0, selection="best")
    with pytest.raises(DataValidationError):
        B.bound_from_scores([1.0], [0.0], delta=0, threshold=0.5)
    with pytest.raises(DataValidationError):
        R.one_run_bound(10, 5, 6, delta=0)
    with pytest.raises(PrivacyParameterError):
        R.one_run_bound(10, 5, 5, delta=0, method="fdp")


def test_to_dict_is_json():
    res = B.bound_from_scores([5.0, 6.0], [0.0, 1.0], delta=DELTA, method="gaussian-dp")
    d = json.loads(json.dumps(res.to_dict()))
    assert d["method"] == "gaussian-dp" and d["alpha"] == 0.05 and "Gaussian" in d["assumption"]
    assert d["epsilon_lower"] <= d["ceiling"]

"""Issue #11's coverage target at n = 20,000, as a slow statistical test.

``experiments/coverage_20k.py`` measures every private estimator's 95 % interval on 200 new
registries of 20,000 patients at epsilon 1 and 4 (``experiments/coverage_20k.md``). Only the
replicated AIPW (``aipw-rep``) reaches the issue's 93 %; the plain IPW and AIPW do not (their
intervals leave out the bias of clipping poorly overlapping propensities and of misspecified
linear nuisances), nor does the regression at epsilon 1. This test repeats the experiment's
protocol for ``aipw-rep``: with 200 registries, the hypothesis "coverage >= 0.93" is rejected
when fewer than 177 intervals cover (P(Binomial(200, 0.93) < 177) = 0.007), so a release
whose coverage is 93 % fails this test with probability below 1 %.

Run with ``pytest -m slow tests/test_coverage_20k.py`` (about 3 minutes on 2 cores).
"""

from __future__ import annotations

import warnings

import pytest
from scipy.stats import binom

from privcausal.data import simulate_trauma
from privcausal.estimators import make_estimator

REPS = 200
MIN_COVER = 177


@pytest.mark.slow
def test_replicated_aipw_covers_at_least_93_percent_at_n_20000():
    assert binom.cdf(MIN_COVER - 1, REPS, 0.93) < 0.01 <= binom.cdf(MIN_COVER, REPS, 0.93)
    hits = {1.0: 0, 4.0: 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in range(REPS):
            d = simulate_trauma(20_000, random_state=20_000 + r)
            for eps in hits:
                est = make_estimator("aipw-rep", epsilon=eps, delta=1e-6, random_state=r).fit(d)
                lo, hi = est.ate_interval(0.05)
                hits[eps] += lo <= d.true_ate <= hi
    assert all(h >= MIN_COVER for h in hits.values()), hits

"""ReplicatedATE: parallel composition over disjoint groups, the t interval, and its coverage."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t

from privcausal.data import from_frame
from privcausal.domain import Domain, Numeric, OutcomeBounds
from privcausal.estimators import make_estimator
from privcausal.estimators.aipw import AugmentedIPW
from privcausal.estimators.regression import RegressionAdjustment
from privcausal.estimators.replicates import ReplicatedATE
from privcausal.exceptions import DataTypeError, PrivacyParameterError


def test_receipt_is_one_replicate_by_parallel_composition(trauma_small):
    est = ReplicatedATE(base="aipw", n_replicates=4, epsilon=1.0, delta=1e-6, random_state=3).fit(trauma_small)
    r = est.privacy_
    single = AugmentedIPW(epsilon=1.0, delta=1e-6, random_state=3).fit(trauma_small.subset(np.arange(1000))).privacy_
    assert r.epsilon == pytest.approx(single.epsilon) and r.epsilon <= 1.0 + 1e-9
    assert r.delta == pytest.approx(single.delta) and r.delta <= 1e-6
    (event,) = r.events
    assert len(event.parts) == 4 and "parallel composition over 4" in event.mechanism


def test_groups_partition_the_records_and_each_replicate_is_the_base_on_its_group(trauma_small):
    d = trauma_small
    est = ReplicatedATE(base="ipw", n_replicates=3, epsilon=2.0, random_state=11).fit(d)
    groups = np.asarray(est.diagnostics_.folds)
    assert groups.shape == (d.n,) and set(np.unique(groups)) == {0, 1, 2}
    assert est.ate_ == pytest.approx(np.mean(est.replicate_estimates_))
    # the same streams by hand: stream 0 draws the groups, stream g + 1 seeds replicate g
    from privcausal.privacy.random import independent_streams
    from privcausal.validation import check_random_state

    streams = independent_streams(11, 4)
    assert np.array_equal(check_random_state(streams[0]).integers(0, 3, size=d.n), groups)
    for g in range(3):
        one = make_estimator("ipw", epsilon=2.0, delta=1e-6, random_state=streams[g + 1]).fit(d.subset(groups == g))
        assert one.ate_ == est.replicate_estimates_[g]


def test_interval_is_student_t_over_the_replicates(trauma_small):
    est = ReplicatedATE(base="dim", n_replicates=5, epsilon=1.0, random_state=0).fit(trauma_small)
    a = est.replicate_estimates_
    half = student_t.ppf(0.95, 4) * a.std(ddof=1) / math.sqrt(5)
    lo, hi = est.ate_interval(0.1)
    assert lo == pytest.approx(a.mean() - half) and hi == pytest.approx(a.mean() + half)
    with pytest.raises(PrivacyParameterError, match="alpha"):
        est.ate_interval(0.95)


def test_refuses_bases_whose_mechanism_depends_on_the_data_and_bad_settings(trauma_small):
    with pytest.raises(PrivacyParameterError, match="fixed_mechanism"):
        ReplicatedATE(base=RegressionAdjustment()).fit(trauma_small)
    with pytest.raises(PrivacyParameterError, match="unknown private estimator"):
        ReplicatedATE(base="aipw-np").fit(trauma_small)
    with pytest.raises(DataTypeError):
        ReplicatedATE(base=3.5).fit(trauma_small)
    for g in (2, 2.5, True):
        with pytest.raises(PrivacyParameterError, match="n_replicates"):
            ReplicatedATE(n_replicates=g).fit(trauma_small)


def test_registered_names_build_the_replicated_estimators():
    est = make_estimator("aipw-rep", epsilon=0.5, random_state=1)
    assert isinstance(est, ReplicatedATE) and est.base == "aipw" and est.epsilon == 0.5
    assert make_estimator("ipw-rep").base == "ipw"


def _trial(seed: int, n: int = 2000):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    t = rng.integers(0, 2, n)
    y = np.clip(0.5 + 0.3 * x + 0.2 * t + rng.normal(0, 0.3, n), -1, 2)
    frame = pd.DataFrame({"x": x, "t": t, "y": y})
    dom = Domain({"x": Numeric(-1, 1)}, OutcomeBounds(-1, 2))
    return from_frame(frame, treatment="t", outcome="y", domain=dom)


def test_t_interval_covers_when_the_replicates_share_no_bias():
    # A randomised trial with the difference in means as base: the replicates are i.i.d. and
    # unbiased for the ATE (0.2), so the t interval's coverage is 95 %. With 200 data sets,
    # P(at most 178 cover) = 0.0005 and P(more than 198 cover) = 0.0004 under 95 % coverage.
    hits = 0
    for s in range(200):
        est = ReplicatedATE(base="dim", n_replicates=5, epsilon=1.0, random_state=s).fit(_trial(s))
        lo, hi = est.ate_interval(0.05)
        hits += lo <= 0.2 <= hi
    assert 179 <= hits <= 198


def test_replicates_warn_once_about_overlap_with_the_averaged_share(trauma_small):
    import warnings

    from privcausal.exceptions import OverlapWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = ReplicatedATE(base="aipw", n_replicates=4, epsilon=1.0, random_state=5).fit(trauma_small)
    overlap = [w for w in caught if issubclass(w.category, OverlapWarning)]
    assert len(overlap) == 1 and "4 replicates" in str(overlap[0].message)
    assert 0.0 <= est.clipped_share_ <= 1.0

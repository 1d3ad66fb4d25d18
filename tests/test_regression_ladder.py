"""The regression's plan ladder: reduced designs before the DiM plan, chosen on noisy sizes in a
declared order, with the same privacy accounting."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from privcausal.cli import main
from privcausal.data import simulate_trauma
from privcausal.estimators import make_estimator
from privcausal.estimators.design_layout import DesignLayout
from privcausal.estimators.regression import RegressionAdjustment, _drop_order
from privcausal.exceptions import PrivacyParameterError, UnadjustedEstimateWarning


@pytest.fixture(scope="module")
def small():
    return simulate_trauma(2000, random_state=500)


def test_the_reduced_layout_is_the_layout_of_the_reduced_domain(small):
    dom = small.domain
    full = DesignLayout.from_domain(dom)
    for drop in ({"centre"}, {"centre", "mechanism"}, {"age", "sex"}):
        red = full.without(drop)
        ref = DesignLayout.from_domain(dom.subset([c for c in dom.covariates if c not in drop]))
        assert red.names == ref.names and red.columns == ref.columns
        assert (red.n_groups, red.n_numeric) == (ref.n_groups, ref.n_numeric)
        assert red.sens_x == ref.sens_x and red.sens_gram == ref.sens_gram
        assert np.array_equal(red.rows, ref.rows) and np.array_equal(red.cols, ref.cols)
        assert red.unit_tau == ref.unit_tau and red.n_encoded == full.n_encoded
        assert [full.names[i] for i in np.searchsorted(full.keep, red.keep)] == list(red.names)


def test_every_rung_has_the_same_gaussian_privacy(small):
    cfg = RegressionAdjustment(epsilon=1.0)._config(small.domain)
    rungs = []
    c = cfg
    while c is not None:
        rungs.append(c)
        c = c.fallback
    assert [r.dropped for r in rungs] == [(), ("centre",), ("centre", "mechanism"), ("centre", "mechanism", "sex")]
    for r in rungs:  # sd / sensitivity is the stacked release's sigma / sqrt(weight) on every rung
        assert r.sigma == cfg.sigma and r.dim_plan == cfg.dim_plan and r.adj_plan == cfg.adj_plan
        for k in r.sd:
            assert r.sd[k] / r.sens[k] == pytest.approx(cfg.sd[k] / cfg.sens[k], rel=1e-12)


def test_auto_order_drops_the_most_levels_first_and_never_a_number(small):
    assert _drop_order(small.domain, "auto") == ["centre", "mechanism", "sex"]
    assert _drop_order(small.domain, ["hb", "age"]) == ["hb", "age"]
    assert _drop_order(small.domain, "none") == []
    with pytest.raises(PrivacyParameterError, match="does not declare"):
        _drop_order(small.domain, ["nope"])


def test_a_small_registry_is_adjusted_for_a_reduced_design_and_says_so(small):
    with pytest.warns(UnadjustedEstimateWarning, match=r"does NOT adjust for \['centre'\]"):
        est = make_estimator("regression", epsilon=1.0, delta=1e-6, random_state=0).fit(small)
    assert est.plan_ == "adjusted" and est.not_adjusted_for_ == ("centre",)
    assert "centre" not in est.adjusted_for_ and "hb" in est.adjusted_for_
    assert est.privacy_.epsilon <= 1.0 + 1e-9 and est.privacy_.delta <= 1e-6
    assert any("plan ladder" in n for n in est.privacy_.notes)
    assert all(not n.startswith("centre") for n in est.feature_names_)
    assert "NOT the confounding through ['centre']" in est.interval_covers
    lo, hi = est.ate_interval()
    assert lo < est.ate_ < hi
    # without the ladder: the DiM plan, as before
    with pytest.warns(UnadjustedEstimateWarning, match="did NOT adjust"):
        old = make_estimator("regression", epsilon=1.0, delta=1e-6, random_state=0, reduce="none").fit(small)
    assert old.plan_ == "dim" and old.adjusted_for_ == () and "hb" in old.not_adjusted_for_


def test_the_full_design_when_it_is_feasible():
    big = simulate_trauma(20000, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnadjustedEstimateWarning)
        est = make_estimator("regression", epsilon=4.0, delta=1e-6, random_state=0, n_bootstrap=0).fit(big)
    assert est.plan_ == "adjusted" and est.not_adjusted_for_ == () and "centre" in est.adjusted_for_


def test_fit_json_lists_what_was_adjusted_for(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["fit", "--data", "trauma", "--n", "2000", "--estimator", "regression", "--epsilon", "1",
                     "--random-state", "0", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["adjusted"] is True and out["not_adjusted_for"] == ["centre"]
    assert "hb" in out["adjusted_for"] and math.isfinite(out["ate"])

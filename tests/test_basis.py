"""The public hat basis of the private nuisance models: row norm, identities, no data look."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from privcausal.data.causal_data import CausalData
from privcausal.domain import Categorical, Domain, Numeric
from privcausal.estimators.aipw import AugmentedIPW
from privcausal.estimators.basis import HatBasis, check_knots
from privcausal.estimators.ipw import InversePropensityWeighting
from privcausal.exceptions import PrivacyParameterError


def _mixed(n: int = 400, seed: int = 0) -> CausalData:
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 10, n)
    b = rng.uniform(-5, 5, n)
    b[rng.random(n) < 0.2] = np.nan
    c = rng.choice(["x", "y", "z"], n)
    t = rng.integers(0, 2, n)
    y = rng.uniform(0, 1, n)
    dom = Domain({"a": Numeric(0, 10), "b": Numeric(-5, 5, missing=True),
                  "c": Categorical(("x", "y", "z"))}, (0, 1))
    return CausalData(pd.DataFrame({"a": a, "b": b, "c": c}), t, y, dom, name="mixed")


@pytest.mark.parametrize("knots", [3, 4, 5, 7, 64])
def test_every_row_keeps_the_row_norm_bound(knots):
    data = _mixed()
    basis = HatBasis(data.encoder, knots)
    Z = basis.transform(data.X)
    R = data.encoder.row_norm_bound
    assert Z.shape[1] == basis.n_features == data.X.shape[1] + 2 * (knots - 1)
    assert np.max(np.linalg.norm(Z, axis=1)) <= R + 1e-12
    # worst cases per numeric column: every knot, every midpoint, the ends, beyond the ends
    grid = np.concatenate([np.linspace(-1, 1, knots), np.linspace(-1, 1, 2 * knots - 1), [-1.5, 1.5]])
    X = np.zeros((grid.size, data.X.shape[1]))
    names = data.encoder.feature_names
    X[:, names.index("a")] = grid
    Za = basis.transform(X)[:, [i for i, f in enumerate(basis.feature_names) if f.startswith("a#")]]
    assert np.all(np.sum(Za ** 2, axis=1) <= 1 + 1e-12)


@pytest.mark.parametrize("knots", [3, 6])
def test_partition_of_unity_and_linear_reproduction(knots):
    data = _mixed()
    basis = HatBasis(data.encoder, knots)
    z = np.linspace(-1, 1, 101)
    X = np.zeros((z.size, data.X.shape[1]))
    X[:, data.encoder.feature_names.index("a")] = z
    Z = basis.transform(X)
    cols = [i for i, f in enumerate(basis.feature_names) if f.startswith("a#")]
    H = Z[:, cols]
    assert np.allclose(H.sum(axis=1), 1.0)
    assert np.allclose(H @ basis.centres, z)  # a linear model on the hats contains the linear one
    assert np.all((H > 0).sum(axis=1) <= 2)


def test_a_missing_value_gets_no_hat_and_keeps_its_indicator():
    data = _mixed()
    basis = HatBasis(data.encoder, 5)
    Z = basis.transform(data.X)
    missing = data.covariates["b"].isna().to_numpy()
    assert missing.any()
    hats = [i for i, f in enumerate(basis.feature_names) if f.startswith("b#")]
    ind = basis.feature_names.index("b__missing")
    assert np.all(Z[missing][:, hats] == 0) and np.all(Z[missing, ind] == 1)
    assert np.allclose(Z[~missing][:, hats].sum(axis=1), 1.0)


def test_categoricals_are_kept_and_a_row_does_not_depend_on_the_others():
    data = _mixed()
    basis = HatBasis(data.encoder, 4)
    names = data.encoder.feature_names
    Z = basis.transform(data.X)
    for f in names:
        if f.startswith("c"):
            assert np.array_equal(Z[:, basis.feature_names.index(f)], data.X[:, names.index(f)])
    Z1 = basis.transform(data.X[:1])
    Zrev = basis.transform(data.X[::-1])
    assert np.array_equal(Z1[0], Z[0]) and np.array_equal(Zrev[::-1], Z)


@pytest.mark.parametrize("bad", [2, 65, 1.5, True, "5", 0])
def test_bad_knots_are_refused(bad):
    with pytest.raises(PrivacyParameterError, match="knots"):
        check_knots(bad)
    with pytest.raises(PrivacyParameterError, match="knots"):
        AugmentedIPW(epsilon=1.0, knots=bad, random_state=0).fit(_mixed())


def test_the_basis_spends_nothing_extra(trauma_small):
    for cls in (AugmentedIPW, InversePropensityWeighting):
        lin = cls(epsilon=2.0, random_state=0).fit(trauma_small)
        spl = cls(epsilon=2.0, knots=5, random_state=0).fit(trauma_small)
        assert spl.privacy_.epsilon == lin.privacy_.epsilon
        assert spl.privacy_.delta == lin.privacy_.delta
        assert "hat functions" in " ".join(spl.privacy_.notes)
        assert np.isfinite(spl.ate_)


def _symmetric_confounding(n: int, seed: int) -> CausalData:
    """Treatment and outcome both driven by x^2: invisible to a model linear in x."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    w = rng.uniform(-1, 1, n)
    e = 1 / (1 + np.exp(-(-1.5 + 3.5 * x ** 2)))
    t = (rng.random(n) < e).astype(int)
    y = 3 * x ** 2 + 0.5 * w + 1.0 * t + rng.normal(0, 0.5, n)
    y = np.clip(y, -4, 8)
    dom = Domain({"x": Numeric(-1, 1), "w": Numeric(-1, 1)}, (-4, 8))
    return CausalData(pd.DataFrame({"x": x, "w": w}), t, y, dom, name="symmetric")


def test_the_spline_design_removes_a_nonlinear_confounder_the_linear_one_keeps():
    data = _symmetric_confounding(6000, 1)
    lin = AugmentedIPW(epsilon=math.inf, random_state=0).fit(data)
    spl = AugmentedIPW(epsilon=math.inf, knots=5, random_state=0).fit(data)
    # the difference in means is confounded by about +1.2 here; the true effect is 1.0
    assert abs(lin.ate_ - 1.0) > 0.3
    assert abs(spl.ate_ - 1.0) < 0.1
    ipw_lin = InversePropensityWeighting(epsilon=math.inf, random_state=0).fit(data)
    ipw_spl = InversePropensityWeighting(epsilon=math.inf, knots=5, random_state=0).fit(data)
    assert abs(ipw_spl.ate_ - 1.0) < 0.5 * abs(ipw_lin.ate_ - 1.0)


def test_the_registered_spline_estimators_carry_their_knots(trauma_small):
    from privcausal.estimators import ESTIMATORS, make_estimator

    assert ESTIMATORS["aipw-spline"].private and not ESTIMATORS["aipw-spline-np"].private
    assert make_estimator("ipw-spline", epsilon=1.0).knots == 5
    twin = make_estimator("aipw-spline-np", random_state=0)
    assert twin.knots == 5 and twin.epsilon == math.inf
    rep = make_estimator("aipw-spline-rep", epsilon=2.0, random_state=0).fit(trauma_small)
    assert "hat functions" in " ".join(rep.privacy_.notes) and rep.privacy_.epsilon == 2.0

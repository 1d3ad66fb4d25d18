"""RegressionAdjustment: exact twin, statistics form, accounting, sensitivities, plans, targets."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from privcausal.data import CausalData, simulate_trauma
from privcausal.domain import Categorical, Domain, Numeric, OutcomeBounds
from privcausal.estimators.dim import DifferenceInMeans
from privcausal.estimators.regression import RegressionAdjustment, stats_for
from privcausal.estimators.regression_release import Config, DesignLayout, arm_stats, release
from privcausal.estimators.sufficient import compute_stats
from privcausal.exceptions import ClippingWarning, DataValidationError, PrivacyParameterError
from privcausal.privacy import composed_epsilon, gaussian_sigma, noise_source

from .conftest import requires_ihdp

DOMAIN = Domain(
    {
        "age": Numeric(0, 100),
        "bp": Numeric(40, 240, missing=True),
        "site": Categorical(("a", "b", "c", "d")),
        "sex": Categorical(("F", "M"), missing=True),
    },
    OutcomeBounds(-10, 10),
)


def _data(n=3000, seed=0, binary=False):
    rng = np.random.default_rng(seed)
    age = rng.uniform(20, 90, n)
    bp = np.where(rng.random(n) < 0.15, np.nan, rng.normal(130, 20, n))
    site = rng.choice(list("abcd"), n)
    sex = np.where(rng.random(n) < 0.1, None, rng.choice(["F", "M"], n))
    z = (age - 55) / 20
    t = (rng.random(n) < expit(0.8 * z + 0.5 * (site == "d"))).astype(int)
    mu0 = 1 + 1.5 * z - 0.5 * (site == "b") + 0.8 * np.isnan(bp)
    mu1 = mu0 + 1.0 + 0.5 * z
    if binary:
        mu0, mu1 = expit(mu0 - 1), expit(mu1 - 1)
        y = (rng.random(n) < np.where(t == 1, mu1, mu0)).astype(float)
        dom = Domain(DOMAIN.covariates, OutcomeBounds(0, 1, binary=True))
    else:
        y = np.where(t == 1, mu1, mu0) + rng.normal(0, 1, n)
        dom = DOMAIN
    frame = pd.DataFrame({"age": age, "bp": bp, "site": site, "sex": sex})
    return CausalData(frame, t, y, dom, mu0=mu0, mu1=mu1)


def _lin_ols(d):
    X, t, y = d.X, d.treatment, d.outcome
    Z = np.column_stack([np.ones(d.n), X])
    xbar = X.mean(axis=0)
    mu = [np.linalg.lstsq(Z[t == a], y[t == a], rcond=None)[0] for a in (0, 1)]
    return float((mu[1][0] + mu[1][1:] @ xbar) - (mu[0][0] + mu[0][1:] @ xbar))


@pytest.mark.parametrize("binary", [False, True])
def test_twin_is_lins_ols_estimate(binary):
    d = _data(binary=binary)
    est = RegressionAdjustment(epsilon=math.inf, n_bootstrap=50, random_state=0).fit(d)
    assert est.ate_ == pytest.approx(_lin_ols(d), abs=1e-9)
    assert est.plan_ == "adjusted" and est.noise_norm_ == 0
    assert not est.privacy_.is_private and est.privacy_.delta == 0


def test_twin_on_the_registry_with_many_centres(trauma_small):
    est = RegressionAdjustment(epsilon=math.inf, n_bootstrap=0).fit(trauma_small)
    assert est.ate_ == pytest.approx(_lin_ols(trauma_small), abs=1e-9)


def test_fit_and_fit_stats_give_the_same_release_also_from_chunks():
    d = _data()
    a = RegressionAdjustment(epsilon=2.0, n_bootstrap=20, random_state=3).fit(d)
    b = RegressionAdjustment(epsilon=2.0, n_bootstrap=20, random_state=3).fit_stats(stats_for(d), d.domain)
    assert a.ate_ == b.ate_ and a.plan_ == b.plan_
    np.testing.assert_array_equal(a.ate_draws_, b.ate_draws_)
    Z = np.column_stack([np.ones(d.n), d.X])
    parts = [compute_stats(Z[s], d.treatment[s], d.outcome[s]) for s in np.array_split(np.arange(d.n), 3)]
    total = sum(parts[1:], parts[0])
    c = RegressionAdjustment(epsilon=2.0, n_bootstrap=0, random_state=3).fit_stats(total, d.domain)
    assert c.ate_ == pytest.approx(a.ate_, rel=1e-9, abs=1e-12)
    assert c.diagnostics_.records == d.n and c.diagnostics_ == a.diagnostics_


def test_never_adjusting_is_difference_in_means():
    d = _data()
    r = RegressionAdjustment(epsilon=0.8, adjust="never", n_bootstrap=0, random_state=4).fit(d)
    m = DifferenceInMeans(epsilon=0.8, n_bootstrap=0, random_state=4).fit(d)
    assert r.ate_ == pytest.approx(m.ate_, rel=1e-12) and r.plan_ == "dim"
    assert np.all(r.coef_ == 0)


def test_adaptive_receipt_is_basic_composition_within_budget():
    d = _data()
    est = RegressionAdjustment(epsilon=1.0, delta=1e-6, n_bootstrap=0, random_state=5).fit(d)
    r = est.privacy_
    assert est.plan_ == "adjusted"
    assert r.epsilon <= 1.0 * (1 + 1e-12) and r.delta == pytest.approx(1e-6)
    counts, stage2 = r.events
    assert counts.epsilon == pytest.approx(0.2) and stage2.epsilon == pytest.approx(0.8)
    laplace_sums, gaussian = stage2.parts
    assert laplace_sums.epsilon + gaussian.epsilon == pytest.approx(0.8)
    assert {p.label.split(",")[0] for p in gaussian.parts[0].parts} == {
        "sum x", "released Gram entries (sum x x')", "sum x u", "sum (u^2 - B^2/2)"}
    assert any("dominates both plans" in note for note in r.notes)


def test_non_adaptive_release_composes_with_the_accountant_within_budget():
    d = _data(binary=True)
    est = RegressionAdjustment(epsilon=1.0, adjust="always", n_bootstrap=0, random_state=6).fit(d)
    ev = est.privacy_.events
    assert [e.parts[0].mechanism for e in ev] == ["discrete laplace", "discrete laplace", "discrete gaussian"]
    eps, dl, _ = composed_epsilon(ev, 1e-6)
    assert eps <= 1.0 * (1 + 1e-12) and dl == pytest.approx(1e-6)


def test_gaussian_noise_scales_follow_the_weights():
    layout = DesignLayout.from_domain(DOMAIN)
    cfg = Config.make(layout, 1.0, 1e-6, DOMAIN.outcome, count_share=0.2, gauss_share=0.9, var_share=0.1,
                      weights=(0.2, 0.5, 0.3, 0.05), ridge=(0.1, 3.0), min_ratio=2.0, adjust="always")
    sigma = gaussian_sigma(0.9 * 0.8, 1e-6, 1.0)
    assert cfg.sigma == pytest.approx(sigma)
    assert sum(cfg.weights.values()) == pytest.approx(1.0)  # the stacked vector has sensitivity 1
    sens = {"sx": layout.sens_x, "S": layout.sens_gram, "Su": layout.sens_x * 10, "Q": 50.0}
    for k, w in cfg.weights.items():
        assert cfg.sd[k] == pytest.approx(sigma * sens[k] / math.sqrt(w))
    # empirical check of the Gram noise: 4000+ entries, sd within 6 % (> 5 standard errors)
    d = _data(n=500)
    arms = arm_stats(stats_for(d), layout, 0.0)
    from privcausal.estimators.regression_release import gaussian_arm

    gen = np.random.default_rng(7)
    draws = [(gaussian_arm(arms[1], arms[1]["n"], cfg, noise_source(gen))["S"] - arms[1]["S"])[
        layout.rows, layout.cols] for _ in range(150)]
    assert np.std(np.concatenate(draws)) == pytest.approx(cfg.sd["S"], rel=0.06)


def test_released_statistics_respect_the_declared_sensitivities():
    """Worst-case rows: every numeric value at a bound, every combination of levels/missing."""
    layout = DesignLayout.from_domain(DOMAIN)
    from privcausal.design import DesignEncoder

    enc = DesignEncoder(DOMAIN)
    rows = list(itertools.product([0.0, 100.0], [40.0, 240.0, np.nan], list("abcd"), ["F", "M", None]))
    frame = pd.DataFrame(rows, columns=["age", "bp", "site", "sex"])
    X = enc.transform(frame)[:, layout.keep]
    for x in X:
        assert np.linalg.norm(x) <= layout.sens_x + 1e-12
        g = np.outer(x, x)
        assert np.linalg.norm(g[layout.rows, layout.cols]) <= layout.sens_gram + 1e-12
        # what is not released is determined by sum x: zero within a column, x_j on 0/1 diagonals
        np.testing.assert_allclose(layout.fill(g.copy(), x), g)
    assert layout.sens_gram == pytest.approx(math.sqrt(4 * 3 / 2 + 2))
    assert len(layout.names) == 1 + 2 + 3 + 2 == layout.p


def test_plan_follows_the_noise_norm():
    d = _data(n=400)
    small = RegressionAdjustment(epsilon=0.5, n_bootstrap=0, random_state=1, reduce="none").fit(d)
    assert small.plan_ == "dim" and small.privacy_.delta == pytest.approx(1e-6)
    # the plan ladder: the design without the categorical columns, before the DiM plan
    reduced = RegressionAdjustment(epsilon=0.5, n_bootstrap=0, random_state=1).fit(d)
    assert reduced.plan_ == "adjusted" and reduced.not_adjusted_for_ == ("site", "sex")
    assert reduced.privacy_.delta == pytest.approx(1e-6) and reduced.privacy_.epsilon <= 0.5 + 1e-12
    big = RegressionAdjustment(epsilon=0.5, n_bootstrap=0, random_state=1).fit(_data(n=20000))
    assert big.plan_ == "adjusted"
    forced = RegressionAdjustment(epsilon=0.5, adjust="always", n_bootstrap=0, random_state=1).fit(d)
    assert forced.plan_ == "adjusted"


def test_registry_confounding_is_removed_at_epsilon_one():
    """Three simulated registries (n = 20,000): naive DiM is biased by about +0.15, the private
    regression lands within 0.05 of the truth (its noise sd is about 0.02: > 2.5 sd margin)."""
    for seed in (11, 12, 13):
        d = simulate_trauma(20_000, random_state=seed)
        reg = RegressionAdjustment(epsilon=1.0, n_bootstrap=0, random_state=seed).fit(d)
        dim = DifferenceInMeans(epsilon=1.0, n_bootstrap=0, random_state=seed).fit(d)
        assert reg.plan_ == "adjusted"
        assert abs(reg.ate_ - d.true_ate) < 0.05
        assert dim.ate_ - d.true_ate > 0.08


@requires_ihdp
def test_ihdp_target_at_epsilon_one():
    """IHDP replications 1-8, 3 noise draws each: MAE below 0.5 and not above DiM's."""
    from privcausal.data import load_ihdp

    from .conftest import IHDP_DIR

    err_reg, err_dim = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClippingWarning)
        data = [load_ihdp(r, IHDP_DIR) for r in range(1, 9)]
    for r, d in enumerate(data):
        st = stats_for(d)
        for k in range(3):
            reg = RegressionAdjustment(epsilon=1.0, n_bootstrap=0, random_state=100 * r + k)
            reg.fit_stats(st, d.domain)
            dim = DifferenceInMeans(epsilon=1.0, n_bootstrap=0, random_state=100 * r + k).fit(d)
            err_reg.append(abs(reg.ate_ - d.true_ate))
            err_dim.append(abs(dim.ate_ - d.true_ate))
    assert np.mean(err_reg) < 0.5
    assert np.mean(err_reg) <= np.mean(err_dim) + 1e-12


@pytest.mark.parametrize("kwargs", [dict(delta=0.0), dict(adjust="maybe"), dict(weights=(1, 1, 1)),
                                    dict(ridge=(-1, 1)), dict(gauss_share=1.0), dict(n_bootstrap=1.5)])
def test_bad_parameters_raise(kwargs):
    with pytest.raises((PrivacyParameterError, TypeError, ValueError)):
        RegressionAdjustment(**kwargs).fit(_data(n=200))


def test_statistics_that_do_not_fit_the_domain_raise():
    d = _data(n=200)
    st = stats_for(d)
    bad = type(st)(st.n, st.zz[:, :-1, :-1], st.zy[:, :-1], st.yy)
    with pytest.raises(DataValidationError):
        RegressionAdjustment().fit_stats(bad, d.domain)
    with pytest.raises(DataValidationError):
        RegressionAdjustment().fit_stats(st, "not a domain")


def test_release_function_is_reusable_on_exact_statistics():
    d = _data()
    layout = DesignLayout.from_domain(d.domain)
    cfg = Config.make(layout, math.inf, 0.0, d.domain.outcome, count_share=0.2, gauss_share=0.9,
                      var_share=0.1, weights=(0.2, 0.5, 0.3, 0.05), ridge=(0.1, 3.0), min_ratio=2.0,
                      adjust="auto")
    rel = release(arm_stats(stats_for(d), layout, d.domain.outcome.center), cfg, noise_source(0))
    assert rel.ate == pytest.approx(_lin_ols(d), abs=1e-9)


def test_an_unadjusted_release_says_so(capsys):
    """At n = 1,000 and epsilon 0.5 even the ladder's smallest design is not feasible: the auto
    plan falls back to the difference in means, the estimator warns, and the CLI's headline and
    JSON say it did not adjust. At n = 2,000 it adjusts for a reduced design and says which
    columns it left out."""
    import json
    import warnings

    from privcausal.cli import main
    from privcausal.data import simulate_trauma
    from privcausal.exceptions import UnadjustedEstimateWarning

    d = simulate_trauma(1000, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = RegressionAdjustment(epsilon=0.5, n_bootstrap=0, random_state=0).fit(d)
    assert est.plan_ == "dim"
    assert any(issubclass(w.category, UnadjustedEstimateWarning) for w in caught)
    argv = ["fit", "--data", "trauma", "--n", "1000", "--estimator", "regression", "--epsilon",
            "0.5", "--random-state", "0"]
    assert main(argv + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["plan"] == "dim" and out["adjusted"] is False and out["adjusted_for"] == []
    assert main(argv) == 0
    assert "NOT adjusted" in capsys.readouterr().out
    argv[4] = "2000"
    assert main(argv) == 0
    assert "a reduced design" in capsys.readouterr().out


@pytest.mark.parametrize("binary", [False, True])
def test_lattice_blocks_spend_at_most_the_stacked_gaussians_rho(binary):
    """Each Gaussian block (sum x, Gram entries, sum x u, sum u^2) is released on its own
    lattice; the blocks' exact zCDP rho, rounding included, adds up to at most the stacked
    release's 1 / (2 sigma^2), the figure the receipt's event states. An identity."""
    from privcausal.data import simulate_trauma

    d = simulate_trauma(500, random_state=0)
    if not binary:
        d = _data(binary=False)
    cfg = RegressionAdjustment(epsilon=1.0, adjust="always")._config(d.domain)
    lay = cfg.layout
    dims = {"sx": lay.p, "S": len(lay.rows), "Su": lay.p, "Q": 1}
    rho = sum(cfg.block(k, dims[k]).rho for k in cfg.sd)
    assert rho <= 0.5 / cfg.sigma**2 * (1 + 1e-12)
    assert rho >= 0.5 / cfg.sigma**2 * (1 - 1e-4)  # the rounding costs almost nothing

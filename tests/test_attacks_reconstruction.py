"""Reconstruction attacks: exact closed forms on non-private releases, failure under DP, and the
reconstruction-robustness bound (Hayes et al. 2023) beside the measured success.

Statistical tests state their failure probability (given a correct implementation) and seed
their own generators.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit, ndtr, ndtri

from attacks.gradient_reconstruction import (
    prior_aware_reconstruction,
    reconstruct_from_gradients,
    trace_from_training,
)
from attacks.linear_reconstruction import (
    private_subset_sums,
    reconstruct_bits,
    reconstruction_accuracy,
    subset_queries,
    subset_sums,
)
from attacks.reconstruction import (
    informed_gram,
    prior_aware_gram,
    informed_logistic,
    informed_ridge,
    informed_sufficient_stats,
    relative_error,
)
from attacks.rero import (
    best_guess_within_radius,
    estimate_kappa,
    rero_bound,
    rero_bound_dpsgd,
    rero_bound_gaussian,
    within_radius,
)
from privcausal.exceptions import DataValidationError


def _design(n=500, seed=0, n_centres=3):
    from privcausal.data import simulate_trauma
    from privcausal.training import encode

    d = simulate_trauma(n, random_state=seed, n_centres=n_centres)
    e = encode(d, include_treatment=True)
    Z = np.hstack([np.ones((n, 1)), e.X])
    return Z, e.y, d.treatment


def test_sufficient_statistics_exact():
    from privcausal.estimators.sufficient import compute_stats

    Z, y, t = _design()
    rel = compute_stats(Z, t, y)
    known = compute_stats(Z[:-1], t[:-1], y[:-1])
    r = informed_sufficient_stats(rel, known)
    assert relative_error(r.x, Z[-1]) < 1e-8
    assert r.y == pytest.approx(y[-1], abs=1e-8) and r.arm == t[-1]
    assert r.details["y_squared"] == pytest.approx(y[-1] ** 2, abs=1e-8)


def test_adassp_non_private_gram_exact_and_ols_ridge_exact():
    from privcausal.estimators.adassp import adassp, solve_ridge

    Z, y, _ = _design(seed=1)
    bx = math.sqrt(Z.shape[1])
    res = adassp(Z.T @ Z, Z.T @ y, bound_x=bx, bound_y=1.0, epsilon=math.inf, delta=1e-6)
    r = informed_gram(res.xtx, res.xty, Z[:-1], y[:-1])
    assert relative_error(r.x, Z[-1]) < 1e-8 and abs(r.y - y[-1]) < 1e-8
    yc = y + 0.1 * Z[:, 1]  # a continuous outcome with a non-zero residual for the target
    for ridge in (0.0, 3.0, np.r_[0.0, np.full(Z.shape[1] - 1, 2.0)]):
        theta = solve_ridge(Z.T @ Z, Z.T @ yc, ridge)
        r = informed_ridge(theta, Z[:-1], yc[:-1], ridge=ridge)
        assert relative_error(r.x, Z[-1]) < 1e-8
        assert abs(r.y - yc[-1]) < 1e-8 * max(1.0, abs(yc[-1]))


def _newton_logistic(X, y, lam, W, b, iters=8):
    """Polish a binary logistic fit of sum loss + lam/2 ||w||^2 to machine precision."""
    Xa = np.hstack([X, np.ones((len(X), 1))])
    th = np.r_[W.ravel(), b]
    pen = np.r_[np.full(X.shape[1], lam), 0.0]
    for _ in range(iters):
        p = expit(Xa @ th)
        g = Xa.T @ (p - y) + pen * th
        H = (Xa * (p * (1 - p))[:, None]).T @ Xa + np.diag(pen)
        th = th - np.linalg.solve(H, g)
    return th[:-1], th[-1]


def test_logistic_gradient_closed_form():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 5))
    y = (X[:, 0] - X[:, 2] + rng.normal(size=300) > 0).astype(int)
    clf = LogisticRegression(C=0.5, tol=1e-12, max_iter=10_000).fit(X, y)
    r = informed_logistic(clf.coef_, clf.intercept_, X[:-1], y[:-1], C=0.5)
    assert relative_error(r.x, X[-1]) < 1e-4 and r.y == y[-1]  # as exact as lbfgs's optimum
    w, b = _newton_logistic(X, y, 2.0, clf.coef_, clf.intercept_)
    r = informed_logistic(w, b, X[:-1], y[:-1], l2=2.0)
    assert relative_error(r.x, X[-1]) < 1e-8 and r.y == y[-1]
    y3 = rng.integers(0, 3, 300)
    clf = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(X, y3)
    r = informed_logistic(clf.coef_, clf.intercept_, X[:-1], y3[:-1], C=1.0)
    assert relative_error(r.x, X[-1]) < 1e-4 and r.y == y3[-1]


@pytest.mark.parametrize("arch, kw", [("logistic", {}), ("mlp", {"hidden": (8,), "activation": "tanh", "loss": "bce"})])
def test_dpsgd_trajectory_non_private_exact(arch, kw):
    from privcausal.training import train_many

    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (41, 6))
    y = (rng.random(41) < 0.5).astype(float)
    st = train_many(X, y, n_models=1, architecture=arch, sampling_rate=1.0, steps=8, lr=0.5,
                    noise_multiplier=0.0, dtype="float64", record=("params", "noisy_grad"),
                    random_state=0, **kw)
    tr = trace_from_training(st)
    r = reconstruct_from_gradients(tr, X[:40], y[:40])
    assert relative_error(r.x, X[40]) < 1e-8 and r.y == y[40]
    cands = np.vstack([rng.uniform(-1, 1, (4, 6)), X[40]])
    assert prior_aware_reconstruction(tr, X[:40], y[:40], cands, np.r_[np.ones(4), y[40]]).index == 4


def test_gradient_matching_refinement_lowers_the_objective():
    from privcausal.training import train_many

    rng = np.random.default_rng(4)
    X = rng.uniform(-1, 1, (31, 4))
    y = (rng.random(31) < 0.5).astype(float)
    st = train_many(X, y, n_models=1, architecture="logistic", sampling_rate=1.0, steps=6, lr=0.5,
                    noise_multiplier=1.0, max_grad_norm=1.0, dtype="float64",
                    record=("params", "noisy_grad"), random_state=1)
    r = reconstruct_from_gradients(trace_from_training(st), X[:30], y[:30], refine_steps=60, lr=0.05)
    assert r.details["objective"] < r.details["objective_closed_form"]


def test_dpsgd_prior_aware_success_sits_below_the_rero_bound():
    """N trials, each a full-batch DP-SGD run on 30 known records + 1 of k = 8 candidates.
    Failure probability of the binomial check under a correct bound: < 1e-3."""
    from privcausal.training import train_many

    rng = np.random.default_rng(5)
    n_known, k, N, sigma, T = 30, 8, 160, 1.5, 6
    X = rng.uniform(-1, 1, (n_known + k, 5))
    y = (rng.random(n_known + k) < 0.5).astype(float)
    target = rng.integers(0, k, N)
    mask = np.zeros((N, n_known + k), bool)
    mask[:, :n_known] = True
    mask[np.arange(N), n_known + target] = True
    st = train_many(X, y, mask, architecture="logistic", sampling_rate=1.0, steps=T, lr=0.5,
                    noise_multiplier=sigma, max_grad_norm=1.0, dtype="float64",
                    record=("params", "noisy_grad"), random_state=6)
    hits = sum(prior_aware_reconstruction(trace_from_training(st, j), X[:n_known], y[:n_known],
                                          X[n_known:], y[n_known:]).index == target[j]
               for j in range(N))
    bound = rero_bound(st, 1.0 / k)
    assert bound.method == "closed form"
    assert bound.estimate == pytest.approx(ndtr(ndtri(1 / k) + math.sqrt(T) / sigma), rel=1e-12)
    assert stats.binom.sf(hits - 1, N, bound.estimate) > 1e-3  # not significantly above the bound
    assert hits / N > 1.0 / k + 0.1  # and the attack does learn from the trajectory


def test_rero_monte_carlo_matches_exact_one_step_power():
    """T = 1: the likelihood ratio is monotone in x, the power is q (1 - Phi(t - mu)) + (1 - q)
    kappa with t = Phi^-1(1 - kappa). The estimate lies within 5 standard errors (failure
    probability < 1e-6); the upper bound holds at 1 - alpha = 0.999 (tested once)."""
    kappa, sigma, q = 0.05, 0.8, 0.3
    mu = 1 / sigma
    t = ndtri(1 - kappa)
    exact = q * (1 - ndtr(t - mu)) + (1 - q) * kappa
    b = rero_bound_dpsgd(kappa, sigma, q, 1, n_samples=200_000, alpha=1e-3, random_state=7)
    se = math.sqrt(exact * (1 - exact) / 200_000) + math.sqrt(kappa / 200_000)
    assert abs(b.estimate - exact) < 5 * se
    assert b.upper >= exact
    assert b.closed_form_without_subsampling >= b.estimate
    # q = 1: the closed form; kappa is the value at mu = 0
    assert rero_bound_dpsgd(kappa, sigma, 1.0, 4).estimate == pytest.approx(ndtr(ndtri(kappa) + 2 * mu))
    assert rero_bound_gaussian(kappa, 0.0) == pytest.approx(kappa)


def test_rero_from_receipts():
    from privcausal.estimators.adassp import adassp
    from privcausal.training import train_dpsgd

    rng = np.random.default_rng(8)
    X = rng.uniform(-1, 1, (200, 3))
    y = (rng.random(200) < 0.5).astype(float)
    res = train_dpsgd(X, y, epsilon=2.0, delta=1e-5, batch_size=50, epochs=1, random_state=0)
    a = rero_bound(res, 0.01, n_samples=20_000, random_state=0)
    b = rero_bound(res.receipt, 0.01, n_samples=20_000, random_state=0)
    assert a.estimate == b.estimate and a.method == "Monte Carlo" and a.steps == res.steps
    rel = adassp(X.T @ X, X.T @ y, bound_x=math.sqrt(3), bound_y=1.0, epsilon=1.0, delta=1e-6,
                 random_state=0)
    mu = math.sqrt(sum(1.0 / (e.scale / e.sensitivity) ** 2 for e in rel.events))
    g = rero_bound(rel.events, 0.01)
    assert g.mu == pytest.approx(mu) and g.estimate == pytest.approx(rero_bound_gaussian(0.01, mu))


def test_informed_attack_on_adassp_at_epsilon_one_fails_below_the_bound():
    """Continuous records: success = the reconstructed (design row, outcome) within radius 0.5 of
    the target's. kappa: the best prior guess's success (Clopper-Pearson upper value used).
    N = 150 trials at epsilon = 1; the non-private twin succeeds every time. The binomial check
    fails with probability < 1e-3 under a correct bound."""
    from privcausal.estimators.adassp import adassp

    Z, y, _ = _design(n=1600, seed=9)
    known, pool = slice(0, 300), np.arange(300, 1600)
    rec_all = np.hstack([Z[:, 1:], y[:, None]])  # the record: encoded covariates, treatment, outcome
    radius = 0.5
    kap = estimate_kappa(rec_all[pool[:1000]], radius, random_state=0)
    bx = math.sqrt(Z.shape[1])
    rng = np.random.default_rng(10)
    hits_np = hits_dp = hits_pa = 0
    N = 150
    targets = rng.choice(pool[1000:], N, replace=False)
    cands = pool[:1000]  # the attacker's sample of the prior
    events = None
    for j, i in enumerate(targets):
        Zi, yi = np.vstack([Z[known], Z[i]]), np.r_[y[known], y[i]]
        for eps in (math.inf, 1.0):
            rel = adassp(Zi.T @ Zi, Zi.T @ yi, bound_x=bx, bound_y=1.0, epsilon=eps, delta=1e-6,
                         random_state=1000 + j)
            r = informed_gram(rel.xtx, rel.xty, Z[known], y[known])
            ok = bool(within_radius(np.r_[r.x[1:], r.y], rec_all[i], radius)[0])
            if math.isinf(eps):
                hits_np += ok
            else:
                hits_dp += ok
                events = rel.events
                _, ll = prior_aware_gram(rel.xtx, rel.xty, Z[known], y[known], Z[cands], y[cands],
                                         sigma_xtx=rel.events[1].scale, sigma_xty=rel.events[2].scale)
                pick = best_guess_within_radius(ll, rec_all[cands], radius)
                hits_pa += bool(within_radius(rec_all[cands[pick]], rec_all[i], radius)[0])
    assert hits_np == N
    bound = rero_bound(events, kap.upper)
    assert 0 < kap.kappa < 0.5 and bound.estimate < 0.5
    assert hits_dp / N < 0.05  # the attack fails
    for hits in (hits_dp, hits_pa):  # both below the bound (binomial check)
        assert stats.binom.sf(hits - 1, N, bound.estimate) > 1e-3 if hits else True


def test_dinur_nissim_noiseless_recovers_and_dp_noise_defeats_it():
    """n = 500, m = 1000 random subset sums. Noiseless: > 95 % (here all) bits. With the noise
    privcausal adds for the 1000 answers at epsilon = 1 (Laplace; Gaussian at delta = 1e-6),
    accuracy stays below 0.62: chance is 0.5 with sd 0.022, so 0.62 is > 5 sd away
    (failure probability < 1e-6)."""
    rng = np.random.default_rng(11)
    n, m = 500, 1000
    s = (rng.random(n) < 0.5).astype(float)
    A = subset_queries(n, m, 12)
    for method in ("lstsq", "lp"):
        bits, _ = reconstruct_bits(A, subset_sums(A, s), method=method)
        assert reconstruction_accuracy(bits, s) > 0.95
    for mech in ("laplace", "gaussian"):
        rel = private_subset_sums(A, s, epsilon=1.0, delta=1e-6, mechanism=mech, random_state=13)
        assert rel.receipt.epsilon == pytest.approx(1.0)
        assert rel.noise_std > math.sqrt(n)
        bits, _ = reconstruct_bits(A, rel.answers, method="lstsq")
        assert reconstruction_accuracy(bits, s) < 0.62
    with pytest.raises(DataValidationError, match="0/1"):
        subset_sums(A, s + 0.5)


def test_attribute_inference_beats_the_prior_when_the_attribute_drives_the_outcome():
    from sklearn.linear_model import LogisticRegression

    from attacks.attribute import infer_attribute

    rng = np.random.default_rng(14)
    a = (rng.random(2000) < 0.3).astype(float)
    X = np.c_[rng.normal(size=2000), a]
    y = (rng.random(2000) < expit(-1 + 3 * a + X[:, 0])).astype(int)
    clf = LogisticRegression().fit(X[:1000], y[:1000])
    res = infer_attribute(clf, X[1000:], y[1000:], [1], [[0.0], [1.0]], prior=[0.7, 0.3],
                          truth=a[1000:].astype(int))
    assert res.accuracy > res.baseline_accuracy + 0.03
    assert res.log_posterior.shape == (1000, 2)


def test_attribute_inference_on_causal_data(trauma_small):
    from attacks.attribute import attribute_inference
    from privcausal.training import train_dpsgd

    d = trauma_small.subset(np.arange(400))
    res = train_dpsgd(d, epsilon=math.inf, architecture="logistic", epochs=5, random_state=0)
    out = attribute_inference(res, d, "mechanism", prior=trauma_small.subset(np.arange(400, 1400)))
    assert out.guess.shape == (400,) and out.values == ("blunt", "penetrating", "fall")
    assert 0.0 <= out.accuracy <= 1.0 and out.prior.argmax() == 0
    num = attribute_inference(res, d, "age", grid=5)
    assert num.log_posterior.shape == (400, 5)


def test_release_files_round_trip_every_kind(tmp_path):
    import pandas as pd

    from attacks.release_file import read_release, reconstruct_release, write_release
    from privcausal.estimators.adassp import solve_ridge
    from privcausal.estimators.sufficient import compute_stats

    Z, y, t = _design(n=300, seed=15)
    names = ["intercept"] + [f"x{j}" for j in range(1, Z.shape[1])]
    known = pd.DataFrame(Z[:-1, 1:], columns=names[1:]).assign(y=y[:-1], treatment=t[:-1])
    st = compute_stats(Z, t, y)
    yc = y + 0.1 * Z[:, 1]
    docs = {
        "sufficient_stats": dict(n=st.n, zz=st.zz, zy=st.zy, yy=st.yy),
        "ridge": dict(theta=solve_ridge(Z.T @ Z, Z.T @ yc, 1.0), ridge=1.0),
    }
    for kind, arrays in docs.items():
        doc = read_release(write_release(tmp_path / f"{kind}.json", kind, feature_names=names, **arrays))
        kn = known.assign(y=yc[:-1]) if kind == "ridge" else known
        r = reconstruct_release(doc, kn)
        assert relative_error(r.x, Z[-1]) < 1e-8
    w, b = _newton_logistic(Z[:, 1:], y, 1.0, np.zeros(Z.shape[1] - 1), 0.0, iters=25)
    doc = read_release(write_release(tmp_path / "lr.json", "logistic", feature_names=names[1:],
                                     coef=w[None, :], intercept=[b], l2=1.0))
    r = reconstruct_release(doc, known)
    assert relative_error(r.x, Z[-1, 1:]) < 1e-8 and r.y == y[-1]
    with pytest.raises(DataValidationError, match="lacks 1 of them"):
        reconstruct_release(doc, known.drop(columns=["x2"]))

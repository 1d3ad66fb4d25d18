"""CATE learners: shapes, receipts (parallel vs single-run composition), non-private twins,
declared-domain outcome scaling, bad inputs, and the two-head DP-SGD's per-sample gradients."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from privcausal.data import CausalData
from privcausal.domain import Domain, Numeric, OutcomeBounds
from privcausal.estimators.cate import CATE_LEARNERS, SLearner, TARNet, TLearner, make_cate_learner
from privcausal.estimators.cate.base import scale_outcome
from privcausal.exceptions import DataTypeError, DataValidationError, NotFittedError, PrivCausalError
from privcausal.training.calibrate import dpsgd_epsilon

FAST = dict(recipe={"epochs": 4, "sampling_rate": 0.5}, random_state=0)


def _continuous(n=300, seed=0, bounds=(-10.0, 10.0), effect=None):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 3))
    t = (rng.random(n) < 0.4).astype(int)
    tau = 1.0 + x[:, 0] if effect is None else np.full(n, effect)
    mu0 = 0.5 * x[:, 1]
    y = mu0 + t * tau + rng.normal(0, 0.1, n)
    dom = Domain({f"x{i}": Numeric(-2, 2) for i in range(3)}, OutcomeBounds(*bounds))
    cov = pd.DataFrame(x, columns=[f"x{i}" for i in range(3)])
    return CausalData(cov, t, y, dom, mu0=mu0, mu1=mu0 + tau)


@pytest.fixture(scope="module")
def cont():
    return _continuous()


@pytest.fixture(scope="module")
def binary(trauma_small):
    return trauma_small.subset(np.arange(1500))


@pytest.mark.parametrize("cls", [TLearner, SLearner, TARNet])
@pytest.mark.parametrize("eps", [2.0, math.inf])
def test_fit_effect_shapes_and_receipt(cls, eps, cont):
    est = cls(epsilon=eps, delta=1e-5, **FAST).fit(cont)
    tau = est.effect(cont)
    assert tau.shape == (cont.n,) and np.all(np.isfinite(tau))
    np.testing.assert_allclose(est.effect(cont.X), tau)
    np.testing.assert_allclose(est.effect(cont.covariates), tau)
    W = 20.0  # the declared outcome width bounds every effect
    if math.isinf(eps):
        assert est.ate_ == pytest.approx(float(np.mean(tau)))
    else:
        # the ATE is a separate Laplace release (the sum, over the two noisy arm sizes released
        # before training); with k = 9 each of the three Laplace draws stays within k scales
        # except with probability e^-9, so the bound fails with probability below 4e-4
        ev = est.privacy_.events
        (ms,) = [e for e in ev if e.label.startswith("sum of the model's effects")]
        (counts,) = [e for e in ev if e.label.startswith("noisy arm sizes")]
        mc = counts.parts[0]
        assert ms.mechanism == mc.mechanism == "discrete laplace"
        k = 9
        err = (ms.scale * k + W * 2 * mc.scale * k) / (cont.n - 2 * mc.scale * k)
        assert abs(est.ate_ - float(np.mean(np.clip(tau, -W, W)))) <= err
    lo, hi = est.ate_interval(0.05)
    assert lo < est.ate_ < hi
    assert est.mu(cont, 1).shape == (cont.n,)
    r = est.privacy_
    if math.isinf(eps):
        assert r.epsilon == math.inf and not r.is_private
    else:
        assert 0 < r.epsilon <= eps * (1 + 1e-9) and r.epsilon > 0.9 * eps
        assert r.delta == 1e-5 and r.epsilon_budget == eps
    if not math.isinf(eps):
        assert any("budget split" in n for n in r.notes)
        assert est.model_.receipt.epsilon < r.epsilon  # the model alone spent less


def test_tlearner_parallel_composition(cont):
    est = TLearner(epsilon=1.5, delta=1e-5, **FAST).fit(cont)
    r = est.model_.receipt  # the released networks; privacy_ adds the ATE release
    assert est.privacy_.epsilon <= 1.5 * (1 + 1e-9)
    (ev,) = r.events
    assert "parallel composition over 2 disjoint parts" in ev.mechanism
    assert len(ev.parts) == 2 and ev.epsilon == ev.parts[0].epsilon == r.epsilon
    cfg = est.model_.learner["training"]
    # epsilon of ONE model with this recipe (not the sum of two)
    one = dpsgd_epsilon(cfg["noise_multiplier"], cfg["sampling_rate"], cfg["steps"], 1e-5)
    assert r.epsilon == pytest.approx(one, rel=1e-9)
    assert r.epsilon <= 1.35 * (1 + 1e-9) and r.epsilon > 1.2  # 90 % of the budget
    assert any("parallel composition" in n for n in r.notes)


@pytest.mark.parametrize("cls", [SLearner, TARNet])
def test_single_run_learners_are_one_event(cls, cont):
    est = cls(epsilon=1.5, delta=1e-5, **FAST).fit(cont)
    r = est.model_.receipt
    assert len(r.events) == 1 and "parallel" not in r.events[0].mechanism
    # noisy arm sizes, the training, the sum of effects and the sum of their squares
    assert len(est.privacy_.events) == 4 and est.privacy_.epsilon <= 1.5 * (1 + 1e-9)
    assert any("one DP-SGD run on all" in n for n in r.notes)
    cfg = est.model_.learner["training"]
    one = dpsgd_epsilon(cfg["noise_multiplier"], cfg["sampling_rate"], cfg["steps"], 1e-5)
    assert r.epsilon == pytest.approx(one, rel=1e-9)


@pytest.mark.parametrize("name", list(CATE_LEARNERS))
def test_registry_and_twins(name, binary):
    est = make_cate_learner(name, epsilon=3.0, delta=1e-6, epochs=2, sampling_rate=0.2, random_state=1)
    assert est.epsilon == (math.inf if not name.startswith("dp-") else 3.0)
    est.fit(binary)
    tau = est.effect(binary)
    assert tau.shape == (binary.n,) and np.all(np.abs(tau) <= 1)  # risk differences
    assert est.model_.loss == "bce" and est.model_.outcome["type"] == "binary"
    assert est.privacy_.is_private == name.startswith("dp-")
    assert est.model_.learner["name"] == name


def test_continuous_scaling_uses_declared_domain_only():
    d1 = _continuous(seed=3, bounds=(-10, 10))
    y, loss = scale_outcome(d1.outcome, d1)
    assert loss == "mse"
    np.testing.assert_allclose(y, d1.outcome / 10.0)
    d2 = _continuous(seed=3, bounds=(-4, 16))
    y2, _ = scale_outcome(d2.outcome, d2)
    np.testing.assert_allclose(y2, (d2.outcome - 6.0) / 10.0)
    # outcome statistics play no role: shifting the data inside the domain keeps the scaling
    d3 = CausalData(d1.covariates, d1.treatment, d1.outcome * 0.5 + 1.0, d1.domain)
    est = TLearner(epsilon=math.inf, **FAST).fit(d3)
    assert (est.model_.outcome["lower"], est.model_.outcome["upper"]) == (-10.0, 10.0)
    assert est.model_.outcome["scaling"] == "domain"


def test_effects_on_original_scale():
    d = _continuous(n=600, seed=5, bounds=(-20, 30), effect=2.0)
    est = TLearner(epsilon=math.inf, recipe={"epochs": 80, "sampling_rate": 1.0, "lr": 0.5, "momentum": 0.8},
                   random_state=0).fit(d)
    assert est.ate_ == pytest.approx(2.0, abs=0.15)


def test_bad_inputs(cont):
    one_arm = CausalData(cont.covariates, np.zeros(cont.n, int), cont.outcome, cont.domain)
    for cls in (TLearner, SLearner, TARNet):
        with pytest.raises(DataValidationError, match="treatment group"):
            cls(epsilon=1.0, **FAST).fit(one_arm)
        with pytest.raises(NotFittedError):
            cls().effect(cont.X)
    est = TLearner(epsilon=1.0, **FAST).fit(cont)
    with pytest.raises(DataValidationError, match="columns"):
        est.effect(np.zeros((5, cont.X.shape[1] + 1)))
    with pytest.raises(DataTypeError):
        TLearner(epsilon=1.0).fit(cont.X)
    with pytest.raises(PrivCausalError):
        TLearner(epsilon=0.0).fit(cont)
    with pytest.raises(PrivCausalError):
        make_cate_learner("no-such-learner")


def test_twohead_per_sample_gradients_match_autograd():
    from privcausal.estimators.cate._twohead import (
        _clipped_sums,
        per_sample_grads_autograd,
        train_twohead,
        twohead_architectures,
    )

    rng = np.random.default_rng(0)
    for hidden, act, loss in [((5,), "relu", "mse"), ((6, 4), "tanh", "bce")]:
        trunk, _ = twohead_architectures(3, hidden, act)
        res = train_twohead(rng.normal(size=(20, 3)), rng.integers(0, 2, 20),
                            rng.integers(0, 2, 20).astype(float), hidden=hidden,
                            activation=act, loss=loss, epsilon=math.inf, epochs=1,
                            random_state=1, dtype="float64")
        X = torch.as_tensor(rng.normal(size=(7, 3)))
        t = torch.tensor([0, 1, 1, 0, 1, 0, 0])
        y = torch.as_tensor(rng.integers(0, 2, 7).astype(float))
        grads = per_sample_grads_autograd(trunk, res.params, X, t, y, loss)
        ref_norms = torch.stack([torch.sqrt(sum((g ** 2).sum() for g in gr.values())) for gr in grads])
        C = 0.05
        sums, norms, _ = _clipped_sums(trunk, res.params, X, t, y, C, loss)
        torch.testing.assert_close(norms, ref_norms)
        for k in res.params:
            ref = sum(g[k] * min(1.0, C / (float(nm) + 1e-6)) for g, nm in zip(grads, ref_norms))
            torch.testing.assert_close(sums[k], ref)


def test_seeded_runs_reproduce(cont):
    a = TARNet(epsilon=2.0, **FAST).fit(cont).effect(cont)
    b = TARNet(epsilon=2.0, **FAST).fit(cont).effect(cont)
    np.testing.assert_array_equal(a, b)


def test_a_cate_learners_ate_interval_refuses_rows_and_takes_the_older_alpha():
    from privcausal.data import simulate_trauma
    from privcausal.estimators.cate import TLearner
    from privcausal.exceptions import PrivacyParameterError

    d = simulate_trauma(600, random_state=2)
    est = TLearner(epsilon=4.0, delta=1e-5, random_state=0, recipe={"epochs": 2}).fit(d)
    assert est.ate_interval(0.1) == est.ate_interval(alpha=0.1)
    with pytest.raises(PrivacyParameterError, match="without X"):
        est.ate_interval(d.X[:5], alpha=0.1)

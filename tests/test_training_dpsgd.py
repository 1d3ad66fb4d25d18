"""train_dpsgd: receipts, the non-private twin, the two engines, clipping and noise maths.

Statistical tests state their failure rate; with the fixed seeds used here they are
deterministic, and the rate says how unlucky a seed would have to be to fail them.
"""

import math
import warnings

import numpy as np
import pytest
import torch
from scipy import stats

from privcausal.data import simulate_trauma
from privcausal.exceptions import (
    DataValidationError,
    PrivacyLeakWarning,
    PrivacyParameterError,
)
from privcausal.training import Architecture, TrainingResult, model_from_dict, train_dpsgd, train_many
from privcausal.training.engine import clipped_sums
from privcausal.training._random import SecureStream, make_stream


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """These tensors are tiny: a second intra-op thread only adds synchronisation, which
    costs milliseconds per operation on a busy 2-core machine. Restored afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _toy(n=400, d=4, seed=0, binary=True):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, d))
    logit = X @ np.linspace(1.5, -1.0, d)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float) if binary else logit + rng.normal(0, 0.3, n)
    return X, y


def test_end_to_end_on_the_registry_with_a_receipt():
    data = simulate_trauma(2000, random_state=1)
    res = train_dpsgd(data, architecture="mlp", hidden=(16,), epsilon=3.0, delta=1e-5, epochs=3,
                      batch_size=200, lr=0.5, random_state=0)
    assert isinstance(res, TrainingResult)
    r = res.receipt
    assert r.is_private and r.epsilon <= 3.0 and r.delta == 1e-5
    assert r.accountant.startswith("PLD") and r.epsilon_rdp >= r.epsilon
    assert r.epsilon_budget == 3.0 and "seeded" in r.noise
    assert r.events[0].mechanism.startswith("dp-sgd")
    assert res.loss == "bce" and res.steps == 30 and res.sampling_rate == pytest.approx(0.1)
    assert len(res.history["epoch"]) == 3 and all(np.isfinite(res.history["loss"]))
    assert all(0 <= f <= 1 for f in res.history["clipped_fraction"])
    p = res.predict(data.X)
    assert p.shape == (2000,) and np.all((p > 0) & (p < 1))
    # The receipt and the config are JSON-able; the model rebuilds from plain lists.
    import json

    json.dumps(r.to_dict())
    json.dumps(res.config)
    again = model_from_dict(res.architecture.to_dict(), json.loads(json.dumps(res.parameters())))
    with torch.no_grad():
        x = torch.as_tensor(data.X[:5], dtype=torch.float32)
        assert torch.allclose(again(x), res.model(x))


def test_non_private_twin():
    X, y = _toy(n=600)
    twin = train_dpsgd(X, y, architecture="logistic", epsilon=math.inf, epochs=20, batch_size=60,
                       lr=0.5, random_state=0)
    assert twin.receipt.epsilon == math.inf and not twin.receipt.is_private
    assert twin.noise_multiplier == 0 and twin.max_grad_norm == math.inf
    assert "non-private" in twin.receipt.accountant
    assert twin.history["clipped_fraction"] == [0.0] * 20
    priv = train_dpsgd(X, y, architecture="logistic", noise_multiplier=2.0, epochs=20,
                       batch_size=60, lr=0.5, random_state=0)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, twin.predict(X)) > 0.75
    assert roc_auc_score(y, priv.predict(X)) > 0.6


@pytest.mark.parametrize(
    "arch,loss,opt",
    [
        (Architecture.logistic(4), "bce", dict(optimizer="sgd")),
        (Architecture.mlp(4, (8,), "tanh"), "bce", dict(optimizer="sgd", momentum=0.9, weight_decay=1e-3)),
        (Architecture.mlp(4, (6, 5), "relu"), "mse", dict(optimizer="adam", lr=0.01)),
    ],
)
def test_engines_agree_exactly_with_the_same_seed(arch, loss, opt):
    """opacus (hooks + DPOptimizer) and the hand-written engine draw the same Poisson samples
    and the same noise from one seeded stream, so they must give the same model."""
    X, y = _toy(binary=loss == "bce")
    kw = dict(architecture=arch, loss=loss, noise_multiplier=1.1, max_grad_norm=0.7, steps=25,
              batch_size=40, random_state=7, dtype="float64", lr=opt.pop("lr", 0.2), **opt)
    a = train_dpsgd(X, y, engine="opacus", **kw)
    b = train_dpsgd(X, y, engine="vectorised", **kw)
    for (name, pa), pb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.allclose(pa, pb, rtol=1e-9, atol=1e-9), name
    for key in a.history:
        assert a.history[key] == pytest.approx(b.history[key], rel=1e-9), key
    assert a.receipt.epsilon == b.receipt.epsilon


def _ref_per_sample_grads(arch, params, X, y, loss):
    """Per-sample gradients by plain autograd, one record at a time (the reference)."""
    from privcausal.training import build_model

    model = build_model(arch, dtype=torch.float64)
    model.load_state_dict(params)
    out = []
    for i in range(len(X)):
        model.zero_grad()
        f = model(X[i:i + 1]).squeeze()
        li = torch.nn.functional.binary_cross_entropy_with_logits(f, y[i]) if loss == "bce" else (f - y[i]) ** 2
        li.backward()
        out.append({k: p.grad.detach().clone() for k, p in model.named_parameters()})
    return out


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "elu", "softplus", "silu", "identity"])
@pytest.mark.parametrize("backend", ["handwritten", "func"])
def test_clipped_sums_match_autograd_and_padding_is_ignored(activation, backend):
    torch.manual_seed(0)
    arch = Architecture.mlp(5, (7, 3), activation)
    from privcausal.training import build_model

    base = {k: v.double() for k, v in build_model(arch).state_dict().items()}
    X = torch.randn(2, 9, 5, dtype=torch.float64) * 2
    y = (torch.rand(2, 9) < 0.5).double()
    valid = torch.ones(2, 9, dtype=torch.bool)
    valid[1, 6:] = False  # model 1 has 6 records and 3 padding slots
    params = {k: torch.stack([v, v * 1.5]) for k, v in base.items()}
    C = 0.3
    sums, norms, _ = clipped_sums(arch, params, X, y, valid, C, "bce", backend)
    if backend == "handwritten":  # the first layer's bias folded into a ones column
        Xa = torch.cat([X, torch.ones(2, 9, 1, dtype=X.dtype)], 2)
        sums_a, norms_a, _ = clipped_sums(arch, params, Xa, y, valid, C, "bce", backend,
                                          xsq=(X * X).sum(-1), ones_col=True)
        assert torch.allclose(norms_a, norms, rtol=1e-12, atol=1e-14)
        for name in sums:
            assert torch.allclose(sums_a[name], sums[name], rtol=1e-12, atol=1e-14), name
    for k_model in range(2):
        pk = {k: v[k_model] for k, v in params.items()}
        m = int(valid[k_model].sum())
        grads = _ref_per_sample_grads(arch, pk, X[k_model, :m], y[k_model, :m], "bce")
        ref_norms = torch.stack([torch.sqrt(sum((g ** 2).sum() for g in gi.values())) for gi in grads])
        assert torch.allclose(norms[k_model, :m], ref_norms, rtol=1e-10, atol=1e-12)
        assert torch.all(norms[k_model, m:] == 0)
        factors = torch.clamp(C / (ref_norms + 1e-6), max=1.0)
        for name in params:
            ref = sum(f * g[name] for f, g in zip(factors, grads))
            assert torch.allclose(sums[name][k_model], ref, rtol=1e-10, atol=1e-12), name


@pytest.mark.parametrize("backend", ["handwritten", "func"])
def test_clipped_per_sample_gradients_have_norm_at_most_C(backend):
    """Each record alone as a 'batch of one' per model: the clipped sums are the clipped
    per-sample gradients themselves."""
    torch.manual_seed(1)
    arch = Architecture.mlp(6, (10,), "relu")
    from privcausal.training import build_model

    p = {k: v.double() for k, v in build_model(arch).state_dict().items()}
    n = 200
    X = (torch.randn(n, 1, 6, dtype=torch.float64) * 5)
    y = torch.randn(n, 1, dtype=torch.float64) * 10
    params = {k: v.unsqueeze(0).expand((n,) + v.shape).clone() for k, v in p.items()}
    valid = torch.ones(n, 1, dtype=torch.bool)
    for C in (0.05, 1.0, 100.0):
        sums, norms, _ = clipped_sums(arch, params, X, y, valid, C, "mse", backend)
        clipped = torch.sqrt(sum((s.reshape(n, -1) ** 2).sum(1) for s in sums.values()))
        assert torch.all(clipped <= C * (1 + 1e-9))
        unclipped = norms[:, 0]
        expect = torch.minimum(unclipped, torch.full_like(unclipped, C)) * unclipped / (
            torch.maximum(unclipped, torch.full_like(unclipped, C)) + 0)
        # norm after clipping = min(norm, C) up to opacus's 1e-6 in the factor
        assert torch.allclose(clipped, torch.minimum(unclipped, torch.full_like(unclipped, C)), rtol=1e-5)
        del expect


def test_clipped_sums_match_opacus_summed_grad():
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    from privcausal.training import build_model

    torch.manual_seed(2)
    arch = Architecture.mlp(4, (5,), "tanh")
    model = build_model(arch, dtype=torch.float64)
    params = {k: v.detach().clone().unsqueeze(0) for k, v in model.state_dict().items()}
    X = torch.randn(30, 4, dtype=torch.float64) * 3
    y = (torch.rand(30) < 0.5).double()
    gsm = GradSampleModule(model, loss_reduction="sum")
    opt = DPOptimizer(torch.optim.SGD(gsm.parameters(), lr=0.1), noise_multiplier=0.0,
                      max_grad_norm=0.5, expected_batch_size=30, loss_reduction="mean")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.nn.functional.binary_cross_entropy_with_logits(gsm(X).squeeze(-1), y, reduction="sum").backward()
    opt.clip_and_accumulate()
    sums, _, _ = clipped_sums(arch, params, X.unsqueeze(0), y.unsqueeze(0),
                              torch.ones(1, 30, dtype=torch.bool), 0.5, "bce")
    for (name, p) in gsm._module.named_parameters():
        assert torch.allclose(p.summed_grad, sums[name][0], rtol=1e-10, atol=1e-12), name


def test_noise_of_one_update_matches_opacus_in_distribution():
    """A fixed batch (q = 1), one SGD step with lr = 1 from a fixed start: the update is
    (clipped sum + N(0, (sigma C)^2)) / n. Compare R runs of the opacus engine (separate
    seeds) with R models of the vectorised engine. Four tests at level 1e-3 each: the chance
    that a correct implementation fails any of them is below 0.4 %."""
    X, y = _toy(n=20, d=3, seed=5)
    arch = Architecture.mlp(3, (4,), "relu")
    from privcausal.training import build_model

    torch.manual_seed(3)
    init = {k: v.double() for k, v in build_model(arch).state_dict().items()}
    sigma, C, R = 0.8, 0.5, 200
    kw = dict(architecture=arch, loss="bce", noise_multiplier=sigma, max_grad_norm=C, steps=1,
              sampling_rate=1.0, lr=1.0, dtype="float64", init_params=init)
    flat0 = torch.cat([v.reshape(-1) for v in init.values()])
    op = []
    for r in range(R):
        res = train_dpsgd(X, y, engine="opacus", random_state=1000 + r, **kw)
        op.append(flat0 - torch.cat([v.reshape(-1) for v in res.model.state_dict().values()]))
    op = torch.stack(op)
    many = train_many(X, y, n_models=R, random_state=1, **kw)
    vec = flat0 - torch.cat([v.reshape(R, -1) for v in many.params.values()], dim=1)
    # The deterministic part: the clipped mean gradient.
    sums, _, _ = clipped_sums(arch, {k: v.unsqueeze(0) for k, v in init.items()},
                              torch.as_tensor(X).unsqueeze(0), torch.as_tensor(y).unsqueeze(0),
                              torch.ones(1, 20, dtype=torch.bool), C, "bce")
    mean_update = torch.cat([v.reshape(-1) for v in sums.values()]) / 20
    sd = sigma * C / 20  # the noise std of the update: sigma C / expected batch
    for upd in (op, vec):
        z = ((upd - mean_update) / sd).reshape(-1).numpy()
        assert stats.kstest(z, "norm").pvalue > 1e-3
        assert np.std(z) == pytest.approx(1.0, abs=0.05)  # 5% ~ 7 standard errors here
    z_op = ((op - mean_update) / sd).reshape(-1).numpy()
    z_vec = ((vec - mean_update) / sd).reshape(-1).numpy()
    assert stats.ks_2samp(z_op, z_vec).pvalue > 1e-3
    # per-coordinate means agree with the clipped mean gradient (|t| < 4.5 everywhere)
    for upd in (op, vec):
        t = (upd.mean(0) - mean_update) / (sd / math.sqrt(R))
        assert float(t.abs().max()) < 4.5


def test_secure_mode_falls_back_loudly_and_is_unseedable():
    X, y = _toy(n=200)
    with pytest.warns(PrivacyLeakWarning, match="torchcsprng"):
        res = train_dpsgd(X, y, architecture="logistic", noise_multiplier=1.0, steps=5, batch_size=20)
    assert "os.urandom" in res.receipt.noise
    with pytest.warns(PrivacyLeakWarning):
        res = train_dpsgd(X, y, architecture="logistic", noise_multiplier=1.0, steps=5,
                          batch_size=20, engine="opacus", secure_mode=True)
    assert "os.urandom" in res.receipt.noise
    with pytest.raises(PrivacyParameterError, match="cannot be seeded"):
        train_dpsgd(X, y, architecture="logistic", noise_multiplier=1.0, steps=5, random_state=0,
                    secure_mode=True)
    res = train_dpsgd(X, y, architecture="logistic", noise_multiplier=1.0, steps=5, secure_mode=False)
    assert "not a cryptographically secure" in res.receipt.noise


def test_secure_stream_distributions():
    """KS test of the CSPRNG normals (level 1e-3) and a 6-sigma check of the Bernoulli rate:
    a correct sampler fails with probability about 1e-3."""
    s = SecureStream()
    z = s.randn((40_000,), torch.float64).numpy()
    assert stats.kstest(z, "norm").pvalue > 1e-3
    u = s.rand((10_000,), torch.float64)
    assert float(u.min()) >= 0 and float(u.max()) < 1
    m = s.bernoulli_mask((200_000,), 0.01)
    assert abs(float(m.float().mean()) - 0.01) < 6 * math.sqrt(0.01 * 0.99 / 200_000)
    assert bool(s.bernoulli_mask((10,), 1.0).all())


def test_input_validation():
    X, y = _toy(n=100)
    with pytest.raises(PrivacyParameterError):
        train_dpsgd(X, y, architecture="logistic", random_state=0)  # no epsilon
    with pytest.raises(PrivacyParameterError):
        train_dpsgd(X, y, architecture="logistic", epsilon=1.0, noise_multiplier=1.0)
    with pytest.raises(PrivacyParameterError):
        train_dpsgd(X, y, architecture="logistic", epsilon=1.0, batch_size=500)
    with pytest.raises(PrivacyParameterError):
        train_dpsgd(X, y, architecture="logistic", epsilon=1.0, batch_size=10, sampling_rate=0.1)
    with pytest.raises(PrivacyParameterError):
        train_dpsgd(X, y, architecture="logistic", epsilon=1.0, epochs=1, steps=10)
    with pytest.raises(DataValidationError):
        train_dpsgd(X, y + 0.5, architecture="logistic", noise_multiplier=1.0, random_state=0)
    with pytest.raises(DataValidationError):
        train_dpsgd(X[:, :3], y, architecture=Architecture.logistic(4), noise_multiplier=1.0)
    with pytest.raises(DataValidationError):
        train_dpsgd(X, y[:50], architecture="logistic", noise_multiplier=1.0)
    with pytest.raises(DataValidationError):
        train_dpsgd(X, y, architecture="logistic", noise_multiplier=1.0, engine="jax")
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(DataValidationError):
        train_dpsgd(Xn, y, architecture="logistic", noise_multiplier=1.0)
    with pytest.warns(PrivacyLeakWarning, match="number of training records"):
        train_dpsgd(X, y, architecture="logistic", noise_multiplier=1.0, delta=0.05, steps=2,
                    random_state=0)
    # The stream is seeded from an int or a numpy Generator, reproducibly.
    a = train_dpsgd(X, y, architecture="logistic", noise_multiplier=1.0, steps=5, batch_size=20,
                    random_state=np.random.default_rng(4))
    b = train_dpsgd(X, y, architecture="logistic", noise_multiplier=1.0, steps=5, batch_size=20,
                    random_state=np.random.default_rng(4))
    assert a.parameters() == b.parameters()
    assert make_stream(3, None).description.startswith("seeded")

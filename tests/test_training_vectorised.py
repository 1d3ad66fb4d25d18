"""train_many: independence of models, the inclusion mask, records, backends, accounting."""

import math

import numpy as np
import pytest
import torch

from privcausal.exceptions import DataValidationError, InfeasiblePrivacyError
from privcausal.training import Architecture, StackedTraining, train_dpsgd, train_many


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """These tensors are tiny: a second intra-op thread only adds synchronisation, which
    costs milliseconds per operation on a busy 2-core machine. Restored afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _toy(n=300, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, d))
    y = (rng.random(n) < 1 / (1 + np.exp(-X @ np.linspace(1.0, -1.0, d)))).astype(float)
    return X, y


def _flat(params, K):
    return torch.cat([v.reshape(K, -1) for v in params.values()], dim=1)


def test_shapes_receipt_and_predictions():
    X, y = _toy()
    res = train_many(X, y, n_models=6, architecture="mlp", hidden=(8,), loss="bce",
                     epsilon=2.0, delta=1e-5, steps=40, batch_size=30, random_state=0)
    assert isinstance(res, StackedTraining) and res.n_models == 6
    assert res.params["0.weight"].shape == (6, 8, 5)
    assert res.receipt.epsilon <= 2.0 and res.receipt.accountant.startswith("PLD")
    assert "per model" in res.receipt.release
    assert res.history["loss"].shape == (6, 40) and res.history["batch_size"].shape == (6, 40)
    p = res.predict(X)
    assert p.shape == (6, 300) and np.all((p > 0) & (p < 1))
    m3 = res.model(3)
    with torch.no_grad():
        out = m3(torch.as_tensor(X, dtype=torch.float32)).squeeze(-1).double().numpy()
    assert np.allclose(out, res.decision_function(X)[3], atol=1e-5)
    assert res.per_sample_loss(X, y, models=[1, 2]).shape == (2, 300)


def test_models_do_not_share_randomness():
    """Noise: 60 models x 20 steps x 71 coordinates; pairwise correlations of their noise
    are N(0, 1/1420) if independent. With 1770 pairs, max |r| < 6 / sqrt(1420) fails for
    independent noise with probability < 1e-5. Also independent initial weights and
    Poisson samples, across chunks too (chunk_size=7 spawns 9 child streams)."""
    X, y = _toy(n=200, d=5)
    K, T = 60, 20
    res = train_many(X, y, n_models=K, architecture="mlp", hidden=(10,), loss="bce",
                     noise_multiplier=1.0, steps=T, sampling_rate=0.3, random_state=3,
                     record=("noisy_grad", "clipped_grad", "params", "batch_size"), chunk_size=7,
                     dtype="float64")
    noise = torch.cat(
        [(res.records["noisy_grad"][k] - res.records["clipped_grad"][k]).transpose(0, 1).reshape(K, -1)
         for k in res.params], dim=1)
    L = noise.shape[1]
    assert L == T * 71
    assert float(noise.std()) == pytest.approx(1.0 * 1.0, rel=0.02)  # sigma * C
    r = np.corrcoef(noise.numpy())
    off = r[~np.eye(K, dtype=bool)]
    assert np.max(np.abs(off)) < 6 / math.sqrt(L)
    init = _flat({k: v[0] for k, v in res.records["params"].items()}, K)
    ri = np.corrcoef(init.numpy())[~np.eye(K, dtype=bool)]
    assert np.max(np.abs(ri)) < 6 / math.sqrt(init.shape[1])
    b = res.records["batch_size"]["batch_size"].T.double().numpy()  # K x T
    rb = np.corrcoef(b)[~np.eye(K, dtype=bool)]
    assert np.max(np.abs(rb)) < 6 / math.sqrt(T) and abs(rb.mean()) < 0.05
    assert res.history["batch_size"].mean() == pytest.approx(0.3 * 200, rel=0.03)


def test_reproducible_for_a_seed_and_different_across_seeds():
    X, y = _toy()
    kw = dict(n_models=5, noise_multiplier=1.0, steps=10, batch_size=30, chunk_size=2)
    a = train_many(X, y, random_state=11, **kw)
    b = train_many(X, y, random_state=11, **kw)
    c = train_many(X, y, random_state=12, **kw)
    assert all(torch.equal(a.params[k], b.params[k]) for k in a.params)
    assert not torch.equal(a.params["0.weight"], c.params["0.weight"])


@pytest.mark.parametrize("j", [0, 17])
@pytest.mark.parametrize("arch", [Architecture.logistic(5), Architecture.mlp(5, (6,), "tanh")])
def test_an_excluded_record_never_influences_a_model(j, arch):
    """Change record j drastically: the models whose mask excludes j come out bit-for-bit
    identical (same seed), the others do not. j = 0 is also the padding index."""
    X, y = _toy(n=120)
    K = 8
    mask = np.ones((K, 120), dtype=bool)
    mask[::2, j] = False  # models 0, 2, 4, 6 never see record j
    X2, y2 = X.copy(), y.copy()
    X2[j] = 50.0
    y2[j] = 1.0 - y2[j]
    kw = dict(architecture=arch, loss="bce", noise_multiplier=0.7, steps=30, sampling_rate=0.5,
              random_state=5, record=("clipped_grad",))
    a = train_many(X, y, mask, **kw)
    b = train_many(X2, y2, mask, **kw)
    for k in range(K):
        same = all(torch.equal(a.params[n][k], b.params[n][k]) for n in a.params)
        grads_same = all(torch.equal(a.records["clipped_grad"][n][:, k], b.records["clipped_grad"][n][:, k])
                         for n in a.params)
        if k % 2 == 0:
            assert same and grads_same, k
        else:
            assert not same, k
    # Excluded records are never sampled: batch sizes of a masked model never exceed its count.
    assert a.normaliser[0] == pytest.approx(0.5 * 119) and a.normaliser[1] == pytest.approx(0.5 * 120)


def test_mask_restricts_sampling_to_allowed_records():
    X, y = _toy(n=100)
    mask = np.zeros((3, 100), dtype=bool)
    mask[0, :10] = True
    mask[1, :] = True
    mask[2, 50:] = True
    res = train_many(X, y, mask, noise_multiplier=1.0, steps=20, sampling_rate=1.0, random_state=0)
    assert np.all(res.history["batch_size"][0] == 10)
    assert np.all(res.history["batch_size"][1] == 100)
    assert np.all(res.history["batch_size"][2] == 50)
    with pytest.raises(DataValidationError, match="no training records"):
        train_many(X, y, np.zeros((2, 100), dtype=bool), noise_multiplier=1.0, steps=2)
    with pytest.raises(DataValidationError):
        train_many(X, y, np.ones((2, 99), dtype=bool), noise_multiplier=1.0, steps=2)
    with pytest.raises(DataValidationError):
        train_many(X, y, np.ones((2, 100)), noise_multiplier=1.0, steps=2)


def test_func_backend_gives_the_same_models():
    X, y = _toy(n=80, d=4)
    kw = dict(n_models=4, architecture="mlp", hidden=(5,), activation="silu", loss="bce",
              noise_multiplier=1.0, steps=15, sampling_rate=0.2, random_state=2, dtype="float64",
              optimizer="adam", lr=0.05)
    a = train_many(X, y, backend="handwritten", **kw)
    b = train_many(X, y, backend="func", **kw)
    for k in a.params:
        assert torch.allclose(a.params[k], b.params[k], rtol=1e-9, atol=1e-10), k


def test_records_subset_and_memory_guard():
    X, y = _toy(n=100)
    kw = dict(n_models=10, architecture="mlp", hidden=(4,), loss="bce", noise_multiplier=1.0,
              steps=12, sampling_rate=0.2, random_state=9, chunk_size=3)
    full = train_many(X, y, record=("noisy_grad", "params"), **kw)
    sub = train_many(X, y, record=("noisy_grad", "params"), record_models=[8, 1, 4], **kw)
    assert list(sub.record_models) == [1, 4, 8]
    for kind, extra in (("noisy_grad", 0), ("params", 1)):
        for name in full.params:
            assert full.records[kind][name].shape[:2] == (12 + extra, 10)
            assert torch.equal(sub.records[kind][name], full.records[kind][name][:, [1, 4, 8]])
    # The last recorded parameters are the returned ones; the first, the initial ones.
    assert torch.equal(full.records["params"]["0.weight"][-1], full.params["0.weight"])
    none = train_many(X, y, **kw)
    assert none.records == {}
    with pytest.raises(DataValidationError, match="max_record_bytes"):
        train_many(X, y, record=("params",), max_record_bytes=1000, **kw)
    with pytest.raises(DataValidationError):
        train_many(X, y, record=("activations",), **kw)


def test_shared_initialisation_and_fixed_normaliser():
    X, y = _toy(n=100)
    init = {"0.weight": np.zeros((1, 5)), "0.bias": np.zeros(1)}
    res = train_many(X, y, n_models=3, noise_multiplier=1.0, steps=1, sampling_rate=0.5,
                     lr=1.0, init_params=init, expected_batch_size=25.0, random_state=0,
                     record=("noisy_grad", "params"))
    assert torch.all(res.records["params"]["0.weight"][0] == 0)
    # update = noisy sum / 25 (lr = 1, starting from 0)
    assert torch.allclose(res.params["0.weight"], -res.records["noisy_grad"]["0.weight"][0] / 25.0)
    assert np.all(res.normaliser == 25.0)


def test_accounting_identity_and_infeasible_epsilon():
    X, y = _toy(n=400)
    kw = dict(n_models=2, steps=100, sampling_rate=0.05, random_state=0)
    a = train_many(X, y, noise_multiplier=1.3, **kw)
    b = train_many(X, y, epsilon=a.epsilon, delta=1e-5, **kw)
    assert b.noise_multiplier == pytest.approx(1.3, rel=0.01)
    assert b.epsilon <= a.epsilon
    twin = train_many(X, y, epsilon=math.inf, **kw)
    assert twin.epsilon == math.inf and twin.noise_multiplier == 0
    with pytest.raises(InfeasiblePrivacyError):
        train_many(X, y, epsilon=0.005, delta=1e-5, **kw)


def test_k1_vectorised_matches_the_single_model_trainer_in_distribution():
    """Final weights of a logistic model after 15 steps: 150 single-model opacus runs vs 150
    models of train_many; two-sample KS test per weight at level 1e-3 / 6 (Bonferroni):
    a correct implementation fails with probability < 1e-3."""
    from scipy import stats

    X, y = _toy(n=100)
    kw = dict(architecture="logistic", noise_multiplier=1.0, steps=15, sampling_rate=0.1,
              lr=0.5, init_params={"0.weight": np.zeros((1, 5)), "0.bias": np.zeros(1)})
    single = np.stack([
        np.concatenate([np.ravel(v) for v in train_dpsgd(X, y, engine="opacus", random_state=s, **kw)
                        .parameters().values()])
        for s in range(150)
    ])
    many = train_many(X, y, n_models=150, random_state=1, **kw)
    stacked = _flat(many.params, 150).numpy()
    for j in range(6):
        assert stats.ks_2samp(single[:, j], stacked[:, j]).pvalue > 1e-3 / 6


@pytest.mark.parametrize("q", [0.002, 0.2, 0.9])
def test_poisson_sampler_is_independent_bernoulli_over_allowed_records(q):
    """One draw for K = 20000 models over n = 60 records (model k may not use record k % 3
    ... see mask). Per-record inclusion rates: binomial z-scores, |z| < 5 for all 60
    records; batch sizes: mean and variance of Binomial(m_k, q) within 5 standard errors;
    inclusions of two records uncorrelated (|z| < 5). A correct sampler fails one of these
    with probability below 1e-4."""
    from privcausal.training.sampling import PoissonSampler
    from privcausal.training._random import TorchStream

    K, n = 20_000, 60
    mask = torch.ones((K, n), dtype=torch.bool)
    mask[torch.arange(K), torch.arange(K) % 3] = False  # each model misses one of records 0-2
    sampler = PoissonSampler(K, n, q, mask, TorchStream(123))
    idx, valid, sizes = sampler.sample()
    inc = torch.zeros((K, n), dtype=torch.bool)
    rows = torch.arange(K).unsqueeze(1).expand_as(idx)
    inc[rows[valid], idx[valid]] = True
    assert torch.equal(inc.sum(1), sizes) and torch.equal(valid.sum(1), sizes)  # no duplicates
    assert not inc[~mask].any()  # excluded records never sampled
    # valid entries come first in each row
    assert torch.all(valid[:, :-1] | ~valid[:, 1:])
    allowed = mask.sum(0).double()
    rate = inc.sum(0).double() / allowed
    z = (rate - q) / torch.sqrt(q * (1 - q) / allowed)
    assert float(z.abs().max()) < 5
    m = n - 1
    bs = sizes.double()
    se_mean = math.sqrt(m * q * (1 - q) / K)
    assert abs(float(bs.mean()) - m * q) < 5 * se_mean
    var = m * q * (1 - q)
    assert abs(float(bs.var()) - var) < 5 * var * math.sqrt(2 / K) + 5 * se_mean
    a, b = inc[:, 10].double(), inc[:, 11].double()
    r = float(((a - a.mean()) * (b - b.mean())).mean() / (a.std() * b.std() + 1e-12))
    assert abs(r) * math.sqrt(K) < 5

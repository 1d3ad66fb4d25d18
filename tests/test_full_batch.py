"""The full-batch product path for one-layer models equals the gathered-batch engine."""

import numpy as np
import pytest
import torch

from privcausal.training import Architecture, train_many
from privcausal.training.engine import clipped_sums
from privcausal.training.full_batch import applies, full_batch_linear_sums


def _data(n=120, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, d))
    y = (rng.random(n) < 1 / (1 + np.exp(-X @ np.linspace(1.0, -1.0, d)))).astype(float)
    return X, y


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("loss,C", [("bce", 0.3), ("mse", 1.0), ("bce", float("inf"))])
def test_sums_equal_the_gathered_batch(bias, loss, C):
    X, y = _data()
    n, d = X.shape
    K = 5
    g = torch.Generator().manual_seed(3)
    arch = Architecture.logistic(d, bias=bias) if loss == "bce" else Architecture.linear(d, bias=bias)
    params = {name: torch.randn((K,) + tuple(shape), generator=g, dtype=torch.float64)
              for name, shape in arch.parameter_shapes.items()}
    mask = torch.rand((K, n), generator=g) < 0.7
    mask[0] = True
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    if loss == "mse":
        yt = yt * 3.0 - 1.0
    sums, norms, losses = full_batch_linear_sums(arch, params, Xt, yt, mask,
                                                 (Xt * Xt).sum(1), C, loss)
    for k in range(K):  # the gathered batch of model k, one model at a time
        rows = torch.nonzero(mask[k]).ravel()
        pk = {name: v[k:k + 1] for name, v in params.items()}
        ref, ref_norms, ref_losses = clipped_sums(arch, pk, Xt[rows].unsqueeze(0),
                                                  yt[rows].unsqueeze(0), None, C, loss)
        for name in ref:
            torch.testing.assert_close(sums[name][k:k + 1], ref[name], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(norms[k, rows], ref_norms[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(losses[k, rows], ref_losses[0], rtol=1e-12, atol=1e-12)
        assert torch.all(norms[k, ~mask[k]] == 0) and torch.all(losses[k, ~mask[k]] == 0)


def test_train_many_full_batch_equals_the_func_backend():
    """The func backend never takes the product path: same seed, same noise, same models."""
    X, y = _data(n=90, d=3, seed=1)
    rng = np.random.default_rng(0)
    mask = rng.random((6, 90)) < 0.8
    kw = dict(architecture="logistic", loss="bce", noise_multiplier=0.9, max_grad_norm=0.5,
              steps=12, sampling_rate=1.0, lr=0.3, random_state=4, dtype="float64")
    a = train_many(X, y, mask, **kw)
    b = train_many(X, y, mask, backend="func", **kw)
    for name in a.params:
        torch.testing.assert_close(a.params[name], b.params[name], rtol=1e-9, atol=1e-10)
    for key in ("batch_size", "loss", "clipped_fraction"):
        np.testing.assert_allclose(a.history[key], b.history[key], rtol=1e-9, atol=1e-12)
    assert np.array_equal(a.history["batch_size"][:, 0], mask.sum(1))


def test_an_excluded_record_never_touches_a_model_on_the_product_path():
    """Model 0 excludes record 0: whatever that record holds (here huge values, and a
    diverging mse model), model 0 comes out bit for bit the same; model 1 includes it."""
    X, y = _data(n=60, d=3, seed=2)
    mask = np.ones((2, 60), dtype=bool)
    mask[0, 0] = False
    kw = dict(architecture="linear", loss="mse", noise_multiplier=0.5, max_grad_norm=1.0,
              steps=8, sampling_rate=1.0, lr=0.5, random_state=3, dtype="float64")
    a = train_many(X, y, mask, **kw)
    X2, y2 = X.copy(), y.copy()
    X2[0], y2[0] = 1e300, -1e300
    b = train_many(X2, y2, mask, **kw)
    for name in a.params:
        assert torch.equal(a.params[name][0], b.params[name][0]), name
        assert not torch.equal(a.params[name][1], b.params[name][1]), name


def test_applies_only_to_one_layer_full_batches():
    assert applies(Architecture.logistic(3), 1.0, "handwritten")
    assert not applies(Architecture.logistic(3), 0.5, "handwritten")
    assert not applies(Architecture.logistic(3), 1.0, "func")
    assert not applies(Architecture.mlp(3, (4,)), 1.0, "handwritten")

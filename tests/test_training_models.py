"""Architectures, JSON round trips, losses and the CausalData encoding for training."""

import json

import numpy as np
import pytest
import torch

from privcausal.data import simulate_trauma
from privcausal.exceptions import DataTypeError, DataValidationError, PrivacyParameterError
from privcausal.training import (
    Architecture,
    build_model,
    encode,
    model_from_dict,
    parameters_to_dict,
)
from privcausal.training.models import check_loss


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """These tensors are tiny: a second intra-op thread only adds synchronisation, which
    costs milliseconds per operation on a busy 2-core machine. Restored afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.mark.parametrize(
    "arch",
    [
        Architecture.linear(5),
        Architecture.logistic(5, bias=False),
        Architecture.mlp(5, (8,), "tanh"),
        Architecture.mlp(5, (8, 4), "elu"),
    ],
)
def test_architecture_json_round_trip_rebuilds_the_same_network(arch):
    d = json.loads(json.dumps(arch.to_dict()))
    assert Architecture.from_dict(d) == arch
    model = build_model(arch)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == arch.parameter_shapes
    assert arch.n_parameters == sum(p.numel() for p in model.parameters())
    params = json.loads(json.dumps(parameters_to_dict(model)))
    rebuilt = model_from_dict(d, params)
    x = torch.randn(7, 5)
    with torch.no_grad():
        assert torch.allclose(model(x), rebuilt(x))


def test_bad_architectures_and_parameters_are_refused():
    with pytest.raises(DataValidationError):
        Architecture("cnn", 3)
    with pytest.raises(DataValidationError):
        Architecture("logistic", 3, hidden=(4,))
    with pytest.raises(DataValidationError):
        Architecture("mlp", 3)
    with pytest.raises(DataValidationError):
        Architecture.mlp(3, (4,), "swish")
    with pytest.raises(DataValidationError):
        Architecture.from_dict({"kind": "mlp", "input_dim": 3, "hidden": [2], "dropout": 0.1})
    with pytest.raises(DataTypeError):
        Architecture.from_dict([("kind", "mlp")])
    arch = Architecture.mlp(3, (2,))
    params = parameters_to_dict(build_model(arch))
    bad = dict(params)
    bad["0.weight"] = [[0.0] * 3]  # wrong shape
    with pytest.raises(DataValidationError):
        model_from_dict(arch, bad)
    bad = dict(params)
    bad["0.bias"] = [float("nan"), 0.0]
    with pytest.raises(DataValidationError):
        model_from_dict(arch, bad)
    with pytest.raises(DataValidationError):
        model_from_dict(arch, {k: v for k, v in params.items() if k != "2.bias"})


def test_loss_rules():
    assert check_loss(None, Architecture.logistic(2)) == "bce"
    assert check_loss(None, Architecture.linear(2)) == "mse"
    assert check_loss("mse", Architecture.mlp(2, (3,))) == "mse"
    with pytest.raises(PrivacyParameterError):
        check_loss(None, Architecture.mlp(2, (3,)))
    with pytest.raises(DataValidationError):
        check_loss("mse", Architecture.logistic(2))
    with pytest.raises(DataValidationError):
        check_loss("hinge", Architecture.mlp(2, (3,)))


def test_encoding_is_declared_domain_and_bounded():
    data = simulate_trauma(600, random_state=3, missing="mcar")
    enc = encode(data)
    assert enc.X.shape == (600, data.encoder.n_features)
    assert enc.loss == "bce"
    assert np.all(np.linalg.norm(enc.X, axis=1) <= enc.row_norm_bound + 1e-12)
    assert enc.row_norm_bound == data.encoder.row_norm_bound
    with_t = encode(data, include_treatment=True)
    assert with_t.X.shape[1] == enc.X.shape[1] + 1 and with_t.feature_names[-1] == "treatment"
    assert np.all(np.linalg.norm(with_t.X, axis=1) <= with_t.row_norm_bound + 1e-12)
    # Nothing is fitted on the data: the encoding of a subset equals the subset of the encoding.
    assert np.array_equal(encode(data.subset(np.arange(50))).X, enc.X[:50])
    with pytest.raises(DataTypeError):
        encode(enc.X)

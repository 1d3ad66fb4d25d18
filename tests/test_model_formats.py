"""Reading model files and their outputs: identities and refusals (no training, fast)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, log_softmax, softmax

from attacks.targets.outputs import resolve_kind, to_logits
from privcausal.exceptions import DataValidationError

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_probabilities_and_log_probabilities_give_the_same_logits():
    rng = np.random.default_rng(0)
    z = rng.normal(scale=3, size=200)
    p = expit(z)
    assert np.allclose(to_logits(p, "probabilities", "binary"), z, atol=1e-8)
    assert np.allclose(to_logits(np.log(p), "log-probabilities", "binary"), z, atol=1e-8)
    two = np.c_[1 - p, p]
    assert np.allclose(to_logits(two, "probabilities", "binary"), z, atol=1e-8)
    Z = rng.normal(size=(50, 4))
    lp = to_logits(softmax(Z, axis=1), "probabilities", "multiclass")
    assert np.allclose(lp, log_softmax(Z, axis=1), atol=1e-10)


def test_probabilities_of_zero_and_one_stay_finite():
    out = to_logits(np.array([0.0, 1.0, 0.5]), "probabilities", "binary")
    assert np.all(np.isfinite(out)) and out[0] < -20 and out[1] > 20 and out[2] == 0


def test_ambiguous_outputs_are_refused_not_guessed():
    with pytest.raises(DataValidationError, match="declare them"):
        resolve_kind("auto", None, np.array([0.1, 0.7, 0.4]), "binary", "m")
    assert resolve_kind("auto", None, np.array([-2.0, 0.7]), "binary", "m") == "logits"
    assert resolve_kind("probabilities", None, np.array([0.1, 0.7]), "binary", "m") == "probabilities"
    with pytest.raises(DataValidationError, match="declared as logits"):
        resolve_kind("logits", "probabilities", np.array([0.1]), "binary", "m")
    rows = softmax(np.random.default_rng(1).normal(size=(5, 3)), axis=1)
    assert resolve_kind("auto", None, rows, "multiclass", "m") == "probabilities"
    assert resolve_kind("auto", None, np.log(rows), "multiclass", "m") == "log-probabilities"
    with pytest.raises(DataValidationError, match="outside"):
        to_logits(np.array([1.5]), "probabilities", "binary")


def test_torch_graph_tells_sigmoid_softmax_log_softmax_and_linear():
    torch = pytest.importorskip("torch")
    from attacks.targets.outputs import kind_from_torch

    lin = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    assert kind_from_torch(lin, 4) == "logits"
    assert kind_from_torch(torch.nn.Sequential(lin, torch.nn.Sigmoid()), 4) == "probabilities"
    assert kind_from_torch(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LogSoftmax(-1)), 4) \
        == "log-probabilities"
    assert kind_from_torch(torch.jit.script(torch.nn.Sequential(torch.nn.Linear(4, 3),
                                                                 torch.nn.Softmax(-1))), 4) \
        == "probabilities"

    class Functional(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 1)

        def forward(self, x):
            return torch.sigmoid(self.fc(x)).squeeze(-1)

    assert kind_from_torch(Functional(), 4) == "probabilities"


def test_onnx_zipmap_and_probability_outputs(tmp_path):
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.linear_model import LogisticRegression

    from attacks.targets import OnnxTarget, SklearnTarget

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    y = (X[:, 0] + rng.logistic(size=300) > 0).astype(int)
    est = LogisticRegression().fit(X, y)
    want = SklearnTarget(est).outputs(X.astype(np.float64))
    for zipmap in (True, False):
        onx = skl2onnx.to_onnx(est, X[:1], options={id(est): {"zipmap": zipmap}})
        path = tmp_path / f"m{zipmap}.onnx"
        path.write_bytes(onx.SerializeToString())
        t = OnnxTarget(path)
        assert np.allclose(t.outputs(X), want, atol=1e-4)
        assert t.output_kind == "probabilities" and t.n_features == 5


def test_unknown_and_damaged_files(tmp_path):
    from attacks.targets import load_model
    from privcausal.exceptions import DataNotFoundError, DataTypeError

    with pytest.raises(DataNotFoundError):
        load_model(tmp_path / "missing.onnx")
    (tmp_path / "notes.docx").write_bytes(b"hello")
    with pytest.raises(DataTypeError, match="cannot tell the format"):
        load_model(tmp_path / "notes.docx")
    (tmp_path / "m.pkl").write_bytes(b"\x80\x04N.")
    with pytest.raises(DataTypeError, match="--trust-pickle"):
        load_model(tmp_path / "m.pkl")


def test_opacus_checkpoint_checks(tmp_path):
    pytest.importorskip("opacus")
    from attacks.targets.opacus_checkpoint import read_opacus_checkpoint

    ck = {"module_state_dict": {}, "privacy_accountant_state_dict":
          {"history": [(1.1, 0.01, 1000)], "mechanism": "rdp"}}
    acc = read_opacus_checkpoint(ck, 1e-5)
    assert acc.steps == 1000 and acc.noise_multiplier == 1.1 and acc.sampling_rate == 0.01
    assert 0 < acc.epsilon_pld <= acc.epsilon_opacus
    from opacus.accountants import RDPAccountant

    ref = RDPAccountant()
    ref.history = [(1.1, 0.01, 1000)]
    assert acc.epsilon_opacus == pytest.approx(ref.get_epsilon(1e-5))
    with pytest.raises(DataValidationError, match="delta > 0"):
        read_opacus_checkpoint(ck, 0.0)
    with pytest.raises(DataValidationError, match="no training step"):
        read_opacus_checkpoint({**ck, "privacy_accountant_state_dict": {"history": [],
                                                                          "mechanism": "rdp"}}, 1e-5)


def _user_function(x):  # a function a skops file can name: not a scikit-learn class
    return x


def test_skops_trusts_scikit_learn_classes_but_not_code_it_names(tmp_path):
    """skops lists a forest's Tree as untrusted; privcausal trusts scikit-learn's own classes
    (rebuilt from stored state) but still refuses a file that names other code to call."""
    sio = pytest.importorskip("skops.io")
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from attacks.targets import load_model
    from attacks.targets.formats import ModelFileRefused

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), rng.integers(0, 2, 60)
    sio.dump(RandomForestClassifier(5, random_state=0).fit(X, y), tmp_path / "rf.skops")
    assert load_model(tmp_path / "rf.skops").target.task == "binary"
    pipe = make_pipeline(FunctionTransformer(_user_function), RandomForestClassifier(5)).fit(X, y)
    sio.dump(pipe, tmp_path / "pipe.skops")
    with pytest.raises(ModelFileRefused, match="does not trust"):
        load_model(tmp_path / "pipe.skops")
    untrusted = [t for t in sio.get_untrusted_types(file=tmp_path / "pipe.skops")
                 if not t.startswith("sklearn.")]
    assert load_model(tmp_path / "pipe.skops", trusted_types=untrusted).target.task == "binary"

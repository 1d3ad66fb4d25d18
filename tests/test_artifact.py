"""Released-model artifacts: round trips, and every way a received file can be bad."""

import hashlib
import json
import math
import zipfile

import numpy as np
import pytest

from privcausal.estimators.cate import SLearner, TARNet, TLearner
from privcausal.exceptions import ModelFileError
from privcausal.training import train_dpsgd
from privcausal.training.artifact import FORMAT_VERSION, ReleasedModel, load, save

FAST = dict(recipe={"epochs": 3, "sampling_rate": 0.5}, random_state=0)
_UNPICKLED: list = []


def _mark():  # called only if something unpickles the payload below
    _UNPICKLED.append(1)
    return 0


class _Evil:
    def __reduce__(self):
        return (_mark, ())


@pytest.fixture(scope="module")
def data(trauma_small):
    return trauma_small.subset(np.arange(800))


@pytest.fixture(scope="module")
def ihdp_like():
    from tests.test_cate import _continuous

    return _continuous(n=200, seed=2)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, ihdp_like):
    est = TARNet(epsilon=2.0, delta=1e-5, **FAST).fit(ihdp_like)
    path = save(est, tmp_path_factory.mktemp("m") / "tarnet")
    return est, path


def _rehash(folder):
    doc = json.loads((folder / "model.json").read_text())
    doc["weights"]["sha256"] = hashlib.sha256((folder / "weights.npz").read_bytes()).hexdigest()
    (folder / "model.json").write_text(json.dumps(doc))


def _copy(src, dst):
    dst.mkdir()
    for f in ("model.json", "weights.npz"):
        (dst / f).write_bytes((src / f).read_bytes())
    return dst


@pytest.mark.parametrize("cls", [TLearner, SLearner, TARNet])
def test_round_trip_learners(cls, data, ihdp_like, tmp_path):
    for d in (data, ihdp_like):
        est = cls(epsilon=2.0, delta=1e-5, **FAST).fit(d)
        folder = est.save(tmp_path / f"{cls.__name__}-{d.n}")
        m = load(folder)
        assert isinstance(m, ReleasedModel)
        np.testing.assert_array_equal(m.effect(d.X), est.effect(d))
        np.testing.assert_array_equal(m.mu(d.covariates, 1), est.mu(d, 1))
        # the file carries the model's receipt; the learner's privacy_ adds its ATE release
        assert m.receipt.epsilon == est.model_.receipt.epsilon and m.receipt.notes == est.model_.receipt.notes
        assert m.receipt.epsilon < est.privacy_.epsilon <= 2.0 * (1 + 1e-9)
        assert m.feature_names == list(d.encoder.feature_names)
        assert m.domain.to_dict() == d.domain.to_dict()
        doc = json.loads((folder / "model.json").read_text())
        assert doc["format_version"] == FORMAT_VERSION and doc["learner"]["class"] == cls.__name__
        assert "seeded" == doc["learner"]["recipe"]["random_state"]  # never the seed itself


def test_round_trip_training_result_and_user_csv(tmp_path, data):
    r = train_dpsgd(data, architecture="logistic", epsilon=1.0, delta=1e-5, epochs=1, random_state=0)
    m = load(save(r, tmp_path / "single"))
    np.testing.assert_array_equal(m.predict(data.X), r.predict(data.X))
    # a user's raw CSV frame (extra columns are dropped) encodes like the training data
    est = TLearner(epsilon=1.0, **FAST).fit(data)
    m2 = load(est.save(tmp_path / "t"))
    frame = data.covariates.assign(death=data.outcome, txa=data.treatment)
    np.testing.assert_array_equal(m2.effect(frame), est.effect(data))


def test_non_private_twin_round_trip(tmp_path, ihdp_like):
    est = TLearner(epsilon=math.inf, **FAST).fit(ihdp_like)
    m = load(est.save(tmp_path / "np"))
    assert m.receipt.epsilon == math.inf
    np.testing.assert_array_equal(m.effect(ihdp_like.X), est.effect(ihdp_like))


def test_refuses_to_overwrite(saved, ihdp_like):
    est, path = saved
    with pytest.raises(ModelFileError, match="not empty"):
        save(est, path)
    save(est, path, overwrite=True)
    load(path)


def test_truncated_files(saved, tmp_path):
    _, src = saved
    f = _copy(src, tmp_path / "a")
    w = (f / "weights.npz").read_bytes()
    (f / "weights.npz").write_bytes(w[: len(w) // 2])
    with pytest.raises(ModelFileError, match="SHA-256"):
        load(f)
    _rehash(f)  # even with a matching hash, a truncated npz is refused cleanly
    with pytest.raises(ModelFileError, match="truncated|corrupted"):
        load(f)
    g = _copy(src, tmp_path / "b")
    j = (g / "model.json").read_text()
    (g / "model.json").write_text(j[: len(j) // 2])
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load(g)


def test_tampered_weights(saved, tmp_path):
    _, src = saved
    f = _copy(src, tmp_path / "a")
    w = bytearray((f / "weights.npz").read_bytes())
    w[200] ^= 0x01
    (f / "weights.npz").write_bytes(bytes(w))
    with pytest.raises(ModelFileError, match="SHA-256"):
        load(f)


def _rewrite_npz(folder, mutate):
    with np.load(folder / "weights.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    mutate(arrays)
    with open(folder / "weights.npz", "wb") as fh:
        np.savez(fh, **arrays)
    _rehash(folder)


def test_shapes_and_names_must_match_architecture(saved, tmp_path):
    _, src = saved
    f = _copy(src, tmp_path / "shape")
    _rewrite_npz(f, lambda a: a.__setitem__("head0/0.weight", np.zeros((1, 99), np.float32)))
    with pytest.raises(ModelFileError, match="shape"):
        load(f)
    g = _copy(src, tmp_path / "names")
    _rewrite_npz(g, lambda a: a.__setitem__("head2/0.weight", a.pop("head1/0.weight")))
    with pytest.raises(ModelFileError, match="does not match the architecture"):
        load(g)
    h = _copy(src, tmp_path / "dtype")
    _rewrite_npz(h, lambda a: a.__setitem__("head0/0.bias", np.array([1], dtype=np.int64)))
    with pytest.raises(ModelFileError, match="float32/float64"):
        load(h)
    k = _copy(src, tmp_path / "arch")
    doc = json.loads((k / "model.json").read_text())
    doc["networks"]["trunk"]["input_dim"] += 1
    (k / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError):
        load(k)


def test_object_array_is_refused_without_unpickling(saved, tmp_path):
    _, src = saved
    f = _copy(src, tmp_path / "evil")
    evil = np.empty((1, 1), dtype=object)
    evil[0, 0] = _Evil()
    _rewrite_npz(f, lambda a: a.__setitem__("head0/0.bias", evil))
    with zipfile.ZipFile(f / "weights.npz") as z:  # the payload really is a pickle
        assert b"_mark" in z.read("head0/0.bias.npy")
    with pytest.raises(ModelFileError, match="object arrays"):
        load(f)
    assert _UNPICKLED == []


def test_unknown_version_and_missing_pieces(saved, tmp_path):
    _, src = saved
    f = _copy(src, tmp_path / "v")
    doc = json.loads((f / "model.json").read_text())
    doc["format_version"] = FORMAT_VERSION + 1
    (f / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="unknown model format version"):
        load(f)
    doc["format_version"] = FORMAT_VERSION
    doc["format"] = "something-else"
    (f / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="not a privcausal model"):
        load(f)
    for key in ("privacy", "networks", "weights", "outcome"):
        g = _copy(src, tmp_path / f"no-{key}")
        doc = json.loads((g / "model.json").read_text())
        del doc[key]
        (g / "model.json").write_text(json.dumps(doc))
        with pytest.raises(ModelFileError, match=key):
            load(g)
    h = _copy(src, tmp_path / "no-weights-file")
    (h / "weights.npz").unlink()
    with pytest.raises(ModelFileError, match="missing weights.npz"):
        load(h)
    (h / "model.json").unlink()
    with pytest.raises(ModelFileError, match="missing model.json"):
        load(h)
    with pytest.raises(ModelFileError, match="does not exist"):
        load(tmp_path / "nowhere")


def test_preprocessing_must_be_consistent(saved, tmp_path):
    _, src = saved
    f = _copy(src, tmp_path / "names")
    doc = json.loads((f / "model.json").read_text())
    doc["preprocessing"]["feature_names"][0] = "other"
    (f / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="feature names"):
        load(f)
    g = _copy(src, tmp_path / "nan")
    (g / "model.json").write_text((g / "model.json").read_text().replace('"format_version": 1', '"format_version": NaN'))
    with pytest.raises(ModelFileError):
        load(g)

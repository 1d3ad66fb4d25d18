"""Audits of models privcausal did not train, end to end through ``privcausal audit model``.

An MLP (30-16-1) trained here with opacus ``make_private_with_epsilon`` is saved as an opacus
checkpoint, a state_dict and TorchScript, and audited with LiRA and RMIA (reference models
from the checkpoint's recipe, or from the user's recipe function), epsilon read from the
checkpoint; a logistic regression trained with DP-SGD and saved as a scikit-learn model goes
through skops and ONNX. Each bound is at or below the claim; the non-private versions of the
same models are attacked harder (AUC), and one with a claim it cannot meet is a violation.
"""

from __future__ import annotations

import json
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest

from privcausal.cli import main

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

torch = pytest.importorskip("torch")
pytest.importorskip("opacus")

D, M = 30, 1000
DELTA = 1e-5


def _data(d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(4 * M, d)).astype(np.float32)
    w = rng.normal(size=d)
    y = ((X @ w / np.sqrt(d) + 2.0 * rng.logistic(size=4 * M)) > 0).astype(np.float32)
    return X, y


def _csvs(folder, X, y) -> dict[str, str]:
    cols = [f"x{i}" for i in range(X.shape[1])]
    out = {}
    for name, sl in (("members", slice(0, M)), ("non", slice(M, 2 * M)), ("pop", slice(2 * M, 4 * M))):
        f = pd.DataFrame(X[sl], columns=cols)
        f["died"] = y[sl].astype(int)
        out[name] = str(folder / f"{name}.csv")
        f.to_csv(out[name], index=False)
    return out


def _mlp() -> "torch.nn.Module":
    return torch.nn.Sequential(torch.nn.Linear(D, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))


def _train_opacus(X, y, *, private: bool, epsilon: float = 2.0, epochs: int = 40):
    from opacus import PrivacyEngine

    torch.manual_seed(0)
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    ds = torch.utils.data.TensorDataset(torch.tensor(X[:M]), torch.tensor(y[:M]))
    dl = torch.utils.data.DataLoader(ds, batch_size=100)
    engine = None
    if private:
        engine = PrivacyEngine(accountant="rdp")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, opt, dl = engine.make_private_with_epsilon(
                module=model, optimizer=opt, data_loader=dl, target_epsilon=epsilon,
                target_delta=DELTA, epochs=epochs, max_grad_norm=1.0)
    loss = torch.nn.BCEWithLogitsLoss()
    for _ in range(epochs):
        for xb, yb in dl:
            opt.zero_grad()
            loss(model(xb)[:, 0], yb).backward()
            opt.step()
    return model, engine, opt


@pytest.fixture(scope="module")
def opacus_world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("opacus")
    X, y = _data(D, 0)
    files = _csvs(folder, X, y)
    model, engine, opt = _train_opacus(X, y, private=True)
    engine.save_checkpoint(path=folder / "checkpoint.pt", module=model, optimizer=opt)
    plain = _mlp()
    plain.load_state_dict(model._module.state_dict())  # the weights, without opacus' hooks
    torch.save(plain.state_dict(), folder / "weights.pt")
    torch.jit.save(torch.jit.script(plain), folder / "private.torchscript.pt")
    leaky, _, _ = _train_opacus(X, y, private=False)
    torch.jit.save(torch.jit.script(leaky), folder / "nonprivate.torchscript.pt")
    torch.save(leaky, folder / "whole_model.pt")  # a pickle: refused unless trusted
    (folder / "mlp.toml").write_text('kind = "mlp"\ninput_dim = 30\nhidden = [16]\n'
                                     'activation = "relu"\n')
    # the user's own recipe: SGD on the split, like the target but without noise
    (folder / "my_recipe.py").write_text(textwrap.dedent("""
        import torch

        def fit(X, y, random_state):
            torch.manual_seed(random_state % 2**31)
            m = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
            opt = torch.optim.SGD(m.parameters(), lr=0.5)
            Xt, yt = torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
            g = torch.Generator().manual_seed(random_state % 2**31)
            for _ in range(40):
                for idx in torch.randperm(len(Xt), generator=g).split(100):
                    opt.zero_grad()
                    torch.nn.functional.binary_cross_entropy_with_logits(m(Xt[idx])[:, 0], yt[idx]).backward()
                    opt.step()
            return m
    """))
    return folder, files, float(engine.get_epsilon(DELTA))


def _audit(capsys, argv, status=0):
    rc = main(["audit", "model", *argv, "--json", "--no-progress"])
    out = capsys.readouterr()
    assert rc == status, out.err + out.out
    return json.loads(out.out)


def _records(files):
    return ["--members", files["members"], "--nonmembers", files["non"], "--population",
            files["pop"], "--label", "died"]


@pytest.mark.parametrize("attack", ["lira", "rmia"])
def test_opacus_checkpoint_epsilon_read_and_bound_below_it(capsys, opacus_world, attack):
    folder, files, eps = opacus_world
    d = _audit(capsys, ["--model", str(folder / "checkpoint.pt"), "--architecture",
                        str(folder / "mlp.toml"), "--delta", str(DELTA), "--attack", attack,
                        "--reference-models", "8", "--random-state", "0", *_records(files)])
    assert d["epsilon_theory"] == pytest.approx(eps, rel=1e-9)
    assert d["opacus"]["accountant"] == "opacus rdp" and d["opacus"]["steps"] == 400
    # privcausal's PLD accountant for the same run is tighter than opacus' RDP
    assert 0 < d["opacus"]["epsilon_pld"] <= d["opacus"]["epsilon_opacus"]
    assert d["model"]["format"] == "opacus-checkpoint" and d["model"]["outputs"] == "logits"
    assert d["attack_metrics"]["n_reference"] == 8 and "noise_multiplier" in d["model"]["recipe"]
    assert 0.0 <= d["epsilon_lower"] <= d["epsilon_theory"] and d["violation"] is False
    assert any("clipping norm" in n for n in d["notes"])


def test_state_dict_and_torchscript_with_the_users_recipe(capsys, opacus_world, tmp_path, monkeypatch):
    folder, files, eps = opacus_world
    monkeypatch.chdir(folder)
    results = {}
    for name, extra in (("weights.pt", ["--architecture", "mlp.toml"]),
                        ("private.torchscript.pt", []),
                        ("nonprivate.torchscript.pt", ["--report", str(tmp_path / "rep")])):
        rc = main(["audit", "model", "--model", name, *extra, "--epsilon", f"{eps}", "--delta",
                   str(DELTA), "--attack", "lira", "--recipe", "my_recipe.py:fit",
                   "--reference-models", "8", "--random-state", "1", *_records(files), "--json",
                   "--no-progress"])
        d = json.loads(capsys.readouterr().out)
        assert rc == (3 if d["violation"] else 0)
        results[name] = d
        assert d["model"]["recipe"].endswith(":fit")
    priv, ts, leaky = (results[k] for k in ("weights.pt", "private.torchscript.pt",
                                             "nonprivate.torchscript.pt"))
    # the same weights read two ways give the same scores, hence the same bound
    assert priv["attack_metrics"]["auc"] == pytest.approx(ts["attack_metrics"]["auc"], abs=1e-9)
    assert ts["model"]["outputs_read_from"] == "the model's last operation"
    for d in (priv, ts):
        assert 0.0 <= d["epsilon_lower"] <= d["epsilon_theory"] and not d["violation"]
    assert leaky["attack_metrics"]["auc"] > priv["attack_metrics"]["auc"] + 0.05
    html = (tmp_path / "rep" / "audit.html").read_text()
    assert "What the claim means for an attacker" in html and "Glossary" in html


def test_pickles_are_refused_unless_trusted(capsys, opacus_world):
    folder, files, _ = opacus_world
    argv = ["audit", "model", "--model", str(folder / "whole_model.pt"), "--epsilon", "2",
            "--attack", "loss", *_records(files), "--json"]
    rc = main(argv)
    cap = capsys.readouterr()
    err = cap.err + cap.out  # with --json the error is a JSON object on stdout
    assert rc == 2 and "TorchScript" in err and "--trust-pickle" in err
    rc = main(argv + ["--trust-pickle"])
    d = json.loads(capsys.readouterr().out)
    assert rc in (0, 3) and d["model"]["format"] == "torch-pickle"


def test_a_state_dict_needs_its_architecture_and_the_right_one(capsys, opacus_world, tmp_path):
    folder, files, _ = opacus_world
    rc = main(["audit", "model", "--model", str(folder / "weights.pt"), "--epsilon", "2",
               *_records(files), "--attack", "loss"])
    assert rc == 2 and "--architecture" in capsys.readouterr().err
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('kind = "mlp"\ninput_dim = 30\nhidden = [8]\n')
    rc = main(["audit", "model", "--model", str(folder / "weights.pt"), "--architecture", str(wrong),
               "--epsilon", "2", *_records(files), "--attack", "loss"])
    assert rc == 2 and "shape" in capsys.readouterr().err


def test_a_sigmoid_model_is_read_as_probabilities_never_as_logits(opacus_world, tmp_path):
    from audits import audit_model

    folder, files, _ = opacus_world
    sd = torch.load(folder / "weights.pt", weights_only=True)
    base = _mlp()
    base.load_state_dict(sd)
    with_sigmoid = torch.nn.Sequential(base, torch.nn.Sigmoid())
    torch.jit.save(torch.jit.script(with_sigmoid), tmp_path / "sig.pt")
    plain = audit_model(folder / "private.torchscript.pt", files["members"], files["non"],
                        label="died", attack="loss", epsilon=2.0)
    sig = audit_model(tmp_path / "sig.pt", files["members"], files["non"], label="died",
                      attack="loss", epsilon=2.0)
    assert sig.details["model"]["outputs"] == "probabilities"
    assert sig.details["attack_metrics"]["auc"] == pytest.approx(plain.details["attack_metrics"]["auc"],
                                                                 abs=2e-3)
    with pytest.raises(Exception, match="declared as logits"):
        audit_model(tmp_path / "sig.pt", files["members"], files["non"], label="died",
                    attack="loss", epsilon=2.0, outputs="logits")


def test_members_columns_checked_by_name(opacus_world, tmp_path):
    from audits import audit_model
    from privcausal.exceptions import DataValidationError

    folder, files, _ = opacus_world
    non = pd.read_csv(files["non"]).drop(columns=["x3"]).assign(extra=1.0)
    with pytest.raises(DataValidationError, match=r"missing 'x3'.*extra 'extra'"):
        audit_model(folder / "private.torchscript.pt", files["members"], non, label="died",
                    attack="loss", epsilon=2.0)
    shuffled = pd.read_csv(files["non"])
    shuffled = shuffled[list(reversed(shuffled.columns))]
    a = audit_model(folder / "private.torchscript.pt", files["members"], shuffled, label="died",
                    attack="loss", epsilon=2.0)
    b = audit_model(folder / "private.torchscript.pt", files["members"], files["non"], label="died",
                    attack="loss", epsilon=2.0)
    assert a.details["attack_metrics"]["auc"] == b.details["attack_metrics"]["auc"]
    dup = pd.concat([pd.read_csv(files["non"]).iloc[5:], pd.read_csv(files["members"]).iloc[:5]])
    with pytest.raises(DataValidationError, match="both as members and as non-members"):
        audit_model(folder / "private.torchscript.pt", files["members"], dup, label="died",
                    attack="loss", epsilon=2.0)


# ------------------------------------------------------------------ scikit-learn: skops, ONNX
DS = 300  # wide enough that the non-private logistic regression overfits 1,000 records


def _as_sklearn(result: object, d: int):
    from sklearn.linear_model import LogisticRegression

    lin = [m for m in result.model.modules() if isinstance(m, torch.nn.Linear)][0]
    est = LogisticRegression()
    est.coef_ = lin.weight.detach().double().numpy().copy()
    est.intercept_ = lin.bias.detach().double().numpy().copy()
    est.classes_ = np.array([0, 1])
    est.n_features_in_ = d
    return est


@pytest.fixture(scope="module")
def sklearn_world(tmp_path_factory):
    pytest.importorskip("skops")
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    from privcausal.training import DPSGDRecipe, train_dpsgd

    folder = tmp_path_factory.mktemp("sklearn")
    X, y = _data(DS, 1)
    files = _csvs(folder, X, y)
    recipe = DPSGDRecipe(architecture="logistic", epsilon=1.0, delta=DELTA, epochs=30,
                         batch_size=100, lr=0.5)
    res = train_dpsgd(X[:M].astype(np.float64), y[:M].astype(np.float64), recipe, random_state=0)
    private = _as_sklearn(res, DS)
    leaky = LogisticRegression(C=1e4, max_iter=5000).fit(X[:M], y[:M].astype(int))
    paths = {}
    for name, est in (("private", private), ("nonprivate", leaky)):
        paths[f"{name}.skops"] = folder / f"{name}.skops"
        sio.dump(est, paths[f"{name}.skops"])
        onx = skl2onnx.to_onnx(est, X[:1], options={id(est): {"zipmap": False}})
        paths[f"{name}.onnx"] = folder / f"{name}.onnx"
        paths[f"{name}.onnx"].write_bytes(onx.SerializeToString())
    (folder / "dp_recipe.json").write_text(json.dumps(recipe.to_dict()))
    (folder / "sk_recipe.py").write_text(textwrap.dedent("""
        from sklearn.linear_model import LogisticRegression

        def fit(X, y, random_state):
            return LogisticRegression(C=1e4, max_iter=5000).fit(X, y)
    """))
    return folder, files, paths, float(res.epsilon)


def test_sklearn_through_skops_and_onnx(capsys, sklearn_world):
    folder, files, paths, eps = sklearn_world
    out = {}
    for name in ("private.skops", "private.onnx", "nonprivate.skops", "nonprivate.onnx"):
        argv = ["audit", "model", "--model", str(paths[name]), "--epsilon", f"{eps}", "--delta",
                str(DELTA), "--attack", "lira", "--reference-models", "8", "--random-state", "0",
                *_records(files), "--json", "--no-progress"]
        if name.startswith("private"):  # reference models trained like the target: DP-SGD
            argv += ["--recipe", str(folder / "dp_recipe.json")]
        elif name.endswith(".onnx"):  # an ONNX file does not say how it was trained
            argv += ["--recipe", f"{folder / 'sk_recipe.py'}:fit"]
        rc = main(argv)
        cap = capsys.readouterr()
        d = json.loads(cap.out)
        assert rc != 2, cap.out + cap.err
        out[name] = d
        if name.startswith("private"):
            assert rc == 0 and not d["violation"]
            assert 0.0 <= d["epsilon_lower"] <= d["epsilon_theory"] == pytest.approx(eps)
    assert out["private.onnx"]["model"]["outputs"] == "probabilities"
    assert out["nonprivate.skops"]["model"]["recipe"].startswith("sklearn.base.clone")
    for fmt in ("skops", "onnx"):
        assert out[f"nonprivate.{fmt}"]["attack_metrics"]["auc"] > \
            out[f"private.{fmt}"]["attack_metrics"]["auc"] + 0.05
    # the same model read through skops and ONNX (float32 graph) gives nearly the same AUC
    assert out["nonprivate.onnx"]["attack_metrics"]["auc"] == pytest.approx(
        out["nonprivate.skops"]["attack_metrics"]["auc"], abs=0.02)


def test_a_random_forest_with_a_false_claim_is_a_violation(capsys, tmp_path):
    """A non-private random forest audited against epsilon = 0.5: its pure leaves give
    probabilities of exactly 0 and 1 (clipped, never -inf), and the bound exceeds the claim."""
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    X, y = _data(10, 3)
    files = _csvs(tmp_path, X[:, :10], y)
    cols = [f"x{i}" for i in range(10)]
    rf = RandomForestClassifier(50, random_state=0).fit(pd.DataFrame(X[:M, :10], columns=cols),
                                                        y[:M].astype(int))
    sio.dump(rf, tmp_path / "rf.skops")
    d = _audit(capsys, ["--model", str(tmp_path / "rf.skops"), "--epsilon", "0.5", "--attack",
                        "loss", *_records(files)], status=3)
    assert d["violation"] and d["epsilon_lower"] > 0.5
    assert d["model"]["recipe"].startswith("sklearn.base.clone")


@pytest.mark.parametrize("learner", ["dp-tlearner", "dp-slearner"])
def test_privcausal_per_arm_learners_attacked_with_rmia_and_lira(capsys, tmp_path, learner):
    """``fit --save`` of a per-arm CATE learner, then ``attack membership --attack rmia,lira``
    and ``audit model``: the reference learners are trained like the target from its file."""
    from privcausal.data import simulate_trauma

    data = simulate_trauma(1200, random_state=0)
    frame = data.covariates.assign(treatment=data.treatment, y=data.outcome)
    parts = {"members": frame.iloc[:300], "non": frame.iloc[300:600], "pop": frame.iloc[600:]}
    files = {k: tmp_path / f"{k}.csv" for k in parts}
    for k, f in parts.items():
        f.to_csv(files[k], index=False)
    train = tmp_path / "train.csv"
    parts["members"].to_csv(train, index=False)
    from privcausal.data.trauma import trauma_domain

    (tmp_path / "domain.toml").write_text(trauma_domain().to_toml())
    rc = main(["fit", "--data", str(train), "--treatment", "treatment", "--outcome", "y",
               "--domain", str(tmp_path / "domain.toml"), "--estimator", learner, "--epsilon", "4",
               "--epochs", "5", "--save", str(tmp_path / "model"), "--json", "--random-state", "0"])
    capsys.readouterr()
    assert rc == 0
    rc = main(["attack", "membership", "--model", str(tmp_path / "model"), "--members",
               str(files["members"]), "--nonmembers", str(files["non"]), "--population",
               str(files["pop"]), "--attack", "rmia,lira", "--reference-models", "4",
               "--random-state", "0", "--json", "--no-progress"])
    cap = capsys.readouterr()
    assert rc == 0, cap.out + cap.err
    out = json.loads(cap.out)["attacks"]
    assert out["rmia"]["n_reference"] == 4 and 0.0 <= out["lira"]["auc"] <= 1.0
    assert any("trained like the target" in n for n in out["rmia"]["notes"])
    d = _audit(capsys, ["--model", str(tmp_path / "model"), "--members", str(files["members"]),
                        "--nonmembers", str(files["non"]), "--population", str(files["pop"]),
                        "--attack", "rmia", "--reference-models", "4", "--random-state", "0"])
    assert 0.0 <= d["epsilon_lower"] <= d["epsilon_theory"] and d["model"]["format"] == "privcausal"

"""``privcausal attack membership|reconstruct`` end to end, through privcausal.cli.main."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from privcausal.cli.attack import ATTACKS as CLI_ATTACKS
from privcausal.cli import main
from attacks.membership import ATTACKS
from attacks.release_file import write_release


def _run(capsys, argv):
    rc = main(argv)
    return rc, capsys.readouterr()


def test_cli_attack_names_match_the_library():
    assert CLI_ATTACKS == ATTACKS


@pytest.fixture(scope="module")
def released(tmp_path_factory, trauma_small):
    from privcausal.training import artifact, train_dpsgd

    d = trauma_small
    members, non, pop = d.subset(np.arange(200)), d.subset(np.arange(200, 400)), d.subset(np.arange(400, 800))
    res = train_dpsgd(members, epsilon=np.inf, architecture="logistic", epochs=20, batch_size=50,
                      lr=0.5, random_state=0)
    root = tmp_path_factory.mktemp("cli")
    path = artifact.save(res, root / "model")
    files = {}
    for name, part in (("members", members), ("non", non), ("pop", pop)):
        # raw covariates cannot be encoded without a recorded domain: write the encoded columns
        frame = pd.DataFrame(part.X, columns=part.encoder.feature_names).assign(y=part.outcome)
        files[name] = root / f"{name}.csv"
        frame.to_csv(files[name], index=False)
    return path, files, root


def test_membership_json(capsys, released):
    path, f, root = released
    rc, out = _run(capsys, ["attack", "membership", "--model", str(path), "--members", str(f["members"]),
                            "--nonmembers", str(f["non"]), "--attack", "loss", "--json"])
    assert rc == 0, out.err
    d = json.loads(out.out)
    assert d["n_members"] == 200 and d["n_nonmembers"] == 200
    assert set(d["tpr_at_fpr"]) == {"0", "0.001", "0.01"} and 0 <= d["advantage"] <= 1
    assert 0.3 < d["auc"] < 0.9


def test_membership_reference_attacks_and_report(capsys, released):
    path, f, root = released
    rep = root / "report"
    rc, out = _run(capsys, ["attack", "membership", "--model", str(path), "--members", str(f["members"]),
                            "--nonmembers", str(f["non"]), "--population", str(f["pop"]),
                            "--attack", "lira-offline,rmia", "--reference-models", "2",
                            "--random-state", "0", "--json", "--report", str(rep)])
    assert rc == 0, out.err
    d = json.loads(out.out)["attacks"]
    assert set(d) == {"lira-offline", "rmia"} and d["rmia"]["n_reference"] == 2
    assert (rep / "membership_roc.png").is_file() and (rep / "membership.md").is_file()


def test_membership_errors_are_clean(capsys, released, tmp_path):
    path, f, root = released
    bad = tmp_path / "bad.csv"
    pd.read_csv(f["members"]).drop(columns=["age"]).to_csv(bad, index=False)
    rc, out = _run(capsys, ["attack", "membership", "--model", str(path), "--members", str(bad),
                            "--nonmembers", str(f["non"]), "--json"])
    assert rc == 2 and "expects" in json.loads(out.out)["error"]
    scores = tmp_path / "scores.csv"
    pd.DataFrame({"id": ["a", "b", "c"], "loss": [0.1, np.nan, 0.3]}).to_csv(scores, index=False)
    ids = tmp_path / "ids.csv"
    pd.DataFrame({"id": ["a"]}).to_csv(ids, index=False)
    rc, out = _run(capsys, ["attack", "membership", "--model", str(scores), "--members", str(ids),
                            "--nonmembers", str(ids), "--attack", "loss"])
    assert rc == 2 and "1 NaN" in out.err


def test_reconstruct_gram_release(capsys, tmp_path):
    from privcausal.estimators.adassp import adassp

    rng = np.random.default_rng(0)
    X = np.c_[np.ones(50), rng.uniform(-1, 1, (50, 3))]
    y = rng.uniform(-1, 1, 50)
    rel = adassp(X.T @ X, X.T @ y, bound_x=2.0, bound_y=1.0, epsilon=1.0, delta=1e-6, random_state=1)
    names = ["intercept", "a", "b", "c"]
    exact = write_release(tmp_path / "exact.json", "gram", feature_names=names, xtx=X.T @ X, xty=X.T @ y)
    noisy = write_release(tmp_path / "noisy.json", "gram", feature_names=names, xtx=rel.xtx, xty=rel.xty,
                          receipt={"release": "AdaSSP", "mechanism": "gaussian", "epsilon": 1.0,
                                   "delta": 1e-6, "accountant": "PLD",
                                   "events": [e.to_dict() for e in rel.events]})
    known = tmp_path / "known.csv"
    pd.DataFrame(X[:-1, 1:], columns=names[1:]).assign(y=y[:-1]).to_csv(known, index=False)
    rc, out = _run(capsys, ["attack", "reconstruct", "--release", str(exact), "--known", str(known), "--json"])
    assert rc == 0, out.err
    d = json.loads(out.out)
    np.testing.assert_allclose([d["record"][n] for n in names], X[-1], atol=1e-9)
    assert d["outcome"] == pytest.approx(y[-1], abs=1e-9)
    rc, out = _run(capsys, ["attack", "reconstruct", "--release", str(noisy), "--known", str(known),
                            "--kappa", "0.01", "--json"])
    assert rc == 0, out.err
    b = json.loads(out.out)["rero_bound"]
    assert 0.01 < b["estimate"] < 1 and b["method"].startswith("closed form")

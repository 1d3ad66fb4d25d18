"""The persistent privacy ledger: budgets that outlive a call, across processes, under races."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from privcausal.cli import main
from privcausal.exceptions import BudgetExceededError
from privcausal.privacy.ledger import Ledger, fingerprint

DOMAIN = """
[outcome]
lower = 0
upper = 1
binary = true

[covariates.age]
lower = 0
upper = 100
"""


def _file(tmp_path: Path, n: int = 300, seed: int = 0, name: str = "registry.csv") -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 90, n).round(1)
    t = (rng.random(n) < 0.5).astype(int)
    y = (rng.random(n) < 0.2 + 0.1 * t).astype(int)
    p = tmp_path / name
    pd.DataFrame({"age": age, "t": t, "y": y}).to_csv(p, index=False)
    dom = tmp_path / "d.toml"
    dom.write_text(DOMAIN)
    return p, dom


def _args(p: Path, dom: Path) -> list[str]:
    return [str(p), "--treatment", "t", "--outcome", "y", "--domain", str(dom)]


def _fit(p: Path, dom: Path, eps: str = "1") -> list[str]:
    return ["fit", "--data", str(p), "--treatment", "t", "--outcome", "y", "--domain", str(dom),
            "--estimator", "dim", "--epsilon", eps, "--delta", "0", "--json"]


def _load(p: Path, dom: Path):
    from privcausal.data import from_frame

    return from_frame(p, treatment="t", outcome="y", domain=dom)


def test_third_fit_of_epsilon_one_under_a_total_of_two_is_refused_across_processes(tmp_path):
    p, dom = _file(tmp_path)
    env = dict(os.environ, PRIVCAUSAL_LEDGER=str(tmp_path / "ledger.sqlite"))
    cli = [sys.executable, "-m", "privcausal.cli"]
    r = subprocess.run(cli + ["budget", "set"] + _args(p, dom) + ["--epsilon", "2", "--delta", "0"],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for _ in range(2):
        r = subprocess.run(cli + _fit(p, dom), env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "ate" in json.loads(r.stdout)
    r = subprocess.run(cli + _fit(p, dom), env=env, capture_output=True, text=True)
    assert r.returncode == 2
    out = json.loads(r.stdout)
    assert set(out) == {"error"} and "nothing was released" in out["error"]
    r = subprocess.run(cli + ["budget", "show"] + _args(p, dom) + ["--json"], env=env,
                       capture_output=True, text=True)
    entry = json.loads(r.stdout)
    assert entry["spent_epsilon"] == pytest.approx(2.0) and entry["remaining_epsilon"] == pytest.approx(0.0)
    assert len(entry["releases"]) == 2
    assert "fingerprint" not in r.stdout  # a hash of the exact records never leaves


def _race(path: str, csv: str, dom: str, barrier, results) -> None:
    from privcausal.data import from_frame

    data = from_frame(csv, treatment="t", outcome="y", domain=dom)
    barrier.wait()
    try:
        with Ledger(path).charge(data, 1.0, 0.0, "race") as r:
            time.sleep(0.3)  # the release runs while the other process tries to reserve
            r.settle(type("R", (), {"epsilon": 1.0, "delta": 0.0, "to_dict": lambda self: {}})())
        results.put("ok")
    except BudgetExceededError:
        results.put("refused")


def test_two_concurrent_runs_cannot_both_pass_the_cap(tmp_path):
    p, dom = _file(tmp_path)
    path = str(tmp_path / "race.sqlite")
    Ledger(path).set_budget(_load(p, dom), 1.5, 0.0)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(path, str(p), str(dom), barrier, results)) for _ in range(2)]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join(120)
    got = sorted(results.get(timeout=5) for _ in range(2))
    assert got == ["ok", "refused"]
    assert Ledger(path).show(_load(p, dom)).spent_epsilon == pytest.approx(1.0)


def test_a_failed_release_is_not_charged_and_a_settled_one_records_its_receipt(tmp_path, trauma_small):
    from privcausal.estimators import make_estimator

    ledger = Ledger(tmp_path / "l.sqlite")
    data = trauma_small
    ledger.set_budget(data, 1.0, 1e-6)
    with pytest.raises(RuntimeError):
        with ledger.charge(data, 0.6, 0.0, "fails"):
            raise RuntimeError("boom")
    assert ledger.show(data).spent_epsilon == 0.0
    est = make_estimator("dim", epsilon=0.6, random_state=0)
    with ledger.charge(data, 0.6, 1e-6, "dim") as r:
        est.fit(data)
        r.settle(est.privacy_)
    e = ledger.show(data)
    assert e.spent_epsilon == pytest.approx(0.6) and e.spent_delta == 0.0  # the receipt's delta
    with pytest.raises(BudgetExceededError, match="nothing was released"):
        with ledger.charge(data, 0.6, 0.0, "too much"):
            pass
    with pytest.raises(BudgetExceededError):
        ledger.set_budget(data, 0.5, 1e-6)  # below what was spent


def test_fingerprint_follows_the_records_not_the_file_name_nor_the_domain(tmp_path):
    p1, dom = _file(tmp_path, name="a.csv")
    p2, _ = _file(tmp_path, name="b.csv")
    p3, _ = _file(tmp_path, seed=1, name="c.csv")
    assert fingerprint(_load(p1, dom)) == fingerprint(_load(p2, dom))
    assert fingerprint(_load(p1, dom)) != fingerprint(_load(p3, dom))
    # re-declaring a bound (which clips differently) or dropping the covariate: the same records
    dom2 = tmp_path / "d2.toml"
    dom2.write_text(DOMAIN.replace("upper = 100", "upper = 50"))
    dom3 = tmp_path / "d3.toml"
    dom3.write_text(DOMAIN.split("[covariates.age]")[0])
    assert fingerprint(_load(p1, dom)) == fingerprint(_load(p1, dom2)) == fingerprint(_load(p1, dom3))
    # the rows and the columns in another order: the same records; the raw frame: the same key
    frame = pd.read_csv(p1)
    p4 = tmp_path / "shuffled.csv"
    frame.sample(frac=1.0, random_state=0)[["y", "age", "t"]].to_csv(p4, index=False)
    assert fingerprint(_load(p4, dom)) == fingerprint(_load(p1, dom)) == fingerprint(frame)
    # one value edited: another data set
    frame.loc[0, "age"] += 1
    assert fingerprint(frame) != fingerprint(_load(p1, dom))


def test_a_redeclared_domain_or_a_subset_spends_from_the_same_budget(tmp_path):
    p, dom = _file(tmp_path)
    dom2 = tmp_path / "d2.toml"
    dom2.write_text(DOMAIN.replace("upper = 100", "upper = 80"))
    ledger = Ledger(tmp_path / "l.sqlite")
    data = _load(p, dom)
    ledger.set_budget(data, 1.0, 0.0)
    with ledger.charge(data, 0.6, 0.0, "first fit"):
        pass
    with pytest.raises(BudgetExceededError, match="nothing was released"):
        with ledger.charge(_load(p, dom2), 0.6, 0.0, "the same records, a new bound"):
            pass
    with pytest.raises(BudgetExceededError, match="nothing was released"):
        with ledger.charge(data.subset(np.arange(100)), 0.6, 0.0, "a subset"):
            pass
    assert ledger.show(_load(p, dom2)).spent_epsilon == pytest.approx(0.6)


def test_non_private_twin_warns_on_a_file_and_is_refused_under_a_budget(tmp_path, capsys):
    p, dom = _file(tmp_path)
    argv = ["fit", "--data", str(p), "--treatment", "t", "--outcome", "y", "--domain", str(dom),
            "--estimator", "dim-np", "--json"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "non-private" in err and "protects nothing" in err
    # the exact release is on the ledger: no finite budget can be set for this data any more
    assert main(["budget", "set"] + _args(p, dom) + ["--epsilon", "5", "--delta", "1e-6"]) == 2
    assert "already spent epsilon inf" in capsys.readouterr().err
    q, _ = _file(tmp_path, seed=3, name="other.csv")
    assert main(["budget", "set"] + _args(q, dom) + ["--epsilon", "5", "--delta", "1e-6"]) == 0
    capsys.readouterr()
    argv[2] = str(q)
    assert main(argv) == 2
    assert "epsilon = inf" in json.loads(capsys.readouterr().out)["error"]


def test_public_data_is_not_charged(tmp_path, capsys):
    assert main(["fit", "--data", "trauma", "--n", "2000", "--estimator", "dim", "--epsilon", "1",
                 "--random-state", "0", "--json"]) == 0
    assert not Path(os.environ["PRIVCAUSAL_LEDGER"]).exists()

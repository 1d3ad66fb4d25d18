"""``privcausal audit dpsgd|mechanism|model`` end to end (through privcausal.cli.main)."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest

from privcausal.cli import main

KEYS = {"epsilon_theory", "epsilon_lower", "alpha", "bound", "threat_model", "trials", "ceiling"}


def _json(capsys, argv, status=0):
    rc = main(argv)
    out = capsys.readouterr()
    assert rc == status, out.err
    return json.loads(out.out)


def test_help_shows_examples(capsys):
    for cmd in (["dpsgd"], ["mechanism"], ["model"], []):
        with pytest.raises(SystemExit):
            main(["audit", *cmd, "--help"])
        assert "examples:" in capsys.readouterr().out


def test_dpsgd_white_box_json_and_report(capsys, tmp_path):
    """The default white-box audit: 500 runs a world, signal and noise measured; the certified
    bound stays below the claim, the ten-run declared-norm figure is the estimate beside it
    (the ratios over seeds are in experiments/audit_white_box_certified.md)."""
    rep = tmp_path / "rep"
    d = _json(capsys, ["audit", "dpsgd", "--epsilon", "4", "--n", "200", "--steps", "50",
                       "--random-state", "1", "--json", "--report", str(rep)])
    assert KEYS <= set(d) and d["trials"] == 500
    assert d["bound"] == "gaussian-dp (white-box, measured shift)" and d["violation"] is False
    assert 0.75 * d["epsilon_theory"] <= d["epsilon_lower"] <= d["epsilon_theory"]
    assert d["epsilon_estimate"] > d["epsilon_lower"] and "declared" in d["estimate_assumption"]
    assert [t["passed"] for t in d["tests"]] == [True, True, True]
    assert "white-box" in d["threat_model"] and d["route"] == "composed"
    html = (rep / "audit.html").read_text()
    assert "data:image/png;base64" in html and (rep / "audit.json").is_file()


def test_dpsgd_checkpoint_resumes_to_the_same_result(capsys, tmp_path):
    argv = ["audit", "dpsgd", "--epsilon", "4", "--threat", "hidden-state", "--trials", "40",
            "--n", "100", "--steps", "20", "--bound", "clopper-pearson", "--batch-size", "20",
            "--checkpoint", str(tmp_path / "ck"), "--random-state", "3", "--json"]
    first = _json(capsys, argv)
    assert len(list((tmp_path / "ck").glob("*.npz"))) == 4
    again = _json(capsys, argv)  # every batch read back, nothing retrained
    assert again["epsilon_lower"] == first["epsilon_lower"] and KEYS <= set(again)
    assert first["epsilon_lower"] <= first["ceiling"]


MECH = textwrap.dedent("""
    import numpy as np

    EPS = 1.0

    def laplace_count(data, random_state):  # floating-point safe: privcausal's lattice release
        from privcausal.privacy import LaplaceMechanism

        return LaplaceMechanism(EPS, 1.0).randomise(float(np.sum(data)), random_state)

    def float_count(data, random_state):  # value + numpy noise in doubles: leaks in its low bits
        rng = np.random.default_rng(random_state)
        return float(np.sum(data)) + rng.laplace(scale=1.0 / EPS)

    def pair():
        return np.zeros(10), np.r_[np.zeros(10), 1.0]

    def halved(data, random_state):
        rng = np.random.default_rng(random_state)
        return float(np.sum(data)) + rng.laplace(scale=0.5 / EPS)
""")


@pytest.mark.parametrize("backend", ["sequential", "loky"])
def test_mechanism_from_a_file_is_audited(capsys, tmp_path, monkeypatch, backend):
    """Any importable mechanism, not only ours; the Laplace count is sound and near tight
    (the bound fails with probability <= alpha = 0.05 at this fixed seed: it is deterministic)."""
    f = tmp_path / "mech.py"
    f.write_text(MECH)
    d = _json(capsys, ["audit", "mechanism", "--mechanism", f"{f}:laplace_count",
                       "--neighbours", f"{f}:pair", "--epsilon", "1", "--samples", "20000",
                       "--random-state", "0", "--backend", backend, "--json"])
    assert KEYS <= set(d) and d["trials"] == 10000
    assert 0.7 <= d["epsilon_lower"] <= 1.0
    assert d["precision_lower"] <= 1.0


def test_the_precision_test_flags_a_float_release_and_can_be_skipped(capsys, tmp_path):
    """Both at alpha = 0.05 and a fixed seed: a float Laplace count is certified far above its
    claim by the precision test (exit 3); --no-precision leaves the value test alone."""
    f = tmp_path / "mech.py"
    f.write_text(MECH)
    argv = ["audit", "mechanism", "--mechanism", f"{f}:float_count", "--neighbours", f"{f}:pair",
            "--epsilon", "1", "--samples", "20000", "--random-state", "0", "--json"]
    d = _json(capsys, argv, status=3)
    assert d["violation"] and d["precision_lower"] > 2.0 and "precision test" in d["test"]
    d = _json(capsys, argv + ["--no-precision"], status=0)
    assert d["precision_lower"] is None and d["epsilon_lower"] <= 1.0


def test_mechanism_module_spec_and_a_broken_mechanism_flagged(capsys, tmp_path, monkeypatch):
    (tmp_path / "mymech.py").write_text(MECH)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    d = _json(capsys, ["audit", "mechanism", "--mechanism", "mymech:halved", "--neighbours",
                       "mymech:pair", "--epsilon", "1", "--samples", "20000", "--random-state",
                       "0", "--json"], status=3)
    assert d["violation"] and d["epsilon_lower"] > 1.0  # exit status 3: a violation certified


def test_mechanism_bad_spec_is_a_clear_error(capsys):
    rc = main(["audit", "mechanism", "--mechanism", "no_such_module_xyz:f", "--neighbours",
               "no_such_module_xyz:g", "--epsilon", "1", "--json"])
    out = capsys.readouterr()
    assert rc != 0 and "no_such_module_xyz" in (out.out + out.err)


@pytest.fixture(scope="module")
def released(tmp_path_factory, trauma_small):
    from privcausal.training import artifact, train_dpsgd

    d = trauma_small
    members, non = d.subset(np.arange(200)), d.subset(np.arange(200, 400))
    res = train_dpsgd(members, epsilon=2.0, architecture="logistic", epochs=5, batch_size=50,
                      lr=0.5, random_state=0)
    root = tmp_path_factory.mktemp("audit_model")
    path = artifact.save(res, root / "model")
    files = {}
    for name, part in (("members", members), ("non", non)):
        frame = pd.DataFrame(part.X, columns=part.encoder.feature_names).assign(y=part.outcome)
        files[name] = root / f"{name}.csv"
        frame.to_csv(files[name], index=False)
    return path, files, res.epsilon


def test_model_audit_uses_the_receipt(capsys, tmp_path, released):
    path, f, eps = released
    d = _json(capsys, ["audit", "model", "--model", str(path), "--members", str(f["members"]),
                       "--nonmembers", str(f["non"]), "--json", "--report", str(tmp_path / "r")])
    assert KEYS <= set(d) and d["epsilon_theory"] == pytest.approx(eps)
    assert d["trials"] == 400 and 0.0 <= d["epsilon_lower"] <= d["epsilon_theory"]
    assert "probability 1/2" in d["assumption"]
    assert (tmp_path / "r" / "audit.html").is_file()


def test_dpsgd_one_run_bound_through_the_cli(capsys, tmp_path):
    """One training with 200 canaries (f-DP one-run bound): reported with the canaries as its
    trials; sound (the bound fails with probability <= 0.05; seeded)."""
    d = _json(capsys, ["audit", "dpsgd", "--epsilon", "4", "--bound", "fdp-one-run",
                       "--canaries", "200", "--n", "200", "--random-state", "0", "--json",
                       "--report", str(tmp_path / "r")])
    assert KEYS <= set(d) and d["trials"] == 200 and d["trainings"] == 1
    assert 0.0 < d["epsilon_lower"] <= min(d["epsilon_theory"], d["ceiling"])
    assert "canaries in one training" in (tmp_path / "r" / "audit.md").read_text()


def test_dpsgd_mlp_hidden_state_with_the_crafted_canary(capsys):
    d = _json(capsys, ["audit", "dpsgd", "--epsilon", "4", "--threat", "hidden-state",
                       "--architecture", "mlp", "--hidden", "8", "--trials", "200", "--n", "200",
                       "--steps", "30", "--random-state", "0", "--json"])
    assert KEYS <= set(d) and d["trials"] == 200 and "crafted" in d["canary"]
    assert 0.0 <= d["epsilon_lower"] <= d["epsilon_theory"]
    assert d["canary_clipped_fraction"] == 1.0
    rc = main(["audit", "dpsgd", "--epsilon", "4", "--architecture", "mlp", "--json"])
    assert rc != 0 and "hidden-state" in capsys.readouterr().out


@pytest.mark.parametrize("bound", ["one-run", "fdp-one-run", "gdp", "clopper-pearson"])
def test_a_constant_score_file_certifies_nothing_under_every_bound(capsys, tmp_path, bound):
    """A model that leaks nothing (every record has the same loss): ties count against the
    auditor, so every bound certifies 0, there is no violation and the exit status is 0."""
    ids = np.arange(400)
    pd.DataFrame({"id": ids, "loss": np.full(400, 0.6931)}).to_csv(tmp_path / "s.csv", index=False)
    pd.DataFrame({"id": ids[:200]}).to_csv(tmp_path / "m.csv", index=False)
    pd.DataFrame({"id": ids[200:]}).to_csv(tmp_path / "n.csv", index=False)
    d = _json(capsys, ["audit", "model", "--model", str(tmp_path / "s.csv"), "--members",
                       str(tmp_path / "m.csv"), "--nonmembers", str(tmp_path / "n.csv"),
                       "--epsilon", "1", "--bound", bound, "--json"])
    assert d["epsilon_lower"] == 0.0 and d["violation"] is False
    # with ties the Gaussian routes are refused (a constant is not a Gaussian shift)
    assert all(not t["passed"] for t in d["tests"])


def test_a_leaky_score_file_is_a_violation_with_exit_status_3(capsys, tmp_path):
    ids = np.arange(400)
    loss = np.r_[np.full(200, 0.01), np.full(200, 3.0)]  # members' losses far below
    pd.DataFrame({"id": ids, "loss": loss}).to_csv(tmp_path / "s.csv", index=False)
    pd.DataFrame({"id": ids[:200]}).to_csv(tmp_path / "m.csv", index=False)
    pd.DataFrame({"id": ids[200:]}).to_csv(tmp_path / "n.csv", index=False)
    d = _json(capsys, ["audit", "model", "--model", str(tmp_path / "s.csv"), "--members",
                       str(tmp_path / "m.csv"), "--nonmembers", str(tmp_path / "n.csv"),
                       "--epsilon", "0.5", "--json"], status=3)
    assert d["violation"] and d["epsilon_lower"] > 0.5


def test_bad_input_exits_2(capsys):
    assert main(["audit", "dpsgd", "--epsilon", "-1", "--json"]) == 2


def test_a_local_file_named_like_a_library_does_not_shadow_it(capsys, tmp_path, monkeypatch):
    """`--mechanism MODULE:FN` imports from the current folder after the installed packages."""
    import sys

    (tmp_path / "mymech2.py").write_text(MECH)
    (tmp_path / "json.py").write_text("raise RuntimeError('shadowed')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", ["", *[p for p in sys.path if p not in ("", ".")]])
    monkeypatch.delitem(sys.modules, "json", raising=False)
    from privcausal.cli.audit_run import load_callable

    f = load_callable("mymech2:laplace_count", "--mechanism")
    import json as j  # the standard library, not the local json.py

    assert callable(f) and hasattr(j, "dumps") and sys.path[-1] == str(tmp_path)

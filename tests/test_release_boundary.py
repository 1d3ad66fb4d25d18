"""What leaves the process holds no exact function of the data: D against D plus one record.

The same seeded noise is drawn on a file and on the same file with one extra record (an
out-of-domain one, so it is also clipped). Everything printed (JSON, text, the receipt) and the
saved model's model.json must be identical except the noisy numbers themselves: no record count,
no arm size, no clipping count, no 1/n anywhere. The exact counts stay in the local diagnostics,
shown on request under a NOT FOR PUBLICATION banner. Identities, no statistics.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from privcausal.cli import main

DOMAIN = """
[outcome]
lower = 0
upper = 1
binary = true

[covariates.age]
lower = 0
upper = 100

[covariates.sbp]
lower = 50
upper = 250
"""
NOISY = {"ate", "ci_low", "ci_high", "abs_error", "pehe", "saved", "clipped_share"}


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(0)
    n = 400
    age = rng.uniform(18, 90, n).round(1)
    sbp = rng.uniform(80, 200, n).round(0)
    t = (rng.random(n) < 1 / (1 + np.exp(-(age - 50) / 20))).astype(int)
    y = (rng.random(n) < 0.2 + 0.1 * t).astype(int)
    d = pd.DataFrame({"age": age, "sbp": sbp, "t": t, "y": y})
    extra = pd.DataFrame({"age": [130.0], "sbp": [300.0], "t": [1], "y": [1]})  # out of domain
    (tmp_path / "d.toml").write_text(DOMAIN)
    for sub in ("D", "D1"):  # the same file name: the data set's name is part of the output
        (tmp_path / sub).mkdir()
    d.to_csv(tmp_path / "D" / "registry.csv", index=False)
    pd.concat([d, extra]).to_csv(tmp_path / "D1" / "registry.csv", index=False)
    return tmp_path / "D" / "registry.csv", tmp_path / "D1" / "registry.csv", tmp_path / "d.toml"


def _numbers_out(text: str) -> str:
    """The text with the noisy estimates masked (they differ; that is the release)."""
    return re.sub(r"-?\d+\.\d{3,}(e-?\d+)?", "<x>", text)


def _run(capsys, argv) -> tuple[int, str, str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err + "\n".join(str(w.message) for w in caught)


@pytest.mark.parametrize("estimator", ["dim", "regression", "ipw", "aipw"])
def test_ate_release_json_text_and_receipt_do_not_depend_on_the_count(capsys, tmp_path, estimator):
    D, D1, dom = _files(tmp_path)
    outs = {}
    for name, path in (("D", D), ("D1", D1)):
        base = ["fit", "--data", str(path), "--treatment", "t", "--outcome", "y", "--domain",
                str(dom), "--estimator", estimator, "--epsilon", "1", "--random-state", "3"]
        code, js, err_js = _run(capsys, base + ["--json"])
        assert code == 0, err_js
        code, text, err_text = _run(capsys, base)
        outs[name] = (json.loads(js), text, err_js + err_text)
    (j0, t0, w0), (j1, t1, w1) = outs["D"], outs["D1"]
    assert {k: v for k, v in j0.items() if k not in NOISY} == {k: v for k, v in j1.items() if k not in NOISY}
    assert j0["receipt"] == j1["receipt"] and "clipped" not in j0["receipt"]
    assert _numbers_out(t0) == _numbers_out(t1)
    for msg in (w0, w1):  # warnings: no count of anything
        assert "400" not in msg and "401" not in msg
    assert "ClippingWarning" not in w0 and ("outside the declared domain" in w1)
    assert "not for publication" in w1


def test_diagnostics_are_local_and_labelled(capsys, tmp_path):
    D, D1, dom = _files(tmp_path)
    code, out, err = _run(capsys, ["fit", "--data", str(D1), "--treatment", "t", "--outcome", "y",
                                   "--domain", str(dom), "--estimator", "dim", "--json",
                                   "--diagnostics"])
    assert code == 0 and "401" not in out  # stdout (the release) holds no count
    assert "NOT FOR PUBLICATION" in err and "records: 401" in err
    assert "clipped to the declared domain, age: 1" in err


@pytest.mark.parametrize("learner", ["dp-tlearner", "dp-slearner", "dp-tarnet"])
def test_saved_cate_model_does_not_depend_on_the_count(capsys, tmp_path, learner):
    D, D1, dom = _files(tmp_path)
    docs = []
    for name, path in (("D", D), ("D1", D1)):
        code, js, err = _run(capsys, ["fit", "--data", str(path), "--treatment", "t", "--outcome",
                                      "y", "--domain", str(dom), "--estimator", learner,
                                      "--epsilon", "2", "--delta", "1e-5", "--epochs", "2",
                                      "--random-state", "1", "--save", str(tmp_path / f"m{name}"),
                                      "--json"])
        assert code == 0, err
        docs.append(json.loads((tmp_path / f"m{name}" / "model.json").read_text()))
    a, b = docs
    for doc in docs:  # the weights differ (they are the release); nothing else may
        doc.pop("weights", None)
    assert a == b
    text = json.dumps(a)
    assert "clipped\"" not in text and "400" not in text and "401" not in text


@pytest.mark.parametrize("argv, fragment", [
    (["--estimator", "regression", "--epsilon", "1e5"], "supported range (0, 100]"),
    (["--estimator", "dp-tlearner", "--epsilon", "1000"], "supported range (0, 100]"),
    (["--estimator", "dim", "--delta", "0.5"], "above the cap 0.1"),
])
def test_parameters_beyond_the_accountant_are_refused_up_front(capsys, argv, fragment):
    """epsilon past what the accountant handles and delta past its cap: a clear error (exit 2)
    before any noise is drawn or any calibration runs, not a traceback after minutes."""
    import time

    t = time.perf_counter()
    code = main(["fit", "--data", "trauma", "--n", "500", *argv])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and "Traceback" not in err
    assert time.perf_counter() - t < 30


def test_an_integer_seed_gives_the_sum_and_the_count_independent_noise():
    """An int seed used to give both Laplace draws of the CATE ATE release the same value."""
    from privcausal.estimators.cate.base import release_effect_sum

    (s, n), (m_sum, m_cnt) = release_effect_sum([0.0] * 10, 1.0, 2.0, 7)
    assert (s - 0.0) / m_sum.scale != pytest.approx((n - 10) / m_cnt.scale)
    again = release_effect_sum([0.0] * 10, 1.0, 2.0, 7)[0]
    assert again == (s, n)  # still reproducible


@pytest.mark.parametrize("learner", ["dp-tlearner", "dp-slearner", "dp-tarnet"])
def test_the_learners_delta_warning_reads_the_released_size_not_the_exact_one(monkeypatch, learner):
    """The "delta is not below 1/n" warning compares delta with the noisy arm sizes the learner
    released, not the exact count. With 400 records and the released sizes pinned: 10,000 per
    arm and delta = 0.001 (< 1/400, > 1/10,000) warns; 100 per arm and delta = 0.003 (> 1/400,
    < 1/100) does not."""
    import privcausal.estimators.cate.base as base
    from privcausal.data import simulate_trauma
    from privcausal.estimators.cate import make_cate_learner
    from privcausal.exceptions import PrivacyLeakWarning

    d = simulate_trauma(400, random_state=1)
    for size, delta, warns in ((10_000.0, 0.001, True), (100.0, 0.003, False)):
        def pinned(t, epsilon, random_state=None, size=size):
            return np.array([size, size]), base.LaplaceMechanism(float(epsilon), 1.0)

        monkeypatch.setattr(base, "release_arm_counts", pinned)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            make_cate_learner(learner, epsilon=2.0, delta=delta, random_state=0, epochs=1).fit(d)
        got = [w for w in caught if issubclass(w.category, PrivacyLeakWarning)
               and "1/(number of training records)" in str(w.message)]
        assert bool(got) is warns, (size, delta)

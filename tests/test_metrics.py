"""Tests of attacks.metrics against scikit-learn and by brute force."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from attacks import metrics as M
from privcausal.exceptions import DataValidationError


def data(seed, n_in=300, n_out=700, gap=0.8, decimals=1):
    """Member/non-member scores with many ties (rounded), members shuffled among non-members."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n_in, int), np.zeros(n_out, int)]
    s = np.round(np.r_[rng.normal(gap, 1, n_in), rng.normal(0, 1, n_out)], decimals)
    p = rng.permutation(y.size)
    return y[p], s[p]


@pytest.mark.parametrize("seed, decimals", [(0, 1), (1, 3), (2, 8)])
def test_roc_and_auc_equal_scikit_learn(seed, decimals):
    y, s = data(seed, decimals=decimals)
    c = M.roc_curve(y, s)
    fpr, tpr, thr = sk_roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(c.fpr, fpr, rtol=0, atol=1e-15)
    np.testing.assert_allclose(c.tpr, tpr, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(c.thresholds[1:], thr[1:])
    assert c.thresholds[0] == np.inf
    assert M.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), rel=1e-12)
    assert (c.n_members, c.n_non_members) == (300, 700)


def test_tpr_at_fpr_brute_force_and_flags():
    y, s = data(3, n_in=400, n_out=500, decimals=6)
    fpr, tpr, thr = sk_roc_curve(y, s, drop_intermediate=False)
    rows = M.tpr_at_fpr(y, s, fprs=(0.0, 0.001, 0.01, 0.1))
    for row in rows:
        assert row.tpr == max(t for f, t in zip(fpr, tpr) if f <= row.fpr)
        # the rule "member if score >= threshold" achieves the reported point
        pred = s >= row.threshold
        assert pred[y == 0].mean() <= row.fpr and pred[y == 1].mean() == pytest.approx(row.tpr)
    # 500 non-members: FPR 0.001 cannot be resolved, 0.01 and 0.1 can; FPR 0 never can
    assert [r.enough_non_members for r in rows] == [False, False, True, True]
    assert all(r.n_non_members == 500 for r in rows)


def test_advantage_and_label_convention():
    y, s = data(4, decimals=6)
    fpr, tpr, _ = sk_roc_curve(y, s, drop_intermediate=False)
    assert M.membership_advantage(y, s) == pytest.approx(np.max(tpr - fpr))
    perfect = M.attack_metrics(y, y.astype(float))  # higher score = member
    assert perfect.auc == 1.0 and perfect.advantage == 1.0
    assert all(r.tpr == 1.0 for r in perfect.tpr_at_fpr)
    reversed_ = M.attack_metrics(y, -y.astype(float))
    assert reversed_.auc == 0.0 and reversed_.advantage == 0.0
    assert M.roc_auc([True, False], [0.2, 0.1]) == 1.0  # booleans are labels too


def test_subgroups_equal_metrics_on_each_subset():
    y, s = data(5, decimals=6)
    g = np.where(np.arange(y.size) % 3 == 0, "site A", "site B")
    g[:5] = "tiny"
    y[:5] = 1  # "tiny" holds members only
    out = M.subgroup_metrics(y, s, g)
    assert set(out) == {"site A", "site B", "tiny"}
    for key in ("site A", "site B"):
        mask = g == key
        want = M.attack_metrics(y[mask], s[mask])
        assert out[key].metrics == want
        assert (out[key].n_members, out[key].n_non_members) == (want.n_members, want.n_non_members)
    assert out["tiny"].metrics is None and "one class" in out["tiny"].note
    assert out["tiny"].n_members == 5 and out["tiny"].n_non_members == 0
    json.dumps(out["site A"].metrics.to_dict())


def test_validation_errors_name_counts_not_values():
    with pytest.raises(DataValidationError, match="2 NaN") as err:
        M.roc_auc([1, 0, 1, 0], [0.31415, np.nan, np.nan, 0.2])
    assert "0.31415" not in str(err.value)
    with pytest.raises(DataValidationError, match="3 members and 0 non-members"):
        M.roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(DataValidationError, match="labels has 3 entries but scores has 2"):
        M.roc_auc([1, 0, 1], [0.1, 0.2])
    with pytest.raises(DataValidationError, match="1 of 3 entries"):
        M.roc_auc([1, 0, 2], [0.1, 0.2, 0.3])
    with pytest.raises(DataValidationError):
        M.tpr_at_fpr([1, 0], [0.1, 0.2], fprs=(1.5,))
    with pytest.raises(DataValidationError):
        M.subgroup_metrics([1, 0], [0.1, 0.2], ["a"])


def test_plot_roc_writes_a_log_log_figure(tmp_path):
    y, s = data(6, decimals=6)
    curves = {"weak": M.roc_curve(y, s), "strong": M.roc_curve(y, s + 2 * y)}
    fig = M.plot_roc(curves, title="test")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert len(ax.lines) == 3  # two curves and the chance diagonal
    path = tmp_path / "roc.png"
    fig.savefig(path)
    assert path.stat().st_size > 1000


def test_importing_attacks_stays_light():
    code = ("import sys, attacks, attacks.metrics; "
            "print(any(m in sys.modules for m in ('matplotlib', 'torch', 'sklearn')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

"""Targets (torch, scikit-learn, score files), records checks, and the attack pipeline end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import expit

from attacks.membership import membership_attack, membership_attacks
from attacks.records import as_records
from attacks.results import write_report
from attacks.shadow import TrainingRecipe
from attacks.targets import ScoreTarget, SklearnTarget, TorchTarget, as_target, statistic_from_outputs
from privcausal.exceptions import DataValidationError


def test_logit_scaled_confidence_is_exact_in_float64_for_saturated_logits():
    z = np.array([-60.0, -30.0, 0.0, 30.0, 60.0])
    y = np.array([1, 1, 0, 0, 1])
    s = statistic_from_outputs(z, y, "binary", "logit")
    np.testing.assert_array_equal(s, np.where(y == 1, z, -z))  # log p_y - log(1 - p_y)
    loss = statistic_from_outputs(z, y, "binary", "loss")
    np.testing.assert_allclose(loss, np.logaddexp(0, -s), rtol=1e-15)
    assert np.all(np.isfinite(loss)) and loss[0] == pytest.approx(60.0)
    # multiclass: logit = z_y - logsumexp of the others; invariant to a constant per row
    Z = np.array([[40.0, 0.0, -3.0], [1.0, 2.0, 3.0]])
    yl = np.array([0, 2])
    got = statistic_from_outputs(Z + 7.0, yl, "multiclass", "logit")
    want = np.array([40.0 - np.logaddexp(0.0, -3.0), 3.0 - np.logaddexp(1.0, 2.0)])
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_torch_target_float32_module_gives_float64_statistics():
    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 1)
    with torch.no_grad():
        lin.weight.fill_(20.0)
        lin.bias.zero_()
    t = TorchTarget(lin, torch.nn.BCEWithLogitsLoss(), feature_names=["a", "b", "c"])
    X = np.ones((2, 3))
    s = t.statistic((X, np.array([1.0, 0.0])), "logit")
    np.testing.assert_allclose(s, [60.0, -60.0], rtol=1e-6)  # not inf: no rounded probability
    with pytest.raises(DataValidationError, match="lacks 1 of them .'c'. and has 1 it does not use .'d'."):
        t.statistic(pd.DataFrame({"a": [1.0], "b": [1.0], "d": [1.0], "y": [1.0]}), "loss")
    with pytest.raises(DataValidationError, match="2 feature columns"):
        t.statistic((np.ones((2, 2)), np.ones(2)), "loss")
    frame = pd.DataFrame({"c": [1.0], "y": [1.0], "a": [1.0], "b": [1.0]})  # reordered: fine
    np.testing.assert_allclose(t.statistic(frame, "logit"), [60.0], rtol=1e-6)


def test_sklearn_targets_classifier_and_regressor():
    from sklearn.linear_model import LinearRegression, LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + rng.normal(size=200) > 0).astype(int)
    clf = LogisticRegression().fit(X, np.where(y == 1, "dead", "alive"))
    t = as_target(clf)
    assert isinstance(t, SklearnTarget) and t.task == "binary"
    labels = np.where(y == 1, "dead", "alive")
    d = clf.decision_function(X)  # classes_ = [alive, dead]
    np.testing.assert_allclose(t.statistic((X, labels), "logit"), np.where(y == 1, d, -d), rtol=1e-12)
    p = clf.predict_proba(X)[np.arange(200), y]
    np.testing.assert_allclose(t.statistic((X, labels), "confidence"), p, rtol=1e-10)
    with pytest.raises(DataValidationError, match="not among the model's classes"):
        t.statistic((X[:3], np.array(["dead", "x", "alive"])), "loss")
    reg = LinearRegression().fit(X, X[:, 1])
    r = as_target(reg)
    assert r.task == "regression"
    np.testing.assert_allclose(r.statistic((X, X[:, 1] + 1), "residual"), 1.0, atol=1e-10)
    with pytest.raises(DataValidationError, match="needs a classifier"):
        r.statistic((X, X[:, 1]), "logit")


def test_score_file_target_derives_statistics_and_rejects_nan(tmp_path):
    z = np.array([2.0, -1.0, 0.5])
    f = tmp_path / "scores.csv"
    pd.DataFrame({"id": ["a", "b", "c"], "loss": np.logaddexp(0, -z)}).to_csv(f, index=False)
    t = as_target(str(f))
    assert isinstance(t, ScoreTarget)
    recs = pd.DataFrame({"id": ["c", "a"]})
    np.testing.assert_allclose(t.statistic(recs, "logit"), [0.5, 2.0], rtol=1e-12)
    np.testing.assert_allclose(t.statistic(recs, "confidence"), expit([0.5, 2.0]), rtol=1e-12)
    with pytest.raises(DataValidationError, match="1 records have no row"):
        t.statistic(pd.DataFrame({"id": ["zz"]}), "loss")
    g = tmp_path / "bad.csv"
    pd.DataFrame({"id": ["a", "b"], "loss": [0.3, np.nan]}).to_csv(g, index=False)
    with pytest.raises(DataValidationError, match="1 NaN"):
        as_target(str(g))


def test_members_listed_as_non_members_are_refused():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20).astype(float)
    t = TorchTarget(torch.nn.Linear(3, 1), "bce")
    with pytest.raises(DataValidationError, match="2 records are listed both"):
        membership_attack(t, (X[:10], y[:10]), (X[8:], y[8:]), attack="loss")
    frame = pd.DataFrame({"id": ["p1", "p2"], "loss": [0.1, 0.2]})
    with pytest.raises(DataValidationError, match=r"1 records are listed both as members and as non-members \(ids\)"):
        membership_attack(ScoreTarget(frame), pd.DataFrame({"id": ["p1"]}),
                          pd.DataFrame({"id": ["p1", "p2"]}), attack="loss")


def test_loss_attack_on_score_file_and_report(tmp_path):
    rng = np.random.default_rng(2)
    ids = [f"r{i}" for i in range(400)]
    loss = np.r_[rng.exponential(0.3, 200), rng.exponential(1.0, 200)]
    t = ScoreTarget(pd.DataFrame({"id": ids, "loss": loss}))
    res = membership_attack(t, pd.DataFrame({"id": ids[:200]}), pd.DataFrame({"id": ids[200:]}),
                            attack="loss")
    d = res.to_dict()
    assert d["n_members"] == 200 and d["n_nonmembers"] == 200
    assert set(d["tpr_at_fpr"]) == {"0", "0.001", "0.01"}
    assert d["tpr_at_fpr_resolved"] == {"0": False, "0.001": False, "0.01": True}
    assert any("0.001 is not resolved: 200 non-members" in w for w in d["low_fpr_warnings"])
    assert 0.6 < d["auc"] < 0.95
    paths = write_report({"loss": res}, tmp_path / "rep")
    assert json.loads(paths["json"].read_text())["loss"]["auc"] == pytest.approx(res.auc)
    assert paths["figure"].stat().st_size > 1000


@pytest.fixture(scope="module")
def tiny_target():
    """A small overfitted logistic model on the trauma registry (non-private twin)."""
    from privcausal.data import simulate_trauma
    from privcausal.training import train_dpsgd

    d = simulate_trauma(600, random_state=3)
    recipe = TrainingRecipe(architecture="logistic", epochs=30, batch_size=100, lr=0.5, noise_multiplier=0.0)
    members = d.subset(np.arange(150))
    res = train_dpsgd(members, epsilon=np.inf, random_state=0, architecture="logistic",
                      sampling_rate=100 / 150, epochs=30, lr=0.5)
    return res, recipe, d


def test_pipeline_all_attacks_small(tiny_target):
    res, recipe, d = tiny_target
    out = membership_attacks(res, d.subset(np.arange(150)), d.subset(np.arange(150, 300)),
                             d.subset(np.arange(300, 600)),
                             attacks=("loss", "calibrated", "lira-fixed", "lira-offline-fixed",
                                      "rmia", "rmia-offline"),
                             n_reference=2, recipe=recipe, random_state=0)
    for name, r in out.items():
        assert r.n_members == 150 and r.n_nonmembers == 150
        assert 0.3 < r.auc < 0.9, name
        assert np.all(np.isfinite(r.scores))
        assert set(r.subgroups) >= {"treatment", "mechanism", "sex"}
        json.dumps(r.to_dict())
    assert 0.0 <= out["rmia-offline"].details["offline_a"] <= 1.0
    with pytest.raises(DataValidationError, match="population records"):
        membership_attack(res, d.subset(np.arange(150)), d.subset(np.arange(150, 300)),
                          attack="rmia", n_reference=2, recipe=recipe)


def test_pipeline_regression_target_and_recipe_from_training_result():
    from privcausal.training import train_dpsgd

    rng = np.random.default_rng(4)
    X = rng.uniform(-1, 1, size=(240, 5))
    y = X @ np.array([1.0, -0.5, 0.2, 0.0, 0.3]) + rng.normal(0, 0.5, 240)
    res = train_dpsgd(X[:80], y[:80], architecture="linear", epsilon=np.inf, random_state=0,
                      batch_size=40, epochs=20, lr=0.2)
    t = as_target(res)
    assert t.task == "regression" and t.recipe.batch_size == pytest.approx(40)
    out = membership_attacks(t, (X[:80], y[:80]), (X[80:160], y[80:160]), (X[160:], y[160:]),
                             attacks=("lira-fixed", "lira-offline", "rmia"), n_reference=2,
                             random_state=1)
    assert out["lira-fixed"].details["statistic"] == "residual"
    assert out["lira-offline"].details["statistic"] == "neg_abs_error"
    assert out["rmia"].details["likelihood_scale"] > 0
    for r in out.values():
        assert 0.2 < r.auc < 0.9


def test_records_from_causal_data_follow_the_model_columns(trauma_small):
    from privcausal.training import encode

    enc = encode(trauma_small, include_treatment=True)
    t = TorchTarget(torch.nn.Linear(enc.n_features, 1), "bce", feature_names=enc.feature_names)
    r = t.records(trauma_small)
    assert r.feature_names[-1] == "treatment" and r.X.shape == enc.X.shape
    np.testing.assert_array_equal(r.X, enc.X)
    t2 = TorchTarget(torch.nn.Linear(enc.n_features - 1, 1), "bce",
                     feature_names=enc.feature_names[:-1])
    assert as_records(trauma_small, feature_names=t2.feature_names).X.shape[1] == enc.n_features - 1


def test_released_model_files_single_and_per_arm(tmp_path, trauma_small):
    from attacks.targets import ReleasedModelTarget
    from privcausal.estimators.cate import TLearner
    from privcausal.training import artifact, train_dpsgd

    d = trauma_small.subset(np.arange(300))
    res = train_dpsgd(d, epsilon=np.inf, architecture="logistic", epochs=3, random_state=0)
    path = artifact.save(res, tmp_path / "single")
    t = as_target(str(path))
    assert isinstance(t, ReleasedModelTarget) and t.recipe is not None
    direct = as_target(res).statistic(d, "logit")
    np.testing.assert_allclose(t.statistic(d, "logit"), direct, rtol=1e-6, atol=1e-6)
    est = TLearner(epsilon=np.inf, recipe={"epochs": 3}, random_state=0).fit(d)
    t2 = as_target(str(artifact.save(est, tmp_path / "tl")))
    frame = d.covariates.assign(treatment=d.treatment, y=d.outcome)
    s = t2.statistic(t2.records(frame), "loss")  # raw covariates encoded with the recorded domain
    np.testing.assert_allclose(s, t2.statistic(d, "loss"), rtol=1e-12)
    r = membership_attack(t2, d.subset(np.arange(150)), trauma_small.subset(np.arange(300, 450)),
                          attack="loss")
    assert set(r.subgroups) >= {"treatment", "centre"}
    with pytest.raises(DataValidationError, match="treatment"):
        t2.statistic(t2.records(frame.drop(columns="treatment")), "loss")


def test_report_markdown_escapes_titles_and_group_labels(tmp_path):
    """A group label or a title cannot inject HTML, links or table cells into membership.md."""
    from attacks.results import result_from_scores

    rng = np.random.default_rng(4)
    labels = np.r_[np.ones(100), np.zeros(100)].astype(int)
    evil = "<img src=x onerror=alert(1)>|[x](http://e)"
    groups = {"site": np.where(rng.random(200) < 0.5, evil, "A").astype(object)}
    res = result_from_scores("loss", labels, rng.normal(size=200) + labels, groups=groups)
    md = write_report({"loss": res}, tmp_path / "rep", title=evil)["markdown"].read_text()
    import re

    assert "<img" not in md and "&lt;img" in md and "\\|" in md
    assert not re.search(r"(?<!\\)\]\(", md)  # no live link

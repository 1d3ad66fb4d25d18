"""DPSGDRecipe: one frozen value that every trainer, CATE learner, reference-model trainer and
DP-SGD audit takes; and the same training whether given as a recipe or as keywords."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import numpy as np
import pytest

from privcausal.exceptions import DataValidationError, PrivacyParameterError
from privcausal.training import DPSGDRecipe, plan_training, train_dpsgd, train_many


def _data(n=120, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X /= np.maximum(1.0, np.linalg.norm(X, axis=1, keepdims=True))
    return X, (rng.random(n) < 1 / (1 + np.exp(-2 * X[:, 0]))).astype(float)


def test_frozen_replace_and_unknown_settings():
    r = DPSGDRecipe(epsilon=1.0, hidden=[8, 4])
    assert r.hidden == (8, 4) and hash(r) == hash(DPSGDRecipe(epsilon=1.0, hidden=(8, 4)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.lr = 1.0  # type: ignore[misc]
    assert r.replace(lr=0.5).lr == 0.5 and r.lr == 0.1
    with pytest.raises(TypeError, match="not a DP-SGD recipe setting: learning_rate"):
        r.replace(learning_rate=0.5)
    X, y = _data()
    with pytest.raises(TypeError, match="learning_rate"):
        train_dpsgd(X, y, epsilon=1.0, learning_rate=0.5)


def test_to_dict_is_json_and_round_trips():
    r = DPSGDRecipe(architecture="mlp", hidden=(8,), loss="bce", epsilon=math.inf, epochs=3,
                    sampling_rate=0.2, expected_batch_size=(3.0, 4.5), optimizer="adam")
    d = json.loads(json.dumps(r.to_dict()))
    assert d["epsilon"] == "inf" and d["expected_batch_size"] == [3.0, 4.5]
    assert DPSGDRecipe.from_dict(d) == r
    assert not r.is_private and DPSGDRecipe(noise_multiplier=0.0).is_private is False
    assert DPSGDRecipe(epsilon=1.0).is_private


@pytest.mark.parametrize("engine", ["vectorised", "opacus"])
def test_recipe_and_keywords_train_the_same_model(engine):
    X, y = _data()
    kw = dict(architecture="logistic", epsilon=2.0, delta=1e-4, epochs=2, batch_size=30, lr=0.3,
              momentum=0.5)
    a = train_dpsgd(X, y, DPSGDRecipe(**kw), engine=engine, random_state=3)
    b = train_dpsgd(X, y, engine=engine, random_state=3, **kw)
    c = train_dpsgd(X, y, DPSGDRecipe(epsilon=9.0), engine=engine, random_state=3, **kw)  # keywords win
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))
    np.testing.assert_array_equal(a.decision_function(X), c.decision_function(X))
    assert a.receipt.to_dict() == b.receipt.to_dict() and a.recipe == DPSGDRecipe(**kw)


def test_train_many_takes_the_recipe_and_per_model_normalisers():
    X, y = _data()
    mask = np.vstack([np.arange(120) < 60, np.arange(120) >= 60])
    r = DPSGDRecipe(noise_multiplier=1.0, steps=5, sampling_rate=0.5, expected_batch_size=(30.0, 25.0))
    res = train_many(X, y, mask, r, random_state=0)
    assert list(res.normaliser) == [30.0, 25.0] and res.recipe == r
    same = train_many(X, y, mask, random_state=0, **dataclasses.asdict(r))
    np.testing.assert_array_equal(res.decision_function(X), same.decision_function(X))
    with pytest.raises(DataValidationError, match="one number or 2"):
        train_many(X, y, mask, r.replace(expected_batch_size=(1.0, 2.0, 3.0)))


def test_plan_reads_a_declared_normaliser_not_the_count():
    plan = plan_training(1000, 4, DPSGDRecipe(epsilon=1.0, delta=1e-6, sampling_rate=0.1, steps=10,
                                              expected_batch_size=97.3))
    assert plan.declared_normaliser
    assert not any("q*n" in n for n in plan.notes)
    plan = plan_training(1000, 4, DPSGDRecipe(epsilon=1.0, delta=1e-6, sampling_rate=0.1, steps=10))
    assert any("q*n" in n for n in plan.notes)
    # the delta warning compares delta = 0.03 with the released size expected_batch_size / q
    # (50: warns; 30: does not), never with the exact n = 1000 (which would always warn)
    with pytest.warns(Warning, match="not below 1/"):
        plan_training(1000, 4, DPSGDRecipe(epsilon=1.0, delta=0.03, sampling_rate=0.1, steps=10,
                                           expected_batch_size=5.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan_training(1000, 4, DPSGDRecipe(epsilon=1.0, delta=0.03, sampling_rate=0.1, steps=10,
                                           expected_batch_size=3.0))


def test_for_training_set_and_from_config_keep_the_targets_batch_and_epochs():
    X, y = _data(n=200)
    target = train_dpsgd(X, y, noise_multiplier=1.0, epochs=4, batch_size=50, random_state=0)
    r = DPSGDRecipe.from_config(target.config)
    assert r.batch_size == pytest.approx(50.0) and r.epochs == pytest.approx(4.0)
    per = r.for_training_set(100)  # a reference model on half as many records
    assert per.sampling_rate == pytest.approx(0.5) and per.steps == 8 and per.epochs is None
    with pytest.raises(DataValidationError):
        r.for_training_set(0)


def test_shadow_models_train_the_recipe_and_say_when_it_has_no_noise():
    from attacks.shadow import TrainingRecipe, train_reference_models

    assert TrainingRecipe is DPSGDRecipe
    X, y = _data(n=100)
    ref = train_reference_models(X, y, 4, DPSGDRecipe(epochs=2, batch_size=10), random_state=0)
    assert ref.notes == ("the recipe states no noise: non-private reference models",)
    assert ref.parts[0].noise_multiplier == 0.0 and ref.parts[0].sampling_rate == pytest.approx(0.2)


def test_cate_learners_share_one_init_and_take_a_recipe(trauma_small):
    from privcausal.estimators.cate import SLearner, TARNet, TLearner, make_cate_learner

    for cls in (TLearner, SLearner, TARNet):
        assert "__init__" not in vars(cls)  # the base class's, once
        assert set(cls().get_params()) == {"epsilon", "delta", "recipe", "average_last",
                                           "random_state", "secure_mode", "ate_budget_share"}
    a = make_cate_learner("dp-tlearner", epsilon=2.0, delta=1e-6, random_state=0, epochs=2)
    b = TLearner(epsilon=2.0, delta=1e-6, random_state=0, recipe={"epochs": 2})
    assert a.training_recipe() == b.training_recipe() == TLearner.default_recipe.replace(
        epochs=2, delta=1e-6)
    assert a.fit(trauma_small).ate_ == b.fit(trauma_small).ate_
    for bad in ({"epsilon": 1.0}, {"noise_multiplier": 1.0}, {"expected_batch_size": 3.0},
                {"delta": 0.01}, {"sampling_rate": None, "batch_size": 20}):
        with pytest.raises(PrivacyParameterError):
            TLearner(recipe=bad).fit(trauma_small)


def test_an_audit_of_a_recipe_is_the_audit_of_its_settings():
    from audits.dpsgd.multi_run import audit_dpsgd
    from audits.dpsgd.recipe_args import audit_settings

    X, y = _data(n=40)
    kw = dict(epsilon=2.0, steps=10, sampling_rate=1.0, max_grad_norm=1.0, lr=0.01)
    a = audit_dpsgd(X, y, trials=10, random_state=0, **kw)
    b = audit_dpsgd(X, y, trials=10, random_state=0, recipe=DPSGDRecipe(architecture="logistic", **kw))
    assert a.to_dict() == b.to_dict()
    s, extra = audit_settings(DPSGDRecipe(epsilon=1.0, epochs=3, sampling_rate=0.5, momentum=0.9))
    assert s.steps == 6 and s.sampling_rate == 0.5 and extra == {"momentum": 0.9}
    with pytest.raises(DataValidationError, match="sampling_rate, not batch_size"):
        audit_settings(DPSGDRecipe(epsilon=1.0, batch_size=10))


def test_fit_takes_a_recipe_file_over_the_learners_default(tmp_path, capsys):
    from privcausal.cli import main

    rec = tmp_path / "r.toml"
    rec.write_text('epochs = 2\nlr = 0.05\nhidden = [4]\n')
    argv = ["fit", "--data", "trauma", "--n", "1500", "--estimator", "dp-slearner", "--epsilon", "2",
            "--random-state", "0", "--recipe", str(rec), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert math.isfinite(out["ate"]) and out["epsilon_spent"] <= 2.0 + 1e-9
    bad = tmp_path / "bad.json"
    bad.write_text('{"learning_rate": 0.1}')
    assert main(argv[:-2] + [str(bad), "--json"]) == 2
    assert "learning_rate" in json.loads(capsys.readouterr().out)["error"]
    assert main(argv[:-2] + [str(tmp_path / "none.toml"), "--json"]) == 2
    assert "not found" in json.loads(capsys.readouterr().out)["error"]
    assert main(["fit", "--data", "trauma", "--n", "1500", "--estimator", "dim", "--recipe", str(rec)]) == 2

"""AIPW with DP-SGD nuisance networks: the parallel-composition premise, the normalisers, the
receipt, refusals, and a nonlinear confounder the linear private models cannot follow."""

from __future__ import annotations

import math

import numpy as np
import pytest

import privcausal.training as training
from privcausal.estimators import ESTIMATORS, make_estimator
from privcausal.estimators.aipw import AugmentedIPW
from privcausal.estimators.network_nuisance import NUISANCE_RECIPE, nuisance_recipe
from privcausal.exceptions import DataValidationError, PrivacyParameterError
from privcausal.training import DPSGDRecipe
from tests.test_basis import _symmetric_confounding


@pytest.fixture()
def calls(monkeypatch):
    """Every train_many call's mask and recipe (the real trainer still runs)."""
    seen = []
    real = training.train_many

    def spy(X, y, mask, recipe, **kw):
        seen.append((np.asarray(mask).copy(), recipe))
        return real(X, y, mask, recipe, **kw)

    monkeypatch.setattr(training, "train_many", spy)
    return seen


def test_each_record_trains_one_network_of_each_kind(trauma_small, calls):
    """The premise of the parallel composition: every record lies in exactly one propensity
    network's training set and in exactly one outcome network's (its fold and arm)."""
    est = AugmentedIPW(epsilon=2.0, n_folds=3, nuisance_recipe="mlp", random_state=0).fit(trauma_small)
    (mask_e, rec_e), (mask_mu, rec_mu) = calls
    assert mask_e.shape == (3, trauma_small.n) and mask_mu.shape == (6, trauma_small.n)
    assert np.all(mask_e.sum(0) == 1) and np.all(mask_mu.sum(0) == 1)
    t = trauma_small.treatment
    for k in range(3):  # outcome network (k, a) holds fold k's records of arm a only
        assert np.all(t[mask_mu[2 * k + 1]] == 1) and np.all(t[mask_mu[2 * k]] == 0)
        assert np.array_equal(mask_mu[2 * k] | mask_mu[2 * k + 1], mask_e[k])
    assert rec_e.loss == "bce" and rec_mu.loss == "bce"  # the registry's outcome is binary
    assert np.isfinite(est.ate_)


def test_normalisers_are_q_times_the_released_noisy_counts(trauma_small, calls):
    est = AugmentedIPW(epsilon=2.0, nuisance_recipe="mlp", random_state=3).fit(trauma_small)
    (mask_e, rec_e), (mask_mu, rec_mu) = calls
    counts = est.noisy_stats_["cell_counts"]  # (fold, arm), released
    q = NUISANCE_RECIPE.sampling_rate
    assert np.allclose(rec_e.expected_batch_size, q * np.maximum(counts.sum(1), 1.0))
    assert np.allclose(rec_mu.expected_batch_size, q * np.maximum(counts.ravel(), 1.0))
    exact = mask_mu.sum(1).astype(float)
    assert not np.allclose(counts.ravel(), exact)  # noisy, never the exact cell sizes
    assert rec_e.sampling_rate == rec_mu.sampling_rate == q  # declared, not batch / n


def test_the_receipt_spends_at_most_the_budget_and_names_the_networks(trauma_small):
    est = AugmentedIPW(epsilon=2.0, delta=1e-6, nuisance_recipe="mlp", random_state=0).fit(trauma_small)
    r = est.privacy_
    assert r.epsilon <= 2.0 + 1e-9 and r.delta <= 1e-6 * (1 + 1e-9)
    assert "DP-SGD nuisance networks" in r.release
    text = " ".join(r.notes)
    assert "DP-SGD networks" in text and "noisy count" in text and "parallel composition" in text
    labels = [e.label for e in r.events]
    assert any("propensity networks on 2 disjoint folds" in x for x in labels)
    assert any("outcome networks" in x for x in labels)
    assert any("noisy (fold, arm) counts" in x for x in labels)
    # the linear design's note is not claimed for networks
    assert "linear in each encoded covariate" not in text


def test_the_twin_has_no_noise_and_is_reproducible(trauma_small):
    a = make_estimator("aipw-mlp-np", random_state=5).fit(trauma_small)
    b = make_estimator("aipw-mlp-np", random_state=5).fit(trauma_small)
    assert a.ate_ == b.ate_ and math.isinf(a.privacy_.epsilon)
    assert "cell_counts" not in a.noisy_stats_
    assert "without clipping or noise" in " ".join(a.privacy_.notes)


def test_networks_follow_a_confounder_the_linear_private_models_cannot():
    """Treatment and outcome both driven by x^2 (the difference in means is off by about +0.8,
    a model linear in x by about +0.85; the true effect is 1.0): the network nuisances recover it,
    privately at epsilon 8 too (seeded; over seeds 1-3 their errors were 0.012-0.068)."""
    data = _symmetric_confounding(6000, 1)
    lin = AugmentedIPW(epsilon=8.0, random_state=0).fit(data)
    net = AugmentedIPW(epsilon=8.0, nuisance_recipe="mlp", random_state=0).fit(data)
    twin = AugmentedIPW(epsilon=math.inf, nuisance_recipe="mlp", random_state=0).fit(data)
    assert abs(lin.ate_ - 1.0) > 0.5
    assert abs(net.ate_ - 1.0) < 0.15
    assert abs(twin.ate_ - 1.0) < 0.1
    assert net.noisy_stats_["cell_counts"].shape == (2, 2)


@pytest.mark.parametrize("given, match", [
    ({"epsilon": 1.0}, "leave epsilon"),
    ({"noise_multiplier": 1.0}, "leave epsilon"),
    ({"expected_batch_size": 10.0}, "leave epsilon"),
    ({"loss": "mse"}, "leave loss"),
    ({"sampling_rate": None, "batch_size": 64}, "sampling_rate"),
    ("mlp2", "unknown name"),
])
def test_bad_recipes_are_refused(given, match):
    with pytest.raises(PrivacyParameterError, match=match):
        nuisance_recipe(given)


def test_networks_do_not_mix_with_other_nuisance_settings(trauma_small):
    for kw in ({"propensity_learner": "hgb", "epsilon": math.inf}, {"outcome_model": "logistic"}):
        with pytest.raises(PrivacyParameterError, match="nuisance_recipe"):
            AugmentedIPW(nuisance_recipe="mlp", **{"epsilon": 1.0, **kw}).fit(trauma_small)
    with pytest.raises(PrivacyParameterError, match="delta > 0"):
        AugmentedIPW(epsilon=1.0, delta=0.0, nuisance_recipe="mlp").fit(trauma_small)


def test_an_empty_fold_arm_cell_is_an_error_that_names_it(trauma_small):
    with pytest.raises(DataValidationError, match="holds no record of arm"):
        AugmentedIPW(epsilon=1.0, n_folds=3, nuisance_recipe="mlp", random_state=0).fit(
            _one_arm_in_a_fold(trauma_small))


def _one_arm_in_a_fold(data):
    """The registry with all but 2 treated records removed: with 3 folds, a (fold, arm) cell is empty."""
    keep = np.flatnonzero(data.treatment == 0)
    treated = np.flatnonzero(data.treatment == 1)[:2]
    idx = np.zeros(data.n, dtype=bool)
    idx[keep] = True
    idx[treated] = True
    return data.subset(idx)


def test_a_recipe_mapping_overrides_the_default_and_is_registered(trauma_small):
    r = nuisance_recipe({"hidden": (8,), "epochs": 2.0})
    assert isinstance(r, DPSGDRecipe) and r.hidden == (8,) and r.sampling_rate == 0.05
    assert ESTIMATORS["aipw-mlp"].private and not ESTIMATORS["aipw-mlp-np"].private
    assert "aipw-mlp-rep" not in ESTIMATORS  # measured: its replicates are too small for the networks

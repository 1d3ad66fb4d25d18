"""The regression's bootstrap with its SIMEX step: identities of the extrapolation and the
re-noised statistics' scale."""

from __future__ import annotations

import math

import numpy as np

from privcausal.estimators import make_estimator
from privcausal.estimators import regression_bootstrap as rb
from privcausal.estimators.regression import stats_for
from privcausal.estimators.regression_release import arm_stats, gaussian_arm, release
from privcausal.privacy import noise_source
from privcausal.privacy.random import SimulationNoise


def _released(data, eps, seed=0):
    est = make_estimator("regression", epsilon=eps, delta=1e-6, adjust="always", random_state=seed,
                         n_bootstrap=0).fit(data)
    cfg = est._config(data.domain)
    rel = release(arm_stats(stats_for(data), cfg.layout, data.domain.outcome.center), cfg,
                  noise_source(np.random.default_rng(seed)))
    return rel, rel.config or cfg


def test_no_second_dose_means_no_correction(trauma_small, monkeypatch):
    """With the second world's Gram equal to the first's, common random numbers make the two
    worlds' draws equal, and 2 d1 - d2 = d1 exactly."""
    rel, cfg = _released(trauma_small, 4.0)
    once = rb._world_draws(rel, cfg, None, 200, seed=11)
    monkeypatch.setattr(rb, "_renoised_grams", lambda rel, cfg, rng: rel.gram)
    rng = np.random.default_rng(5)
    seed = int(np.random.default_rng(5).integers(2**63))
    assert np.array_equal(rb.bootstrap_draws(rel, cfg, 200, rng), rb._world_draws(rel, cfg, None, 200, seed))
    assert np.array_equal(rb._world_draws(rel, cfg, None, 200, seed=11), once)


def test_the_twin_is_not_extrapolated(trauma_small):
    rel, cfg = _released(trauma_small, math.inf)
    seed = int(np.random.default_rng(3).integers(2**63))
    draws = rb.bootstrap_draws(rel, cfg, 100, np.random.default_rng(3))
    assert np.array_equal(draws, rb._world_draws(rel, cfg, None, 100, seed))


def test_the_second_dose_has_the_releases_noise_scale(trauma_small):
    """Re-releasing the released Gram entries adds the Gaussian block's noise once more: over the
    released entries of both arms (about 2 x 1,300), the differences' sd lies within 10 % of the
    block's sd (the sample sd's relative standard error is about 1.4 %: a 7-sigma band)."""
    rel, cfg = _released(trauma_small, 1.0)
    lay = cfg.layout
    src = SimulationNoise(np.random.default_rng(0))
    diffs = []
    for a in (0, 1):
        st = rel.covariate_stats[a]
        arm = {"n": float(rel.n_noisy[a]), "sx": st["sx"], "S": st["S"], "Su": st["Su"], "suu": 0.0}
        again = gaussian_arm(arm, float(rel.n_noisy[a]), cfg, src)
        diffs.append((again["S"] - st["S"])[lay.rows, lay.cols])
    d = np.concatenate(diffs)
    assert abs(np.std(d) / cfg.sd["S"] - 1.0) < 0.10


def test_the_correction_widens_the_interval_where_the_noise_dominates(trauma_small):
    """At epsilon 1 on 4,000 records the noise dominates; the data model carrying a dose of it is
    better conditioned, so the extrapolated draws spread at least as wide as the first world's
    (seeded; the ratio was 1.05-1.17 over release seeds 0-4)."""
    rel, cfg = _released(trauma_small, 1.0)
    seed = int(np.random.default_rng(1).integers(2**63))
    once = rb._world_draws(rel, cfg, None, 400, seed)
    draws = rb.bootstrap_draws(rel, cfg, 400, np.random.default_rng(1))
    assert np.std(draws) >= np.std(once)

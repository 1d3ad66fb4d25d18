"""What the regression released, and its parametric bootstrap (the same release rerun)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from privcausal.estimators.intervals import (
    LinearArmModel, parametric_bootstrap, psd_project, psd_root, variance_upper,
)
from privcausal.estimators.moments import dim_bootstrap
from privcausal.estimators.regression_release import (
    Config, Release, adjusted_from_noisy, gaussian_arm, release,
)
from privcausal.privacy.random import SimulationNoise

__all__ = ["noisy_stats", "bootstrap_draws"]


def noisy_stats(rel: Release, cfg: Config) -> dict[str, np.ndarray]:
    """Every noisy statistic that ``rel`` released, per arm (rows: control, treated).

    ``count`` and ``sum`` (of centred outcomes) always; the DiM plan adds ``sum_sq`` (non-binary
    outcome); the adjusted plan adds ``sum_x``, ``gram`` (the released upper-triangle entries,
    ``cfg.layout.rows``/``cols``), ``sum_xu`` and, non-binary, ``sum_sq``. ``sum_sq`` is as
    released: the mechanism's ``sum (u^2 - B^2/2)`` shifted back by ``B^2/2`` times the noisy
    count. Everything else the estimator reports is post-processing of these.
    """
    out = {"count": rel.n_noisy, "sum": rel.s_noisy}
    if rel.covariate_stats:
        lay = cfg.layout
        arms = rel.covariate_stats
        out["sum_x"] = np.stack([a["sx"] for a in arms])
        out["gram"] = np.stack([a["S"][lay.rows, lay.cols] for a in arms])
        out["sum_xu"] = np.stack([a["Su"] for a in arms])
    if rel.q_noisy is not None:
        out["sum_sq"] = np.asarray(rel.q_noisy, dtype=np.float64)
    return out


def _linear_models(rel: Release, cfg: Config, grams: Sequence[np.ndarray] | None = None) -> list[LinearArmModel]:
    lay = cfg.layout
    lo = np.where(lay.binary, 0.0, -1.0)
    models = []
    nh = np.maximum(rel.n_noisy, 1.0)
    grams = rel.gram if grams is None else grams
    for a in (0, 1):
        n_a = max(float(np.rint(nh[a])), 2.0)
        cov = psd_project(grams[a] / nh[a])
        alpha = float(rel.ubar[a])
        beta = rel.beta[a]
        if cfg.binary or rel.q_noisy is None:
            v = max(cfg.bound**2 - alpha**2, 0.0)
        else:
            sd = cfg.sd["Q"]
            if math.isfinite(cfg.dim_plan.eps_count):
                sd = math.hypot(sd, math.sqrt(2) / cfg.dim_plan.eps_count * cfg.bound**2 / 2)
            v = float(variance_upper(rel.q_noisy[a] / nh[a] - alpha**2, sd / nh[a], alpha, cfg.bound))
        s2 = max(v - float(beta @ cov @ beta), 0.1 * v)
        models.append(LinearArmModel(n_a, np.clip(rel.xbar[a], lo, 1.0), cov, alpha, beta, s2, v + alpha**2))
    return models


def _renoised_grams(rel: Release, cfg: Config, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """The centred Gram matrices of the released statistics with one more dose of the release's
    own Gaussian noise (released entries of ``sum x x'`` and ``sum x``), projected as released."""
    src = SimulationNoise(rng)
    noisy = []
    for a in (0, 1):
        st = rel.covariate_stats[a]
        arm = {"n": float(rel.n_noisy[a]), "sx": st["sx"], "S": st["S"], "Su": st["Su"], "suu": 0.0}
        noisy.append(gaussian_arm(arm, float(rel.n_noisy[a]), cfg, src))
    return adjusted_from_noisy(rel.n_noisy, rel.s_noisy, noisy, cfg).gram


def _world_draws(rel: Release, cfg: Config, grams: Sequence[np.ndarray] | None, n_bootstrap: int,
                 seed: int) -> np.ndarray:
    models = _linear_models(rel, cfg, grams)
    roots = [psd_root(m.cov)[1] for m in models]
    w = np.array([m.n for m in models])
    mpool = (w[0] * models[0].m + w[1] * models[1].m) / w.sum()
    truth = sum(s * (m.alpha + m.beta @ (mpool - m.m)) for s, m in zip((-1, 1), models))
    rng = np.random.default_rng(seed)
    src = SimulationNoise(rng)  # the release's distribution, drawn fast (a simulation)

    def sim(g: np.random.Generator) -> float:
        return release([models[a].sample(g, roots[a]) for a in (0, 1)], cfg, src).ate

    return parametric_bootstrap(sim, float(truth), n_bootstrap, rng)


def bootstrap_draws(rel: Release, cfg: Config, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """Parametric bootstrap draws of (release - model truth), see :mod:`.intervals`.

    In the DiM plan only outcome moments were released, so replicates re-run the DiM plan
    (the plan choice is then taken as fixed; it is stable away from the threshold).

    In the adjusted plan the data model's covariates take their covariance from the *noisy*
    Gram matrix, projected onto the PSD cone: a world with one dose of the release's noise in
    it, better conditioned than the records, where the release's noise moves the estimate less
    (``experiments/regression_interval_diagnosis.md``: at epsilon 1 the world's noise spread was
    0.012-0.014 where the real one was 0.016-0.019). SIMEX [1] corrects for that dose: the same
    bootstrap (common random numbers) runs in a second world whose Gram has one more dose of
    the release's noise, and each draw is extrapolated linearly to no dose,
    ``d = 2 d_1 - d_2``. Only released statistics and simulation noise enter it (post-processing).

    References
    ----------
    .. [1] Cook and Stefanski, "Simulation-extrapolation estimation in parametric measurement
       error models", JASA 89(428), 1994.
    """
    if rel.plan == "dim":
        return dim_bootstrap(rel.n_noisy, rel.s_noisy, rel.q_noisy, cfg.dim_plan, cfg.binary, n_bootstrap, rng)
    seed = int(rng.integers(2**63))
    once = _world_draws(rel, cfg, None, n_bootstrap, seed)
    if cfg.sigma == 0 or not rel.covariate_stats:
        return once
    twice = _world_draws(rel, cfg, _renoised_grams(rel, cfg, rng), n_bootstrap, seed)
    return 2.0 * once - twice

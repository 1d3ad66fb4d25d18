"""What the regression released, and its parametric bootstrap (the same release rerun)."""

from __future__ import annotations

import math

import numpy as np

from privcausal.estimators.intervals import (
    LinearArmModel, parametric_bootstrap, psd_project, psd_root, variance_upper,
)
from privcausal.estimators.moments import dim_bootstrap
from privcausal.estimators.regression_release import Config, Release, release
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


def _linear_models(rel: Release, cfg: Config) -> list[LinearArmModel]:
    lay = cfg.layout
    lo = np.where(lay.binary, 0.0, -1.0)
    models = []
    nh = np.maximum(rel.n_noisy, 1.0)
    for a in (0, 1):
        n_a = max(float(np.rint(nh[a])), 2.0)
        cov = psd_project(rel.gram[a] / nh[a])
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


def bootstrap_draws(rel: Release, cfg: Config, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """Parametric bootstrap draws of (release - model truth), see :mod:`.intervals`.

    In the DiM plan only outcome moments were released, so replicates re-run the DiM plan
    (the plan choice is then taken as fixed; it is stable away from the threshold).
    """
    if rel.plan == "dim":
        return dim_bootstrap(rel.n_noisy, rel.s_noisy, rel.q_noisy, cfg.dim_plan, cfg.binary, n_bootstrap, rng)
    models = _linear_models(rel, cfg)
    roots = [psd_root(m.cov)[1] for m in models]
    w = np.array([m.n for m in models])
    mpool = (w[0] * models[0].m + w[1] * models[1].m) / w.sum()
    truth = sum(s * (m.alpha + m.beta @ (mpool - m.m)) for s, m in zip((-1, 1), models))
    src = SimulationNoise(rng)  # the release's distribution, drawn fast (a simulation)

    def sim(g: np.random.Generator) -> float:
        return release([models[a].sample(g, roots[a]) for a in (0, 1)], cfg, src).ate

    return parametric_bootstrap(sim, float(truth), n_bootstrap, rng)

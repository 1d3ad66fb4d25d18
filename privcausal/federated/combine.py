"""What the server does with the sites' releases: sum them, estimate, and an interval.

The statistics are sums over records, so the consortium's statistic is the sum of the sites'
noisy statistics: the exact pooled statistic plus every site's independent noise. The server
post-processes that sum exactly as the central estimator post-processes its single release:

* ``dim``: arm means ``sum / count``, their difference;
* ``regression``: per arm the centred Gram ``S - sx sx' / n`` (projected to the PSD cone) and
  ``Su - sx s / n``, ridge slopes, arm means at the pooled covariate mean
  (:func:`~privcausal.estimators.regression_release.adjusted_from_noisy`); the ridge is scaled
  by ``sqrt(sites)``, the norm of the summed noise.

The interval is a **parametric bootstrap over every site's noise**: a model fitted to the summed
noisy statistics (the central estimator's model, with the summed noise's scale) gives exact
pooled statistics; each replicate splits them over the sites in proportion to their noisy sizes,
reruns every site's release with fresh noise, sums and estimates again (basic bootstrap); the
sites' Gaussian blocks are drawn as one Gaussian of their summed variance, which is their sum's
distribution (up to the lattice), the Laplace releases site by site. It is
post-processing of the releases: it spends nothing. The split assumes the sites share one
outcome model (a heterogeneous case mix changes the sites' shares of the statistics, not the
noise, which is what the interval adds to the sampling error).

References
----------
.. [1] Ferrando, Wang, Sheldon, "Parametric bootstrap for differentially private confidence
   intervals", AISTATS 2022.
.. [2] Khellaf, Bellet, Josse, "Multi-study ATE estimation beyond meta-analysis", AISTATS 2025.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from privcausal.exceptions import DataValidationError
from privcausal.federated.site import SiteRelease, release_arrays, release_plan

__all__ = ["FederatedEstimate", "combine_releases", "combine_total", "sum_releases"]


@dataclass(frozen=True)
class FederatedEstimate:
    """The consortium's estimate from the sites' releases."""

    ate: float
    ci_low: float
    ci_high: float
    method: str
    sites: tuple[str, ...]
    draws: np.ndarray | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()


def sum_releases(releases: Sequence[SiteRelease]) -> dict[str, np.ndarray]:
    """Entry-wise sums of the sites' noisy arrays (all sites must release the same arrays)."""
    if not releases:
        raise DataValidationError("no site released anything: nothing to combine")
    keys = set(releases[0].arrays)
    for r in releases[1:]:
        if set(r.arrays) != keys or r.method != releases[0].method:
            raise DataValidationError(f"site {r.site} released other statistics than site "
                                      f"{releases[0].site}: sites must run the same plan")
    return {k: np.sum([np.asarray(r.arrays[k], dtype=np.float64) for r in releases], axis=0)
            for k in keys}


def _estimate(tot: dict[str, np.ndarray], method: str, plan: Any, lam: np.ndarray | None) -> float:
    from privcausal.estimators.moments import arm_means

    if method == "dim":
        m = arm_means(tot["count"], tot["sum"], plan.bound)
        return float(m[1] - m[0])
    from privcausal.estimators.regression_release import adjusted_from_noisy

    q = tot.get("sum_sq")
    noisy = [{"sx": tot["sum_x"][a], "S": tot["gram"][a], "Su": tot["sum_xu"][a],
              "q": None if q is None else float(q[a])} for a in (0, 1)]
    return adjusted_from_noisy(tot["count"], tot["sum"], noisy, plan, lam=lam).ate


def _scaled_plan(method: str, plan: Any, k: int, gauss: float | None = None) -> Any:
    """The plan of one release whose noise is the sum of ``k`` sites' noise (for the model fit):
    every scale times ``gauss`` (default ``sqrt(k)``; secure aggregation: ``sqrt(k / honest)``,
    the sites' Gaussian and Pólya shares)."""
    r = math.sqrt(k) if gauss is None else float(gauss)
    if method == "dim":
        return dataclasses.replace(plan, eps_count=plan.eps_count / r, eps_sum=plan.eps_sum / r,
                                   eps_sq=plan.eps_sq / r if plan.eps_sq else plan.eps_sq)
    return dataclasses.replace(plan, sd={key: v * r for key, v in plan.sd.items()}, tau=plan.tau * r,
                               lam=plan.lam * r, sigma=plan.sigma * r)


def combine_releases(releases: Sequence[SiteRelease], domain: Any, *, epsilon: float, delta: float,
                     alpha: float = 0.05, n_bootstrap: int = 500, random_state: Any = None,
                     drop: tuple[str, ...] = ()) -> FederatedEstimate:
    """The consortium's ATE and (1 - alpha) interval from the sites' releases."""
    method = releases[0].method if releases else "dim"
    tot = sum_releases(releases)
    sizes = np.array([np.maximum(np.asarray(r.arrays["count"], dtype=np.float64), 1.0) for r in releases])
    share = sizes / sizes.sum(0, keepdims=True)  # (sites, 2)
    return combine_total(tot, method, domain, [r.site for r in releases], share, epsilon=epsilon,
                         delta=delta, alpha=alpha, n_bootstrap=n_bootstrap,
                         random_state=random_state, drop=drop)


def combine_total(tot: dict[str, np.ndarray], method: str, domain: Any, sites: Sequence[str],
                  share: np.ndarray, *, epsilon: float, delta: float, alpha: float = 0.05,
                  n_bootstrap: int = 500, random_state: Any = None, drop: tuple[str, ...] = (),
                  honest: int | None = None) -> FederatedEstimate:
    """The ATE and interval from the summed arrays ``tot`` of ``sites`` (``share``: how the
    bootstrap splits the pooled statistics over them, rows summing to 1). ``honest``: the sum
    came from secure aggregation, each site's noise a ``1 / honest`` share (Gaussian blocks:
    ``1 / honest`` of the variance; Laplace releases: Pólya shares)."""
    from privcausal.validation import check_random_state

    plan = release_plan(domain, method, epsilon, delta, drop=drop)
    k = len(sites)
    gauss = None if honest is None else math.sqrt(k / honest)
    fed = _scaled_plan(method, plan, k, gauss) if math.isfinite(epsilon) else plan
    lam = None if method == "dim" else fed.lam
    ate = _estimate(tot, method, plan, lam)
    if honest is None:
        notes = [f"{k} sites' releases summed (one-shot); each site's noise is its own"]
    else:
        notes = [f"{k} sites' vectors summed by secure aggregation: the server saw only the sum"]
    if method == "regression" and math.isfinite(epsilon):
        notes.append(f"ridge scaled by {gauss if gauss is not None else math.sqrt(k):.4g}, the norm "
                     "of the summed Gaussian noise")
    if not n_bootstrap:
        return FederatedEstimate(ate, math.nan, math.nan, method, tuple(sites), None, tuple(notes))
    rng = check_random_state(random_state)
    draws, truth = _bootstrap(tot, method, plan, fed, lam, np.asarray(share, dtype=np.float64),
                              int(n_bootstrap), rng, bool(domain.outcome.binary), honest)
    lo_q, hi_q = np.quantile(draws - truth, [1 - alpha / 2, alpha / 2])
    notes.append(f"interval: parametric bootstrap ({n_bootstrap} replicates) rerunning every "
                 "site's release with fresh noise; sites assumed to share one outcome model")
    return FederatedEstimate(ate, float(ate - lo_q), float(ate - hi_q), method, tuple(sites),
                             draws, tuple(notes))


def _simulation(rng: np.random.Generator, honest: int | None) -> Any:
    """The sites' noise drawn fast, for a simulation: whole releases, or (secure aggregation)
    Pólya shares of ``1 / honest`` for the Laplace releases."""
    from privcausal.privacy.polya import SimulationShareNoise
    from privcausal.privacy.random import SimulationNoise

    return SimulationNoise(rng) if honest is None else SimulationShareNoise(rng, honest)


def _bootstrap(tot: dict[str, np.ndarray], method: str, plan: Any, fed: Any, lam: Any,
               share: np.ndarray, B: int, rng: np.random.Generator, binary: bool,
               honest: int | None = None) -> tuple[np.ndarray, float]:
    src = _simulation(rng, honest)  # the releases' distribution, drawn fast (a simulation)
    if method == "dim":
        from privcausal.estimators.intervals import OutcomeModel

        model = OutcomeModel.fit(tot["count"], tot["sum"], tot.get("sum_sq"), fed, binary=binary)
        n_b, su_b, suu_b = model.sample(B, rng)  # (B, 2) pooled exact statistics
        agg: dict[str, np.ndarray] = {}
        for w in share:
            part = release_arrays({"n": n_b * w, "su": su_b * w, "suu": suu_b * w}, "dim", plan,
                                  src, (B,))
            for key, v in part.items():
                agg[key] = agg.get(key, 0.0) + v
        from privcausal.estimators.moments import arm_means

        m = arm_means(agg["count"], agg["sum"], plan.bound)
        return m[:, 1] - m[:, 0], float(model.ate)
    from privcausal.estimators.regression_bootstrap import _linear_models  # noqa: PLC2701
    from privcausal.estimators.regression_release import adjusted_from_noisy

    q = tot.get("sum_sq")
    noisy = [{"sx": tot["sum_x"][a], "S": tot["gram"][a], "Su": tot["sum_xu"][a],
              "q": None if q is None else float(q[a])} for a in (0, 1)]
    rel = adjusted_from_noisy(tot["count"], tot["sum"], noisy, plan, lam=lam)
    from privcausal.estimators.regression_release import gaussian_arm

    seed = int(rng.integers(2**63))
    once, truth = _regression_world(rel, _linear_models(rel, fed), plan, fed, lam, share, B, seed,
                                    honest)
    if fed.sigma == 0:
        return once, truth
    # SIMEX, as the central regression's bootstrap (privcausal.estimators.regression_bootstrap):
    # the data model's covariance carries one dose of the summed noise; a second world with one
    # more dose, the same random numbers, each draw extrapolated to no dose
    again = [gaussian_arm({"n": float(tot["count"][a]), "sx": noisy[a]["sx"], "S": noisy[a]["S"],
                           "Su": noisy[a]["Su"], "suu": 0.0}, float(tot["count"][a]), fed, src)
             for a in (0, 1)]
    grams = adjusted_from_noisy(tot["count"], tot["sum"], again, plan, lam=lam).gram
    twice, _ = _regression_world(rel, _linear_models(rel, fed, grams), plan, fed, lam, share, B, seed,
                                 honest)
    return 2.0 * once - twice, truth


def _regression_world(rel: Any, models: Sequence[Any], plan: Any, fed: Any, lam: Any, share: np.ndarray,
                      B: int, seed: int, honest: int | None = None) -> tuple[np.ndarray, float]:
    """``B`` draws of the federated regression release in the world of ``models`` (seeded)."""
    from privcausal.estimators.intervals import psd_root
    from privcausal.estimators.moments import release_counts, release_sums
    from privcausal.estimators.regression_release import gaussian_arm
    rng = np.random.default_rng(seed)
    src = _simulation(rng, honest)
    roots = [psd_root(m.cov)[1] for m in models]
    wts = np.array([m.n for m in models])
    mpool = (wts[0] * models[0].m + wts[1] * models[1].m) / wts.sum()
    truth = float(sum(s * (m.alpha + m.beta @ (mpool - m.m)) for s, m in zip((-1, 1), models)))
    S = share.shape[0]
    out = np.empty(B)
    for b in range(B):
        arms = [models[a].sample(rng, roots[a]) for a in (0, 1)]
        n = np.array([arms[0]["n"], arms[1]["n"]])
        su = np.array([arms[0]["su"], arms[1]["su"]])
        suu = np.array([arms[0]["suu"], arms[1]["suu"]])
        # the Laplace releases (or their Pólya shares) site by site ...
        nn_s = release_counts(n * share, plan.dim_plan, src, (S,))
        s_s, _ = release_sums(n * share, nn_s, su * share, suu * share, plan.adj_plan, src, (S,))
        nn, ss = nn_s.sum(0), s_s.sum(0)
        # ... the sites' Gaussian blocks as one Gaussian of the summed variance (``fed``)
        blocks = [gaussian_arm(arms[a], nn[a], fed, src) for a in (0, 1)]
        agg = {"count": nn, "sum": ss, "sum_x": np.stack([k["sx"] for k in blocks]),
               "gram": np.stack([k["S"] for k in blocks]), "sum_xu": np.stack([k["Su"] for k in blocks])}
        if not plan.binary:
            agg["sum_sq"] = np.array([blocks[0]["q"], blocks[1]["q"]])
        out[b] = _estimate(agg, "regression", plan, lam)
    return out, truth

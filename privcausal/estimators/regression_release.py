"""The release behind :class:`~privcausal.estimators.regression.RegressionAdjustment`.

Kept apart from the estimator class so that the parametric bootstrap can run the very same
release (same mechanisms, same budget split, fresh noise) on simulated exact statistics. The
design and its privacy accounting are described in :mod:`privcausal.estimators.regression`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from privcausal.domain import OutcomeBounds
from privcausal.estimators.design_layout import DesignLayout  # noqa: F401  (re-exported)
from privcausal.estimators.linalg import solve_ridge
from privcausal.estimators.moments import (
    ARMS, MomentPlan, arm_means, moment_events, moment_plan, release_counts, release_sums,
)
from privcausal.estimators.sufficient import SufficientStats
from privcausal.privacy import PrivacyEvent, gaussian_sigma, parallel
from privcausal.privacy.lattice import LatticeGaussian

__all__ = ["DesignLayout", "Config", "Release", "arm_stats", "release", "receipt_events",
           "adjusted_from_noisy", "gaussian_arm"]


@dataclass(frozen=True)
class Config:
    """Everything the release needs besides the data: layout, budget split, noise scales."""

    layout: DesignLayout
    epsilon: float
    delta: float
    bound: float
    binary: bool
    dim_plan: MomentPlan
    adj_plan: MomentPlan
    eps_gauss: float
    sigma: float  # zCDP-calibrated sigma of the stacked release (sensitivity 1)
    sd: dict[str, float]
    sens: dict[str, float]
    weights: dict[str, float]
    tau: float
    lam: np.ndarray
    min_ratio: float
    adjust: str
    #: the plan ladder: a config for a reduced design, tried when this one's adjusted plan is
    #: not feasible (``adjust="auto"`` only); ``dropped`` names the columns it leaves out
    fallback: "Config | None" = None
    dropped: tuple[str, ...] = ()

    @classmethod
    def make(cls, layout: DesignLayout, epsilon: float, delta: float, outcome: OutcomeBounds, *,
             count_share: float, gauss_share: float, var_share: float, weights: Sequence[float],
             ridge: Sequence[float], min_ratio: float, adjust: str) -> "Config":
        b = outcome.width / 2
        binary = bool(outcome.binary)
        dim_plan = moment_plan(epsilon, count_share=count_share, var_share=var_share, bound=b, binary=binary)
        if math.isfinite(epsilon):
            eps2 = epsilon - dim_plan.eps_count
            adj_plan = MomentPlan(dim_plan.eps_count, (1 - gauss_share) * eps2, 0.0, b)
            eps_g = gauss_share * eps2
            sigma = gaussian_sigma(eps_g, delta, 1.0)
        else:
            adj_plan, eps_g, sigma = MomentPlan(math.inf, math.inf, 0.0, b), math.inf, 0.0
        keys = ("sx", "S", "Su") if binary else ("sx", "S", "Su", "Q")
        w = {k: float(v) for k, v in zip(keys, weights)}
        total = sum(w.values())
        w = {k: v / total for k, v in w.items()}
        sens = {"sx": layout.sens_x, "S": layout.sens_gram, "Su": layout.sens_x * b, "Q": b * b / 2}
        sd = {k: sigma * sens[k] / math.sqrt(w[k]) for k in keys}
        tau = sd["S"] * layout.unit_tau
        lam = np.where(layout.binary, float(ridge[1]), float(ridge[0])) * tau
        return cls(layout, epsilon, delta, b, binary, dim_plan, adj_plan, eps_g, sigma, sd, sens, w, tau, lam,
                   min_ratio, adjust)

    def block(self, key: str, dim: int) -> LatticeGaussian:
        """The lattice Gaussian of block ``key`` (``dim`` released coordinates)."""
        return LatticeGaussian(self.sd[key], self.sens[key], max(int(dim), 1))

    def choose(self, n_noisy: np.ndarray) -> str:
        if self.adjust == "never" or self.layout.p == 0:
            return "dim"
        if self.adjust == "always" or self.tau == 0:
            return "adjusted"
        return "adjusted" if float(np.min(n_noisy)) >= self.min_ratio * self.tau else "dim"

    def notes(self, plan: str) -> tuple[str, ...]:
        d, a = self.dim_plan, self.adj_plan
        out = [f"stage 1: noisy arm sizes, Laplace, epsilon {d.eps_count:.4g} per arm (arms in parallel)"]
        if self.adjust == "auto":
            out.append(f"plan '{plan}' chosen from the noisy sizes: adjusted if min size >= "
                       f"{self.min_ratio:g} x noise norm {self.tau:.4g}; both plans spend the same "
                       "stage-2 budget (basic composition under adaptive choice)")
            if math.isfinite(self.epsilon):
                out.append("stage 2 is accounted by a pair that dominates both plans (Laplace at the "
                           "stage-2 epsilon with the plan's Gaussian), so PLD/RDP figures are sound "
                           "but looser than the basic-composition epsilon reported")
        if plan == "dim":
            out.append(f"DiM plan: outcome sums {d.eps_sum:.4g}, sums of squares {d.eps_sq:.4g} (Laplace)")
        else:
            out.append(
                f"adjusted plan: outcome sums {a.eps_sum:.4g} (Laplace); Gaussian ({self.eps_gauss:.4g}, "
                f"{self.delta:.3g}) on sum x, released Gram entries, sum x u"
                + ("" if self.binary else ", sum u^2")
                + " with privacy weights " + ", ".join(f"{k} {v:.3g}" for k, v in self.weights.items())
            )
            out.append(f"ridge: {self.lam.min() if self.lam.size else 0:.4g} (numeric) to "
                       f"{self.lam.max() if self.lam.size else 0:.4g} (indicators); reference-coded "
                       f"features: {self.layout.p}")
        return tuple(out)


@dataclass(frozen=True)
class Release:
    ate: float
    plan: str
    n_noisy: np.ndarray
    s_noisy: np.ndarray
    q_noisy: np.ndarray | None
    beta: np.ndarray  # (2, p)
    ubar: np.ndarray  # (2,) centred arm means
    xbar: np.ndarray  # (2, p)
    gram: tuple[np.ndarray, ...]  # PSD-projected centred Gram per arm (adjusted plan)
    covariate_stats: tuple[dict[str, Any], ...] = ()  # per arm: the Gaussian release (adjusted plan)
    config: "Config | None" = None  # the config of the design released (a reduced one on the ladder)


def arm_stats(stats: SufficientStats, layout: DesignLayout, center: float) -> list[dict[str, Any]]:
    """Exact per-arm statistics of the reference-coded design and the centred outcome."""
    out = []
    k = layout.keep + 1
    for a in (0, 1):
        zz, zy = stats.zz[a], stats.zy[a]
        n = float(zz[0, 0])
        sx = zz[0, k]
        out.append({
            "n": n, "sx": sx, "S": zz[np.ix_(k, k)],
            "su": float(zy[0] - center * n), "Su": zy[k] - center * sx,
            "suu": float(stats.yy[a] - 2 * center * zy[0] + center * center * n),
        })
    return out


def gaussian_arm(arm: dict[str, Any], n_noisy: float, cfg: Config, noise: Any) -> dict[str, Any]:
    lay = cfg.layout
    p = lay.p
    sx, S, Su = np.array(arm["sx"], float), np.array(arm["S"], float), np.array(arm["Su"], float)
    q = None
    if not cfg.binary:
        half = cfg.bound**2 / 2
        q = arm["suu"] - half * arm["n"]
    if cfg.sigma > 0:
        # each block on its own lattice (LatticeGaussian pays for its rounding, so the blocks'
        # rho still add up to the stacked release's 1 / (2 sigma^2))
        sx = np.asarray(cfg.block("sx", p).release(sx, noise))
        e = np.zeros((p, p))
        e[lay.rows, lay.cols] = cfg.block("S", len(lay.rows)).release(S[lay.rows, lay.cols], noise)
        S = e + np.triu(e, 1).T
        Su = np.asarray(cfg.block("Su", p).release(Su, noise))
        if q is not None:
            q = float(cfg.block("Q", 1).release(q, noise))
    if q is not None:
        q = q + cfg.bound**2 / 2 * n_noisy
    return {"sx": sx, "S": lay.fill(S, sx), "Su": Su, "q": q}


def release(arms: list[dict[str, Any]], cfg: Config, noise: Any) -> Release:
    """Run the whole release on exact per-arm statistics ``arms`` with noise from ``noise``."""
    n = np.array([arms[0]["n"], arms[1]["n"]])
    su = np.array([arms[0]["su"], arms[1]["su"]])
    suu = np.array([arms[0]["suu"], arms[1]["suu"]])
    p = cfg.layout.p
    n_noisy = release_counts(n, cfg.dim_plan, noise)
    plan = cfg.choose(n_noisy)
    if plan == "dim" and cfg.adjust == "auto":  # the ladder: a reduced design, chosen on noisy sizes
        c = cfg.fallback
        while c is not None and c.choose(n_noisy) == "dim":
            c = c.fallback
        if c is not None:
            pos = np.searchsorted(cfg.layout.keep, c.layout.keep)
            arms = [{**a, "sx": np.asarray(a["sx"])[pos], "S": np.asarray(a["S"])[np.ix_(pos, pos)],
                     "Su": np.asarray(a["Su"])[pos]} for a in arms]
            cfg, plan, p = c, "adjusted", c.layout.p
    if plan == "dim":
        s, q = release_sums(n, n_noisy, su, suu, cfg.dim_plan, noise)
        m = arm_means(n_noisy, s, cfg.bound)
        return Release(float(m[1] - m[0]), plan, n_noisy, s, q, np.zeros((2, p)), m, np.zeros((2, p)), ())
    s, _ = release_sums(n, n_noisy, su, suu, cfg.adj_plan, noise)
    noisy = [gaussian_arm(arms[a], n_noisy[a], cfg, noise) for a in (0, 1)]
    return adjusted_from_noisy(n_noisy, s, noisy, cfg)


def adjusted_from_noisy(n_noisy: np.ndarray, s: np.ndarray, noisy: Sequence[dict[str, Any]],
                        cfg: Config, lam: np.ndarray | None = None) -> Release:
    """The adjusted estimate from released statistics (post-processing only): per arm the noisy
    count, the noisy sum of centred outcomes and the Gaussian block ``noisy[a]`` (``sx``, ``S``,
    ``Su``, ``q``). ``lam`` overrides the ridge (a federation sums several sites' noise)."""
    lam = cfg.lam if lam is None else lam
    p = cfg.layout.p
    nh = np.maximum(n_noisy, 1.0)
    ubar = np.clip(s / nh, -cfg.bound, cfg.bound)
    xbar = np.stack([noisy[a]["sx"] / nh[a] for a in (0, 1)])
    xpool = (noisy[0]["sx"] + noisy[1]["sx"]) / (nh[0] + nh[1])
    beta, grams, mu = np.zeros((2, p)), [], np.zeros(2)
    for a in (0, 1):
        C = noisy[a]["S"] - np.outer(noisy[a]["sx"], noisy[a]["sx"]) / nh[a]
        c = noisy[a]["Su"] - noisy[a]["sx"] * s[a] / nh[a]
        if cfg.sigma > 0:
            w, v = np.linalg.eigh(0.5 * (C + C.T))
            C = (v * np.maximum(w, 0.0)) @ v.T
            beta[a] = np.linalg.solve(C + np.diag(lam), c)
        else:
            beta[a] = solve_ridge(C, c, 0.0)
        grams.append(C)
        mu[a] = np.clip(ubar[a] + beta[a] @ (xpool - xbar[a]), -cfg.bound, cfg.bound)
    q = None if cfg.binary else np.array([noisy[0]["q"], noisy[1]["q"]])
    return Release(float(mu[1] - mu[0]), "adjusted", n_noisy, s, q, beta, ubar, xbar, tuple(grams),
                   tuple(noisy), cfg)


def _gaussian_event(cfg: Config) -> PrivacyEvent:
    import dp_accounting

    labels = {"sx": "sum x", "S": "released Gram entries (sum x x')", "Su": "sum x u",
              "Q": "sum (u^2 - B^2/2)"}
    sens = {"sx": cfg.layout.sens_x, "S": cfg.layout.sens_gram, "Su": cfg.layout.sens_x * cfg.bound,
            "Q": cfg.bound**2 / 2}
    if cfg.sigma == 0:
        return parallel([PrivacyEvent.non_private(f"covariate statistics, {a} arm") for a in ARMS],
                        "covariate statistics (arms in parallel)")
    per_arm = []
    for a in ARMS:
        parts = tuple(
            PrivacyEvent.gaussian(f"{labels[k]}, {a} arm", cfg.eps_gauss, cfg.delta, sens[k], cfg.sd[k])
            for k in cfg.sd)
        per_arm.append(PrivacyEvent(
            f"Gaussian mechanism on the stacked covariate statistics, {a} arm", "discrete gaussian", cfg.eps_gauss,
            cfg.delta, dp_accounting.ZCDpEvent(0.5 / cfg.sigma**2), 1.0, cfg.sigma, parts))
    return parallel(per_arm, "covariate statistics (arms in parallel)")


def receipt_events(cfg: Config, plan: str) -> list[PrivacyEvent]:
    """The events of a release that took ``plan``; an adaptive choice is wrapped (see notes)."""
    import dp_accounting

    first = moment_events(cfg.dim_plan)[0]  # the noisy counts
    if plan == "dim":
        realized = moment_events(cfg.dim_plan, counts=False)
    else:
        realized = moment_events(cfg.adj_plan, counts=False) + [_gaussian_event(cfg)]
    if cfg.adjust != "auto" or not math.isfinite(cfg.epsilon):
        return [first, *realized]
    eps2 = cfg.epsilon - cfg.dim_plan.eps_count
    # Either plan is (eps2, delta)-DP: the choice composes by basic composition, and the pair
    # (pure eps2-DP) x (the Gaussian's zCDP) dominates both plans, so accountants stay sound.
    from dp_accounting.dp_event import DiscreteLaplaceDpEvent

    dominating = dp_accounting.ComposedDpEvent(
        [DiscreteLaplaceDpEvent(eps2, 1), dp_accounting.ZCDpEvent(0.5 / cfg.sigma**2)])
    wrapper = PrivacyEvent(f"stage 2, plan '{plan}' chosen from the noisy arm sizes",
                           "adaptive: discrete laplace | discrete laplace + discrete gaussian", eps2, cfg.delta, dominating,
                           parts=tuple(realized))
    return [first, wrapper]


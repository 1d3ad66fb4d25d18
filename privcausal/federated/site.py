"""What one site (a hospital) computes and releases: its own noisy statistics.

Each site holds its records and the consortium's declared domain. It computes the per-arm
statistics the chosen estimator needs and adds its **own** noise, with the mechanisms and the
budget split of privcausal's central estimators:

* ``dim``: the arm sizes and the sums of centred outcomes (and, for a non-binary outcome, of
  their squares) with Laplace noise on the lattice (:mod:`privcausal.estimators.moments`);
* ``regression``: the same counts and sums, and the Gaussian release of ``sum x``, the Gram
  entries and ``sum x u`` of the reference-coded design
  (:func:`privcausal.estimators.regression_release.gaussian_arm`), always adjusted.

So each site's release is (epsilon, delta)-DP for its own records (add/remove one record of that
site) whatever the server does: no trusted curator. Everything in a :class:`SiteRelease` is noisy
or public; the exact statistics never leave :func:`site_release`.

The plan of a release (:func:`release_plan`) depends only on public things (the domain, the
estimator, epsilon, delta), so the server rebuilds it to combine the releases and to simulate
them for the interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from privcausal.exceptions import DataValidationError
from privcausal.validation import check_delta, check_epsilon

__all__ = ["METHODS", "SiteRelease", "release_plan", "site_release", "release_arrays",
           "site_receipt", "refusal_reason"]

METHODS = ("dim", "regression")
COUNT_SHARE, VAR_SHARE = 0.2, 0.1


@dataclass(frozen=True)
class SiteRelease:
    """One site's release: noisy per-arm statistics (arrays, arm on the first axis) and its
    receipt (JSON)."""

    site: str
    method: str
    arrays: Mapping[str, np.ndarray]
    receipt: Mapping[str, Any]
    notes: tuple[str, ...] = field(default_factory=tuple)


def release_plan(domain: Any, method: str, epsilon: float, delta: float, *,
                 drop: tuple[str, ...] = ()) -> Any:
    """The public plan of a site's release: a MomentPlan (dim) or a regression Config."""
    eps, dlt = check_epsilon(epsilon), check_delta(delta)
    if method not in METHODS:
        raise DataValidationError(f"federated estimator must be one of {METHODS}, got {method!r}")
    out = domain.outcome
    if method == "dim":
        from privcausal.estimators.moments import moment_plan

        return moment_plan(eps, count_share=COUNT_SHARE, var_share=VAR_SHARE, bound=out.width / 2,
                           binary=out.binary)
    from privcausal.estimators.regression_release import Config, DesignLayout

    layout = DesignLayout.from_domain(domain)
    if drop:
        layout = layout.without(set(drop))
    return Config.make(layout, eps, dlt, out, count_share=COUNT_SHARE, gauss_share=0.9,
                       var_share=VAR_SHARE, weights=(0.2, 0.5, 0.3, 0.05), ridge=(0.1, 3.0),
                       min_ratio=2.0, adjust="always")


def release_arrays(exact: Mapping[str, Any], method: str, plan: Any, noise: Any,
                   size: tuple[int, ...] = (), *, shift: bool = True) -> dict[str, np.ndarray]:
    """The noisy arrays of a release from exact statistics ``exact`` (per arm: ``n``, ``su``,
    ``suu`` and, for regression, ``arms`` of :func:`arm_stats`). ``size`` draws several
    releases at once (dim only; the bootstrap). ``shift=False``: ``sum_sq`` is left as the
    lattice release of ``sum (u^2 - B^2/2)``, before the shift by ``B^2/2`` times the noisy
    count (secure aggregation sums the lattice points; the server shifts the sum)."""
    from privcausal.estimators.moments import release_counts, release_sums

    n, su, suu = (np.asarray(exact[k], dtype=np.float64) for k in ("n", "su", "suu"))
    if method == "dim":
        nn = release_counts(n, plan, noise, size)
        s, q = release_sums(n, nn if shift else np.zeros_like(nn), su, suu, plan, noise, size)
        out = {"count": nn, "sum": s}
        if q is not None:
            out["sum_sq"] = q
        return out
    from privcausal.estimators.regression_release import gaussian_arm

    nn = release_counts(n, plan.dim_plan, noise)
    s, _ = release_sums(n, nn, su, suu, plan.adj_plan, noise)
    blocks = [gaussian_arm(exact["arms"][a], nn[a] if shift else 0.0, plan, noise) for a in (0, 1)]
    out = {"count": nn, "sum": s, "sum_x": np.stack([b["sx"] for b in blocks]),
           "gram": np.stack([b["S"] for b in blocks]), "sum_xu": np.stack([b["Su"] for b in blocks])}
    if not plan.binary:
        out["sum_sq"] = np.array([blocks[0]["q"], blocks[1]["q"]], dtype=np.float64)
    return out


def exact_statistics(data: Any, method: str, plan: Any) -> dict[str, Any]:
    """The exact per-arm statistics a release needs (never leave this module's functions)."""
    t = data.treatment
    c = data.domain.outcome.center
    u = data.outcome - c
    n = np.array([np.sum(t == 0), np.sum(t == 1)], dtype=np.float64)
    su = np.array([u[t == 0].sum(), u[t == 1].sum()])
    suu = np.array([u[t == 0] @ u[t == 0], u[t == 1] @ u[t == 1]])
    out: dict[str, Any] = {"n": n, "su": su, "suu": suu}
    if method == "regression":
        from privcausal.estimators.regression import stats_for
        from privcausal.estimators.regression_release import arm_stats

        # layout.keep indexes the full design's columns, so a reduced design reads them directly
        out["arms"] = arm_stats(stats_for(data), plan.layout, c)
    return out


def site_receipt(method: str, plan: Any, epsilon: float, delta: float, site: str,
                 noise_description: str, notes: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The receipt of one site's release, as JSON (``notes``: the guarantee's statement, by
    default that of a site adding its own noise)."""
    from privcausal.privacy import make_receipt

    if method == "dim":
        from privcausal.estimators.moments import moment_events

        events = moment_events(plan)
        what = "difference-in-means statistics (noisy per-arm counts and sums)"
    else:
        from privcausal.estimators.regression_release import receipt_events

        events = receipt_events(plan, "adjusted")
        what = "regression sufficient statistics (noisy counts, sums, sum x, Gram, sum x u)"
    r = make_receipt(
        f"site {site}: {what}", events, noise=noise_description,
        epsilon_budget=float(epsilon), delta_budget=0.0 if not math.isfinite(epsilon) else float(delta),
        notes=notes or (f"per-site guarantee: add/remove one record of site {site}; the site adds "
                        "its own noise, so the guarantee holds whatever the server and the other "
                        "sites do",))
    return r.to_dict()


def refusal_reason(error: Exception) -> str:
    """What a site may say when it refuses: the error's words and column names, without any
    number (an error can count the offending records exactly: that count stays at the site)."""
    import re

    text = re.sub(r"[-+]?\d[\d_.,eE+-]*", "#", str(error))
    return f"{type(error).__name__}: {text}"


def site_release(data: Any, method: str, epsilon: float, delta: float, *, site: str = "site",
                 random_state: Any = None, drop: tuple[str, ...] = ()) -> SiteRelease:
    """Compute this site's statistics and release them with its own noise.

    ``random_state=None``: noise from the operating system's CSPRNG (a seed is for experiments
    only: whoever knows it can remove the noise). ``drop``: design columns the consortium
    leaves out of the regression (by default the site column itself, constant within a site).
    """
    from privcausal.privacy import noise_source

    plan = release_plan(data.domain, method, epsilon, delta, drop=drop)
    noise = noise_source(random_state)
    arrays = release_arrays(exact_statistics(data, method, plan), method, plan, noise)
    return SiteRelease(site, method, arrays, site_receipt(method, plan, epsilon, delta, site,
                                                          noise.description))

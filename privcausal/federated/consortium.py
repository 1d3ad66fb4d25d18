"""Run a consortium: split by site, federate, and the baselines beside it (:func:`federate`).

Transports:

* ``simulation``: Flower's simulation engine (``flwr.simulation.run_simulation``), one virtual
  SuperNode per site, each reading its own partition from a private folder;
* ``grpc``: a real Flower SuperLink and one SuperNode per site on 127.0.0.1
  (:mod:`privcausal.federated.grpc_run`), shut down afterwards;
* ``local``: the same site and server code called in this process, without Flower (for
  experiments with many repetitions; the releases are bit-identical for the same seeds).

Baselines in the same run, at the same epsilon per site: the **pooled** central private estimate
(as if the records were in one place: one release at epsilon) and a **meta-analysis** of per-site
private estimates (:mod:`.meta`).
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from privcausal.exceptions import DataValidationError
from privcausal.federated.combine import combine_releases
from privcausal.federated.meta import MetaAnalysis, meta_analysis
from privcausal.federated.result import FederatedResult
from privcausal.federated.simulation import run_simulation_transport
from privcausal.federated.site import METHODS, SiteRelease, site_release

__all__ = ["FederatedResult", "federate", "split_sites", "TRANSPORTS"]

TRANSPORTS = ("simulation", "grpc", "local")


def split_sites(data: Any, column: str) -> dict[str, Any]:
    """The records of each site (``column``: a declared covariate holding the site)."""
    if column not in data.covariates.columns:
        raise DataValidationError(f"the site column {column!r} is not among the covariates")
    col = data.covariates[column]
    if col.isna().any():
        raise DataValidationError(f"the site column {column!r} has missing values")
    out = {}
    for s in sorted(col.unique(), key=str):
        out[str(s)] = data.subset(np.flatnonzero((col == s).to_numpy()))
    return out


def _seeds(random_state: Any, sites: list[str]) -> dict[str, int | None]:
    if random_state is None:
        return {s: None for s in sites}
    ss = np.random.SeedSequence(int(random_state)).spawn(len(sites) + 2)
    return {s: int(q.generate_state(1)[0]) for s, q in zip(sites, ss)}


def _local(parts: dict[str, Any], method: str, epsilon: float, delta: float, seeds: dict,
           drop: tuple[str, ...]) -> tuple[list[SiteRelease], dict[str, str]]:
    from privcausal.exceptions import PrivCausalError

    rel, refused = [], {}
    for s, d in parts.items():
        try:
            rel.append(site_release(d, method, epsilon, delta, site=s, random_state=seeds[s], drop=drop))
        except PrivCausalError as e:
            from privcausal.federated.site import refusal_reason

            refused[s] = refusal_reason(e)
    return rel, refused


def federate(data: Any, *, site_column: str = "centre", method: str = "regression",
             epsilon: float = 1.0, delta: float = 1e-6, transport: str = "simulation",
             alpha: float = 0.05, n_bootstrap: int = 500, random_state: Any = None,
             baselines: bool = True, fail: Any = None, rounds: int = 6,
             clip: float = 0.05, secure: bool = False, collusion: int = 0,
             min_sites: int | None = None) -> FederatedResult:
    """Estimate the ATE across the sites of ``data`` without pooling their records.

    Parameters
    ----------
    data : CausalData with a site column among its covariates (the simulated registry's
        ``centre``); in a real consortium each site holds only its own part
    site_column : the column that names the site
    method : ``dim``, ``regression`` (one shot), ``ipw`` or ``aipw`` (a propensity model fitted
        over ``rounds`` federated rounds, :mod:`.rounds`)
    epsilon, delta : each site's guarantee for its own records
    transport : ``simulation``, ``grpc`` or ``local`` (see the module docstring)
    alpha, n_bootstrap : the interval
    random_state : None (secure noise at every site) or a seed (experiments only)
    baselines : also compute the pooled central estimate and the meta-analysis
    fail : a predicate on site names: those sites crash (tests of dropouts; with IPW / AIPW
        from their second round on, mid-run)
    rounds, clip : IPW / AIPW only: the propensity model's gradient rounds and the
        propensities' clipping to ``[clip, 1 - clip]``
    secure, collusion, min_sites : secure aggregation: the server sees only the sum; each site
        adds a share of the Gaussian noise, assuming at most ``collusion`` sites collude with the
        server and using the sum only if at least ``min_sites`` (default: all) entered it
        (:mod:`.secure`). ``dim`` / ``regression`` over Flower's SecAgg+ (or ``local``); IPW /
        AIPW every round (:mod:`.secure_rounds`, on Flower: :mod:`.flower_secure_rounds`)
    """
    from privcausal.federated.rounds import ROUND_METHODS

    if method not in METHODS + ROUND_METHODS:
        raise DataValidationError(f"federated estimator must be one of {METHODS + ROUND_METHODS}, "
                                  f"got {method!r}")
    if transport not in TRANSPORTS:
        raise DataValidationError(f"transport must be one of {TRANSPORTS}, got {transport!r}")
    parts = split_sites(data, site_column)
    seeds = _seeds(random_state, list(parts))
    drop = (site_column,) if method != "dim" else ()
    if secure and method in METHODS:
        from privcausal.federated.consortium_secure import federate_secure

        res = federate_secure(data, parts, seeds, method=method, epsilon=epsilon, delta=delta,
                              transport=transport, alpha=alpha, n_bootstrap=n_bootstrap,
                              random_state=random_state, drop=drop, collusion=collusion,
                              min_sites=min_sites, fail=fail)
        if baselines:
            res.pooled, res.meta = _baselines(data, parts, method, epsilon, delta, alpha,
                                              random_state, set(res.sites))
        return res
    if method in ROUND_METHODS:
        from privcausal.federated.consortium_rounds import federate_rounds

        res = federate_rounds(data, parts, seeds, method=method, epsilon=epsilon, delta=delta,
                              transport=transport, alpha=alpha, drop=drop, rounds=rounds,
                              clip=clip, fail=fail, secure=secure, collusion=collusion,
                              min_sites=min_sites)
        if baselines:
            res.pooled, res.meta = _baselines(data, parts, method, epsilon, delta, alpha,
                                              random_state, set(res.sites))
        return res
    t0 = time.perf_counter()
    excluded: dict[str, str] = {}
    if transport == "local":
        releases, excluded = _local(parts, method, epsilon, delta, seeds, drop)
        if fail is not None:
            excluded.update({r.site: "site failed" for r in releases if fail(r.site)})
            releases = [r for r in releases if not fail(r.site)]
    else:
        plan = {"method": method, "epsilon": float(epsilon), "delta": float(delta),
                "treatment": "treatment", "outcome": "outcome", "drop": json.dumps(list(drop)),
                **{f"seed-{s}": v for s, v in seeds.items() if v is not None}}
        with tempfile.TemporaryDirectory(prefix="privcausal-fed-") as tmp:
            if transport == "simulation":
                out = run_simulation_transport(parts, plan, Path(tmp), fail)
            else:
                from privcausal.federated.grpc_run import run_grpc

                out = run_grpc(parts, plan, Path(tmp), fail=fail)
        releases, excluded = out["releases"], dict(out["refused"])
        got = {r.site for r in releases} | set(excluded)
        for s in parts:
            if s not in got:
                excluded[s] = "no release (the site failed or did not answer, after one retry)"
    if not releases:
        raise DataValidationError("no site released statistics: " + "; ".join(
            f"{k}: {v}" for k, v in excluded.items()))
    releases = sorted(releases, key=lambda r: list(parts).index(r.site))
    est = combine_releases(releases, data.domain, epsilon=epsilon, delta=delta, alpha=alpha,
                           n_bootstrap=n_bootstrap,
                           random_state=None if random_state is None else int(random_state) + 1,
                           drop=drop)
    res = FederatedResult(est, transport, float(epsilon), float(delta), est.sites, excluded,
                          dict(releases[0].receipt), seconds=time.perf_counter() - t0,
                          true_ate=getattr(data, "true_ate", None))
    if excluded:
        res.notes.append(f"{len(excluded)} site(s) excluded: the estimate is of the sites that "
                         "contributed (named in 'sites')")
    if baselines:
        res.pooled, res.meta = _baselines(data, parts, method, epsilon, delta, alpha, random_state,
                                          set(est.sites))
    return res


def _boot(method: str, n: int) -> dict[str, int]:
    """The interval's bootstrap size, for the estimators that take one."""
    return {"n_bootstrap": n} if method in METHODS else {}


def _baselines(data: Any, parts: dict[str, Any], method: str, epsilon: float, delta: float,
               alpha: float, random_state: Any, contributed: set[str]) -> tuple[dict, MetaAnalysis]:
    import warnings

    from privcausal.estimators import make_estimator
    from privcausal.exceptions import PrivCausalError

    seed = None if random_state is None else int(random_state) + 7
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        central = make_estimator(method, epsilon=epsilon, delta=delta, random_state=seed,
                                 **_boot(method, 500)).fit(data)
        lo, hi = central.ate_interval(alpha)
        pooled = {"ate": float(central.ate_), "ci_low": float(lo), "ci_high": float(hi),
                  "what": "central private estimate on the pooled records (one release at epsilon)"}
        est, ses, names = [], [], []
        from scipy.stats import norm

        z = float(norm.ppf(1 - alpha / 2))
        for i, (s, d) in enumerate(parts.items()):
            if s not in contributed:
                continue
            try:
                e = make_estimator(method, epsilon=epsilon, delta=delta, **_boot(method, 300),
                                   random_state=None if seed is None else seed + 100 + i).fit(d)
                a, b = e.ate_interval(alpha)
            except PrivCausalError:
                continue
            if math.isfinite(a) and math.isfinite(b) and b > a:
                est.append(float(e.ate_))
                ses.append((b - a) / (2 * z))
                names.append(s)
    return pooled, meta_analysis(est, ses, names, alpha=alpha)

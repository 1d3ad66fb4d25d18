"""A consortium run with secure aggregation (:func:`federate_secure`; ``federate(secure=True)``).

Over ``simulation`` and ``grpc`` the sum goes through Flower's SecAgg+ (:mod:`.flower_secure`);
``local`` sums the same limbs in this process (experiments, tests). Either way the server's
input is the exact sum of the contributing sites' shares and nothing else.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from privcausal.exceptions import DataValidationError
from privcausal.federated.result import FederatedResult

__all__ = ["federate_secure"]


def _local(parts: dict[str, Any], method: str, epsilon: float, delta: float, seeds: dict,
           drop: tuple[str, ...], sec: Any, fail: Any) -> dict[str, Any]:
    from privcausal.exceptions import PrivCausalError
    from privcausal.federated.secure_site import local_secure_sum, secure_release
    from privcausal.federated.site import refusal_reason

    shares, refused, dropped = [], {}, []
    for s, d in parts.items():
        try:
            if fail is not None and fail(s):
                dropped.append(s)
                continue
            shares.append(secure_release(d, method, epsilon, delta, site=s, secure=sec,
                                         random_state=seeds[s], drop=drop))
        except PrivCausalError as e:
            refused[s] = refusal_reason(e)
    out = {"refused": refused, "dropped": dropped, "contributors": [x.site for x in shares],
           "secure": sec.to_dict(), "rounds": 1, "receipt": shares[0].receipt if shares else None}
    if len(shares) < sec.min_sites:
        out["error"] = (f"{len(shares)} site(s) entered the secure sum, fewer than min_sites "
                        f"{sec.min_sites}: the sum is discarded")
    else:
        out["limb_sums"] = local_secure_sum(shares)
    return out


def federate_secure(data: Any, parts: dict[str, Any], seeds: dict, *, method: str, epsilon: float,
                    delta: float, transport: str, alpha: float, n_bootstrap: int, random_state: Any,
                    drop: tuple[str, ...], collusion: int, min_sites: int | None,
                    fail: Any) -> FederatedResult:
    """The secure run's result (the baselines are added by :func:`~.consortium.federate`)."""
    from privcausal.federated.combine import combine_total
    from privcausal.federated.secure import SecureAggregation, limb_sums_from_mean
    from privcausal.federated.secure_site import secure_receipt, secure_total
    from privcausal.privacy import noise_source

    t0 = time.perf_counter()
    planned = SecureAggregation(len(parts), collusion, min_sites)
    if transport == "local":
        out = _local(parts, method, epsilon, delta, seeds, drop, planned, fail)
    else:
        plan = {"method": method, "epsilon": float(epsilon), "delta": float(delta),
                "treatment": "treatment", "outcome": "outcome", "drop": json.dumps(list(drop)),
                "secure": {"sites": planned.sites, "collusion": planned.collusion,
                           "min_sites": planned.min_sites},
                **{f"seed-{s}": v for s, v in seeds.items() if v is not None}}
        with tempfile.TemporaryDirectory(prefix="privcausal-fed-") as tmp:
            if transport == "simulation":
                from privcausal.federated.simulation import run_simulation_transport

                out = run_simulation_transport(parts, plan, Path(tmp), fail)
            else:
                from privcausal.federated.grpc_run import run_grpc

                out = run_grpc(parts, plan, Path(tmp), fail=fail)
    excluded = dict(out.get("refused", {}))
    for s in out.get("dropped", []):
        excluded[s] = "dropped out of the secure aggregation (its masks were removed from the sum)"
    for s in parts:
        if s not in excluded and s not in out.get("contributors", []):
            excluded[s] = "no answer to the check round (after one retry)"
    if out.get("error") or not out.get("contributors"):
        raise DataValidationError("secure aggregation gave no usable sum: "
                                  + str(out.get("error", "no site contributed")) + "; "
                                  + "; ".join(f"{k}: {v}" for k, v in excluded.items()))
    sites = [s for s in parts if s in out["contributors"]]
    sec = SecureAggregation(**{k: int(out["secure"][k]) for k in ("sites", "collusion", "min_sites")})
    a = len(sites)
    limbs = out["limb_sums"] if "limb_sums" in out else limb_sums_from_mean(
        np.asarray(out["secure_sum"], dtype=np.float64), a)
    tot = secure_total(limbs, a, data.domain, method, epsilon, delta, sec, drop)
    est = combine_total(tot, method, data.domain, sites, np.full((a, 2), 1.0 / a), epsilon=epsilon,
                        delta=delta, alpha=alpha, n_bootstrap=n_bootstrap,
                        random_state=None if random_state is None else int(random_state) + 1,
                        drop=drop, honest=sec.honest)
    receipt = out.get("receipt") or secure_receipt(
        method, _plan(data.domain, method, epsilon, delta, drop), epsilon, delta, "each site",
        noise_source(None if random_state is None else 0).description, sec)
    res = FederatedResult(est, transport, float(epsilon), float(delta), est.sites, excluded,
                          dict(receipt), rounds=int(out.get("rounds", 2)),
                          seconds=time.perf_counter() - t0, true_ate=getattr(data, "true_ate", None),
                          secure=dict(receipt.get("secure_aggregation", sec.to_dict())))
    if excluded:
        res.notes.append(f"{len(excluded)} site(s) excluded: the estimate is of the sites that "
                         "contributed (named in 'sites')")
    return res


def _plan(domain: Any, method: str, epsilon: float, delta: float, drop: tuple[str, ...]) -> Any:
    from privcausal.federated.site import release_plan

    return release_plan(domain, method, epsilon, delta, drop=drop)

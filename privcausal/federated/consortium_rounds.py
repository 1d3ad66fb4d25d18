"""Run federated IPW / AIPW (:mod:`.rounds`, :mod:`.protocol`) over a transport.

``local`` calls each site's :class:`~privcausal.federated.rounds.SiteSession` in this process;
``simulation`` and ``grpc`` run the same rounds as Flower messages (:mod:`.flower_rounds`), with
the same noise for the same seeds, so the three give the same answer.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from privcausal.exceptions import DataValidationError

__all__ = ["federate_rounds"]


def _local_ask(parts: dict[str, Any], plan: Any, seeds: dict[str, Any], fail: Any,
               sec: Any = None) -> Any:
    from privcausal.exceptions import PrivCausalError
    from privcausal.federated.rounds import SiteSession
    from privcausal.federated.secure_rounds import SecureSiteSession
    from privcausal.federated.site import refusal_reason

    sessions = {s: SiteSession(d, plan, s, seeds[s]) if sec is None else
                SecureSiteSession(d, plan, s, sec, seeds[s]) for s, d in parts.items()}

    def ask(step: str, payload: Mapping[str, np.ndarray], sites: Sequence[str]):
        replies, failed = {}, {}
        for s in sites:
            if fail is not None and fail(s) and step != plan.steps[0]:
                failed[s] = "site failed"
                continue
            try:
                replies[s] = sessions[s].answer(step, payload)
            except PrivCausalError as e:
                failed[s] = refusal_reason(e)
        return replies, failed

    return ask, sessions


def federate_rounds(data: Any, parts: dict[str, Any], seeds: dict[str, Any], *, method: str,
                    epsilon: float, delta: float, transport: str, alpha: float,
                    drop: tuple[str, ...], rounds: int, clip: float, fail: Any = None,
                    secure: bool = False, collusion: int = 0, min_sites: int | None = None) -> Any:
    """The multi-round federation; returns a :class:`~.consortium.FederatedResult`. ``secure``:
    every round through secure aggregation (:mod:`.secure_rounds`; over Flower, SecAgg+ once per
    round: :mod:`.flower_secure_rounds`)."""
    from privcausal.federated.combine import FederatedEstimate
    from privcausal.federated.result import FederatedResult
    from privcausal.federated.protocol import estimate_from_scores, run_protocol
    from privcausal.federated.rounds import round_plan
    from privcausal.federated.secure_rounds import round_total

    plan = round_plan(data.domain, method, epsilon, delta, rounds=rounds, clip=clip, drop=drop)
    t0 = time.perf_counter()
    sec, n_sites = None, None
    if secure:
        from privcausal.federated.secure import SecureAggregation
        from privcausal.federated.secure_rounds import check_round_shares

        sec = SecureAggregation(len(parts), collusion, min_sites)
        check_round_shares(plan, sec.honest)
    if transport == "local":
        ask, sessions = _local_ask(parts, plan, seeds, fail, sec)
        run = run_protocol(plan, list(parts), ask, honest=None if sec is None else sec.honest,
                           total=None if sec is None else round_total(plan, sec))
        scores, excluded, n_rounds = run.scores, dict(run.excluded), run.rounds
        contributors = run.participation["score"]
        n_sites = len(contributors) if sec is not None else None
        receipt = sessions[contributors[0]].receipt()
    else:
        cfg = {"method": method, "epsilon": float(epsilon), "delta": float(delta),
               "rounds": int(rounds), "clip": float(clip), "treatment": "treatment",
               "outcome": "outcome", "drop": json.dumps(list(drop)), "sites": json.dumps(list(parts)),
               **{f"seed-{s}": v for s, v in seeds.items() if v is not None}}
        if sec is not None:
            cfg["secure"] = {"sites": sec.sites, "collusion": sec.collusion, "min_sites": sec.min_sites}
        with tempfile.TemporaryDirectory(prefix="privcausal-fed-") as tmp:
            if transport == "simulation":
                from privcausal.federated.simulation import run_simulation_transport

                out = run_simulation_transport(parts, cfg, Path(tmp), fail)
            else:
                from privcausal.federated.grpc_run import run_grpc

                out = run_grpc(parts, cfg, Path(tmp), fail=fail)
        excluded, n_rounds = dict(out["refused"]), int(out["rounds"])
        if sec is not None:
            if out.get("error") or "secure_scores" not in out:
                raise DataValidationError("secure aggregation gave no usable sum: " + str(
                    out.get("error", "no site contributed")) + "; " + "; ".join(
                    f"{k}: {v}" for k, v in excluded.items()))
            from privcausal.federated.protocol import SECURE_SUM
            from privcausal.federated.secure import SecureAggregation
            from privcausal.federated.secure_rounds import secure_plan_receipt
            from privcausal.privacy import noise_source

            contributors = [str(s) for s in out["contributors"]]
            sec = SecureAggregation(**{k: int(out["secure"][k]) for k in ("sites", "collusion", "min_sites")})
            n_sites = len(contributors)
            scores = {SECURE_SUM: np.asarray(out["secure_scores"], dtype=np.float64)}
            desc = noise_source(None if seeds[contributors[0]] is None else 0).description
            receipt = secure_plan_receipt(plan, contributors[0], desc, sec)
        else:
            scores = {r.site: np.asarray(r.arrays["agg"], dtype=np.float64) for r in out["releases"]}
            receipt = next((dict(r.receipt) for r in out["releases"] if r.receipt), {})
            contributors = list(scores)
        for s in parts:
            if s not in contributors and s not in excluded:
                excluded[s] = "no release (the site failed or did not answer, after one retry)"
    if not scores:
        raise DataValidationError("no site released scores: " + "; ".join(
            f"{k}: {v}" for k, v in excluded.items()))
    if sec is None:
        order = [s for s in parts if s in scores]
        scores = {s: scores[s] for s in order}
        how = "each site's noise is its own"
    else:
        order = [s for s in parts if s in contributors]
        how = (f"every round summed by secure aggregation (the server saw only the sums; each "
               f"site's noise a 1/{sec.honest} share: Gaussian, and Pólya for the Laplace "
               "releases)")
    ate, lo, hi, notes = estimate_from_scores(scores, plan, alpha, n_sites,
                                              None if sec is None else sec.honest)
    notes = (f"{len(order)} sites over {n_rounds} rounds ({', '.join(plan.steps)}); {how}; each "
             "round is answered once",) + notes
    est = FederatedEstimate(ate, lo, hi, method, tuple(order), None, notes)
    res = FederatedResult(est, transport, float(epsilon), float(delta), est.sites, excluded,
                          receipt, rounds=n_rounds, seconds=time.perf_counter() - t0,
                          true_ate=getattr(data, "true_ate", None),
                          secure=None if sec is None else dict(receipt.get("secure_aggregation",
                                                                           sec.to_dict())))
    if excluded:
        res.notes.append(f"{len(excluded)} site(s) excluded: the estimate is of the sites that "
                         "contributed to the last round (named in 'sites')")
    return res

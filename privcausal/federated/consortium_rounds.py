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


def secure_total(plan: Any, sec: Any) -> Any:
    """The server's ``total`` for a secure run (:func:`~.protocol.run_protocol`): the exact sum
    of the contributing sites' limbs, decoded; a sum of fewer than ``min_sites`` is refused."""
    from privcausal.federated.secure import CLIP
    from privcausal.federated.secure_rounds import decode_round

    def total(step: str, replies: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
        if len(replies) < sec.min_sites:
            raise DataValidationError(
                f"round {step}: {len(replies)} site(s) entered the secure sum, fewer than min_sites "
                f"{sec.min_sites}: the sum is discarded (contributors: {', '.join(replies)})")
        if all("limb_sums" in r for r in replies.values()):  # SecAgg+: the sum, no site's vector
            sums = np.asarray(next(iter(replies.values()))["limb_sums"], dtype=np.float64)
        else:  # the local transport sums the limbs as SecAgg+ would
            sums = np.sum([np.asarray(r["limbs"], dtype=np.float64) + CLIP for r in replies.values()],
                          axis=0)
        return decode_round(sums, len(replies), plan, step, sec.honest)

    return total


def federate_rounds(data: Any, parts: dict[str, Any], seeds: dict[str, Any], *, method: str,
                    epsilon: float, delta: float, transport: str, alpha: float,
                    drop: tuple[str, ...], rounds: int, clip: float, fail: Any = None,
                    secure: bool = False, collusion: int = 0, min_sites: int | None = None) -> Any:
    """The multi-round federation; returns a :class:`~.consortium.FederatedResult`. ``secure``:
    every round through secure aggregation (:mod:`.secure_rounds`)."""
    from privcausal.federated.combine import FederatedEstimate
    from privcausal.federated.result import FederatedResult
    from privcausal.federated.protocol import estimate_from_scores, run_protocol
    from privcausal.federated.rounds import round_plan

    plan = round_plan(data.domain, method, epsilon, delta, rounds=rounds, clip=clip, drop=drop)
    t0 = time.perf_counter()
    sec, n_sites = None, None
    if secure:
        from privcausal.federated.secure import SecureAggregation
        from privcausal.federated.secure_rounds import check_round_shares

        sec = SecureAggregation(len(parts), collusion, min_sites)
        check_round_shares(plan, sec.honest)
        if transport != "local":
            raise DataValidationError("secure aggregation of the IPW / AIPW rounds runs over the "
                                      "local transport only (Flower's SecAgg+ per round is not built)")
    if transport == "local":
        ask, sessions = _local_ask(parts, plan, seeds, fail, sec)
        run = run_protocol(plan, list(parts), ask, honest=None if sec is None else sec.honest,
                           total=None if sec is None else secure_total(plan, sec))
        scores, excluded, n_rounds = run.scores, dict(run.excluded), run.rounds
        contributors = run.participation["score"]
        n_sites = len(contributors) if sec is not None else None
        receipt = sessions[contributors[0]].receipt()
    else:
        cfg = {"method": method, "epsilon": float(epsilon), "delta": float(delta),
               "rounds": int(rounds), "clip": float(clip), "treatment": "treatment",
               "outcome": "outcome", "drop": json.dumps(list(drop)), "sites": json.dumps(list(parts)),
               **{f"seed-{s}": v for s, v in seeds.items() if v is not None}}
        with tempfile.TemporaryDirectory(prefix="privcausal-fed-") as tmp:
            if transport == "simulation":
                from privcausal.federated.simulation import run_simulation_transport

                out = run_simulation_transport(parts, cfg, Path(tmp), fail)
            else:
                from privcausal.federated.grpc_run import run_grpc

                out = run_grpc(parts, cfg, Path(tmp), fail=fail)
        scores = {r.site: np.asarray(r.arrays["agg"], dtype=np.float64) for r in out["releases"]}
        excluded, n_rounds = dict(out["refused"]), int(out["rounds"])
        for s in parts:
            if s not in scores and s not in excluded:
                excluded[s] = "no release (the site failed or did not answer, after one retry)"
        receipt = next((dict(r.receipt) for r in out["releases"] if r.receipt), {})
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
               f"site's Gaussian noise a 1/{sec.honest} share)")
    ate, lo, hi, notes = estimate_from_scores(scores, plan, alpha, n_sites)
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

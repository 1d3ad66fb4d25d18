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


def _local_ask(parts: dict[str, Any], plan: Any, seeds: dict[str, Any], fail: Any) -> Any:
    from privcausal.exceptions import PrivCausalError
    from privcausal.federated.rounds import SiteSession
    from privcausal.federated.site import refusal_reason

    sessions = {s: SiteSession(d, plan, s, seeds[s]) for s, d in parts.items()}

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
                    drop: tuple[str, ...], rounds: int, clip: float, fail: Any = None) -> Any:
    """The multi-round federation; returns a :class:`~.consortium.FederatedResult`."""
    from privcausal.federated.combine import FederatedEstimate
    from privcausal.federated.result import FederatedResult
    from privcausal.federated.protocol import estimate_from_scores, run_protocol
    from privcausal.federated.rounds import round_plan

    plan = round_plan(data.domain, method, epsilon, delta, rounds=rounds, clip=clip, drop=drop)
    t0 = time.perf_counter()
    if transport == "local":
        ask, sessions = _local_ask(parts, plan, seeds, fail)
        run = run_protocol(plan, list(parts), ask)
        scores, excluded, n_rounds = run.scores, dict(run.excluded), run.rounds
        receipt = sessions[next(iter(scores))].receipt()
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
    order = [s for s in parts if s in scores]
    scores = {s: scores[s] for s in order}
    ate, lo, hi, notes = estimate_from_scores(scores, plan, alpha)
    notes = (f"{len(scores)} sites over {n_rounds} rounds ({', '.join(plan.steps)}); each site's "
             "noise is its own and each round is answered once",) + notes
    est = FederatedEstimate(ate, lo, hi, method, tuple(order), None, notes)
    res = FederatedResult(est, transport, float(epsilon), float(delta), est.sites, excluded,
                          receipt, rounds=n_rounds, seconds=time.perf_counter() - t0,
                          true_ate=getattr(data, "true_ate", None))
    if excluded:
        res.notes.append(f"{len(excluded)} site(s) excluded: the estimate is of the sites that "
                         "contributed to the last round (named in 'sites')")
    return res

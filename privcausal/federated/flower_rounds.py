"""Federated IPW / AIPW on Flower: the rounds of :mod:`.rounds` as Flower messages.

* **ClientApp** (a site): each ``query`` message names a round (``step``) of the plan and
  carries the server's models (an ArrayRecord); the site reads its records, answers the round
  with its own noise (:class:`~privcausal.federated.rounds.SiteSession`) and remembers in the
  run's ``context.state`` which rounds it has answered, for which message, and what it released:
  a retry of the same message gets the same release; a round asked again with other models, a
  round not in the plan, or a plan that changed mid-run is refused, so the site never spends
  more than its plan.
* **ServerApp**: :func:`serve_rounds` runs :func:`~privcausal.federated.protocol.run_protocol`
  over the grid (one retry per round for a node that did not answer; a site that fails is
  excluded from the later rounds and named) and puts the sites' score releases in ``out``.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = ["answer_round", "serve_rounds", "plan_from_config", "kept_rounds", "answer_kept"]

STATE_KEY = "privcausal-rounds"


def plan_from_config(plan: Mapping[str, Any], domain: Any) -> Any:
    from privcausal.federated.rounds import round_plan

    return round_plan(domain, str(plan["method"]), float(plan["epsilon"]), float(plan["delta"]),
                      rounds=int(plan["rounds"]), clip=float(plan["clip"]),
                      drop=tuple(json.loads(str(plan.get("drop", "[]")))))


def _identity(plan: Mapping[str, Any]) -> str:
    keys = ("method", "epsilon", "delta", "rounds", "clip", "drop")
    return json.dumps({k: plan.get(k) for k in keys}, sort_keys=True)


def kept_rounds(state: Any, key: str, plan: Mapping[str, Any]
                ) -> tuple[dict[str, str], dict[str, dict[str, np.ndarray]]]:
    """The rounds a site has answered in this run (round -> message digest) and its replies,
    from the run's ``context.state`` under ``key``; a plan that changed mid-run is refused."""
    from privcausal.exceptions import DataValidationError

    rec = dict(state[key]) if key in state else {}
    if rec and str(rec.get("plan")) != _identity(plan):
        raise DataValidationError("the plan changed during the run: refused")
    answered = dict(json.loads(str(rec.get("answered", "{}"))))
    replies = {s: {k: a.numpy() for k, a in state[f"{key}-{s}"].items()}
               for s in answered if f"{key}-{s}" in state}
    return answered, replies


def answer_kept(session: Any, state: Any, key: str, step: str, payload: Mapping[str, Any],
                plan: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``session.answer`` with the round recorded in ``context.state`` as spent, also if
    answering failed, and its reply kept for a retry of the same message."""
    from flwr.app import Array, ArrayRecord, ConfigRecord

    try:
        arrays = session.answer(step, payload)
        state[f"{key}-{step}"] = ArrayRecord({
            k: Array(np.ascontiguousarray(v, dtype=np.float64)) for k, v in arrays.items()})
    finally:  # the round is spent once asked
        state[key] = ConfigRecord({"answered": json.dumps(session.answered),
                                   "plan": _identity(plan)})
    return arrays


def answer_round(plan: Mapping[str, Any], payload: Mapping[str, np.ndarray],
                 node_config: Mapping[str, Any], state: Any,
                 fail: Callable[[str], bool] | None = None) -> Any:
    """A site's reply to one round: its noisy arrays (and, with ``score``, its receipt) or its
    refusal (the reason names the column or the rule, never a value)."""
    import warnings

    from flwr.app import Array, ArrayRecord, ConfigRecord, RecordDict

    from privcausal.exceptions import PrivCausalError
    from privcausal.federated.flower_common import load_site, site_name
    from privcausal.federated.rounds import SiteSession
    from privcausal.federated.site import refusal_reason

    site = site_name(plan, node_config)
    step = str(plan["step"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a site's warnings stay at the site
            data, site = load_site(dict(node_config), dict(plan))
        answered, replies = kept_rounds(state, STATE_KEY, plan)
        rp = plan_from_config(plan, data.domain)
        if step != rp.steps[0]:
            from privcausal.federated.flower_common import crash_if_told

            crash_if_told(node_config)
        if fail is not None and fail(site) and step != rp.steps[0]:
            raise RuntimeError("site crashed")
        seed = plan.get(f"seed-{site}")
        session = SiteSession(data, rp, site, None if seed is None else int(seed), answered,
                              replies)
        arrays = answer_kept(session, state, STATE_KEY, step, payload, plan)
    except PrivCausalError as e:
        return RecordDict({"meta": ConfigRecord({"ok": False, "site": site,
                                                 "reason": refusal_reason(e)})})
    meta: dict[str, Any] = {"ok": True, "site": site, "step": step}
    if step == "score":
        meta["receipt"] = json.dumps(session.receipt())
    return RecordDict({"stats": ArrayRecord({k: Array(np.ascontiguousarray(v, dtype=np.float64))
                                             for k, v in arrays.items()}),
                       "meta": ConfigRecord(meta)})


def serve_rounds(grid: Any, plan: dict[str, Any], out: dict[str, Any], *, timeout: float = 120.0,
                 expected: int | None = None) -> None:
    """Run the multi-round protocol on ``grid``; the sites' score releases land in ``out``."""
    from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict

    from privcausal.domain import Domain
    from privcausal.federated.flower_common import CONNECT_TIMEOUT, QUERY, wait_for_nodes
    from privcausal.federated.protocol import run_protocol
    from privcausal.federated.site import SiteRelease

    t0 = time.perf_counter()
    nodes = wait_for_nodes(grid, max(timeout, CONNECT_TIMEOUT), expected)
    rp = plan_from_config(plan, Domain.from_toml(str(plan["domain"])))
    node_of: dict[str, int] = {}
    receipts: dict[str, Any] = {}
    first = [True]

    def ask(step: str, payload: Mapping[str, np.ndarray], sites: Sequence[str]
            ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, str]]:
        todo = list(nodes) if first[0] else [node_of[s] for s in sites if s in node_of]
        first[0] = False
        replies: dict[str, dict[str, np.ndarray]] = {}
        failed: dict[str, str] = {}
        for attempt in range(2):  # one retry for the nodes that did not answer
            content = RecordDict({
                "plan": ConfigRecord({**plan, "step": step}),
                "payload": ArrayRecord({k: Array(np.ascontiguousarray(v, dtype=np.float64))
                                        for k, v in payload.items()})})
            msgs = [Message(content, dst_node_id=n, message_type=QUERY) for n in todo]
            ok = set()
            for r in grid.send_and_receive(msgs, timeout=timeout):
                if r.has_error():
                    continue
                ok.add(r.metadata.src_node_id)
                meta = dict(r.content["meta"])
                site = str(meta.get("site"))
                node_of.setdefault(site, r.metadata.src_node_id)
                if not meta.get("ok"):
                    failed[site] = str(meta.get("reason"))
                    continue
                replies[site] = {k: a.numpy() for k, a in r.content["stats"].items()}
                if "receipt" in meta:
                    receipts[site] = json.loads(str(meta["receipt"]))
            todo = [n for n in todo if n not in ok]
            if not todo:
                break
        for s, n in node_of.items():
            if n in todo and s not in replies:
                failed.setdefault(s, "no answer, after one retry")
        return replies, failed

    sites = [str(s) for s in json.loads(str(plan.get("sites", "[]")))]
    if not sites:
        raise ValueError("the plan names no sites")
    run = run_protocol(rp, sites, ask)
    releases = [SiteRelease(s, rp.method, {"agg": v}, receipts.get(s, {})) for s, v in run.scores.items()]
    out.update(releases=releases, refused=run.excluded, failed_nodes=[], nodes=len(nodes),
               rounds=run.rounds, beta=run.beta.tolist(), seconds=time.perf_counter() - t0)

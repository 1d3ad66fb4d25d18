"""The federation on Flower: a ClientApp per site, a ServerApp for the consortium.

For ``dim`` and ``regression``, one round, one message each way (IPW and AIPW run several
rounds: :mod:`.flower_rounds`):

* the **ServerApp** sends every connected node a ``query`` message with the plan (estimator,
  epsilon, delta, the site column to leave out of the design) and, in a simulation, where the
  partitions lie; it waits for the replies (``timeout``), retries the nodes that did not answer
  once, and combines the releases of the sites that answered (:mod:`.combine`). A site that
  failed, refused or never answered is *excluded and named*; the result never hides a partial sum.
* the **ClientApp** (a site) reads its own records (``node_config["data"]`` and
  ``node_config["domain"]`` on a real SuperNode; ``site-<partition-id>.csv`` in the
  simulation's data folder), computes and noises its statistics (:mod:`.site`), and replies
  with the noisy arrays and its receipt, or with its refusal (a domain violation: the reason
  names the column, never a value).

The server sees only noisy or public values. The apps are built by :func:`make_client_app` and
:func:`make_server_app`; ``client_app`` / ``server_app`` are the module-level apps that
``flwr run`` and ``flower-supernode`` load (``privcausal.federated.flower_app:client_app``).
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import numpy as np

__all__ = ["make_client_app", "make_server_app", "serve", "answer", "client_app", "to_message",
           "from_content", "wait_for_nodes"]

from privcausal.federated.flower_common import (CONNECT_TIMEOUT, ask_nodes, crash_if_told,
                                                load_site, site_name, wait_for_nodes)


def to_message(release: Any) -> Any:
    """A SiteRelease as Flower records (arrays + a config record with the receipt)."""
    from flwr.app import Array, ArrayRecord, ConfigRecord, RecordDict

    arrays = ArrayRecord({k: Array(np.ascontiguousarray(v, dtype=np.float64)) for k, v in
                          release.arrays.items()})
    meta = ConfigRecord({"ok": True, "site": release.site, "method": release.method,
                         "receipt": json.dumps(release.receipt)})
    return RecordDict({"stats": arrays, "meta": meta})


def from_content(content: Any) -> Any:
    """A SiteRelease from a reply's records (or a refusal: ``(site, reason)``)."""
    from privcausal.federated.site import SiteRelease

    meta = dict(content["meta"])
    if not meta.get("ok"):
        return str(meta.get("site")), str(meta.get("reason"))
    arrays = {k: a.numpy() for k, a in content["stats"].items()}
    return SiteRelease(str(meta["site"]), str(meta["method"]), arrays, json.loads(str(meta["receipt"])))


def answer(plan: dict[str, Any], node_config: dict[str, Any],
           fail: Callable[[str], bool] | None = None) -> Any:
    """A site's reply to the plan: its release as records, or its refusal (the reason names
    the column, never a value). What the ClientApp's query handler returns."""
    import warnings

    from flwr.app import ConfigRecord, RecordDict

    from privcausal.exceptions import PrivCausalError
    from privcausal.federated.site import site_release

    site = site_name(plan, node_config)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a site's warnings stay at the site
            data, site = load_site(node_config, plan)
        if plan.get("check"):  # secure aggregation's first round: the records read, nothing sent
            from privcausal.federated.flower_secure import check_reply

            return check_reply(site)
        crash_if_told(node_config)
        if fail is not None and fail(site):
            raise RuntimeError("site crashed")
        seed = plan.get(f"seed-{site}")
        rel = site_release(data, str(plan["method"]), float(plan["epsilon"]), float(plan["delta"]),
                           site=site, random_state=None if seed is None else int(seed),
                           drop=tuple(json.loads(str(plan.get("drop", "[]")))))
    except PrivCausalError as e:  # the site refuses, with the reason (no count, no value)
        from privcausal.federated.site import refusal_reason

        return RecordDict({"meta": ConfigRecord({"ok": False, "site": site,
                                                 "reason": refusal_reason(e)})})
    return to_message(rel)


def make_client_app(fail: Callable[[str], bool] | None = None) -> Any:
    """The site's ClientApp. ``fail(site)`` (tests) makes a site crash mid-run."""
    from flwr.app import Message
    from flwr.clientapp import ClientApp

    app = ClientApp()

    @app.query()
    def release(msg: Any, context: Any) -> Any:
        plan = dict(msg.content["plan"])
        if "step" in plan:  # a round of federated IPW / AIPW
            from privcausal.federated.flower_rounds import answer_round

            payload = {k: a.numpy() for k, a in msg.content["payload"].items()}
            return Message(answer_round(plan, payload, dict(context.node_config), context.state,
                                        fail), reply_to=msg)
        return Message(answer(plan, dict(context.node_config), fail), reply_to=msg)

    from flwr.client.mod import secaggplus_mod

    @app.train(mods=[secaggplus_mod])
    def secure(msg: Any, context: Any) -> Any:  # a site's share in Flower's SecAgg+
        from privcausal.federated.flower_secure import answer_secure, limbs_reply, plan_of

        plan = plan_of(msg.content)
        if "step" in plan:  # a round of the secure IPW / AIPW
            from privcausal.federated.flower_secure_rounds import answer_secure_round
            from privcausal.federated.site import refusal_reason

            try:
                limbs = answer_secure_round(plan, dict(context.node_config), context.state, fail)
            except Exception as e:  # SecAgg+ sees a dropout; the words name no value
                raise RuntimeError(refusal_reason(e)) from None
            return Message(limbs_reply(limbs), reply_to=msg)
        return Message(answer_secure(msg.content, dict(context.node_config), fail), reply_to=msg)

    return app


def serve(grid: Any, plan: dict[str, Any], out: dict[str, Any], *, timeout: float = 120.0,
          expected: int | None = None, context: Any = None) -> None:
    """The consortium's round on ``grid``: query every node, retry once, collect into ``out``
    (with ``plan["secure"]``: :func:`privcausal.federated.flower_secure.serve_secure`)."""
    from privcausal.federated.rounds import ROUND_METHODS

    if plan.get("secure") and plan.get("method") in ROUND_METHODS:
        from privcausal.federated.flower_secure_rounds import serve_secure_rounds

        serve_secure_rounds(grid, context, plan, out, timeout=timeout, expected=expected)
        return
    if plan.get("secure"):
        from privcausal.federated.flower_secure import serve_secure

        serve_secure(grid, context, plan, out, timeout=timeout, expected=expected)
        return

    if plan.get("method") in ROUND_METHODS:
        from privcausal.federated.flower_rounds import serve_rounds

        serve_rounds(grid, plan, out, timeout=timeout, expected=expected)
        return
    t0 = time.perf_counter()
    nodes = wait_for_nodes(grid, max(timeout, CONNECT_TIMEOUT), expected)
    releases, refused = [], {}
    got, failed = ask_nodes(grid, nodes, plan, timeout)
    for _, content in got:
        rel = from_content(content)
        if isinstance(rel, tuple):
            refused[rel[0]] = rel[1]
        else:
            releases.append(rel)
    out.update(releases=releases, refused=refused, failed_nodes=failed, nodes=len(nodes), rounds=1,
               seconds=time.perf_counter() - t0)


def make_server_app(plan: dict[str, Any], out: dict[str, Any], *, timeout: float = 120.0,
                    expected: int | None = None) -> Any:
    """The consortium's ServerApp (:func:`serve`); the replies land in ``out``."""
    from flwr.serverapp import ServerApp

    app = ServerApp()

    @app.main()
    def main(grid: Any, context: Any) -> None:
        serve(grid, plan, out, timeout=timeout, expected=expected, context=context)

    return app


client_app = make_client_app()

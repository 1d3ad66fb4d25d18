"""Secure aggregation on Flower: a check round, then Flower's SecAgg+ over the sites that accepted.

1. **check** (a ``query`` message, as in :mod:`.flower_app`): every connected site reads its
   records against the domain and answers ``ok`` or refuses with the reason (the column, no
   value). No statistic leaves a site in this round.
2. **SecAgg+** (Flower's ``SecAggPlusWorkflow`` on the server, ``secaggplus_mod`` on the
   ClientApp's ``train`` handler): setup, key sharing, masked vectors, unmasking. A site's
   handler computes its share (:func:`privcausal.federated.secure_site.secure_release`) and
   returns it as the ``FitRes`` parameters with ``num_examples = 1`` (the weight is the same
   for every site, so the server's weighted mean is the plain mean and nothing about a site's
   size is in it) and no metrics. A site that fails or drops out during the protocol is left
   out by SecAgg+ (its masks are removed from the sum with the other sites' key shares) and
   named; the sum is used only if at least ``min_sites`` sites' vectors entered it.

The server never holds a site's vector unmasked: only the sum, which it decodes exactly
(:func:`privcausal.federated.secure.limb_sums_from_mean`).
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any, Callable

__all__ = ["serve_secure", "answer_secure", "check_reply", "plan_of", "limbs_reply", "secure_start"]

from privcausal.federated.flower_common import CONNECT_TIMEOUT, ask_nodes, wait_for_nodes


def check_reply(site: str) -> Any:
    """A site's answer to the check round: it read its records against the domain."""
    from flwr.app import ConfigRecord, RecordDict

    return RecordDict({"meta": ConfigRecord({"ok": True, "site": site, "checked": True})})


def answer_secure(content: Any, node_config: dict[str, Any],
                  fail: Callable[[str], bool] | None = None) -> Any:
    """A site's SecAgg+ ``train`` reply: its share as FitRes parameters (raises if it fails,
    which SecAgg+ treats as a dropout)."""
    import warnings

    import numpy as np
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters
    import flwr.compat.common.recorddict_compat as compat

    from privcausal.federated.flower_common import crash_if_told, load_site
    from privcausal.federated.secure import SecureAggregation
    from privcausal.federated.secure_site import secure_release

    from privcausal.federated.site import refusal_reason

    fitins = compat.recorddict_to_fitins(content, keep_input=True)
    plan = json.loads(str(fitins.config["plan"]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data, site = load_site(node_config, plan)
        crash_if_told(node_config)
        if fail is not None and fail(site):
            raise RuntimeError("site crashed")
        sec = SecureAggregation(**plan["secure"])
        seed = plan.get(f"seed-{site}")
        share = secure_release(data, str(plan["method"]), float(plan["epsilon"]),
                               float(plan["delta"]), site=site, secure=sec,
                               random_state=None if seed is None else int(seed),
                               drop=tuple(json.loads(str(plan.get("drop", "[]")))))
    except Exception as e:  # the server reads the error: its words, no number (refusal_reason)
        raise RuntimeError(refusal_reason(e)) from None
    res = FitRes(Status(Code.OK, ""), ndarrays_to_parameters([np.asarray(share.limbs)]), 1, {})
    return compat.fitres_to_recorddict(res, keep_input=False)


def plan_of(content: Any) -> dict[str, Any]:
    """The plan a SecAgg+ ``train`` message carries (its FitIns config)."""
    import flwr.compat.common.recorddict_compat as compat

    return json.loads(str(compat.recorddict_to_fitins(content, keep_input=True).config["plan"]))


def limbs_reply(limbs: Any) -> Any:
    """A site's limbs as SecAgg+ expects them: FitRes parameters, weight 1, no metrics."""
    import numpy as np
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters
    import flwr.compat.common.recorddict_compat as compat

    res = FitRes(Status(Code.OK, ""), ndarrays_to_parameters([np.asarray(limbs)]), 1, {})
    return compat.fitres_to_recorddict(res, keep_input=False)


def _check_round(grid: Any, plan: dict[str, Any], nodes: list[int], timeout: float
                 ) -> tuple[dict[int, str], dict[str, str], list[int]]:
    """The sites that accepted (node id -> name), those that refused (name -> reason), and the
    nodes that never answered."""
    names: dict[int, str] = {}
    refused: dict[str, str] = {}
    got, failed = ask_nodes(grid, nodes, {**_flat(plan), "check": True}, timeout)
    for node, content in got:
        meta = dict(content["meta"])
        if meta.get("ok"):
            names[node] = str(meta["site"])
        else:
            refused[str(meta.get("site"))] = str(meta.get("reason"))
    return names, refused, failed


def _flat(plan: dict[str, Any]) -> dict[str, Any]:
    """A plan as a Flower ConfigRecord holds it (the secure settings as JSON)."""
    return {k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in plan.items()}


class _Collect:
    """A minimal Flower Strategy: every accepted site gets the plan; the sum is kept."""

    def __init__(self, node_ids: list[int], plan: dict[str, Any]) -> None:
        self.node_ids, self.plan = node_ids, plan
        self.mean: Any = None
        self.contributors: list[int] = []

    def configure_fit(self, server_round: int, parameters: Any, client_manager: Any) -> list:
        from flwr.common import FitIns

        cfg = {"plan": json.dumps(self.plan)}
        return [(SimpleNamespace(node_id=n), FitIns(parameters, cfg)) for n in self.node_ids]

    def aggregate_fit(self, server_round: int, results: list, failures: list) -> tuple:
        from flwr.common import parameters_to_ndarrays

        if results:
            self.mean = parameters_to_ndarrays(results[0][1].parameters)[0]
            self.contributors = [proxy.node_id for proxy, _ in results]
        return None, {}


def secure_start(grid: Any, plan: dict[str, Any], out: dict[str, Any], timeout: float,
                 expected: int | None, t0: float, **fields: Any) -> tuple[dict[int, str], Any, dict] | None:
    """The start of a secure run: wait for the sites, the check round, the settings for the
    sites that accepted (node id -> name, ``SecureAggregation``, the plan they get); ``out``
    records refusals and failures (and ``fields``). None, with ``out["error"]``, if too few
    accepted."""
    from privcausal.federated.secure import SecureAggregation

    nodes = wait_for_nodes(grid, max(timeout, CONNECT_TIMEOUT), expected)
    names, refused, failed = _check_round(grid, plan, nodes, timeout)
    want = dict(plan["secure"])
    out.update(releases=[], refused=dict(refused), failed_nodes=failed, nodes=len(nodes),
               contributors=[], **fields)
    if len(names) < max(2, int(want.get("min_sites") or 2)):
        out.update(error=f"{len(names)} site(s) accepted, fewer than the secure sum needs",
                   seconds=time.perf_counter() - t0)
        return None
    sec = SecureAggregation(len(names), int(want.get("collusion", 0)),
                            min(int(want.get("min_sites") or len(names)), len(names)))
    run_plan = {**plan, "secure": {"sites": sec.sites, "collusion": sec.collusion,
                                   "min_sites": sec.min_sites}}
    return names, sec, run_plan


def serve_secure(grid: Any, context: Any, plan: dict[str, Any], out: dict[str, Any], *,
                 timeout: float = 120.0, expected: int | None = None) -> None:
    """The consortium's secure run on ``grid``: check round, SecAgg+, the decoded sum in ``out``."""
    from flwr.app import ArrayRecord, ConfigRecord
    from flwr.server import ServerConfig
    from flwr.server.compat.legacy_context import LegacyContext
    from flwr.server.workflow import SecAggPlusWorkflow

    from privcausal.federated.secure import CLIP, MOD_RANGE, QUANT_RANGE

    t0 = time.perf_counter()
    started = secure_start(grid, plan, out, timeout, expected, t0, rounds=2, secure_sum=None,
                           dropped=[])
    if started is None:
        return
    names, sec, run_plan = started
    strategy = _Collect(sorted(names), run_plan)
    ctx = LegacyContext(context, config=ServerConfig(num_rounds=1),
                        strategy=strategy)  # type: ignore[arg-type]
    ctx.state.config_records["config"] = ConfigRecord({"current_round": 1})
    ctx.state.array_records["parameters"] = ArrayRecord()
    workflow = SecAggPlusWorkflow(num_shares=1.0, reconstruction_threshold=sec.threshold,
                                  max_weight=1.0, clipping_range=float(CLIP),
                                  quantization_range=QUANT_RANGE, modulus_range=MOD_RANGE,
                                  timeout=timeout)
    workflow(grid, ctx)
    got = [names[n] for n in strategy.contributors if n in names]
    dropped = [names[n] for n in sorted(names) if names[n] not in got]
    out.update(contributors=got, dropped=dropped, secure=sec.to_dict(),
               seconds=time.perf_counter() - t0)
    if strategy.mean is None:  # SecAgg+ halted before unmasking: no sum was ever formed
        out["error"] = (f"SecAgg+ halted before unmasking (fewer than its threshold "
                        f"{sec.threshold} of sites): no sum was revealed")
        return
    if len(got) < sec.min_sites:
        out["error"] = (f"{len(got)} site(s) entered the secure sum, fewer than min_sites "
                        f"{sec.min_sites}: the sum is discarded")
        return
    out["secure_sum"] = [float(x) for x in strategy.mean]

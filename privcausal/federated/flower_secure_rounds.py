"""Federated IPW / AIPW with every round through Flower's SecAgg+ (:mod:`.secure_rounds`).

1. **check** (a ``query`` message, :mod:`.flower_secure`): every connected site reads its
   records against the domain and answers ok or refuses with the reason; nothing is released.
2. **each round of the plan** (``stats``, ``grad-1`` ... ``grad-R``, ``score``) is one run of
   Flower's ``SecAggPlusWorkflow`` over the sites still taking part: the server's models go out
   in the ``FitIns`` config (JSON, which round-trips every double exactly), each site answers
   the round once with its noise share as limbs (:class:`~.secure_rounds.SecureSiteSession`,
   its answered rounds kept in the run's ``context.state`` as :mod:`.flower_rounds` does), with
   ``num_examples = 1`` and no metrics; the server decodes the exact sum. A site that fails or
   drops out of a round is removed from the sum by SecAgg+ (its masks are reconstructed), named,
   and asked nothing more; a round with fewer than ``min_sites`` contributors is never unmasked
   (SecAgg+'s threshold) and the run stops with an error.

The receipt is built by the server from the public plan (a site's reply carries no metrics).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = ["answer_secure_round", "serve_secure_rounds"]

STATE_KEY = "privcausal-secure-rounds"


def answer_secure_round(plan: Mapping[str, Any], node_config: Mapping[str, Any], state: Any,
                        fail: Callable[[str], bool] | None = None) -> np.ndarray:
    """A site's limbs for the round ``plan["step"]`` (raises if it fails or refuses: SecAgg+
    then treats the site as dropped out)."""
    import warnings

    from privcausal.federated.flower_common import crash_if_told, load_site
    from privcausal.federated.flower_rounds import answer_kept, kept_rounds, plan_from_config
    from privcausal.federated.secure import SecureAggregation
    from privcausal.federated.secure_rounds import SecureSiteSession

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a site's warnings stay at the site
        data, site = load_site(dict(node_config), dict(plan))
    step = str(plan["step"])
    answered, replies = kept_rounds(state, STATE_KEY, plan)
    rp = plan_from_config(plan, data.domain)
    if step != rp.steps[0]:
        crash_if_told(dict(node_config))
    if fail is not None and fail(site) and step != rp.steps[0]:
        raise RuntimeError("site crashed")
    sec = SecureAggregation(**{k: int(v) for k, v in dict(plan["secure"]).items()})
    seed = plan.get(f"seed-{site}")
    session = SecureSiteSession(data, rp, site, sec, None if seed is None else int(seed), answered,
                                replies)
    payload = {k: np.asarray(v, dtype=np.float64) for k, v in dict(plan.get("payload", {})).items()}
    arrays = answer_kept(session, state, STATE_KEY, step, payload, plan)
    return np.asarray(arrays["limbs"], dtype=np.float64)


def serve_secure_rounds(grid: Any, context: Any, plan: dict[str, Any], out: dict[str, Any], *,
                        timeout: float = 120.0, expected: int | None = None) -> None:
    """The consortium's secure multi-round run on ``grid``; the scores' sum lands in ``out``."""
    from flwr.app import ArrayRecord, ConfigRecord
    from flwr.server import ServerConfig
    from flwr.server.compat.legacy_context import LegacyContext
    from flwr.server.workflow import SecAggPlusWorkflow

    from privcausal.domain import Domain
    from privcausal.exceptions import PrivCausalError
    from privcausal.federated.flower_rounds import plan_from_config
    from privcausal.federated.flower_secure import _Collect, secure_start  # noqa: PLC2701
    from privcausal.federated.protocol import SECURE_SUM, run_protocol
    from privcausal.federated.secure import CLIP, MOD_RANGE, QUANT_RANGE, limb_sums_from_mean
    from privcausal.federated.secure_rounds import round_total

    t0 = time.perf_counter()
    started = secure_start(grid, plan, out, timeout, expected, t0, rounds=1)
    if started is None:
        return
    names, sec, run_plan = started
    refused = dict(out["refused"])
    rp = plan_from_config(plan, Domain.from_toml(str(plan["domain"])))
    node_of = {s: n for n, s in names.items()}
    counter = [0]

    def ask(step: str, payload: Mapping[str, np.ndarray], sites: Sequence[str]
            ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, str]]:
        counter[0] += 1
        cfg = {**run_plan, "step": step,
               "payload": {k: np.asarray(v, dtype=np.float64).tolist() for k, v in payload.items()}}
        strategy = _Collect(sorted(node_of[s] for s in sites), cfg)
        ctx = LegacyContext(context, config=ServerConfig(num_rounds=1),
                            strategy=strategy)  # type: ignore[arg-type]
        ctx.state.config_records["config"] = ConfigRecord({"current_round": counter[0]})
        ctx.state.array_records["parameters"] = ArrayRecord()
        SecAggPlusWorkflow(num_shares=1.0, reconstruction_threshold=sec.threshold, max_weight=1.0,
                           clipping_range=float(CLIP), quantization_range=QUANT_RANGE,
                           modulus_range=MOD_RANGE, timeout=timeout)(grid, ctx)
        got = [names[n] for n in strategy.contributors if n in names]
        failed = {s: "dropped out of the secure aggregation (its masks were removed from the sum)"
                  for s in sites if s not in got}
        if strategy.mean is None:  # SecAgg+ halted before unmasking: no sum was formed
            return {}, {s: f"round {step}: SecAgg+ halted before unmasking (fewer than its "
                           f"threshold {sec.threshold} of sites)" for s in sites}
        sums = limb_sums_from_mean(np.asarray(strategy.mean, dtype=np.float64), len(got))
        return {s: {"limb_sums": sums} for s in got}, failed

    sites = [names[n] for n in sorted(names)]
    try:
        run = run_protocol(rp, sites, ask, honest=sec.honest, total=round_total(rp, sec))
    except PrivCausalError as e:  # a short sum, or no site left: no estimate, said why
        out.update(error=str(e), secure=sec.to_dict(), seconds=time.perf_counter() - t0)
        return
    contributors = run.participation["score"]
    out.update(refused={**run.excluded, **refused}, rounds=1 + run.rounds,
               contributors=contributors, secure=sec.to_dict(),
               secure_scores=[float(x) for x in run.scores[SECURE_SUM]],
               beta=run.beta.tolist(), seconds=time.perf_counter() - t0)

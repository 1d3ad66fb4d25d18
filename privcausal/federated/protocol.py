"""The server's side of federated IPW / AIPW: drive the rounds, fit the models, estimate.

The server only post-processes the sites' noisy releases (:mod:`.rounds`):

* AIPW's outcome models: the regression adjustment's per-arm ridge fits on the summed ``stats``
  releases (ridge scaled by ``sqrt(sites)``, the norm of the summed noise, as in :mod:`.combine`);
* the propensity model: ``beta <- beta - (H + (lambda0 + lambda_noise) I)^{-1} (g + lambda0
  beta)`` from ``beta = 0``, with ``H`` the latest summed noisy curvature projected to the PSD
  cone, ``lambda0 = 1`` the objective's ridge and ``lambda_noise`` the expected spectral norm of
  the summed noise on ``H`` (``2 sd sqrt(q sites)``), a damping that keeps noisy curvature from
  blowing the step up (it changes the path, not the fixed point);
* the estimate: ``sum psi / count``, both summed over the sites that answered the ``score``
  round, with a normal interval whose variance is the plug-in sampling variance (from the noisy
  ``sum psi^2``) plus the variance of every site's aggregate noise (public).

What the interval leaves out, said in its notes: the noise of the nuisance models (the rounds
before ``score``). The AIPW score is orthogonal to them (first-order insensitive); IPW's is not,
so IPW's interval is named "sampling and aggregate noise only".

``ask(step, payload, sites)`` is the transport: it returns each answering site's arrays and a
reason for each site that refused or failed; a site that fails in one round takes no part in
the later ones and is named in ``excluded``. The estimate is of the sites that answered the
``score`` round (``sites``), never a silent partial sum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from privcausal.exceptions import DataValidationError
from privcausal.federated.rounds import RoundPlan

__all__ = ["ProtocolRun", "run_protocol", "estimate_from_scores", "RIDGE", "SECURE_SUM"]

RIDGE = 1.0
#: the key of the score releases' sum in a secure run (no site's own release exists there)
SECURE_SUM = "secure sum"
Ask = Callable[[str, Mapping[str, np.ndarray], Sequence[str]],
               tuple[dict[str, dict[str, np.ndarray]], dict[str, str]]]


@dataclass
class ProtocolRun:
    """What the rounds produced: the models the server sent and the sites' score releases."""

    beta: np.ndarray
    models: dict[str, np.ndarray]
    scores: dict[str, np.ndarray]  # site -> noisy [count, sum psi, sum psi^2 - b^2/2]
    excluded: dict[str, str] = field(default_factory=dict)
    rounds: int = 0
    participation: dict[str, list[str]] = field(default_factory=dict)


def _sum(replies: Mapping[str, Mapping[str, np.ndarray]], key: str) -> np.ndarray:
    return np.sum([np.asarray(r[key], dtype=np.float64) for r in replies.values()], axis=0)


def outcome_models(tot: Mapping[str, np.ndarray], plan: RoundPlan, k: int,
                   honest: int | None = None) -> dict[str, np.ndarray]:
    """Per-arm linear outcome models ``mu_a(x) = intercept_a + coef_a x`` from summed ``stats``
    (``honest``: the sum came from secure aggregation, the Gaussian blocks ``1 / honest`` shares)."""
    from privcausal.federated.combine import _scaled_plan  # noqa: PLC2701 - the same fit
    from privcausal.estimators.regression_release import adjusted_from_noisy

    cfg = plan.outcome
    gauss = None if honest is None else math.sqrt(k / honest)
    lam = _scaled_plan("regression", cfg, k, gauss).lam if plan.private else None
    q = tot.get("sum_sq")
    noisy = [{"sx": tot["sum_x"][a], "S": tot["gram"][a], "Su": tot["sum_xu"][a],
              "q": None if q is None else float(q[a])} for a in (0, 1)]
    rel = adjusted_from_noisy(tot["count"], tot["sum"], noisy, cfg, lam=lam)
    coef = np.asarray(rel.beta, dtype=np.float64)
    icpt = plan.center + rel.ubar - np.einsum("ap,ap->a", coef, rel.xbar)
    return {"mu_coef": coef, "mu_intercept": icpt}


def _curvature(flat: np.ndarray, q: int) -> np.ndarray:
    r, c = np.triu_indices(q)
    B = np.zeros((q, q))
    B[r, c] = flat
    B = B + np.triu(B, 1).T
    w, v = np.linalg.eigh(B)
    return (v * np.maximum(w, 0.0)) @ v.T


def _plain_total(step: str, replies: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: _sum(replies, key) for key in next(iter(replies.values()))}


def run_protocol(plan: RoundPlan, sites: Sequence[str], ask: Ask, *, honest: int | None = None,
                 total: Callable[[str, Mapping[str, Mapping[str, np.ndarray]]], dict[str, np.ndarray]]
                 | None = None) -> ProtocolRun:
    """Run every round of ``plan`` with the sites ``sites`` over the transport ``ask``.

    ``total(step, replies)``: the round's summed arrays from the replies (default: the sum of
    each array over the sites). Secure aggregation (:mod:`.secure_rounds`) passes its decoder
    and ``honest``: the Gaussian noise in a sum of ``a`` sites is then ``a / honest`` central
    releases, which the damping and the outcome models' ridge use; the scores are the sum.
    """
    from privcausal.federated.secure_rounds import gauss_factor

    add = _plain_total if total is None else total
    active = list(sites)
    excluded: dict[str, str] = {}
    participation: dict[str, list[str]] = {}

    def step(name: str, payload: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
        replies, failed = ask(name, payload, list(active))
        for s, why in failed.items():
            excluded.setdefault(s, f"round {name}: {why}")
        for s in active:
            if s not in replies and s not in excluded:
                excluded[s] = f"round {name}: no answer"
        active[:] = [s for s in active if s in replies]
        if not active:
            raise DataValidationError(f"no site answered round {name}: " + "; ".join(
                f"{k}: {v}" for k, v in excluded.items()))
        participation[name] = list(active)
        return {s: replies[s] for s in active}

    models: dict[str, np.ndarray] = {}
    if plan.method == "aipw":
        rep = step("stats", {})
        models = outcome_models(add("stats", rep), plan, len(rep), honest)
    beta = np.zeros(plan.q)
    H = np.eye(plan.q)
    for r in range(1, plan.rounds + 1):
        rep = step(f"grad-{r}", {"beta": beta})
        tot = add(f"grad-{r}", rep)
        g = tot["grad"]
        if "curv" in tot:
            k = gauss_factor(len(rep), honest)
            damp = 2.0 * plan.gram_mech().std * math.sqrt(plan.q * k) if plan.private else 0.0
            H = _curvature(tot["curv"], plan.q) + (RIDGE + damp) * np.eye(plan.q)
        beta = beta - np.linalg.solve(H, g + RIDGE * beta)
    rep = step("score", {"beta": beta, **models})
    if total is None:
        scores = {s: np.asarray(v["agg"], dtype=np.float64) for s, v in rep.items()}
    else:  # secure: only the sum exists
        scores = {SECURE_SUM: np.asarray(add("score", rep)["agg"], dtype=np.float64)}
    return ProtocolRun(beta, models, scores, excluded, len(plan.steps), participation)


def estimate_from_scores(scores: Mapping[str, np.ndarray], plan: RoundPlan, alpha: float = 0.05,
                         n_sites: int | None = None, honest: int | None = None
                         ) -> tuple[float, float, float, tuple[str, ...]]:
    """The ATE and its (1 - alpha) normal interval from the sites' score releases
    (``n_sites``: how many sites' releases are in them, when ``scores`` holds their secure sum;
    ``honest``: each was then a Pólya share of ``1 / honest`` of the Laplace noise)."""
    from privcausal.federated.secure_rounds import gauss_factor

    from scipy.stats import norm

    if not scores:
        raise DataValidationError("no site released scores: nothing to combine")
    k = len(scores) if n_sites is None else int(n_sites)
    tot = np.sum(list(scores.values()), axis=0)
    n = max(float(tot[0]), 1.0)
    ate = float(tot[1] / n)
    b = plan.bound
    second = (float(tot[2]) + b * b / 2 * n) / n
    var = max(second - ate * ate, 0.0) / n
    if plan.private:
        v_count, v_sum = plan.agg_mech(0).std ** 2, plan.agg_mech(1).std ** 2
        var += gauss_factor(k, honest) * (v_sum + ate * ate * v_count) / (n * n)
    half = float(norm.ppf(1 - alpha / 2)) * math.sqrt(var)
    what = ("sampling and every site's aggregate noise; the nuisance models' noise enters AIPW's "
            "orthogonal score at second order only and is not included"
            if plan.method == "aipw" else
            "sampling and every site's aggregate noise only (not the propensity model's noise)")
    return ate, ate - half, ate + half, (f"interval: normal, {what}",)

"""Multi-round federated IPW and AIPW: what a site releases in each round, and its budget.

The propensity model is a ridge logistic regression fitted over a few federated rounds of
damped Newton steps ``beta <- beta - (H + lambda I)^{-1} (g(beta) + lambda0 beta)``, ``g`` the
summed gradient at the server's ``beta``. The curvature ``H = sum sigma(1 - sigma) z z'`` is
released in the first ``CURV_ROUNDS`` rounds only and kept for the later ones: the first is
``(1/4) sum z z'``, the bound of Böhning and Lindsay [1] (their fixed-curvature iteration
decreases the objective at every step and converges), the next ones Newton's; without noise,
three curvature releases and six rounds reach the minimiser to 0.005 in every coefficient on
the simulated registry, where the fixed bound alone needs 25 rounds for 0.03. Rows are the reference-coded design rescaled into the
unit ball (:func:`~privcausal.estimators.propensity.unit_ball_design`, bound from the domain),
so, for add/remove of one record of a site, whatever ``beta`` the server sends:

* the gradient sum ``sum (sigma(z'beta) - t) z`` moves by at most 1 in L2;
* the upper triangle of ``H`` moves by at most 1/4 in L2 (Frobenius of ``sigma (1 - sigma) z z'``).

Both are released with the discrete Gaussian on a lattice
(:class:`~privcausal.privacy.lattice.LatticeGaussian`, exact zCDP). The rounds of a plan, in order:

1. ``stats`` (AIPW only): the regression adjustment's release (:mod:`.site`): noisy per-arm
   counts, outcome sums and the design's sufficient statistics, from which the server fits the
   two outcome models;
2. ``grad-1`` ... ``grad-R``: the gradient at the server's current ``beta`` (and ``H`` there in
   the first ``CURV_ROUNDS``);
3. ``score``: with the server's final propensity model (propensities clipped to
   ``[clip, 1 - clip]``) and, for AIPW, its outcome models (predictions clipped to the outcome
   bounds), the noisy count, the sum of the scores ``psi`` and of ``psi^2 - b^2/2`` (Laplace on
   a lattice), where ``|psi| <= b``: ``b = w/clip`` for AIPW (``w`` the outcome range; see
   :mod:`privcausal.estimators.aipw`) and ``(w/2)/clip`` for IPW on the centred outcome.

Each round is answered at most once (:class:`SiteSession`; a retry of the same message gets
the same release back), so a site spends at most its plan's
budget whatever the server asks, in whatever order: basic composition of the shares
(``SPLITS``; delta split evenly between the Gaussian parts), stated exactly by the receipt's
accountant.

References
----------
.. [1] Böhning, Lindsay, "Monotonicity of quadratic-approximation algorithms", Annals of the
   Institute of Statistical Mathematics 40, 1988.
.. [2] Khellaf, Bellet, Josse, "Multi-study ATE estimation beyond meta-analysis", AISTATS 2025.
.. [3] Canonne, Kamath, Steinke, "The discrete Gaussian for differential privacy", NeurIPS 2020.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from privcausal.exceptions import DataValidationError, PrivacyParameterError
from privcausal.validation import check_delta, check_epsilon

__all__ = ["ROUND_METHODS", "SPLITS", "RoundPlan", "round_plan", "SiteSession", "site_step",
           "plan_receipt", "payload_digest"]

ROUND_METHODS = ("ipw", "aipw")
#: Shares of each site's epsilon: (outcome models, propensity, aggregate).
SPLITS = {"aipw": (0.4, 0.3, 0.3), "ipw": (0.0, 0.6, 0.4)}
#: Share of the propensity's zCDP for the curvature releases (the rest: the R gradients).
CURV_SHARE = 0.4
#: Rounds that release the curvature (the first ones).
CURV_ROUNDS = 3
#: Shares of the aggregate's epsilon: count, sum psi, sum psi^2.
AGG_SHARES = (0.1, 0.7, 0.2)
INTERCEPT_SHARE = 0.5


@dataclass(frozen=True)
class RoundPlan:
    """The public plan of a multi-round release (every site and the server rebuild it)."""

    method: str
    epsilon: float
    delta: float
    rounds: int
    clip: float
    layout: Any  # DesignLayout of the design (without the dropped columns)
    outcome: Any  # regression Config of the ``stats`` round (AIPW) or None
    sd_gram: float  # continuous sd of each curvature release (0: non-private)
    sd_grad: float  # per-round continuous sd of the gradient release
    agg_eps: tuple[float, float, float]  # epsilons of count, sum psi, sum psi^2
    bound: float  # |psi| <= bound
    center: float  # the outcome's centre
    lo: float
    hi: float
    drop: tuple[str, ...] = ()

    @property
    def q(self) -> int:
        """Coefficients of the propensity model (intercept + features)."""
        return self.layout.p + 1

    @property
    def row_norm(self) -> float:
        """Declared bound on a reference-coded row's L2 norm (each covariate column adds <= 1)."""
        return max(self.layout.sens_x, 1e-12)

    @property
    def curv_rounds(self) -> tuple[int, ...]:
        return tuple(range(1, min(CURV_ROUNDS, self.rounds) + 1))

    @property
    def steps(self) -> tuple[str, ...]:
        return (("stats",) if self.method == "aipw" else ()) + tuple(
            f"grad-{r}" for r in range(1, self.rounds + 1)) + ("score",)

    @property
    def private(self) -> bool:
        return math.isfinite(self.epsilon)

    def gram_mech(self) -> Any:
        from privcausal.privacy.lattice import LatticeGaussian

        return LatticeGaussian(self.sd_gram, 0.25, self.q * (self.q + 1) // 2)

    def grad_mech(self) -> Any:
        from privcausal.privacy.lattice import LatticeGaussian

        return LatticeGaussian(self.sd_grad, 1.0, self.q)

    def agg_mech(self, i: int) -> Any:
        from privcausal.privacy.lattice import LatticeLaplace

        sens = (1.0, self.bound, self.bound**2 / 2)[i]
        return LatticeLaplace(sens / self.agg_eps[i], sens, 1)

    def as_config(self) -> dict[str, Any]:
        """What identifies the plan (a site refuses a round of another plan)."""
        return {"method": self.method, "epsilon": self.epsilon, "delta": self.delta,
                "rounds": self.rounds, "clip": self.clip, "drop": list(self.drop)}


def round_plan(domain: Any, method: str, epsilon: float, delta: float, *, rounds: int = 6,
               clip: float = 0.05, drop: tuple[str, ...] = ()) -> RoundPlan:
    """The plan of a federated IPW / AIPW release (public: domain, method, budget, rounds)."""
    from privcausal.estimators.design_layout import DesignLayout
    from privcausal.federated.site import release_plan
    from privcausal.privacy.mechanisms import gaussian_rho

    if method not in ROUND_METHODS:
        raise DataValidationError(f"multi-round federated estimator must be one of {ROUND_METHODS}, "
                                  f"got {method!r}")
    eps, dlt = check_epsilon(epsilon), check_delta(delta)
    if isinstance(rounds, bool) or not isinstance(rounds, (int, np.integer)) or not 1 <= rounds <= 50:
        raise PrivacyParameterError("rounds must be an integer from 1 to 50")
    clip = float(clip)
    if not 0.0 < clip < 0.5:
        raise PrivacyParameterError("clip must lie in (0, 0.5)")
    layout = DesignLayout.from_domain(domain)
    if drop:
        layout = layout.without(set(drop))
    out_share, prop_share, agg_share = SPLITS[method]
    gauss_parts = 2 if method == "aipw" else 1
    outcome = None
    if method == "aipw":
        outcome = release_plan(domain, "regression", eps * out_share if math.isfinite(eps) else eps,
                               dlt / gauss_parts, drop=drop)
    if math.isfinite(eps):
        if dlt <= 0:
            raise PrivacyParameterError("federated IPW/AIPW needs delta > 0 (Gaussian rounds)")
        rho = gaussian_rho(eps * prop_share, dlt / gauss_parts)
        sd_gram = 0.25 / math.sqrt(2 * rho * CURV_SHARE / min(CURV_ROUNDS, rounds))
        sd_grad = 1.0 / math.sqrt(2 * rho * (1 - CURV_SHARE) / rounds)
        agg = tuple(eps * agg_share * s for s in AGG_SHARES)
    else:
        sd_gram = sd_grad = 0.0
        agg = (math.inf,) * 3
    out = domain.outcome
    w = float(out.upper - out.lower)
    bound = w / clip if method == "aipw" else (w / 2) / clip
    return RoundPlan(method, eps, dlt, int(rounds), clip, layout, outcome, sd_gram, sd_grad,
                     agg, bound, float(out.center), float(out.lower), float(out.upper), tuple(drop))


def _design(data: Any, plan: RoundPlan) -> tuple[np.ndarray, np.ndarray]:
    from privcausal.estimators.propensity import unit_ball_design

    X = np.asarray(data.X, dtype=np.float64)[:, plan.layout.keep]
    return X, unit_ball_design(X, plan.row_norm, INTERCEPT_SHARE)


def _vector(payload: Mapping[str, Any], key: str, shape: tuple[int, ...]) -> np.ndarray:
    if key not in payload:
        raise DataValidationError(f"the server's message lacks {key!r}")
    v = np.asarray(payload[key], dtype=np.float64)
    if v.shape != shape or not np.all(np.isfinite(v)):
        raise DataValidationError(f"the server's {key!r} must be {shape} finite numbers")
    return v


def _release(mech: Any, value: Any, private: bool, noise: Any) -> np.ndarray:
    return np.asarray(mech.release(value, noise) if private else value, dtype=np.float64)


def scores(data: Any, plan: RoundPlan, payload: Mapping[str, Any]) -> np.ndarray:
    """Each record's score ``psi`` under the server's models (stays at the site)."""
    from scipy.special import expit

    X, Z = _design(data, plan)
    beta = _vector(payload, "beta", (plan.q,))
    e = np.clip(expit(Z @ beta), plan.clip, 1 - plan.clip)
    t = np.asarray(data.treatment) == 1
    y = np.asarray(data.outcome, dtype=np.float64)
    if plan.method == "ipw":
        u = y - plan.center
        return np.where(t, u / e, -u / (1 - e))
    coef = _vector(payload, "mu_coef", (2, plan.layout.p))
    icpt = _vector(payload, "mu_intercept", (2,))
    mu0 = np.clip(icpt[0] + X @ coef[0], plan.lo, plan.hi)
    mu1 = np.clip(icpt[1] + X @ coef[1], plan.lo, plan.hi)
    return mu1 - mu0 + np.where(t, (y - mu1) / e, -(y - mu0) / (1 - e))


def score_release(exact: tuple[float, float, float], plan: RoundPlan, noise: Any
                  ) -> dict[str, np.ndarray]:
    """The ``score`` round's release of the exact ``(count, sum psi, sum psi^2 - b^2/2)``."""
    return {"agg": np.array([_release(plan.agg_mech(i), v, plan.private, noise)
                             for i, v in enumerate(exact)], dtype=np.float64)}


def site_step(data: Any, plan: RoundPlan, step: str, payload: Mapping[str, Any], noise: Any
              ) -> dict[str, np.ndarray]:
    """This site's noisy release for round ``step`` (exact statistics never leave)."""
    from scipy.special import expit

    if step == "stats":
        from privcausal.federated.site import exact_statistics, release_arrays

        cfg = plan.outcome
        return release_arrays(exact_statistics(data, "regression", cfg), "regression", cfg, noise)
    if step.startswith("grad-"):
        _, Z = _design(data, plan)
        beta = _vector(payload, "beta", (plan.q,))
        t = (np.asarray(data.treatment) == 1).astype(np.float64)
        e = expit(Z @ beta)
        out = {"grad": _release(plan.grad_mech(), Z.T @ (e - t), plan.private, noise)}
        if int(step.split("-")[1]) in plan.curv_rounds:
            r, c = np.triu_indices(plan.q)
            H = (Z * (e * (1 - e))[:, None]).T @ Z
            out["curv"] = _release(plan.gram_mech(), H[r, c], plan.private, noise)
        return out
    if step == "score":
        psi = scores(data, plan, payload)
        b = plan.bound
        return score_release((float(len(psi)), float(psi.sum()), float(np.sum(psi * psi - b * b / 2))),
                             plan, noise)
    raise DataValidationError(f"unknown round {step!r}")


def plan_events(plan: RoundPlan) -> list[Any]:
    """The privacy events of every round of the plan (what a site spends in all)."""
    from privcausal.privacy import PrivacyEvent

    ev: list[Any] = []
    if plan.method == "aipw":
        from privcausal.estimators.regression_release import receipt_events

        ev += receipt_events(plan.outcome, "adjusted")
    if not plan.private:
        return ev + [PrivacyEvent.non_private("propensity rounds and scores")]
    import dp_accounting

    _, prop_share, _ = SPLITS[plan.method]
    eps_p, dlt_p = plan.epsilon * prop_share, plan.delta / (2 if plan.method == "aipw" else 1)
    parts = [PrivacyEvent.gaussian(f"curvature sum sigma(1 - sigma) z z' (upper triangle), round {r}",
                                   eps_p, dlt_p, 0.25, plan.sd_gram) for r in plan.curv_rounds]
    parts += [PrivacyEvent.gaussian(f"propensity gradient, round {r}", eps_p, dlt_p, 1.0,
                                    plan.sd_grad) for r in range(1, plan.rounds + 1)]
    rho = sum(float(e.dp_event.rho) for e in parts)
    # one (epsilon, delta) for the whole propensity fit: its rounds' zCDP add up to the rho
    # calibrated to (eps_p, dlt_p) (gaussian_rho), so basic composition with the rest is exact
    ev.append(PrivacyEvent(f"propensity model: {plan.rounds} gradient rounds, curvature in {len(plan.curv_rounds)}",
                           "discrete gaussian", eps_p, dlt_p, dp_accounting.ZCDpEvent(rho),
                           parts=tuple(parts)))
    names = ("count of records", "sum of scores psi", "sum of psi^2 - b^2/2")
    ev += [PrivacyEvent.laplace(names[i], plan.agg_eps[i], plan.agg_mech(i).sensitivity,
                                plan.agg_mech(i).scale) for i in range(3)]
    return ev


def plan_receipt(plan: RoundPlan, site: str, noise_description: str) -> dict[str, Any]:
    """The receipt of a site's whole participation (every round), as JSON."""
    from privcausal.privacy import make_receipt

    what = {"aipw": "AIPW", "ipw": "IPW"}[plan.method]
    r = make_receipt(
        f"site {site}: federated {what} ({len(plan.steps)} rounds: "
        f"{', '.join(plan.steps)})", plan_events(plan), noise=noise_description,
        epsilon_budget=float(plan.epsilon),
        delta_budget=float(plan.delta) if plan.private else 0.0,
        notes=(f"per-site guarantee: add/remove one record of site {site}; the site adds its own "
               "noise and answers each round at most once, so the guarantee holds whatever the "
               "server and the other sites do",))
    return r.to_dict()


def payload_digest(payload: Mapping[str, Any]) -> str:
    """A digest of the server's message (which models a round was answered for)."""
    import hashlib

    h = hashlib.sha256()
    for k in sorted(payload):
        v = np.ascontiguousarray(np.asarray(payload[k], dtype=np.float64))
        h.update(k.encode() + str(v.shape).encode() + v.tobytes())
    return h.hexdigest()


class SiteSession:
    """A site's side of one run: answers each round of the plan at most once.

    A round asked again with the same message (a retry after a lost or late reply) gets the
    same release back, which reveals nothing new; asked with another message, it is refused.
    ``answered`` (round -> digest of the message) and ``replies`` (round -> arrays) may be
    handed in: a Flower ClientApp keeps them in its run's ``context.state``. ``random_state``:
    None (the operating system's CSPRNG) or a seed (experiments only: the round's noise is then
    drawn from the seed and the round's name).
    """

    def __init__(self, data: Any, plan: RoundPlan, site: str, random_state: Any = None,
                 answered: dict[str, str] | None = None,
                 replies: dict[str, dict[str, np.ndarray]] | None = None) -> None:
        self.data, self.plan, self.site = data, plan, site
        self.random_state = random_state
        self.answered: dict[str, str] = {} if answered is None else answered
        self.replies: dict[str, dict[str, np.ndarray]] = {} if replies is None else replies

    def answer(self, step: str, payload: Mapping[str, Any]) -> dict[str, np.ndarray]:
        from privcausal.privacy import noise_source

        if step not in self.plan.steps:
            raise DataValidationError(f"round {step!r} is not in the plan ({', '.join(self.plan.steps)})")
        digest = payload_digest(payload)
        if step in self.answered:
            if self.answered[step] == digest and step in self.replies:
                return self.replies[step]  # a retry: the same release again
            raise DataValidationError(f"round {step!r} was answered already: a site answers each "
                                      "round once (its budget)")
        seed = None
        if self.random_state is not None:
            seed = int(np.random.SeedSequence([int(self.random_state),
                                               self.plan.steps.index(step)]).generate_state(1)[0])
        self.answered[step] = digest  # spent before computing: a crash does not reopen the round
        out = self._step(step, payload, noise_source(seed))
        self.replies[step] = out
        return out

    def _step(self, step: str, payload: Mapping[str, Any], noise: Any) -> dict[str, np.ndarray]:
        """This site's release for the round (secure aggregation overrides it: a share)."""
        return site_step(self.data, self.plan, step, payload, noise)

    def receipt(self) -> dict[str, Any]:
        from privcausal.privacy import noise_source

        desc = noise_source(None if self.random_state is None else 0).description
        return plan_receipt(self.plan, self.site, desc)

"""Secure aggregation for the rounds of federated IPW / AIPW (:mod:`.rounds`).

Each round's vectors go through secure aggregation as the one-shot release's do
(:mod:`.secure`): the server learns the sum of the contributing sites' vectors and nothing
else, and each site adds only its **share** of the Gaussian noise. Per round:

* ``stats`` (AIPW): the regression adjustment's secure share (:mod:`.secure_site`): the
  Gaussian blocks at ``1 / h`` of the variance, the Laplace counts and sums as Pólya shares;
* ``grad-r``: the gradient (and, in the curvature rounds, the upper triangle of ``H``) with a
  discrete Gaussian share ``N_Z(0, s2)`` on the share's lattice, ``s2`` from the central sd
  over ``sqrt(h)`` (inflated by ``SHARE_MARGIN``); :func:`check_round_shares` checks, by the
  distributed discrete Gaussian bound (Kairouz, Liu, Steinke [1, Thm. 1]), that the sum of
  ``h`` honest shares is within the zCDP the plan's receipt accounts for each release;
* ``score``: the Laplace releases of the count, ``sum psi`` and ``sum psi^2 - b^2/2`` as Pólya
  shares (:mod:`privcausal.privacy.polya`): each site adds a difference of two ``NB(1/h)``
  draws on the share lattice, and ``h`` honest shares add up to the central discrete Laplace
  exactly, so the sum is as private as one central release and as accurate (``a / h`` of its
  variance for ``a`` shares). The outcome models' Laplace counts and sums (``stats``) likewise.

``h = min_sites - collusion`` (:class:`~.secure.SecureAggregation`). Every released number is a
lattice point; a site sends it as limbs on the round's finest lattice (public, from the plan)
and the server decodes the exact integer sum: the server's input is a function of the honest
sites' sum alone (post-processing). The server then runs the same steps as without secure
aggregation (:func:`~.protocol.run_protocol`), with the noise of a sum of ``a`` shares, ``a / h``
central releases, in its damping, its outcome models' ridge and its interval.

References
----------
.. [1] Kairouz, Liu, Steinke, "The distributed discrete Gaussian mechanism for federated
   learning with secure aggregation", ICML 2021.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from privcausal.exceptions import PrivacyParameterError
from privcausal.federated.rounds import RoundPlan, SiteSession, site_step
from privcausal.federated.secure import (NOISELESS_EXPONENT, SHARE_MARGIN, SecureAggregation,
                                         array_keys, check_shares, ddg_rho, decode, encode,
                                         share_plan, transport_exponent)

__all__ = ["share_mechs", "check_round_shares", "round_keys", "round_exponent", "share_step",
           "SecureSiteSession", "decode_round", "round_total", "secure_plan_receipt", "gauss_factor"]


def share_mechs(plan: RoundPlan, honest: int) -> dict[str, Any]:
    """The Gaussian share mechanisms of the gradient rounds (``grad``, ``curv``)."""
    from privcausal.privacy.lattice import LatticeGaussian

    r = math.sqrt(honest) / (1.0 + SHARE_MARGIN)
    return {"grad": LatticeGaussian(plan.sd_grad / r, 1.0, plan.q),
            "curv": LatticeGaussian(plan.sd_gram / r, 0.25, plan.q * (plan.q + 1) // 2)}


def check_round_shares(plan: RoundPlan, honest: int) -> float:
    """Check that ``honest`` shares of each gradient-round release sum to at most the zCDP the
    receipt accounts for it (``sensitivity^2 / (2 sd^2)``); return the largest ratio. Raises
    otherwise. The ``stats`` round is checked by :func:`~.secure.check_shares`."""
    if not plan.private:
        return 0.0
    worst = 0.0
    for key, sd in (("grad", plan.sd_grad), ("curv", plan.sd_gram)):
        m = share_mechs(plan, honest)[key]
        if math.pi**2 * m.s2 < 700.0:  # the DDG bound's tau term would not be negligible
            raise PrivacyParameterError("secure aggregation: a noise share is too coarse for the "
                                        "distributed discrete Gaussian bound")
        rho = ddg_rho(m.sensitivity / 2.0**m.k + math.sqrt(m.dim), m.s2, honest, m.dim)
        bound = 0.5 * (m.sensitivity / sd) ** 2
        if rho > bound * (1.0 - SHARE_MARGIN / 2):
            raise PrivacyParameterError("secure aggregation: the noise shares of a gradient round "
                                        "do not add up to its accounted guarantee (a bug)")
        worst = max(worst, rho / bound)
    if plan.method == "aipw":
        check_shares(plan.outcome, share_plan(plan.outcome, "regression", honest), honest)
    return worst


def round_keys(plan: RoundPlan, step: str) -> list[tuple[str, tuple[int, ...]]]:
    """The arrays a round sends and their shapes, in transport order (public: the plan)."""
    if step == "stats":
        return array_keys("regression", plan.outcome)
    if step.startswith("grad-"):
        keys = [("grad", (plan.q,))]
        if int(step.split("-")[1]) in plan.curv_rounds:
            keys.append(("curv", (plan.q * (plan.q + 1) // 2,)))
        return keys
    return [("agg", (3,))]


def round_exponent(plan: RoundPlan, step: str, honest: int) -> int:
    """``E``: every number a round sends is a multiple of ``2^E`` (its finest lattice)."""
    if not plan.private:
        return NOISELESS_EXPONENT
    if step == "stats":
        return transport_exponent("regression", share_plan(plan.outcome, "regression", honest), True)
    if step.startswith("grad-"):
        m = share_mechs(plan, honest)
        return min(m[k].k for k, _ in round_keys(plan, step))
    return min(plan.agg_mech(i).k for i in range(3))


def share_step(data: Any, plan: RoundPlan, step: str, payload: Mapping[str, Any], noise: Any,
               honest: int) -> dict[str, np.ndarray]:
    """This site's noisy share for round ``step`` (before encoding)."""
    if not plan.private or step == "score":
        return site_step(data, plan, step, payload, noise)  # no noise, or Laplace (Pólya) shares
    if step == "stats":
        from privcausal.federated.site import exact_statistics, release_arrays

        cfg = plan.outcome
        return release_arrays(exact_statistics(data, "regression", cfg), "regression",
                              share_plan(cfg, "regression", honest), noise, shift=False)
    from scipy.special import expit

    from privcausal.federated.rounds import _design, _vector  # noqa: PLC2701 - the same statistics

    _, Z = _design(data, plan)
    beta = _vector(payload, "beta", (plan.q,))
    t = (np.asarray(data.treatment) == 1).astype(np.float64)
    e = expit(Z @ beta)
    m = share_mechs(plan, honest)
    out = {"grad": np.asarray(m["grad"].release(Z.T @ (e - t), noise), dtype=np.float64)}
    if int(step.split("-")[1]) in plan.curv_rounds:
        r, c = np.triu_indices(plan.q)
        H = (Z * (e * (1 - e))[:, None]).T @ Z
        out["curv"] = np.asarray(m["curv"].release(H[r, c], noise), dtype=np.float64)
    return out


class SecureSiteSession(SiteSession):
    """A site's side of a secure run: each round answered once, with its noise share, as limbs
    (``{"limbs": ...}``) that the server only ever sees summed with the other sites'."""

    def __init__(self, data: Any, plan: RoundPlan, site: str, secure: SecureAggregation,
                 random_state: Any = None, answered: dict[str, str] | None = None,
                 replies: dict[str, dict[str, np.ndarray]] | None = None) -> None:
        super().__init__(data, plan, site, random_state, answered, replies)
        self.secure = secure
        check_round_shares(plan, secure.honest)

    def _step(self, step: str, payload: Mapping[str, Any], noise: Any) -> dict[str, np.ndarray]:
        from privcausal.privacy.polya import ShareNoise

        h = self.secure.honest
        arrays = share_step(self.data, self.plan, step, payload, ShareNoise(noise, h), h)
        return {"limbs": encode(arrays, round_keys(self.plan, step),
                                round_exponent(self.plan, step, h), exact=self.plan.private)}

    def receipt(self) -> dict[str, Any]:
        from privcausal.privacy import noise_source

        desc = noise_source(None if self.random_state is None else 0).description
        return secure_plan_receipt(self.plan, self.site, desc, self.secure)


def decode_round(limb_sums: np.ndarray, contributors: int, plan: RoundPlan, step: str,
                 honest: int) -> dict[str, np.ndarray]:
    """The summed arrays of a round from its limbs' exact sums (``stats``: ``sum_sq`` shifted
    by the summed noisy counts, as :func:`~.secure_site.secure_total` does)."""
    tot = decode(limb_sums, contributors, round_keys(plan, step), round_exponent(plan, step, honest))
    if step == "stats" and "sum_sq" in tot and plan.private:
        tot["sum_sq"] = tot["sum_sq"] + plan.outcome.bound**2 / 2 * tot["count"]
    return tot


def gauss_factor(contributors: int, honest: int | None) -> float:
    """The noise of a sum of ``contributors`` releases, in central releases (variance):
    ``contributors`` without secure aggregation, ``contributors / honest`` with it (Gaussian
    and Pólya shares alike)."""
    return float(contributors) if honest is None else contributors / honest


def secure_plan_receipt(plan: RoundPlan, site: str, noise_description: str,
                        secure: SecureAggregation) -> dict[str, Any]:
    """The receipt of a site's part in a secure run: the plan's events (what the sums spend,
    under the threat model) and the fallback epsilon of its shares seen alone."""
    from privcausal.federated.rounds import plan_receipt

    r = plan_receipt(plan, site, noise_description)
    fb = _fallback(plan, secure.honest)
    notes = list(r.get("notes", []))
    notes[:1] = [f"per-site guarantee: add/remove one record of site {site}, for the secure sums "
                 f"of every round, under this threat model: {secure.threat_model()}"]
    if plan.private:
        notes += ["Gaussian releases (the outcome models' blocks, gradients, curvature): each site "
                  f"adds a discrete Gaussian share of 1/{secure.honest} of the variance; the sum of "
                  f"{secure.honest} shares is accounted by the distributed discrete Gaussian bound "
                  "(Kairouz, Liu, Steinke 2021), checked to be within each release's zCDP; Laplace "
                  "releases (counts, sums, the scores): each site adds an exact Pólya share "
                  f"(NB(1/{secure.honest}) difference), {secure.honest} of which add up to the "
                  "central discrete Laplace",
                  f"if more sites collude, or the masks are broken, the guarantee degrades; a site's "
                  f"shares seen alone are ({fb:.4g}, {plan.delta:.3g})-DP (fallback)"]
    r["notes"] = notes
    r["secure_aggregation"] = {**secure.to_dict(), "fallback_epsilon": fb}
    return r


def _fallback(plan: RoundPlan, honest: int) -> float:
    """The epsilon of one site's shares seen alone: its Gaussian parts at ``honest`` times their
    zCDP (one share), its Laplace parts one Pólya share each
    (:func:`~privcausal.privacy.polya.share_epsilon`); basic composition, as the plan's shares."""
    if not plan.private or honest == 1:
        return float(plan.epsilon)
    import dp_accounting
    from dp_accounting import rdp

    from privcausal.federated.rounds import SPLITS, plan_events

    out_share, prop_share, agg_share = SPLITS[plan.method]
    parts = 2 if plan.method == "aipw" else 1
    rho = sum(float(e.dp_event.rho) for e in plan_events(plan)
              if isinstance(getattr(e, "dp_event", None), dp_accounting.ZCDpEvent)
              and e.label.startswith("propensity model"))
    acc = rdp.RdpAccountant()
    acc.compose(dp_accounting.ZCDpEvent(honest * rho))
    from privcausal.federated.secure import laplace_share_epsilon

    eps = float(acc.get_epsilon(plan.delta / parts)) + sum(
        laplace_share_epsilon(plan.agg_mech(i), honest) for i in range(3))
    if plan.method == "aipw":
        from privcausal.federated.secure import fallback_epsilon

        eps += fallback_epsilon(plan.outcome, "regression", honest, plan.epsilon * out_share,
                                plan.delta / parts)
    return eps


def round_total(plan: RoundPlan, sec: SecureAggregation) -> Any:
    """The server's ``total`` for a secure run (:func:`~.protocol.run_protocol`): the exact sum
    of the contributing sites' limbs, decoded; a sum of fewer than ``min_sites`` is refused."""
    from privcausal.exceptions import DataValidationError
    from privcausal.federated.secure import CLIP

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

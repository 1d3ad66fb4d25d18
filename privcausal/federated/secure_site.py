"""A site's share for secure aggregation, and the server's sum of the shares (:mod:`.secure`).

A site computes the same statistics as for a one-shot release (:mod:`.site`), adds its noise
share (the Gaussian blocks at ``1 / honest`` of the variance, the Laplace releases as Pólya
shares, :mod:`privcausal.privacy.polya`) and
encodes the lattice points as limbs for Flower's SecAgg+. The server decodes the exact sum,
shifts ``sum u^2`` back with the summed noisy counts and estimates from it as from a one-shot
sum (:func:`privcausal.federated.combine.combine_total`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from privcausal.federated.secure import (SecureAggregation, array_keys, check_shares, decode, encode,
                                         fallback_epsilon, share_plan, transport_exponent)
from privcausal.federated.site import exact_statistics, release_arrays, release_plan, site_receipt

__all__ = ["SecureShare", "secure_release", "secure_receipt", "secure_total", "local_secure_sum"]


@dataclass(frozen=True)
class SecureShare:
    """One site's vector for secure aggregation (limbs; never seen alone by the server) and the
    receipt of what the sum spends of that site's records."""

    site: str
    method: str
    limbs: np.ndarray
    receipt: Mapping[str, Any]


def _plans(domain: Any, method: str, epsilon: float, delta: float, secure: SecureAggregation,
           drop: tuple[str, ...]) -> tuple[Any, Any, bool]:
    plan = release_plan(domain, method, epsilon, delta, drop=drop)
    noisy = math.isfinite(epsilon)
    if not noisy:
        return plan, plan, False
    shares = share_plan(plan, method, secure.honest)
    if method == "regression":
        check_shares(plan, shares, secure.honest)
    return plan, shares, True


def secure_receipt(method: str, plan: Any, epsilon: float, delta: float, site: str,
                   noise_description: str, secure: SecureAggregation) -> dict[str, Any]:
    """The receipt of a site's part in a secure sum: the central plan's events (what the sum
    spends, under the threat model) and the fallback epsilon of one share seen alone."""
    noisy = math.isfinite(epsilon)
    fb = fallback_epsilon(plan, method, secure.honest, epsilon, delta) if noisy else math.inf
    notes = [f"per-site guarantee: add/remove one record of site {site}, for the secure sum, under "
             f"this threat model: {secure.threat_model()}"]
    if not noisy:
        notes.append("epsilon = inf: no noise and no privacy claim; secure aggregation only hides "
                     "the sites' exact statistics from the server")
    else:
        polya = (f"Laplace releases (counts, sums): each site adds an exact Pólya share "
                 f"(NB(1/{secure.honest}) difference), {secure.honest} of which add up to the "
                 "central discrete Laplace (Balle, Bell, Gascón, Nissim 2020)")
        if method != "dim":
            notes.append("Gaussian blocks: each site adds a discrete Gaussian share of 1/"
                         f"{secure.honest} of the variance; the sum of {secure.honest} shares is "
                         "accounted by the distributed discrete Gaussian bound (Kairouz, Liu, "
                         "Steinke 2021), checked to be within the central release's zCDP")
        notes += [polya, f"if more sites collude, or the masks are broken, the guarantee degrades; "
                         f"a share seen alone is ({fb:.4g}, {delta:.3g})-DP (fallback)"]
    r = site_receipt(method, plan, epsilon, delta, site, noise_description, notes=tuple(notes))
    r["secure_aggregation"] = {**secure.to_dict(), "fallback_epsilon": fb}
    return r


def secure_release(data: Any, method: str, epsilon: float, delta: float, *, site: str,
                   secure: SecureAggregation, random_state: Any = None,
                   drop: tuple[str, ...] = ()) -> SecureShare:
    """This site's share: statistics, noise share, limbs (``random_state=None``: CSPRNG)."""
    from privcausal.privacy import noise_source

    from privcausal.privacy.polya import ShareNoise

    plan, shares, noisy = _plans(data.domain, method, epsilon, delta, secure, drop)
    noise = ShareNoise(noise_source(random_state), secure.honest)
    arrays = release_arrays(exact_statistics(data, method, plan), method, shares, noise, shift=False)
    limbs = encode(arrays, array_keys(method, plan), transport_exponent(method, shares, noisy),
                   exact=noisy)
    return SecureShare(site, method, limbs, secure_receipt(method, plan, epsilon, delta, site,
                                                           noise.description, secure))


def secure_total(limb_sums: np.ndarray, contributors: int, domain: Any, method: str, epsilon: float,
                 delta: float, secure: SecureAggregation, drop: tuple[str, ...] = ()
                 ) -> dict[str, np.ndarray]:
    """The summed arrays from the limbs' exact sums (``sum_sq`` shifted by the summed counts)."""
    plan, shares, noisy = _plans(domain, method, epsilon, delta, secure, drop)
    tot = decode(limb_sums, contributors, array_keys(method, plan),
                 transport_exponent(method, shares, noisy))
    if "sum_sq" in tot:
        tot["sum_sq"] = tot["sum_sq"] + plan.bound**2 / 2 * tot["count"]
    return tot


def local_secure_sum(shares: Sequence[SecureShare]) -> np.ndarray:
    """The limbs' integer sums as SecAgg+ computes them (the ``local`` transport, tests)."""
    from privcausal.federated.secure import CLIP

    return np.sum([s.limbs + CLIP for s in shares], axis=0)

"""Secure aggregation: the server learns only the sum of the sites' releases, never one site's.

With ``secure=True`` the sites' vectors go through Flower's SecAgg+ (:mod:`.flower_secure`):
pairwise masks that cancel in the sum, secret-shared so that the masks of a site that drops out
are removed too. What that buys is noise: a site no longer needs its full noise in its own
vector, only its **share**.

Threat model (what the receipt states): the server is honest but curious (it follows the
protocol and tries to learn from what it sees); at most ``collusion`` = t sites collude with
it (they pool their own vectors and noise with it); a sum is revealed only if at least
``min_sites`` sites' vectors entered it: SecAgg+'s reconstruction threshold is ``min_sites``,
so with fewer sites no mask can be removed. Then at least ``h = min_sites - t`` honest sites'
noise is in any sum the server sees, and each site adds ``1 / h`` of the Gaussian blocks'
variance:

* the **Gaussian blocks** (regression: ``sum x``, the Gram entries, ``sum x u``, ``sum u^2``)
  carry a discrete Gaussian share ``N_Z(0, s2)`` on the block's lattice, with ``h * s2`` lattice
  steps squared at least the variance of the central (one-site) release, rounding paid for as in
  :mod:`privcausal.privacy.lattice`. The sum of ``h`` independent discrete Gaussians is not a
  discrete Gaussian; by Kairouz, Liu, Steinke [1, Thm. 1] it is ``rho``-zCDP with
  ``rho = Delta^2 / (2 h s2) + tau d / 4``, ``tau = 10 sum_{k<h} exp(-2 pi^2 s2 k / (k + 1))``
  (``Delta`` the L2 sensitivity in lattice steps, rounding included, ``d`` the coordinates).
  :func:`check_shares` computes this for every block and checks that their sum is at most
  the ``1 / (2 sigma^2)`` the receipt accounts for (the shares are inflated by ``2^-20`` to
  leave room for ``tau``, which is below ``1e-300`` at the lattice's ``s2 ~ 2^40``);
* the **Laplace releases** (arm sizes, sums of outcomes; all of ``dim``) carry **Pólya
  shares** (:mod:`privcausal.privacy.polya`): each site adds the difference of two exact
  ``NB(1/h, exp(-1/t))`` draws on the share lattice (about ``2^10`` steps per noise scale, its
  rounding paid in ``t``), and ``h`` independent shares add up to the central discrete
  Laplace of scale ``t`` exactly [4], so the sum is the central release plus independent
  noise (post-processing) with the central epsilon, and its variance is ``a / h`` central
  ones for ``a`` shares.

If more than t sites collude, the guarantee degrades with the honest sites left; with none
left (a site's vector seen alone) it is the ``fallback`` epsilon of the receipt, that of one
share. The same holds against a server that breaks the masks: Flower 1.42 expands every mask
from a 32-bit seed (``pseudo_rand_gen`` folds the key to 32 bits, and its base64 keys leave
28), so the masking is computationally weak; the noise shares are what the receipt counts on.

**Exact sums.** Every released number is a lattice point ``K 2^k`` of its block. A site sends
the integers ``K 2^(k - E)`` on the finest lattice ``2^E`` of the plan (public), offset to be
non-negative and cut into three 22-bit limbs; each limb passes Flower's SecAgg+ quantization
unchanged (clipping range ``2^25``, quantization range ``2^26``, so its quantizer is exactly
1), the masked sums are exact modulo ``2^32``, and the server recovers the exact integer sum.
So the server's sum is a function of the honest sites' integer sum alone (post-processing),
which is what the zCDP bound is about. Up to 63 sites (``63 x 2^26 < 2^32``).

References
----------
.. [1] Kairouz, Liu, Steinke, "The distributed discrete Gaussian mechanism for federated
   learning with secure aggregation", ICML 2021.
.. [2] Bell, Bonawitz, Gascon, Lepoint, Raykova, "Secure single-server aggregation with
   (poly)logarithmic overhead" (SecAgg+), CCS 2020.
.. [3] Canonne, Kamath, Steinke, "The discrete Gaussian for differential privacy", NeurIPS 2020.
.. [4] Balle, Bell, Gascón, Nissim, "Private summation in the multi-message shuffle model",
   CCS 2020; Harrison, Manurangsi, "Infinitely divisible noise for differential privacy",
   FORC 2025 (the discrete Laplace as a sum of negative binomial differences).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from privcausal.exceptions import DataValidationError, PrivacyParameterError

__all__ = ["SecureAggregation", "share_plan", "array_keys", "transport_exponent", "encode",
           "decode", "ddg_rho", "check_shares", "fallback_epsilon", "laplace_share_epsilon",
           "LIMB_BITS", "LIMBS", "CLIP", "QUANT_RANGE", "MOD_RANGE", "MAX_SITES"]

LIMB_BITS, LIMBS = 22, 3
OFFSET = 2**62  # |K| < 2^62 on the transport lattice; K + OFFSET < 2^63 < 2^(LIMBS LIMB_BITS)
QUANT_RANGE, CLIP, MOD_RANGE = 2**26, 2**25, 2**32  # Flower's quantizer QUANT_RANGE / (2 CLIP) = 1
MAX_SITES = MOD_RANGE // QUANT_RANGE - 1  # the weights' sum (sites x QUANT_RANGE) stays below 2^32
SHARE_MARGIN = 2.0**-20  # the shares' inflation that leaves room for the DDG term tau
NOISELESS_EXPONENT = -30  # the transport lattice without noise (epsilon = inf; no privacy claim)


@dataclass(frozen=True)
class SecureAggregation:
    """The secure-aggregation settings of a run: who takes part and whom the guarantee assumes.

    Parameters
    ----------
    sites : int
        Sites that take part (2 to 63).
    collusion : int
        At most this many sites collude with the server (t >= 0).
    min_sites : int or None
        The sum is used only if at least this many sites' vectors entered it (default: all).
    """

    sites: int
    collusion: int = 0
    min_sites: int | None = None

    def __post_init__(self) -> None:
        for name in ("sites", "collusion"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise PrivacyParameterError(f"secure aggregation: {name} must be an integer")
        m = self.sites if self.min_sites is None else self.min_sites
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)):
            raise PrivacyParameterError("secure aggregation: min_sites must be an integer")
        object.__setattr__(self, "min_sites", int(m))
        if not 2 <= self.sites <= MAX_SITES:
            raise PrivacyParameterError(f"secure aggregation needs 2 to {MAX_SITES} sites "
                                        f"(Flower's SecAgg+ modulus), got {self.sites}")
        if self.collusion < 0:
            raise PrivacyParameterError("secure aggregation: collusion must be >= 0")
        if not 2 <= int(m) <= self.sites:
            raise PrivacyParameterError(f"secure aggregation: min_sites must be in [2, {self.sites}]")
        if self.honest < 1:
            raise PrivacyParameterError(
                f"secure aggregation: min_sites ({m}) must exceed collusion ({self.collusion}): "
                "otherwise no honest site's noise is sure to be in the sum")

    @property
    def honest(self) -> int:
        """Honest sites whose noise is surely in a sum that is used: ``min_sites - collusion``."""
        return int(self.min_sites) - int(self.collusion)

    @property
    def threshold(self) -> int:
        """SecAgg+ reconstruction threshold: ``min_sites``. Below it no site's masks can be
        removed, so a sum of fewer sites is never revealed, not only discarded afterwards (and
        it exceeds the shares the colluders hold)."""
        return max(2, int(self.min_sites))

    def threat_model(self) -> str:
        return (f"honest-but-curious server colluding with at most {self.collusion} site(s); the sum "
                f"is used only if at least {self.min_sites} of {self.sites} sites' vectors entered "
                f"it, so the noise of at least {self.honest} honest site(s) is in it; the server "
                "sees only the sum (Flower SecAgg+, reconstruction threshold "
                f"{self.threshold}, so a smaller sum cannot be unmasked); the masks' computational "
                "security is Flower 1.42's (its pseudo_rand_gen seeds each mask with 32 bits): "
                "against a server that brute-forces them each share is protected by its own noise "
                "only (the fallback epsilon)")

    def to_dict(self) -> dict[str, Any]:
        return {"sites": int(self.sites), "collusion": int(self.collusion),
                "min_sites": int(self.min_sites), "honest": self.honest,
                "threshold": self.threshold, "protocol": "Flower SecAgg+",
                "threat_model": self.threat_model()}


def share_plan(plan: Any, method: str, honest: int) -> Any:
    """The plan of one site's share: the Gaussian blocks' sd over ``sqrt(honest)`` (inflated by
    ``SHARE_MARGIN``); the Laplace releases unchanged (their shares are Pólya draws of the
    central scale, :class:`~privcausal.privacy.polya.ShareNoise`). ``dim`` has no Gaussian
    block."""
    if method == "dim" or getattr(plan, "sigma", 0.0) == 0:
        return plan
    r = math.sqrt(honest) / (1.0 + SHARE_MARGIN)  # inflated also at honest = 1 (check_shares)
    return dataclasses.replace(plan, sd={k: v / r for k, v in plan.sd.items()}, sigma=plan.sigma / r)


def array_keys(method: str, plan: Any) -> list[tuple[str, tuple[int, ...]]]:
    """The released arrays and their shapes, in transport order (public: from the plan)."""
    binary = bool(plan.binary) if hasattr(plan, "binary") else plan.eps_sq == 0
    out = [("count", (2,)), ("sum", (2,))]
    if method == "regression":
        p = plan.layout.p
        out += [("sum_x", (2, p)), ("gram", (2, p, p)), ("sum_xu", (2, p))]
    if not binary:
        out.append(("sum_sq", (2,)))
    return out


def _exponents(method: str, plan: Any) -> list[int]:
    if method == "dim":
        return [m.lattice(1).k for m in plan.mechanisms() if m is not None and m.scale > 0]
    lay = plan.layout
    ks = [plan.dim_plan.mechanisms()[0].lattice(1).k, plan.adj_plan.mechanisms()[1].lattice(1).k]
    dims = {"sx": lay.p, "S": len(lay.rows), "Su": lay.p, "Q": 1}
    return ks + [plan.block(k, dims[k]).k for k in plan.sd]


def transport_exponent(method: str, plan: Any, noisy: bool) -> int:
    """``E``: every released number is an integer multiple of ``2^E`` (the plan's finest lattice)."""
    if not noisy:
        return NOISELESS_EXPONENT
    return int(min(_exponents(method, plan)))


def encode(arrays: Mapping[str, np.ndarray], keys: list[tuple[str, tuple[int, ...]]], exponent: int,
           exact: bool = True) -> np.ndarray:
    """One site's arrays as limbs (float64 in ``[-CLIP, CLIP)``), ``LIMBS`` rows of entries.

    ``exact``: every entry must be a multiple of ``2^exponent`` (a noisy release always is);
    otherwise (no noise) the entries are rounded to it."""
    flat = np.concatenate([np.asarray(arrays[k], dtype=np.float64).reshape(-1) for k, s in keys])
    if flat.size != sum(int(np.prod(s)) for _, s in keys):
        raise DataValidationError("a site's arrays do not have the plan's shapes")
    scaled = np.ldexp(flat, -exponent)  # exact: only the exponent moves
    K = np.rint(scaled)
    if exact and not np.array_equal(K, scaled):
        raise DataValidationError("a released value is off the plan's lattice (a bug: refusing "
                                  "to round a noisy release before secure aggregation)")
    if np.any(np.abs(K) >= 2.0**53):  # beyond, a site's release was rounded to a double
        raise DataValidationError("a released value is too large for the secure-aggregation "
                                  "transport (its lattice integer is 2^53 or more)")
    U = (K.astype(np.int64) + np.int64(OFFSET // 2)).astype(np.uint64) + np.uint64(OFFSET // 2)
    mask = np.uint64(2**LIMB_BITS - 1)
    limbs = [((U >> np.uint64(LIMB_BITS * i)) & mask).astype(np.float64) for i in range(LIMBS)]
    return np.concatenate(limbs) - float(CLIP)


def limb_sums_from_mean(mean: np.ndarray, contributors: int) -> np.ndarray:
    """The exact integer sums of the limbs from Flower's dequantized *mean* of ``contributors``
    sites' vectors (``sum / contributors - CLIP``): exact, the rounding error is below 2^-18."""
    s = np.rint((np.asarray(mean, dtype=np.float64) + CLIP) * contributors)
    if np.any(s < 0) or np.any(s > contributors * (2**LIMB_BITS - 1)):
        raise DataValidationError("the secure sum is out of range: the aggregation failed")
    return s


def decode(limb_sums: np.ndarray, contributors: int, keys: list[tuple[str, tuple[int, ...]]],
           exponent: int) -> dict[str, np.ndarray]:
    """The arrays' sums over ``contributors`` sites from the limbs' exact integer sums."""
    s = np.asarray(limb_sums, dtype=np.float64).reshape(LIMBS, -1)
    total = [0] * s.shape[1]
    for i in range(LIMBS):
        w = 1 << (LIMB_BITS * i)
        total = [t + int(v) * w for t, v in zip(total, s[i])]
    flat = np.array([float(t - contributors * OFFSET) for t in total])
    flat = np.ldexp(flat, exponent)
    out, pos = {}, 0
    for k, shape in keys:
        n = int(np.prod(shape))
        out[k] = flat[pos:pos + n].reshape(shape)
        pos += n
    return out


def ddg_rho(sensitivity_steps: float, s2: int, honest: int, dim: int) -> float:
    """zCDP rho of the sum of ``honest`` independent ``N_Z(0, s2)`` vectors of ``dim``
    coordinates for an L2 sensitivity of ``sensitivity_steps`` lattice steps [1, Thm. 1]."""
    tau = 10.0 * sum(math.exp(-2.0 * math.pi**2 * s2 * k / (k + 1)) for k in range(1, honest))
    return sensitivity_steps**2 / (2.0 * honest * s2) + tau * dim / 4.0


def check_shares(plan: Any, shares: Any, honest: int) -> float:
    """Check that ``honest`` shares of ``shares`` (a share plan) sum to at most the central
    plan's Gaussian zCDP ``1 / (2 sigma^2)``; return the shares' summed rho. Raises otherwise."""
    if getattr(plan, "sigma", 0.0) == 0:
        return 0.0
    lay = plan.layout
    dims = {"sx": lay.p, "S": len(lay.rows), "Su": lay.p, "Q": 1}
    rho = 0.0
    for key in plan.sd:
        b = shares.block(key, dims[key])
        steps = b.sensitivity / 2.0**b.k + math.sqrt(b.dim)
        if math.pi**2 * b.s2 < 700.0:  # tau is not negligible: refuse rather than guess
            raise PrivacyParameterError("secure aggregation: a noise share is too coarse for the "
                                        "distributed discrete Gaussian bound")
        rho += ddg_rho(steps, b.s2, honest, b.dim)
    # the tau terms underflow (< 10 h exp(-700) d each); the margin covers them many times over
    bound = 0.5 / plan.sigma**2
    if rho > bound * (1.0 - SHARE_MARGIN / 2):
        raise PrivacyParameterError("secure aggregation: the noise shares do not add up to the "
                                    "central release's guarantee (a bug)")
    return rho


def laplace_share_epsilon(mech: Any, honest: int) -> float:
    """The epsilon of one Pólya share of a one-coordinate Laplace release seen alone
    (``mech``: a :class:`~privcausal.privacy.mechanisms.LaplaceMechanism` or a lattice
    Laplace), on the share lattice; the mechanism's epsilon when ``honest = 1``."""
    from privcausal.privacy.lattice import LatticeLaplace
    from privcausal.privacy.polya import SHARE_LATTICE_BITS, share_epsilon

    if mech is None or mech.scale == 0:
        return 0.0
    return share_epsilon(LatticeLaplace(mech.scale, mech.sensitivity, 1, bits=SHARE_LATTICE_BITS),
                         honest)


def fallback_epsilon(plan: Any, method: str, honest: int, epsilon: float, delta: float) -> float:
    """The epsilon of one site's vector seen alone (no honest share beside it): basic
    composition of its Laplace releases' Pólya shares
    (:func:`~privcausal.privacy.polya.share_epsilon`) and the Gaussian share's zCDP
    (``honest`` times)."""
    if honest == 1:
        return float(epsilon)
    # dim: counts, sums (and sums of squares); the regression: its counts and outcome sums
    mechs = (list(plan.mechanisms()) if method == "dim" else
             [plan.dim_plan.mechanisms()[0], plan.adj_plan.mechanisms()[1]])
    eps_l = sum(laplace_share_epsilon(m, honest) for m in mechs)
    if method == "dim" or getattr(plan, "sigma", 0.0) == 0:
        return float(eps_l)
    import dp_accounting
    from dp_accounting import rdp

    acc = rdp.RdpAccountant()
    acc.compose(dp_accounting.ZCDpEvent(honest * 0.5 / plan.sigma**2))
    return float(eps_l + acc.get_epsilon(delta))

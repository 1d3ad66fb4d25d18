"""Inverse propensity weighting with a DP propensity model and noisy weighted sums.

Release (add/remove one record; a record touches only the sums of its own arm, so the two
arms compose in parallel):

1. a DP logistic propensity model ``e(x)`` (:class:`~privcausal.estimators.propensity.PrivateLogisticModel`,
   pure ``propensity_share * epsilon``), clipped to ``[clip, 1 - clip]``, so every weight
   ``w = 1/e`` (treated) or ``1/(1 - e)`` (control) lies in ``[1, 1/clip]``;
2. Laplace-noised weighted sums of each arm (:func:`hajek_arms`), with sensitivities from the
   declared outcome bounds ``[lo, hi]`` (centre ``m``, half width ``h``) and the clipping:

   ===========================  ======================  ======================
   sum over the arm             one record moves it by  share of the rest
   ===========================  ======================  ======================
   ``A = sum w (y - m)``        ``h / clip``            0.6
   ``B = sum w``                ``1 / clip``            0.2
   ``Q = sum w^2 (y - m)^2``    ``h^2 / clip^2``        0.1 (interval only)
   ``V = sum w^2``              ``1 / clip^2``          0.1 (interval only)
   ===========================  ======================  ======================

Hajek (``normalization="hajek"``): ``mu_a = m + A_a / B_a``. Horvitz-Thompson
(``normalization="ht"``): the mean of ``psi = T w (y - m) - (1 - T) w (y - m)`` over a noisy
count, with ``|psi| <= h / clip`` (HT on outcomes centred at the domain's centre, which keeps the
sensitivity at half the outcome range); see :func:`private_mean`.

The interval is a parametric bootstrap of (release - truth): a normal sampling error whose
variance comes from the noisy second moments, plus fresh draws of every privacy noise term,
so it covers sampling and privacy noise. The propensity's own estimation error is not in it
(estimating the propensity usually lowers the variance of IPW, so this errs on the wide side).

References
----------
.. [1] Lee, Kim, Jo, Kim, "Privacy-preserving causal inference via inverse probability
   weighting", 2019.
.. [2] Hajek, "Comment on 'An essay on the logical foundations of survey sampling'", 1971.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from privcausal.data.causal_data import CausalData
from privcausal.estimators.base import ATEEstimator
from privcausal.estimators.basis import HatBasis, check_knots
from privcausal.estimators.overlap import CLIP_COUNT_SHARE, release_clipped_share
from privcausal.estimators.propensity import PrivateLogisticModel
from privcausal.exceptions import PrivacyParameterError
from privcausal.privacy import LaplaceMechanism, PrivacyEvent, make_receipt, noise_source, parallel
from privcausal.privacy.random import independent_streams
from privcausal.validation import check_random_state

__all__ = ["InversePropensityWeighting", "private_mean", "hajek_arms", "PrivateMean", "check_clip", "seeded_rng"]

# Shares of the aggregate budget (after the propensity model): Hajek per-arm sums A, B, Q, V.
_HAJEK_SPLIT = (0.6, 0.2, 0.1, 0.1)
# Share of the aggregate budget spent on the second moment (interval) of a pseudo-outcome mean.
_SECOND_MOMENT_SHARE = 0.1


def check_clip(clip: Any) -> float:
    c = float(clip)
    if not 0.0 < c < 0.5:
        raise PrivacyParameterError(
            f"clip must lie in (0, 0.5) (got {c!r}): propensities are clipped to [clip, 1 - clip], "
            "which bounds every weight by 1/clip and so the sensitivity"
        )
    return c


def seeded_rng(random_state: Any) -> np.random.Generator | None:
    """The numpy Generator that seeds nuisance noise, or None for secure noise."""
    return None if random_state is None else check_random_state(random_state)


@dataclass(frozen=True)
class PrivateMean:
    """A released mean of pseudo-outcomes and the draws of (release - truth)."""

    estimate: float
    draws: np.ndarray
    events: tuple[PrivacyEvent, ...]
    #: the released noisy statistics ``sum``, ``count``, ``sum_sq`` (the estimate is their
    #: post-processing)
    released: dict[str, float] = field(default_factory=dict)


def private_mean(
    psi: np.ndarray,
    bound: float,
    epsilon: float,
    *,
    count_weight: float,
    noise: Any,
    rng: np.random.Generator,
    n_draws: int,
    label: str,
) -> PrivateMean:
    """Release the mean of ``psi`` (every ``|psi_i| <= bound``) with pure ``epsilon``-DP.

    Three Laplace releases: ``S = sum psi`` (sensitivity ``bound``), ``N = n`` (1) and
    ``Q = sum psi^2`` (``bound^2``, for the interval only). ``epsilon`` is split
    ``_SECOND_MOMENT_SHARE`` to ``Q``, and the rest between ``S`` and ``N`` in the ratio
    ``1 : count_weight``. The count's noise moves the estimate by about ``|mean| / n`` per unit,
    the sum's by ``bound / n``; with ``|mean| <= r`` the error ``bound/eps_S + r/eps_N`` is
    smallest at ``eps_N / eps_S = sqrt(r / bound)``, which callers pass as ``count_weight``.
    """
    psi = np.asarray(psi, dtype=np.float64)
    eps_q = _SECOND_MOMENT_SHARE * epsilon
    eps_s = (1.0 - _SECOND_MOMENT_SHARE) * epsilon / (1.0 + count_weight)
    eps_n = eps_s * count_weight
    m_s, m_n, m_q = (LaplaceMechanism(eps_s, bound), LaplaceMechanism(eps_n, 1.0),
                     LaplaceMechanism(eps_q, bound**2))
    S = m_s.randomise(float(psi.sum()), noise)
    N = m_n.randomise(float(len(psi)), noise)
    Q = m_q.randomise(float(psi @ psi), noise)
    events = (m_s.event(f"{label}: sum"), m_n.event(f"{label}: count"), m_q.event(f"{label}: sum of squares"))
    n_hat = max(N, 1.0)
    est = float(np.clip(S / n_hat, -bound, bound))  # post-processing: a mean of |psi| <= bound
    # Parametric bootstrap of (release - truth): sampling error with the variance implied by a
    # plausible true Q (the released Q minus a fresh draw of its noise), plus the sum's and the
    # count's noise (delta method for the ratio).
    q_true = np.clip(Q - m_q.scale * rng.laplace(size=n_draws), 0.0, n_hat * bound**2)
    var = np.clip(q_true / n_hat - est**2, 0.0, bound**2)
    draws = (
        rng.standard_normal(n_draws) * np.sqrt(var / n_hat)
        + m_s.scale * rng.laplace(size=n_draws) / n_hat
        - est * m_n.scale * rng.laplace(size=n_draws) / n_hat
    )
    return PrivateMean(est, draws, events, {"sum": S, "count": N, "sum_sq": Q})


def hajek_arms(
    treated: np.ndarray,
    w: np.ndarray,
    values: np.ndarray,
    bound: float,
    clip: float,
    epsilon: float,
    *,
    noise: Any,
    rng: np.random.Generator,
    n_draws: int,
    label: str,
    released: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[PrivacyEvent]]:
    """Per-arm weighted means ``sum w v / sum w`` (arm 1, arm 0) with pure ``epsilon``-DP.

    Every ``|v| <= bound`` and ``1 <= w <= 1/clip``. Per arm, Laplace-noised ``A = sum w v``
    (sensitivity ``bound/clip``), ``B = sum w`` (``1/clip``), and for the interval
    ``Q = sum w^2 v^2`` (``(bound/clip)^2``) and ``V = sum w^2`` (``1/clip^2``), with the shares
    ``_HAJEK_SPLIT`` of epsilon; a record is in one arm, so the arms compose in parallel.
    Returns the two means, their (release - truth) draws (rows: arm 1, arm 0) and the events.
    If ``released`` is a dict, it receives the noisy ``A``, ``B``, ``Q``, ``V`` as (2,) arrays
    indexed by arm (control, treated).
    """
    eps = [f * epsilon for f in _HAJEK_SPLIT]
    sens = (bound / clip, 1.0 / clip, (bound / clip) ** 2, 1.0 / clip**2)
    keys = ("A", "B", "Q", "V")
    mechs = {k: LaplaceMechanism(e, s) for k, e, s in zip(keys, eps, sens)}
    what = {"A": "sum w v", "B": "sum w", "Q": "sum w^2 v^2", "V": "sum w^2"}
    means, draws = np.empty(2), np.empty((2, n_draws))
    per_arm: dict[str, list[PrivacyEvent]] = {k: [] for k in keys}
    for row, (arm, mask) in enumerate(((1, treated), (0, ~treated))):
        wa, va = w[mask], values[mask]
        true = {"A": wa @ va, "B": wa.sum(), "Q": (wa * va) @ (wa * va), "V": wa @ wa}
        rel = {k: mechs[k].randomise(float(true[k]), noise) for k in keys}
        if released is not None:
            for k in keys:
                released.setdefault(k, np.zeros(2))[arm] = rel[k]
        for k in keys:
            per_arm[k].append(mechs[k].event(f"{label}, arm {arm}: {what[k]}"))
        B = max(rel["B"], 1.0)
        mean = float(np.clip(rel["A"] / B, -bound, bound))  # a weighted mean of |v| <= bound
        means[row] = mean
        # Var(mean) ~ sum w^2 (v - mean)^2 / B^2 <= (sqrt(Q) + |mean| sqrt(V))^2 / B^2, with Q and
        # V at plausible true values (released value minus a fresh draw of its noise).
        q = np.maximum(rel["Q"] - mechs["Q"].scale * rng.laplace(size=n_draws), 0.0)
        v = np.maximum(rel["V"] - mechs["V"].scale * rng.laplace(size=n_draws), 0.0)
        sd = (np.sqrt(q) + abs(mean) * np.sqrt(v)) / B
        la = mechs["A"].scale * rng.laplace(size=n_draws)
        lb = mechs["B"].scale * rng.laplace(size=n_draws)
        privacy = (rel["A"] + la) / np.maximum(B + lb, 1.0) - rel["A"] / B
        draws[row] = rng.standard_normal(n_draws) * sd + privacy
    events = [parallel(per_arm[k], f"{label}: {what[k]}, both arms") for k in keys]
    return means, draws, events


class InversePropensityWeighting(ATEEstimator):
    """IPW ATE with a DP propensity model, clipped weights and noisy weighted sums.

    Parameters
    ----------
    epsilon : float
        Total privacy budget; ``inf`` is the non-private twin (no noise anywhere).
    delta : float
        Accepted for a uniform interface; the release is pure epsilon-DP (delta 0).
    clip : float
        Propensities are clipped to ``[clip, 1 - clip]``; weights are at most ``1/clip``.
    normalization : {"hajek", "ht"}
        Hajek (normalised weights, per-arm ratio of noisy sums) or Horvitz-Thompson.
    propensity_share : float
        Share of epsilon for the propensity model; the rest goes to the weighted sums.
    C : float or "auto"
        Inverse ridge strength of the propensity model (see ``PrivateLogisticModel``).
    n_draws : int
        Bootstrap draws for the interval.
    random_state : None, int or Generator
        None: secure noise (OS CSPRNG). A seed makes everything reproducible (experiments only).
    knots : None or int
        None (default): the propensity model is linear in each encoded covariate. An integer
        ``m >= 3``: each numeric covariate enters it through ``m`` piecewise-linear hat functions
        on knots placed by its declared bounds (:mod:`privcausal.estimators.basis`; no budget).

    Attributes
    ----------
    ate_, ate_draws_, privacy_
    propensity_ : the released DP propensity model (``coef_`` on the unit-ball design)
    noisy_stats_ : dict, the released noisy sums: ``A``, ``B``, ``Q``, ``V`` per arm (control,
        treated) for Hajek, ``sum``, ``count``, ``sum_sq`` of the pseudo-outcomes for HT; and
        ``clipped_histogram`` (records beyond and within the clip)
    clipped_share_ : float, the released share of records whose propensity was clipped
    """

    #: the events depend on epsilon, delta and the declared domain only (see ReplicatedATE)
    fixed_mechanism = True
    #: what the interval accounts for (shown beside it in the demo, the CLI and summary())
    interval_covers = (
        "sampling and the weighted means' privacy noise, given the fitted propensity model "
        "(its own noise and misspecification are not in the interval, nor the bias of clipping "
        "propensities: clipped_share_ estimates how many records it concerns)"
    )

    def __init__(
        self,
        *,
        epsilon: float = 1.0,
        delta: float = 0.0,
        clip: float = 0.05,
        normalization: str = "hajek",
        propensity_share: float = 0.3,
        C: float | str = "auto",
        n_draws: int = 2000,
        random_state: Any = None,
        knots: int | None = None,
    ) -> None:
        self.epsilon = epsilon
        self.delta = delta
        self.clip = clip
        self.normalization = normalization
        self.propensity_share = propensity_share
        self.C = C
        self.n_draws = n_draws
        self.random_state = random_state
        self.knots = knots

    def _fit(self, data: CausalData) -> None:
        if self.normalization not in ("hajek", "ht"):
            raise PrivacyParameterError("normalization must be 'hajek' or 'ht'")
        share = float(self.propensity_share)
        if not 0.0 < share < 1.0:
            raise PrivacyParameterError("propensity_share must lie in (0, 1)")
        clip = check_clip(self.clip)
        eps = float(self.epsilon)
        eps_e, eps_agg = share * eps, (1.0 - share) * eps
        # three independent streams: an int seed given to each would make them copies
        s_boot, s_noise, s_model = independent_streams(self.random_state, 3)
        rng = check_random_state(s_boot)
        noise = noise_source(s_noise)
        knots = check_knots(self.knots)
        # a public basis from the declared bounds keeps the row norm bound (estimators.basis)
        X = data.X if knots is None else HatBasis(data.encoder, knots).transform(data.X)
        model = PrivateLogisticModel(epsilon=eps_e, C=self.C, random_state=seeded_rng(s_model))
        model.fit(X, data.treatment, row_norm_bound=data.encoder.row_norm_bound,
                  label="propensity model")
        e_raw = model.predict_proba(X)
        e = np.clip(e_raw, clip, 1.0 - clip)
        clip_hist, clipped_share, clip_event = release_clipped_share(
            e_raw, clip, CLIP_COUNT_SHARE * eps_agg, noise, estimator="IPW")
        eps_agg = (1.0 - CLIP_COUNT_SHARE) * eps_agg
        t = data.treatment == 1
        w = np.where(t, 1.0 / e, 1.0 / (1.0 - e))
        ob = data.domain.outcome
        m, h = ob.center, 0.5 * ob.width
        yc = data.outcome - m
        if self.normalization == "hajek":
            stats: dict[str, Any] = {}
            means, arm_draws, agg = hajek_arms(t, w, yc, h, clip, eps_agg, noise=noise, rng=rng,
                                               n_draws=int(self.n_draws), label="IPW", released=stats)
            ate, draws = means[0] - means[1], arm_draws[0] - arm_draws[1]
        else:
            psi = np.where(t, w * yc, -w * yc)
            pm = private_mean(psi, h / clip, eps_agg, count_weight=math.sqrt(clip), noise=noise,
                              rng=rng, n_draws=int(self.n_draws), label="IPW (Horvitz-Thompson) pseudo-outcomes")
            ate, draws, agg, stats = pm.estimate, pm.draws, list(pm.events), pm.released
        self.propensity_ = model
        stats["clipped_histogram"] = clip_hist  # [beyond the clip, within it]
        self.clipped_share_ = clipped_share
        self.noisy_stats_ = stats
        self.ate_ = float(ate)
        self.ate_draws_ = draws
        self.privacy_ = make_receipt(
            f"ATE by inverse propensity weighting ({self.normalization})",
            [model.event_, *agg, clip_event],
            noise=noise.description,
            epsilon_budget=eps,
            delta_budget=float(self.delta),
            notes=(
                f"budget: {share:g} of epsilon to the propensity model, {(1 - share) * (1 - CLIP_COUNT_SHARE):.3g} "
                f"to the weighted sums, {(1 - share) * CLIP_COUNT_SHARE:.3g} to the count of clipped "
                "propensities (basic composition)",
                f"propensity: logistic regression by {model.event_.mechanism}, ridge C={model.C_:.3g}; "
                "the guarantee assumes the exact minimiser (L-BFGS to tol)",
                f"propensities clipped to [{clip:g}, {1 - clip:g}]; weights at most {1 / clip:g}",
                ("propensity design: linear in each encoded covariate" if knots is None else
                 f"propensity design: {knots} hat functions per numeric covariate, knots from the declared "
                 "bounds (public; same row norm bound)"),
                "sensitivities from the declared outcome bounds and the clipping; the two arms' sums "
                "compose in parallel (a record is in one arm)",
            ),
        )

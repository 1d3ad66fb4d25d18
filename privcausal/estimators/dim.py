"""Private difference in means from noisy per-arm counts and outcome sums.

The release, per treatment arm (records of different arms are disjoint, so the arms compose in
parallel and each gets the whole budget; neighbouring = add/remove one record):

1. the arm's size with Laplace noise (sensitivity 1), at ``count_share * epsilon``;
2. the sum of the centred outcome ``u = y - c`` with Laplace noise, where ``c`` is the centre
   of the declared outcome domain: ``|u| <= B = (upper - lower)/2``, half the sensitivity of
   an uncentred sum;
3. for a non-binary outcome only, the sum of ``u^2 - B^2/2`` (sensitivity ``B^2/2``) at
   ``var_share`` of what the counts left; only the interval's data model uses it (a binary
   outcome's variance follows from its mean).

The arm mean is ``c + noisy sum / noisy count`` (clipped to the domain) and the ATE is the
difference of the arm means. Counts are never treated as public. For these few scalars the
Laplace mechanism beats the Gaussian one at every epsilon of interest when delta is small.

The interval is a parametric bootstrap (:mod:`privcausal.estimators.intervals`): arm sizes,
means and variances fitted to the noisy statistics, the whole release re-simulated (sampling
and privacy noise, same budget split) and the basic bootstrap interval taken.

References
----------
.. [1] Dwork, McSherry, Nissim, Smith, "Calibrating noise to sensitivity in private data
   analysis", TCC 2006.
.. [2] Ferrando, Wang, Sheldon, "Parametric bootstrap for differentially private confidence
   intervals", AISTATS 2022.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from privcausal.data.causal_data import CausalData
from privcausal.domain import Domain
from privcausal.estimators.base import ATEEstimator
from privcausal.estimators.intervals import check_n_bootstrap
from privcausal.estimators.moments import (  # noqa: F401  (re-exported: DiM's release, step by step)
    ARMS,
    MomentPlan,
    arm_means,
    check_share,
    dim_bootstrap,
    moment_events,
    moment_plan,
    release_counts,
    release_sums,
)
from privcausal.estimators.sufficient import SufficientStats
from privcausal.exceptions import DataValidationError
from privcausal.privacy import make_receipt, noise_source
from privcausal.privacy.diagnostics import LocalDiagnostics
from privcausal.validation import check_delta, check_epsilon, check_random_state

__all__ = ["DifferenceInMeans", "MomentPlan", "moment_plan", "release_counts", "release_sums",
           "moment_events", "arm_means", "dim_bootstrap", "check_share", "ARMS"]

class DifferenceInMeans(ATEEstimator):
    """Private difference in means (for trials; biased under confounding).

    Parameters
    ----------
    epsilon : float
        Total budget (each arm gets all of it: the arms hold disjoint records). ``inf`` is the
        non-private twin.
    delta : float
        Unused by the release (pure epsilon-DP, Laplace noise); kept for a uniform interface.
    count_share : float
        Share of epsilon for the noisy counts (the rest goes to the outcome sums).
    var_share : float
        For a non-binary outcome, share of the sums' budget for the sum of squares that the
        interval's data model needs (0: use the widest variance the domain allows).
    n_bootstrap : int
        Parametric bootstrap replicates for :meth:`ate_interval` (0: no interval).
    random_state : None, int or Generator
        None: release noise from the OS CSPRNG. A seed makes the noise reproducible (for
        experiments only: anyone who knows the seed can remove it).

    Attributes
    ----------
    ate_ : float
    privacy_ : Receipt
    n_ : int
    arm_means_ : (2,) released arm means (control, treated) on the outcome's scale
    n_noisy_ : (2,) released noisy arm sizes
    noisy_stats_ : dict of (2,) arrays, every released noisy statistic per arm (control,
        treated): ``count``, ``sum`` (of centred outcomes) and, for a non-binary outcome,
        ``sum_sq`` (as :func:`release_sums` returns it); the release is post-processing of these
    ate_draws_ : (n_bootstrap,) bootstrap draws of (release - truth) under the fitted model
    """

    #: the events depend on epsilon, delta and the declared domain only (see ReplicatedATE)
    fixed_mechanism = True
    #: what the interval accounts for (shown beside it in the demo, the CLI and summary())
    interval_covers = (
        "sampling and privacy noise (parametric bootstrap); the difference in means is not "
        "adjusted, so under confounding it covers the wrong quantity"
    )

    def __init__(self, *, epsilon: float = 1.0, delta: float = 1e-6, count_share: float = 0.2,
                 var_share: float = 0.1, n_bootstrap: int = 2000, random_state: Any = None) -> None:
        self.epsilon = epsilon
        self.delta = delta
        self.count_share = count_share
        self.var_share = var_share
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    def _fit(self, data: CausalData) -> None:
        t = data.treatment
        u = data.outcome - data.domain.outcome.center
        n = np.array([np.sum(t == 0), np.sum(t == 1)], dtype=np.float64)
        su = np.array([u[t == 0].sum(), u[t == 1].sum()])
        suu = np.array([u[t == 0] @ u[t == 0], u[t == 1] @ u[t == 1]])
        self._release(n, su, suu, data.domain.outcome, dict(data.clipped))

    def fit_stats(self, stats: SufficientStats, domain: Domain, *, clipped: dict[str, int] | None = None
                  ) -> "DifferenceInMeans":
        """Release from per-arm :class:`SufficientStats` (intercept first; streamed or summed).

        Only the intercept column and the outcome sums are used: ``n_a = sum 1``,
        ``sum u = sum y - c n_a``, ``sum u^2 = sum y^2 - 2 c sum y + c^2 n_a``. The outcomes must
        have been clipped to ``domain``; the same statistics and seed give the same release as
        :meth:`fit` (up to floating-point rounding).
        """
        if not isinstance(stats, SufficientStats):
            raise DataValidationError(f"stats must be SufficientStats, got {type(stats).__name__}")
        if not isinstance(domain, Domain):
            raise DataValidationError("domain must be the privcausal Domain of the statistics")
        check_epsilon(self.epsilon)
        check_delta(self.delta)
        if min(stats.n) < 2:
            raise DataValidationError("need at least 2 records in each arm to estimate a treatment effect")
        c = domain.outcome.center
        n = stats.zz[:, 0, 0].astype(np.float64)
        sy = stats.zy[:, 0]
        self.diagnostics_ = LocalDiagnostics.of_stats(stats, clipped)
        self._release(n, sy - c * n, stats.yy - 2 * c * sy + c * c * n, domain.outcome, dict(clipped or {}))
        return self

    def _plan(self, outcome: Any) -> MomentPlan:
        return moment_plan(
            self.epsilon, count_share=check_share(self.count_share, "count_share"),
            var_share=check_share(self.var_share, "var_share", allow_zero=True),
            bound=outcome.width / 2, binary=outcome.binary,
        )

    def _release(self, n: np.ndarray, su: np.ndarray, suu: np.ndarray, outcome: Any,
                 clipped: dict[str, int]) -> None:
        plan = self._plan(outcome)
        b = check_n_bootstrap(self.n_bootstrap)
        rng = check_random_state(self.random_state) if self.random_state is not None else None
        noise = noise_source(rng)
        n_noisy = release_counts(n, plan, noise)
        s_noisy, q_noisy = release_sums(n, n_noisy, su, suu, plan, noise)
        m = arm_means(n_noisy, s_noisy, plan.bound)
        self.n_noisy_ = n_noisy
        self.noisy_stats_ = {"count": n_noisy, "sum": s_noisy}
        if q_noisy is not None:
            self.noisy_stats_["sum_sq"] = q_noisy
        self.arm_means_ = m + outcome.center
        self.ate_ = float(m[1] - m[0])
        events = moment_events(plan)
        self.privacy_ = make_receipt(
            "difference in means (noisy per-arm counts and sums)", events,
            noise=noise.description, epsilon_budget=check_epsilon(self.epsilon),
            delta_budget=0.0 if not math.isfinite(self.epsilon) else float(self.delta),
            notes=(f"budget split: counts {plan.eps_count:.4g}, sums {plan.eps_sum:.4g}, sums of "
                   f"squares {plan.eps_sq:.4g} (per arm; arms in parallel)",),
        )
        self.ate_draws_ = None
        if b:
            self.ate_draws_ = dim_bootstrap(n_noisy, s_noisy, q_noisy, plan, outcome.binary, b,
                                            check_random_state(rng))

"""Private regression adjustment (Lin's estimator) from noisy per-arm sufficient statistics.

The estimate is Lin's interacted regression read as two arm-wise fits:
``ATE = mu_1 - mu_0`` with ``mu_a = ybar_a + beta_a'(xbar - xbar_a)``, where ``beta_a`` is the
ridge-regularised slope of the outcome on the covariates within arm ``a`` and ``xbar`` the
pooled covariate mean. When ``beta_a = 0`` this is the difference in means, so shrinking the
slopes moves the estimate towards DiM, never somewhere arbitrary. All of it is
post-processing of sums over records, released with noise once per arm (the arms hold
disjoint records and compose in parallel: each gets the whole budget).

The release (neighbouring = add/remove one record; sensitivities from the Domain only):

* **stage 1**: noisy arm sizes, Laplace, ``count_share * epsilon`` (as in DiM).
* **plan**: with ``adjust="auto"`` the noisy sizes choose the plan. Slopes can only be learnt
  if an arm holds enough records for its covariance to rise above the noise on the released
  Gram matrix; with ``tau`` the expected spectral norm of that noise, the adjusted plan runs
  when ``min(noisy sizes) >= min_ratio * tau`` and the DiM plan otherwise (small data, small
  budgets: IHDP's 139 treated records at epsilon = 1). Both plans spend ``(1 - count_share) *
  epsilon`` and ``delta``, so the adaptive choice composes by basic composition.
* **DiM plan**: exactly :class:`~privcausal.estimators.dim.DifferenceInMeans`' release.
* **adjusted plan**: the outcome sum with Laplace noise at ``(1 - gauss_share)`` of the stage-2
  budget, and one Gaussian mechanism (analytic calibration, ``gauss_share`` of it and all of
  ``delta``) on the stacked, weighted vector of ``sum x`` (sensitivity ``sqrt(G)``, ``G`` the
  number of covariate columns), ``sum x x'`` (below), ``sum x u`` (``sqrt(G) B``) and, for a
  non-binary outcome, ``sum (u^2 - B^2/2)`` (``B^2/2``); ``weights`` split the mechanism's
  privacy between them (``sum_k w_k = 1``, noise sd ``sigma * Delta_k / sqrt(w_k)``).

The Gram matrix is released sparingly. Columns are reference-coded (a categorical column's
first category is dropped: it is collinear with the intercept). Within a covariate column's
block everything is known from ``sum x`` or is zero (dummies of one categorical column, and a
missing indicator with its value, are mutually exclusive 0/1 columns: ``x_j x_k = 0``,
``x_j^2 = x_j``), so only entries between different columns and squares of numeric features
are released. Each column contributes at most 1 to ``||x||^2``, so the released entries'
sensitivity is ``sqrt(G (G - 1) / 2 + G_numeric)`` (vs ``G`` for the whole matrix).

Slopes: ``beta_a = (C_a + Lambda)^-1 c_a`` with ``C_a`` the noisy centred Gram projected onto
the PSD cone, ``c_a`` the noisy centred cross-product, and the diagonal ridge
``Lambda_jj = ridge[0] * tau`` for numeric features and ``ridge[1] * tau`` for 0/1 indicator
features (categorical levels, missing indicators). A small ridge on numeric slopes keeps the
solve stable. A large one on indicators shrinks level effects as a random-effects model
would: with many levels (hospital centres) a level's noisy cross-products with every other
column add about ``sigma^2 / count`` to the partialled-out Gram, which otherwise inflates the
adjustment. Constants were chosen on the simulated registry and IHDP (see
``experiments/trauma_regression_check.md``).

Accounting: per arm, stage 1 and stage 2 compose sequentially (basic composition: exactly
``epsilon`` and ``delta``); the arms compose in parallel. Because the plan is chosen from
released counts, the receipt wraps stage 2 in one event accounted by a pair that dominates both
plans (Laplace at the stage-2 epsilon with the plan's Gaussian): PLD and RDP stay sound under the
adaptive choice but are looser than basic composition, so the receipt reports basic composition
and its RDP cross-check is larger than epsilon. ``adjust="always"`` or ``"never"`` removes the
choice (and the wrapper).

Interval: a parametric bootstrap (:mod:`privcausal.estimators.intervals`). Each arm's data model
(covariate mean and covariance, slope, residual variance) is fitted to the noisy statistics;
replicates draw exact statistics from it (Wishart Gram matrices) and rerun the whole release,
plan choice included. In the DiM plan the replicates rerun the DiM release.

Plan ladder (``reduce``): before the DiM plan, ``adjust="auto"`` tries designs without some
covariate columns, in an order fixed before the data (by default the categorical columns with
the most declared levels first), and releases the first one whose adjusted plan is feasible at
the noisy sizes; the estimate then adjusts for the remaining columns only, and says which it
left out. A small, strongly confounded study (the simulated registry with n = 2,000 at
epsilon = 1) is thus adjusted for everything but the 40 centres instead of not at all.

Limits: the plan rule only weighs noise against arm size, not how strong the confounding is:
use ``adjust="always"`` when confounding is known to be strong, or a ``reduce`` order that drops
the weakest confounders first. Conversely, when the declared
outcome domain is wide relative to the outcome's spread (IHDP: (-5, 20) for an outcome with sd
about 1.5), the noise on ``sum x u`` dominates and the adjusted plan, chosen at very large
epsilon (about 30 and above on IHDP), is noisier than DiM.

Why not plain AdaSSP (:mod:`privcausal.estimators.adassp`) on ``[1, T, X, T X]``: a third of
the budget goes to a smallest eigenvalue that is about 0 for such designs; its ridge scales
with ``d B^2 / epsilon`` and its noise with ``B_X^2`` over the whole matrix, so at IHDP's
size it shrinks everything, and the intercept's noise (sensitivity ``B_X^2``) swamps the arm
means that the ATE needs most.

References
----------
.. [1] W. Lin, "Agnostic notes on regression adjustments to experimental data: reexamining
   Freedman's critique", Annals of Applied Statistics 7(1), 2013.
.. [2] Y.-X. Wang, "Revisiting differentially private linear regression", UAI 2018.
.. [3] Balle and Wang, "Improving the Gaussian mechanism for differential privacy", ICML 2018.
.. [4] Rogers, Roth, Ullman, Vadhan, "Privacy odometers and filters: pay-as-you-go
   composition", NeurIPS 2016 (basic composition under adaptively chosen mechanisms).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence


from privcausal.data.causal_data import CausalData
from privcausal.domain import Categorical, Domain
from privcausal.estimators.base import ATEEstimator
from privcausal.estimators.moments import check_share
from privcausal.estimators.intervals import check_n_bootstrap
from privcausal.estimators.regression_bootstrap import bootstrap_draws, noisy_stats
from privcausal.estimators.regression_release import (
    Config, DesignLayout, arm_stats, receipt_events, release,
)
from privcausal.estimators.sufficient import SufficientStats, compute_stats_with_intercept
from privcausal.exceptions import DataValidationError, PrivacyParameterError
from privcausal.privacy import make_receipt, noise_source
from privcausal.privacy.diagnostics import LocalDiagnostics
from privcausal.validation import check_delta, check_epsilon, check_random_state

__all__ = ["RegressionAdjustment", "stats_for"]


def stats_for(data: CausalData) -> SufficientStats:
    """Per-arm statistics of ``[1, data.X]`` and the raw outcome (the layout fit_stats expects)."""
    return compute_stats_with_intercept(data.X, data.treatment, data.outcome)


class RegressionAdjustment(ATEEstimator):
    """Private Lin regression adjustment; falls back to the DiM release when data are few.

    Parameters
    ----------
    epsilon, delta : float
        Total budget; each arm gets all of it (parallel composition). ``epsilon = inf`` is the
        non-private twin (exact statistics, OLS slopes, sampling-only interval).
    count_share : float
        Share of epsilon for the noisy arm sizes (stage 1).
    gauss_share : float
        In the adjusted plan, share of the stage-2 epsilon for the Gaussian release of the
        covariate statistics (the rest: the Laplace outcome sums).
    var_share : float
        In the DiM plan with a non-binary outcome, share of stage 2 for the sum of squares.
    weights : (float, float, float, float)
        Privacy weights of ``sum x``, ``sum x x'``, ``sum x u`` and ``sum u^2`` inside the
        Gaussian mechanism (the last one only for a non-binary outcome); renormalised.
    ridge : (float, float)
        Ridge as multiples of the noise norm ``tau``: numeric features, 0/1 indicator features.
    min_ratio : float
        ``adjust="auto"`` runs the adjusted plan when ``min(noisy arm sizes) >= min_ratio *
        tau``.
    adjust : {"auto", "always", "never"}
        "never" is DifferenceInMeans' release; "always" skips the choice (non-adaptive).
    reduce : "auto", "none" or a sequence of covariate names
        The plan ladder of ``adjust="auto"``: when the full design's adjusted plan is not
        feasible at the noisy sizes, try designs without some covariate columns before falling
        back to the DiM plan. "auto" drops the categorical columns with the most declared levels
        first (hospital centres before injury mechanism), one at a time, never a numeric column;
        a sequence names the columns to drop, in that order (a public prior: least important
        confounders first); "none" goes straight to the DiM plan. The order is fixed by the
        domain (or the analyst) before the data; the choice reads only the noisy sizes, and
        every rung spends the same stage-2 budget with a Gaussian of the same zCDP, so the
        dominating pair of the receipt covers the whole ladder. ``adjusted_for_`` and
        ``not_adjusted_for_`` say what was used, and a warning names what was dropped.
    n_bootstrap : int
        Parametric bootstrap replicates for :meth:`ate_interval` (0: none).
    random_state : None, int or Generator
        None: release noise from the OS CSPRNG; a seed is for experiments only.

    Attributes
    ----------
    ate_, privacy_, n_, ate_draws_
    plan_ : str, "adjusted" or "dim"
    adjusted_for_, not_adjusted_for_ : covariate columns the released estimate adjusts for, and
        the declared ones it does not (the ladder's drops; all of them in the DiM plan)
    coef_ : (2, p) released slopes per arm (zeros in the DiM plan)
    feature_names_ : names of the reference-coded features
    noise_norm_ : the noise norm ``tau`` the ridge and the plan used (0 when non-private)
    noisy_stats_ : dict of per-arm arrays, every noisy statistic released
        (:func:`~privcausal.estimators.regression_release.noisy_stats`)
    """

    #: what the interval accounts for (shown beside it in the demo, the CLI and summary())
    _INTERVAL_COVERS = (
        "sampling and privacy noise (parametric bootstrap of the whole release, plan choice "
        "included, its data model's covariance corrected for the noise it carries by SIMEX), "
        "under a linear outcome model in each arm"
    )

    @property
    def interval_covers(self) -> str:
        """What the interval accounts for; after a reduced or DiM plan, also what it does not."""
        left = getattr(self, "not_adjusted_for_", ())
        if not left:
            return self._INTERVAL_COVERS
        return (self._INTERVAL_COVERS + f"; NOT the confounding through {list(left)}, which this "
                "release does not adjust for")

    def __init__(self, *, epsilon: float = 1.0, delta: float = 1e-6, count_share: float = 0.2,
                 gauss_share: float = 0.9, var_share: float = 0.1,
                 weights: Sequence[float] = (0.2, 0.5, 0.3, 0.05), ridge: Sequence[float] = (0.1, 3.0),
                 min_ratio: float = 2.0, adjust: str = "auto", reduce: Any = "auto",
                 n_bootstrap: int = 1000, random_state: Any = None) -> None:
        self.epsilon = epsilon
        self.delta = delta
        self.count_share = count_share
        self.gauss_share = gauss_share
        self.var_share = var_share
        self.weights = weights
        self.ridge = ridge
        self.min_ratio = min_ratio
        self.adjust = adjust
        self.reduce = reduce
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    def _fit(self, data: CausalData) -> None:
        self._fit_stats(stats_for(data), data.domain, dict(data.clipped))

    def fit_stats(self, stats: SufficientStats, domain: Domain, *, clipped: dict[str, int] | None = None
                  ) -> "RegressionAdjustment":
        """Release from per-arm statistics of ``[1, encoded covariates]`` (see :func:`stats_for`).

        The statistics must come from records clipped to ``domain`` and encoded by its
        :class:`~privcausal.design.DesignEncoder` (as :mod:`privcausal.estimators.streaming`
        does), so that the declared sensitivities hold; the same statistics and seed give the
        same release as :meth:`fit`.
        """
        if not isinstance(stats, SufficientStats):
            raise DataValidationError(f"stats must be SufficientStats, got {type(stats).__name__}")
        if not isinstance(domain, Domain):
            raise DataValidationError("domain must be the privcausal Domain the statistics were encoded with")
        check_epsilon(self.epsilon)
        check_delta(self.delta)
        if min(stats.n) < 2:
            raise DataValidationError("need at least 2 records in each arm to estimate a treatment effect")
        self.diagnostics_ = LocalDiagnostics.of_stats(stats, clipped)
        self._fit_stats(stats, domain, dict(clipped or {}))
        return self

    def _config(self, domain: Domain) -> Config:
        eps = check_epsilon(self.epsilon)
        dlt = check_delta(self.delta)
        if math.isfinite(eps) and dlt == 0:
            raise PrivacyParameterError("the adjusted plan uses Gaussian noise and needs delta > 0")
        if self.adjust not in ("auto", "always", "never"):
            raise PrivacyParameterError("adjust must be 'auto', 'always' or 'never'")
        w = [float(x) for x in self.weights]
        r = [float(x) for x in self.ridge]
        if len(w) != 4 or min(w) <= 0 or len(r) != 2 or min(r) < 0 or float(self.min_ratio) < 0:
            raise PrivacyParameterError("weights need 4 positive values, ridge 2 values >= 0, min_ratio >= 0")
        kw = dict(count_share=check_share(self.count_share, "count_share"),
                  gauss_share=check_share(self.gauss_share, "gauss_share"),
                  var_share=check_share(self.var_share, "var_share", allow_zero=True),
                  weights=w, ridge=r, min_ratio=float(self.min_ratio), adjust=self.adjust)
        full = DesignLayout.from_domain(domain)
        cfg = Config.make(full, eps, dlt, domain.outcome, **kw)
        if self.adjust != "auto":
            return cfg
        rungs = []  # (dropped columns, config), from the most reduced design up
        dropped: list[str] = []
        for col in _drop_order(domain, self.reduce):
            dropped.append(col)
            layout = full.without(set(dropped))
            if layout.p == 0:
                break
            rungs.append((tuple(dropped), Config.make(layout, eps, dlt, domain.outcome, **kw)))
        fallback = None
        for names, c in reversed(rungs):
            fallback = dataclasses.replace(c, fallback=fallback, dropped=names)
        return dataclasses.replace(cfg, fallback=fallback)

    def _fit_stats(self, stats: SufficientStats, domain: Domain, clipped: dict[str, int]) -> None:
        cfg = self._config(domain)
        if stats.p != cfg.layout.n_encoded + 1:
            raise DataValidationError(
                f"the statistics have {stats.p} design columns but the domain encodes "
                f"{cfg.layout.n_encoded} features plus the intercept"
            )
        b = check_n_bootstrap(self.n_bootstrap)
        rng = check_random_state(self.random_state) if self.random_state is not None else None
        noise = noise_source(rng)
        arms = arm_stats(stats, cfg.layout, domain.outcome.center)
        rel = release(arms, cfg, noise)
        self.ate_ = rel.ate
        self.plan_ = rel.plan
        top, cfg = cfg, rel.config or cfg  # the design released: a reduced one on the ladder
        used = cfg.layout.columns if rel.plan == "adjusted" else ()
        self.adjusted_for_ = tuple(used)
        self.not_adjusted_for_ = tuple(c for c in top.layout.columns if c not in used)
        if cfg.adjust == "auto" and top.layout.p > 0 and self.not_adjusted_for_:
            import warnings

            from privcausal.exceptions import (
                PARTIAL_ADJUSTMENT_WARNING,
                UNADJUSTED_WARNING,
                UnadjustedEstimateWarning,
            )

            msg = (UNADJUSTED_WARNING.format(epsilon=cfg.epsilon) if rel.plan == "dim" else
                   PARTIAL_ADJUSTMENT_WARNING.format(epsilon=cfg.epsilon,
                                                     dropped=list(self.not_adjusted_for_)))
            warnings.warn(msg, UnadjustedEstimateWarning, stacklevel=3)
        self.coef_ = rel.beta
        self.n_noisy_ = rel.n_noisy
        self.noisy_stats_ = noisy_stats(rel, cfg)
        self.noise_norm_ = cfg.tau
        self.feature_names_ = cfg.layout.names
        self.privacy_ = make_receipt(
            f"regression adjustment (Lin), {rel.plan} plan", receipt_events(cfg, rel.plan),
            noise=noise.description, epsilon_budget=cfg.epsilon,
            delta_budget=cfg.delta if math.isfinite(cfg.epsilon) else 0.0,
            notes=cfg.notes(rel.plan) + ((
                f"plan ladder: the full design was not feasible at the noisy sizes; released the "
                f"design without {list(cfg.dropped)} (declared drop order, chosen on noisy sizes)",)
                if cfg.dropped else ()),
        )
        self.ate_draws_ = bootstrap_draws(rel, cfg, b, check_random_state(rng)) if b else None


def _drop_order(domain: Domain, reduce: Any) -> list[str]:
    """The plan ladder's order of columns to drop (public: the domain's structure or the
    analyst's list), see ``reduce``."""
    if isinstance(reduce, str):
        if reduce == "none":
            return []
        if reduce != "auto":
            raise PrivacyParameterError("reduce must be 'auto', 'none' or a sequence of covariate names")
        cats = [(len(spec.categories), i, name) for i, (name, spec) in enumerate(domain.covariates.items())
                if isinstance(spec, Categorical)]
        return [name for _, _, name in sorted(cats, key=lambda t: (-t[0], -t[1]))]
    names = [str(c) for c in reduce]
    unknown = [c for c in names if c not in domain.covariates]
    if unknown:
        raise PrivacyParameterError(f"reduce names columns {unknown} that the domain does not declare")
    return names

"""Replicated private ATE: one estimator on disjoint random groups, an interval from their spread.

The private IPW and AIPW estimators state intervals *given* their private nuisance models: the
models' own noise (objective perturbation, noisy sufficient statistics) and estimation error
are left out, and at a few hundred records they dominate (issue #11 reported 12.1 [10.1, 13.9]
against a truth of 2.9 on IHDP at epsilon 4). No formula for that error is
available without the exact data, so this estimator measures it: records are assigned
i.i.d. uniformly to ``G`` groups, the base estimator runs on each group with the *whole*
budget, and the release is the mean of the ``G`` estimates with a Student t interval from
their spread,

    ``ate = mean(a_g)``,  ``[ate -+ t_{G-1}(1 - alpha/2) * sd(a_g) / sqrt(G)]``.

The ``a_g`` are independent given the data-generating law (disjoint records, independent
noise), so their spread carries every source of variation of one replicate: sampling, the
aggregate's noise, the nuisance models' noise and their estimation error. What it cannot
carry is a bias common to every replicate (propensity clipping, a misspecified outcome *and*
propensity model); ``interval_covers`` says so. Each replicate sees ``n / G`` records, so its
nuisance models are noisier than one fit on all the records: the release trades accuracy for
an interval that measures its error (``experiments/aipw_replicates.md``).

Privacy: adding or removing one record changes exactly one group (the groups are drawn
independently of the records, one draw per record), and each replicate is (epsilon,
delta)-DP in its group, so the ``G`` replicates together are (epsilon, delta)-DP by parallel
composition [1]; the mean and the interval are post-processing of the ``G`` noisy releases.
Only bases whose mechanisms are fixed before the data (``fixed_mechanism = True``: their
events depend on epsilon, delta and the declared domain only) are accepted, so every
replicate's receipt is the same and the parallel composition is exact.

References
----------
.. [1] McSherry, "Privacy integrated queries", SIGMOD 2009 (parallel composition).
.. [2] Smith, "Privacy-preserving statistical estimation with optimal convergence rates",
   STOC 2011 (subsample and aggregate).
.. [3] Covington, He, Honaker, Kamath, "Unbiased statistical estimation and valid confidence
   intervals under differential privacy", 2021 (intervals from disjoint private replicates).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from sklearn.base import clone

from privcausal.data.causal_data import CausalData
from privcausal.estimators.base import ATEEstimator
from privcausal.exceptions import DataTypeError, OverlapWarning, PrivacyParameterError
from privcausal.privacy import make_receipt, parallel
from privcausal.privacy.accounting import sequential
from privcausal.privacy.diagnostics import LocalDiagnostics
from privcausal.privacy.random import independent_streams
from privcausal.validation import ate_interval_alpha, check_random_state

__all__ = ["ReplicatedATE"]

_MIN_REPLICATES = 3


def _base_estimator(base: Any) -> ATEEstimator:
    if isinstance(base, str):
        from privcausal.estimators import ESTIMATORS, make_estimator

        spec = ESTIMATORS.get(base)
        if spec is None or not spec.private:
            private = [k for k, v in ESTIMATORS.items() if v.private]
            raise PrivacyParameterError(f"base: unknown private estimator {base!r}; one of {private}")
        base = make_estimator(base)
    if not isinstance(base, ATEEstimator):
        raise DataTypeError(f"base must be a privcausal ATE estimator or its name, got {type(base).__name__}")
    if not getattr(base, "fixed_mechanism", False):
        raise PrivacyParameterError(
            f"{type(base).__name__} chooses its mechanism from the data (or does not say it does not): "
            "its replicates' receipts could differ and parallel composition would not be exact; "
            "replicate an estimator with fixed_mechanism = True (dim, ipw, aipw)")
    return base


class ReplicatedATE(ATEEstimator):
    """A private ATE estimator run on ``n_replicates`` disjoint random groups (parallel
    composition), released as the mean of the replicates with a t interval from their spread.

    Parameters
    ----------
    base : str or ATEEstimator
        The estimator to replicate: a registered private name ("aipw", "ipw", "dim") or an
        instance (cloned; its epsilon, delta and random_state are replaced by this one's).
    n_replicates : int
        Number of groups G >= 3. More groups give a better-estimated spread (t with G - 1
        degrees of freedom) but fewer records, so noisier nuisance models, per replicate.
    epsilon, delta : float
        The budget of every replicate, and so of the whole release (parallel composition).
    random_state : None, int or Generator
        None: secure noise in each replicate. A seed makes groups and noise reproducible.

    Attributes
    ----------
    ate_ : float
        Mean of the replicate estimates.
    replicate_estimates_ : ndarray of shape (G,)
        The replicates' released (noisy) estimates.
    ate_se_ : float
        ``sd(replicate_estimates_) / sqrt(G)``.
    privacy_ : Receipt
    """

    interval_covers = (
        "sampling and every noise source, including the nuisance models' noise and estimation "
        "error, as the spread of independent replicates on disjoint groups (t interval); not a "
        "bias shared by every replicate (propensity clipping, misspecified models)"
    )
    fixed_mechanism = True

    def __init__(self, *, base: Any = "aipw", n_replicates: int = 4, epsilon: float = 1.0,
                 delta: float = 1e-6, random_state: Any = None) -> None:
        self.base = base
        self.n_replicates = n_replicates
        self.epsilon = epsilon
        self.delta = delta
        self.random_state = random_state

    def _fit(self, data: CausalData) -> None:
        G = self.n_replicates
        if isinstance(G, bool) or not isinstance(G, (int, np.integer)) or G < _MIN_REPLICATES:
            raise PrivacyParameterError(f"n_replicates must be an integer >= {_MIN_REPLICATES}")
        G = int(G)
        template = _base_estimator(self.base)
        streams = independent_streams(self.random_state, G + 1)
        groups = check_random_state(streams[0]).integers(0, G, size=data.n)  # one draw per record
        fits = []
        with warnings.catch_warnings(record=True) as caught:  # one warning per kind, not per replicate
            warnings.simplefilter("always")
            for g in range(G):
                est = clone(template).set_params(epsilon=self.epsilon, delta=self.delta, random_state=streams[g + 1])
                fits.append(est.fit(data.subset(groups == g)))
        shares = [f.clipped_share_ for f in fits if hasattr(f, "clipped_share_")]
        if shares:  # the replicates' released shares, averaged (post-processing)
            self.clipped_share_ = float(np.mean(shares))
        seen: set[tuple[type, str]] = set()
        for w in caught:
            if issubclass(w.category, OverlapWarning):
                continue  # re-raised once below, with the averaged share
            key = (w.category, str(w.message))
            if key not in seen:
                seen.add(key)
                warnings.warn(w.message, w.category, stacklevel=3)
        if shares and any(issubclass(w.category, OverlapWarning) for w in caught):
            warnings.warn(
                f"{G} replicates: about {100 * self.clipped_share_:.0f} % of the records (the replicates' "
                "noisy shares, averaged) have propensities beyond the clip: the estimate is then biased "
                "where overlap is poor, and the replicates' spread does not show a bias they share",
                OverlapWarning, stacklevel=3)
        a = np.array([f.ate_ for f in fits], dtype=np.float64)
        self.replicate_estimates_ = a
        self.ate_ = float(a.mean())
        self.ate_se_ = float(a.std(ddof=1) / math.sqrt(G))
        self.diagnostics_ = LocalDiagnostics.of(data, folds=groups)
        first = fits[0].privacy_
        parts = [sequential(f.privacy_.events, f"replicate {g + 1}: {f.privacy_.release}")
                 for g, f in enumerate(fits)]
        delta_used = first.delta if first.delta > 0 else None
        self.privacy_ = make_receipt(
            f"ATE as the mean of {G} replicates on disjoint random groups ({first.release})",
            [parallel(parts, f"{G} replicates on disjoint groups")],
            noise=first.noise,
            delta=delta_used,
            epsilon_budget=float(self.epsilon),
            delta_budget=float(self.delta),
            notes=(
                "groups assigned i.i.d. uniformly per record, independently of the data: adding or "
                "removing a record changes one group (parallel composition)",
                "each replicate is the base estimator with the whole budget on its group; the mean "
                "and the t interval are post-processing of the replicates' noisy estimates",
                *first.notes,
            ),
        )

    def ate_interval(self, X: Any = None, alpha: float = 0.05) -> tuple[float, float]:
        """``ate_ -+ t_{G-1}(1 - alpha/2) * ate_se_``: a Student t interval over the replicates."""
        self._check_fitted()
        a = ate_interval_alpha(X, alpha)
        from scipy.stats import t as student_t

        q = float(student_t.ppf(1 - a / 2, len(self.replicate_estimates_) - 1))
        return float(self.ate_ - q * self.ate_se_), float(self.ate_ + q * self.ate_se_)

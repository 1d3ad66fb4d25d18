"""privcausal's estimator releases as black-box mechanisms ``mechanism(data, random_state)``.

What an audit sees decides how tight it can be. The ATE is a post-processing of several noisy
statistics, so its distribution shift between D and D' is smaller than theirs, and an audit of
the ATE alone stays far below a composed release's epsilon. Each mechanism here therefore
outputs **every noisy statistic the estimator released** (its ``noisy_stats_``, and the
propensity model's coefficients for IPW), written in *mechanism coordinates*: the value each
noise-adding mechanism returned, with the post-processing shifts undone (the released sum of
squares is the mechanism's ``sum (u^2 - B^2/2)`` plus ``B^2/2`` times the noisy count; the
audit subtracts that again, a bijection given the count). With the per-coordinate noise
families (:meth:`EstimatorRelease.families`) the audit's test is the log-likelihood ratio of
the composed release (:func:`audits.releases.scores.product_llr`).

``mechanism(data, seed)`` fits the real estimator and reads its attributes. ``batch`` draws
many releases at once, through the estimator's own release functions (difference in means:
``release_counts``/``release_sums`` vectorised; regression: ``regression_release.release`` in
a loop with the estimator's own ``Config``), or by refitting the estimator in a loop (IPW,
AIPW: objective perturbation has no vectorised form), with BLAS on one thread and the design
matrix encoded once. The vectorised batches equal the estimator's fits exactly:
``batch(data, 1, seed)`` is ``mechanism(data, seed)``; the loops run ``mechanism(data, s_i)``
with seeds ``s_i`` drawn from ``seed`` (tested).

Names: ``dim``, ``regression-dim`` (``adjust="never"``), ``regression-adjusted``
(``adjust="always"``), ``ipw-hajek``, ``ipw-ht``, ``aipw-ht``, ``aipw-hajek`` (binary outcome,
logistic outcome models: pure epsilon, so the receipt needs no PLD accounting per fit), and
``adassp`` (:mod:`audits.releases.adassp`, on a pair of regression datasets ``Data(X, y)``).

References
----------
.. [1] Kong et al., "DP-Auditorium: a large scale library for auditing differential privacy",
   IEEE S&P 2024 (mechanisms as black boxes).
.. [2] Dwork and Roth, "The algorithmic foundations of differential privacy", 2014,
   Proposition 2.1 (post-processing: auditing the statistics bounds auditing the ATE).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from audits.releases.adassp import AdaSSPRelease
from audits.releases.neighbours import (Pair, aipw_neighbours, dim_neighbours, ipw_neighbours,
                               regression_neighbours)
from audits.releases.scores import ScoreLearner, product_llr
from privcausal.data.causal_data import CausalData
from privcausal.domain import Domain
from privcausal.exceptions import DataValidationError
from privcausal.privacy import Receipt, noise_source
from privcausal.validation import check_random_state

__all__ = ["EstimatorRelease", "RELEASES", "release_mechanism", "encoded_once"]


class _Encoded(CausalData):
    """The same records, with the (deterministic, domain-only) design matrix encoded once."""

    @property
    def X(self) -> np.ndarray:  # type: ignore[override]
        x = self.__dict__.get("_x_cache")
        if x is None:
            x = CausalData.X.fget(self)  # type: ignore[attr-defined]
            x.flags.writeable = False
            self.__dict__["_x_cache"] = x
        return x


def encoded_once(data: CausalData) -> CausalData:
    """``data`` with its design matrix cached (refits in a loop then skip re-encoding)."""
    if isinstance(data, _Encoded):
        return data
    return _Encoded(data.covariates, data.treatment, data.outcome, data.domain, name=data.name,
                    clipped=dict(data.clipped))


def _half_sq(data: CausalData) -> float:
    """``B^2/2``: the shift of the released sums of squares (per unit of noisy count)."""
    return (data.domain.outcome.width / 2) ** 2 / 2


class EstimatorRelease:
    """An estimator's private release as ``mechanism(data, random_state) -> vector``.

    Parameters
    ----------
    epsilon, delta : float
        The estimator's budget.
    **params
        Further keyword arguments of the estimator (its bootstrap is switched off: the
        interval is post-processing of the same statistics plus independent draws).
    """

    name = ""
    pair_builder: Any = None
    fixed: dict[str, Any] = {}

    def __init__(self, epsilon: float, delta: float = 1e-6, **params: Any) -> None:
        self.epsilon = float(epsilon)
        self.delta = float(delta)
        self.params = {**self.fixed, **params}

    # ----------------------------------------------------------------- subclass hooks
    def estimator(self, random_state: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def vector(self, est: Any, data: CausalData) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def families(self, data: CausalData) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def events_of(self, data: CausalData) -> list[int]:  # pragma: no cover - abstract
        """For each output coordinate, the index in ``receipt(data).events`` of its release."""
        raise NotImplementedError

    # ----------------------------------------------------------------- the mechanism
    def __call__(self, data: CausalData, random_state: Any) -> np.ndarray:
        return self.vector(self.estimator(random_state).fit(data), data)

    def batch(self, data: CausalData, n: int, random_state: Any) -> np.ndarray:
        """``n`` releases, refitting the estimator (BLAS on one thread, design encoded once)."""
        seeds = check_random_state(random_state).integers(0, 2**63 - 1, size=n)
        enc = encoded_once(data)
        with threadpool_limits(limits=1, user_api="blas"):
            return np.stack([self(enc, int(s)) for s in seeds])

    def receipt(self, data: CausalData) -> Receipt:
        """The receipt of one real fit: the epsilon and delta under audit."""
        return self.estimator(0).fit(data).privacy_

    def score(self, data: CausalData) -> ScoreLearner:
        """The Neyman-Pearson score for this release's outputs on ``data``'s domain."""
        return product_llr(self.families(data))

    def worst_case_pair(self, domain: Domain | None = None, **kwargs: Any) -> Pair:
        """The worst-case neighbouring datasets of :mod:`audits.releases.neighbours` for this release."""
        return type(self).pair_builder(domain, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(epsilon={self.epsilon:g}, delta={self.delta:g}, {self.params})"


# --------------------------------------------------------------------------- difference in means
class DiMRelease(EstimatorRelease):
    """Noisy counts, sums and (non-binary outcome) sums of squares, both arms (6 or 4 values)."""

    name = "dim"
    pair_builder = staticmethod(dim_neighbours)

    def estimator(self, random_state: Any) -> Any:
        from privcausal.estimators.dim import DifferenceInMeans

        return DifferenceInMeans(epsilon=self.epsilon, delta=self.delta, n_bootstrap=0,
                                 random_state=random_state, **self.params)

    @staticmethod
    def _stack(n_noisy: np.ndarray, s: np.ndarray, q: np.ndarray | None, half: float) -> np.ndarray:
        parts = [np.atleast_2d(n_noisy), np.atleast_2d(s)]
        if q is not None:
            parts.append(np.atleast_2d(q) - half * np.atleast_2d(n_noisy))
        return np.concatenate(parts, axis=1)

    def vector(self, est: Any, data: CausalData) -> np.ndarray:
        st = est.noisy_stats_
        return self._stack(st["count"], st["sum"], st.get("sum_sq"), _half_sq(data))[0]

    def families(self, data: CausalData) -> list[str]:
        return ["laplace"] * (4 if data.domain.outcome.binary else 6)

    def events_of(self, data: CausalData) -> list[int]:
        return [0, 0, 1, 1] + ([] if data.domain.outcome.binary else [2, 2])

    def batch(self, data: CausalData, n: int, random_state: Any) -> np.ndarray:
        """All ``n`` releases at once through ``release_counts``/``release_sums``."""
        from privcausal.estimators.moments import release_counts, release_sums

        plan = self.estimator(None)._plan(data.domain.outcome)
        t, u = data.treatment, data.outcome - data.domain.outcome.center
        cnt = np.array([np.sum(t == 0), np.sum(t == 1)], dtype=np.float64)
        su = np.array([u[t == 0].sum(), u[t == 1].sum()])
        suu = np.array([u[t == 0] @ u[t == 0], u[t == 1] @ u[t == 1]])
        noise = noise_source(check_random_state(random_state))
        nn = release_counts(cnt, plan, noise, (n,))
        s, q = release_sums(cnt, nn, su, suu, plan, noise, (n,))
        return self._stack(nn, s, q, _half_sq(data))


# --------------------------------------------------------------------------- regression
class RegressionRelease(EstimatorRelease):
    """Counts and outcome sums (Laplace), then the plan's statistics: sums of squares (DiM plan,
    Laplace) or the Gaussian block ``sum x``, Gram entries, ``sum x u``, sums of squares."""

    name = "regression-adjusted"
    pair_builder = staticmethod(regression_neighbours)
    fixed = {"adjust": "always"}

    def __init__(self, epsilon: float, delta: float = 1e-6, **params: Any) -> None:
        super().__init__(epsilon, delta, **params)
        if self.params.get("adjust") not in ("always", "never"):
            raise DataValidationError(
                "audit one plan at a time (adjust='always' or 'never'): the plan chosen by 'auto' "
                "changes which statistics are released")

    def estimator(self, random_state: Any) -> Any:
        from privcausal.estimators.regression import RegressionAdjustment

        return RegressionAdjustment(epsilon=self.epsilon, delta=self.delta, n_bootstrap=0,
                                    random_state=random_state, **self.params)

    def vector(self, est: Any, data: CausalData) -> np.ndarray:
        st = est.noisy_stats_
        parts = [st["count"], st["sum"]]
        parts += [st[k].ravel() for k in ("sum_x", "gram", "sum_xu") if k in st]
        if "sum_sq" in st:
            parts.append(st["sum_sq"] - _half_sq(data) * st["count"])
        return np.concatenate(parts)

    def families(self, data: CausalData) -> list[str]:
        from privcausal.estimators.regression_release import DesignLayout

        binary = data.domain.outcome.binary
        if self.params["adjust"] == "never":
            return ["laplace"] * (4 if binary else 6)
        lay = DesignLayout.from_domain(data.domain)
        k = 2 * (2 * lay.p + len(lay.rows) + (0 if binary else 1))
        return ["laplace"] * 4 + ["gaussian"] * k

    def events_of(self, data: CausalData) -> list[int]:
        # receipt events: counts, outcome sums, then sums of squares (DiM plan) or the Gaussian
        fam = self.families(data)
        return [0, 0, 1, 1] + [2] * (len(fam) - 4)

    def batch(self, data: CausalData, n: int, random_state: Any) -> np.ndarray:
        """``n`` runs of ``regression_release.release`` with the estimator's own ``Config``."""
        from privcausal.estimators.regression import stats_for
        from privcausal.estimators.regression_bootstrap import noisy_stats
        from privcausal.estimators.regression_release import arm_stats, release

        cfg = self.estimator(None)._config(data.domain)
        arms = arm_stats(stats_for(data), cfg.layout, data.domain.outcome.center)
        noise = noise_source(check_random_state(random_state))

        class _Fitted:  # what vector() reads off a fitted estimator
            noisy_stats_: dict[str, np.ndarray]

        f = _Fitted()
        out = []
        with threadpool_limits(limits=1, user_api="blas"):
            for _ in range(n):
                f.noisy_stats_ = noisy_stats(release(arms, cfg, noise), cfg)
                out.append(self.vector(f, data))
        return np.stack(out)


class RegressionDiMRelease(RegressionRelease):
    name = "regression-dim"
    fixed = {"adjust": "never"}

    def batch(self, data: CausalData, n: int, random_state: Any) -> np.ndarray:
        """All ``n`` releases at once: the DiM plan of ``regression_release.release`` is
        ``release_counts`` then ``release_sums`` with the ``Config``'s ``dim_plan``."""
        from privcausal.estimators.moments import release_counts, release_sums
        from privcausal.estimators.regression import stats_for
        from privcausal.estimators.regression_release import arm_stats

        cfg = self.estimator(None)._config(data.domain)
        arms = arm_stats(stats_for(data), cfg.layout, data.domain.outcome.center)
        cnt, su, suu = (np.array([a[k] for a in arms]) for k in ("n", "su", "suu"))
        noise = noise_source(check_random_state(random_state))
        nn = release_counts(cnt, cfg.dim_plan, noise, (n,))
        s, q = release_sums(cnt, nn, su, suu, cfg.dim_plan, noise, (n,))
        return DiMRelease._stack(nn, s, q, _half_sq(data))


# --------------------------------------------------------------------------- IPW and AIPW
class IPWRelease(EstimatorRelease):
    """The propensity model's coefficients, then the noisy weighted sums (Hajek: ``A``, ``B``,
    ``Q``, ``V`` per arm; HT: the pseudo-outcomes' ``sum``, ``count``, ``sum_sq``)."""

    name = "ipw-hajek"
    pair_builder = staticmethod(ipw_neighbours)
    fixed = {"normalization": "hajek"}

    def estimator(self, random_state: Any) -> Any:
        from privcausal.estimators.ipw import InversePropensityWeighting

        return InversePropensityWeighting(epsilon=self.epsilon, delta=0.0, n_draws=1,
                                          random_state=random_state, **self.params)

    def _keys(self) -> tuple[str, ...]:
        sums = ("A", "B", "Q", "V") if self.params["normalization"] == "hajek" else ("sum", "count", "sum_sq")
        return (*sums, "clipped_histogram")

    def vector(self, est: Any, data: CausalData) -> np.ndarray:
        st = est.noisy_stats_
        return np.concatenate([est.propensity_.coef_, *(np.ravel(st[k]) for k in self._keys())])

    def families(self, data: CausalData) -> list[str]:
        p = data.encoder.n_features + 1
        k = 8 if self.params["normalization"] == "hajek" else 3
        return ["gaussian"] * p + ["laplace"] * (k + 2)

    def events_of(self, data: CausalData) -> list[int]:
        # receipt events: the propensity model, one event per released sum (both arms), then the
        # histogram of clipped / unclipped propensities
        p = data.encoder.n_features + 1
        per = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5] if self.params["normalization"] == "hajek" else [1, 2, 3, 4, 4]
        return [0] * p + per


class IPWHTRelease(IPWRelease):
    name = "ipw-ht"
    fixed = {"normalization": "ht"}


class AIPWRelease(EstimatorRelease):
    """The noisy aggregate only (the nuisance models are not released): HT ``sum``, ``count``,
    ``sum_sq`` of the pseudo-outcomes; Hajek adds the per-arm ``A``, ``B``, ``Q``, ``V``; both
    the ``clipped_histogram`` (records with propensities beyond / within the clip)."""

    name = "aipw-ht"
    pair_builder = staticmethod(aipw_neighbours)
    fixed = {"normalization": "ht", "outcome_model": "logistic"}

    def estimator(self, random_state: Any) -> Any:
        from privcausal.estimators.aipw import AugmentedIPW

        return AugmentedIPW(epsilon=self.epsilon, delta=self.delta, n_draws=1,
                            random_state=random_state, **self.params)

    def __call__(self, data: CausalData, random_state: Any) -> np.ndarray:
        """One release; a refusal (a fold and arm whose outcomes share one label, which the
        estimator cannot fit: about 2e-6 per fit on the default pair) is an observable
        outcome of its own, encoded as the zero vector."""
        try:
            return super().__call__(data, random_state)
        except DataValidationError as exc:
            if "same label" not in str(exc):
                raise
            return np.zeros(len(self.families(data)))

    def vector(self, est: Any, data: CausalData) -> np.ndarray:
        return np.concatenate([np.ravel(v) for _, v in sorted(est.noisy_stats_.items())])

    def families(self, data: CausalData) -> list[str]:
        return ["laplace"] * (5 if self.params["normalization"] == "ht" else 13)

    def events_of(self, data: CausalData) -> list[int]:
        # receipt events: propensity models, outcome models (neither is in the output), the
        # aggregate's, then the clipped / unclipped histogram; coordinates in sorted key order
        if self.params["normalization"] == "ht":  # clipped_histogram (2), count, sum, sum_sq
            return [5, 5, 3, 2, 4]
        # A, B, Q, V (arms), clipped_histogram, effect_count, effect_sum, effect_sum_sq
        return [5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 3, 2, 4]


class AIPWHajekRelease(AIPWRelease):
    name = "aipw-hajek"
    fixed = {"normalization": "hajek", "outcome_model": "logistic"}


RELEASES: dict[str, Any] = {
    c.name: c for c in (DiMRelease, RegressionDiMRelease, RegressionRelease, IPWRelease,
                        IPWHTRelease, AIPWRelease, AIPWHajekRelease, AdaSSPRelease)
}


def release_mechanism(name: str, epsilon: float, delta: float = 1e-6, **params: Any) -> Any:
    """The release of estimator ``name`` (a key of :data:`RELEASES`) at ``(epsilon, delta)``
    as an auditable mechanism; ``params`` go to the estimator."""
    if name not in RELEASES:
        raise DataValidationError(f"unknown release {name!r}; choose from {sorted(RELEASES)}")
    if not math.isfinite(float(epsilon)):
        raise DataValidationError("audit a private release: epsilon must be finite")
    return RELEASES[name](epsilon, delta, **params)

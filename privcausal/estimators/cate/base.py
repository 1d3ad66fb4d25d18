"""The contract shared by the CATE learners (scikit-learn style), and their common plumbing.

* ``fit(data)`` takes a :class:`~privcausal.data.CausalData`, trains the learner's networks
  with DP-SGD and sets ``model_`` (the released model, a
  :class:`~privcausal.training.artifact.ReleasedModel`), ``privacy_`` (its
  :class:`~privcausal.privacy.Receipt`), ``ate_``, ``n_``, ``n_features_in_``;
* ``effect(X)`` returns individual effects ``mu_1(x) - mu_0(x)`` for a CausalData, a
  DataFrame of raw covariates (encoded with the declared domain) or an encoded matrix;
* ``ate_`` is the mean of ``effect`` over the training sample's covariates;
* ``ate_interval(alpha=...)`` a normal interval for ``ate_`` (see its docstring for what it
  covers);
* ``save(path)`` writes the released model (:func:`privcausal.training.artifact.save`).

Outcomes. A binary outcome (declared ``binary = true``) is fitted with the ``bce`` loss and
effects are risk differences. A continuous outcome is rescaled with the **declared** outcome
bounds, ``(y - center) / half_width`` in [-1, 1], before training and mapped back after; the
scaling never uses statistics of the data (which would need privacy budget of its own).

What the receipt covers. ``model_.receipt`` covers the released networks (their parameters):
effects computed from them on any covariates are post-processing. ``ate_`` averages those
effects over the training sample, whose covariates enter the average directly, so it is a
release of its own: a share ``ate_budget_share`` of epsilon (10 % by default) is kept back from
training and spent on a noisy sum of the effects, clipped to the declared effect bound (the
outcome's width: 1 for a risk difference), and a noisy count (Laplace, half the share each).
``privacy_`` composes the model and this release (sequential composition, PLD), so it covers
everything ``fit`` exposes.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Mapping

import numpy as np
from sklearn.base import BaseEstimator

from privcausal.data.causal_data import CausalData
from privcausal.estimators.base import check_causal_data
from privcausal.exceptions import NotFittedError, PrivacyParameterError
from privcausal.privacy import LaplaceMechanism, Receipt, make_receipt, parallel
from privcausal.privacy.random import independent_streams
from privcausal.privacy.diagnostics import LocalDiagnostics
from privcausal.training.recipe import DPSGDRecipe, as_recipe
from privcausal.validation import ate_interval_alpha, check_delta, check_epsilon
from privcausal.jsonnum import json_number

__all__ = ["CATELearner", "scale_outcome", "outcome_spec", "effect_bound", "release_effect_sum",
           "with_normaliser"]


def effect_bound(data: CausalData) -> float:
    """Declared bound W on any individual effect: |mu_1(x) - mu_0(x)| <= outcome width."""
    ob = data.domain.outcome
    return 1.0 if ob.binary else float(ob.width)


def scale_outcome(y: np.ndarray, data: CausalData) -> tuple[np.ndarray, str]:
    """The training target and loss: 0/1 for a binary outcome (bce), else
    ``(y - center) / half_width`` of the declared outcome bounds (mse)."""
    ob = data.domain.outcome
    if ob.binary:
        return np.asarray(y, dtype=np.float64), "bce"
    c, h = ob.center, 0.5 * ob.width
    return (np.asarray(y, dtype=np.float64) - c) / h, "mse"


def outcome_spec(data: CausalData) -> dict[str, Any]:
    ob = data.domain.outcome
    if ob.binary:
        return {"type": "binary", "scaling": "sigmoid", "lower": 0.0, "upper": 1.0}
    return {"type": "continuous", "scaling": "domain", "lower": ob.lower, "upper": ob.upper,
            "note": "trained on (y - center) / half_width of the declared outcome bounds"}



def release_effect_sum(tau: Any, bound: float, epsilon: float, random_state: Any = None, *,
                       count: bool = True) -> tuple[tuple[float, float], tuple[LaplaceMechanism, LaplaceMechanism | None]]:
    """The CATE learners' ATE release: the noisy sum of the effects clipped to ``[-bound,
    bound]`` and the noisy count, Laplace with ``epsilon / 2`` each (sensitivities ``bound``
    and 1 under add/remove one record, given the released model: sequential composition with
    the model's training). Returns ``((sum, count), (sum mechanism, count mechanism))``;
    dividing the two and clipping is post-processing. Audited black-box in
    ``tests/test_estimator_audits.py``. ``count=False``: the sum alone, at all of ``epsilon``
    (the count is then ``nan`` and its mechanism None; the learners release the arm counts
    before training, :func:`release_arm_counts`).
    """
    t = np.clip(np.asarray(tau, dtype=np.float64).ravel(), -float(bound), float(bound))
    if not count:
        m = LaplaceMechanism(float(epsilon), float(bound))
        return (float(m.randomise(float(t.sum()), random_state)), math.nan), (m, None)
    m_sum = LaplaceMechanism(float(epsilon) / 2, float(bound))
    m_cnt = LaplaceMechanism(float(epsilon) / 2, 1.0)
    if isinstance(random_state, np.random.Generator):  # sequential draws: already independent
        r_sum = r_cnt = random_state
    else:
        r_sum, r_cnt = independent_streams(random_state, 2)
    return ((float(m_sum.randomise(float(t.sum()), r_sum)),
             float(m_cnt.randomise(float(t.size), r_cnt))), (m_sum, m_cnt))


def release_arm_counts(t: Any, epsilon: float, random_state: Any = None) -> tuple[np.ndarray, LaplaceMechanism]:
    """Noisy control and treated record counts (Laplace, sensitivity 1 each; the arms are
    disjoint, so in parallel). The learners release them before training: DP-SGD divides its
    noisy gradient sums by ``q`` times these, never by an exact count."""
    t = np.asarray(t).ravel()
    m = LaplaceMechanism(float(epsilon), 1.0)
    n = np.array([np.sum(t == 0), np.sum(t == 1)], dtype=np.float64)
    return np.asarray(m.randomise(n, random_state, dim=1), dtype=np.float64), m


#: Shares of the ATE budget: the arm counts (released first, the DP-SGD normalisers), the sum
#: of the clipped effects, and the sum of their squares (the interval's sampling variance).
COUNT_SHARE, SUM_SHARE = 0.45, 0.45
#: Share of the ATE budget spent on the noisy sum of squared effects (the interval's sampling
#: variance); the rest goes to :func:`release_effect_sum`.
VAR_SHARE = 1.0 - COUNT_SHARE - SUM_SHARE


def release_effect_sq(tau: Any, bound: float, epsilon: float, random_state: Any = None) -> tuple[float, LaplaceMechanism]:
    """The noisy sum of squared clipped effects (Laplace, sensitivity ``bound^2``), from which
    the interval's sampling variance is computed: an exact ``var(tau) / n`` would put an exact
    function of the records into the interval's width."""
    t = np.clip(np.asarray(tau, dtype=np.float64).ravel(), -float(bound), float(bound))
    m = LaplaceMechanism(float(epsilon), float(bound) ** 2)
    return float(m.randomise(float(t @ t), random_state)), m


def with_normaliser(recipe: DPSGDRecipe, arm_sizes: np.ndarray | None, *, total: bool = False) -> DPSGDRecipe:
    """The training recipe with its normaliser: ``expected_batch_size`` is q times the noisy arm
    sizes the learner released (one per arm, or their sum for one network on all records); the
    recipe unchanged for the non-private twin (``arm_sizes`` None)."""
    if arm_sizes is None:
        return recipe
    eb = np.maximum(float(recipe.sampling_rate) * np.asarray(arm_sizes, dtype=np.float64), 1e-3)
    return recipe.replace(expected_batch_size=float(eb.sum()) if total else tuple(eb))


class CATELearner(BaseEstimator):
    """Base class of the DP CATE learners (``epsilon=math.inf``: the non-private twin, the same
    recipe without clipping or noise).

    Parameters
    ----------
    epsilon, delta : the guarantee of everything ``fit`` releases (the networks, the noisy arm
        sizes and the ATE)
    recipe : how the networks are trained: a :class:`~privcausal.training.DPSGDRecipe`, used as
        it is, or a mapping of its fields, applied on top of the learner's
        ``default_recipe`` (e.g. ``recipe={"epochs": 20}``); None = ``default_recipe``. Its
        ``epsilon``, ``noise_multiplier`` and ``expected_batch_size`` stay unset: the learner
        calibrates the noise for its share of ``epsilon`` and divides by q times its noisy
        arm sizes. ``sampling_rate`` (not ``batch_size``) sets the Poisson rate, so that q
        does not depend on a record count.
    average_last : release the mean of the iterates of this last fraction of steps (0: last)
    random_state : None (secure noise) or a seed (experiments only; the receipt says so)
    secure_mode : as in :func:`~privcausal.training.train_dpsgd`
    ate_budget_share : the share of epsilon spent on the noisy arm sizes and the ATE release

    Subclasses set ``default_recipe`` and implement ``_train(data, X, t, y_scaled, loss,
    recipe, arm_sizes)`` returning a :class:`~privcausal.training.artifact.ReleasedModel`.
    """

    #: Name in :data:`privcausal.estimators.cate.CATE_LEARNERS` of the private version.
    learner_name: str = ""
    #: What ``ate_interval`` accounts for: named for what it is (too narrow, see its docstring).
    interval_covers: str = ("the spread of the patients' estimated effects and the ATE release's "
                            "Laplace noise, NOT the networks' own estimation error or DP-SGD noise: "
                            "too narrow, the more so at small epsilon")
    #: The learner's training recipe when ``recipe`` is None (fields overridden by a mapping).
    default_recipe: ClassVar[DPSGDRecipe] = DPSGDRecipe()

    def __init__(self, *, epsilon: float = 1.0, delta: float = 1e-5,
                 recipe: DPSGDRecipe | Mapping[str, Any] | None = None, average_last: float = 0.5,
                 random_state: Any = None, secure_mode: bool | None = None,
                 ate_budget_share: float = 0.1) -> None:
        self.epsilon = epsilon
        self.delta = delta
        self.recipe = recipe
        self.average_last = average_last
        self.random_state = random_state
        self.secure_mode = secure_mode
        self.ate_budget_share = ate_budget_share

    def training_recipe(self) -> DPSGDRecipe:
        """The recipe the networks are trained with, with the learner's delta (before the
        learner sets its share of epsilon and the normaliser)."""
        r = as_recipe(self.recipe, base=self.default_recipe)
        if r.epsilon is not None or r.noise_multiplier is not None or r.expected_batch_size is not None:
            raise PrivacyParameterError(
                "the learner's epsilon sets the noise and its noisy arm sizes the normaliser: "
                "leave the recipe's epsilon, noise_multiplier and expected_batch_size unset")
        if r.sampling_rate is None:
            raise PrivacyParameterError("the CATE learners need the recipe's sampling_rate (a "
                                        "declared Poisson rate), not a batch_size")
        if r.delta not in (DPSGDRecipe.delta, self.delta):
            raise PrivacyParameterError("the learner's delta is the guarantee's: leave the recipe's "
                                        "delta unset")
        return r.replace(delta=self.delta)

    def fit(self, data: Any, T: Any = None, *, X: Any = None, W: Any = None,
            domain: Any = None) -> "CATELearner":
        """Fit on a :class:`~privcausal.data.CausalData`, or EconML-style on outcome ``data`` (Y),
        treatment ``T`` and covariates ``X`` and ``W`` with a declared ``domain``."""
        if not isinstance(data, CausalData) and (T is not None or X is not None or W is not None):
            from privcausal.data.arrays import from_arrays

            data = from_arrays(data, T, X, W, domain=domain)
        data = check_causal_data(data, min_per_arm=2)
        eps = check_epsilon(self.epsilon)
        delta = check_delta(self.delta)
        private = math.isfinite(eps)
        if private and delta == 0:
            raise PrivacyParameterError("DP-SGD (a Gaussian mechanism) needs delta > 0")
        share = float(getattr(self, "ate_budget_share", 0.1))
        if private and not 0.0 < share < 1.0:
            raise PrivacyParameterError("ate_budget_share must lie in (0, 1)")
        eps_model, eps_ate = (eps * (1 - share), eps * share) if private else (eps, eps)
        training = self.training_recipe().replace(epsilon=eps_model, delta=delta)
        X = data.X
        t = data.treatment.astype(np.int64)
        ys, loss = scale_outcome(data.outcome, data)
        rs = self.random_state
        rng = None if rs is None else np.random.default_rng(np.random.SeedSequence([int(rs) if not hasattr(rs, "integers") else int(rs.integers(2**31)), 0xA7E]))
        arm_sizes = None
        if private:  # noisy arm sizes first: the DP-SGD normalisers are q times these
            counts, m_cnt = release_arm_counts(t, eps_ate * COUNT_SHARE, rng)
            arm_sizes = np.maximum(counts, 1.0)
        model = self._train(data, X, t, ys, loss, training, arm_sizes)
        self.model_ = model
        self.diagnostics_ = LocalDiagnostics.of(data)
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray(data.encoder.feature_names, dtype=object)
        tau = model.effect(X)
        W = effect_bound(data)
        tau = np.clip(tau, -W, W)
        if not private:  # the twin: exact mean and its exact standard error
            self.ate_ = float(np.mean(tau))
            self.ate_se_ = math.sqrt(float(np.var(tau, ddof=1) / len(tau))) if len(tau) > 1 else math.nan
            self.privacy_: Receipt = model.receipt
            return self
        (s_noisy, _), (m_sum, _) = release_effect_sum(tau, W, eps_ate * SUM_SHARE, rng, count=False)
        q_noisy, m_sq = release_effect_sq(tau, W, eps_ate * VAR_SHARE, rng)
        n_noisy = max(1.0, float(counts.sum()))
        self.ate_ = float(np.clip(s_noisy / n_noisy, -W, W))
        # sampling variance from the released statistics only (clipped to [0, W^2])
        var_tau = float(np.clip(q_noisy / n_noisy - self.ate_**2, 0.0, W * W))
        var_sampling = var_tau / n_noisy
        var_noise = (2 * m_sum.scale**2 + self.ate_**2 * 4 * m_cnt.scale**2) / n_noisy**2
        self.ate_se_ = math.sqrt(var_sampling + var_noise)
        counts_ev = parallel([m_cnt.event("noisy count of control records"),
                              m_cnt.event("noisy count of treated records")],
                             "noisy arm sizes (arms in parallel): the DP-SGD normalisers and the ATE's denominator")
        events = (counts_ev, *model.receipt.events,
                  m_sum.event(f"sum of the model's effects over the training records, clipped to [-{W:g}, {W:g}]"),
                  m_sq.event("sum of the squared clipped effects (the interval's variance)"))
        self.privacy_ = make_receipt(
            f"{model.receipt.release}; and its ATE over the training records",
            events, noise=model.receipt.noise, delta=delta, epsilon_budget=eps, delta_budget=delta,
            notes=(*model.receipt.notes,
                   f"budget split: {1 - share:.0%} to training the model, {share:.0%} to the noisy "
                   f"arm sizes ({COUNT_SHARE:.0%} of it; released before training), the noisy sum of "
                   f"clipped effects ({SUM_SHARE:.0%}) and the noisy sum of their squares "
                   f"({VAR_SHARE:.0%}), Laplace; composed sequentially",
                   "DP-SGD divides its noisy gradient sums by q times the noisy arm sizes, never by "
                   "an exact count"),
        )
        return self

    def _train(self, data, X, t, ys, loss, recipe, arm_sizes):  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ use
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit(data) first")

    def effect(self, X: Any) -> np.ndarray:
        """Individual effects for ``X``: a CausalData, a DataFrame of raw covariates, or an
        encoded matrix with ``n_features_in_`` columns (risk differences for a binary outcome)."""
        self._check_fitted()
        return self.model_.effect(X)

    def mu(self, X: Any, arm: int) -> np.ndarray:
        """Predicted outcome under arm ``arm`` (0 or 1), on the outcome's original scale."""
        self._check_fitted()
        return self.model_.mu(X, arm)

    def ate_interval(self, X: Any = None, alpha: float = 0.05) -> tuple[float, float]:
        """A normal (1 - alpha) interval ``ate_ +- z se``.

        ``se`` combines the spread of the patients' estimated effects (``sd / sqrt(n)``) and
        the exact variance of the Laplace noise of the ATE release (delta method). It does
        **not** account for the estimation error of the networks themselves (including the
        DP-SGD noise in their weights), so it is too narrow, the more so at small epsilon:
        ``experiments/cate_ihdp.py`` reports its coverage. Use the ATE estimators
        (:mod:`privcausal.estimators`) for intervals that cover.
        """
        self._check_fitted()
        from scipy.stats import norm

        a = ate_interval_alpha(X, alpha, X_allowed=False)
        z = float(norm.ppf(1 - a / 2))
        return float(self.ate_ - z * self.ate_se_), float(self.ate_ + z * self.ate_se_)

    def to_released_model(self):
        """The released model (what :func:`privcausal.training.artifact.save` writes)."""
        self._check_fitted()
        return self.model_

    def save(self, path: Any, *, overwrite: bool = False):
        """Write the released model to the folder ``path``."""
        from privcausal.training.artifact import save

        return save(self, path, overwrite=overwrite)

    # ------------------------------------------------------------------ helpers
    def _recipe(self) -> dict[str, Any]:
        """The hyperparameters, JSON-able, for the artifact (the recipe as its fields)."""
        out = {}
        for k, v in self.get_params().items():
            if k == "recipe":
                out[k] = self.training_recipe().to_dict()
            elif k == "random_state":
                out[k] = "seeded" if v is not None else None  # never the seed itself
            elif isinstance(v, float):
                out[k] = json_number(v)
            elif isinstance(v, tuple):
                out[k] = list(v)
            else:
                out[k] = v
        return out

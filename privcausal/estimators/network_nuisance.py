"""Private nuisance networks for AIPW: DP-SGD propensity and outcome models on disjoint folds.

The linear private nuisances of :mod:`privcausal.estimators.aipw` (objective perturbation,
noisy sufficient statistics) cannot follow a confounder that acts through a ratio or a
threshold; their bias stays in the estimate and is in no interval. Here each nuisance model is
a small network trained with DP-SGD by the vectorised trainer
(:func:`~privcausal.training.train_many`), all folds of one kind in one pass:

* the propensity network of fold ``k`` trains on the records of fold ``k`` (label: the
  treatment), the outcome network of fold ``k`` and arm ``a`` on the records of fold ``k`` in
  arm ``a`` (label: the outcome; binary cross-entropy for a declared binary outcome, squared
  error on ``(y - centre) / half width`` otherwise);
* the folds are drawn i.i.d. per record, so each record lies in exactly one propensity
  network's training set and one outcome network's: each kind composes in **parallel** and
  costs one network's (epsilon, delta) (the recipe's Poisson rate, steps and calibrated noise
  multiplier are the same for every network of a kind);
* before training, the noisy record count of every (fold, arm) cell is released (Laplace,
  sensitivity 1, cells disjoint: parallel). DP-SGD divides each network's noisy gradient sum
  by ``q`` times its noisy count, never by an exact one, and the Poisson rate ``q`` is declared
  in the recipe, so no exact count enters the training or the accounting.

Released: only what the estimator releases (the ATE, its interval and the noisy aggregate
statistics); the networks themselves are not released, but the accounting treats them as if
they were (the aggregate's sensitivity holds for any networks: predictions are clipped before
use), so the three parts compose sequentially.

References
----------
.. [1] Abadi et al., "Deep learning with differential privacy", CCS 2016 (DP-SGD).
.. [2] Chernozhukov et al., "Double/debiased machine learning for treatment and structural
   parameters", Econometrics Journal 2018 (cross-fitting with flexible nuisances).
.. [3] McSherry, "Privacy integrated queries", SIGMOD 2009 (parallel composition).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from privcausal.exceptions import DataValidationError, PrivacyParameterError
from privcausal.privacy import LaplaceMechanism, PrivacyEvent, parallel
from privcausal.training.recipe import DPSGDRecipe, as_recipe

__all__ = ["NUISANCE_RECIPE", "nuisance_recipe", "NetworkNuisances", "fit_network_nuisances"]

#: The default nuisance network: one hidden layer of 16 ReLU units, 10 epochs at a declared
#: Poisson rate of 0.05, clipping norm 1, Adam (lr 0.01). Chosen once, before any held-out
#: evaluation, as the smallest network that can represent a ratio or a threshold; not tuned.
NUISANCE_RECIPE = DPSGDRecipe(architecture="mlp", hidden=(16,), activation="relu", epochs=10.0,
                              sampling_rate=0.05, max_grad_norm=1.0, optimizer="adam", lr=0.01)


def nuisance_recipe(given: Any) -> DPSGDRecipe:
    """The recipe of the nuisance networks: a :class:`DPSGDRecipe` as it is, a mapping of fields
    over :data:`NUISANCE_RECIPE`, or ``"mlp"`` for the default.

    The estimator sets epsilon, delta, the loss and the normaliser; a recipe that sets them, or
    that gives a ``batch_size`` instead of a declared ``sampling_rate`` (q = batch / n would
    depend on a record count), is refused.
    """
    r = NUISANCE_RECIPE if isinstance(given, str) and given == "mlp" else None
    if r is None:
        if isinstance(given, str):
            raise PrivacyParameterError(f"nuisance_recipe: unknown name {given!r}; 'mlp', a DPSGDRecipe "
                                        "or a mapping of its fields")
        r = as_recipe(given, base=NUISANCE_RECIPE)
    if r.epsilon is not None or r.noise_multiplier is not None or r.expected_batch_size is not None:
        raise PrivacyParameterError(
            "nuisance_recipe: leave epsilon, noise_multiplier and expected_batch_size unset: the "
            "estimator's budget split sets the noise and its noisy counts the normalisers")
    if r.loss is not None:
        raise PrivacyParameterError("nuisance_recipe: leave loss unset (bce for the propensity and a "
                                    "binary outcome, mse otherwise)")
    if r.sampling_rate is None or r.batch_size is not None:
        raise PrivacyParameterError("nuisance_recipe needs a declared sampling_rate (the Poisson rate "
                                    "q), not a batch_size: q = batch / n would depend on a record count")
    return r


@dataclass(frozen=True)
class NetworkNuisances:
    """Cross-fitted sums of the other folds' predictions, and what the training spent."""

    e_sum: np.ndarray  # (n,) sum over the other folds of the propensity predictions
    mu_sum: np.ndarray  # (2, n) likewise for each arm's outcome predictions
    events: tuple[PrivacyEvent, ...]
    notes: tuple[str, ...]
    #: the released noisy (fold, arm) counts, shape (K, 2): the normalisers' basis
    cell_counts: np.ndarray | None = None
    config: dict[str, Any] = field(default_factory=dict)
    #: the DP-SGD noise source, in words (the trainer's receipt)
    noise: str = ""


def _seed(stream: Any, offset: int) -> Any:
    """The trainer's random_state: None (secure) stays None; a Generator gives an int."""
    if stream is None:
        return None
    return int(np.random.default_rng(stream).integers(2**62)) + offset


def fit_network_nuisances(X: np.ndarray, t: np.ndarray, y: np.ndarray, folds: np.ndarray, K: int,
                          recipe: DPSGDRecipe, *, outcome: Any, eps_prop: float, eps_out: float,
                          eps_count: float, delta_prop: float, delta_out: float, noise: Any,
                          random_state: Any) -> NetworkNuisances:
    """Train the propensity and outcome networks on ``K`` folds and cross-fit their predictions.

    ``eps_* = inf`` trains the non-private twin (no clipping, no noise, exact normalisers, no
    counts released). ``noise`` draws the counts' Laplace noise; ``random_state`` (None:
    secure) seeds the trainers.
    """
    from privcausal.training import train_many

    t = np.asarray(t).astype(np.int64)
    n = len(t)
    private = math.isfinite(eps_prop)
    cells = np.stack([(folds == k) & (t == a) for k in range(K) for a in (0, 1)])  # (2K, n)
    exact = cells.sum(1).astype(np.float64)
    if np.any(exact == 0):
        k, a = divmod(int(np.flatnonzero(exact == 0)[0]), 2)
        raise DataValidationError(f"fold {k + 1} holds no record of arm {a}; use fewer folds or more data")
    events: list[PrivacyEvent] = []
    counts = None
    q = float(recipe.sampling_rate)
    if private:
        m = LaplaceMechanism(eps_count, 1.0)
        counts = np.asarray(m.randomise(exact, noise, dim=1), dtype=np.float64).reshape(K, 2)
        events.append(parallel([m.event(f"noisy count, fold {k + 1}, arm {a}") for k in range(K) for a in (0, 1)],
                               f"noisy (fold, arm) counts: the networks' normalisers ({2 * K} disjoint cells)"))
        norm_e = tuple(q * np.maximum(counts.sum(1), 1.0))
        norm_mu = tuple(q * np.maximum(counts.ravel(), 1.0))
    else:
        norm_e = norm_mu = None
    ob = outcome
    if ob.binary:
        y_fit, out_loss = np.asarray(y, dtype=np.float64), "bce"
    else:
        c, h = ob.center, 0.5 * ob.width
        y_fit, out_loss = (np.asarray(y, dtype=np.float64) - c) / h, "mse"
    mask_e = np.stack([folds == k for k in range(K)])
    r_e = recipe.replace(loss="bce", epsilon=eps_prop, delta=delta_prop if private else recipe.delta,
                         expected_batch_size=norm_e)
    r_mu = recipe.replace(loss=out_loss, epsilon=eps_out, delta=delta_out if private else recipe.delta,
                          expected_batch_size=norm_mu)
    prop = train_many(X, t.astype(np.float64), mask_e, r_e, random_state=_seed(random_state, 0),
                      label="AIPW propensity network")
    outm = train_many(X, y_fit, cells, r_mu, random_state=_seed(random_state, 1),
                      label="AIPW outcome network")
    pe = prop.predict(X)  # (K, n)
    pm = outm.predict(X)  # (2K, n)
    if not ob.binary:
        pm = ob.center + 0.5 * ob.width * pm
    e_sum = np.zeros(n)
    mu_sum = np.zeros((2, n))
    for k in range(K):
        other = folds != k
        e_sum[other] += pe[k, other]
        for a in (0, 1):
            mu_sum[a, other] += pm[2 * k + a, other]
    arch = prop.architecture.to_dict()
    ev_e, ev_mu = prop.receipt.events[0], outm.receipt.events[0]
    events = [parallel([ev_e] * K, f"propensity networks on {K} disjoint folds"),
              parallel([ev_mu] * (2 * K), f"outcome networks on {K} folds x 2 arms (disjoint)"),
              *events]
    notes = (
        f"nuisance strategy: DP-SGD networks {arch} on disjoint folds (parallel composition across "
        "folds and arms), trained by the vectorised trainer; sequential with the final aggregate",
        (f"DP-SGD: Poisson rate {q:g} (declared), {prop.steps} steps, clipping norm "
         f"{recipe.max_grad_norm:g}, noise multipliers {prop.noise_multiplier:.3g} (propensity) and "
         f"{outm.noise_multiplier:.3g} (outcome), calibrated by the PLD accountant; each noisy gradient "
         "sum divided by q times the released noisy count of its (fold, arm) cells")
        if private else "non-private twin: the same networks without clipping or noise",
        f"outcome networks: {'binary cross-entropy' if ob.binary else 'squared error on the outcome scaled to [-1, 1] by its declared bounds'}",
        *((f"DP-SGD noise: {prop.receipt.noise}; drawn in the networks' float precision, not on a "
           "lattice (the networks are not released; the aggregate is, on a lattice)",) if private else ()),
    )
    cfg = {"architecture": arch, "sampling_rate": q, "steps": int(prop.steps),
           "noise_multiplier_propensity": float(prop.noise_multiplier),
           "noise_multiplier_outcome": float(outm.noise_multiplier)}
    return NetworkNuisances(e_sum, mu_sum, tuple(events), notes, counts, cfg, prop.receipt.noise)

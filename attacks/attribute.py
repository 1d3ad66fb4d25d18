"""Attribute inference (model inversion): a sensitive covariate of a known patient from a model.

The adversary knows a patient's other covariates and outcome, queries the model once per
possible value v of the hidden attribute and takes the maximum a posteriori value

    v* = argmax_v  prior(v) * P(y | x with attribute = v),

with P(y | x) the model's probability of the known outcome (for a regression, the Gaussian
likelihood of the residual at the scale of the model's errors). This is Fredrikson et al.'s
estimator (warfarin dosing: a dosing model leaked patients' genotype). Measured against the
prior-only guess (the most likely value), on members and non-members separately: a model
that memorised its training set leaks more about its members.

References
----------
.. [1] Fredrikson, Lantz, Jha, Lin, Page, Ristenpart, "Privacy in pharmacogenetics: an
   end-to-end case study of personalized warfarin dosing", USENIX Security 2014.
.. [2] Yeom, Giacomelli, Fredrikson, Jha, CSF 2018 (attribute advantage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy.special import logsumexp

from attacks.records import Records
from attacks.targets import Target, as_target
from privcausal.exceptions import DataValidationError

__all__ = ["AttributeInference", "infer_attribute", "attribute_candidates", "attribute_inference"]


@dataclass(frozen=True)
class AttributeInference:
    """Guesses of a hidden attribute.

    guess : (n,) index into ``values``; log_posterior : (n, V); values : labels of the V values;
    truth : (n,) true index when known (else None); prior : (V,)
    """

    guess: np.ndarray
    log_posterior: np.ndarray
    values: tuple[Any, ...]
    truth: np.ndarray | None
    prior: np.ndarray

    @property
    def accuracy(self) -> float:
        if self.truth is None:
            raise DataValidationError("the true values are unknown")
        return float(np.mean(self.guess == self.truth))

    @property
    def baseline_accuracy(self) -> float:
        """Accuracy of always guessing the prior's most likely value."""
        if self.truth is None:
            raise DataValidationError("the true values are unknown")
        return float(np.mean(self.truth == int(np.argmax(self.prior))))

    @property
    def advantage(self) -> float:
        return self.accuracy - self.baseline_accuracy


def infer_attribute(target: Any, X: Any, y: Any, columns: Sequence[int], candidates: Any, *,
                    prior: Any = None, values: Sequence[Any] | None = None, truth: Any = None,
                    scale: float | None = None, treatment: Any = None) -> AttributeInference:
    """MAP guess of the attribute held in ``columns`` of the encoded features.

    Parameters
    ----------
    target : a model (see :func:`attacks.targets.as_target`)
    X, y : encoded features (the hidden columns' content is ignored) and known outcomes
    columns : indices of the encoded columns holding the attribute
    candidates : (V, len(columns)) the encoding of each possible value
    prior : (V,) prior probabilities (default uniform)
    scale : Gaussian scale of a regression's likelihood (default: the RMS residual over
        all candidates)
    treatment : (n,) arms, for models with one network per arm
    """
    t = as_target(target)
    if not isinstance(t, Target) or type(t).__name__ == "ScoreTarget":
        raise DataValidationError("attribute inference queries the model: a score file cannot answer")
    Xa = np.asarray(X, dtype=np.float64)
    cols = np.asarray(columns, dtype=np.int64)
    cand = np.atleast_2d(np.asarray(candidates, dtype=np.float64))
    if cand.shape[1] != cols.size:
        raise DataValidationError(f"candidates must have one column per attribute column ({cols.size})")
    V = cand.shape[0]
    pri = np.full(V, 1.0 / V) if prior is None else np.asarray(prior, dtype=np.float64)
    if pri.shape != (V,) or np.any(pri < 0) or not np.isclose(pri.sum(), 1.0):
        raise DataValidationError("the prior must be V non-negative probabilities summing to 1")
    stat = "loss" if t.task != "regression" else "residual"
    L = np.empty((len(Xa), V))
    for v in range(V):
        Xv = Xa.copy()
        Xv[:, cols] = cand[v]
        L[:, v] = t.statistic(Records(Xv, np.asarray(y), feature_names=t.feature_names,
                                      treatment=treatment), stat)
    if t.task == "regression":
        sc = float(scale) if scale is not None else float(np.sqrt(np.mean(L * L)))
        loglik = -0.5 * (L / sc) ** 2
    else:
        loglik = -L  # loss = -log P(y | x)
    with np.errstate(divide="ignore"):
        lp = loglik + np.log(pri)
    lp -= logsumexp(lp, axis=1, keepdims=True)
    tr = None if truth is None else np.asarray(truth, dtype=np.int64)
    return AttributeInference(np.argmax(lp, axis=1), lp, tuple(values if values is not None else range(V)),
                              tr, pri)


def attribute_candidates(data: Any, attribute: str, *, include_treatment: bool = False,
                         grid: int = 9) -> tuple[np.ndarray, np.ndarray, tuple[Any, ...], np.ndarray]:
    """For a CausalData: the encoded columns of ``attribute``, each value's encoding, the
    values, and each record's true value index (the nearest grid value for a numeric column).

    Categorical: one-hot rows over the declared categories. Numeric: ``grid`` evenly spaced
    values over the declared range.
    """
    from privcausal.domain import Categorical
    from privcausal.training import encode

    dom = data.domain.covariates
    if attribute not in dom:
        raise DataValidationError(f"{attribute!r} is not a declared covariate")
    names = encode(data, include_treatment=include_treatment).feature_names
    spec = dom[attribute]
    if isinstance(spec, Categorical):
        cols = [i for i, c in enumerate(names) if c.startswith(f"{attribute}=")]
        cand = np.eye(len(cols))
        values = tuple(spec.categories)
        col = data.covariates[attribute]
        truth = np.array([values.index(v) if v in values else -1 for v in col])
    else:
        cols = [names.index(attribute)]
        values = tuple(np.linspace(spec.lower, spec.upper, int(grid)))
        cand = ((np.asarray(values) - spec.center) / spec.half_width)[:, None]
        x = data.covariates[attribute].to_numpy(dtype=np.float64)
        truth = np.abs(x[:, None] - np.asarray(values)[None, :]).argmin(1)
    return np.asarray(cols), cand, values, truth


def attribute_inference(target: Any, data: Any, attribute: str, *, prior: Any = "uniform",
                        grid: int = 9) -> AttributeInference:
    """Infer ``attribute`` of every patient of a CausalData from ``target`` (encoded as the
    model expects; a ``"treatment"`` feature is appended when the model has one).

    ``prior``: ``"uniform"``, an array, or a CausalData of population records whose value
    frequencies serve as the prior (public knowledge of the attacker).
    """
    t = as_target(target)
    with_t = t.feature_names is not None and "treatment" in t.feature_names
    rec = t.records(data)
    cols, cand, values, truth = attribute_candidates(data, attribute, include_treatment=with_t, grid=grid)
    if t.feature_names is not None:
        from privcausal.training import encode

        names = encode(data, include_treatment=with_t).feature_names
        cols = np.array([list(t.feature_names).index(names[c]) for c in cols])
    if isinstance(prior, str):
        if prior != "uniform":
            raise DataValidationError("prior must be 'uniform', probabilities, or population records")
        pri = None
    elif hasattr(prior, "covariates"):
        *_, ptruth = attribute_candidates(prior, attribute, grid=grid)
        counts = np.bincount(ptruth[ptruth >= 0], minlength=len(values)).astype(np.float64) + 1.0
        pri = counts / counts.sum()
    else:
        pri = prior
    return infer_attribute(t, rec.X, rec.y, cols, cand, prior=pri, values=values, truth=truth,
                           treatment=rec.treatment)

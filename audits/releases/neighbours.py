"""Worst-case neighbouring datasets for the release mechanisms of privcausal's ATE estimators.

An audit is only as tight as its pair of neighbouring datasets. Under add/remove neighbouring,
each pair here is ``(D, D + {r})``: the record ``r`` sits where every statistic the estimator
releases moves by its full declared sensitivity at once, so that the privacy losses of the
composed mechanisms add up to the claimed epsilon. Everything is built from the declared
:class:`~privcausal.domain.Domain` alone (its corners and its outcome bounds), never from data:

* the **extreme record** takes every numeric covariate at its upper bound (encoded +1), every
  categorical covariate at its last declared category (a non-reference level), so each
  covariate column adds exactly 1 to ``||x||^2``: the row norm bound of the design;
* **difference in means** (:func:`dim_neighbours`): ``r`` is treated with the largest outcome.
  Its centred outcome ``u = B`` moves the arm's count by 1, ``sum u`` by ``B`` and
  ``sum (u^2 - B^2/2)`` by ``B^2/2``: all three sensitivities;
* **regression adjustment** (:func:`regression_neighbours`): the same record also moves
  ``sum x``, the released Gram entries, ``sum x u`` and the sum of squares each by its L2
  sensitivity (``sqrt(G)``, ``sqrt(G(G-1)/2 + G_numeric)``, ``sqrt(G) B``, ``B^2/2``);
* **IPW and AIPW** (:func:`ipw_neighbours`, :func:`aipw_neighbours`): two regions at opposite
  corners, controls at the extreme corner and treated at the opposite one (1 % minorities so
  that the propensity model is a fit, not a separation). The fitted propensity at the extreme
  corner is then far below ``clip``, so ``r`` (treated, largest outcome) gets the largest
  weight ``1/clip`` and attains the sensitivities of the weighted sums; every other record's
  outcome is at the domain's centre (a zero pseudo-outcome), so the released sums of D do not
  move with the propensity model's noise. For AIPW (binary outcome, logistic outcome models)
  the outcome models predict about 0 at the extreme corner, so ``r``'s pseudo-outcome is about
  ``1/clip``, the sensitivity.

References
----------
.. [1] Ding, Wang, Wang, Zhang, Kifer, "Detecting violations of differential privacy",
   CCS 2018 (counterexample pairs for mechanisms).
.. [2] Nasr, Song, Thakurta, Papernot, Carlini, "Adversary instantiation: lower bounds for
   differentially private machine learning", IEEE S&P 2021 (worst-case canaries).
.. [3] Kong et al., "DP-Auditorium: a large scale library for auditing differential privacy",
   IEEE S&P 2024 (dataset-pair finders).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from privcausal.data.causal_data import CausalData
from privcausal.domain import Categorical, Domain, Numeric, OutcomeBounds
from privcausal.exceptions import DataValidationError

__all__ = ["audit_domain", "extreme_row", "dim_neighbours", "regression_neighbours",
           "ipw_neighbours", "aipw_neighbours", "worst_case_neighbours", "NEIGHBOURS"]

Pair = tuple[CausalData, CausalData]
Block = tuple[dict[str, Any], int, float, int]  # (covariates, treatment, outcome, copies)


def audit_domain(*, binary: bool = False, categorical: bool = True) -> Domain:
    """The public domain the estimator audits use by default: a numeric covariate ``age`` in
    [16, 100] and (``categorical``) a covariate ``site`` with levels a, b, c; an outcome in
    [0, 10], or a binary one."""
    outcome = OutcomeBounds(0.0, 1.0, True) if binary else OutcomeBounds(0.0, 10.0)
    cov: dict[str, Any] = {"age": Numeric(16.0, 100.0)}
    if categorical:
        cov["site"] = Categorical(("a", "b", "c"))
    return Domain(cov, outcome)


def extreme_row(domain: Domain, side: str = "upper") -> dict[str, Any]:
    """A corner of the covariate domain: numeric columns at their upper (lower) bound,
    categorical columns at their last (first) declared category.

    On the encoded design every column then adds exactly 1 to ``||x||^2``; the upper corner
    also sits on a non-reference level of every categorical column (regression's coding).
    """
    if side not in ("upper", "lower"):
        raise DataValidationError(f"side must be 'upper' or 'lower', got {side!r}")
    row: dict[str, Any] = {}
    for name, spec in domain.covariates.items():
        if isinstance(spec, Numeric):
            row[name] = spec.upper if side == "upper" else spec.lower
        else:
            assert isinstance(spec, Categorical)
            row[name] = spec.categories[-1] if side == "upper" else spec.categories[0]
    return row


def _data(domain: Domain, blocks: list[Block], name: str) -> CausalData:
    rows, t, y = [], [], []
    for row, arm, out, k in blocks:
        rows += [row] * k
        t += [arm] * k
        y += [out] * k
    frame = pd.DataFrame(rows, columns=list(domain.columns))
    return CausalData(frame, np.asarray(t), np.asarray(y, dtype=np.float64), domain, name=name)


def _pair(domain: Domain, blocks: list[Block], record: Block, name: str) -> Pair:
    return _data(domain, blocks, f"{name}: D"), _data(domain, [*blocks, record], f"{name}: D'")


def _centre(domain: Domain) -> float:
    """An outcome value inside the domain that is as central as allowed (0 for binary)."""
    ob = domain.outcome
    return 0.0 if ob.binary else ob.center


def dim_neighbours(domain: Domain | None = None, *, n_per_arm: int = 20, arm: int = 1) -> Pair:
    """D: ``n_per_arm`` records per arm at the lower corner with central outcomes; D' adds a
    record of ``arm`` with the largest outcome (count, sum and sum of squares all move by
    their sensitivity)."""
    dom = audit_domain() if domain is None else domain
    low, c = extreme_row(dom, "lower"), _centre(dom)
    blocks = [(low, 0, c, n_per_arm), (low, 1, c, n_per_arm)]
    return _pair(dom, blocks, (extreme_row(dom), int(arm), dom.outcome.upper, 1), "dim")


def regression_neighbours(domain: Domain | None = None, *, n_per_arm: int = 40, arm: int = 1) -> Pair:
    """D: ``n_per_arm`` records per arm, half at each corner; D' adds a record of ``arm`` at
    the upper corner with the largest outcome, which moves every released statistic of the
    arm by its full sensitivity."""
    dom = audit_domain() if domain is None else domain
    up, low, c = extreme_row(dom), extreme_row(dom, "lower"), _centre(dom)
    h = n_per_arm // 2
    blocks = [(low, 0, c, h), (up, 0, c, n_per_arm - h), (low, 1, c, h), (up, 1, c, n_per_arm - h)]
    return _pair(dom, blocks, (up, int(arm), dom.outcome.upper, 1), "regression")


def _regions(dom: Domain, n_region: int, minority: float, y_up: float, y_low: float) -> list[Block]:
    k = int(round(minority * n_region))
    if not 1 <= k < n_region // 2:
        raise DataValidationError("minority * n_region must leave between 1 and half of a region")
    up, low = extreme_row(dom), extreme_row(dom, "lower")
    return [(up, 0, y_up, n_region - k), (up, 1, y_up, k), (low, 1, y_low, n_region - k),
            (low, 0, y_low, k)]


def ipw_neighbours(domain: Domain | None = None, *, n_region: int = 2000, minority: float = 0.01) -> Pair:
    """D: ``n_region`` records at each corner, controls at the upper corner and treated at the
    lower one (``minority`` of each region in the other arm), every outcome at the domain's
    centre; D' adds a treated record at the upper corner with the largest outcome, whose
    propensity is clipped, so its weight is ``1/clip``."""
    dom = audit_domain(categorical=False) if domain is None else domain
    c = _centre(dom)
    return _pair(dom, _regions(dom, n_region, minority, c, c),
                 (extreme_row(dom), 1, dom.outcome.upper, 1), "ipw")


def aipw_neighbours(domain: Domain | None = None, *, n_region: int = 1000, minority: float = 0.02) -> Pair:
    """For AIPW with a binary outcome: the regions of :func:`ipw_neighbours`, outcome 0 at the
    upper corner and 1 at the lower one (both arms, so every fold and arm holds both labels);
    D' adds a treated record at the upper corner with outcome 1, whose pseudo-outcome is
    about ``1/clip``."""
    dom = audit_domain(binary=True, categorical=False) if domain is None else domain
    if not dom.outcome.binary:
        raise DataValidationError(
            "aipw_neighbours builds a pair for a binary outcome (logistic outcome models)")
    return _pair(dom, _regions(dom, n_region, minority, 0.0, 1.0), (extreme_row(dom), 1, 1.0, 1), "aipw")


NEIGHBOURS: dict[str, Callable[..., Pair]] = {
    "dim": dim_neighbours,
    "regression": regression_neighbours,
    "ipw": ipw_neighbours,
    "aipw": aipw_neighbours,
}


def worst_case_neighbours(estimator: str, domain: Domain | None = None, **kwargs: Any) -> Pair:
    """The worst-case pair for ``estimator`` ("dim", "regression", "ipw" or "aipw")."""
    if estimator not in NEIGHBOURS:
        raise DataValidationError(f"no neighbour design for {estimator!r}; choose from {sorted(NEIGHBOURS)}")
    return NEIGHBOURS[estimator](domain, **kwargs)

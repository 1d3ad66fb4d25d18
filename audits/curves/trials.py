"""The fit trials of a privacy-utility curve: one estimator (or learner) at one epsilon on one
dataset, as a picklable task for :func:`audits.runner.run.run_trials`.

Trials are numbered unit-major: trial ``k`` fits cell ``k % n_cells`` (an (estimator,
epsilon) pair, twins at epsilon = inf included) on unit ``k // n_cells`` (a fresh registry per
repetition, or one noise draw on one IHDP replication), so a batch of consecutive trials
reuses its datasets. Every seed is derived from the spec's seed and the trial's own labels
(the unit for the data; estimator, epsilon and unit for the noise) with
:class:`numpy.random.SeedSequence`, never from the batch: the CSV is the same whatever the
batch plan, backend or resumption, every estimator sees the same datasets (paired
comparisons), and adding a cell to a grid leaves the others' numbers unchanged.

An ATE trial records the absolute error of the released ATE against the data's true ATE
(the sample mean of ``mu1 - mu0``) and whether the interval covers it. A CATE trial trains on
the members (the first half of a registry of ``2n``, or a seeded half of an IHDP replication),
records sqrt-PEHE on them as its error, and runs the membership attack of the spec on the
released model: members against the other half (non-members).

References
----------
.. [1] Hill, "Bayesian nonparametric modeling for causal inference", JCGS 2011 (IHDP; PEHE).
.. [2] Yeom, Giacomelli, Fredrikson, Jha, "Privacy risk in machine learning: analyzing the
   connection to overfitting", CSF 2018 (the loss-threshold membership attack).
"""

from __future__ import annotations

import functools
import math
import time
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from audits.curves.spec import AttackSpec, DataSpec, twin_name

__all__ = ["Cell", "FitTask", "cells_of", "unit_labels", "data_seed", "noise_seed", "load_unit",
           "derive_seed", "name_hash", "FIT_COLUMNS"]

#: the task's output arrays (one float per trial), in CSV order
FIT_COLUMNS = ("ate", "true_ate", "error", "ate_error", "pehe", "ci_low", "ci_high", "covered",
               "epsilon_spent", "delta_spent", "attack_auc", "attack_tpr", "attack_advantage",
               "seconds")


@dataclass(frozen=True)
class Cell:
    """One (estimator, epsilon) of the grid; ``base`` is the private name it belongs to."""

    name: str
    base: str
    epsilon: float

    @property
    def private(self) -> bool:
        return math.isfinite(self.epsilon)


def cells_of(names: tuple[str, ...], epsilons: tuple[float, ...], twins: bool) -> list[Cell]:
    """The grid's cells: each private name at each epsilon, then its twin at epsilon = inf."""
    out = []
    for n in names:
        out += [Cell(n, n, float(e)) for e in epsilons]
        if twins:
            out.append(Cell(twin_name(n), n, math.inf))
    return out


def unit_labels(data: DataSpec, reps: int) -> list[tuple[int, int]]:
    """``(replication, rep)`` of each unit: IHDP replications x noise draws, or one registry per
    repetition (its replication label is the repetition)."""
    if data.source == "ihdp":
        return [(r, k) for r in data.replications for k in range(reps)]
    return [(k, k) for k in range(reps)]


def derive_seed(*words: int) -> int:
    """A 32-bit seed derived from integer labels with :class:`numpy.random.SeedSequence`."""
    return int(np.random.SeedSequence([int(w) for w in words]).generate_state(1, np.uint32)[0])


def name_hash(s: str) -> int:
    """A stable integer label for a name (CRC-32), for :func:`derive_seed`."""
    return zlib.crc32(s.encode())


def data_seed(seed: int, replication: int) -> int:
    """Seed of the registry (or the IHDP member split) of one replication."""
    return derive_seed(seed, 0xDA7A, replication)


def noise_seed(seed: int, name: str, epsilon: float, replication: int, rep: int) -> int:
    """Seed of one fit's noise: depends on the cell and the unit only."""
    return derive_seed(seed, name_hash(name), name_hash(repr(float(epsilon))), replication, rep)


@functools.lru_cache(maxsize=4)
def load_unit(data: DataSpec, replication: int, seed: int, split: bool) -> tuple[Any, Any]:
    """``(members, non_members)`` of one unit (``non_members`` is None unless ``split``).

    Registry: ``simulate_trauma`` of ``n`` records (``2n`` when split: the first ``n`` are
    the members). IHDP: the replication, halved at random (seeded) when split.
    """
    from privcausal.data import load_ihdp, simulate_trauma

    rs = data_seed(seed, replication)
    if data.source == "trauma":
        n = data.n * (2 if split else 1)
        d = simulate_trauma(n, random_state=rs, confounding=data.confounding,
                            n_centres=data.n_centres, missing=data.missing)
        return (d.subset(np.arange(data.n)), d.subset(np.arange(data.n, n))) if split else (d, None)
    with warnings.catch_warnings():
        from privcausal.exceptions import ClippingWarning

        warnings.simplefilter("ignore", ClippingWarning)  # counted on every receipt
        d = load_ihdp(replication, data.path, outcome_bounds=data.outcome_bounds)
    if not split:
        return d, None
    perm = np.random.default_rng(rs).permutation(d.n)
    half = d.n // 2
    return d.subset(np.sort(perm[:half])), d.subset(np.sort(perm[half:]))


def _nan_row() -> dict[str, float]:
    return {k: math.nan for k in FIT_COLUMNS}


def _fit_ate(cell: Cell, data: Any, delta: float, alpha: float, params: Mapping[str, Any],
             seed: int) -> dict[str, float]:
    from privcausal.estimators import make_estimator

    est = make_estimator(cell.name, epsilon=cell.epsilon, delta=delta, random_state=seed, **params)
    est.fit(data)
    lo, hi = est.ate_interval(alpha)
    truth = float(data.true_ate)
    row = _nan_row()
    row.update(ate=est.ate_, true_ate=truth, error=abs(est.ate_ - truth),
               ate_error=abs(est.ate_ - truth), ci_low=lo, ci_high=hi,
               covered=float(lo <= truth <= hi) if math.isfinite(lo) and math.isfinite(hi) else math.nan,
               epsilon_spent=est.privacy_.epsilon, delta_spent=est.privacy_.delta)
    return row


def _fit_cate(cell: Cell, members: Any, non_members: Any, delta: float, alpha: float,
              params: Mapping[str, Any], seed: int, attack: AttackSpec | None) -> dict[str, float]:
    from privcausal.estimators.cate import make_cate_learner

    learner = make_cate_learner(cell.name, epsilon=cell.epsilon, delta=delta, random_state=seed,
                                **params)
    learner.fit(members)
    tau = learner.effect(members)
    truth = float(members.true_ate)
    lo, hi = learner.ate_interval(alpha)
    pehe = float(np.sqrt(np.mean((tau - members.true_effect) ** 2)))
    row = _nan_row()
    row.update(ate=learner.ate_, true_ate=truth, error=pehe, pehe=pehe,
               ate_error=abs(learner.ate_ - truth), ci_low=lo, ci_high=hi,
               covered=float(lo <= truth <= hi), epsilon_spent=learner.privacy_.epsilon,
               delta_spent=learner.privacy_.delta)
    if attack is not None:
        from attacks.targets import ReleasedModelTarget
        from attacks.membership import membership_attack

        res = membership_attack(ReleasedModelTarget(learner.model_), members, non_members,
                                attack=attack.attack, subgroups=False, fprs=(attack.fpr,))
        tpr = [t.tpr for t in res.metrics.tpr_at_fpr if math.isclose(t.fpr, attack.fpr)]
        row.update(attack_auc=res.auc, attack_advantage=res.advantage,
                   attack_tpr=tpr[0] if tpr else math.nan)
    return row


@dataclass(frozen=True)
class FitTask:
    """``task(start, stop, seed)`` for :func:`audits.runner.run.run_trials`: fits trials
    ``start .. stop - 1`` (see the module docstring) and returns :data:`FIT_COLUMNS` arrays.
    The runner's batch seed is not used: every seed comes from the trial's labels."""

    kind: str
    data: DataSpec
    cells: tuple[Cell, ...]
    units: tuple[tuple[int, int], ...]
    delta: float
    alpha: float
    seed: int
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    attack: AttackSpec | None = None

    @property
    def n_trials(self) -> int:
        return len(self.cells) * len(self.units)

    def label(self, k: int) -> tuple[Cell, int, int]:
        """``(cell, replication, rep)`` of trial ``k``."""
        cell = self.cells[k % len(self.cells)]
        replication, rep = self.units[k // len(self.cells)]
        return cell, replication, rep

    def trial(self, k: int) -> dict[str, float]:
        cell, replication, rep = self.label(k)
        split = self.kind == "cate"
        members, non_members = load_unit(self.data, replication, self.seed, split)
        ns = noise_seed(self.seed, cell.name, cell.epsilon, replication, rep)
        params = self.params.get(cell.base, {})
        t0 = time.perf_counter()
        if self.kind == "ate":
            row = _fit_ate(cell, members, self.delta, self.alpha, params, ns)
        else:
            row = _fit_cate(cell, members, non_members, self.delta, self.alpha, params, ns,
                            self.attack)
        row["seconds"] = time.perf_counter() - t0
        return row

    def __call__(self, start: int, stop: int, seed: int) -> dict[str, np.ndarray]:
        from privcausal.exceptions import ClippingWarning

        rows = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ClippingWarning)  # counted on every receipt
            for k in range(start, stop):
                rows.append(self.trial(k))
        return {c: np.array([r[c] for r in rows], dtype=np.float64) for c in FIT_COLUMNS}

"""The audit cells of a privacy-utility curve: epsilon_lower beside epsilon_theory, and the
worst-case membership test that goes with it.

**ATE estimators** are audited black-box (:func:`audits.releases.mechanism.audit_mechanism`) on a
worst-case neighbouring pair built from the declared domain alone: ``D`` holds
``records_per_arm`` control records at the domain's upper corner (every numeric column at its
upper bound, every categorical at its last category) and as many treated records at the
lower corner, outcomes alternating between the outcome's bounds (so an arm's centred sum is 0
for an even ``records_per_arm`` and its mean is rarely clipped); ``D'`` adds one treated
record at the upper corner, among the controls, with the outcome at its upper bound
(add/remove neighbours, the relation of every receipt). For the difference in means this is
the worst case: the record moves a noisy count by its sensitivity 1 and a noisy sum of
centred outcomes by its sensitivity B. For the weighting estimators it is a treated record
where treatment is rare, so its propensity is small and its weight large. The mechanism is the
estimator's whole ``fit`` (its interval's bootstrap off: post-processing of the same noisy
statistics) and its output everything the fit released: ``ate_`` and the noisy statistics
of ``noisy_stats_`` (noisy counts and sums, per arm; :func:`released_vector`); the test is a
threshold on one linear projection of them, learnt on half the samples. The difference in means also has a vectorised ``batch``
built from the very release functions ``fit`` calls (:mod:`privcausal.estimators.dim`), so
it can be sampled a million times; the other estimators are refitted per sample and get the
smaller ``audit.samples_by_estimator`` counts.

The held-out scores of the audit's test are a membership attack by the strongest adversary
(it knows every other record, and the target record is the worst case): its AUC and TPR at
1 % FPR are the "attack success" of an ATE release.

**CATE learners** are audited with :func:`audits.dpsgd.multi_run.audit_dpsgd` on the learner's DP-SGD
recipe (sampling rate, steps, clipping norm, learning rate; the epsilon its training gets
after the ATE release's share) instantiated on a logistic model of ``records`` members: the
accountant's claim depends on (q, steps, C, sigma) only, not on the architecture. Its run
scores give the canary's membership AUC and TPR in the same way.

References
----------
.. [1] Jagielski, Ullman, Oprea, "Auditing differentially private machine learning: how
   private is private SGD?", NeurIPS 2020.
.. [2] Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis, "Tight auditing of
   differentially private machine learning", USENIX Security 2023.
.. [3] Kong et al., "DP-Auditorium: a large scale library for auditing differential privacy",
   IEEE S&P 2024.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from audits.curves.spec import AuditSpec, DataSpec
from audits.curves.trials import Cell, derive_seed, load_unit, name_hash

__all__ = ["domain_corner", "worst_case_pair", "released_vector", "EstimatorRelease", "DiMRelease",
           "release_mechanism", "AuditTask", "AUDIT_COLUMNS", "dpsgd_recipe"]

AUDIT_COLUMNS = ("epsilon_theory", "epsilon_lower", "ceiling", "samples", "audit_auc",
                 "audit_tpr", "audit_advantage", "seconds", "note")
#: released attributes read beside ``ate_`` from an estimator without ``noisy_stats_``
RELEASED = ("arm_means_", "n_noisy_")


def domain_corner(domain: Any, high: bool) -> dict[str, Any]:
    """One record at a corner of the declared domain (no data involved)."""
    from privcausal.domain import Numeric

    out: dict[str, Any] = {}
    for name, spec in domain.covariates.items():
        if isinstance(spec, Numeric):
            out[name] = spec.upper if high else spec.lower
        else:
            out[name] = spec.categories[-1 if high else 0]
    return out


def worst_case_pair(domain: Any, per_arm: int = 10) -> tuple[Any, Any]:
    """``(D, D')`` as described in the module docstring (D' = D + one treated record)."""
    import pandas as pd

    from privcausal.data import CausalData

    rows = [domain_corner(domain, high=i < per_arm) for i in range(2 * per_arm)]
    t = np.r_[np.zeros(per_arm), np.ones(per_arm)].astype(np.int64)
    ob = domain.outcome
    y = np.where(np.arange(2 * per_arm) % 2 == 1, ob.upper, ob.lower)
    d0 = CausalData(pd.DataFrame(rows), t, y, domain, name="worst-case D")
    rows1 = rows + [domain_corner(domain, True)]
    d1 = CausalData(pd.DataFrame(rows1), np.r_[t, 1], np.r_[y, domain.outcome.upper], domain,
                    name="worst-case D'")
    return d0, d1


def released_vector(est: Any) -> np.ndarray:
    """What a fitted ATE estimator released, as one vector: ``ate_`` and every noisy statistic
    in ``noisy_stats_`` (keys sorted, each raveled; the estimate is their post-processing), or,
    for an estimator without ``noisy_stats_``, ``ate_`` with ``arm_means_`` and ``n_noisy_``
    where it sets them."""
    parts = [np.atleast_1d(float(est.ate_))]
    stats = getattr(est, "noisy_stats_", None)
    if stats:
        parts += [np.asarray(stats[k], dtype=np.float64).ravel() for k in sorted(stats)]
    else:
        parts += [np.asarray(getattr(est, a), dtype=np.float64).ravel() for a in RELEASED
                  if getattr(est, a, None) is not None]
    return np.concatenate(parts)


@dataclass(frozen=True)
class EstimatorRelease:
    """The release mechanism of a registered ATE estimator: ``fit`` with a given seed, read
    back as the vector of released numbers (``mechanism(data, random_state)``)."""

    name: str
    epsilon: float
    delta: float
    params: Mapping[str, Any] = field(default_factory=dict)

    def _estimator(self, seed: Any) -> Any:
        from privcausal.estimators import make_estimator

        est = make_estimator(self.name, epsilon=self.epsilon, delta=self.delta, random_state=seed,
                             **self.params)
        if "n_bootstrap" in est.get_params():
            est.set_params(n_bootstrap=0)  # the interval post-processes the same statistics
        return est

    def __call__(self, data: Any, random_state: Any) -> np.ndarray:
        return released_vector(self._estimator(random_state).fit(data))


@dataclass(frozen=True)
class DiMRelease(EstimatorRelease):
    """:class:`EstimatorRelease` of the difference in means, with a vectorised ``batch``."""

    def batch(self, data: Any, n: int, random_state: Any) -> np.ndarray:
        """``n`` releases of the difference in means at once, through the functions that
        :class:`~privcausal.estimators.dim.DifferenceInMeans` itself calls."""
        from privcausal.estimators.moments import (arm_means, check_share, moment_plan, release_counts,
                                               release_sums)
        from privcausal.privacy import noise_source

        est = self._estimator(random_state)
        ob = data.domain.outcome
        plan = moment_plan(est.epsilon, count_share=check_share(est.count_share, "count_share"),
                           var_share=check_share(est.var_share, "var_share", allow_zero=True),
                           bound=ob.width / 2, binary=ob.binary)
        t, u = data.treatment, data.outcome - ob.center
        cnt = np.array([np.sum(t == 0), np.sum(t == 1)], dtype=np.float64)
        su = np.array([u[t == 0].sum(), u[t == 1].sum()])
        suu = np.array([u[t == 0] @ u[t == 0], u[t == 1] @ u[t == 1]])
        noise = noise_source(np.random.default_rng(random_state))
        nn = release_counts(cnt, plan, noise, (n,))
        ss, qq = release_sums(cnt, nn, su, suu, plan, noise, (n,))
        m = arm_means(nn, ss, plan.bound)
        # the layout of released_vector: ate, then noisy_stats_ count, sum[, sum_sq]
        return np.column_stack([m[:, 1] - m[:, 0], nn, ss] + ([] if qq is None else [qq]))


def release_mechanism(name: str, epsilon: float, delta: float,
                      params: Mapping[str, Any] | None = None) -> EstimatorRelease:
    """The audited mechanism of estimator ``name`` (vectorised for the difference in means)."""
    cls = DiMRelease if name == "dim" else EstimatorRelease
    return cls(name, epsilon, delta, dict(params or {}))


def dpsgd_recipe(learner: Any) -> dict[str, Any]:
    """The DP-SGD keyword arguments of :func:`audits.dpsgd.multi_run.audit_dpsgd` that a CATE learner
    trains with (its model gets ``epsilon * (1 - ate_budget_share)``)."""
    p = learner.get_params()
    q = float(p["sampling_rate"])
    eps = float(p["epsilon"]) * (1.0 - float(p.get("ate_budget_share", 0.1)))
    return {"epsilon": eps, "delta": float(p["delta"]), "sampling_rate": q,
            "steps": max(1, int(round(float(p["epochs"]) / q))),
            "max_grad_norm": float(p["max_grad_norm"]), "lr": float(p["lr"])}


def _attack_numbers(s_in: np.ndarray, s_out: np.ndarray, fpr: float = 0.01) -> tuple[float, float, float]:
    if len(s_in) == 0 or len(s_out) == 0:
        return math.nan, math.nan, math.nan
    from attacks.metrics import attack_metrics

    labels = np.r_[np.ones(len(s_in), np.int8), np.zeros(len(s_out), np.int8)]
    m = attack_metrics(labels, np.r_[s_in, s_out], fprs=(fpr,))
    return m.auc, m.tpr_at_fpr[0].tpr, m.advantage


@dataclass(frozen=True)
class AuditTask:
    """``task(start, stop, seed)`` for :func:`audits.runner.run.run_trials`: audits cells
    ``start .. stop - 1`` of ``cells`` and returns :data:`AUDIT_COLUMNS` arrays (one row per
    cell). Seeds come from the spec's seed and the cell, as in :mod:`audits.curves.trials`."""

    kind: str
    data: DataSpec
    cells: tuple[Cell, ...]
    audit: AuditSpec
    delta: float
    seed: int
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def cell_seed(self, cell: Cell) -> int:
        return derive_seed(self.seed, 0xA0D17, name_hash(cell.name), name_hash(repr(cell.epsilon)))

    def _domain(self) -> Any:
        if self.data.source == "trauma":
            from privcausal.data.trauma import trauma_domain

            return trauma_domain(self.data.n_centres, self.data.missing != "none")
        from privcausal.data.ihdp import ihdp_domain

        return ihdp_domain(self.data.outcome_bounds)

    def _ate(self, cell: Cell) -> dict[str, float]:
        from audits.releases.mechanism import audit_mechanism

        mech = release_mechanism(cell.name, cell.epsilon, self.delta, self.params.get(cell.base))
        pair = worst_case_pair(self._domain(), self.audit.records_per_arm)
        theory = mech._estimator(0).fit(pair[1]).privacy_
        samples = self.audit.samples_for(cell.name)
        r = audit_mechanism(mech, pair, epsilon=theory.epsilon, delta=theory.delta,
                            samples=samples, alpha=self.audit.alpha,
                            random_state=self.cell_seed(cell))
        auc, tpr, adv = _attack_numbers(np.asarray(getattr(r, "scores_in", [])),
                                        np.asarray(getattr(r, "scores_out", [])))
        return dict(epsilon_theory=r.epsilon_theory, epsilon_lower=r.epsilon_lower,
                    ceiling=r.ceiling, samples=samples, audit_auc=auc, audit_tpr=tpr,
                    audit_advantage=adv)

    def _cate(self, cell: Cell) -> dict[str, float]:
        from audits.dpsgd.multi_run import audit_dpsgd
        from privcausal.estimators.cate import make_cate_learner
        from privcausal.estimators.cate.base import scale_outcome

        learner = make_cate_learner(cell.name, epsilon=cell.epsilon, delta=self.delta,
                                    **self.params.get(cell.base, {}))
        members, _ = load_unit(self.data, self.data.replications[0] if self.data.source == "ihdp"
                               else 0, self.seed, True)
        n = min(self.audit.records, members.n)
        X = members.X[:n]
        y, loss = scale_outcome(members.outcome[:n], members)
        r = audit_dpsgd(X, y, threat=self.audit.threat, trials=self.audit.trials,
                        architecture="logistic" if loss == "bce" else "linear",
                        bound=self.audit.bound, alpha=self.audit.alpha,
                        random_state=self.cell_seed(cell), **dpsgd_recipe(learner))
        auc, tpr, adv = _attack_numbers(np.asarray(r.scores_in), np.asarray(r.scores_out))
        return dict(epsilon_theory=r.epsilon_theory, epsilon_lower=r.epsilon_lower,
                    ceiling=r.ceiling, samples=self.audit.trials, audit_auc=auc, audit_tpr=tpr,
                    audit_advantage=adv)

    def __call__(self, start: int, stop: int, seed: int) -> dict[str, np.ndarray]:
        from privcausal.exceptions import ClippingWarning, PrivCausalError

        rows = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ClippingWarning)
            for cell in self.cells[start:stop]:
                t0 = time.perf_counter()
                try:
                    row = self._ate(cell) if self.kind == "ate" else self._cate(cell)
                    row["note"] = ""
                except PrivCausalError as exc:  # e.g. AIPW refuses a fold holding one arm
                    row = {c: math.nan for c in AUDIT_COLUMNS}
                    row["note"] = f"not audited: {type(exc).__name__}: {exc}"
                row["seconds"] = time.perf_counter() - t0
                rows.append(row)
        out = {c: np.array([r[c] for r in rows], dtype=np.float64) for c in AUDIT_COLUMNS
               if c != "note"}
        out["note"] = np.array([r["note"] for r in rows], dtype=str)
        return out

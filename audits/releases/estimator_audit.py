"""Audit an estimator's release, or one block of it, on its worst-case neighbouring datasets.

:func:`audit_release` puts the pieces together: the release as a mechanism
(:mod:`audits.releases.estimators`), the worst-case pair (:mod:`audits.releases.neighbours`), the claimed
``(epsilon, delta)`` read off the estimator's own receipt, and the Neyman-Pearson score of
the composed release (:func:`audits.releases.scores.product_llr`), then runs
:func:`audits.releases.mechanism.audit_mechanism`.

A *block* is a subset of the released statistics, e.g. the Laplace statistics or the Gaussian
block of the regression adjustment. Keeping only some coordinates is post-processing, so the
block's claim is the (basic) composition of the receipt events that released them, and auditing
a block separately shows which part of a composed release an audit reaches and which it cannot:
a Gaussian mechanism's epsilon at delta = 1e-6 is attained only on events of probability about
delta, out of reach of 1e5 samples, but its Gaussian-DP parameter mu is reached exactly (the
``gaussian-dp`` route, valid for that block because its noise is Gaussian).

References
----------
.. [1] Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis, "Tight auditing of
   differentially private machine learning", USENIX Security 2023 (auditing in Gaussian-DP).
.. [2] Dong, Roth, Su, "Gaussian differential privacy", JRSS B 2022.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from audits.releases.mechanism import MechanismAuditResult, audit_mechanism
from audits.releases.neighbours import Pair
from audits.releases.estimators import EstimatorRelease, release_mechanism
from audits.releases.scores import product_llr
from privcausal.data.causal_data import CausalData
from privcausal.exceptions import DataValidationError
from privcausal.privacy import basic_composition

__all__ = ["SubRelease", "EstimatorAudit", "audit_release", "block_coordinates"]

_CONTRACT = ("epsilon_theory", "delta", "epsilon_lower", "alpha", "bound", "threat_model",
             "trials", "ceiling", "assumption", "epsilon_estimate", "estimate_assumption",
             "tests", "scores_in", "scores_out", "score_threshold", "trials_unit")


class SubRelease:
    """The coordinates ``coords`` of a release (post-processing of it)."""

    def __init__(self, release: EstimatorRelease, coords: Any) -> None:
        self.release = release
        self.coords = np.asarray(coords, dtype=np.int64)

    def __call__(self, data: CausalData, random_state: Any) -> np.ndarray:
        return np.asarray(self.release(data, random_state))[self.coords]

    def batch(self, data: CausalData, n: int, random_state: Any) -> np.ndarray:
        return np.asarray(self.release.batch(data, n, random_state))[:, self.coords]


@dataclass(frozen=True)
class EstimatorAudit:
    """One audit of an estimator's release (or of a block of it).

    ``epsilon_observed`` is the basic composition of the receipt events whose statistics the
    audited output contains; ``unobserved`` names the events it does not contain (AIPW's
    nuisance models): no black-box audit of this output can see their cost.
    """

    release: str
    block: str
    epsilon: float
    audit: MechanismAuditResult
    epsilon_observed: float
    unobserved: tuple[str, ...]
    seconds: float
    epsilon_stated: float | None = None  # AdaSSP: what its own event states (basic composition)

    # the audit contract (audits.result.AuditResult), read through the mechanism audit
    def __getattr__(self, name: str) -> Any:
        if name in _CONTRACT:
            return getattr(self.audit, name)
        raise AttributeError(name)

    @property
    def violation(self) -> bool:
        return self.audit.violation

    @property
    def summary(self) -> str:
        return self.audit.summary

    @property
    def ratio(self) -> float:
        return self.audit.ratio

    def to_dict(self) -> dict[str, Any]:
        d = self.audit.to_dict()
        d.update(kind="estimator-release", release=self.release, block=self.block,
                 epsilon_observed=self.epsilon_observed, unobserved=list(self.unobserved))
        return d

    def row(self) -> dict[str, Any]:
        a = self.audit
        return {"release": self.release, "block": self.block, "epsilon": self.epsilon,
                "eps_theory": a.epsilon_theory, "delta": a.delta, "eps_lower": a.epsilon_lower,
                "ratio": a.ratio, "ceiling": a.ceiling, "eps_observed": self.epsilon_observed,
                "method": a.bound, "samples": a.samples, "seconds": self.seconds,
                "violation": a.violation, "eps_stated": self.epsilon_stated}


def block_coordinates(mech: EstimatorRelease, data: CausalData, block: str) -> np.ndarray:
    """Indices of the output coordinates of a block: ``"all"``, or a noise family."""
    fam = np.array(mech.families(data))
    if block == "all":
        return np.arange(fam.size)
    idx = np.flatnonzero(fam == block)
    if idx.size == 0:
        raise DataValidationError(f"{mech.name} releases no {block!r} statistics")
    return idx


def audit_release(name: str, epsilon: float, delta: float = 1e-6, *, samples: int = 100_000,
                  alpha: float = 0.05, block: str = "all", method: str | None = None,
                  pair: Pair | None = None, random_state: Any = None, score: str = "llr",
                  **params: Any) -> EstimatorAudit:
    """Audit the release of estimator ``name`` (see :data:`audits.releases.estimators.RELEASES`).

    Parameters
    ----------
    name, epsilon, delta, **params
        The release and the estimator's budget and keyword arguments.
    samples, alpha, random_state
        As in :func:`audits.releases.mechanism.audit_mechanism` (``alpha``: this audit's level).
    block : "all", "laplace" or "gaussian"
        Audit every released statistic (the claim is the receipt's epsilon and delta) or only
        those of one noise family (the claim composes the events that released them).
    method : None, "clopper-pearson" or "gaussian-dp"
        None: Gaussian-DP when every audited statistic has Gaussian noise, else Clopper-Pearson.
    pair : (D, D'), optional
        Default: the release's worst-case pair (:mod:`audits.releases.neighbours`).
    score : "llr" or "projection"
        The composed release's log-likelihood ratio (:func:`audits.releases.scores.product_llr`), or the
        audit's default projection on the difference of means (for comparison).
    """
    mech = release_mechanism(name, epsilon, delta, **params)
    d0, d1 = mech.worst_case_pair() if pair is None else pair
    receipt = mech.receipt(d1)
    coords = block_coordinates(mech, d0, block)
    events = mech.events_of(d0)
    seen = sorted({events[i] for i in coords})
    eps_seen, delta_seen = basic_composition([receipt.events[i] for i in seen])
    if block == "all":
        eps_claim, delta_claim = receipt.epsilon, receipt.delta
    else:
        eps_claim, delta_claim = eps_seen, delta_seen
    if score not in ("llr", "projection"):
        raise DataValidationError(f"score must be 'llr' or 'projection', got {score!r}")
    fams = [mech.families(d0)[i] for i in coords]
    if method is None:
        method = "gaussian-dp" if all(f == "gaussian" for f in fams) else "clopper-pearson"
    target = mech if block == "all" else SubRelease(mech, coords)
    t0 = time.perf_counter()
    res = audit_mechanism(target, (d0, d1), epsilon=eps_claim, delta=delta_claim, samples=samples,
                          alpha=alpha, method=method, random_state=random_state,
                          score=product_llr(fams) if score == "llr" else None)
    unobserved = tuple(e.label for i, e in enumerate(receipt.events) if i not in seen)
    stated = getattr(mech, "epsilon_basic", None)
    return EstimatorAudit(name, block, float(epsilon), res, float(eps_seen), unobserved,
                          time.perf_counter() - t0, None if stated is None else stated(d0))

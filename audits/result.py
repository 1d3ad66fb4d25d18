"""The one result contract every audit returns, and what reports and the CLI read from it.

An audit's promise is a single sentence: "with probability at least 1 - alpha, epsilon >=
``epsilon_lower``". So the contract separates what was *measured* from what was *assumed*:

* ``epsilon_lower``: the certified bound. It depends only on measured quantities and on
  assumptions the audit tested itself (``tests``, each with its level and stated power).
  ``violation`` is ``epsilon_lower > epsilon_theory`` and nothing else.
* ``epsilon_estimate`` (optional): a point or parametric figure resting on an assumption that was
  *not* tested (``estimate_assumption``, in words: "the canary enters at the declared clipping
  norm"). It is never a violation on its own; reports show it apart.
* ``assumption``, ``alpha``, ``bound`` (the route's name), ``threat_model``, ``trials`` (with
  ``trials_unit``), ``ceiling`` (the most the trials could certify) and ``summary``.

:class:`AuditResult` is the :class:`typing.Protocol` that reports, figures and the CLI consume;
:class:`Verdict` is the mixin that derives the shared parts (violation, ratio, summary, the JSON
head) for every result class; :class:`Audit` is the plain frozen result for audits that need no
class of their own (a released model, a bound with its context). :func:`exit_status` is the CLI's
documented exit code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Mapping, Protocol, runtime_checkable

import numpy as np

from privcausal.jsonnum import json_number, json_value

__all__ = ["AssumptionTest", "AuditResult", "Verdict", "Audit", "exit_status", "json_number",
           "json_value",
           "summary_sentence", "CONTRACT_KEYS", "EXIT_OK", "EXIT_VIOLATION", "EXIT_USAGE"]

#: exit statuses of ``privcausal audit``: no violation certified / violation certified / bad input
EXIT_OK, EXIT_VIOLATION, EXIT_USAGE = 0, 3, 2

#: the keys every audit's JSON starts with, in this order
CONTRACT_KEYS = ("epsilon_theory", "delta", "epsilon_lower", "violation", "epsilon_estimate",
                 "estimate_assumption", "alpha", "bound", "threat_model", "trials", "trials_unit",
                 "ceiling", "assumption", "tests", "summary")


@dataclass(frozen=True)
class AssumptionTest:
    """A test the audit ran on its own data to license part of its bound.

    ``level`` is the probability that the test refuses when the assumption holds (then the audit
    falls back to a route that does not need it); ``power`` says in words what departures the test
    detects, with numbers for the sample sizes at hand.
    """

    name: str
    statistic: float
    p_value: float
    level: float
    passed: bool
    power: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: json_number(v) for k, v in self.__dict__.items()}


@runtime_checkable
class AuditResult(Protocol):
    """What reports, figures and the CLI read from any audit (module docstring)."""

    epsilon_theory: float
    delta: float
    epsilon_lower: float
    alpha: float
    bound: str
    threat_model: str
    trials: int
    ceiling: float
    assumption: str

    @property
    def violation(self) -> bool: ...

    @property
    def summary(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


def _claim(et: float) -> str:
    return "inf (no privacy claimed)" if math.isinf(et) else f"{et:.2f}"


def summary_sentence(d: Mapping[str, Any]) -> str:
    """The plain-words summary of a contract record (a mapping with the contract keys)."""
    el, et, top = float(d["epsilon_lower"]), float(d["epsilon_theory"]), float(d["ceiling"])
    n, unit = d["trials"], d.get("trials_unit") or "trials"
    conf = f"{100 * (1 - float(d['alpha'])):.4g}%"
    what = f"epsilon >= {el:.2f}" if el > 0 else "no leakage (epsilon >= 0)"
    s = (f"The audit certifies {what} at {conf} confidence ({d['bound']}; assumes "
         f"{d.get('assumption') or 'independent trials'}), against the claimed {_claim(et)}")
    if el > et:
        s += ". This EXCEEDS the claim: the mechanism or its accounting leaks more than it says"
    passed = [t for t in d.get("tests") or () if _get(t, "passed")]
    failed = [t for t in d.get("tests") or () if not _get(t, "passed")]
    if passed:
        s += f". Tests of the assumption passed: {len(passed)} of {len(passed) + len(failed)}"
    if failed:
        s += (f". Refused by its test ({'; '.join(_get(t, 'name') for t in failed)}), so the "
              "certificate is the assumption-free route's")
    if math.isinf(top):
        s += f". The route is parametric: {n} {unit} put no ceiling on it"
    else:
        s += f". A perfect attack with {n} {unit} could certify at most {top:.2f}"
        if top > 0 and el >= top * (1 - 1e-9):
            s += "; the bound is at that ceiling, so more trials could certify more"
        elif top < et and el <= et:
            s += "; that is below the claim, so these trials cannot show the claim is tight"
    est = d.get("epsilon_estimate")
    if est is not None:
        est = float(est) if not isinstance(est, str) else float(est.replace("inf", "Infinity"))
        s += (f". Estimate, not certified: epsilon about {est:.2f} if "
              f"{d.get('estimate_assumption') or 'its assumption holds'}")
    return s + "."


def _get(t: Any, k: str) -> Any:
    return t[k] if isinstance(t, Mapping) else getattr(t, k)


class Verdict:
    """Mixin deriving the shared parts of the contract from a result's fields.

    A result class provides ``epsilon_theory``, ``delta``, ``epsilon_lower``, ``alpha``,
    ``bound``, ``threat_model``, ``trials``, ``ceiling`` and ``assumption``; optional
    ``epsilon_estimate``, ``estimate_assumption``, ``tests`` and ``trials_unit`` default here.
    """

    kind: ClassVar[str] = "audit"
    default_trials_unit: ClassVar[str] = "runs per world"

    @property
    def violation(self) -> bool:
        """True when the *certified* bound exceeds the claim (never from an estimate)."""
        return bool(self.epsilon_lower > self.epsilon_theory)  # type: ignore[attr-defined]

    @property
    def ratio(self) -> float:
        """epsilon_lower / epsilon_theory (NaN when the claim is 0 or infinite)."""
        et = self.epsilon_theory  # type: ignore[attr-defined]
        return self.epsilon_lower / et if 0 < et < math.inf else math.nan  # type: ignore[attr-defined]

    @property
    def unit(self) -> str:
        return getattr(self, "trials_unit", None) or self.default_trials_unit

    def contract(self) -> dict[str, Any]:
        """The contract's keys, JSON-ready, in :data:`CONTRACT_KEYS` order."""
        tests = tuple(getattr(self, "tests", ()) or ())
        d = {
            "epsilon_theory": self.epsilon_theory, "delta": self.delta,  # type: ignore[attr-defined]
            "epsilon_lower": self.epsilon_lower, "violation": self.violation,  # type: ignore[attr-defined]
            "epsilon_estimate": getattr(self, "epsilon_estimate", None),
            "estimate_assumption": getattr(self, "estimate_assumption", "") or "",
            "alpha": self.alpha, "bound": self.bound,  # type: ignore[attr-defined]
            "threat_model": self.threat_model, "trials": int(self.trials),  # type: ignore[attr-defined]
            "trials_unit": self.unit, "ceiling": self.ceiling,  # type: ignore[attr-defined]
            "assumption": self.assumption,  # type: ignore[attr-defined]
            "tests": [t.to_dict() for t in tests],
        }
        d["summary"] = summary_sentence(d)
        d.update(kind=self.kind, ratio=self.ratio)
        return {k: json_number(v) for k, v in d.items()}

    @property
    def summary(self) -> str:
        return self.contract()["summary"]

    def _fields(self, names: Iterable[str]) -> dict[str, Any]:
        """The contract, then the named attributes, JSON-ready."""
        out = self.contract()
        out.update({k: json_number(getattr(self, k)) for k in names if k not in out})
        return out


def exit_status(result: Any) -> int:
    """0 when no violation was certified, 3 when one was (results or records)."""
    items = result if isinstance(result, (list, tuple)) else [result]
    bad = any(bool(r["violation"] if isinstance(r, Mapping) else r.violation) for r in items)
    return EXIT_VIOLATION if bad else EXIT_OK


@dataclass(frozen=True)
class Audit(Verdict):
    """A plain audit result (a released model's membership audit, a bound with its context).

    ``details`` holds route-specific JSON-ready values; ``scores_in`` / ``scores_out`` the attack
    scores with and without the target, for figures (never written to JSON).
    """

    epsilon_theory: float
    delta: float
    epsilon_lower: float
    alpha: float
    bound: str
    threat_model: str
    trials: int
    ceiling: float
    assumption: str
    trials_unit: str = "runs per world"
    epsilon_estimate: float | None = None
    estimate_assumption: str = ""
    tests: tuple[AssumptionTest, ...] = ()
    kind_name: str = "audit"
    details: Mapping[str, Any] = field(default_factory=dict)
    scores_in: np.ndarray | None = field(default=None, repr=False)
    scores_out: np.ndarray | None = field(default=None, repr=False)
    score_threshold: float | None = None

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.kind_name

    def to_dict(self) -> dict[str, Any]:
        out = self.contract()
        out.update({k: json_value(v) for k, v in self.details.items() if k not in out})
        return out

    @classmethod
    def from_bound(cls, b: Any, *, epsilon_theory: float, threat_model: str,
                   trials_unit: str | None = None, **kw: Any) -> "Audit":
        """An :class:`~audits.bounds.EpsilonLowerBound` with the claim and the threat model."""
        if "m" in b.counts:
            trials, unit = int(b.counts["m"]), "canaries in one run"
        else:
            trials = int(min(b.n_in or 0, b.n_out or 0)) or 1
            unit = "runs per world"
        return cls(float(epsilon_theory), float(b.delta), float(b.epsilon_lower), float(b.alpha),
                   b.method, threat_model, trials, float(b.ceiling), b.assumption,
                   trials_unit or unit, kind_name="bound",
                   details={"threshold_selection": b.threshold_selection,
                            "result": b.to_dict()}, **kw)

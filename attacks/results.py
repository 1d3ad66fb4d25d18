"""The result of a membership attack: scores, ROC, AUC, TPR at low FPR, subgroups, report.

Built on :mod:`attacks.metrics` (ROC, AUC, TPR at FPR with the too-few-non-members flag,
advantage, subgroup metrics, the log-log ROC plot). ``to_dict`` gives the JSON the CLI prints:
``auc``, ``tpr_at_fpr`` (a map from FPR to TPR), ``advantage``, ``n_members``,
``n_nonmembers``, and ``low_fpr_warnings`` saying which TPRs the number of non-members cannot
resolve (TPR at FPR f needs at least 1/f non-members).
"""

from __future__ import annotations

import json
import re
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from privcausal.jsonnum import json_value

from attacks.metrics import (
    DEFAULT_FPRS,
    AttackMetrics,
    RocCurve,
    SubgroupMetrics,
    _tpr_at,
    plot_roc,
    roc_curve,
    subgroup_metrics,
)

__all__ = ["MembershipResult", "result_from_scores", "write_report", "fpr_key"]


def fpr_key(f: float) -> str:
    """The JSON key of a target FPR: ``"0"``, ``"0.001"``, ``"0.01"``."""
    return f"{f:g}"


def _metrics_dict(m: AttackMetrics) -> dict[str, Any]:
    return {
        "auc": m.auc,
        "advantage": m.advantage,
        "tpr_at_fpr": {fpr_key(r.fpr): r.tpr for r in m.tpr_at_fpr},
        "tpr_at_fpr_resolved": {fpr_key(r.fpr): r.enough_non_members for r in m.tpr_at_fpr},
        "n_members": m.n_members,
        "n_nonmembers": m.n_non_members,
    }


def _warnings(m: AttackMetrics) -> list[str]:
    out = []
    for r in m.tpr_at_fpr:
        if r.fpr == 0:
            out.append(f"TPR at FPR 0 reads 'members found with no false positive among "
                       f"{r.n_non_members} non-members'; no finite sample shows an FPR of 0")
        elif not r.enough_non_members:
            out.append(f"TPR at FPR {r.fpr:g} is not resolved: {r.n_non_members} non-members, at "
                       f"least {math.ceil(1 / r.fpr)} needed")
    return out


@dataclass(frozen=True)
class MembershipResult:
    """One membership attack on one set of members and non-members.

    Attributes
    ----------
    attack : the attack's name
    labels, scores : (n,) member = 1; higher score = more likely member
    metrics : AUC, advantage, TPR at the target FPRs (:class:`attacks.metrics.AttackMetrics`)
    roc : the full ROC curve
    subgroups : name -> group value -> :class:`attacks.metrics.SubgroupMetrics`
    n_reference : reference models the attack used
    notes : what a reader must know (recipe mismatch, fallbacks)
    details : attack-specific numbers (the statistic, RMIA's tuned a, timings)
    """

    attack: str
    labels: np.ndarray
    scores: np.ndarray
    metrics: AttackMetrics
    roc: RocCurve
    subgroups: Mapping[str, Mapping[Any, SubgroupMetrics]] = field(default_factory=dict)
    n_reference: int = 0
    notes: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def auc(self) -> float:
        return self.metrics.auc

    @property
    def advantage(self) -> float:
        return self.metrics.advantage

    @property
    def n_members(self) -> int:
        return self.metrics.n_members

    @property
    def n_nonmembers(self) -> int:
        return self.metrics.n_non_members

    def tpr_at(self, fpr: float) -> float:
        """TPR at ``fpr`` (any FPR, not only the reported ones)."""
        return _tpr_at(self.roc, (fpr,))[0].tpr

    @property
    def low_fpr_warnings(self) -> list[str]:
        return _warnings(self.metrics)

    def to_dict(self, *, subgroups: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {"attack": self.attack, **_metrics_dict(self.metrics),
                             "n_reference": self.n_reference,
                             "low_fpr_warnings": self.low_fpr_warnings, "notes": list(self.notes),
                             "details": _jsonable(self.details)}
        if subgroups and self.subgroups:
            d["subgroups"] = {
                # no per-subgroup counts: they tell how many training records hold a category
                name: {str(k): {**({} if s.metrics is None else _metrics_dict(s.metrics)),
                                **({"note": s.note} if s.note else {})}
                       for k, s in groups.items()}
                for name, groups in self.subgroups.items()}
        return d

    def plot(self, ax: Any = None, title: str | None = None) -> Any:
        """Log-log ROC figure (matplotlib Figure)."""
        return plot_roc({self.attack: self.roc}, ax=ax, title=title)

    def __str__(self) -> str:
        t = ", ".join(f"TPR@{fpr_key(r.fpr)}={r.tpr:.4f}" for r in self.metrics.tpr_at_fpr)
        return (f"{self.attack}: AUC {self.auc:.4f}, advantage {self.advantage:.4f}, {t} "
                f"({self.n_members} members, {self.n_nonmembers} non-members)")


def _jsonable(x: Any) -> Any:
    v = json_value(x)  # infinities as "inf" / "-inf", NaN as null
    return v if v is None or isinstance(v, (str, int, float, bool, list, dict)) else str(v)


def result_from_scores(attack: str, labels: Any, scores: Any, *,
                       groups: Mapping[str, Any] | None = None,
                       fprs: Sequence[float] = DEFAULT_FPRS, n_reference: int = 0,
                       notes: Sequence[str] = (), details: Mapping[str, Any] | None = None
                       ) -> MembershipResult:
    """A :class:`MembershipResult` from labels (member = 1) and scores (higher = member)."""
    curve = roc_curve(labels, scores)
    m = AttackMetrics(curve.auc, float(np.max(curve.tpr - curve.fpr)), _tpr_at(curve, fprs),
                      curve.n_members, curve.n_non_members)
    subs = {name: subgroup_metrics(labels, scores, g, fprs=fprs) for name, g in (groups or {}).items()}
    return MembershipResult(attack, np.asarray(labels).astype(np.int8), np.asarray(scores, dtype=np.float64),
                            m, curve, subs, int(n_reference), tuple(notes), dict(details or {}))


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def _md(x: Any) -> str:
    """A value for Markdown text: one line, &, < and > as entities, the Markdown punctuation
    backslash-escaped (no raw HTML, links or table breaks from a name or a label)."""
    s = " ".join(str(x).split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", s)


def write_report(results: MembershipResult | Mapping[str, MembershipResult], directory: str | Path, *,
                 title: str = "Membership inference", dpi: int = 150) -> dict[str, Path]:
    """Write ``membership.json``, ``membership.md``, ``membership.html`` (self-contained: the
    figure embedded, inline CSS, every value escaped) and the log-log ROC figure as
    ``membership_roc.png`` and ``membership_roc.svg`` into ``directory``."""
    if isinstance(results, MembershipResult):
        results = {results.attack: results}
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "membership.json", "markdown": out / "membership.md",
             "figure": out / "membership_roc.png"}
    paths["json"].write_text(json.dumps({k: r.to_dict() for k, r in results.items()}, indent=2))
    first = next(iter(results.values()))
    keys = [fpr_key(r.fpr) for r in first.metrics.tpr_at_fpr]
    lines = [f"# {_md(title)}", "", "| attack | reference models | AUC | advantage | "
             + " | ".join(f"TPR @ FPR {k}" for k in keys) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(keys)]
    for name, r in results.items():
        tprs = " | ".join(f"{t.tpr:.4f}" for t in r.metrics.tpr_at_fpr)
        lines.append(f"| {_md(name)} | {r.n_reference} | {r.auc:.4f} | {r.advantage:.4f} | {tprs} |")
    lines += ["", f"{first.n_members} members, {first.n_nonmembers} non-members. "
              "Convention: member = 1, higher score = more likely member.", ""]
    for w in first.low_fpr_warnings:
        lines.append(f"- {w}")
    for name, r in results.items():
        for note in r.notes:
            lines.append(f"- {_md(name)}: {_md(note)}")
        for gname, groups in r.subgroups.items():
            cells = []
            for k, s in groups.items():
                auc = "n/a" if s.metrics is None else f"{s.metrics.auc:.3f}"
                cells.append(f"{_md(k)}: AUC {auc}")
            lines.append(f"- {_md(name)}, by {_md(gname)}: " + "; ".join(cells))
    paths["markdown"].write_text("\n".join(lines) + "\n")
    fig = plot_roc({k: r.roc for k, r in results.items()}, title=title)
    fig.savefig(paths["figure"], dpi=int(dpi), bbox_inches="tight", metadata={"Software": None})
    paths["svg"] = out / "membership_roc.svg"
    fig.savefig(paths["svg"], bbox_inches="tight", metadata={"Date": None})
    from attacks.report_html import membership_html

    paths["html"] = out / "membership.html"
    paths["html"].write_text(membership_html(results, title, paths["figure"].read_bytes(), keys),
                             encoding="utf-8")
    return paths

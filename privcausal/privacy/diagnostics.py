"""Local diagnostics: exact functions of the data that the analyst may see and that never leave
the process as part of a release.

A release (JSON, text, receipts, reports, model files, warnings) holds only noisy quantities and
public parameters. The exact record count, the arm sizes and how many values were clipped to the
declared domain are useful to the analyst who holds the data, and a perfect membership test for
anyone else (D against D plus one record differs in them with certainty), so they live here:
``est.diagnostics_`` in Python, ``privcausal fit --diagnostics`` on the command line (printed to
standard error under a NOT FOR PUBLICATION banner), and never in a receipt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["LocalDiagnostics", "BANNER"]

BANNER = ("LOCAL DIAGNOSTICS - NOT FOR PUBLICATION: exact functions of the data, with no "
          "privacy protection; do not copy them into a paper, a report or a release")


@dataclass(frozen=True)
class LocalDiagnostics:
    """Exact counts of one fit: records, treated and control records, clipped values per column."""

    records: int
    treated: int | None = None
    control: int | None = None
    clipped: Mapping[str, int] = field(default_factory=dict)
    #: AIPW's fold of each record (its length is the record count); None elsewhere
    folds: Any = field(default=None, repr=False, compare=False)
    #: how clipping the outcome moved it (CausalData.outcome_clipping); None when not clipped
    outcome_clipping: Mapping[str, float] | None = None

    @classmethod
    def of(cls, data: Any, folds: Any = None) -> "LocalDiagnostics":
        """From a :class:`~privcausal.data.CausalData`."""
        return cls(int(data.n), int(data.n_treated), int(data.n_control),
                   {str(k): int(v) for k, v in dict(getattr(data, "clipped", {}) or {}).items()},
                   folds, getattr(data, "outcome_clipping", None))

    @classmethod
    def of_stats(cls, stats: Any, clipped: Mapping[str, int] | None = None) -> "LocalDiagnostics":
        """From per-arm sufficient statistics (``stats.n``: control, treated)."""
        n0, n1 = (int(round(float(v))) for v in stats.n)
        return cls(n0 + n1, n1, n0, {str(k): int(v) for k, v in dict(clipped or {}).items()})

    def to_dict(self) -> dict[str, Any]:
        return {"not_for_publication": True, "records": self.records, "treated": self.treated,
                "control": self.control, "clipped": dict(self.clipped),
                "outcome_clipping": None if self.outcome_clipping is None else dict(self.outcome_clipping)}

    def __str__(self) -> str:
        lines = [BANNER, f"  records: {self.records}"]
        if self.treated is not None:
            lines.append(f"  treated: {self.treated}, control: {self.control}")
        if self.clipped:
            lines += [f"  clipped to the declared domain, {k}: {v}" for k, v in sorted(self.clipped.items())]
        else:
            lines.append("  clipped to the declared domain: none")
        oc = self.outcome_clipping
        if oc:
            lines.append(f"  outcome clipped: {int(oc['below'])} values below the declared lower bound, "
                         f"{int(oc['above'])} above the upper one")
            if "difference_as_read" in oc:
                a, c = oc["difference_as_read"], oc["difference_clipped"]
                lines.append(f"  clipping moved the unadjusted difference in mean outcome (treated - control) "
                             f"from {a:.4g} to {c:.4g} ({c - a:+.4g}): the estimate is of the clipped outcome")
        return "\n".join(lines)

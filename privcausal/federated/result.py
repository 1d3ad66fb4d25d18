"""The consortium's answer (:class:`FederatedResult`), as every transport and estimator returns it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from privcausal.federated.combine import FederatedEstimate
from privcausal.federated.meta import MetaAnalysis

__all__ = ["FederatedResult"]


@dataclass
class FederatedResult:
    """The consortium's answer, how it was reached, and the baselines."""

    estimate: FederatedEstimate
    transport: str
    epsilon: float
    delta: float
    sites: tuple[str, ...]
    excluded: dict[str, str]
    receipt: dict[str, Any]
    rounds: int = 1
    seconds: float = 0.0
    pooled: dict[str, Any] | None = None
    meta: MetaAnalysis | None = None
    true_ate: float | None = None
    notes: list[str] = field(default_factory=list)
    #: secure aggregation's settings and threat model (None: each site's release seen alone)
    secure: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        from privcausal.jsonnum import json_value

        e = self.estimate
        out = {"ate": e.ate, "ci_low": e.ci_low, "ci_high": e.ci_high, "estimator": e.method,
               "true_ate": self.true_ate, "engine": "flower" if self.transport != "local" else "local",
               "transport": self.transport, "sites": list(self.sites), "n_sites": len(self.sites),
               "excluded_sites": self.excluded,
               "epsilon_spent": {s: self.epsilon for s in self.sites},
               "delta_spent": {s: self.delta for s in self.sites},
               "guarantee": self._guarantee(), "secure_aggregation": self.secure,
               "rounds": self.rounds, "seconds": self.seconds,
               "pooled": self.pooled, "meta_analysis": None if self.meta is None else self.meta.to_dict(),
               "receipt": self.receipt, "notes": list(e.notes) + self.notes}
        return json_value(out)

    def _guarantee(self) -> str:
        if self.secure is None:
            return ("per site: (epsilon, delta)-DP for add/remove one record of that site; each "
                    "site adds its own noise (no trusted server)")
        return ("per site: (epsilon, delta)-DP for add/remove one record of that site, for the "
                "secure sum, under the threat model: " + str(self.secure.get("threat_model")))

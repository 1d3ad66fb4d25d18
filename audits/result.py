"""What every audit result shares: the claim beside the bound, and its JSON form."""

from __future__ import annotations

import math
from typing import Any, Iterable

__all__ = ["ClaimComparison", "json_number"]


def json_number(x: Any) -> Any:
    """Infinities as the strings ``"inf"`` / ``"-inf"`` (JSON has no infinity); else unchanged."""
    return str(x) if isinstance(x, float) and math.isinf(x) else x


class ClaimComparison:
    """Mixin for audit results with ``epsilon_lower`` and ``epsilon_theory`` attributes."""

    epsilon_lower: float
    epsilon_theory: float

    @property
    def ratio(self) -> float:
        """epsilon_lower / epsilon_theory (NaN when the claim is 0)."""
        return self.epsilon_lower / self.epsilon_theory if self.epsilon_theory > 0 else math.nan

    @property
    def violation(self) -> bool:
        """True when the audit proves more leakage than the accountant claims."""
        return self.epsilon_lower > self.epsilon_theory

    def _fields(self, names: Iterable[str]) -> dict[str, Any]:
        """The named attributes, JSON-ready, with ``ratio`` and ``violation``."""
        out = {k: json_number(getattr(self, k)) for k in names}
        out.update(ratio=self.ratio, violation=self.violation)
        return out

"""The receipt every release carries: what was released and what it spent."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

from privcausal.jsonnum import json_number
from privcausal.privacy.events import NEIGHBOURING_ADD_REMOVE, NeighbouringRelation, PrivacyEvent

__all__ = ["Receipt", "make_receipt"]


_num = json_number  # infinities as "inf" / "-inf", NaN as null


@dataclass(frozen=True)
class Receipt:
    """What a release spent.

    Attributes
    ----------
    release : str
        What was released.
    mechanism : str
        The mechanisms used, in words.
    epsilon, delta : float
        The (epsilon, delta)-DP guarantee of the release as a whole (``inf`` for a
        non-private twin).
    accountant : str
        Which accountant gave ``epsilon`` at ``delta`` (the tightest valid one).
    epsilon_rdp : float or None
        The RDP accountant's epsilon at the same delta, as a cross-check.
    neighbouring : NeighbouringRelation
        The neighbouring relation the guarantee is stated for (a phrase is parsed; an unknown
        one is a ValueError).
    noise : str
        Where the noise came from (secure CSPRNG, or seeded for experiments).
    events : tuple of PrivacyEvent
        Every release that was made, in order.
    notes : tuple of str
        Anything a reader must know (budget split, nuisance-model strategy, ...). A receipt
        is part of the release: it holds no exact function of the data (no record count, no
        clipping count); those are local diagnostics
        (:class:`~privcausal.privacy.diagnostics.LocalDiagnostics`).
    """

    release: str
    mechanism: str
    epsilon: float
    delta: float
    accountant: str
    neighbouring: NeighbouringRelation = NEIGHBOURING_ADD_REMOVE
    noise: str = ""
    epsilon_rdp: float | None = None
    epsilon_budget: float | None = None
    delta_budget: float | None = None
    events: tuple[PrivacyEvent, ...] = ()
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # a free string here would be a privacy claim nobody can check
        object.__setattr__(self, "neighbouring", NeighbouringRelation.parse(self.neighbouring))

    @property
    def is_private(self) -> bool:
        return math.isfinite(self.epsilon)

    def to_dict(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "mechanism": self.mechanism,
            "epsilon": _num(self.epsilon),
            "delta": self.delta,
            "accountant": self.accountant,
            "epsilon_rdp": None if self.epsilon_rdp is None else _num(self.epsilon_rdp),
            "epsilon_budget": None if self.epsilon_budget is None else _num(self.epsilon_budget),
            "delta_budget": self.delta_budget,
            "neighbouring": self.neighbouring.value,
            "noise": self.noise,
            "events": [e.to_dict() for e in self.events],
            "notes": list(self.notes),
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        eps = "inf (non-private)" if not self.is_private else f"{self.epsilon:.4g}"
        return (
            f"Receipt: {self.release}; epsilon={eps}, delta={self.delta:.3g} "
            f"[{self.accountant}; {self.neighbouring}]"
        )


def make_receipt(
    release: str,
    events: Sequence[PrivacyEvent],
    *,
    noise: str,
    delta: float | None = None,
    epsilon_budget: float | None = None,
    delta_budget: float | None = None,
    notes: Sequence[str] = (),
    neighbouring: NeighbouringRelation | str = NEIGHBOURING_ADD_REMOVE,
) -> Receipt:
    """Build a receipt from the events of one release, composing them sequentially."""
    from privcausal.privacy.accounting import accountant_epsilon, composed_epsilon

    events = tuple(events)
    eps, d, acc = composed_epsilon(events, delta)
    eps_rdp = None
    if math.isfinite(eps) and d > 0:
        try:
            eps_rdp = accountant_epsilon(events, d, "rdp")
        except Exception:  # pragma: no cover - RDP does not support every event
            eps_rdp = None
    mechs = sorted({e.mechanism for e in events})
    return Receipt(
        release=release,
        mechanism=", ".join(mechs),
        epsilon=eps,
        delta=d,
        accountant=acc,
        neighbouring=neighbouring,
        noise=noise,
        epsilon_rdp=eps_rdp,
        epsilon_budget=epsilon_budget,
        delta_budget=delta_budget,
        events=events,
        notes=tuple(notes),
    )

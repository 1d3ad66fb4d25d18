"""Privacy events: what a release did, kept apart from how it is counted.

A :class:`PrivacyEvent` records one release (mechanism, calibrated epsilon and delta, L1/L2
sensitivity, noise scale) together with the matching dp-accounting ``DpEvent``. Accountants in
:mod:`privcausal.privacy.accounting` compose events; the events never compose themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from privcausal.jsonnum import json_number

__all__ = ["PrivacyEvent", "NeighbouringRelation", "NEIGHBOURING_ADD_REMOVE",
           "NEIGHBOURING_REPLACE_ONE"]


class NeighbouringRelation(str, Enum):
    """Which data sets are neighbours: part of every privacy claim and every audit.

    A ``str`` enum: its value is the phrase written into receipts and JSON, and it compares
    equal to that phrase. :meth:`parse` reads a phrase back and refuses any other.
    """

    ADD_REMOVE = "add/remove one record"
    REPLACE_ONE = "replace one record"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: "NeighbouringRelation | str") -> "NeighbouringRelation":
        """The relation named by ``value`` (a member or its phrase); a ValueError otherwise."""
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown neighbouring relation {value!r}; one of "
                             f"{', '.join(repr(m.value) for m in cls)}") from None


NEIGHBOURING_ADD_REMOVE = NeighbouringRelation.ADD_REMOVE
NEIGHBOURING_REPLACE_ONE = NeighbouringRelation.REPLACE_ONE


@dataclass(frozen=True)
class PrivacyEvent:
    """One release and its privacy cost.

    Attributes
    ----------
    label : str
        What was released ("noisy sum of outcomes, treated arm").
    mechanism : str
        ``discrete laplace``, ``discrete gaussian``, ``composed``, ``dp-sgd``, ``non-private`` ...
    epsilon, delta : float
        The (epsilon, delta) this release was calibrated to; for a composite event
        (:func:`~privcausal.privacy.sequential`, :func:`~privcausal.privacy.parallel`), the
        basic-composition bound, a valid but loose description. What a receipt states is
        counted by an accountant (:func:`~privcausal.privacy.composed_epsilon`) from the
        ``dp_event``s, never read off this field alone.
    dp_event : dp_accounting.DpEvent
        The same release for dp-accounting's PLD and RDP accountants.
    sensitivity, scale : float or None
        Declared-bound sensitivity and the noise scale (Laplace b or Gaussian sigma).
    """

    label: str
    mechanism: str
    epsilon: float
    delta: float
    dp_event: Any = field(repr=False, compare=False)
    sensitivity: float | None = None
    scale: float | None = None
    parts: tuple["PrivacyEvent", ...] = ()

    @property
    def is_private(self) -> bool:
        return math.isfinite(self.epsilon)

    @classmethod
    def laplace(cls, label: str, epsilon: float, sensitivity: float, scale: float) -> "PrivacyEvent":
        """A discrete Laplace release on a lattice (:class:`~privcausal.privacy.lattice.LatticeLaplace`).

        It is pure ``epsilon``-DP; its accountant event is the worst case of every
        ``epsilon``-DP mechanism (``DiscreteLaplaceDpEvent(epsilon, 1)``, the privacy-loss
        distribution of randomised response), because the continuous Laplace's PLD is not that
        of the lattice mechanism.
        """
        from dp_accounting.dp_event import DiscreteLaplaceDpEvent
        import dp_accounting

        if scale == 0 or math.isinf(epsilon):
            return cls.non_private(label)
        ev = DiscreteLaplaceDpEvent(noise_parameter=float(epsilon), sensitivity=1) if sensitivity > 0 \
            else dp_accounting.NoOpDpEvent()
        return cls(label, "discrete laplace", float(epsilon), 0.0, ev, float(sensitivity), float(scale))

    @classmethod
    def gaussian(
        cls, label: str, epsilon: float, delta: float, sensitivity: float, scale: float
    ) -> "PrivacyEvent":
        """A discrete Gaussian release on a lattice: ``rho = (sensitivity / scale)^2 / 2`` zCDP
        (``ZCDpEvent``), calibrated to meet (``epsilon``, ``delta``)."""
        import dp_accounting

        if scale == 0 or math.isinf(epsilon):
            return cls.non_private(label)
        ev = dp_accounting.ZCDpEvent(rho=0.5 * (sensitivity / scale) ** 2) if sensitivity > 0 \
            else dp_accounting.NoOpDpEvent()
        return cls(label, "discrete gaussian", float(epsilon), float(delta), ev, float(sensitivity),
                   float(scale))

    @classmethod
    def non_private(cls, label: str) -> "PrivacyEvent":
        import dp_accounting

        return cls(label, "non-private", math.inf, 0.0, dp_accounting.NonPrivateDpEvent())

    @classmethod
    def from_dp_event(
        cls, label: str, mechanism: str, dp_event: Any, epsilon: float, delta: float
    ) -> "PrivacyEvent":
        """Wrap an accountant-calibrated event (DP-SGD, say) with the (epsilon, delta) it meets."""
        return cls(label, mechanism, float(epsilon), float(delta), dp_event)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "label": self.label,
            "mechanism": self.mechanism,
            "epsilon": json_number(self.epsilon),
            "delta": self.delta,
        }
        if self.sensitivity is not None:
            d["sensitivity"] = self.sensitivity
        if self.scale is not None:
            d["noise_scale"] = self.scale
        if self.parts:
            d["parts"] = [p.to_dict() for p in self.parts]
        return d

"""Composition of privacy events with dp-accounting: PLD by default, RDP as a cross-check.

Two valid (epsilon, delta) statements exist for a sequence of releases calibrated to
(epsilon_i, delta_i): basic composition (sum epsilon_i, sum delta_i), and the PLD accountant's
epsilon at the same total delta. Both are upper bounds; a receipt reports the smaller one and
names the accountant that gave it, with the RDP figure beside it as a cross-check.

References
----------
.. [1] Doroshenko, Ghazi, Kamath, Kumar, Manurangsi, "Connect the dots: tighter discrete
   approximations of privacy loss distributions", PETS 2022 (dp-accounting's PLD).
.. [2] Mironov, "Renyi differential privacy", CSF 2017.
.. [3] Bun and Steinke, "Concentrated differential privacy: simplifications, extensions, and
   lower bounds", TCC 2016 (pure epsilon-DP implies epsilon^2/2-zCDP; zCDP composes by adding).
.. [4] Canonne, Kamath, Steinke, "The discrete Gaussian for differential privacy", NeurIPS 2020
   (the zCDP of the discrete Gaussian, and the conversion of zCDP to (epsilon, delta)).

Releases are lattice mechanisms (:mod:`privcausal.privacy.lattice`): pure-DP discrete Laplace
events, which the PLD accountant reads as the worst case of every epsilon-DP mechanism, and
discrete Gaussian events, which are zCDP (``ZCDpEvent``) and only the RDP accountant reads. A
composition holding both is counted in zCDP: every pure epsilon-DP part as epsilon^2/2 [3].
"""

from __future__ import annotations

import math
from typing import Any, Iterable, NamedTuple, Sequence

from privcausal.exceptions import PrivacyParameterError
from privcausal.privacy.events import PrivacyEvent
from privcausal.validation import check_delta

__all__ = [
    "Composition",
    "sequential",
    "parallel",
    "basic_composition",
    "accountant_epsilon",
    "composed_epsilon",
    "accountant_name",
    "ACCOUNTANTS",
]

ACCOUNTANTS = ("pld", "rdp")


def sequential(events: Sequence[PrivacyEvent], label: str) -> PrivacyEvent:
    """Events on the same records: their costs add up."""
    import dp_accounting

    events = tuple(events)
    if not events:
        raise PrivacyParameterError("nothing to compose")
    if any(not e.is_private for e in events):
        eps = math.inf
    else:
        eps = sum(e.epsilon for e in events)
    delta = min(1.0, sum(e.delta for e in events))
    ev = dp_accounting.ComposedDpEvent([e.dp_event for e in events])
    return PrivacyEvent(label, "sequential composition", eps, delta, ev, parts=events)


def parallel(events: Sequence[PrivacyEvent], label: str) -> PrivacyEvent:
    """Events on disjoint sets of records (each record in exactly one part).

    Under add/remove-one neighbouring, a record changes exactly one part, so the cost is that
    of one part. This is exact when every part ran the same mechanism; when the parts differ,
    we fall back to sequential composition, which is conservative and always sound.
    """
    events = tuple(events)
    if not events:
        raise PrivacyParameterError("nothing to compose")
    first = events[0]
    same = all(
        e.mechanism == first.mechanism
        and e.epsilon == first.epsilon
        and e.delta == first.delta
        and e.dp_event == first.dp_event
        for e in events
    )
    if not same:
        seq = sequential(events, label)
        return PrivacyEvent(
            label, "parallel (counted sequentially: parts differ)", seq.epsilon, seq.delta,
            seq.dp_event, parts=events,
        )
    return PrivacyEvent(
        label, f"parallel composition over {len(events)} disjoint parts", first.epsilon,
        first.delta, first.dp_event, first.sensitivity, first.scale, parts=events,
    )


def basic_composition(events: Iterable[PrivacyEvent]) -> tuple[float, float]:
    events = list(events)
    eps = math.inf if any(not e.is_private for e in events) else sum(e.epsilon for e in events)
    return eps, min(1.0, sum(e.delta for e in events))


def _as_zcdp(ev: Any) -> Any:
    """The same composition with every pure-DP part read as zCDP (``epsilon^2 / 2``)."""
    import dp_accounting
    from dp_accounting.dp_event import DiscreteLaplaceDpEvent

    if isinstance(ev, dp_accounting.ComposedDpEvent):
        return dp_accounting.ComposedDpEvent([_as_zcdp(e) for e in ev.events])
    if isinstance(ev, dp_accounting.SelfComposedDpEvent):
        return dp_accounting.SelfComposedDpEvent(_as_zcdp(ev.event), ev.count)
    if isinstance(ev, DiscreteLaplaceDpEvent):
        return dp_accounting.ZCDpEvent(0.5 * (ev.noise_parameter * ev.sensitivity) ** 2)
    return ev


def _needs_zcdp(ev: Any) -> bool:
    import dp_accounting

    if isinstance(ev, dp_accounting.ZCDpEvent):
        return True
    if isinstance(ev, dp_accounting.ComposedDpEvent):
        return any(_needs_zcdp(e) for e in ev.events)
    if isinstance(ev, dp_accounting.SelfComposedDpEvent):
        return _needs_zcdp(ev.event)
    return False


def accountant_epsilon(events: Iterable[PrivacyEvent], delta: float, accountant: str = "pld") -> float:
    """Epsilon at ``delta`` of the sequential composition of ``events`` by dp-accounting.

    A composition with a zCDP part (a discrete Gaussian) is counted by the RDP accountant in
    zCDP whichever ``accountant`` was asked for (the PLD accountant cannot read zCDP);
    :func:`accountant_name` says which ran.
    """
    import dp_accounting
    from dp_accounting import pld, rdp

    delta = check_delta(delta)
    events = list(events)
    if not events:
        return 0.0
    if any(not e.is_private for e in events):
        return math.inf
    if accountant not in ACCOUNTANTS:
        raise PrivacyParameterError(f"unknown accountant {accountant!r}; use one of {ACCOUNTANTS}")
    composed = dp_accounting.ComposedDpEvent([e.dp_event for e in events])
    if accountant == "pld" and not _needs_zcdp(composed):
        acc: Any = pld.PLDAccountant()
    else:
        acc = rdp.RdpAccountant()
        composed = _as_zcdp(composed)
    acc.compose(composed)
    return float(acc.get_epsilon(delta))


def accountant_name(events: Iterable[PrivacyEvent], accountant: str = "pld") -> str:
    """The accountant :func:`accountant_epsilon` uses for ``events``."""
    import dp_accounting

    composed = dp_accounting.ComposedDpEvent([e.dp_event for e in events])
    if _needs_zcdp(composed):
        return "zCDP (dp-accounting RDP; pure-DP parts as epsilon^2/2)"
    return f"{accountant.upper()} (dp-accounting)"


class Composition(NamedTuple):
    """What an accountant found for a sequence of events: the guarantee ``(epsilon, delta)``
    and the accountant that gave it (a tuple, so ``eps, delta, name = ...`` still reads it)."""

    epsilon: float
    delta: float
    accountant: str


def composed_epsilon(
    events: Sequence[PrivacyEvent], delta: float | None = None, accountant: str = "pld"
) -> Composition:
    """The tightest valid (epsilon, delta) for ``events`` and the accountant that gave it.

    ``delta`` defaults to the basic-composition delta (the sum of the events' deltas).
    Returns a :class:`Composition` ``(epsilon, delta, accountant)``.
    """
    eps_basic, delta_basic = basic_composition(events)
    d = delta_basic if delta is None else check_delta(delta)
    if math.isinf(eps_basic):
        return Composition(math.inf, d, "none (non-private)")
    if d == 0 and delta_basic == 0:
        # pure epsilon-DP events at delta = 0: basic composition is already tight for the
        # worst case, and the PLD accountant can only add discretisation error (and time)
        return Composition(eps_basic, 0.0, "basic composition")
    eps_acc = accountant_epsilon(events, d, accountant)
    if d >= delta_basic and eps_basic <= eps_acc:
        return Composition(eps_basic, d, "basic composition")
    return Composition(eps_acc, d, accountant_name(events, accountant))

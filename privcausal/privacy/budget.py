"""A privacy budget that refuses to overspend."""

from __future__ import annotations

import math
from typing import Sequence

from privcausal.exceptions import BudgetExceededError, PrivacyParameterError
from privcausal.privacy.accounting import composed_epsilon
from privcausal.privacy.events import PrivacyEvent
from privcausal.validation import check_delta, check_epsilon

__all__ = ["PrivacyBudget", "split_budget"]

_REL_TOL = 1e-9


class PrivacyBudget:
    """Tracks releases against a total (epsilon, delta); a release that would overspend raises.

    The spent epsilon is the tightest valid statement for the events so far at the budget's
    delta: basic composition or the PLD accountant, whichever is smaller. An overspending
    event raises :class:`BudgetExceededError` and is not recorded, so the caller must not
    release its output.

    Examples
    --------
    >>> from privcausal.privacy import PrivacyBudget, LaplaceMechanism
    >>> budget = PrivacyBudget(1.0, 0.0)
    >>> budget.spend(LaplaceMechanism(0.5, 1.0).event("count"))
    >>> budget.spend(LaplaceMechanism(0.6, 1.0).event("sum"))
    Traceback (most recent call last):
    ...
    privcausal.exceptions.BudgetExceededError: ...
    """

    def __init__(self, epsilon: float, delta: float = 0.0, accountant: str = "pld") -> None:
        self.epsilon = check_epsilon(epsilon)
        self.delta = check_delta(delta)
        self.accountant = accountant
        self._events: list[PrivacyEvent] = []

    @property
    def events(self) -> tuple[PrivacyEvent, ...]:
        return tuple(self._events)

    def spent(self) -> tuple[float, float]:
        """(epsilon, delta) spent so far at the budget's delta (or the events' own delta sum)."""
        if not self._events:
            return 0.0, 0.0
        eps, d, _ = composed_epsilon(self._events, self._delta_for(self._events), self.accountant)
        return eps, d

    def _delta_for(self, events: Sequence[PrivacyEvent]) -> float:
        event_delta = min(1.0, sum(e.delta for e in events))
        if event_delta > self.delta * (1 + _REL_TOL):
            raise BudgetExceededError(
                "this release needs more delta than the budget has left "
                f"(total {event_delta:.3g} > budget {self.delta:.3g}); nothing was released"
            )
        return self.delta if self.delta > 0 else event_delta

    def can_spend(self, event: PrivacyEvent) -> bool:
        try:
            self._check(event)
        except BudgetExceededError:
            return False
        return True

    def _check(self, event: PrivacyEvent) -> None:
        if math.isinf(self.epsilon):
            return
        if not event.is_private:
            raise BudgetExceededError(
                "a non-private release cannot be charged to a finite budget; nothing was released"
            )
        trial = self._events + [event]
        eps, _, _ = composed_epsilon(trial, self._delta_for(trial), self.accountant)
        if eps > self.epsilon * (1 + _REL_TOL):
            raise BudgetExceededError(
                f"releasing '{event.label}' would bring the spent epsilon to {eps:.4g}, over the "
                f"budget of {self.epsilon:.4g}; nothing was released"
            )

    def spend(self, event: PrivacyEvent) -> None:
        """Record ``event`` or raise :class:`BudgetExceededError` (recording nothing)."""
        self._check(event)
        self._events.append(event)

    def __repr__(self) -> str:
        e, d = self.spent()
        return f"PrivacyBudget(epsilon={self.epsilon}, delta={self.delta}, spent=({e:.4g}, {d:.3g}))"


def split_budget(epsilon: float, delta: float, weights: Sequence[float]) -> list[tuple[float, float]]:
    """Split (epsilon, delta) by ``weights`` for basic composition; inf stays inf."""
    epsilon = check_epsilon(epsilon)
    delta = check_delta(delta)
    w = [float(x) for x in weights]
    if not w or any(x <= 0 or not math.isfinite(x) for x in w):
        raise PrivacyParameterError("budget weights must be positive and finite")
    s = sum(w)
    return [(epsilon * x / s if math.isfinite(epsilon) else math.inf, delta * x / s) for x in w]

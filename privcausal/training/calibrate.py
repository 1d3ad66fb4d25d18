"""DP-SGD accounting: the dp-accounting event, its epsilon, and noise calibration.

DP-SGD with Poisson sampling rate ``q``, noise multiplier ``sigma`` and ``T`` steps is the
event ``SelfComposed(PoissonSampled(q, Gaussian(sigma)), T)`` (add/remove-one neighbouring).
Its epsilon at ``delta`` comes from the privacy core's PLD accountant
(:func:`privcausal.privacy.accountant_epsilon`); RDP is reported beside it as a cross-check.

:func:`calibrate_noise_multiplier` finds the smallest ``sigma`` whose PLD epsilon is at most
the target: a fast RDP calibration first with dp-accounting's ``calibrate_dp_mechanism`` (RDP's epsilon is an
upper bound on PLD's, usually, so its sigma is a good upper end of the bracket), then
Brent's method inside the bracket on a coarser PLD accountant (ten times faster, still a
valid pessimistic bound; for epsilon < 0.5 the privacy core's accountant itself), and
finally the privacy core's PLD accountant (:func:`privcausal.privacy.accountant_epsilon`)
checks the result, stepping sigma up by ``rel_tol`` until it meets the target. The returned sigma always meets the target under
the privacy core's accountant, and is within about ``rel_tol`` of the smallest that does.

Noise-multiplier cap
--------------------
A target epsilon too small for the number of steps needs a huge ``sigma``: every update is
then mostly noise and the "trained" model is noise too. Past ``max_noise_multiplier``
(:data:`NOISE_MULTIPLIER_CAP` = 50 by default) calibration raises
:class:`~privcausal.exceptions.InfeasiblePrivacyError` naming the feasible alternatives:
the smallest epsilon that the requested steps allow at the cap, and the most steps (epochs)
that the requested epsilon allows at the cap. The cap is on sigma alone; the noise on the
averaged gradient is ``sigma * C / expected_batch_size``, so full-batch training on many
records tolerates a larger sigma: raise ``max_noise_multiplier`` for it.
"""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

from scipy import optimize

from privcausal.exceptions import InfeasiblePrivacyError, PrivacyParameterError
from privcausal.privacy import PrivacyEvent, accountant_epsilon
from privcausal.validation import check_delta, check_epsilon

__all__ = [
    "NOISE_MULTIPLIER_CAP",
    "dpsgd_dp_event",
    "dpsgd_privacy_event",
    "dpsgd_epsilon",
    "calibrate_noise_multiplier",
    "max_steps_for",
    "check_sampling",
]

#: Default largest noise multiplier calibration will return (see the module docstring).
NOISE_MULTIPLIER_CAP = 50.0

DPSGD_MECHANISM = "dp-sgd (Poisson-sampled Gaussian)"


@contextmanager
def _quiet_absl() -> Iterator[None]:
    """dp-accounting's RDP logs a warning per non-converging order; those orders are just
    skipped (the bound stays valid), so keep them out of the user's console."""
    log = logging.getLogger("absl")
    old = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(old)


def check_sampling(sampling_rate: float, steps: int) -> tuple[float, int]:
    q = float(sampling_rate)
    if not (0.0 < q <= 1.0) or math.isnan(q):
        raise PrivacyParameterError(f"the sampling rate must lie in (0, 1], got {q!r}")
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise PrivacyParameterError(f"the number of steps must be a positive integer, got {steps!r}")
    return q, int(steps)


def dpsgd_dp_event(noise_multiplier: float, sampling_rate: float, steps: int):
    """``SelfComposed(PoissonSampled(q, Gaussian(sigma)), T)`` as a dp-accounting event."""
    import dp_accounting

    q, steps = check_sampling(sampling_rate, steps)
    sigma = float(noise_multiplier)
    if not sigma > 0 or math.isinf(sigma):
        raise PrivacyParameterError(f"the noise multiplier must be positive and finite, got {sigma!r}")
    return dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps
    )


def dpsgd_epsilon(noise_multiplier: float, sampling_rate: float, steps: int, delta: float,
                  accountant: str = "pld") -> float:
    """Epsilon at ``delta`` of DP-SGD (``accountant``: ``pld`` or ``rdp``); inf when sigma = 0."""
    delta = check_delta(delta)
    if noise_multiplier == 0:
        return math.inf
    q, steps = check_sampling(sampling_rate, steps)
    return _epsilon_cached(float(noise_multiplier), q, steps, delta, accountant)


@lru_cache(maxsize=4096)
def _epsilon_cached(sigma: float, q: float, steps: int, delta: float, accountant: str) -> float:
    ev = dpsgd_dp_event(sigma, q, steps)
    # The placeholder epsilon only marks the event as private for the accountant, which
    # reads the dp_event alone.
    tmp = PrivacyEvent.from_dp_event("dp-sgd", DPSGD_MECHANISM, ev, 0.0, delta)
    with _quiet_absl():
        return accountant_epsilon([tmp], delta, accountant)


def dpsgd_privacy_event(noise_multiplier: float, sampling_rate: float, steps: int, delta: float,
                        label: str = "DP-SGD training") -> PrivacyEvent:
    """The :class:`~privcausal.privacy.PrivacyEvent` of a DP-SGD run (non-private if sigma = 0)."""
    if noise_multiplier == 0:
        return PrivacyEvent.non_private(label)
    eps = dpsgd_epsilon(noise_multiplier, sampling_rate, steps, delta, "pld")
    ev = dpsgd_dp_event(noise_multiplier, sampling_rate, steps)
    return PrivacyEvent.from_dp_event(label, DPSGD_MECHANISM, ev, eps, delta)


def max_steps_for(epsilon: float, delta: float, sampling_rate: float, noise_multiplier: float,
                  upper: int) -> int:
    """The most steps (<= ``upper``) DP-SGD with ``noise_multiplier`` can run within epsilon
    (0 if not even one step fits)."""
    if dpsgd_epsilon(noise_multiplier, sampling_rate, 1, delta) > epsilon:
        return 0
    lo, hi = 1, int(upper)  # eps(lo) <= target; find the largest such
    if dpsgd_epsilon(noise_multiplier, sampling_rate, hi, delta) <= epsilon:
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if dpsgd_epsilon(noise_multiplier, sampling_rate, mid, delta) <= epsilon:
            lo = mid
        else:
            hi = mid
    return lo


def calibrate_noise_multiplier(
    epsilon: float,
    delta: float,
    sampling_rate: float,
    steps: int,
    *,
    max_noise_multiplier: float = NOISE_MULTIPLIER_CAP,
    rel_tol: float = 1e-3,
) -> float:
    """The smallest noise multiplier (to ``rel_tol``) for which DP-SGD meets (epsilon, delta).

    Returns 0.0 for ``epsilon = inf`` (the non-private twin). Raises
    :class:`~privcausal.exceptions.InfeasiblePrivacyError` when it would exceed
    ``max_noise_multiplier``, with the feasible alternatives in the message.
    """
    import dp_accounting
    from dp_accounting import mechanism_calibration as mc
    from dp_accounting import rdp

    epsilon = check_epsilon(epsilon)
    delta = check_delta(delta)
    q, steps = check_sampling(sampling_rate, steps)
    if math.isinf(epsilon):
        return 0.0
    if delta == 0:
        raise PrivacyParameterError("DP-SGD (a Gaussian mechanism) needs delta > 0")
    cap = float(max_noise_multiplier)
    if not cap > 0:
        raise PrivacyParameterError("max_noise_multiplier must be positive")

    eps_at_cap = dpsgd_epsilon(cap, q, steps, delta)
    if eps_at_cap > epsilon:
        best = max_steps_for(epsilon, delta, q, cap, steps)
        epochs = steps * q
        alt = (
            f"at most {best} steps ({best * q:.3g} epochs) at epsilon={epsilon:g}"
            if best > 0
            else f"no number of steps at epsilon={epsilon:g} (not even one step fits)"
        )
        raise InfeasiblePrivacyError(
            f"epsilon={epsilon:g} (delta={delta:g}) cannot pay for {steps} steps "
            f"({epochs:.3g} epochs at sampling rate {q:.4g}): it needs a noise multiplier above "
            f"the cap of {cap:g}, past which the updates are mostly noise. Feasible at the cap: "
            f"epsilon >= {eps_at_cap:.3g} for {steps} steps, or {alt}. For full-batch training "
            "on many records a larger sigma can still work: raise max_noise_multiplier."
        )

    def make_event(s: float):
        return dp_accounting.SelfComposedDpEvent(
            dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(s)), steps
        )

    with _quiet_absl():
        # RDP's calibrated sigma (dp-accounting's calibrate_dp_mechanism; RDP is cheap) is
        # the starting guess: RDP usually upper-bounds PLD's epsilon, though not at tiny
        # epsilon, where PLD's pessimistic discretisation dominates; so it is checked.
        try:
            hi = mc.calibrate_dp_mechanism(
                rdp.RdpAccountant, make_event, epsilon, delta,
                mc.ExplicitBracketInterval(1e-3, cap * 4.0), tol=1e-4 * cap,
            )
            hi = min(float(hi) * (1 + 1e-3), cap)
        except Exception:  # pragma: no cover - RDP bracket failure: PLD alone
            hi = cap
    # Search on a coarser PLD (discretisation 1e-3: ten times faster, still a valid
    # pessimistic bound) when epsilon is large against that discretisation, else on the
    # privacy core's accountant itself; the latter judges the result in any case.
    fine = _fine_gap(q, steps, delta, epsilon)
    gap = _coarse_gap(q, steps, delta, epsilon) if epsilon >= 0.5 else fine
    while gap(hi) > 0 and hi < cap:
        hi = min(cap, hi * 1.25)
    sigma = hi
    if gap(hi) <= 0:
        lo = hi
        for _ in range(80):
            lo *= 0.85
            if gap(lo) > 0:
                break
        else:  # pragma: no cover - epsilon met at a vanishing sigma
            lo = 0.0
        if lo > 0:
            sigma = float(optimize.brentq(gap, lo, hi, xtol=rel_tol * lo / 4))
            if gap(sigma) > 0:
                sigma = min(hi, sigma * (1 + rel_tol / 4))
    # The cap meets the target (checked above), so this ends at the cap at the latest.
    while fine(sigma) > 0 and sigma < cap:
        sigma = min(cap, sigma * (1 + rel_tol))
    return float(sigma)


def _fine_gap(q: float, steps: int, delta: float, epsilon: float):
    return lambda s: dpsgd_epsilon(float(s), q, steps, delta) - epsilon


def _coarse_gap(q: float, steps: int, delta: float, epsilon: float):
    import dp_accounting
    from dp_accounting import pld

    @lru_cache(maxsize=None)
    def gap(s: float) -> float:
        acc = pld.PLDAccountant(value_discretization_interval=1e-3)
        acc.compose(dp_accounting.SelfComposedDpEvent(
            dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(s)), steps))
        return float(acc.get_epsilon(delta)) - epsilon

    return lambda s: gap(float(s))

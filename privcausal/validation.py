"""One validator per concept: epsilon, delta, random_state, alpha, finite arrays."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from privcausal.exceptions import DataTypeError, DataValidationError, PrivacyParameterError

__all__ = [
    "check_epsilon",
    "check_delta",
    "MAX_EPSILON",
    "MAX_DELTA",
    "check_alpha",
    "check_interval_alpha",
    "check_random_state",
    "check_finite_array",
    "is_seeded",
]


#: the largest finite epsilon accepted: beyond it a guarantee says nothing (e^100), the
#: accountants' calibration runs for minutes and the noise scales underflow
MAX_EPSILON = 100.0
#: the largest delta accepted: a delta this large already allows releasing a tenth of the records
MAX_DELTA = 0.1


def check_epsilon(epsilon: Any, *, allow_inf: bool = True, name: str = "epsilon") -> float:
    """Return ``epsilon`` as a float after checking it is a number in (0, MAX_EPSILON] or inf.

    ``epsilon = inf`` means "the non-private twin": no noise is added and the receipt says so.
    A finite epsilon above :data:`MAX_EPSILON` is refused up front (before any noise is drawn):
    it protects nothing, and calibrating for it is a denial of service.
    """
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real):
        raise DataTypeError(f"{name} must be a real number, got {type(epsilon).__name__}")
    eps = float(epsilon)
    if math.isnan(eps) or eps <= 0:
        raise PrivacyParameterError(
            f"{name} must be > 0 (got {eps!r}); epsilon = 0 would allow no release at all"
        )
    if math.isinf(eps) and not allow_inf:
        raise PrivacyParameterError(f"{name} must be finite here")
    if math.isfinite(eps) and eps > MAX_EPSILON:
        raise PrivacyParameterError(
            f"{name} = {eps:g} is beyond the supported range (0, {MAX_EPSILON:g}]: such a "
            "guarantee protects nothing; use epsilon = inf for the non-private twin")
    return eps


def check_delta(delta: Any, *, name: str = "delta") -> float:
    """Return ``delta`` as a float in [0, MAX_DELTA]: a larger delta allows releasing a fraction
    of the records outright (choose delta well below 1/n)."""
    if isinstance(delta, bool) or not isinstance(delta, numbers.Real):
        raise DataTypeError(f"{name} must be a real number, got {type(delta).__name__}")
    d = float(delta)
    if not (0.0 <= d < 1.0):
        raise PrivacyParameterError(
            f"{name} must lie in [0, 1) (got {d!r}); delta >= 1 promises nothing"
        )
    if d > MAX_DELTA:
        raise PrivacyParameterError(
            f"{name} = {d:g} is above the cap {MAX_DELTA:g}: such a guarantee allows releasing "
            "that fraction of the records outright; choose delta well below 1/n")
    return d


def check_alpha(alpha: Any) -> float:
    """Return a significance level in (0, 1)."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise DataTypeError(f"alpha must be a real number, got {type(alpha).__name__}")
    a = float(alpha)
    if not (0.0 < a < 1.0):
        raise PrivacyParameterError(f"alpha must lie in (0, 1), got {a!r}")
    return a


def check_interval_alpha(alpha: Any) -> float:
    """Return the ``alpha`` of a (1 - alpha) confidence interval, in (0, 0.5].

    ``alpha`` is one minus the confidence level: 0.05 asks for a 95 % interval. A value above
    0.5 is refused rather than read as a confidence level (``ate_interval(0.95)`` would
    otherwise return a 5 % interval without a word).
    """
    a = check_alpha(alpha)
    if a > 0.5:
        raise PrivacyParameterError(
            f"alpha is 1 - confidence level and must lie in (0, 0.5]: alpha={a!r} would give a "
            f"{100 * (1 - a):.3g}% interval; for a {100 * a:.3g}% interval pass alpha={1 - a:.3g}")
    return a


def ate_interval_alpha(X: Any, alpha: Any, *, X_allowed: bool = True) -> float:
    """The alpha of ``ate_interval(X=None, alpha=0.05)`` in EconML's argument order, checked.

    A number given as ``X`` is the alpha of the older ``ate_interval(alpha)`` form (both at once
    are refused). An ATE estimator's average effect is the same for every ``X`` (it models no
    heterogeneity), so rows given as ``X`` change nothing there; a CATE learner refuses them
    (``X_allowed=False``): its interval is for the training population's average.
    """
    if isinstance(X, numbers.Real) and not isinstance(X, bool):
        if alpha != 0.05:
            raise PrivacyParameterError("ate_interval got alpha twice: call ate_interval(alpha=...) "
                                        "or ate_interval(X, alpha=...)")
        alpha, X = X, None
    if X is not None and not X_allowed:
        raise PrivacyParameterError("this learner's ate_interval is for the average over the training "
                                    "records: call it without X (effect_interval(X) gives per-row intervals)")
    return check_interval_alpha(alpha)


def is_seeded(random_state: Any) -> bool:
    """True when ``random_state`` makes the noise reproducible (experiments, not releases)."""
    return random_state is not None


def check_random_state(random_state: Any) -> np.random.Generator:
    """Turn ``random_state`` (None, int or Generator) into a numpy Generator.

    For ``None`` the generator is seeded from the operating system's entropy. Release noise is
    not drawn from this generator when unseeded: :mod:`privcausal.privacy.random` uses the OS
    CSPRNG directly. This generator serves the non-privacy randomness (splits, bootstrap).
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, (np.random.RandomState,)):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if int(random_state) < 0:
            raise DataValidationError("random_state must be a non-negative integer")
        return np.random.default_rng(int(random_state))
    raise DataTypeError(
        f"random_state must be None, an int or a numpy Generator, got {type(random_state).__name__}"
    )


def check_finite_array(x: Any, *, name: str, ndim: int | None = None) -> np.ndarray:
    """Convert to a float64 array and check it is finite; the message gives counts, not values."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataTypeError(f"{name} must be numeric; it holds non-numeric entries") from None
    if ndim is not None and arr.ndim != ndim:
        raise DataValidationError(f"{name} must be {ndim}-dimensional, got {arr.ndim} dimensions")
    n_nan = int(np.isnan(arr).sum())
    n_inf = int(np.isinf(arr).sum())
    if n_nan or n_inf:
        raise DataValidationError(
            f"{name} holds {n_nan} NaN and {n_inf} infinite entries; privcausal cannot bound "
            "the sensitivity of such values (impute or drop them, or declare the column as "
            "missing-allowed in the Domain)"
        )
    return arr

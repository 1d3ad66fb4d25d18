"""Checks of single values of an experiment spec; every error names the key it is about.

Used by :mod:`audits.curves.spec`; a message says what was found and what is allowed.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Mapping

from privcausal.exceptions import SpecError

__all__ = ["fail", "table", "as_int", "as_float", "epsilon_list", "probability", "name_list"]


def fail(key: str, why: str) -> SpecError:
    return SpecError(f"spec key {key!r}: {why}")


def table(d: Mapping[str, Any], key: str, allowed: set[str], where: str) -> dict[str, Any]:
    t = d.get(key, {})
    if not isinstance(t, Mapping):
        raise fail(f"{where}{key}", f"must be a table, got {type(t).__name__}")
    bad = sorted(set(t) - allowed)
    if bad:
        raise fail(f"{where}{key}.{bad[0]}", f"unknown key; allowed: {', '.join(sorted(allowed))}")
    return dict(t)


def as_int(v: Any, key: str, lo: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or int(v) < lo:
        raise fail(key, f"must be an integer >= {lo}, got {v!r}")
    return int(v)


def as_float(v: Any, key: str) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(float(v)):
        raise fail(key, f"must be a number, got {v!r}")
    return float(v)


def epsilon_list(v: Any, key: str) -> tuple[float, ...]:
    if not isinstance(v, list) or not v:
        raise fail(key, "must be a non-empty list of numbers > 0")
    eps = tuple(as_float(e, f"{key}[{i}]") for i, e in enumerate(v))
    for i, e in enumerate(eps):
        if not 0 < e < math.inf:
            raise fail(f"{key}[{i}]", f"epsilon must be finite and > 0 (got {e!r}); the "
                        "non-private twins run at epsilon = inf on their own (grid.twins)")
    if len(set(eps)) != len(eps):
        raise fail(key, "lists an epsilon twice")
    return tuple(sorted(eps))


def probability(v: Any, key: str, *, zero: bool) -> float:
    x = as_float(v, key)
    if not ((0.0 <= x if zero else 0.0 < x) and x < 1.0):
        raise fail(key, f"must lie in {'[0' if zero else '(0'}, 1), got {x!r}")
    return x


def name_list(v: Any, key: str, known: Mapping[str, Any], private: set[str]) -> tuple[str, ...]:
    if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
        raise fail(key, "must be a non-empty list of names")
    for x in v:
        if x not in known:
            raise fail(key, f"unknown name {x!r}; choose from {', '.join(sorted(private))}")
        if x not in private:
            raise fail(key, f"{x!r} is a non-private twin; list the private name (twins are added "
                        "at epsilon = inf by grid.twins)")
    if len(set(v)) != len(v):
        raise fail(key, "lists a name twice")
    return tuple(v)

"""The one way privcausal writes numbers into JSON (receipts, model files, reports, the CLI).

JSON has no infinity and no NaN: :func:`json_number` writes an infinity as the string
``"inf"`` / ``"-inf"`` and NaN as ``null`` (None), and numpy scalars as Python numbers;
:func:`json_value` does so recursively (mappings, sequences, arrays).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

__all__ = ["json_number", "json_value"]


def json_number(x: Any) -> Any:
    """Infinities as the strings ``"inf"`` / ``"-inf"``, NaN as None, numpy scalars as Python
    numbers; anything else unchanged."""
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float):
        if math.isnan(x):
            return None
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
    return x


def json_value(x: Any) -> Any:
    """Plain JSON values, recursively: numpy to Python, arrays and tuples to lists, numbers
    through :func:`json_number`."""
    if isinstance(x, Mapping):
        return {str(k): json_value(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return [json_value(v) for v in x.tolist()]
    if isinstance(x, (list, tuple)):
        return [json_value(v) for v in x]
    return json_number(x)


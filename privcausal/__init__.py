"""privcausal: differential privacy for causal inference on medical data.

The top-level names are loaded lazily so that ``privcausal --help`` answers at once.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "CausalData": "privcausal.data",
    "simulate_trauma": "privcausal.data",
    "load_ihdp": "privcausal.data",
    "from_frame": "privcausal.data",
    "Domain": "privcausal.domain",
    "Numeric": "privcausal.domain",
    "Categorical": "privcausal.domain",
    "OutcomeBounds": "privcausal.domain",
    "PrivacyBudget": "privcausal.privacy",
    "Receipt": "privcausal.privacy",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'privcausal' has no attribute {name!r}")

"""What an adversary does: membership inference and reconstruction, and how well it did.

Names are loaded on first use, so ``import attacks`` stays cheap (no torch, no matplotlib).
Convention: label member = 1, a higher score means "more likely a member".
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    name: "attacks.metrics"
    for name in (
        "RocCurve",
        "TprAtFpr",
        "AttackMetrics",
        "SubgroupMetrics",
        "roc_curve",
        "roc_auc",
        "tpr_at_fpr",
        "membership_advantage",
        "attack_metrics",
        "subgroup_metrics",
        "plot_roc",
    )
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'attacks' has no attribute {name!r}")

"""How leakage is measured against the claimed epsilon: empirical lower bounds on epsilon.

Names are loaded on first use, so ``import audits`` does not pull in scipy until a bound is
computed.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    name: "audits.bounds"
    for name in (
        "EpsilonLowerBound",
        "clopper_pearson_upper",
        "clopper_pearson_bound",
        "gaussian_dp_bound",
        "bound_from_scores",
        "ceiling",
        "gdp_delta",
        "gdp_epsilon",
    )
}
_LAZY.update({name: "audits.one_run" for name in ("one_run_p_value", "one_run_bound", "one_run_bound_from_scores")})
_LAZY.update({name: "audits.mechanism" for name in ("audit_mechanism", "MechanismAuditResult")})
_LAZY.update({name: "audits.harness" for name in ("audit_dpsgd", "DPSGDAuditResult")})
_LAZY.update({name: "audits.runner" for name in ("run_trials", "TrialResults")})
_LAZY.update({name: "audits.report" for name in ("audit_record", "write_report")})
_LAZY.update({name: "audits.figures" for name in ("score_histogram", "roc_figure", "epsilon_figure")})

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'audits' has no attribute {name!r}")

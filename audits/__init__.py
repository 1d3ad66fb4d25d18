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
_LAZY.update({name: "audits.crafted" for name in ("audit_hidden_state_mlp", "CraftedAuditResult")})
_LAZY.update({name: "audits.crafted_canary" for name in ("crafted_mlp_canary", "CraftedCanary")})
_LAZY.update({name: "audits.runner" for name in ("run_trials", "TrialResults")})
_LAZY.update({name: "audits.report" for name in ("audit_record", "write_report")})
_LAZY.update({name: "audits.figures" for name in ("score_histogram", "roc_figure", "epsilon_figure")})
_LAZY.update({name: "audits.one_run_dpsgd" for name in ("audit_dpsgd_one_run", "OneRunAuditResult")})
_LAZY.update({name: "audits.zoo" for name in ("broken_trainer", "reference_dpsgd", "BUGS")})
_LAZY.update({name: "audits.scores" for name in ("product_llr", "projection_score")})
_LAZY.update({name: "audits.neighbours" for name in ("worst_case_neighbours", "audit_domain", "extreme_row")})
_LAZY.update({name: "audits.releases" for name in ("release_mechanism", "RELEASES", "EstimatorRelease")})
_LAZY.update({name: "audits.estimator_audit" for name in ("audit_release", "EstimatorAudit")})

_LAZY.update({name: "audits.curves" for name in ("run_curves", "CurveResult")})
_LAZY.update({name: "audits.curve_spec" for name in ("load_spec", "parse_spec", "CurveSpec")})
__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'audits' has no attribute {name!r}")

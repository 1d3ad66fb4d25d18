"""What an adversary does: membership inference and reconstruction, and how well it did.

Modules: :mod:`attacks.targets` (what is attacked), :mod:`attacks.membership` (the attacks;
array-level LiRA in :mod:`attacks.lira`, RMIA in :mod:`attacks.rmia`, reference models in
:mod:`attacks.shadow`), :mod:`attacks.results`, :mod:`attacks.reconstruction` (informed
adversary closed forms), :mod:`attacks.gradient_reconstruction` (DP-SGD trajectories),
:mod:`attacks.linear_reconstruction` (Dinur-Nissim), :mod:`attacks.attribute`,
:mod:`attacks.rero` (reconstruction-robustness bound). The command line is
:mod:`privcausal.cli.attack`.

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

_LAZY.update({name: "attacks.targets" for name in (
    "Target", "TorchTarget", "SklearnTarget", "as_target", "load_target",
    "statistic_from_outputs", "ReleasedModelTarget")})
_LAZY["ScoreTarget"] = "attacks.targets"
_LAZY.update({name: "attacks.records" for name in ("Records", "as_records")})
_LAZY.update({name: "attacks.membership" for name in (
    "ATTACKS", "membership_attack", "membership_attacks", "loss_scores", "calibrated_scores")})
_LAZY.update({name: "attacks.lira" for name in ("lira_online", "lira_offline")})
_LAZY.update({name: "attacks.rmia" for name in ("rmia_scores", "tune_offline_a")})
_LAZY.update({name: "attacks.shadow" for name in (
    "TrainingRecipe", "ReferenceModels", "train_reference_models", "balanced_inclusion", "random_halves")})
_LAZY.update({name: "attacks.results" for name in ("MembershipResult", "result_from_scores", "write_report")})
_LAZY.update({name: "attacks.reconstruction" for name in (
    "Reconstruction", "informed_gram", "informed_sufficient_stats", "informed_ridge", "informed_logistic")})
_LAZY.update({name: "attacks.gradient_reconstruction" for name in (
    "GradientTrace", "trace_from_training", "reconstruct_from_gradients", "prior_aware_reconstruction")})
_LAZY.update({name: "attacks.linear_reconstruction" for name in (
    "subset_queries", "private_subset_sums", "reconstruct_bits")})
_LAZY.update({name: "attacks.attribute" for name in ("attribute_inference", "infer_attribute")})
_LAZY.update({name: "attacks.rero" for name in (
    "ReRoBound", "rero_bound", "rero_bound_dpsgd", "rero_bound_gaussian", "estimate_kappa", "within_radius")})

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'attacks' has no attribute {name!r}")

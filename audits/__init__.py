"""How leakage is measured against the claimed epsilon, and reported.

One result contract (:mod:`audits.result`) on top; one folder per job:

=================  ===========================================================================
``bounds/``        epsilon lower bounds (Clopper-Pearson, Gaussian DP with its test, one run)
``dpsgd/``         DP-SGD audits under named threat models, canaries, the broken-trainer zoo
``releases/``      black-box audits of any mechanism and of every estimator's release
``runner/``        trial execution (joblib, Dask, Ray), checkpoint and resume
``report/``        JSON, Markdown and HTML reports, figures
``curves/``        privacy-utility curves
``models/``        audits of released models (:func:`audit_model`: any format, one call)
=================  ===========================================================================

Names are loaded on first use, so ``import audits`` does not pull in scipy until a bound is
computed.
"""

from __future__ import annotations

from audits._lazy import by_module, lazy_face

__all__, __getattr__ = lazy_face(__name__, by_module(**{
    "result": ("AuditResult", "Audit", "AssumptionTest", "Verdict", "exit_status"),
    "bounds.gaussian_test": ("gaussian_scores_test",),
    "bounds.multi_run": ("EpsilonLowerBound", "clopper_pearson_upper", "clopper_pearson_bound",
                         "gaussian_dp_bound", "bound_from_scores", "ceiling", "gdp_delta",
                         "gdp_epsilon"),
    "bounds.one_run": ("one_run_p_value", "one_run_bound", "one_run_bound_from_scores"),
    "releases.mechanism": ("audit_mechanism", "MechanismAuditResult"),
    "releases.scores": ("product_llr", "projection_score"),
    "releases.neighbours": ("worst_case_neighbours", "audit_domain", "extreme_row"),
    "releases.estimators": ("release_mechanism", "RELEASES", "EstimatorRelease"),
    "releases.estimator_audit": ("audit_release", "EstimatorAudit"),
    "dpsgd.multi_run": ("audit_dpsgd", "DPSGDAuditResult"),
    "dpsgd.crafted": ("audit_hidden_state_mlp", "CraftedAuditResult"),
    "dpsgd.crafted_canary": ("crafted_mlp_canary", "CraftedCanary"),
    "dpsgd.one_run": ("audit_dpsgd_one_run", "OneRunAuditResult"),
    "dpsgd.zoo": ("broken_trainer", "reference_dpsgd", "BUGS"),
    "runner.run": ("run_trials", "TrialResults"),
    "report.records": ("audit_record", "write_report"),
    "report.figures": ("score_histogram", "roc_figure", "epsilon_figure"),
    "curves.run": ("run_curves", "CurveResult"),
    "curves.spec": ("load_spec", "parse_spec", "CurveSpec"),
    "models.audit": ("audit_model",),
    "models.scores": ("audit_membership_scores",),
    "models.interpret": ("dp_tpr_limit", "attacker_terms"),
}))

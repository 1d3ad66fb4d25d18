"""Black-box audits of a release: any mechanism on neighbouring datasets, and every estimator's
release on its worst-case neighbours from the declared domain."""

from audits._lazy import by_module, lazy_face

__all__, __getattr__ = lazy_face(__name__, by_module(
    mechanism=("audit_mechanism", "MechanismAuditResult", "sample_mechanism"),
    estimator_audit=("audit_release", "EstimatorAudit"),
    estimators=("release_mechanism", "RELEASES", "EstimatorRelease"),
    neighbours=("worst_case_neighbours", "audit_domain", "extreme_row"),
    scores=("product_llr", "projection_score"),
))

"""DP-SGD audits under named threat models: canaries (Dirac, crafted, input), multi-run and
one-run audits, the white-box route, and the broken-trainer zoo."""

from audits._lazy import by_module, lazy_face

__all__, __getattr__ = lazy_face(__name__, by_module(
    multi_run=("audit_dpsgd", "DPSGDAuditResult"),
    one_run=("audit_dpsgd_one_run", "OneRunAuditResult"),
    crafted=("audit_hidden_state_mlp", "CraftedAuditResult"),
    crafted_canary=("crafted_mlp_canary", "CraftedCanary"),
    canaries=("dirac_canary", "input_canary", "DiracCanary", "InputCanary"),
    white_box=("composed_white_box_bound", "ComposedNoiseCheck"),
    zoo=("broken_trainer", "reference_dpsgd", "BUGS"),
    zoo_audits=("shuffle_filler_audit", "repeated_noise_audit", "ZooAuditResult"),
))

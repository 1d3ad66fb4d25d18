"""Audits of released models: one call (:func:`audit_model`), the records, the bound, and what
the claim means for an attacker.

=========================  ===================================================================
``audit``                  :func:`audit_model`: load, attack, certify, in one call
``frames``                 members, non-members, population: labels and columns made consistent
``scores``                 :func:`audit_membership_scores`: the certified bound from the scores
``interpret``              the claim's TPR limits and odds factor beside the measured attack
=========================  ===================================================================
"""

from audits.models.audit import MODEL_ATTACKS, MODEL_BOUNDS, audit_model
from audits.models.interpret import attacker_terms, dp_tpr_limit
from audits.models.scores import audit_membership_scores

__all__ = ["audit_model", "audit_membership_scores", "attacker_terms", "dp_tpr_limit",
           "MODEL_ATTACKS", "MODEL_BOUNDS"]

"""The bound of a model's membership audit, from its attack scores (:func:`audit_membership_scores`)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from audits.result import Audit
from privcausal.exceptions import DataValidationError

__all__ = ["audit_membership_scores"]


def audit_membership_scores(scores: Any, labels: Any, *, epsilon: float, delta: float, alpha: float,
                            bound: str, attack: str, details: Mapping[str, Any] | None = None) -> Audit:
    """The audit of one model's membership scores on records known to be members (1) or not (0).

    The certificate is the one-run bound of Steinke, Nasr, Jagielski (2023) over the audited
    records (``bound="one-run"``; ``"fdp-one-run"``: its f-DP refinement where the scores pass
    the Gaussian-shift test). ``"clopper-pearson"`` and ``"gdp"`` add the threshold-test figure
    over the records as an *estimate*: records of one model are not independent trials.

    References
    ----------
    .. [1] Steinke, Nasr, Jagielski, "Privacy auditing with one (1) training run", NeurIPS 2023.
    .. [2] Mahloujifar, Melis, Chaudhuri, "Auditing f-differential privacy in one run", 2024.
    """
    from audits.bounds.licensed import GDP_ESTIMATE_ASSUMPTION, licensed_bound, licensed_one_run

    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(int)
    s_in, s_out = scores[labels == 1], scores[labels == 0]
    if s_in.size == 0 or s_out.size == 0:
        raise DataValidationError("the audit needs members and non-members: one group is empty")
    threat = (f"black-box: the released model's outputs on {labels.size} records known to be "
              f"members or not ({attack} attack)")
    gauss = bound in ("gdp", "fdp-one-run")
    if gauss and delta <= 0:
        # mu-GDP is no (epsilon, 0) guarantee: the assumption-free route answers at delta 0
        bound = {"gdp": "clopper-pearson", "fdp-one-run": "one-run"}[bound]
        note0 = "; the Gaussian route needs delta > 0, so the assumption-free route was used"
    else:
        note0 = ""
    m = labels.size
    ks = sorted({max(1, int(m * f)) for f in (0.01, 0.05, 0.1, 0.25)})
    one_run = dict(k_plus=ks, k_minus=ks, delta=delta, alpha=alpha)
    note = ("valid if each audited record was a member independently with probability 1/2 "
            "(a random split of the audited records: the audit's design, which the scores cannot "
            "test); ties counted against the auditor")
    unit = "records (canaries) in one training"
    est, est_words = None, ""
    if bound in ("one-run", "fdp-one-run"):
        lic = licensed_one_run(scores, labels, method="steinke" if bound == "one-run" else "fdp",
                               **one_run)
        if lic.estimate is not None:
            est, est_words = float(lic.estimate.epsilon_lower), GDP_ESTIMATE_ASSUMPTION
    else:
        # a threshold test over the records of ONE model treats each record as an independent
        # run of the membership game, which they are not: that figure is an estimate, and the
        # certificate is the one-run bound of the same scores
        multi = licensed_bound(s_in, s_out, delta=delta, alpha=alpha,
                               method="gaussian-dp" if bound == "gdp" else "clopper-pearson",
                               what="the membership scores")
        lic = licensed_one_run(scores, labels, method="steinke", **one_run)
        est = float(multi.certified.epsilon_lower)
        est_words = ("each audited record is an independent trial of the membership game ("
                     f"{multi.certified.method} over the records of one model; they are not "
                     "independent, so this is not a bound)")
        note += f"; the {bound} figure over the records is the estimate"
    b = lic.certified
    return Audit(float(epsilon), float(delta), float(b.epsilon_lower), float(alpha), b.method,
                 threat, int(m), float(b.ceiling), f"{lic.assumption}; {note}{note0}", unit,
                 est, est_words, lic.tests, "model",
                 {"attack": attack, "threshold_selection": b.threshold_selection,
                  "result": b.to_dict(), **dict(details or {})},
                 s_in, s_out, b.threshold)

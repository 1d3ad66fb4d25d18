"""What an (epsilon, delta) claim means for a membership attacker, in numbers people can act on.

An (epsilon, delta)-DP model limits every membership test: at false-positive rate ``FPR`` its
true-positive rate is at most

    TPR <= min(1, e^epsilon * FPR + delta, 1 - e^(-epsilon) * (1 - delta - FPR))

(the hypothesis-testing region of Kairouz, Oh, Viswanath 2015; Dong, Roth, Su 2022), and an
attacker's odds that a given person was in the training data grow by at most the factor
e^epsilon (plus delta): from an even prior, a posterior of at most e^epsilon / (1 + e^epsilon).
:func:`attacker_terms` puts these beside what the audit's attack measured.

References
----------
.. [1] Kairouz, Oh, Viswanath, "The composition theorem for differential privacy", ICML 2015.
.. [2] Dong, Roth, Su, "Gaussian differential privacy", JRSS B 2022.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["dp_tpr_limit", "attacker_terms", "REPORT_FPRS"]

REPORT_FPRS = (0.001, 0.01, 0.1)


def dp_tpr_limit(fpr: Any, epsilon: float, delta: float) -> np.ndarray:
    """The largest TPR an (epsilon, delta)-DP model allows at each FPR."""
    f = np.clip(np.asarray(fpr, dtype=np.float64), 0.0, 1.0)
    if math.isinf(epsilon):
        return np.ones_like(f)
    e = math.exp(min(epsilon, 700.0))
    return np.clip(np.minimum(e * f + delta, 1.0 - (1.0 - delta - f) / e), 0.0, 1.0)


def attacker_terms(epsilon: float, delta: float, result: Any) -> dict[str, Any]:
    """The claim's limits beside the attack's measured TPRs at :data:`REPORT_FPRS`."""
    rows = []
    for f in REPORT_FPRS:
        measured = float(result.tpr_at(f))
        rows.append({"fpr": f, "tpr_allowed": float(dp_tpr_limit(f, epsilon, delta)),
                     "tpr_measured": measured,
                     "enough_non_members": bool(result.n_nonmembers * f >= 1)})
    post = 1.0 if math.isinf(epsilon) else 1.0 / (1.0 + math.exp(-min(epsilon, 700.0)))
    odds = math.inf if math.isinf(epsilon) else math.exp(min(epsilon, 700.0))
    return {"rows": rows, "odds_factor": odds, "posterior_from_even_prior": post,
            "auc_measured": float(result.auc)}

"""The usual answer of a consortium, as a baseline: a meta-analysis of per-site private estimates.

Each site runs privcausal's central private estimator on its own records at the same epsilon and
releases its estimate and interval (a (1 - alpha) interval gives the standard error
``(high - low) / (2 z)``). The server pools them by inverse-variance weighting (fixed effect)
and by the DerSimonian-Laird random-effects model. Small sites have wide private intervals and
little weight: the loss of precision the one-shot federated estimator avoids.

References
----------
.. [1] DerSimonian, Laird, "Meta-analysis in clinical trials", Controlled Clinical Trials 1986.
.. [2] Khellaf, Bellet, Josse, "Multi-study ATE estimation beyond meta-analysis", AISTATS 2025.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.stats import norm

__all__ = ["MetaAnalysis", "meta_analysis"]


@dataclass(frozen=True)
class MetaAnalysis:
    """Pooled estimates: fixed effect (inverse variance) and DerSimonian-Laird random effects."""

    ate: float
    ci_low: float
    ci_high: float
    ate_random: float
    ci_low_random: float
    ci_high_random: float
    tau2: float
    sites: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"ate": self.ate, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "random_effects": {"ate": self.ate_random, "ci_low": self.ci_low_random,
                                   "ci_high": self.ci_high_random, "tau2": self.tau2},
                "sites": list(self.sites)}


def meta_analysis(estimates: Sequence[float], ses: Sequence[float], sites: Sequence[str], *,
                  alpha: float = 0.05) -> MetaAnalysis:
    """Inverse-variance and DerSimonian-Laird pooling of per-site estimates."""
    est, se = np.asarray(estimates, float), np.asarray(ses, float)
    keep = np.isfinite(est) & np.isfinite(se) & (se > 0)
    est, se = est[keep], se[keep]
    names = tuple(s for s, k in zip(sites, keep) if k)
    z = float(norm.ppf(1 - alpha / 2))
    if est.size == 0:
        nan = math.nan
        return MetaAnalysis(nan, nan, nan, nan, nan, nan, nan, names)
    w = 1.0 / se**2
    fe = float(np.sum(w * est) / w.sum())
    se_fe = math.sqrt(1.0 / w.sum())
    k = est.size
    Q = float(np.sum(w * (est - fe) ** 2))
    c = float(w.sum() - np.sum(w**2) / w.sum())
    tau2 = max(0.0, (Q - (k - 1)) / c) if k > 1 and c > 0 else 0.0
    wr = 1.0 / (se**2 + tau2)
    re = float(np.sum(wr * est) / wr.sum())
    se_re = math.sqrt(1.0 / wr.sum())
    return MetaAnalysis(fe, fe - z * se_fe, fe + z * se_fe, re, re - z * se_re, re + z * se_re,
                        tau2, names)

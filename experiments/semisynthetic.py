"""A semi-synthetic benchmark with nonlinear, confounded, heterogeneous truth on real covariates.

Covariates are IHDP's (747 children, 6 continuous standardised and 19 binary covariates, from
``../shared/data/ihdp``); treatment and outcomes are simulated anew, with a data-generating
process that privcausal's estimators were not designed on:

* propensity: ``logit e(x) = 0.6 sin(2 x1) + 0.5 x2 - 0.5 x3 x4 + 0.4 x7 - 0.3 + 0.4 |x5|``
  (nonlinear, overlap in about [0.1, 0.9]);
* control outcome: ``mu0(x) = 1.5 sin(x1) + 0.6 x2^2 + 0.8 x3 x4 + 0.5 x8 + 0.7 max(x6, 0)``;
* effect: ``tau(x) = 2 + 1.2 tanh(2 x1) + 0.8 x7 - 0.5 x2^2 / 2`` (heterogeneous);
* outcome ``y = mu0 + T tau + N(0, 1)``, declared outcome bounds [-8, 14].

Seeds: ``DEVELOPMENT_SEEDS`` were looked at while building; ``HELD_OUT_SEEDS`` are reported
apart and were not used to choose anything.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from privcausal.data import CausalData, load_ihdp
from privcausal.data.ihdp import ihdp_domain

__all__ = ["semisynthetic", "DEVELOPMENT_SEEDS", "HELD_OUT_SEEDS", "OUTCOME_BOUNDS"]

DEVELOPMENT_SEEDS = tuple(range(0, 5))
HELD_OUT_SEEDS = tuple(range(1000, 1010))
OUTCOME_BOUNDS = (-8.0, 14.0)


def semisynthetic(seed: int) -> CausalData:
    """One draw of the benchmark (IHDP's covariates, new treatment and outcomes)."""
    base = load_ihdp(1)
    cov = base.covariates.reset_index(drop=True)
    x = cov.to_numpy(dtype=np.float64)
    rng = np.random.default_rng(seed)
    x1, x2, x3, x4, x5, x6, x7, x8 = (x[:, i] for i in range(8))
    e = expit(0.6 * np.sin(2 * x1) + 0.5 * x2 - 0.5 * x3 * x4 + 0.4 * x7 - 0.3 + 0.4 * np.abs(x5))
    t = (rng.random(len(x)) < e).astype(np.int64)
    mu0 = 1.5 * np.sin(x1) + 0.6 * x2 ** 2 + 0.8 * x3 * x4 + 0.5 * x8 + 0.7 * np.maximum(x6, 0)
    tau = 2 + 1.2 * np.tanh(2 * x1) + 0.8 * x7 - 0.25 * x2 ** 2
    mu1 = mu0 + tau
    lo, hi = OUTCOME_BOUNDS
    y = np.clip(np.where(t == 1, mu1, mu0) + rng.standard_normal(len(x)), lo, hi)
    return CausalData(cov, t, y, ihdp_domain(OUTCOME_BOUNDS), mu0=mu0, mu1=mu1,
                      name=f"semisynthetic-{seed}")

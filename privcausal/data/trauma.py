"""A simulated trauma registry: the embedded default data set.

Inspired by the French Traumabase (major trauma, 40 centres) and the question whether
tranexamic acid (TXA) given early lowers 28-day mortality. Everything is simulated; no real
patient is in it.

Data-generating process (documented so results can be checked against the truth)
---------------------------------------------------------------------------------
For patient i in centre c (40 centres, sizes drawn from a Dirichlet(2) so some are small):

* ``age`` ~ 16 + Gamma(2.2, 14), clipped to [16, 100]; ``sex`` M with probability 0.75;
  ``mechanism`` in {blunt, penetrating, fall} with probabilities (0.72, 0.13, 0.15).
* latent bleeding severity ``s`` ~ N(0, 1) + 0.5 [penetrating] + centre case-mix N(0, 0.2).
* ``gcs`` (Glasgow coma score) = round(14.5 - 2.2 s' + N(0, 1.5)) in [3, 15], where s' is a
  head-injury severity correlated 0.5 with s; ``sbp`` = 125 - 20 s + N(0, 14) in [40, 250];
  ``dbp`` = 0.55 sbp + 8 + N(0, 8) in [20, 150]; ``hr`` = 88 + 16 s + N(0, 12) in [30, 220];
  ``hb`` (haemoglobin, g/dL) = 13.2 - 1.4 s + N(0, 1.2) in [3, 20].
* shock index SI = hr / sbp.
* treatment (confounded clinical choice): logit P(TXA) = -1.0 + k [1.3 (SI - 0.75)/0.25
  + 0.5 (13.2 - hb)/1.4 + 0.4 [penetrating]] + u_c, with centre practice u_c ~ N(0, 0.8) and
  ``k = confounding`` (default 1).
* mortality without TXA: logit mu0 = -2.6 + 0.55 (15 - gcs)/3 + 0.035 (age - 45)
  + 0.55 (SI - 0.75)/0.25 + 0.35 (13.2 - hb)/1.4 + 0.2 [male] + v_c, v_c ~ N(0, 0.3).
* with TXA: logit mu1 = logit mu0 + tau(x), tau(x) = -0.25 - 0.30 max(0, (SI - 0.75)/0.25)
  + 0.15 [age > 75] (benefit grows with haemorrhagic shock).
* outcome ``death`` ~ Bernoulli(mu1 if treated else mu0).

Sicker patients are both more often treated and more often die, so the naive difference in
means is biased towards harm; adjustment for the covariates (centre included) removes it.
The true individual effect is mu1 - mu0 (risk difference); the true sample ATE is its mean.

Missingness (``missing``): ``"mcar"`` makes each of gcs, sbp, dbp, hr, hb missing completely
at random with probability ``missing_rate``; ``"mnar"`` makes them missing more often for the
sicker patients (probability ``missing_rate`` * 2 expit(s), depending on the values), as when
an unstable patient is not measured. The columns that can be missing are declared so in the
returned Domain, which then adds missing indicators.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from privcausal.data.causal_data import CausalData
from privcausal.domain import Categorical, Domain, Numeric, OutcomeBounds
from privcausal.exceptions import DataValidationError
from privcausal.validation import check_random_state

__all__ = ["simulate_trauma", "trauma_domain", "TRAUMA_MEASURED"]

TRAUMA_MEASURED = ("gcs", "sbp", "dbp", "hr", "hb")
_MECH = ("blunt", "penetrating", "fall")


def trauma_domain(n_centres: int = 40, missing: bool = False) -> Domain:
    """The declared public domain of the simulated registry (clinical plausibility ranges)."""
    centres = tuple(f"C{c + 1:02d}" for c in range(n_centres))
    m = bool(missing)
    return Domain(
        {
            "age": Numeric(16, 100),
            "sex": Categorical(("F", "M")),
            "mechanism": Categorical(_MECH),
            "gcs": Numeric(3, 15, missing=m),
            "sbp": Numeric(40, 250, missing=m),
            "dbp": Numeric(20, 150, missing=m),
            "hr": Numeric(30, 220, missing=m),
            "hb": Numeric(3, 20, missing=m),
            "centre": Categorical(centres),
        },
        OutcomeBounds(0, 1, binary=True),
    )


def simulate_trauma(
    n: int = 20_000,
    random_state: Any = None,
    *,
    confounding: float = 1.0,
    n_centres: int = 40,
    missing: str = "none",
    missing_rate: float = 0.2,
) -> CausalData:
    """Simulate the trauma registry (see the module docstring for the data-generating process).

    Parameters
    ----------
    n : int
        Number of patients.
    random_state : None, int or numpy Generator
    confounding : float
        Strength ``k`` of the confounding of TXA by severity (0 = randomised trial).
    n_centres : int
    missing : {"none", "mcar", "mnar"}
    missing_rate : float
        Base probability that a measured covariate is missing.

    Returns
    -------
    CausalData
        With ``mu0``, ``mu1`` (so ``true_effect`` and ``true_ate``) and name ``"trauma"``.
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise DataValidationError("n must be a positive integer")
    if missing not in ("none", "mcar", "mnar"):
        raise DataValidationError("missing must be 'none', 'mcar' or 'mnar'")
    if not 0 <= missing_rate < 1:
        raise DataValidationError("missing_rate must lie in [0, 1)")
    rng = check_random_state(random_state)
    size = rng.dirichlet(np.full(n_centres, 2.0))
    centre = rng.choice(n_centres, size=n, p=size)
    case_mix = rng.normal(0, 0.2, n_centres)
    practice = rng.normal(0, 0.8, n_centres)
    quality = rng.normal(0, 0.3, n_centres)

    age = np.clip(16 + rng.gamma(2.2, 14.0, n), 16, 100)
    male = rng.random(n) < 0.75
    mech = rng.choice(3, size=n, p=[0.72, 0.13, 0.15])
    pen = mech == 1
    s = rng.normal(0, 1, n) + 0.5 * pen + case_mix[centre]
    head = 0.5 * s + np.sqrt(0.75) * rng.normal(0, 1, n)
    gcs = np.clip(np.round(14.5 - 2.2 * np.maximum(head, 0) * 1.6 + rng.normal(0, 1.5, n)), 3, 15)
    sbp = np.clip(125 - 20 * s + rng.normal(0, 14, n), 40, 250)
    dbp = np.clip(0.55 * sbp + 8 + rng.normal(0, 8, n), 20, 150)
    hr = np.clip(88 + 16 * s + rng.normal(0, 12, n), 30, 220)
    hb = np.clip(13.2 - 1.4 * s + rng.normal(0, 1.2, n), 3, 20)
    si = hr / sbp

    shock = (si - 0.75) / 0.25
    anaemia = (13.2 - hb) / 1.4
    logit_e = -1.0 + confounding * (1.3 * shock + 0.5 * anaemia + 0.4 * pen) + practice[centre]
    t = (rng.random(n) < expit(logit_e)).astype(np.int64)

    lin0 = (
        -2.6 + 0.55 * (15 - gcs) / 3 + 0.035 * (age - 45) + 0.55 * shock + 0.35 * anaemia
        + 0.2 * male + quality[centre]
    )
    tau = -0.25 - 0.30 * np.maximum(0.0, shock) + 0.15 * (age > 75)
    mu0 = expit(lin0)
    mu1 = expit(lin0 + tau)
    y = (rng.random(n) < np.where(t == 1, mu1, mu0)).astype(np.float64)

    frame = pd.DataFrame(
        {
            "age": np.round(age, 0),
            "sex": np.where(male, "M", "F"),
            "mechanism": np.asarray(_MECH, dtype=object)[mech],
            "gcs": gcs,
            "sbp": np.round(sbp, 0),
            "dbp": np.round(dbp, 0),
            "hr": np.round(hr, 0),
            "hb": np.round(hb, 1),
            "centre": [f"C{c + 1:02d}" for c in centre],
        }
    )
    if missing != "none":
        for col in TRAUMA_MEASURED:
            p = np.full(n, missing_rate) if missing == "mcar" else np.minimum(0.95, missing_rate * 2 * expit(1.5 * s))
            frame.loc[rng.random(n) < p, col] = np.nan
    return CausalData(
        frame, t, y, trauma_domain(n_centres, missing != "none"), mu0=mu0, mu1=mu1, name="trauma"
    )

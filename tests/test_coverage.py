"""Coverage of the parametric-bootstrap intervals (sampling + privacy noise) on simulated data.

Two simulators with a known sample ATE (mean of mu1 - mu0):

* ``linear``: a confounded observational study, continuous outcome, numeric and categorical
  covariates; the outcome model is linear with an effect that varies with ``x1`` (so Lin's
  regression is correctly specified): for RegressionAdjustment (and DiM when unconfounded);
* ``rct_binary``: a randomised trial with a binary outcome: for DifferenceInMeans.

The fast tests run a few dozen repetitions and accept when the number of covering intervals
reaches the 0.1 % quantile of Binomial(reps, 0.93): an implementation whose true coverage is
at least 93 % fails with probability at most 0.1 %. The slow suite (``pytest -m slow``) is the
full check: 500 repetitions at epsilon in {0.5, 1, 4}, at least 93 % coverage each; with a true
coverage of 95 % one setting fails with probability about 2 %.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from scipy.stats import binom

from privcausal.data import CausalData
from privcausal.domain import Categorical, Domain, Numeric, OutcomeBounds
from privcausal.estimators.dim import DifferenceInMeans
from privcausal.estimators.regression import RegressionAdjustment

COVARIATES = {"x1": Numeric(-3, 3), "x2": Numeric(-3, 3), "x3": Numeric(0, 1),
              "g": Categorical(("a", "b", "c"))}


def linear(n: int, rng: np.random.Generator, confounding: float = 1.0) -> CausalData:
    x1 = np.clip(rng.normal(0, 1, n), -3, 3)
    x2 = np.clip(rng.normal(0, 1, n), -3, 3)
    x3 = rng.random(n)
    g = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    t = (rng.random(n) < expit(confounding * (0.8 * x1 - 0.5 * x2 + 0.5 * (g == 2)))).astype(int)
    mu0 = 1 + x1 + 0.5 * x2 + x3 + 0.7 * (g == 1) - 0.5 * (g == 2)
    mu1 = mu0 + 1.0 + 0.5 * x1
    y = np.clip(np.where(t == 1, mu1, mu0) + rng.normal(0, 1, n), -10, 10)
    frame = pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "g": np.array(["a", "b", "c"])[g]})
    dom = Domain(COVARIATES, OutcomeBounds(-10, 10))
    return CausalData(frame, t, y, dom, mu0=mu0, mu1=mu1, name="linear")


def rct_binary(n: int, rng: np.random.Generator) -> CausalData:
    x1 = np.clip(rng.normal(0, 1, n), -3, 3)
    x3 = rng.random(n)
    g = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    t = (rng.random(n) < 0.4).astype(int)
    lin = -1 + 0.8 * x1 + x3 - 0.5 * (g == 2)
    mu0, mu1 = expit(lin), expit(lin - 0.4)
    y = (rng.random(n) < np.where(t == 1, mu1, mu0)).astype(float)
    frame = pd.DataFrame({"x1": x1, "x2": np.zeros(n), "x3": x3, "g": np.array(["a", "b", "c"])[g]})
    dom = Domain(COVARIATES, OutcomeBounds(0, 1, binary=True))
    return CausalData(frame, t, y, dom, mu0=mu0, mu1=mu1, name="rct-binary")


def covered(make, cls, epsilon: float, reps: int, seed: int, **kw) -> int:
    hits = 0
    for r in range(reps):
        rng = np.random.default_rng([seed, r])
        d = make(rng)
        est = cls(epsilon=epsilon, random_state=np.random.default_rng([seed, r, 1]), **kw).fit(d)
        lo, hi = est.ate_interval(0.05)
        hits += lo <= d.true_ate <= hi
    return hits


def accept(reps: int, level: float = 0.93, failure: float = 1e-3) -> int:
    """Smallest hit count that a method with coverage >= ``level`` misses w.p. <= ``failure``."""
    return int(binom.ppf(failure, reps, level))


def test_dim_covers_on_a_binary_trial():
    reps = 60
    assert covered(lambda g: rct_binary(3000, g), DifferenceInMeans, 1.0, reps, 1) >= accept(reps)


def test_dim_covers_a_continuous_outcome():
    reps = 60
    hits = covered(lambda g: linear(3000, g, confounding=0.0), DifferenceInMeans, 1.0, reps, 2)
    assert hits >= accept(reps)


def test_regression_covers_on_a_confounded_study():
    reps = 30  # 40 until stop 25; the 500-repetition version is under -m slow
    # 200 bootstrap draws (400 until stop 28, when the SIMEX step doubled the bootstrap's cost)
    hits = covered(lambda g: linear(2000, g), RegressionAdjustment, 1.0, reps, 3, n_bootstrap=200)
    assert hits >= accept(reps)


def test_twin_interval_covers_sampling_error():
    reps = 30
    hits = covered(lambda g: linear(2000, g), RegressionAdjustment, math.inf, reps, 4, n_bootstrap=400)
    assert hits >= accept(reps)


@pytest.mark.slow
@pytest.mark.parametrize("epsilon", [0.5, 1.0, 4.0])
@pytest.mark.parametrize("which", ["dim-binary-trial", "dim-continuous", "regression"])
def test_coverage_500_repetitions(which, epsilon):
    reps = 500
    if which == "regression":
        hits = covered(lambda g: linear(3000, g), RegressionAdjustment, epsilon, reps, 10)
    elif which == "dim-binary-trial":
        hits = covered(lambda g: rct_binary(3000, g), DifferenceInMeans, epsilon, reps, 11)
    else:
        hits = covered(lambda g: linear(3000, g, confounding=0.0), DifferenceInMeans, epsilon, reps, 12)
    assert hits / reps >= 0.93, f"coverage {hits / reps:.3f}"

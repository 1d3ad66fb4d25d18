"""The audit result contract (audits.result) and the tests that license Gaussian figures.

Failure rates: the Gaussian-shift test's refusal rate on Gaussian scores is checked over 600
draws at level 0.05 against Binomial(600, 0.05) with a tail of about 1e-4; everything else is
an identity or seeded.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from audits.bounds.gaussian_test import gaussian_scores_test, normality_test
from audits.bounds.licensed import licensed_bound, logit_of_loss
from audits.bounds.one_run import one_run_bound_from_scores, worst_case_correct
from audits.result import CONTRACT_KEYS, Audit, AuditResult, exit_status


def test_the_gaussian_shift_test_refuses_gaussian_scores_at_its_level():
    rng = np.random.default_rng(0)
    refused = sum(not gaussian_scores_test(rng.normal(1, 2, 500), rng.normal(0, 2, 500),
                                           level=0.05).passed for _ in range(600))
    lo, hi = stats.binom.ppf([1e-4, 1 - 1e-4], 600, 0.05)
    assert lo <= refused <= hi


@pytest.mark.parametrize("draw", [
    lambda r, n: r.laplace(0, 1, n),                     # Laplace noise
    lambda r, n: (r.random(n) < 0.7).astype(float),      # randomized response
    lambda r, n: r.geometric(0.3, n) - r.geometric(0.3, n),  # discrete Laplace
    lambda r, n: r.exponential(1, n),                    # skewed
])
def test_non_gaussian_outputs_are_refused(draw):
    rng = np.random.default_rng(1)
    t = gaussian_scores_test(draw(rng, 5000) + 1, draw(rng, 5000))
    assert not t.passed


def test_unequal_variances_and_degenerate_scores_are_refused():
    rng = np.random.default_rng(2)
    assert not gaussian_scores_test(rng.normal(0, 2, 5000), rng.normal(0, 1, 5000)).passed
    assert not gaussian_scores_test(np.zeros(100), np.zeros(100)).passed  # constant
    assert not gaussian_scores_test(rng.normal(size=5), rng.normal(size=5)).passed  # too few
    assert "not run" in normality_test(np.ones(3)).power


def test_a_refused_gaussian_figure_becomes_the_estimate():
    rng = np.random.default_rng(3)
    lap_in, lap_out = rng.laplace(1, 1, 5000), rng.laplace(0, 1, 5000)
    lic = licensed_bound(lap_in, lap_out, delta=1e-5, alpha=0.05, method="gaussian-dp")
    assert lic.certified.method == "clopper-pearson" and lic.estimate is not None
    assert lic.estimate.epsilon_lower > lic.certified.epsilon_lower
    g_in, g_out = rng.normal(1, 1, 5000), rng.normal(0, 1, 5000)
    lic = licensed_bound(g_in, g_out, delta=1e-5, alpha=0.05, method="gaussian-dp")
    assert lic.certified.method == "gaussian-dp" and lic.estimate is None and lic.test.passed
    assert lic.certified.alpha == pytest.approx(0.04)  # alpha - level: the test's share


def test_logit_of_loss_inverts_the_bce_loss():
    z = np.linspace(-20, 20, 41)
    loss = np.log1p(np.exp(-z))
    assert np.allclose(logit_of_loss(-loss), z, atol=1e-6)


def test_ties_never_count_for_the_auditor():
    rng = np.random.default_rng(4)
    inc = rng.random(300) < 0.5
    s = np.round(rng.normal(size=300) + inc, 0)  # heavy ties
    v = worst_case_correct(s, inc, 40, 40)
    for _ in range(50):  # no tie-breaking does worse for the auditor than the count
        jitter = s + 1e-6 * rng.random(300)
        assert v <= worst_case_correct(jitter, inc, 40, 40)
    d = rng.normal(size=300)  # distinct scores: the plain count
    order = np.argsort(-d)
    plain = inc[order[:40]].sum() + (~inc[order[-40:]]).sum()
    assert worst_case_correct(d, inc, 40, 40) == plain
    const = one_run_bound_from_scores(np.zeros(300), inc.astype(int), k_plus=[30, 150],
                                      k_minus=[30, 150], delta=1e-5)
    assert const.epsilon_lower == 0.0


def test_every_result_keeps_the_contract():
    from audits.dpsgd.multi_run import audit_dpsgd
    from audits.releases.mechanism import audit_mechanism
    from audits.releases.reference import LaplaceRef

    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 3))
    X /= np.linalg.norm(X, axis=1).max()
    y = (rng.random(30) < 0.5).astype(float)
    m = LaplaceRef(1.0)
    results = [audit_mechanism(m, m.pair(), epsilon=1.0, samples=2000, random_state=0),
               audit_dpsgd(X, y, trials=20, epsilon=2.0, steps=10, random_state=0),
               Audit(1.0, 0.0, 2.0, 0.05, "clopper-pearson", "black-box", 10, 3.0, "none",
                     epsilon_estimate=9.0)]
    for r in results:
        assert isinstance(r, AuditResult)
        d = r.to_dict()
        json.dumps(d)
        assert list(d)[:len(CONTRACT_KEYS)] == list(CONTRACT_KEYS)
        assert d["violation"] == (d["epsilon_lower"] > d["epsilon_theory"])
    est_only = Audit(1.0, 0.0, 0.5, 0.05, "clopper-pearson", "black-box", 10, 3.0, "none",
                     epsilon_estimate=9.0)
    assert not est_only.violation and exit_status(est_only) == 0  # an estimate never flags
    assert exit_status(results[2]) == 3 and exit_status([est_only, results[2]]) == 3
    assert "Estimate, not certified" in est_only.summary


def test_degenerate_releases_give_zero_or_a_flag_never_a_crash():
    """A constant output coordinate: ignored when the worlds agree on it, an exact separator
    (an exact count released, a real leak) when they differ; all-equal scores certify 0."""
    from audits.releases.mechanism import audit_mechanism

    class Release:
        def __init__(self, leak: bool) -> None:
            self.leak = leak

        def batch(self, d, n, seed):
            rng = np.random.default_rng(seed)
            const = np.full(n, 100.0 + (d if self.leak else 0.0))  # a count, with or without d
            return np.column_stack([d + rng.laplace(0, 1.0, n), const])

        def __call__(self, d, seed):
            return self.batch(d, 1, seed)[0]

    # the release draws float noise: only its values are under test here (precision=False)
    ok = audit_mechanism(Release(False), (0.0, 1.0), epsilon=1.0, samples=4000, random_state=0,
                         precision=False)
    assert 0.0 <= ok.epsilon_lower <= 1.0 and not ok.violation
    leak = audit_mechanism(Release(True), (0.0, 1.0), epsilon=1.0, samples=4000, random_state=0)
    assert leak.violation and leak.epsilon_lower == pytest.approx(leak.ceiling)
    flat = audit_mechanism(lambda d, s: 3.0, (0.0, 1.0), epsilon=1.0, samples=200, random_state=0)
    assert flat.epsilon_lower == 0.0 and not flat.violation

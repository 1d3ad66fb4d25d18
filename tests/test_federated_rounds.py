"""Federated IPW / AIPW over rounds: the sums equal the pooled run, the propensity rounds reach
the ridge logistic fit, each round's sensitivity holds for any model the server sends, a site
answers each round once, its score release is audited at its claim, and a site that fails
mid-run is excluded and named."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from privcausal.data import CausalData, simulate_trauma
from privcausal.exceptions import DataValidationError, PrivacyParameterError
from privcausal.federated import federate, split_sites
from privcausal.federated.consortium_rounds import _local_ask
from privcausal.federated.protocol import estimate_from_scores, run_protocol
from privcausal.federated.rounds import SiteSession, _design, round_plan, site_step

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]

DROP = ("centre",)


@pytest.fixture(scope="module")
def registry():
    return simulate_trauma(4000, random_state=3, n_centres=8)


def _run(data, parts, plan, seeds=None, fail=None):
    ask, sessions = _local_ask(parts, plan, seeds or {s: None for s in parts}, fail)
    return run_protocol(plan, list(parts), ask), sessions


@pytest.mark.parametrize("method", ["ipw", "aipw"])
def test_noiseless_rounds_over_sites_equal_the_pooled_run(registry, method):
    """Sums over sites are the pooled sums: the same models, scores and estimate to
    floating-point tolerance as one site holding every record."""
    plan = round_plan(registry.domain, method, math.inf, 1e-6, drop=DROP)
    fed, _ = _run(registry, split_sites(registry, "centre"), plan)
    one, _ = _run(registry, {"all": registry}, plan)
    np.testing.assert_allclose(fed.beta, one.beta, rtol=1e-9, atol=1e-9)
    for key in fed.models:
        np.testing.assert_allclose(fed.models[key], one.models[key], rtol=1e-9, atol=1e-9)
    a = estimate_from_scores(fed.scores, plan)
    b = estimate_from_scores(one.scores, plan)
    assert a[0] == pytest.approx(b[0], abs=1e-10) and a[1] == pytest.approx(b[1], abs=1e-10)
    # the estimate is the plain mean of the scores a non-federated computation gives
    from privcausal.federated.rounds import scores

    psi = scores(registry, plan, {"beta": one.beta, **one.models})
    assert a[0] == pytest.approx(psi.mean(), abs=1e-12)


def test_propensity_rounds_reach_the_ridge_logistic_fit(registry):
    """Without noise the damped Newton rounds converge to sklearn's ridge logistic regression
    (C = 1, no separate intercept) on the same unit-ball design."""
    from sklearn.linear_model import LogisticRegression

    plan = round_plan(registry.domain, "ipw", math.inf, 1e-6, rounds=10, drop=DROP)
    run, _ = _run(registry, split_sites(registry, "centre"), plan)
    _, Z = _design(registry, plan)
    ref = LogisticRegression(C=1.0, fit_intercept=False, tol=1e-12, max_iter=10_000).fit(
        Z, registry.treatment).coef_[0]
    np.testing.assert_allclose(run.beta, ref, atol=1e-4)


def _neighbour(base: CausalData, row: int, t: int, y: float) -> CausalData:
    cov = base.covariates.iloc[[row]]
    return CausalData(pd.concat([base.covariates, cov], ignore_index=True),
                      np.r_[base.treatment, t], np.r_[base.outcome, y], base.domain)


@pytest.mark.parametrize("method", ["ipw", "aipw"])
def test_each_rounds_sensitivity_holds_for_any_model_the_server_sends(method):
    """Adding one record moves the gradient by <= 1, the curvature by <= 1/4 (L2) and the
    score sums by <= their declared sensitivities, for random (also absurd) models."""
    base = simulate_trauma(300, random_state=1, n_centres=2)
    plan = round_plan(base.domain, method, math.inf, 1e-6, drop=DROP)
    gen = np.random.default_rng(0)
    b = plan.bound
    worst = {"grad": 0.0, "curv": 0.0, "agg": np.zeros(3)}
    for trial in range(40):
        scale = (0.1, 3.0, 300.0)[trial % 3]
        payload = {"beta": gen.normal(0, scale, plan.q),
                   "mu_coef": gen.normal(0, scale, (2, plan.layout.p)),
                   "mu_intercept": gen.normal(0.5, scale, 2)}
        other = _neighbour(base, int(gen.integers(len(base.outcome))), int(trial % 2),
                           float(trial % 4 >= 2))
        for step in ("grad-1", "score"):
            a = site_step(base, plan, step, payload, None)
            c = site_step(other, plan, step, payload, None)
            if step == "grad-1":
                worst["grad"] = max(worst["grad"], float(np.linalg.norm(a["grad"] - c["grad"])))
                worst["curv"] = max(worst["curv"], float(np.linalg.norm(a["curv"] - c["curv"])))
            else:
                worst["agg"] = np.maximum(worst["agg"], np.abs(a["agg"] - c["agg"]))
    assert worst["grad"] <= 1.0 + 1e-9 and worst["curv"] <= 0.25 + 1e-9
    assert np.all(worst["agg"] <= np.array([1.0, b, b * b / 2]) + 1e-9)
    assert worst["grad"] > 0.3 and worst["agg"][1] > 0  # the check moved something


def test_receipt_within_the_budget_and_every_round_named(registry):
    parts = split_sites(registry, "centre")
    for method, n_steps in (("ipw", 7), ("aipw", 8)):
        plan = round_plan(registry.domain, method, 1.0, 1e-6, drop=DROP)
        assert len(plan.steps) == n_steps
        s = next(iter(parts))
        rec = SiteSession(parts[s], plan, s, 0).receipt()
        assert rec["epsilon"] <= 1.0 + 1e-9 and rec["delta"] <= 1e-6 * (1 + 1e-9)
        text = str(rec)
        assert "add/remove one record of site" in text and "gradient rounds" in text


def test_a_site_answers_each_round_once_and_only_rounds_of_its_plan(registry):
    plan = round_plan(registry.domain, "ipw", 1.0, 1e-6, drop=DROP)
    part = next(iter(split_sites(registry, "centre").values()))
    sess = SiteSession(part, plan, "C01", None)  # secure noise: a fresh draw would differ
    payload = {"beta": np.zeros(plan.q)}
    first = sess.answer("grad-1", payload)
    again = sess.answer("grad-1", {"beta": np.zeros(plan.q)})  # a retry: the same release
    assert all(np.array_equal(first[k], again[k]) for k in first)
    with pytest.raises(DataValidationError, match="answered already"):
        sess.answer("grad-1", {"beta": np.ones(plan.q)})  # other models: a new query, refused
    with pytest.raises(DataValidationError, match="not in the plan"):
        sess.answer("grad-99", payload)
    with pytest.raises(DataValidationError, match="finite"):
        sess.answer("grad-2", {"beta": np.full(plan.q, np.nan)})
    with pytest.raises(DataValidationError, match="answered already"):  # spent even so
        sess.answer("grad-2", payload)


def test_bad_plans_are_refused(registry):
    with pytest.raises(PrivacyParameterError, match="rounds"):
        round_plan(registry.domain, "ipw", 1.0, 1e-6, rounds=0)
    with pytest.raises(PrivacyParameterError, match="clip"):
        round_plan(registry.domain, "aipw", 1.0, 1e-6, clip=0.5)
    with pytest.raises(PrivacyParameterError, match="delta"):
        round_plan(registry.domain, "aipw", 1.0, 0.0)
    with pytest.raises(DataValidationError, match="must be one of"):
        round_plan(registry.domain, "dr", 1.0, 1e-6)


@pytest.mark.parametrize("samples", [
    5_000, pytest.param(20_000, marks=pytest.mark.slow)])  # about 5 s and 19 s
def test_a_sites_score_release_audited_at_or_below_its_claim(samples):
    """The score round's noisy count and sums on worst-case neighbouring sites (one treated
    record with the largest score added): the black-box audit's certified bound stays at or
    below the round's epsilon."""
    from audits.releases.mechanism import audit_mechanism

    base = simulate_trauma(200, random_state=0, n_centres=2)
    plan = round_plan(base.domain, "aipw", 2.0, 1e-6, drop=DROP)
    eps_round = float(sum(plan.agg_eps))
    # propensity at the clip for everyone, outcome models at the lower bound: a treated record
    # with y = hi then has psi = +b, the largest score
    payload = {"beta": np.r_[-50.0, np.zeros(plan.q - 1)], "mu_coef": np.zeros((2, plan.layout.p)),
               "mu_intercept": np.array([plan.lo, plan.lo])}
    D, D1 = base, _neighbour(base, 0, 1, plan.hi)

    from privcausal.federated.rounds import score_release, scores
    from privcausal.privacy import noise_source

    b = plan.bound
    exact = {}
    for d in (D, D1):  # the exact sums, once: the audit draws the release's noise
        psi = scores(d, plan, payload)
        exact[id(d)] = (float(len(psi)), float(psi.sum()), float(np.sum(psi * psi - b * b / 2)))
    assert np.allclose(np.subtract(exact[id(D1)], exact[id(D)]), [1.0, b, b * b / 2])

    def mech(data, random_state):
        return score_release(exact[id(data)], plan, noise_source(random_state))["agg"]

    res = audit_mechanism(mech, lambda: (D, D1), epsilon=eps_round, delta=0.0, samples=samples,
                          alpha=0.05, random_state=0)
    assert res.epsilon_lower <= eps_round and not res.violation


def test_a_site_failing_mid_run_is_excluded_and_named(registry):
    res = federate(registry, method="aipw", epsilon=1.0, transport="local", random_state=0,
                   baselines=False, fail=lambda s: s == "C03")
    d = res.to_dict()
    assert "C03" not in d["sites"] and d["n_sites"] == 7
    assert d["excluded_sites"]["C03"].startswith("round grad-1")  # after the stats round
    assert math.isfinite(d["ate"]) and d["ci_low"] <= d["ate"] <= d["ci_high"]
    assert d["rounds"] == 8 and any("excluded" in n for n in d["notes"])


def test_federated_aipw_result_and_baselines(registry):
    d = federate(registry, method="aipw", epsilon=4.0, transport="local", random_state=1).to_dict()
    for key in ("ate", "ci_low", "ci_high"):
        assert math.isfinite(d[key]) and math.isfinite(d["pooled"][key])
    assert d["estimator"] == "aipw" and d["receipt"]["epsilon"] <= 4.0 + 1e-9
    assert any("interval: normal" in n for n in d["notes"])


def test_flower_simulation_runs_the_rounds_like_the_local_run(registry):
    pytest.importorskip("flwr")
    kw = dict(method="aipw", epsilon=1.0, random_state=5, baselines=False)
    sim = federate(registry, transport="simulation", **kw).to_dict()
    loc = federate(registry, transport="local", **kw).to_dict()
    assert sim["engine"] == "flower" and sim["n_sites"] == 8 and sim["rounds"] == 8
    assert sim["ate"] == loc["ate"] and sim["ci_low"] == loc["ci_low"]
    assert sim["receipt"]["epsilon"] <= 1.0 + 1e-9


def test_a_flower_site_repeats_a_retried_round_and_refuses_a_changed_one(registry, tmp_path):
    pytest.importorskip("flwr")
    from flwr.app import RecordDict

    from privcausal.federated.flower_rounds import answer_round
    from privcausal.federated.partitions import write_partitions

    parts = dict(list(split_sites(registry, "centre").items())[:1])
    loc = write_partitions(parts, tmp_path, "treatment", "outcome")
    plan = {"method": "ipw", "epsilon": 1.0, "delta": 1e-6, "rounds": 6, "clip": 0.05,
            "treatment": "treatment", "outcome": "outcome", "drop": '["centre"]', **loc}
    node = {"partition-id": 0}
    state = RecordDict()
    q = round_plan(registry.domain, "ipw", 1.0, 1e-6, drop=DROP).q
    ok = answer_round({**plan, "step": "grad-1"}, {"beta": np.zeros(q)}, node, state)
    assert dict(ok["meta"])["ok"]
    retry = answer_round({**plan, "step": "grad-1"}, {"beta": np.zeros(q)}, node, state)
    assert np.array_equal(retry["stats"]["grad"].numpy(), ok["stats"]["grad"].numpy())
    again = answer_round({**plan, "step": "grad-1"}, {"beta": np.ones(q)}, node, state)
    assert not dict(again["meta"])["ok"] and "answered already" in dict(again["meta"])["reason"]
    changed = answer_round({**plan, "epsilon": 8.0, "step": "grad-2"}, {"beta": np.zeros(q)},
                           node, state)
    assert "plan changed" in dict(changed["meta"])["reason"]


@pytest.mark.slow
def test_real_flower_deployment_runs_the_aipw_rounds_with_a_killed_site(registry):
    """A SuperLink and 8 SuperNodes on 127.0.0.1 run AIPW's 8 rounds: the same answer as the
    local run; a SuperNode dying in the second round (mid-run) is excluded and named (about 4
    min each)."""
    pytest.importorskip("flwr")
    kw = dict(method="aipw", epsilon=1.0, random_state=5, baselines=False)
    real = federate(registry, transport="grpc", **kw).to_dict()
    loc = federate(registry, transport="local", **kw).to_dict()
    assert real["transport"] == "grpc" and real["n_sites"] == 8 and real["rounds"] == 8
    assert real["ate"] == loc["ate"] and real["ci_low"] == loc["ci_low"]
    dropped = federate(registry, transport="grpc", fail=lambda s: s == "C05", **kw).to_dict()
    assert "C05" in dropped["excluded_sites"] and dropped["n_sites"] == 7

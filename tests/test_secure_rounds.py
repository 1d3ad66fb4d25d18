"""Secure aggregation of the federated IPW / AIPW rounds: exact sums (noiseless, the same answer
as without it), gradient shares that add up to each round's accounted zCDP (the distributed
discrete Gaussian bound, and an audit of two honest shares on worst-moving neighbours), the
threat model and fallback in the receipt, no site's own release in the result, and a short
sum refused."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from privcausal.data import simulate_trauma
from privcausal.exceptions import DataValidationError, PrivacyParameterError
from privcausal.federated import federate, split_sites
from privcausal.federated.rounds import round_plan
from privcausal.federated.secure import ddg_rho
from privcausal.federated.secure_rounds import (check_round_shares, decode_round, round_exponent,
                                                round_keys, share_mechs, share_step)

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def registry():
    return simulate_trauma(4000, random_state=3, n_centres=8)


@pytest.mark.parametrize("method", ["ipw", "aipw"])
def test_noiseless_secure_rounds_give_the_plain_rounds_answer(registry, method):
    kw = dict(method=method, epsilon=math.inf, transport="local", random_state=1, baselines=False)
    plain = federate(registry, **kw)
    sec = federate(registry, secure=True, **kw)
    # the limbs carry every value on the 2^-30 lattice: the sums agree to that rounding
    assert sec.estimate.ate == pytest.approx(plain.estimate.ate, abs=1e-8)
    assert sec.sites == plain.sites and sec.to_dict()["secure_aggregation"]["honest"] == 8


@pytest.mark.parametrize("honest", [1, 2, 7, 39])
@pytest.mark.parametrize("eps", [0.5, 4.0])
def test_gradient_shares_add_up_to_each_rounds_accounted_zcdp(registry, honest, eps):
    plan = round_plan(registry.domain, "aipw", eps, 1e-6, drop=("centre",))
    assert 0 < check_round_shares(plan, honest) <= 1.0
    mechs = share_mechs(plan, honest)
    for key, sd in (("grad", plan.sd_grad), ("curv", plan.sd_gram)):
        m = mechs[key]
        assert honest * m.std**2 >= sd**2  # the summed shares are at least the central noise
        # shares cut for one more honest site than there is: the bound is exceeded
        bad = share_mechs(plan, honest + 1)[key]
        rho = ddg_rho(bad.sensitivity / 2.0**bad.k + math.sqrt(bad.dim), bad.s2, honest, bad.dim)
        assert rho > 0.5 * (bad.sensitivity / sd) ** 2


def test_a_share_is_noisy_lattice_limbs_and_the_sum_decodes(registry):
    """Each round's share is on its lattice (encoding would refuse it otherwise), noisy, and
    two sites' limbs decode to the sum of their shares."""
    from privcausal.federated.rounds import site_step
    from privcausal.federated.secure import CLIP, encode
    from privcausal.privacy import noise_source

    plan = round_plan(registry.domain, "aipw", 1.0, 1e-6, drop=("centre",))
    parts = split_sites(registry, "centre")
    a, b = parts["C01"], parts["C02"]
    pay = {"beta": np.zeros(plan.q)}
    for step in ("stats", "grad-1", "grad-5"):
        sa = share_step(a, plan, step, pay, noise_source(1), 2)
        sb = share_step(b, plan, step, pay, noise_source(2), 2)
        E = round_exponent(plan, step, 2)
        limbs = [encode(s, round_keys(plan, step), E, exact=True) for s in (sa, sb)]
        tot = decode_round(limbs[0] + limbs[1] + 2 * CLIP, 2, plan, step, 2)
        ex = site_step(a, round_plan(registry.domain, "aipw", math.inf, 1e-6, drop=("centre",)),
                       step, pay, noise_source(0))
        for k in ex:
            if k == "sum_sq":  # shifted by the summed noisy counts at decoding
                continue
            assert np.allclose(tot[k], sa[k] + sb[k], rtol=0, atol=2.0**E * 4)
            assert not np.allclose(sa[k], ex[k])  # a share is noisy, never exact


def test_secure_rounds_state_the_threat_model_and_refuse_a_short_sum(registry):
    kw = dict(method="ipw", epsilon=1.0, transport="local", random_state=5, baselines=False)
    r = federate(registry, secure=True, collusion=1, **kw).to_dict()
    sa = r["secure_aggregation"]
    assert r["n_sites"] == 8 and "honest-but-curious" in r["guarantee"] and sa["honest"] == 7
    assert sa["fallback_epsilon"] > 1.0 and r["receipt"]["epsilon"] <= 1.0 + 1e-9
    assert any("threat model" in n for n in r["receipt"]["notes"])
    assert any("secure aggregation" in n for n in r["notes"])
    text = json.dumps(r)
    assert "C01" in text and '"agg"' not in text  # sites named; no site's own score release
    dropped = federate(registry, secure=True, collusion=1, min_sites=6,
                       fail=lambda s: s == "C05", **kw).to_dict()
    assert "C05" in dropped["excluded_sites"] and dropped["n_sites"] == 7
    with pytest.raises(DataValidationError, match="fewer than min_sites"):
        federate(registry, secure=True, fail=lambda s: s == "C05", **kw)
    with pytest.raises(PrivacyParameterError, match="exceed collusion"):
        federate(registry, secure=True, collusion=8, **kw)


@pytest.mark.parametrize("samples", [1_000, pytest.param(20_000, marks=pytest.mark.slow)])
def test_two_honest_gradient_shares_audited_at_or_below_the_rounds_claim(samples):
    """The target site's gradient share plus one other honest site's (h = 2), the target moved
    by a record whose gradient moves the most (|e - t| near 1, the longest design row): the
    audit's bound is at or below the round's own (epsilon, delta). The output is projected on
    the direction the record moves (post-processing, the most telling one-dimensional view). A
    negative control, one share cut for 8 honest sites seen alone, is flagged: the audit has
    the power to see a share that is too small."""
    import dp_accounting
    import pandas as pd
    from dp_accounting import rdp

    from audits.releases.mechanism import audit_mechanism
    from privcausal.data import CausalData
    from privcausal.federated.rounds import _design  # noqa: PLC2701
    from privcausal.privacy import noise_source

    base = simulate_trauma(200, random_state=0, n_centres=2)
    delta = 1e-6
    plan = round_plan(base.domain, "ipw", 8.0, delta, drop=("centre",))  # a round's claim ~1.4
    _, Z = _design(base, plan)
    far = int(np.argmax(np.linalg.norm(Z, axis=1)))
    u = Z[far] / np.linalg.norm(Z[far])
    D1 = CausalData(pd.concat([base.covariates, base.covariates.iloc[[far]]], ignore_index=True),
                    np.r_[base.treatment, 1], np.r_[base.outcome, base.outcome[far]], base.domain)
    pay = {"beta": np.r_[-12.0, np.zeros(plan.q - 1)]}  # e near 0: a treated record moves by ~z
    step = "grad-4"  # a gradient round without curvature
    acc = rdp.RdpAccountant()
    acc.compose(dp_accounting.ZCDpEvent(0.5 / plan.sd_grad**2))
    claim = float(acc.get_epsilon(delta))

    def audit(h: int, with_other: bool, n: int):
        def mech(data, random_state):
            g = noise_source(random_state)
            out = share_step(data, plan, step, pay, g, h)["grad"]
            if with_other:
                out = out + share_step(base, plan, step, pay, g, h)["grad"]
            return float(out @ u)

        return audit_mechanism(mech, lambda: (base, D1), epsilon=claim, delta=delta, samples=n,
                               alpha=0.05, random_state=0, method="gaussian-dp")

    res = audit(2, True, samples)
    assert res.epsilon_lower <= claim and not res.violation
    assert audit(8, False, 1_000).violation  # one share alone is weaker than the claim


def test_flower_secagg_plus_runs_the_secure_rounds_like_the_local_run(registry):
    """Every round of the secure AIPW through Flower's SecAgg+ (simulation engine), site C05
    failing mid-run: named, the other 7 kept, the local run's estimate bit for bit (12 s here on
    an idle machine; 86-150 s while two experiments ran beside it)."""
    pytest.importorskip("flwr")
    kw = dict(method="aipw", epsilon=1.0, random_state=5, baselines=False, secure=True,
              collusion=1, min_sites=6, fail=lambda s: s == "C05", rounds=1)
    got = federate(registry, transport="simulation", **kw).to_dict()
    loc = federate(registry, transport="local", **kw).to_dict()
    assert got["engine"] == "flower" and got["n_sites"] == 7 and "C05" in got["excluded_sites"]
    assert got["ate"] == loc["ate"] and got["ci_low"] == loc["ci_low"]
    assert got["secure_aggregation"]["threshold"] == 6


@pytest.mark.slow
def test_real_flower_deployment_runs_the_secure_rounds_like_the_local_run(registry):
    """A SuperLink and 8 SuperNodes on 127.0.0.1 run every round of the secure AIPW through
    SecAgg+ over the deployment runtime: the local run's estimate and interval bit for bit,
    every site in every round, the threat model in the result (a few minutes)."""
    pytest.importorskip("flwr")
    kw = dict(method="aipw", epsilon=1.0, random_state=5, baselines=False, secure=True,
              collusion=1, min_sites=6, rounds=1)
    got = federate(registry, transport="grpc", **kw).to_dict()
    loc = federate(registry, transport="local", **kw).to_dict()
    assert got["engine"] == "flower" and got["transport"] == "grpc" and got["n_sites"] == 8
    assert not got["excluded_sites"]
    assert got["ate"] == loc["ate"] and got["ci_low"] == loc["ci_low"]
    assert got["secure_aggregation"]["threshold"] == 6

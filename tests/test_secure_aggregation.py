"""Secure aggregation: exact sums through the limbs, noise shares that add up to the central
guarantee (checked by the distributed discrete Gaussian bound and by the audit), the threat model
in the receipt, dropouts named, and Flower's SecAgg+ giving the same sum as the local one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from privcausal.data import simulate_trauma
from privcausal.exceptions import DataValidationError, PrivacyParameterError
from privcausal.federated import federate, site_release, split_sites
from privcausal.federated.combine import sum_releases
from privcausal.federated.secure import (CLIP, LIMBS, SecureAggregation, array_keys, check_shares,
                                         decode, encode, share_plan, transport_exponent)
from privcausal.federated.secure_site import local_secure_sum, secure_release, secure_total
from privcausal.federated.site import exact_statistics, release_arrays, release_plan

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def registry():
    return simulate_trauma(4000, random_state=3, n_centres=8)


def test_limbs_carry_lattice_integers_exactly_and_within_flowers_range():
    rng = np.random.default_rng(0)
    keys = [("a", (3,)), ("b", (2, 2))]
    E = -37
    ints = [rng.integers(-2**52, 2**52, size=7) for _ in range(9)]
    sites = [{"a": np.ldexp(K[:3].astype(np.float64), E),
              "b": np.ldexp(K[3:].astype(np.float64), E).reshape(2, 2)} for K in ints]
    limbs = [encode(s, keys, E) for s in sites]
    for x in limbs:
        assert x.shape == (LIMBS * 7,) and x.min() >= -CLIP and x.max() < CLIP
        assert np.array_equal(x, np.rint(x))  # Flower's quantizer is exactly 1 on these
    got = decode(np.sum([x + CLIP for x in limbs], axis=0), len(sites), keys, E)
    want = [sum(int(K[i]) for K in ints) for i in range(7)]  # Python ints: exact
    flat = np.concatenate([got["a"], got["b"].ravel()])
    assert [float(w) for w in want] == list(np.ldexp(flat, -E))  # the float of the exact sum


def test_a_value_off_the_lattice_is_refused_not_rounded():
    with pytest.raises(DataValidationError, match="lattice"):
        encode({"a": np.array([0.1])}, [("a", (1,))], -3)


@pytest.mark.parametrize("method", ["dim", "regression"])
def test_noiseless_secure_sum_equals_the_pooled_statistics(registry, method):
    parts = split_sites(registry, "centre")
    drop = ("centre",) if method != "dim" else ()
    sec = SecureAggregation(len(parts), collusion=2)
    shares = [secure_release(d, method, math.inf, 1e-6, site=s, secure=sec, drop=drop)
              for s, d in parts.items()]
    tot = secure_total(local_secure_sum(shares), len(shares), registry.domain, method, math.inf,
                       1e-6, sec, drop)
    plain = sum_releases([site_release(d, method, math.inf, 1e-6, site=s, drop=drop)
                          for s, d in parts.items()])
    assert set(tot) == set(plain)
    for k in plain:
        np.testing.assert_allclose(tot[k], plain[k], rtol=0, atol=1e-7 * max(1.0, np.abs(plain[k]).max()))


def test_with_noise_a_share_decodes_to_noisy_values_and_the_laplace_parts_are_polya_shares(registry):
    from privcausal.privacy.lattice import LatticeLaplace
    from privcausal.privacy.polya import SHARE_LATTICE_BITS

    parts = split_sites(registry, "centre")
    d = parts["C01"]
    sec = SecureAggregation(len(parts), collusion=1)
    sh = secure_release(d, "regression", 1.0, 1e-6, site="C01", secure=sec, random_state=4,
                        drop=("centre",))
    one = secure_total(sh.limbs + CLIP, 1, registry.domain, "regression", 1.0, 1e-6, sec, ("centre",))
    plan = release_plan(d.domain, "regression", 1.0, 1e-6, drop=("centre",))
    # the outcome sums are Pólya shares on the coarser share lattice, not the release lattice
    m_sum = plan.adj_plan.mechanisms()[1]
    coarse = LatticeLaplace(m_sum.scale, m_sum.sensitivity, 1, bits=SHARE_LATTICE_BITS)
    steps = one["sum"] / 2.0**coarse.k
    assert np.array_equal(steps, np.rint(steps))
    assert "Pólya" in sh.receipt["noise"]
    assert any("Pólya share" in n for n in sh.receipt["notes"])
    ex = exact_statistics(d, "regression", plan)
    assert not np.allclose(one["sum_x"][1], ex["arms"][1]["sx"])  # a share is noisy, never exact


@pytest.mark.parametrize("honest", [1, 2, 7, 39])
@pytest.mark.parametrize("eps", [0.5, 4.0])
def test_honest_shares_add_up_to_the_central_zcdp(registry, honest, eps):
    """The distributed discrete Gaussian bound of ``honest`` shares, block by block, is at most
    the central Gaussian's ``1 / (2 sigma^2)``, and the shares' summed variance at least its."""
    plan = release_plan(registry.domain, "regression", eps, 1e-6, drop=("centre",))
    shares = share_plan(plan, "regression", honest)
    rho = check_shares(plan, shares, honest)
    assert 0 < rho <= 0.5 / plan.sigma**2
    lay = plan.layout
    dims = {"sx": lay.p, "S": len(lay.rows), "Su": lay.p, "Q": 1}
    for key in plan.sd:
        assert honest * shares.block(key, dims[key]).std**2 >= plan.sd[key]**2
    # one share is weaker alone: that is the fallback epsilon in the receipt
    bad = share_plan(plan, "regression", honest + 1)  # shares for more honest sites than there are
    with pytest.raises(PrivacyParameterError, match="do not add up"):
        check_shares(plan, bad, honest)


@pytest.mark.parametrize("samples", [1_000, pytest.param(20_000, marks=pytest.mark.slow)])
def test_the_sum_of_two_honest_shares_audited_at_or_below_the_claim(samples):
    """Two honest sites' shares summed (the least noise the threat model allows with h = 2), the
    target site on worst-moving neighbours: the audit's certified bound is at or below epsilon."""
    import pandas as pd

    from audits.releases.mechanism import audit_mechanism
    from privcausal.data import CausalData
    from privcausal.privacy import noise_source

    base = simulate_trauma(200, random_state=0, n_centres=2)
    eps, delta, h = 1.0, 1e-6, 2
    plan = release_plan(base.domain, "regression", eps, delta, drop=("centre",))
    shares = share_plan(plan, "regression", h)
    hi = base.domain.outcome.upper
    cov = base.covariates.iloc[[0]]
    D1 = CausalData(pd.concat([base.covariates, cov], ignore_index=True),
                    np.r_[base.treatment, 1], np.r_[base.outcome, hi], base.domain)
    exact = {id(base): exact_statistics(base, "regression", plan),
             id(D1): exact_statistics(D1, "regression", plan)}
    other = exact[id(base)]

    def mech(data, random_state):
        g = noise_source(random_state)
        parts = [release_arrays(exact[id(data)], "regression", shares, g, shift=False),
                 release_arrays(other, "regression", shares, g, shift=False)]
        return np.concatenate([np.ravel(parts[0][k] + parts[1][k]) for k in sorted(parts[0])])

    res = audit_mechanism(mech, lambda: (base, D1), epsilon=eps, delta=delta, samples=samples,
                          alpha=0.05, random_state=0)
    assert res.epsilon_lower <= eps and not res.violation


def test_transport_keys_and_exponent_come_from_the_plan_only(registry):
    plan = release_plan(registry.domain, "regression", 1.0, 1e-6, drop=("centre",))
    keys = array_keys("regression", plan)
    assert [k for k, _ in keys][:2] == ["count", "sum"] and ("gram", (2, plan.layout.p, plan.layout.p)) in keys
    e7 = transport_exponent("regression", share_plan(plan, "regression", 7), True)
    e1 = transport_exponent("regression", plan, True)
    assert e7 <= e1  # finer shares, finer lattice


@pytest.mark.parametrize("kw, match", [
    ({"sites": 1}, "2 to 63"), ({"sites": 64}, "2 to 63"), ({"sites": 8, "collusion": -1}, ">= 0"),
    ({"sites": 8, "collusion": 8}, "exceed collusion"), ({"sites": 8, "min_sites": 9}, "min_sites"),
    ({"sites": 8, "collusion": True}, "integer"), ({"sites": 8, "min_sites": 2.5}, "integer")])
def test_bad_secure_settings_are_refused(kw, match):
    with pytest.raises(PrivacyParameterError, match=match):
        SecureAggregation(**kw)


def test_secure_result_states_the_threat_model_and_names_a_dropout(registry):
    kw = dict(method="regression", epsilon=1.0, random_state=5, n_bootstrap=100, baselines=False)
    r = federate(registry, transport="local", secure=True, collusion=1, **kw).to_dict()
    assert r["n_sites"] == 8 and "honest-but-curious" in r["guarantee"]
    sa = r["secure_aggregation"]
    assert sa["honest"] == 7 and sa["fallback_epsilon"] > 1.0 and r["receipt"]["epsilon"] <= 1.0 + 1e-9
    assert sa["threshold"] == 8  # = min_sites: SecAgg+ cannot unmask a sum of fewer sites
    assert "32 bits" in sa["threat_model"]  # Flower 1.42's mask seeds: stated, not hidden
    assert any("threat model" in n for n in r["receipt"]["notes"])
    plain = federate(registry, transport="local", **kw).to_dict()
    assert r["ci_high"] - r["ci_low"] < plain["ci_high"] - plain["ci_low"]  # the point of it
    dropped = federate(registry, transport="local", secure=True, collusion=1, min_sites=6,
                       fail=lambda s: s == "C05", **kw).to_dict()
    assert "C05" in dropped["excluded_sites"] and dropped["n_sites"] == 7
    with pytest.raises(DataValidationError, match="fewer than min_sites"):
        federate(registry, transport="local", secure=True, fail=lambda s: s == "C05", **kw)


def _flower_against_local(registry, transport) -> bool:
    """The secure regression over a Flower transport and locally, site C05 failing mid-protocol:
    whether Flower's run names C05, keeps the other 7 and gives the local estimate bit for bit."""
    pytest.importorskip("flwr")
    kw = dict(method="regression", epsilon=1.0, random_state=5, n_bootstrap=50, baselines=False,
              secure=True, collusion=1, min_sites=6, fail=lambda s: s == "C05")
    got = federate(registry, transport=transport, **kw).to_dict()
    loc = federate(registry, transport="local", **kw).to_dict()
    return (got["engine"] == "flower" and got["transport"] == transport and got["n_sites"] == 7
            and "C05" in got["excluded_sites"] and got["ate"] == loc["ate"]
            and got["ci_low"] == loc["ci_low"])


def test_flower_secagg_plus_gives_the_local_secure_sum_and_handles_a_dropout(registry):
    """Flower's simulation engine running SecAgg+ (8 virtual SuperNodes): the same estimate as
    the local secure sum, bit for bit; a site crashing mid-protocol is removed from the sum by
    SecAgg+ (its masks recovered from the others' shares) and named."""
    assert _flower_against_local(registry, "simulation")


def test_flower_secagg_plus_cannot_unmask_a_sum_of_fewer_than_min_sites(registry):
    """min_sites = all 8 and one site crashing mid-protocol: SecAgg+ (threshold 8) halts before
    unmasking, so no sum of 7 sites is ever formed at the server, not merely discarded."""
    pytest.importorskip("flwr")
    with pytest.raises(DataValidationError, match="halted before unmasking"):
        federate(registry, method="regression", epsilon=1.0, random_state=5, n_bootstrap=20,
                 baselines=False, transport="simulation", secure=True, collusion=1,
                 fail=lambda s: s == "C05")


@pytest.mark.slow
def test_real_flower_deployment_runs_secagg_plus_with_a_site_dying_mid_protocol(registry):
    """A SuperLink and 8 SuperNodes on 127.0.0.1: SecAgg+ over gRPC gives the local secure sum;
    a SuperNode that dies when asked for its masked vector is removed from the sum and named
    (about 3 minutes: SecAgg+ waits its 120 s timeout for the dead site)."""
    assert _flower_against_local(registry, "grpc")

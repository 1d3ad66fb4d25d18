"""LiRA, RMIA, loss and calibrated scores against the published formulas, recomputed by hand.

The hand versions below loop over records and use scipy.stats.norm (LiRA) and the pairwise
likelihood-ratio fraction (RMIA) directly; the library versions are vectorised. Agreement is
to floating-point tolerance. Every test seeds its own generator; none is statistical.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from attacks.lira import lira_offline, lira_online
from attacks.membership import calibrated_scores, loss_scores
from attacks.metrics import roc_auc
from attacks.rmia import rmia_scores, tune_offline_a
from attacks.shadow import balanced_inclusion, random_halves
from privcausal.exceptions import DataValidationError


def _data(seed, K=8, n=60, balanced=True):
    rng = np.random.default_rng(seed)
    mask = balanced_inclusion(K, n, rng) if balanced else rng.random((K, n)) < 0.5
    base = rng.normal(0, 2, n)
    ref = base + rng.normal(0, 1, (K, n)) + 1.5 * mask * rng.uniform(0.5, 1.5, n)
    phi = base + rng.normal(0.5, 1.2, n)
    return phi, ref, mask


def _hand_fit(ref, sel, fixed):
    """Paper's Gaussian fit: mean and np.var per record; pooled variance as documented."""
    K, n = ref.shape
    mus, vs, counts = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, int)
    ss_tot, cnt_tot = 0.0, 0
    for i in range(n):
        v = ref[sel[:, i], i]
        counts[i] = len(v)
        if len(v):
            mus[i] = v.mean()
        if len(v) >= 2:
            vs[i] = v.var()
            ss_tot += ((v - v.mean()) ** 2).sum()
            cnt_tot += len(v)
    pooled = ss_tot / cnt_tot if cnt_tot else np.var(ref[sel])
    var = np.where(fixed | (counts < 2), pooled, vs)
    return mus, np.sqrt(var)


@pytest.mark.parametrize("fixed", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_lira_online_equals_norm_logpdf_ratio(seed, fixed):
    phi, ref, mask = _data(seed)
    mu_in, sd_in = _hand_fit(ref, mask, fixed)
    mu_out, sd_out = _hand_fit(ref, ~mask, fixed)
    want = norm.logpdf(phi, mu_in, sd_in) - norm.logpdf(phi, mu_out, sd_out)
    got = lira_online(phi, ref, mask, fixed_variance=fixed)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_lira_online_pooled_variance_for_records_with_one_value():
    phi, ref, mask = _data(2, K=3, n=80, balanced=True)  # K = 3: one or two IN values per record
    assert (mask.sum(0) == 1).any()
    mu_in, sd_in = _hand_fit(ref, mask, False)
    mu_out, sd_out = _hand_fit(ref, ~mask, False)
    want = norm.logpdf(phi, mu_in, sd_in) - norm.logpdf(phi, mu_out, sd_out)
    np.testing.assert_allclose(lira_online(phi, ref, mask), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fixed", [False, True])
def test_lira_offline_equals_one_sided_norm_test(fixed):
    phi, ref, mask = _data(3)
    mu_out, sd_out = _hand_fit(ref, ~mask, fixed)
    want = norm.logcdf(phi, mu_out, sd_out)  # log(1 - Pr[Z > phi]), Z ~ OUT Gaussian
    np.testing.assert_allclose(lira_offline(phi, ref, mask, fixed_variance=fixed), want, rtol=1e-12, atol=1e-12)
    # no mask: every reference value is OUT
    mu_all, sd_all = _hand_fit(ref, np.ones_like(mask), fixed)
    np.testing.assert_allclose(lira_offline(phi, ref, None, fixed_variance=fixed),
                               norm.logcdf(phi, mu_all, sd_all), rtol=1e-12, atol=1e-12)


def test_lira_offline_one_reference_model_uses_global_variance():
    phi, ref, _ = _data(4, K=1, n=50)
    want = norm.logcdf(phi, ref[0], np.std(ref[0]))
    np.testing.assert_allclose(lira_offline(phi, ref), want, rtol=1e-12, atol=1e-12)


def test_lira_online_refuses_records_never_in():
    phi, ref, mask = _data(5)
    mask[:, 3] = False
    with pytest.raises(DataValidationError, match="1 of 60 records"):
        lira_online(phi, ref, mask)


def _hand_marginal(ref, sel_in, a):
    K, n = ref.shape
    out = np.empty(n)
    for i in range(n):
        if a is None:
            out[i] = ref[:, i].mean()
        else:
            out[i] = 0.5 * ((1 + a) * ref[~sel_in[:, i], i].mean() + (1 - a))
    return out


def _hand_rmia(px, rx, in_x, pz, rz, in_z, a, gamma):
    Px, Pz = _hand_marginal(rx, in_x, a), _hand_marginal(rz, in_z, a)
    score = np.empty(px.size)
    for i in range(px.size):
        hits = 0
        for j in range(pz.size):
            lr = (px[i] / Px[i]) / (pz[j] / Pz[j])
            hits += lr >= gamma
        score[i] = hits / pz.size
    return score


def _probs(seed, K=4, n=40, m=70):
    rng = np.random.default_rng(seed)
    in_x = balanced_inclusion(K, n, rng)
    in_z = rng.random((K, m)) < 0.5
    in_z[0] = False  # every z OUT of at least one model
    px = rng.uniform(0.05, 1.0, n)
    rx = np.clip(px * rng.uniform(0.5, 1.2, (K, n)), 1e-6, 1.0)
    pz = rng.uniform(0.05, 1.0, m)
    rz = np.clip(pz * rng.uniform(0.5, 1.5, (K, m)), 1e-6, 1.0)
    return px, rx, in_x, pz, rz, in_z


@pytest.mark.parametrize("gamma", [1.0, 1.7])
@pytest.mark.parametrize("a", [None, 0.0, 0.3, 1.0])
def test_rmia_equals_pairwise_likelihood_ratio_fraction(a, gamma):
    px, rx, in_x, pz, rz, in_z = _probs(10 + int(10 * (a or 0)))
    want = _hand_rmia(px, rx, in_x, pz, rz, in_z, a, gamma)
    got = rmia_scores(px, rx, pz, rz, ref_in=in_x, ref_z_in=in_z, offline_a=a, gamma=gamma)
    np.testing.assert_array_equal(got, want)


def test_rmia_x_equal_to_z_counts_itself_at_gamma_one():
    px, rx, in_x, *_ = _probs(11)
    s = rmia_scores(px, rx, px, rx, ref_in=in_x, ref_z_in=in_x)
    want = _hand_rmia(px, rx, in_x, px, rx, in_x, None, 1.0)
    np.testing.assert_array_equal(s, want)
    assert s.max() == 1.0 and s.min() >= 1 / px.size


def test_rmia_rejects_losses_instead_of_probabilities():
    px, rx, in_x, pz, rz, in_z = _probs(12)
    with pytest.raises(DataValidationError, match="probabilities"):
        rmia_scores(-np.log(px), rx, pz, rz)


def test_tune_offline_a_takes_the_best_auc_on_the_pseudo_target():
    rng = np.random.default_rng(13)
    K, n = 3, 300
    mask = random_halves(K, n, rng)
    hard = rng.uniform(0.2, 0.9, n)
    ref = np.clip(hard + 0.08 * mask + rng.normal(0, 0.03, (K, n)), 1e-3, 1.0)
    t = tune_offline_a(ref, mask, pseudo_target=1)
    others = [0, 2]
    keep = (~mask[others]).any(0)
    x = np.flatnonzero(keep)
    z = x[~mask[1, x]]
    aucs = []
    for a in t.grid:
        s = _hand_rmia(ref[1, x], ref[others][:, x], mask[others][:, x], ref[1, z], ref[others][:, z],
                       mask[others][:, z], a, 1.0)
        aucs.append(roc_auc(mask[1, x], s))
    np.testing.assert_allclose(t.auc, aucs, rtol=0, atol=1e-15)
    assert t.a == t.grid[int(np.argmax(aucs))]


def test_loss_and_calibrated_scores():
    rng = np.random.default_rng(14)
    loss = rng.exponential(1.0, 30)
    ref = rng.exponential(1.0, (5, 30))
    mask = rng.random((5, 30)) < 0.4
    mask[:, 0] = False
    np.testing.assert_array_equal(loss_scores(loss), -loss)
    want = np.array([-loss[i] - np.median(-ref[~mask[:, i], i]) for i in range(30)])
    np.testing.assert_allclose(calibrated_scores(-loss, -ref, mask), want, rtol=1e-14)
    with pytest.raises(DataValidationError, match="NaN"):
        loss_scores(np.r_[loss[:-1], np.nan])


def test_inclusion_masks():
    for K in (1, 2, 5, 8):
        m = balanced_inclusion(K, 101, 0)
        counts = m.sum(0)
        assert set(np.unique(counts)) <= {K // 2, K // 2 + K % 2}
        if K % 2 == 0:
            assert (counts == K // 2).all()
    h = random_halves(4, 101, 1)
    assert (h.sum(1) == 50).all()

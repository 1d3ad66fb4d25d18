"""The broken-trainer zoo (audits.dpsgd.zoo): every detectable bug is FLAGGED (epsilon_lower >
epsilon_theory at 95 %) and the correct trainer, audited the same way, is not.

Failure rates. A control (correct trainer) is sound at alpha = 0.05: an unseeded run would
flag it at most 5 % of the time. A flag fails when the audit's bound misses the claim; the
rate of that, measured over 50 seeds per configuration by ``python experiments/audit_zoo.py``
(experiments/audit_zoo.md), is quoted in each test. The tests are seeded, so they are
deterministic. Bugs that these audits cannot see are documented by an assertion on the
computed number of runs that would be needed (``audits.dpsgd.zoo.runs_to_flag``: inf when no number
of runs can flag them with that statistic).

Run: python -m pytest tests/test_audit_zoo.py -q   (about 30 s on a loaded 2-core machine)
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from audits.bounds.multi_run import gdp_epsilon
from audits.dpsgd.multi_run import audit_dpsgd
from audits.dpsgd.one_run import audit_dpsgd_one_run
from audits.dpsgd.zoo import BUGS, broken_trainer, reference_dpsgd, runs_to_flag
from audits.dpsgd.zoo_audits import repeated_noise_audit, shuffle_filler_audit
from privcausal.exceptions import DataValidationError
from privcausal.training import train_many

pytestmark = pytest.mark.filterwarnings("ignore::privcausal.exceptions.PrivacyLeakWarning")

#: the multi-run audit every bug goes through: white-box, 100 runs per world, claimed epsilon 1,
#: Clopper-Pearson (no assumption on the trade-off curve)
AUDIT = dict(threat="white-box", trials=100, epsilon=1.0, steps=50, bound="clopper-pearson",
             random_state=11)
#: bug -> what the auditor changes to expose it (flag rate over 50 seeds, experiments/audit_zoo.md)
DETECTABLE = {
    "noise-over-batch": {},  # 41x too little noise: perfect separation, 50/50
    "no-clipping": dict(canary_scale=100.0, lr=1e-3),  # a 50 C gradient passes unclipped, 50/50
    "noise-before-clipping": dict(canary_scale=1000.0, lr=1e-4),  # 50/50
    "fixed-noise-seed": {},  # every run draws the same noise: perfect separation, 50/50
    "misreported-sampling-rate": {},  # accountant told q = 0.1, trains full batch, 50/50
}


def _data(n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, (X[:, 0] > 0).astype(float)


X, Y = _data()
ZERO = {"0.weight": np.zeros((1, 3)), "0.bias": np.zeros(1)}


# ------------------------------------------------------------ the reference is DP-SGD
def test_reference_without_noise_is_train_many_exactly():
    """Identity: with sigma = 0 and no clipping both are plain full-batch gradient descent."""
    mask = np.ones((3, 40), dtype=bool)
    mask[1, 5] = mask[2, :10] = False
    kw = dict(noise_multiplier=0.0, steps=20, sampling_rate=1.0, lr=0.5, init_params=ZERO,
              record=("params",), dtype="float64")
    a = train_many(X, Y, mask, random_state=0, **kw)
    b = reference_dpsgd(X, Y, mask, max_grad_norm=math.inf, random_state=0, **kw)
    for k in ("0.weight", "0.bias"):
        np.testing.assert_allclose(b.records["params"][k].numpy(), a.records["params"][k].numpy(),
                                   rtol=1e-12, atol=1e-12)
    assert b.epsilon == math.inf


def test_reference_clips_like_train_many():
    """Identity: the first step's clipped gradient sums agree (zero start, full batch, C = 0.3,
    so every record is clipped)."""
    kw = dict(noise_multiplier=1.0, steps=1, sampling_rate=1.0, max_grad_norm=0.3,
              init_params=ZERO, record=("clipped_grad",), dtype="float64", n_models=2)
    a = train_many(X, Y, None, random_state=0, **kw)
    b = reference_dpsgd(X, Y, None, random_state=1, **kw)
    for k in ("0.weight", "0.bias"):
        np.testing.assert_allclose(b.records["clipped_grad"][k].numpy(),
                                   a.records["clipped_grad"][k].numpy(), rtol=1e-10, atol=1e-12)
    assert b.epsilon == pytest.approx(a.epsilon, rel=1e-9)


def test_correct_reference_matches_train_many_in_distribution():
    """The harness's white-box run scores (300 runs a world) of train_many and of the correct
    reference come from one distribution: two-sample KS at level 0.001 on each world (this
    test fails with probability <= 0.2 % when they do)."""
    kw = dict(threat="white-box", trials=300, epsilon=2.0, steps=50, route="run-level")
    a = audit_dpsgd(X, Y, random_state=1, **kw)
    b = audit_dpsgd(X, Y, random_state=2, trainer=broken_trainer(None), **kw)
    assert stats.ks_2samp(a.scores_in, b.scores_in).pvalue > 1e-3
    assert stats.ks_2samp(a.scores_out, b.scores_out).pvalue > 1e-3
    assert a.canary_clipped_fraction == b.canary_clipped_fraction == 1.0
    assert a.epsilon_theory == pytest.approx(b.epsilon_theory, rel=1e-9)


# ------------------------------------------------------------------- flagged bugs
@pytest.mark.parametrize("bug", sorted(DETECTABLE))
def test_bug_is_flagged_and_the_correct_trainer_is_not(bug):
    kw = {**AUDIT, **DETECTABLE[bug]}
    bad = audit_dpsgd(X, Y, trainer=broken_trainer(bug), **kw)
    ok = audit_dpsgd(X, Y, trainer=broken_trainer(None), **kw)
    assert bad.violation and bad.epsilon_lower > bad.epsilon_theory
    assert not ok.violation and ok.epsilon_lower <= ok.epsilon_theory
    json.dumps(bad.to_dict())


@pytest.mark.parametrize("threat", ["hidden-state", "black-box"])
def test_weaker_threat_models_flag_gross_bugs(threat):
    """Noise off by the batch size is visible in the final model alone (flag rate 50/50)."""
    kw = {**AUDIT, "threat": threat}
    assert audit_dpsgd(X, Y, trainer=broken_trainer("noise-over-batch"), **kw).violation
    assert not audit_dpsgd(X, Y, trainer=broken_trainer(None), **kw).violation


def test_composed_route_flags_noise_off_by_the_batch_from_ten_runs():
    """The harness's composed white-box route (Gaussian noise measured by chi-square) flags the
    Tramer et al. bug from 5 + 5 runs (50/50 seeds; the correct trainer 1/50); it assumes
    Gaussian noise, which this bug keeps."""
    kw = dict(threat="white-box", trials=5, epsilon=1.0, steps=50, route="composed",
              random_state=3)
    bad = audit_dpsgd(X, Y, trainer=broken_trainer("noise-over-batch"), **kw)
    assert bad.violation and bad.epsilon_lower > 20 * bad.epsilon_theory
    assert not audit_dpsgd(X, Y, trainer=broken_trainer(None), **kw).violation


def test_one_run_audit_flags_noise_off_by_the_batch_from_one_training():
    """1000 Dirac canaries, one training: the buggy trainer reaches the ceiling of both bounds
    (every guess right; 5/5 seeds in experiments/audit_one_run.md), the correct one does not
    (sound at 95 % per bound)."""
    kw = dict(threat="white-box", canaries=1000, epsilon=1.0, steps=50, random_state=5)
    bad = audit_dpsgd_one_run(X, Y, trainer=broken_trainer("noise-over-batch"), **kw)
    assert bad.violation and bad.epsilon_lower == pytest.approx(bad.ceiling)
    assert bad.fdp.epsilon_lower > bad.epsilon_theory
    ok = audit_dpsgd_one_run(X, Y, trainer=broken_trainer(None), **kw)
    assert not ok.violation and ok.fdp.epsilon_lower <= ok.epsilon_theory


def test_skipped_clipping_with_the_default_canary_needs_hundreds_of_runs():
    """With the default canary (10 C) clipping skipped makes the canary's gradient ~5 C: the
    score's effect size is 1.254 +- 0.02 (5000 runs a world, experiments/audit_zoo.md) against
    0.27 claimed, which a typical Clopper-Pearson audit needs 512 runs a world to certify: 100
    runs flag it at 1 seed in 50, 2000 runs at 50 in 50."""
    needed = runs_to_flag(1.25, 1.0)
    assert 300 < needed < 1000
    kw = {**AUDIT, "trials": 100}
    assert not audit_dpsgd(X, Y, trainer=broken_trainer("no-clipping"), **kw).violation
    kw["trials"] = 2000
    assert audit_dpsgd(X, Y, trainer=broken_trainer("no-clipping"), **kw).violation


# ------------------------------------------------- shuffled batches (Chua et al. 2024)
def test_shuffle_is_invisible_to_the_harness_canary():
    """With the harness's Dirac canary no other record touches its coordinate, and a shuffled
    canary enters exactly once an epoch (here 10 epochs of 5 steps): the sum statistic is then
    N(mu_S, 1) with mu_S = 10 c / (sigma sqrt(T)), exactly, and its epsilon is *below* the
    Poisson claim, so no number of runs flags it with this canary (runs_to_flag = inf; 0/50
    seeds flagged at 100 runs; effect measured 0.234 against 0.238 for the correct trainer)."""
    kw = {**AUDIT, "sampling_rate": 0.2, "route": "run-level", "bound": "gdp"}
    r = audit_dpsgd(X, Y, trainer=broken_trainer("shuffle"), **kw)
    assert not r.violation
    c = 10.0 / math.sqrt(101.0)  # the clipped canary's share on its coordinate (scale 10 C)
    mu_s = 10 * c / (r.noise_multiplier * math.sqrt(50))
    assert gdp_epsilon(mu_s, 1e-5) < 0.97 * r.epsilon_theory
    assert runs_to_flag(mu_s, r.epsilon_theory) == math.inf


def test_shuffle_is_flagged_with_fillers():
    """One epoch of 100 steps, sigma = 1: the Poisson accountant claims 0.72; fillers on the
    canary's coordinate make the displaced filler and the extra record visible. 1000 runs a
    world flag it (50/50 seeds, median bound 1.21, experiments/audit_zoo.md); a Poisson-sampled
    correct trainer audited the same way is not flagged (0/50; sound at 95 %)."""
    bad = shuffle_filler_audit(broken_trainer("shuffle"), trials=1000, random_state=0)
    assert bad.epsilon_theory == pytest.approx(0.72, abs=0.01)
    assert bad.violation
    ok = shuffle_filler_audit(broken_trainer(None), trials=1000, random_state=0)
    assert not ok.violation
    json.dumps(bad.to_dict())


# ------------------------------------------------------------- noise reused across steps
def test_reused_noise_is_invisible_to_the_harness_and_flagged_by_the_step_spread():
    """T copies of one noise draw: the harness's sum has sqrt(T) times the spread, so its
    effect size drops to one step's (c / sigma = 0.038 here, measured 0.036 +- 0.02 over 5000
    runs a world), below the claim: runs_to_flag = inf (0/50 seeds flagged). The spread over
    steps of the canary coordinate is 0 to rounding without the canary: 100 runs a world flag
    it (50/50 seeds; the correct trainer 0/50)."""
    r = audit_dpsgd(X, Y, trainer=broken_trainer("noise-reused-across-steps"), **AUDIT)
    assert not r.violation
    mu_one_step = (10.0 / math.sqrt(101.0)) / r.noise_multiplier
    assert runs_to_flag(mu_one_step, r.epsilon_theory) == math.inf
    bad = repeated_noise_audit(X, Y, broken_trainer("noise-reused-across-steps"), random_state=0)
    ok = repeated_noise_audit(X, Y, broken_trainer(None), random_state=0)
    assert bad.violation and not ok.violation


# ---------------------------------------------------- dividing by the actual batch size
def test_actual_batch_normaliser_is_invisible_to_canary_statistics():
    """Dividing the noisy sum by the actual batch size scales signal and noise of the canary's
    coordinate alike: the harness's score keeps the correct trainer's effect size (measured
    0.225 against 0.241, each +-0.02, 5000 runs a world at q = 0.25, experiments/audit_zoo.md;
    0/50 seeds flagged at 100 runs), so
    no more runs flag the bug than flag the correct trainer: none (the audit is sound). Here:
    with 1000 runs a world the bug's effect size exceeds the correct trainer's by less than
    3 standard errors (fails with probability < 0.2 % if they are equal) and neither is
    flagged. The leak is the batch size itself (at q = 1 it is the data size, n vs n + 1);
    seeing it needs a statistic of the update's scale over many empty coordinates, which the
    harness does not compute."""
    kw = {**AUDIT, "sampling_rate": 0.25, "trials": 1000, "route": "run-level", "bound": "gdp"}
    bad = audit_dpsgd(X, Y, trainer=broken_trainer("actual-batch-normaliser"), **kw)
    ok = audit_dpsgd(X, Y, trainer=broken_trainer(None), **kw)
    effect = [(r.scores_in.mean() - r.scores_out.mean())
              / math.sqrt((r.scores_in.var() + r.scores_out.var()) / 2) for r in (bad, ok)]
    assert effect[0] - effect[1] < 3 * math.sqrt(4 / 1000)
    assert not bad.violation and not ok.violation


def test_zoo_arguments():
    assert set(BUGS) >= {None, "noise-over-batch", "no-clipping", "shuffle"}
    with pytest.raises(DataValidationError):
        broken_trainer("off-by-one")
    with pytest.raises(DataValidationError, match="momentum"):
        reference_dpsgd(X, Y, None, n_models=1, noise_multiplier=1.0, momentum=0.9)
    assert runs_to_flag(0.1, 1.0) == math.inf and runs_to_flag(20.0, 1.0) < 30

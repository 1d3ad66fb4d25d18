"""A zoo of deliberately broken DP-SGD trainers: positive controls for audits.

An audit that cannot catch a known bug proves little when it finds nothing. This module holds
a small, faithful DP-SGD for linear and logistic models (:func:`reference_dpsgd`, numpy,
vectorised over K models, called as :func:`privcausal.training.train_many` is) with one switch
per bug, and :func:`broken_trainer`, which returns it as a ``trainer=`` for
:func:`audits.dpsgd.multi_run.audit_dpsgd` or :func:`audits.dpsgd.one_run.audit_dpsgd_one_run`.
``bug=None`` is correct DP-SGD (per-sample clipping, Gaussian noise of std sigma C on the
clipped sum, Poisson sampling or the full batch, division by a fixed expected batch size), the
same distribution as ``train_many`` (checked in the tests). Every bug keeps the *claim*
(``noise_multiplier``, ``epsilon``: what the buggy code believes and reports) and changes
what is computed:

* ``"noise-over-batch"``: noise std sigma C / B (B = the normaliser) instead of sigma C
  (Tramer et al. 2022 found this in a real library);
* ``"no-clipping"``: per-sample gradients are not clipped; the noise is still sigma C;
* ``"shuffle"``: each epoch a random permutation of the m usable records cut into
  b = round(1/q) batches (the record at position p goes to batch floor(p b / m): every record
  exactly once an epoch), accounted as Poisson sampling at q (Chua et al. 2024);
* ``"noise-before-clipping"``: Gaussian noise (std sigma C) is added to each per-sample
  gradient, which is then clipped; no noise on the sum;
* ``"fixed-noise-seed"``: the noise generator is seeded with a constant, so every training
  run draws the same noise;
* ``"noise-reused-across-steps"``: one noise draw per run, added at every step;
* ``"actual-batch-normaliser"``: the noisy sum is divided by the actual batch size;
* ``"misreported-sampling-rate"``: the accountant is told ``factor`` times the real rate
  (default 0.1; e.g. B over the size of the whole database instead of the training set).

The result (:class:`ZooTraining`) has the attributes the audits read: ``params``,
``records`` (``noisy_grad``, ``clipped_grad``, ``params``, ``batch_size``; torch tensors as
``train_many`` returns them), ``noise_multiplier``, ``max_grad_norm``, ``steps``, ``loss``,
``epsilon`` and ``per_sample_loss``. Models start from zero parameters unless
``init_params`` is given. Randomness is a numpy Generator (seeded: experiments only; these
trainers are test positives, never for releases). :func:`runs_to_flag` says how many runs a
threshold audit needs to certify a leak of a given effect size against a claim.

References
----------
.. [1] Abadi, Chu, Goodfellow, McMahan, Mironov, Talwar, Zhang, "Deep learning with
   differential privacy", CCS 2016 (DP-SGD).
.. [2] Tramer, Terzis, Steinke, Song, Jagielski, Carlini, "Debugging differential privacy: a
   case study for privacy auditing", 2022.
.. [3] Chua, Ghazi, Kamath, Kumar, Manurangsi, Sinha, Zhang, "How private are DP-SGD
   implementations?", ICML 2024.
.. [4] Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis, "Tight auditing of
   differentially private machine learning", USENIX Security 2023.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch
from scipy import special

from privcausal.exceptions import DataValidationError, PrivacyParameterError
from privcausal.validation import check_random_state

__all__ = ["BUGS", "ZooTraining", "reference_dpsgd", "broken_trainer", "runs_to_flag"]

BUGS: dict[str | None, str] = {
    None: "correct DP-SGD",
    "noise-over-batch": "noise std sigma C / B instead of sigma C",
    "no-clipping": "per-sample gradients not clipped (noise calibrated to C)",
    "shuffle": "shuffled batches, each record once an epoch, accounted as Poisson at q",
    "noise-before-clipping": "noise added to each per-sample gradient before clipping",
    "fixed-noise-seed": "the same noise in every training run (constant seed)",
    "noise-reused-across-steps": "one noise draw per run, reused at every step",
    "actual-batch-normaliser": "noisy sum divided by the actual batch size",
    "misreported-sampling-rate": "the accountant is told a smaller sampling rate",
}
_ACCEPTED = {"backend", "secure_mode", "chunk_size", "memory_budget", "label",
             "max_record_bytes", "max_noise_multiplier"}
_FIXED_SEED = 20240101


@dataclass(frozen=True)
class ZooTraining:
    """K models trained by :func:`reference_dpsgd` (the attributes an audit reads).

    ``epsilon`` and ``noise_multiplier`` are the claim (what the code reports), ``bug`` what
    it really did.
    """

    params: Mapping[str, torch.Tensor]
    loss: str
    noise_multiplier: float
    max_grad_norm: float
    sampling_rate: float
    steps: int
    epsilon: float
    delta: float
    bug: str | None
    records: Mapping[str, Mapping[str, torch.Tensor]] = field(default_factory=dict)
    history: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_models(self) -> int:
        return int(self.params["0.bias"].shape[0])

    def decision_function(self, X: Any) -> np.ndarray:
        """(K, n) linear outputs."""
        w = self.params["0.weight"].numpy()[:, 0, :]
        return w @ np.asarray(X, dtype=np.float64).T + self.params["0.bias"].numpy()

    def per_sample_loss(self, X: Any, y: Any) -> np.ndarray:
        """(K, n) per-record losses (bce for logistic, squared error for linear)."""
        z = self.decision_function(X)
        yy = np.asarray(y, dtype=np.float64)[None, :]
        return np.logaddexp(0.0, z) - z * yy if self.loss == "bce" else (z - yy) ** 2


def _claim(epsilon, noise_multiplier, delta, q_claim, steps, max_sigma):
    from privcausal.training.calibrate import calibrate_noise_multiplier, dpsgd_epsilon

    if (epsilon is None) == (noise_multiplier is None):
        raise PrivacyParameterError("give exactly one of epsilon and noise_multiplier")
    if noise_multiplier is None:
        sigma = calibrate_noise_multiplier(epsilon, delta, q_claim, steps,
                                           max_noise_multiplier=max_sigma)
    else:
        sigma = float(noise_multiplier)
    if not sigma >= 0 or not math.isfinite(sigma):
        raise PrivacyParameterError("the noise multiplier must be >= 0 and finite")
    return sigma, dpsgd_epsilon(sigma, q_claim, steps, delta)  # inf at sigma = 0


def _init(init_params, K: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    if init_params is None:
        return np.zeros((K, d)), np.zeros(K)
    w = np.asarray(init_params["0.weight"], dtype=np.float64)
    b = np.asarray(init_params["0.bias"], dtype=np.float64)
    w = np.broadcast_to(w.reshape(-1, d), (K, d)).copy()
    return w, np.broadcast_to(b.reshape(-1), (K,)).copy()


def _shuffle_slots(mask: np.ndarray, n_batches: int, rng: np.random.Generator) -> np.ndarray:
    """(K, n) batch of each record within one epoch (-1 where the mask excludes it)."""
    keys = np.where(mask, rng.random(mask.shape), np.inf)
    pos = np.argsort(np.argsort(keys, axis=1), axis=1)  # rank of each record in the permutation
    m = mask.sum(1, keepdims=True)
    return np.where(mask, pos * n_batches // np.maximum(m, 1), -1)


def reference_dpsgd(X: Any, y: Any = None, mask: Any = None, *, n_models: int | None = None,
                    architecture: str = "logistic", epsilon: float | None = None,
                    delta: float = 1e-5, noise_multiplier: float | None = None,
                    steps: int = 100, sampling_rate: float = 1.0,
                    expected_batch_size: float | None = None, max_grad_norm: float = 1.0,
                    lr: float = 0.1, init_params: Mapping[str, Any] | None = None,
                    random_state: Any = None, record: tuple[str, ...] | list[str] = (),
                    record_models: Any = None, dtype: str = "float64",
                    bug: str | None = None, factor: float = 0.1,
                    max_noise_multiplier: float = 50.0, **ignored: Any) -> ZooTraining:
    """DP-SGD for a linear (mse) or logistic (bce) model, K models at once, with an optional bug.

    Parameters mirror :func:`privcausal.training.train_many` (plain SGD only; ``dtype`` is
    always float64; ``record_models`` picks the models whose records are kept). ``bug`` is a
    key of :data:`BUGS` (None: correct); ``factor`` is the misreporting factor of
    ``"misreported-sampling-rate"``.
    """
    if bug not in BUGS:
        raise DataValidationError(f"bug must be one of {sorted(map(str, BUGS))}, got {bug!r}")
    bad = set(ignored) - _ACCEPTED
    if bad:
        raise DataValidationError(
            f"reference_dpsgd does not implement {sorted(bad)} (plain SGD only)")
    if architecture not in ("logistic", "linear"):
        raise DataValidationError('architecture must be "logistic" or "linear"')
    Xa = np.asarray(X, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64).ravel()
    n, d = Xa.shape
    mk = np.ones((int(n_models or 1), n), bool) if mask is None else np.asarray(mask, bool)
    K = mk.shape[0]
    q, T, C = float(sampling_rate), int(steps), float(max_grad_norm)
    if not 0 < q <= 1 or T < 1 or not C > 0:
        raise PrivacyParameterError("need 0 < sampling_rate <= 1, steps >= 1, max_grad_norm > 0")
    q_claim = q * float(factor) if bug == "misreported-sampling-rate" else q
    sigma, eps_claim = _claim(epsilon, noise_multiplier, delta, q_claim, T, max_noise_multiplier)
    rng = check_random_state(random_state)
    noise_rng = np.random.default_rng(_FIXED_SEED) if bug == "fixed-noise-seed" else rng
    norm_k = np.full(K, float(expected_batch_size)) if expected_batch_size is not None \
        else q * mk.sum(1)
    std = (sigma * C if sigma > 0 else 0.0) / (
        norm_k[:, None] if bug == "noise-over-batch" else np.ones((K, 1)))
    W, b = _init(init_params, K, d)
    xsq1 = (Xa * Xa).sum(1) + 1.0
    bce = architecture == "logistic"
    recs: dict[str, list] = {r: [] for r in record}
    if "params" in recs:
        recs["params"].append((W.copy(), b.copy()))
    hist_b = np.zeros((K, T), dtype=np.int64)
    n_batches = max(1, int(round(1.0 / q)))
    reused = None
    for t in range(T):
        if bug == "shuffle":
            if t % n_batches == 0:
                slots = _shuffle_slots(mk, n_batches, rng)
            S = slots == (t % n_batches)
        elif q >= 1.0:
            S = mk
        else:
            S = mk & (rng.random(mk.shape) < q)
        Z = W @ Xa.T + b[:, None]
        r = (special.expit(Z) - ya) if bce else 2.0 * (Z - ya)
        r = r * S
        if bug == "noise-before-clipping":
            G = r[:, :, None] * np.concatenate([Xa, np.ones((n, 1))], 1)[None]  # K x n x (d+1)
            G = G + sigma * C * rng.standard_normal(G.shape) * S[:, :, None]
            nrm = np.linalg.norm(G, axis=2)
            G = G * np.minimum(1.0, C / (nrm + 1e-6))[:, :, None]
            gw, gb = G[..., :d].sum(1), G[..., d].sum(1)
        else:
            f = 1.0 if bug == "no-clipping" else np.minimum(
                1.0, C / (np.abs(r) * np.sqrt(xsq1) + 1e-6))
            rc = r * f
            gw, gb = rc @ Xa, rc.sum(1)
        if "clipped_grad" in recs:
            recs["clipped_grad"].append((gw.copy(), gb.copy()))
        if bug != "noise-before-clipping":
            if bug == "fixed-noise-seed":
                noise = np.broadcast_to(noise_rng.standard_normal(d + 1), (K, d + 1))
            elif bug == "noise-reused-across-steps":
                reused = rng.standard_normal((K, d + 1)) if reused is None else reused
                noise = reused
            else:
                noise = rng.standard_normal((K, d + 1))
            gw, gb = gw + std * noise[:, :d], gb + std[:, 0] * noise[:, d]
        if "noisy_grad" in recs:
            recs["noisy_grad"].append((gw.copy(), gb.copy()))
        size = S.sum(1)
        hist_b[:, t] = size
        div = np.maximum(size, 1) if bug == "actual-batch-normaliser" else norm_k
        W = W - lr * gw / div[:, None]
        b = b - lr * gb / div
        if "params" in recs:
            recs["params"].append((W.copy(), b.copy()))
        if "batch_size" in recs:
            recs["batch_size"].append((size.copy(), None))
    rows = np.arange(K) if record_models is None else np.unique(np.asarray(record_models, int))

    def stacked(v: list, i: int, tail: tuple) -> torch.Tensor:
        return torch.from_numpy(np.stack([pair[i][rows] for pair in v]).reshape(
            (len(v), rows.size) + tail))

    records = {kind: {"0.weight": stacked(v, 0, (1, d)), "0.bias": stacked(v, 1, (1,))}
               if kind != "batch_size" else {"batch_size": stacked(v, 0, ())}
               for kind, v in recs.items()}
    params = {"0.weight": torch.from_numpy(W[:, None, :]), "0.bias": torch.from_numpy(b[:, None])}
    return ZooTraining(params, "bce" if bce else "mse", sigma, C, q_claim, T, float(eps_claim),
                       float(delta), bug, records, {"batch_size": hist_b})


def broken_trainer(bug: str | None, **options: Any) -> Callable[..., ZooTraining]:
    """The trainer with ``bug`` (a key of :data:`BUGS`; None: correct), as a ``trainer=`` for
    the audits; ``options`` (e.g. ``factor``) are passed on."""
    if bug not in BUGS:
        raise DataValidationError(f"bug must be one of {sorted(map(str, BUGS))}, got {bug!r}")
    fn = functools.partial(reference_dpsgd, bug=bug, **options)
    fn.__doc__ = f"reference DP-SGD with bug {bug!r}: {BUGS[bug]}"
    return fn


def runs_to_flag(mu: float, epsilon_claimed: float, *, delta: float = 1e-5, alpha: float = 0.05,
                 method: str = "clopper-pearson", max_runs: int = 1_000_000) -> float:
    """Runs per world a threshold audit needs to flag a leak of size ``mu`` against a claim.

    ``mu`` is the effect size of the audit's score: runs with the target score N(mu, 1), runs
    without N(0, 1). The scores of a *typical* audit with N runs per world are taken at the
    normal quantiles (i + 1/2) / N (the median case: about half of real audits do better),
    and :func:`audits.bounds.multi_run.bound_from_scores` (Bonferroni over all thresholds) is asked
    whether it certifies more than ``epsilon_claimed``. Returns the smallest such N (to within
    a factor 1.1), or ``inf`` when none up to ``max_runs`` does: at once when the mu-GDP
    epsilon of the score is at most the claim (no threshold test can then beat it) or when,
    for Clopper-Pearson, the best single threshold with exact rates (the limit of infinitely
    many runs) does not beat it. Slow (minutes) only when the answer is near ``max_runs``.
    """
    from audits.bounds.multi_run import bound_from_scores, gdp_epsilon

    if not mu > 0 or gdp_epsilon(mu, delta) <= epsilon_claimed:
        return math.inf
    if method == "clopper-pearson":  # the limit N -> inf: the best single threshold, exactly
        t = np.linspace(-10.0, mu + 10.0, 20001)
        tpr = special.ndtr(mu - t) - delta
        ok = tpr > 0
        lim = np.max(np.log(tpr[ok]) - special.log_ndtr(-t[ok])) if ok.any() else 0.0
        if lim <= epsilon_claimed:
            return math.inf

    def flags(N: int) -> bool:
        z = special.ndtri((np.arange(N) + 0.5) / N)
        b = bound_from_scores(z + mu, z, delta=delta, alpha=alpha, method=method)
        return b.epsilon_lower > epsilon_claimed

    lo, hi = 2, 4
    while not flags(hi):
        if hi >= max_runs:
            return math.inf
        lo, hi = hi, min(2 * hi, max_runs)
    while hi - lo > 1 and hi > 1.1 * lo:
        mid = min(max(int(math.sqrt(lo * hi)), lo + 1), hi - 1)
        lo, hi = (lo, mid) if flags(mid) else (mid, hi)
    return float(hi)

"""Two multi-run white-box audits for bugs that the harness's canary statistics cannot see.

:func:`audits.dpsgd.multi_run.audit_dpsgd` scores a run by the sum over steps of the canary
coordinate (white-box) or the final weight (hidden state): the right statistic for correct
DP-SGD, blind to two implementation bugs of :mod:`audits.dpsgd.zoo`:

* **Shuffled batches accounted as Poisson sampling** (Chua et al. 2024). With the harness's
  Dirac canary (no other record touches its coordinate) a shuffled canary is in exactly one
  step an epoch, which leaks *less* than the Poisson accountant claims. The leak shows with
  *filler* records on the canary's coordinate (:func:`shuffle_filler_audit`): ``n =
  steps_per_epoch`` identical fillers of the opposite label, one per batch. Without the canary
  every step's sum is one filler's clipped gradient +c; with it, the canary displaces a
  filler from its batch (that step reads -c, a shift of 2c) and the extra record makes one
  batch two records long (the trainer under audit puts it in batch 0: +2c, or 0 when the
  canary is that batch's second record). Poisson sampling hides both in random batch sizes;
  fixed batches do not. The score is the exact likelihood ratio of that picture.
* **Noise reused across steps.** The sum of T copies of one noise draw has sqrt(T) times the
  spread of T independent draws, so the harness's score sees *less* leakage; but differences
  between steps cancel the noise exactly. :func:`repeated_noise_audit` scores a run by the
  spread over steps of the canary coordinate with Poisson sampling: 0 to rounding without the
  canary when the noise repeats, the canary's on/off pattern with it.

Both read each step's noisy sum off consecutive models (update times the declared normaliser
over the learning rate), as a white-box auditor sees it, and bound epsilon with Clopper-Pearson
(:func:`audits.bounds.multi_run.bound_from_scores`, Bonferroni over thresholds; no assumption on the
trade-off curve). They take ``trainer=`` like the harness.

References
----------
.. [1] Chua, Ghazi, Kamath, Kumar, Manurangsi, Sinha, Zhang, "How private are DP-SGD
   implementations?", ICML 2024.
.. [2] Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis, "Tight auditing of
   differentially private machine learning", USENIX Security 2023.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np
from scipy import special

from audits.bounds.multi_run import EpsilonLowerBound, bound_from_scores
from audits.dpsgd.canaries import dirac_canary
from audits.result import Verdict
from privcausal.exceptions import DataValidationError
from privcausal.validation import check_random_state

__all__ = ["ZooAuditResult", "shuffle_filler_audit", "repeated_noise_audit"]


@dataclass(frozen=True)
class ZooAuditResult(Verdict):
    """A Clopper-Pearson audit with a purpose-built statistic (``statistic`` says which)."""

    kind: ClassVar[str] = "dpsgd-zoo"

    epsilon_theory: float
    epsilon_lower: float
    result: EpsilonLowerBound
    statistic: str
    trials: int
    threat_model: str = "white-box: every step's noisy sum on the canary coordinate"

    @property
    def delta(self) -> float:
        return self.result.delta

    @property
    def alpha(self) -> float:
        return self.result.alpha

    @property
    def bound(self) -> str:
        return self.result.method

    @property
    def ceiling(self) -> float:
        return self.result.ceiling

    @property
    def assumption(self) -> str:
        return f"{self.result.assumption}; statistic: {self.statistic}"

    def to_dict(self) -> dict[str, Any]:
        out = self._fields(("statistic",))
        out["result"] = self.result.to_dict()
        return out


def _observations(trainer, X, y, mask, coordinate, *, q, steps, lr, C, seed, **kw) -> tuple:
    """Per-step noisy sums on ``coordinate`` in units of C, (T, K), and the trainer's claim."""
    E = q * X.shape[0]
    res = trainer(X, y, mask, sampling_rate=q, steps=steps, lr=lr, max_grad_norm=C,
                  expected_batch_size=E, init_params={"0.weight": np.zeros((1, X.shape[1])),
                                                      "0.bias": np.zeros(1)},
                  record=("params",), dtype="float64", random_state=seed, **kw)
    w = np.asarray(res.records["params"]["0.weight"], dtype=np.float64)[:, :, 0, coordinate]
    return -np.diff(w, axis=0) * E / lr / C, float(res.epsilon), float(res.noise_multiplier)


def _trainer(trainer):
    if trainer is None:
        from privcausal.training import train_many
        return train_many
    return trainer


def shuffle_filler_audit(trainer: Callable[..., Any] | None = None, *, trials: int = 1000,
                         steps_per_epoch: int = 100, noise_multiplier: float = 1.0,
                         delta: float = 1e-5, alpha: float = 0.05, scale: float = 10.0,
                         lr: float = 1e-3, random_state: Any = None) -> ZooAuditResult:
    """White-box audit of one epoch at sampling rate q = 1/steps_per_epoch with fillers.

    ``trials`` runs per world; the data are ``steps_per_epoch`` fillers (one feature, value
    ``scale``, label 0) and, in the runs with it, the canary (value ``scale``, label 1).
    The score is the likelihood ratio of "canary in" under fixed, shuffled batches (module
    docstring): the statistic a shuffled implementation must be audited with. Against a
    correct Poisson-sampled trainer it is just another score (the audit stays sound).
    """
    if trials < 2 or steps_per_epoch < 2:
        raise DataValidationError("need trials >= 2 and steps_per_epoch >= 2")
    n, T, C = int(steps_per_epoch), int(steps_per_epoch), 1.0
    X = np.full((n + 1, 1), float(scale))
    y = np.zeros(n + 1)
    y[n] = 1.0
    mask = np.ones((2 * trials, n + 1), dtype=bool)
    mask[trials:, n] = False
    seed = int(check_random_state(random_state).integers(2**62))
    obs, eps, sigma = _observations(_trainer(trainer), X, y, mask, 0, q=1.0 / n, steps=T, lr=lr,
                                    C=C, seed=seed, noise_multiplier=noise_multiplier, delta=delta)
    c = float(scale) / math.sqrt(float(scale) ** 2 + 1.0)  # one clipped gradient, units of C
    a = c / sigma
    z = (obs - c) / sigma  # (T, 2N): 0 mean where a step holds exactly one filler
    p_two_fillers = (n - 1) / (n + 1)  # batch 0 holds two fillers (else filler + canary)
    l_alone = special.logsumexp(-2 * a * z[1:] - 2 * a * a, axis=0) - math.log(T - 1)
    score = np.logaddexp(math.log(p_two_fillers) + a * z[0] - a * a / 2 + l_alone,
                         math.log(1 - p_two_fillers) - a * z[0] - a * a / 2)
    b = bound_from_scores(score[:trials], score[trials:], delta=delta, alpha=alpha,
                          method="clopper-pearson")
    return ZooAuditResult(eps, b.epsilon_lower, b, "shuffle likelihood ratio with fillers",
                          int(trials))


def repeated_noise_audit(X: Any, y: Any, trainer: Callable[..., Any] | None = None, *,
                         trials: int = 100, noise_multiplier: float = 10.0, steps: int = 50,
                         sampling_rate: float = 0.5, delta: float = 1e-5, alpha: float = 0.05,
                         lr: float = 0.01, random_state: Any = None) -> ZooAuditResult:
    """White-box audit whose run score is the spread over steps of the Dirac canary's
    coordinate (Poisson sampling at ``sampling_rate``, so the canary's contribution varies)."""
    if trials < 2:
        raise DataValidationError("trials must be >= 2")
    can = dirac_canary(X, y)
    mask = np.ones((2 * trials, can.X.shape[0]), dtype=bool)
    mask[trials:, can.index] = False
    seed = int(check_random_state(random_state).integers(2**62))
    obs, eps, _ = _observations(_trainer(trainer), can.X, can.y, mask, can.coordinate,
                                q=float(sampling_rate), steps=int(steps), lr=lr, C=1.0, seed=seed,
                                noise_multiplier=noise_multiplier, delta=delta)
    score = obs.std(axis=0)
    b = bound_from_scores(score[:trials], score[trials:], delta=delta, alpha=alpha,
                          method="clopper-pearson")
    return ZooAuditResult(eps, b.epsilon_lower, b, "spread over steps of the canary coordinate",
                          int(trials))

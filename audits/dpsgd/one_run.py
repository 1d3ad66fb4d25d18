"""DP-SGD audits in one training run: m canaries, each included with probability 1/2.

:func:`audit_dpsgd_one_run` appends ``m`` canaries to the data, includes each independently
with probability 1/2 in ONE training, scores every canary from what the threat model shows,
and turns the scores into the one-run lower bounds of :mod:`audits.bounds.one_run` (Steinke et al.
2023, assumption-free, and the f-DP bound of Mahloujifar et al. 2025, which tests a Gaussian
trade-off curve): both are always computed; ``bound`` picks the headline, and the f-DP figure
is certified only when the canaries' scores pass the Gaussian-shift test
(:mod:`audits.bounds.licensed`); otherwise the Steinke bound is certified and f-DP is the
estimate.

Canaries (:func:`dirac_canaries`, the default ``canary_space="columns"``): the data get ``m``
new feature columns, zero for every real record; canary j is zero except ``scale`` on column
d + j, with labels alternating 1, 0 (bce; +1, -1 for mse) so that their pushes on the shared
bias cancel on average. Only canary j touches weight d + j, so (full batch) each step's noisy
sum there is canary j's clipped gradient plus N(0, (sigma C)^2), independent across canaries:
m Gaussian mechanisms per step *only while each canary stays clipped* (its gradient norm >= C;
otherwise its contribution shrinks and follows the trajectory: the bound stays sound, it just
loses power). ``canary_clipped_fraction`` reports the fraction of (included canary, step)
pairs that were clipped. ``canary_space="data"`` (black-box only) uses :func:`input_canaries`:
outliers in the data's own feature space, which interfere with each other through the shared
weights (a realistic black-box design, far weaker).

Scores (member = higher), per threat:

* ``"white-box"``: every intermediate model is visible; the per-step observation is the update
  of weight d + j times the declared normaliser over the learning rate (the noisy sum), signed
  by the canary's gradient direction and divided by sigma C. ``statistic="sum"`` (their sum
  over sqrt(T): sufficient for full-batch training) or ``"max"`` (largest step: for sampled or
  shuffled batches, where the canary is in few steps).
* ``"hidden-state"``: the final weight d + j, signed.
* ``"black-box"``: minus the canary's loss on the final model.

References
----------
.. [1] Steinke, Nasr, Jagielski, "Privacy auditing with one (1) training run", NeurIPS 2023.
.. [2] Mahloujifar, Melis, Chaudhuri, "Auditing f-differential privacy in one run", ICML 2025.
.. [3] Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis, "Tight auditing of
   differentially private machine learning", USENIX Security 2023 (Dirac canaries).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
from scipy import special

from audits.dpsgd.recipe_args import audit_settings
from audits.bounds.licensed import GDP_ESTIMATE_ASSUMPTION, licensed_one_run, logit_of_loss
from audits.bounds.multi_run import ASSUME_ONE_RUN, EpsilonLowerBound
from audits.bounds.one_run import one_run_bound, one_run_bound_from_scores
from audits.result import AssumptionTest, Verdict, json_number
from privcausal.exceptions import DataTypeError, DataValidationError
from privcausal.validation import check_alpha, check_random_state

__all__ = ["OneRunAuditResult", "audit_dpsgd_one_run", "dirac_canaries", "input_canaries",
           "DEFAULT_GUESS_FRACTIONS"]

THREATS = {
    "white-box": "white-box: every intermediate model is visible; m Dirac canaries",
    "hidden-state": "hidden state: only the final parameters are visible; m Dirac canaries",
    "black-box": "black-box: only the final model's loss on each canary",
}
#: k+ = k- = round(f * m) for each f, Bonferroni over the pairs (chosen before the run).
DEFAULT_GUESS_FRACTIONS = (0.02, 0.05, 0.1, 0.2)


@dataclass(frozen=True)
class OneRunAuditResult(Verdict):
    """A one-run DP-SGD audit: the accountant's epsilon beside the certified one-run bound.

    ``epsilon_lower`` is the Steinke et al. bound, or the f-DP bound (``bound="fdp"``) when the
    canaries' scores pass the Gaussian-shift test that licenses it (``tests``); a refused f-DP
    figure is ``epsilon_estimate``. ``steinke`` and ``fdp`` hold both methods' bounds (the f-DP
    one as computed, licensed or not) and ``ceilings`` their ceilings. ``trials`` counts the
    canaries of the one training.
    """

    kind: ClassVar[str] = "one-run"
    default_trials_unit: ClassVar[str] = "canaries in one training"

    epsilon_theory: float
    delta: float
    epsilon_lower: float
    alpha: float
    bound: str
    threat_model: str
    canaries: int
    ceiling: float
    steinke: EpsilonLowerBound
    fdp: EpsilonLowerBound
    ceilings: dict[str, float]
    k_plus: tuple[int, ...]
    k_minus: tuple[int, ...]
    n_included: int
    statistic: str
    canary_space: str
    steps: int
    noise_multiplier: float
    canary_clipped_fraction: float | None
    assumption: str
    epsilon_estimate: float | None = None
    estimate_assumption: str = ""
    tests: tuple[AssumptionTest, ...] = ()
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    included: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), repr=False)

    @property
    def trials(self) -> int:
        return int(self.canaries)

    @property
    def scores_in(self) -> np.ndarray:
        return np.asarray(self.scores)[np.asarray(self.included, dtype=bool)]

    @property
    def scores_out(self) -> np.ndarray:
        return np.asarray(self.scores)[~np.asarray(self.included, dtype=bool)]

    score_threshold = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (infinities as strings; scores and inclusions left out)."""
        out = self._fields(("canaries", "n_included", "statistic", "canary_space", "steps",
                            "noise_multiplier", "canary_clipped_fraction"))
        out.update(trainings=1, k_plus=list(self.k_plus), k_minus=list(self.k_minus),
                   ceilings={k: json_number(v) for k, v in self.ceilings.items()},
                   steinke=self.steinke.to_dict(), fdp=self.fdp.to_dict())
        return out


def _labels(m: int, loss: str) -> np.ndarray:
    lab = (np.arange(m) % 2 == 0).astype(np.float64)
    return lab if loss == "bce" else 2.0 * lab - 1.0


def dirac_canaries(X: Any, y: Any, m: int, *, scale: float = 10.0,
                   loss: str = "bce") -> tuple[np.ndarray, np.ndarray]:
    """``X`` with ``m`` zero columns appended and ``m`` canary rows below (canary j: ``scale``
    on column d + j, zero elsewhere; labels alternate 1, 0 for bce, +1, -1 for mse)."""
    Xa, ya = _xy(X, y)
    n, d = Xa.shape
    Xc = np.zeros((n + m, d + m))
    Xc[:n, :d] = Xa
    Xc[n + np.arange(m), d + np.arange(m)] = float(scale)
    return Xc, np.concatenate([ya, _labels(m, loss)])


def input_canaries(X: Any, y: Any, m: int, *, distance: float = 5.0, loss: str = "bce",
                   random_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """``X`` with ``m`` outliers below: the data mean plus ``distance`` times the largest column
    range along independent random unit directions; labels alternate as in
    :func:`dirac_canaries`."""
    Xa, ya = _xy(X, y)
    rng = check_random_state(random_state)
    u = rng.standard_normal((m, Xa.shape[1]))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    spread = max(float(np.max(Xa.max(0) - Xa.min(0))), 1.0)
    return (np.vstack([Xa, Xa.mean(0) + float(distance) * spread * u]),
            np.concatenate([ya, _labels(m, loss)]))


def _xy(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    Xa = np.asarray(X, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64).ravel()
    if Xa.ndim != 2 or ya.shape[0] != Xa.shape[0] or Xa.shape[0] < 1:
        raise DataValidationError("X must be (n, d) with n >= 1 and y (n,)")
    if not (np.isfinite(Xa).all() and np.isfinite(ya).all()):
        raise DataValidationError("X and y must be finite")
    return Xa, ya


def _guesses(k_plus: Any, k_minus: Any, m: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if k_plus is None:
        if k_minus is not None:
            raise DataValidationError("give k_plus with k_minus (or neither for the default set)")
        ks = sorted({max(1, int(round(f * m))) for f in DEFAULT_GUESS_FRACTIONS if 2 * f * m <= m})
        return tuple(ks), tuple(ks)
    kp = np.atleast_1d(np.asarray(k_plus))
    km = np.atleast_1d(np.asarray(0 if k_minus is None else k_minus))
    if kp.dtype.kind not in "iu" or km.dtype.kind not in "iu":
        raise DataTypeError("k_plus and k_minus must be integers (numbers of guesses)")
    kp, km = np.broadcast_arrays(kp, km)
    if kp.ndim != 1 or ((kp < 0) | (km < 0) | (kp + km > m) | (kp + km == 0)).any():
        raise DataValidationError(f"need k_plus, k_minus >= 0 with 0 < k_plus + k_minus <= m = {m}")
    return tuple(int(v) for v in kp), tuple(int(v) for v in km)


def _gradient_norms(W: np.ndarray, b: np.ndarray, Xk: np.ndarray, yk: np.ndarray,
                    loss: str) -> np.ndarray:
    """(T, m) per-sample gradient norms of the canaries along the trajectory W (T, D), b (T,)."""
    z = W @ Xk.T + b[:, None]
    r = special.expit(z) - yk if loss == "bce" else 2.0 * (z - yk)
    return np.abs(r) * np.sqrt((Xk * Xk).sum(1) + 1.0)


def audit_dpsgd_one_run(X: Any, y: Any, *, threat: str = "white-box", canaries: int = 1000,
                        epsilon: float | None = None, delta: float = 1e-5,
                        noise_multiplier: float | None = None, steps: int = 100,
                        sampling_rate: float = 1.0, max_grad_norm: float = 1.0,
                        lr: float = 0.01, architecture: str = "logistic", bound: str = "steinke",
                        k_plus: int | Sequence[int] | None = None,
                        k_minus: int | Sequence[int] | None = None, alpha: float = 0.05,
                        canary_scale: float | None = None, canary_space: str = "columns",
                        statistic: str = "sum", claimed_epsilon: float | None = None,
                        random_state: Any = None, trainer: Callable[..., Any] | None = None,
                        recipe: Any = None, **train_kwargs: Any) -> OneRunAuditResult:
    """Audit DP-SGD (logistic or linear model) with ``canaries`` canaries in one training.

    Parameters
    ----------
    threat : "white-box", "hidden-state" or "black-box" (module docstring)
    canaries : m, at least 2; each is included independently with probability 1/2
    epsilon or noise_multiplier, delta, steps, sampling_rate, max_grad_norm, lr, architecture :
        the DP-SGD recipe, as in :func:`privcausal.training.train_many` (plain SGD)
    bound : "steinke" (assumption-free) or "fdp" (assumes a Gaussian trade-off curve): which
        gives ``epsilon_lower``; both are computed
    k_plus, k_minus : guess "in" for the k_plus highest and "out" for the k_minus lowest scores,
        fixed before the run; sequences give several pairs with Bonferroni over them. Default:
        k_plus = k_minus = round(f m) for f in :data:`DEFAULT_GUESS_FRACTIONS`
    canary_scale : the Dirac canaries' value (default 10 C); canary_space : "columns" (Dirac,
        every threat) or "data" (input-space outliers, black-box only)
    statistic : white-box per-canary score, "sum" or "max" over steps
    recipe : a :class:`~privcausal.training.DPSGDRecipe` (or a mapping of its fields) to audit
        instead of the keyword parameters: its epsilon or noise_multiplier, delta, steps (or
        epochs), sampling_rate, max_grad_norm, lr and architecture replace theirs, and its other
        non-default fields go to the trainer (:func:`audits.dpsgd.recipe_args.audit_settings`)
    claimed_epsilon : audit against this epsilon instead of the trainer's
    trainer : the procedure under audit, called as ``train_many`` (default); it must return
        ``params``, ``records["params"]``, ``noise_multiplier``, ``max_grad_norm``, ``steps``,
        ``loss``, ``epsilon`` and ``per_sample_loss`` as
        :class:`~privcausal.training.StackedTraining` does

    The normaliser is fixed by the auditor (``expected_batch_size = q (n + m)`` unless given),
    so it does not depend on which canaries were drawn; models start from zero parameters.
    The data matrix is dense, (n + m) x (d + m): keep m in the low thousands.
    """
    if recipe is not None:  # the recipe's settings replace the parameters above
        (epsilon, noise_multiplier, delta, steps, sampling_rate, max_grad_norm, lr,
         architecture), extra = audit_settings(recipe)
        train_kwargs = {**extra, **train_kwargs}
    if threat not in THREATS:
        raise DataValidationError(f"threat must be one of {sorted(THREATS)}, got {threat!r}")
    if bound not in ("steinke", "fdp"):
        raise DataValidationError(f'bound must be "steinke" or "fdp", got {bound!r}')
    if canary_space not in ("columns", "data") or (
            canary_space == "data" and threat != "black-box"):
        raise DataValidationError(
            'canary_space must be "columns", or "data" with threat="black-box"')
    if statistic not in ("sum", "max") or (statistic == "max" and threat != "white-box"):
        raise DataValidationError('statistic must be "sum", or "max" with threat="white-box"')
    if isinstance(canaries, bool) or not isinstance(canaries, (int, np.integer)) or canaries < 2:
        raise DataValidationError("canaries must be an integer >= 2")
    if architecture not in ("logistic", "linear"):
        raise DataValidationError('architecture must be "logistic" or "linear"')
    alpha = check_alpha(alpha)
    m = int(canaries)
    kp, km = _guesses(k_plus, k_minus, m)
    if trainer is None:
        from privcausal.training import train_many as trainer
    loss = "bce" if architecture == "logistic" else "mse"
    rng = check_random_state(random_state)
    C = float(max_grad_norm)
    if canary_space == "columns":
        Xc, yc = dirac_canaries(X, y, m, scale=10.0 * C if canary_scale is None else float(
            canary_scale), loss=loss)
    else:
        Xc, yc = input_canaries(X, y, m, loss=loss, random_state=rng)
    n_all, D = Xc.shape
    n, d = n_all - m, D - (m if canary_space == "columns" else 0)
    included = rng.random(m) < 0.5
    mask = np.ones((1, n_all), dtype=bool)
    mask[0, n:] = included
    train_kwargs.setdefault("expected_batch_size", float(sampling_rate) * n_all)
    res = trainer(Xc, yc, mask, architecture=architecture, epsilon=epsilon, delta=delta,
                  noise_multiplier=noise_multiplier, steps=steps, sampling_rate=sampling_rate,
                  max_grad_norm=C, lr=lr, random_state=int(rng.integers(2**62)),
                  init_params={"0.weight": np.zeros((1, D)), "0.bias": np.zeros(1)},
                  record=("params",), dtype="float64", **train_kwargs)
    sigma, T = float(res.noise_multiplier), int(res.steps)
    W = np.asarray(res.records["params"]["0.weight"], dtype=np.float64)[:, 0, 0, :]  # (T+1, D)
    b = np.asarray(res.records["params"]["0.bias"], dtype=np.float64)[:, 0, 0]
    Xk, yk = Xc[n:], yc[n:]
    norms = _gradient_norms(W[:-1], b[:-1], Xk, yk, loss)[:, included]
    clipped = float(np.mean(norms >= C * (1 - 1e-9))) if norms.size else None
    if threat == "black-box":
        scores = -np.asarray(res.per_sample_loss(Xk, yk), dtype=np.float64)[0]
    else:
        # sign of canary j's gradient on its own weight at the start: the update moves it the
        # other way; scores are signed so that "included" pushes them up
        sgn = np.sign(0.5 - yk) if loss == "bce" else -np.sign(yk)
        cols = d + np.arange(m)
        if threat == "white-box":
            obs = -np.diff(W[:, cols], axis=0) * float(train_kwargs["expected_batch_size"]) / lr
            z = sgn * obs / (sigma * C)
            scores = z.sum(0) / math.sqrt(T) if statistic == "sum" else z.max(0)
        else:
            scores = -sgn * W[-1, cols]
    kw = dict(k_plus=list(kp), k_minus=list(km), delta=delta, alpha=alpha)
    view = logit_of_loss if threat == "black-box" and loss == "bce" else None
    lic = licensed_one_run(scores, included, method=bound, view=view, **kw)
    fdp = lic.estimate if lic.estimate is not None else (
        lic.certified if bound == "fdp" else one_run_bound_from_scores(
            scores, included.astype(int), method="fdp", **kw))
    steinke = lic.certified if lic.certified.method == "one-run (steinke)" else \
        one_run_bound_from_scores(scores, included.astype(int), method="steinke", **kw)
    tops = {meth: max(one_run_bound(m, p + q, p + q, delta=delta, alpha=alpha, method=meth,
                                    n_tests=len(kp)).epsilon_lower for p, q in zip(kp, km))
            for meth in ("steinke", "fdp")}
    main = lic.certified
    used = "fdp" if main.method == "one-run (fdp)" else "steinke"
    eps_theory = float(res.epsilon if claimed_epsilon is None else claimed_epsilon)
    assumption = (main.assumption if used == "fdp" else ASSUME_ONE_RUN) + (
        f"; guesses: k+/k- in {list(zip(kp, km))} fixed in advance"
        + (f", Bonferroni over {len(kp)} pairs" if len(kp) > 1 else "")
        + ("; licensed by the Gaussian-shift test of the canaries' scores" if used == "fdp" else "")
        + ("; the f-DP figure was refused (scores not a Gaussian shift)" if lic.estimate else ""))
    return OneRunAuditResult(
        eps_theory, float(delta), main.epsilon_lower, alpha, main.method, THREATS[threat], m,
        tops[used], steinke, fdp, tops, kp, km, int(included.sum()), statistic,
        canary_space, T, sigma, clipped, assumption,
        None if lic.estimate is None else lic.estimate.epsilon_lower,
        GDP_ESTIMATE_ASSUMPTION if lic.estimate is not None else "", lic.tests,
        scores=scores, included=included)

"""Multi-run DP-SGD audits under named threat models.

:func:`audit_dpsgd` trains ``2N`` models in one :func:`~privcausal.training.train_many` call
(models 0..N-1 may use the canary, N..2N-1 may not), scores each run, and turns the scores into
an epsilon lower bound with :func:`audits.bounds.multi_run.bound_from_scores`:

* ``"white-box"`` (every intermediate model visible; Dirac canary): the auditor reads each
  step's noisy sum off consecutive models (the update times the declared normaliser over the
  declared learning rate, not the trainer's own records, so a trainer that mis-scales its
  update is caught). The run score is the sign-corrected sum of the canary coordinate over the
  steps, divided by sqrt(T) and the claimed noise. For full-batch plain SGD the default
  ``route="composed"`` (:mod:`audits.dpsgd.white_box`) certifies from the *measured* shift
  and noise (a few hundred runs a world reach 0.85 of epsilon 4), with the declared-norm
  composition of Nasr et al. 2023 (tight from ten runs, but assuming the canary enters at the
  declared clipping norm) as ``epsilon_estimate``.
* ``"hidden-state"`` (final parameters only; Dirac canary): the canary-coordinate weight.
* ``"black-box"`` (outputs only; input canary): minus the canary's loss on the final model.

Run-level bounds come from :func:`audits.bounds.licensed.licensed_bound`: Clopper-Pearson, or
the Gaussian-DP route when the run scores pass the Gaussian-shift test (for black-box, on the
canary's logit, a monotone transform of its loss); a refused Gaussian figure is an estimate.

References
----------
.. [1] Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis, "Tight auditing of
   differentially private machine learning", USENIX Security 2023.
.. [2] Nasr, Song, Thakurta, Papernot, Carlini, "Adversary instantiation: lower bounds for
   differentially private machine learning", IEEE S&P 2021.
.. [3] Cebere, Bellet, Papernot, "Tighter privacy auditing of DP-SGD in the hidden state
   threat model", ICLR 2025.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, ClassVar

import numpy as np

from audits.bounds.licensed import GDP_ESTIMATE_ASSUMPTION, licensed_bound, logit_of_loss
from audits.bounds.multi_run import EpsilonLowerBound, bound_from_scores, gdp_epsilon
from audits.result import AssumptionTest, Verdict
from audits.dpsgd.canaries import dirac_canary, input_canary
from audits.dpsgd.recipe_args import audit_settings
from audits.dpsgd.trials import DPSGDTrials
from audits.runner.run import run_trials
from audits.dpsgd.white_box import ESTIMATE_ASSUMPTION, composed_white_box_bound
from privcausal.exceptions import DataValidationError
from privcausal.validation import check_alpha, check_delta, check_epsilon, check_random_state

__all__ = ["DPSGDAuditResult", "audit_dpsgd", "THREATS", "BOUNDS"]

THREATS = {
    "white-box": "white-box: every step's noisy gradient sum is visible; Dirac gradient canary",
    "hidden-state": "hidden state: only the final parameters are visible; Dirac gradient canary",
    "black-box": "black-box: only the final model's loss on the canary; input-space canary",
}
BOUNDS = {"gdp": "gaussian-dp", "clopper-pearson": "clopper-pearson"}
@dataclass(frozen=True)
class DPSGDAuditResult(Verdict):
    """One DP-SGD audit: the accountant's epsilon beside the certified lower bound.

    ``result`` is the bound behind ``epsilon_lower``: for white-box full-batch audits
    (``route="composed"``) the measured-shift Gaussian bound of :mod:`audits.dpsgd.white_box`
    when its assumption tests pass, otherwise the run-level bound; ``run_level`` is the
    run-level bound of the requested method (Gaussian-DP only when the run scores pass the
    Gaussian-shift test) and ``clopper_pearson`` the assumption-free one, each with its
    ceiling. ``epsilon_estimate`` is a figure resting on an untested assumption
    (``estimate_assumption``): the declared-norm composition for white-box audits, the refused
    Gaussian figure, or the point estimate of the run scores' shift.
    """

    kind: ClassVar[str] = "dpsgd"

    epsilon_theory: float
    delta: float
    epsilon_lower: float
    alpha: float
    bound: str
    route: str
    threat_model: str
    trials: int
    ceiling: float
    result: EpsilonLowerBound
    run_level: EpsilonLowerBound
    clopper_pearson: EpsilonLowerBound
    epsilon_estimate: float | None
    estimate_assumption: str = ""
    mu_lower: float | None = None
    steps: int = 0
    noise_multiplier: float = 0.0
    canary_clipped_fraction: float | None = None
    assumption: str = ""
    tests: tuple[AssumptionTest, ...] = ()
    scores_in: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    scores_out: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    noise_check: dict[str, Any] | None = None

    @property
    def score_threshold(self) -> float | None:
        return self.result.threshold if self.route == "run-level" else None

    def to_dict(self) -> dict[str, Any]:
        out = self._fields(("route", "mu_lower", "steps", "noise_multiplier",
                            "canary_clipped_fraction", "noise_check"))
        out.update(result=self.result.to_dict(), run_level=self.run_level.to_dict(),
                   clopper_pearson=self.clopper_pearson.to_dict(),
                   threshold_selection=self.result.threshold_selection,
                   score_threshold=self.score_threshold)
        return out


def _mu_hat(s_in: np.ndarray, s_out: np.ndarray) -> float:
    sd = math.sqrt((np.var(s_in, ddof=1) + np.var(s_out, ddof=1)) / 2.0)
    return float((s_in.mean() - s_out.mean()) / sd) if sd > 0 else math.inf


def audit_dpsgd(X: Any, y: Any, *, threat: str = "white-box", trials: int = 5,
                bound: str = "gdp", alpha: float = 0.05, delta: float = 1e-5,
                epsilon: float | None = None, noise_multiplier: float | None = None,
                steps: int = 100, sampling_rate: float = 1.0, max_grad_norm: float = 1.0,
                lr: float = 0.01, architecture: str = "logistic", canary_scale: float | None = None,
                claimed_epsilon: float | None = None, route: str = "auto",
                random_state: Any = None, trainer: Callable[..., Any] | None = None,
                backend: str = "sequential", n_jobs: int | None = None,
                batch_size: int | None = None, checkpoint: Any = None, scheduler: Any = None,
                address: str | None = None, progress: bool = False,
                recipe: Any = None, **train_kwargs: Any) -> DPSGDAuditResult:
    """Audit DP-SGD (logistic/linear model) on ``X, y`` with ``trials`` runs per world.

    Parameters
    ----------
    threat : "white-box", "hidden-state" or "black-box" (see the module docstring)
    trials : N, runs with the canary and N without (2N models trained together)
    bound : "gdp" (Gaussian-DP route; assumes a Gaussian trade-off curve) or "clopper-pearson"
    epsilon or noise_multiplier : the DP-SGD recipe (as in ``train_many``); with ``sampling_rate``
        (default 1: full batch), ``steps``, ``max_grad_norm``, ``lr``
    route : "auto" ("composed" for white-box full-batch GDP audits, else "run-level"),
        "run-level" (the run scores; for white-box the per-step sum) or "composed" (white-box,
        full batch, GDP, plain SGD: signal and noise measured, composed;
        :mod:`audits.dpsgd.white_box`)
    recipe : a :class:`~privcausal.training.DPSGDRecipe` (or a mapping of its fields) to audit
        instead of the keyword parameters: its epsilon or noise_multiplier, delta, steps (or
        epochs), sampling_rate, max_grad_norm, lr and architecture replace theirs, and its other
        non-default fields go to the trainer (:func:`audits.dpsgd.recipe_args.audit_settings`)
    claimed_epsilon : audit against this epsilon instead of the receipt's (to test an
        accountant, e.g. one that is off by the batch size)
    random_state : seeds the trainings (and the input canary)
    trainer : the training procedure under audit, called as ``train_many`` is (default
        :func:`~privcausal.training.train_many`); it must return an object with the attributes
        of :class:`~privcausal.training.StackedTraining` that the audit reads (``params``,
        ``records``, ``noise_multiplier``, ``max_grad_norm``, ``steps``, ``loss``, ``epsilon``
        and, for black-box, ``per_sample_loss``). Pass a modified trainer to test an
        implementation (the broken-trainer zoo in the tests does so).
    backend, n_jobs, batch_size, checkpoint, scheduler, address, progress : how the 2N
        trainings run (:func:`audits.runner.run.run_trials`): ``"sequential"`` trains them in one
        vectorised pass by default; ``"loky"``, ``"dask"`` or ``"ray"`` spread batches of
        ``batch_size`` trainings over workers; ``checkpoint`` makes the audit resumable.
        Trial i < N is a run with the canary, the others without. The trainer must be
        picklable for the parallel backends.

    Both worlds divide the noisy sum by the same ``expected_batch_size`` (default
    ``sampling_rate * (n + 1)``; pass ``expected_batch_size=...`` to change it). Models start
    from zero parameters (a data-independent choice of the auditor) so the canary's
    gradient stays clipped; ``canary_clipped_fraction`` reports how often it was (white-box and
    hidden-state, over the canary runs' steps; hidden-state audits record the trajectories of
    at most 16 canary runs per batch for it).
    """
    if recipe is not None:  # the recipe's settings replace the parameters above
        (epsilon, noise_multiplier, delta, steps, sampling_rate, max_grad_norm, lr,
         architecture), extra = audit_settings(recipe)
        train_kwargs = {**extra, **train_kwargs}
    if threat not in THREATS:
        raise DataValidationError(f"threat must be one of {sorted(THREATS)}, got {threat!r}")
    if bound not in BOUNDS:
        raise DataValidationError(f"bound must be one of {sorted(BOUNDS)}, got {bound!r}")
    alpha = check_alpha(alpha)
    # Checked here, before any trial runs, so a bad value is refused with its own message
    # rather than surfacing as a failure of every trial.
    if epsilon is not None:
        check_epsilon(epsilon, allow_inf=False)
    if claimed_epsilon is not None:
        check_epsilon(claimed_epsilon, allow_inf=False, name="claimed_epsilon")
    check_delta(delta)
    if isinstance(trials, bool) or int(trials) < 2:
        raise DataValidationError("trials must be an integer >= 2 (runs per world)")
    N = int(trials)
    white = threat == "white-box"
    method = BOUNDS[bound]
    route = _route(route, white, float(sampling_rate) >= 1.0, method, train_kwargs)
    rng = check_random_state(random_state)
    seed = int(rng.integers(2**62))
    if threat == "black-box":
        can = input_canary(X, y, random_state=rng)
    else:
        can = dirac_canary(X, y, max_grad_norm=max_grad_norm, scale=canary_scale)
    n_all = can.X.shape[0]
    # one normaliser for both worlds: the default q * m_k depends on the data size, which
    # differs by one between the worlds and would leak beyond the noisy sum under add/remove
    train_kwargs.setdefault("expected_batch_size", float(sampling_rate) * n_all)
    train_kwargs.update(architecture=architecture, epsilon=epsilon, delta=delta,
                        noise_multiplier=noise_multiplier, steps=steps,
                        sampling_rate=sampling_rate, max_grad_norm=max_grad_norm, lr=lr)
    task = DPSGDTrials(can.X, can.y, can.index, getattr(can, "coordinate", None), N, threat,
                       train_kwargs, trainer)
    run = run_trials(task, 2 * N, batch_size=batch_size or (2 * N if backend == "sequential" else None),
                     backend=backend, n_jobs=n_jobs, scheduler=scheduler, address=address,
                     checkpoint=checkpoint, random_state=seed, progress=progress,
                     desc=f"{threat} audit", task_key=_task_key(task, claimed_epsilon))
    sigma, C, T = float(run["sigma"][0]), float(max_grad_norm), int(run["steps"][0])
    eps_theory = float(run["epsilon"][0] if claimed_epsilon is None else claimed_epsilon)
    loss = "bce" if bool(run["bce"][0]) else "mse"
    clipped = None
    shift = None
    if threat == "black-box":
        scores = run["score"]
    else:
        # the canary's gradient on its weight is negative (label 1): the update raises it
        sign = -1.0 if can.label >= 0.5 or loss == "mse" else 1.0
        one = replace(can, coordinate=0)  # the task keeps only the canary coordinate
        w_all, b_all = run["w"].T, run["b"].T  # (T+1, 2N); NaN columns: not recorded
        seen = np.flatnonzero(~np.isnan(w_all[0, :N]))
        w, b = w_all[:, seen, None], b_all[:, seen]
        clipped = float(np.mean(one.gradient_norm(w[:-1], b[:-1], loss) >= C * (1 - 1e-9)))
        if white:
            # what a white-box auditor sees: consecutive models; the declared normaliser and
            # learning rate turn each update back into the noisy gradient sum
            scale = float(train_kwargs["expected_batch_size"]) / float(lr)
            obs = -np.diff(w_all, axis=0) * scale / C  # (T, 2N)
            shift = one.clipped_coordinate_gradient(w[:-1], b[:-1], C, loss) / C  # (T, N)
            per_step = sign * obs / sigma
            scores = per_step.sum(0) / math.sqrt(T)
        else:
            scores = -sign * run["w_final"]
    s_in, s_out = scores[:N], scores[N:]
    view = logit_of_loss if threat == "black-box" and loss == "bce" else None
    lic = licensed_bound(s_in, s_out, delta=delta, alpha=alpha, method=method, view=view)
    run_level = lic.certified
    cp = run_level if run_level.method == "clopper-pearson" else bound_from_scores(
        s_in, s_out, delta=delta, alpha=alpha, method="clopper-pearson")
    common = dict(steps=T, noise_multiplier=sigma, canary_clipped_fraction=clipped,
                  scores_in=s_in, scores_out=s_out)
    if route == "composed":
        main, check = composed_white_box_bound(obs[:, :N], obs[:, N:], shift, sigma_claimed=sigma,
                                               delta=delta, alpha=alpha)
        est = dict(epsilon_estimate=check.epsilon_estimate, estimate_assumption=ESTIMATE_ASSUMPTION)
        if not check.certified:
            # a test of the measured route's assumption failed: report the run-level bound
            # (Gaussian-DP only where the run scores pass their own test, else Clopper-Pearson).
            # Under the tested assumption the refusal itself has probability <= level, which
            # the measured route's alpha - level leaves room for.
            return DPSGDAuditResult(
                eps_theory, delta, run_level.epsilon_lower, alpha, run_level.method,
                "run-level (measured white-box route refused by its assumption tests)",
                THREATS[threat], N, run_level.ceiling, run_level, run_level, cp, **est,
                mu_lower=run_level.mu_lower, assumption=lic.assumption,
                tests=check.tests + lic.tests, noise_check=check.to_dict(), **common)
        return DPSGDAuditResult(
            eps_theory, delta, main.epsilon_lower, alpha, main.method, "composed",
            THREATS[threat], N, main.ceiling, main, run_level, cp, **est, mu_lower=main.mu_lower,
            assumption=main.assumption, tests=check.tests, noise_check=check.to_dict(), **common)
    if lic.estimate is not None:
        est = dict(epsilon_estimate=lic.estimate.epsilon_lower,
                   estimate_assumption=GDP_ESTIMATE_ASSUMPTION)
    else:
        est = dict(epsilon_estimate=gdp_epsilon(max(_mu_hat(s_in, s_out), 0.0), delta),
                   estimate_assumption=("point estimate (no confidence): the run scores' mean "
                                        "shift over their pooled spread, read as mu-GDP"))
    return DPSGDAuditResult(
        eps_theory, delta, run_level.epsilon_lower, alpha, run_level.method, "run-level",
        THREATS[threat], N, run_level.ceiling, run_level, run_level, cp, **est,
        mu_lower=run_level.mu_lower, assumption=lic.assumption, tests=lic.tests, **common)


def _task_key(task: DPSGDTrials, claimed: float | None) -> str:
    """What a checkpoint must match: the data, the canary, the recipe and the trainer."""
    import hashlib

    h = hashlib.sha256()
    for a in (task.X, task.y):
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    recipe = {k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
              for k, v in sorted(task.train_kwargs.items())}
    trainer = getattr(task.trainer, "__qualname__", "train_many")
    h.update(repr((task.index, task.coordinate, task.runs_in, task.threat, recipe, trainer,
                   claimed)).encode())
    return "dpsgd-audit:" + h.hexdigest()[:32]


def _route(route: str, white: bool, full_batch: bool, method: str, kw: dict[str, Any]) -> str:
    """Resolve ``route="auto"`` and check that the route fits the audit, before any training."""
    if route not in ("auto", "run-level", "composed"):
        raise DataValidationError(
            f'route must be "auto", "run-level" or "composed", got {route!r}')
    plain_sgd = (kw.get("optimizer", "sgd") == "sgd" and not kw.get("momentum", 0.0)
                 and not kw.get("weight_decay", 0.0))
    fits = white and full_batch and method == "gaussian-dp"
    if white and not plain_sgd:
        raise DataValidationError(
            "white-box audits read the noisy sums off consecutive models, which needs plain SGD "
            "(optimizer='sgd', momentum=0, weight_decay=0)")
    if route == "auto":
        return "composed" if fits else "run-level"
    if route == "composed" and not fits:
        raise DataValidationError(
            f'route="{route}" needs threat="white-box", sampling_rate=1 and bound="gdp"')
    return route

"""Hidden-state audits of DP-SGD on MLPs with a crafted record canary.

In the hidden-state threat model the adversary sees only the final parameters. A canary whose
clipped gradient is present, with the same direction, at every step makes that view as
informative as the white-box one (Cebere, Bellet, Papernot 2025). For linear models the
Dirac canary of :mod:`audits.dpsgd.canaries` does it; here the same is built for a multi-layer
perceptron from a record and an initialisation chosen by the auditor (the same in both
worlds and for every run; it depends on the recipe and on the real records' largest norm,
never on the canary's presence, so DP-SGD's guarantee covers it):

* the data get one extra input column c that is zero for every real record, so the weights
  ``W1[:, c]`` of the first layer receive gradient from the canary alone (a real record's
  gradient there is ``delta_i * 0 = 0`` exactly); the canary is zero everywhere except
  ``scale`` on that column, with label 1;
* the auditor's initialisation (:func:`~audits.dpsgd.crafted_canary.crafted_mlp_canary`; the same
  for every run) reserves hidden unit 0 of each layer for the canary (off for every real
  record), makes that unit inhibit the canary's other units, and starts the canary's logit
  far below 0, so its loss gradient stays near -1 and its gradient (norm about
  ``scale * anchor_weight``, far above C) lies on ``W1[0, c]`` but for a small share
  (``column_share`` reports it), in the same direction at every step: clipped to C, the
  canary's update is the same at every step, as a Dirac gradient canary's would be.

The run's score is the projection of ``W1_T[:, c] - W1_0[:, c]`` on the canary's descent
direction u; every other record contributes nothing there, so the score is (lr / B times) the
sum over steps of the canary's clipped gradient along u plus ``N(0, T (sigma C)^2)``: for
full-batch training the statistic of a white-box audit, which the run-level Gaussian-DP
route bounds (exactly Gaussian here: T full-batch Gaussian steps compose to
``sqrt(T) / sigma``-GDP). ``direction`` picks u:
``"init"`` (the canary's gradient at the auditor's initialisation), ``"reference"`` (the sum
of its clipped column gradients along one extra, independent reference training) or
``"final"`` (each run's own final model). Any of them is a function of the released model and
of public choices, so the bound is valid whichever is used; they differ only in tightness.

``canary="input"`` runs the same audit with an input-space outlier canary
(:func:`audits.dpsgd.canaries.input_canary`) scored by minus its loss on the final model, on the
same MLP from a fixed standard initialisation, for comparison.

References
----------
.. [1] Cebere, Bellet, Papernot, "Tighter privacy auditing of DP-SGD in the hidden state
   threat model", ICLR 2025.
.. [2] Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis, "Tight auditing of
   differentially private machine learning", USENIX Security 2023.
.. [3] Jagielski, Ullman, Oprea, "Auditing differentially private machine learning: how private
   is private SGD?", NeurIPS 2020.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np

from audits.bounds.licensed import GDP_ESTIMATE_ASSUMPTION, licensed_bound
from audits.result import AssumptionTest, Verdict
from audits.bounds.multi_run import EpsilonLowerBound, bound_from_scores, gdp_epsilon
from audits.dpsgd.canaries import input_canary
from audits.dpsgd.crafted_canary import (
    CraftedCanary,
    canary_gains,
    canary_gradients,
    crafted_mlp_canary,
    standard_init,
)
from privcausal.exceptions import DataValidationError
from privcausal.validation import check_alpha, check_random_state

__all__ = [
    "CraftedCanary",
    "CraftedAuditResult",
    "crafted_mlp_canary",
    "canary_gradients",
    "audit_hidden_state_mlp",
    "DESIGNS",
    "DIRECTIONS",
]

THREAT = "hidden state: only the final parameters are visible"
DESIGNS = {
    "crafted": "crafted record canary on a column no real record uses (MLP, auditor's init)",
    "input": "input-space outlier canary, scored by minus its loss on the final model",
}
DIRECTIONS = ("init", "reference", "final")


@dataclass(frozen=True)
class CraftedAuditResult(Verdict):
    """A hidden-state MLP audit: the accountant's epsilon beside the certified lower bound.

    ``result`` is the certified bound: Clopper-Pearson, or Gaussian-DP when the run scores pass
    the Gaussian-shift test (``tests``); ``clopper_pearson`` (always computed) assumes only
    independent runs. ``epsilon_estimate`` is the refused Gaussian figure or the point estimate
    of the scores' shift. Diagnostics over ``diagnostic_runs`` canary runs and all their steps:
    ``canary_clipped_fraction`` (steps where the canary's gradient norm was >= C),
    ``column_share`` (mean share of its gradient norm on its column) and ``signal_efficiency``
    (mean clipped column gradient along the scoring direction, over C: 1 means the white-box
    signal of a Dirac canary).
    """

    kind: ClassVar[str] = "dpsgd-mlp"

    epsilon_theory: float
    delta: float
    epsilon_lower: float
    alpha: float
    bound: str
    threat_model: str
    canary: str
    direction: str
    trials: int
    ceiling: float
    result: EpsilonLowerBound
    clopper_pearson: EpsilonLowerBound
    epsilon_estimate: float
    mu_estimate: float
    steps: int
    noise_multiplier: float
    sampling_rate: float
    canary_clipped_fraction: float | None
    column_share: float | None
    signal_efficiency: float | None
    diagnostic_runs: int
    architecture: dict[str, Any] = field(default_factory=dict)
    scores_in: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    scores_out: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    assumption: str = ""
    estimate_assumption: str = ""
    tests: tuple[AssumptionTest, ...] = ()

    @property
    def score_threshold(self) -> float | None:
        return self.result.threshold

    def to_dict(self) -> dict[str, Any]:
        out = self._fields((
            "canary", "direction", "mu_estimate", "steps", "noise_multiplier", "sampling_rate",
            "canary_clipped_fraction", "column_share", "signal_efficiency", "diagnostic_runs",
            "architecture"))
        out.update(epsilon_lower_cp=self.clopper_pearson.epsilon_lower,
                   ceiling_cp=self.clopper_pearson.ceiling, result=self.result.to_dict(),
                   clopper_pearson=self.clopper_pearson.to_dict(),
                   threshold_selection=self.result.threshold_selection)
        return out


def _diagnostics(arch: Any, stacked: Mapping[str, np.ndarray], x: np.ndarray, label: float,
                 C: float, column: int | None,
                 u: np.ndarray | None) -> tuple[float, float | None, float | None]:
    """Clipped fraction, column share, signal efficiency of the canary at each parameter set."""
    g = canary_gradients(arch, stacked, x, label)
    norm = np.sqrt(sum(np.square(v).reshape(v.shape[0], -1).sum(1) for v in g.values()))
    clipped = float(np.mean(norm >= C * (1 - 1e-9)))
    if column is None:
        return clipped, None, None
    col = -g[arch.linear_names[0][0]][:, :, column]
    share = float(np.mean(np.linalg.norm(col, axis=1) / np.maximum(norm, 1e-300)))
    factor = np.minimum(1.0, C / (norm + 1e-6))
    return clipped, share, float(np.mean(factor * (col @ u)) / C)


def audit_hidden_state_mlp(X: Any, y: Any, *, trials: int = 500, canary: str = "crafted",
                           direction: str = "init", bound: str = "gdp", alpha: float = 0.05,
                           delta: float = 1e-5, epsilon: float | None = None,
                           noise_multiplier: float | None = None, steps: int = 100,
                           sampling_rate: float = 1.0, max_grad_norm: float = 1.0,
                           lr: float = 0.1, hidden: Any = (32,), activation: str = "relu",
                           scale: float | None = None, anchor_weight: float | None = None,
                           diagnostic_runs: int = 16, init_seed: int = 0,
                           random_state: Any = None, dtype: Any = "float32",
                           **train_kwargs: Any) -> CraftedAuditResult:
    """Audit DP-SGD on an MLP (BCE loss) in the hidden-state threat model: ``trials`` runs with
    the canary and ``trials`` without, trained together by
    :func:`~privcausal.training.train_many`, scored from the final parameters only.

    Parameters
    ----------
    canary : "crafted" (see the module docstring) or "input" (outlier record, minus its loss)
    direction : "init", "reference" or "final": the scoring direction of the crafted canary
    bound : "gdp" (Gaussian-DP route; assumes a Gaussian trade-off curve) or "clopper-pearson"
    epsilon or noise_multiplier, steps, sampling_rate (default 1: full batch, the tight
        setting), max_grad_norm, lr, hidden, activation : the DP-SGD recipe and network
    scale, anchor_weight, init_seed : the crafted canary and the auditor's fixed
        initialisation (:func:`crafted_mlp_canary`; ``activation`` must be "relu";
        ``anchor_weight`` defaults to ``max(20, 100 (kappa + 6 nu))`` with kappa and nu the
        canary's own update and the noise, per coordinate, accumulated over training); its
        margins are set from the recipe: the canary's logit starts below minus (8 + how far
        its own clipped updates, six noise standard deviations and the real records' updates
        can move it), and the anchor's bias below the real records' reach
    diagnostic_runs : canary runs whose parameters are recorded at every step for the
        clipping and alignment diagnostics (0: none); they evaluate the canary's gradient at
        every step's parameters, whether or not Poisson sampling drew it
    random_state : seeds the trainings; ``train_kwargs`` go to ``train_many`` (``chunk_size``,
        ``memory_budget``...). Both worlds divide the noisy sum by ``sampling_rate * (n + 1)``.

    Returns
    -------
    CraftedAuditResult
        ``epsilon_lower`` (requested route) beside ``epsilon_theory``, with the
        Clopper-Pearson bound and both ceilings, a point estimate, and the diagnostics.
    """
    from privcausal.training import train_many
    from privcausal.training.models import Architecture

    if canary not in DESIGNS:
        raise DataValidationError(f"canary must be one of {sorted(DESIGNS)}, got {canary!r}")
    if direction not in DIRECTIONS:
        raise DataValidationError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    methods = {"gdp": "gaussian-dp", "clopper-pearson": "clopper-pearson"}
    if bound not in methods:
        raise DataValidationError(f"bound must be one of {sorted(methods)}, got {bound!r}")
    if train_kwargs.get("loss", "bce") != "bce":
        raise DataValidationError("the crafted MLP audit trains with the 'bce' loss")
    train_kwargs.pop("loss", None)
    alpha = check_alpha(alpha)
    if isinstance(trials, bool) or int(trials) < 2:
        raise DataValidationError("trials must be an integer >= 2 (runs per world)")
    N = int(trials)
    rng = check_random_state(random_state)
    seed = int(rng.integers(2**62))
    q, T, C = float(sampling_rate), int(steps), float(max_grad_norm)
    if canary == "crafted":
        if activation != "relu":
            raise DataValidationError('the crafted MLP canary is built for activation="relu"')
        if noise_multiplier is None:
            from privcausal.training.calibrate import calibrate_noise_multiplier

            cap = {k: train_kwargs[k] for k in ("max_noise_multiplier",) if k in train_kwargs}
            noise_multiplier = calibrate_noise_multiplier(epsilon, delta, q, T, **cap)
            epsilon = None
        B = float(train_kwargs.get("expected_batch_size", q * (np.shape(X)[0] + 1)))
        nu = lr * float(noise_multiplier) * C * math.sqrt(T) / B  # noise sd per coordinate
        kappa = lr * C * T / B  # the canary's own clipped updates, at most
        R = float(np.max(np.linalg.norm(np.asarray(X, dtype=np.float64), axis=1)))
        drift = 1.5 * lr * C * T  # how far the real records' updates can move any parameter
        if anchor_weight is None:  # keeps the anchor's own output gradient a small share
            anchor_weight = max(20.0, 100.0 * (kappa + 6.0 * nu))
        kw = dict(hidden=hidden, max_grad_norm=C, scale=scale, anchor_weight=anchor_weight,
                  dead_margin=1.0 + 6.0 * nu * (1.0 + R), inhibit_margin=1.0 + drift,
                  noise_sd=nu, random_state=init_seed)
        can = crafted_mlp_canary(X, y, **kw)
        for _ in range(2):  # the margin depends (weakly) on the gains at the init it sets
            tot, shared = canary_gains(can)
            margin = 8.0 + tot * (kappa + 6.0 * nu) + shared * drift
            can = crafted_mlp_canary(X, y, logit_margin=margin, **kw)
        Xc, yc, idx, arch, init = can.X, can.y, can.index, can.architecture, dict(can.init)
        column, u = can.coordinate, can.direction
    else:
        ic = input_canary(X, y, random_state=rng)
        Xc, yc, idx = ic.X, ic.y, ic.index
        arch = Architecture.mlp(Xc.shape[1], tuple(hidden), activation)
        init = standard_init(arch, check_random_state(init_seed))
        column, u = None, None
    ref = canary == "crafted" and direction == "reference"
    K = 2 * N + int(ref)
    mask = np.ones((K, Xc.shape[0]), dtype=bool)
    mask[N:2 * N, idx] = False
    m = int(min(max(diagnostic_runs, 0), N))
    rec_models = list(range(m)) + ([2 * N] if ref else [])
    record = (("params",) if m else ()) + (("clipped_grad",) if ref else ())
    train_kwargs.setdefault("expected_batch_size", float(sampling_rate) * Xc.shape[0])
    res = train_many(
        Xc, yc, mask, architecture=arch, loss="bce", epsilon=epsilon, delta=delta,
        noise_multiplier=noise_multiplier, steps=steps, sampling_rate=sampling_rate,
        max_grad_norm=max_grad_norm, lr=lr, init_params=init, random_state=seed,
        record=record, record_models=rec_models if record else None, dtype=dtype, **train_kwargs)
    C, T, w1 = res.max_grad_norm, res.steps, arch.linear_names[0][0]
    x_can = Xc[idx]
    if canary == "input":
        scores = -res.per_sample_loss(x_can[None], yc[[idx]], models=range(2 * N))[:, 0]
    else:
        delta_col = res.params[w1].double().numpy()[:2 * N, :, column] - init[w1][:, column]
        if ref:
            g = res.records["clipped_grad"][w1].double().numpy()[:, -1, :, column].sum(0)
            u = -g / np.linalg.norm(g)
        if direction == "final":
            fin = {k: v.double().numpy()[:2 * N] for k, v in res.params.items()}
            col = -canary_gradients(arch, fin, x_can, 1.0)[w1][:, :, column]
            uk = col / np.maximum(np.linalg.norm(col, axis=1, keepdims=True), 1e-300)
            scores = np.sum(delta_col * uk, axis=1)
        else:
            scores = delta_col @ u
    clipped, share, eff = None, None, None
    if m:
        P = {k: v[:, :m].double().numpy() for k, v in res.records["params"].items()}
        stacked = {k: v[:-1].reshape((-1,) + v.shape[2:]) for k, v in P.items()}  # T*m sets
        clipped, share, eff = _diagnostics(arch, stacked, x_can, float(yc[idx]), C, column, u)
    s_in, s_out = scores[:N], scores[N:2 * N]
    lic = licensed_bound(s_in, s_out, delta=delta, alpha=alpha, method=methods[bound])
    main = lic.certified
    cp = main if main.method == "clopper-pearson" else bound_from_scores(
        s_in, s_out, delta=delta, alpha=alpha, method="clopper-pearson")
    sd = math.sqrt((np.var(s_in, ddof=1) + np.var(s_out, ddof=1)) / 2.0)
    mu_hat = float((s_in.mean() - s_out.mean()) / sd) if sd > 0 else math.inf
    if lic.estimate is not None:
        est, est_words = lic.estimate.epsilon_lower, GDP_ESTIMATE_ASSUMPTION
    else:
        est = gdp_epsilon(max(mu_hat, 0.0), delta)
        est_words = ("point estimate (no confidence): the run scores' mean shift over their "
                     "pooled spread, read as mu-GDP")
    return CraftedAuditResult(
        float(res.epsilon), delta, main.epsilon_lower, alpha, main.method, THREAT,
        DESIGNS[canary], direction if canary == "crafted" else "", N, main.ceiling, main, cp,
        est, mu_hat, T, res.noise_multiplier, res.sampling_rate,
        clipped, share, eff, m, arch.to_dict(), s_in, s_out, lic.assumption, est_words, lic.tests)

"""The auditor audited: every route and bound run on correct and over-private implementations.

A certified bound may exceed the TRUE epsilon of a correct mechanism only with probability
alpha, and must never flag a violation more often. :func:`mechanism_cells` audits the
reference mechanisms of :mod:`audits.releases.reference` (Laplace, analytic Gaussian,
randomized response, geometric, report-noisy-max, exponential, subsampled Gaussian) through
both bounds of :func:`~audits.releases.mechanism.audit_mechanism`; :func:`dpsgd_cells` audits
full-batch DP-SGD (correct, and over-private: clipping at k C with the noise calibrated for C,
so its true mu is k times the claimed) through every DP-SGD route: white-box measured and
run-level, hidden state, black box, and one run (Steinke and f-DP). Each cell is one audit; a
row records the certified bound, the estimate, the claim and the TRUE epsilon.

:func:`exceedance_ok` is the test: over R audits of a route whose per-audit failure rate is at
most alpha, the number above the truth is at most the binomial quantile at ``1 - fail``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
from scipy import stats

__all__ = ["SoundnessRow", "mechanism_cells", "dpsgd_cells", "exceedance_ok", "over_private",
           "ClaimedTraining", "DPSGD_ROUTES"]

#: (threat, bound, route or None) of the multi-run DP-SGD audits, and the one-run bounds
DPSGD_ROUTES = (("white-box", "gdp", "composed"), ("white-box", "gdp", "run-level"),
                ("white-box", "clopper-pearson", "run-level"), ("hidden-state", "gdp", None),
                ("hidden-state", "clopper-pearson", None), ("black-box", "gdp", None),
                ("black-box", "clopper-pearson", None), ("white-box", "one-run", None),
                ("white-box", "fdp-one-run", None))


@dataclass(frozen=True)
class SoundnessRow:
    family: str
    name: str
    route: str
    bound: str
    epsilon: float
    epsilon_true: float
    epsilon_claim: float
    epsilon_lower: float
    epsilon_estimate: float | None
    seed: int
    seconds: float
    requested: str = ""

    @property
    def above_truth(self) -> bool:
        return self.epsilon_lower > self.epsilon_true * (1 + 1e-9)

    @property
    def violation(self) -> bool:
        return self.epsilon_lower > self.epsilon_claim

    def as_list(self) -> list[Any]:
        est = "" if self.epsilon_estimate is None else round(self.epsilon_estimate, 4)
        return [self.family, self.name, self.route, self.bound, self.epsilon,
                round(self.epsilon_true, 4), round(self.epsilon_claim, 4),
                round(self.epsilon_lower, 4), est, self.seed, round(self.seconds, 3),
                self.requested]


COLUMNS = ("family", "name", "route", "bound", "epsilon", "epsilon_true", "epsilon_claim",
           "epsilon_lower", "epsilon_estimate", "seed", "seconds", "requested")


def mechanism_cells(epsilons: Any = (1.0, 4.0), seeds: Any = range(5), *, samples: int = 20_000,
                    delta: float = 1e-5, alpha: float = 0.05) -> Iterator[SoundnessRow]:
    """Every reference mechanism at every epsilon, both bounds, each seed: one row an audit.
    The claim is the mechanism's true epsilon at ``delta`` (the tightest honest claim)."""
    from audits.releases.mechanism import audit_mechanism
    from audits.releases.reference import reference_mechanisms

    for eps in epsilons:
        for mech in reference_mechanisms(float(eps), delta):
            true = mech.true_epsilon(delta)
            for method in ("clopper-pearson", "gaussian-dp"):
                for seed in seeds:
                    t = time.perf_counter()
                    # the reference mechanisms are ideal ones simulated in doubles: the
                    # grid checks the value tests, so their floats are not audited here
                    r = audit_mechanism(mech, mech.pair(), epsilon=true, delta=delta,
                                        samples=samples, alpha=alpha, method=method,
                                        random_state=int(seed), precision=False)
                    yield SoundnessRow("mechanism", mech.name, "black-box", r.bound, float(eps),
                                       true, true, r.epsilon_lower, r.epsilon_estimate, int(seed),
                                       time.perf_counter() - t, method)


class ClaimedTraining:
    """A trained stack that reports the noise multiplier, epsilon and clipping norm its
    accountant claims (for trainers under audit that do something else)."""

    def __init__(self, res: Any, sigma: float, eps: float, C: float) -> None:
        self._res, self.noise_multiplier, self._eps, self.max_grad_norm = res, sigma, eps, C

    def __getattr__(self, name: str) -> Any:
        return getattr(self._res, name)

    @property
    def epsilon(self) -> float:
        return self._eps


@dataclass(frozen=True)
class over_private:
    """A correct DP-SGD trainer that clips at ``k`` C (k < 1: more private than declared) with
    the noise that the declared recipe calibrates for C; it reports the declared recipe.
    Picklable (a module-level class), so it runs on every runner backend."""

    k: float

    def __call__(self, *args: Any, noise_multiplier: float | None = None,
                 epsilon: float | None = None, max_grad_norm: float = 1.0, **kw: Any) -> Any:
        from privcausal.training import train_many
        from privcausal.training.calibrate import calibrate_noise_multiplier

        sig = noise_multiplier if noise_multiplier is not None else calibrate_noise_multiplier(
            epsilon, kw["delta"], kw["sampling_rate"], kw["steps"])
        res = train_many(*args, noise_multiplier=sig / self.k, max_grad_norm=self.k * max_grad_norm,
                         **kw)
        return ClaimedTraining(res, sig, res.epsilon if epsilon is None else epsilon, max_grad_norm)


def _data(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    X /= np.linalg.norm(X, axis=1).max()
    return X, (rng.random(n) < 0.5).astype(float)


def dpsgd_cells(epsilons: Any = (4.0,), ks: Any = (1.0, 0.5, 0.8), seeds: Any = range(2), *,
                runs: dict[str, int] | None = None, canaries: int = 500, steps: int = 100,
                delta: float = 1e-5, alpha: float = 0.05,
                routes: Any = DPSGD_ROUTES) -> Iterator[SoundnessRow]:
    """Full-batch DP-SGD audits of correct (k = 1) and over-private trainers, every route.
    ``runs`` gives runs per world by threat (defaults: white-box 200, hidden-state and
    black-box 500). The TRUE epsilon of a trainer clipping at k C is that of k mu-GDP."""
    from audits.bounds.multi_run import gdp_epsilon
    from audits.dpsgd.multi_run import audit_dpsgd
    from audits.dpsgd.one_run import audit_dpsgd_one_run
    from privcausal.training.calibrate import calibrate_noise_multiplier

    runs = {"white-box": 200, "hidden-state": 500, "black-box": 500, **(runs or {})}
    X, y = _data()
    for eps in epsilons:
        sigma = calibrate_noise_multiplier(float(eps), delta, 1.0, steps)
        mu = math.sqrt(steps) / sigma
        claim = gdp_epsilon(mu, delta)
        for k in ks:
            true = gdp_epsilon(float(k) * mu, delta)
            trainer = None if k == 1 else over_private(float(k))
            name = "dpsgd" if k == 1 else f"dpsgd clipping at {k:g} C"
            for threat, bound, route in routes:
                for seed in seeds:
                    t = time.perf_counter()
                    if bound in ("one-run", "fdp-one-run"):
                        r = audit_dpsgd_one_run(
                            X, y, threat=threat, canaries=canaries, epsilon=float(eps), delta=delta,
                            steps=steps, lr=0.002, alpha=alpha, random_state=int(seed),
                            bound="steinke" if bound == "one-run" else "fdp", trainer=trainer)
                    else:
                        r = audit_dpsgd(X, y, threat=threat, trials=runs[threat], bound=bound,
                                        epsilon=float(eps), delta=delta, steps=steps, lr=0.002,
                                        alpha=alpha, random_state=int(seed), trainer=trainer,
                                        route=route or "auto")
                    label = f"{threat} {route or ''}".strip() + f" ({bound})"
                    yield SoundnessRow("dpsgd", name, label, r.bound, float(eps), true, claim,
                                       r.epsilon_lower, r.epsilon_estimate, int(seed),
                                       time.perf_counter() - t, bound)


def exceedance_ok(n_above: int, n: int, alpha: float = 0.05, fail: float = 1e-3) -> bool:
    """Is ``n_above`` of ``n`` audits above the truth consistent with a per-audit rate <= alpha?
    (one-sided binomial test; a sound route fails this with probability at most ``fail``)."""
    return n_above <= int(stats.binom.ppf(1.0 - fail, n, alpha))

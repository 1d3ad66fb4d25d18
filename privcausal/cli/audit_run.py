"""The work behind ``privcausal audit dpsgd|mechanism|model`` (the parsers are
:mod:`privcausal.cli.audit`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from audits.dpsgd.registry import registry_features
from privcausal.user_code import load_callable
from privcausal.exceptions import DataValidationError

__all__ = ["run_dpsgd", "run_mechanism", "run_model", "load_callable"]


def _progress(args: argparse.Namespace) -> bool:
    return not (args.no_progress or args.json)


def run_dpsgd(args: argparse.Namespace) -> Any:
    canary = {"white-box": "dirac", "hidden-state": "dirac", "black-box": "input"}[args.threat]
    if args.canary not in ("auto", canary):
        raise DataValidationError(f"the {args.threat} audit uses the {canary} canary "
                                  f"(--canary {args.canary} is not available there)")
    if args.architecture == "mlp":
        if args.threat != "hidden-state" or args.bound not in ("gdp", "clopper-pearson"):
            raise DataValidationError(
                "the MLP audit is the hidden-state multi-run audit with the crafted canary "
                "(--threat hidden-state, --bound gdp or clopper-pearson); the other threat "
                "models and bounds audit the logistic model")
    rng = np.random.default_rng(args.random_state)
    X, y = registry_features(args.n, rng)
    seed = None if args.random_state is None else int(rng.integers(2**62))
    common = dict(epsilon=args.epsilon, delta=args.delta, steps=args.steps, alpha=args.alpha,
                  sampling_rate=args.sampling_rate, lr=args.lr if args.lr is not None else
                  (0.5 if args.architecture == "mlp" else 0.002), max_grad_norm=args.max_grad_norm,
                  random_state=seed)
    if args.bound in ("one-run", "fdp-one-run"):
        from audits.dpsgd.one_run import audit_dpsgd_one_run

        return audit_dpsgd_one_run(X, y, threat=args.threat, canaries=args.canaries,
                                   bound="steinke" if args.bound == "one-run" else "fdp", **common)
    trials = args.trials or (500 if args.threat == "white-box" else 1000)
    if args.architecture == "mlp":
        from audits.dpsgd.crafted import audit_hidden_state_mlp

        return audit_hidden_state_mlp(X, y, trials=trials, bound=args.bound,
                                      hidden=(args.hidden,), **common)
    from audits.dpsgd.multi_run import audit_dpsgd

    return audit_dpsgd(X, y, threat=args.threat, trials=trials, bound=args.bound,
                       backend=args.backend, n_jobs=args.n_jobs, batch_size=args.batch_size,
                       checkpoint=args.checkpoint, scheduler=args.scheduler, address=args.address,
                       progress=_progress(args), **common)


@dataclass
class _Draws:
    """Runner task: outputs of the mechanism on one dataset for a batch of trials."""

    mechanism: Callable[..., Any]
    data: Any

    def __call__(self, start: int, stop: int, seed: int) -> dict[str, np.ndarray]:
        from audits.releases.mechanism import sample_mechanism

        out = sample_mechanism(self.mechanism, self.data, stop - start, np.random.default_rng(seed))
        return {"output": out}


@dataclass
class RunnerMechanism:
    """A mechanism whose ``batch`` draws spread over the runner's backend."""

    mechanism: Callable[..., Any]
    backend: str
    n_jobs: int | None = None
    scheduler: Any = None
    address: str | None = None
    progress: bool = False

    def __call__(self, data: Any, random_state: Any) -> Any:
        return self.mechanism(data, random_state)

    def batch(self, data: Any, n: int, seed: int) -> np.ndarray:
        from audits.runner.run import run_trials

        res = run_trials(_Draws(self.mechanism, data), int(n), backend=self.backend,
                         n_jobs=self.n_jobs, scheduler=self.scheduler, address=self.address,
                         random_state=int(seed), progress=self.progress, desc="mechanism draws")
        return res["output"]


def run_mechanism(args: argparse.Namespace) -> Any:
    from audits.releases.mechanism import audit_mechanism

    mech = load_callable(args.mechanism, "--mechanism")
    neighbours = load_callable(args.neighbours, "--neighbours")
    if args.backend != "sequential":
        mech = RunnerMechanism(mech, args.backend, args.n_jobs, args.scheduler, args.address,
                               _progress(args))
    method = "gaussian-dp" if args.bound == "gdp" else "clopper-pearson"
    return audit_mechanism(mech, neighbours, epsilon=args.epsilon, delta=args.delta,
                           samples=args.samples, alpha=args.alpha, method=method,
                           random_state=args.random_state,
                           precision=not getattr(args, "no_precision", False))


def run_model(args: argparse.Namespace) -> Any:
    """``audit model``: :func:`audits.models.audit_model` with the command's options."""
    from audits.models import audit_model
    from privcausal.cli.model_options import model_kwargs

    kw = model_kwargs(args)
    return audit_model(args.model, args.members, args.nonmembers, args.population,
                       attack=args.attack, reference_models=args.reference_models,
                       epsilon=args.epsilon, bound=args.bound, alpha=args.alpha,
                       n_jobs=args.n_jobs, random_state=args.random_state,
                       progress=_progress(args), **kw)

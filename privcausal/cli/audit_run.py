"""The work behind ``privcausal audit dpsgd|mechanism|model`` (the parsers are
:mod:`privcausal.cli.audit`)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from audits.dpsgd.registry import registry_features
from privcausal.cli._common import read_csv
from privcausal.exceptions import DataNotFoundError, DataValidationError, PrivCausalError

__all__ = ["run_dpsgd", "run_mechanism", "run_model", "model_audit", "load_callable",
]


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


def load_callable(spec: str, what: str) -> Callable[..., Any]:
    """``MODULE:FUNCTION`` or ``FILE.py:FUNCTION`` -> the callable.

    The code runs with the user's rights (it is the user's own mechanism). The current folder
    is importable but searched *after* the installed packages, so a local file named like a
    library (``matplotlib.py``, ``numpy.py``) cannot shadow it.
    """
    if not isinstance(spec, str) or spec.count(":") < 1:
        raise DataValidationError(f"{what} must be MODULE:FUNCTION or FILE.py:FUNCTION, got {spec!r}")
    mod_name, _, attr = spec.rpartition(":")
    if mod_name.endswith(".py"):
        path = Path(mod_name)
        if not path.is_file():
            raise DataNotFoundError(f"{what}: file not found: {path}")
        name = f"_privcausal_user_{path.stem}"
        loader = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module
        loader.loader.exec_module(module)
        _pickle_by_value(module)
    else:
        here = str(Path.cwd())
        for entry in ("", "."):  # the folder of the command, if Python put it first
            while entry in sys.path[:1]:
                sys.path.remove(entry)
        if here not in sys.path:
            sys.path.append(here)
        try:
            module = importlib.import_module(mod_name)
        except ImportError as exc:
            raise DataNotFoundError(f"{what}: cannot import module {mod_name!r} ({exc})") from exc
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise DataNotFoundError(f"{what}: {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise DataValidationError(f"{what}: {spec!r} is not callable")
    return obj


def _pickle_by_value(module: Any) -> None:
    """A file loaded by path is not importable in loky/Dask/Ray workers: ship its code."""
    for name in ("joblib.externals.cloudpickle", "cloudpickle"):
        try:
            importlib.import_module(name).register_pickle_by_value(module)
        except (ImportError, AttributeError, ValueError):  # pragma: no cover - optional
            pass


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
    """Membership scores of members and non-members, then the chosen bound."""
    from attacks.membership import membership_attacks
    from attacks.targets import load_target

    kw = {"task": "binary"} if str(args.model).lower().endswith(".csv") else {}
    target = load_target(args.model, **kw)
    receipt = getattr(getattr(target, "model", None), "receipt", None)
    eps = args.epsilon if args.epsilon is not None else getattr(receipt, "epsilon", None)
    if eps is None:
        raise PrivCausalError("this model carries no receipt: give the claimed --epsilon")
    delta = args.delta if args.delta is not None else float(getattr(receipt, "delta", 0.0) or 0.0)
    members, non = read_csv(args.members), read_csv(args.nonmembers)
    pop = read_csv(args.population) if args.population else None
    res = membership_attacks(target, members, non, pop, attacks=(args.attack,),
                             n_reference=args.reference_models, random_state=args.random_state,
                             progress=_progress(args))[args.attack]
    labels = np.asarray(res.labels).astype(int)
    scores = np.asarray(res.scores, dtype=np.float64)
    return model_audit(scores, labels, epsilon=float(eps), delta=delta, alpha=args.alpha,
                       bound=args.bound, attack=args.attack)


def model_audit(scores: Any, labels: Any, *, epsilon: float, delta: float, alpha: float,
                bound: str, attack: str) -> Any:
    """The audit of membership scores of records known to be members (1) or not (0)."""
    from audits.bounds.licensed import GDP_ESTIMATE_ASSUMPTION, licensed_bound, licensed_one_run
    from audits.result import Audit

    s_in, s_out = scores[labels == 1], scores[labels == 0]
    if s_in.size == 0 or s_out.size == 0:
        raise DataValidationError("the audit needs members and non-members: one group is empty")
    threat = (f"black-box: the released model's outputs on {labels.size} records known to be "
              f"members or not ({attack} attack)")
    gauss = bound in ("gdp", "fdp-one-run")
    if gauss and delta <= 0:
        # mu-GDP is no (epsilon, 0) guarantee: the assumption-free route answers at delta 0
        bound = {"gdp": "clopper-pearson", "fdp-one-run": "one-run"}[bound]
        note0 = "; the Gaussian route needs delta > 0, so the assumption-free route was used"
    else:
        note0 = ""
    m = labels.size
    ks = sorted({max(1, int(m * f)) for f in (0.01, 0.05, 0.1, 0.25)})
    one_run = dict(k_plus=ks, k_minus=ks, delta=delta, alpha=alpha)
    note = ("valid if each audited record was a member independently with probability 1/2 "
            "(a random split of the audited records: the audit's design, which the scores cannot "
            "test); ties counted against the auditor")
    unit = "records (canaries) in one training"
    est, est_words = None, ""
    if bound in ("one-run", "fdp-one-run"):
        lic = licensed_one_run(scores, labels, method="steinke" if bound == "one-run" else "fdp",
                               **one_run)
        if lic.estimate is not None:
            est, est_words = float(lic.estimate.epsilon_lower), GDP_ESTIMATE_ASSUMPTION
    else:
        # a threshold test over the records of ONE model treats each record as an independent
        # run of the membership game, which they are not: that figure is an estimate, and the
        # certificate is the one-run bound of the same scores
        multi = licensed_bound(s_in, s_out, delta=delta, alpha=alpha,
                               method="gaussian-dp" if bound == "gdp" else "clopper-pearson",
                               what="the membership scores")
        lic = licensed_one_run(scores, labels, method="steinke", **one_run)
        est = float(multi.certified.epsilon_lower)
        est_words = ("each audited record is an independent trial of the membership game ("
                     f"{multi.certified.method} over the records of one model; they are not "
                     "independent, so this is not a bound)")
        note += f"; the {bound} figure over the records is the estimate"
    b = lic.certified
    return Audit(float(epsilon), float(delta), float(b.epsilon_lower), float(alpha), b.method,
                 threat, int(m), float(b.ceiling), f"{lic.assumption}; {note}{note0}", unit,
                 est, est_words, lic.tests, "model",
                 {"attack": attack, "threshold_selection": b.threshold_selection,
                  "result": b.to_dict()},
                 s_in, s_out, b.threshold)

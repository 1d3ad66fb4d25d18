"""The ``privcausal`` command: the composition root (the only privcausal module that may import
``attacks`` and ``audits``). Heavy libraries are imported inside the commands so that
``privcausal --help`` answers at once."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any, Sequence

from privcausal.exceptions import PrivCausalError

__all__ = ["main", "build_parser", "load_data_spec"]

EXAMPLES = """\
examples:
  privcausal demo                                   # the main job on the simulated trauma registry
  privcausal fit --data trauma --estimator aipw --epsilon 1
  privcausal fit --data ihdp:1 --estimator regression --epsilon 4 --json
  privcausal fit --data registry.csv --treatment txa --outcome death \\
      --covariates age,sex,gcs --domain registry.toml --estimator ipw --epsilon 0.5
  privcausal fit --data ihdp:1 --estimator dp-tarnet --epsilon 4 --save model/ --json
  privcausal attack membership --model model/ --members m.csv --nonmembers n.csv \\
      --population p.csv --attack rmia --reference-models 4 --report attack-report/
  privcausal audit dpsgd --epsilon 4 --threat white-box --trials 5 --json
  privcausal audit mechanism --mechanism mech.py:release --neighbours mech.py:pair --epsilon 1
  privcausal audit model --model model/ --members m.csv --nonmembers n.csv --report audit/
  privcausal budget set registry.csv --treatment txa --outcome death --domain registry.toml \\
      --epsilon 2 --delta 1e-6                      # a budget that every fit on the file spends
  privcausal estimators                             # list every estimator and its twin
  privcausal curves experiments/curves_ate_trauma.toml   # privacy-utility curves and figures
"""

FIT_EXAMPLES = """\
examples:
  privcausal fit --data trauma --estimator regression --epsilon 1 --random-state 0
  privcausal fit --data trauma --estimator regression-np          # the non-private twin
  privcausal fit --data ihdp:3 --estimator dim --epsilon 0.5 --json
  privcausal fit --data my.parquet --treatment t --outcome y --domain my.toml --estimator aipw
  privcausal fit --data trauma --n 40000 --estimator dp-tlearner --epsilon 1 --epochs 20 \\
      --save released-model/ --json                               # a private CATE model

--data takes 'trauma' (simulated registry; --n, --missing), 'ihdp:REP' (REP in 1..10; files
from $PRIVCAUSAL_IHDP_DIR or shared/data/ihdp), or a CSV/parquet path with --treatment,
--outcome, --domain (a TOML file of declared bounds) and optionally --covariates.

A fit on a data file spends --epsilon and --delta from the file's persistent ledger
('privcausal budget'); it is refused, with nothing released, when the budget has less left.
Use --delta 0 with a pure epsilon-DP estimator (dim, ipw) on a pure budget.

exit status: 0 released; 2 usage or input error, or the budget refused the release.
"""


def _positive_float(s: str) -> float:
    try:
        return float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="privcausal",
        description="Differential privacy for causal inference on medical data: private treatment-"
        "effect estimates with honest intervals, attacks, and audits.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from privcausal import __version__

    p.add_argument("--version", action="version", version=f"privcausal {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    f = sub.add_parser("fit", help="estimate a treatment effect privately", epilog=FIT_EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_data_args(f)
    f.add_argument("--estimator", default="regression", help="estimator name (see 'privcausal estimators')")
    f.add_argument("--epsilon", type=_positive_float, default=1.0, help="privacy budget epsilon (inf = non-private)")
    f.add_argument("--delta", type=_positive_float, default=1e-6, help="privacy budget delta, in [0, 1)")
    f.add_argument("--alpha", type=_positive_float, default=0.05, help="1 - confidence level of the interval")
    f.add_argument("--random-state", type=int, default=None,
                   help="seed: reproducible noise, for experiments only (default: secure noise)")
    f.add_argument("--epochs", type=_positive_float, default=None,
                   help="DP-SGD epochs, for the CATE learners (dp-tlearner, dp-slearner, dp-tarnet)")
    f.add_argument("--save", default=None, help="folder to write the released CATE model to")
    f.add_argument("--json", action="store_true", help="print one JSON object")
    f.add_argument("--diagnostics", action="store_true",
                   help="also print local diagnostics (exact record and clipping counts) to "
                        "standard error, under a NOT FOR PUBLICATION banner; they are never part "
                        "of the JSON, the receipt or a saved model")

    d = sub.add_parser("demo", help="run the main job end to end on the simulated registry",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  privcausal demo --out privcausal-report --epsilon 1\n")
    d.add_argument("--out", default="privcausal-report", help="folder for the report and figures")
    d.add_argument("--n", type=int, default=20_000, help="patients in the simulated registry")
    d.add_argument("--epsilon", type=_positive_float, default=1.0)
    d.add_argument("--delta", type=_positive_float, default=1e-6)
    d.add_argument("--random-state", type=int, default=0, help="seed for the simulation and the noise")
    d.add_argument("--json", action="store_true")

    sub.add_parser("estimators", help="list the estimators")
    from attacks.cli import add_attack_parser
    from audits.cli import add_audit_parser

    add_attack_parser(sub)
    add_audit_parser(sub)
    from audits.curves.cli import add_curves_parser

    add_curves_parser(sub)
    from privcausal.budget_cli import add_budget_parser

    add_budget_parser(sub)
    return p


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data", default="trauma", help="'trauma', 'ihdp:REP' or a CSV/parquet path")
    g.add_argument("--treatment", help="treatment column (0/1) of a CSV/parquet file")
    g.add_argument("--outcome", help="outcome column of a CSV/parquet file")
    g.add_argument("--covariates", help="comma-separated covariate columns (default: the domain's)")
    g.add_argument("--domain", help="TOML file of declared bounds (required for a file)")
    g.add_argument("--n", type=int, default=20_000, help="patients, for --data trauma")
    g.add_argument("--missing", choices=("none", "mcar", "mnar"), default="none",
                   help="missing covariates, for --data trauma")


def load_data_spec(args: argparse.Namespace) -> Any:
    """Turn --data and its companions into CausalData."""
    from privcausal.data import from_frame, load_ihdp, simulate_trauma

    spec = args.data
    if spec == "trauma":
        return simulate_trauma(args.n, random_state=getattr(args, "random_state", None), missing=args.missing)
    if spec.startswith("ihdp:"):
        try:
            rep = int(spec.split(":", 1)[1])
        except ValueError:
            raise PrivCausalError("--data ihdp:REP needs an integer replication, e.g. ihdp:1") from None
        return load_ihdp(rep)
    if not (args.treatment and args.outcome and args.domain):
        raise PrivCausalError("a data file needs --treatment, --outcome and --domain (declared bounds)")
    covs = [c.strip() for c in args.covariates.split(",")] if args.covariates else None
    return from_frame(spec, treatment=args.treatment, outcome=args.outcome, covariates=covs, domain=args.domain)


def _num(x: float) -> Any:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _cate_names() -> tuple[str, ...]:
    return ("dp-tlearner", "dp-slearner", "dp-tarnet", "tlearner", "slearner", "tarnet")


def cmd_fit(args: argparse.Namespace) -> int:
    from privcausal.estimators import make_estimator

    data = load_data_spec(args)
    cate = args.estimator in _cate_names()
    if cate:
        from privcausal.estimators.cate import make_cate_learner

        kw = {} if args.epochs is None else {"epochs": args.epochs}
        est = make_cate_learner(args.estimator, epsilon=args.epsilon, delta=args.delta,
                                random_state=args.random_state, **kw)
    else:
        if args.epochs is not None or args.save is not None:
            raise PrivCausalError("--epochs and --save apply to the CATE learners only")
        est = make_estimator(args.estimator, epsilon=args.epsilon, delta=args.delta,
                             random_state=args.random_state)
    from privcausal.budget_cli import charged

    private = math.isfinite(args.epsilon) and (
        args.estimator.startswith("dp-") if cate else _private_estimator(args.estimator))
    with charged(args, data, args.epsilon if private else math.inf, args.delta if private else 0.0,
                 f"fit {args.estimator}") as reservation:
        est.fit(data)
        lo, hi = est.ate_interval(args.alpha)
        if reservation is not None:
            reservation.settle(est.privacy_)
    r = est.privacy_
    out: dict[str, Any] = {
        "estimator": args.estimator,
        "data": data.name,
        "ate": est.ate_,
        "ci_low": lo,
        "ci_high": hi,
        "alpha": args.alpha,
        "epsilon_spent": _num(r.epsilon),
        "delta_spent": r.delta,
        "accountant": r.accountant,
        "neighbouring": r.neighbouring,
        "noise": r.noise,
        "receipt": r.to_dict(),
    }
    if hasattr(est, "plan_"):  # the regression adjustment: did it adjust? (decided on noisy counts)
        out["plan"] = est.plan_
        out["adjusted"] = est.plan_ == "adjusted"
    if data.true_ate is not None:
        out["true_ate"] = data.true_ate
        out["abs_error"] = abs(est.ate_ - data.true_ate)
    if cate and data.has_ground_truth:
        import numpy as np

        out["pehe"] = float(np.sqrt(np.mean((est.effect(data) - data.true_effect) ** 2)))
    if cate and args.save:
        out["saved"] = str(est.save(args.save))
    if getattr(args, "diagnostics", False):
        print(str(est.diagnostics_), file=sys.stderr)
    if args.json:
        print(json.dumps(out))
    else:
        what = args.estimator
        if out.get("adjusted") is False:
            what += " (NOT adjusted: unadjusted difference in means, see the warning)"
        print(f"{what} on {data.name}: ATE = {est.ate_:.4f}  "
              f"{100 * (1 - args.alpha):.0f}% CI [{lo:.4f}, {hi:.4f}]")
        if data.true_ate is not None:
            print(f"true ATE = {data.true_ate:.4f}  (absolute error {abs(est.ate_ - data.true_ate):.4f})")
        if "pehe" in out:
            print(f"sqrt-PEHE (against mu1 - mu0) = {out['pehe']:.4f}")
        if "saved" in out:
            print(f"released model written to {out['saved']}")
        print(str(r))
        for note in r.notes:
            print(f"  note: {note}")
    return 0


def _private_estimator(name: str) -> bool:
    from privcausal.estimators import ESTIMATORS

    spec = ESTIMATORS.get(name)
    return bool(spec and spec.private)


def cmd_budget(args: argparse.Namespace) -> int:
    from privcausal.budget_cli import cmd_budget as run

    return run(args)


def cmd_estimators(args: argparse.Namespace) -> int:
    from privcausal.estimators import ESTIMATORS

    for name, spec in ESTIMATORS.items():
        print(f"{name:16s} {'private    ' if spec.private else 'non-private'}  {spec.description}")
    cate = {"dp-tlearner": "DP T-learner (two models on disjoint arms: parallel composition)",
            "dp-slearner": "DP S-learner (one DP-SGD model on [x, t])",
            "dp-tarnet": "DP TARNet (shared trunk, two heads; one DP-SGD run)"}
    for name, desc in cate.items():
        print(f"{name:16s} private      CATE: {desc}")
        print(f"{name[3:]:16s} non-private  CATE: non-private twin of {name}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from privcausal.demo import run_demo

    summary = run_demo(out=args.out, n=args.n, epsilon=args.epsilon, delta=args.delta,
                       random_state=args.random_state, progress=not args.json)
    from audits.demo_audit import demo_audits

    summary.update(demo_audits(args.out, epsilon=args.epsilon, delta=args.delta,
                               random_state=args.random_state, progress=not args.json))
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"report written to {summary['report']}")
    return 0


def cmd_attack(args: argparse.Namespace) -> int:
    from attacks.cli import cmd_attack as run

    return run(args)


def cmd_audit(args: argparse.Namespace) -> int:
    from audits.cli import cmd_audit as run

    return run(args)


def cmd_curves(args: argparse.Namespace) -> int:
    from audits.curves.cli import cmd_curves as run

    return run(args)


COMMANDS = {"fit": cmd_fit, "demo": cmd_demo, "estimators": cmd_estimators, "attack": cmd_attack,
            "audit": cmd_audit, "curves": cmd_curves, "budget": cmd_budget}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    try:
        # Warnings (privacy leaks, clipping counts) go to stderr, so --json stdout stays one object.
        return COMMANDS[args.command](args)
    except PrivCausalError as exc:
        msg = f"{type(exc).__name__}: {exc}"
        if getattr(args, "json", False):
            print(json.dumps({"error": msg}))
        else:
            print(f"privcausal: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

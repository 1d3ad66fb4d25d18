"""``privcausal fit``: a private treatment-effect estimate, its interval and its receipt."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from privcausal.cli._common import RAW, add_data_args, load_data_spec, positive_float, read_recipe
from privcausal.exceptions import PrivCausalError
from privcausal.jsonnum import json_number

__all__ = ["add_parser", "run", "FIT_EXAMPLES"]

FIT_EXAMPLES = """\
examples:
  privcausal fit --data trauma --estimator regression --epsilon 1 --random-state 0
  privcausal fit --data trauma --estimator regression-np          # the non-private twin
  privcausal fit --data ihdp:3 --estimator dim --epsilon 0.5 --json
  privcausal fit --data my.parquet --treatment t --outcome y --domain my.toml --estimator aipw
  privcausal fit --data trauma --n 40000 --estimator dp-tlearner --epsilon 1 --epochs 20 \\
      --save released-model/ --json                               # a private CATE model
  privcausal fit --data ihdp:1 --estimator dp-tarnet --epsilon 4 --recipe tarnet.toml
      # tarnet.toml: DP-SGD settings over the learner's default, e.g. hidden = [16], lr = 0.005

--data takes 'trauma' (simulated registry; --n, --missing), 'ihdp:REP' (REP in 1..10; files
from $PRIVCAUSAL_IHDP_DIR or shared/data/ihdp), or a CSV/parquet path with --treatment,
--outcome, --domain (a TOML file of declared bounds) and optionally --covariates.

A fit on a data file spends --epsilon and --delta from the file's persistent ledger
('privcausal budget'); it is refused, with nothing released, when the budget has less left.
Use --delta 0 with a pure epsilon-DP estimator (dim, ipw) on a pure budget.

exit status: 0 released; 2 usage or input error, or the budget refused the release.
"""

CATE_NAMES = ("dp-tlearner", "dp-slearner", "dp-tarnet", "tlearner", "slearner", "tarnet")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    f = sub.add_parser("fit", help="estimate a treatment effect privately", epilog=FIT_EXAMPLES,
                       formatter_class=RAW)
    add_data_args(f)
    f.add_argument("--estimator", default="regression", help="estimator name (see 'privcausal estimators')")
    f.add_argument("--epsilon", type=positive_float, default=1.0, help="privacy budget epsilon (inf = non-private)")
    f.add_argument("--delta", type=positive_float, default=1e-6, help="privacy budget delta, in [0, 1)")
    f.add_argument("--alpha", type=positive_float, default=0.05, help="1 - confidence level of the interval")
    f.add_argument("--random-state", type=int, default=None,
                   help="seed: reproducible noise, for experiments only (default: secure noise)")
    f.add_argument("--epochs", type=positive_float, default=None,
                   help="DP-SGD epochs, for the CATE learners (dp-tlearner, dp-slearner, dp-tarnet)")
    f.add_argument("--recipe", default=None,
                   help="JSON or TOML file of DP-SGD settings (DPSGDRecipe fields) over the CATE "
                        "learner's default recipe; its epsilon, noise and normaliser stay unset")
    f.add_argument("--save", default=None, help="folder to write the released CATE model to")
    f.add_argument("--json", action="store_true", help="print one JSON object")
    f.add_argument("--diagnostics", action="store_true",
                   help="also print local diagnostics (exact record and clipping counts) to "
                        "standard error, under a NOT FOR PUBLICATION banner; they are never part "
                        "of the JSON, the receipt or a saved model")
    return f


def _private_estimator(name: str) -> bool:
    from privcausal.estimators import ESTIMATORS

    spec = ESTIMATORS.get(name)
    return bool(spec and spec.private)


def run(args: argparse.Namespace) -> int:
    from privcausal.cli.budget import charged
    from privcausal.estimators import make_estimator

    data = load_data_spec(args)
    cate = args.estimator in CATE_NAMES
    if cate:
        from privcausal.estimators.cate import make_cate_learner

        kw = {} if args.epochs is None else {"epochs": args.epochs}
        if args.recipe:
            kw["recipe"] = read_recipe(args.recipe)
        est = make_cate_learner(args.estimator, epsilon=args.epsilon, delta=args.delta,
                                random_state=args.random_state, **kw)
    else:
        if args.epochs is not None or args.save is not None or args.recipe is not None:
            raise PrivCausalError("--epochs, --recipe and --save apply to the CATE learners only")
        est = make_estimator(args.estimator, epsilon=args.epsilon, delta=args.delta,
                             random_state=args.random_state)
    private = math.isfinite(args.epsilon) and (
        args.estimator.startswith("dp-") if cate else _private_estimator(args.estimator))
    with charged(args, data, args.epsilon if private else math.inf, args.delta if private else 0.0,
                 f"fit {args.estimator}") as reservation:
        est.fit(data)
        lo, hi = est.ate_interval(alpha=args.alpha)
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
        "epsilon_spent": json_number(r.epsilon),
        "delta_spent": r.delta,
        "accountant": r.accountant,
        "neighbouring": r.neighbouring,
        "noise": r.noise,
        "receipt": r.to_dict(),
        "interval_covers": getattr(est, "interval_covers", None),
        "covariates": [str(c) for c in data.covariates.columns],
        "ignored_columns": list(getattr(data, "ignored_columns", ())),
    }
    if hasattr(est, "plan_"):  # the regression adjustment: did it adjust? (decided on noisy counts)
        out["plan"] = est.plan_
        out["adjusted"] = est.plan_ == "adjusted"
        out["adjusted_for"] = list(getattr(est, "adjusted_for_", ()))
        out["not_adjusted_for"] = list(getattr(est, "not_adjusted_for_", ()))
    if hasattr(est, "clipped_share_"):  # IPW / AIPW: released share of clipped propensities (noisy)
        out["clipped_share"] = est.clipped_share_
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
        _print_text(args, data, est, out, lo, hi)
    return 0


def _print_text(args: argparse.Namespace, data: Any, est: Any, out: dict[str, Any], lo: float,
                hi: float) -> None:
    what = args.estimator
    if out.get("adjusted") is False:
        what += " (NOT adjusted: unadjusted difference in means, see the warning)"
    elif out.get("not_adjusted_for"):
        what += f" (NOT adjusted for {out['not_adjusted_for']}: a reduced design, see the warning)"
    print(f"{what} on {data.name}: ATE = {est.ate_:.4f}  "
          f"{100 * (1 - args.alpha):.0f}% CI [{lo:.4f}, {hi:.4f}]")
    if out.get("interval_covers"):
        print(f"the interval covers: {out['interval_covers']}")
    if data.true_ate is not None:
        print(f"true ATE = {data.true_ate:.4f}  (absolute error {abs(est.ate_ - data.true_ate):.4f})")
    if "pehe" in out:
        print(f"sqrt-PEHE (against mu1 - mu0) = {out['pehe']:.4f}")
    if "saved" in out:
        print(f"released model written to {out['saved']}")
    r = est.privacy_
    print(str(r))
    for note in r.notes:
        print(f"  note: {note}")

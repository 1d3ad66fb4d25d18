"""``privcausal attack``: membership inference and reconstruction from the command line.

:func:`add_parser` adds ``attack membership`` and ``attack reconstruct``; :func:`run`
dispatches on ``args.attack_command`` to :func:`cmd_attack_membership` or
:func:`cmd_attack_reconstruct`. Heavy libraries are imported inside the commands.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from privcausal.cli._common import RAW, read_csv
from privcausal.cli.model_options import MODEL_FORMATS_HELP, add_model_options, model_kwargs
from privcausal.jsonnum import json_value
from privcausal.exceptions import PrivCausalError

__all__ = ["add_parser", "run", "cmd_attack_membership", "cmd_attack_reconstruct", "ATTACKS"]

#: the names of attacks.membership.ATTACKS (kept here so building the parser imports nothing)
ATTACKS = ("loss", "calibrated", "lira", "lira-fixed", "lira-offline", "lira-offline-fixed", "rmia",
           "rmia-offline")

MEMBERSHIP_EXAMPLES = """\
examples:
  privcausal attack membership --model released/ --members train.csv --nonmembers holdout.csv \\
      --population public.csv --attack rmia --reference-models 4 --json
  privcausal attack membership --model scores.csv --members in_ids.csv --nonmembers out_ids.csv \\
      --attack loss                                   # per-record losses computed elsewhere
  privcausal attack membership --model released/ --members a.csv --nonmembers b.csv \\
      --population p.csv --attack loss,lira,rmia --report mia-report/

A privcausal model folder reads CSVs of its raw covariates (encoded with its recorded
domain) or its encoded feature columns, the outcome and, for per-arm models, treatment; a score
CSV (columns id and loss, confidence or logit) is matched by id. Reference-model attacks
(calibrated, lira*, rmia*) train --reference-models models with the model's recipe (or
--recipe); rmia and the offline attacks need --population.

"""

RECONSTRUCT_EXAMPLES = """\
examples:
  privcausal attack reconstruct --release stats.json --known others.csv --json
  privcausal attack reconstruct --release ridge.json --known others.csv --kappa 0.01

--release: a JSON release file (attacks.release_file: kind gram, sufficient_stats, ridge or
logistic). --known: every training record but one (the informed adversary). With --kappa
and a receipt of Gaussian releases in the file, the reconstruction-robustness bound is
reported beside the reconstruction.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``attack membership`` and ``attack reconstruct`` to a subparsers object."""
    p = subparsers.add_parser("attack", help="attack a released model or statistic",
                              description="Membership inference and reconstruction attacks.")
    sub = p.add_subparsers(dest="attack_command", metavar="ATTACK")
    m = sub.add_parser("membership", help="membership inference on a released model",
                       epilog=MEMBERSHIP_EXAMPLES + MODEL_FORMATS_HELP, formatter_class=RAW)
    add_model_options(m, epsilon=False)
    m.add_argument("--attack", default="loss",
                   help=f"attack name, or several separated by commas: {', '.join(ATTACKS)}")
    m.add_argument("--random-state", type=int, default=None, help="seed the reference models")
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.add_argument("--report", help="folder for membership.json/.md and the log-log ROC figure")
    m.add_argument("--no-progress", action="store_true", help="no progress bars")
    m.add_argument("--dpi", type=int, default=150, help="resolution of the report's PNG figure")
    m.set_defaults(func=cmd_attack_membership)
    r = sub.add_parser("reconstruct", help="informed-adversary reconstruction from released statistics",
                       epilog=RECONSTRUCT_EXAMPLES, formatter_class=RAW)
    r.add_argument("--release", required=True, help="JSON release file")
    r.add_argument("--known", required=True, help="CSV of every training record but one")
    r.add_argument("--kappa", type=float, help="prior success probability for the ReRo bound")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.set_defaults(func=cmd_attack_reconstruct)
    return p


def cmd_attack_membership(args: argparse.Namespace) -> int:
    from attacks.membership import membership_attacks
    from attacks.results import write_report
    from attacks.targets import ScoreTarget
    from audits.models.audit import prepare_model

    attacks = tuple(a.strip() for a in args.attack.split(",") if a.strip())
    kw = model_kwargs(args)
    prep = prepare_model(args.model, args.members, args.nonmembers, args.population, **kw)
    target = prep.target
    needs_ref = any(a != "loss" for a in attacks)
    if isinstance(target, ScoreTarget) and needs_ref and kw["recipe"] is None:
        raise PrivCausalError("reference-model attacks train models like the target: a score file "
                              "does not say how; give --recipe (or use --attack loss)")
    res = membership_attacks(target, prep.members, prep.nonmembers, prep.population, attacks=attacks,
                             n_reference=args.reference_models, recipe=kw["recipe"],
                             random_state=args.random_state,
                             progress=not (args.no_progress or args.json))
    if args.report:
        write_report(res, args.report, dpi=args.dpi)
    if args.json:
        out = {a: r.to_dict() for a, r in res.items()}
        print(json.dumps(out[attacks[0]] if len(attacks) == 1 else {"attacks": out}))
    else:
        for r in res.values():
            print(r)
        for w in next(iter(res.values())).low_fpr_warnings:
            print(f"  note: {w}")
        if args.report:
            print(f"report written to {args.report}")
    return 0


def cmd_attack_reconstruct(args: argparse.Namespace) -> int:
    from attacks.release_file import read_release, reconstruct_release
    from attacks.rero import rero_bound

    doc = read_release(args.release)
    known = read_csv(args.known)
    rec = reconstruct_release(doc, known)
    names = list(doc["feature_names"])
    out: dict[str, Any] = {
        "kind": doc["kind"],
        "n_known": int(len(known)),
        "record": {n: float(v) for n, v in zip(names, rec.x)},
        "outcome": rec.y,
        "arm": rec.arm,
        "details": rec.details,
    }
    if args.kappa is not None:
        if "receipt" not in doc:
            raise PrivCausalError("--kappa needs a receipt in the release file (what noise was added)")
        from privcausal.training.artifact import receipt_from_dict

        out["rero_bound"] = rero_bound(receipt_from_dict(doc["receipt"]), args.kappa).to_dict()
    if args.json:
        print(json.dumps(json_value(out), default=str))
    else:
        print(f"informed adversary, {doc['kind']} release, {len(known)} known records")
        print("reconstructed record: " + ", ".join(f"{n}={v:.6g}" for n, v in out["record"].items())
              + f"; outcome={rec.y:.6g}" + ("" if rec.arm is None else f"; arm={rec.arm}"))
        if "rero_bound" in out:
            print(f"no attack succeeds with probability above {out['rero_bound']['estimate']:.4g} "
                  f"at prior success kappa={args.kappa:g} (Hayes et al. 2023)")
    return 0


def run(args: argparse.Namespace) -> int:
    """The ``attack`` command: runs the sub-command chosen."""
    func = getattr(args, "func", None)
    if func is None:
        raise PrivCausalError("choose an attack: 'privcausal attack membership' or 'privcausal attack reconstruct'")
    return func(args)

"""``privcausal demo``: the main job end to end on the simulated trauma registry (estimates,
curves, audits, one report)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from privcausal.cli._common import RAW, positive_float

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    d = sub.add_parser("demo", help="run the main job end to end on the simulated registry",
                       formatter_class=RAW,
                       epilog="example:\n  privcausal demo --out privcausal-report --epsilon 1\n")
    d.add_argument("--out", default="privcausal-report", help="folder for the report and figures")
    d.add_argument("--n", type=int, default=20_000, help="patients in the simulated registry")
    d.add_argument("--epsilon", type=positive_float, default=1.0)
    d.add_argument("--delta", type=positive_float, default=1e-6)
    d.add_argument("--random-state", type=int, default=0, help="seed for the simulation and the noise")
    d.add_argument("--json", action="store_true")
    return d


def run(args: argparse.Namespace) -> int:
    from audits.demo_audit import demo_audits
    from privcausal.demo import run_demo

    summary = run_demo(out=args.out, n=args.n, epsilon=args.epsilon, delta=args.delta,
                       random_state=args.random_state, progress=not args.json)
    summary.update(demo_audits(args.out, epsilon=args.epsilon, delta=args.delta,
                               random_state=args.random_state, progress=not args.json))
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"report written to {summary['report']} and {summary['html']}")
    return 0

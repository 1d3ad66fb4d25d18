"""``privcausal budget``: set and show a data set's persistent privacy budget, and the charge
that every release command makes against it (:mod:`privcausal.privacy.ledger`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from typing import Any, Iterator

__all__ = ["add_parser", "run", "charged", "is_user_file", "NOT_PROTECTED"]

BUDGET_EXAMPLES = """\
examples:
  privcausal budget set registry.csv --treatment txa --outcome death --domain registry.toml \\
      --epsilon 2 --delta 1e-6
  privcausal budget show registry.csv --treatment txa --outcome death --domain registry.toml
  privcausal budget show registry.csv --treatment txa --outcome death --domain registry.toml --json
  PRIVCAUSAL_LEDGER=/secure/ledger.sqlite privcausal budget show registry.csv ...

The ledger is a SQLite file at $PRIVCAUSAL_LEDGER (default ~/.local/share/privcausal/
ledger.sqlite). A data set is known by its records (every column as read, in any row order),
not by its file name nor by the domain declared for it: re-declaring a bound or dropping a
covariate spends from the same budget. Every 'privcausal fit' on a data file reserves its --epsilon and --delta before it runs and is
refused (exit status 2, nothing released) when the budget has less left. Releases on one data
set add up (basic composition). Without a budget set, spending is recorded but not capped.
'privcausal domain draft --dp-bounds EPSILON' spends from the same ledger.

exit status: 0 done; 2 usage or input error, or a budget below what was already spent.
"""

NOT_PROTECTED = ("privcausal: warning: {what} is non-private: its output is an exact function of "
                 "the records in {name} and protects nothing; do not publish it")


def add_parser(sub: Any) -> None:
    b = sub.add_parser("budget", help="set or show a data set's persistent privacy budget",
                       epilog=BUDGET_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    bs = b.add_subparsers(dest="budget_command", metavar="ACTION")
    s = bs.add_parser("set", help="set the total (epsilon, delta) of a data set",
                      epilog=BUDGET_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("data", help="CSV/parquet file (with --treatment, --outcome, --domain)")
    _data_args(s)
    s.add_argument("--epsilon", type=float, required=True, help="total epsilon")
    s.add_argument("--delta", type=float, required=True, help="total delta, in [0, 0.1]")
    s.add_argument("--json", action="store_true", help="print the ledger entry as JSON")
    sh = bs.add_parser("show", help="show a data set's budget and what was spent",
                       epilog=BUDGET_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sh.add_argument("data", help="CSV/parquet file (with --treatment, --outcome, --domain)")
    _data_args(sh)
    sh.add_argument("--json", action="store_true", help="print one JSON object")


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--treatment", required=True, help="treatment column (0/1)")
    p.add_argument("--outcome", required=True, help="outcome column")
    p.add_argument("--covariates", help="comma-separated covariate columns (default: the domain's)")
    p.add_argument("--domain", required=True, help="TOML file of declared bounds")


def _load(args: argparse.Namespace) -> Any:
    from privcausal.data import from_frame

    covs = [c.strip() for c in args.covariates.split(",")] if args.covariates else None
    return from_frame(args.data, treatment=args.treatment, outcome=args.outcome, covariates=covs,
                      domain=args.domain)


def run(args: argparse.Namespace) -> int:
    from privcausal.exceptions import PrivCausalError
    from privcausal.privacy.ledger import Ledger

    if not getattr(args, "budget_command", None):
        raise PrivCausalError("say 'privcausal budget set ...' or 'privcausal budget show ...'")
    data = _load(args)
    ledger = Ledger()
    if args.budget_command == "set":
        ledger.set_budget(data, args.epsilon, args.delta)
    entry = ledger.show(data)
    print(json.dumps(entry.to_dict()) if args.json else str(entry))
    return 0


def is_user_file(args: argparse.Namespace) -> bool:
    """True when --data names a file (the simulated registry and IHDP are public)."""
    spec = str(getattr(args, "data", ""))
    return not (spec == "trauma" or spec.startswith("ihdp:"))


@contextlib.contextmanager
def charged(args: argparse.Namespace, data: Any, epsilon: float, delta: float,
            release: str) -> Iterator[Any]:
    """Charge a release on a user's file to its ledger (a no-op on public data).

    Yields a reservation to settle with the receipt, or None on public data.
    """
    if not is_user_file(args):
        yield None
        return
    from privcausal.privacy.ledger import Ledger

    if math.isinf(epsilon):
        print(NOT_PROTECTED.format(what=release, name=str(getattr(args, "data", "the data"))),
              file=sys.stderr)
    with Ledger().charge(data, epsilon, delta, release) as r:
        yield r

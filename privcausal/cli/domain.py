"""``privcausal domain draft``: a draft domain file (every column with its type) for a person to
confirm; see :mod:`privcausal.domain_draft`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from privcausal.cli._common import RAW
from privcausal.exceptions import PrivCausalError

__all__ = ["add_parser", "run", "DOMAIN_EXAMPLES"]

DOMAIN_EXAMPLES = """\
examples:
  privcausal domain draft registry.csv --treatment txa --outcome death --out registry.toml
  privcausal domain draft registry.parquet --treatment txa --outcome death   # to standard output
  privcausal domain draft registry.csv --treatment txa --outcome death --dp-bounds 0.1 --out d.toml

The draft is read off the records: numeric bounds are placeholders that 'privcausal fit'
refuses until you write public bounds (clinical plausibility ranges), and categories are
marked as taken from the file, to confirm as public. The format (one [outcome] section with
lower, upper and binary; a [covariates.NAME] section a column with lower and upper, or
categories, and missing = true where it may be missing) is in the README and in the docstring
of privcausal.domain; examples/trauma/domain.toml is a whole one.

--dp-bounds EPSILON releases numeric bounds instead of placeholders (DP quartiles of each numeric
column on a grid of round numbers, widened to Tukey's far-out fences): it spends EPSILON from the
file's privacy ledger (see 'privcausal budget'), writes the receipt into the draft, and warns.
Public bounds, where you have them, are better: they cost nothing and clip nothing.

exit status: 0 written; 2 usage or input error (or --out exists, without --force).
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    d = sub.add_parser("domain", help="draft a domain file of declared bounds from a data file",
                       epilog=DOMAIN_EXAMPLES, formatter_class=RAW)
    ds = d.add_subparsers(dest="domain_command", metavar="ACTION")
    dr = ds.add_parser("draft", help="write a draft domain (TOML) for a person to confirm",
                       epilog=DOMAIN_EXAMPLES, formatter_class=RAW)
    dr.add_argument("data", help="CSV or parquet file")
    dr.add_argument("--treatment", required=True, help="treatment column (0/1; not a covariate)")
    dr.add_argument("--outcome", required=True, help="outcome column")
    dr.add_argument("--covariates", help="comma-separated covariate columns (default: all others)")
    dr.add_argument("--out", help="the TOML file to write (default: standard output)")
    dr.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    dr.add_argument("--dp-bounds", type=float, metavar="EPSILON",
                    help="release DP bounds for the numeric columns, spending EPSILON from the ledger")
    return d


def run(args: argparse.Namespace) -> int:
    from privcausal.data.frame import read_table
    from privcausal.domain_draft import draft_domain

    if getattr(args, "domain_command", None) != "draft":
        raise PrivCausalError("say 'privcausal domain draft DATA --treatment T --outcome Y'")
    frame = read_table(args.data)
    covs = [c.strip() for c in args.covariates.split(",")] if args.covariates else None
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not args.force:
        raise PrivCausalError(f"{out} exists; pass --force to overwrite it")
    bounds, released = {}, None
    if args.dp_bounds is not None:
        bounds, released = _release_bounds(args, frame, covs)
    text = draft_domain(frame, treatment=args.treatment, outcome=args.outcome, covariates=covs,
                        source=Path(args.data).name, bounds=bounds, released=released)
    if out is None:
        print(text, end="")
        return 0
    out.write_text(text, encoding="utf-8")
    print(f"draft domain written to {out}: replace every placeholder and confirm every category "
          "list before use")
    return 0


def _release_bounds(args: argparse.Namespace, frame: Any, covs: Any) -> tuple[dict, str]:
    """DP bounds of the numeric columns, charged to the file's ledger; with their receipt line."""
    import sys
    import warnings

    from privcausal.cli.budget import charged
    from privcausal.domain_draft import numeric_columns
    from privcausal.domain_dp_bounds import bounds_event, dp_bounds
    from privcausal.exceptions import PrivacyLeakWarning
    from privcausal.privacy import make_receipt
    from privcausal.validation import check_epsilon

    eps = check_epsilon(args.dp_bounds)
    names = numeric_columns(frame, treatment=args.treatment, outcome=args.outcome, covariates=covs)
    if not names:
        return {}, None
    with charged(args, frame, eps, 0.0, f"DP bounds of {len(names)} numeric columns (domain draft)") as r:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", PrivacyLeakWarning)
            bounds = dp_bounds({c: frame[c] for c in names}, eps)
        receipt = make_receipt(f"DP bounds of {len(names)} numeric columns", [bounds_event(len(names), eps)],
                               noise="OpenDP noisy max (secure sampler)", epsilon_budget=eps)
        if r is not None:
            r.settle(receipt)
    for w in caught:
        print(f"PrivacyLeakWarning: {w.message}", file=sys.stderr)
    return bounds, (f"epsilon = {receipt.epsilon:.4g}, delta = 0 (pure DP, {receipt.neighbouring}); "
                    f"{len(names)} columns, epsilon / {2 * len(names)} a quartile")

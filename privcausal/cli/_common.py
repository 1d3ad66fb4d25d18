"""What the commands share: number arguments, the data arguments, reading CSV files, and the one
way an error is printed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from privcausal.exceptions import DataNotFoundError, PrivCausalError

__all__ = ["positive_float", "add_data_args", "load_data_spec", "read_csv", "read_recipe",
           "print_error", "RAW"]

#: argparse's formatter that keeps the examples' line breaks
RAW = argparse.RawDescriptionHelpFormatter


def positive_float(s: str) -> float:
    """A float argument (its range is checked where it is used, with the reason)."""
    try:
        return float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}") from None


def add_data_args(p: argparse.ArgumentParser) -> None:
    """--data and its companions (the simulated registry, IHDP, or a file with a domain)."""
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


def read_csv(path: str) -> Any:
    """A CSV file as a DataFrame; a missing file is a DataNotFoundError naming it."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"file not found: {p}")
    return pd.read_csv(p)


def read_recipe(path: str) -> dict[str, Any]:
    """DP-SGD recipe settings from a JSON or TOML file (fields of
    :class:`~privcausal.training.DPSGDRecipe`); an unknown field is an error naming it."""
    import tomllib

    from privcausal.training.recipe import RECIPE_FIELDS

    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"recipe file not found: {p}")
    try:
        doc = tomllib.loads(p.read_text()) if p.suffix.lower() == ".toml" else json.loads(p.read_text())
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise PrivCausalError(f"recipe file {p} is not valid {'TOML' if p.suffix.lower() == '.toml' else 'JSON'}: "
                              f"{exc}") from None
    if not isinstance(doc, dict):
        raise PrivCausalError(f"recipe file {p} must hold one object of DP-SGD recipe settings")
    unknown = sorted(set(doc) - set(RECIPE_FIELDS))
    if unknown:
        raise PrivCausalError(f"recipe file {p}: not DP-SGD recipe settings: {', '.join(unknown)}; the "
                              f"settings are {', '.join(RECIPE_FIELDS)}")
    return doc


def print_error(exc: PrivCausalError, as_json: bool) -> int:
    """Print a usage or input error (one JSON object with --json, else a line on standard
    error) and return its exit status, 2."""
    msg = f"{type(exc).__name__}: {exc}"
    if as_json:
        print(json.dumps({"error": msg}))
    else:
        print(f"privcausal: error: {msg}", file=sys.stderr)
    return 2

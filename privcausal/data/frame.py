"""CausalData from a user's table (pandas frame, CSV or parquet)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import pandas as pd

from privcausal.data.causal_data import CausalData
from privcausal.data.fingerprint import records_fingerprint
from privcausal.domain import Domain
from privcausal.exceptions import (
    DataNotFoundError,
    DataTypeError,
    DataValidationError,
    DomainError,
    IgnoredColumnsWarning,
)

__all__ = ["from_frame", "read_table"]


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV or parquet file into a DataFrame."""
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"data file not found: {p}")
    if p.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(p)
    if p.suffix.lower() in (".csv", ".txt", ".gz"):
        return pd.read_csv(p)
    raise DataValidationError(f"unsupported file type '{p.suffix}': use .csv or .parquet")


def from_frame(
    df: pd.DataFrame | str | os.PathLike,
    *,
    treatment: str,
    outcome: str,
    covariates: Sequence[str] | None = None,
    domain: Domain | str | os.PathLike,
    name: str | None = None,
) -> CausalData:
    """Build :class:`CausalData` from a frame (or a CSV/parquet path).

    Parameters
    ----------
    df : DataFrame or path
    treatment, outcome : str
        Column names; treatment must be 0/1.
    covariates : list of str, optional
        Defaults to the domain's declared covariates.
    domain : Domain or path to a TOML domain file
        Declared public bounds. Required: privcausal never reads bounds off the data.
    """
    if isinstance(df, (str, os.PathLike)):
        name = name or Path(df).stem
        df = read_table(df)
    if not isinstance(df, pd.DataFrame):
        raise DataTypeError(f"df must be a DataFrame or a file path, got {type(df).__name__}")
    if domain is None:
        raise DomainError("a declared Domain is required (bounds are never read off the data)")
    if not isinstance(domain, Domain):
        domain = Domain.from_toml(domain)
    for col, what in ((treatment, "treatment"), (outcome, "outcome")):
        if col not in df.columns:
            raise DataValidationError(f"{what} column '{col}' is not in the data")
    covs = list(covariates) if covariates is not None else list(domain.columns)
    absent = [c for c in covs if c not in df.columns]
    if absent:
        raise DataValidationError(f"covariate columns {absent} are not in the data")
    ignored = [str(c) for c in df.columns if c not in covs and c not in (treatment, outcome)]
    if ignored:  # names only: the analyst should know what the estimate does not adjust for
        warnings.warn(
            f"columns {ignored} of the data are not covariates (not in the domain or --covariates) "
            "and are ignored: the estimate does not adjust for them", IgnoredColumnsWarning,
            stacklevel=2)
    return CausalData(
        df[covs].reset_index(drop=True),
        df[treatment].to_numpy(),
        df[outcome].to_numpy(),
        domain.subset(covs),
        name=name or "frame",
        ignored_columns=tuple(ignored),
        source=records_fingerprint(df),  # the whole frame: the same whatever the domain declares
    )

"""Drafting a domain file from a data file, for a person to confirm: every column with its type.

A domain must be public knowledge, so nothing here is trusted: :func:`draft_domain` writes a
TOML file in which

* every numeric covariate gets ``lower`` and ``upper`` as explicit placeholders (strings that
  :meth:`~privcausal.domain.Domain.from_toml` refuses until a person writes public bounds, e.g.
  clinical plausibility ranges), never the file's minimum and maximum;
* every categorical covariate (text, boolean or pandas categorical columns, and integer columns
  with few distinct values) gets the categories found in the file, marked as *taken from the
  file*: a person confirms that they are public (a category held by one patient identifies
  them) or replaces them by the public list;
* a column that holds missing values gets ``missing = true``;
* the outcome is declared binary when it holds only 0 and 1, else gets placeholder bounds.

The draft is local: it is read off the records and is not a release. Use it to write the
domain, not as the domain. The one exception is opt-in: ``bounds`` released by
:func:`privcausal.domain_dp_bounds.dp_bounds` (``privcausal domain draft --dp-bounds EPSILON``)
are written in place of the placeholders, marked as DP estimates, with their receipt
(``released``) in the header.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from privcausal.exceptions import DataValidationError

__all__ = ["draft_domain", "numeric_columns", "PLACEHOLDER", "MAX_CATEGORIES"]

#: what a bound to be written by a person reads (Domain.from_toml refuses it)
PLACEHOLDER = "FILL IN: a public bound"
#: an integer column with at most this many distinct values is drafted as categorical
MAX_CATEGORIES = 12


def _toml_key(name: str) -> str:
    if name and all(c.isalnum() or c in "_-" for c in name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_value(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def _is_categorical(col: pd.Series) -> bool:
    """Text, boolean and pandas categorical columns, and integer columns with 2 to
    :data:`MAX_CATEGORIES` distinct values."""
    t = pd.api.types
    if isinstance(col.dtype, pd.CategoricalDtype) or t.is_bool_dtype(col.dtype) or \
            t.is_object_dtype(col.dtype) or t.is_string_dtype(col.dtype):
        return True
    if pd.api.types.is_integer_dtype(col.dtype):
        return 2 <= col.nunique(dropna=True) <= MAX_CATEGORIES
    return False


def _columns(frame: Any, treatment: str, outcome: str, covariates: Sequence[str] | None) -> list[str]:
    if not isinstance(frame, pd.DataFrame):
        raise DataValidationError("draft_domain needs a DataFrame")
    for col, what in ((treatment, "treatment"), (outcome, "outcome")):
        if col not in frame.columns:
            raise DataValidationError(f"{what} column '{col}' is not in the data")
    covs = [str(c) for c in (covariates if covariates is not None else frame.columns)
            if str(c) not in (treatment, outcome)]
    absent = [c for c in covs if c not in frame.columns]
    if absent:
        raise DataValidationError(f"covariate columns {absent} are not in the data")
    return covs


def _binary_outcome(y: pd.Series) -> bool:
    y = pd.to_numeric(y, errors="coerce")
    return bool(y.dropna().isin([0, 1]).all() and y.notna().any())


def numeric_columns(frame: pd.DataFrame, *, treatment: str, outcome: str,
                    covariates: Sequence[str] | None = None) -> list[str]:
    """The columns the draft gives numeric bounds: numeric covariates, and a non-binary outcome."""
    covs = _columns(frame, treatment, outcome, covariates)
    names = [] if _binary_outcome(frame[outcome]) else [outcome]
    return names + [c for c in covs if not _is_categorical(frame[c])]


def _bound_lines(name: str, bounds: Mapping[str, tuple[float, float]]) -> list[str]:
    if name not in bounds:
        return [f'lower = "{PLACEHOLDER}"', f'upper = "{PLACEHOLDER}"']
    lo, hi = bounds[name]
    return ["# DP estimate (quartiles -+ 3 IQR, rounded outward): confirm it is a plausible range",
            f"lower = {_toml_value(float(lo))}", f"upper = {_toml_value(float(hi))}"]


def draft_domain(frame: pd.DataFrame, *, treatment: str, outcome: str,
                 covariates: Sequence[str] | None = None, source: str = "the data file",
                 bounds: Mapping[str, tuple[float, float]] | None = None,
                 released: str | None = None) -> str:
    """The TOML text of a draft domain for ``frame`` (see the module docstring).

    ``bounds``: DP bounds per column (from :func:`privcausal.domain_dp_bounds.dp_bounds`)
    written instead of placeholders; ``released``: their receipt, in one line, for the header.
    """
    covs = _columns(frame, treatment, outcome, covariates)
    bounds = dict(bounds or {})
    lines = [
        f"# Draft domain for {source}, written by 'privcausal domain draft'.",
        "# Every entry below was READ OFF THE RECORDS. A domain must be public knowledge:",
        "# - replace each numeric placeholder by a public bound (a clinical plausibility range),",
        "#   never by the file's minimum or maximum;",
        "# - confirm that each list of categories is public (a category held by one patient",
        "#   identifies them), or replace it by the public list;",
        "# - delete the covariates you do not want to adjust for.",
        f"# treatment column: {treatment} (0/1; not a covariate)",
    ]
    if released:
        lines += ["# Numeric bounds marked 'DP estimate' were RELEASED with differential privacy:",
                  f"# {released}"]
    lines += ["", "[outcome]"]
    if _binary_outcome(frame[outcome]):
        lines += ["lower = 0", "upper = 1", "binary = true  # the file holds only 0 and 1"]
    else:
        lines += _bound_lines(outcome, bounds)
    for name in covs:
        col = frame[name]
        lines += ["", f"[covariates.{_toml_key(name)}]"]
        if _is_categorical(col):
            cats = sorted(col.dropna().unique().tolist(), key=lambda v: (str(type(v)), v))
            lines.append(f"# {len(cats)} categories taken from the file: confirm they are public")
            lines.append("categories = [" + ", ".join(_toml_value(c) for c in cats) + "]")
        else:
            num = pd.to_numeric(col, errors="coerce")
            if int(num.isna().sum()) > int(col.isna().sum()):
                lines.append("# holds entries that are not numbers: declare categories instead")
            kind = "integer" if pd.api.types.is_integer_dtype(col.dtype) else "numeric"
            lines.append(f"# {kind}: write public bounds")
            lines += _bound_lines(name, bounds)
        if bool(col.isna().any()):
            lines.append("missing = true  # the file holds missing values")
    return "\n".join(lines) + "\n"



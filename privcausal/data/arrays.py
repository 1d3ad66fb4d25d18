"""CausalData from arrays, for the EconML-shaped call ``est.fit(Y, T, X=X, W=W, domain=...)``.

``X`` (effect modifiers) and ``W`` (controls) are both adjusted for by the ATE estimators; the
CATE learners use both as inputs. Columns are named by a DataFrame's own column names, or, for
plain arrays, by the declared domain's covariate order (``X``'s columns first, then ``W``'s).
The domain is required: bounds are declared, never read off the arrays.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from privcausal.data.causal_data import CausalData
from privcausal.domain import Domain
from privcausal.exceptions import DataTypeError, DataValidationError, DomainError

__all__ = ["from_arrays"]


def _frame(a: Any, what: str) -> pd.DataFrame | None:
    if a is None:
        return None
    if isinstance(a, pd.DataFrame):
        return a.reset_index(drop=True)
    if isinstance(a, pd.Series):
        return a.to_frame().reset_index(drop=True)
    arr = np.asarray(a)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataValidationError(f"{what} must be a 2-d array or a DataFrame, got {arr.ndim} dimensions")
    return pd.DataFrame(arr)


def from_arrays(Y: Any, T: Any, X: Any = None, W: Any = None, *,
                domain: Domain | str | os.PathLike | None, name: str = "arrays") -> CausalData:
    """CausalData from outcome ``Y``, 0/1 treatment ``T``, and covariates ``X`` and ``W``."""
    if domain is None:
        raise DomainError("fit(Y, T, X=..., W=...) needs domain=: a Domain or a TOML file of declared "
                          "bounds (privcausal never reads bounds off the data; see "
                          "'privcausal domain draft')")
    if not isinstance(domain, Domain):
        domain = Domain.from_toml(domain)
    parts = [f for f in (_frame(X, "X"), _frame(W, "W")) if f is not None]
    if not parts:
        raise DataValidationError("give covariates X and/or W (an ATE without covariates: use "
                                  "a difference in means on a CausalData)")
    n = len(parts[0])
    if any(len(p) != n for p in parts):
        raise DataValidationError("X and W have different numbers of rows")
    named = all(not isinstance(c, (int, np.integer)) for p in parts for c in p.columns)
    if named:
        cov = pd.concat(parts, axis=1)
        cov.columns = [str(c) for c in cov.columns]
        if len(set(cov.columns)) != cov.shape[1]:
            raise DataValidationError("X and W share a column name")
    else:
        width = sum(p.shape[1] for p in parts)
        cols = list(domain.columns)
        if width != len(cols):
            raise DomainError(f"X and W have {width} columns but the domain declares {len(cols)} "
                              f"covariates ({cols}); pass DataFrames with named columns, or a domain "
                              "of exactly these columns in order")
        cov = pd.DataFrame(np.hstack([p.to_numpy(dtype=object) for p in parts]), columns=cols)
        for c in cols:  # numbers back to numbers (the object stack kept categories intact)
            converted = pd.to_numeric(cov[c], errors="coerce")
            if converted.notna().sum() == cov[c].notna().sum():
                cov[c] = converted
    for what, v in (("Y", Y), ("T", T)):
        if v is None:
            raise DataTypeError(f"{what} is required")
    return CausalData(cov, np.asarray(T).ravel(), np.asarray(Y, dtype=np.float64).ravel(),
                      domain.subset(list(cov.columns)), name=name)

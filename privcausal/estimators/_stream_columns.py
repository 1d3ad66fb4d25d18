"""Column checks of the streamed statistics: numbers and categories from arrow or pandas.

Each function takes one column of one batch (a pyarrow ``Array``/``ChunkedArray`` or a pandas
``Series``) and returns numbers plus counts of what is wrong with it; the counts are added
over the whole input and turned into one error at the end (:func:`raise_problems`). Messages
name columns and counts, never values.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from privcausal.exceptions import DataTypeError, DataValidationError, DomainError

__all__ = ["PROBLEMS", "raise_problems", "as_float", "category_codes"]

# kind -> (exception class, message template); messages name the column and the condition,
# never a count (an exact count is a function of the data) or a value.
PROBLEMS: dict[str, tuple[type[Exception], str]] = {
    "non_numeric": (DataTypeError, "column '{col}' is declared numeric but holds non-numeric entries"),
    "infinite": (DomainError, "column '{col}' holds infinite values"),
    "unknown_category": (
        DomainError,
        "column '{col}' holds values outside its declared categories; declare them, or allow "
        "missing values so they are treated as missing",
    ),
    "missing": (
        DomainError,
        "column '{col}' holds missing values but the Domain does not allow them; declare "
        "missing = true for it (privcausal then adds a missing indicator)",
    ),
    "treatment_missing": (
        DataValidationError,
        "treatment column '{col}' holds missing or infinite entries; drop those records first "
        "(privcausal does not impute treatments or outcomes)",
    ),
    "treatment_not_binary": (DataValidationError, "treatment column '{col}' must be 0/1; some entries are neither"),
    "outcome_missing": (
        DataValidationError,
        "outcome column '{col}' holds missing or infinite entries; drop those records first "
        "(privcausal does not impute treatments or outcomes)",
    ),
    "outcome_not_binary": (
        DataValidationError,
        "the domain declares a binary outcome but some entries of outcome column '{col}' are not 0/1",
    ),
}
_SEVERITY = (DataTypeError, DomainError, DataValidationError)


def raise_problems(columns: Sequence[str], problems: Mapping[tuple[str, str], int]) -> None:
    """Raise one error naming every problem, of the class of the most basic one (wrong type,
    then domain, then values)."""
    if not problems:
        return
    order = {c: i for i, c in enumerate(columns)}
    kinds = list(PROBLEMS)
    items = sorted(
        problems.items(),
        key=lambda kv: (_SEVERITY.index(PROBLEMS[kv[0][0]][0]), order.get(kv[0][1], 0), kinds.index(kv[0][0])),
    )
    cls = PROBLEMS[items[0][0][0]][0]
    msgs = [PROBLEMS[kind][1].format(col=col) for (kind, col), _ in items]
    raise cls("; ".join(msgs))


# ----------------------------------------------------------------------- column conversion
def _is_arrow(col: Any) -> bool:
    import pyarrow as pa

    return isinstance(col, (pa.Array, pa.ChunkedArray))


def as_float(col: Any) -> tuple[np.ndarray, int]:
    """A column as float64 (missing -> NaN) and how many entries are not numbers."""
    if _is_arrow(col):
        import pyarrow as pa

        typ = col.type
        if pa.types.is_dictionary(typ):
            col = col.cast(typ.value_type)
            typ = col.type
        if (
            pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ)
            or pa.types.is_decimal(typ) or pa.types.is_null(typ)
        ):
            x = col.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
            return np.asarray(x, dtype=np.float64), 0
        col = col.to_pandas()
    s = col if isinstance(col, pd.Series) else pd.Series(np.asarray(col, dtype=object))
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan), 0
    v = pd.to_numeric(s, errors="coerce")
    bad = int(v.isna().sum()) - int(s.isna().sum())
    return v.to_numpy(dtype=np.float64, na_value=np.nan), max(bad, 0)


def _is_missing_value(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, (float, np.floating)) and math.isnan(v)


def category_codes(col: Any, categories: tuple) -> tuple[np.ndarray, int, int]:
    """Codes into ``categories`` (-1 = missing or unknown), #missing, #unknown."""
    match_text = False
    if _is_arrow(col):
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        if not pa.types.is_dictionary(col.type):
            col = pc.dictionary_encode(col)
        vt = col.type.value_type
        match_text = pa.types.is_string(vt) or pa.types.is_large_string(vt)
        values = col.dictionary.to_pylist()
        valid = ~np.asarray(col.indices.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        idx = np.asarray(pc.fill_null(col.indices, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
        idx = np.where(valid, idx, -1)
    else:
        s = col if isinstance(col, pd.Series) else pd.Series(np.asarray(col, dtype=object))
        if isinstance(s.dtype, pd.CategoricalDtype):
            values = list(s.cat.categories)
            idx = s.cat.codes.to_numpy().astype(np.int64)
        else:
            idx, uniques = pd.factorize(s, use_na_sentinel=True)
            idx = np.asarray(idx, dtype=np.int64)
            values = list(uniques)
    pos = {c: i for i, c in enumerate(categories)}
    text = {str(c): i for i, c in enumerate(categories)} if match_text else {}
    lookup = np.empty(len(values) + 1, dtype=np.int64)
    lookup[-1] = -1  # idx == -1 (missing) picks the last entry
    for j, v in enumerate(values):
        if _is_missing_value(v):
            lookup[j] = -1
            continue
        try:
            code = pos.get(v)
        except TypeError:  # unhashable
            code = None
        if code is None and match_text and isinstance(v, str):
            code = text.get(v)
        lookup[j] = -2 if code is None else code
    codes = lookup[idx]
    n_unknown = int(np.count_nonzero(codes == -2))
    n_missing = int(np.count_nonzero(codes == -1))
    codes[codes == -2] = -1
    return codes, n_missing, n_unknown



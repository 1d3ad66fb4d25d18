"""The audited records: members, non-members and the attacker's population, made consistent.

The three tables must describe the same columns. :func:`prepare_frames` finds the label
column (named by the user, or the first of ``y``, ``outcome``, ``label``, ``target``), renames
it ``y`` (the attacks' convention), and, for a model that does not name its inputs (TorchScript,
ONNX, a state_dict), takes the members' other columns, in their order, as the model's inputs:
the other tables must hold the same columns by name (reordered to match), and a missing or
extra column is named in the error, never a value. :func:`infer_task` reads the task off the
labels when neither the model nor the user says it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from privcausal.exceptions import DataValidationError

__all__ = ["prepare_frames", "infer_task", "ID_COLUMNS"]

ID_COLUMNS = ("id",)
_OUTCOMES = ("y", "outcome", "label", "target")


def _read(x: Any, what: str) -> pd.DataFrame | None:
    if x is None:
        return None
    if isinstance(x, (str, Path)):
        from privcausal.data.frame import read_table

        return read_table(x)
    if isinstance(x, pd.DataFrame):
        return x.copy()
    raise DataValidationError(f"the {what} must be a DataFrame or a CSV path")


def _show(cols: Sequence[str]) -> str:
    return ", ".join(repr(c) for c in list(cols)[:8]) + (" ..." if len(cols) > 8 else "")


def prepare_frames(members: Any, nonmembers: Any, population: Any = None, *, label: str | None = None,
                   model_names_inputs: bool = False, skip: Sequence[str] = ("treatment",),
                   unlabelled: bool = False
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None, list[str]]:
    """(members, non-members, population, feature columns), labels renamed ``y``.

    ``model_names_inputs``: the model checks its own input names (scikit-learn with
    ``feature_names_in_``, privcausal's models); then the columns are left to it.
    ``unlabelled``: records known by id only are accepted (a score file's).
    """
    frames = {"members": _read(members, "members"), "non-members": _read(nonmembers, "non-members"),
              "population": _read(population, "population")}
    if frames["members"] is None or frames["non-members"] is None:
        raise DataValidationError("an audit needs members and non-members")
    first = frames["members"]
    if label is None:
        label = next((c for c in _OUTCOMES if c in first.columns), None)
        if label is None and unlabelled:
            return frames["members"], frames["non-members"], frames["population"], []
        if label is None:
            raise DataValidationError(f"no label column: name it (label=..., --label COL); the "
                                      f"members have the columns {_show(list(map(str, first.columns)))}")
    for what, f in list(frames.items()):
        if f is None:
            continue
        if len(f) == 0:
            raise DataValidationError(f"the {what} table has no rows")
        if label not in f.columns:
            raise DataValidationError(f"the {what} table has no label column {label!r}")
        if label != "y":
            if "y" in f.columns:
                raise DataValidationError(f"the {what} table has a column 'y' beside the label "
                                          f"{label!r}: rename one")
            frames[what] = f.rename(columns={label: "y"})
    drop = {"y", *ID_COLUMNS, *skip}
    cols = [str(c) for c in first.columns if str(c) not in drop]
    if not model_names_inputs:
        for what in ("non-members", "population"):
            f = frames[what]
            if f is None:
                continue
            have = [str(c) for c in f.columns if str(c) not in drop]
            missing = [c for c in cols if c not in set(have)]
            extra = [c for c in have if c not in set(cols)]
            if missing or extra:
                raise DataValidationError(
                    f"the {what} table's columns differ from the members': "
                    + "; ".join(x for x in (f"missing {_show(missing)}" if missing else "",
                                            f"extra {_show(extra)}" if extra else "") if x))
            keep = [c for c in f.columns if str(c) in drop]
            frames[what] = f[cols + keep]
    return frames["members"], frames["non-members"], frames["population"], cols


def infer_task(*labels: Any) -> str:
    """"binary" for 0/1 labels, "multiclass" for integer labels 0..C-1 with C > 2, else
    "regression"."""
    y = np.concatenate([np.asarray(v, dtype=np.float64) for v in labels if v is not None])
    if y.size == 0 or not np.all(np.isfinite(y)):
        raise DataValidationError("the label column is empty or holds missing / infinite values")
    if np.all(y == np.round(y)) and y.min() >= 0:
        k = len(np.unique(y))
        if set(np.unique(y)) <= {0.0, 1.0}:
            return "binary"
        if k <= 50 and y.max() == k - 1:
            return "multiclass"
    return "regression"

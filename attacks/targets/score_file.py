"""Per-record statistics computed elsewhere, as an attack target (a model that cannot be
queried here: it lives on another system, or only its losses were exported)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from attacks.records import Records, as_records
from attacks.targets.base import TASKS, Target, check_stat, statistic_from_outputs
from privcausal.exceptions import DataNotFoundError, DataTypeError, DataValidationError
from privcausal.validation import check_finite_array

__all__ = ["ScoreTarget"]


class ScoreTarget(Target):
    """Per-record statistics computed elsewhere (a model that cannot be queried here).

    Parameters
    ----------
    table : DataFrame with an id column and one or more of the columns ``loss``,
        ``confidence``, ``logit``, ``residual``, ``prediction``
    task : "binary" / "multiclass" (cross-entropy losses) or "regression" (squared error)
    id_column : the column identifying records; scored records must carry matching ids

    Statistics are read from their column or derived exactly from another: for classifiers
    confidence = exp(-loss) and logit = log p - log(1 - p); for regression neg_sq_error =
    -loss and neg_abs_error = -sqrt(loss) (the sign of the residual is lost in a loss).
    """

    KNOWN = ("loss", "confidence", "logit", "residual", "prediction")

    def __init__(self, table: pd.DataFrame, *, task: str = "binary", id_column: str = "id",
                 description: str = "score file") -> None:
        if not isinstance(table, pd.DataFrame):
            raise DataTypeError("a ScoreTarget needs a pandas DataFrame")
        if task not in TASKS:
            raise DataValidationError(f"task must be one of {TASKS}")
        if id_column not in table.columns:
            raise DataValidationError(f"the score file has no id column {id_column!r}")
        cols = [c for c in self.KNOWN if c in table.columns]
        if not cols:
            raise DataValidationError(f"the score file holds none of the columns {self.KNOWN}")
        ids = table[id_column].astype(str).to_numpy()
        if len(np.unique(ids)) != len(ids):
            raise DataValidationError(f"the score file lists {len(ids) - len(np.unique(ids))} ids twice")
        self.columns = {c: check_finite_array(table[c].to_numpy(), name=f"score file column {c!r}", ndim=1)
                        for c in cols}
        self._index = pd.Index(ids)
        self.task, self.id_column, self.description = task, id_column, description

    @classmethod
    def from_csv(cls, path: str | Path, **kwargs: Any) -> "ScoreTarget":
        p = Path(path)
        if not p.is_file():
            raise DataNotFoundError(f"score file not found: {p}")
        return cls(pd.read_csv(p), description=f"score file {p.name}", **kwargs)

    def records(self, data: Any, **kwargs: Any) -> Records:
        kwargs.setdefault("id_column", self.id_column)
        return as_records(data, **kwargs)

    def _column(self, name: str, scale: float = 1.0) -> np.ndarray | None:
        c = self.columns
        if name in c:
            return c[name]
        if self.task == "regression":
            if "residual" in c and name != "prediction":
                return statistic_from_outputs(-c["residual"], np.zeros_like(c["residual"]), "regression",
                                              name, scale=scale)
            if "loss" in c and name in ("neg_sq_error", "neg_abs_error"):
                return -c["loss"] if name == "neg_sq_error" else -np.sqrt(c["loss"])
            return None
        if "logit" in c:
            s = c["logit"]
        elif "loss" in c:  # p = exp(-loss): logit = log p - log(1 - p)
            s = -c["loss"] - np.log(-np.expm1(-c["loss"]))
        elif "confidence" in c:
            p = c["confidence"]
            s = np.log(p) - np.log1p(-p)
        else:
            return None
        if name == "prediction":
            return None
        return statistic_from_outputs(s, np.ones_like(s), "binary", name)

    def statistic(self, data: Any, name: str, *, scale: float = 1.0) -> np.ndarray:
        check_stat(name, self.task)
        r = data if isinstance(data, Records) else self.records(data)
        if r.ids is None:
            raise DataValidationError(f"records scored by a score file need an {self.id_column!r} column")
        pos = self._index.get_indexer(np.asarray(r.ids).astype(str))
        if np.any(pos < 0):
            raise DataValidationError(f"{int(np.sum(pos < 0))} records have no row in the score file")
        col = self._column(name, scale)
        if col is None:
            raise DataValidationError(f"the score file cannot give the statistic {name!r} (columns: "
                                      f"{sorted(self.columns)})")
        return col[pos]

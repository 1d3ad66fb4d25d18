"""Released statistics as JSON files, for ``privcausal attack reconstruct``.

One JSON object with a ``kind`` and the released numbers (plain lists, no pickle)::

    {"kind": "gram", "xtx": [[...]], "xty": [...], "feature_names": [...]}
    {"kind": "sufficient_stats", "n": [n0, n1], "zz": [[[...]]], "zy": [[...]], "yy": [...],
     "feature_names": [...]}
    {"kind": "ridge", "theta": [...], "ridge": 0.0, "feature_names": [...]}
    {"kind": "logistic", "coef": [[...]], "intercept": [...], "l2": 1.0, "feature_names": [...]}

``gram``, ``sufficient_stats`` and ``ridge`` describe a design whose column
``intercept_index`` (default 0, named ``"intercept"``) is all ones; a ``receipt`` (a
:meth:`Receipt.to_dict`) may come along, and then the reconstruction-robustness bound of the
release is reported. The known records are a CSV with the ``feature_names`` columns (the
intercept may be left out), an outcome column (``y``/``outcome``) and, for per-arm statistics,
a ``treatment`` column.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from attacks.reconstruction import (
    Reconstruction,
    informed_gram,
    informed_logistic,
    informed_ridge,
    informed_sufficient_stats,
)
from attacks.records import OUTCOME_COLUMNS, match_features
from privcausal.exceptions import DataNotFoundError, DataValidationError, ModelFileError
from privcausal.validation import check_finite_array

__all__ = ["KINDS", "write_release", "read_release", "reconstruct_release"]

KINDS = ("gram", "sufficient_stats", "ridge", "logistic")


def _lists(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Mapping):
        return {k: _lists(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_lists(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def write_release(path: str | Path, kind: str, *, feature_names: Sequence[str], receipt: Any = None,
                  **arrays: Any) -> Path:
    """Write a release file (see the module docstring for the fields of each kind)."""
    if kind not in KINDS:
        raise DataValidationError(f"kind must be one of {KINDS}")
    doc: dict[str, Any] = {"kind": kind, "feature_names": list(feature_names), **_lists(arrays)}
    if receipt is not None:
        doc["receipt"] = receipt.to_dict() if hasattr(receipt, "to_dict") else dict(receipt)
    p = Path(path)
    p.write_text(json.dumps(doc))
    return p


def read_release(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"release file not found: {p}")
    try:
        doc = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelFileError(f"{p.name} is not a JSON release file") from None
    if not isinstance(doc, dict) or doc.get("kind") not in KINDS:
        raise ModelFileError(f"{p.name}: 'kind' must be one of {KINDS}")
    if not isinstance(doc.get("feature_names"), list):
        raise ModelFileError(f"{p.name} lacks 'feature_names'")
    return doc


def _need(doc: Mapping[str, Any], key: str) -> np.ndarray:
    if key not in doc:
        raise ModelFileError(f"the {doc['kind']} release lacks {key!r}")
    return check_finite_array(doc[key], name=f"release field {key!r}")


def _known(frame: pd.DataFrame, names: list[str], i0: int | None) -> tuple[np.ndarray, np.ndarray]:
    cols = list(names)
    add_ones = i0 is not None and cols[i0] not in frame.columns
    need = [c for j, c in enumerate(cols) if not (add_ones and j == i0)]
    ycol = next((c for c in OUTCOME_COLUMNS if c in frame.columns), None)
    if ycol is None:
        raise DataValidationError(f"the known records need an outcome column (one of {OUTCOME_COLUMNS})")
    match_features(frame.columns, need, "the known records", ignore=(ycol, "treatment", "id"))
    X = check_finite_array(frame[need].to_numpy(), name="known records", ndim=2)
    if add_ones:
        X = np.insert(X, i0, 1.0, axis=1)
    return X, check_finite_array(frame[ycol].to_numpy(), name="known outcomes", ndim=1)


def reconstruct_release(doc: Mapping[str, Any], known: pd.DataFrame) -> Reconstruction:
    """The informed adversary's reconstruction of the one record missing from ``known``."""
    kind = doc["kind"]
    names = list(doc["feature_names"])
    i0 = doc.get("intercept_index", 0) if kind != "logistic" else None
    X, y = _known(known, names, i0)
    if kind == "gram":
        return informed_gram(_need(doc, "xtx"), _need(doc, "xty"), X, y, intercept_index=i0)
    if kind == "ridge":
        return informed_ridge(_need(doc, "theta"), X, y, ridge=doc.get("ridge", 0.0), intercept_index=i0)
    if kind == "logistic":
        return informed_logistic(_need(doc, "coef"), _need(doc, "intercept"), X, y,
                                 l2=float(doc.get("l2", 0.0)))
    from privcausal.estimators.sufficient import SufficientStats, compute_stats

    if "treatment" not in known.columns:
        raise DataValidationError("per-arm sufficient statistics need a 'treatment' column in the known records")
    rel = SufficientStats(_need(doc, "n"), _need(doc, "zz"), _need(doc, "zy"), _need(doc, "yy"))
    t = check_finite_array(known["treatment"].to_numpy(), name="treatment", ndim=1)
    return informed_sufficient_stats(rel, compute_stats(X, t, y), intercept_index=i0)

"""The records an attack scores: encoded features, outcome, optional ids and subgroup labels.

:func:`as_records` accepts a :class:`~privcausal.data.CausalData`, a pandas DataFrame (a
CSV read with pandas), a tuple ``(X, y)`` or ``(X, y, ids)`` of arrays, or a ``Records``.
When the model names its features, a frame must hold every one of them (reordered to the
model's order); otherwise the error lists the missing and unexpected columns by name (never
a value). A CausalData is encoded as the training code encodes it
(:func:`privcausal.training.encode`), with the treatment column when the model expects it.

Subgroup labels come along for per-subgroup metrics: for a CausalData, ``treatment``
(treated / control) and every categorical covariate (rare categories included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from privcausal.exceptions import DataTypeError, DataValidationError
from privcausal.validation import check_finite_array

__all__ = ["Records", "as_records", "check_disjoint", "match_features", "OUTCOME_COLUMNS"]

OUTCOME_COLUMNS = ("y", "outcome", "label", "target")


@dataclass(frozen=True)
class Records:
    """Records to score.

    Attributes
    ----------
    X : (n, d) float64 encoded features, or None (records known only by id: score files)
    y : (n,) outcome (class labels for classifiers), or None
    ids : (n,) record identifiers, or None
    groups : name -> (n,) subgroup labels
    feature_names : names of the columns of X, when known
    treatment : (n,) 0/1 arm of each record, when known (models with one network per arm)
    """

    X: np.ndarray | None
    y: np.ndarray | None
    ids: np.ndarray | None = None
    groups: Mapping[str, np.ndarray] = field(default_factory=dict)
    feature_names: tuple[str, ...] | None = None
    treatment: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = None
        for name in ("X", "y", "ids", "treatment"):
            v = getattr(self, name)
            if v is not None:
                if n is not None and len(v) != n:
                    raise DataValidationError(f"records: {name} has {len(v)} entries, expected {n}")
                n = len(v)
        if n is None:
            raise DataValidationError("records need features, outcomes or ids")
        for g, v in self.groups.items():
            if len(v) != n:
                raise DataValidationError(f"subgroup labels {g!r} have {len(v)} entries, expected {n}")

    @property
    def n(self) -> int:
        for v in (self.X, self.y, self.ids):
            if v is not None:
                return len(v)
        return 0  # pragma: no cover - __post_init__ forbids it

    def subset(self, index: Any) -> "Records":
        idx = np.asarray(index)
        pick = lambda v: None if v is None else v[idx]  # noqa: E731
        return Records(pick(self.X), pick(self.y), pick(self.ids),
                       {k: v[idx] for k, v in self.groups.items()}, self.feature_names,
                       pick(self.treatment))

    def replace(self, **changes: Any) -> "Records":
        """A copy with some fields changed."""
        from dataclasses import replace

        return replace(self, **changes)

    @staticmethod
    def concat(parts: Sequence["Records"]) -> "Records":
        """Stack records (features, outcome and ids must be present in all parts or none)."""
        def cat(name: str) -> np.ndarray | None:
            vals = [getattr(p, name) for p in parts]
            if all(v is None for v in vals):
                return None
            if any(v is None for v in vals):
                raise DataValidationError(f"cannot stack records where only some have {name}")
            return np.concatenate(vals)

        names = {p.feature_names for p in parts if p.feature_names is not None}
        if len(names) > 1:
            raise DataValidationError("cannot stack records with different feature columns")
        keys = set.intersection(*(set(p.groups) for p in parts)) if parts else set()
        groups = {k: np.concatenate([np.asarray(p.groups[k], dtype=object) for p in parts]) for k in keys}
        return Records(cat("X"), cat("y"), cat("ids"), groups, names.pop() if names else None,
                       cat("treatment"))


def match_features(columns: Sequence[str], expected: Sequence[str], where: str = "the data",
                   ignore: Sequence[Any] = ()) -> list[str]:
    """The expected feature names, checked against ``columns`` (``ignore``: outcome, id and
    group columns); raises if any is missing."""
    cols = [str(c) for c in columns if c not in set(ignore)]
    missing = [c for c in expected if c not in set(cols)]
    if missing:
        extra = [c for c in cols if c not in set(expected)]
        show = lambda v: ", ".join(repr(c) for c in v[:8]) + (" ..." if len(v) > 8 else "")  # noqa: E731
        raise DataValidationError(
            f"the model expects {len(expected)} feature columns but {where} lacks {len(missing)} "
            f"of them ({show(missing)})" + (f" and has {len(extra)} it does not use ({show(extra)})"
                                            if extra else "")
            + ": encode the data as the model was trained (same columns, same names)"
        )
    return list(expected)


def _outcome_column(frame: pd.DataFrame, outcome: str | None) -> str | None:
    if outcome is not None:
        if outcome not in frame.columns:
            raise DataValidationError(f"the outcome column {outcome!r} is not in the data")
        return outcome
    for c in OUTCOME_COLUMNS:
        if c in frame.columns:
            return c
    return None


def _from_causal(data: Any, feature_names: Sequence[str] | None, include_treatment: bool | None,
                 n_features: int | None = None) -> Records:
    from privcausal.training import encode

    if include_treatment is not None:
        with_t = bool(include_treatment)
    elif feature_names is not None:
        with_t = "treatment" in feature_names
    else:  # a model without names: the treatment column is there if the width says so
        with_t = n_features is not None and n_features == data.encoder.n_features + 1
    enc = encode(data, include_treatment=with_t)
    X = enc.X
    names = list(enc.feature_names)
    if feature_names is not None:
        order = match_features(names, feature_names, "the encoded CausalData")
        X = X[:, [names.index(c) for c in order]]
        names = order
    groups: dict[str, np.ndarray] = {
        "treatment": np.where(data.treatment == 1, "treated", "control").astype(object)}
    from privcausal.domain import Categorical

    for col, spec in data.domain.covariates.items():
        if isinstance(spec, Categorical):
            groups[col] = data.covariates[col].astype(object).where(
                data.covariates[col].notna(), "(missing)").to_numpy()
    return Records(X, enc.y, None, groups, tuple(names), np.asarray(data.treatment))


def _from_frame(frame: pd.DataFrame, feature_names: Sequence[str] | None, outcome: str | None,
                id_column: str | None, group_columns: Sequence[str]) -> Records:
    ycol = _outcome_column(frame, outcome)
    ids = None
    if id_column is not None and id_column in frame.columns:
        ids = frame[id_column].to_numpy()
    skip = {ycol, id_column, *group_columns}
    if feature_names is not None:
        cols = match_features(frame.columns, feature_names, ignore=skip)
    else:
        cols = [c for c in frame.columns if c not in skip]
    X = check_finite_array(frame[cols].to_numpy(), name="feature columns", ndim=2) if cols else None
    y = None
    if ycol is not None:
        y = check_finite_array(frame[ycol].to_numpy(), name=f"outcome column {ycol!r}", ndim=1)
    groups = {g: frame[g].astype(object).to_numpy() for g in group_columns if g in frame.columns}
    t = frame["treatment"].to_numpy() if "treatment" in frame.columns else None
    return Records(X, y, ids, groups, tuple(str(c) for c in cols) if cols else None, t)


def as_records(data: Any, y: Any = None, *, feature_names: Sequence[str] | None = None,
               outcome: str | None = None, id_column: str | None = "id",
               include_treatment: bool | None = None, groups: Mapping[str, Any] | None = None,
               group_columns: Sequence[str] = (), n_features: int | None = None) -> Records:
    """Records from a CausalData, a DataFrame, arrays ``(X, y[, ids])`` or ``X`` with ``y``.

    Parameters
    ----------
    feature_names : the model's feature names (checked and used to order the columns)
    outcome : the outcome column of a frame (default: the first of ``y``, ``outcome``,
        ``label``, ``target`` present)
    id_column : the record-id column of a frame, if present
    include_treatment : for a CausalData, append the treatment (default: when the model's
        features include ``"treatment"``, or, without names, when its width ``n_features``
        is the encoded width plus one)
    groups : extra subgroup labels, name -> (n,) array
    group_columns : frame columns to use as subgroup labels (not as features)
    """
    from privcausal.data import CausalData

    if isinstance(data, Records):
        rec = data
        if feature_names is not None and rec.feature_names is not None:
            order = match_features(rec.feature_names, feature_names, "the records")
            if list(order) != list(rec.feature_names):
                idx = [rec.feature_names.index(c) for c in order]
                rec = rec.replace(X=rec.X[:, idx], feature_names=tuple(order))
    elif isinstance(data, CausalData):
        rec = _from_causal(data, feature_names, include_treatment, n_features)
    elif isinstance(data, pd.DataFrame):
        rec = _from_frame(data, feature_names, outcome, id_column, group_columns)
    elif isinstance(data, tuple):
        if not 2 <= len(data) <= 3:
            raise DataTypeError("a tuple of records is (X, y) or (X, y, ids)")
        X = check_finite_array(data[0], name="X", ndim=2)
        yy = None if data[1] is None else np.asarray(data[1])
        rec = Records(X, yy, None if len(data) == 2 else np.asarray(data[2]), {}, None)
    elif isinstance(data, (np.ndarray, list)):
        rec = Records(check_finite_array(data, name="X", ndim=2), None if y is None else np.asarray(y))
    else:
        raise DataTypeError(
            f"records must be a CausalData, a DataFrame, (X, y) arrays or Records, got "
            f"{type(data).__name__}")
    if y is not None and rec.y is None:
        rec = rec.replace(y=np.asarray(y))
    width = len(feature_names) if feature_names is not None else n_features
    if rec.X is not None and width is not None and rec.X.shape[1] != width:
        raise DataValidationError(
            f"the data has {rec.X.shape[1]} feature columns, the model expects {width}: encode the "
            "data as the model was trained")
    if groups:
        rec = rec.replace(groups={**rec.groups, **{k: np.asarray(v, dtype=object)
                                                   for k, v in groups.items()}})
    return rec


def _row_keys(r: Records) -> set[bytes]:
    X = np.ascontiguousarray(r.X, dtype=np.float64) + 0.0  # -0.0 == 0.0
    ys = [b""] * r.n if r.y is None else [str(v).encode() for v in np.asarray(r.y).tolist()]
    return {X[i].tobytes() + b"|" + ys[i] for i in range(r.n)}


def check_disjoint(members: Records, non_members: Records) -> None:
    """Raise if a record is listed both as a member and as a non-member.

    Records are compared by id when both sides have ids, otherwise by their exact features
    and outcome (an identical copy of a member is no non-member: the game is undefined).
    """
    if members.ids is not None and non_members.ids is not None:
        both = len(set(np.asarray(members.ids).astype(str)) & set(np.asarray(non_members.ids).astype(str)))
        what = "ids"
    elif members.X is not None and non_members.X is not None:
        both = len(_row_keys(members) & _row_keys(non_members))
        what = "identical features and outcome"
    else:
        return
    if both:
        raise DataValidationError(
            f"{both} records are listed both as members and as non-members ({what}); a "
            "record cannot be both: remove them from one list (deduplicate identical records)"
        )

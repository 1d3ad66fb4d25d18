"""Declared, data-independent bounds for every column, clipping, and the sensitivities they give.

A :class:`Domain` is public knowledge written down before the data is looked at: the range of
each numeric covariate, the categories of each categorical one, whether a column may be
missing, and the range of the outcome. Sensitivities come from here and never from the data.
Values outside the domain are clipped to it and counted; the counts are local diagnostics
(:class:`~privcausal.privacy.diagnostics.LocalDiagnostics`), never part of a receipt or a
warning, and the values are never printed.

A domain can be written in TOML::

    [outcome]
    lower = 0
    upper = 1
    binary = true

    [covariates.age]
    lower = 16
    upper = 100
    missing = true          # the column may hold missing values

    [covariates.mechanism]
    categories = ["blunt", "penetrating"]
"""

from __future__ import annotations

import math
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from privcausal.exceptions import CLIP_WARNING, ClippingWarning, DataTypeError, DomainError

__all__ = ["Numeric", "Categorical", "OutcomeBounds", "Domain"]


def _finite_pair(lower: Any, upper: Any, what: str) -> tuple[float, float]:
    if any(isinstance(v, str) and v.startswith("FILL IN") for v in (lower, upper)):
        raise DomainError(f"the bounds of {what} are still the draft's placeholders: write public "
                          "bounds (e.g. a clinical plausibility range), not the data's range")
    try:
        lo, hi = float(lower), float(upper)
    except (TypeError, ValueError):
        raise DomainError(f"bounds of {what} must be numbers") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise DomainError(f"bounds of {what} must be finite: infinite bounds give infinite sensitivity")
    if not lo < hi:
        raise DomainError(f"lower bound of {what} must be below its upper bound")
    return lo, hi


@dataclass(frozen=True)
class Numeric:
    """A numeric covariate with declared public bounds [lower, upper]."""

    lower: float
    upper: float
    missing: bool = False

    def __post_init__(self) -> None:
        lo, hi = _finite_pair(self.lower, self.upper, "a numeric column")
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)

    @property
    def center(self) -> float:
        return 0.5 * (self.lower + self.upper)

    @property
    def half_width(self) -> float:
        return 0.5 * (self.upper - self.lower)


@dataclass(frozen=True)
class Categorical:
    """A categorical covariate with its declared categories."""

    categories: tuple
    missing: bool = False

    def __post_init__(self) -> None:
        cats = tuple(self.categories)
        if len(cats) < 2:
            raise DomainError("a categorical column needs at least two declared categories")
        if len(set(cats)) != len(cats):
            raise DomainError("a categorical column's declared categories must be distinct")
        object.__setattr__(self, "categories", cats)


@dataclass(frozen=True)
class OutcomeBounds:
    """Declared bounds of the outcome; ``binary`` for a 0/1 outcome."""

    lower: float
    upper: float
    binary: bool = False

    def __post_init__(self) -> None:
        lo, hi = _finite_pair(self.lower, self.upper, "the outcome")
        if self.binary and (lo, hi) != (0.0, 1.0):
            raise DomainError("a binary outcome has bounds [0, 1]")
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)

    @property
    def center(self) -> float:
        return 0.5 * (self.lower + self.upper)

    @property
    def width(self) -> float:
        return self.upper - self.lower


ColumnSpec = Numeric | Categorical


def _to_spec(name: str, spec: Any) -> ColumnSpec:
    if isinstance(spec, (Numeric, Categorical)):
        return spec
    if isinstance(spec, Mapping):
        spec = dict(spec)
        missing = bool(spec.pop("missing", False))
        if "categories" in spec:
            extra = set(spec) - {"categories"}
            if extra:
                raise DomainError(f"column '{name}': unknown keys {sorted(extra)}")
            try:
                return Categorical(tuple(spec["categories"]), missing=missing)
            except DomainError as exc:
                raise DomainError(f"column '{name}': {exc}") from None
        if "lower" in spec and "upper" in spec:
            extra = set(spec) - {"lower", "upper"}
            if extra:
                raise DomainError(f"column '{name}': unknown keys {sorted(extra)}")
            try:
                return Numeric(spec["lower"], spec["upper"], missing=missing)
            except DomainError as exc:
                raise DomainError(f"column '{name}': {exc}") from None
        raise DomainError(f"column '{name}' needs either 'lower' and 'upper' or 'categories'")
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec
    ):
        try:
            return Numeric(spec[0], spec[1])
        except DomainError as exc:
            raise DomainError(f"column '{name}': {exc}") from None
    raise DomainError(
        f"column '{name}': a spec is Numeric(lower, upper), Categorical(categories), "
        "a (lower, upper) pair or a mapping"
    )


def _kind(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "booleans"
    if isinstance(v, (int, np.integer)):
        return "integers"
    if isinstance(v, (float, np.floating)):
        return "numbers"
    if isinstance(v, str):
        return "strings"
    return type(v).__name__


def _category_type_hint(col: pd.Series, spec: "Categorical") -> str | None:
    """A message when the declared categories and the column's values are of different types
    (names the types only, never a value of the data)."""
    declared = {_kind(c) for c in spec.categories}
    present = col.dropna()
    if present.empty:
        return None
    found = {_kind(v) for v in present.head(1000)}
    numeric = {"integers", "numbers"}
    if found & declared or (found <= numeric and declared <= numeric):
        return None
    want = " or ".join(sorted(found))
    return (f"the declared categories are {' and '.join(sorted(declared))} but the column holds "
            f"{want}: no value matches. Declare the categories as {want} (in TOML, "
            f"{'without' if 'strings' in declared else 'with'} quotes)")


@dataclass(frozen=True)
class Domain:
    """Declared bounds for every covariate and for the outcome.

    Parameters
    ----------
    covariates : mapping of column name to Numeric, Categorical, (lower, upper) or a mapping
    outcome : OutcomeBounds, (lower, upper) or a mapping with lower/upper/binary
    """

    covariates: Mapping[str, ColumnSpec]
    outcome: OutcomeBounds
    columns: tuple[str, ...] = field(init=False)

    def __init__(self, covariates: Mapping[str, Any], outcome: Any) -> None:
        if not isinstance(covariates, Mapping):
            raise DataTypeError("Domain covariates must be a mapping of column name to spec")
        specs = {str(k): _to_spec(str(k), v) for k, v in covariates.items()}
        if isinstance(outcome, OutcomeBounds):
            ob = outcome
        elif isinstance(outcome, Mapping):
            ob = OutcomeBounds(outcome.get("lower"), outcome.get("upper"), bool(outcome.get("binary", False)))
        elif isinstance(outcome, (tuple, list)) and len(outcome) == 2:
            ob = OutcomeBounds(outcome[0], outcome[1])
        else:
            raise DomainError("the outcome's bounds must be declared: (lower, upper) or OutcomeBounds")
        object.__setattr__(self, "covariates", specs)
        object.__setattr__(self, "outcome", ob)
        object.__setattr__(self, "columns", tuple(specs))

    # ---------------------------------------------------------------- constructors
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Domain":
        if "outcome" not in d:
            raise DomainError("a domain needs an [outcome] section with lower and upper")
        return cls(d.get("covariates", {}), d["outcome"])

    @classmethod
    def from_toml(cls, path: str | Path) -> "Domain":
        p = Path(path)
        if not p.is_file():
            raise DomainError(f"domain file not found: {p}")
        try:
            with p.open("rb") as fh:
                d = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise DomainError(f"domain file {p} is not valid TOML: {exc}") from None
        return cls.from_dict(d)

    def to_dict(self) -> dict[str, Any]:
        cov: dict[str, Any] = {}
        for name, s in self.covariates.items():
            if isinstance(s, Numeric):
                cov[name] = {"lower": s.lower, "upper": s.upper, "missing": s.missing}
            else:
                cov[name] = {"categories": list(s.categories), "missing": s.missing}
        return {
            "outcome": {"lower": self.outcome.lower, "upper": self.outcome.upper, "binary": self.outcome.binary},
            "covariates": cov,
        }

    def to_toml(self) -> str:
        """The domain as TOML text (the format :meth:`from_toml` reads)."""
        from privcausal.domain_draft import _toml_key, _toml_value

        o = self.outcome
        lines = ["[outcome]", f"lower = {_toml_value(o.lower)}", f"upper = {_toml_value(o.upper)}"]
        if o.binary:
            lines.append("binary = true")
        for name, spec in self.covariates.items():
            lines += ["", f"[covariates.{_toml_key(name)}]"]
            if isinstance(spec, Numeric):
                lines += [f"lower = {_toml_value(spec.lower)}", f"upper = {_toml_value(spec.upper)}"]
            else:
                lines.append("categories = [" + ", ".join(_toml_value(c) for c in spec.categories) + "]")
            if spec.missing:
                lines.append("missing = true")
        return "\n".join(lines) + "\n"

    def subset(self, columns: Iterable[str]) -> "Domain":
        cols = list(columns)
        missing = [c for c in cols if c not in self.covariates]
        if missing:
            raise DomainError(f"no declared bounds for columns {missing}")
        return Domain({c: self.covariates[c] for c in cols}, self.outcome)

    # ---------------------------------------------------------------- checks and clipping
    def check_columns(self, frame: pd.DataFrame) -> None:
        """Every covariate column has declared bounds, and every declared column is present."""
        cols = [str(c) for c in frame.columns]
        undeclared = [c for c in cols if c not in self.covariates]
        if undeclared:
            raise DomainError(
                f"columns {undeclared} have no declared bounds; declare them in the Domain "
                "(sensitivity is never read off the data)"
            )
        absent = [c for c in self.covariates if c not in cols]
        if absent:
            raise DomainError(f"declared columns {absent} are not in the data")

    def clip_outcome(self, y: np.ndarray, *, warn: bool = True) -> tuple[np.ndarray, int]:
        y = np.asarray(y, dtype=np.float64)
        lo, hi = self.outcome.lower, self.outcome.upper
        n = int(np.sum((y < lo) | (y > hi)))
        if n and warn:
            warnings.warn(CLIP_WARNING.format(columns="['outcome']"), ClippingWarning, stacklevel=2)
        return np.clip(y, lo, hi), n

    def clip_covariates(self, frame: pd.DataFrame, *, warn: bool = True) -> tuple[pd.DataFrame, dict[str, int]]:
        """Clip numeric columns to their bounds; categorical values outside the declared
        categories become missing when the column allows it, and raise otherwise."""
        self.check_columns(frame)
        out = frame.copy()
        counts: dict[str, int] = {}
        for name, spec in self.covariates.items():
            col = out[name]
            if isinstance(spec, Numeric):
                vals = pd.to_numeric(col, errors="coerce").astype(np.float64)
                bad_type = int(vals.isna().sum() - col.isna().sum())
                if bad_type > 0:
                    raise DataTypeError(f"column '{name}' is declared numeric but holds non-numeric entries")
                arr = vals.to_numpy()
                n_inf = int(np.isinf(arr).sum())
                if n_inf:
                    raise DomainError(f"column '{name}' holds infinite values")
                n_out = int(np.sum((arr < spec.lower) | (arr > spec.upper)))
                if n_out:
                    counts[name] = n_out
                out[name] = np.clip(arr, spec.lower, spec.upper)
            else:
                known = col.isna() | col.isin(spec.categories)
                n_out = int((~known).sum())
                if n_out:
                    hint = _category_type_hint(col, spec)
                    if hint:  # e.g. categories declared as strings, the file holds integers
                        raise DomainError(f"column '{name}': {hint}")
                    if not spec.missing:
                        raise DomainError(
                            f"column '{name}' holds values outside its declared categories; "
                            "declare them, or allow missing values so they are treated as missing"
                        )
                    counts[name] = n_out
                    out[name] = col.where(known, other=None)
            n_na = int(out[name].isna().sum())
            if n_na and not spec.missing:
                raise DomainError(
                    f"column '{name}' holds missing values but the Domain does not allow "
                    "them; declare missing = true for it (privcausal then adds a missing indicator)"
                )
        if counts and warn:
            warnings.warn(
                CLIP_WARNING.format(columns=sorted(counts)),
                ClippingWarning,
                stacklevel=2,
            )
        return out, counts

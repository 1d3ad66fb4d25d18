"""The per-batch work of the streamed statistics: validate, clip, encode, sum; and the total.

A :class:`Plan` says which columns to read and how (the covariate domain, the treatment and
outcome columns). :func:`partial_stats` turns one batch into a :class:`Partial` (sums,
clipping counts, problems); partials add up; :func:`finish` raises the problems of the whole
input at once, or warns once about clipping and returns the :class:`StatsResult`.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from privcausal.design import DesignEncoder
from privcausal.domain import Categorical, Domain, Numeric
from privcausal.estimators._stream_columns import as_float, category_codes, raise_problems
from privcausal.estimators.sufficient import SufficientStats, compute_stats
from privcausal.exceptions import CLIP_WARNING, ClippingWarning, DataTypeError, DataValidationError, DomainError

__all__ = ["StatsResult", "Plan", "make_plan", "check_present", "Partial", "combine", "partial_stats",
           "partial_of_frame", "scan", "limit_blas_threads", "check_blas_threads", "finish"]


@dataclass(frozen=True)
class StatsResult:
    """Sufficient statistics of a data set and what was clipped on the way.

    Attributes
    ----------
    stats : SufficientStats
        Per-arm sums over all records; design columns are ``feature_names``.
    clipped : dict of str to int
        Per column (``"outcome"`` for the outcome), how many values lay outside the declared
        domain and were clipped to it (or, for a categorical column allowing missing values,
        made missing). Counts only: no value is kept.
    n_rows : int
        Number of records summed.
    feature_names : tuple of str
        Names of the design columns: ``"intercept"``, then the encoder's features.
    domain : Domain
        The domain the records were clipped to and encoded with (restricted to the
        covariates used): the one to release the statistics under, e.g.
        ``RegressionAdjustment(...).fit_stats(r.stats, r.domain, clipped=r.clipped)``.
    """

    stats: SufficientStats
    clipped: dict[str, int]
    n_rows: int
    feature_names: tuple[str, ...]
    domain: Domain

    @property
    def n_clipped(self) -> int:
        return int(sum(self.clipped.values()))


@dataclass(frozen=True)
class Plan:
    """What to read and how: the covariate domain and the treatment and outcome columns."""

    domain: Domain
    treatment: str
    outcome: str

    @property
    def columns(self) -> list[str]:
        return [*self.domain.columns, self.treatment, self.outcome]

    @property
    def encoder(self) -> DesignEncoder:
        return DesignEncoder(self.domain)

    @property
    def p(self) -> int:
        return 1 + self.encoder.n_features

    @property
    def feature_names(self) -> tuple[str, ...]:
        return ("intercept", *self.encoder.feature_names)


def make_plan(domain: Any, treatment: Any, outcome: Any, covariates: Sequence[str] | None) -> Plan:
    """Check the arguments shared by every path and restrict the domain to the covariates."""
    if domain is None:
        raise DomainError("a declared Domain is required (bounds are never read off the data)")
    if isinstance(domain, (str, os.PathLike)):
        domain = Domain.from_toml(domain)
    if not isinstance(domain, Domain):
        raise DataTypeError(f"domain must be a privcausal Domain or a TOML file path, got {type(domain).__name__}")
    for value, what in ((treatment, "treatment"), (outcome, "outcome")):
        if not isinstance(value, str):
            raise DataTypeError(f"{what} must be a column name (str), got {type(value).__name__}")
    if isinstance(covariates, str):
        raise DataTypeError("covariates must be a list of column names, not one string")
    covs = list(domain.columns) if covariates is None else [str(c) for c in covariates]
    for value, what in ((treatment, "treatment"), (outcome, "outcome")):
        if value in covs:
            raise DataValidationError(f"the {what} column '{value}' cannot also be a covariate")
    if treatment == outcome:
        raise DataValidationError("the treatment and outcome columns must differ")
    return Plan(domain.subset(covs), treatment, outcome)


def check_present(plan: Plan, names: Iterable[str], where: str = "the data") -> None:
    """Raise unless the treatment, outcome and every covariate column are among ``names``."""
    names = {str(c) for c in names}
    for col, what in ((plan.treatment, "treatment"), (plan.outcome, "outcome")):
        if col not in names:
            raise DataValidationError(f"{what} column '{col}' is not in {where}")
    absent = [c for c in plan.domain.columns if c not in names]
    if absent:
        raise DataValidationError(f"covariate columns {absent} are not in {where}")


@dataclass
class Partial:
    """Partial sums of some records, with clipping counts and problems found in them."""

    stats: SufficientStats | None
    n_rows: int = 0
    clipped: Counter = field(default_factory=Counter)
    problems: Counter = field(default_factory=Counter)

    @classmethod
    def empty(cls, p: int) -> "Partial":
        return cls(SufficientStats.zeros(p))

    def __add__(self, other: "Partial") -> "Partial":
        problems = self.problems + other.problems
        stats = None
        if not problems and self.stats is not None and other.stats is not None:
            stats = self.stats + other.stats
        return Partial(stats, self.n_rows + other.n_rows, self.clipped + other.clipped, problems)


def combine(*parts: Partial) -> Partial:
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def partial_stats(
    plan: Plan, cols: Mapping[str, Any], n: int, *, sums: bool = True, workspace: dict | None = None
) -> Partial:
    """Validate, clip and encode one batch of records; sum it unless ``sums`` is False.

    ``workspace`` (a dict kept by the caller across batches) holds the design buffer, so a
    scan allocates it once rather than once per batch.
    """
    clipped: Counter = Counter()
    problems: Counter = Counter()
    frame: dict[str, Any] = {}
    for name, spec in plan.domain.covariates.items():
        if isinstance(spec, Numeric):
            x, bad = as_float(cols[name])
            if bad:
                problems[("non_numeric", name)] += bad
            n_out = int(np.count_nonzero((x < spec.lower) | (x > spec.upper)))  # infinities too
            if n_out:
                clipped[name] += n_out
                n_inf = int(np.count_nonzero(np.isinf(x)))  # only out-of-range values can be
                if n_inf:
                    problems[("infinite", name)] += n_inf
            if not spec.missing:
                n_na = int(np.count_nonzero(np.isnan(x))) - bad
                if n_na:
                    problems[("missing", name)] += n_na
            frame[name] = x  # clipped to [lower, upper] by the encoder
        else:
            assert isinstance(spec, Categorical)
            codes, n_na, n_unknown = category_codes(cols[name], spec.categories)
            if n_unknown:
                if spec.missing:
                    clipped[name] += n_unknown
                else:
                    problems[("unknown_category", name)] += n_unknown
            if n_na and not spec.missing:
                problems[("missing", name)] += n_na
            frame[name] = codes

    t, bad = as_float(cols[plan.treatment])
    if bad:
        problems[("non_numeric", plan.treatment)] += bad
    finite = np.isfinite(t)
    n_nonfinite = int(np.count_nonzero(~finite)) - bad
    if n_nonfinite:
        problems[("treatment_missing", plan.treatment)] += n_nonfinite
    n_other = int(np.count_nonzero(finite & (t != 0) & (t != 1)))
    if n_other:
        problems[("treatment_not_binary", plan.treatment)] += n_other

    y, bad = as_float(cols[plan.outcome])
    if bad:
        problems[("non_numeric", plan.outcome)] += bad
    finite = np.isfinite(y)
    n_nonfinite = int(np.count_nonzero(~finite)) - bad
    if n_nonfinite:
        problems[("outcome_missing", plan.outcome)] += n_nonfinite
    ob = plan.domain.outcome
    if ob.binary:
        n_other = int(np.count_nonzero(finite & (y != 0) & (y != 1)))
        if n_other:
            problems[("outcome_not_binary", plan.outcome)] += n_other
    n_out = int(np.count_nonzero((y < ob.lower) | (y > ob.upper)))
    if n_out:
        clipped["outcome"] += n_out

    if problems or not sums:
        return Partial(None, n, clipped, problems)
    Z = _design_buffer(workspace, n, plan.p)
    plan.encoder.encode_arrays(frame, n, out=Z, offset=1)
    y = np.minimum(y, ob.upper)
    np.maximum(y, ob.lower, out=y)
    stats = compute_stats(Z, t, y, n_threads=1)
    return Partial(stats, n, clipped, problems)


def _design_buffer(workspace: dict | None, n: int, p: int) -> np.ndarray:
    """An (n, p) design buffer with a column of ones first, reused from ``workspace``."""
    buf = None if workspace is None else workspace.get("design")
    if buf is None or buf.shape[0] < n or buf.shape[1] != p:
        buf = np.empty((n, p))
        buf[:, 0] = 1.0
        if workspace is not None:
            workspace["design"] = buf
    return buf[:n]


def partial_of_frame(plan: Plan, df: pd.DataFrame) -> Partial:
    """Partial sums of one pandas frame (a dask partition)."""
    return partial_stats(plan, {c: df[c] for c in plan.columns}, len(df))


def scan(plan: Plan, batches: Iterable[Any]) -> Partial:
    """Add up the partial sums of ``batches`` (pandas frames, arrow record batches or tables);
    once a problem is found, the rest is only checked, to count every problem."""
    total = Partial.empty(plan.p)
    workspace: dict = {}
    for batch in batches:
        if isinstance(batch, pd.DataFrame):
            check_present(plan, batch.columns, "a batch")
            cols = {c: batch[c] for c in plan.columns}
            n = len(batch)
        elif hasattr(batch, "schema") and hasattr(batch, "column") and hasattr(batch, "num_rows"):
            check_present(plan, batch.schema.names, "a batch")
            cols = {c: batch.column(c) for c in plan.columns}
            n = batch.num_rows
        else:
            raise DataTypeError(
                f"a batch must be a pandas DataFrame or a pyarrow RecordBatch or Table, got {type(batch).__name__}"
            )
        if n:
            total = total + partial_stats(plan, cols, n, sums=not total.problems, workspace=workspace)
    return total


@contextmanager
def limit_blas_threads(n: int | None) -> Iterator[None]:
    """Limit BLAS to ``n`` threads for the duration (a no-op for None, or without threadpoolctl).

    A streamed scan interleaves small matrix products with decoding and encoding. Multi-threaded
    BLAS gains little there, and its worker threads busy-wait after each call, against
    pyarrow's decoding threads and the encoding on the main thread: on a loaded machine, a scan
    ran several times slower with two BLAS threads than with one.
    """
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=int(n), user_api="blas"):
        yield


def check_blas_threads(n: Any) -> int | None:
    """Validate the ``blas_threads`` argument (a positive int, or None)."""
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DataValidationError("blas_threads must be a positive integer or None")
    return int(n)


def finish(plan: Plan, total: Partial, stacklevel: int = 3) -> StatsResult:
    """Raise the input's problems (all at once), warn once about clipping, or return the result."""
    raise_problems(plan.columns, total.problems)
    if total.n_rows == 0:
        raise DataValidationError("the data is empty: no records")
    assert total.stats is not None
    clipped = {k: int(v) for k, v in total.clipped.items() if v}
    if clipped:
        warnings.warn(
            CLIP_WARNING.format(columns=sorted(clipped)),
            ClippingWarning,
            stacklevel=stacklevel,
        )
    return StatsResult(total.stats, clipped, int(total.n_rows), plan.feature_names, plan.domain)


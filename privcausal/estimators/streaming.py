"""Sufficient statistics at scale: streamed from a file, summed over dask partitions, or in memory.

The per-arm statistics of :mod:`privcausal.estimators.sufficient` are sums over records, so
they can be computed piece by piece and added up; the privacy noise is then added once, to the
total, by the caller. This module produces that total three ways, all giving the same numbers
(to floating-point rounding) for the same records:

* :func:`stats_from_table` reads a CSV or parquet file record batch by record batch through
  pyarrow, so a file larger than memory is never loaded whole: memory is a few batches, whatever
  the number of rows;
* :func:`stats_from_dask` computes partial sums per partition of a dask DataFrame, on whatever
  scheduler is active (a ``dask.distributed`` cluster included), and combines them by a tree
  reduction; only the small sums travel back to the caller;
* :func:`stats_from_data` is the in-memory path for a :class:`~privcausal.data.CausalData`.

Each batch or partition goes through the same steps as :class:`~privcausal.data.CausalData`:
covariates are clipped to the declared :class:`~privcausal.domain.Domain` (clipped values
counted per column; a :class:`~privcausal.exceptions.ClippingWarning` is issued once, at the
end, with counts only), encoded with :class:`~privcausal.design.DesignEncoder`, an intercept
column is prepended, the treatment must be 0/1 and the outcome finite. A problem in the data
does not stop the pass at the first bad batch: the pass goes on counting, and one error at the
end names every bad column with its count over the whole input (never a value).

Missing-value markers in CSV files are pandas' defaults (an empty field, ``NA``, ``NaN``,
``null``...), so a CSV reads here as :func:`pandas.read_csv` reads it. A categorical column read
from CSV holds strings; a declared category that is not a string (say the integer ``3``)
matches the text of its ``str`` (``"3"``).

A release from a file that does not fit in memory::

    r = stats_from_table("registry.parquet", domain="registry.toml", treatment="txa", outcome="death")
    est = RegressionAdjustment(epsilon=1.0, delta=1e-6).fit_stats(r.stats, r.domain, clipped=r.clipped)

References
----------
.. [1] Y.-X. Wang, "Revisiting differentially private linear regression: optimal and adaptive
   prediction & estimation in unbounded domain", UAI 2018 (sufficient statistics add across
   data chunks; the noise goes on the total).
.. [2] T. F. Chan, G. H. Golub and R. J. LeVeque, "Updating formulae and a pairwise algorithm
   for computing sample variances", COMPSTAT 1982 (pairwise, tree-shaped combination of
   partial sums).
.. [3] M. Rocklin, "Dask: parallel computation with blocked algorithms and task scheduling",
   SciPy 2015.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from privcausal.data.causal_data import CausalData
from privcausal.domain import Domain
from privcausal.estimators._stream_batch import (
    Partial,
    StatsResult,
    check_blas_threads,
    check_present,
    combine,
    finish,
    limit_blas_threads,
    make_plan,
    partial_of_frame,
    scan,
)
from privcausal.estimators._stream_io import scan_file, table_format
from privcausal.estimators.sufficient import compute_stats_with_intercept
from privcausal.exceptions import DataNotFoundError, DataTypeError, DataValidationError

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "StatsResult",
    "stats_from_batches",
    "stats_from_dask",
    "stats_from_data",
    "stats_from_table",
]

#: Rows per record batch when streaming a file (16 MiB of float64 for 32 columns).
DEFAULT_BATCH_ROWS = 65_536


# ------------------------------------------------------------------------------ in memory
def stats_from_data(data: CausalData) -> StatsResult:
    """Sufficient statistics of an in-memory :class:`CausalData` (intercept + ``data.X``)."""
    if not isinstance(data, CausalData):
        raise DataTypeError(f"stats_from_data expects a privcausal CausalData, got {type(data).__name__}")
    stats = compute_stats_with_intercept(data.X, data.treatment, data.outcome)
    names = ("intercept", *data.encoder.feature_names)
    return StatsResult(stats, {k: int(v) for k, v in data.clipped.items()}, data.n, names, data.domain)


def stats_from_batches(
    batches: Iterable[Any],
    *,
    domain: Domain | str | os.PathLike,
    treatment: str,
    outcome: str,
    covariates: Sequence[str] | None = None,
    blas_threads: int | None = 1,
) -> StatsResult:
    """Sufficient statistics of an iterable of record batches, one batch in memory at a time.

    Each batch is a pandas DataFrame, a pyarrow RecordBatch or a pyarrow Table holding the
    treatment, outcome and covariate columns (a database cursor's pages, say). Arguments as
    for :func:`stats_from_table`.
    """
    blas = check_blas_threads(blas_threads)
    plan = make_plan(domain, treatment, outcome, covariates)
    with limit_blas_threads(blas):
        total = scan(plan, batches)
    return finish(plan, total)


def stats_from_table(
    path: str | os.PathLike,
    *,
    domain: Domain | str | os.PathLike,
    treatment: str,
    outcome: str,
    covariates: Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH_ROWS,
    format: str | None = None,
    blas_threads: int | None = 1,
) -> StatsResult:
    """Sufficient statistics of a CSV or parquet file, streamed record batch by record batch.

    The file is never loaded whole: memory holds a few batches (and, for parquet, the row
    group being decoded; for CSV, a read-ahead of a few dozen 1 MiB blocks), whatever the
    number of rows.

    Parameters
    ----------
    path : path to a ``.csv`` (optionally ``.gz``/``.bz2``/``.zst`` compressed) or
        ``.parquet`` file, or to a directory of parquet files (read in sorted order)
    domain : Domain or path to a TOML domain file
        Declared public bounds; the statistics' sensitivity comes from here.
    treatment, outcome : str
        Column names; treatment must be 0/1, outcome finite (binary if the domain says so).
    covariates : list of str, optional
        Defaults to the domain's declared covariates.
    batch_size : int
        Rows per record batch (CSV is read in blocks of about 1 MiB, grouped into batches of
        this many rows or slightly more).
    format : {"csv", "parquet"}, optional
        Overrides the guess from the file name.
    blas_threads : int or None
        BLAS threads during the scan (default 1: the scan is bound by decoding and encoding,
        and idle BLAS threads busy-wait against them); None leaves the process's setting alone.
        The limit is process-wide while the scan runs (threadpoolctl).

    Returns
    -------
    StatsResult
        The statistics (intercept first), the clipping counts, the number of rows.

    Raises
    ------
    DataNotFoundError
        No such file.
    DataValidationError
        A column is absent, a treatment is missing or not 0/1, an outcome missing or infinite.
    DataTypeError
        A numeric column holds text.
    DomainError
        Infinite covariate values, undeclared categories or missing values where the domain
        does not allow them.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise DataValidationError("batch_size must be a positive integer")
    blas = check_blas_threads(blas_threads)
    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(f"data file not found: {p}")
    plan = make_plan(domain, treatment, outcome, covariates)
    fmt = table_format(p, format)
    with limit_blas_threads(blas):
        total = scan_file(plan, p, fmt, int(batch_size))
    return finish(plan, total)


# ------------------------------------------------------------------------------------ dask
def stats_from_dask(
    ddf: Any,
    *,
    domain: Domain | str | os.PathLike,
    treatment: str,
    outcome: str,
    covariates: Sequence[str] | None = None,
    split_every: int = 8,
) -> StatsResult:
    """Sufficient statistics of a dask DataFrame: partial sums per partition, combined once.

    Each partition is validated, clipped and encoded where it lives and reduced to its partial
    sums (a few kilobytes); these are combined by a tree reduction (``split_every`` at a time)
    on the active scheduler, a ``dask.distributed`` cluster included, and only the total comes
    back to the caller, who adds the privacy noise once. Needs the optional ``dask`` extra.
    """
    try:
        import dask
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "stats_from_dask needs dask, an optional extra: pip install 'privcausal[scale]' "
            "(or pip install 'dask[distributed]')"
        ) from exc
    if not (hasattr(ddf, "to_delayed") and hasattr(ddf, "columns")):
        raise DataTypeError(f"stats_from_dask expects a dask DataFrame, got {type(ddf).__name__}")
    if isinstance(split_every, bool) or not isinstance(split_every, int) or split_every < 2:
        raise DataValidationError("split_every must be an integer >= 2")
    plan = make_plan(domain, treatment, outcome, covariates)
    check_present(plan, ddf.columns)
    one = partial(partial_of_frame, plan)  # the plan travels inside the function, not traversed
    parts = [dask.delayed(one)(part) for part in ddf[plan.columns].to_delayed()]
    if not parts:
        return finish(plan, Partial.empty(plan.p))  # raises: no records
    while len(parts) > 1:
        parts = [dask.delayed(combine)(*parts[i : i + split_every]) for i in range(0, len(parts), split_every)]
    (total,) = dask.compute(parts[0])
    return finish(plan, Partial.empty(plan.p) + total)
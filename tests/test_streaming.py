"""Sufficient statistics at scale: compute_stats, and the file / dask / in-memory paths agree."""

from __future__ import annotations

import sys
import tracemalloc
import traceback
import warnings

import numpy as np
import pandas as pd
import pytest

from privcausal.data import from_frame, simulate_trauma
from privcausal.domain import Categorical, Domain, Numeric, OutcomeBounds
from privcausal.estimators.streaming import (
    StatsResult,
    stats_from_batches,
    stats_from_dask,
    stats_from_data,
    stats_from_table,
)
from privcausal.estimators.sufficient import SufficientStats, compute_stats
from privcausal.exceptions import (
    ClippingWarning,
    DataNotFoundError,
    DataTypeError,
    DataValidationError,
    DomainError,
)

T, Y = "txa", "death"


def reference_stats(Z, t, y) -> SufficientStats:
    """The plain per-arm definition: gather each arm, one Gram matrix each."""
    p = Z.shape[1]
    n, yy = np.empty(2), np.empty(2)
    zz, zy = np.empty((2, p, p)), np.empty((2, p))
    for arm, m in ((1, t == 1), (0, t != 1)):
        Za, ya = Z[m], y[m]
        n[arm], zz[arm], zy[arm], yy[arm] = m.sum(), Za.T @ Za, Za.T @ ya, ya @ ya
    return SufficientStats(n, zz, zy, yy)


def assert_same(a: StatsResult, b: StatsResult) -> None:
    assert a.n_rows == b.n_rows
    assert a.feature_names == b.feature_names
    assert a.stats.allclose(b.stats, rtol=1e-10, atol=1e-8)


@pytest.fixture(scope="module")
def trauma():
    data = simulate_trauma(5000, random_state=0, missing="mnar")
    frame = data.covariates.copy()
    frame[T] = data.treatment
    frame[Y] = data.outcome
    return data, frame


@pytest.fixture(scope="module")
def files(trauma, tmp_path_factory):
    _, frame = trauma
    d = tmp_path_factory.mktemp("tables")
    csv, parquet = d / "trauma.csv", d / "trauma.parquet"
    frame.to_csv(csv, index=False)
    frame.to_parquet(parquet, row_group_size=777)  # row groups unaligned with the batches
    return {"csv": csv, "parquet": parquet}


@pytest.fixture(scope="module")
def in_memory(trauma):
    return stats_from_data(trauma[0])


# ------------------------------------------------------------------------- compute_stats
@pytest.mark.parametrize("n, p", [(0, 3), (1, 4), (7, 1), (5000, 31), (70_001, 6)])
def test_compute_stats_matches_definition(n, p):
    rng = np.random.default_rng(n + p)
    Z = rng.normal(size=(n, p))
    t = (rng.random(n) < 0.3).astype(np.int64)
    y = rng.normal(size=n)
    got, ref = compute_stats(Z, t, y), reference_stats(Z, t, y)
    assert got.allclose(ref, rtol=1e-12, atol=1e-9)
    assert np.array_equal(got.zz, got.zz.transpose(0, 2, 1))
    # Fortran-ordered designs, float treatments and other dtypes give the same sums
    assert compute_stats(np.asfortranarray(Z), t.astype(float), y.astype(np.float32)).allclose(
        reference_stats(Z, t, y.astype(np.float32).astype(float)), rtol=1e-12, atol=1e-9
    )


def test_compute_stats_one_arm_and_bad_shapes():
    rng = np.random.default_rng(1)
    Z, y = rng.normal(size=(300, 3)), rng.normal(size=300)
    for t in (np.ones(300), np.zeros(300)):
        got = compute_stats(Z, t, y)
        assert got.allclose(reference_stats(Z, t, y))
        assert got.n.sum() == 300
    with pytest.raises(DataValidationError):
        compute_stats(Z, np.ones(299), y)
    with pytest.raises(DataValidationError):
        compute_stats(Z[:, 0], np.ones(300), y)


def test_partial_stats_add_up():
    rng = np.random.default_rng(2)
    Z, t, y = rng.normal(size=(10_000, 5)), rng.integers(0, 2, 10_000), rng.normal(size=10_000)
    cut = 3_333
    parts = compute_stats(Z[:cut], t[:cut], y[:cut]) + compute_stats(Z[cut:], t[cut:], y[cut:])
    assert parts.allclose(compute_stats(Z, t, y))


# ---------------------------------------------------------------- the three paths agree
def test_in_memory_path(trauma, in_memory):
    data, _ = trauma
    Z = np.column_stack([np.ones(data.n), data.X])
    assert in_memory.stats.allclose(reference_stats(Z, data.treatment, data.outcome))
    assert in_memory.feature_names[0] == "intercept"
    assert in_memory.feature_names[1:] == tuple(data.encoder.feature_names)
    assert in_memory.n_rows == data.n == 5000
    assert in_memory.clipped == {}
    assert in_memory.domain == data.domain


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("batch_size", [997, 4093, 1_000_000])
def test_table_matches_memory(trauma, files, in_memory, fmt, batch_size, monkeypatch):
    import privcausal.estimators._stream_io as stream_io

    # CSV blocks of 8 KiB + 1 byte: block, batch and row-group boundaries fall anywhere
    monkeypatch.setattr(stream_io, "_CSV_BLOCK_BYTES", 8193)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClippingWarning)  # nothing to clip: no warning
        got = stats_from_table(files[fmt], domain=trauma[0].domain, treatment=T, outcome=Y, batch_size=batch_size)
    assert_same(got, in_memory)
    assert got.clipped == {}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_missing_values_and_categories_survive_the_round_trip(files, trauma, fmt):
    data, frame = trauma
    got = stats_from_table(files[fmt], domain=data.domain, treatment=T, outcome=Y, batch_size=1234)
    names = list(got.feature_names)
    counts = got.stats.zz[:, 0, :].sum(axis=0)  # sum over records of each design column
    for col in ("gcs", "sbp", "dbp", "hr", "hb"):
        n_missing = int(frame[col].isna().sum())
        assert n_missing > 0
        assert counts[names.index(f"{col}__missing")] == n_missing
    for col, level in (("sex", "M"), ("mechanism", "penetrating"), ("centre", "C07")):
        assert counts[names.index(f"{col}={level}")] == int((frame[col] == level).sum())
    assert got.stats.n[1] == int(frame[T].sum())


def test_batches_of_frames_and_arrow(trauma, in_memory):
    import pyarrow as pa

    data, frame = trauma
    cuts = [0, 1, 1000, 1001, 3777, 5000]
    frames = [frame.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
    assert_same(stats_from_batches(frames, domain=data.domain, treatment=T, outcome=Y), in_memory)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    batches = table.to_batches(max_chunksize=613)
    assert_same(stats_from_batches(batches, domain=data.domain, treatment=T, outcome=Y), in_memory)
    tables = [pa.Table.from_batches(batches[i : i + 3]) for i in range(0, len(batches), 3)]  # chunked columns
    assert_same(stats_from_batches(tables, domain=data.domain, treatment=T, outcome=Y), in_memory)
    with pytest.raises(DataValidationError, match="empty"):
        stats_from_batches([frame.iloc[:0]], domain=data.domain, treatment=T, outcome=Y)


def test_clipping_counted_locally_and_warned_once_without_counts(tmp_path):
    rng = np.random.default_rng(3)
    n = 3000
    frame = pd.DataFrame(
        {
            "age": rng.uniform(10, 110, n).round(1),  # some below 16, some above 100
            "mech": rng.choice(["blunt", "penetrating", "other"], n).astype(object),
            "lactate": rng.uniform(0, 12, n).round(2),
        }
    )
    frame.loc[rng.random(n) < 0.1, "mech"] = np.nan
    frame.loc[rng.random(n) < 0.1, "lactate"] = np.nan
    frame[T] = rng.integers(0, 2, n)
    frame[Y] = rng.uniform(-5, 105, n).round(3)  # outcome beyond its bounds too
    domain = Domain(
        {
            "age": Numeric(16, 100),
            "mech": Categorical(("blunt", "penetrating"), missing=True),  # "other" -> missing
            "lactate": Numeric(0, 10, missing=True),
        },
        OutcomeBounds(0, 100),
    )
    with pytest.warns(ClippingWarning):
        data = from_frame(frame, treatment=T, outcome=Y, domain=domain)
    expected = stats_from_data(data)
    assert set(expected.clipped) == {"age", "mech", "lactate", "outcome"}
    frame.to_csv(tmp_path / "x.csv", index=False)
    frame.to_parquet(tmp_path / "x.parquet")
    for path in (tmp_path / "x.csv", tmp_path / "x.parquet"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = stats_from_table(path, domain=domain, treatment=T, outcome=Y, batch_size=701)
        clip_warnings = [w for w in caught if issubclass(w.category, ClippingWarning)]
        assert len(clip_warnings) == 1
        message = str(clip_warnings[0].message)
        # the warning names the columns and no count (an exact count is a membership test)
        assert "age" in message and "not for publication" in message
        assert not any(str(v) in message for v in expected.clipped.values())
        assert "other" not in message and "110" not in message
        assert got.clipped == expected.clipped
        assert_same(got, expected)


# -------------------------------------------------------------------------------- dask
def test_dask_local_scheduler_uneven_partitions(trauma, in_memory):
    dd = pytest.importorskip("dask.dataframe")
    data, frame = trauma
    ddf = dd.from_pandas(frame, npartitions=7, sort=False)
    got = stats_from_dask(ddf, domain=data.domain, treatment=T, outcome=Y, split_every=3)
    assert_same(got, in_memory)


def test_dask_distributed_cluster_on_loopback(trauma, files, in_memory):
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("dask.distributed")
    data, frame = trauma
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster, distributed.Client(cluster):
        ddf = dd.from_pandas(frame, npartitions=9, sort=False)
        assert_same(stats_from_dask(ddf, domain=data.domain, treatment=T, outcome=Y), in_memory)
        from_file = dd.read_parquet(files["parquet"])
        assert_same(stats_from_dask(from_file, domain=data.domain, treatment=T, outcome=Y), in_memory)
        bad = frame.copy()
        bad[T] = bad[T].astype(float)
        bad.loc[4321, T] = np.nan
        with pytest.raises(DataValidationError, match=f"'{T}' holds missing"):
            stats_from_dask(dd.from_pandas(bad, npartitions=9, sort=False), domain=data.domain, treatment=T, outcome=Y)


def test_dask_missing_gives_a_clear_error(trauma, monkeypatch):
    data, frame = trauma
    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(ImportError, match=r"privcausal\[scale\]"):
        stats_from_dask(frame, domain=data.domain, treatment=T, outcome=Y)


def test_dask_rejects_a_pandas_frame(trauma):
    pytest.importorskip("dask")
    data, frame = trauma
    with pytest.raises(DataTypeError):
        stats_from_dask(frame, domain=data.domain, treatment=T, outcome=Y)


# ------------------------------------------------------------------------------ bad input
def _write(frame: pd.DataFrame, path) -> None:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)


def _raises(exc, path, domain, match, secret=None, **kw):
    with pytest.raises(exc, match=match) as info:
        stats_from_table(path, domain=domain, treatment=T, outcome=Y, batch_size=kw.pop("batch_size", 512), **kw)
    if secret is not None:
        text = "".join(traceback.format_exception(info.value))
        assert secret not in text
        assert info.value.__context__ is None and info.value.__cause__ is None
    return info.value


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_string_in_numeric_column_mid_file(trauma, tmp_path, suffix):
    data, frame = trauma
    bad = frame.copy()
    bad["sbp"] = bad["sbp"].astype(object)
    bad.loc[2500, "sbp"] = "SECRET-VALUE"
    bad.loc[4000, "sbp"] = "unmeasured"
    if suffix == ".parquet":
        bad["sbp"] = bad["sbp"].astype(str)  # a parquet column has one type: text
    path = tmp_path / f"bad{suffix}"
    _write(bad, path)
    _raises(DataTypeError, path, data.domain, r"column 'sbp' is declared numeric but holds non-numeric", "SECRET-VALUE")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_nan_and_non_binary_treatment(trauma, tmp_path, suffix):
    data, frame = trauma
    bad = frame.copy()
    bad[T] = bad[T].astype(float)
    bad.loc[[17, 3001, 4999], T] = np.nan
    bad.loc[2222, T] = 2.0
    path = tmp_path / f"bad{suffix}"
    _write(bad, path)
    err = _raises(DataValidationError, path, data.domain, f"treatment column '{T}' holds missing")
    assert "some entries are neither" in str(err)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_missing_columns(trauma, tmp_path, suffix):
    data, frame = trauma
    path = tmp_path / f"nohb{suffix}"
    _write(frame.drop(columns=["hb"]), path)
    _raises(DataValidationError, path, data.domain, r"covariate columns \['hb'\] are not in")
    path = tmp_path / f"noy{suffix}"
    _write(frame.drop(columns=[Y]), path)
    _raises(DataValidationError, path, data.domain, f"outcome column '{Y}' is not in")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_domain_violations_are_all_counted(trauma, tmp_path, suffix):
    data, frame = trauma
    bad = frame.copy()
    bad["age"] = bad["age"].astype(float)
    bad.loc[[10, 4900], "age"] = np.inf  # infinite
    bad.loc[2000, "age"] = np.nan  # age may not be missing
    bad.loc[[5, 6, 7], "sex"] = "U"  # an undeclared category, missing not allowed
    bad.loc[3, Y] = 0.5  # the outcome is binary
    path = tmp_path / f"bad{suffix}"
    _write(bad, path)
    err = _raises(DomainError, path, data.domain, "column 'age' holds infinite values")
    assert "column 'age' holds missing values" in str(err)
    assert "column 'sex' holds values outside its declared categories" in str(err)
    assert f"some entries of outcome column '{Y}' are not 0/1" in str(err)


def test_malformed_csv_and_files(trauma, files, tmp_path):
    data, frame = trauma
    text = files["csv"].read_text().splitlines()
    text.insert(3000, text[3000] + ",SECRET,extra")
    path = tmp_path / "malformed.csv"
    path.write_text("\n".join(text) + "\n")
    _raises(DataValidationError, path, data.domain, "could not parse CSV file", "SECRET")
    with pytest.raises(DataNotFoundError):
        stats_from_table(tmp_path / "absent.csv", domain=data.domain, treatment=T, outcome=Y)
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(DataValidationError, match="unsupported file type"):
        stats_from_table(tmp_path / "x.xlsx", domain=data.domain, treatment=T, outcome=Y)
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(DataValidationError, match="as parquet"):
        stats_from_table(tmp_path / "junk.parquet", domain=data.domain, treatment=T, outcome=Y)
    with pytest.raises(DomainError, match="no declared bounds"):
        stats_from_table(files["csv"], domain=data.domain, treatment=T, outcome=Y, covariates=["age", "iss"])
    header_only = tmp_path / "header.csv"
    frame.iloc[:0].to_csv(header_only, index=False)
    with pytest.raises(DataValidationError, match="empty"):
        stats_from_table(header_only, domain=data.domain, treatment=T, outcome=Y)
    with pytest.raises(DataValidationError, match="batch_size"):
        stats_from_table(files["csv"], domain=data.domain, treatment=T, outcome=Y, batch_size=0)


def test_directory_of_parquet_files(trauma, tmp_path, in_memory):
    data, frame = trauma
    for i, (a, b) in enumerate([(0, 1700), (1700, 1701), (1701, 5000)]):
        frame.iloc[a:b].to_parquet(tmp_path / f"part-{i}.parquet")
    assert_same(stats_from_table(tmp_path, domain=data.domain, treatment=T, outcome=Y, batch_size=999), in_memory)


# ------------------------------------------------------------------------------- memory
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_streaming_memory_does_not_grow_with_rows(tmp_path, monkeypatch, suffix):
    """Streaming 4x more rows takes no more memory: numpy and pandas allocations (traced by
    tracemalloc) and arrow's buffers (sampled at each batch) stay those of a few batches."""
    import pyarrow as pa

    import privcausal.estimators._stream_batch as stream_batch
    import privcausal.estimators._stream_io as stream_io

    arrow_bytes: list[int] = []
    partial_stats = stream_batch.partial_stats

    def sampling_partial(*args, **kwargs):
        arrow_bytes.append(pa.total_allocated_bytes())
        return partial_stats(*args, **kwargs)

    monkeypatch.setattr(stream_batch, "partial_stats", sampling_partial)
    # CSV read-ahead is a few dozen blocks: about 2 MiB here, less than the smaller file
    monkeypatch.setattr(stream_io, "_CSV_BLOCK_BYTES", 1 << 16)
    rng = np.random.default_rng(4)
    domain = Domain({f"x{j}": Numeric(0, 1) for j in range(8)}, OutcomeBounds(0, 1))
    traced, arrow = [], []
    for n in (20_000, 80_000):
        frame = pd.DataFrame(rng.random((n, 8)), columns=[f"x{j}" for j in range(8)])
        frame[T], frame[Y] = rng.integers(0, 2, n), rng.random(n)
        path = tmp_path / f"m{n}{suffix}"
        if suffix == ".csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, row_group_size=4000)
        del frame
        arrow_bytes.clear()
        base = pa.total_allocated_bytes()
        tracemalloc.start()
        stats_from_table(path, domain=domain, treatment=T, outcome=Y, batch_size=2000)
        traced.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        arrow.append(max(arrow_bytes) - base)
    # the file of 80,000 rows holds 6.4 MB of float64: keeping it would show here
    assert traced[1] < 1.3 * traced[0] + 200_000
    assert arrow[1] < 1.3 * arrow[0] + 200_000

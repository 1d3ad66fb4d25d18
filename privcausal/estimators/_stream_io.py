"""Record batches from files: parquet through ``ParquetFile.iter_batches``, CSV through
pyarrow's streaming CSV reader, with bounded memory either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator

from privcausal.estimators._stream_batch import Partial, Plan, check_present, scan
from privcausal.domain import Numeric
from privcausal.exceptions import DataNotFoundError, DataValidationError

__all__ = ["table_format", "scan_file"]

# pandas' default missing-value markers (pandas.read_csv), so CSV files stream as pandas reads them.
_NA_VALUES = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]
_PARQUET_SUFFIXES = (".parquet", ".pq")
_CSV_BLOCK_BYTES = 1 << 20  # bytes per CSV block (see _csv_block_bytes)
_CSV_SUFFIXES = (".csv", ".txt", ".gz", ".bz2", ".zst")


def table_format(p: Path, format: str | None) -> str:
    if format is not None:
        if format not in ("csv", "parquet"):
            raise DataValidationError("format must be 'csv' or 'parquet'")
        return format
    if p.is_dir():
        return "parquet"
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] in _PARQUET_SUFFIXES:
        return "parquet"
    if suffixes and suffixes[-1] in _CSV_SUFFIXES:
        return "csv"
    raise DataValidationError(f"unsupported file type '{p.suffix}': use .csv or .parquet (or pass format=)")


def _parquet_files(p: Path) -> list[Path]:
    if not p.is_dir():
        return [p]
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in _PARQUET_SUFFIXES)
    if not files:
        raise DataNotFoundError(f"no parquet files (*.parquet, *.pq) in directory {p}")
    return files


def _parquet_batches(plan: Plan, files: list[Path], batch_size: int) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for f in files:
        # Arrow's messages may quote the file's contents: they are dropped, and the errors
        # below are raised outside the ``except`` blocks so that not even ``__context__``
        # keeps them.
        pf = None
        try:
            # pre_buffer=True (pyarrow's default) caches every row group's column chunks read
            # so far until the reader is done: memory then grows to the file's size.
            pf = pq.ParquetFile(f, pre_buffer=False)
        except (pa.ArrowException, OSError):
            pass
        if pf is None:
            raise DataValidationError(f"could not read {f.name} as parquet (damaged, or not a parquet file)")
        check_present(plan, pf.schema_arrow.names, f"parquet file {f.name}")
        with pf:
            it = pf.iter_batches(batch_size=batch_size, columns=plan.columns, use_threads=True)
            while True:
                failed = False
                try:
                    batch = next(it)
                except StopIteration:
                    break
                except pa.ArrowException:
                    failed = True
                if failed:
                    raise DataValidationError(f"could not read parquet file {f.name} (a damaged page?)")
                yield batch


def _csv_block_bytes(p: Path) -> int:
    """Bytes per CSV block: ``_CSV_BLOCK_BYTES`` (1 MiB), or room for 8 rows if rows are longer
    (judged from the file's first MiB).

    Small blocks keep the reader's memory small: pyarrow reads a bounded number of blocks
    (a few dozen) ahead of the parser in a background thread, so its read-ahead buffer is
    counted in blocks, and a block sized to a whole batch made it hundreds of MB. Batches are
    assembled from several blocks by :func:`_rebatch` instead.
    """
    import pyarrow as pa

    with pa.input_stream(str(p)) as fh:  # decompresses .gz, .bz2, .zst by the extension
        head = fh.read(1 << 20)
    per_row = len(head) / max(1, head.count(b"\n"))
    return int(max(_CSV_BLOCK_BYTES, 8 * per_row))


def _rebatch(batches: Iterable[Any], rows: int) -> Iterator[Any]:
    """Group small record batches into tables of about ``rows`` rows (at least ``rows``, or the
    rest at the end)."""
    import pyarrow as pa

    pending: list[Any] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(pending)
            pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def _csv_batches(plan: Plan, p: Path, *, numbers_as_text: bool) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    read = pacsv.ReadOptions(block_size=_csv_block_bytes(p), use_threads=True)
    # Arrow's messages quote the offending text: they are dropped, and the errors below are
    # raised outside the ``except`` blocks so that not even ``__context__`` keeps them.
    names = None
    try:
        with pacsv.open_csv(str(p), read_options=read) as head:
            names = head.schema.names
    except pa.ArrowException:
        pass
    if names is None:  # the first block does not parse
        raise DataValidationError(_malformed_csv(p))
    check_present(plan, names, f"CSV file {p.name}")
    number = pa.string() if numbers_as_text else pa.float64()
    types = {c: number for c in (plan.treatment, plan.outcome)}
    for name, spec in plan.domain.covariates.items():
        types[name] = number if isinstance(spec, Numeric) else pa.dictionary(pa.int32(), pa.string())
    convert = pacsv.ConvertOptions(
        include_columns=plan.columns,
        column_types=types,
        null_values=_NA_VALUES,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    reader = None
    try:
        reader = pacsv.open_csv(str(p), read_options=read, convert_options=convert)
    except pa.ArrowInvalid:
        pass
    if reader is None:
        raise _CsvConversionError
    with reader:
        while True:
            failed = False
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid:
                failed = True
            if failed:
                raise _CsvConversionError
            yield batch


class _CsvConversionError(Exception):
    """Arrow could not parse a block (a non-number in a numeric column, or a malformed row)."""


def _prefetch(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Yield ``items``, produced up to ``depth`` ahead by a background thread.

    Decoding the next batch (pyarrow, which releases the GIL) then overlaps with validating,
    encoding and summing this one. An exception of the producer is raised here, in order; if
    the consumer stops early, the producer is told to stop and is joined.
    """
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((True, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((True, done))
        except BaseException as exc:  # handed to the consumer, raised there
            q.put((False, exc))

    worker = threading.Thread(target=produce, name="privcausal-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(0.05)


def scan_file(plan: Plan, p: Path, fmt: str, batch_size: int) -> Partial:
    if fmt == "parquet":
        return scan(plan, _prefetch(_parquet_batches(plan, _parquet_files(p), batch_size)))
    total = None
    try:
        total = scan(plan, _rebatch(_csv_batches(plan, p, numbers_as_text=False), batch_size))
    except _CsvConversionError:
        pass
    if total is None:
        # A numeric column holds text somewhere. Read the numbers as text instead, so the
        # entries that are not numbers can be counted per column (slower, but only here).
        try:
            total = scan(plan, _rebatch(_csv_batches(plan, p, numbers_as_text=True), batch_size))
        except _CsvConversionError:
            pass
    if total is None:
        raise DataValidationError(_malformed_csv(p))
    return total


def _malformed_csv(p: Path) -> str:
    return f"could not parse CSV file {p.name}: a malformed row (wrong number of fields, or an unclosed quote)?"


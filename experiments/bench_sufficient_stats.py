"""Throughput and memory of the per-arm sufficient statistics.

Measures, on one design of ``n`` rows and ``d`` columns (intercept included):

(a) numpy's ``X.T @ X`` on the in-memory design: the floor (one Gram matrix, no arms, no y);
(b) :func:`privcausal.estimators.sufficient.compute_stats` on the same design, treatment and
    outcome: both arms' ``sum z z'``, ``sum z y``, ``sum y^2`` and counts;
(c) :func:`privcausal.estimators.streaming.stats_from_table` streaming a parquet file of the
    raw covariates (written first, not timed): read, clip to the domain, encode, sum;

and the peak resident memory of (c) at two sizes of ``n`` (a quarter of ``n`` and ``n``), each in
a fresh subprocess (``VmHWM``, the peak resident set size of the process), to show it does not
grow with ``n``.

Usage::

    python experiments/bench_sufficient_stats.py                 # n = 10 million, d = 30
    python experiments/bench_sufficient_stats.py --n 1000000     # smaller, quicker

Prints a table and writes ``experiments/bench_sufficient_stats.md`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROW_GROUP = 262_144  # rows per parquet row group in the written files
CHUNK = 1_000_000  # rows generated at a time when writing files


def domain_for(d: int):
    from privcausal.domain import Domain, Numeric, OutcomeBounds

    return Domain({f"x{j:02d}": Numeric(0, 100) for j in range(1, d)}, OutcomeBounds(0, 1, binary=True))


def chunk_data(seed: int, start: int, stop: int, d: int):
    """Raw covariates (n x (d-1), in [0, 100]), treatment and outcome of rows start..stop."""
    rng = np.random.default_rng([seed, start])
    m = stop - start
    raw = np.round(rng.uniform(0, 100, size=(m, d - 1)), 1)
    t = (rng.random(m) < 0.4).astype(np.int8)
    y = (rng.random(m) < 0.2).astype(np.float64)
    return raw, t, y


def design(raw: np.ndarray) -> np.ndarray:
    """Intercept + the domain encoding of raw covariates in [0, 100]: (x - 50) / 50."""
    Z = np.empty((len(raw), raw.shape[1] + 1))
    Z[:, 0] = 1.0
    np.subtract(raw, 50.0, out=Z[:, 1:])
    Z[:, 1:] /= 50.0
    return Z


def write_parquet(path: Path, n: int, d: int, seed: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [f"x{j:02d}" for j in range(1, d)]
    writer = None
    try:
        for start in range(0, n, CHUNK):
            raw, t, y = chunk_data(seed, start, min(n, start + CHUNK), d)
            cols = [pa.array(raw[:, j]) for j in range(d - 1)] + [pa.array(t), pa.array(y)]
            table = pa.Table.from_arrays(cols, names=[*names, "treated", "y"])
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=ROW_GROUP)
    finally:
        if writer is not None:
            writer.close()


def best_time(fn, repeats: int) -> tuple[float, float, object]:
    """Best wall-clock seconds, the CPU seconds (all threads) of that run, and fn's result."""
    best, cpu, out = float("inf"), float("nan"), None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, used = time.perf_counter() - t0, time.process_time() - c0
        if wall < best:
            best, cpu = wall, used
    return best, cpu, out


def write_csv(path: Path, n: int, d: int, seed: int) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"x{j:02d}" for j in range(1, d)]
    with pacsv.CSVWriter(path, pa.schema([*(pa.field(c, pa.float64()) for c in names), ("treated", pa.int8()), ("y", pa.float64())])) as w:
        for start in range(0, n, CHUNK):
            raw, t, y = chunk_data(seed, start, min(n, start + CHUNK), d)
            cols = [pa.array(raw[:, j]) for j in range(d - 1)] + [pa.array(t), pa.array(y)]
            w.write_table(pa.Table.from_arrays(cols, names=[*names, "treated", "y"]))


def load() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB.

    On Linux, ``VmHWM`` of ``/proc/self/status``: the high-water mark of this process's own
    address space. ``getrusage(RUSAGE_SELF).ru_maxrss`` would do elsewhere, but on Linux a
    child inherits its parent's figure through fork and exec, so it would report the parent's
    peak (which holds the in-memory design) instead of the child's.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def child_stream(path: str, d: int, batch_size: int) -> None:
    """Run in a fresh process: stream ``path`` and print peak memory as JSON."""
    from privcausal.estimators.streaming import stats_from_table

    base = peak_rss_mib()
    t0 = time.perf_counter()
    res = stats_from_table(path, domain=domain_for(d), treatment="treated", outcome="y", batch_size=batch_size)
    secs = time.perf_counter() - t0
    print(json.dumps({"n": res.n_rows, "base_mib": base, "peak_mib": peak_rss_mib(), "seconds": secs}))


def read_decode(path: Path, batch_size: int) -> None:
    """The floor of (c): pyarrow reads the file's batches and turns every column into numpy."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(path, pre_buffer=False) as pf:
        for batch in pf.iter_batches(batch_size=batch_size, use_threads=True):
            for col in batch.columns:
                col.to_numpy(zero_copy_only=False)


def measure_memory(path: Path, d: int, batch_size: int) -> dict:
    cmd = [sys.executable, __file__, "--child-stream", str(path), "--d", str(d), "--batch-size", str(batch_size)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def in_memory(n: int, d: int, args: argparse.Namespace, report) -> object:
    """Time (a), (b), (a1), (b1) on the same rows in memory; return (b)'s statistics."""
    from threadpoolctl import threadpool_limits

    from privcausal.estimators.sufficient import compute_stats

    Z = np.empty((n, d))
    t = np.empty(n, dtype=np.int8)
    y = np.empty(n)
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        raw, t[start:stop], y[start:stop] = chunk_data(args.seed, start, stop, d)
        Z[start:stop] = design(raw)
    wall, cpu, _ = best_time(lambda: Z.T @ Z, args.repeats)
    report("(a) numpy X.T @ X", wall, cpu)
    wall, cpu, stats = best_time(lambda: compute_stats(Z, t, y), args.repeats)
    report("(b) compute_stats(Z, t, y)", wall, cpu)
    with threadpool_limits(limits=1, user_api="blas"):
        wall, cpu, _ = best_time(lambda: Z.T @ Z, args.repeats)
        report("(a1) numpy X.T @ X, 1 BLAS thread", wall, cpu)
        wall, cpu, _ = best_time(lambda: compute_stats(Z, t, y), args.repeats)
        report("(b1) compute_stats, 1 BLAS thread", wall, cpu)
        wall, cpu, _ = best_time(lambda: copy_blocks(Z), args.repeats)
        report("(g1) copy of the rows alone, block by block", wall, cpu)
    return stats


def copy_blocks(Z: np.ndarray) -> None:
    """The floor of any per-arm gather on one thread: every row copied once, in order, into a
    reused cache-sized buffer (a gather by arm moves the same bytes, in a worse order)."""
    from privcausal.estimators.sufficient import _block_rows

    rows = _block_rows(Z.shape[1])
    buf = np.empty((rows, Z.shape[1]))
    for start in range(0, len(Z), rows):
        block = Z[start:start + rows]
        np.copyto(buf[:len(block)], block)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000_000, help="rows (default 10 million)")
    ap.add_argument("--d", type=int, default=30, help="design columns, intercept included (default 30)")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats, best kept (default 3)")
    ap.add_argument("--stream-repeats", type=int, default=2, help="repeats of the streaming timing (default 2)")
    ap.add_argument("--batch-size", type=int, default=None, help="rows per streamed batch (default: the library's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--csv", action="store_true", help="also stream the same rows from a CSV file (written first, not timed)")
    ap.add_argument("--tmpdir", default=None, help="where to write the parquet files (default: system temp)")
    ap.add_argument("--out", default=str(HERE / "bench_sufficient_stats.md"), help="markdown report path")
    ap.add_argument("--child-stream", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    from privcausal.estimators.streaming import DEFAULT_BATCH_ROWS

    batch_size = args.batch_size or DEFAULT_BATCH_ROWS
    if args.child_stream:
        child_stream(args.child_stream, args.d, batch_size)
        return

    import pyarrow

    from privcausal.estimators.streaming import stats_from_table

    n, d = args.n, args.d
    if d < 2:
        ap.error("--d must be at least 2 (intercept + one covariate)")
    load_start = load()
    print(f"n = {n:,}, d = {d} (intercept included), float64; {os.cpu_count()} CPUs; load average {load_start}", flush=True)
    rows: list[tuple[str, float, float]] = []  # (label, wall seconds, cpu seconds)

    def report(label: str, wall: float, cpu: float) -> None:
        rows.append((label, wall, cpu))
        ratio = f"  ({wall / rows[0][1]:.2f} x (a))" if rows else ""
        print(f"{label:<44} {wall:8.3f} s  {n / wall / 1e6:7.2f} M rows/s  cpu {cpu:7.3f} s{ratio}", flush=True)

    stream = lambda path: stats_from_table(  # noqa: E731
        path, domain=domain_for(d), treatment="treated", outcome="y", batch_size=batch_size
    )
    with tempfile.TemporaryDirectory(dir=args.tmpdir, prefix="bench_ss_") as tmp:
        tmp = Path(tmp)
        big = tmp / f"design_{n}.parquet"
        t0 = time.perf_counter()
        write_parquet(big, n, d, args.seed)
        print(f"wrote {big.name} ({big.stat().st_size / 2**20:,.0f} MiB) in {time.perf_counter() - t0:.1f} s (not timed)", flush=True)

        stats_mem = in_memory(n, d, args, report)  # the design is freed on return
        wall, cpu, _ = best_time(lambda: read_decode(big, batch_size), args.stream_repeats)
        report("(c0) pyarrow: read and decode the parquet alone", wall, cpu)
        wall, cpu, res = best_time(lambda: stream(big), args.stream_repeats)
        report("(c) stats_from_table(parquet)", wall, cpu)
        same = stats_mem.allclose(res.stats, rtol=1e-9, atol=1e-6)
        if args.csv:
            csv = tmp / f"design_{n}.csv"
            t0 = time.perf_counter()
            write_csv(csv, n, d, args.seed)
            print(f"wrote {csv.name} ({csv.stat().st_size / 2**20:,.0f} MiB) in {time.perf_counter() - t0:.1f} s (not timed)", flush=True)
            wall, cpu, res_csv = best_time(lambda: stream(csv), args.stream_repeats)
            report("(c') stats_from_table(csv)", wall, cpu)
            same = same and stats_mem.allclose(res_csv.stats, rtol=1e-9, atol=1e-6)
            csv.unlink()
        print(f"in-memory and streamed statistics agree: {same}", flush=True)

        mem = []
        if not args.no_memory:
            small_n = max(1, n // 4)
            small = tmp / f"design_{small_n}.parquet"
            write_parquet(small, small_n, d, args.seed)
            for path in (small, big):
                m = measure_memory(path, d, batch_size)
                mem.append(m)
                print(
                    f"streaming peak RSS, n = {m['n']:>12,}: {m['peak_mib']:8.0f} MiB "
                    f"(after imports {m['base_mib']:.0f} MiB; {m['seconds']:.1f} s)",
                    flush=True,
                )
    load_end = load()

    cmd = f"python experiments/bench_sufficient_stats.py --n {n}" + (f" --d {d}" if d != 30 else "") + (" --csv" if args.csv else "")
    a = rows[0][1]
    lines = [
        "# Sufficient statistics: throughput and memory",
        "",
        f"Command: `{cmd}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"numpy {np.__version__}, pyarrow {pyarrow.__version__}; load average (1/5/15 min) "
        f"{load_start} at the start and {load_end} at the end. Design: n = {n:,} rows, d = {d} "
        f"float64 columns (intercept + {d - 1} covariates), 40 % treated. Seconds are the best of "
        f"{args.repeats} runs ({args.stream_repeats} for streaming); CPU seconds are those of that "
        f"run, all threads together. The parquet file ({ROW_GROUP:,}-row row groups, snappy) is "
        f"written before timing; batches of {batch_size:,} rows; streaming runs with 1 BLAS thread "
        "(its default).",
        "",
        "| path | seconds | M rows/s | CPU seconds | seconds / (a) |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {label} | {w:.3f} | {n / w / 1e6:.2f} | {c:.3f} | {w / a:.2f} |" for label, w, c in rows]
    by = {label.split()[0]: w for label, w, _ in rows}
    lines += [
        "",
        "**Ratios (the issue's targets: 1.2 for the statistics, 2 for streaming):** "
        f"(b) / (a), BLAS's default threads ({os.cpu_count()}): {by['(b)'] / by['(a)']:.2f}; "
        f"(b1) / (a1), one thread: {by['(b1)'] / by['(a1)']:.2f}; "
        f"(c) / (c0), streaming against reading and decoding alone: {by['(c)'] / by['(c0)']:.2f}.",
        "",
        f"Why one thread stays above 1.2: copying the rows once, in order, costs (g1) / (a1) = "
        f"{by['(g1)'] / by['(a1)']:.2f} of the Gram by itself, and a per-arm `syrk` needs each "
        "arm's rows contiguous, so an interleaved design pays at least (a1) + (g1) on one thread "
        "(1.2 would need the copy and the product to overlap).",
    ]
    lines += [
        "",
        "(a) is one Gram matrix (no arms, no outcome); (b) is both arms' `sum zz'`, `sum zy`, "
        "`sum y^2` and counts (rows split over the BLAS thread count, one BLAS thread each); "
        "(c0) is pyarrow reading the file's batches and converting every column to numpy, "
        "nothing else; (c) reads, validates, clips to the domain, encodes "
        "(`DesignEncoder`) and sums. "
        f"In-memory and streamed statistics agree to floating-point tolerance: {same}.",
    ]
    if mem:
        lines += [
            "",
            "Peak resident memory of the streaming path, each size in a fresh process "
            "(`VmHWM`, the process's peak resident set, interpreter and imports included):",
            "",
            "| rows | peak RSS (MiB) | RSS after imports (MiB) | seconds |",
            "|---:|---:|---:|---:|",
        ]
        lines += [f"| {m['n']:,} | {m['peak_mib']:.0f} | {m['base_mib']:.0f} | {m['seconds']:.1f} |" for m in mem]
        lines += [
            "",
            f"For comparison, the design alone in memory is {n * d * 8 / 2**20:,.0f} MiB at n = {n:,}.",
        ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

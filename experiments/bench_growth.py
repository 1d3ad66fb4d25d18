"""Where the work grows: fitted exponents of each benchmark's time in n, K and d.

For each computation the time is measured at four sizes of one variable with the others
fixed, and the exponent b of ``time ~ size^b`` fitted by least squares on the log-log
points, beside the ideal (1 in the rows n and the models K; for the Gram matrix 2 in the
columns d by its flop count, 1 while it is memory-bound) and, for the sufficient statistics,
beside numpy's ``X.T @ X`` measured on the same inputs in the same run. An exponent well above
the ideal marks work that grows faster than it should (a quadratic step, a copy per model);
below it, fixed costs still dominate at these sizes.

Computations (best of ``--repeats`` at each size):

* ``compute_stats``: per-arm sufficient statistics, n rows x d columns (in memory);
* ``train_many``: DP-SGD MLPs (16 hidden units, Poisson batches of 1 % of n, one epoch), K
  models in one vectorised pass (the attacks' reference models, the audits' trainings);
* ``attack scoring``: offline LiRA and offline RMIA on n candidates against n population
  records with K reference models (statistics given);
* ``hidden-state audit``: ``audit_dpsgd`` end to end, K = 2 x trials logistic trainings of
  1000 records, 100 full-batch steps, and the bound.

Run:  python experiments/bench_growth.py [--repeats 2] [--scale 1.0]
Writes experiments/bench_growth.md. The load average is recorded before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent


def best(fn: Callable[[], object], repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def exponent(sizes: list[float], secs: list[float]) -> float:
    return float(np.polyfit(np.log(sizes), np.log(secs), 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every size (quick runs: 0.25)")
    ap.add_argument("--out", default=str(HERE / "bench_growth.md"))
    args = ap.parse_args()
    import torch

    from attacks.lira import lira_offline
    from attacks.rmia import rmia_scores
    from audits.dpsgd.multi_run import audit_dpsgd
    from audits.dpsgd.registry import registry_features
    from privcausal.data import simulate_trauma
    from privcausal.estimators.sufficient import compute_stats
    from privcausal.training import encode, train_many

    s = args.scale
    R = args.repeats
    rng = np.random.default_rng(0)
    load0 = os.getloadavg()
    rows: list[tuple[str, str, list[int], list[float], str, list[float] | None]] = []

    # ---- sufficient statistics: n and d, beside X.T @ X
    def stats_case(n: int, d: int) -> tuple[float, float]:
        Z = rng.standard_normal((n, d))
        Z[:, 0] = 1.0
        t = (rng.random(n) < 0.4).astype(float)
        y = rng.standard_normal(n)
        return best(lambda: compute_stats(Z, t, y), R), best(lambda: Z.T @ Z, R)

    ns = [int(s * v) for v in (250_000, 500_000, 1_000_000, 2_000_000)]
    pairs = [stats_case(n, 30) for n in ns]
    rows.append(("compute_stats (d = 30)", "n", ns, [p[0] for p in pairs], "1", [p[1] for p in pairs]))
    ds = [10, 20, 40, 80]
    pairs = [stats_case(int(s * 500_000), d) for d in ds]
    rows.append((f"compute_stats (n = {int(s * 500_000)})", "d", ds, [p[0] for p in pairs],
                 "2 (flops; 1 while memory-bound)", [p[1] for p in pairs]))
    print("stats done", flush=True)

    # ---- train_many: n, K, d
    data = simulate_trauma(int(s * 100_000), random_state=0)
    enc = encode(data, include_treatment=True)
    X0, y0 = np.asarray(enc.X, dtype=np.float64), np.asarray(enc.y, dtype=np.float64)

    def train_case(n: int, K: int, d: int) -> float:
        X = np.tile(X0[:n], (1, -(-d // X0.shape[1])))[:, :d].copy()
        y = y0[:n].copy()
        mask = rng.random((K, n)) < 0.5

        def go():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                train_many(X, y, mask, architecture="mlp", hidden=(16,), loss="bce",
                           noise_multiplier=1.0, max_grad_norm=1.0, sampling_rate=0.01, steps=100,
                           lr=0.05, random_state=1)
        return best(go, R)

    d0 = X0.shape[1]
    nt = [int(s * v) for v in (12_500, 25_000, 50_000, 100_000)]
    rows.append(("train_many (K = 16, MLP 16 hidden, 100 steps of q = 1 %)", "n", nt,
                 [train_case(n, 16, d0) for n in nt], "1", None))
    Ks = [8, 16, 32, 64]
    rows.append((f"train_many (n = {nt[1]})", "K", Ks, [train_case(nt[1], K, d0) for K in Ks], "1", None))
    dt = [13, 26, 52, 104]
    rows.append((f"train_many (n = {nt[1]}, K = 16)", "d", dt, [train_case(nt[1], 16, d) for d in dt],
                 "<= 1", None))
    print("training done", flush=True)

    # ---- attack scoring: candidates n and models K
    def score_case(n: int, K: int) -> float:
        px, pz = rng.uniform(0.05, 0.95, n), rng.uniform(0.05, 0.95, n)
        rx, rz = rng.uniform(0.05, 0.95, (K, n)), rng.uniform(0.05, 0.95, (K, n))
        phi, ref = rng.standard_normal(n), rng.standard_normal((K, n))

        def go():
            lira_offline(phi, ref)
            rmia_scores(px, rx, pz, rz, offline_a=0.3)
        return best(go, R)

    nc = [int(s * v) for v in (12_500, 25_000, 50_000, 100_000)]
    rows.append(("attack scoring (K = 64; offline LiRA + RMIA)", "n", nc,
                 [score_case(n, 64) for n in nc], "1 (RMIA: n log n)", None))
    rows.append((f"attack scoring (n = {nc[-1]})", "K", Ks, [score_case(nc[-1], K) for K in Ks], "1", None))
    print("scoring done", flush=True)

    # ---- hidden-state audit end to end: trials
    Xa, ya = registry_features(1000, np.random.default_rng(1))

    def audit_case(trials: int) -> float:
        return best(lambda: audit_dpsgd(Xa, ya, threat="hidden-state", trials=trials, epsilon=4.0,
                                        steps=100, lr=0.002, random_state=2), 1)

    tr = [max(10, int(s * v)) for v in (250, 500, 1000, 2000)]
    rows.append(("hidden-state audit (logistic, 1000 records, 100 steps)", "K = 2 x trials",
                 [2 * v for v in tr], [audit_case(v) for v in tr], "1", None))
    load1 = os.getloadavg()

    lines = [
        "# Where the work grows", "",
        f"Command: `python experiments/bench_growth.py --repeats {R} --scale {s:g}`", "",
        f"Machine: {os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"Python {platform.python_version()}; load average at start {tuple(round(x, 2) for x in load0)}, "
        f"at the end {tuple(round(x, 2) for x in load1)} ({time.strftime('%Y-%m-%d %H:%M')}).", "",
        "Exponent b of time ~ size^b, least squares on log-log over the four sizes; best of "
        f"{R} at each size (the audit: one run).", "",
        "| computation | grows in | sizes | seconds | fitted b | ideal | numpy `X.T @ X` seconds | its b |",
        "|---|---|---|---|---:|---|---|---:|",
    ]
    for name, var, sizes, secs, ideal, base in rows:
        b_txt = "" if base is None else " / ".join(f"{v:.3g}" for v in base)
        b_exp = "" if base is None else f"{exponent(sizes, base):.2f}"
        lines.append(f"| {name} | {var} | {' / '.join(f'{v:,}' for v in sizes)} | "
                     f"{' / '.join(f'{v:.3g}' for v in secs)} | {exponent(sizes, secs):.2f} | {ideal} | "
                     f"{b_txt} | {b_exp} |")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()

"""Do the private estimators' 95 % intervals cover at n = 20,000? (issue #11's target: >= 93 %
of 200 repetitions at epsilon 1 and 4, for every private estimator.)

Each repetition simulates a new registry of 20,000 patients (``simulate_trauma``, seeds 20000
onward, apart from every other experiment's) and fits every private estimator at epsilon 1 and
4 with its own noise seed; the target is the sample ATE (mean of mu1 - mu0). Prints and writes
coverage with its binomial 95 % interval (Wilson), bias, MAE and mean width.

Usage::

    OMP_NUM_THREADS=1 python experiments/coverage_20k.py [--reps 200]

Writes ``coverage_20k.md`` beside this file.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

import numpy as np

from privcausal.data import simulate_trauma
from privcausal.estimators import make_estimator

HERE = Path(__file__).resolve().parent
NAMES = ("dim", "regression", "ipw", "aipw", "ipw-rep", "aipw-rep")
EPSILONS = (1.0, 4.0)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return c - h, c + h


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=HERE / "coverage_20k.md")
    ap.add_argument("--only", default=None, help="comma-separated estimator names (default: all)")
    args = ap.parse_args()
    names = NAMES if args.only is None else tuple(args.only.split(","))
    warnings.simplefilter("ignore")
    t0 = time.time()
    res: dict[tuple[str, float], list[tuple[float, bool, float]]] = {}
    secs: dict[str, float] = {}
    for r in range(args.reps):
        d = simulate_trauma(args.n, random_state=20_000 + r)
        truth = float(d.true_ate)
        for name in names:
            for eps in EPSILONS:
                t = time.perf_counter()
                est = make_estimator(name, epsilon=eps, delta=1e-6, random_state=r).fit(d)
                secs[name] = secs.get(name, 0.0) + time.perf_counter() - t
                lo, hi = est.ate_interval(0.05)
                res.setdefault((name, eps), []).append((est.ate_ - truth, lo <= truth <= hi, hi - lo))
        if (r + 1) % 10 == 0:
            print(f"{r + 1} repetitions, {time.time() - t0:.0f} s", flush=True)
    lines = [
        f"# 95 % interval coverage at n = {args.n:,}, {args.reps} registries",
        "",
        f"`OMP_NUM_THREADS=1 python experiments/coverage_20k.py --reps {args.reps}"
        + (f" --only {args.only} --out experiments/{args.out.name}" if args.only else "") + "` "
        f"({(time.time() - t0) / 60:.0f} min). One new registry (`simulate_trauma`, seeds 20000 + r) "
        "per repetition; target the sample ATE; delta = 1e-6; the issue's target is coverage >= 0.93. "
        "`dim` is the unadjusted difference in means (for trials): under the registry's confounding its "
        "interval covers the wrong quantity, and says so.",
        "",
        "| estimator | epsilon | coverage | 95 % interval of the coverage | bias | MAE | width | s a fit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (name, eps), rows in res.items():
        a = np.array(rows, dtype=float)
        k = int(a[:, 1].sum())
        lo, hi = wilson(k, len(a))
        lines.append(f"| {name} | {eps:g} | {k / len(a):.3f} | [{lo:.3f}, {hi:.3f}] | {a[:, 0].mean():+.4f} | "
                     f"{np.abs(a[:, 0]).mean():.4f} | {a[:, 2].mean():.4f} | "
                     f"{secs[name] / (len(EPSILONS) * args.reps):.2f} |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Interval bootstraps: the exact lattice samplers against SimulationNoise, side by side.

The private regression's and difference in means' intervals rerun the release on simulated
statistics (1,000 replicates by default). They drew each replicate's noise with the exact
integer samplers that releases use; ``SimulationNoise`` draws the same distributions with
numpy's vectorised samplers. This script fits the private regression (secure noise, as a user
would) on the simulated registry with each, in one run, and prints wall times, their ratio, and
the two intervals (they differ only by the bootstrap's randomness).

Usage::

    OMP_NUM_THREADS=1 python experiments/bench_bootstrap_noise.py [--n 20000] [--repeats 3]

Writes ``bench_bootstrap_noise.md`` beside this file.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

from privcausal.data import simulate_trauma
from privcausal.estimators import make_estimator, regression_bootstrap
from privcausal.privacy.random import NoiseSource, SimulationNoise

HERE = Path(__file__).resolve().parent


def fit(data, noise_cls) -> tuple[float, tuple[float, float]]:
    regression_bootstrap.SimulationNoise = noise_cls  # what the bootstrap draws its noise with
    t = time.perf_counter()
    est = make_estimator("regression", epsilon=4.0, delta=1e-6).fit(data)
    return time.perf_counter() - t, est.ate_interval(0.05)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "bench_bootstrap_noise.md")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    data = simulate_trauma(args.n, random_state=0)
    fit(data, SimulationNoise)  # warm-up (imports, first calls)
    rows = {"exact lattice samplers (before)": [], "SimulationNoise (now)": []}
    for _ in range(args.repeats):
        for label, cls in (("exact lattice samplers (before)", NoiseSource), ("SimulationNoise (now)", SimulationNoise)):
            rows[label].append(fit(data, cls))
    regression_bootstrap.SimulationNoise = SimulationNoise
    best = {k: min(t for t, _ in v) for k, v in rows.items()}
    ratio = best["exact lattice samplers (before)"] / best["SimulationNoise (now)"]
    lines = [
        "# Interval bootstraps: exact samplers against SimulationNoise",
        "",
        f"`OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} python experiments/bench_bootstrap_noise.py "
        f"--n {args.n} --repeats {args.repeats}`; private regression, epsilon 4, secure release noise, "
        f"1,000 bootstrap replicates; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at the end.",
        "",
        "| bootstrap noise | best wall (s) | all (s) | 95 % interval of the last fit |",
        "|---|---|---|---|",
    ]
    for k, v in rows.items():
        lo, hi = v[-1][1]
        lines.append(f"| {k} | {best[k]:.2f} | {', '.join(f'{t:.2f}' for t, _ in v)} | [{lo:.4f}, {hi:.4f}] |")
    lines += ["", f"Ratio (before / now): {ratio:.1f}x."]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Benchmark: what a hidden-state DP-SGD audit costs, against one opacus training at a time.

Target (issue): the hidden-state audit of a logistic-regression target (20,000 trainings:
10,000 runs per world, on 1000 records, 100 steps each) finishes in at most 5 minutes on a
2-core machine; the same for an MLP (audits.dpsgd.crafted, crafted canary) is reported. Each audit
is timed end to end (noise calibration, the trainings, scoring, both bounds), and beside it
a sample of single opacus trainings of the same recipe (``train_dpsgd(engine="opacus")``,
given the audit's noise multiplier so no calibration is timed) is multiplied out to the
same number of trainings. Ratios are measured side by side in one run.

Rows (``--rows``): ``full``, logistic, full batch (the tight setting); ``poisson``, logistic,
Poisson q = 0.1; ``mlp``, MLP 11-32-1 ReLU, full batch, crafted canary (``--mlp-trials`` runs
per world, extrapolated linearly to ``2 * --trials`` trainings when fewer, and marked so).
All at epsilon 4, delta 1e-5, C = 1, 95 % confidence.

Run:  python experiments/bench_audit_cost.py [--trials 10000] [--mlp-trials 10000]
      [--threads 2] [--opacus-sample 20] [--rows full,poisson,mlp] [--out FILE.md]
Writes experiments/bench_audit_cost.md and .csv (or --out). The machine's load average is
recorded before and after: on a machine shared with other jobs the timings are inflated.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from audits.dpsgd.canaries import dirac_canary
from audits.dpsgd.crafted import audit_hidden_state_mlp
from audits.dpsgd.multi_run import audit_dpsgd
from privcausal.training import train_dpsgd

HERE = Path(__file__).resolve().parent
EPS, DELTA, STEPS = 4.0, 1e-5, 100
COLS = ["target", "sampling", "trainings", "seconds", "calibration_s", "extrapolated_to",
        "seconds_at_target",
        "opacus_ms_per_run", "opacus_seconds_at_target", "speedup", "eps_theory", "eps_lower_gdp",
        "ratio_gdp", "ceiling_gdp", "eps_lower_cp", "ceiling_cp", "eps_estimate",
        "canary_clipped", "rss_before_mib", "peak_rss_mib", "load_before", "load_after"]


def load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


def reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def rss_mib(field: str = "VmHWM:") -> float:
    """Peak (VmHWM, since the last reset) or current (VmRSS) resident memory in MiB."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def calibration_seconds(q: float) -> float:
    """Time of the noise calibration alone (not cached: every audit pays it once)."""
    from privcausal.training.calibrate import calibrate_noise_multiplier

    t0 = time.perf_counter()
    calibrate_noise_multiplier(EPS, DELTA, q, STEPS)
    return time.perf_counter() - t0


def data(n: int = 1000, d: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, d))
    beta = rng.normal(0, 1.0, d)
    y = (rng.random(n) < 1 / (1 + np.exp(-X @ beta))).astype(float)
    return X, y


def opacus_ms(X, y, sample: int, **recipe) -> float:
    """Median wall time of ``sample`` single opacus trainings (after one warm-up), in ms."""
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in range(sample + 1):
            t0 = time.perf_counter()
            train_dpsgd(X, y, engine="opacus", random_state=1000 + s, **recipe)
            if s:
                times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def timed(fn, *args, **kw):
    before = load()
    base = rss_mib("VmRSS:")
    reset_peak_rss()
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0, (base, rss_mib()), before, load()


def row(target, sampling, runs_per_world, secs, cal, target_trainings, ms, r, rss, lb, la):
    trainings = 2 * runs_per_world
    at_target = secs * target_trainings / trainings
    seq = ms / 1000.0 * target_trainings
    cp = r.clopper_pearson
    clipped = r.canary_clipped_fraction
    return [target, sampling, trainings, round(secs, 1), round(cal, 1), target_trainings,
            round(at_target, 1),
            round(ms, 1), round(seq, 0), round(seq / at_target, 1), round(r.epsilon_theory, 3),
            round(r.epsilon_lower, 3), round(r.ratio, 3), round(r.ceiling, 3),
            round(cp.epsilon_lower, 3), round(cp.ceiling, 3), round(r.epsilon_estimate, 3),
            "" if clipped is None else round(clipped, 4), round(rss[0]), round(rss[1]), lb, la]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10_000, help="logistic runs per world")
    ap.add_argument("--mlp-trials", type=int, default=10_000, help="MLP runs per world")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--opacus-sample", type=int, default=20)
    ap.add_argument("--rows", default="full,mlp",
                    help="comma-separated rows: full (logistic, full batch), poisson (logistic, "
                         "q = 0.1), mlp (crafted canary, full batch); default full,mlp")
    ap.add_argument("--mlp-lr", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "bench_audit_cost.md"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    X, y = data()
    target = 2 * a.trials
    start_load = load()
    # warm-up: imports, accountant caches, allocator
    audit_dpsgd(X, y, threat="hidden-state", trials=4, epsilon=EPS, steps=5, random_state=0)
    audit_hidden_state_mlp(X, y, trials=4, epsilon=EPS, steps=5, random_state=0)
    rows = []

    want = set(a.rows.split(","))
    settings = [(name, q) for key, name, q in (("full", "full batch", 1.0),
                                               ("poisson", "Poisson q=0.1", 0.1)) if key in want]
    for name, q in settings:
        cal = calibration_seconds(q)
        r, secs, rss, lb, la = timed(audit_dpsgd, X, y, threat="hidden-state", trials=a.trials,
                                     epsilon=EPS, delta=DELTA, steps=STEPS, sampling_rate=q,
                                     random_state=a.seed)
        can = dirac_canary(X, y)
        ms = opacus_ms(can.X, can.y, a.opacus_sample, architecture="logistic",
                       noise_multiplier=r.noise_multiplier, steps=STEPS, sampling_rate=q,
                       lr=0.01, init_params={"0.weight": np.zeros((1, 11)), "0.bias": np.zeros(1)},
                       dtype="float64")
        rows.append(row("logistic 10+1 (Dirac canary)", name, a.trials, secs, cal, target, ms, r,
                        rss, lb, la))
        print(dict(zip(COLS, rows[-1])), flush=True)

    if "mlp" in want:
        cal = calibration_seconds(1.0)
        r, secs, rss, lb, la = timed(audit_hidden_state_mlp, X, y, trials=a.mlp_trials,
                                     epsilon=EPS, delta=DELTA, steps=STEPS, lr=a.mlp_lr,
                                     hidden=(32,), random_state=a.seed)
        from audits.dpsgd.crafted_canary import crafted_mlp_canary

        can = crafted_mlp_canary(X, y, hidden=(32,))
        ms = opacus_ms(can.X, can.y, a.opacus_sample, architecture=can.architecture, loss="bce",
                       noise_multiplier=r.noise_multiplier, steps=STEPS, sampling_rate=1.0,
                       lr=a.mlp_lr, init_params=dict(can.init))
        rows.append(row("MLP 11-32-1 ReLU (crafted canary)", "full batch", a.mlp_trials, secs,
                        cal, target, ms, r, rss, lb, la))
        print(dict(zip(COLS, rows[-1])), flush=True)

    end_load = load()
    head = "| " + " | ".join(COLS) + " |\n|" + "---|" * len(COLS) + "\n"
    table = head + "".join("| " + " | ".join(str(v) for v in r) + " |\n" for r in rows)
    print(table)
    csv_path = Path(a.out).with_suffix(".csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLS)
        w.writerows(rows)
    text = (
        "# What a hidden-state DP-SGD audit costs\n\n"
        f"Command: `python {' '.join(sys.argv)}`\n\n"
        f"Machine: {os.cpu_count()} CPUs, torch {torch.__version__}, torch threads "
        f"{a.threads}, Python {platform.python_version()}; load average (1/5/15 min) "
        f"{start_load} at the start, {end_load} at the end ({time.strftime('%Y-%m-%d %H:%M')})."
        "\n\n"
        f"Data: {X.shape[0]} records, {X.shape[1]} features (+1 canary column); {STEPS} steps, "
        f"epsilon {EPS} (delta {DELTA}), C = 1; logistic lr 0.01 from zero, float64 (the "
        f"harness's recipe); MLP lr {a.mlp_lr}, float32, the crafted canary's fixed "
        "initialisation. `trainings` = 2 x runs per world as run; `seconds` is the audit end "
        "to end (calibration, trainings, scoring, both bounds), `calibration_s` the noise "
        "calibration alone (part of it, paid once per audit); `seconds_at_target` scales it "
        "linearly to `extrapolated_to` trainings (equal to `seconds` when nothing was "
        "extrapolated). `opacus_ms_per_run` is the median of "
        f"{a.opacus_sample} single `train_dpsgd(engine=\"opacus\")` trainings of the same recipe "
        "(same noise multiplier, no calibration timed), and `opacus_seconds_at_target` that "
        "times `extrapolated_to`; `speedup` = opacus / audit at the same number of trainings. "
        "`eps_lower_gdp` assumes a Gaussian trade-off curve (exact for full-batch DP-SGD with "
        "these canaries), `eps_lower_cp` only independent runs; each with its ceiling (what a "
        "perfect attack could certify with these runs). `peak_rss_mib` is the process's peak "
        "resident memory during the audit, `rss_before_mib` its resident memory before."
        "\n\n" + table +
        "\nOn a machine shared with other jobs (see the load averages) the timings are "
        "inflated, the single-training sample the most unevenly; re-run on an otherwise idle "
        "machine for published figures.\n"
    )
    Path(a.out).write_text(text)
    print(f"wrote {a.out} and {csv_path}")


if __name__ == "__main__":
    main()

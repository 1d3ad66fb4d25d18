"""Benchmark: many DP-SGD trainings in one pass (train_many) against a sequential opacus loop.

Targets (CPU, torch.set_num_threads(2), 2 cores):
* 1000 DP-SGD trainings of an MLP (25 inputs, 32 hidden ReLU units; 1000 records; 100 steps
  at sampling rate 0.1, i.e. expected batch 100, 10 epochs) in at most 30 s, and at least
  50x faster than the sequential opacus loop (extrapolated from a sample of runs);
* 20,000 trainings of a logistic regression (1000 records, 100 steps) in at most 5 minutes.

Run:  python experiments/bench_vectorised_trainer.py [--threads 2] [--out FILE.md]
(``--threads 1,2`` gives one table per thread count.)
Writes the figures to experiments/bench_vectorised_trainer.md (or --out). On a machine shared
with other jobs the figures are unreliable: the load average is recorded with them.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from privcausal.training import train_dpsgd, train_many


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """Peak resident memory (VmHWM) of this process in MiB, since the last reset."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def machine() -> dict:
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover
        load = (float("nan"),) * 3
    return {
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "load_average": tuple(round(x, 2) for x in load),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def canonical_opacus_run(X, y, steps: int, q: float, seed: int) -> float:
    """One training with opacus's own loop: make_private with Poisson sampling (hooks)."""
    import warnings

    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    from privcausal.training import Architecture, build_model

    torch.manual_seed(seed)
    model = build_model(Architecture.mlp(X.shape[1], (32,), "relu"))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    ds = TensorDataset(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32))
    dl = DataLoader(ds, batch_size=int(round(q * len(X))))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pe = PrivacyEngine(accountant="prv")
        model, opt, dl = pe.make_private(module=model, optimizer=opt, data_loader=dl,
                                         noise_multiplier=1.0, max_grad_norm=1.0,
                                         poisson_sampling=True)
        done = 0
        while done < steps:
            for xb, yb in dl:
                opt.zero_grad(set_to_none=True)
                out = model(xb).squeeze(-1)
                (torch.nn.functional.softplus(out) - out * yb).mean().backward()
                opt.step()
                done += 1
                if done == steps:
                    break
    return time.perf_counter() - t0


def data(n: int = 1000, d: int = 25, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, d))
    beta = rng.normal(0, 0.5, d)
    y = (rng.random(n) < 1 / (1 + np.exp(-X @ beta))).astype(float)
    return X, y


def run(args, threads: int) -> list[str]:
    torch.set_num_threads(threads)
    X, y = data()
    info_before = machine()
    common = dict(noise_multiplier=1.0, max_grad_norm=1.0, steps=args.steps,
                  sampling_rate=args.sampling_rate, lr=0.5)
    mlp = dict(architecture="mlp", hidden=(32,), loss="bce", **common)
    lines: list[str] = []

    # warm-up (imports, accountant cache, allocator)
    train_many(X, y, n_models=4, random_state=0, **mlp)
    train_dpsgd(X, y, engine="opacus", random_state=0, **mlp)

    # 1. vectorised MLP
    reset_peak_rss()
    base = rss_mib()
    t_runs = []
    for rep in range(args.repeats):
        t0 = time.perf_counter()
        res = train_many(X, y, n_models=args.models, random_state=1, **mlp)
        t_runs.append(time.perf_counter() - t0)
    t_vec = min(t_runs)  # other jobs on the machine only ever add time
    peak_vec = peak_rss_mib()
    loss_vec = float(res.history["loss"][:, -10:].mean())

    # 2. sequential opacus loop (one train_dpsgd per model), extrapolated
    times, losses = [], []
    for s in range(args.sequential_sample):
        t0 = time.perf_counter()
        r = train_dpsgd(X, y, engine="opacus", random_state=100 + s, **mlp)
        times.append(time.perf_counter() - t0)
        losses.append(float(np.mean(r.history["loss"][-1:])))
    per_run = statistics.median(times)
    seq_total = per_run * args.models
    # 2b. the canonical opacus loop (PrivacyEngine.make_private, DPDataLoader), same recipe
    times_pe = [canonical_opacus_run(X, y, args.steps, args.sampling_rate, seed=300 + s)
                for s in range(max(3, args.sequential_sample // 2))]
    per_run_pe = statistics.median(times_pe)
    # 3. sequential hand-written engine (K = 1), for reference
    times_hw = []
    for s in range(args.sequential_sample):
        t0 = time.perf_counter()
        train_dpsgd(X, y, engine="vectorised", random_state=200 + s, **mlp)
        times_hw.append(time.perf_counter() - t0)
    per_run_hw = statistics.median(times_hw)

    lines += [
        "# Benchmark: vectorised DP-SGD trainer (train_many)",
        "",
        f"## torch threads: {threads}",
        "",
        f"Command: `python {' '.join(sys.argv)}`",
        "",
        f"Machine: {info_before['cpus']} CPUs, torch {info_before['torch']}, "
        f"torch threads {threads}, Python {info_before['python']}; "
        f"load average at start {info_before['load_average']} ({info_before['when']}).",
        "",
        f"Workload: MLP 25-32-1 (ReLU, BCE), 1000 records, {args.steps} steps, Poisson sampling "
        f"rate {args.sampling_rate} (expected batch {args.sampling_rate * 1000:g}), noise "
        "multiplier 1.0, clipping norm 1.0, SGD lr 0.5, float32.",
        "",
        "| what | figure |",
        "| --- | --- |",
        f"| train_many, {args.models} MLPs, one call (incl. accounting; best of {args.repeats}) | "
        f"{t_vec:.2f} s (all: {', '.join(f'{t:.2f}' for t in t_runs)}) |",
        f"| peak RSS during that call | {peak_vec:.0f} MiB (process RSS before: {base:.0f} MiB) |",
        f"| models per pass (chunk size) | {res.config['chunk_size']} |",
        f"| sequential opacus (train_dpsgd engine='opacus'), median of {args.sequential_sample} runs "
        f"| {per_run * 1000:.1f} ms/run |",
        f"| sequential opacus, extrapolated to {args.models} runs | {seq_total:.1f} s |",
        f"| **speed-up of train_many over the sequential opacus loop** | **{seq_total / t_vec:.1f}x** |",
        f"| canonical opacus loop (PrivacyEngine.make_private, DPDataLoader), median of "
        f"{len(times_pe)} runs | {per_run_pe * 1000:.1f} ms/run; speed-up of train_many over it: "
        f"{per_run_pe * args.models / t_vec:.1f}x |",
        f"| sequential hand-written engine (train_dpsgd engine='vectorised', K=1) | "
        f"{per_run_hw * 1000:.1f} ms/run ({per_run_hw * args.models:.1f} s for {args.models}) |",
        f"| mean batch loss, last 10 steps: train_many / sequential opacus | "
        f"{loss_vec:.4f} / {statistics.mean(losses):.4f} |",
    ]
    print("\n".join(lines), flush=True)

    # 4. logistic regression x 20,000
    if not args.skip_logistic:
        logit = dict(architecture="logistic", **common)
        train_many(X, y, n_models=8, random_state=0, **logit)
        reset_peak_rss()
        t0 = time.perf_counter()
        lr_res = train_many(X, y, n_models=args.logistic_models, random_state=2, **logit)
        t_lr = time.perf_counter() - t0
        peak_lr = peak_rss_mib()
        extra = [
            f"| train_many, {args.logistic_models} logistic regressions (25 inputs, same recipe) "
            f"| {t_lr:.1f} s (target <= 300 s) |",
            f"| peak RSS during that call | {peak_lr:.0f} MiB, chunk size {lr_res.config['chunk_size']} |",
        ]
        lines += extra
        print("\n".join(extra), flush=True)
    after = machine()
    lines += [
        "",
        f"Load average at the end: {after['load_average']}. Timings include the privacy "
        "accounting of the call (PLD, cached across calls of the same recipe). The sequential "
        "figure is a median over runs after a warm-up run, multiplied out; it includes the "
        "receipt of each run (cached accountant) and opacus's GradSampleModule wrapping.",
        "",
    ]
    return lines


NOTE_THREADS = (
    'Note on threads: on a 2-core machine shared with other jobs, a torch parallel region'
    ' waits for whichever of its threads is descheduled, so two-thread timings can be '
    'many times the one-thread ones (as in some tables here); compare the absolute times '
    'of the two tables before trusting a two-thread ratio, and re-run on an otherwise '
    'idle machine for published figures.'
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="2",
                    help="comma-separated torch thread counts, one table each (default 2)")
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--logistic-models", type=int, default=20_000)
    ap.add_argument("--sequential-sample", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=2, help="train_many calls; the best is kept")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--sampling-rate", type=float, default=0.1)
    ap.add_argument("--skip-logistic", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).with_suffix(".md")))
    args = ap.parse_args()
    lines: list[str] = []
    for th in [int(t) for t in str(args.threads).split(",")]:
        part = run(args, th)
        lines += part if not lines else part[2:]
    lines += ["", NOTE_THREADS, ""]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

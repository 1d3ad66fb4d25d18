"""Wall time of one federated run over each transport, and whether the answers agree.

The same registry, plan and seeds over ``local`` (the site and server code in one process),
``simulation`` (Flower's simulation engine) and ``grpc`` (a real Flower SuperLink and one
SuperNode per site on 127.0.0.1, started and shut down by the run), for the one-shot regression
adjustment and the multi-round AIPW (and, as ``regression-secure``, the regression through
Flower's SecAgg+ with one colluding site assumed: a check round, then SecAgg+'s four stages).
No baselines (they are the same on every transport).

Run::

    python experiments/federated_transports.py                  # n = 20,000, 8 sites
    python experiments/federated_transports.py --n 4000 --methods aipw
    python experiments/federated_transports.py --methods regression-secure \
        --out experiments/federated_transports_secure.md

Writes ``experiments/federated_transports.md``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--sites", type=int, default=8)
    ap.add_argument("--epsilon", type=float, default=1.0)
    ap.add_argument("--methods", default="regression,aipw")
    ap.add_argument("--transports", default="local,simulation,grpc")
    ap.add_argument("--out", default=str(HERE / "federated_transports.md"))
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from privcausal.data import simulate_trauma
    from privcausal.federated import federate

    data = simulate_trauma(args.n, random_state=11, n_centres=args.sites)
    start = load()
    rows = []
    for method in args.methods.split(","):
        ref = None
        for transport in args.transports.split(","):
            t0 = time.perf_counter()
            secure = {"secure": True, "collusion": 1} if method.endswith("-secure") else {}
            d = federate(data, method=method.removesuffix("-secure"), epsilon=args.epsilon,
                         transport=transport, random_state=3, n_bootstrap=200, baselines=False,
                         **secure).to_dict()
            secs = time.perf_counter() - t0
            ref = d if ref is None else ref
            same = d["ate"] == ref["ate"] and d["ci_low"] == ref["ci_low"]
            rows.append((method, transport, d["rounds"], d["n_sites"], secs, d["ate"], same))
            print(f"{method:<10} {transport:<10} rounds {d['rounds']}  sites {d['n_sites']}  "
                  f"{secs:7.1f} s  ATE {d['ate']:+.5f}  same as {args.transports.split(',')[0]}: {same}",
                  flush=True)
    lines = [
        "# Federated runs over each transport: wall time", "",
        f"Command: `python experiments/federated_transports.py --n {args.n} --sites {args.sites} "
        f"--methods {args.methods}`", "",
        f"Simulated registry, n = {args.n:,}, {args.sites} sites, epsilon {args.epsilon:g} per site, "
        f"seeded noise; {os.cpu_count()} CPUs; load average {start} at the start, {load()} at the end. "
        "Seconds: the whole `federate` call (for grpc: starting the SuperLink and the SuperNodes, "
        "`flwr run`, the rounds, shutting down).", "",
        "| estimator | transport | rounds | sites | seconds | ATE | same answer as the first transport |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    lines += [f"| {m} | {t} | {r} | {s} | {sec:.1f} | {a:+.5f} | {same} |"
              for m, t, r, s, sec, a, same in rows]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

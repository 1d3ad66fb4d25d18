"""The certified white-box bound at epsilon 4 from 1000 trainings, over seeds.

The goal of issue #9: a certified epsilon_lower >= 0.85 of epsilon at epsilon 4 from at most
1,000 trainings, in under a minute. The certified bound's ratio varies from seed to seed (its
standard error is about sqrt(2/N) = 0.063 in mu units at N = 500 runs a world, about 0.04 in
ratio), so this script measures its distribution: the same audit as
``privcausal audit dpsgd --epsilon 4`` (the simulated registry, 1000 records, 100 full-batch
steps, C = 1, lr 0.002, 500 runs a world), ``--seeds`` times.

Writes experiments/audit_white_box_certified.md.

Run: python experiments/audit_white_box_certified.py [--seeds 10] [--epsilon 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from audits.dpsgd.registry import registry_features
from audits.dpsgd.multi_run import audit_dpsgd

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--epsilon", type=float, default=4.0)
    ap.add_argument("--runs", type=int, default=500)
    a = ap.parse_args()
    X, y = registry_features(1000, 0)
    load0 = os.getloadavg()[0]
    rows = []
    for seed in range(a.seeds):
        t = time.time()
        r = audit_dpsgd(X, y, threat="white-box", trials=a.runs, epsilon=a.epsilon, steps=100,
                        lr=0.002, delta=1e-5, random_state=100 + seed)
        rows.append((seed, r.epsilon_lower / r.epsilon_theory, r.epsilon_estimate / r.epsilon_theory,
                     all(t.passed for t in r.tests), time.time() - t))
        print(rows[-1], flush=True)
    ratio = np.array([r[1] for r in rows])
    lines = [f"# Certified white-box bound at epsilon {a.epsilon:g} from {2 * a.runs} trainings", "",
             f"Command: `python experiments/audit_white_box_certified.py --seeds {a.seeds} "
             f"--epsilon {a.epsilon:g} --runs {a.runs}` on {platform.machine()} "
             f"({os.cpu_count()} cores, load {load0:.1f} at start); seeds 100-{99 + a.seeds}.", "",
             "| seed | certified / theory | estimate / theory | assumption tests passed | seconds |",
             "|---|---|---|---|---|"]
    lines += [f"| {s} | {c:.3f} | {e:.3f} | {'yes' if ok else 'no'} | {secs:.1f} |"
              for s, c, e, ok, secs in rows]
    lines += ["", f"Certified / theory: mean {ratio.mean():.3f}, sd {ratio.std(ddof=1):.3f}, "
              f"min {ratio.min():.3f}, max {ratio.max():.3f}; at or above 0.85 in "
              f"{int(np.sum(ratio >= 0.85))} of {ratio.size}; never above 1: "
              f"{bool(np.all(ratio <= 1))}.", ""]
    Path(HERE / "audit_white_box_certified.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

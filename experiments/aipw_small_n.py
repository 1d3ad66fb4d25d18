"""Private AIPW at a few hundred records: the default plan against the small-study preset.

``aipw`` (Horvitz-Thompson form, clip 0.05, budget (0.3, 0.5, 0.2)) against ``aipw-hajek``
(Hajek form, clip 0.2, budget (0.15, 0.15, 0.7)) on IHDP 1-8 (747 records), the semi-synthetic
benchmark (``semisynthetic.py``; development seeds, and the held-out seeds apart: they chose
nothing) and the simulated registry (2,000 and 5,000), at epsilon 0.5, 1, 4 and 16, 3 noise
seeds per data set: MAE against the sample ATE, coverage and mean width of the 95 % interval,
and the mean released share of records with propensities beyond the clip (``clipped_share_``).

Usage::

    OMP_NUM_THREADS=1 python experiments/aipw_small_n.py

Writes ``aipw_small_n.md`` beside this file.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from semisynthetic import DEVELOPMENT_SEEDS, HELD_OUT_SEEDS, semisynthetic  # noqa: E402

from privcausal.data import load_ihdp, simulate_trauma  # noqa: E402
from privcausal.estimators import make_estimator  # noqa: E402

NAMES = ("aipw", "aipw-hajek")
EPSILONS = (0.5, 1.0, 4.0, 16.0)
SEEDS = 3


def data_sets():
    yield "IHDP 1-8", [load_ihdp(r) for r in range(1, 9)]
    yield "semi-synthetic (development seeds)", [semisynthetic(s) for s in DEVELOPMENT_SEEDS]
    yield "semi-synthetic (held-out seeds)", [semisynthetic(s) for s in HELD_OUT_SEEDS]
    yield "registry n=2,000", [simulate_trauma(2000, random_state=700 + s) for s in range(5)]
    yield "registry n=5,000", [simulate_trauma(5000, random_state=710 + s) for s in range(5)]


def main() -> None:
    warnings.simplefilter("ignore")
    t0 = time.time()
    lines = ["# Private AIPW: default plan against the small-study preset", "",
             "`OMP_NUM_THREADS=1 python experiments/aipw_small_n.py`; {SEEDS} noise seeds per data set; "
             "MAE against the sample ATE, coverage and mean width of the 95 % interval. `aipw`: "
             "Horvitz-Thompson, clip 0.05, budget (0.3, 0.5, 0.2); `aipw-hajek`: Hajek, clip 0.2, "
             "budget (0.15, 0.15, 0.7). delta = 1e-6.".replace("{SEEDS}", str(SEEDS))]
    for label, sets in data_sets():
        lines += ["", f"## {label}", "", "| epsilon | " + " | ".join(f"{n} MAE | {n} coverage | {n} width | {n} clipped" for n in NAMES) + " |",
                  "|---|" + "---|---|---|---|" * len(NAMES)]
        for eps in EPSILONS:
            cells = []
            for name in NAMES:
                rows = []
                for i, d in enumerate(sets):
                    for s in range(SEEDS):
                        est = make_estimator(name, epsilon=eps, random_state=100 * i + s).fit(d)
                        lo, hi = est.ate_interval(0.05)
                        rows.append((abs(est.ate_ - d.true_ate), lo <= d.true_ate <= hi, hi - lo,
                                     est.clipped_share_))
                a = np.array(rows, dtype=float)
                cells += [f"{a[:, 0].mean():.3f}", f"{a[:, 1].mean():.2f}", f"{a[:, 2].mean():.3f}",
                          f"{a[:, 3].mean():.2f}"]
            lines.append(f"| {eps:g} | " + " | ".join(cells) + " |")
        print(label, f"{time.time() - t0:.0f} s", flush=True)
    lines += ["", f"Run time {time.time() - t0:.0f} s."]
    (HERE / "aipw_small_n.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

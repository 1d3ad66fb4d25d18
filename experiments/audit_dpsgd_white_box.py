"""White-box DP-SGD audits from ten training runs (audits.dpsgd.white_box, route "composed").

Full-batch DP-SGD on a logistic regression (n = 40 records, 3 features scaled to the unit
ball, T = 100 steps, C = 1, lr = 0.002 (small enough that the canary stays clipped on every step at epsilon 1, where sigma is about 50), zero start), sigma from the PLD accountant at
delta = 1e-5. Each audit trains 5 models with the Dirac canary and 5 without (10 runs), reads
the per-step noisy sums off consecutive models, bounds the noise actually added (chi-square,
95 %) and composes the per-step Gaussian mechanisms exactly (Gaussian-DP route, labelled).
Repeated over ``--seeds`` seeds per epsilon to show the spread of the ratio, beside the
run-level Gaussian-DP and Clopper-Pearson bounds of the same runs (which certify 0 with ten runs).

Writes experiments/audit_dpsgd_white_box.md and .csv.

Run: python experiments/audit_dpsgd_white_box.py [--seeds 20] [--runs 5]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from audits.dpsgd.multi_run import audit_dpsgd

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5, help="runs per world (2x trainings)")
    ap.add_argument("--lr", type=float, default=0.002)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    X /= np.linalg.norm(X, axis=1).max()
    y = (rng.random(40) < 0.5).astype(float)
    rows, summary = [], []
    for eps in (1.0, 2.0, 4.0):
        ratios = []
        for seed in range(a.seeds):
            t = time.time()
            r = audit_dpsgd(X, y, threat="white-box", trials=a.runs, epsilon=eps, steps=100, lr=a.lr,
                            random_state=seed)
            secs = time.time() - t
            ratios.append(r.ratio)
            rows.append([eps, seed, round(r.epsilon_theory, 4), round(r.epsilon_lower, 4),
                         round(r.ratio, 4), round(r.noise_check["sigma_hat"] / r.noise_multiplier, 4),
                         r.noise_check["shift_route"], round(r.run_level.epsilon_lower, 3),
                         round(r.clopper_pearson.epsilon_lower, 3), r.canary_clipped_fraction,
                         round(secs, 2)])
        q = np.asarray(ratios)
        summary.append([eps, 2 * a.runs, a.seeds, round(q.min(), 3), round(q.mean(), 3),
                        round(float(np.median(q)), 3), int((q >= 0.9).sum()), int((q > 1).sum())])
    cols = ["eps", "seed", "eps_theory", "eps_lower", "ratio", "sigma_hat/sigma", "shift_route",
            "run_level_gdp", "clopper_pearson", "canary_clipped", "seconds"]
    with open(HERE / "audit_dpsgd_white_box.csv", "w", newline="") as f:
        csv.writer(f).writerows([cols] + rows)
    scol = ["eps_theory", "training runs", "seeds", "min ratio", "mean ratio", "median ratio",
            "seeds >= 0.9", "seeds > 1 (unsound)"]
    lines = [
        "# White-box DP-SGD audits from ten training runs",
        "",
        f"Command: `python experiments/audit_dpsgd_white_box.py --seeds {a.seeds} --runs {a.runs} --lr {a.lr}`",
        "",
        __doc__.split("\n\n")[1].replace("\n", " "),
        "",
        "| " + " | ".join(scol) + " |",
        "|" + "---|" * len(scol),
        *["| " + " | ".join(map(str, r)) + " |" for r in summary],
        "",
        "Every audit's run-level bounds (threshold tests on the 5 + 5 run scores) are 0: their "
        "ceiling at 95 % is 0 with five runs per world. Per-seed rows: "
        "`experiments/audit_dpsgd_white_box.csv`.",
        "",
        "Assumption (stated in every result): Gaussian noise independent across steps and runs, "
        "and the canary entering each step's sum as its gradient clipped at the declared C "
        "(checked by a z-test on the in-world residual mean; a trainer that skips clipping "
        "switches the route to the data's own shift bound).",
    ]
    (HERE / "audit_dpsgd_white_box.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

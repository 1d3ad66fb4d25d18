"""DP-SGD audits under three threat models (audits.dpsgd.multi_run.audit_dpsgd).

Full-batch DP-SGD on a logistic regression (n = 40 records, 3 features, T = 100 steps,
C = 1, lr = 0.01, zero start), sigma calibrated by the PLD accountant to epsilon at
delta = 1e-5. Every bound is at 95 % confidence.

* white-box, Dirac canary, epsilon in {1, 2, 4}, with 5, 100 and 1000 runs per world: the
  run-level Gaussian-DP bound (the per-step sum, sufficient for full batch; certified only where
  the run scores pass the Gaussian-shift test), Clopper-Pearson with its ceiling, and the point
  estimate (no confidence); the per-step pooled route was removed with the verdict contract;
* the white-box route that measures signal and noise (certified) beside the declared-norm
  estimate has its own table (experiments/audit_tightness.py);
* hidden state, Dirac canary, epsilon 4, as many runs as fit in about two minutes;
* black-box, input-space outlier canary, epsilon 4, reported as measured;
* an accountant off by a factor 4 in the noise (real epsilon 8), to show the audit flags it.

Writes experiments/audit_dpsgd.md and .csv. Seeded: every number is reproducible.

Run: python experiments/audit_dpsgd.py [--hidden-trials 25000] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from audits.dpsgd.multi_run import audit_dpsgd
from privcausal.training.calibrate import dpsgd_epsilon

HERE = Path(__file__).resolve().parent
STEPS, DELTA = 100, 1e-5
COLS = ["threat", "route", "eps_theory", "trials", "eps_lower_gdp", "ratio_gdp", "eps_lower_cp",
        "ceiling_cp", "eps_estimate", "canary_clipped", "seconds"]


def row(threat, route, r, cp, secs):
    return [threat, route, round(r.epsilon_theory, 3), r.trials, round(r.epsilon_lower, 3),
            round(r.ratio, 3), round(cp.epsilon_lower, 3), round(cp.ceiling, 3),
            round(r.epsilon_estimate, 3),
            "" if r.canary_clipped_fraction is None else round(r.canary_clipped_fraction, 3),
            round(secs, 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hidden-trials", type=int, default=25000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(float)
    kw = dict(steps=STEPS, delta=DELTA)
    rows = []
    for eps in (1.0, 2.0, 4.0):
        for n in (5, 100, 1000):
            t = time.time()
            r = audit_dpsgd(X, y, threat="white-box", trials=n, epsilon=eps, random_state=a.seed,
                            route="run-level", **kw)
            rows.append(row("white-box", "run-level", r, r.clopper_pearson, time.time() - t))
    t = time.time()
    h = audit_dpsgd(X, y, threat="hidden-state", trials=a.hidden_trials, epsilon=4.0,
                    random_state=a.seed, **kw)
    rows.append(row("hidden-state", "run-level", h, h.clopper_pearson, time.time() - t))
    for n in (1000, a.hidden_trials):
        t = time.time()
        b = audit_dpsgd(X, y, threat="black-box", trials=n, epsilon=4.0, random_state=a.seed, **kw)
        rows.append(row("black-box", "run-level", b, b.clopper_pearson, time.time() - t))
    t = time.time()
    real = audit_dpsgd(X, y, threat="white-box", trials=1000, epsilon=8.0, random_state=a.seed,
                       route="run-level", **kw)
    claimed = dpsgd_epsilon(4 * real.noise_multiplier, 1.0, STEPS, DELTA)
    bug = audit_dpsgd(X, y, threat="white-box", trials=1000, epsilon=8.0, random_state=a.seed,
                      claimed_epsilon=claimed, route="run-level", **kw)
    rows.append(row("white-box (accountant off 4x)", "run-level", bug, bug.clopper_pearson,
                    time.time() - t))

    head = "| " + " | ".join(COLS) + " |\n|" + "---|" * len(COLS) + "\n"
    table = head + "".join("| " + " | ".join(str(v) for v in r) + " |\n" for r in rows)
    print(table)
    with open(HERE / "audit_dpsgd.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLS)
        w.writerows(rows)
    text = (
        "# DP-SGD audits under three threat models\n\n"
        f"Command: `python experiments/audit_dpsgd.py --hidden-trials {a.hidden_trials} "
        f"--seed {a.seed}`\n\n"
        "Full-batch DP-SGD, logistic regression, n = 40, d = 3 (+1 canary column), T = 100, C = 1, "
        "lr = 0.01, zero start; sigma from the PLD accountant; delta = 1e-5; 95 % confidence. "
        "`trials` = runs per world (2x trainings). `eps_lower_gdp` assumes a Gaussian trade-off "
        "curve (exact here: full-batch DP-SGD with a Dirac canary is a Gaussian mechanism); "
        "`eps_lower_cp` assumes only independent runs, `ceiling_cp` is what a perfect attack "
        "could certify with those runs. `eps_estimate` is a point estimate (mean shift / pooled "
        "std as mu-GDP), no confidence. Black-box and hidden-state `eps_lower_gdp` are the "
        "run-level GDP bound.\n\n" + table +
        f"\nAccountant bug row: real noise gives epsilon {real.epsilon_theory:.3f}; the claimed "
        f"epsilon ({claimed:.3f}) is what an accountant assuming 4x the noise reports; "
        f"violation = {bug.violation}.\n\n"
        "Reading: with 5 runs per world (10 trainings) nothing can be certified at 95 % (the "
        "run-level ceiling is 0); per-step pooling does not help, because the composed statistic "
        "of T steps is estimated from N runs with spread ~1/sqrt(N) whatever T is. Ratios near "
        "1 need thousands of runs per world, or a one-run design with many canaries.\n\n"
        "Both worlds divide the noisy sum by the same expected batch size (q (n + 1)). With the "
        "trainer's default normaliser q m_k, which depends on the data size, an earlier run of "
        "this script measured the black-box audit at 3.88 (estimate 4.17 > 4.0) with 25000 runs: "
        "dividing by a size that differs between neighbours leaks beyond the noisy sum under "
        "add/remove.\n"
    )
    (HERE / "audit_dpsgd.md").write_text(text)


if __name__ == "__main__":
    main()

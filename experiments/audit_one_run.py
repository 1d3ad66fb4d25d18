"""One-run DP-SGD audits (audits.dpsgd.one_run.audit_dpsgd_one_run): m canaries, one training.

Full-batch DP-SGD on a logistic regression (n = 40 records, 3 features, T = 100 steps, C = 1,
lr = 0.01, zero start, normaliser q (n + m) fixed by the auditor), sigma calibrated by the PLD
accountant to epsilon at delta = 1e-5. Each canary is included with probability 1/2; guesses
k+ = k- in {2, 5, 10, 20} % of m with Bonferroni over the four pairs; 95 % confidence.

Rows: threat x epsilon x m, each repeated over ``--repeats`` seeds (one training each); the
table gives the mean Steinke et al. (assumption-free) and f-DP (Mahloujifar et al.; Gaussian
trade-off curve, exact for full-batch DP-SGD) bounds with their min-max over seeds, each
method's ceiling (every guess right), the fraction of (included canary, step) pairs clipped,
and seconds per audit (training + bounds). Extra rows: black-box canaries in the data's own
feature space (outliers that share the 3 weights), and the broken trainer "noise-over-batch"
(audits.dpsgd.zoo) flagged from one training.

Writes experiments/audit_one_run.md and .csv. Seeded: every number is reproducible.

Run: python experiments/audit_one_run.py [--repeats 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import time
import warnings
from pathlib import Path

import numpy as np

from audits.dpsgd.one_run import audit_dpsgd_one_run
from audits.dpsgd.zoo import broken_trainer

HERE = Path(__file__).resolve().parent
STEPS, DELTA = 100, 1e-5
COLS = ["threat", "eps_theory", "m", "repeats", "steinke", "steinke_min_max", "fdp",
        "fdp_min_max", "ratio_steinke", "ratio_fdp", "ceiling_steinke", "ceiling_fdp",
        "canary_clipped", "seconds"]


def cell(v: list[float]) -> tuple[float, str]:
    return round(float(np.mean(v)), 3), f"{min(v):.2f}-{max(v):.2f}"


def run(label, X, y, eps, m, seeds, **kw):
    st, fd, secs, clip = [], [], [], []
    for s in seeds:
        t = time.time()
        r = audit_dpsgd_one_run(X, y, canaries=m, epsilon=eps, steps=STEPS, delta=DELTA,
                                random_state=int(s), **kw)
        secs.append(time.time() - t)
        st.append(r.steinke.epsilon_lower)
        fd.append(r.fdp.epsilon_lower)
        clip.append(r.canary_clipped_fraction)
    (ms, rs), (mf, rf) = cell(st), cell(fd)
    th = r.epsilon_theory
    return [label, round(th, 3), m, len(seeds), ms, rs, mf, rf, round(ms / th, 3),
            round(mf / th, 3), round(r.ceilings["steinke"], 3), round(r.ceilings["fdp"], 3),
            round(float(np.mean(clip)), 4), round(float(np.mean(secs)), 2)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    warnings.simplefilter("ignore")  # delta >= 1/n warnings do not apply: n + m >= 140
    rng = np.random.default_rng(a.seed)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(float)
    seeds = a.seed * 1000 + np.arange(a.repeats)
    rows = []
    for threat in ("white-box", "hidden-state", "black-box"):
        for eps in (1.0, 2.0, 4.0, 8.0):
            for m in ((100, 1000, 2000) if threat == "white-box" else (1000,)):
                rows.append(run(threat, X, y, eps, m, seeds, threat=threat))
                print(rows[-1], flush=True)
    for eps in (4.0, 8.0):
        rows.append(run("black-box (data-space outliers)", X, y, eps, 1000, seeds,
                        threat="black-box", canary_space="data"))
        print(rows[-1], flush=True)
    rows.append(run("white-box, zoo bug noise-over-batch", X, y, 1.0, 1000, seeds,
                    threat="white-box", trainer=broken_trainer("noise-over-batch")))
    rows.append(run("white-box, zoo correct trainer", X, y, 1.0, 1000, seeds,
                    threat="white-box", trainer=broken_trainer(None)))
    head = "| " + " | ".join(COLS) + " |\n|" + "---|" * len(COLS) + "\n"
    table = head + "".join("| " + " | ".join(str(v) for v in r) + " |\n" for r in rows)
    print(table)
    with open(HERE / "audit_one_run.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLS)
        w.writerows(rows)
    text = (
        "# One-run DP-SGD audits: m canaries, one training\n\n"
        f"Command: `python experiments/audit_one_run.py --repeats {a.repeats} --seed {a.seed}`\n\n"
        "Full-batch DP-SGD, logistic regression, n = 40, d = 3, T = 100, C = 1, lr = 0.01, zero "
        "start, normaliser q (n + m); sigma from the PLD accountant; delta = 1e-5; 95 % "
        "confidence. m Dirac canaries (own zero column each, scale 10 C, labels alternating "
        "1/0), each included with probability 1/2; guesses k+ = k- in {2, 5, 10, 20} % of m, "
        "Bonferroni over the 4 pairs. `steinke`/`fdp`: mean bound over `repeats` trainings (one "
        "training per audit), with min-max. `ceiling_*`: the bound if every guess were right "
        "(what m canaries can show at all). `canary_clipped`: fraction of (included canary, "
        "step) pairs whose gradient norm was >= C (1 = each canary was a Gaussian mechanism "
        "with sensitivity C at every step). `seconds`: per audit, training and both bounds, "
        "wall-clock on a shared 2-core machine with other jobs running (the m = 1000 audits "
        "take about 1 s alone).\n\n"
        + table +
        "\nReading: the f-DP bound is the tighter of the two at every setting (it uses the "
        "Gaussian shape, exact here); neither approaches epsilon, because one run with m "
        "canaries tests each canary once: the attainable fraction grows with m (see the m = "
        "100 / 1000 / 2000 white-box rows) and with epsilon, and is capped by the ceilings. "
        "White-box, hidden-state and black-box with own-column canaries agree: for a linear "
        "model with plain SGD the final weight on a canary's column is the sum of its noisy "
        "updates, and its loss is monotone in that weight. Outlier canaries in the data's own "
        "3-dimensional feature space give 0: 1000 canaries pushing the same 3 weights drown "
        "each other. The zoo rows: a trainer whose noise is off by the batch size (41x too "
        "little noise, claimed epsilon 1) is flagged from ONE training; the correct reference "
        "trainer is not.\n"
    )
    (HERE / "audit_one_run.md").write_text(text)


if __name__ == "__main__":
    main()

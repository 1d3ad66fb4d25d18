"""Every ATE estimator, private and non-private, on IHDP replications 1-8.

Mean absolute ATE error (over replications and, for private estimators, over independent
noise draws) at epsilon in {0.5, 1, 4, 16}, delta = 1e-6, beside the non-private twins; plus
the empirical coverage of the 95% intervals. Writes experiments/ate_ihdp_table.{md,csv,png}.

Run: python experiments/ate_ihdp_table.py [--draws 10] [--reps 1-8]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from privcausal.data import load_ihdp
from privcausal.estimators import make_estimator
from privcausal.exceptions import ClippingWarning

HERE = Path(__file__).resolve().parent
PRIVATE = ("dim", "regression", "ipw", "aipw")
EPSILONS = (0.5, 1.0, 4.0, 16.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=10, help="noise draws per (replication, epsilon)")
    ap.add_argument("--reps", default="1-8")
    ap.add_argument("--estimators", default=",".join(PRIVATE))
    args = ap.parse_args()
    a, b = (int(x) for x in args.reps.split("-"))
    reps = range(a, b + 1)
    names = args.estimators.split(",")
    warnings.simplefilter("ignore", ClippingWarning)
    data = {r: load_ihdp(r) for r in reps}
    rows = []
    t0 = time.perf_counter()
    for name in names:
        for r in reps:
            d = data[r]
            est = make_estimator(f"{name}-np", random_state=r).fit(d)
            lo, hi = est.ate_interval(0.05)
            rows.append(dict(estimator=name, epsilon=np.inf, rep=r, draw=0, ate=est.ate_,
                             err=abs(est.ate_ - d.true_ate), covered=lo <= d.true_ate <= hi))
            for eps in EPSILONS:
                for k in range(args.draws):
                    seed = 100_000 * r + 1000 * int(eps * 10) + k
                    est = make_estimator(name, epsilon=eps, delta=1e-6, random_state=seed).fit(d)
                    lo, hi = est.ate_interval(0.05)
                    rows.append(dict(estimator=name, epsilon=eps, rep=r, draw=k, ate=est.ate_,
                                     err=abs(est.ate_ - d.true_ate), covered=lo <= d.true_ate <= hi))
        print(f"{name}: done ({time.perf_counter() - t0:.0f} s)", flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(HERE / "ate_ihdp_table.csv", index=False)
    mae = df.pivot_table(index="estimator", columns="epsilon", values="err", aggfunc="mean").reindex(names)
    cov = df.pivot_table(index="estimator", columns="epsilon", values="covered", aggfunc="mean").reindex(names)
    fmt = lambda v: f"{v:.3f}"  # noqa: E731
    cols = list(EPSILONS) + [np.inf]
    header = "| estimator | " + " | ".join(f"eps={c:g}" for c in cols) + " |"
    lines = [
        "# ATE error on IHDP replications %d-%d" % (a, b), "",
        f"Mean absolute ATE error over {len(reps)} replications x {args.draws} noise draws "
        "(delta = 1e-6; eps=inf is the non-private twin). Command: "
        f"`python experiments/ate_ihdp_table.py --draws {args.draws} --reps {args.reps}`.", "",
        header, "|---" * (len(cols) + 1) + "|",
    ]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(fmt(mae.loc[n, c]) for c in cols) + " |")
    lines += ["", "Coverage of the 95% intervals (fraction of fits whose interval holds the true ATE):", "",
              header, "|---" * (len(cols) + 1) + "|"]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(f"{cov.loc[n, c]:.2f}" for c in cols) + " |")
    best = mae[1.0].idxmin()
    lines += ["", f"Best private estimator at epsilon = 1: **{best}**, MAE {mae.loc[best, 1.0]:.3f} "
              "(target: below 0.5).", "", "![MAE against epsilon](ate_ihdp_table.png)", "",
              f"Run time {time.perf_counter() - t0:.0f} s."]
    (HERE / "ate_ihdp_table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for n in names:
        ax.plot(EPSILONS, [mae.loc[n, e] for e in EPSILONS], "o-", label=n)
        ax.axhline(mae.loc[n, np.inf], ls=":", color=ax.lines[-1].get_color(), lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epsilon (delta = 1e-6)")
    ax.set_ylabel("mean absolute ATE error")
    ax.set_title("IHDP reps %d-%d: private (solid) vs non-private twin (dotted)" % (a, b))
    ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "ate_ihdp_table.png", dpi=120)


if __name__ == "__main__":
    main()

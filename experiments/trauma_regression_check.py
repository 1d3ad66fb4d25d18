"""Private regression adjustment against difference in means on the simulated trauma registry.

50 simulated registries (n = 20,000, strong confounding of TXA by bleeding severity), at
epsilon = 1, delta = 1e-6: mean absolute ATE error and bias of DifferenceInMeans and
RegressionAdjustment and of their non-private twins (epsilon = inf), the plan the regression
chose, and the coverage of the 95% parametric-bootstrap intervals. A second table shows how
the error moves with the ridge constants (the defaults are (0.1, 3.0)). Writes
experiments/trauma_regression_check.md.

Target: the private regression's MAE is at most twice its twin's, while DiM keeps its
confounding bias.

With ``--ihdp-draws K`` (K > 0) it also tabulates both estimators on IHDP replications 1-8
(K noise draws each) at epsilon in {0.5, 1, 4, 16}, in a section of the same file.

Run from the repository root: python experiments/trauma_regression_check.py [--reps 50]
[--ihdp-draws 10]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # many small matrices: threads only contend

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from privcausal.data import simulate_trauma  # noqa: E402
from privcausal.estimators.dim import DifferenceInMeans  # noqa: E402
from privcausal.estimators.regression import RegressionAdjustment, stats_for  # noqa: E402

HERE = Path(__file__).resolve().parent
EPS, DELTA = 1.0, 1e-6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--bootstrap", type=int, default=300, help="bootstrap replicates for the intervals")
    ap.add_argument("--ihdp-draws", type=int, default=0, help="also run IHDP 1-8 with this many draws")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows: dict[str, list[tuple[float, bool]]] = {}
    plans, true_ates = [], []
    sens: dict[str, list[float]] = {}
    ridges = [(0.05, 3.0), (0.2, 3.0), (0.1, 1.0), (0.1, 10.0)]
    for r in range(args.reps):
        d = simulate_trauma(args.n, random_state=1000 + r)
        st = stats_for(d)
        true_ates.append(d.true_ate)
        fits = {
            "DiM": DifferenceInMeans(epsilon=EPS, n_bootstrap=2000, random_state=r).fit(d),
            "DiM (twin)": DifferenceInMeans(epsilon=math.inf, n_bootstrap=2000, random_state=r).fit(d),
            "regression": RegressionAdjustment(epsilon=EPS, delta=DELTA, n_bootstrap=args.bootstrap,
                                               random_state=r).fit_stats(st, d.domain),
            "regression (twin)": RegressionAdjustment(epsilon=math.inf, n_bootstrap=args.bootstrap,
                                                      random_state=r).fit_stats(st, d.domain),
        }
        plans.append(fits["regression"].plan_)
        for name, est in fits.items():
            lo, hi = est.ate_interval(0.05)
            rows.setdefault(name, []).append((est.ate_ - d.true_ate, lo <= d.true_ate <= hi))
        for rg in ridges:
            est = RegressionAdjustment(epsilon=EPS, delta=DELTA, ridge=rg, n_bootstrap=0,
                                       random_state=r).fit_stats(st, d.domain)
            sens.setdefault(f"ridge={rg}", []).append(est.ate_ - d.true_ate)

    def summary(name: str) -> tuple[float, float, float]:
        e = np.array([x for x, _ in rows[name]])
        return float(np.mean(np.abs(e))), float(np.mean(e)), float(np.mean([c for _, c in rows[name]]))

    lines = [
        "# Private regression adjustment on the simulated trauma registry", "",
        f"{args.reps} registries of n = {args.n} (`simulate_trauma(n, random_state=1000 + r)`), "
        f"epsilon = {EPS:g}, delta = {DELTA:g}; true ATE (risk difference) mean "
        f"{np.mean(true_ates):+.4f}. Command: `python experiments/trauma_regression_check.py "
        f"--reps {args.reps} --n {args.n} --bootstrap {args.bootstrap}`.", "",
        "| estimator | MAE | bias | 95% CI coverage |", "|---|---|---|---|",
    ]
    for name in rows:
        mae, bias, cov = summary(name)
        lines.append(f"| {name} | {mae:.4f} | {bias:+.4f} | {cov:.2f} |")
    ratio = summary("regression")[0] / summary("regression (twin)")[0]
    verdict = "PASS" if ratio <= 2 else "FAIL"
    lines += [
        "", f"Private regression MAE / twin MAE = **{ratio:.2f}** (target <= 2: {verdict}); "
        f"plan chosen: adjusted in {plans.count('adjusted')} of {len(plans)} registries.", "",
        "Ridge constants (numeric, indicator) as multiples of the Gram noise norm; the defaults are "
        "(0.1, 3.0). Same registries and seeds:", "", "| ridge | MAE | bias |", "|---|---|---|",
        f"| (0.1, 3.0) (default) | {summary('regression')[0]:.4f} | {summary('regression')[1]:+.4f} |",
    ]
    for name, e in sens.items():
        e = np.array(e)
        lines.append(f"| {name.split('=')[1]} | {np.mean(np.abs(e)):.4f} | {np.mean(e):+.4f} |")
    if args.ihdp_draws > 0:
        lines += ihdp_section(args.ihdp_draws)
    lines += ["", "Coverage is of the true sample ATE by the basic parametric-bootstrap interval; the "
              "twins' intervals cover sampling error only. The registry's outcome is binary and its "
              "confounding non-linear, so the linear adjustment keeps a small bias even without noise.",
              "", f"Run time {time.perf_counter() - t0:.0f} s."]
    text = "\n".join(lines) + "\n"
    print(text)
    (HERE / "trauma_regression_check.md").write_text(text)


def ihdp_section(draws: int) -> list[str]:
    """MAE and 95% CI coverage on IHDP replications 1-8 (``draws`` noise draws each)."""
    import warnings

    from privcausal.data import load_ihdp
    from privcausal.exceptions import ClippingWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClippingWarning)
        data = [load_ihdp(r) for r in range(1, 9)]
    eps_grid = (0.5, 1.0, 4.0, 16.0, math.inf)
    out = ["", f"## IHDP replications 1-8 ({draws} noise draws each, delta = 1e-6)", "",
           "MAE (coverage of the 95% interval) by epsilon; the regression's plans in brackets "
           "(share of fits that adjusted). Command: `python experiments/trauma_regression_check.py "
           f"--ihdp-draws {draws}`.", "",
           "| estimator | " + " | ".join(f"eps={e:g}" for e in eps_grid) + " |", "|---" * 6 + "|"]
    for name, cls in (("DiM", DifferenceInMeans), ("regression", RegressionAdjustment)):
        cells = []
        for eps in eps_grid:
            err, cov, adj = [], [], []
            for r, d in enumerate(data):
                for k in range(draws if math.isfinite(eps) else 1):
                    est = cls(epsilon=eps, random_state=100_000 * r + 1000 * k + int(10 * min(eps, 99))).fit(d)
                    lo, hi = est.ate_interval(0.05)
                    err.append(abs(est.ate_ - d.true_ate))
                    cov.append(lo <= d.true_ate <= hi)
                    adj.append(getattr(est, "plan_", "dim") == "adjusted")
            cell = f"{np.mean(err):.3f} ({np.mean(cov):.2f})"
            cells.append(cell + (f" [{np.mean(adj):.2f}]" if name == "regression" else ""))
        out.append(f"| {name} | " + " | ".join(cells) + " |")
        print(out[-1], flush=True)
    return out


if __name__ == "__main__":
    main()

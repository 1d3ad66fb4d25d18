"""The multi-site private ATE on the simulated registry: federated one-shot against the pooled
central estimate and a meta-analysis of per-site private estimates.

n = 20,000 patients in 8 or 40 centres of unequal sizes with their own case mix (the
simulator's centre effects), epsilon per site in {0.5, 1, 4}; for each repetition a fresh
registry and fresh noise. Estimators: the federated regression adjustment (one-shot sums of
every site's noisy sufficient statistics, the site column left out of the design), the pooled
central private regression (one release at epsilon on all records, privcausal's default plan
ladder) and the inverse-variance / DerSimonian-Laird meta-analysis of each site's own private
regression. MAE against the simulation's true ATE, coverage and width of the 95 % intervals.
With ``--method ipw`` or ``aipw`` also the **federated secure (rounds)** row: every round
through secure aggregation over the local transport (:mod:`privcausal.federated.secure_rounds`;
no collusion assumed). With ``--method regression`` also the **federated secure** row: the same one-shot statistics
through secure aggregation (each site a 1/h share of the Gaussian noise, h = the sites; no
collusion assumed) and **federated secure (t = s/8)**: up to one site in eight colluding with
the server (h = 7/8 of the sites). Each federated row is reported twice: with the basic
bootstrap interval (the estimator's, which corrects for the bias the bootstrap world shows) and
with the bootstrap's spread centred on the estimate ("centred"), a diagnostic of that
correction (the estimate and its draws are the same).

Run::

    OMP_NUM_THREADS=1 python experiments/federated_ate.py --reps 20     # about 25 minutes here
    python experiments/federated_ate.py --reps 2 --quick                 # a smoke run
    # 100 repetitions, the two site counts in parallel, then one table from both:
    OMP_NUM_THREADS=1 python experiments/federated_ate.py --reps 100 --sites 8 --no-collusion-row --out federated_ate_100_s8 &
    OMP_NUM_THREADS=1 python experiments/federated_ate.py --reps 100 --sites 40 --no-collusion-row --out federated_ate_100_s40
    python experiments/federated_ate.py --merge experiments/federated_ate_100_s8.csv experiments/federated_ate_100_s40.csv --out federated_ate_100

Writes ``experiments/federated_ate.csv`` and ``.md``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def _centred(est) -> tuple[float, float, float]:
    """The estimate with the bootstrap's spread centred on it (no bias correction)."""
    dev = est.draws - np.mean(est.draws)
    lo_q, hi_q = np.quantile(dev, [0.975, 0.025])
    return est.ate, est.ate - lo_q, est.ate - hi_q


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None, help="the output files' stem (default: federated_ate[_method])")
    ap.add_argument("--method", choices=("regression", "ipw", "aipw"), default="regression",
                    help="the federated estimator (ipw, aipw: the multi-round protocol, 6 rounds)")
    ap.add_argument("--sites", type=int, nargs="+", choices=(8, 40), default=[8, 40],
                    help="the cells' numbers of centres (one process per value runs them in parallel)")
    ap.add_argument("--no-collusion-row", action="store_true",
                    help="leave out the 'federated secure (t = s/8)' row (a third of the run's time)")
    ap.add_argument("--only-secure", action="store_true",
                    help="only the secure row (no collusion), labelled with --secure-label: rerun "
                         "it on the same registries and seeds after a change, merge with --merge")
    ap.add_argument("--secure-label", default="federated secure",
                    help="the secure row's label (default: 'federated secure')")
    ap.add_argument("--merge", nargs="+", metavar="CSV", default=None,
                    help="only write the table from these CSVs of earlier runs (same --method)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from privcausal.data import simulate_trauma
    from privcausal.federated import federate

    FED = "federated one-shot" if args.method == "regression" else "federated (rounds)"
    grid = [(8, 1.0)] if args.quick else [(s, e) for s in args.sites for e in (0.5, 1.0, 4.0)]
    rows = []
    t_all = time.perf_counter()
    if args.merge:
        grid = []
        t = pd.concat([pd.read_csv(f).assign(source=Path(f).name) for f in args.merge],
                      ignore_index=True)
    for sites, eps in grid:
        for r in range(args.reps):
            data = simulate_trauma(20_000, random_state=10_000 + r, n_centres=sites)
            t0 = time.perf_counter()
            if args.only_secure:
                sr = federate(data, method=args.method, epsilon=eps, delta=1e-6, transport="local",
                              random_state=r, n_bootstrap=300, secure=True, baselines=False)
                lo, hi = sr.estimate.ci_low, sr.estimate.ci_high
                rows.append({"sites": sites, "epsilon": eps, "rep": r, "estimator": args.secure_label,
                             "error": sr.estimate.ate - sr.true_ate, "covered": bool(lo <= sr.true_ate <= hi),
                             "width": hi - lo, "seconds_all": time.perf_counter() - t0,
                             "meta_sites": sites})
                continue
            res = federate(data, method=args.method, epsilon=eps, delta=1e-6, transport="local",
                           random_state=r, n_bootstrap=300)
            secs = time.perf_counter() - t0
            d = res.to_dict()
            truth = d["true_ate"]
            m = d["meta_analysis"]
            # the rounds' interval is normal, with no bootstrap draws to centre
            extra = [(FED + " (centred)", *_centred(res.estimate))] if res.estimate.draws is not None else []
            if args.method != "regression":  # every round through secure aggregation (local)
                for label, t in (("federated secure (rounds)", 0),):
                    sr = federate(data, method=args.method, epsilon=eps, delta=1e-6, transport="local",
                                  random_state=r, secure=True, collusion=t, baselines=False)
                    extra.append((label, sr.estimate.ate, sr.estimate.ci_low, sr.estimate.ci_high))
            if args.method == "regression":
                secure_rows = (("federated secure", 0),) + (
                    () if args.no_collusion_row else (("federated secure (t = s/8)", sites // 8),))
                for label, t in secure_rows:
                    sr = federate(data, method="regression", epsilon=eps, delta=1e-6, transport="local",
                                  random_state=r, n_bootstrap=300, secure=True, collusion=t,
                                  baselines=False)
                    extra += [(label, sr.estimate.ate, sr.estimate.ci_low, sr.estimate.ci_high),
                              (label + " (centred)", *_centred(sr.estimate))]
            for name, est, lo, hi in (
                    *extra,
                    (FED, d["ate"], d["ci_low"], d["ci_high"]),
                    ("pooled central", d["pooled"]["ate"], d["pooled"]["ci_low"], d["pooled"]["ci_high"]),
                    ("meta-analysis (fixed)", m["ate"], m["ci_low"], m["ci_high"]),
                    ("meta-analysis (DerSimonian-Laird)", m["random_effects"]["ate"],
                     m["random_effects"]["ci_low"], m["random_effects"]["ci_high"])):
                rows.append({"sites": sites, "epsilon": eps, "rep": r, "estimator": name,
                             "error": est - truth, "covered": bool(lo <= truth <= hi),
                             "width": hi - lo, "seconds_all": secs,
                             "meta_sites": len(m["sites"])})
        print(f"sites {sites} eps {eps}: {time.perf_counter() - t_all:.0f} s", flush=True)
    if not args.merge:
        t = pd.DataFrame(rows)
    name = args.out or ("federated_ate" + ("" if args.method == "regression" else f"_{args.method}") +
                        ("_quick" if args.quick else ""))
    if not args.merge:
        t.to_csv(HERE / f"{name}.csv", index=False)
    reps = int(t.groupby(["sites", "epsilon", "estimator"]).size().min())
    g = t.groupby(["sites", "epsilon", "estimator"], sort=False)
    s = g.agg(MAE=("error", lambda e: float(np.mean(np.abs(e)))), bias=("error", "mean"),
              coverage=("covered", "mean"), width=("width", "mean"), reps=("rep", "count")).reset_index()
    lines = [f"# Federated private ATE (`{Path(__file__).name}`, {reps} repetitions per cell)", "",
             f"Simulated registry, n = 20,000, {args.method}; epsilon per site. " +
             (f"Merged from {', '.join(Path(f).name for f in args.merge)}; the first fit of each "
              "repetition (timed per repetition), summed over the files: "
              f"{t.drop_duplicates(['source', 'sites', 'epsilon', 'rep']).seconds_all.sum():.0f} s."
              if args.merge else f"Total {time.perf_counter() - t_all:.0f} s."), "",
             "| sites | epsilon | estimator | MAE | bias | coverage | width | reps |", "|---|---|---|---|---|---|---|---|"]
    for row in s.itertuples(index=False):
        lines.append(f"| {row.sites} | {row.epsilon:g} | {row.estimator} | {row.MAE:.4f} | {row.bias:+.4f} | "
                     f"{row.coverage:.2f} | {row.width:.3f} | {row.reps} |")
    mines = [FED, "federated secure", "federated secure (t = s/8)", "federated secure (rounds)"]
    mines += sorted(set(t.estimator) - set(mines) - {"pooled central", "meta-analysis (fixed)",
                                                      "meta-analysis (DerSimonian-Laird)"}
                    - {m + " (centred)" for m in mines})
    for mine in mines:
        fed = s[s.estimator == mine].set_index(["sites", "epsilon"])
        if fed.empty:
            continue
        for other in ("pooled central", "meta-analysis (fixed)"):
            o = s[s.estimator == other].set_index(["sites", "epsilon"])
            ratio = (fed["MAE"] / o["MAE"]).round(2)
            lines.append("")
            lines.append(f"MAE of {mine} / {other}: " + "; ".join(
                f"{k[0]} sites, eps {k[1]:g}: {v}" for k, v in ratio.items()))
    (HERE / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Are the ATE estimators adjusted, accurate and covered by their intervals? Every estimator at
epsilon in {0.5, 1, 4, 16, inf} on the simulated registry, IHDP 1-8, and a semi-synthetic
benchmark with nonlinear truth (``semisynthetic.py``; its held-out seeds reported apart), with
EconML's LinearDML and DRLearner (defaults) as non-private anchors on the same data.

Usage (EconML runs in its own virtual environment; without it the anchors are left out)::

    python3 -m venv /tmp/econml-venv && /tmp/econml-venv/bin/pip install econml==0.17.0 pyarrow
    OMP_NUM_THREADS=1 python experiments/ate_validity.py --econml /tmp/econml-venv/bin/python

Writes ``ate_validity.csv`` (one row per fit) and ``ate_validity.md`` (the table: MAE, 95 %
interval coverage and width, share of fits that adjusted, median seconds per fit).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from semisynthetic import DEVELOPMENT_SEEDS, HELD_OUT_SEEDS, semisynthetic  # noqa: E402

from privcausal.data import load_ihdp, simulate_trauma  # noqa: E402
from privcausal.estimators import make_estimator  # noqa: E402

PRIVATE = ("dim", "regression", "ipw", "aipw")
TWINS = ("dim-np", "regression-np", "ipw-np", "aipw-np", "aipw-hgb-np")
EPSILONS = (0.5, 1.0, 4.0, 16.0)


def data_sets(reps: int):
    for s in range(reps):
        yield "registry n=2,000", simulate_trauma(2000, random_state=500 + s)
    for s in range(reps):
        yield "registry n=5,000", simulate_trauma(5000, random_state=600 + s)
    for s in range(max(1, reps // 2)):
        yield "registry n=5,000, MNAR", simulate_trauma(5000, random_state=700 + s, missing="mnar")
    for r in range(1, 9):
        yield "IHDP 1-8", load_ihdp(r)
    for s in DEVELOPMENT_SEEDS:
        yield "semi-synthetic (development seeds)", semisynthetic(s)
    for s in HELD_OUT_SEEDS:
        yield "semi-synthetic (held-out seeds)", semisynthetic(s)


def econml_rows(python: str, data) -> list[dict]:
    frame = data.covariates.copy()
    frame["y"] = data.outcome
    frame["t"] = data.treatment
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.parquet"
        frame.to_parquet(path)
        out = subprocess.run([python, str(HERE / "econml_anchor.py"), str(path)], capture_output=True,
                             text=True, timeout=600)
    if out.returncode != 0:
        print(out.stderr[-2000:], file=sys.stderr)
        return []
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=10, help="registries per size")
    ap.add_argument("--econml", default=None, help="python of a venv with econml installed")
    ap.add_argument("--out", default=str(HERE / "ate_validity"))
    ap.add_argument("--from-csv", action="store_true",
                    help="rewrite the table from the CSV of an earlier run (with its --reps and --minutes)")
    ap.add_argument("--minutes", type=float, default=None, help="with --from-csv: that run's time")
    ap.add_argument("--note", default="", help="with --from-csv: a line on how the CSV was made")
    ap.add_argument("--only", default=None,
                    help="comma-separated estimators to rerun (private and twin); their rows replace "
                         "those of the existing CSV, the others are kept")
    a = ap.parse_args()
    if a.from_csv:
        write_table(pd.read_csv(a.out + ".csv"), a.out + ".md", a, 60 * (a.minutes or float("nan")))
        return
    warnings.simplefilter("ignore")
    only = set(a.only.split(",")) if a.only else None
    rows = []
    t_all = time.perf_counter()
    for k, (group, d) in enumerate(data_sets(a.reps)):
        truth = float(d.true_ate)
        runs = [(n, e) for n in PRIVATE for e in EPSILONS] + [(n, math.inf) for n in TWINS]
        if only:
            runs = [(n, e) for n, e in runs if n.removesuffix("-np") in only]
        for name, eps in runs:
            t0 = time.perf_counter()
            est = make_estimator(name, epsilon=eps, delta=1e-6, random_state=1000 * k + 7).fit(d)
            lo, hi = est.ate_interval(0.05)
            rows.append(dict(group=group, data=d.name, estimator=name.removesuffix("-np") if name != "aipw-hgb-np"
                             else "aipw-hgb", twin=name.endswith("-np"), epsilon=eps, ate=est.ate_, truth=truth,
                             ci_low=lo, ci_high=hi,
                             adjusted=not name.startswith("dim") and getattr(est, "plan_", "adjusted") == "adjusted",
                             seconds=time.perf_counter() - t0))
        if a.econml and not only:
            for r in econml_rows(a.econml, d):
                rows.append(dict(group=group, data=d.name, estimator=r["estimator"], twin=True, epsilon=math.inf,
                                 ate=r["ate"], truth=truth, ci_low=r["ci_low"], ci_high=r["ci_high"],
                                 adjusted=True, seconds=r["seconds"]))
        print(f"{k + 1}: {group} {d.name} done ({time.perf_counter() - t_all:.0f} s)", flush=True)
    df = pd.DataFrame(rows)
    if only:  # keep the earlier run's other rows
        old = pd.read_csv(a.out + ".csv")
        df = pd.concat([old[~old.estimator.isin(only)], df], ignore_index=True)
    df.to_csv(a.out + ".csv", index=False)
    write_table(df, a.out + ".md", a, time.perf_counter() - t_all)


def write_table(df: pd.DataFrame, path: str, a, seconds: float) -> None:
    df = df.assign(err=(df.ate - df.truth).abs(), covered=(df.ci_low <= df.truth) & (df.truth <= df.ci_high),
                   width=df.ci_high - df.ci_low,
                   adjusted=df.adjusted.astype(bool) & (df.estimator != "dim"))  # DiM never adjusts
    lines = ["# ATE estimators: error, interval coverage, adjustment", "",
             f"`OMP_NUM_THREADS=1 python experiments/ate_validity.py --reps {a.reps}"
             + (" --econml ..." if a.econml else "") + f"` ({seconds / 60:.1f} min on 2 cores)."
             + (f" {a.note}" if getattr(a, "note", "") else ""), "",
             "MAE against the sample ATE (mean of mu1 - mu0); coverage of the 95 % interval; its mean width;"
             " `adjusted`: share of fits that released a covariate-adjusted estimate (the regression's"
             " plan); seconds: median per fit. delta = 1e-6. Registries: "
             f"{a.reps} per size (MNAR: {max(1, a.reps // 2)}); IHDP: one fit per replication 1-8;"
             " semi-synthetic: IHDP covariates with new nonlinear treatment and outcome"
             " (`experiments/semisynthetic.py`), development and held-out seeds apart.", ""]
    order = {e: i for i, e in enumerate(["dim", "regression", "ipw", "aipw", "aipw-hgb",
                                          "econml-lineardml", "econml-drlearner"])}
    df = df.assign(_twin=df.epsilon.apply(math.isinf), _order=df.estimator.map(order).fillna(99))
    df = df.sort_values(["_twin", "_order", "epsilon"], kind="stable")
    for group, g in df.groupby("group", sort=False):
        n_sets = int(g.groupby(["estimator", "epsilon"]).size().max())
        lines += [f"## {group} ({n_sets} data sets)", "",
                  "| estimator | epsilon | MAE | coverage | width | adjusted | seconds |", "|---|---|---|---|---|---|---|"]
        for (est, eps), c in g.groupby(["estimator", "epsilon"], sort=False):
            lines.append(f"| {est} | {'inf' if math.isinf(eps) else f'{eps:g}'} | {c.err.mean():.3f} | "
                         f"{c.covered.mean():.2f} | {c.width.mean():.3f} | {c.adjusted.mean():.2f} | "
                         f"{c.seconds.median():.2f} |")
        lines.append("")
    Path(path).write_text("\n".join(lines))


if __name__ == "__main__":
    main()

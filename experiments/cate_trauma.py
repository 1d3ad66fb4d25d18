"""CATE learners on the simulated trauma registry (n = 40,000, binary outcome) at epsilon = 1.

Effects are risk differences mu1(x) - mu0(x) (TXA vs none, 28-day death). For each learner
(DP T-learner with logistic arm models, DP S-learner, DP TARNet) at epsilon = 1,
delta = 1/n^1.1, and its non-private twin (same recipe, no clipping, no noise), reports
sqrt-PEHE against the true effects, |ate_ - true ATE|, and the ratio of the private
learner's sqrt-PEHE to its twin's. Target: the best private learner within 1.5x of its twin.

The registry used for the results is ``simulate_trauma(40000, random_state=1)``; the
hyperparameters below were chosen on ``random_state=2`` (``--tune`` runs that check), never
on the evaluation draw.

Run: python experiments/cate_trauma.py [--draws 2]
Writes experiments/cate_trauma.{md,csv}.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
N = 40_000
EVAL_SEED = 1
TUNE_SEED = 2
EPSILON = 1.0
LEARNERS = ("tlearner", "slearner", "tarnet")

#: Chosen on simulate_trauma(40000, random_state=2) only.
CONFIGS = {
    "tlearner": dict(architecture="logistic", epochs=30, sampling_rate=0.05, max_grad_norm=1.0,
                     lr=2.0, optimizer="sgd", momentum=0.5, average_last=0.5),
    "slearner": dict(architecture="mlp", hidden=(32,), epochs=30, sampling_rate=0.02,
                     max_grad_norm=1.0, lr=0.01, optimizer="adam", average_last=0.5),
    "tarnet": dict(hidden=(32,), epochs=30, sampling_rate=0.02, max_grad_norm=1.0,
                   lr=0.01, optimizer="adam", average_last=0.5),
}


def pehe(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def run(seed: int, draws: int, learners) -> pd.DataFrame:
    from privcausal.data import simulate_trauma
    from privcausal.estimators.cate import make_cate_learner

    d = simulate_trauma(N, random_state=seed)
    tau, ate = d.true_effect, d.true_ate
    delta = 1.0 / d.n ** 1.1
    rows = [dict(learner="constant: true ATE (reference)", epsilon=math.inf, draw=0,
                 pehe=pehe(np.full(d.n, ate), tau), ate_error=0.0, seconds=0.0)]
    for name in learners:
        for eps in (EPSILON, math.inf):
            for k in range(draws if math.isfinite(eps) else 1):
                learner = ("dp-" if math.isfinite(eps) else "") + name
                t0 = time.perf_counter()
                est = make_cate_learner(learner, **{**CONFIGS[name], "epsilon": eps, "delta": delta,
                             "random_state": 100 * seed + k}).fit(d)
                th = est.effect(d)
                rows.append(dict(learner=name, epsilon=eps, draw=k, pehe=pehe(th, tau),
                                 ate_error=abs(est.ate_ - ate), seconds=time.perf_counter() - t0,
                                 receipt_epsilon=est.privacy_.epsilon))
            print(f"{name} eps={eps}: done", flush=True)
    df = pd.DataFrame(rows)
    df.attrs["sd_effect"] = float(np.std(tau))
    df.attrs["ate"] = ate
    df.attrs["delta"] = delta
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=2, help="noise draws of each private learner")
    ap.add_argument("--tune", action="store_true", help="run on the tuning draw (random_state=2)")
    ap.add_argument("--learners", default=",".join(LEARNERS))
    args = ap.parse_args()
    from privcausal.exceptions import ClippingWarning, PrivacyLeakWarning

    warnings.simplefilter("ignore", ClippingWarning)
    warnings.simplefilter("ignore", PrivacyLeakWarning)
    import torch

    torch.set_num_threads(1)
    learners = args.learners.split(",")
    seed = TUNE_SEED if args.tune else EVAL_SEED
    t0 = time.perf_counter()
    df = run(seed, args.draws, learners)
    secs = time.perf_counter() - t0
    g = df.groupby(["learner", "epsilon"], as_index=False)[["pehe", "ate_error", "seconds"]].mean()
    lines = ["| learner | epsilon | sqrt-PEHE | ATE error | private / twin | seconds per fit |",
             "|---|---|---|---|---|---|"]
    ratios = {}
    for name in learners:
        twin = float(g[(g.learner == name) & np.isinf(g.epsilon)].pehe.iloc[0])
        for eps in (EPSILON, math.inf):
            row = g[(g.learner == name) & (g.epsilon == eps)].iloc[0]
            ratio = row.pehe / twin
            if math.isfinite(eps):
                ratios[name] = ratio
            e = "inf" if math.isinf(eps) else f"{eps:g}"
            lines.append(f"| {name} | {e} | {row.pehe:.4f} | {row.ate_error:.4f} | "
                         f"{ratio:.2f} | {row.seconds:.1f} |")
    c = float(g[g.learner.str.startswith("constant")].pehe.iloc[0])
    lines.append(f"| constant: true ATE (reference) | inf | {c:.4f} | 0 | | |")
    best = min(learners, key=lambda x: float(g[(g.learner == x) & (g.epsilon == EPSILON)].pehe.iloc[0]))
    if args.tune:
        print("\n".join(lines))
        return
    md = [
        "# CATE learners on the simulated trauma registry (n = 40,000) at epsilon = 1",
        "",
        f"Generated by `python experiments/cate_trauma.py --draws {args.draws}` in {secs:.0f} s "
        f"(registry: simulate_trauma({N}, random_state={seed}); hyperparameters chosen on "
        f"random_state={TUNE_SEED}). delta = 1/n^1.1 = {df.attrs['delta']:.2g}. Effects are "
        f"risk differences; true ATE {df.attrs['ate']:.4f}, sd of the true effects "
        f"{df.attrs['sd_effect']:.4f}. Private rows: mean over {args.draws} noise draws.",
        "",
        *lines,
        "",
        f"Best private learner at epsilon = 1: **{best}**, sqrt-PEHE {ratios[best]:.2f}x its "
        f"non-private twin's (target: within 1.5x).",
        "",
        "Notes:",
        "",
        "* The private/twin ratio compares each private learner with the same recipe without "
        "clipping or noise; the constant predictor (tau(x) = true ATE) shows how much "
        "heterogeneity a learner found at all.",
        "* TARNet's recipe for this binary outcome is not robust: on the tuning draw its twin "
        "scored about 0.054; its result varies with the initialisation. It was not tuned "
        "further on the evaluation draw.",
        "* Noise is seeded (experiments only).",
        "",
        "Hyperparameters:",
        "",
        *[f"* {k}: `{v}`" for k, v in CONFIGS.items() if k in learners],
    ]
    (HERE / "cate_trauma.md").write_text("\n".join(md) + "\n")
    df.to_csv(HERE / "cate_trauma.csv", index=False)
    print("\n".join(md))


if __name__ == "__main__":
    main()

"""Membership inference against a non-private overfitted MLP and its DP-SGD versions.

Data: the simulated trauma registry (privcausal.data.simulate_trauma), encoded with the
treatment as a feature; 1000 members (the target's training set), 1000 non-members, 2000
population records for the attacker. Target: an MLP (64 hidden units, Adam) trained by
privcausal.training.train_dpsgd, non-private (150 epochs: overfitted) and with DP-SGD at
epsilon in {16, 4, 1} (delta = 1e-5, clipping 1, 30 epochs). Reference models follow the
target's recipe (read off its training result) through the vectorised trainer:
8 offline models (random halves of the population), 8 and 2 online models (balanced halves
of the candidates, LiRA's setting).

Attacks: loss threshold, difficulty calibration, LiRA online / fixed variance / offline,
RMIA online / offline (a tuned on a reference model), and the few-model comparison RMIA vs
LiRA with 1 and 2 reference models. Reported: AUC, TPR at FPR 0.1 % and 1 % (1000
non-members resolve 0.1 % exactly), advantage, and for DP targets whether every ROC point
respects TPR <= e^eps FPR + delta (checked with 95 % Clopper-Pearson bounds per point:
TPR lower bound vs FPR upper bound).

Writes experiments/attacks_mia.{md,csv,png}. Seeded; a few minutes on a loaded 2-core machine.

Run: python experiments/attacks_mia.py [--members 1000] [--k 8] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

HERE = Path(__file__).resolve().parent
DELTA = 1e-5


def dp_check(res, eps: float, delta: float) -> tuple[bool, float]:
    """(no ROC point violates TPR <= e^eps FPR + delta with 95 % CP bounds, largest raw excess)."""
    c = res.roc
    k_tp = np.rint(c.tpr * c.n_members).astype(int)
    k_fp = np.rint(c.fpr * c.n_non_members).astype(int)
    tpr_lo = np.where(k_tp > 0, stats.beta.ppf(0.025, k_tp, c.n_members - k_tp + 1), 0.0)
    fpr_hi = np.where(k_fp < c.n_non_members,
                      stats.beta.ppf(0.975, k_fp + 1, c.n_non_members - k_fp), 1.0)
    ok = bool(np.all(tpr_lo <= np.exp(eps) * fpr_hi + delta))
    excess = float(np.max(c.tpr - (np.exp(eps) * c.fpr + delta)))
    return ok, excess


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=1000)
    ap.add_argument("--k", type=int, default=8, help="reference models for the many-model attacks")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epsilons", default="16,4,1")
    ap.add_argument("--out", default=str(HERE / "attacks_mia"))
    args = ap.parse_args()

    from attacks.membership import membership_attacks
    from attacks.metrics import plot_roc
    from attacks.records import Records
    from attacks.shadow import train_reference_models
    from attacks.targets import as_target
    from privcausal.data import simulate_trauma
    from privcausal.training import encode, train_dpsgd

    t_all = time.perf_counter()
    m = args.members
    data = simulate_trauma(4 * m, random_state=args.seed)
    enc = encode(data, include_treatment=True)
    rng = np.random.default_rng(args.seed)
    perm = rng.permutation(data.n)
    idx = {"members": perm[:m], "non": perm[m:2 * m], "pop": perm[2 * m:]}
    parts = {k: data.subset(v) for k, v in idx.items()}
    X, y = enc.X, enc.y
    mlp = dict(architecture="mlp", hidden=(64,), activation="relu", loss="bce", optimizer="adam",
               batch_size=250, dtype="float32")
    targets = [("non-private", math.inf, dict(epsilon=math.inf, epochs=150, lr=0.01))]
    for e in (float(s) for s in args.epsilons.split(",")):
        targets.append((f"DP-SGD eps={e:g}", e, dict(epsilon=e, delta=DELTA, epochs=30, lr=0.01,
                                                      max_grad_norm=1.0)))
    rows, figs = [], {}
    for name, eps, kw in targets:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # seeded noise: experiments only (the receipt says so)
            res = train_dpsgd(X[idx["members"]], y[idx["members"]], random_state=args.seed + 1,
                              **mlp, **kw)
        tgt = as_target(res, feature_names=enc.feature_names)
        recipe = tgt.recipe
        cand = Records.concat([tgt.records(parts["members"]), tgt.records(parts["non"])])
        pop = tgt.records(parts["pop"])
        ref_rng = np.random.default_rng(args.seed + 7)
        off = train_reference_models(pop.X, pop.y, args.k, recipe, inclusion="halves", random_state=ref_rng)
        on_k = train_reference_models(cand.X, cand.y, args.k, recipe, inclusion="balanced", random_state=ref_rng)
        on_2 = train_reference_models(cand.X, cand.y, 2, recipe, inclusion="balanced", random_state=ref_rng)
        t_train = time.perf_counter() - t0
        common = dict(random_state=0)
        runs = [
            (args.k, membership_attacks(tgt, parts["members"], parts["non"], parts["pop"],
                                        attacks=("loss", "calibrated", "lira", "lira-fixed", "lira-offline",
                                                 "rmia", "rmia-offline"), n_reference=args.k,
                                        references={"online": on_k, "offline": off}, **common)),
            (1, membership_attacks(tgt, parts["members"], parts["non"], parts["pop"],
                                   attacks=("lira-offline-fixed", "rmia-offline"), n_reference=1,
                                   references={"offline": off}, **common)),
            (2, membership_attacks(tgt, parts["members"], parts["non"], parts["pop"],
                                   attacks=("lira-offline-fixed", "rmia-offline"), n_reference=2,
                                   references={"offline": off}, **common)),
            (2, membership_attacks(tgt, parts["members"], parts["non"], parts["pop"],
                                   attacks=("lira-fixed", "rmia"), n_reference=2,
                                   references={"online": on_2}, **common)),
        ]
        curves = {}
        for K, out in runs:
            for a, r in out.items():
                label = a if a == "loss" else f"{a} (K={K})"
                row = {"target": name, "epsilon": eps, "attack": a, "reference_models": 0 if a == "loss" else K,
                       "auc": r.auc, "tpr_at_0.1%": r.tpr_at(0.001), "tpr_at_1%": r.tpr_at(0.01),
                       "tpr_at_0": r.tpr_at(0.0), "advantage": r.advantage,
                       "train_loss": float(np.mean(tgt.statistic(cand.subset(np.arange(m)), "loss"))),
                       "test_loss": float(np.mean(tgt.statistic(cand.subset(np.arange(m, 2 * m)), "loss"))),
                       "noise_multiplier": res.noise_multiplier}
                if math.isfinite(eps):
                    row["dp_region_ok"], row["max_excess"] = dp_check(r, eps, DELTA)
                rows.append(row)
                if K == args.k or a in ("loss",) or (K == 1):
                    curves[label] = r.roc
        figs[name] = curves
        print(f"{name}: trained target + {2 * args.k + 2} reference models in {t_train:.1f} s; "
              f"attacks done at {time.perf_counter() - t0:.1f} s (sigma={res.noise_multiplier:.3g})", flush=True)
    df = pd.DataFrame(rows)
    out = Path(args.out)
    df.to_csv(out.with_suffix(".csv"), index=False)
    cols = ["target", "attack", "reference_models", "auc", "tpr_at_0.1%", "tpr_at_1%", "advantage"]
    show = df[cols + (["dp_region_ok"] if "dp_region_ok" in df else [])].copy()
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(show.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6 * len(figs), 4.8))
    FigureCanvasAgg(fig)
    eps_of = {name: eps for name, eps, _ in targets}
    for i, (name, curves) in enumerate(figs.items()):
        ax = fig.add_subplot(1, len(figs), i + 1)
        plot_roc(curves, ax=ax, title=name)
        if math.isfinite(eps_of[name]):
            f = np.logspace(-3, 0, 100)
            ax.plot(f, np.minimum(1.0, np.exp(eps_of[name]) * f + DELTA), color="black", lw=1.2,
                    label="DP limit e^eps FPR + delta")
        ax.legend(loc="lower right", fontsize=6)
    fig.savefig(out.with_suffix(".png"), dpi=110, bbox_inches="tight")
    total = time.perf_counter() - t_all
    md = [f"# Membership inference: non-private vs DP-SGD MLP ({m} members, {m} non-members, "
          f"{2 * m} population records)", "",
          f"Command: `python experiments/attacks_mia.py --members {m} --k {args.k} --seed {args.seed}` "
          f"({total:.0f} s). Figure: `attacks_mia.png` (log-log ROC).", "",
          "| target | attack | K | AUC | TPR @ 0.1 % | TPR @ 1 % | advantage | TPR <= e^eps FPR + delta |",
          "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        ok = "" if not math.isfinite(r["epsilon"]) else ("yes" if r["dp_region_ok"] else "NO")
        md.append(f"| {r['target']} | {r['attack']} | {r['reference_models']} | {r['auc']:.4f} | "
                  f"{r['tpr_at_0.1%']:.4f} | {r['tpr_at_1%']:.4f} | {r['advantage']:.4f} | {ok} |")
    losses = df.groupby("target", sort=False)[["train_loss", "test_loss", "noise_multiplier"]].first()
    md += ["", "Target losses (mean per-record cross-entropy):", ""]
    md += [f"- {t}: members {v.train_loss:.3f}, non-members {v.test_loss:.3f}, noise multiplier "
           f"{v.noise_multiplier:.3g}" for t, v in losses.iterrows()]
    md += ["", "TPR at FPR 0.1 % rests on 1000 non-members (one false positive allowed); the DP column "
           "checks every ROC point with 95 % Clopper-Pearson bounds (TPR lower vs FPR upper, no "
           "multiplicity correction)."]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print(f"wrote {out.with_suffix('.md')}, .csv, .png in {total:.0f} s")


if __name__ == "__main__":
    main()

"""Scale benchmark: offline membership attacks with 64 reference models over 100,000 records.

Setting: simulated trauma registry; a target MLP (16 hidden units) trained on 50,000 members;
50,000 non-members; an attacker population of 100,000 records. 64 reference models, each on
a random half of the population (50,000 records, the target's training-set size), trained
in one vectorised pass per chunk (privcausal.training.train_many) with a tqdm bar; then
every reference model scores the 100,000 candidates and the 100,000 population records
(RMIA's z), and loss, calibrated, offline LiRA and offline RMIA (a tuned on a reference
model) run on all 100,000 candidates.

Side by side in the same run (same inputs, same machine): our RMIA scoring (sort the z
ratios once, binary search) against the pairwise evaluation the privacy meter's
``run_rmia`` does (``ratio_x[:, None] / ratio_z``, here in chunks so it fits in memory),
and our vectorised offline LiRA against a per-record loop with scipy.stats.norm; both
baselines on a subset of candidates, the ratio printed. The scores agree (checked).

Also side by side: the reference models trained one at a time (one call of the trainer per
model, as shadow-model loops do: ML-Leaks, the privacy meter) on the first ``--loop-models``
of the same masks, against the vectorised pass, per model.

The load average at start and end is printed with the tables.

Library baselines: privacy-meter on PyPI (1.0.1, 2023) predates RMIA and LiRA (its RMIA
lives only in its GitHub repository) and tensorflow-privacy needs TensorFlow, which is not
installed here; neither was compared.

Writes experiments/bench_attack_scale.md. Run:
    python experiments/bench_attack_scale.py [--population 100000] [--k 64] [--subset 2000]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import norm

HERE = Path(__file__).resolve().parent


def pairwise_rmia(px, Px, pz, Pz, chunk=256):
    """privacy meter's run_rmia counting: mean over z of (ratio_x / ratio_z > 1), chunked."""
    rx, rz = px / Px, pz / Pz
    out = np.empty(rx.size)
    for s in range(0, rx.size, chunk):
        out[s:s + chunk] = np.mean((rx[s:s + chunk, None] / rz[None, :]) >= 1.0, axis=1)
    return out


def loop_lira_offline(phi, ref):
    out = np.empty(phi.size)
    for i in range(phi.size):
        v = ref[:, i]
        out[i] = norm.logcdf(phi[i], v.mean(), v.std())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--population", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--subset", type=int, default=2000, help="candidates for the side-by-side baselines")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--loop-models", type=int, default=8,
                    help="reference models trained one at a time for the side-by-side baseline")
    args = ap.parse_args()

    from attacks.membership import membership_attacks
    from attacks.lira import lira_offline
    from attacks.records import Records
    from attacks.rmia import marginal_probability, rmia_scores
    from attacks.shadow import TrainingRecipe, train_reference_models
    from attacks.targets import as_target
    from privcausal.data import simulate_trauma
    from privcausal.training import encode, train_dpsgd

    import torch

    load0 = os.getloadavg()
    P = args.population
    half = P // 2
    t0 = time.perf_counter()
    data = simulate_trauma(2 * P, random_state=args.seed)
    enc = encode(data, include_treatment=True)
    X, y = enc.X, enc.y
    mem, non, pop = np.arange(half), np.arange(half, P), np.arange(P, 2 * P)
    t_data = time.perf_counter() - t0
    recipe = TrainingRecipe(architecture="mlp", hidden=(16,), loss="bce", epochs=args.epochs,
                            batch_size=1000, lr=0.01, optimizer="adam", noise_multiplier=0.0)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train_dpsgd(X[mem], y[mem], recipe.for_training_set(half), random_state=args.seed)
    t_target = time.perf_counter() - t0
    tgt = as_target(res)
    cand = Records(np.vstack([X[mem], X[non]]), np.r_[y[mem], y[non]])
    popr = Records(X[pop], y[pop])
    t0 = time.perf_counter()
    refs = train_reference_models(popr.X, popr.y, args.k + 1, recipe, inclusion="halves",
                                  random_state=args.seed + 1, progress=True)
    t_train = time.perf_counter() - t0
    # baseline: the same recipe and masks, one trainer call per model
    from privcausal.training import train_many

    L = max(1, min(args.loop_models, args.k + 1))
    per_model = recipe.for_training_set(float(refs.inclusion.sum(1).mean()))
    Xp, yp = np.array(popr.X, dtype=np.float64), np.array(popr.y, dtype=np.float64)
    t0 = time.perf_counter()
    for k in range(L):
        train_many(Xp, yp, refs.inclusion[k:k + 1], per_model, random_state=args.seed + 7 + k)
    t_loop_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = membership_attacks(tgt, Records(X[mem], y[mem]), Records(X[non], y[non]), popr,
                             attacks=("loss", "calibrated", "lira-offline", "rmia-offline"),
                             n_reference=args.k, references={"offline": refs}, subgroups=False,
                             progress=True)
    t_attacks = time.perf_counter() - t0

    # side by side on the same inputs
    S = min(args.subset, cand.n)
    sub = np.random.default_rng(1).choice(cand.n, S, replace=False)
    ref_out_c = refs.outputs(cand.X[sub])[: args.k]
    ref_out_z = refs.outputs(popr.X)[: args.k]
    from attacks.targets import statistic_from_outputs

    px = tgt.statistic(cand.subset(sub), "confidence")
    pz = tgt.statistic(popr, "confidence")
    rx = statistic_from_outputs(ref_out_c, cand.y[sub], "binary", "confidence")
    rz = statistic_from_outputs(ref_out_z, popr.y, "binary", "confidence")
    a = out["rmia-offline"].details["offline_a"]
    zin = refs.inclusion[: args.k]
    keep = (~zin).any(0)
    t0 = time.perf_counter()
    ours = rmia_scores(px, rx, pz[keep], rz[:, keep], ref_z_in=zin[:, keep], offline_a=a)
    t_ours = time.perf_counter() - t0
    Px = marginal_probability(rx, None, offline_a=a)
    Pz = marginal_probability(rz[:, keep], zin[:, keep], offline_a=a)
    t0 = time.perf_counter()
    base = pairwise_rmia(px, Px, pz[keep], Pz)
    t_pair = time.perf_counter() - t0
    assert np.array_equal(ours, base), "RMIA scores differ from the pairwise evaluation"
    phi = tgt.statistic(cand.subset(sub), "logit")
    rl = statistic_from_outputs(ref_out_c, cand.y[sub], "binary", "logit")
    t0 = time.perf_counter()
    lo = lira_offline(phi, rl)
    t_lira = time.perf_counter() - t0
    t0 = time.perf_counter()
    lb = loop_lira_offline(phi, rl)
    t_loop = time.perf_counter() - t0
    np.testing.assert_allclose(lo, lb, rtol=1e-10, atol=1e-10)
    full_pair_est = t_pair * cand.n / S
    load1 = os.getloadavg()
    per_vec = t_train / (args.k + 1)
    per_loop = t_loop_train / L

    lines = [
        f"# Attack scale benchmark ({platform.machine()}, {platform.python_version()})", "",
        f"Command: `python experiments/bench_attack_scale.py --population {P} --k {args.k} "
        f"--subset {args.subset} --epochs {args.epochs:g} --loop-models {args.loop_models}`", "",
        f"Machine: {os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads); "
        f"load average at start {tuple(round(x, 2) for x in load0)}, at the end "
        f"{tuple(round(x, 2) for x in load1)} ({time.strftime('%Y-%m-%d %H:%M')}).", "",
        f"{cand.n} candidates ({half} members, {half} non-members), {P} population records, "
        f"{args.k} reference models (+1 to tune RMIA's a) of an MLP (16 hidden), each on "
        f"{refs.inclusion.sum(1).mean():.0f} records, {recipe.epochs:g} epochs, batch {recipe.batch_size:g}.", "",
        "| phase | seconds |", "|---|---:|",
        f"| simulate + encode {2 * P} records | {t_data:.1f} |",
        f"| train target | {t_target:.1f} |",
        f"| train {args.k + 1} reference models | {t_train:.1f} |",
        f"| score and attack (4 attacks, {cand.n} candidates, {P} z) | {t_attacks:.1f} |",
        f"| **total: reference models + attacks** | **{t_train + t_attacks:.1f}** |", "",
        "| attack | AUC | TPR @ 0.1 % | TPR @ 1 % |", "|---|---:|---:|---:|"]
    for name, r in out.items():
        lines.append(f"| {name} | {r.auc:.4f} | {r.tpr_at(0.001):.4f} | {r.tpr_at(0.01):.4f} |")
    lines += ["", f"Side by side on {S} candidates, {int(keep.sum())} z, {args.k} models (same run):", "",
              "| computation | ours (s) | baseline (s) | baseline / ours |", "|---|---:|---:|---:|",
              f"| one reference model (vectorised pass of {args.k + 1} vs one trainer call per model, "
              f"{L} models) | {per_vec:.4f} | {per_loop:.4f} | {per_loop / per_vec:.1f} |",
              f"| RMIA fraction (sorted z + binary search vs pairwise, privacy-meter style) | {t_ours:.4f} | "
              f"{t_pair:.3f} | {t_pair / t_ours:.0f} |",
              f"| offline LiRA (vectorised vs per-record scipy loop) | {t_lira:.4f} | {t_loop:.3f} | "
              f"{t_loop / t_lira:.0f} |", "",
              f"The pairwise RMIA on all {cand.n} candidates would take about {full_pair_est:.0f} s at this "
              "rate; scores are identical (checked).", "",
              "privacy-meter (PyPI 1.0.1, 2023) has no RMIA or LiRA and tensorflow-privacy needs "
              "TensorFlow (not installed): no library comparison was run."]
    text = "\n".join(lines) + "\n"
    (HERE / "bench_attack_scale.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

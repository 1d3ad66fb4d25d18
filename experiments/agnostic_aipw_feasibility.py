"""Can a model-agnostic private AIPW (non-private nuisances, noise on the aggregate only) compete?

Feasibility study on the simulated registry (``simulate_trauma``; binary outcome, declared
bounds [0, 1], so the width is W = 1). Two constructions, both with a public number K of
groups / folds and records assigned i.i.d. uniformly to them (adding or removing one record
changes exactly one group / fold). Neither is implemented in ``privcausal``; this script
only measures the non-private part of each and the Laplace noise its sensitivity would need,
and puts the toolkit's current private ``aipw`` beside them.

(1) Subsample and aggregate (Smith, STOC 2011)
----------------------------------------------
Per group g, a NON-private cross-fitted AIPW estimate theta_g: two folds inside the group
(i.i.d. fair coin per record), on each fold a propensity model and one outcome model per arm
(logistic regression, the objective of sklearn ``LogisticRegression(C=1)``), predictions on the
other fold, propensities clipped to [0.01, 0.99], theta_g = mean of the pseudo-outcomes of the
group. theta_g is clipped to [-W, W] (an empty group gives 0) and the release is

    mean_g(theta_g) + Laplace((2W / K) / epsilon),

L1 sensitivity 2W/K: one record changes one group, whose clipped estimate moves by at most 2W.
A second row clips to a *user-declared public* effect bound [-0.3, 0.3] instead (sensitivity
0.6/K); the bound must be declared before seeing the data, it is not read off them.

(2) Ensemble cross-fitting in the style of Lebeda, Even, Bellet, Josse (2025)
----------------------------------------------------------------------------
K folds; on each fold alone (non-private) a propensity model and one outcome model per arm
(same logistic regression). For record i in fold k(i), over the K - 1 other folds j:

    w1_i = mean_j 1 / e_j(x_i),  w0_i = mean_j 1 / (1 - e_j(x_i))   (e_j clipped to [c, 1 - c]),
    m1_i = mean_j m1_j(x_i),     m0_i = mean_j m0_j(x_i)            (predictions in [0, W]),

i.e. the propensity is the harmonic mean of the other folds' clipped propensities (and 1 - e
the harmonic mean of their 1 - e_j), c = 0.05, and

    psi_i = m1 - m0 + A (Y - m1) w1 - (1 - A)(Y - m0) w0,     estimate = mean_i psi_i.

This is the construction of the brief, "in the style of" the paper: REFERENCES.md says the
paper also puts noise on the predictions, which this construction does not.

Bound on |psi|. For A = 1, psi = m1 (1 - w1) - m0 + Y w1 with w1 in [1/(1-c), 1/c]; it is
largest at m1 = m0 = 0, Y = W, w1 = 1/c (psi = W/c) and smallest at m1 = m0 = W, Y = 0,
w1 = 1/c (psi = -W/c); A = 0 is the mirror image. So |psi| <= B = W/c.

Sensitivity constant D (how far one other record's psi moves when one fold changes).
Adding or removing a record in fold j changes fold j's three models arbitrarily and nothing
else. Records of fold j do not use fold j's models; the new record's own psi is a new term.
For a record i outside fold j, exactly one of the K - 1 terms of each average changes, so
with primes for "after" and delta for the change:

    |delta m_a| <= W / (K - 1)                      (one prediction in [0, W] of K - 1 changes)
    |delta w1|  <= (1/c - 1/(1-c)) / (K - 1)        (one term in [1/(1-c), 1/c] of K - 1 changes)

For A = 1 (A = 0 is symmetric, with m0, w0, -(Y - m0)):

    psi' - psi = delta m1 - delta m0 + (Y - m1') w1' - (Y - m1) w1
               = delta m1 - delta m0 + (Y - m1') delta w1 - delta m1 w1
               = delta m1 (1 - w1) - delta m0 + (Y - m1') delta w1,

    |psi' - psi| <= |delta m1| (w1 - 1) + |delta m0| + |Y - m1'| |delta w1|      (w1 >= 1)
                 <= W/(K-1) (1/c - 1) + W/(K-1) + W (1/c - 1/(1-c))/(K-1)
                 =  W (2/c - 1/(1-c)) / (K - 1).

So D = W (2/c - 1/(1-c)) = 38.947 W at c = 0.05, smaller than the brief's W (2 + 2/c) = 42 W.
The brief's constant is what the triangle inequality gives term by term (|delta m1| +
|delta m1| w1 + |delta m0| + W |delta w1| with |delta w1| <= (1/c)/(K-1)); the chain above
keeps delta m1 (1 - w1) together (w1 >= 1, so |1 - w1| <= 1/c - 1) and uses the range of
1/e_j, 1/c - 1/(1-c), rather than its maximum. The bound is tight up to O(1/(K-1)^2):
take Y = 0, A = 1, every fold at e = c and m1 = W, the other folds at m0 = 0, and move fold j
from (e, m1, m0) = (c, W, W) to (1 - c, 0, 0). This script uses D = W (2/c - 1/(1-c)).

Sensitivity of the mean (n records before, n + 1 after adding one in fold j, S the sum):

    |S'/(n+1) - S/n| <= |sum of the other records' changes| / (n + 1) + |psi_new - S/n| / (n + 1)
                     <= D/(K - 1) + 2B/n,

and the Laplace scale is (D/(K - 1) + 2B/n_lower) / epsilon. The experiment uses n itself for
n_lower; a real release needs a noisy lower bound on n (n is not public), which costs a little
budget and makes the second term slightly larger.

What is reported (over R registries, seeds 90000 + r): the noise-free estimate's bias and sd
of (estimate - true_ate) (sd with ddof = 0, so bias^2 + sd^2 is the mean squared error), the
Laplace noise sd sqrt(2) * scale at epsilon 1 and 4, and the expected RMSE
sqrt(bias^2 + sd^2 + noise_sd^2). Beside them: the current private ``aipw`` (delta = 1e-6,
random_state = r), its bias, sd and RMSE over the same registries (one noise draw each).

Solver. Fitting thousands of small logistic regressions one by one with sklearn takes about
15 ms each here (about 1 minute per registry), too slow for the time limit, so the models are
fitted together by a batched damped Newton method on exactly sklearn's objective for
``LogisticRegression(C=1)``: C * sum(log-loss) + ||w||^2 / 2, intercept unpenalised, run to a
gradient norm of 1e-8. On registry 0 a few fits per configuration are refitted with
``sklearn.linear_model.LogisticRegression(C=1, max_iter=300)`` and the largest difference in
predicted probability is reported in the .md. A fold or arm holding a single class (sklearn
refuses it; the penalised optimum is then at infinity) predicts that class; an empty arm
predicts 0.5. These are fixed functions of the fold's data, so the sensitivity arguments
above are unaffected; their counts are reported.

Usage::

    OMP_NUM_THREADS=1 python experiments/agnostic_aipw_feasibility.py [--reps 10]

Writes ``agnostic_aipw_feasibility.md`` beside this file.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.special import expit

from privcausal.data import simulate_trauma
from privcausal.estimators import make_estimator

HERE = Path(__file__).resolve().parent
EPSILONS = (1.0, 4.0)
NS = (20000, 40000)
SA_SIZES = (250, 500, 1000, 2000)
LEB_KS = (10, 50, 200, 500)  # 500: beyond the brief's grid, to see the small-fold end
SA_CLIP = 0.01
LEB_CLIP = 0.05
NARROW = 0.3  # user-declared public effect bound [-0.3, 0.3]
C_REG = 1.0
_CONST_LOGIT = 50.0  # a constant model's "intercept": expit(+-50) is 1 or 0 to double precision


# ----------------------------------------------------------------------------- logistic fits
def fit_logistic_batch(Xs, ys, C=C_REG, tol=1e-8, max_iter=100):
    """Fit one L2 logistic regression per (X, y) pair, sklearn's objective for LogisticRegression(C):
    C * sum log-loss + ||w||^2 / 2, intercept unpenalised. Returns (coef (G, p + 1) with the
    intercept last, status (G,) with 0 = fitted, 1 = single class, 2 = empty)."""
    G = len(Xs)
    p = Xs[0].shape[1] if G else 0
    sizes = np.array([len(y) for y in ys])
    coef = np.zeros((G, p + 1))
    status = np.zeros(G, dtype=int)
    live = []
    for g in range(G):
        if sizes[g] == 0:
            status[g] = 2  # predicts 0.5
        elif ys[g].min() == ys[g].max():
            status[g] = 1
            coef[g, -1] = _CONST_LOGIT if ys[g][0] == 1 else -_CONST_LOGIT
        else:
            live.append(g)
    if not live:
        return coef, status
    m = int(sizes[live].max())
    L = len(live)
    Xt = np.zeros((L, m, p + 1))
    Y = np.zeros((L, m))
    M = np.zeros((L, m))
    for i, g in enumerate(live):
        k = sizes[g]
        Xt[i, :k, :p] = Xs[g]
        Xt[i, :k, p] = 1.0
        Y[i, :k] = ys[g]
        M[i, :k] = 1.0
    reg = np.ones(p + 1)
    reg[p] = 0.0
    beta = np.zeros((L, p + 1))

    def objective(b, rows):
        Xr = Xt[rows]
        z = np.matmul(Xr, b[:, :, None])[:, :, 0]
        return C * np.sum(M[rows] * (np.logaddexp(0.0, z) - Y[rows] * z), axis=1) + 0.5 * np.sum(reg * b * b, axis=1)

    active = np.ones(L, dtype=bool)
    for _ in range(max_iter):
        z = np.matmul(Xt, beta[:, :, None])[:, :, 0]
        pr = expit(z)
        grad = C * np.matmul((M * (pr - Y))[:, None, :], Xt)[:, 0, :] + reg * beta
        active &= np.abs(grad).max(axis=1) > tol
        if not active.any():
            break
        a = np.flatnonzero(active)
        Xa = Xt[a]
        h = C * (M[a] * pr[a] * (1.0 - pr[a]))
        H = np.matmul(np.transpose(Xa * h[:, :, None], (0, 2, 1)), Xa) + np.diag(reg + 1e-12)
        step = np.linalg.solve(H, grad[a][:, :, None])[:, :, 0]
        slope = np.sum(grad[a] * step, axis=1)  # > 0: the decrease rate along -step
        f0 = objective(beta[a], a)
        t = np.ones(len(a))
        todo = np.arange(len(a))  # groups still searching for a step (Armijo backtracking)
        for _ls in range(40):
            ft = objective(beta[a[todo]] - t[todo, None] * step[todo], a[todo])
            # accept a sufficient decrease, or a step whose change is below the objective's rounding
            ok = ft <= f0[todo] - 1e-4 * t[todo] * slope[todo] + 1e-12 * np.abs(f0[todo])
            todo = todo[~ok]
            if todo.size == 0:
                break
            t[todo] *= 0.5
        beta[a] = beta[a] - t[:, None] * step
    coef[live] = beta
    return coef, status


def predict_proba(coef, X):
    return expit(X @ coef[:-1] + coef[-1])


def sklearn_check(Xs, ys, coef, status, rng, k=3):
    """Refit up to k of the fitted models with sklearn, at its default tolerance (the brief's
    ``LogisticRegression(C=1, max_iter=300)``) and run to tol 1e-10; returns the two largest
    |differences of predicted probability| on the fit's records."""
    from sklearn.linear_model import LogisticRegression

    fitted = np.flatnonzero(status == 0)
    worst = np.zeros(2)
    for g in rng.choice(fitted, size=min(k, len(fitted)), replace=False):
        ours = predict_proba(coef[g], Xs[g])
        for j, kw in enumerate((dict(max_iter=300), dict(max_iter=10000, tol=1e-10))):
            sk = LogisticRegression(C=C_REG, **kw).fit(Xs[g], ys[g])
            worst[j] = max(worst[j], float(np.abs(sk.predict_proba(Xs[g])[:, 1] - ours).max()))
    return worst


def fit_cells(X, A, Y, index_lists, rng, check):
    """A propensity fit on each index list and an outcome fit per arm (arm 0, arm 1) on each:
    ``(propensity coefs, statuses, outcome coefs, statuses, sklearn diff or None)``."""
    Xs_e = [X[i] for i in index_lists]
    ys_e = [A[i] for i in index_lists]
    Xs_m, ys_m = [], []
    for i in index_lists:
        for arm in (0, 1):
            sel = i[A[i] == arm]
            Xs_m.append(X[sel])
            ys_m.append(Y[sel])
    ce, se = fit_logistic_batch(Xs_e, ys_e)
    cm, sm = fit_logistic_batch(Xs_m, ys_m)
    diff = (np.maximum(sklearn_check(Xs_e, ys_e, ce, se, rng), sklearn_check(Xs_m, ys_m, cm, sm, rng))
            if check else None)
    return ce, se, cm, sm, diff


# ------------------------------------------------------------------ (1) subsample and aggregate
def subsample_aggregate(d, K, rng, check):
    """Per-group non-private cross-fitted AIPW; returns (theta_g (K,), fallbacks, sklearn diff)."""
    X, A, Y = d.X, d.treatment.astype(int), d.outcome.astype(float)
    n = len(Y)
    group = rng.integers(0, K, size=n)
    fold = rng.integers(0, 2, size=n)
    cells = [(g, f) for g in range(K) for f in (0, 1)]
    idx = {c: np.flatnonzero((group == c[0]) & (fold == c[1])) for c in cells}
    # propensity fits and outcome fits (arm 0, arm 1) on each (group, fold)
    ce, se, cm, sm, diff = fit_cells(X, A, Y, [idx[c] for c in cells], rng, check)
    e = np.empty(n)
    m0 = np.empty(n)
    m1 = np.empty(n)
    for ci, (g, f) in enumerate(cells):
        other = 2 * g + (1 - f)  # the other fold of the group (cells are ordered (g, 0), (g, 1))
        tgt = idx[(g, f)]
        Xg = X[tgt]
        e[tgt] = predict_proba(ce[other], Xg)
        m0[tgt] = predict_proba(cm[2 * other], Xg)
        m1[tgt] = predict_proba(cm[2 * other + 1], Xg)
    e = np.clip(e, SA_CLIP, 1.0 - SA_CLIP)
    psi = m1 - m0 + np.where(A == 1, (Y - m1) / e, -(Y - m0) / (1.0 - e))
    counts = np.bincount(group, minlength=K)
    sums = np.bincount(group, weights=psi, minlength=K)
    theta = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    fallbacks = int((se != 0).sum() + (sm != 0).sum())
    return theta, fallbacks, diff


# ------------------------------------------------------------------- (2) Lebeda-style ensemble
def sensitivity_constant(W, c):
    return W * (2.0 / c - 1.0 / (1.0 - c))


def lebeda(d, K, rng, check, c=LEB_CLIP, chunk=4000):
    """Ensemble cross-fitted AIPW over K folds; returns (estimate, fallbacks, sklearn diff)."""
    X, A, Y = d.X, d.treatment.astype(int), d.outcome.astype(float)
    n = len(Y)
    fold = rng.integers(0, K, size=n)
    idx = [np.flatnonzero(fold == k) for k in range(K)]
    ce, se, cm, sm, diff = fit_cells(X, A, Y, idx, rng, check)
    B_e, b_e = ce[:, :-1].T, ce[:, -1]
    B_m0, b_m0 = cm[0::2, :-1].T, cm[0::2, -1]
    B_m1, b_m1 = cm[1::2, :-1].T, cm[1::2, -1]
    psi = np.empty(n)
    for s in range(0, n, chunk):
        r = slice(s, min(n, s + chunk))
        Xr, own = X[r], fold[r]
        rows = np.arange(len(own))
        ek = np.clip(expit(Xr @ B_e + b_e), c, 1.0 - c)
        inv1, inv0 = 1.0 / ek, 1.0 / (1.0 - ek)
        p0, p1 = expit(Xr @ B_m0 + b_m0), expit(Xr @ B_m1 + b_m1)

        def others(M):  # mean over the K - 1 folds other than the record's own
            return (M.sum(axis=1) - M[rows, own]) / (K - 1)

        w1, w0, m1, m0 = others(inv1), others(inv0), others(p1), others(p0)
        a, y = A[r], Y[r]
        psi[r] = m1 - m0 + np.where(a == 1, (y - m1) * w1, -(y - m0) * w0)
    fallbacks = int((se != 0).sum() + (sm != 0).sum())
    return float(psi.mean()), fallbacks, diff


# ----------------------------------------------------------------------------------- driver
def summarise(errors):
    e = np.asarray(errors, dtype=float)
    return float(e.mean()), float(e.std())  # ddof = 0: bias^2 + sd^2 = mean squared error


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=10, help="registries (seeds 90000 + r)")
    ap.add_argument("--aipw-n", type=int, nargs="+", default=list(NS),
                    help="n at which the current private aipw is run")
    ap.add_argument("--out", type=Path, default=HERE / "agnostic_aipw_feasibility.md")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    command = f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} python " + " ".join(sys.argv)
    load0 = os.getloadavg()
    try:
        import subprocess

        root = HERE.parent
        head_commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                     text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "privcausal"], cwd=root, capture_output=True,
                               text=True, check=True).stdout.split("\n")
        dirty = [ln[3:] for ln in dirty if ln.strip()]
        code_state = f"git HEAD {head_commit}" + (
            f", uncommitted changes under privcausal/: {', '.join(dirty)}" if dirty else ", privcausal/ clean")
    except Exception as exc:  # not a git checkout
        code_state = f"git state unknown ({type(exc).__name__})"
    t0 = time.time()

    R = args.reps
    sa = {}   # (n, size) -> dict(err_wide, err_narrow, K, fallbacks)
    leb = {}  # (n, K) -> dict(err, fallbacks)
    floor = {n: [] for n in NS}
    truths = {n: [] for n in NS}  # S&A with one group: plain cross-fitted AIPW on all records
    cur = {(n, eps): [] for n in args.aipw_n for eps in EPSILONS}
    checks = []
    W = None
    for r in range(R):
        seed = 90000 + r
        for n in NS:
            d = simulate_trauma(n, random_state=seed)
            W = float(d.domain.outcome.width)
            truth = float(d.true_ate)
            truths[n].append(truth)
            check = r == 0
            for size in SA_SIZES:
                K = n // size
                rng = np.random.default_rng([seed, n, size, 1])
                theta, fb, diff = subsample_aggregate(d, K, rng, check)
                rec = sa.setdefault((n, size), dict(K=K, wide=[], narrow=[], fb=[], cw=[], cn=[]))
                rec["wide"].append(np.clip(theta, -W, W).mean() - truth)
                rec["narrow"].append(np.clip(theta, -NARROW, NARROW).mean() - truth)
                rec["fb"].append(fb / (6 * K))
                rec["cw"].append(np.mean(np.abs(theta) > W))
                rec["cn"].append(np.mean(np.abs(theta) > NARROW))
                if check:
                    checks.append((f"S&A n={n} size={size}", diff))
            theta1, _, _ = subsample_aggregate(d, 1, np.random.default_rng([seed, n, 0, 1]), False)
            floor[n].append(float(theta1[0]) - truth)
            for K in LEB_KS:
                rng = np.random.default_rng([seed, n, K, 2])
                est, fb, diff = lebeda(d, K, rng, check)
                rec = leb.setdefault((n, K), dict(err=[], fb=[]))
                rec["err"].append(est - truth)
                rec["fb"].append(fb / (3 * K))
                if check:
                    checks.append((f"Lebeda n={n} K={K}", diff))
            if n in args.aipw_n:
                for eps in EPSILONS:
                    est = make_estimator("aipw", epsilon=eps, delta=1e-6, random_state=r).fit(d)
                    cur[(n, eps)].append(est.ate_ - truth)
        print(f"registry {r + 1}/{R} done, {time.time() - t0:.0f} s", flush=True)

    runtime = time.time() - t0
    load1 = os.getloadavg()
    c = LEB_CLIP
    D = sensitivity_constant(W, c)
    Bpsi = W / c

    # ------------------------------------------------------------------------ the table
    head = ("| construction | n | K (group size) | bias | sd | noise sd e=1 | RMSE e=1 | noise sd e=4 | "
            "RMSE e=4 | const. models | theta_g clipped |")
    rule = "|---|---|---|---|---|---|---|---|---|---|---|"
    rows = []

    def add(label, n, kdesc, errs, sens, fb, clipped="—"):
        bias, sd = summarise(errs)
        cells = [label, f"{n:,}", kdesc, f"{bias:+.4f}", f"{sd:.4f}"]
        for eps in EPSILONS:
            if sens is None:
                cells += ["0", "—"]
                continue
            noise_sd = math.sqrt(2.0) * sens / eps
            rmse = math.sqrt(bias ** 2 + sd ** 2 + noise_sd ** 2)
            cells += [f"{noise_sd:.4f}", f"**{rmse:.4f}**"]
        cells += [fb, clipped]
        rows.append("| " + " | ".join(cells) + " |")

    cur_stats = {}
    for n in NS:
        add("non-private cross-fitted AIPW, all records (reference, no noise)", n, "1 (2 folds)",
            floor[n], None, "—")
        for size in SA_SIZES:
            rec = sa[(n, size)]
            K = rec["K"]
            fb = f"{100 * np.mean(rec['fb']):.1f} %"
            add("S&A, clip theta_g to [-W, W]", n, f"{K} ({size})", rec["wide"], 2 * W / K, fb,
                f"{100 * np.mean(rec['cw']):.1f} %")
            add("S&A, declared bound [-0.3, 0.3]", n, f"{K} ({size})", rec["narrow"], 2 * NARROW / K, fb,
                f"{100 * np.mean(rec['cn']):.1f} %")
        for K in LEB_KS:
            rec = leb[(n, K)]
            fb = f"{100 * np.mean(rec['fb']):.1f} %"
            add("Lebeda-style ensemble, c = 0.05", n, f"{K}", rec["err"], D / (K - 1) + 2 * Bpsi / n, fb)
        if n in args.aipw_n:
            cells = ["**current private `aipw`** (defaults)", f"{n:,}", "2 folds"]
            parts = []
            for eps in EPSILONS:
                errs = np.array(cur[(n, eps)])
                bias, sd = summarise(errs)
                rmse = float(np.sqrt(np.mean(errs ** 2)))
                cur_stats[(n, eps)] = (bias, sd, rmse)
                parts.append((bias, sd, rmse))
            cells += [f"{parts[0][0]:+.4f} / {parts[1][0]:+.4f}", f"{parts[0][1]:.4f} / {parts[1][1]:.4f}",
                      "(in sd)", f"**{parts[0][2]:.4f}**", "(in sd)", f"**{parts[1][2]:.4f}**", "—", "—"]
            rows.append("| " + " | ".join(cells) + " |")

    # ---------------------------------- conclusion: best K of each construction, paired bootstrap
    def variants(n):
        """(construction, description, per-registry noise-free errors, L1 sensitivity) at n."""
        for size in SA_SIZES:
            rec = sa[(n, size)]
            K = rec["K"]
            yield "S&A [-W, W]", f"group size {size}, K = {K}", np.array(rec["wide"]), 2 * W / K
            yield "S&A declared [-0.3, 0.3]", f"group size {size}, K = {K}", np.array(rec["narrow"]), 2 * NARROW / K
        for K in LEB_KS:
            yield "Lebeda-style", f"K = {K}", np.array(leb[(n, K)]["err"]), D / (K - 1) + 2 * Bpsi / n

    NAMES = ("S&A [-W, W]", "S&A declared [-0.3, 0.3]", "Lebeda-style")
    boot_rng = np.random.default_rng(20250)
    n_boot = 4000
    verdicts = {name: {"better than": [], "not distinguishable from": [], "worse than": []} for name in NAMES}
    concl = []
    for n in NS:
        for eps in EPSILONS:
            cand = {}
            for name, desc, errs, sens in variants(n):
                nv = 2.0 * (sens / eps) ** 2
                rm = math.sqrt(np.mean(errs ** 2) + nv)
                if rm < cand.get(name, (np.inf,))[0]:
                    cand[name] = (rm, desc, errs, nv)
            if (n, eps) not in cur_stats:
                concl.append(f"- n = {n:,}, epsilon = {eps:g} (current `aipw` not run): " + "; ".join(
                    f"{name} {cand[name][0]:.4f} ({cand[name][1]})" for name in NAMES) + ".")
                continue
            cur_err = np.array(cur[(n, eps)])
            ref = cur_stats[(n, eps)][2]
            idx = boot_rng.integers(0, R, size=(n_boot, R))  # registries resampled, paired across methods
            ref_b = np.sqrt(np.mean(cur_err[idx] ** 2, axis=1))
            parts = []
            for name in NAMES:
                rm, desc, errs, nv = cand[name]
                ratio_b = np.sqrt(np.mean(errs[idx] ** 2, axis=1) + nv) / ref_b
                lo, hi = np.percentile(ratio_b, [2.5, 97.5])
                v = "better than" if hi < 1 else ("worse than" if lo > 1 else "not distinguishable from")
                verdicts[name][v].append(f"n = {n:,}, eps {eps:g} (ratio {rm / ref:.2f} [{lo:.2f}, {hi:.2f}])")
                parts.append(f"{name} {rm:.4f} ({desc}), ratio {rm / ref:.2f} [{lo:.2f}, {hi:.2f}]")
            concl.append(f"- **n = {n:,}, epsilon = {eps:g}** (current `aipw` RMSE {ref:.4f}): " + "; ".join(parts) + ".")
    plain = []
    for name in NAMES:
        bits = [f"{v} the current `aipw` at " + "; ".join(where) for v, where in verdicts[name].items() if where]
        plain.append(f"- **{name}**: " + ("; ".join(bits) if bits else "no comparison run") + ".")
    odd = [f"n = {n:,}: {cur_stats[(n, 1.0)][2]:.4f} at epsilon 1 against {cur_stats[(n, 4.0)][2]:.4f} at epsilon 4"
           for n in NS if (n, 1.0) in cur_stats and cur_stats[(n, 1.0)][2] < cur_stats[(n, 4.0)][2]]

    def leb_k_needed(n, eps, target):
        # smallest K with sqrt(2) (D/(K-1) + 2B/n)/eps <= target, noise alone
        room = target * eps / math.sqrt(2.0) - 2 * Bpsi / n
        return None if room <= 0 else 1 + math.ceil(D / room)

    leb_need = []
    for n in NS:
        for eps in EPSILONS:
            if (n, eps) in cur_stats:
                k = leb_k_needed(n, eps, cur_stats[(n, eps)][2])
                leb_need.append(f"n = {n:,}, epsilon = {eps:g}: K >= {k} (folds of about {n // k} records)"
                                if k else f"n = {n:,}, epsilon = {eps:g}: no K suffices")

    chk = np.array([v for _, v in checks])
    all_sd = [summarise(v)[1] for v in floor.values()]
    all_sd += [summarise(rec[k])[1] for rec in sa.values() for k in ("wide", "narrow")]
    all_sd += [summarise(rec["err"])[1] for rec in leb.values()]
    all_sd += [sd for (_, sd, _) in cur_stats.values()]
    max_se = max(all_sd) / math.sqrt(R)
    check_line = "; ".join(f"{lab}: {v[0]:.1e} / {v[1]:.1e}" for lab, v in checks)
    L = [
        "# Model-agnostic private AIPW on the simulated registry: a feasibility check",
        "",
        "Question: can a model-agnostic private AIPW (non-private nuisance models, Laplace noise on the final "
        "aggregate only) match the toolkit's current private `aipw`? Two constructions; the script's docstring "
        "states them and derives the sensitivities. Nothing here is implemented in `privcausal`; the private "
        "rows for the two constructions are *computed* (noise-free estimate's bias and sd over the registries, "
        "plus the Laplace noise variance their sensitivity needs), not released.",
        "",
        f"- Command: `{command}`",
        f"- Run time: {runtime:.0f} s. Machine load (os.getloadavg, 1/5/15 min): start "
        f"{load0[0]:.2f} / {load0[1]:.2f} / {load0[2]:.2f}, end {load1[0]:.2f} / {load1[1]:.2f} / {load1[2]:.2f} "
        f"({os.cpu_count()} CPUs; another session was running experiments). Code: {code_state} (at the start).",
        f"- Data: `simulate_trauma(n, random_state=90000 + r)`, r = 0..{R - 1} ({R} registries) at n = "
        f"{', '.join(f'{x:,}' for x in NS)}; target `true_ate` (sample ATE); outcome binary, declared bounds "
        f"[0, 1], W = {W:g}. Mean true ATE over the registries: "
        + ", ".join(f"{np.mean(truths[x]):+.4f} at n = {x:,}" for x in NS) + ".",
        "- Nuisance models: L2 logistic regression with sklearn's `LogisticRegression(C=1)` objective (intercept "
        "unpenalised), fitted in batches by damped Newton to a gradient norm of 1e-8 (the exact optimum, not "
        "sklearn's early stop). Check on registry 0, 6 refits per configuration, largest |difference in predicted "
        "probability| against `LogisticRegression(C=1, max_iter=300)` (sklearn's default tol 1e-4, as in the brief) "
        f"/ against the same run to tol 1e-10: {chk[:, 0].max():.1e} / {chk[:, 1].max():.1e}. The first "
        "difference is sklearn stopping early (its objective value is the higher one), not a different model; "
        f"per configuration: {check_line}. "
        "A fold / arm with one class predicts that class, an empty arm 0.5 ('const. models': share of all models "
        "fitted that were such constants). 'theta_g clipped': share of S&A group estimates outside the "
        "clipping bound.",
        "- bias, sd: mean and sd (ddof 0) over the registries of the noise-free estimate minus `true_ate`; with "
        f"{R} registries a bias is known to about sd/sqrt({R}). noise sd = sqrt(2) x Laplace scale. RMSE (bold) = "
        "sqrt(bias^2 + sd^2 + noise sd^2), the expected RMSE of the private release.",
        "- Current private `aipw`: `make_estimator('aipw', epsilon=eps, delta=1e-6, random_state=r).fit(d).ate_` "
        "(defaults: 2 folds, clip 0.05, private linear outcome models, budget split 0.3/0.5/0.2); bias and sd "
        "cells give epsilon 1 / epsilon 4 and include its noise (one draw per registry), RMSE is empirical.",
        "",
        "## Constructions and sensitivities",
        "",
        "1. **Subsample and aggregate** (Smith 2011). K = n // group size groups, records assigned i.i.d. "
        "uniformly; in each group a non-private 2-fold cross-fitted AIPW (propensities clipped to [0.01, 0.99]); "
        "theta_g clipped to [-W, W]; release mean_g theta_g + Laplace((2W/K)/epsilon). Second row: theta_g clipped "
        "to **[-0.3, 0.3], a user-declared public bound on the effect** (declared before seeing the data; a true "
        "effect or a group estimate outside it is clipped, which biases the release), Laplace((0.6/K)/epsilon).",
        "2. **Lebeda-style ensemble cross-fitting** (the brief's construction, not a reproduction of Lebeda et "
        "al. 2025, which per REFERENCES.md also adds noise to the predictions). K folds, models fitted "
        "non-privately on each fold alone; each record's propensity is the harmonic mean of the other K - 1 "
        "folds' propensities clipped to [0.05, 0.95] (and 1 - e the harmonic mean of their 1 - e_j), outcome "
        "predictions the mean of the other folds' predictions; estimate = mean of the AIPW pseudo-outcomes. "
        f"L1 sensitivity of the mean under add/remove: D/(K - 1) + 2B/n_lower with B = W/c = {Bpsi:g} and "
        f"**D = W (2/c - 1/(1 - c)) = {D:.3f}** (derived in the docstring: psi' - psi = delta m1 (1 - w1) - "
        "delta m0 + (Y - m1') delta w1, so |psi' - psi| <= [W (1/c - 1) + W + W (1/c - 1/(1-c))]/(K - 1)); "
        "this is below the brief's W (2 + 2/c) = 42 by keeping delta m1 (1 - w1) together and using the range "
        "1/c - 1/(1-c) of 1/e_j instead of 1/c; the brief's constant would raise the noise by 7.8 %. "
        "**The experiment uses n itself for n_lower; a real release would need a noisy (private) lower bound on "
        "n**, since n is not public, which costs some budget and enlarges the 2B/n term.",
        "",
        "## Results",
        "",
        head,
        rule,
        *rows,
        "",
        "## Conclusion",
        "",
        "Best K (group size) of each construction at each n and epsilon, its expected RMSE, and the ratio to the "
        "current private `aipw`'s RMSE (below 1 is better) with a 95 % paired percentile bootstrap interval "
        f"over the {R} registries (crude with so few; it does not include the choice of K):",
        "",
        *concl,
        "",
        "In plain words:",
        "",
        *plain,
        "",
    ]
    L += [
        "In the S&A rows the noise-free error is almost all bias (compare the bias and sd columns), and it "
        "falls as the groups grow while the noise grows with fewer groups, so the best group size moves up with "
        "epsilon and n. The declared-bound row gains only because [-0.3, 0.3] is "
        "declared: with the bound implied by the outcome's declared range, [-W, W], S&A needs 10/3 times the "
        "noise sd at the same K.",
        "",
        "Lebeda-style construction: its noise alone, sqrt(2) (D/(K - 1) + 2B/n)/epsilon, falls to the current "
        "`aipw`'s RMSE only at " + "; ".join(leb_need) + ". K = 500 was added to the brief's grid (10, 50, "
        "200) to see that end: the table shows how the noise-free bias behaves as the folds shrink; K beyond "
        "500 was not measured.",
        "",
        "Caveats: the S&A and Lebeda-style RMSEs are expected values from the measured noise-free error and the "
        "analytic Laplace variance (no noise was drawn), the current `aipw`'s are empirical with one noise draw "
        f"per registry. With {R} registries each bias has a standard error of about sd/sqrt({R}), at most "
        f"{max_se:.4f} over the rows above. The sensitivities are the worst case over neighbouring "
        "data sets; the [-0.3, 0.3] row is only valid if that bound is declared in advance; the Lebeda-style "
        "row assumes n is public (see above). The 'best' rows pick K (group size) after seeing these results on "
        "the same registries, which flatters every construction a little; a release must fix K in advance. "
        "None of this was audited."
        + (" The current `aipw`'s RMSE came out lower at epsilon 1 than at epsilon 4 ("
           + "; ".join(odd) + "): its bias differs between the two (table); not investigated here." if odd else ""),
    ]
    args.out.write_text("\n".join(L) + "\n")
    print("\n".join([head, rule, *rows, "", *concl, "", *plain]))
    print(f"\nRun time {runtime:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()

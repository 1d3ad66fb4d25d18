"""Membership audits of models trained outside privcausal, read from their files.

Models, on the simulated trauma registry (encoded on its declared domain, 30-day death):

* an MLP (d-16-1) trained with opacus ``make_private_with_epsilon`` (RDP accountant), saved as
  TorchScript, its claim and its reference-model recipe read from the opacus checkpoint
  (``epsilon = inf``: the same training without the privacy engine);
* a logistic regression trained with privcausal's DP-SGD, exported as a scikit-learn
  ``LogisticRegression`` and saved with skops (``inf``: scikit-learn's own fit, saved as ONNX,
  reference models from a recipe function);
* a non-private random forest (skops; reference models: scikit-learn clones).

Attacks: loss, calibrated, LiRA (online) and RMIA (online), all from the same reference models;
each gives AUC, TPR at 0.1 % and 1 % FPR, and the certified one-run bound of
:func:`audits.models.audit_membership_scores` against the claim. Members, non-members and the
population are disjoint random parts of one registry draw: 2,000 / 2,000 / 4,000 records.

Run::

    OMP_NUM_THREADS=1 python experiments/external_model_audits.py            # full table
    python experiments/external_model_audits.py --quick                       # a smoke run

It writes ``experiments/external_model_audits.csv`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ATTACKS = ("loss", "calibrated", "lira", "rmia")
DELTA = 1e-5


def _frames(X: np.ndarray, y: np.ndarray, m: int) -> tuple[pd.DataFrame, ...]:
    cols = [f"f{i}" for i in range(X.shape[1])]
    parts = (slice(0, m), slice(m, 2 * m), slice(2 * m, 4 * m))
    return tuple(pd.DataFrame(X[s], columns=cols).assign(died=y[s].astype(int)) for s in parts)


def _opacus_mlp(X, y, eps, folder: Path, epochs: int):
    import torch
    from opacus import PrivacyEngine

    d = X.shape[1]
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    ds = torch.utils.data.TensorDataset(torch.tensor(X, dtype=torch.float32),
                                        torch.tensor(y, dtype=torch.float32))
    dl = torch.utils.data.DataLoader(ds, batch_size=100)
    engine = None
    if math.isfinite(eps):
        engine = PrivacyEngine(accountant="rdp")
        net, opt, dl = engine.make_private_with_epsilon(module=net, optimizer=opt, data_loader=dl,
                                                        target_epsilon=eps, target_delta=DELTA,
                                                        epochs=epochs, max_grad_norm=1.0)
    lossf = torch.nn.BCEWithLogitsLoss()
    for _ in range(epochs):
        for xb, yb in dl:
            opt.zero_grad()
            lossf(net(xb)[:, 0], yb).backward()
            opt.step()
    plain = torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    plain.load_state_dict((net._module if engine else net).state_dict())
    ts = folder / f"mlp_eps{eps}.torchscript.pt"
    torch.jit.save(torch.jit.script(plain), ts)
    spec = {"kind": "mlp", "input_dim": d, "hidden": [16], "activation": "relu"}
    if engine is None:
        from privcausal.training import DPSGDRecipe

        recipe = DPSGDRecipe(architecture=dict(spec, output_dim=1, bias=True), loss="bce",
                             sampling_rate=100 / len(X), epochs=epochs, lr=0.5)
        return ts, None, recipe, spec
    ck = folder / f"mlp_eps{eps}.checkpoint.pt"
    engine.save_checkpoint(path=ck, module=net, optimizer=opt,
                           checkpoint_dict={"max_grad_norm": 1.0})
    return ts, ck, None, spec


def _sk_logistic(X, y, eps, folder: Path):
    import skops.io as sio
    import torch
    from sklearn.linear_model import LogisticRegression

    from privcausal.training import DPSGDRecipe, train_dpsgd

    if not math.isfinite(eps):
        import skl2onnx

        est = LogisticRegression(C=1e4, max_iter=5000).fit(X, y.astype(int))
        path = folder / "logistic_inf.onnx"
        onx = skl2onnx.to_onnx(est, X[:1].astype(np.float32), options={id(est): {"zipmap": False}})
        path.write_bytes(onx.SerializeToString())
        return path, math.inf, _sk_fit
    recipe = DPSGDRecipe(architecture="logistic", epsilon=eps, delta=DELTA, epochs=30,
                         batch_size=100, lr=0.5)
    res = train_dpsgd(X.astype(np.float64), y.astype(np.float64), recipe, random_state=0)
    lin = [m for m in res.model.modules() if isinstance(m, torch.nn.Linear)][0]
    est = LogisticRegression()
    est.coef_ = lin.weight.detach().double().numpy().copy()
    est.intercept_ = lin.bias.detach().double().numpy().copy()
    est.classes_ = np.array([0, 1])
    est.n_features_in_ = X.shape[1]
    path = folder / f"logistic_eps{eps}.skops"
    sio.dump(est, path)
    return path, float(res.epsilon), recipe


def _sk_fit(X, y, random_state):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1e4, max_iter=5000).fit(X, y)


def _forest(X, y, folder: Path):
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    est = RandomForestClassifier(100, min_samples_leaf=1, random_state=0, n_jobs=1).fit(X, y.astype(int))
    path = folder / "forest.skops"
    sio.dump(est, path)
    return path


def _rows(model: str, fmt_path: Path, claim: float, frames, K: int, seed: int,
          pld: float | None = None, **load) -> list[dict]:
    from attacks.membership import membership_attacks
    from audits.models import audit_membership_scores
    from audits.models.audit import prepare_model

    t0 = time.perf_counter()
    prep = prepare_model(fmt_path, *frames, label="died", delta=DELTA, **load)
    eps = prep.loaded.epsilon if prep.loaded.epsilon is not None else claim
    res = membership_attacks(prep.target, prep.members, prep.nonmembers, prep.population,
                             attacks=ATTACKS, n_reference=K, recipe=load.get("recipe"),
                             random_state=seed)
    secs = time.perf_counter() - t0
    out = []
    for a, r in res.items():
        b = audit_membership_scores(r.scores, r.labels, epsilon=float(eps), delta=DELTA,
                                    alpha=0.05, bound="one-run", attack=a)
        out.append({"model": model, "file": fmt_path.suffix.lstrip(".") if "torchscript" not in
                    fmt_path.name else "torchscript", "epsilon_claim": eps, "attack": a,
                    "auc": r.auc, "tpr_at_0.1%": r.tpr_at(0.001), "tpr_at_1%": r.tpr_at(0.01),
                    "epsilon_lower": b.epsilon_lower, "ceiling": b.ceiling,
                    "violation": b.violation, "reference_models": r.n_reference,
                    "seconds_model": secs,
                    "opacus_pld": pld})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="500 members, 4 reference models, eps 4 and inf")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=60)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from audits.dpsgd.registry import registry_features

    m, K = (500, 4) if args.quick else (2000, 16)
    grid = (4.0, math.inf) if args.quick else (1.0, 4.0, 16.0, math.inf)
    X, y = registry_features(4 * m, random_state=args.seed)
    frames = _frames(X, y, m)
    Xm, ym = X[:m], y[:m]
    rows: list[dict] = []
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for eps in grid:
            ts, ck, rec, spec = _opacus_mlp(Xm, ym, eps, folder, args.epochs)
            if ck is not None:  # the claim and the recipe from the checkpoint, the model from TorchScript
                from attacks.targets import load_model

                acc = load_model(ck, architecture=spec, delta=DELTA)
                rows += _rows("opacus MLP", ts, acc.epsilon, frames, K, args.seed,
                              pld=acc.opacus.epsilon_pld, recipe=acc.target.recipe)
            else:
                rows += _rows("opacus MLP", ts, math.inf, frames, K, args.seed, recipe=rec)
            path, claim, recipe = _sk_logistic(Xm, ym, eps, folder)
            rows += _rows("logistic regression", path, claim, frames, K, args.seed, recipe=recipe)
            print(f"eps {eps}: done ({time.perf_counter() - t_all:.0f} s)", flush=True)
        rows += _rows("random forest", _forest(Xm, ym, folder), math.inf, frames, K, args.seed)
    table = pd.DataFrame(rows)
    total = time.perf_counter() - t_all
    name = "external_model_audits" + ("_quick" if args.quick else "")
    table.to_csv(HERE / f"{name}.csv", index=False)
    show = table.copy()
    for c in ("auc", "tpr_at_0.1%", "tpr_at_1%", "epsilon_lower", "ceiling", "epsilon_claim",
              "seconds_model", "opacus_pld"):
        show[c] = show[c].map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v))
                              else ("inf" if v == math.inf else f"{v:.3f}"))
    lines = [f"# Membership audits of externally trained models (`{Path(__file__).name}`)", "",
             f"Simulated trauma registry, {m} members / {m} non-members / {2 * m} population, "
             f"{K} reference models per setting, seed {args.seed}, delta {DELTA:g}; certified "
             f"bound: one-run (Steinke et al. 2023), alpha 0.05. Total {total:.0f} s.", "",
             "| " + " | ".join(show.columns) + " |", "|" + "---|" * len(show.columns)]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in show.itertuples(index=False)]
    fin = table[np.isfinite(table["epsilon_claim"].astype(float))]
    ratio = (fin["epsilon_lower"] / fin["epsilon_claim"]).max() if len(fin) else float("nan")
    by = table.groupby(["model", "epsilon_claim"])["auc"].max()
    rf = table[table["model"] == "random forest"]
    lines += ["", "Read off this table (computed by the script):", "",
              f"- violations: {int(fin['violation'].sum())} of {len(fin)} rows with a finite claim; "
              f"the largest epsilon_lower / claim is {ratio:.3f}.",
              "- best AUC per model and claim: " + "; ".join(
                  f"{m} at {'inf' if e == math.inf else f'{e:.3g}'}: {a:.3f}" for (m, e), a in by.items()) + ".",
              f"- the random forest (no claim): best AUC {rf['auc'].max():.3f}, TPR at 0.1 % FPR up to "
              f"{rf['tpr_at_0.1%'].max():.3f}, epsilon_lower up to {rf['epsilon_lower'].max():.3f} "
              f"(ceiling {rf['ceiling'].max():.3f} with {2 * m} records)."]
    (HERE / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(json.dumps({"seconds": total}))


if __name__ == "__main__":
    main()

"""Privacy-utility curves: sweep epsilon, and measure what privacy costs in estimation error
and what it buys in attack resistance, beside the empirical epsilon_lower of each release.

:func:`run_curves` runs a checked :class:`~audits.curves.spec.CurveSpec` (see
:mod:`audits.curves.spec` for the TOML) through :func:`audits.runner.run.run_trials`, twice:

1. the fit trials (:mod:`audits.curves.trials`): every estimator or learner at every epsilon,
   its twin at epsilon = inf, on every repetition; one CSV row each;
2. the audit cells (:mod:`audits.curves.audit`), if the spec has ``[audit]``: one row per
   private (estimator, epsilon) with epsilon_lower, epsilon_theory and the worst-case
   membership test's AUC and TPR at 1 % FPR.

It writes to the output folder::

    curves.csv                     one row per fit trial (the same file for the same seed)
    audit.csv                      one row per audited cell
    curves.json                    the spec, the run, and per-cell means (the summary)
    error_vs_epsilon.png           error (and interval coverage) against epsilon, twins dashed
    attack_vs_epsilon.png          attack AUC and TPR at 1 % FPR against epsilon
    eps_lower_vs_eps_theory.png    the audit's lower bound against the accountant's epsilon

Both runs take ``backend``, ``checkpoint`` (a folder; ``fits/`` and ``audits/`` below it) so
that an interrupted curve resumes, and show progress bars. Numbers depend on the spec's seed
only (see :mod:`audits.curves.trials`), not on the backend, batch plan or resumption.

References
----------
.. [1] Jayaraman, Evans, "Evaluating differentially private machine learning in practice",
   USENIX Security 2019 (privacy-utility curves beside attack success).
.. [2] Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis, "Tight auditing of
   differentially private machine learning", USENIX Security 2023.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audits.curves.audit import AUDIT_COLUMNS, AuditTask
from audits.curves.spec import CurveSpec
from audits.curves.trials import FIT_COLUMNS, FitTask, cells_of, unit_labels
from privcausal.jsonnum import json_value

__all__ = ["run_curves", "CurveResult", "summarise", "FILES"]

FILES = {"csv": "curves.csv", "audit": "audit.csv", "json": "curves.json",
         "error": "error_vs_epsilon.png", "attack": "attack_vs_epsilon.png",
         "audit_figure": "eps_lower_vs_eps_theory.png"}


@dataclass
class CurveResult:
    """What :func:`run_curves` returns: the tables, the summary and the files written."""

    fits: pd.DataFrame
    audits: pd.DataFrame
    summary: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)


def _jsonable(x: Any) -> Any:
    v = json_value(x)  # infinities as "inf" / "-inf", NaN as null
    return v if v is None or isinstance(v, (str, int, float, bool, list, dict)) else str(v)


def _relative(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (no home paths in
    the committed summaries), else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _mean_se(v: pd.Series) -> tuple[float, float]:
    v = v.dropna()
    if len(v) == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan


def summarise(fits: pd.DataFrame, audits: pd.DataFrame) -> list[dict[str, Any]]:
    """Per (estimator, epsilon): mean error with its standard error, coverage, epsilon spent,
    attack numbers, and the cell's audit."""
    out = []
    for (name, base, eps), g in fits.groupby(["estimator", "base", "epsilon"], sort=False):
        err, err_se = _mean_se(g["error"])
        row: dict[str, Any] = {"estimator": name, "base": base, "epsilon": eps, "trials": len(g),
                               "error": err, "error_se": err_se,
                               "ate_error": _mean_se(g["ate_error"])[0],
                               "coverage": _mean_se(g["covered"])[0],
                               "epsilon_spent": float(g["epsilon_spent"].max()),
                               "attack_auc": _mean_se(g["attack_auc"])[0],
                               "attack_tpr": _mean_se(g["attack_tpr"])[0],
                               "seconds_per_fit": float(g["seconds"].mean())}
        a = audits[(audits["estimator"] == name) & (audits["epsilon"] == eps)] if len(audits) else audits
        if len(a):
            r = a.iloc[0]
            row.update({k: r[k] for k in ("epsilon_theory", "epsilon_lower", "ceiling",
                                          "audit_auc", "audit_tpr")})
        out.append(row)
    return out


def _fit_frame(spec: CurveSpec, task: FitTask, arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    labels = [task.label(k) for k in range(task.n_trials)]
    head = pd.DataFrame({
        "spec": spec.name, "seed": spec.seed,
        "rep": [r for _, _, r in labels], "replication": [rp for _, rp, _ in labels],
        "estimator": [c.name for c, _, _ in labels], "base": [c.base for c, _, _ in labels],
        "private": [c.private for c, _, _ in labels], "epsilon": [c.epsilon for c, _, _ in labels],
        "delta": [spec.grid.delta if c.private else 0.0 for c, _, _ in labels],
    })
    body = pd.DataFrame({c: arrays[c] for c in FIT_COLUMNS})
    frame = pd.concat([head, body], axis=1)
    return frame.sort_values(["base", "private", "epsilon", "replication", "rep"],
                             ascending=[True, False, True, True, True], kind="stable",
                             key=lambda s: s.map({b: i for i, b in enumerate(spec.grid.names)})
                             if s.name == "base" else s).reset_index(drop=True)


def _sub(checkpoint: Any, part: str) -> Path | None:
    return None if checkpoint is None else Path(checkpoint) / part


def run_curves(spec: CurveSpec, *, out: str | Path | None = None, backend: str = "loky",
               n_jobs: int | None = None, random_state: int | None = None,
               checkpoint: str | Path | None = None, batch_size: int | None = None,
               progress: bool = True, figures: bool = True, dpi: int = 150) -> CurveResult:
    """Run ``spec`` and write its tables, summary and figures (see the module docstring).

    Parameters
    ----------
    spec : a checked spec (:func:`audits.curves.spec.load_spec`; ``spec.quick()`` for --quick)
    out : output folder (default: the spec's ``output``)
    backend, n_jobs, batch_size : passed to :func:`audits.runner.run.run_trials`
    random_state : replaces the spec's seed (every data set and noise draw derives from it)
    checkpoint : folder to checkpoint the two runs in; rerun with the same one to resume
    progress : tqdm bars on stderr
    figures : draw the three figures (PNG, with SVG and PDF beside each)
    dpi : resolution of the PNGs

    Returns
    -------
    CurveResult
    """
    from audits.runner.run import run_trials

    t0 = time.perf_counter()
    if random_state is not None:
        spec = spec.with_seed(random_state)
    folder = Path(out) if out is not None else spec.output
    folder.mkdir(parents=True, exist_ok=True)
    g = spec.grid
    cells = cells_of(g.names, g.epsilons, g.twins)
    task = FitTask(g.kind, spec.data, tuple(cells), tuple(unit_labels(spec.data, g.reps)),
                   g.delta, g.alpha, spec.seed, spec.params, spec.attack)
    res = run_trials(task, task.n_trials, batch_size=batch_size, backend=backend, n_jobs=n_jobs,
                     checkpoint=_sub(checkpoint, "fits"), random_state=spec.seed,
                     progress=progress, desc=f"{spec.name}: fits", task_key=spec.key("fits"))
    fits = _fit_frame(spec, task, res.arrays)
    runs = [{"part": "fits", "trials": res.n_trials, "batches": len(res.batches),
             "resumed_batches": res.resumed, "seconds": res.seconds}]
    audits = pd.DataFrame(columns=["spec", "seed", "estimator", "epsilon", "delta", "alpha",
                                   *AUDIT_COLUMNS])
    acells = tuple(c for c in cells if spec.audit is not None and c.private
                   and spec.audit.audits(c.base, c.epsilon))
    if spec.audit is not None and acells:
        atask = AuditTask(g.kind, spec.data, acells, spec.audit, g.delta, spec.seed, spec.params)
        ares = run_trials(atask, len(acells), batch_size=1, backend=backend, n_jobs=n_jobs,
                          checkpoint=_sub(checkpoint, "audits"), random_state=spec.seed,
                          progress=progress, desc=f"{spec.name}: audits",
                          task_key=spec.key("audits"))
        audits = pd.DataFrame({"spec": spec.name, "seed": spec.seed,
                               "estimator": [c.name for c in acells],
                               "epsilon": [c.epsilon for c in acells], "delta": g.delta,
                               "alpha": spec.audit.alpha,
                               **{c: ares.arrays[c] for c in AUDIT_COLUMNS}})
        audits["samples"] = audits["samples"].astype("Int64")
        runs.append({"part": "audits", "trials": ares.n_trials, "batches": len(ares.batches),
                     "resumed_batches": ares.resumed, "seconds": ares.seconds})
    summary = {"name": spec.name, "description": spec.description, "quick": spec.is_quick,
               "seed": spec.seed, "kind": g.kind,
               "error_metric": "abs ATE error" if g.kind == "ate" else "sqrt-PEHE",
               "backend": backend, "runs": runs,
               "spec": {**spec.to_dict(), "output": _relative(spec.output),
                        "path": None if spec.path is None else _relative(spec.path)},
               "cells": summarise(fits, audits), "seconds": time.perf_counter() - t0,
               # summed per-trial times: kept in the checkpoint, so a resumed run reports them too
               "compute_seconds": {"fits": float(fits["seconds"].sum()),
                                   "audits": float(audits["seconds"].sum()) if len(audits) else 0.0}}
    files = {k: folder / v for k, v in FILES.items()}
    # timings stay out of the CSVs (one seed, one file); the summary has them
    fits.drop(columns="seconds").to_csv(files["csv"], index=False)
    audits.drop(columns="seconds").to_csv(files["audit"], index=False)
    if figures:
        from audits.curves.figures import draw_curves

        drawn = draw_curves(fits, audits, spec, folder, dpi=dpi)
        for key in ("error", "attack", "audit_figure"):
            if files[key] not in drawn:
                files.pop(key)
    else:
        for key in ("error", "attack", "audit_figure"):
            files.pop(key)
    summary["output"] = _relative(folder)
    summary["files"] = {k: p.name for k, p in files.items()}
    files["json"].write_text(json.dumps(_jsonable(summary), indent=1) + "\n")
    return CurveResult(fits, audits, _jsonable(summary), files)

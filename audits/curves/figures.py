"""The three figures of a privacy-utility curve, drawn from its tables.

* ``error_vs_epsilon.png``: mean error (absolute ATE error, or sqrt-PEHE for CATE learners)
  with a 95 % interval of the mean, against epsilon on a log axis; each estimator's
  non-private twin is a dashed horizontal line of the same colour. A second panel shows the
  coverage of the (1 - alpha) intervals, with the nominal level.
* ``attack_vs_epsilon.png``: attack AUC and TPR at 1 % FPR against epsilon: the membership
  attack on released CATE models (twins dashed) and the audit's worst-case membership test
  (open markers), under the ceiling that (epsilon, delta)-DP puts on any test (grey).
* ``eps_lower_vs_eps_theory.png``: the audit's epsilon_lower against the accountant's
  epsilon_theory, the diagonal being the claim (a point above it is a violation) and the
  thin dotted lines the ceilings the number of samples allows.

Figures are drawn on their own Agg canvas (no pyplot state); matplotlib is imported here only.

References
----------
.. [1] Kairouz, Oh, Viswanath, "The composition theorem for differential privacy", ICML 2015
   (the trade-off region of (epsilon, delta)-DP behind the ceilings).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["draw_curves", "dp_tpr_ceiling", "dp_auc_ceiling", "error_figure", "attack_figure",
           "audit_figure"]

_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")


def dp_tpr_ceiling(epsilon: float, delta: float, fpr: float) -> float:
    """The largest TPR at false-positive rate ``fpr`` of any test against (epsilon, delta)-DP:
    ``min(1, e^eps fpr + delta, 1 - e^-eps (1 - delta - fpr))``."""
    if math.isinf(epsilon):
        return 1.0
    return float(min(1.0, math.exp(epsilon) * fpr + delta,
                     1.0 - math.exp(-epsilon) * max(0.0, 1.0 - delta - fpr)))


def dp_auc_ceiling(epsilon: float, delta: float) -> float:
    """The largest AUC of any test against (epsilon, delta)-DP (the area under the ceiling)."""
    grid = np.linspace(0.0, 1.0, 4001)
    tpr = np.array([dp_tpr_ceiling(epsilon, delta, f) for f in grid])
    return float(np.sum((tpr[1:] + tpr[:-1]) / 2 * np.diff(grid)))


def _figure(ncols: int, width: float = 5.0, height: float = 3.8) -> tuple[Any, list[Any]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def _by_base(frame: pd.DataFrame, names: tuple[str, ...]) -> list[tuple[str, str, pd.DataFrame]]:
    return [(b, _COLOURS[i % len(_COLOURS)], frame[frame["base"] == b]) for i, b in enumerate(names)]


def _mean_ci(g: pd.DataFrame, col: str) -> pd.DataFrame:
    s = g.groupby("epsilon")[col].agg(["mean", "std", "count"])
    s["half"] = 1.96 * s["std"].fillna(0.0) / np.sqrt(s["count"].clip(lower=1))
    return s


def _log_epsilon_axis(ax: Any, epsilons: Any) -> None:
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.set_xscale("log")
    ticks = sorted(set(float(e) for e in epsilons))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{e:g}" for e in ticks])
    ax.set_xlabel("epsilon")


def _curve(ax: Any, fits: pd.DataFrame, names: tuple[str, ...], col: str, bars: bool = True) -> bool:
    drawn = False
    for base, colour, g in _by_base(fits, names):
        priv, twin = g[g["private"]], g[~g["private"]]
        if priv[col].notna().any():
            s = _mean_ci(priv.dropna(subset=[col]), col)
            lower = np.minimum(s["half"], 0.9 * s["mean"].abs())  # stays positive on a log axis
            ax.errorbar(s.index, s["mean"], yerr=[lower, s["half"]] if bars else None,
                        color=colour, marker="o", ms=4, capsize=3, label=base)
            drawn = True
        if len(twin) and twin[col].notna().any():
            ax.axhline(float(twin[col].mean()), color=colour, ls="--", lw=1,
                       label=f"{twin['estimator'].iloc[0]} (eps = inf)")
    _log_epsilon_axis(ax, fits.loc[fits["private"], "epsilon"])
    return drawn


def figure_title(spec: Any) -> str:
    """The spec's description (its first sentence), else its name in words."""
    desc = str(getattr(spec, "description", "") or "").strip()
    if desc:
        first = desc.split(". ")[0].split(": ")[0].rstrip(".")
        return first if len(first) <= 90 else first[:87] + "..."
    return str(spec.name).replace("_", " ")


def _delta_words(spec: Any) -> str:
    return f"delta = {spec.grid.delta:g}"


def error_figure(fits: pd.DataFrame, spec: Any) -> Any:
    """Error (and coverage, where intervals exist) against epsilon."""
    has_cov = bool(fits["covered"].notna().any())
    fig, axes = _figure(2 if has_cov else 1)
    metric = "absolute ATE error" if spec.grid.kind == "ate" else "sqrt-PEHE"
    _curve(axes[0], fits, spec.grid.names, "error")
    axes[0].set_yscale("log")
    axes[0].set_ylabel(f"{metric} (mean, 95 % CI)")
    axes[0].set_title("Estimation error against the privacy budget", fontsize="medium")
    axes[0].legend(fontsize=7, title="solid: private; dashed: non-private twin", title_fontsize=7)
    if has_cov:
        _curve(axes[1], fits, spec.grid.names, "covered", bars=False)
        axes[1].axhline(1 - spec.grid.alpha, color="grey", ls=":", lw=1,
                        label=f"nominal {1 - spec.grid.alpha:.0%} coverage")
        axes[1].set_ylim(-0.02, 1.02)
        axes[1].set_ylabel(f"coverage of the {1 - spec.grid.alpha:.0%} ATE interval")
        axes[1].set_title("How often the interval covers the true effect", fontsize="medium")
        axes[1].legend(fontsize=7)
    fig.suptitle(f"{figure_title(spec)} ({_delta_words(spec)})", fontsize="medium")
    return fig


def attack_figure(fits: pd.DataFrame, audits: pd.DataFrame, spec: Any) -> Any | None:
    """Attack AUC and TPR at 1 % FPR against epsilon, under the DP ceilings; None if no attack."""
    has_attack = bool(fits["attack_auc"].notna().any())
    has_audit = len(audits) > 0 and bool(audits["audit_auc"].notna().any())
    if not (has_attack or has_audit):
        return None
    fig, axes = _figure(2)
    eps = np.geomspace(min(spec.grid.epsilons), max(spec.grid.epsilons), 60)
    delta = spec.grid.delta
    ceil = {"attack_auc": [dp_auc_ceiling(e, delta) for e in eps],
            "attack_tpr": [dp_tpr_ceiling(e, delta, 0.01) for e in eps]}
    for ax, col, acol, label in ((axes[0], "attack_auc", "audit_auc", "AUC"),
                                 (axes[1], "attack_tpr", "audit_tpr", "TPR at 1 % FPR")):
        ax.plot(eps, ceil[col], color="grey", lw=1, label="ceiling of any test under DP")
        if has_attack:
            _curve(ax, fits, spec.grid.names, col)
        for base, colour, _ in _by_base(fits, spec.grid.names):
            a = audits[audits["estimator"] == base] if has_audit else audits.iloc[0:0]
            if len(a) and a[acol].notna().any():
                ax.plot(a["epsilon"], a[acol], color=colour, marker="s", mfc="none", ls=":",
                        label=f"{base}: worst-case record (audit)")
        _log_epsilon_axis(ax, spec.grid.epsilons)
        ax.set_ylabel(label)
    axes[0].axhline(0.5, color="black", lw=0.5)
    axes[1].axhline(0.01, color="black", lw=0.5)
    axes[1].set_yscale("log")
    axes[0].set_title("Membership attack: AUC", fontsize="medium")
    axes[1].set_title("Membership attack: TPR at 1 % FPR", fontsize="medium")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.suptitle(f"{figure_title(spec)} (delta = {delta:g}; grey: the most any attack can "
                 "reach under the claim)", fontsize="medium")
    return fig


def audit_figure(audits: pd.DataFrame, spec: Any) -> Any | None:
    """epsilon_lower against epsilon_theory, with the diagonal; None without audit rows."""
    a = audits.dropna(subset=["epsilon_lower"]) if len(audits) else audits
    if not len(a):
        return None
    fig, (ax,) = _figure(1, 5.5, 4.5)
    top = float(max(a["epsilon_theory"].max(), a["epsilon_lower"].max()))
    ax.plot([0, top * 1.05], [0, top * 1.05], color="black", lw=1, label="claimed: lower = theory")
    names = list(spec.grid.names)
    for name, g in a.groupby("estimator", sort=False):
        c = _COLOURS[names.index(name) % len(_COLOURS)] if name in names else "black"
        g = g.sort_values("epsilon_theory")
        ax.plot(g["epsilon_theory"], g["epsilon_lower"], color=c, marker="o", label=name)
        ax.plot(g["epsilon_theory"], np.minimum(g["ceiling"], top * 1.05), color=c, ls=":", lw=1)
    ax.set_xlim(0, top * 1.05)
    ax.set_ylim(0, top * 1.05)
    ax.set_xlabel("epsilon_theory (accountant)")
    ax.set_ylabel(f"epsilon_lower (audit, {1 - float(a['alpha'].iloc[0]):.0%} confidence)")
    ax.set_title(f"{figure_title(spec)}\nAudited epsilon against the claim (dotted: ceilings; "
                 f"delta = {spec.grid.delta:g})", fontsize="medium")
    ax.legend(fontsize=7)
    return fig


def draw_curves(fits: pd.DataFrame, audits: pd.DataFrame, spec: Any, folder: Path,
                dpi: int = 150, vector: tuple[str, ...] = ("svg", "pdf")) -> list[Path]:
    """Write the figures that the tables allow into ``folder``: PNG at ``dpi``, and the same
    figure in each ``vector`` format beside it (for papers); return the PNG paths."""
    out = []
    for name, fig in (("error_vs_epsilon.png", error_figure(fits, spec)),
                      ("attack_vs_epsilon.png", attack_figure(fits, audits, spec)),
                      ("eps_lower_vs_eps_theory.png", audit_figure(audits, spec))):
        if fig is not None:
            path = Path(folder) / name
            fig.savefig(path, dpi=int(dpi), metadata={"Software": None})
            for ext in vector:
                meta = {"Date": None} if ext == "svg" else {"CreationDate": None}
                fig.savefig(path.with_suffix(f".{ext}"), metadata=meta)
            out.append(path)
    return out

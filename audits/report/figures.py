"""Figures of audit reports: attack scores with and without the canary, the attack's ROC curve,
and the empirical epsilon_lower set against the accountant's epsilon_theory.

Every function returns a matplotlib ``Figure`` drawn on its own Agg canvas (no pyplot, no global
state, no display needed); matplotlib is imported when a figure is drawn, not when this module
is imported. :func:`figure_png` turns a figure into PNG bytes. Scores are the auditor's own
statistics (run scores, mechanism outputs), never a record's values.

References
----------
.. [1] Carlini, Chien, Nasr, Song, Terzis, Tramer, "Membership inference attacks from first
   principles", IEEE S&P 2022 (the log-log ROC curve).
.. [2] Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis, "Tight auditing of
   differentially private machine learning", USENIX Security 2023 (epsilon_lower against the
   theoretical epsilon).
"""

from __future__ import annotations

import io
import math
from typing import Any, Mapping, Sequence

import numpy as np

from attacks.metrics import roc_curve
from privcausal.exceptions import DataValidationError
from privcausal.validation import check_finite_array

__all__ = ["score_histogram", "roc_figure", "epsilon_figure", "figure_png", "ROC_SCALES"]

ROC_SCALES = ("log", "linear", "both")
_MAX_ROC_POINTS = 4000  # a plotted curve is thinned to about this many points
_IN, _OUT, _BAD = "#d95f02", "#1b9e77", "#c62828"


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Any, list[Any]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def _scores(scores_in: Any, scores_out: Any) -> tuple[np.ndarray, np.ndarray]:
    s_in = check_finite_array(scores_in, name="scores_in", ndim=1)
    s_out = check_finite_array(scores_out, name="scores_out", ndim=1)
    if s_in.size == 0 or s_out.size == 0:
        raise DataValidationError(
            f"a score figure needs scores in both worlds: got {s_in.size} with the canary, "
            f"{s_out.size} without"
        )
    return s_in, s_out


def score_histogram(scores_in: Any, scores_out: Any, *, threshold: float | None = None,
                    title: str | None = None, members: bool = False) -> Any:
    """Histograms of the attack scores of runs with and without the canary, on shared bins.

    Parameters
    ----------
    scores_in, scores_out : 1-d arrays of scores (higher means "canary present")
    threshold : the test's threshold, drawn as a vertical line when given and finite
    title : the axes title
    members : the scores are of records (members and non-members of one model), not of runs
        with and without a canary: the labels say so

    Returns
    -------
    matplotlib.figure.Figure
    """
    s_in, s_out = _scores(scores_in, scores_out)
    what_in, what_out, unit = (("members", "non-members", "records") if members
                               else ("with canary", "without canary", "runs"))
    fig, (ax,) = _figure(5.0, 3.4)
    both = np.concatenate([s_in, s_out])
    n_bins = int(min(60, max(10, math.ceil(2 * both.size ** (1 / 3)))))
    q1, q3 = np.quantile(both, [0.25, 0.75])
    # heavy tails (LiRA's log-likelihood ratios) would squeeze every other score into one bar:
    # the axis is then the signed log sign(s) log(1 + |s|), which keeps the order of the scores
    signed_log = bool(np.ptp(both) > 50 * max(q3 - q1, 1e-12) and np.max(np.abs(both)) > 10)
    if signed_log:
        s_in, s_out = (np.sign(v) * np.log1p(np.abs(v)) for v in (s_in, s_out))
        both = np.concatenate([s_in, s_out])
    bins = np.histogram_bin_edges(both, bins=n_bins)
    ax.hist(s_out, bins=bins, alpha=0.55, color=_OUT, label=f"{what_out} (n={s_out.size})")
    ax.hist(s_in, bins=bins, alpha=0.55, color=_IN, label=f"{what_in} (n={s_in.size})")
    if threshold is not None and math.isfinite(threshold):
        ax.axvline(threshold, color="black", ls="--", lw=1.0, label="test threshold")
    ax.set_xlabel(("signed log(1 + |attack score|)" if signed_log else "attack score")
                  + " (higher: " + ("more likely a member)" if members else "canary present)"))
    ax.set_ylabel(unit)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title, fontsize="medium")
    return fig


def _thin(fpr: np.ndarray, tpr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most about _MAX_ROC_POINTS points, spread evenly in log FPR and in index, endpoints kept."""
    if fpr.size <= _MAX_ROC_POINTS:
        return fpr, tpr
    pos = fpr[fpr > 0]
    grid = np.geomspace(pos.min(), 1.0, _MAX_ROC_POINTS // 2) if pos.size else np.zeros(0)
    idx = np.searchsorted(fpr, grid, side="right") - 1
    idx = np.unique(np.r_[0, idx, np.linspace(0, fpr.size - 1, _MAX_ROC_POINTS // 2).astype(int),
                          fpr.size - 1])
    return fpr[idx], tpr[idx]


def roc_figure(scores_in: Any, scores_out: Any, *, scale: str = "both",
               title: str | None = None, dp_limit: tuple[float, float] | None = None) -> Any:
    """ROC curve of the rule "canary present if score >= t", with the chance diagonal.

    Parameters
    ----------
    scores_in, scores_out : 1-d arrays of scores (higher means "canary present")
    scale : ``"log"`` (log-log axes, Carlini et al. 2022: what matters is the TPR at low FPR),
        ``"linear"``, or ``"both"`` (two panels side by side)
    title : the figure title
    dp_limit : ``(epsilon, delta)``: draw the highest ROC curve an (epsilon, delta)-DP release
        allows (:func:`audits.models.interpret.dp_tpr_limit`); a curve above it is leakage
        beyond the claim

    Returns
    -------
    matplotlib.figure.Figure
        The curve is computed by :func:`attacks.metrics.roc_curve`; the legend gives its AUC.
    """
    if scale not in ROC_SCALES:
        raise DataValidationError(f"scale must be one of {ROC_SCALES}, got {scale!r}")
    s_in, s_out = _scores(scores_in, scores_out)
    labels = np.r_[np.ones(s_in.size, dtype=np.int8), np.zeros(s_out.size, dtype=np.int8)]
    curve = roc_curve(labels, np.concatenate([s_in, s_out]))
    fpr, tpr = _thin(curve.fpr, curve.tpr)
    scales = ("linear", "log") if scale == "both" else (scale,)
    fig, axes = _figure(4.2 * len(scales), 4.0, len(scales))
    for ax, sc in zip(axes, scales):
        lo = 1.0 / max(curve.n_non_members, curve.n_members) if sc == "log" else 0.0
        keep = (fpr > 0) & (tpr > 0) if sc == "log" else np.ones(fpr.size, dtype=bool)
        ax.plot(fpr[keep], tpr[keep], color=_IN, drawstyle="steps-post",
                label=f"attack (AUC {curve.auc:.3f})")
        ax.plot([lo, 1], [lo, 1], ls="--", color="grey", lw=0.8, label="chance")
        if dp_limit is not None and math.isfinite(dp_limit[0]):
            from audits.models.interpret import dp_tpr_limit

            grid = np.geomspace(max(lo, 1e-6), 1, 200) if sc == "log" else np.linspace(0, 1, 200)
            ax.plot(grid, dp_tpr_limit(grid, *dp_limit), color=_BAD, lw=1.2,
                    label=f"most the claim allows (eps {dp_limit[0]:.3g}, delta {dp_limit[1]:.2g})")
        if sc == "log":
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlim(lo, 1)
        ax.set_ylim(lo, 1)
        ax.set_xlabel("false positive rate" + (" (log)" if sc == "log" else ""))
        ax.set_ylabel("true positive rate" + (" (log)" if sc == "log" else ""))
        ax.legend(loc="lower right", fontsize="small")
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _label(text: str, limit: int = 40) -> str:
    """A legend label from a record's string: shortened, and no mathtext (``$``)."""
    text = " ".join(text.split()).replace("$", r"\$")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def epsilon_figure(records: Sequence[Mapping[str, Any]], *, title: str | None = None) -> Any:
    """epsilon_lower (dots; red when it exceeds epsilon_theory) and the ceiling the trials allow
    (grey bars) against epsilon_theory, with the line y = x.

    Parameters
    ----------
    records : audit records (:func:`audits.report.records.audit_record`) or mappings with the keys
        ``epsilon_theory``, ``epsilon_lower``, ``ceiling`` and ``bound``. Records whose
        epsilon_theory is infinite (a non-private release) cannot be placed and are skipped.
    title : the axes title

    Returns
    -------
    matplotlib.figure.Figure
    """
    pts = []
    for r in records:
        x, y = _finite(r.get("epsilon_theory")), _finite(r.get("epsilon_lower"))
        if x is not None and y is not None:
            pts.append((x, y, _finite(r.get("ceiling")), str(r.get("bound", "")),
                        bool(r.get("violation", y > x))))
    if not pts:
        raise DataValidationError("no record has a finite epsilon_theory and epsilon_lower to plot")
    fig, (ax,) = _figure(5.0, 4.2)
    top = max(max(p[0], p[1], p[2] or 0.0) for p in pts) * 1.08 or 1.0
    ax.plot([0, top], [0, top], ls="--", color="grey", lw=0.8, label="epsilon_lower = epsilon_theory")
    ceil = [(p[0], p[2]) for p in pts if p[2] is not None]
    if ceil:
        ax.scatter(*zip(*ceil), marker="_", s=160, color="grey", label="ceiling (perfect attack)")
        ax.vlines([p[0] for p in pts if p[2] is not None], [p[1] for p in pts if p[2] is not None],
                  [p[2] for p in pts if p[2] is not None], colors="lightgrey", lw=0.8, zorder=1)
    markers = dict(zip(sorted({p[3] for p in pts}), "osD^vP*X"))
    for b, m in markers.items():
        ok = [(p[0], p[1]) for p in pts if p[3] == b and not p[4]]
        if ok:
            ax.scatter(*zip(*ok), marker=m, color=_OUT, zorder=3, label=f"epsilon_lower ({_label(b)})")
    bad = [(p[0], p[1]) for p in pts if p[4]]
    if bad:
        ax.scatter(*zip(*bad), marker="o", s=60, color=_BAD, zorder=4,
                   label="epsilon_lower > epsilon_theory (violation)")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("epsilon_theory (accountant)")
    ax.set_ylabel("epsilon_lower (audit)")
    ax.legend(fontsize="small", loc="upper left")
    if title:
        ax.set_title(title, fontsize="medium")
    return fig


def figure_png(fig: Any, *, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (no timestamp in the metadata, so equal figures give equal bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()

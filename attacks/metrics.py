"""How well a membership attack separates members from non-members.

Convention everywhere: ``labels`` is 1 for a member and 0 for a non-member, and a higher
``score`` means "more likely a member". Report the ROC AUC, the TPR at low FPR (0, 0.1 %, 1 %)
and the log-log ROC curve: an attack matters when it identifies some members with almost no
false positives, which the AUC hides.

Errors raised here name counts (NaN scores, members, non-members), never score values.

References
----------
.. [1] Carlini, Chien, Nasr, Song, Terzis, Tramer, "Membership inference attacks from first
   principles", IEEE S&P 2022 (TPR at low FPR and the log-log ROC).
.. [2] Yeom, Giacomelli, Fredrikson, Jha, "Privacy risk in machine learning: analyzing the
   connection to overfitting", CSF 2018 (membership advantage).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from privcausal.exceptions import DataValidationError
from privcausal.validation import check_finite_array
from privcausal.jsonnum import json_number

__all__ = [
    "RocCurve",
    "TprAtFpr",
    "AttackMetrics",
    "SubgroupMetrics",
    "roc_curve",
    "roc_auc",
    "tpr_at_fpr",
    "membership_advantage",
    "attack_metrics",
    "subgroup_metrics",
    "plot_roc",
    "DEFAULT_FPRS",
]

DEFAULT_FPRS = (0.0, 0.001, 0.01)


def _check(labels: Any, scores: Any, *, both_classes: bool = True) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels)
    s = check_finite_array(scores, name="scores", ndim=1)
    if y.ndim != 1:
        raise DataValidationError(f"labels must be 1-dimensional, got {y.ndim} dimensions")
    if y.size != s.size:
        raise DataValidationError(f"labels has {y.size} entries but scores has {s.size}")
    if y.dtype == bool:
        y = y.astype(np.int8)
    bad = int(np.sum(~np.isin(y, (0, 1)))) if y.size else 0
    if bad:
        raise DataValidationError(
            f"labels must be 1 (member) or 0 (non-member); {bad} of {y.size} entries are neither"
        )
    y = y.astype(np.int8)
    n_in = int(y.sum())
    if both_classes and (n_in == 0 or n_in == y.size):
        raise DataValidationError(
            f"labels hold {n_in} members and {y.size - n_in} non-members; membership metrics need "
            "both (a one-class evaluation cannot measure an attack)"
        )
    return y, s


@dataclass(frozen=True)
class RocCurve:
    """ROC of the rule "member if score >= threshold", one point per distinct score.

    ``thresholds`` decrease from ``inf`` (nothing called a member: fpr = tpr = 0).
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    n_members: int
    n_non_members: int

    @property
    def auc(self) -> float:
        return float(np.sum(np.diff(self.fpr) * (self.tpr[1:] + self.tpr[:-1])) / 2)


def roc_curve(labels: Any, scores: Any) -> RocCurve:
    """The full ROC curve (no points dropped); equals scikit-learn's
    ``roc_curve(labels, scores, drop_intermediate=False)``."""
    y, s = _check(labels, scores)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each distinct score
    tps = np.cumsum(y)[last]
    fps = (last + 1) - tps
    n_in, n_out = int(tps[-1]), int(fps[-1])
    return RocCurve(
        fpr=np.r_[0.0, fps / n_out],
        tpr=np.r_[0.0, tps / n_in],
        thresholds=np.r_[np.inf, s[last]],
        n_members=n_in,
        n_non_members=n_out,
    )


def roc_auc(labels: Any, scores: Any) -> float:
    """Area under the ROC curve (ties count one half); 0.5 is guessing."""
    return roc_curve(labels, scores).auc


@dataclass(frozen=True)
class TprAtFpr:
    """The largest TPR among thresholds whose FPR is at most ``fpr`` (no interpolation).

    ``enough_non_members`` is False when there are fewer than 1/fpr non-members: the FPR cannot
    be resolved and the number means little. At fpr = 0 it is always False: no finite sample
    shows an FPR of 0; the value then reads "TPR with no false positive among n_non_members".
    """

    fpr: float
    tpr: float
    threshold: float
    n_non_members: int
    enough_non_members: bool


def _tpr_at(curve: RocCurve, fprs: Sequence[float]) -> tuple[TprAtFpr, ...]:
    out = []
    for f in fprs:
        f = float(f)
        if not 0.0 <= f <= 1.0:
            raise DataValidationError(f"target FPRs must lie in [0, 1], got {f!r}")
        ok = np.flatnonzero(curve.fpr <= f + 1e-12)  # the first point (fpr = 0) always qualifies
        j = ok[np.argmax(curve.tpr[ok])]
        enough = f > 0 and curve.n_non_members * f >= 1.0
        out.append(TprAtFpr(f, float(curve.tpr[j]), float(curve.thresholds[j]),
                            curve.n_non_members, bool(enough)))
    return tuple(out)


def tpr_at_fpr(labels: Any, scores: Any, fprs: Sequence[float] = DEFAULT_FPRS) -> tuple[TprAtFpr, ...]:
    """TPR at each target FPR (default 0, 0.1 %, 1 %), with a flag for too few non-members."""
    return _tpr_at(roc_curve(labels, scores), fprs)


def membership_advantage(labels: Any, scores: Any) -> float:
    """max over thresholds of TPR - FPR (Yeom et al.); 0 for an attack no better than guessing."""
    c = roc_curve(labels, scores)
    return float(np.max(c.tpr - c.fpr))


@dataclass(frozen=True)
class AttackMetrics:
    """The numbers to report for one attack on one population."""

    auc: float
    advantage: float
    tpr_at_fpr: tuple[TprAtFpr, ...]
    n_members: int
    n_non_members: int

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for row in d["tpr_at_fpr"]:
            row["threshold"] = json_number(row["threshold"])
        return d


def attack_metrics(labels: Any, scores: Any, *, fprs: Sequence[float] = DEFAULT_FPRS) -> AttackMetrics:
    """AUC, advantage and TPR at the target FPRs, from one ROC curve."""
    c = roc_curve(labels, scores)
    return AttackMetrics(c.auc, float(np.max(c.tpr - c.fpr)), _tpr_at(c, fprs), c.n_members,
                         c.n_non_members)


@dataclass(frozen=True)
class SubgroupMetrics:
    """Metrics of one subgroup; ``metrics`` is None (and ``note`` says why) when the subgroup
    holds only members or only non-members."""

    group: Any
    n_members: int
    n_non_members: int
    metrics: AttackMetrics | None
    note: str = ""


def subgroup_metrics(labels: Any, scores: Any, groups: Any, *,
                     fprs: Sequence[float] = DEFAULT_FPRS) -> dict[Any, SubgroupMetrics]:
    """:func:`attack_metrics` within each value of ``groups`` (one label per record), for
    finding the patients an attack singles out (say by age band or site)."""
    y, s = _check(labels, scores)
    g = np.asarray(groups)
    if g.ndim != 1 or g.size != y.size:
        raise DataValidationError(f"groups must have one entry per record ({y.size}), got shape {g.shape}")
    result = {}
    for key in np.unique(g):
        mask = g == key
        yk, sk = y[mask], s[mask]
        n_in = int(yk.sum())
        n_out = int(yk.size - n_in)
        k = key.item() if hasattr(key, "item") else key
        if n_in == 0 or n_out == 0:
            result[k] = SubgroupMetrics(k, n_in, n_out, None,
                                        "one class only: no membership metric is defined")
        else:
            result[k] = SubgroupMetrics(k, n_in, n_out, attack_metrics(yk, sk, fprs=fprs))
    return result


def plot_roc(curves: RocCurve | Mapping[str, RocCurve], *, ax: Any = None, title: str | None = None) -> Any:
    """Log-log ROC plot (Carlini et al.), one line per curve, with the chance diagonal.

    Returns the matplotlib Figure. matplotlib is imported here, not at module import, and the
    figure is drawn on an Agg canvas (no display needed). Points with FPR or TPR of 0 cannot be
    shown on log axes; the x axis starts at 1 / (largest number of non-members).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if isinstance(curves, RocCurve):
        curves = {"attack": curves}
    if ax is None:
        fig = Figure(figsize=(4.5, 4.5))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    lo = 1.0 / max(c.n_non_members for c in curves.values())
    for name, c in curves.items():
        keep = (c.fpr > 0) & (c.tpr > 0)
        ax.plot(c.fpr[keep], c.tpr[keep], label=f"{name} (AUC {c.auc:.3f})")
    ax.plot([lo, 1], [lo, 1], ls="--", color="grey", lw=0.8, label="chance")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, 1)
    ax.set_ylim(lo, 1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    if title:
        ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    return fig

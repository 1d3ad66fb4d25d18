"""The robust membership inference attack (RMIA) of Zarifzadeh, Liu and Shokri, on arrays.

Inputs are probabilities of the true label, P(x | theta): the target model's on the scored
records x and on population records z, and the same under K reference models.

* P(x) is P(x | theta') averaged over reference models theta'. **Online**: over all of them
  (with a balanced inclusion mask, half IN and half OUT). **Offline**: only the OUT models
  are available and P(x) = ((1 + a) P_OUT(x) + (1 - a)) / 2, a linear fit of the missing
  IN half; ``a`` in [0, 1] is tuned by attacking one reference model with the others
  (:func:`tune_offline_a`).
* LR(x, z) = [P(x | theta) / P(x)] / [P(z | theta) / P(z)], and the score of x is the
  fraction of population records z with LR(x, z) >= gamma.

The fraction is computed by sorting the z ratios once (n log n), not pair by pair; the tests
compare it with the pairwise definition. The two agree exactly except where LR(x, z) lies
within floating-point rounding of gamma (for gamma = 1 they agree exactly).

Convention: higher score = more likely a member.

References
----------
.. [1] Zarifzadeh, Liu, Shokri, "Low-cost high-power membership inference attacks", ICML 2024
   (Section 3, Algorithm 1, and Appendix on the offline approximation).
.. [2] privacy meter (privacytrustlab/ml_privacy_meter), ``modules/mia/attacks/rmia.py``:
   the grid 0, 0.1, ..., 1 for ``a`` and tuning on a paired reference model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from attacks._arrays import check_reference, check_target_stat, out_counts
from privcausal.exceptions import DataValidationError

__all__ = ["rmia_scores", "marginal_probability", "tune_offline_a", "OfflineATuning", "A_GRID"]

A_GRID = tuple(np.round(np.arange(0.0, 1.0001, 0.1), 10))


def _probs(p: Any, name: str) -> np.ndarray:
    a = np.asarray(p, dtype=np.float64)
    if a.ndim == 1:
        a = check_target_stat(a, name)
    bad = int(np.sum(~(a > 0)))
    if bad or np.any(a > 1.0 + 1e-12):
        raise DataValidationError(
            f"{name} must be probabilities in (0, 1]; {bad} entries are <= 0 and "
            f"{int(np.sum(a > 1.0 + 1e-12))} exceed 1 (for RMIA pass P(x | theta), not losses)"
        )
    return a


def marginal_probability(ref_p: Any, ref_in: Any = None, *, offline_a: float | None = None
                         ) -> np.ndarray:
    """P(x) from reference probabilities (K, n).

    ``offline_a=None`` (online): the mean over all K reference models. Otherwise (offline):
    ``((1 + a) P_OUT(x) + (1 - a)) / 2`` with P_OUT the mean over the models that did not
    train on x (``ref_in`` False; None = all OUT).
    """
    r = np.asarray(ref_p, dtype=np.float64)
    r, m = check_reference(r, ref_in, r.shape[1] if r.ndim == 2 else -1,
                           name="reference probabilities")
    if offline_a is None:
        return r.mean(0)
    a = float(offline_a)
    if not 0.0 <= a <= 1.0:
        raise DataValidationError(f"offline_a must lie in [0, 1], got {a!r}")
    _, n_out = out_counts(m)
    bad = int(np.sum(n_out == 0))
    if bad:
        raise DataValidationError(
            f"{bad} records are OUT of no reference model: offline RMIA needs at least one "
            "reference model that did not train on each record"
        )
    p_out = (r * ~m).sum(0) / n_out
    return 0.5 * ((1.0 + a) * p_out + (1.0 - a))


def rmia_scores(target_px: Any, ref_px: Any, target_pz: Any, ref_pz: Any, *,
                ref_in: Any = None, ref_z_in: Any = None, offline_a: float | None = None,
                gamma: float = 1.0) -> np.ndarray:
    """RMIA scores: for each x, the fraction of z with LR(x, z) >= gamma.

    Parameters
    ----------
    target_px : (n,) P(x | theta) of the target on the scored records
    ref_px : (K, n) the same under the reference models
    target_pz : (m,) P(z | theta) of the target on population records
    ref_pz : (K, m) the same under the reference models
    ref_in, ref_z_in : (K, n) and (K, m) inclusion masks (None: all OUT)
    offline_a : None for the online attack; a in [0, 1] for the offline one
    gamma : the likelihood-ratio threshold (>= 1 in the paper; default 1)

    Returns
    -------
    (n,) float64 scores in [0, 1]; higher = more likely a member.
    """
    px = _probs(target_px, "target P(x | theta)")
    pz = _probs(target_pz, "target P(z | theta)")
    rx = _probs(ref_px, "reference P(x | theta)")
    rz = _probs(ref_pz, "reference P(z | theta)")
    if rx.ndim != 2 or rx.shape[1] != px.size or rz.ndim != 2 or rz.shape[1] != pz.size:
        raise DataValidationError("reference probabilities must be (K, n) and (K, m), one column "
                                  "per scored record and per population record")
    if rx.shape[0] != rz.shape[0]:
        raise DataValidationError("the same reference models must score x and z")
    g = float(gamma)
    if not g > 0 or not np.isfinite(g):
        raise DataValidationError("gamma must be positive and finite")
    ratio_x = px / marginal_probability(rx, ref_in, offline_a=offline_a)
    ratio_z = np.sort(pz / marginal_probability(rz, ref_z_in, offline_a=offline_a))
    # LR(x, z) = ratio_x / ratio_z >= gamma  <=>  ratio_z <= ratio_x / gamma
    counts = np.searchsorted(ratio_z, ratio_x / g, side="right")
    return counts / ratio_z.size


@dataclass(frozen=True)
class OfflineATuning:
    """The ``a`` chosen for offline RMIA and the AUC each candidate reached."""

    a: float
    grid: tuple[float, ...]
    auc: tuple[float, ...]
    pseudo_target: int
    n_records: int


def tune_offline_a(ref_p: Any, ref_in: Any, *, pseudo_target: int = 0,
                   grid: Sequence[float] = A_GRID, gamma: float = 1.0) -> OfflineATuning:
    """Choose ``a`` by attacking reference model ``pseudo_target`` with the other models.

    The records are the attacker's pool (the population the reference models trained on);
    the pseudo-target's members are its IN records. Scored records x: every pool record
    OUT of at least one of the other models; population records z: the pseudo-target's OUT
    records among them. The ``a`` with the largest AUC wins (the first, on ties).

    Parameters
    ----------
    ref_p : (K, n) P(x | theta_k) of K >= 2 reference models on the pool
    ref_in : (K, n) bool inclusion mask
    """
    from attacks.metrics import roc_auc

    r = np.asarray(ref_p, dtype=np.float64)
    r, m = check_reference(r, ref_in, r.shape[1] if r.ndim == 2 else -1,
                           name="reference probabilities")
    K = r.shape[0]
    if K < 2:
        raise DataValidationError("tuning a needs at least two reference models (one plays the "
                                  "target); train one more")
    j = int(pseudo_target)
    if not 0 <= j < K:
        raise DataValidationError(f"pseudo_target must lie in 0..{K - 1}")
    others = np.r_[0:j, j + 1:K]
    ro, mo = r[others], m[others]
    keep = (~mo).any(0)
    labels = m[j][keep]
    if labels.all() or not labels.any():
        raise DataValidationError("the pseudo-target's pool holds only members or only non-members")
    x_idx = np.flatnonzero(keep)
    z_idx = x_idx[~labels]
    aucs = []
    for a in grid:
        s = rmia_scores(r[j, x_idx], ro[:, x_idx], r[j, z_idx], ro[:, z_idx], ref_in=mo[:, x_idx],
                        ref_z_in=mo[:, z_idx], offline_a=float(a), gamma=gamma)
        aucs.append(roc_auc(labels, s))
    best = int(np.argmax(aucs))
    return OfflineATuning(float(grid[best]), tuple(float(a) for a in grid), tuple(aucs), j,
                          int(x_idx.size))

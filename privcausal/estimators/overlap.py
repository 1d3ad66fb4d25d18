"""How many records a propensity clip touches, released with noise, and the warning it raises.

IPW and AIPW clip estimated propensities to ``[clip, 1 - clip]`` so that weights, and so
sensitivities, are bounded. Where true propensities lie beyond the clip the estimate is biased
(it weights the poorly overlapping patients as if they overlapped better), and no interval here
includes that bias. The estimators therefore release, with a small share of their budget, a
two-bin histogram of the records: propensity beyond the clip, and within it. Each record falls in
exactly one bin given the (already released) propensity model, so under add/remove the
histogram's L1 sensitivity is 1: one Laplace release of both bins. Its ratio, ``clipped_share_``,
is post-processing; above :data:`CLIPPED_SHARE_WARN` an :class:`~privcausal.exceptions.OverlapWarning`
says so. The share flags the risk, not the size of the bias (``experiments/aipw_small_n.md``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from privcausal.exceptions import OverlapWarning
from privcausal.privacy import LaplaceMechanism, PrivacyEvent

__all__ = ["CLIP_COUNT_SHARE", "CLIPPED_SHARE_WARN", "release_clipped_share"]

#: share of a weighting estimator's aggregate budget spent on the clipped / unclipped histogram
CLIP_COUNT_SHARE = 0.05
#: above this released share of clipped propensities, an OverlapWarning
CLIPPED_SHARE_WARN = 0.05


def release_clipped_share(e_raw: np.ndarray, clip: float, epsilon: float, noise: Any, *,
                          estimator: str) -> tuple[np.ndarray, float, PrivacyEvent]:
    """Release ``[records beyond the clip, records within it]`` with pure ``epsilon``-DP.

    Returns the noisy histogram, the share it implies (clamped to [0, 1]) and the event; warns
    when the share exceeds :data:`CLIPPED_SHARE_WARN`.
    """
    e_raw = np.asarray(e_raw, dtype=np.float64)
    beyond = int(np.sum((e_raw < clip) | (e_raw > 1.0 - clip)))
    mech = LaplaceMechanism(epsilon, 1.0)
    hist = np.asarray(mech.randomise(np.array([beyond, e_raw.size - beyond], dtype=np.float64), noise),
                      dtype=np.float64)
    pos = np.maximum(hist, 0.0)
    share = float(pos[0] / pos.sum()) if pos.sum() > 0 else 0.0
    if share > CLIPPED_SHARE_WARN:
        warnings.warn(
            f"{estimator}: about {100 * share:.0f} % of the records (a noisy share) have propensities "
            f"outside [{clip:g}, {1 - clip:g}] and were clipped: the estimate is then biased where "
            "treated and control patients overlap poorly, and its interval leaves that bias out; a "
            "smaller clip lowers the bias at the cost of more noise", OverlapWarning, stacklevel=3)
    return hist, share, mech.event(f"{estimator}: records with propensities beyond / within the clip")

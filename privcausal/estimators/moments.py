"""The noisy per-arm moments: the release building blocks that the difference in means and the
regression adjustment share.

Per treatment arm (arms are disjoint, so they compose in parallel): the noisy record count
(Laplace, sensitivity 1), the noisy sum of the centred outcome ``u = y - c`` (sensitivity
``B``, half the declared outcome width) and, for a non-binary outcome, the noisy sum of
``u^2 - B^2/2`` (sensitivity ``B^2/2``). :class:`MomentPlan` fixes the budget split and the
mechanisms, :func:`release_counts` and :func:`release_sums` draw, :func:`moment_events` says
what was spent, :func:`arm_means` post-processes and :func:`dim_bootstrap` re-simulates the
whole release for the parametric-bootstrap interval.

References
----------
.. [1] Dwork, McSherry, Nissim, Smith, "Calibrating noise to sensitivity in private data
   analysis", TCC 2006.
.. [2] Ferrando, Wang, Sheldon, "Parametric bootstrap for differentially private confidence
   intervals", AISTATS 2022.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from privcausal.estimators.intervals import OutcomeModel, parametric_bootstrap
from privcausal.exceptions import PrivacyParameterError
from privcausal.privacy import LaplaceMechanism, PrivacyEvent, parallel
from privcausal.privacy.random import SimulationNoise
from privcausal.validation import check_epsilon

__all__ = ["ARMS", "MomentPlan", "moment_plan", "release_counts", "release_sums", "moment_events",
           "arm_means", "dim_bootstrap", "check_share"]

ARMS = ("control", "treated")


def check_share(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """A budget share in (0, 1) ([0, 1) with ``allow_zero``)."""
    s = float(value)
    if not ((s >= 0 if allow_zero else s > 0) and s < 1):
        raise PrivacyParameterError(f"{name} must lie in {'[0' if allow_zero else '(0'}, 1), got {s!r}")
    return s


@dataclass(frozen=True)
class MomentPlan:
    """Epsilons of the Laplace releases of counts, sums and sums of squares (per arm)."""

    eps_count: float
    eps_sum: float
    eps_sq: float  # 0 means "not released"
    bound: float  # B: half the width of the outcome domain

    def mechanisms(self) -> tuple[LaplaceMechanism, LaplaceMechanism, LaplaceMechanism | None]:
        sq = LaplaceMechanism(self.eps_sq, self.bound**2 / 2) if self.eps_sq else None
        return LaplaceMechanism(self.eps_count, 1.0), LaplaceMechanism(self.eps_sum, self.bound), sq


def moment_plan(epsilon: float, *, count_share: float, var_share: float, bound: float, binary: bool,
                eps_stage2: float | None = None) -> MomentPlan:
    """The DiM budget split; ``eps_stage2`` (what the sums get) defaults to what the counts left."""
    eps = check_epsilon(epsilon)
    if math.isinf(eps):
        return MomentPlan(math.inf, math.inf, 0.0 if binary else math.inf, bound)
    e_count = count_share * eps
    e2 = eps - e_count if eps_stage2 is None else eps_stage2
    e_sq = 0.0 if binary or var_share == 0 else var_share * e2
    return MomentPlan(e_count, e2 - e_sq, e_sq, bound)


def _laplace(mech: LaplaceMechanism, value: Any, noise: Any, size: tuple[int, ...]) -> np.ndarray:
    """``value`` (per arm on the last axis, broadcast to ``size + (2,)``) released by ``mech`` on
    its lattice; each arm's entry is its own one-coordinate release (the arms are disjoint)."""
    v = np.broadcast_to(np.asarray(value, dtype=np.float64), tuple(size) + (2,))
    return np.asarray(mech.randomise(v, noise, dim=1), dtype=np.float64)


def release_counts(n: np.ndarray, plan: MomentPlan, noise: Any, size: tuple[int, ...] = ()) -> np.ndarray:
    """Noisy arm sizes; the last axis is the arm (control, treated)."""
    return _laplace(plan.mechanisms()[0], n, noise, size)


def release_sums(n: np.ndarray, n_noisy: np.ndarray, su: np.ndarray, suu: np.ndarray, plan: MomentPlan,
                 noise: Any, size: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray | None]:
    """Noisy ``sum u`` and, if the plan releases it, noisy ``sum u^2`` per arm.

    ``sum u^2`` goes through the mechanism as ``sum (u^2 - B^2/2)`` (``n`` exact, inside the
    mechanism) and is shifted back with the noisy count ``n_noisy`` (post-processing).
    """
    _, m_sum, m_sq = plan.mechanisms()
    s = _laplace(m_sum, su, noise, size)
    if m_sq is None:
        return s, None
    half = m_sq.sensitivity
    q = np.asarray(suu, dtype=np.float64) - half * np.asarray(n, dtype=np.float64)
    return s, _laplace(m_sq, q, noise, size) + half * n_noisy


def moment_events(plan: MomentPlan, *, counts: bool = True) -> list[PrivacyEvent]:
    """The per-arm Laplace releases of ``plan``, each composed in parallel over the arms."""
    m_count, m_sum, m_sq = plan.mechanisms()
    what = [(m_sum, "noisy sum of centred outcomes")]
    if counts:
        what.insert(0, (m_count, "noisy count"))
    if m_sq is not None:
        what.append((m_sq, "noisy sum of squared centred outcomes"))
    return [parallel([m.event(f"{label}, {a} arm") for a in ARMS], f"{label} (arms in parallel)")
            for m, label in what]


def arm_means(n_noisy: np.ndarray, s_noisy: np.ndarray, bound: float) -> np.ndarray:
    """Centred arm means ``noisy sum / max(noisy count, 1)``, clipped to ``[-B, B]``."""
    return np.clip(np.asarray(s_noisy) / np.maximum(np.asarray(n_noisy), 1.0), -bound, bound)


def dim_bootstrap(n_noisy: np.ndarray, s_noisy: np.ndarray, q_noisy: np.ndarray | None, plan: MomentPlan,
                  binary: bool, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """Parametric bootstrap draws of (DiM release - model ATE), all replicates at once.

    The model (:class:`~privcausal.estimators.intervals.OutcomeModel`) is fitted to the noisy
    statistics only; each replicate draws exact arm sums from it and reruns the release.
    """
    model = OutcomeModel.fit(n_noisy, s_noisy, q_noisy, plan, binary=binary)

    def simulate(size: int, g: np.random.Generator) -> np.ndarray:
        n_b, su_b, suu_b = model.sample(size, g)
        src = SimulationNoise(g)  # the release's distribution, drawn fast (a simulation)
        nn = release_counts(n_b, plan, src, (size,))
        ss, _ = release_sums(n_b, nn, su_b, suu_b, plan, src, (size,))
        mm = arm_means(nn, ss, plan.bound)
        return mm[:, 1] - mm[:, 0]

    return parametric_bootstrap(simulate, model.ate, n_bootstrap, rng, vectorised=True)

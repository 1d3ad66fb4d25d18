"""AdaSSP (:func:`privcausal.estimators.adassp.adassp_fit`) as an auditable mechanism, with its
worst-case neighbouring datasets.

AdaSSP releases three Gaussian statistics at ``(epsilon/3, delta/3)`` each: the smallest
eigenvalue of ``X'X`` (less a margin, floored at 0), ``X'X`` (upper triangle) and ``X'y``. The
output audited is all three, ``[lam_min, triu(X'X), X'y]``.

Worst-case pair (declared bounds ``B_X``, ``B_Y`` only): D holds ``2k`` rows ``B_X e_1`` and
``k`` rows ``B_X e_2`` with outcome 0, so ``X'X = B_X^2 diag(2k, k)``; D' adds the row
``B_X e_2`` with outcome ``B_Y``. It lies along the eigenvector of the smallest eigenvalue, which
rises by exactly ``B_X^2`` (the gap ``k B_X^2`` keeps it the smallest), and it moves ``X'X`` by
``B_X^2`` and ``X'y`` by ``B_X B_Y``: all three sensitivities at once. With ``k`` large the
eigenvalue's floor at 0 never binds, so every coordinate is a Gaussian shift and the audit's
Gaussian-DP route applies.

The claim audited is the receipt's: ``make_receipt`` composes the three events with the PLD
accountant. :class:`~privcausal.estimators.adassp.AdaSSPResult`'s own ``event`` adds them up
(basic composition), which for three Gaussians overstates the spend by about 1.75 (at
delta = 1e-6: 0.56 epsilon is what they spend); the audit reports both.

References
----------
.. [1] Y.-X. Wang, "Revisiting differentially private linear regression: optimal and adaptive
   prediction & estimation in unbounded domain", UAI 2018.
.. [2] Dong, Roth, Su, "Gaussian differential privacy", JRSS B 2022 (composition of Gaussian
   mechanisms is exactly Gaussian: mu = sqrt(sum mu_i^2)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from privcausal.privacy import Receipt, make_receipt, noise_source
from privcausal.validation import check_random_state

__all__ = ["AdaSSPRelease", "adassp_neighbours"]

@dataclass(frozen=True)
class Data:
    """Rows ``X`` (n, d) and outcomes ``y`` (n,) of a regression dataset."""

    X: np.ndarray
    y: np.ndarray


def adassp_neighbours(*, bound_x: float = 1.0, bound_y: float = 1.0, k: int = 1000) -> tuple[Data, Data]:
    """``(D, D')`` as above: ``2k`` rows ``B_X e_1``, ``k`` rows ``B_X e_2``; D' adds ``(B_X e_2, B_Y)``."""
    X = np.zeros((3 * k, 2))
    X[: 2 * k, 0] = bound_x
    X[2 * k:, 1] = bound_x
    y = np.zeros(3 * k)
    return Data(X, y), Data(np.vstack([X, [0.0, bound_x]]), np.append(y, bound_y))


class AdaSSPRelease:
    """``mechanism(Data(X, y), random_state) -> [lam_min, triu(X'X), X'y]`` of one AdaSSP fit."""

    name = "adassp"

    def __init__(self, epsilon: float, delta: float = 1e-6, *, bound_x: float = 1.0,
                 bound_y: float = 1.0, k: int = 1000) -> None:
        self.epsilon, self.delta = float(epsilon), float(delta)
        self.bound_x, self.bound_y, self.k = float(bound_x), float(bound_y), int(k)

    def _fit(self, data: Data, random_state: Any) -> Any:
        from privcausal.estimators.adassp import adassp_fit

        return adassp_fit(data.X, data.y, bound_x=self.bound_x, bound_y=self.bound_y,
                          epsilon=self.epsilon, delta=self.delta, random_state=random_state)

    @staticmethod
    def _vector(res: Any) -> np.ndarray:
        iu = np.triu_indices(res.xtx.shape[0])
        return np.concatenate([[res.lam_min], res.xtx[iu], res.xty])

    def __call__(self, data: Data, random_state: Any) -> np.ndarray:
        return self._vector(self._fit(data, random_state))

    def batch(self, data: Data, n: int, random_state: Any) -> np.ndarray:
        """``n`` releases by :func:`~privcausal.estimators.adassp.adassp` on the statistics that
        ``adassp_fit`` computes (once), sharing one noise stream, so that
        ``batch(data, 1, s) == mechanism(data, s)``."""
        from privcausal.estimators.adassp import adassp

        norms = np.linalg.norm(data.X, axis=1)
        Xc = data.X * np.minimum(1.0, self.bound_x / np.maximum(norms, 1e-300))[:, None]
        yc = np.clip(data.y, -self.bound_y, self.bound_y)
        xtx, xty = Xc.T @ Xc, Xc.T @ yc
        noise = noise_source(check_random_state(random_state))
        with threadpool_limits(limits=1, user_api="blas"):
            return np.stack([self._vector(adassp(xtx, xty, bound_x=self.bound_x, bound_y=self.bound_y,
                                                 epsilon=self.epsilon, delta=self.delta,
                                                 random_state=noise)) for _ in range(n)])

    def families(self, data: Data) -> list[str]:
        d = data.X.shape[1]
        return ["gaussian"] * (1 + d * (d + 1) // 2 + d)

    def events_of(self, data: Data) -> list[int]:
        d = data.X.shape[1]
        return [0] + [1] * (d * (d + 1) // 2) + [2] * d

    def receipt(self, data: Data) -> Receipt:
        """The three events composed by the PLD accountant at ``delta``."""
        res = self._fit(data, 0)
        return make_receipt("AdaSSP", res.events, noise="seeded", delta=self.delta)

    def epsilon_basic(self, data: Data) -> float:
        """What ``AdaSSPResult.event`` states: the sum of the three epsilons."""
        return float(self._fit(data, 0).event.epsilon)

    def worst_case_pair(self, domain: Any = None) -> tuple[Data, Data]:
        return adassp_neighbours(bound_x=self.bound_x, bound_y=self.bound_y, k=self.k)

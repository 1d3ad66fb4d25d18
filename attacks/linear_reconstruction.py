"""Linear reconstruction of a hidden binary column from subset-sum answers (Dinur-Nissim).

A curator holds a secret bit s_i per record (say an HIV status) and answers m queries
"how many records of subset S_j have s = 1?", each S_j a uniformly random subset. If every
answer is within E = o(sqrt(n)) of the truth, least squares (or the LP of the paper) on the
m answers recovers all but a small fraction of the bits. Noise calibrated for differential
privacy over all m answers is far larger: one record moves every answer it belongs to, so
the L1 sensitivity of the answer vector is the largest number of queries any record is in
(about m / 2) and the L2 sensitivity its square root; the reconstruction then falls to
chance.

:func:`private_subset_sums` answers with privcausal's Laplace or Gaussian mechanism, the
sensitivity taken from the public query matrix and the declared domain of the bits ({0, 1}),
never from the data; it returns the receipt. :func:`reconstruct_bits` solves by least
squares or by the L1 linear program (scipy's HiGHS) and rounds at 1/2.

References
----------
.. [1] Dinur and Nissim, "Revealing information while preserving privacy", PODS 2003.
.. [2] Garfinkel, Abowd, Martindale, "Understanding database reconstruction attacks on public
   data", CACM 2019 (the US Census 2010 reconstruction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from privcausal.exceptions import DataValidationError
from privcausal.privacy import GaussianMechanism, LaplaceMechanism, Receipt, make_receipt
from privcausal.validation import check_finite_array, check_random_state

__all__ = ["subset_queries", "subset_sums", "private_subset_sums", "reconstruct_bits",
           "reconstruction_accuracy", "SubsetSumRelease"]


def subset_queries(n: int, m: int, random_state: Any = None) -> np.ndarray:
    """(m, n) 0/1 matrix: query j asks about a uniformly random subset (each record in with
    probability 1/2). Public: it does not depend on the data."""
    if int(n) < 1 or int(m) < 1:
        raise DataValidationError("need at least one record and one query")
    return (check_random_state(random_state).random((int(m), int(n))) < 0.5).astype(np.float64)


def _bits(secret: Any, n: int) -> np.ndarray:
    s = check_finite_array(secret, name="secret column", ndim=1)
    if s.size != n:
        raise DataValidationError(f"the secret column has {s.size} entries, the queries {n} columns")
    if not np.all((s == 0) | (s == 1)):
        raise DataValidationError("the secret column must be 0/1 (its declared domain)")
    return s


def subset_sums(queries: Any, secret: Any) -> np.ndarray:
    """The exact answers A s."""
    A = check_finite_array(queries, name="queries", ndim=2)
    return A @ _bits(secret, A.shape[1])


@dataclass(frozen=True)
class SubsetSumRelease:
    """Noisy answers, the mechanism's noise scale and the receipt."""

    answers: np.ndarray
    noise_std: float
    receipt: Receipt


def private_subset_sums(queries: Any, secret: Any, *, epsilon: float, delta: float = 0.0,
                        mechanism: str = "laplace", random_state: Any = None) -> SubsetSumRelease:
    """All m answers released at once with (epsilon, delta)-DP (add/remove one record).

    Laplace: L1 sensitivity = the largest number of queries containing one record; Gaussian
    (analytic calibration): L2 sensitivity = its square root. Both come from the public query
    matrix and the bits' declared domain {0, 1}.
    """
    A = check_finite_array(queries, name="queries", ndim=2)
    exact = A @ _bits(secret, A.shape[1])
    per_record = float(A.sum(0).max())
    if mechanism == "laplace":
        mech: Any = LaplaceMechanism(epsilon, per_record)
    elif mechanism == "gaussian":
        mech = GaussianMechanism(epsilon, delta, math.sqrt(per_record))
    else:
        raise DataValidationError("mechanism must be 'laplace' or 'gaussian'")
    noisy = np.asarray(mech.randomise(exact, random_state), dtype=np.float64)
    seeded = random_state is not None
    receipt = make_receipt(f"{A.shape[0]} subset-sum answers", [mech.event("subset sums")],
                           noise="seeded (experiment)" if seeded else "OS CSPRNG",
                           delta=delta if mechanism == "gaussian" else None)
    return SubsetSumRelease(noisy, float(mech.std), receipt)


def _least_squares(A: np.ndarray, a: np.ndarray) -> np.ndarray:
    """argmin ||A s - a||: normal equations by Cholesky when A has full column rank (random
    subset queries are well conditioned), else LAPACK's least squares."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    if A.shape[0] >= A.shape[1]:
        try:
            G = A.T @ A
            c = cho_factor(G)
            d = np.abs(np.diag(c[0]))
            if d.min() > 0 and (d.max() / d.min()) ** 2 < 1e10:  # cheap conditioning check
                return cho_solve(c, A.T @ a)
        except LinAlgError:
            pass
    return np.linalg.lstsq(A, a, rcond=None)[0]


def reconstruct_bits(queries: Any, answers: Any, *, method: str = "lstsq") -> tuple[np.ndarray, np.ndarray]:
    """Recover the bits from (noisy) answers: ``(bits, relaxed solution)``.

    ``lstsq``: argmin ||A s - a||_2 over real s, then round at 1/2. ``lp``: the paper's
    linear program, minimise ||A s - a||_1 subject to 0 <= s <= 1, then round.
    """
    A = check_finite_array(queries, name="queries", ndim=2)
    a = check_finite_array(answers, name="answers", ndim=1)
    m, n = A.shape
    if a.size != m:
        raise DataValidationError(f"{a.size} answers for {m} queries")
    if method == "lstsq":
        s = _least_squares(A, a)
    elif method == "lp":
        from scipy import sparse
        from scipy.optimize import linprog

        # variables (s, e): minimise sum e subject to A s - e <= a, -A s - e <= -a
        I = sparse.identity(m, format="csr")
        As = sparse.csr_matrix(A)
        A_ub = sparse.vstack([sparse.hstack([As, -I]), sparse.hstack([-As, -I])], format="csr")
        b_ub = np.r_[a, -a]
        c = np.r_[np.zeros(n), np.ones(m)]
        bounds = [(0.0, 1.0)] * n + [(0.0, None)] * m
        res = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
        if res.status != 0:
            raise DataValidationError(f"the reconstruction LP failed: {res.message}")
        s = res.x[:n]
    else:
        raise DataValidationError("method must be 'lstsq' or 'lp'")
    return (s >= 0.5).astype(np.int8), s


def reconstruction_accuracy(bits: Any, secret: Any) -> float:
    """Fraction of bits recovered."""
    b, s = np.asarray(bits), np.asarray(secret)
    if b.shape != s.shape:
        raise DataValidationError("reconstructed and secret columns differ in length")
    return float(np.mean(b == s))

"""compute_stats split over threads, and the statistics of [1, X] without building the design."""

from __future__ import annotations

import numpy as np
import pytest

from privcausal.estimators.sufficient import compute_stats, compute_stats_with_intercept
from privcausal.exceptions import DataValidationError
from tests.test_streaming import reference_stats  # the per-arm definition, one copy


@pytest.mark.parametrize("threads", [2, 3])
def test_compute_stats_threads_and_implicit_intercept_give_the_same_sums(threads):
    rng = np.random.default_rng(threads)
    n = 97_001  # blocks do not divide the rows evenly between the threads
    X = rng.normal(size=(n, 7))
    t, y = (rng.random(n) < 0.4).astype(np.int8), rng.normal(size=n)
    Z = np.hstack([np.ones((n, 1)), X])
    ref = reference_stats(Z, t, y)
    assert compute_stats(Z, t, y, n_threads=threads).allclose(ref, rtol=1e-12, atol=1e-8)
    assert compute_stats(Z, t, y, n_threads=1).allclose(ref, rtol=1e-12, atol=1e-8)
    got = compute_stats_with_intercept(X, t, y, n_threads=threads)
    assert got.allclose(ref, rtol=1e-12, atol=1e-8)
    assert np.array_equal(got.n, ref.n)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(DataValidationError, match="n_threads"):
            compute_stats(Z, t, y, n_threads=bad)



"""Tasks for tests/test_runner.py, importable by worker processes and by a killed subprocess."""

from __future__ import annotations

import time

import numpy as np


def index_task(start: int, stop: int, seed: int) -> dict[str, np.ndarray]:
    """Deterministic per trial: ignores the seed."""
    idx = np.arange(start, stop)
    return {"idx": idx, "sq": np.stack([idx, idx**2], axis=1).astype(float)}


def noise_task(start: int, stop: int, seed: int) -> dict[str, np.ndarray]:
    """Uses the batch seed: the rows depend on the run's seed and the batch plan."""
    rng = np.random.default_rng(seed)
    n = stop - start
    return {"idx": np.arange(start, stop), "scores": rng.normal(size=n),
            "member": rng.integers(0, 2, size=n).astype(bool)}


def sleepy_noise_task(start: int, stop: int, seed: int) -> dict[str, np.ndarray]:
    """noise_task that takes a while, so a process running it can be killed mid-way."""
    time.sleep(0.1)
    return noise_task(start, stop, seed)


def failing_task(start: int, stop: int, seed: int) -> dict[str, np.ndarray]:
    """noise_task, except on the batch that holds trial 20."""
    if start <= 20 < stop:
        raise ZeroDivisionError("boom")
    return noise_task(start, stop, seed)

"""The trial runner of the audit harness: many trials per task, checkpointed, resumable.

An audit repeats a randomised experiment (train with or without a canary, attack, score)
thousands of times. :func:`run_trials` cuts ``n_trials`` into batches of consecutive trials,
runs ``task(start, stop, seed)`` once per batch through joblib (loky by default), a Dask
cluster or Ray, and puts the rows back in trial order::

    res = run_trials(task, 10_000, checkpoint="ckpt/", random_state=7)
    res["scores"]          # one row per trial, rows 0 .. 9999

**Reproducible.** Batch ``[start, stop)`` gets the seed derived from ``(seed, start)`` by
:class:`numpy.random.SeedSequence`, so one seed and one batch plan give bit-identical arrays
whatever the backend, the number of workers, the order in which batches finish, and whether
the run was interrupted and resumed. With ``batch_size=None`` the batch size depends on the
number of workers (about four batches per worker): pass ``batch_size`` to reproduce a run on
another machine. ``random_state=None`` draws a fresh seed from the operating system's
entropy and stores it in the checkpoint, so even an unseeded run resumes exactly.

**Resumable.** Each finished batch is written atomically to the checkpoint directory (see
:mod:`audits.runner.checkpoint`), as it finishes. A run killed at any moment, rerun with the
same arguments, reads back the finished batches and computes only the others: no trial is
lost or counted twice. A checkpoint of another plan (trials, batch size, seed, ``task_key``)
is refused, never mixed in; a damaged batch file is recomputed, never loaded. The checkpoint
cannot see the task's code: give ``task_key`` (a string naming the task's configuration) so
that a changed task is refused too. One checkpoint directory serves one run at a time.

Batches should run for seconds, not milliseconds: the cost of a task (pickling, scheduling,
one file written) is paid once per batch.

References
----------
.. [1] M. E. O'Neill, "PCG: A family of simple fast space-efficient statistically good
   algorithms for random number generation", HMC-CS-2014-0905, 2014 (the seeding scheme of
   numpy's SeedSequence).
.. [2] M. Jagielski, J. Ullman, A. Oprea, "Auditing differentially private machine learning:
   how private is private SGD?", NeurIPS 2020 (audits as many repeated trainings).
"""

from __future__ import annotations

import contextlib
import numbers
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audits.runner.backends import BACKENDS, Outcome, make_backend
from audits.runner.checkpoint import FORMAT_VERSION, Checkpoint
from privcausal.exceptions import DataTypeError, DataValidationError, TrialTaskError
from privcausal.validation import check_random_state

__all__ = ["run_trials", "TrialResults", "batch_seed", "BACKENDS"]

TASKS_PER_WORKER = 4


@dataclass
class TrialResults:
    """What :func:`run_trials` returns.

    Attributes
    ----------
    arrays : name -> array with one row per trial, rows in trial order ``0 .. n_trials - 1``
    n_trials, batch_size : the plan
    batches : the ``(start, stop)`` ranges of the plan, in trial order
    resumed : batches read back from the checkpoint
    computed : batches computed by this call
    seconds : wall time of the call
    backend : where the batches ran
    seed : the run's seed (drawn from OS entropy when ``random_state`` was None)
    task_key : the key the checkpoint was checked against
    checkpoint : the checkpoint directory, or None
    resumed_trials : trials read back from the checkpoint (``computed`` batches hold the rest)
    """

    arrays: dict[str, np.ndarray]
    n_trials: int
    batch_size: int
    batches: list[tuple[int, int]]
    resumed: int
    computed: int
    seconds: float
    backend: str
    seed: int
    task_key: str | None = None
    checkpoint: Path | None = None
    resumed_trials: int = 0

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    def __contains__(self, key: object) -> bool:
        return key in self.arrays

    def keys(self) -> Any:
        """The names of the arrays."""
        return self.arrays.keys()


def batch_seed(seed: int, start: int) -> int:
    """The seed of the batch that starts at trial ``start``: a 64-bit integer.

    Derived with ``SeedSequence(seed, spawn_key=(start,))``, so batches get independent
    streams and the value depends on nothing but the run's seed and the batch's first trial.
    """
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(start),))
    return int(ss.generate_state(1, np.uint64)[0])


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise DataTypeError(f"{name} must be a positive integer, got {type(value).__name__}")
    if int(value) < 1:
        raise DataValidationError(f"{name} must be a positive integer, got {int(value)}")
    return int(value)


def _check_args(task: Any, backend: Any, n_jobs: Any, scheduler: Any, address: Any,
                task_key: Any) -> None:
    if not callable(task):
        raise DataTypeError(f"task must be callable as task(start, stop, seed), got "
                            f"{type(task).__name__}")
    if backend not in BACKENDS:
        raise DataValidationError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral)
                               or int(n_jobs) == 0):
        raise DataValidationError("n_jobs must be None or a non-zero integer (-1: all cores)")
    if scheduler is not None and backend != "dask":
        raise DataValidationError(f'scheduler= is for backend="dask", not {backend!r}')
    if address is not None and backend != "ray":
        raise DataValidationError(f'address= is for backend="ray", not {backend!r}')
    if task_key is not None and not isinstance(task_key, str):
        raise DataTypeError(f"task_key must be a string or None, got {type(task_key).__name__}")


def _resolve_seed(random_state: Any, stored: Mapping[str, Any] | None) -> int:
    if random_state is None:
        return int(stored["seed"]) if stored else int(np.random.SeedSequence().entropy)
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        check_random_state(random_state)  # refuses negative seeds
        return int(random_state)
    return int(check_random_state(random_state).integers(2**63))


class _RemoteTraceback(Exception):
    """The traceback of an error raised in a worker process, as text."""

    def __str__(self) -> str:
        return str(self.args[0])


class _Collector:
    """Checks each batch's output and keeps the arrays; the first batch fixes names and shapes."""

    def __init__(self) -> None:
        self.shapes: dict[str, tuple[int, ...]] | None = None

    def check(self, start: int, stop: int, output: Any) -> dict[str, np.ndarray]:
        where = f"trials [{start}, {stop})"
        if not isinstance(output, Mapping):
            raise DataTypeError(f"the task must return a dict of arrays; for {where} it returned "
                                f"{type(output).__name__}")
        if not output:
            raise DataValidationError(f"the task returned an empty dict for {where}")
        arrays: dict[str, np.ndarray] = {}
        for key, value in output.items():
            if not isinstance(key, str) or key.startswith("__"):
                raise DataValidationError(f"the task's output names must be strings not starting "
                                          f"with '__'; got a {type(key).__name__} name for {where}")
            try:
                arr = np.array(value)  # a copy: a task may reuse its buffers between calls
            except (TypeError, ValueError):
                raise DataTypeError(f"output {key!r} for {where} is not an array") from None
            if arr.dtype == object:
                raise DataTypeError(f"output {key!r} for {where} holds Python objects (dtype "
                                    "object); return numeric, boolean or string arrays")
            if arr.ndim == 0 or arr.shape[0] != stop - start:
                raise DataValidationError(
                    f"output {key!r} for {where} has shape {arr.shape}; its leading dimension "
                    f"must be {stop - start}, one row per trial"
                )
            arrays[key] = arr
        shapes = {k: a.shape[1:] for k, a in arrays.items()}
        if self.shapes is None:
            self.shapes = shapes
        elif shapes != self.shapes:
            missing = sorted(set(self.shapes) - set(shapes))
            extra = sorted(set(shapes) - set(self.shapes))
            other = sorted(k for k in set(shapes) & set(self.shapes) if shapes[k] != self.shapes[k])
            raise DataValidationError(
                f"the output for {where} differs from the other batches' (missing {missing}, "
                f"unexpected {extra}, other row shapes for {other}); every batch must return the "
                "same names with the same row shapes"
            )
        return arrays


def _raise_failure(out: Outcome, checkpoint: Checkpoint | None, n_saved: int, n_all: int) -> None:
    err = out.error
    assert err is not None
    if err.__traceback__ is None and out.trace and err.__cause__ is None:
        err.__cause__ = _RemoteTraceback(out.trace)  # the worker's traceback, as text
    hint = (f"; {n_saved} of {n_all} batches are in the checkpoint: rerun to resume"
            if checkpoint is not None else "")
    raise TrialTaskError(
        f"the task raised {type(err).__name__} on trials [{out.start}, {out.stop}){hint}"
    ) from err


def _progress(total: int, initial: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="trial", file=sys.stderr,
                disable=not enabled, dynamic_ncols=True)


def run_trials(
    task: Callable[[int, int, int], Mapping[str, Any]],
    n_trials: int,
    *,
    batch_size: int | None = None,
    backend: str = "loky",
    n_jobs: int | None = None,
    scheduler: Any = None,
    address: str | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    random_state: Any = None,
    progress: bool = True,
    desc: str = "trials",
    task_key: str | None = None,
) -> TrialResults:
    """Run ``task`` on batches of trials; see the module docstring.

    Parameters
    ----------
    task : picklable callable ``task(start, stop, seed) -> dict[str, array]``; every array has
        one row per trial (leading dimension ``stop - start``); ``seed`` is a 64-bit integer
        for ``numpy.random.default_rng``
    n_trials : number of trials, >= 1
    batch_size : trials per task; None: about four tasks per worker (or the checkpoint's)
    backend : "loky", "sequential" (in process, no pickling), "threading", "dask", "ray"
    n_jobs : workers for loky and threading (None: all cores)
    scheduler : Dask scheduler address ("tcp://host:8786") or a ``distributed.Client``;
        None: the running client
    address : Ray cluster address; None: a local Ray (or the one already initialised)
    checkpoint : directory for the manifest and one ``.npz`` per finished batch; resumes
    random_state : int, Generator or None (fresh OS entropy, or the checkpoint's seed)
    progress : show a tqdm bar on stderr that counts trials (from the resumed count)
    desc : label of the bar
    task_key : string naming the task's configuration; a checkpoint with another is refused

    Returns
    -------
    TrialResults

    Raises
    ------
    TrialTaskError
        The task raised; the message names the batch's trials, the cause is the original.
    CheckpointError
        The checkpoint belongs to another plan, or holds a batch of another plan.
    MissingDependencyError
        ``backend="ray"`` or ``"dask"`` without the package: ``pip install "privcausal[scale]"``.
    """
    t0 = time.perf_counter()
    _check_args(task, backend, n_jobs, scheduler, address, task_key)
    n_trials = _check_count(n_trials, "n_trials")
    if batch_size is not None:
        batch_size = _check_count(batch_size, "batch_size")
    ckpt = Checkpoint(checkpoint) if checkpoint is not None else None
    stored = ckpt.read_manifest() if ckpt is not None else None
    seed = _resolve_seed(random_state, stored)
    engine = make_backend(backend, n_jobs, scheduler, address)
    collector = _Collector()
    done: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    try:
        if batch_size is None:
            batch_size = (int(stored["batch_size"]) if stored is not None else
                          -(-n_trials // (TASKS_PER_WORKER * engine.n_workers())))
        plan = {"n_trials": n_trials, "batch_size": batch_size, "seed": seed,
                "task_key": task_key, "version": FORMAT_VERSION,
                "task": getattr(task, "__qualname__", type(task).__qualname__)}
        ranges = [(s, min(s + batch_size, n_trials)) for s in range(0, n_trials, batch_size)]
        if ckpt is not None:
            ckpt.open(plan)
            for start, stop in ranges:
                arrays = ckpt.load(start, stop)
                if arrays is not None:
                    done[(start, stop)] = collector.check(start, stop, arrays)
        resumed = len(done)
        todo = [(s, e, batch_seed(seed, s)) for s, e in ranges if (s, e) not in done]
        initial = sum(e - s for s, e in done)
        with _progress(n_trials, initial, desc, progress) as bar:
            if todo:
                with contextlib.closing(engine.imap(task, todo)) as outcomes:
                    for out in outcomes:
                        if out.error is not None:
                            _raise_failure(out, ckpt, len(done), len(ranges))
                        arrays = collector.check(out.start, out.stop, out.output)
                        if ckpt is not None:
                            ckpt.save(out.start, out.stop, arrays)
                        done[(out.start, out.stop)] = arrays
                        bar.update(out.stop - out.start)
    finally:
        engine.close()
    assert collector.shapes is not None
    result = {k: np.concatenate([done[r][k] for r in ranges]) for k in collector.shapes}
    return TrialResults(result, n_trials, batch_size, ranges, resumed, len(ranges) - resumed,
                        time.perf_counter() - t0, backend, seed, task_key,
                        None if ckpt is None else ckpt.path, initial)

"""Where :func:`audits.runner.run.run_trials` runs its batches: in process, joblib, Dask or Ray.

Every backend offers the same two things: how many workers it has (to size batches) and an
iterator over finished batches in completion order, which the runner checkpoints one by one.
Workers never raise: :func:`run_batch` returns the task's error as a value, so the runner
knows which batch failed whatever the backend, and chains the original error.
Dask and Ray are imported only when asked for.

References
----------
.. [1] joblib, "Parallel: return_as='generator_unordered'", https://joblib.readthedocs.io
.. [2] Dask distributed, "Futures: as_completed", https://distributed.dask.org/en/stable/api.html
.. [3] Ray, "ray.wait", https://docs.ray.io/en/latest/ray-core/api/doc/ray.wait.html
"""

from __future__ import annotations

import importlib
import pickle
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from privcausal.exceptions import DataValidationError, MissingDependencyError

__all__ = ["BACKENDS", "Outcome", "run_batch", "make_backend"]

BACKENDS = ("loky", "sequential", "threading", "dask", "ray")
Job = tuple[int, int, int]


class Outcome(NamedTuple):
    """What one batch gave back: its output, or the error it raised (with its traceback text)."""

    start: int
    stop: int
    output: Any
    error: BaseException | None = None
    trace: str = ""


def run_batch(task: Callable[..., Any], start: int, stop: int, seed: int,
              portable: bool = True) -> Outcome:
    """Run ``task(start, stop, seed)`` and return its output or its error as an :class:`Outcome`.

    With ``portable`` (any backend that pickles results) an error that cannot be pickled is
    replaced by a ``RuntimeError`` carrying its type name and message.
    """
    try:
        return Outcome(start, stop, task(start, stop, seed))
    except Exception as exc:  # noqa: BLE001 - handed back to the caller, which re-raises
        trace = traceback.format_exc()
        if portable:
            try:
                pickle.dumps(exc)
            except Exception:  # noqa: BLE001
                exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        return Outcome(start, stop, None, exc, trace)


def _import_optional(module: str, backend: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f'backend="{backend}" needs {module}, an optional dependency of privcausal: '
            'pip install "privcausal[scale]"'
        ) from exc


class _Sequential:
    name = "sequential"

    def n_workers(self) -> int:
        return 1

    def imap(self, task: Callable[..., Any], jobs: list[Job]) -> Iterator[Outcome]:
        for start, stop, seed in jobs:
            yield run_batch(task, start, stop, seed, portable=False)

    def close(self) -> None:
        pass


class _Joblib:
    def __init__(self, name: str, n_jobs: int | None) -> None:
        self.name = name
        self.n_jobs = -1 if n_jobs is None else n_jobs

    def n_workers(self) -> int:
        import joblib

        return max(1, int(joblib.effective_n_jobs(self.n_jobs)))

    def imap(self, task: Callable[..., Any], jobs: list[Job]) -> Iterator[Outcome]:
        import joblib

        par = joblib.Parallel(n_jobs=self.n_jobs, backend=self.name, batch_size=1,
                              return_as="generator_unordered")
        gen = par(joblib.delayed(run_batch)(task, s, e, seed) for s, e, seed in jobs)
        try:
            for out in gen:  # not "yield from", which would close gen outside the filter below
                yield out
        finally:
            with warnings.catch_warnings():  # "n tasks executed but not used": said by the caller
                warnings.filterwarnings("ignore", "[0-9]+ tasks have been", UserWarning)
                gen.close()  # on an early exit joblib cancels the batches not yet started

    def close(self) -> None:
        pass


class _Dask:
    name = "dask"

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self._client: Any = None
        self._own = False

    def client(self) -> Any:
        if self._client is None:
            distributed = _import_optional("distributed", "dask")
            if self.scheduler is None:
                try:
                    self._client = distributed.get_client()
                except ValueError:
                    raise DataValidationError(
                        'backend="dask" needs scheduler="tcp://HOST:PORT" (the address of a '
                        "Dask scheduler) or a running distributed.Client"
                    ) from None
            elif isinstance(self.scheduler, str):
                self._client = distributed.Client(self.scheduler, set_as_default=False)
                self._own = True
            else:
                self._client = self.scheduler  # a distributed.Client passed in
        return self._client

    def n_workers(self) -> int:
        return max(1, sum(self.client().nthreads().values()))

    def imap(self, task: Callable[..., Any], jobs: list[Job]) -> Iterator[Outcome]:
        from distributed import as_completed

        client = self.client()
        [task_ref] = client.scatter([task], hash=False)  # sent once, not once per batch
        futures = [client.submit(run_batch, task_ref, s, e, seed, pure=False)
                   for s, e, seed in jobs]
        try:
            for fut in as_completed(futures, loop=client.loop):
                yield fut.result()
        finally:
            client.cancel([f for f in futures if not f.done()] + [task_ref])

    def close(self) -> None:
        if self._own and self._client is not None:
            self._client.close()
        self._client = None


class _Ray:
    name = "ray"

    def __init__(self, address: str | None) -> None:
        self.address = address
        self._ray: Any = None
        self._own = False

    def ray(self) -> Any:
        if self._ray is None:
            ray = _import_optional("ray", "ray")
            if not ray.is_initialized():
                ray.init(address=self.address, log_to_driver=False)
                self._own = True
            self._ray = ray
        return self._ray

    def n_workers(self) -> int:
        return max(1, int(self.ray().cluster_resources().get("CPU", 1)))

    def imap(self, task: Callable[..., Any], jobs: list[Job]) -> Iterator[Outcome]:
        ray = self.ray()
        remote = ray.remote(run_batch)
        task_ref = ray.put(task)
        pending = [remote.remote(task_ref, s, e, seed) for s, e, seed in jobs]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                yield ray.get(done[0])
        finally:
            for ref in pending:
                ray.cancel(ref)

    def close(self) -> None:
        if self._own and self._ray is not None:
            self._ray.shutdown()
        self._ray = None


def make_backend(backend: str, n_jobs: int | None, scheduler: Any, address: str | None) -> Any:
    """The backend object for a validated backend name; connects lazily, on first use."""
    if backend == "sequential":
        return _Sequential()
    if backend in ("loky", "threading"):
        return _Joblib(backend, n_jobs)
    if backend == "dask":
        return _Dask(scheduler)
    return _Ray(address)

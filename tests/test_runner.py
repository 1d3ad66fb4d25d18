"""audits.runner.run: identities across backends and batch plans, kill-and-resume, checkpoints.

Every test here is an identity (bit-equal arrays, exact trial sets) or an error check: no
statistical test, so no failure rate to state.
"""

from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from audits.runner.run import TrialResults, batch_seed, run_trials
from privcausal.exceptions import (
    CheckpointError,
    DataTypeError,
    DataValidationError,
    MissingDependencyError,
    TrialTaskError,
)
from tests._runner_tasks import failing_task, index_task, noise_task

ROOT = Path(__file__).resolve().parents[1]
QUIET = {"progress": False}


def assert_same(a: TrialResults, b: TrialResults) -> None:
    assert sorted(a.keys()) == sorted(b.keys())
    for k in a.keys():
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k


def test_rows_in_trial_order_whatever_the_batch_size():
    ref = run_trials(index_task, 23, batch_size=23, backend="sequential", **QUIET)
    assert np.array_equal(ref["idx"], np.arange(23))
    for bs in (1, 4, 7, 100):
        res = run_trials(index_task, 23, batch_size=bs, backend="threading", n_jobs=2, **QUIET)
        assert_same(res, ref)
        assert res.batches[0][0] == 0 and res.batches[-1][1] == 23
        assert res.computed == len(res.batches)


def test_same_seed_bit_identical_across_backends():
    runs = [run_trials(noise_task, 50, batch_size=6, backend=b, n_jobs=2, random_state=42, **QUIET)
            for b in ("sequential", "threading", "loky")]
    for res in runs[1:]:
        assert_same(res, runs[0])
    assert runs[1].backend == "threading" and runs[0].seed == 42
    other = run_trials(noise_task, 50, batch_size=6, backend="sequential", random_state=43, **QUIET)
    assert not np.array_equal(other["scores"], runs[0]["scores"])
    g1 = run_trials(noise_task, 9, batch_size=2, backend="sequential",
                    random_state=np.random.default_rng(5), **QUIET)
    g2 = run_trials(noise_task, 9, batch_size=2, backend="sequential",
                    random_state=np.random.default_rng(5), **QUIET)
    assert_same(g1, g2)


def test_batch_seed_depends_on_seed_and_start_only():
    assert batch_seed(7, 10) == batch_seed(7, 10)
    assert len({batch_seed(7, 0), batch_seed(7, 10), batch_seed(8, 0)}) == 3
    assert 0 <= batch_seed(2**100, 3) < 2**64


def test_auto_batch_size_is_about_four_tasks_per_worker():
    assert run_trials(index_task, 10, backend="sequential", **QUIET).batch_size == 3
    res = run_trials(index_task, 100, backend="threading", n_jobs=2, **QUIET)
    assert res.batch_size == 13 and len(res.batches) == 8
    assert run_trials(index_task, 2, backend="threading", n_jobs=2, **QUIET).batch_size == 1


def test_unseeded_runs_draw_fresh_seeds():
    a = run_trials(noise_task, 4, batch_size=2, backend="sequential", **QUIET)
    b = run_trials(noise_task, 4, batch_size=2, backend="sequential", **QUIET)
    assert a.seed != b.seed and not np.array_equal(a["scores"], b["scores"])


def test_kill_during_run_then_resume(tmp_path):
    ckpt, n, bs = tmp_path / "ckpt", 60, 3
    args = dict(batch_size=bs, backend="sequential", random_state=11, task_key="noise", **QUIET)
    script = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from audits.runner.run import run_trials\n"
        "from tests._runner_tasks import sleepy_noise_task\n"
        f"run_trials(sleepy_noise_task, {n}, checkpoint={str(ckpt)!r}, **{args!r})\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(list(ckpt.glob("batch-*.npz"))) < 3 and proc.poll() is None:
        assert time.monotonic() < deadline, "the subprocess wrote no batch in 60 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    proc.stderr.close()
    n_files = len(list(ckpt.glob("batch-*.npz")))
    assert 3 <= n_files < n // bs
    res = run_trials(noise_task, n, checkpoint=ckpt, **args)
    assert res.resumed == n_files and res.resumed_trials == bs * n_files
    assert 0 < res.computed < len(res.batches) and res.resumed + res.computed == len(res.batches)
    assert np.array_equal(res["idx"], np.arange(n))  # each trial once, in order
    assert_same(res, run_trials(noise_task, n, **args))
    again = run_trials(noise_task, n, checkpoint=ckpt, **args)
    assert again.computed == 0 and again.resumed == len(res.batches)
    assert_same(again, res)


@pytest.mark.parametrize("backend", ["sequential", "threading", "loky"])
def test_task_error_names_batch_and_chains_the_original_then_resumes(tmp_path, backend):
    args = dict(batch_size=5, backend=backend, n_jobs=2, random_state=3, checkpoint=tmp_path,
                **QUIET)
    with pytest.raises(TrialTaskError, match=r"ZeroDivisionError on trials \[20, 25\)") as info:
        run_trials(failing_task, 40, **args)
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert "boom" in str(info.value.__cause__)
    if backend == "sequential":
        assert "4 of 8 batches are in the checkpoint" in str(info.value)
    res = run_trials(noise_task, 40, **args)
    assert res.computed >= 1 and res.resumed + res.computed == 8
    if backend == "sequential":
        assert res.resumed == 4  # the batches before [20, 25)
    assert_same(res, run_trials(noise_task, 40, batch_size=5, backend="sequential", random_state=3,
                                **QUIET))


def test_real_local_dask_cluster_on_loopback(tmp_path):
    distributed = pytest.importorskip("distributed")
    args = dict(batch_size=4, random_state=9, **QUIET)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        addr = cluster.scheduler_address
        res = run_trials(noise_task, 30, backend="dask", scheduler=addr, **args)
        auto = run_trials(index_task, 16, backend="dask", scheduler=addr, **QUIET)
        with pytest.raises(TrialTaskError, match=r"trials \[20, 24\)") as info:
            run_trials(failing_task, 30, backend="dask", scheduler=addr, checkpoint=tmp_path,
                       **args)
        with distributed.Client(addr) as client:  # a running client serves as the scheduler
            resumed = run_trials(noise_task, 30, backend="dask", checkpoint=tmp_path, **args)
            assert client.status == "running"  # run_trials leaves a client it did not open
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert res.backend == "dask" and auto.batch_size == 2  # 2 workers x 4 tasks
    assert resumed.computed >= 1 and resumed.resumed + resumed.computed == 8
    ref = run_trials(noise_task, 30, backend="sequential", **args)
    assert_same(res, ref)
    assert_same(resumed, ref)


def test_dask_without_scheduler_or_client_is_refused():
    pytest.importorskip("distributed")
    with pytest.raises(DataValidationError, match="scheduler="):
        run_trials(index_task, 4, backend="dask", **QUIET)


def test_ray_missing_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(MissingDependencyError, match=r'pip install "privcausal\[scale\]"'):
        run_trials(index_task, 4, backend="ray", **QUIET)


@pytest.mark.slow
def test_real_local_ray_equals_sequential():
    ray = pytest.importorskip("ray")
    try:
        res = run_trials(noise_task, 30, batch_size=4, backend="ray", random_state=9, **QUIET)
    finally:
        ray.shutdown()
    assert_same(res, run_trials(noise_task, 30, batch_size=4, backend="sequential", random_state=9,
                                **QUIET))


@pytest.mark.parametrize("change", [{"random_state": 2}, {"n_trials": 13}, {"batch_size": 4},
                                    {"task_key": "other"}, {"task_key": None}])
def test_resume_with_another_plan_is_refused(tmp_path, change):
    args = dict(n_trials=12, batch_size=3, random_state=1, task_key="k", backend="sequential",
                checkpoint=tmp_path, **QUIET)
    run_trials(noise_task, **args)
    with pytest.raises(CheckpointError, match="another plan"):
        run_trials(noise_task, **{**args, **change})


def test_resume_unseeded_and_unsized_takes_the_stored_plan(tmp_path):
    first = run_trials(noise_task, 12, backend="threading", n_jobs=2, checkpoint=tmp_path, **QUIET)
    plan = json.loads((tmp_path / "manifest.json").read_text())
    assert plan["seed"] == first.seed and plan["batch_size"] == first.batch_size == 2
    assert plan["n_trials"] == 12 and plan["version"] == 1 and plan["task_key"] is None
    again = run_trials(noise_task, 12, backend="sequential", checkpoint=tmp_path, **QUIET)
    assert again.computed == 0 and again.seed == first.seed
    assert_same(again, first)


def test_damaged_batch_file_is_recomputed_never_loaded(tmp_path):
    args = dict(batch_size=4, backend="sequential", random_state=5, checkpoint=tmp_path, **QUIET)
    ref = run_trials(noise_task, 16, **args)
    victim = sorted(tmp_path.glob("batch-*.npz"))[1]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])  # as if cut short: never by run_trials itself
    (tmp_path / ".tmp-abandoned.npz").write_bytes(data[:100])  # a write killed half-way
    with pytest.warns(RuntimeWarning, match="damaged"):
        res = run_trials(noise_task, 16, **args)
    assert res.computed == 1 and res.resumed == 3
    assert_same(res, ref)
    assert not list(tmp_path.glob(".tmp-*"))


def test_batch_file_of_another_plan_is_refused(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    run_trials(noise_task, 8, batch_size=4, backend="sequential", random_state=1, checkpoint=a,
               **QUIET)
    b.mkdir()
    (b / "batch-000000000000-000000000004.npz").write_bytes(
        (a / "batch-000000000000-000000000004.npz").read_bytes())
    with pytest.raises(CheckpointError, match="another plan"):
        run_trials(noise_task, 8, batch_size=4, backend="sequential", random_state=2, checkpoint=b,
                   **QUIET)


def test_checkpoint_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(CheckpointError, match="not a directory"):
        run_trials(index_task, 4, backend="sequential", checkpoint=f, **QUIET)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"n_trials": 0}, DataValidationError, "n_trials"),
    ({"n_trials": -3}, DataValidationError, "n_trials"),
    ({"n_trials": 2.5}, DataTypeError, "n_trials"),
    ({"n_trials": True}, DataTypeError, "n_trials"),
    ({"batch_size": 0}, DataValidationError, "batch_size"),
    ({"batch_size": "4"}, DataTypeError, "batch_size"),
    ({"backend": "spark"}, DataValidationError, "loky.*sequential.*threading.*dask.*ray"),
    ({"n_jobs": 0}, DataValidationError, "n_jobs"),
    ({"scheduler": "tcp://127.0.0.1:1"}, DataValidationError, "dask"),
    ({"address": "auto"}, DataValidationError, "ray"),
    ({"task_key": 3}, DataTypeError, "task_key"),
    ({"random_state": -1}, DataValidationError, "non-negative"),
    ({"task": "not callable"}, DataTypeError, "callable"),
])
def test_bad_inputs(kwargs, exc, match):
    args = {"task": index_task, "n_trials": 4, "backend": "sequential", **QUIET, **kwargs}
    with pytest.raises(exc, match=match):
        run_trials(**args)


SECRET = 123456.789


@pytest.mark.parametrize("output, exc, match", [
    ([SECRET], DataTypeError, "dict of arrays.*list"),
    ({}, DataValidationError, "empty"),
    ({"scores": np.full(3, SECRET)}, DataValidationError, r"'scores'.*\(3,\).*must be 2"),
    ({"scores": np.float64(SECRET)}, DataValidationError, "'scores'"),
    ({"scores": np.array([SECRET, "x"], dtype=object)}, DataTypeError, "'scores'.*object"),
    ({"__meta__": np.zeros(2)}, DataValidationError, "'__'"),
])
def test_bad_task_output_names_the_key_never_the_values(output, exc, match):
    with pytest.raises(exc, match=match) as info:
        run_trials(lambda s, e, seed: output, 4, batch_size=2, backend="sequential", **QUIET)
    assert str(SECRET) not in str(info.value) and "123456" not in str(info.value)


def test_batches_must_agree_on_names_and_row_shapes():
    def task(start, stop, seed):
        out = {"scores": np.zeros(stop - start)}
        if start:
            out["extra"] = np.zeros((stop - start, 2))
        return out

    with pytest.raises(DataValidationError, match=r"trials \[2, 4\).*unexpected \['extra'\]"):
        run_trials(task, 4, batch_size=2, backend="sequential", **QUIET)


def test_progress_bar_counts_trials_from_the_resumed_count(tmp_path, capsys):
    args = dict(batch_size=5, backend="sequential", random_state=3, checkpoint=tmp_path)
    with pytest.raises(TrialTaskError):
        run_trials(failing_task, 40, progress=False, **args)
    run_trials(noise_task, 40, progress=True, desc="audit", **args)
    err = capsys.readouterr().err
    assert "audit:" in err and "20/40" in err and "40/40" in err
    assert not re.search(r"(?<!\d)0/40", err)  # starts at the resumed count


def test_overhead_per_batch_is_small(tmp_path):
    """Generous sanity bound: measured 1 to 3 ms a batch (fsync included) on a shared 2-core box."""
    res = run_trials(index_task, 400, batch_size=2, backend="sequential", checkpoint=tmp_path,
                     random_state=0, **QUIET)
    assert len(res.batches) == 200 and res.seconds / 200 < 0.05

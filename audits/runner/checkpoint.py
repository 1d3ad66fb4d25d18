"""Checkpoints of :func:`audits.runner.run.run_trials`: a manifest and one ``.npz`` per batch.

A checkpoint directory holds ``manifest.json`` (the plan: ``n_trials``, ``batch_size``,
``seed``, ``task_key``, ``version``) and one ``batch-<start>-<stop>.npz`` per finished batch.
Every file is written to a temporary name in the same directory, flushed to disk and renamed
with :func:`os.replace`, which is atomic on POSIX and Windows: a reader sees either the whole
file or no file. A process killed at any moment therefore leaves at most a stray temporary
file (ignored, then removed) and never a half-written batch under a batch name. Each batch file
also carries the fingerprint of its plan and its own range, so a batch of another plan is
refused and a damaged one is recomputed, never loaded.

References
----------
.. [1] POSIX.1-2017, ``rename()``: "If the link named by the new argument exists, it shall be
   removed and old renamed to new ... a link named new shall remain visible to other threads
   throughout the renaming operation".
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from privcausal.exceptions import CheckpointError

__all__ = ["FORMAT_VERSION", "Checkpoint", "plan_fingerprint"]

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_TMP_PREFIX = ".tmp-"
_META = "__meta__"
_PLAN = "__plan__"
PLAN_FIELDS = ("n_trials", "batch_size", "seed", "task_key", "version")


def plan_fingerprint(plan: dict[str, Any]) -> str:
    """SHA-256 of the plan's fields, as stored in every batch file."""
    core = {k: plan[k] for k in PLAN_FIELDS}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, write: Any) -> None:
    """Call ``write(fileobj)`` on a temporary file, fsync it, then rename it to ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


class Checkpoint:
    """One checkpoint directory; see the module docstring.

    Parameters
    ----------
    directory : where the manifest and batch files live (created if missing)
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory)
        if self.path.exists() and not self.path.is_dir():
            raise CheckpointError(f"checkpoint {str(self.path)!r} exists and is not a directory")
        self.path.mkdir(parents=True, exist_ok=True)
        self.fingerprint = ""

    def read_manifest(self) -> dict[str, Any] | None:
        """The stored plan, or None when the directory holds none yet."""
        path = self.path / MANIFEST
        if not path.exists():
            return None
        try:
            manifest = json.loads(path.read_text())
            missing = [k for k in PLAN_FIELDS if k not in manifest]
        except (OSError, ValueError, TypeError) as exc:
            raise CheckpointError(
                f"{path} cannot be read as a run_trials manifest; remove the directory "
                "or choose another checkpoint"
            ) from exc
        if missing:
            raise CheckpointError(f"{path} lacks the plan fields {missing}; it was not written "
                                  "by run_trials")
        return manifest

    def open(self, plan: dict[str, Any]) -> None:
        """Check ``plan`` against the stored manifest (or store it) and sweep stray temp files."""
        stored = self.read_manifest()
        if stored is None:
            body = json.dumps(plan, indent=2, sort_keys=True).encode()
            _atomic_write(self.path / MANIFEST, lambda f: f.write(body))
        else:
            diff = [k for k in PLAN_FIELDS if stored[k] != plan[k]]
            if diff:
                shown = ", ".join(
                    f"{k}: stored {stored[k]!r}, now {plan[k]!r}" if k != "seed"
                    else "seed: differs" for k in diff
                )
                raise CheckpointError(
                    f"checkpoint {str(self.path)!r} belongs to another plan ({shown}); its "
                    "batches cannot be mixed with this run. Resume with the same plan, or use a "
                    "new checkpoint directory"
                )
        self.fingerprint = plan_fingerprint(plan)
        for stray in self.path.glob(_TMP_PREFIX + "*"):
            try:
                stray.unlink()
            except OSError:  # pragma: no cover - already gone
                pass

    def batch_path(self, start: int, stop: int) -> Path:
        return self.path / f"batch-{start:012d}-{stop:012d}.npz"

    def load(self, start: int, stop: int) -> dict[str, np.ndarray] | None:
        """The arrays of batch ``[start, stop)``, or None if absent or damaged (then recomputed)."""
        path = self.batch_path(start, stop)
        if not path.exists():
            return None
        try:
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = arrays.pop(_META)
            plan = str(arrays.pop(_PLAN))
            ok = meta.shape == (2,) and int(meta[0]) == start and int(meta[1]) == stop
            ok = ok and bool(arrays) and all(a.ndim >= 1 and a.shape[0] == stop - start
                                             for a in arrays.values())
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            ok, plan, reason = False, self.fingerprint, type(exc).__name__
        else:
            reason = "inconsistent contents"
        if ok and plan != self.fingerprint:
            raise CheckpointError(
                f"{path.name} in {str(self.path)!r} was written under another plan; refusing to "
                "mix its trials into this run (remove it or use a new checkpoint directory)"
            )
        if not ok:
            warnings.warn(f"checkpoint batch {path.name} is damaged ({reason}); it is ignored and "
                          "its trials are computed again", RuntimeWarning, stacklevel=3)
            try:
                path.unlink()
            except OSError:  # pragma: no cover
                pass
            return None
        return arrays

    def save(self, start: int, stop: int, arrays: dict[str, np.ndarray]) -> None:
        """Write batch ``[start, stop)`` atomically."""
        payload = dict(arrays)
        payload[_META] = np.array([start, stop], dtype=np.int64)
        payload[_PLAN] = np.array(self.fingerprint)
        _atomic_write(self.batch_path(start, stop), lambda f: _write_npz(f, payload))


def _write_npz(f: Any, arrays: dict[str, np.ndarray]) -> None:
    """What ``np.savez`` does, without its keyword clash on keys such as ``allow_pickle``."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, arr in arrays.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as g:
                np.lib.format.write_array(g, np.asanyarray(arr), allow_pickle=False)

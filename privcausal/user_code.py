"""The user's own code, named on the command line as ``MODULE:FUNCTION`` or ``FILE.py:FUNCTION``.

Used for mechanisms to audit (``audit mechanism``), the builders of a model's architecture
and the reference-model recipes of ``audit model``. The code runs with the user's rights: it is
the user's own, named explicitly; nothing read from a data or model file is ever run.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

from privcausal.exceptions import DataNotFoundError, DataValidationError

__all__ = ["load_callable"]


def load_callable(spec: str, what: str) -> Callable[..., Any]:
    """``MODULE:FUNCTION`` or ``FILE.py:FUNCTION`` -> the callable.

    The code runs with the user's rights (it is the user's own mechanism). The current folder
    is importable but searched *after* the installed packages, so a local file named like a
    library (``matplotlib.py``, ``numpy.py``) cannot shadow it.
    """
    if not isinstance(spec, str) or spec.count(":") < 1:
        raise DataValidationError(f"{what} must be MODULE:FUNCTION or FILE.py:FUNCTION, got {spec!r}")
    mod_name, _, attr = spec.rpartition(":")
    if mod_name.endswith(".py"):
        path = Path(mod_name)
        if not path.is_file():
            raise DataNotFoundError(f"{what}: file not found: {path}")
        name = f"_privcausal_user_{path.stem}"
        loader = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module
        loader.loader.exec_module(module)
        _pickle_by_value(module)
    else:
        here = str(Path.cwd())
        for entry in ("", "."):  # the folder of the command, if Python put it first
            while entry in sys.path[:1]:
                sys.path.remove(entry)
        if here not in sys.path:
            sys.path.append(here)
        try:
            module = importlib.import_module(mod_name)
        except ImportError as exc:
            raise DataNotFoundError(f"{what}: cannot import module {mod_name!r} ({exc})") from exc
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise DataNotFoundError(f"{what}: {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise DataValidationError(f"{what}: {spec!r} is not callable")
    return obj


def _pickle_by_value(module: Any) -> None:
    """A file loaded by path is not importable in loky/Dask/Ray workers: ship its code."""
    for name in ("joblib.externals.cloudpickle", "cloudpickle"):
        try:
            importlib.import_module(name).register_pickle_by_value(module)
        except (ImportError, AttributeError, ValueError):  # pragma: no cover - optional
            pass

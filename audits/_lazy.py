"""Package faces that load their modules on first use (``import audits`` stays light)."""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_face(package: str, names: Mapping[str, str]) -> tuple[list[str], Callable[[str], Any]]:
    """``(__all__, __getattr__)`` for a package whose public ``names`` (name -> submodule,
    relative to ``package``) are imported when first asked for."""

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return list(names), __getattr__


def by_module(**modules: tuple[str, ...]) -> dict[str, str]:
    """{name: module} from module=(name, ...) keyword arguments."""
    return {name: mod for mod, names in modules.items() for name in names}

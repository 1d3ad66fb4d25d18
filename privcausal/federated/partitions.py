"""Each site's records on its own "disk": the files the Flower transports read (one CSV per
site and the consortium's declared domain), written to a private temporary folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_partitions"]


def write_partitions(parts: dict[str, Any], folder: Path, treatment: str, outcome: str) -> dict[str, Any]:
    """Each site's records as ``site-<i>.csv`` and the domain as ``domain.toml`` (the simulation's
    stand-in for each hospital's own disk); returns the plan entries that locate them."""
    folder.mkdir(parents=True, exist_ok=True)
    names = {}
    dom = None
    for i, (s, d) in enumerate(parts.items()):
        frame = d.covariates.assign(**{treatment: d.treatment, outcome: d.outcome})
        frame.to_csv(folder / f"site-{i}.csv", index=False)
        names[f"name-{i}"] = s
        dom = d.domain
    (folder / "domain.toml").write_text(dom.to_toml())
    return {"data_dir": str(folder), "domain": str(folder / "domain.toml"), **names}

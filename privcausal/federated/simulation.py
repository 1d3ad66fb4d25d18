"""The ``simulation`` transport: Flower's simulation engine, one virtual SuperNode per site,
each reading its own partition from a private folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from privcausal.exceptions import DataValidationError
from privcausal.federated.partitions import write_partitions

__all__ = ["run_simulation_transport"]


def run_simulation_transport(parts: dict[str, Any], plan: dict[str, Any], folder: Path, fail: Any = None
                ) -> dict[str, Any]:
    import logging
    import os

    from flwr.simulation import run_simulation

    from privcausal.federated.flower_app import make_client_app, make_server_app

    plan = {**plan, **write_partitions(parts, folder, "treatment", "outcome")}
    out: dict[str, Any] = {}
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    logging.getLogger("flwr").setLevel(logging.ERROR)  # its deprecation banner of run_simulation
    run_simulation(server_app=make_server_app(plan, out, expected=len(parts)),
                   client_app=make_client_app(fail), num_supernodes=len(parts),
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                   "init_args": {"num_cpus": 2, "logging_level": "error",
                                                 "log_to_driver": False}})
    if "releases" not in out:
        raise DataValidationError("the Flower simulation ended without the server's result")
    return out

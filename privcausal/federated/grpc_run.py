"""A real Flower deployment on 127.0.0.1: one SuperLink, one SuperNode per site, ``flwr run``.

What a consortium runs across machines, here on one (for tests, experiments and a dry run).
The transport is named ``grpc`` after Flower's deployment runtime; in Flower 1.42 the
SuperLink serves its Fleet, Control and Runtime APIs over HTTP on one port (the gRPC address
flags are deprecated there), and that is what runs:

1. ``flower-superlink --insecure --host 127.0.0.1 --port P``;
2. per site ``flower-supernode --insecure --superlink 127.0.0.1:P --node-config
   'data="site.csv" domain="domain.toml" site="C01"'``: each reads only its own file;
3. ``flwr run APP local --stream``: the Flower App of :mod:`privcausal.federated.fab`, with the
   plan in its run config; its ServerApp writes the releases to a JSON file;
4. everything is shut down, also on error.

Ports are taken free at random on 127.0.0.1; ``FLWR_HOME`` points to a private folder (the
connection ``local``), so no user configuration is read or written.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from privcausal.exceptions import DataValidationError

__all__ = ["run_grpc", "app_folder"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin(name: str) -> str:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else name


def app_folder(folder: Path) -> Path:
    """A Flower App folder (``pyproject.toml``) whose components are privcausal's."""
    app = folder / "app"
    app.mkdir(parents=True, exist_ok=True)
    (app / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        '[project]\nname = "privcausal-federate"\nversion = "1.0.0"\ndependencies = []\n\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["."]\n\n'
        '[tool.flwr.app]\npublisher = "privcausal"\n\n'
        '[tool.flwr.app.components]\nserverapp = "privcausal.federated.fab:server_app"\n'
        'clientapp = "privcausal.federated.fab:client_app"\n\n'
        '[tool.flwr.app.config]\nplan = "{}"\nout = "out.json"\ntimeout = 120.0\nexpected = 0\n')
    return app


def _node_config(values: dict[str, str]) -> str:
    return " ".join(f'{k}="{v}"' for k, v in values.items())


def run_grpc(parts: dict[str, Any], plan: dict[str, Any], folder: Path, *,
             fail: Callable[[str], bool] | None = None, timeout: float = 300.0) -> dict[str, Any]:
    """Run the federation over gRPC on 127.0.0.1 and return what the ServerApp collected.

    ``fail(site)``: those sites' SuperNodes die mid-run, when the server first asks them for a
    release (one-shot), in the second round (IPW / AIPW) or in SecAgg+'s masked-vector stage
    (their ClientApp kills its SuperNode's process group: :func:`.flower_common.crash_if_told`).
    """
    from privcausal.federated.partitions import write_partitions
    from privcausal.federated.fab import releases_from_json

    loc = write_partitions(parts, folder / "sites", "treatment", "outcome")
    home = folder / "flwr-home"
    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()  # Flower 1.42 serves the Fleet, Control and Runtime APIs on one port
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "local"\n\n[superlink.local]\naddress = "127.0.0.1:{port}"\n'
        "insecure = true\n")
    # the SuperLink and SuperNodes start Flower's own helpers (flower-superexec, flwr-serverapp,
    # flwr-clientapp) by name: this interpreter's scripts folder goes first on the PATH
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "FLWR_HOME": str(home), "PYTHONUNBUFFERED": "1",
           "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    logs = folder / "logs"
    logs.mkdir(exist_ok=True)
    procs: list[subprocess.Popen] = []

    def start(args: list[str], name: str) -> subprocess.Popen:
        f = open(logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        p = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=folder,
                             start_new_session=True)
        procs.append(p)
        return p

    out_file = folder / "out.json"
    try:
        start([_bin("flower-superlink"), "--insecure", "--host", "127.0.0.1", "--port", str(port)],
              "superlink")
        time.sleep(2.0)
        nodes: dict[str, subprocess.Popen] = {}
        for i, site in enumerate(parts):
            cfg = {"data": str(Path(loc["data_dir"]) / f"site-{i}.csv"), "domain": loc["domain"],
                   "site": site}
            if fail is not None and fail(site):
                cfg["crash"] = "1"
            nodes[site] = start([_bin("flower-supernode"), "--insecure", "--superlink",
                                 f"127.0.0.1:{port}", "--node-config", _node_config(cfg),
                                 "--port", str(_free_port())], f"supernode-{i}")
        run_cfg = {"plan": json.dumps({**plan, "domain": loc["domain"]}), "out": str(out_file),
                   "timeout": 120.0 if plan.get("method") in ("ipw", "aipw") or plan.get("secure")
                   else 30.0,
                   "expected": len(parts)}
        overrides = folder / "run_config.toml"  # a file: the plan is JSON, with quotes and spaces
        overrides.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in run_cfg.items()))
        app = app_folder(folder)
        t0 = time.perf_counter()
        run = subprocess.run([_bin("flwr"), "run", str(app), "local", "--stream", "--run-config",
                              str(overrides)], env=env, cwd=folder, capture_output=True, text=True,
                             timeout=timeout)
        (logs / "flwr-run.log").write_text(run.stdout + run.stderr)
        while not out_file.exists() and time.perf_counter() - t0 < timeout:
            time.sleep(0.5)
        if not out_file.exists():
            tail = (run.stdout + run.stderr)[-2000:]
            raise DataValidationError(f"the Flower run produced no result (flwr run said: {tail})")
        out = releases_from_json(out_file.read_text())
        out["seconds"] = time.perf_counter() - t0
        return out
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)

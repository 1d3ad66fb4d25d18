"""What the Flower ClientApp and ServerApp share: the message type, how a site finds its
records and its name, and waiting for the sites to connect."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

__all__ = ["QUERY", "load_site", "site_name", "wait_for_nodes", "crash_if_told", "ask_nodes"]

QUERY = "query"


def load_site(node: dict[str, Any], cfg: dict[str, Any]) -> tuple[Any, str]:
    from privcausal.data import from_frame

    if "data" in node:
        path, domain = str(node["data"]), str(node.get("domain", cfg.get("domain", "")))
        site = str(node.get("site", Path(path).stem))
    else:
        pid = int(node["partition-id"])
        path = str(Path(str(cfg["data_dir"])) / f"site-{pid}.csv")
        domain, site = str(cfg["domain"]), str(cfg.get(f"name-{pid}", pid))
    data = from_frame(path, treatment=str(cfg["treatment"]), outcome=str(cfg["outcome"]),
                      domain=domain)
    return data, site


def site_name(plan: Any, node_config: Any) -> str:
    if "data" in node_config:
        return str(node_config.get("site", Path(str(node_config["data"])).stem))
    pid = node_config.get("partition-id", "?")
    return str(plan.get(f"name-{pid}", pid))


#: seconds the server waits at least for the expected sites to connect (it stops as soon as
#: they have, so it costs nothing when all are up): longer than a one-shot reply timeout, so a
#: site slow to start (8 SuperNodes importing on 2 cores) is not left out
CONNECT_TIMEOUT = 120.0


def wait_for_nodes(grid: Any, timeout: float, expected: int | None) -> list[int]:
    """The connected nodes, once ``expected`` of them are (or ``timeout`` seconds passed)."""
    t0 = time.perf_counter()
    nodes: list[int] = []
    while time.perf_counter() - t0 < timeout:  # wait for the sites to connect
        nodes = list(grid.get_node_ids())
        if expected is None or len(nodes) >= expected:
            break
        time.sleep(0.5)
    return nodes


def crash_if_told(node_config: dict[str, Any]) -> None:
    """A SuperNode started with ``--node-config 'crash="1"'`` (tests, dry runs of a dropout) dies
    when asked for a release: the ClientApp kills its own process group (SuperNode included),
    so the site drops out mid-run, after the server has sent it the query."""
    if str(node_config.get("crash", "")) == "1":
        import os
        import signal

        os.killpg(os.getpgrp(), signal.SIGKILL)


def ask_nodes(grid: Any, nodes: list[int], plan: dict[str, Any], timeout: float
              ) -> tuple[list[tuple[int, Any]], list[int]]:
    """Send ``plan`` (ConfigRecord values) as a ``query`` to every node, retry once the nodes
    that did not answer and are still connected; the answers ``(node, content)`` and the nodes
    that never answered."""
    from flwr.app import ConfigRecord, Message, RecordDict

    got: list[tuple[int, Any]] = []
    answered: set[int] = set()
    todo = list(nodes)
    for _ in range(2):
        msgs = [Message(RecordDict({"plan": ConfigRecord(plan)}), dst_node_id=n,
                        message_type=QUERY) for n in todo]
        for r in grid.send_and_receive(msgs, timeout=timeout):
            if not r.has_error():
                answered.add(r.metadata.src_node_id)
                got.append((r.metadata.src_node_id, r.content))
        todo = [n for n in todo if n not in answered]
        if todo:  # a node that left the federation meanwhile (its SuperNode died) is not retried
            live = set(grid.get_node_ids())
            todo = [n for n in todo if n in live]
        if not todo:
            break
    return got, [n for n in nodes if n not in answered]

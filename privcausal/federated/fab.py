"""The Flower App that a real deployment runs (``flwr run``): the components named in its
``pyproject.toml`` (``privcausal.federated.fab:server_app`` and ``:client_app``).

The ServerApp reads the plan from the run config (``plan``: JSON) and writes the sites'
releases, refusals and failures as JSON to ``out`` (a path on the server's machine): noisy
arrays and receipts only. The ClientApp is :func:`privcausal.federated.flower_app.make_client_app`:
each SuperNode reads its own records from its ``--node-config 'data=... domain=... site=...'``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from privcausal.federated.flower_app import make_client_app, serve

__all__ = ["server_app", "client_app", "releases_to_json", "releases_from_json"]


def releases_to_json(out: dict[str, Any]) -> str:
    doc = {k: v for k, v in out.items() if k != "releases"}
    doc["releases"] = [{"site": r.site, "method": r.method, "receipt": r.receipt,
                        "arrays": {k: v.tolist() for k, v in r.arrays.items()}} for r in out["releases"]]
    return json.dumps(doc)


def releases_from_json(text: str) -> dict[str, Any]:
    import numpy as np

    from privcausal.federated.site import SiteRelease

    doc = json.loads(text)
    doc["releases"] = [SiteRelease(r["site"], r["method"], {k: np.asarray(v, dtype=np.float64)
                                                            for k, v in r["arrays"].items()},
                                   r["receipt"]) for r in doc["releases"]]
    return doc


def _server() -> Any:
    from flwr.serverapp import ServerApp

    app = ServerApp()

    @app.main()
    def main(grid: Any, context: Any) -> None:
        cfg = dict(context.run_config)
        plan = json.loads(str(cfg["plan"]))
        out: dict[str, Any] = {}
        serve(grid, plan, out, timeout=float(cfg.get("timeout", 120.0)),
              expected=int(cfg.get("expected", 0)) or None, context=context)
        Path(str(cfg["out"])).write_text(releases_to_json(out))

    return app


server_app = _server()
client_app = make_client_app()

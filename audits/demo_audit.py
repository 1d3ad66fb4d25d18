"""The audit part of ``privcausal demo``: two quick audits beside the demo's estimates.

1. The difference-in-means release at the demo's epsilon, audited black-box on its worst-case
   neighbouring pair from the declared domain (likelihood-ratio test, Clopper-Pearson).
2. DP-SGD at the demo's epsilon, white-box, from ten trainings of a logistic model on 1000
   registry records (the composed route, Gaussian-DP, labelled).

Both go into ``audit/audit.html`` (and .md, .json) under the demo's folder, and a table is
appended to the demo's report. :mod:`privcausal.cli` (the composition root) calls
:func:`demo_audits` after :func:`privcausal.demo.run_demo`.

References
----------
.. [1] Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis, "Tight auditing of
   differentially private machine learning", USENIX Security 2023.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

__all__ = ["demo_audits"]


def demo_audits(out: str | Path, *, epsilon: float, delta: float, random_state: int | None,
                progress: bool = True) -> dict[str, Any]:
    """Run the two audits, write ``out/audit/`` and append a section to ``out/report.md``."""
    import numpy as np

    from audits.dpsgd.registry import registry_features
    from audits.releases.estimator_audit import audit_release
    from audits.dpsgd.multi_run import audit_dpsgd
    from audits.report.records import audit_record, write_report

    out = Path(out)
    t0 = time.perf_counter()
    rng = np.random.default_rng(random_state)
    seeds = [None if random_state is None else int(s) for s in rng.integers(2**31, size=2)]
    if progress:
        print("auditing the difference-in-means release and DP-SGD ...", flush=True)
    dim = audit_release("dim", epsilon, 0.0, samples=200_000, random_state=seeds[0]).audit
    X, y = registry_features(200, seeds[1])
    sgd = audit_dpsgd(X, y, threat="white-box", trials=500, epsilon=epsilon,
                      delta=max(delta, 1e-9), steps=100, lr=0.002, random_state=seeds[1])
    paths = write_report([dim, sgd], out / "audit", title="privcausal demo: audits")
    records = [audit_record(dim), audit_record(sgd)]
    names = ["difference-in-means release", "DP-SGD logistic model (white-box, 1000 trainings)"]
    lines = ["", "## Audits: empirical epsilon against the claim", "",
             "| what | epsilon_theory | epsilon_lower (certified, 95 %) | estimate (not certified) "
             "| bound | trials |", "|---|---|---|---|---|---|"]
    for name, r in zip(names, records):
        est = r.get("epsilon_estimate")
        lines.append(f"| {name} | {float(r['epsilon_theory']):.3f} | {float(r['epsilon_lower']):.3f} "
                     f"| {'-' if est is None else f'{float(est):.3f}'} | {r['bound']} "
                     f"| {r['trials']} {r['trials_unit']} |")
    lines += ["", *[f"- {r['summary']}" for r in records], "",
              f"Full audit report: [audit/audit.html](audit/audit.html) "
              f"({time.perf_counter() - t0:.1f} s)."]
    report = out / "report.md"
    with open(report, "a") as f:
        f.write("\n".join(lines) + "\n")
    return {"audits": records, "audit_report": str(paths["html"])}

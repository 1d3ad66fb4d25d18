"""``privcausal curves SPEC.toml``: privacy-utility curves from the command line.

:func:`add_parser` adds the command, :func:`run` runs it. Only argparse is imported here; the curve machinery loads when the
command runs, so ``privcausal --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser", "run", "CURVES_EXAMPLES"]

CURVES_EXAMPLES = """\
examples:
  privcausal curves experiments/curves_ate_trauma.toml          # the README's figures
  privcausal curves experiments/curves_cate_trauma.toml --checkpoint ckpt/cate   # resumable
  privcausal curves my_spec.toml --quick --out /tmp/smoke --json  # reduced grid, summary JSON
  privcausal curves my_spec.toml --backend sequential --random-state 7

Writes to the spec's output folder (or --out): curves.csv (one row per fit: seed, rep,
estimator, epsilon, delta, error, interval, epsilon spent, attack), audit.csv (one row per
audited cell: epsilon_lower, epsilon_theory), curves.json (the summary) and the figures
error_vs_epsilon.png, attack_vs_epsilon.png, eps_lower_vs_eps_theory.png. The spec format is
documented in audits/curves/spec.py and experiments/curves.md.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``curves`` to a subparsers object."""
    p = subparsers.add_parser(
        "curves", help="privacy-utility curves: error, attack success and audits against epsilon",
        description="Run a grid (estimators or CATE learners x epsilon x repetitions) from a "
        "TOML spec and write a CSV, a JSON summary and figures.",
        epilog=CURVES_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", help="TOML spec (see experiments/curves_*.toml)")
    p.add_argument("--out", default=None, help="output folder (default: the spec's output)")
    p.add_argument("--quick", action="store_true",
                   help="reduced grid for smoke tests (the spec's [quick] table, or defaults)")
    p.add_argument("--backend", default="loky",
                   help="trial backend of audits.runner.run: loky, sequential, threading, dask, ray")
    p.add_argument("--jobs", type=int, default=None, help="workers for loky/threading (default: all cores)")
    p.add_argument("--batch-size", type=int, default=None, help="trials per task (default: auto)")
    p.add_argument("--random-state", type=int, default=None,
                   help="replace the spec's seed (data and noise are seeded: experiments only)")
    p.add_argument("--checkpoint", default=None,
                   help="folder to checkpoint in; rerun with the same folder to resume")
    p.add_argument("--no-figures", action="store_true", help="write the tables only")
    p.add_argument("--dpi", type=int, default=150,
                   help="resolution of the PNG figures (SVG and PDF are written beside them)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    return p


def _line(c: dict[str, Any]) -> str:
    err = "n/a" if c.get("error") is None else f"{c['error']:.4g}"
    s = f"  {c['estimator']:16s} eps={c['epsilon']!s:>6s}  error={err:>8s}"
    if c.get("coverage") is not None:
        s += f"  coverage={c['coverage']:.2f}"
    if c.get("attack_auc") is not None:
        s += f"  attack AUC={c['attack_auc']:.3f}"
    if c.get("epsilon_lower") is not None:
        s += f"  eps_lower={c['epsilon_lower']:.3g} (theory {c['epsilon_theory']:.3g})"
    return s


def run(args: argparse.Namespace) -> int:
    """Run the spec; print the summary (``--json``) or a table of the cells."""
    from audits.curves.spec import load_spec
    from audits.curves.run import run_curves

    spec = load_spec(args.spec)
    if args.quick:
        spec = spec.quick()
    res = run_curves(spec, out=args.out, backend=args.backend, n_jobs=args.jobs,
                     random_state=args.random_state, checkpoint=args.checkpoint,
                     batch_size=args.batch_size, progress=not (args.no_progress or args.json),
                     figures=not args.no_figures, dpi=args.dpi)
    s = res.summary
    if args.json:
        print(json.dumps(s))
        return 0
    print(f"{s['name']}{' (quick)' if s['quick'] else ''}: {len(res.fits)} fits, "
          f"{len(res.audits)} audits in {s['seconds']:.1f} s; error = {s['error_metric']}")
    for c in s["cells"]:
        print(_line(c))
    print(f"written to {s['output']}/: {', '.join(s['files'].values())}")
    return 0

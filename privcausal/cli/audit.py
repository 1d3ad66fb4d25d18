"""``privcausal audit``: empirical epsilon against the accountant's, from the command line.

Three commands, added by :func:`add_parser` and run by :func:`run` (the work behind them is
:mod:`privcausal.cli.audit_run`):

* ``audit dpsgd``: DP-SGD trained many times with and without a canary (or once with many
  canaries, ``--bound one-run|fdp-one-run``) under a named threat model;
* ``audit mechanism``: any importable ``mechanism(data, random_state)`` on the neighbouring
  pair that a ``neighbours()`` function returns; the best distinguishing test is chosen on
  half of the samples and the bound taken on the other half;
* ``audit model``: a released model, through the membership attacks on records known to be
  members and non-members.

Every command prints one JSON object with ``--json`` (the contract of :mod:`audits.result`:
``epsilon_theory``, the certified ``epsilon_lower``, ``violation``, ``epsilon_estimate`` with
its ``estimate_assumption``, ``alpha``, ``bound``, ``threat_model``, ``trials``, ``ceiling``,
``assumption``, ``tests``, ``summary``) and writes JSON, Markdown and HTML with ``--report
DIR``. Exit status: 0 when no violation was certified, 3 when one was (the JSON is still
printed), 2 for usage or input errors. Heavy libraries load inside the commands.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser", "run", "THREATS", "BOUNDS", "BACKENDS"]

DPSGD_EXAMPLES = """\
examples:
  privcausal audit dpsgd --epsilon 4 --threat white-box --trials 500 --json
  privcausal audit dpsgd --epsilon 4 --threat hidden-state --trials 10000 --report audit/
  privcausal audit dpsgd --epsilon 4 --threat black-box --trials 2000 --bound clopper-pearson \\
      --backend loky --checkpoint ckpt/         # resumable: rerun the same command
  privcausal audit dpsgd --epsilon 8 --bound one-run --canaries 1000 --json
  privcausal audit dpsgd --epsilon 4 --threat hidden-state --architecture mlp --trials 2000
  privcausal audit dpsgd --epsilon 2 --trials 20000 --backend dask --scheduler tcp://10.0.0.5:8786

The target is a logistic regression (or, --architecture mlp, a one-hidden-layer ReLU MLP with
the crafted canary, hidden state only) trained by full-batch DP-SGD (--sampling-rate to change)
on --n records of the simulated trauma registry (encoded on its declared domain, rows in the
unit ball). --trials is runs per world (2x trainings). The white-box default route reads the
noisy sums off consecutive models and certifies from the measured canary signal and noise
(its Gaussian assumption tested on the residuals): 500 runs per world (the default) reach
about 0.85-0.9 of epsilon 4; the declared-norm figure of Nasr et al., tight from 5 runs but
assuming the canary enters at the declared clipping norm, is reported as epsilon_estimate.
--bound gdp is certified only where the scores pass a Gaussian-shift test, else the result is
Clopper-Pearson with the Gaussian figure as the estimate. The hidden-state and black-box
routes need thousands of runs. --backend, --checkpoint and
--batch-size apply to the multi-run logistic audits (the MLP and one-run audits train in one
vectorised pass).
"""

MECHANISM_EXAMPLES = """\
examples:
  privcausal audit mechanism --mechanism mypkg.release:noisy_mean \\
      --neighbours mypkg.release:worst_pair --epsilon 1 --samples 200000 --json
  privcausal audit mechanism --mechanism ./mech.py:laplace_count --neighbours ./mech.py:pair \\
      --epsilon 0.5 --backend loky --report audit/

--mechanism MODULE:FUNCTION (or FILE.py:FUNCTION): called as f(data, random_state) and
returning a number or an array; an optional f.batch(data, n, seed) draws n outputs at once.
--neighbours MODULE:FUNCTION takes no arguments and returns the pair (D, D'), or a list of
pairs (alpha is then split over them). Both functions are imported and RUN WITH YOUR RIGHTS:
audit only code you trust. The current folder is searched after the installed packages, so
a local file named like a library (matplotlib.py) cannot shadow it.

Two tests run on the raw outputs, at alpha/2 each: the value test (a threshold on the output or
its projection) and the precision test (each output's lowest set bit and trailing zeros, read
from its IEEE-754 bits, no rounding). A release computed as value + scale * noise in doubles is
caught by the second even when its values look private; --no-precision skips it.
"""

MODEL_EXAMPLES = """\
examples:
  privcausal audit model --model released/ --members train.csv --nonmembers holdout.csv --json
  privcausal audit model --model model.pt --members m.csv --nonmembers n.csv \\
      --population public.csv --attack rmia --recipe mytrain:fit_like_target --epsilon 4 --delta 1e-5
  privcausal audit model --model checkpoint.pt --architecture mlp.toml --delta 1e-5 \\
      --members m.csv --nonmembers n.csv --population p.csv --attack lira --report audit/
  privcausal audit model --model forest.skops --members m.csv --nonmembers n.csv \\
      --population p.csv --label died --attack lira --epsilon 1 --report audit/

The claim audited is --epsilon, else the file's: a privcausal receipt, or an opacus checkpoint's
accountant (opacus' epsilon at --delta; privcausal's PLD figure for the same run is shown beside
it). The certified bound is one-run (Steinke et al. 2023; --bound fdp-one-run: f-DP where the
scores pass the Gaussian-shift test): it is valid if each audited record was a member
independently with probability 1/2 (a random split); the report says so. --bound
clopper-pearson or gdp adds the threshold-test figure over the records as an estimate: records
of one model are not independent trials, so it is not certified.

"""

EXIT_STATUS = """
exit status: 0 no violation certified (epsilon_lower <= the claim); 3 a violation certified
(the certified epsilon_lower exceeds the claim; an estimate never counts); 2 usage or input
error. With --json the result is printed in every case but 2.
"""

AUDIT_EXAMPLES = """\
examples:
  privcausal audit dpsgd --epsilon 4 --threat white-box --json
  privcausal audit mechanism --mechanism mech.py:release --neighbours mech.py:pair --epsilon 1
  privcausal audit model --model released/ --members m.csv --nonmembers n.csv --report audit/

'privcausal audit dpsgd --help' (and mechanism, model) shows more.
"""

THREATS = ("white-box", "hidden-state", "black-box")
BOUNDS = ("gdp", "clopper-pearson", "one-run", "fdp-one-run")
BACKENDS = ("sequential", "loky", "threading", "dask", "ray")
#: audits.models.MODEL_ATTACKS (kept here so building the parser imports nothing)
MODEL_ATTACKS = ("auto", "loss", "calibrated", "lira", "rmia", "lira-offline", "rmia-offline")


def _common(p: argparse.ArgumentParser, *, backend: str = "sequential") -> None:
    p.add_argument("--alpha", type=float, default=0.05, help="1 - confidence (default 0.05)")
    p.add_argument("--random-state", type=int, default=None,
                   help="seed (default: unseeded, from the OS entropy)")
    p.add_argument("--backend", choices=BACKENDS, default=backend,
                   help=f"where the trials run (default {backend})")
    p.add_argument("--n-jobs", type=int, default=None, help="workers for loky/threading")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--address", help="Ray cluster address")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--report", help="folder for audit.json, audit.md, audit.html and figures")
    p.add_argument("--dpi", type=int, default=150, help="resolution of the report's PNG figures")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``audit dpsgd``, ``audit mechanism`` and ``audit model`` to a subparsers object."""
    raw = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser("audit", help="measure a lower bound on epsilon (DP-SGD, mechanism, model)",
                              description="Empirical epsilon lower bounds beside the claimed epsilon.",
                              epilog=AUDIT_EXAMPLES + EXIT_STATUS, formatter_class=raw)
    sub = p.add_subparsers(dest="audit_command", metavar="AUDIT")
    d = sub.add_parser("dpsgd", help="audit DP-SGD with canaries", epilog=DPSGD_EXAMPLES + EXIT_STATUS,
                       formatter_class=raw)
    d.add_argument("--epsilon", type=float, required=True, help="the DP-SGD guarantee to audit")
    d.add_argument("--delta", type=float, default=1e-5)
    d.add_argument("--threat", choices=THREATS, default="white-box")
    d.add_argument("--canary", choices=("auto", "dirac", "input"), default="auto",
                   help="auto: Dirac gradient canary (white-box, hidden state), input outlier "
                        "(black-box)")
    d.add_argument("--trials", type=int, default=None,
                   help="runs per world (default 500 white-box, 1000 otherwise)")
    d.add_argument("--bound", choices=BOUNDS, default="gdp",
                   help="gdp (Gaussian-DP, certified only where a Gaussian-shift test licenses "
                        "it), clopper-pearson, or a one-run bound")
    d.add_argument("--canaries", type=int, default=1000, help="canaries of a one-run audit")
    d.add_argument("--n", type=int, default=1000, help="records of the simulated registry")
    d.add_argument("--steps", type=int, default=100)
    d.add_argument("--sampling-rate", type=float, default=1.0)
    d.add_argument("--lr", type=float, default=None,
                   help="learning rate (default 0.002 logistic, 0.5 MLP)")
    d.add_argument("--architecture", choices=("logistic", "mlp"), default="logistic",
                   help="mlp: hidden-state audit with the crafted canary (audits.dpsgd.crafted)")
    d.add_argument("--hidden", type=int, default=32, help="MLP hidden units")
    d.add_argument("--max-grad-norm", type=float, default=1.0)
    d.add_argument("--batch-size", type=int, default=None, help="trainings per task")
    d.add_argument("--checkpoint", help="folder: resume an interrupted audit")
    _common(d)
    m = sub.add_parser("mechanism", help="audit any release mechanism (black-box)",
                       epilog=MECHANISM_EXAMPLES + EXIT_STATUS, formatter_class=raw)
    m.add_argument("--mechanism", required=True, help="MODULE:FUNCTION or FILE.py:FUNCTION")
    m.add_argument("--neighbours", required=True, help="MODULE:FUNCTION returning (D, D')")
    m.add_argument("--epsilon", type=float, required=True, help="the claimed epsilon")
    m.add_argument("--delta", type=float, default=0.0)
    m.add_argument("--samples", type=int, default=100_000, help="outputs drawn per dataset")
    m.add_argument("--bound", choices=("clopper-pearson", "gdp"), default="clopper-pearson")
    m.add_argument("--no-precision", action="store_true",
                   help="skip the precision test (the raw outputs' lowest set bit and trailing "
                        "zeros, run beside the value test at alpha/2 each by default); only for "
                        "a simulated ideal mechanism whose floats are not what is released")
    _common(m)
    from privcausal.cli.model_options import MODEL_FORMATS_HELP, add_model_options

    r = sub.add_parser("model", help="audit a released model through membership attacks",
                       epilog=MODEL_EXAMPLES + MODEL_FORMATS_HELP + EXIT_STATUS, formatter_class=raw)
    add_model_options(r)
    r.add_argument("--attack", default="auto", choices=MODEL_ATTACKS,
                   help="membership attack (default auto: lira where the reference models' "
                        "recipe is known, else loss)")
    r.add_argument("--bound", choices=BOUNDS, default="one-run")
    _common(r)
    return p


def run(args: argparse.Namespace) -> int:
    """The ``audit`` command: runs the sub-command chosen, prints and reports the result."""
    from privcausal.exceptions import PrivCausalError

    cmd = getattr(args, "audit_command", None)
    if cmd is None:
        raise PrivCausalError("choose an audit: 'privcausal audit dpsgd', 'mechanism' or 'model'")
    from privcausal.cli import audit_run as impl

    result = {"dpsgd": impl.run_dpsgd, "mechanism": impl.run_mechanism,
              "model": impl.run_model}[cmd](args)
    from audits.report.records import audit_record, write_report
    from audits.result import exit_status

    record = audit_record(result)
    if args.report:
        write_report(result, args.report, title=f"privcausal audit {cmd}",
                     dpi=args.dpi)
    if args.json:
        print(json.dumps(record, default=str))
    else:
        print(record["summary"])
        if args.report:
            print(f"report written to {args.report}")
    return exit_status(record)

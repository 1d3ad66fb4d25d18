"""The ``privcausal`` command: the composition root.

Each command is a module of :mod:`privcausal.cli` with ``add_parser(subparsers)`` and
``run(args)``. Parsers are built lazily: ``privcausal fit ...`` imports only
:mod:`privcausal.cli.fit`, and ``privcausal --help`` imports none of them (it lists the
commands from :data:`COMMANDS`). This package is the only part of privcausal that may import
``attacks`` and ``audits``, and the heavy libraries load inside the commands, so
``privcausal --help`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from privcausal.cli._common import RAW, print_error
from privcausal.exceptions import PrivCausalError

__all__ = ["main", "console_main", "build_parser", "COMMANDS", "EXAMPLES"]

#: command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "fit": ("privcausal.cli.fit", "estimate a treatment effect privately"),
    "demo": ("privcausal.cli.demo", "run the main job end to end on the simulated registry"),
    "estimators": ("privcausal.cli.estimators", "list the estimators"),
    "attack": ("privcausal.cli.attack", "membership inference and reconstruction attacks"),
    "audit": ("privcausal.cli.audit", "empirical epsilon lower bounds against the claimed epsilon"),
    "curves": ("privcausal.cli.curves", "privacy-utility curves from a TOML spec"),
    "budget": ("privcausal.cli.budget", "set or show a data set's persistent privacy budget"),
    "domain": ("privcausal.cli.domain", "draft a domain file of declared bounds from a data file"),
    "federate": ("privcausal.cli.federate", "multi-site private ATE on Flower (each site keeps its records)"),
}

EXAMPLES = """\
examples:
  privcausal demo                                   # the main job on the simulated trauma registry
  privcausal fit --data trauma --estimator aipw --epsilon 1
  privcausal fit --data ihdp:1 --estimator regression --epsilon 4 --json
  privcausal fit --data registry.csv --treatment txa --outcome death \\
      --covariates age,sex,gcs --domain registry.toml --estimator ipw --epsilon 0.5
  privcausal fit --data ihdp:1 --estimator dp-tarnet --epsilon 4 --save model/ --json
  privcausal attack membership --model model/ --members m.csv --nonmembers n.csv \\
      --population p.csv --attack rmia --reference-models 4 --report attack-report/
  privcausal audit dpsgd --epsilon 4 --threat white-box --trials 5 --json
  privcausal audit mechanism --mechanism mech.py:release --neighbours mech.py:pair --epsilon 1
  privcausal audit model --model model/ --members m.csv --nonmembers n.csv --report audit/
  privcausal budget set registry.csv --treatment txa --outcome death --domain registry.toml \\
      --epsilon 2 --delta 1e-6                      # a budget that every fit on the file spends
  privcausal domain draft registry.csv --treatment txa --outcome death --out registry.toml
  privcausal estimators                             # list every estimator and its twin
  privcausal curves experiments/curves_ate_trauma.toml   # privacy-utility curves and figures
  privcausal federate --data trauma --sites 8 --estimator regression --epsilon 1 --json
"""


def _command_module(name: str):
    return importlib.import_module(COMMANDS[name][0])


def build_parser(command: str | None = "all") -> argparse.ArgumentParser:
    """The parser: every command's in full (``command="all"``, the default), only ``command``'s
    (the others listed with their help line), or none (``command=None``)."""
    p = argparse.ArgumentParser(
        prog="privcausal",
        description="Differential privacy for causal inference on medical data: private treatment-"
        "effect estimates with honest intervals, attacks, and audits.",
        epilog=EXAMPLES, formatter_class=RAW,
    )
    from privcausal import __version__

    p.add_argument("--version", action="version", version=f"privcausal {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_line) in COMMANDS.items():
        if command == "all" or command == name:
            _command_module(name).add_parser(sub)
        else:
            sub.add_parser(name, help=help_line)
    return p


def _first_command(argv: Sequence[str]) -> str | None:
    for a in argv:
        if a in COMMANDS:
            return a
        if not a.startswith("-"):
            return None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    name = _first_command(argv)
    parser = build_parser(name)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    try:
        # Warnings (privacy leaks, clipping counts) go to stderr, so --json stdout stays one object.
        return _command_module(args.command).run(args)
    except PrivCausalError as exc:
        return print_error(exc, getattr(args, "json", False))


def console_main() -> None:
    """The installed ``privcausal`` command: :func:`main`, in a process whose allocator keeps
    training buffers (it re-executes itself once with glibc tunables set; see
    :mod:`privcausal.training.allocator`; ``PRIVCAUSAL_MALLOC=default`` turns this off)."""
    import os

    from privcausal.training.allocator import tuned_environ

    env = tuned_environ()
    if env is not None and sys.executable:
        try:
            os.execve(sys.executable, [sys.executable, "-m", "privcausal.cli", *sys.argv[1:]], env)
        except OSError:
            pass  # run here, with the default allocator settings
    sys.exit(main())

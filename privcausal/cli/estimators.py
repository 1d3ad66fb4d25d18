"""``privcausal estimators``: every estimator, private or not, with its twin."""

from __future__ import annotations

import argparse
from typing import Any

from privcausal.cli._common import RAW

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    return sub.add_parser("estimators", help="list the estimators", formatter_class=RAW,
                          epilog="example:\n  privcausal estimators\n")


def run(args: argparse.Namespace) -> int:
    from privcausal.estimators import ESTIMATORS

    for name, spec in ESTIMATORS.items():
        print(f"{name:16s} {'private    ' if spec.private else 'non-private'}  {spec.description}")
    cate = {"dp-tlearner": "DP T-learner (two models on disjoint arms: parallel composition)",
            "dp-slearner": "DP S-learner (one DP-SGD model on [x, t])",
            "dp-tarnet": "DP TARNet (shared trunk, two heads; one DP-SGD run)"}
    for name, desc in cate.items():
        print(f"{name:16s} private      CATE: {desc}")
        print(f"{name[3:]:16s} non-private  CATE: non-private twin of {name}")
    return 0

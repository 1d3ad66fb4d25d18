"""What an attack queries: the :class:`Target` protocol, its adapters, and the factory.

=================================  ==========================================================
:mod:`attacks.targets.base`        :class:`Target` (records in, per-record statistics out),
                                   :func:`statistic_from_outputs`, the statistics' names
:mod:`attacks.targets.adapters`    :class:`TorchTarget`, :class:`SklearnTarget`
:mod:`attacks.targets.score_file`  :class:`ScoreTarget` (statistics computed elsewhere)
:mod:`attacks.targets.model_file`  :class:`ReleasedModelTarget` (privcausal's model folders),
                                   and privcausal's training results
:mod:`attacks.targets.factory`     :func:`as_target`, :func:`load_target`: which one a path or
                                   an object becomes
=================================  ==========================================================

The factory imports the adapters and they import the protocol, never the other way round.
"""

from attacks.targets.adapters import SklearnTarget, TorchTarget
from attacks.targets.base import STATISTICS, TASKS, Target, statistic_from_outputs
from attacks.targets.factory import as_target, load_target
from attacks.targets.model_file import ReleasedModelTarget
from attacks.targets.score_file import ScoreTarget

__all__ = ["STATISTICS", "TASKS", "Target", "TorchTarget", "SklearnTarget", "ScoreTarget",
           "ReleasedModelTarget", "as_target", "load_target", "statistic_from_outputs"]

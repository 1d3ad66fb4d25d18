"""What an attack queries: the :class:`Target` protocol, its adapters, and the loaders.

===================================  ==========================================================
:mod:`attacks.targets.base`          :class:`Target` (records in, per-record statistics out),
                                     :func:`statistic_from_outputs`, the statistics' names
:mod:`attacks.targets.outputs`       logits, probabilities or log-probabilities: detected from
                                     the model's structure or declared, never guessed
:mod:`attacks.targets.adapters`      :class:`TorchTarget`, :class:`SklearnTarget`
:mod:`attacks.targets.onnx_target`   :class:`OnnxTarget` (onnxruntime)
:mod:`attacks.targets.score_file`    :class:`ScoreTarget` (statistics computed elsewhere)
:mod:`attacks.targets.model_file`    :class:`ReleasedModelTarget` (privcausal's model folders),
                                     and privcausal's training results
:mod:`attacks.targets.formats`       which file format, read how (no pickle unless trusted)
:mod:`attacks.targets.opacus_checkpoint`  the claim and recipe of an opacus checkpoint
:mod:`attacks.targets.model_loader`  :func:`load_model`: any supported file -> a target and its
                                     stated claim
:mod:`attacks.targets.factory`       :func:`as_target`, :func:`load_target`: which one a path or
                                     an object becomes
===================================  ==========================================================

The factory and the loader import the adapters and they import the protocol, never the other
way round.
"""

from attacks.targets.adapters import SklearnTarget, TorchTarget
from attacks.targets.base import STATISTICS, TASKS, Target, statistic_from_outputs
from attacks.targets.factory import as_target, load_target
from attacks.targets.model_file import ReleasedModelTarget
from attacks.targets.model_loader import LoadedModel, load_model
from attacks.targets.onnx_target import OnnxTarget
from attacks.targets.outputs import OUTPUT_KINDS
from attacks.targets.score_file import ScoreTarget

__all__ = ["STATISTICS", "TASKS", "OUTPUT_KINDS", "Target", "TorchTarget", "SklearnTarget",
           "OnnxTarget", "ScoreTarget", "ReleasedModelTarget", "LoadedModel", "as_target",
           "load_target", "load_model", "statistic_from_outputs"]

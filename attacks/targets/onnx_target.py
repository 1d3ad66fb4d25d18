"""An ONNX model (run by onnxruntime) as an attack target.

The output queried is the model's probabilities where it has them (scikit-learn converters'
``probabilities`` / ``output_probability``, a ``ZipMap`` of class probabilities), else its
first float output; what it holds (logits, probabilities, log-probabilities) is read off the
node that produces it (:mod:`attacks.targets.outputs`) or declared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from attacks.targets.base import TASKS, Target
from attacks.targets.outputs import check_kind, kind_from_onnx, resolve_kind, to_logits
from privcausal.exceptions import DataValidationError

__all__ = ["OnnxTarget"]


class OnnxTarget(Target):
    """An ONNX file as a target.

    Parameters
    ----------
    path : the ``.onnx`` file
    task : "binary", "multiclass" or "regression"
    outputs : "auto" (read off the graph), "logits", "probabilities" or "log-probabilities"
    feature_names : names of the input columns, when the caller knows them
    recipe : how to train reference models (a function ``(X, y, random_state) -> model`` or a
        :class:`~privcausal.training.DPSGDRecipe`)
    """

    def __init__(self, path: str | Path, *, task: str = "binary", outputs: str = "auto",
                 feature_names: Sequence[str] | None = None, recipe: Any = None,
                 description: str | None = None) -> None:
        import onnx
        import onnxruntime as ort

        if task not in TASKS:
            raise DataValidationError(f"task must be one of {TASKS}, got {task!r}")
        p = Path(path)
        self.session = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        graph = onnx.load(str(p), load_external_data=False)
        ins = self.session.get_inputs()
        if len(ins) != 1:
            raise DataValidationError(f"{p.name} takes {len(ins)} inputs; an audit queries models "
                                      "with one (n, d) feature input")
        self.input_name = ins[0].name
        self._dtype = np.float64 if "double" in ins[0].type else np.float32
        shape = ins[0].shape
        self.n_features = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
        outs = self.session.get_outputs()
        prob = [o for o in outs if "prob" in o.name.lower()]
        floats = [o for o in outs if "float" in str(o.type) or "double" in str(o.type)]
        chosen = (prob or floats or outs)[0]
        self.output_name = chosen.name
        self.task = task
        self.declared_outputs = check_kind(outputs)
        self._detected = kind_from_onnx(graph, self.output_name)
        self.output_kind: str | None = "logits" if task == "regression" else None
        self.output_kind_source = "declared" if outputs != "auto" else None
        self.feature_names = None if feature_names is None else tuple(str(c) for c in feature_names)
        self.recipe = recipe
        self.description = description or f"ONNX model {p.name}"

    def raw_outputs(self, X: np.ndarray) -> np.ndarray:
        res = self.session.run([self.output_name], {self.input_name: np.asarray(X, dtype=self._dtype)})[0]
        if isinstance(res, list):  # a ZipMap: one {class: probability} per row
            keys = sorted(res[0]) if res else []
            res = np.array([[row[k] for k in keys] for row in res], dtype=np.float64)
        o = np.asarray(res, dtype=np.float64)
        if o.ndim == 2 and o.shape[1] == 1:
            o = o[:, 0]
        return o

    def outputs(self, X: np.ndarray) -> np.ndarray:
        o = self.raw_outputs(X)
        if self.output_kind is None:
            self.output_kind = resolve_kind(self.declared_outputs, self._detected, o, self.task,
                                            self.description)
            self.output_kind_source = ("declared" if self.declared_outputs != "auto" else
                                       "the model's graph" if self._detected else "the values")
        out = to_logits(o, self.output_kind, self.task)
        if self.task == "binary" and out.ndim != 1:
            raise DataValidationError(f"{self.description}: a binary model's output has shape "
                                      f"{o.shape}; expected one or two columns")
        return out

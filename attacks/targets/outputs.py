"""What a model's outputs are: logits, probabilities or log-probabilities, detected or declared.

Attacks compute their statistics from logits (:func:`attacks.targets.base.statistic_from_outputs`).
A model that ends in a sigmoid or a softmax returns probabilities; reading them as logits
gives wrong losses and a wrong audit, silently. So the kind is

* **declared** by the user (``outputs="probabilities"``, ``--outputs``), or
* **detected from the model's structure**: the last operation of a torch module's graph
  (``aten::sigmoid``, ``aten::softmax``, ``aten::log_softmax``, or a linear layer), the node that
  produces an ONNX model's output (``Sigmoid``, ``Softmax``, ``LogSoftmax``, ``ZipMap``, a
  ``*prob*`` output of a scikit-learn converter), a scikit-learn estimator's ``predict_proba``;
* never guessed from values alone, except to refuse: a binary output with no structural
  evidence and every value in [0, 1] could be either, and is refused with a request to declare
  it. A declaration that contradicts the structure is refused too.

Probabilities of exactly 0 or 1 (a random forest's leaves) are clipped to
``[PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR]`` before their logarithm, so that every statistic
is finite; the attacks rank records, and the clip only ties the most extreme ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from privcausal.exceptions import DataValidationError

__all__ = ["OUTPUT_KINDS", "PROBABILITY_FLOOR", "to_logits", "resolve_kind", "kind_from_torch",
           "kind_from_onnx"]

OUTPUT_KINDS = ("auto", "logits", "probabilities", "log-probabilities")
PROBABILITY_FLOOR = 1e-12

_TORCH_FINAL = {"aten::sigmoid": "probabilities", "aten::softmax": "probabilities",
                "aten::log_softmax": "log-probabilities", "aten::linear": "logits",
                "aten::addmm": "logits", "aten::matmul": "logits", "aten::mm": "logits"}
_PASS_THROUGH = ("aten::squeeze", "aten::view", "aten::reshape", "aten::flatten", "aten::unsqueeze",
                 "aten::contiguous", "aten::to", "aten::clone", "aten::select", "prim::ListUnpack",
                 "aten::type_as", "aten::float", "aten::double")
_ONNX_FINAL = {"Sigmoid": "probabilities", "Softmax": "probabilities", "ZipMap": "probabilities",
               "LogSoftmax": "log-probabilities", "Gemm": "logits", "MatMul": "logits"}
_ONNX_PASS = ("Squeeze", "Reshape", "Flatten", "Unsqueeze", "Identity", "Cast")


def check_kind(kind: str) -> str:
    if kind not in OUTPUT_KINDS:
        raise DataValidationError(f"outputs must be one of {OUTPUT_KINDS}, got {kind!r}")
    return kind


def _graph_kind(graph: Any) -> str | None:
    try:
        node = graph.return_node().inputsAt(0).node()
    except Exception:  # noqa: BLE001 - a graph we cannot read: no structural evidence
        return None
    for _ in range(32):
        kind = node.kind()
        if kind in _TORCH_FINAL:
            return _TORCH_FINAL[kind]
        if kind == "aten::add" or kind in _PASS_THROUGH:  # bias added after a matmul
            ins = list(node.inputs())
            if not ins:
                return None
            node = ins[0].node()
            continue
        return None
    return None


def kind_from_torch(module: Any, n_features: int | None, dtype: Any = None) -> str | None:
    """The output kind from a torch module's graph (TorchScript or traced), or None."""
    import torch

    graph = None
    if isinstance(module, torch.jit.ScriptModule):
        try:
            graph = module.inlined_graph
        except Exception:  # noqa: BLE001
            graph = None
    elif n_features:
        import warnings

        try:
            x = torch.zeros(2, int(n_features), dtype=dtype or torch.float32)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # trace is deprecated, and still reads the graph
                graph = torch.jit.trace(module, x, check_trace=False).inlined_graph
        except Exception:  # noqa: BLE001 - a module that cannot be traced: no evidence
            graph = None
    return None if graph is None else _graph_kind(graph)


def kind_from_onnx(model: Any, output_name: str) -> str | None:
    """The output kind from the ONNX node that produces ``output_name``, or None."""
    if "prob" in output_name.lower():
        return "probabilities"
    producers = {o: n for n in model.graph.node for o in n.output}
    name = output_name
    for _ in range(32):
        node = producers.get(name)
        if node is None:
            return None
        if node.op_type in _ONNX_FINAL:
            return _ONNX_FINAL[node.op_type]
        if node.op_type == "Add" or node.op_type in _ONNX_PASS:
            name = node.input[0]
            continue
        return None
    return None


def resolve_kind(declared: str, detected: str | None, out: np.ndarray, task: str, where: str) -> str:
    """The kind to read ``out`` with: the declaration checked against the structure."""
    check_kind(declared)
    if declared != "auto":
        same = {declared, detected} <= {"logits", "log-probabilities"} and task == "multiclass"
        if detected is not None and detected != declared and not same:
            raise DataValidationError(
                f"{where}: outputs declared as {declared} but the model's last operation gives "
                f"{detected}; check the declaration")
        return declared
    if detected is not None:
        return detected
    if task == "regression":
        return "logits"
    o = np.asarray(out, dtype=np.float64)
    if o.size and np.all((o >= 0) & (o <= 1)):
        if task == "multiclass" and o.ndim == 2 and np.allclose(o.sum(-1), 1.0, atol=1e-5):
            return "probabilities"
        raise DataValidationError(
            f"{where}: every output lies in [0, 1] and the model's structure does not say whether "
            "they are probabilities or logits: declare them (outputs='probabilities' or "
            "'logits'; on the command line --outputs)")
    if task == "multiclass" and o.ndim == 2 and o.size and np.all(o <= 0) and \
            np.allclose(np.logaddexp.reduce(o, axis=-1), 0.0, atol=1e-5):
        return "log-probabilities"
    return "logits"


def to_logits(out: Any, kind: str, task: str) -> np.ndarray:
    """Outputs of ``kind`` as the logits the statistics take (regression: unchanged).

    Binary: one column (the positive class) or two (both classes); multiclass: (n, C).
    """
    o = np.asarray(out, dtype=np.float64)
    if task == "regression" or kind == "logits":
        if task == "binary" and o.ndim == 2 and o.shape[-1] == 2:
            return o[..., 1] - o[..., 0]
        return o
    if kind == "probabilities":
        if np.any(~np.isfinite(o)) or np.any((o < -1e-9) | (o > 1 + 1e-9)):
            raise DataValidationError("outputs read as probabilities lie outside [0, 1]: declare "
                                      "the right kind (logits?)")
        p = np.clip(o, PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
        if task == "binary":
            p1 = p[..., 1] if (p.ndim == 2 and p.shape[-1] == 2) else p
            return np.log(p1) - np.log1p(-p1)
        return np.log(p)
    if kind == "log-probabilities":
        if np.any(o > 1e-9):
            raise DataValidationError("outputs read as log-probabilities are positive: declare the "
                                      "right kind")
        lp = np.clip(o, np.log(PROBABILITY_FLOOR), np.log1p(-PROBABILITY_FLOOR))
        if task == "binary":
            if lp.ndim == 2 and lp.shape[-1] == 2:
                return lp[..., 1] - lp[..., 0]
            return lp - np.log(-np.expm1(lp))
        return lp
    raise DataValidationError(f"unknown output kind {kind!r}")

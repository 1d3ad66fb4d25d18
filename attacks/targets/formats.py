"""Model files an audit can read, and how each is read without running untrusted code.

=====================  ========================================================================
format                 read by
=====================  ========================================================================
TorchScript            ``torch.jit.load`` (``torch.jit.save`` archives: code runs in TorchScript's
                       own interpreter, not Python)
ONNX (``.onnx``)       onnxruntime (an inference graph; no Python)
torch state_dict /     ``torch.load(weights_only=True)`` (tensors and plain containers only),
opacus checkpoint      with an architecture the user names (:func:`architecture_module`); an
                       opacus ``PrivacyEngine.save_checkpoint`` file also gives its accountant
                       state (:mod:`attacks.targets.opacus_checkpoint`)
skops (``.skops``)     ``skops.io.load`` with only skops' trusted types, or the types the user
                       names in ``trusted_types``
privcausal model       :func:`privcausal.training.artifact.load` (JSON and a checked weights file)
score CSV              :class:`~attacks.targets.score_file.ScoreTarget`
=====================  ========================================================================

Pickle-based files (joblib, ``pickle``, a whole ``torch.save(model)``) can run any code when
loaded; they are refused with the list above, unless ``trust_pickle=True`` (``--trust-pickle``)
says the file is the user's own.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from privcausal.exceptions import DataNotFoundError, DataTypeError, DataValidationError

__all__ = ["SAFE_FORMATS", "PICKLE_SUFFIXES", "detect_format", "architecture_module",
           "load_state_dict_by_position", "ModelFileRefused"]

SAFE_FORMATS = ("TorchScript (torch.jit.save), ONNX (.onnx), a torch state_dict or opacus "
                "checkpoint with --architecture SPEC.toml or MODULE:FUNCTION, skops (.skops), a "
                "privcausal model folder (fit --save), or a CSV of per-record scores")
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".jbl", ".sav")
_TORCH_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".tar", ".torchscript", ".ptl")


class ModelFileRefused(DataTypeError):
    """A model file that could only be read by running code it carries (pickle)."""


def refuse_pickle(path: Path, what: str) -> ModelFileRefused:
    return ModelFileRefused(
        f"{path.name} is {what}: loading it can run any code it carries, so it is refused. "
        f"Save the model in a safe format ({SAFE_FORMATS}), or, for a file you made yourself, "
        "pass trust_pickle=True (--trust-pickle)")


def detect_format(path: str | Path) -> str:
    """One of ``folder``, ``csv``, ``onnx``, ``skops``, ``torchscript``, ``torch`` (a
    ``torch.save`` file: state_dict, checkpoint or pickled module) or ``pickle``."""
    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(f"model file not found: {p}")
    if p.is_dir() or p.name == "model.json":
        return "folder"
    name = p.name.lower()
    if name.endswith((".csv", ".txt", ".csv.gz")):
        return "csv"
    if name.endswith(".onnx"):
        return "onnx"
    if name.endswith(".skops"):
        return "skops"
    if name.endswith(PICKLE_SUFFIXES):
        return "pickle"
    if zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as z:
            names = z.namelist()
        if any("/code/" in n for n in names) or any(n.endswith("constants.pkl") for n in names):
            return "torchscript"
        if any(n.endswith("data.pkl") for n in names):
            return "torch"
        if any(n.startswith("schema.json") or n == "schema.json" for n in names):
            return "skops"
    with open(p, "rb") as f:
        head = f.read(8)
    if head[:1] == b"\x80" or name.endswith(_TORCH_SUFFIXES):
        return "torch"  # the legacy torch.save format is a pickle stream; weights_only decides
    raise DataTypeError(f"cannot tell the format of {p.name}; readable formats: {SAFE_FORMATS}")


def read_torch_file(path: Path, trust_pickle: bool) -> Any:
    """``torch.load`` with ``weights_only=True``; a pickled module only with ``trust_pickle``."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as e:
        if "weights_only" not in str(e) and "Unsupported global" not in str(e) \
                and not isinstance(e, pickle.UnpicklingError):
            raise DataValidationError(f"{path.name} is not a readable torch file ({type(e).__name__})") from None
        if not trust_pickle:
            raise refuse_pickle(path, "a pickled torch object (a whole torch.save(model), not a "
                                      "state_dict)") from None
        return torch.load(path, map_location="cpu", weights_only=False)


def read_pickle_file(path: Path, trust_pickle: bool) -> Any:
    if not trust_pickle:
        raise refuse_pickle(path, "a pickle (joblib) file")
    import joblib

    return joblib.load(path)


def read_skops_file(path: Path, trusted_types: Sequence[str] = ()) -> Any:
    """A skops file with skops' default trusted types, scikit-learn's own classes
    (``sklearn.*``: skops rebuilds them from their stored state, and their ``__setstate__``
    runs no stored code; skops lists some, such as a forest's ``Tree``, as untrusted only
    because they are not in its short default list) and the types named by the user."""
    import skops.io as sio

    unknown = [t for t in sio.get_untrusted_types(file=path)
               if t not in set(trusted_types) and not t.startswith("sklearn.")]
    if unknown:
        raise ModelFileRefused(
            f"{path.name} holds types skops does not trust by default ({', '.join(unknown[:6])}"
            f"{' ...' if len(unknown) > 6 else ''}); if you made this file, name them as trusted "
            "(trusted_types=[...], --trust-types T1,T2)")
    return sio.load(path, trusted=list(sio.get_untrusted_types(file=path)) or None)


def architecture_module(spec: Mapping[str, Any] | Any) -> tuple[Any, str]:
    """A torch module and its declared output kind from an architecture spec.

    The spec is :class:`~privcausal.training.Architecture`'s fields (``kind`` "linear",
    "logistic" or "mlp", ``input_dim``, ``hidden``, ``activation``, ``bias``) plus ``output``:
    "logits" (default), "sigmoid" or "softmax" for a last layer applied after the final linear
    layer, and ``output_dim`` (default 1). The module is ``Linear, act, ..., Linear[, last]``.
    """
    import torch

    from privcausal.training.models import _ACT_MODULES  # noqa: PLC2701 - the trainers' layers

    if not isinstance(spec, Mapping):
        raise DataTypeError("an architecture spec is a mapping (TOML or JSON table)")
    known = {"kind", "input_dim", "hidden", "activation", "bias", "output", "output_dim"}
    extra = sorted(set(spec) - known)
    if extra:
        raise DataValidationError(f"unknown architecture fields {extra}; known: {sorted(known)}")
    for need in ("kind", "input_dim"):
        if need not in spec:
            raise DataValidationError(f"the architecture spec needs {need!r}")
    from privcausal.training.models import Architecture

    out_dim = int(spec.get("output_dim", 1))
    arch = Architecture(str(spec["kind"]), int(spec["input_dim"]), tuple(spec.get("hidden", ())),
                        str(spec.get("activation", "relu")), 1, bool(spec.get("bias", True)))
    dims = (arch.input_dim, *arch.hidden, out_dim)
    mods: list[Any] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        if i > 0:
            mods.append(_ACT_MODULES[arch.activation]())
        mods.append(torch.nn.Linear(a, b, bias=arch.bias))
    last = str(spec.get("output", "logits"))
    if last == "sigmoid":
        mods.append(torch.nn.Sigmoid())
    elif last == "softmax":
        mods.append(torch.nn.Softmax(dim=-1))
    elif last != "logits":
        raise DataValidationError("the architecture's output must be 'logits', 'sigmoid' or 'softmax'")
    kind = "logits" if last == "logits" else "probabilities"
    return torch.nn.Sequential(*mods), kind


def load_state_dict_by_position(module: Any, state: Mapping[str, Any], where: str) -> None:
    """Load ``state`` into ``module``: by name when the names match, else by position with
    every shape checked (a user's ``fc1.weight`` into a spec's ``0.weight``)."""
    import torch

    own = module.state_dict()
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    src = [(k, tensors[k]) for k in own] if set(tensors) == set(own) else list(tensors.items())
    if len(src) != len(own):
        raise DataValidationError(
            f"{where}: the state_dict has {len(src)} tensors, the architecture {len(own)}: name the "
            "architecture the model was trained with")
    new = {}
    for (k_own, v_own), (k_src, v_src) in zip(own.items(), src):
        if tuple(v_own.shape) != tuple(v_src.shape):
            raise DataValidationError(
                f"{where}: tensor {k_src!r} has shape {tuple(v_src.shape)}, the architecture's "
                f"{k_own!r} {tuple(v_own.shape)}: name the architecture the model was trained with")
        new[k_own] = v_src
    module.load_state_dict(new)


def strip_wrappers(state: Mapping[str, Any]) -> dict[str, Any]:
    """Names without the ``_module.`` prefix opacus' GradSampleModule adds."""
    return {(k[len("_module."):] if k.startswith("_module.") else k): v for k, v in state.items()}


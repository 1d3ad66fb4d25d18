"""One entry point for every model file an audit reads: :func:`load_model`.

It picks the reader by format (:mod:`attacks.targets.formats`), builds the
:class:`~attacks.targets.base.Target`, and collects what the file says about its privacy claim:
a privcausal receipt, or an opacus checkpoint's accountant
(:mod:`attacks.targets.opacus_checkpoint`). A torch state_dict needs the architecture it was
trained with: a spec (:func:`~attacks.targets.formats.architecture_module`; a mapping, or a
TOML / JSON file holding one) or a function that builds the module (``MODULE:FUNCTION``, the
user's code).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from attacks.targets.base import LOSS_OF_TASK as _LOSS
from attacks.targets.base import TASKS, Target
from attacks.targets.formats import (SAFE_FORMATS, architecture_module, detect_format,
                                     load_state_dict_by_position, read_pickle_file,
                                     read_skops_file, read_torch_file, strip_wrappers)
from attacks.targets.opacus_checkpoint import OpacusAccounting, is_opacus_checkpoint, \
    read_opacus_checkpoint
from privcausal.exceptions import DataNotFoundError, DataTypeError, DataValidationError

__all__ = ["LoadedModel", "load_model", "read_architecture"]

@dataclass
class LoadedModel:
    """A model read from a file, and what the file says of its training.

    Attributes
    ----------
    target : the :class:`~attacks.targets.base.Target` to attack
    format : "torchscript", "torch-state-dict", "opacus-checkpoint", "torch-pickle", "onnx",
        "skops", "sklearn-pickle", "privcausal", "score-csv"
    epsilon, delta : the privacy claim the file states (None when it states none)
    claim_source : where the claim comes from, in words
    opacus : the opacus accounting, for a checkpoint
    notes : anything the caller should be told
    """

    target: Target
    format: str
    epsilon: float | None = None
    delta: float | None = None
    claim_source: str | None = None
    opacus: OpacusAccounting | None = None
    notes: list[str] = field(default_factory=list)


def read_architecture(spec: Any) -> tuple[Any, str, Any]:
    """(module, declared output kind, the spec as a mapping or None) from a mapping, a TOML /
    JSON file, a ``MODULE:FUNCTION`` string or a zero-argument callable building the module."""
    if isinstance(spec, Mapping):
        m, kind = architecture_module(spec)
        return m, kind, dict(spec)
    if isinstance(spec, (str, Path)) and Path(spec).suffix.lower() in (".toml", ".json"):
        p = Path(spec)
        if not p.is_file():
            raise DataNotFoundError(f"architecture file not found: {p}")
        if p.suffix.lower() == ".json":
            doc = json.loads(p.read_text())
        else:
            import tomllib

            doc = tomllib.loads(p.read_text())
        doc = doc.get("architecture", doc) if isinstance(doc, dict) else doc
        m, kind = architecture_module(doc)
        return m, kind, dict(doc)
    if isinstance(spec, str):
        from privcausal.user_code import load_callable

        spec = load_callable(spec, "--architecture")
    if callable(spec):
        module = spec()
        import torch

        if not isinstance(module, torch.nn.Module):
            raise DataTypeError("the architecture function must return a torch.nn.Module")
        return module, "auto", None
    raise DataTypeError("an architecture is a mapping, a .toml / .json file, MODULE:FUNCTION or a "
                        "function returning a torch module")


def _torch_target(module: Any, task: str, outputs: str, declared: str, name: str,
                  feature_names: Sequence[str] | None, recipe: Any) -> Target:
    from attacks.targets.adapters import TorchTarget

    kind = outputs if outputs != "auto" else ("auto" if declared == "auto" else declared)
    return TorchTarget(module.float() if hasattr(module, "float") else module, _LOSS[task],
                       feature_names=feature_names, recipe=recipe, outputs=kind,
                       description=name)


def _arch_for_recipe(spec: Mapping[str, Any] | None) -> Any:
    if spec is None:
        return None
    if str(spec.get("output", "logits")) not in ("logits", "sigmoid") or int(spec.get("output_dim", 1)) != 1:
        return None  # privcausal's trainers train networks with one output
    # a final sigmoid trained with BCELoss is the same training as its logits with
    # BCEWithLogitsLoss: the reference models are logit networks, queried as logits
    from privcausal.training.models import Architecture

    return Architecture(str(spec["kind"]), int(spec["input_dim"]), tuple(spec.get("hidden", ())),
                        str(spec.get("activation", "relu")), 1, bool(spec.get("bias", True))).to_dict()


def load_model(path: str | Path, *, task: str | None = None, outputs: str = "auto",
               architecture: Any = None, trust_pickle: bool = False,
               trusted_types: Sequence[str] = (), delta: float | None = None,
               max_grad_norm: float | None = None, feature_names: Sequence[str] | None = None,
               recipe: Any = None) -> LoadedModel:
    """Read a model file of any supported format (see :mod:`attacks.targets.formats`).

    Parameters
    ----------
    path : the file (or a privcausal model folder)
    task : "binary", "multiclass" or "regression" (default: from the model where it says,
        else "binary")
    outputs : what a torch / ONNX model returns (:mod:`attacks.targets.outputs`)
    architecture : for a torch state_dict or opacus checkpoint: a spec mapping, a TOML / JSON
        file, ``MODULE:FUNCTION`` or a function building the module
    trust_pickle : read pickle-based files (joblib, whole-model ``torch.save``): only for files
        the user made
    trusted_types : skops types to trust beyond skops' defaults
    delta : the delta of an opacus training (opacus' epsilon depends on it)
    max_grad_norm : the clipping norm of an opacus training (opacus does not save it)
    feature_names : the model's input columns, when the file does not name them
    recipe : how to train reference models (overrides what the file implies)
    """
    p = Path(path)
    fmt = detect_format(p)
    if task is not None and task not in TASKS:
        raise DataValidationError(f"task must be one of {TASKS}, got {task!r}")
    name = p.name
    if fmt == "csv":
        from attacks.targets.score_file import ScoreTarget

        return LoadedModel(ScoreTarget.from_csv(p, task=task or "binary"), "score-csv")
    if fmt == "folder":
        from attacks.targets.model_file import target_from_model_file

        t = target_from_model_file(p, **({} if recipe is None else {"recipe": recipe}))
        rc = getattr(t.model, "receipt", None)
        return LoadedModel(t, "privcausal", getattr(rc, "epsilon", None), getattr(rc, "delta", None),
                           "the model's receipt" if rc is not None else None)
    if fmt == "onnx":
        from attacks.targets.onnx_target import OnnxTarget

        return LoadedModel(OnnxTarget(p, task=task or "binary", outputs=outputs,
                                      feature_names=feature_names, recipe=recipe), "onnx")
    if fmt in ("skops", "pickle"):
        est = read_skops_file(p, trusted_types) if fmt == "skops" else read_pickle_file(p, trust_pickle)
        return _estimator_model(est, "skops" if fmt == "skops" else "sklearn-pickle", name, task,
                                outputs, feature_names, recipe)
    task = task or "binary"
    if fmt == "torchscript":
        import warnings

        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # still the format users save
            module = torch.jit.load(str(p), map_location="cpu")
        return LoadedModel(_torch_target(module, task, outputs, "auto", f"TorchScript model {name}",
                                         feature_names, recipe), "torchscript")
    obj = read_torch_file(p, trust_pickle)
    import torch

    if isinstance(obj, torch.nn.Module):
        return LoadedModel(_torch_target(obj, task, outputs, "auto", f"torch model {name}",
                                         feature_names, recipe), "torch-pickle",
                           notes=["read with pickle (--trust-pickle)"])
    if not isinstance(obj, Mapping):
        raise DataTypeError(f"{name} holds a {type(obj).__name__}, not a model: readable formats: "
                            f"{SAFE_FORMATS}")
    ckpt = is_opacus_checkpoint(obj)
    state = obj["module_state_dict"] if ckpt else obj
    if not isinstance(state, Mapping) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataTypeError(f"{name} holds no tensors: readable formats: {SAFE_FORMATS}")
    if architecture is None:
        raise DataValidationError(
            f"{name} is a torch state_dict: it holds weights, not the network. Name its architecture "
            "(architecture= a spec or MODULE:FUNCTION; --architecture SPEC.toml or MODULE:FUNCTION)")
    module, declared, spec = read_architecture(architecture)
    load_state_dict_by_position(module, strip_wrappers(state), name)
    lm = LoadedModel(None, "opacus-checkpoint" if ckpt else "torch-state-dict")  # type: ignore[arg-type]
    rec = recipe
    if ckpt:
        if delta is None:
            raise DataValidationError(f"{name} is an opacus checkpoint: give the delta of the training "
                                      "(--delta): opacus' epsilon depends on it and the file does not "
                                      "hold it")
        acc = read_opacus_checkpoint(obj, delta, max_grad_norm=max_grad_norm)
        lm.opacus, lm.epsilon, lm.delta = acc, acc.epsilon_opacus, acc.delta
        lm.claim_source = f"the opacus checkpoint ({acc.mechanism} accountant, at the delta given)"
        lm.notes.extend(acc.notes)
        arch = _arch_for_recipe(spec)
        if task == "multiclass":
            arch = None
        if rec is None and arch is not None:
            rec = acc.recipe(arch, loss=_LOSS[task], max_grad_norm=max_grad_norm)
        elif rec is None:
            lm.notes.append("the architecture is not one privcausal's trainer builds (a function, or "
                            "an output layer): reference models need a recipe (--recipe)")
    lm.target = _torch_target(module, task, outputs, declared, f"torch model {name}", feature_names, rec)
    return lm


def _estimator_model(est: Any, fmt: str, name: str, task: str | None, outputs: str,
                     feature_names: Sequence[str] | None, recipe: Any) -> LoadedModel:
    import torch

    if isinstance(est, torch.nn.Module):
        return LoadedModel(_torch_target(est, task or "binary", outputs, "auto", f"torch model {name}",
                                         feature_names, recipe), fmt)
    from attacks.targets.adapters import SklearnTarget

    if not (hasattr(est, "predict_proba") or hasattr(est, "predict")):
        raise DataTypeError(f"{name} holds a {type(est).__name__}, not a fitted model")
    t = SklearnTarget(est, feature_names=feature_names, recipe=recipe,
                      description=f"scikit-learn {type(est).__name__} ({name})")
    if task is not None and task != t.task:
        raise DataValidationError(f"{name}: the estimator is a {t.task} model, not {task}")
    return LoadedModel(t, fmt)

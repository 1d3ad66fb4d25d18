"""The options that name a released model and its records, shared by ``audit model`` and
``attack membership`` (one parser helper, one reader)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_model_options", "model_kwargs", "read_model_recipe", "MODEL_FORMATS_HELP",
           "OUTPUT_KINDS"]

#: attacks.targets.outputs.OUTPUT_KINDS (kept here so building the parser imports nothing)
OUTPUT_KINDS = ("auto", "logits", "probabilities", "log-probabilities")

MODEL_FORMATS_HELP = """\
--model takes: a TorchScript file (torch.jit.save), an ONNX file (.onnx), a torch state_dict
or an opacus checkpoint (PrivacyEngine.save_checkpoint: epsilon, noise, sampling rate and steps
are read from its accountant; give --delta) with --architecture, a skops file (.skops), a
privcausal model folder (fit --save) or a CSV of per-record scores. Pickle files (joblib, a
whole torch.save(model)) can run code when loaded and are refused unless --trust-pickle (only
for files you made). --architecture: a TOML/JSON spec (kind = "mlp", input_dim = 30,
hidden = [16], activation = "relu", output = "logits" | "sigmoid" | "softmax") or
MODULE:FUNCTION returning the torch module. The model's outputs (logits, probabilities,
log-probabilities) are read off its last operation, or declared with --outputs; a binary
output in [0, 1] that the structure does not explain is refused, never guessed.

CSVs of records: the label column (--label, default y/outcome/label/target), an optional id
column, and the model's inputs: by name where the model names them (scikit-learn, privcausal),
otherwise the members' other columns in their order; the non-members and population must have
the same columns (a missing or extra column is named in the error). A record listed as both a
member and a non-member is an error.

--recipe trains the reference models of lira/rmia/calibrated: MODULE:FUNCTION (or
FILE.py:FUNCTION) for a function (X, y, random_state) -> fitted model (scikit-learn or torch),
or a JSON/TOML file of DPSGDRecipe fields. Defaults: a clone of a scikit-learn model refitted
per split; an opacus checkpoint's own settings; a privcausal model's recipe. The functions named
by --architecture and --recipe are imported and RUN WITH YOUR RIGHTS.
"""


def add_model_options(p: argparse.ArgumentParser, *, epsilon: bool = True) -> None:
    """--model and the options that say how to read it and its records."""
    p.add_argument("--model", required=True, help="model file or folder (formats below)")
    p.add_argument("--members", required=True, help="CSV of records the model trained on")
    p.add_argument("--nonmembers", required=True, help="CSV of records it did not train on")
    p.add_argument("--population", help="CSV of the attacker's records (rmia, offline attacks)")
    p.add_argument("--label", help="the label column (default: y, outcome, label or target)")
    p.add_argument("--task", choices=("binary", "multiclass", "regression"), default=None,
                   help="what the model predicts (default: the model's, else from the labels)")
    p.add_argument("--outputs", choices=OUTPUT_KINDS, default="auto",
                   help="what a torch/ONNX model returns (default: read off its last operation)")
    p.add_argument("--architecture", help="for a state_dict/opacus checkpoint: SPEC.toml|json or "
                                          "MODULE:FUNCTION")
    p.add_argument("--recipe", help="reference models: MODULE:FUNCTION (X, y, random_state) -> "
                                    "model, or a JSON/TOML file of DPSGDRecipe fields")
    p.add_argument("--reference-models", type=int, default=8, help="reference models (default 8)")
    if epsilon:
        p.add_argument("--epsilon", type=float, default=None,
                       help="the claimed epsilon (default: the model file's receipt or checkpoint)")
    p.add_argument("--delta", type=float, default=None,
                   help="the claim's delta (default: the receipt's; needed for opacus checkpoints)")
    p.add_argument("--max-grad-norm", type=float, default=None,
                   help="an opacus training's clipping norm (opacus does not save it)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="read pickle-based files (joblib, torch.save(model)): only files you made")
    p.add_argument("--trust-types", default="",
                   help="comma-separated skops types to trust beyond skops' and scikit-learn's")


def read_model_recipe(spec: str | None) -> Any:
    """A recipe from --recipe: a JSON/TOML file of DPSGDRecipe fields, or MODULE:FUNCTION."""
    if not spec:
        return None
    if Path(spec).suffix.lower() in (".json", ".toml"):
        from privcausal.cli._common import read_recipe

        return read_recipe(spec)
    from privcausal.user_code import load_callable

    return load_callable(spec, "--recipe")


def model_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`audits.models.audit.prepare_model` from the options."""
    return dict(label=args.label, task=args.task, outputs=args.outputs,
                architecture=args.architecture, trust_pickle=args.trust_pickle,
                trusted_types=tuple(t.strip() for t in (args.trust_types or "").split(",") if t.strip()),
                delta=args.delta, max_grad_norm=args.max_grad_norm,
                recipe=read_model_recipe(args.recipe))

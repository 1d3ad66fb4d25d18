"""Audit a released model in one call: :func:`audit_model`.

The model is any file :func:`attacks.targets.load_model` reads (TorchScript, ONNX, a torch
state_dict or opacus checkpoint with its architecture, skops, a privcausal model folder, a
score CSV) or an object (a scikit-learn estimator, a torch module, a
:class:`~attacks.targets.Target`). The audit:

1. reads the claim: ``epsilon`` given, else the file's (a privcausal receipt; an opacus
   checkpoint's accountant, with privcausal's PLD figure for the same run beside it);
2. aligns the members', non-members' and population's columns (:mod:`audits.models.frames`);
3. runs the membership attack (reference models for LiRA / RMIA from the recipe: the user's
   function, a scikit-learn clone, the opacus checkpoint's settings or privcausal's recipe);
4. certifies a lower bound on epsilon from the scores (:func:`audit_membership_scores`).

The result is the audit contract (:class:`audits.result.Audit`), with the attack's AUC and TPR
at low FPR, what the claim allows at those FPRs (:mod:`audits.models.interpret`), how the
model's outputs were read, and the notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from audits.models.frames import infer_task, prepare_frames
from audits.models.interpret import attacker_terms
from audits.models.scores import audit_membership_scores
from audits.result import Audit
from privcausal.exceptions import DataValidationError, PrivCausalError

__all__ = ["audit_model", "prepare_model", "PreparedModel", "describe_recipe", "MODEL_ATTACKS",
           "MODEL_BOUNDS"]

MODEL_ATTACKS = ("auto", "loss", "calibrated", "lira", "rmia", "lira-offline", "rmia-offline")
MODEL_BOUNDS = ("one-run", "fdp-one-run", "clopper-pearson", "gdp")


def _joblib_map(n_jobs: int | None) -> Any:
    if not n_jobs or n_jobs == 1:
        return None

    def run(fn: Any, jobs: list[tuple[Any, ...]]) -> list[Any]:
        from joblib import Parallel, delayed

        return Parallel(n_jobs=n_jobs)(delayed(fn)(*j) for j in jobs)
    return run


def _target(model: Any, *, task: str | None, outputs: str, architecture: Any, trust_pickle: bool,
            trusted_types: Sequence[str], delta: float | None, max_grad_norm: float | None,
            recipe: Any, labels: tuple[Any, ...]) -> Any:
    from attacks.targets import LoadedModel, Target, as_target, load_model
    from attacks.targets.formats import detect_format

    if isinstance(model, (str, Path)):
        fmt = detect_format(model)
        known = fmt in ("folder", "skops") or (fmt == "pickle" and trust_pickle)
        t = task if task is not None or known else infer_task(*labels)
        return load_model(model, task=t, outputs=outputs, architecture=architecture,
                          trust_pickle=trust_pickle, trusted_types=trusted_types, delta=delta,
                          max_grad_norm=max_grad_norm, recipe=recipe)
    if isinstance(model, Target):
        return LoadedModel(model, "Python object")
    try:
        import torch

        if isinstance(model, torch.nn.Module):
            from attacks.targets import TorchTarget
            from attacks.targets.base import LOSS_OF_TASK

            t = task or infer_task(*labels)
            return LoadedModel(TorchTarget(model, LOSS_OF_TASK[t], outputs=outputs, recipe=recipe), "torch module")
    except ImportError:  # pragma: no cover
        pass
    kw = {} if recipe is None else {"recipe": recipe}
    return LoadedModel(as_target(model, **kw), "Python object")


@dataclass
class PreparedModel:
    """A loaded model and its audited records, aligned (:func:`prepare_model`)."""

    loaded: Any
    target: Any
    members: Any
    nonmembers: Any
    population: Any
    n_inputs: int | None
    notes: list[str] = field(default_factory=list)


def describe_recipe(recipe: Any) -> str | None:
    """A recipe in words (a function by its qualified name)."""
    if recipe is None:
        return None
    if hasattr(recipe, "to_dict"):
        d = recipe.to_dict()
        return "DPSGDRecipe(" + ", ".join(f"{k}={v}" for k, v in d.items() if v is not None) + ")"
    if callable(recipe) and hasattr(recipe, "__qualname__"):
        return f"{getattr(recipe, '__module__', '?')}:{recipe.__qualname__}"
    return str(recipe)


def prepare_model(model: Any, members: Any, nonmembers: Any, population: Any = None, *,
                  label: str | None = None, task: str | None = None, outputs: str = "auto",
                  architecture: Any = None, trust_pickle: bool = False,
                  trusted_types: Sequence[str] = (), delta: float | None = None,
                  max_grad_norm: float | None = None, recipe: Any = None) -> PreparedModel:
    """Load the model and align the records to its inputs (see :func:`audit_model`)."""
    from attacks.targets import ReleasedModelTarget, ScoreTarget, SklearnTarget

    score_file = isinstance(model, (str, Path)) and str(model).lower().endswith((".csv", ".csv.gz"))
    m0, n0, p0, _ = prepare_frames(members, nonmembers, population, label=label,
                                   model_names_inputs=True, unlabelled=score_file)
    labelled = "y" in m0.columns and "y" in n0.columns
    lm = _target(model, task=task or ("binary" if score_file and not labelled else None),
                 outputs=outputs, architecture=architecture,
                 trust_pickle=trust_pickle, trusted_types=trusted_types, delta=delta,
                 max_grad_norm=max_grad_norm, recipe=recipe,
                 labels=(m0["y"], n0["y"]) if labelled else ())
    t = lm.target
    names_inputs = isinstance(t, (ReleasedModelTarget, ScoreTarget)) or (
        isinstance(t, SklearnTarget) and t.feature_names is not None)
    if not labelled:
        return PreparedModel(lm, t, m0, n0, p0, None, list(lm.notes))
    m, n, p, cols = prepare_frames(m0, n0, p0, label="y", model_names_inputs=names_inputs)
    notes = list(lm.notes)
    if not names_inputs and t.feature_names is None:
        if t.n_features is not None and len(cols) != t.n_features:
            raise DataValidationError(
                f"the members have {len(cols)} feature columns, {t.description} takes "
                f"{t.n_features} inputs: give the model's input columns (and the label, an "
                "'id' column, nothing else)")
        t.feature_names = tuple(cols)
        notes.append(f"the model does not name its inputs: the members' {len(cols)} columns, "
                     "in their order, are its inputs")
    return PreparedModel(lm, t, m, n, p, len(cols) if not names_inputs else t.n_features, notes)


def audit_model(model: Any, members: Any, nonmembers: Any, population: Any = None, *,
                label: str | None = None, task: str | None = None, outputs: str = "auto",
                attack: str = "auto", reference_models: int = 8, recipe: Any = None,
                architecture: Any = None, epsilon: float | None = None, delta: float | None = None,
                max_grad_norm: float | None = None, bound: str = "one-run", alpha: float = 0.05,
                trust_pickle: bool = False, trusted_types: Sequence[str] = (),
                n_jobs: int | None = None, random_state: Any = None, progress: bool = False) -> Audit:
    """Audit a released model with a membership attack on records known to be members or not.

    Parameters
    ----------
    model : a model file or folder (see the module docstring) or a fitted model object
    members, nonmembers : DataFrames or CSV paths: records the model trained on / did not.
        For a certified bound the audited records should be a random split (each a member with
        probability 1/2): the bound's assumption, which the scores cannot test
    population : the attacker's records from the same distribution (RMIA, offline attacks)
    label : the label column (default: ``y``, ``outcome``, ``label`` or ``target``)
    task : "binary", "multiclass" or "regression" (default: the model's, else from the labels)
    outputs : "auto", "logits", "probabilities", "log-probabilities": what a torch / ONNX model
        returns (:mod:`attacks.targets.outputs`)
    attack : one of :data:`MODEL_ATTACKS`; "auto": LiRA where the reference models' recipe is
        known (given, or implied by the model), else the loss attack (the notes say which)
    reference_models : K, for the reference-model attacks
    recipe : how to train the reference models: a function ``(X, y, random_state) -> model``,
        a :class:`~privcausal.training.DPSGDRecipe` or its mapping (default: what the model
        implies: a scikit-learn clone, the opacus checkpoint's run, privcausal's recipe)
    architecture : for a torch state_dict / opacus checkpoint (a spec, a TOML / JSON file,
        ``MODULE:FUNCTION``)
    epsilon, delta : the claim (default: the model file's; delta must be given for opacus)
    max_grad_norm : an opacus training's clipping norm (opacus does not save it)
    bound : one of :data:`MODEL_BOUNDS`
    alpha : 1 - confidence of the certified bound
    trust_pickle, trusted_types : read pickle files / extra skops types (files you made)
    n_jobs : parallel fits of a function recipe (joblib)
    random_state : seeds the reference models and their splits (attacker-side randomness)
    progress : progress bars

    Returns
    -------
    :class:`audits.result.Audit` (``kind`` "model"): ``epsilon_lower`` is certified; ``details``
    has ``model``, ``claim``, ``attack_metrics``, ``attacker_terms``, ``opacus`` (for a
    checkpoint) and ``notes``.
    """
    from attacks.membership import membership_attacks

    if attack not in MODEL_ATTACKS:
        raise DataValidationError(f"unknown attack {attack!r}; choose from {MODEL_ATTACKS}")
    if bound not in MODEL_BOUNDS:
        raise DataValidationError(f"unknown bound {bound!r}; choose from {MODEL_BOUNDS}")
    prep = prepare_model(model, members, nonmembers, population, label=label, task=task,
                         outputs=outputs, architecture=architecture, trust_pickle=trust_pickle,
                         trusted_types=trusted_types, delta=delta, max_grad_norm=max_grad_norm,
                         recipe=recipe)
    lm, t, m, n, p, notes = prep.loaded, prep.target, prep.members, prep.nonmembers, \
        prep.population, prep.notes
    eps = epsilon if epsilon is not None else lm.epsilon
    if eps is None:
        raise PrivCausalError(f"{t.description} states no privacy claim: give the claimed epsilon "
                              "(--epsilon)")
    if epsilon is not None and lm.epsilon is not None and abs(float(epsilon) - float(lm.epsilon)) > 1e-9:
        notes.append(f"the claim audited is the epsilon given ({float(epsilon):g}); the file states "
                     f"{float(lm.epsilon):.4g} ({lm.claim_source})")
    d = delta if delta is not None else (lm.delta if lm.delta is not None else 0.0)
    knows = recipe is not None or t.recipe is not None or getattr(t, "trains_own_references", False)
    if attack == "auto":
        attack = "lira" if knows else "loss"
        notes.append(f"attack: {attack} (chosen: "
                     + ("the reference models' recipe is known)" if attack == "lira" else
                        "no recipe for reference models is known; give one for LiRA or RMIA)"))
    if attack != "loss" and not knows:
        raise PrivCausalError(
            f"the {attack} attack trains reference models like the target, and how "
            f"{t.description} was trained is unknown: give a recipe (a function (X, y, "
            "random_state) -> model; --recipe MODULE:FUNCTION), or use the loss attack")
    res = membership_attacks(t, m, n, p, attacks=(attack,), n_reference=reference_models,
                             recipe=recipe, random_state=random_state, progress=progress,
                             map_fn=_joblib_map(n_jobs))[attack]
    labels = np.asarray(res.labels).astype(int)
    metrics = {"auc": res.auc, "tpr_at_fpr": {k: v for k, v in res.to_dict(subgroups=False)
                                              .get("tpr_at_fpr", {}).items()},
               "n_reference": res.n_reference}
    model_info = {"format": lm.format, "description": t.description, "task": t.task,
                  "outputs": getattr(t, "output_kind", None),
                  "outputs_read_from": getattr(t, "output_kind_source", None),
                  "inputs": prep.n_inputs, "recipe": describe_recipe(recipe or t.recipe)}
    claim = {"epsilon": float(eps), "delta": float(d),
             "source": "given" if epsilon is not None else lm.claim_source}
    details: dict[str, Any] = {"model": model_info, "claim": claim, "attack_metrics": metrics,
                               "attacker_terms": attacker_terms(float(eps), float(d), res),
                               "notes": notes + list(res.notes)}
    if lm.opacus is not None:
        details["opacus"] = lm.opacus.to_dict()
    return audit_membership_scores(np.asarray(res.scores, dtype=np.float64), labels,
                                   epsilon=float(eps), delta=float(d), alpha=alpha, bound=bound,
                                   attack=attack, details=details)

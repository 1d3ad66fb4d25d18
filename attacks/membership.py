"""Membership inference: which records did a model train on?

Attacks (member = 1, higher score = more likely member):

==================== ===================================================================
``loss``             Yeom et al.: score = -loss(x, y)
``calibrated``       Watson et al.: score = stat(x) - median over OUT reference models of
                     stat(x), with stat = -loss
``lira``             Carlini et al., online: IN and OUT Gaussians per record
``lira-fixed``       online, one global variance per side
``lira-offline``     one-sided test against the OUT Gaussian
``lira-offline-fixed`` offline, one global OUT variance
``rmia``             Zarifzadeh et al., online: P(x) over all reference models
``rmia-offline``     offline: P(x) = ((1 + a) P_OUT(x) + (1 - a)) / 2, a tuned on a
                     reference model
==================== ===================================================================

LiRA's statistic is the logit-scaled confidence for classifiers; for regression outputs the
signed residual y - f(x) (online) and -|y - f(x)| (offline: a member's prediction lies
closer to its outcome). RMIA's P(x | theta) is the probability of the true label; for
regression the Gaussian likelihood of the residual with the scale of the reference models'
root-mean-square residual on the population.

Reference models (:mod:`attacks.shadow`) follow the target's recipe. Online attacks train
them on random halves of the candidate records (members and non-members: LiRA's setting,
``online_pool="candidates"``) or of candidates and population (``"all"``), with a balanced
inclusion mask; offline attacks on random halves of the population only, so no reference
model saw a candidate. ``calibrated`` uses offline models when they are trained, else the OUT
models of the online ones. Offline RMIA with one reference model trains one more model to
tune ``a`` on (the privacy meter does the same); the attack itself uses one.

References
----------
.. [1] Yeom, Giacomelli, Fredrikson, Jha, CSF 2018.
.. [2] Watson, Guo, Cormode, Sablayrolles, "On the importance of difficulty calibration in
   membership inference attacks", ICLR 2022.
.. [3] Carlini et al., "Membership inference attacks from first principles", IEEE S&P 2022.
.. [4] Zarifzadeh, Liu, Shokri, "Low-cost high-power membership inference attacks", ICML 2024.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from attacks._arrays import check_reference, check_target_stat
from attacks.lira import lira_offline, lira_online
from attacks.metrics import DEFAULT_FPRS
from attacks.records import Records, check_disjoint
from attacks.results import MembershipResult, result_from_scores
from attacks.rmia import rmia_scores, tune_offline_a
from attacks.shadow import ReferenceModels, train_reference_models
from privcausal.training.recipe import DPSGDRecipe
from attacks.targets import Target, as_target
from privcausal.exceptions import DataValidationError
from privcausal.validation import check_random_state

__all__ = ["ATTACKS", "ONLINE_ATTACKS", "loss_scores", "calibrated_scores", "membership_attack",
           "membership_attacks"]

ATTACKS = ("loss", "calibrated", "lira", "lira-fixed", "lira-offline", "lira-offline-fixed", "rmia",
           "rmia-offline")
ONLINE_ATTACKS = ("lira", "lira-fixed", "rmia")


def loss_scores(target_loss: Any) -> np.ndarray:
    """Yeom et al.'s loss threshold: score = -loss."""
    return -check_target_stat(target_loss, "target loss")


def calibrated_scores(target_stat: Any, ref_stats: Any, ref_in: Any = None) -> np.ndarray:
    """Watson et al.'s difficulty calibration: stat(x) - median of stat(x) over the reference
    models that did not train on x (``ref_in`` False; None = all). Use stat = -loss."""
    s = check_target_stat(target_stat)
    r, m = check_reference(ref_stats, ref_in, s.size)
    out = np.where(m, np.nan, r)
    bad = int(np.sum(np.all(m, axis=0)))
    if bad:
        raise DataValidationError(f"{bad} records are OUT of no reference model: calibration "
                                  "needs at least one reference model that did not train on each")
    return s - np.nanmedian(out, axis=0)


def _stat_names(task: str) -> dict[str, str]:
    if task == "regression":
        return {"loss": "loss", "lira": "residual", "lira-offline": "neg_abs_error", "rmia": "confidence"}
    return {"loss": "loss", "lira": "logit", "lira-offline": "logit", "rmia": "confidence"}


def _recipe(target: Target, recipe: Any) -> Any:
    from attacks.model_recipes import is_model_recipe

    for r in (recipe, target.recipe):
        if r is not None:
            if isinstance(r, DPSGDRecipe) or is_model_recipe(r):
                return r
            return DPSGDRecipe.from_config(r)
    raise DataValidationError(
        "reference models must be trained like the target, and the target's recipe is unknown: "
        "give recipe=DPSGDRecipe(...) (architecture, epochs, batch size, noise) or a function "
        "(X, y, random_state) -> model (on the command line --recipe MODULE:FUNCTION)")


class _Refs:
    """Statistics of one set of reference models on the candidates and the population."""

    def __init__(self, refs: ReferenceModels, cand: Records, pop: Records | None, in_c: np.ndarray,
                 in_z: np.ndarray | None, use: int, progress: bool) -> None:
        self.refs, self.cand, self.pop, self.use, self.progress = refs, cand, pop, use, progress
        self.in_c, self.in_z = in_c, in_z
        if hasattr(refs, "outputs_records"):  # per-arm learners: each record on its own arm
            self.out_c = refs.outputs_records(cand, progress=progress)
            self.out_z = None if pop is None else refs.outputs_records(pop, progress=progress)
        else:
            self.out_c = refs.outputs(cand.X, progress=progress)
            self.out_z = None if pop is None else refs.outputs(pop.X, progress=progress)

    def stat(self, name: str, on: str = "c", scale: float = 1.0, models: slice | None = None) -> np.ndarray:
        from attacks.targets import statistic_from_outputs

        out, rec = (self.out_c, self.cand) if on == "c" else (self.out_z, self.pop)
        sl = models if models is not None else slice(0, self.use)
        return statistic_from_outputs(out[sl], rec.y, self.refs.task, name, scale=scale)


def membership_attacks(
    target: Any,
    members: Any,
    non_members: Any,
    population: Any = None,
    *,
    attacks: Sequence[str] = ("loss", "lira"),
    n_reference: int = 16,
    recipe: Any = None,
    online_pool: str = "candidates",
    gamma: float = 1.0,
    offline_a: float | None = None,
    subgroups: bool = True,
    groups: Mapping[str, Any] | None = None,
    fprs: Sequence[float] = DEFAULT_FPRS,
    random_state: Any = None,
    progress: bool = False,
    references: Mapping[str, ReferenceModels] | None = None,
    map_fn: Any = None,
) -> dict[str, MembershipResult]:
    """Run several membership attacks on one target, sharing the reference models.

    Parameters
    ----------
    target : anything :func:`attacks.targets.as_target` accepts
    members, non_members : records the target did / did not train on (CausalData, frame,
        ``(X, y)``); listing a record in both raises
    population : attacker's records from the same distribution, disjoint from the target's
        training set (offline reference models, RMIA's z); needed by offline attacks and RMIA
    attacks : names from :data:`ATTACKS`
    n_reference : reference models per setting (online, offline)
    recipe : how to train them (default: the target's recipe, when it is known): a
        :class:`~privcausal.training.DPSGDRecipe`, its mapping, or a function
        ``(X, y, random_state) -> fitted model`` (:mod:`attacks.model_recipes`)
    online_pool : "candidates" or "all" (candidates and population)
    gamma : RMIA's likelihood-ratio threshold
    offline_a : RMIA's offline a (default: tuned on a reference model)
    subgroups : per-subgroup metrics for the records' groups (treatment arm, categories)
    groups : extra subgroup labels, name -> (n_members + n_non_members,) array
    random_state : seeds the reference models (attacker-side randomness)
    progress : tqdm bars over reference-model training and scoring
    references : already trained reference models to reuse, ``{"online": ..., "offline": ...}``
        (from :func:`attacks.shadow.train_reference_models` on the same pool: the candidates,
        members first [+ population] for online, the population for offline). Offline
        attacks use the first ``n_reference`` offline models (and the next one, if present,
        to tune RMIA's a); missing sets are trained.
    map_fn : ``map_fn(fn, jobs)`` to run a model recipe's fits (e.g. a joblib pool)

    Returns
    -------
    dict attack name -> :class:`~attacks.results.MembershipResult`
    """
    bad = [a for a in attacks if a not in ATTACKS]
    if bad or not attacks:
        raise DataValidationError(f"unknown attacks {bad}; choose from {ATTACKS}")
    if online_pool not in ("candidates", "all"):
        raise DataValidationError("online_pool must be 'candidates' or 'all'")
    t = as_target(target)
    rm, rn = t.records(members), t.records(non_members)
    check_disjoint(rm, rn)
    cand = Records.concat([rm, rn])
    labels = np.r_[np.ones(rm.n, np.int8), np.zeros(rn.n, np.int8)]
    grp = dict(cand.groups) if subgroups else {}
    if groups:
        grp.update({k: np.asarray(v, dtype=object) for k, v in groups.items()})
    names = _stat_names(t.task)
    K = int(n_reference)
    need_ref = [a for a in attacks if a != "loss"]
    notes: list[str] = []
    online = [a for a in attacks if a in ONLINE_ATTACKS]
    offline = [a for a in attacks if a in ("lira-offline", "lira-offline-fixed", "rmia-offline")]
    if "calibrated" in attacks and not online and not offline:
        offline.append("calibrated")
    pop = None
    if population is not None:
        pop = t.records(population)
    if (offline or "rmia" in attacks) and pop is None:
        raise DataValidationError("offline attacks and RMIA need population records (the "
                                  "attacker's data from the same distribution)")
    refs = dict(references or {})
    if need_ref:
        if K < 1:
            raise DataValidationError("reference-model attacks need n_reference >= 1")
        for r in (cand, pop):
            if r is not None and (r.X is None or r.y is None):
                raise DataValidationError("reference models train on features and outcomes; the "
                                          "records lack them")
        want_off = K + (1 if ("rmia-offline" in attacks and K == 1 and offline_a is None) else 0)
        todo = [s for s, need, k in (("online", online, K), ("offline", offline, want_off))
                if need and (s not in refs or refs[s].n_models < k)]
        own = recipe is None and getattr(t, "trains_own_references", False)
        if todo and own:  # per-arm learners: reference learners trained like the target
            rng = check_random_state(random_state)
            for setting in todo:
                if setting == "online":
                    pool = cand if online_pool == "candidates" or pop is None else Records.concat([cand, pop])
                    refs["online"] = t.train_references(pool, K, "balanced", random_state=rng,
                                                        progress=progress)
                else:
                    refs["offline"] = t.train_references(pop, want_off, "halves", random_state=rng,
                                                         progress=progress)
            todo = []
        if todo:
            rec = _recipe(t, recipe)
            rng = check_random_state(random_state)
            fkw = dict(task=t.task, outputs=getattr(t, "declared_outputs", "auto"), map_fn=map_fn)
            for setting in todo:
                if setting == "online":
                    pool = cand if online_pool == "candidates" or pop is None else Records.concat([cand, pop])
                    refs["online"] = train_reference_models(pool.X, pool.y, K, rec, inclusion="balanced",
                                                            random_state=rng, progress=progress, **fkw)
                else:
                    refs["offline"] = train_reference_models(pop.X, pop.y, want_off, rec, inclusion="halves",
                                                             random_state=rng, progress=progress, **fkw)
    on_set = off_set = None
    if online:
        r = refs["online"]
        if r.n_models != K:
            raise DataValidationError(f"online attacks need a balanced set of exactly n_reference={K} "
                                      f"models; the given online references hold {r.n_models}")
        if r.inclusion.shape[1] not in (cand.n, cand.n + (0 if pop is None else pop.n)):
            raise DataValidationError("the online reference models were trained on another pool")
        in_z = r.inclusion[:, cand.n:] if r.inclusion.shape[1] > cand.n else (
            None if pop is None else np.zeros((K, pop.n), bool))
        on_set = _Refs(r, cand, pop, r.inclusion[:, :cand.n], in_z, K, progress)
        notes.append(_size_note(r, rm.n))
        notes.extend(n for n in getattr(r, "notes", ()) if n not in notes)
    if offline:
        r = refs["offline"]
        if r.inclusion.shape[1] != pop.n:
            raise DataValidationError("the offline reference models were trained on another population")
        off_set = _Refs(r, cand, pop, np.zeros((r.n_models, cand.n), bool), r.inclusion, K, progress)
        notes.append(_size_note(r, rm.n))
        notes.extend(n for n in getattr(r, "notes", ()) if n not in notes)
    results: dict[str, MembershipResult] = {}
    for a in attacks:
        details: dict[str, Any] = {}
        n_ref = 0 if a == "loss" else K
        if a == "loss":
            s = loss_scores(t.statistic(cand, "loss"))
            details["statistic"] = "loss"
        elif a == "calibrated":
            S = off_set if off_set is not None else on_set
            s = calibrated_scores(-t.statistic(cand, "loss"), -S.stat("loss"), S.in_c[:K])
            details["statistic"] = "-loss"
        elif a in ("lira", "lira-fixed"):
            name = names["lira"]
            s = lira_online(t.statistic(cand, name), on_set.stat(name), on_set.in_c,
                            fixed_variance=a.endswith("fixed"))
            details["statistic"] = name
        elif a in ("lira-offline", "lira-offline-fixed"):
            name = names["lira-offline"]
            s = lira_offline(t.statistic(cand, name), off_set.stat(name), None,
                             fixed_variance=a.endswith("fixed"))
            details["statistic"] = name
        else:
            S = on_set if a == "rmia" else off_set
            s, d = _rmia(t, S, cand, pop, a, K, gamma, offline_a)
            details.update(d)
        results[a] = result_from_scores(a, labels, s, groups=grp, fprs=fprs, n_reference=n_ref,
                                        notes=[n for n in notes if n] if a != "loss" else [],
                                        details=details)
    return results


def _size_note(refs: ReferenceModels, n_members: int) -> str:
    m = float(refs.inclusion.sum(1).mean())
    if abs(m - n_members) > 0.25 * n_members:
        return (f"recipe mismatch: reference models train on about {m:.0f} records each, the target "
                f"on {n_members} (the members); overfitting differs with the training-set size")
    return ""


def _rmia(t: Target, S: _Refs, cand: Records, pop: Records, attack: str, K: int, gamma: float,
          offline_a: float | None) -> tuple[np.ndarray, dict[str, Any]]:
    scale = 1.0
    details: dict[str, Any] = {"statistic": "confidence", "gamma": gamma, "n_population": pop.n}
    if t.task == "regression":
        r = S.stat("residual", "z")
        scale = float(np.sqrt(np.mean(r * r)))
        details["likelihood_scale"] = scale
    px, pz = t.statistic(cand, "confidence", scale=scale), t.statistic(pop, "confidence", scale=scale)
    rx, rz = S.stat("confidence", "c", scale), S.stat("confidence", "z", scale)
    if attack == "rmia":
        return rmia_scores(px, rx, pz, rz, ref_in=S.in_c, ref_z_in=S.in_z, gamma=gamma), details
    a = offline_a
    if a is None:
        n_all = min(S.refs.n_models, K + 1)
        all_z = S.stat("confidence", "z", scale, models=slice(0, n_all))
        tuned = tune_offline_a(all_z, S.in_z[:n_all], pseudo_target=n_all - 1 if n_all > K else 0,
                               gamma=gamma)
        a = tuned.a
        details["a_tuned_on"] = (f"reference model {tuned.pseudo_target} attacked with the other "
                                 f"{n_all - 1}" + (" (an extra model, not used by the attack)"
                                                   if n_all > K else ""))
        details["a_tuning_auc"] = dict(zip(tuned.grid, tuned.auc))
    details["offline_a"] = a
    # z: population records OUT of at least one of the K models the attack uses
    zin = S.in_z[:K]
    keep = (~zin).any(0)
    return rmia_scores(px, rx, pz[keep], rz[:, keep], ref_in=None, ref_z_in=zin[:, keep],
                       offline_a=a, gamma=gamma), details


def membership_attack(target: Any, members: Any, non_members: Any, population: Any = None, *,
                      attack: str = "lira", **kwargs: Any) -> MembershipResult:
    """One attack; see :func:`membership_attacks` for the parameters."""
    return membership_attacks(target, members, non_members, population, attacks=(attack,),
                              **kwargs)[attack]

"""What an opacus checkpoint says about its training: the claim to audit, and a recipe.

``PrivacyEngine.save_checkpoint`` writes ``module_state_dict``, ``privacy_accountant_state_dict``
(``history``: a list of ``(noise_multiplier, sample_rate, steps)`` phases, and ``mechanism``:
``rdp``, ``prv`` or ``gdp``) and, when given, ``optimizer_state_dict``. From these
:func:`read_opacus_checkpoint` recovers

* the claimed epsilon at the user's delta, computed by **opacus' own accountant** of the stated
  mechanism (what the user was told), beside **privcausal's PLD accountant** for the same phases
  (tighter than RDP); the audit's ``epsilon_theory`` is opacus' figure, the claim being audited;
* the noise multiplier, sampling rate and steps, and, from the optimiser's state, the optimiser
  (SGD or Adam, told apart by its ``betas``), learning rate, momentum and weight decay;
* the clipping norm only where the file holds it (a ``max_grad_norm`` entry of the checkpoint
  dict: opacus does not save it); otherwise the reference models use the one the user gives,
  and the notes say which.

Delta is not in the file either: the user states it (opacus' epsilon depends on it).

References
----------
.. [1] Yousefpour et al., "Opacus: user-friendly differential privacy library in PyTorch",
   arXiv:2109.12298 (2021).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from privcausal.exceptions import DataValidationError

__all__ = ["OpacusAccounting", "read_opacus_checkpoint", "is_opacus_checkpoint"]


def is_opacus_checkpoint(obj: Any) -> bool:
    return isinstance(obj, Mapping) and "module_state_dict" in obj and \
        isinstance(obj.get("privacy_accountant_state_dict"), Mapping)


@dataclass(frozen=True)
class OpacusAccounting:
    """The privacy accounting and training settings read from an opacus checkpoint."""

    mechanism: str
    history: tuple[tuple[float, float, int], ...]
    delta: float
    epsilon_opacus: float
    epsilon_pld: float
    max_grad_norm: float | None
    optimizer: str | None = None
    lr: float | None = None
    momentum: float = 0.0
    weight_decay: float = 0.0
    betas: tuple[float, float] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def noise_multiplier(self) -> float:
        return self.history[-1][0]

    @property
    def sampling_rate(self) -> float:
        return self.history[-1][1]

    @property
    def steps(self) -> int:
        return int(sum(h[2] for h in self.history))

    def recipe(self, architecture: Any, *, loss: str = "bce", max_grad_norm: float | None = None) -> Any:
        """A :class:`~privcausal.training.DPSGDRecipe` that trains like the checkpoint's run
        (one phase: the last phase's sigma and q for all steps when there were several)."""
        from privcausal.training import DPSGDRecipe

        c = self.max_grad_norm if self.max_grad_norm is not None else max_grad_norm
        kw: dict[str, Any] = dict(architecture=architecture, loss=loss, noise_multiplier=self.noise_multiplier,
                                  sampling_rate=self.sampling_rate, steps=self.steps,
                                  max_grad_norm=float(c if c is not None else 1.0), delta=self.delta,
                                  optimizer=self.optimizer or "sgd", momentum=self.momentum,
                                  weight_decay=self.weight_decay)
        if self.lr is not None:
            kw["lr"] = self.lr
        if self.betas is not None:
            kw["betas"] = self.betas
        return DPSGDRecipe(**kw)

    def to_dict(self) -> dict[str, Any]:
        from privcausal.jsonnum import json_number

        return {"accountant": f"opacus {self.mechanism}", "mechanism": self.mechanism,
                "epsilon_opacus": json_number(self.epsilon_opacus),
                "epsilon_pld": json_number(self.epsilon_pld), "delta": self.delta,
                "noise_multiplier": self.noise_multiplier, "sampling_rate": self.sampling_rate,
                "steps": self.steps, "phases": [list(h) for h in self.history],
                "max_grad_norm": self.max_grad_norm, "optimizer": self.optimizer, "lr": self.lr,
                "notes": list(self.notes)}


def _pld_epsilon(history: tuple[tuple[float, float, int], ...], delta: float) -> float:
    import dp_accounting

    from privcausal.training.calibrate import dpsgd_dp_event

    acc = dp_accounting.pld.PLDAccountant()
    for sigma, q, steps in history:
        if sigma <= 0:
            return math.inf
        acc.compose(dpsgd_dp_event(sigma, q, steps))
    return float(acc.get_epsilon(delta))


def _opacus_epsilon(state: Mapping[str, Any], delta: float) -> float:
    from opacus.accountants import create_accountant

    acc = create_accountant(str(state["mechanism"]))
    acc.load_state_dict(dict(state))
    return float(acc.get_epsilon(delta=delta))


def read_opacus_checkpoint(ckpt: Mapping[str, Any], delta: float, *,
                           max_grad_norm: float | None = None) -> OpacusAccounting:
    """The accounting of an opacus checkpoint at ``delta`` (see the module docstring)."""
    from privcausal.validation import check_delta

    delta = check_delta(delta)
    if not delta > 0:
        raise DataValidationError("opacus' accountants need delta > 0: give the delta of the training")
    state = ckpt["privacy_accountant_state_dict"]
    mech = str(state.get("mechanism", ""))
    raw = state.get("history") or []
    try:
        history = tuple((float(s), float(q), int(k)) for s, q, k in raw)
    except (TypeError, ValueError):
        raise DataValidationError("the opacus checkpoint's accountant history is not a list of "
                                  "(noise_multiplier, sample_rate, steps)") from None
    if not history:
        raise DataValidationError("the opacus checkpoint records no training step")
    notes: list[str] = []
    if len({(s, q) for s, q, _ in history}) > 1:
        notes.append(f"{len(history)} phases with different noise or sampling; the reference "
                     "models train with the last phase's settings for all steps")
    c = ckpt.get("max_grad_norm")
    if c is None:
        notes.append("the checkpoint does not hold the clipping norm (opacus does not save it): "
                     + (f"the reference models use max_grad_norm={max_grad_norm:g} as given"
                        if max_grad_norm is not None else
                        "the reference models use max_grad_norm=1.0; give the training's norm"))
    opt = ckpt.get("optimizer_state_dict")
    kind = lr = betas = None
    momentum = wd = 0.0
    if isinstance(opt, Mapping) and opt.get("param_groups"):
        g = opt["param_groups"][0]
        kind = "adam" if "betas" in g else "sgd"
        lr = float(g.get("lr")) if g.get("lr") is not None else None
        momentum = float(g.get("momentum", 0.0) or 0.0)
        wd = float(g.get("weight_decay", 0.0) or 0.0)
        if "betas" in g:
            betas = (float(g["betas"][0]), float(g["betas"][1]))
    else:
        notes.append("no optimiser state in the checkpoint: the reference models use SGD at lr 0.1")
    try:
        eps_o = _opacus_epsilon(state, delta)
    except Exception as e:  # noqa: BLE001 - an accountant opacus cannot rebuild
        raise DataValidationError(f"opacus could not recompute epsilon from the checkpoint's "
                                  f"{mech!r} accountant ({type(e).__name__})") from None
    return OpacusAccounting(mech, history, delta, eps_o, _pld_epsilon(history, delta),
                            None if c is None else float(c), kind, lr, momentum, wd, betas,
                            tuple(notes))

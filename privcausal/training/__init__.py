"""DP-SGD training of small tabular networks, with PLD accounting.

* :class:`DPSGDRecipe` is every declared setting of one training (model, clipping, noise or
  target epsilon, sampling, steps, optimiser, normaliser), frozen; every trainer, the CATE
  learners, the attacks' reference models and the DP-SGD audits take it.
  :func:`plan_training` resolves it for a training set (calibration, the privacy event).
* :func:`train_dpsgd` trains one network (linear, logistic or MLP: :class:`Architecture`)
  on encoded features (a CausalData's ``data.X``, or :func:`encode`) and returns a
  :class:`TrainingResult` (model, receipt, history, recipe). Engines: opacus (hooks and
  DPOptimizer) or privcausal's hand-written per-sample gradients (the default; same maths,
  checked against opacus). ``epsilon=inf`` is the non-private twin.
* :func:`train_many` trains K independent models in one pass, each on the records its row
  of an inclusion mask allows (shadow models, audit trials with and without a canary), and
  returns their stacked parameters (:class:`StackedTraining`), optionally with per-step
  noisy gradient sums or parameters for white-box audits.
* :func:`calibrate_noise_multiplier`, :func:`dpsgd_epsilon`, :func:`dpsgd_privacy_event`:
  the accounting of ``SelfComposed(PoissonSampled(q, Gaussian(sigma)), T)`` through the
  privacy core's PLD accountant; an epsilon too small for the steps raises
  :class:`~privcausal.exceptions.InfeasiblePrivacyError` with feasible alternatives.
* Networks are rebuilt without pickle from ``Architecture.to_dict()`` and
  :func:`parameters_to_dict` with :func:`model_from_dict`.
"""

from privcausal.training.calibrate import (
    NOISE_MULTIPLIER_CAP,
    calibrate_noise_multiplier,
    dpsgd_dp_event,
    dpsgd_epsilon,
    dpsgd_privacy_event,
    max_steps_for,
)
from privcausal.training.dpsgd import TrainingResult, train_dpsgd
from privcausal.training.models import (
    ACTIVATIONS,
    LOSSES,
    Architecture,
    build_model,
    model_from_dict,
    parameters_to_dict,
)
from privcausal.training.planning import TrainingPlan, plan_training
from privcausal.training.preprocessing import EncodedData, encode
from privcausal.training.recipe import DPSGDRecipe
from privcausal.training.vectorised import StackedTraining, train_many

__all__ = [
    "DPSGDRecipe",
    "plan_training",
    "TrainingPlan",
    "train_dpsgd",
    "TrainingResult",
    "train_many",
    "StackedTraining",
    "Architecture",
    "ACTIVATIONS",
    "LOSSES",
    "build_model",
    "model_from_dict",
    "parameters_to_dict",
    "encode",
    "EncodedData",
    "NOISE_MULTIPLIER_CAP",
    "calibrate_noise_multiplier",
    "dpsgd_dp_event",
    "dpsgd_epsilon",
    "dpsgd_privacy_event",
    "max_steps_for",
]

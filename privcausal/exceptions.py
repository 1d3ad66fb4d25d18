"""The one exceptions module of privcausal (and of ``attacks`` and ``audits``).

Every error privcausal raises on purpose is a :class:`PrivCausalError`. Errors about bad
values are also :class:`ValueError` (so ``except ValueError`` keeps working), errors about
bad types are :class:`TypeError`. Messages say what was found and why it matters for privacy;
they never contain the value of a record (column names and counts only).
"""

from __future__ import annotations

import warnings

__all__ = [
    "CLIP_WARNING",
    "OverlapWarning",
    "OUTCOME_CLIP_NOTE",
    "IgnoredColumnsWarning",
    "PrivCausalError",
    "DataValidationError",
    "DataTypeError",
    "DomainError",
    "PrivacyParameterError",
    "InfeasiblePrivacyError",
    "BudgetExceededError",
    "NotFittedError",
    "DataNotFoundError",
    "ModelFileError",
    "MissingDependencyError",
    "CheckpointError",
    "TrialTaskError",
    "SpecError",
    "PrivacyLeakWarning",
    "ClippingWarning",
]


class PrivCausalError(Exception):
    """Base class of every error raised on purpose by privcausal."""


class DataValidationError(PrivCausalError, ValueError):
    """The data cannot be used as given: NaN/inf, one treatment group, empty, mismatched lengths."""


class DataTypeError(PrivCausalError, TypeError):
    """A column or argument has the wrong type (strings in a numeric column, a list for a frame)."""


class DomainError(PrivCausalError, ValueError):
    """The declared domain is missing, malformed, or does not fit the data's columns."""


class PrivacyParameterError(PrivCausalError, ValueError):
    """epsilon <= 0, delta outside [0, 1), or a budget split that does not add up."""


class InfeasiblePrivacyError(PrivacyParameterError):
    """The requested (epsilon, delta) cannot support the requested computation (say, epochs)."""


class BudgetExceededError(PrivCausalError, RuntimeError):
    """A release would spend more than the budget that remains; nothing was released."""


class NotFittedError(PrivCausalError, ValueError, AttributeError):
    """An estimator was used before ``fit``."""


class DataNotFoundError(PrivCausalError, FileNotFoundError):
    """A data file is missing; the message says where it was looked for and what to do."""


class ModelFileError(PrivCausalError, ValueError):
    """A released-model file is truncated, tampered with, or of an unknown version."""


class MissingDependencyError(PrivCausalError, ImportError):
    """An optional dependency (ray, dask) is needed; the message names the extra to install."""


class CheckpointError(PrivCausalError, ValueError):
    """A checkpoint directory belongs to another plan (trials, batches, seed, task) or is unusable."""


class TrialTaskError(PrivCausalError, RuntimeError):
    """An audit task failed on a batch of trials; the original error is chained as the cause."""


class SpecError(PrivCausalError, ValueError):
    """An experiment spec (TOML) is malformed: a key is missing, unknown, or has a bad value;
    the message names the key (``grid.epsilons``), never a record's values."""


class PrivacyLeakWarning(UserWarning):
    """Something spends privacy in a way the user must know about (data-dependent bounds...)."""


class OverlapWarning(UserWarning):
    """Many records have estimated propensities beyond the clip (a noisy share, never an exact
    count): a weighting estimate is then biased where treated and control patients overlap
    poorly, and its interval does not include that bias."""


class ClippingWarning(UserWarning):
    """Values outside the declared domain were clipped to it (never printed, and never counted in
    the warning: the exact counts are local diagnostics, ``est.diagnostics_``)."""


class IgnoredColumnsWarning(UserWarning):
    """Columns of a data file are not covariates (not declared in the domain, or left out of
    ``--covariates``) and are ignored: the estimate does not adjust for them. Names only."""


class UnadjustedEstimateWarning(UserWarning):
    """A covariate-adjusted estimator released an unadjusted estimate (the regression
    adjustment's two-stage plan found the noisy arm sizes too small to adjust at this epsilon):
    under confounding it estimates the wrong quantity. Decided on noisy, released counts."""


PARTIAL_ADJUSTMENT_WARNING = (
    "the regression adjustment adjusted for a reduced design: the noisy arm sizes were too small "
    "for the full design at epsilon {epsilon:g}, so it does NOT adjust for {dropped} (the "
    "declared drop order, see reduce=); confounding through them is not removed"
)
UNADJUSTED_WARNING = (
    "the regression adjustment did NOT adjust: the noisy arm sizes were too small for the "
    "adjusted plan at epsilon {epsilon:g}, so this is the unadjusted difference in means, "
    "confounded unless treatment was randomised. Raise epsilon, pass adjust='always' (noisier), "
    "or report it as unadjusted")


#: the text of a ClippingWarning: the columns, never a count or a value
CLIP_WARNING = ("values of {columns} lay outside the declared domain and were clipped to it; the "
                "exact counts are local diagnostics (est.diagnostics_, or privcausal fit "
                "--diagnostics), not for publication")
#: added to CLIP_WARNING when the outcome was clipped (names only, never a count or a value)
OUTCOME_CLIP_NOTE = (" The OUTCOME was clipped: the estimate is then of the clipped outcome, which a "
                     "too narrow declared range can move far from the effect on the outcome as recorded; "
                     "the local diagnostics show by how much clipping moved the unadjusted difference "
                     "in mean outcome. Declare the outcome's public range if it was too narrow.")


# A privacy warning must never be swallowed by Python's "show once" default.
warnings.simplefilter("always", PrivacyLeakWarning)
warnings.simplefilter("always", UnadjustedEstimateWarning)

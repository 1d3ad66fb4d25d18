"""CausalData: covariates, a 0/1 treatment, an outcome, and the declared Domain."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from privcausal.design import DesignEncoder
from privcausal.domain import Domain
from privcausal.exceptions import CLIP_WARNING, OUTCOME_CLIP_NOTE, ClippingWarning, DataTypeError, DataValidationError

__all__ = ["CausalData"]


def _vector(x: Any, name: str, n: int | None) -> np.ndarray:
    if isinstance(x, (pd.Series, pd.Index)):
        x = x.to_numpy()
    if isinstance(x, (str, bytes)) or x is None:
        raise DataTypeError(f"{name} must be an array of numbers, got {type(x).__name__}")
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataTypeError(f"{name} must be numeric; it holds non-numeric entries") from None
    if arr.ndim != 1:
        raise DataValidationError(f"{name} must be one-dimensional, got {arr.ndim} dimensions")
    if n is not None and len(arr) != n:
        raise DataValidationError(f"{name} has {len(arr)} entries but the covariates have {n} rows")
    n_nan, n_inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
    if n_nan or n_inf:
        raise DataValidationError(
            f"{name} holds {'missing (NaN)' if n_nan else ''}{' and ' if n_nan and n_inf else ''}"
            f"{'infinite' if n_inf else ''} entries; drop those records "
            "first (privcausal does not impute treatments or outcomes)"
        )
    return arr


def _outcome_clipping(t: np.ndarray, raw: np.ndarray, clipped: np.ndarray, domain: Domain) -> dict[str, float]:
    """Exact, local: values below / above the outcome's bounds, and the unadjusted difference in
    mean outcome (treated minus control) as read and after clipping."""
    out = {"below": float(np.sum(raw < domain.outcome.lower)), "above": float(np.sum(raw > domain.outcome.upper))}
    if np.any(t == 1) and np.any(t == 0):
        out["difference_as_read"] = float(raw[t == 1].mean() - raw[t == 0].mean())
        out["difference_clipped"] = float(clipped[t == 1].mean() - clipped[t == 0].mean())
    return out


@dataclass
class CausalData:
    """Observational or trial data for treatment-effect estimation.

    Construction validates everything, clips covariates and outcome to the declared
    :class:`~privcausal.domain.Domain` (counting clipped values per column in ``clipped``) and
    never keeps the unclipped values.

    Parameters
    ----------
    covariates : pandas.DataFrame
        One row per patient; every column declared in ``domain``.
    treatment : array of 0/1
    outcome : array of float (0/1 for a binary outcome)
    domain : Domain
        Public bounds for every covariate and the outcome.
    mu0, mu1 : array, optional
        Ground truth (noiseless expected outcomes under control and treatment) for simulated
        or semi-synthetic data.
    y_cfactual : array, optional
        The simulated counterfactual outcome (IHDP), for PEHE as some papers measure it.
    name : str
    """

    covariates: pd.DataFrame
    treatment: np.ndarray
    outcome: np.ndarray
    domain: Domain
    mu0: np.ndarray | None = None
    mu1: np.ndarray | None = None
    y_cfactual: np.ndarray | None = None
    name: str = "data"
    clipped: dict[str, int] = field(default_factory=dict)
    #: columns of the source file that are not covariates (names only), set by ``from_frame``
    ignored_columns: tuple[str, ...] = ()
    #: the ledger's name for the source records (:mod:`privcausal.data.fingerprint`): set by
    #: ``from_frame`` from the whole frame, else from the records given here before clipping;
    #: a subset keeps its parent's. Local: never printed.
    source: str | None = field(default=None, repr=False)
    #: how clipping the outcome to its declared range moved the data (local, exact: for
    #: :class:`~privcausal.privacy.diagnostics.LocalDiagnostics` only); None when nothing was clipped
    outcome_clipping: dict[str, float] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.domain, Domain):
            raise DataTypeError("domain must be a privcausal Domain (declared public bounds)")
        if not isinstance(self.covariates, pd.DataFrame):
            raise DataTypeError(f"covariates must be a pandas DataFrame, got {type(self.covariates).__name__}")
        n = len(self.covariates)
        if n == 0:
            raise DataValidationError("the data is empty: no records")
        t = _vector(self.treatment, "treatment", n)
        if self.source is None:
            from privcausal.data.fingerprint import records_fingerprint

            raw = self.covariates.reset_index(drop=True).copy()
            raw["__treatment__"], raw["__outcome__"] = t, _vector(self.outcome, "outcome", n)
            self.source = records_fingerprint(raw)
        if not np.all((t == 0) | (t == 1)):
            raise DataValidationError(
                f"treatment must be 0/1; {int(np.sum((t != 0) & (t != 1)))} entries are neither"
            )
        y = _vector(self.outcome, "outcome", n)
        if self.domain.outcome.binary and not np.all((y == 0) | (y == 1)):
            raise DataValidationError("the domain declares a binary outcome but some outcomes are not 0/1")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ClippingWarning)
            cov, counts = self.domain.clip_covariates(self.covariates.reset_index(drop=True), warn=False)
            y, n_y = self.domain.clip_outcome(y, warn=False)
        if n_y:
            counts = {**counts, "outcome": n_y}
            self.outcome_clipping = _outcome_clipping(t, _vector(self.outcome, "outcome", n), y, self.domain)
        if counts:
            warnings.warn(
                CLIP_WARNING.format(columns=sorted(counts)) + (OUTCOME_CLIP_NOTE if n_y else ""),
                ClippingWarning,
                stacklevel=3,
            )
        self.covariates = cov
        self.treatment = t.astype(np.int64)
        self.outcome = y
        self.clipped = {**self.clipped, **counts}
        for attr in ("mu0", "mu1", "y_cfactual"):
            v = getattr(self, attr)
            if v is not None:
                setattr(self, attr, _vector(v, attr, n))

    # ------------------------------------------------------------------ views
    @property
    def n(self) -> int:
        return len(self.outcome)

    @property
    def n_treated(self) -> int:
        return int(self.treatment.sum())

    @property
    def n_control(self) -> int:
        return self.n - self.n_treated

    @property
    def encoder(self) -> DesignEncoder:
        return DesignEncoder(self.domain)

    @property
    def X(self) -> np.ndarray:
        """The encoded design matrix (domain scaling, one-hot, missing indicators)."""
        return self.encoder.transform(self.covariates)

    @property
    def has_ground_truth(self) -> bool:
        return self.mu0 is not None and self.mu1 is not None

    @property
    def true_effect(self) -> np.ndarray | None:
        """Each patient's true effect mu1 - mu0, when known."""
        return None if not self.has_ground_truth else self.mu1 - self.mu0

    @property
    def true_ate(self) -> float | None:
        """The true sample ATE mean(mu1 - mu0), when known."""
        te = self.true_effect
        return None if te is None else float(np.mean(te))

    def require_both_arms(self, min_per_arm: int = 2) -> None:
        """Raise unless both arms hold at least ``min_per_arm`` records."""
        if self.n_treated < min_per_arm or self.n_control < min_per_arm:
            raise DataValidationError(
                f"need at least {min_per_arm} treated and {min_per_arm} control records (fewer "
                f"than {min_per_arm} {'treated' if self.n_treated < min_per_arm else 'control'} "
                "records found): a treatment effect cannot be estimated from one treatment group"
            )

    def subset(self, index: Any) -> "CausalData":
        """A new CausalData with the rows ``index`` (integer positions or a boolean mask)."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.nonzero(idx)[0]
        pick = lambda v: None if v is None else v[idx]  # noqa: E731
        return CausalData(
            self.covariates.iloc[idx].reset_index(drop=True),
            self.treatment[idx],
            self.outcome[idx],
            self.domain,
            mu0=pick(self.mu0),
            mu1=pick(self.mu1),
            y_cfactual=pick(self.y_cfactual),
            name=self.name,
            source=self.source,  # a subset spends from its parent's ledger entry
        )

    def __repr__(self) -> str:
        return (
            f"CausalData(name={self.name!r}, n={self.n}, treated={self.n_treated}, "
            f"covariates={len(self.domain.columns)}, ground_truth={self.has_ground_truth})"
        )

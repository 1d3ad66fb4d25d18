"""The IHDP semi-synthetic benchmark (10 replications, response surface B, with ground truth).

References
----------
.. [1] Hill, "Bayesian nonparametric modeling for causal inference", JCGS 20(1), 2011.
.. [2] Louizos et al., "Causal effect inference with deep latent-variable models", NeurIPS 2017
   (the distribution of the 10 replications used here).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from privcausal.data.causal_data import CausalData
from privcausal.domain import Domain, Numeric, OutcomeBounds
from privcausal.exceptions import DataNotFoundError, DataValidationError

__all__ = ["load_ihdp", "ihdp_domain", "IHDP_SHA256", "IHDP_ENV"]

IHDP_ENV = "PRIVCAUSAL_IHDP_DIR"

IHDP_SHA256 = {
    1: "2bdc8b94fdf2f669b1d3d49325fd9359d88418566545003867841312a1653411",
    2: "36db2f3d002250bc95e5214477718c939fbe7dfe8df573c4050d8b246d314042",
    3: "bd792ce0642468195b2c3f0cd4c521378d7d52d044f153e844d151a87e067518",
    4: "ac04602a2f052af1211347bcaff87f7bab356a4a7f42f8c6a81edede51549006",
    5: "8f9b3ef4b66e8f9dd240c9851233f4fb483c73c25b6d23c6459c666edb9cd691",
    6: "e05192794201c8a8fe1e4a88f12d3367d3d6b568eadb46365557661bff00712e",
    7: "246684bfc9e1258e5bdc59c3d1c13c0694a331d1f13026ff79f6c4605e6d3678",
    8: "6e88b890ee4ed6274b8ea4285500dd0865ab71e17010ee505f7e2a2d507c4511",
    9: "fe959d86a37be9278ef195fbf139b2b8af1b8246b3518208cd00b295d906a98f",
    10: "b9bce7e081f245b7689a3c2b5e4ed37162dca8cd596e0998b73ddc0ac92a4919",
}

COVARIATES = tuple(f"x{i}" for i in range(1, 26))


def ihdp_domain(outcome_bounds: tuple[float, float] = (-5.0, 20.0)) -> Domain:
    """Declared domain for IHDP.

    x1-x6 are standardised continuous covariates, declared in [-3, 3] (three standard
    deviations; the few values beyond are clipped and counted); x7-x25 are binary, with x14
    coded 1/2 as published. The outcome (a simulated cognitive score) is declared in
    ``outcome_bounds``, (-5, 20) by default: a public plausibility range that covers
    replications 1-8; replications 9 and 10 have a far wider outcome and need wider bounds.
    """
    cov: dict[str, Numeric] = {}
    for i, name in enumerate(COVARIATES, start=1):
        if i <= 6:
            cov[name] = Numeric(-3.0, 3.0)
        elif i == 14:
            cov[name] = Numeric(1.0, 2.0)
        else:
            cov[name] = Numeric(0.0, 1.0)
    return Domain(cov, OutcomeBounds(*outcome_bounds))


def _default_dir() -> Path | None:
    env = os.environ.get(IHDP_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "shared" / "data" / "ihdp"
        if cand.is_dir():
            return cand
        cand = parent.parent / "shared" / "data" / "ihdp"
        if cand.is_dir():
            return cand
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_ihdp(
    replication: int = 1,
    path: str | os.PathLike | None = None,
    *,
    outcome_bounds: tuple[float, float] = (-5.0, 20.0),
    verify: bool = True,
) -> CausalData:
    """Load IHDP replication ``replication`` (1-10) with ground truth mu0, mu1.

    Parameters
    ----------
    replication : int
    path : path, optional
        A directory holding ``ihdp_npci_<r>.csv`` or the CSV file itself. Defaults to
        ``$PRIVCAUSAL_IHDP_DIR``, then a ``shared/data/ihdp`` folder beside the checkout.
    outcome_bounds : (float, float)
        The declared outcome domain (see :func:`ihdp_domain`).
    verify : bool
        Check the file's SHA-256 against the published one when it is one of the known ten.
    """
    if not isinstance(replication, (int, np.integer)) or not 1 <= int(replication) <= 10:
        raise DataValidationError("replication must be an integer from 1 to 10")
    replication = int(replication)
    fname = f"ihdp_npci_{replication}.csv"
    if path is None:
        base = _default_dir()
        if base is None:
            raise DataNotFoundError(
                f"IHDP file {fname} not found: pass path=..., or set {IHDP_ENV} to the folder "
                "holding ihdp_npci_1.csv ... ihdp_npci_10.csv"
            )
        file = base / fname
    else:
        p = Path(path)
        file = p / fname if p.is_dir() else p
    if not file.is_file():
        raise DataNotFoundError(
            f"IHDP file not found at {file}; pass path=... or set {IHDP_ENV} to the folder that "
            "holds ihdp_npci_<r>.csv (see shared/data/ihdp/README.md)"
        )
    if verify and file.name == fname:
        digest = _sha256(file)
        if digest != IHDP_SHA256[replication]:
            raise DataValidationError(
                f"{file} does not match the published SHA-256 of IHDP replication {replication}; "
                "the file is corrupted or another version (pass verify=False to load it anyway)"
            )
    raw = np.loadtxt(file, delimiter=",", dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] != 30:
        raise DataValidationError(f"{file} must have 30 columns (treatment, y_factual, y_cfactual, mu0, mu1, x1..x25)")
    frame = pd.DataFrame(raw[:, 5:], columns=list(COVARIATES))
    return CausalData(
        frame,
        raw[:, 0].astype(np.int64),
        raw[:, 1],
        ihdp_domain(outcome_bounds),
        mu0=raw[:, 3],
        mu1=raw[:, 4],
        y_cfactual=raw[:, 2],
        name=f"ihdp:{replication}",
    )

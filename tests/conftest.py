import os

# Many small BLAS calls on a 2-core machine: threads only add contention (measured: a test file
# took 73 s with default threads, 8.5 s with one).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import warnings
from pathlib import Path

import numpy as np
import pytest

from privcausal.exceptions import ClippingWarning

ROOT = Path(__file__).resolve().parents[1]
IHDP_DIR = Path(os.environ.get("PRIVCAUSAL_IHDP_DIR", ROOT.parent / "shared" / "data" / "ihdp"))


def ihdp_available() -> bool:
    return (IHDP_DIR / "ihdp_npci_1.csv").is_file()


requires_ihdp = pytest.mark.skipif(not ihdp_available(), reason=f"IHDP data not found at {IHDP_DIR}")


@pytest.fixture(autouse=True)
def _private_ledger(tmp_path, monkeypatch):
    """Every test (and every CLI subprocess it starts) uses its own privacy ledger, never the
    user's (~/.local/share/privcausal/ledger.sqlite)."""
    monkeypatch.setenv("PRIVCAUSAL_LEDGER", str(tmp_path / "ledger.sqlite"))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def trauma_small():
    from privcausal.data import simulate_trauma

    return simulate_trauma(4000, random_state=7)


@pytest.fixture(scope="session")
def ihdp1():
    from privcausal.data import load_ihdp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClippingWarning)
        return load_ihdp(1, IHDP_DIR)

"""The fingerprint that names a data set's records in the privacy ledger (never printed).

A data set's budget belongs to its records, not to one analysis of them: the fingerprint is a
SHA-256 of the *source* records as read (every column of the file or frame, before the
domain selects and clips them), independent of the order of the rows and of the columns. So
re-declaring a bound, dropping a covariate from the domain, shuffling the rows or analysing a
subset (:meth:`~privcausal.data.CausalData.subset` keeps its parent's fingerprint) all spend
from the same ledger entry. Editing the records themselves (a new extract, a row added) makes
a new data set. This is accounting for honest users, not a defence against someone who edits
the file to get a fresh budget.

The fingerprint is a hash of the exact records: with a candidate data set in hand it would
confirm membership, so it is never written into a receipt, a report or JSON.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

__all__ = ["records_fingerprint"]


def records_fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of the rows of ``frame`` as a multiset (row and column order do not matter)."""
    cols = sorted(frame.columns, key=str)
    view = frame[cols].reset_index(drop=True)
    h = hashlib.sha256()
    h.update(repr([str(c) for c in cols]).encode())
    h.update(str(len(view)).encode())
    rows = np.sort(np.asarray(pd.util.hash_pandas_object(view, index=False), dtype=np.uint64))
    h.update(rows.tobytes())
    return h.hexdigest()

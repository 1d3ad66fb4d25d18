"""A privacy ledger that outlives one call: a data set's total budget and what was spent from it.

Each data set is known by a fingerprint of its source records
(:mod:`privcausal.data.fingerprint`: every column as read, before the domain selects and clips,
independent of row and column order), so the same records are the same ledger entry whatever
the file is called *and whatever domain is declared*: re-declaring a bound or dropping a
covariate does not open a fresh budget, and a subset spends from its parent's entry. The ledger is a
SQLite file at ``$PRIVCAUSAL_LEDGER`` (default: ``$XDG_DATA_HOME/privcausal/ledger.sqlite``,
that is ``~/.local/share/privcausal/ledger.sqlite``).

A release **reserves** its (epsilon, delta) before it touches the data, inside one
``BEGIN IMMEDIATE`` transaction (SQLite's write lock), so two concurrent runs cannot both pass
the cap: the second sees the first's reservation. When the release succeeds the reservation is
settled to what its receipt states; when it fails before anything left the process the
reservation is cancelled. Releases on one data set compose by basic composition (epsilons add,
deltas add): valid for any releases, adaptively chosen or not, whatever each one's accountant
said of itself.

The fingerprint is local: it is a hash of the exact records, so it is never printed or written
into a receipt (with a candidate data set in hand it would confirm membership).

References
----------
.. [1] Dwork and Roth, "The algorithmic foundations of differential privacy", 2014, Thm 3.16
   (basic composition, also under adaptive choice).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from privcausal.exceptions import BudgetExceededError, PrivacyParameterError
from privcausal.validation import check_delta, check_epsilon
from privcausal.jsonnum import json_number

__all__ = ["Ledger", "LedgerEntry", "fingerprint", "default_ledger_path", "Reservation"]

_REL_TOL = 1e-9
_SCHEMA = """
CREATE TABLE IF NOT EXISTS budgets (
    fingerprint TEXT PRIMARY KEY, name TEXT NOT NULL, epsilon REAL NOT NULL,
    delta REAL NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS spends (
    id INTEGER PRIMARY KEY AUTOINCREMENT, fingerprint TEXT NOT NULL, release TEXT NOT NULL,
    epsilon REAL NOT NULL, delta REAL NOT NULL, state TEXT NOT NULL, at REAL NOT NULL,
    receipt TEXT);
"""


def default_ledger_path() -> Path:
    """``$PRIVCAUSAL_LEDGER``, else ``$XDG_DATA_HOME/privcausal/ledger.sqlite``."""
    env = os.environ.get("PRIVCAUSAL_LEDGER")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "privcausal" / "ledger.sqlite"


def fingerprint(data: Any) -> str:
    """The ledger's key for ``data``: a CausalData's ``source`` (its records as read, whatever
    the domain declares; :mod:`privcausal.data.fingerprint`), or the records of a DataFrame."""
    import pandas as pd

    from privcausal.data.fingerprint import records_fingerprint

    if isinstance(data, pd.DataFrame):
        return records_fingerprint(data)
    source = getattr(data, "source", None)
    if not isinstance(source, str):
        raise PrivacyParameterError("the ledger needs a CausalData or a DataFrame of records")
    return source


@dataclass(frozen=True)
class LedgerEntry:
    """A data set's budget and spending (``spent`` includes open reservations)."""

    name: str
    epsilon: float | None  # None: no budget set (spending is recorded, not capped)
    delta: float | None
    spent_epsilon: float
    spent_delta: float
    releases: tuple[dict[str, Any], ...]

    @property
    def remaining(self) -> tuple[float, float] | None:
        if self.epsilon is None or self.delta is None:
            return None
        return max(0.0, self.epsilon - self.spent_epsilon), max(0.0, self.delta - self.spent_delta)

    def to_dict(self) -> dict[str, Any]:
        num = json_number

        rem = self.remaining
        return {"name": self.name, "budget_epsilon": num(self.epsilon), "budget_delta": self.delta,
                "spent_epsilon": num(self.spent_epsilon), "spent_delta": self.spent_delta,
                "remaining_epsilon": None if rem is None else num(rem[0]),
                "remaining_delta": None if rem is None else rem[1],
                "releases": list(self.releases)}

    def __str__(self) -> str:
        lines = [f"privacy ledger for {self.name}"]
        if self.epsilon is None:
            lines.append("  no budget set: spending is recorded but not capped "
                         "(set one with 'privcausal budget set')")
        else:
            rem = self.remaining or (0.0, 0.0)
            lines.append(f"  budget:    epsilon {self.epsilon:.4g}, delta {self.delta:.3g}")
            lines.append(f"  remaining: epsilon {rem[0]:.4g}, delta {rem[1]:.3g}")
        lines.append(f"  spent:     epsilon {self.spent_epsilon:.4g}, delta {self.spent_delta:.3g} "
                     f"over {len(self.releases)} release(s) (basic composition)")
        for r in self.releases:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["at"]))
            lines.append(f"    {when}  {r['release']}: epsilon {r['epsilon']:.4g}, delta "
                         f"{r['delta']:.3g}{'' if r['state'] == 'spent' else ' (' + r['state'] + ')'}")
        return "\n".join(lines)


class Reservation:
    """An open reservation; :meth:`settle` it with the release's receipt."""

    def __init__(self, ledger: "Ledger", row: int) -> None:
        self.ledger, self.row, self.settled = ledger, row, False

    def settle(self, receipt: Any) -> None:
        """Record what the release spent (its receipt's epsilon and delta)."""
        eps, delta = float(receipt.epsilon), float(receipt.delta)
        with self.ledger._connect() as con:
            con.execute("UPDATE spends SET epsilon = ?, delta = ?, state = 'spent', receipt = ? "
                        "WHERE id = ?", (eps if math.isfinite(eps) else 1e308, delta,
                                         json.dumps(receipt.to_dict()), self.row))
        self.settled = True


class Ledger:
    """The persistent ledger (see the module docstring).

    Examples
    --------
    >>> ledger = Ledger("/tmp/doc-ledger.sqlite")                        # doctest: +SKIP
    >>> ledger.set_budget(data, epsilon=2.0, delta=1e-6)                 # doctest: +SKIP
    >>> with ledger.charge(data, 1.0, 1e-6, "regression fit") as r:      # doctest: +SKIP
    ...     est.fit(data)
    ...     r.settle(est.privacy_)
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_ledger_path()

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            con.executescript(_SCHEMA)
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    def set_budget(self, data: Any, epsilon: float, delta: float) -> None:
        """Set (or change) the total budget of ``data``; never below what was already spent."""
        eps, d = check_epsilon(epsilon), check_delta(delta)
        if math.isinf(eps):
            raise PrivacyParameterError("a budget must be finite (epsilon = inf protects nothing)")
        fp = fingerprint(data)
        with self._connect() as con:
            se, sd = self._spent(con, fp)
            if se > eps * (1 + _REL_TOL) or sd > d * (1 + _REL_TOL):
                raise BudgetExceededError(
                    f"this data set has already spent epsilon {se:.4g}, delta {sd:.3g}; a budget "
                    "below that cannot be set")
            con.execute("INSERT INTO budgets VALUES (?, ?, ?, ?, ?) ON CONFLICT(fingerprint) DO "
                        "UPDATE SET epsilon = excluded.epsilon, delta = excluded.delta",
                        (fp, str(getattr(data, "name", "data")), eps, d, time.time()))

    @staticmethod
    def _spent(con: sqlite3.Connection, fp: str) -> tuple[float, float]:
        row = con.execute("SELECT COALESCE(SUM(epsilon), 0), COALESCE(SUM(delta), 0) FROM spends "
                          "WHERE fingerprint = ? AND state != 'cancelled'", (fp,)).fetchone()
        e = float(row[0])
        return (math.inf if e >= 1e308 else e), float(row[1])

    def show(self, data: Any) -> LedgerEntry:
        fp = fingerprint(data)
        with self._connect() as con:
            b = con.execute("SELECT name, epsilon, delta FROM budgets WHERE fingerprint = ?",
                            (fp,)).fetchone()
            se, sd = self._spent(con, fp)
            rows = con.execute("SELECT release, epsilon, delta, state, at FROM spends WHERE "
                               "fingerprint = ? AND state != 'cancelled' ORDER BY id", (fp,)).fetchall()
        rel = tuple({"release": r[0], "epsilon": math.inf if r[1] >= 1e308 else r[1], "delta": r[2],
                     "state": r[3], "at": r[4]} for r in rows)
        name = b[0] if b else str(getattr(data, "name", "data"))
        return LedgerEntry(name, b[1] if b else None, b[2] if b else None, se, sd, rel)

    @contextlib.contextmanager
    def charge(self, data: Any, epsilon: float, delta: float, release: str) -> Iterator[Reservation]:
        """Reserve (``epsilon``, ``delta``) for ``release`` on ``data``, or raise
        :class:`BudgetExceededError` before anything runs.

        Inside the block, run the release and :meth:`Reservation.settle` it with the receipt.
        An exception inside the block cancels the reservation (nothing was released); leaving
        the block without settling keeps the reservation at the reserved amount.
        """
        eps, d = check_epsilon(epsilon), check_delta(delta)
        fp = fingerprint(data)
        with self._connect() as con:
            b = con.execute("SELECT epsilon, delta FROM budgets WHERE fingerprint = ?", (fp,)).fetchone()
            se, sd = self._spent(con, fp)
            if b is not None:
                if math.isinf(eps):
                    raise BudgetExceededError(
                        "this data set has a privacy budget, and a non-private release would spend "
                        "epsilon = inf; nothing was released")
                if se + eps > b[0] * (1 + _REL_TOL) or sd + d > b[1] * (1 + _REL_TOL):
                    raise BudgetExceededError(
                        f"'{release}' needs epsilon {eps:.4g}, delta {d:.3g}, but this data set has "
                        f"epsilon {max(0.0, b[0] - se):.4g}, delta {max(0.0, b[1] - sd):.3g} left of its "
                        f"budget ({b[0]:.4g}, {b[1]:.3g}); nothing was released")
            cur = con.execute("INSERT INTO spends (fingerprint, release, epsilon, delta, state, at) "
                              "VALUES (?, ?, ?, ?, 'reserved', ?)",
                              (fp, release, eps if math.isfinite(eps) else 1e308, d, time.time()))
            row = int(cur.lastrowid)
        res = Reservation(self, row)
        try:
            yield res
        except BaseException:
            with self._connect() as con:
                con.execute("UPDATE spends SET state = 'cancelled' WHERE id = ? AND state = "
                            "'reserved'", (row,))
            raise

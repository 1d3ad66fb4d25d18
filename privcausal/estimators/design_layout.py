"""The reference-coded design of a Domain's encoding, as the regression releases it.

Features are grouped by covariate column; within a column everything is known from ``sum x``
or is zero, so only entries between different columns and squares of numeric features are
released (see :mod:`privcausal.estimators.regression`). :meth:`DesignLayout.without` drops
whole covariate columns, keeping the encoding's index space (the reduced designs of the
regression's plan ladder).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from privcausal.domain import Categorical, Domain

__all__ = ["DesignLayout"]

_TAU_DRAWS = 16


def _unit_tau(p: int, rows: np.ndarray, cols: np.ndarray) -> float:
    """Mean spectral norm of symmetric noise with unit variance on the released entries.

    A fixed-seed simulation of public quantities (the layout), hence deterministic.
    """
    if p == 0:
        return 0.0
    gen = np.random.default_rng(0)
    norms = []
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(_TAU_DRAWS):
            e = np.zeros((p, p))
            e[rows, cols] = gen.standard_normal(len(rows))
            norms.append(np.abs(np.linalg.eigvalsh(e + np.triu(e, 1).T)).max())
    return float(np.mean(norms))


@dataclass(frozen=True)
class DesignLayout:
    """Reference-coded features of a Domain's encoding, grouped by covariate column."""

    n_encoded: int  # features of the DesignEncoder (without intercept)
    keep: np.ndarray  # indices of the kept features among the encoded ones
    group: np.ndarray  # covariate column of each kept feature
    binary: np.ndarray  # True for 0/1 indicator features (levels, missing indicators)
    names: tuple[str, ...]
    n_groups: int
    n_numeric: int  # covariate columns with a numeric feature
    rows: np.ndarray  # released upper-triangle entries of the Gram matrix
    cols: np.ndarray
    unit_tau: float  # E||E|| for unit-variance noise on the released entries (symmetrised)
    columns: tuple[str, ...] = ()  # the covariate column of each group

    @classmethod
    def from_domain(cls, domain: Domain) -> "DesignLayout":
        names, keep, group, binary = [], [], [], []

        def add(name: str, j: int, g: int, is_binary: bool) -> None:
            names.append(name)
            keep.append(j)
            group.append(g)
            binary.append(is_binary)

        j = 0
        for g, (name, spec) in enumerate(domain.covariates.items()):
            if isinstance(spec, Categorical):
                for k, cat in enumerate(spec.categories):
                    if k > 0:  # the first declared category is the reference level
                        add(f"{name}={cat}", j, g, True)
                    j += 1
            else:
                add(name, j, g, False)
                j += 1
            if spec.missing:
                add(f"{name}__missing", j, g, True)
                j += 1
        grp = np.asarray(group, dtype=np.int64)
        bn = np.asarray(binary, dtype=bool)
        return cls._make(j, np.asarray(keep, dtype=np.int64), grp, bn, tuple(names),
                         tuple(domain.covariates))

    @classmethod
    def _make(cls, n_encoded: int, keep: np.ndarray, grp: np.ndarray, bn: np.ndarray,
              names: tuple[str, ...], columns: tuple[str, ...]) -> "DesignLayout":
        r, c = np.triu_indices(len(grp))
        rel = (grp[r] != grp[c]) | ((r == c) & ~bn[r])
        r, c = r[rel], c[rel]
        n_numeric = len({int(g) for g, b in zip(grp, bn) if not b})
        return cls(n_encoded, keep, grp, bn, names, len(columns), n_numeric, r, c,
                   _unit_tau(len(grp), r, c), columns)

    def without(self, drop: "set[str] | frozenset[str]") -> "DesignLayout":
        """The layout without the covariate columns ``drop`` (same encoding, fewer features)."""
        kept_cols = tuple(c for c in self.columns if c not in drop)
        new_index = {self.columns.index(c): i for i, c in enumerate(kept_cols)}
        mask = np.array([int(g) in new_index for g in self.group], dtype=bool)
        grp = np.array([new_index[int(g)] for g in self.group[mask]], dtype=np.int64)
        names = tuple(n for n, m in zip(self.names, mask) if m)
        return DesignLayout._make(self.n_encoded, self.keep[mask], grp, self.binary[mask], names, kept_cols)

    @property
    def p(self) -> int:
        return len(self.keep)

    @property
    def sens_x(self) -> float:
        """Sensitivity of ``sum x`` (each covariate column adds at most 1 to ``||x||^2``)."""
        return math.sqrt(self.n_groups)

    @property
    def sens_gram(self) -> float:
        """Sensitivity of the released Gram entries: ``sqrt(G (G-1)/2 + G_numeric)``."""
        g = self.n_groups
        return math.sqrt(g * (g - 1) / 2 + self.n_numeric)

    def fill(self, S: np.ndarray, sx: np.ndarray) -> np.ndarray:
        """Set the entries that are not released: zero within a column, ``sum x`` on 0/1 diagonals."""
        same = self.group[:, None] == self.group[None, :]
        S = np.where(same & ~np.eye(self.p, dtype=bool), 0.0, S)
        idx = np.flatnonzero(self.binary)
        S[idx, idx] = sx[idx]
        return S

"""DesignEncoder.encode_arrays: chunked encoding equals the formula, row by row."""

from __future__ import annotations

import numpy as np

from privcausal import design
from privcausal.design import DesignEncoder
from privcausal.domain import Categorical, Domain, Numeric


def test_chunked_encoding_matches_the_formula(monkeypatch):
    rng = np.random.default_rng(3)
    n = 5000
    a = rng.uniform(-20, 120, n)  # beyond the bounds on both sides
    b = rng.uniform(0, 1, n)
    b[rng.random(n) < 0.1] = np.nan
    codes = rng.integers(-1, 3, n)  # -1: missing
    dom = Domain({"a": Numeric(0, 100), "b": Numeric(0, 1, missing=True),
                  "c": Categorical(("p", "q", "r"), missing=True)}, (0, 1))
    enc = DesignEncoder(dom)
    values = {"a": a, "b": b, "c": codes}
    monkeypatch.setattr(design, "_CHUNK_BYTES", 8 * 256 * enc.n_features)  # 256-row chunks
    out = enc.encode_arrays(values, n, out=np.full((n, enc.n_features + 1), 7.0), offset=1)
    assert np.all(out[:, 0] == 7.0)  # the offset column untouched
    names = enc.feature_names
    col = {f: out[:, 1 + i] for i, f in enumerate(names)}
    assert np.allclose(col["a"], np.clip((np.clip(a, 0, 100) - 50) / 50, -1, 1), atol=1e-15)
    assert np.all(np.abs(col["a"]) <= 1)
    miss = np.isnan(b)
    assert np.array_equal(col["b__missing"], miss.astype(float))
    assert np.all(col["b"][miss] == 0) and np.allclose(col["b"][~miss], (b[~miss] - 0.5) / 0.5)
    onehot = np.column_stack([col[f] for f in names if f.startswith("c") and not f.endswith("__missing")])
    assert np.array_equal(onehot.sum(axis=1), (codes >= 0).astype(float))
    monkeypatch.setattr(design, "_CHUNK_BYTES", 1 << 30)  # one chunk: the same numbers
    assert np.array_equal(enc.encode_arrays(values, n, out=np.full_like(out, 7.0), offset=1), out)

"""The one JSON-number convention, the neighbouring relation a receipt states, and the named
result of the accountant."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from privcausal.jsonnum import json_number, json_value
from privcausal.privacy import (
    Composition,
    LaplaceMechanism,
    NeighbouringRelation,
    Receipt,
    composed_epsilon,
    make_receipt,
)


def test_infinities_are_strings_and_nan_is_null():
    assert json_number(math.inf) == "inf" and json_number(-math.inf) == "-inf"
    assert json_number(math.nan) is None and json_number(np.float32(2.5)) == 2.5
    assert json_number(np.int64(3)) == 3 and type(json_number(np.int64(3))) is int
    v = json_value({"a": (1.0, math.inf), "b": np.array([-math.inf, math.nan]), 3: "x"})
    assert v == {"a": [1.0, "inf"], "b": ["-inf", None], "3": "x"}
    json.dumps(v, allow_nan=False)  # strict JSON: no Infinity or NaN token


def test_a_receipt_writes_nan_as_null_not_as_minus_inf():
    r = Receipt(release="x", mechanism="m", epsilon=math.inf, delta=0.0, accountant="a",
                epsilon_rdp=math.nan)
    d = r.to_dict()
    assert d["epsilon"] == "inf" and d["epsilon_rdp"] is None
    json.dumps(d, allow_nan=False)


def test_the_neighbouring_relation_is_checked():
    r = make_receipt("x", [LaplaceMechanism(1.0, 1.0).event("a")], noise="n")
    assert r.neighbouring is NeighbouringRelation.ADD_REMOVE
    assert r.to_dict()["neighbouring"] == "add/remove one record"
    assert make_receipt("x", [LaplaceMechanism(1.0, 1.0).event("a")], noise="n",
                        neighbouring="replace one record").neighbouring is NeighbouringRelation.REPLACE_ONE
    with pytest.raises(ValueError, match="unknown neighbouring relation"):
        Receipt(release="x", mechanism="m", epsilon=1.0, delta=0.0, accountant="a",
                neighbouring="swap two hospitals")


def test_the_accountant_returns_a_named_composition():
    m = LaplaceMechanism(0.5, 1.0)
    c = composed_epsilon([m.event("a"), m.event("b")])
    assert isinstance(c, Composition) and c.epsilon == pytest.approx(1.0) and c.delta == 0.0
    eps, delta, name = c  # still a tuple
    assert name == c.accountant == "basic composition"

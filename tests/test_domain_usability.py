"""Declaring a domain: the shipped example, the draft command, and errors that name the column
and the type found (never a record's value)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from privcausal.cli import main
from privcausal.data import from_frame
from privcausal.data.trauma import trauma_domain
from privcausal.domain import Domain
from privcausal.domain_draft import PLACEHOLDER, draft_domain
from privcausal.exceptions import DomainError, IgnoredColumnsWarning

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "trauma"


def test_the_shipped_example_is_the_registry_domain():
    d = Domain.from_toml(EXAMPLE / "domain.toml")
    assert d.to_dict() == trauma_domain(missing=True).to_dict()
    frame = pd.read_csv(EXAMPLE / "registry.csv")
    data = from_frame(frame, treatment="txa", outcome="death", domain=d)
    assert data.n == 2000 and data.ignored_columns == ()


def test_to_toml_round_trips(tmp_path):
    d = Domain({"age": (0, 120), "site": {"categories": [1, 2, 3], "missing": True},
                "sex": {"categories": ["F", "M"]}}, (0.0, 10.0))
    p = tmp_path / "d.toml"
    p.write_text(d.to_toml())
    assert Domain.from_toml(p).to_dict() == d.to_dict()


def _frame(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.uniform(20, 90, n), "site": rng.integers(1, 4, n),
        "sex": rng.choice(["F", "M"], n), "note id": np.arange(n),
        "t": rng.integers(0, 2, n), "y": rng.integers(0, 2, n),
    }).assign(age=lambda f: f.age.where(np.arange(n) % 7 != 0))


def test_draft_writes_placeholders_and_marks_categories(tmp_path):
    f = _frame()
    text = draft_domain(f, treatment="t", outcome="y", source="f.csv")
    assert "READ OFF THE RECORDS" in text and f'lower = "{PLACEHOLDER}"' in text
    assert 'categories = ["F", "M"]' in text and "categories = [1, 2, 3]" in text
    assert "taken from the file: confirm they are public" in text
    assert '[covariates."note id"]' in text  # a name TOML needs quoted
    assert "binary = true" in text
    # the file's range never appears as a bound
    assert f"{f.age.min()!r}" not in text and f"{f.age.max()!r}" not in text
    (tmp_path / "d.toml").write_text(text)
    with pytest.raises(DomainError, match="column 'age': the bounds of a numeric column are still the draft"):
        Domain.from_toml(tmp_path / "d.toml")


def test_draft_command_writes_and_refuses_to_overwrite(tmp_path, capsys):
    csv = tmp_path / "f.csv"
    _frame().to_csv(csv, index=False)
    out = tmp_path / "d.toml"
    assert main(["domain", "draft", str(csv), "--treatment", "t", "--outcome", "y", "--out", str(out)]) == 0
    assert out.is_file() and "[covariates.sex]" in out.read_text()
    assert main(["domain", "draft", str(csv), "--treatment", "t", "--outcome", "y", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["domain", "draft", str(csv), "--treatment", "nope", "--outcome", "y"]) == 2


def test_categories_of_the_wrong_type_are_explained_without_values():
    f = _frame()
    d = Domain({"age": {"lower": 0, "upper": 120, "missing": True}, "site": {"categories": ["1", "2", "3"]},
                "sex": {"categories": ["F", "M"]}}, {"lower": 0, "upper": 1, "binary": True})
    with pytest.raises(DomainError) as exc:
        from_frame(f, treatment="t", outcome="y", covariates=["age", "site", "sex"], domain=d)
    msg = str(exc.value)
    assert "column 'site'" in msg and "declared categories are strings" in msg
    assert "holds integers" in msg and "without quotes" in msg


def test_a_bad_bound_names_its_column():
    with pytest.raises(DomainError, match="column 'sbp': lower bound"):
        Domain({"sbp": {"lower": 250, "upper": 40}}, (0, 1))
    with pytest.raises(DomainError, match="column 'hr': bounds"):
        Domain({"hr": (1.0, float("inf"))}, (0, 1))


def test_ignored_columns_are_named_in_a_warning_and_in_the_fit_json(tmp_path, capsys):
    f = _frame()
    d = Domain({"age": {"lower": 0, "upper": 120, "missing": True}, "sex": {"categories": ["F", "M"]}},
               {"lower": 0, "upper": 1, "binary": True})
    with pytest.warns(IgnoredColumnsWarning, match=r"\['site', 'note id'\]"):
        data = from_frame(f, treatment="t", outcome="y", domain=d)
    assert data.ignored_columns == ("site", "note id")
    csv, toml = tmp_path / "f.csv", tmp_path / "d.toml"
    f.to_csv(csv, index=False)
    toml.write_text(d.to_toml())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["fit", "--data", str(csv), "--treatment", "t", "--outcome", "y", "--domain",
                     str(toml), "--estimator", "dim-np", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["covariates"] == ["age", "sex"] and out["ignored_columns"] == ["site", "note id"]


def test_outcome_clipping_is_shown_with_its_effect_locally_and_named_only_in_the_warning(tmp_path, capsys):
    rng = np.random.default_rng(3)
    n = 400
    t = rng.integers(0, 2, n)
    y = rng.normal(2.0 + 3.0 * t, 1.0)  # treated outcomes around 5, beyond the declared 0..4
    f = pd.DataFrame({"age": rng.uniform(20, 90, n), "t": t, "y": y})
    dom = Domain({"age": (0, 120)}, (0, 4))
    with pytest.warns(Warning, match="The OUTCOME was clipped") as rec:
        d = from_frame(f, treatment="t", outcome="y", domain=dom)
    assert not any(str(int((y > 4).sum())) in str(w.message) for w in rec)  # no count in the warning
    oc = d.outcome_clipping
    assert oc["above"] == float((y > 4).sum()) and oc["below"] == float((y < 0).sum())
    assert oc["difference_as_read"] == pytest.approx(y[t == 1].mean() - y[t == 0].mean())
    yc = np.clip(y, 0, 4)
    assert oc["difference_clipped"] == pytest.approx(yc[t == 1].mean() - yc[t == 0].mean())
    from privcausal.estimators import make_estimator

    est = make_estimator("dim", epsilon=1.0, random_state=0).fit(d)
    text = str(est.diagnostics_)
    assert "NOT FOR PUBLICATION" in text and "clipping moved the unadjusted difference" in text
    # the command line: the effect only under --diagnostics, never in the JSON
    csv = tmp_path / "f.csv"
    f.to_csv(csv, index=False)
    (tmp_path / "d.toml").write_text(dom.to_toml())
    argv = ["fit", "--data", str(csv), "--treatment", "t", "--outcome", "y", "--domain",
            str(tmp_path / "d.toml"), "--estimator", "dim", "--epsilon", "1", "--json"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(argv) == 0
        out = capsys.readouterr()
        assert "difference_as_read" not in out.out and f"{oc['difference_as_read']:.4g}" not in out.out
        assert main(argv + ["--diagnostics"]) == 0
    assert "clipping moved the unadjusted difference" in capsys.readouterr().err

"""Audit reports (audits.report.records, audits.report.figures): JSON records, Markdown, self-contained HTML.

The audits below are small and seeded; nothing here is a statistical test (the numbers are read
back from the results, never compared with stored floats).
"""

from __future__ import annotations

import base64
import json
import math
import re
from html import escape
from html.parser import HTMLParser

import numpy as np
import pytest

from audits.releases.mechanism import audit_mechanism
from audits.bounds.one_run import one_run_bound
from audits.report.records import REQUIRED_KEYS, audit_record, write_report
from audits.result import Audit
from privcausal.exceptions import DataTypeError, DataValidationError, PrivacyParameterError
from privcausal.privacy import LaplaceMechanism

PNG = b"\x89PNG\r\n\x1a\n"
EVIL = '<script>alert("x")</script><img src="http://evil.example/x.png"> | [a](https://evil.example)'


class Vectorised:
    def __init__(self, mech):
        self.mech = mech

    def __call__(self, answer, random_state):
        return self.mech.randomise(answer, random_state)

    def batch(self, answer, n, random_state):
        return self.mech.randomise(np.full(n, float(answer)), random_state)


@pytest.fixture(scope="module")
def mech():
    return audit_mechanism(Vectorised(LaplaceMechanism(1.0, 1.0)), (0.0, 1.0), epsilon=1.0,
                           samples=2000, random_state=0)


@pytest.fixture(scope="module")
def broken():
    """Noise for epsilon = 4 while claiming 1: the audit must flag it."""
    return audit_mechanism(Vectorised(LaplaceMechanism(4.0, 1.0)), (0.0, 1.0), epsilon=1.0,
                           samples=2000, random_state=1)


@pytest.fixture(scope="module")
def dpsgd():
    from audits.dpsgd.multi_run import audit_dpsgd

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    return audit_dpsgd(X, (X[:, 0] > 0).astype(float), threat="hidden-state", trials=20, steps=10,
                       epsilon=4.0, route="run-level", random_state=1)


def _plain(x):
    """True when x holds only JSON's own types (no numpy, no float inf/nan)."""
    if isinstance(x, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in x.items())
    if isinstance(x, list):
        return all(_plain(v) for v in x)
    if isinstance(x, float):
        return math.isfinite(x)
    return x is None or isinstance(x, (str, int, bool))


class _Checker(HTMLParser):
    """Collects src/href values and tags; records unbalanced end tags."""

    VOID = {"meta", "img", "br", "hr", "link", "input", "source"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.urls, self.tags = [], [], [], set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href")]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.errors.append(tag)


def _parse(text: str) -> _Checker:
    p = _Checker()
    p.feed(text)
    p.close()
    assert not p.errors and not p.stack, (p.errors, p.stack)
    return p


# ----------------------------------------------------------------------------------- records
def test_records_hold_required_keys_and_are_plain_json(mech, dpsgd):
    for r in (mech, dpsgd):
        rec = audit_record(r)
        assert set(REQUIRED_KEYS) | {"summary", "assumption", "violation", "delta"} <= set(rec)
        assert _plain(rec) and json.loads(json.dumps(rec, allow_nan=False)) == rec
        assert rec["epsilon_lower"] == r.epsilon_lower and rec["ceiling"] == r.ceiling
        assert rec["threat_model"] == r.threat_model and rec["alpha"] == r.alpha
        assert "scores_in" not in rec and "scores_in" not in r.to_dict()
        assert 0.0 <= rec["attack"]["auc"] <= 1.0
        s = rec["summary"]
        assert "95% confidence" in s and f"{r.ceiling:.2f}" in s and f"{r.epsilon_theory:.2f}" in s
        assert audit_record(json.loads(json.dumps(rec))) == rec  # a record is accepted again
    dp = audit_record(dpsgd)
    assert dp["bound"] == "gaussian-dp" and dp["trials"] == 20 and "Gaussian" in dp["summary"]
    m = audit_record(mech)
    assert m["bound"] == "clopper-pearson" and m["trials"] == mech.result.n_in == 1000
    assert mech.scores_in.shape == mech.scores_out.shape == (1000,)
    assert f"{mech.epsilon_lower:.2f}" in m["summary"] and "1000 held-out samples" in m["summary"]


def test_violation_is_flagged_in_record_and_summary(broken, mech):
    rec = audit_record(broken)
    assert rec["violation"] is True and rec["epsilon_lower"] > rec["epsilon_theory"]
    assert "EXCEEDS" in rec["summary"]
    assert audit_record(mech)["violation"] is False


def test_infinities_numpy_and_nan_become_plain_json():
    rec = audit_record({"epsilon_theory": np.inf, "epsilon_lower": np.float64(0.5),
                        "alpha": np.float32(0.05), "bound": "clopper-pearson",
                        "threat_model": "black-box", "trials": np.int64(100), "ceiling": "inf",
                        "extra": {"nested": [np.float64(np.nan), -np.inf, np.arange(2)]}})
    assert rec["epsilon_theory"] == "inf" and rec["ceiling"] == "inf"
    assert type(rec["epsilon_lower"]) is float and type(rec["trials"]) is int
    assert rec["extra"]["nested"] == [None, "-inf", [0, 1]] and rec["ratio"] == 0.0
    assert _plain(rec) and "no privacy claimed" in rec["summary"]
    assert audit_record(rec) == rec


def test_bound_and_one_run_rows_with_context():
    b = one_run_bound(1000, 100, 90, delta=1e-5)
    with pytest.raises(DataTypeError, match="Audit.from_bound"):
        audit_record(b)  # a bare bound has no claim and no threat model
    rec = audit_record(Audit.from_bound(b, epsilon_theory=8.0, threat_model="white-box, one run"))
    assert rec["trials"] == 1000 and rec["trials_unit"] == "canaries in one run"
    assert rec["bound"] == "one-run (steinke)" and rec["epsilon_lower"] == b.epsilon_lower
    assert "cannot show the claim is tight" in rec["summary"]  # ceiling 3.5 < 8


# ------------------------------------------------------------------------------------- files
def test_markdown_json_and_figures(tmp_path, mech):
    paths = write_report(mech, tmp_path, title="Laplace audit")
    assert {"json", "md", "html", "figure_1_scores", "figure_1_roc"} == set(paths)
    assert "figure_epsilon" not in paths  # one audit: no epsilon_lower vs epsilon_theory plot
    for k in ("figure_1_scores", "figure_1_roc"):
        assert paths[k].read_bytes().startswith(PNG)
    md = paths["md"].read_text()
    for s in ("Laplace audit", "black-box", "clopper-pearson", "0.05 (95% confidence)",
              "1000 held-out samples per dataset", f"{mech.ceiling:.3f}",
              f"{mech.epsilon_lower:.3f}", f"{mech.epsilon_theory:.3f}", "audit_1_roc.png",
              "independent trials per world"):
        assert s in md, s
    doc = json.loads(paths["json"].read_text())
    assert doc["n_audits"] == 1 and doc["n_violations"] == 0
    assert doc["audits"][0] == audit_record(mech)


def test_html_is_self_contained_and_complete(tmp_path, dpsgd):
    paths = write_report(dpsgd, tmp_path, formats=("html",), name="dp", roc_scale="log")
    assert set(paths) == {"html"} and not list(tmp_path.glob("*.png"))
    text = paths["html"].read_text()
    p = _parse(text)
    assert p.urls and all(u.startswith("data:image/png;base64,") for u in p.urls)
    assert all(base64.b64decode(u.split(",", 1)[1]).startswith(PNG) for u in p.urls)
    assert not p.tags & {"script", "link", "iframe", "object"}
    assert "http://" not in text and "https://" not in text
    rec = audit_record(dpsgd)
    for s in (escape(rec["threat_model"]), "gaussian-dp", "Gaussian-shift test",
              "alpha", "0.05", "20 runs per world", "ceiling", f"{dpsgd.ceiling:.3f}",
              "violation", escape(rec["summary"])):
        assert s in text, s


def test_list_of_results_plots_epsilon_and_highlights_violations(tmp_path, mech, broken, dpsgd):
    paths = write_report([mech, broken, dpsgd], tmp_path, formats=("md", "html"))
    assert paths["figure_epsilon"].read_bytes().startswith(PNG)
    assert {f"figure_{i}_{k}" for i in (1, 2, 3) for k in ("scores", "roc")} <= set(paths)
    text = paths["html"].read_text()
    _parse(text)
    assert text.count('<tr class="violation">') == 2  # summary row and the audit's own row
    assert "**YES**" in paths["md"].read_text()


def test_malicious_strings_are_escaped(tmp_path):
    row = {"epsilon_theory": 1.0, "epsilon_lower": 0.5, "alpha": 0.05, "bound": EVIL,
           "threat_model": EVIL, "trials": 50, "ceiling": 2.0, "assumption": EVIL}
    paths = write_report([row, dict(row, epsilon_lower=1.5)], tmp_path, title=EVIL)
    text = paths["html"].read_text()
    p = _parse(text)
    assert "<script" not in text and "script" not in p.tags
    assert all(u.startswith("data:image/png;base64,") for u in p.urls)
    assert escape(EVIL) in text
    md = paths["md"].read_text()
    assert "<script" not in md and "<img" not in md
    links = re.findall(r"(?<!\\)\]\(([^)]*)\)", md)  # unescaped "](target)": our figures only
    assert links and all(re.fullmatch(r"audit_[a-z0-9_]+\.png", t) for t in links)


# -------------------------------------------------------------------------------- bad inputs
def test_bad_inputs_raise_clear_errors(tmp_path, mech):
    ok = {"epsilon_theory": 1.0, "epsilon_lower": 0.5, "alpha": 0.05, "bound": "clopper-pearson",
          "threat_model": "black-box", "trials": 10, "ceiling": 2.0}
    with pytest.raises(DataValidationError, match="empty"):
        write_report([], tmp_path)
    with pytest.raises(DataValidationError, match="formats"):
        write_report(mech, tmp_path, formats=("pdf",))
    with pytest.raises(DataValidationError, match="file stem"):
        write_report(mech, tmp_path, name="../escape")
    with pytest.raises(DataTypeError, match="title"):
        write_report(mech, tmp_path, title=3)
    with pytest.raises(DataValidationError, match="roc_scale"):
        write_report(mech, tmp_path, roc_scale="loglog")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataValidationError, match="not a directory"):
        write_report(ok, tmp_path / "file")
    with pytest.raises(DataTypeError, match="audit contract"):
        audit_record(object())
    with pytest.raises(DataValidationError, match="missing: ceiling"):
        audit_record({k: v for k, v in ok.items() if k != "ceiling"})
    with pytest.raises(DataValidationError, match="trials"):
        audit_record(dict(ok, trials=0))
    with pytest.raises(PrivacyParameterError, match="alpha"):
        audit_record(dict(ok, alpha=1.5))
    with pytest.raises(PrivacyParameterError, match="epsilon_theory"):
        audit_record(dict(ok, epsilon_theory=0.0))
    with pytest.raises(DataTypeError, match="epsilon_lower"):
        audit_record(dict(ok, epsilon_lower="big"))
    with pytest.raises(DataValidationError, match="NaN"):
        audit_record(dict(ok, ceiling=float("nan")))
    with pytest.raises(DataValidationError, match="non-finite"):
        audit_record(dict(ok, scores_in=[0.1, np.nan], scores_out=[0.0]))


def test_figures_directly():
    from audits.report.figures import epsilon_figure, figure_png, roc_figure, score_histogram

    rng = np.random.default_rng(3)
    s_in, s_out = rng.normal(1, 1, 20_000), rng.normal(0, 1, 20_000)
    for scale in ("log", "linear", "both"):
        assert figure_png(roc_figure(s_in, s_out, scale=scale)).startswith(PNG)
    assert len(roc_figure(s_in, s_out, scale="both").axes) == 2
    assert figure_png(score_histogram(s_in, s_out, threshold=0.5)).startswith(PNG)
    with pytest.raises(DataValidationError, match="both worlds"):
        score_histogram([], s_out)
    with pytest.raises(DataValidationError, match="scale"):
        roc_figure(s_in, s_out, scale="probit")
    with pytest.raises(DataValidationError, match="finite epsilon_theory"):
        epsilon_figure([{"epsilon_theory": "inf", "epsilon_lower": 1.0, "ceiling": 2.0}])

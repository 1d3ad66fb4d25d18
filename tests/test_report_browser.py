"""The HTML reports in a real browser: headless Chromium driven by Playwright.

Each page must load with no console error and no page error, every figure must decode (an
``<img>`` with a natural width), and the parts a data-protection officer reads first must be
there: the conclusion, the claim in an attacker's terms, the assumptions, the glossary.

The browser is the system's Chromium (Debian's ``chromium``; ``.ci/run`` installs it). Without
one the tests are skipped, unless ``PRIVCAUSAL_REQUIRE_BROWSER=1`` (set by CI), where a missing
browser fails them. ``PRIVCAUSAL_SCREENSHOTS=DIR`` saves a full-page screenshot of each report
(the ones under ``experiments/screenshots/`` were taken so).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

REQUIRE = os.environ.get("PRIVCAUSAL_REQUIRE_BROWSER") == "1"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _browser_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


@pytest.fixture(scope="module")
def browser():
    path = _browser_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if path is None or sync_playwright is None:
        why = "no Chromium on PATH" if path is None else "playwright is not installed"
        if REQUIRE:
            pytest.fail(f"PRIVCAUSAL_REQUIRE_BROWSER=1 but {why} (apt-get install chromium)")
        pytest.skip(why)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=FLAGS)
        yield b
        b.close()


def _check_page(browser, html: Path, shot_name: str) -> dict:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(html.resolve().as_uri(), wait_until="load")
    images = page.eval_on_selector_all(
        "img", "els => els.map(e => ({ok: e.complete && e.naturalWidth > 0, w: e.naturalWidth}))")
    info = {
        "errors": errors, "images": images,
        "conclusion": page.locator("p.conclusion").count(),
        "attacker": page.locator("table.attacker-table").count(),
        "glossary": page.locator("#glossary dt").count(),
        "title": page.title(),
        "text": page.inner_text("body"),
    }
    shots = os.environ.get("PRIVCAUSAL_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(shots) / shot_name), full_page=True)
    page.close()
    return info


@pytest.fixture(scope="module")
def model_report(tmp_path_factory):
    """A model audit's report: a non-private logistic regression audited against epsilon = 1."""
    from sklearn.linear_model import LogisticRegression

    from audits import audit_model
    from audits.report.records import write_report

    folder = tmp_path_factory.mktemp("rep")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1600, 60))
    y = (X[:, :5].sum(1) + 2 * rng.logistic(size=1600) > 0).astype(int)
    cols = [f"x{i}" for i in range(60)]
    frames = [pd.DataFrame(X[s], columns=cols).assign(label=y[s])
              for s in (slice(0, 400), slice(400, 800), slice(800, 1600))]
    est = LogisticRegression(C=1e4, max_iter=3000).fit(frames[0][cols], frames[0]["label"])
    res = audit_model(est, frames[0], frames[1], frames[2], attack="lira", reference_models=4,
                      epsilon=1.0, delta=1e-5, random_state=0)
    paths = write_report(res, folder, title="Audit of a released risk model")
    return paths["html"], res


def test_model_audit_report_renders_in_chromium(browser, model_report):
    html, res = model_report
    info = _check_page(browser, html, "model_audit_report.png")
    assert info["errors"] == [], info["errors"]
    assert len(info["images"]) >= 2 and all(i["ok"] for i in info["images"]), info["images"]
    assert info["conclusion"] == 1 and info["attacker"] == 1 and info["glossary"] >= 10
    assert info["title"] == "Audit of a released risk model"
    text = info["text"]
    assert "Tested:" in text and "Not shown: that the claim holds" in text
    assert "the claim allows at most" in text and "Dirac canary" in text
    # the page names the claim and the certified bound with the numbers of the result
    assert f"{res.epsilon_lower:.3f}" in text


def test_dpsgd_audit_report_renders_in_chromium(browser, tmp_path):
    """A DP-SGD one-run audit's report (canaries, no attacker table) renders too."""
    from audits import audit_dpsgd_one_run
    from audits.report.records import write_report

    from audits.dpsgd.registry import registry_features

    X, y = registry_features(400, random_state=0)
    res = audit_dpsgd_one_run(X, y, epsilon=4.0, delta=1e-5, canaries=200, steps=50,
                              random_state=0)
    html = write_report(res, tmp_path, title="DP-SGD audit")["html"]
    info = _check_page(browser, html, "dpsgd_audit_report.png")
    assert info["errors"] == [] and all(i["ok"] for i in info["images"])
    assert info["conclusion"] == 1 and info["attacker"] == 0 and info["glossary"] >= 10


def test_attack_membership_report_renders_in_chromium(browser, tmp_path):
    """``attack membership --report`` writes HTML beside JSON, Markdown, PNG and SVG."""
    from sklearn.linear_model import LogisticRegression

    from privcausal.cli import main

    rng = np.random.default_rng(1)
    X = rng.normal(size=(800, 40))
    y = (X[:, 0] + rng.logistic(size=800) > 0).astype(int)
    cols = [f"x{i}" for i in range(40)]
    f = [pd.DataFrame(X[s], columns=cols).assign(y=y[s]) for s in (slice(0, 300), slice(300, 600),
                                                                     slice(600, 800))]
    import skops.io as sio

    sio.dump(LogisticRegression(C=1e4, max_iter=3000).fit(f[0][cols], f[0]["y"]), tmp_path / "m.skops")
    for i, name in enumerate(("m.csv", "n.csv", "p.csv")):
        f[i].to_csv(tmp_path / name, index=False)
    rc = main(["attack", "membership", "--model", str(tmp_path / "m.skops"), "--members",
               str(tmp_path / "m.csv"), "--nonmembers", str(tmp_path / "n.csv"), "--population",
               str(tmp_path / "p.csv"), "--attack", "loss,lira", "--reference-models", "4",
               "--random-state", "0", "--report", str(tmp_path / "rep"), "--no-progress"])
    assert rc == 0
    for name in ("membership.json", "membership.md", "membership.html", "membership_roc.png",
                 "membership_roc.svg"):
        assert (tmp_path / "rep" / name).is_file(), name
    info = _check_page(browser, tmp_path / "rep" / "membership.html", "membership_report.png")
    assert info["errors"] == [] and len(info["images"]) == 1 and info["images"][0]["ok"]
    assert "not a bound on epsilon" in info["text"] and "lira" in info["text"]


def test_demo_report_html_renders_in_chromium(browser, tmp_path):
    from privcausal.demo import run_demo

    s = run_demo(tmp_path / "demo", n=2000, progress=False)
    info = _check_page(browser, Path(s["html"]), "demo_report.png")
    assert info["errors"] == [] and len(info["images"]) == 1 and info["images"][0]["ok"]
    assert "What each interval accounts for" in info["text"] and "aipw-hgb-np" in info["text"]

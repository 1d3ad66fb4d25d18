"""Audit reports: a JSON record, a Markdown page and a self-contained HTML page per audit run.

:func:`audit_record` turns an audit result (anything that keeps the contract of
:mod:`audits.result`; no switch on its type) or a plain mapping (a record read back, a
privacy-curve row) into one JSON-able record that always states what a lower bound on epsilon
means only together with: the threat model, the bound's route and its assumption, the tests
that licensed it, alpha, the number of trials, the ceiling that number of trials allows,
whether the certified epsilon_lower exceeds epsilon_theory (a violation), and, apart, any
estimate with the assumption it rests on.

:func:`write_report` writes ``<name>.json``, ``<name>.md`` (with PNG figures beside it) and
``<name>.html`` (figures embedded as base64 data URIs, inline CSS, no external resource, every
value escaped). Figures (:mod:`audits.report.figures`): score histograms with and without the canary
and the ROC curve when scores exist, and, for several audits, epsilon_lower against
epsilon_theory. Reports hold audit statistics and attack scores, never a record's values.

References
----------
.. [1] Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis, "Tight auditing of
   differentially private machine learning", USENIX Security 2023 (what an audit must report).
.. [2] Jagielski, Ullman, Oprea, "Auditing differentially private machine learning: how private
   is private SGD?", NeurIPS 2020 (the Clopper-Pearson bound and its ceiling).
.. [3] Carlini, Chien, Nasr, Song, Terzis, Tramer, "Membership inference attacks from first
   principles", IEEE S&P 2022 (ROC at low FPR).
"""

from __future__ import annotations

import json
import math
import numbers
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from audits.report.render import render_html, render_markdown, route_words
from audits.result import AuditResult, json_value, summary_sentence
from privcausal.exceptions import DataTypeError, DataValidationError, PrivacyParameterError
from privcausal.validation import check_alpha

__all__ = ["audit_record", "write_report", "REQUIRED_KEYS", "FORMATS"]

REQUIRED_KEYS = ("epsilon_theory", "epsilon_lower", "alpha", "bound", "threat_model", "trials",
                 "ceiling")
FORMATS = ("json", "md", "html")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


# ------------------------------------------------------------------------------ JSON values
def _number(x: Any, name: str) -> float:
    """A real number, or the strings "inf"/"-inf" written by the to_dict methods."""
    if isinstance(x, str) and x.strip().lower() in ("inf", "+inf", "infinity", "-inf"):
        return -math.inf if x.strip().startswith("-") else math.inf
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise DataTypeError(f"{name} must be a number (or \"inf\"), got {type(x).__name__}")
    v = float(x)
    if math.isnan(v):
        raise DataValidationError(f"{name} is NaN: an audit record needs a value")
    return v


# ------------------------------------------------------------------------------ from results
def _split(result: Any) -> tuple[dict[str, Any], Any, Any]:
    """(raw record, scores_in, scores_out) of an audit result (the contract of
    :mod:`audits.result`) or of a record (a mapping, such as one read back from JSON)."""
    if isinstance(result, Mapping):
        d = dict(result)
        d.setdefault("kind", "custom")
        return d, d.pop("scores_in", None), d.pop("scores_out", None)
    if isinstance(result, AuditResult):
        d = dict(result.to_dict())
        d.setdefault("score_threshold", getattr(result, "score_threshold", None))
        return d, getattr(result, "scores_in", None), getattr(result, "scores_out", None)
    raise DataTypeError(
        "an audit result must follow the audit contract (audits.result.AuditResult: "
        "epsilon_lower, epsilon_theory, bound, ... and to_dict()) or be a mapping with the keys "
        f"{', '.join(REQUIRED_KEYS)}; got {type(result).__name__} (wrap a bare bound with "
        "audits.result.Audit.from_bound)"
    )


def _scores(s_in: Any, s_out: Any) -> tuple[np.ndarray, np.ndarray] | None:
    if s_in is None or s_out is None:
        return None
    a = np.asarray(s_in, dtype=np.float64).ravel()
    b = np.asarray(s_out, dtype=np.float64).ravel()
    if a.size == 0 or b.size == 0:
        return None
    n_bad = int((~np.isfinite(a)).sum() + (~np.isfinite(b)).sum())
    if n_bad:
        raise DataValidationError(f"the attack scores hold {n_bad} non-finite values")
    return a, b


def _check(d: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise the required keys; recompute the derived ones."""
    missing = [k for k in REQUIRED_KEYS if d.get(k) is None]
    if missing:
        raise DataValidationError(
            f"an audit record needs {', '.join(REQUIRED_KEYS)}; missing: {', '.join(missing)}"
        )
    et, el = _number(d["epsilon_theory"], "epsilon_theory"), _number(d["epsilon_lower"], "epsilon_lower")
    top = _number(d["ceiling"], "ceiling")
    if et <= 0:
        raise PrivacyParameterError(f"epsilon_theory must be > 0 (inf if non-private), got {et!r}")
    if el < 0 or top < 0:
        raise DataValidationError(f"epsilon_lower and ceiling must be >= 0, got {el!r} and {top!r}")
    trials = d["trials"]
    if isinstance(trials, bool) or not isinstance(trials, numbers.Integral) or int(trials) < 1:
        raise DataValidationError(f"trials must be a positive integer, got {trials!r}")
    for k in ("bound", "threat_model"):
        if not isinstance(d[k], str) or not d[k].strip():
            raise DataTypeError(f"{k} must be a non-empty string (say what was assumed), got {d[k]!r}")
    d.update(epsilon_theory=et, epsilon_lower=el, ceiling=top, trials=int(trials),
             alpha=check_alpha(d["alpha"]))
    d.setdefault("trials_unit", "runs per world")
    d["assumption"] = str(d.get("assumption") or route_words(d["bound"])[1])
    est = d.get("epsilon_estimate")
    d["epsilon_estimate"] = None if est is None else _number(est, "epsilon_estimate")
    d["estimate_assumption"] = str(d.get("estimate_assumption") or "")
    d["tests"] = list(d.get("tests") or [])
    d.update(confidence=1.0 - d["alpha"], violation=el > et,
             ratio=el / et if 0 < et < math.inf else (0.0 if et == math.inf else math.nan),
             at_ceiling=bool(top > 0 and el >= top * (1 - 1e-9)))
    return d


def _build(result: Any, context: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    raw, s_in, s_out = _split(result)
    raw.update(context)
    scores = _scores(s_in, s_out)
    d = _check(raw)
    if scores is not None:
        from attacks.metrics import attack_metrics

        lab = np.r_[np.ones(scores[0].size, dtype=np.int8), np.zeros(scores[1].size, dtype=np.int8)]
        d["attack"] = attack_metrics(lab, np.concatenate(scores)).to_dict()
    d["summary"] = summary_sentence(d)
    first = [*REQUIRED_KEYS, "summary"]
    ordered = {k: d[k] for k in first} | {k: v for k, v in d.items() if k not in first}
    return json_value(ordered), scores


def audit_record(result: Any, **context: Any) -> dict[str, Any]:
    """The JSON-able record of one audit.

    Parameters
    ----------
    result : any audit result (the contract :class:`audits.result.AuditResult`) or a mapping.
        A mapping needs the keys of :data:`REQUIRED_KEYS` (``epsilon_theory``,
        ``epsilon_lower``, ``alpha``, ``bound``, ``threat_model``, ``trials``, ``ceiling``);
        infinities may be written ``"inf"``; optional ``scores_in``/``scores_out`` (attack
        scores with/without the canary) feed the figures and the attack metrics, and are not
        copied into the record. A record returned here is accepted again.
    **context
        Keys set on (or overriding) the record. A bare bound is wrapped first:
        ``audit_record(Audit.from_bound(b, epsilon_theory=4.0, threat_model="..."))``.

    Returns
    -------
    dict
        Everything the result's ``to_dict`` gives, normalised (``bound`` is the route's name,
        ``"inf"`` for infinities, None for NaN, python numbers), plus ``assumption``,
        ``trials_unit``, ``confidence``, ``violation`` (epsilon_lower > epsilon_theory),
        ``ratio``, ``at_ceiling``, ``attack`` (AUC, advantage, TPR at low FPR; when scores
        exist) and ``summary``, a sentence in plain words.
    """
    return _build(result, context)[0]


def _items(results: Any) -> list[tuple[dict[str, Any], Any]]:
    if isinstance(results, (list, tuple)):
        if not results:
            raise DataValidationError("no audit results to report: the list is empty")
        return [_build(r, {}) for r in results]
    return [_build(results, {})]


def _figures(items: Sequence[tuple[dict[str, Any], Any]], roc_scale: str, dpi: int) -> dict[str, tuple[str, bytes]]:
    """figure key -> (caption, PNG bytes)."""
    from audits.report.figures import epsilon_figure, figure_png, roc_figure, score_histogram

    out: dict[str, tuple[str, bytes]] = {}
    plottable = [rec for rec, _ in items if math.isfinite(_number(rec["epsilon_theory"], "e"))]
    if len(items) > 1 and plottable:
        out["epsilon"] = ("epsilon_lower (with the ceiling its trials allow) against epsilon_theory;"
                          " points above the dashed line are violations",
                          figure_png(epsilon_figure(plottable), dpi=dpi))
    for i, (rec, scores) in enumerate(items, 1):
        if scores is None:
            continue
        t = rec.get("score_threshold")
        t = t if isinstance(t, (int, float)) else None
        mem = rec.get("kind") == "model"
        out[f"{i}_scores"] = (f"audit {i}: attack scores of " + ("members and non-members" if mem else
                                                                 "runs with and without the canary"),
                              figure_png(score_histogram(*scores, threshold=t, members=mem,
                                                         title="Attack scores"), dpi=dpi))
        et = _number(rec["epsilon_theory"], "epsilon_theory")
        lim = (et, float(rec.get("delta") or 0.0)) if math.isfinite(et) else None
        out[f"{i}_roc"] = (f"audit {i}: ROC curve of the attack (how many members it finds at each "
                           "rate of false accusations), with the chance diagonal"
                           + (" and the most the claim allows (the measured curve may cross it "
                              "where few non-members resolve the rate; the certified bound "
                              "accounts for that sampling error)" if lim else ""),
                           figure_png(roc_figure(*scores, scale=roc_scale, dp_limit=lim,
                                                 title="Membership attack against the claim"),
                                      dpi=dpi))
    return out


def write_report(results: Any, directory: str | Path, *, formats: Sequence[str] = FORMATS,
                 title: str = "Privacy audit report", name: str = "audit",
                 roc_scale: str = "both", dpi: int = 100) -> dict[str, Path]:
    """Write the report of one audit result or a list of them.

    Parameters
    ----------
    results : one result (anything :func:`audit_record` accepts) or a list of them
    directory : where to write; created if missing
    formats : any of ``"json"``, ``"md"`` (PNG figures written beside it) and ``"html"`` (one
        self-contained file: figures as base64 data URIs, inline CSS, no external resource)
    title : the report's title (escaped in HTML and Markdown)
    name : the file stem: letters, digits, ``_``, ``-`` and ``.`` (no path)
    roc_scale : ``"log"`` (log-log), ``"linear"`` or ``"both"``
    dpi : resolution of the figures

    Returns
    -------
    dict[str, pathlib.Path]
        ``"json"``, ``"md"``, ``"html"`` for the formats written and ``"figure_<key>"`` for each
        PNG (``figure_epsilon``; ``figure_<i>_scores``, ``figure_<i>_roc`` for audit i from 1).
    """
    if isinstance(formats, str):
        formats = (formats,)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise DataValidationError(f"formats must be a non-empty selection of {FORMATS}, got {list(formats)!r}")
    if not isinstance(title, str):
        raise DataTypeError(f"title must be a string, got {type(title).__name__}")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DataValidationError(
            "name must be a plain file stem (letters, digits, '_', '-', '.'; no path), got "
            f"{name!r}")
    from audits.report.figures import ROC_SCALES

    if roc_scale not in ROC_SCALES:
        raise DataValidationError(f"roc_scale must be one of {ROC_SCALES}, got {roc_scale!r}")
    items = _items(results)
    out_dir = Path(directory)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataValidationError(f"{out_dir} exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    records = [rec for rec, _ in items]
    figs = _figures(items, roc_scale, dpi) if ("md" in formats or "html" in formats) else {}
    paths: dict[str, Path] = {}
    if "json" in formats:
        doc = {"title": title, "n_audits": len(records),
               "n_violations": sum(bool(r["violation"]) for r in records), "audits": records}
        paths["json"] = out_dir / f"{name}.json"
        paths["json"].write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    if "md" in formats:
        files = {}
        for key, (_, png) in figs.items():
            paths[f"figure_{key}"] = out_dir / f"{name}_{key}.png"
            paths[f"figure_{key}"].write_bytes(png)
            files[key] = (figs[key][0], f"{name}_{key}.png")
        paths["md"] = out_dir / f"{name}.md"
        paths["md"].write_text(render_markdown(records, title=title, figures=files), encoding="utf-8")
    if "html" in formats:
        paths["html"] = out_dir / f"{name}.html"
        paths["html"].write_text(render_html(records, title=title, figures=figs), encoding="utf-8")
    return paths

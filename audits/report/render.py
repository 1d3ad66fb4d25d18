"""Markdown and HTML text of audit reports (used by :mod:`audits.report.records`).

Every value taken from a record is escaped: ``html.escape`` in HTML, backslash escapes of the
Markdown punctuation in Markdown, so a title or threat model cannot inject markup, links or
scripts. The HTML page is self-contained: inline CSS, figures as ``data:image/png;base64`` URIs,
and a Content-Security-Policy that forbids loading anything else.

References
----------
.. [1] Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis, "Tight auditing of
   differentially private machine learning", USENIX Security 2023.
"""

from __future__ import annotations

import base64
import html
import math
import re
from typing import Any, Mapping, Sequence

from audits.report.people import GLOSSARY, assumption_items, attacker_rows, conclusion, odds_sentence

__all__ = ["render_markdown", "render_html", "route_words"]

_ATTACKER_HEAD = ("at this false-positive rate", "the claim allows at most", "the attack reached")

_ROUTES = {
    "clopper-pearson": ("Clopper-Pearson route", "no assumption beyond independent trials"),
    "gaussian-dp": ("Gaussian-DP route", "a Gaussian trade-off curve, licensed by a "
                    "Gaussian-shift test of the scores"),
    "gaussian-dp (white-box, measured shift)": (
        "white-box route, signal and noise measured",
        "Gaussian noise independent across steps and runs, tested on the residuals"),
    "one-run (steinke)": ("one-run route of Steinke et al.",
                          "assumes each canary is included independently with probability 1/2"),
    "one-run (fdp)": ("f-DP one-run route", "a Gaussian trade-off curve (licensed by a "
                      "Gaussian-shift test of the canaries' scores) and canaries included "
                      "independently with probability 1/2"),
}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}tr.violation td{background:#fde2e2}td.flag{font-weight:bold;color:#b00020}
p.summary{background:#f6f8fa;border-left:4px solid #1b9e77;padding:.6em .9em}
p.summary.violation{border-left-color:#b00020}
figure{display:inline-block;margin:.5em 1em .5em 0}figcaption{font-size:.85em;color:#555}
img{max-width:100%}footer{margin-top:3em;font-size:.8em;color:#777}
p.conclusion{font-size:1.05em;background:#fffbe6;border-left:4px solid #e6a700;padding:.6em .9em}
p.conclusion.violation{background:#fde2e2;border-left-color:#b00020}
dl.glossary dt{font-weight:bold;margin-top:.5em}dl.glossary dd{margin-left:1.5em}
"""
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def route_words(bound: str, assumption: str = "") -> tuple[str, str]:
    """(the bound's route in words, its assumption in a few words) for a record's ``bound``."""
    return _ROUTES.get(bound, (f"{bound} route", assumption or "assumption not stated"))


def _fmt(x: Any) -> str:
    """A number for a table: inf as "inf", floats to 3 decimals (or 3 significant digits)."""
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return f"{x:.3f}" if x == 0 or 1e-3 <= abs(x) < 1e4 else f"{x:.3g}"
    return str(x)


def _alpha(r: Mapping[str, Any]) -> str:
    return f"{r['alpha']:g} ({100 * (1 - r['alpha']):.4g}% confidence)"


def _rows(r: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows of one audit's table: the required facts first, then what exists."""
    route, assume = route_words(r["bound"], r.get("assumption", ""))
    rows = [
        ("threat model", r["threat_model"]),
        ("bound", f"{r['bound']} ({route})"),
        ("assumption", r.get("assumption") or assume),
        ("alpha", _alpha(r)),
        ("trials", f"{r['trials']} {r.get('trials_unit', 'runs per world')}"),
        ("ceiling (perfect attack, these trials)", _fmt(r["ceiling"])),
        ("epsilon_theory (claimed)", _fmt(r["epsilon_theory"])),
        ("epsilon_lower (certified)", _fmt(r["epsilon_lower"])),
        ("violation (epsilon_lower > epsilon_theory)", "YES" if r["violation"] else "no"),
        ("at ceiling", _fmt(bool(r.get("at_ceiling")))),
    ]
    for t in r.get("tests") or ():
        verdict = "passed" if t.get("passed") else "REFUSED"
        rows.append((f"assumption test: {t.get('name')}",
                     f"{verdict} (p = {_fmt(t.get('p_value'))} at level {_fmt(t.get('level'))}); "
                     f"power: {t.get('power')}"))
    if r.get("epsilon_estimate") is not None:
        rows.append(("epsilon_estimate (NOT certified, never a violation)",
                     f"{_fmt(r['epsilon_estimate'])}, if {r.get('estimate_assumption') or 'its assumption holds'}"))
    for key, label in (("delta", "delta"), ("route", "route"),
                       ("threshold_selection", "test / threshold selection"),
                       ("mu_lower", "mu_lower (GDP)"), ("steps", "steps"),
                       ("noise_multiplier", "noise multiplier")):
        if r.get(key) is not None and r.get(key) != "":
            rows.append((label, _fmt(r[key])))
    attack = r.get("attack")
    if isinstance(attack, Mapping):
        rows.append(("attack AUC", _fmt(attack.get("auc"))))
        rows.append(("attack advantage (max TPR - FPR)", _fmt(attack.get("advantage"))))
        for t in attack.get("tpr_at_fpr") or ():
            rows.append((f"TPR at FPR {t['fpr']:g}", _fmt(t["tpr"])))
    return rows


_HEAD = ("#", "threat model", "bound", "assumption", "alpha", "trials", "ceiling",
         "epsilon_theory", "epsilon_lower (certified)", "violation", "estimate (not certified)")


def _summary_row(i: int, r: Mapping[str, Any]) -> list[str]:
    return [str(i), r["threat_model"], r["bound"], route_words(r["bound"], r.get("assumption", ""))[1],
            _alpha(r), f"{r['trials']} {r.get('trials_unit', 'runs per world')}", _fmt(r["ceiling"]),
            _fmt(r["epsilon_theory"]), _fmt(r["epsilon_lower"]), "YES" if r["violation"] else "no",
            _fmt(r.get("epsilon_estimate"))]


def _count_line(records: Sequence[Mapping[str, Any]]) -> str:
    k = sum(bool(r["violation"]) for r in records)
    return (f"{len(records)} audit(s); {k} violation(s) (certified epsilon_lower > "
            "epsilon_theory). An epsilon_lower is a lower bound at the stated confidence, valid "
            "under the stated threat model and the assumptions its tests licensed; it cannot "
            "exceed the ceiling its number of trials allows. An estimate rests on an assumption "
            "nobody tested and is never a violation.")


# ---------------------------------------------------------------------------- Markdown
def _md(x: Any) -> str:
    # & and < as entities (no raw HTML, no entity injection); Markdown punctuation escaped
    s = " ".join(str(x).split()).replace("&", "&amp;").replace("<", "&lt;")
    return _MD_SPECIAL.sub(r"\\\1", s)


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]], flags: Sequence[bool]) -> list[str]:
    out = ["| " + " | ".join(_md(h) for h in head) + " |", "|" + "---|" * len(head)]
    for row, bad in zip(rows, flags):
        cells = [_md(c) for c in row]
        if bad:
            cells = [f"**{c}**" for c in cells]
        out.append("| " + " | ".join(cells) + " |")
    return out


def render_markdown(records: Sequence[Mapping[str, Any]], *, title: str,
                    figures: Mapping[str, tuple[str, str]]) -> str:
    """Markdown report; ``figures`` maps a figure key to (caption, PNG file name beside it)."""
    lines = [f"# {_md(title)}", "", _md(_count_line(records)), ""]
    lines += _md_table(_HEAD, [_summary_row(i, r) for i, r in enumerate(records, 1)],
                       [bool(r["violation"]) for r in records])
    lines.append("")
    if "epsilon" in figures:
        cap, file = figures["epsilon"]
        lines += [f"![{_md(cap)}]({file})", "", f"*{_md(cap)}*", ""]
    for i, r in enumerate(records, 1):
        lines += [f"## Audit {i}: {_md(r['threat_model'])}", "", f"**{_md(conclusion(r))}**", "",
                  _md(r["summary"]), ""]
        if attacker_rows(r):
            lines += ["### What the claim means for an attacker", "", _md(odds_sentence(r)), ""]
            lines += _md_table(_ATTACKER_HEAD, attacker_rows(r), [False] * len(attacker_rows(r)))
            lines.append("")
        lines += ["### Assumptions", ""] + [f"- {_md(a)}" for a in assumption_items(r)] + [""]
        rows = _rows(r)
        lines += _md_table(("field", "value"), rows,
                           [lab.startswith("violation") and bool(r["violation"]) for lab, _ in rows])
        lines.append("")
        for key in (f"{i}_scores", f"{i}_roc"):
            if key in figures:
                cap, file = figures[key]
                lines += [f"![{_md(cap)}]({file})", ""]
    lines += ["## Glossary", ""] + [f"- **{_md(t)}**: {_md(d)}" for t, d in GLOSSARY]
    return "\n".join(lines).rstrip() + "\n"


# -------------------------------------------------------------------------------- HTML
def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _html_table(head: Sequence[str] | None, rows: Sequence[Sequence[str]], flags: Sequence[bool],
                cls: str) -> str:
    out = [f'<table class="{cls}">']
    if head:
        out.append("<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead>")
    out.append("<tbody>")
    for row, bad in zip(rows, flags):
        tr = '<tr class="violation">' if bad else "<tr>"
        cells = [f'<td class="flag">{_e(c)}</td>' if bad and c == "YES" else f"<td>{_e(c)}</td>"
                 for c in row]
        if head is None:  # a key/value table: the key names the row
            cells[0] = f'<th scope="row">{_e(row[0])}</th>'
        out.append(tr + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _img(caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def render_html(records: Sequence[Mapping[str, Any]], *, title: str,
                figures: Mapping[str, tuple[str, bytes]]) -> str:
    """One self-contained HTML page; ``figures`` maps a figure key to (caption, PNG bytes)."""
    body = [f"<h1>{_e(title)}</h1>", f"<p>{_e(_count_line(records))}</p>",
            _html_table(_HEAD, [_summary_row(i, r) for i, r in enumerate(records, 1)],
                        [bool(r["violation"]) for r in records], "summary-table")]
    if "epsilon" in figures:
        body.append(_img(*figures["epsilon"]))
    for i, r in enumerate(records, 1):
        cls = "summary violation" if r["violation"] else "summary"
        ccls = "conclusion violation" if r["violation"] else "conclusion"
        body += [f'<section id="audit-{i}">', f"<h2>Audit {i}: {_e(r['threat_model'])}</h2>",
                 f'<p class="{ccls}">{_e(conclusion(r))}</p>',
                 f'<p class="{cls}">{_e(r["summary"])}</p>']
        arows = attacker_rows(r)
        if arows:
            body += ["<h3>What the claim means for an attacker</h3>", f"<p>{_e(odds_sentence(r))}</p>",
                     _html_table(_ATTACKER_HEAD, arows, [False] * len(arows), "attacker-table")]
        body += ["<h3>Assumptions and notes</h3>",
                 "<ul>" + "".join(f"<li>{_e(a)}</li>" for a in assumption_items(r)) + "</ul>",
                 "<h3>Details</h3>"]
        rows = _rows(r)
        body.append(_html_table(None, rows, [lab.startswith("violation") and bool(r["violation"])
                                             for lab, _ in rows], "audit-table"))
        body += [_img(*figures[k]) for k in (f"{i}_scores", f"{i}_roc") if k in figures]
        body.append("</section>")
    body += ['<section id="glossary"><h2>Glossary</h2><dl class="glossary">']
    body += [f"<dt>{_e(t)}</dt><dd>{_e(d)}</dd>" for t, d in GLOSSARY]
    body += ["</dl></section>"]
    body.append("<footer>Written by privcausal (audits.report.records). Audit statistics and attack "
                "scores only; no record of the data appears here.</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")

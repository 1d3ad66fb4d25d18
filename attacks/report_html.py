"""The membership report as one self-contained HTML page (used by :func:`attacks.results.write_report`).

Inline CSS, the ROC figure as a ``data:`` URI, a Content-Security-Policy that loads nothing
else, and every value ``html.escape``d. Attack metrics and notes only: no record's values.
"""

from __future__ import annotations

import base64
from typing import Any, Mapping

from privcausal.html_page import escape, page

__all__ = ["membership_html"]

_CSS = "p.lead{background:#fffbe6;border-left:4px solid #e6a700;padding:.6em .9em}"
_e = escape


def membership_html(results: Mapping[str, Any], title: str, png: bytes, keys: list[str]) -> str:
    """The page: what was measured in words, the table (TPR columns named by ``keys``), the
    notes, the ROC figure."""
    first = next(iter(results.values()))
    best = max(results.values(), key=lambda r: r.auc)
    lead = (f"{len(results)} membership attack(s) on {first.n_members} records the model trained on "
            f"and {first.n_nonmembers} it did not. The strongest, {best.attack}, reached an AUC of "
            f"{best.auc:.3f} (0.5 is guessing, 1 is certainty). These are measurements of these "
            "attacks, not a privacy guarantee and not a bound on epsilon: for a certified bound "
            "against a claim, run 'privcausal audit model'.")
    head = ["attack", "reference models", "AUC", "advantage"] + [f"TPR at FPR {k}" for k in keys]
    rows = []
    for name, r in results.items():
        cells = [name, r.n_reference, f"{r.auc:.4f}", f"{r.advantage:.4f}"]
        cells += [f"{t.tpr:.4f}" for t in r.metrics.tpr_at_fpr]
        rows.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    notes = list(first.low_fpr_warnings) + [f"{n}: {note}" for n, r in results.items() for note in r.notes]
    img = base64.b64encode(png).decode("ascii")
    body = [f"<h1>{_e(title)}</h1>", f'<p class="lead">{_e(lead)}</p>',
            "<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>",
            "<p>Convention: member = 1, a higher score means more likely a member. TPR: the share "
            "of members flagged; FPR: the share of non-members flagged anyway.</p>"]
    if notes:
        body.append("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    body.append(f'<figure><img src="data:image/png;base64,{img}" alt="ROC curves of the attacks '
                f'on log axes"><figcaption>ROC curves on log axes (Carlini et al. 2022): what '
                f"matters is the TPR at a small FPR.</figcaption></figure>")
    return page(title, body, _CSS)

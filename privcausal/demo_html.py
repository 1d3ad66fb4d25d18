"""The demo's report as one self-contained HTML page (``report.html``, beside ``report.md``).

Inline CSS, the forest plot as a ``data:`` URI, a Content-Security-Policy that loads nothing
else, every value ``html.escape``d. The page holds the released estimates, intervals and
receipts' notes: public or noisy quantities only, as the Markdown report.
"""

from __future__ import annotations

import base64
from typing import Any, Mapping, Sequence

from privcausal.html_page import escape, page

__all__ = ["demo_html"]

_CSS = "td.miss{color:#b00020;font-weight:bold}p.lead{background:#f6f8fa;border-left:4px solid #1b9e77;padding:.6em .9em}"
_e = escape


def demo_html(title: str, paragraphs: Sequence[str], rows: Sequence[Mapping[str, Any]],
              covers: Mapping[str, str], notes: Sequence[str], png: bytes) -> str:
    """The page: the context, the table of estimates, what each interval covers, the figure."""
    head = ("estimator", "private", "ATE", "95% CI", "covers the truth", "abs error",
            "epsilon spent", "accountant")
    body = [f"<h1>{_e(title)}</h1>"] + [f'<p class="lead">{_e(p)}</p>' for p in paragraphs[:1]]
    body += [f"<p>{_e(p)}</p>" for p in paragraphs[1:]]
    trs = []
    for r in rows:
        eps = r["epsilon_spent"] if isinstance(r["epsilon_spent"], str) else f"{r['epsilon_spent']:.3f}"
        cells = [r["estimator"], "yes" if r["private"] else "no", f"{r['ate']:.4f}",
                 f"[{r['ci_low']:.4f}, {r['ci_high']:.4f}]", "yes" if r["covers_truth"] else "no",
                 f"{r['abs_error']:.4f}", eps, r["accountant"]]
        tds = "".join(f'<td class="miss">{_e(c)}</td>' if (i == 4 and c == "no") else f"<td>{_e(c)}</td>"
                      for i, c in enumerate(cells))
        trs.append(f"<tr>{tds}</tr>")
    body.append("<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head)
                + "</tr></thead><tbody>" + "".join(trs) + "</tbody></table>")
    body.append("<h2>What each interval accounts for</h2><ul>"
                + "".join(f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in covers.items()) + "</ul>")
    img = base64.b64encode(png).decode("ascii")
    body.append(f'<figure><img src="data:image/png;base64,{img}" alt="forest plot of the estimates">'
                "<figcaption>Each estimate with its 95% interval; the dashed line is the true "
                "effect of the simulation.</figcaption></figure>")
    if notes:
        body.append("<h2>What each private release did (its receipt's notes)</h2><ul>"
                    + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    return page(title, body, _CSS)

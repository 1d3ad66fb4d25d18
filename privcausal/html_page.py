"""Self-contained HTML pages for people (the demo's report, the attack report): escaping, the
Content-Security-Policy that loads nothing but inline styles and ``data:`` images, the frame."""

from __future__ import annotations

import html
from typing import Any, Sequence

__all__ = ["escape", "page", "BASE_CSS", "CSP"]

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
BASE_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
            "color:#222;line-height:1.45}table{border-collapse:collapse;margin:1em 0;font-size:.93em}"
            "th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#f3f3f3}"
            "img{max-width:100%}")


def escape(x: Any) -> str:
    """``x`` as HTML text (quotes escaped too: safe in attributes)."""
    return html.escape(str(x), quote=True)


def page(title: str, body: Sequence[str], css: str = "") -> str:
    """A whole page: the escaped title, the CSP, the base style plus ``css``, the body parts."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Content-Security-Policy" content="{escape(CSP)}">\n'
            f"<title>{escape(title)}</title>\n<style>{BASE_CSS}{css}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")

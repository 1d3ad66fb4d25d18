"""Audit reports: JSON records, Markdown and self-contained HTML pages, and their figures."""

from audits._lazy import by_module, lazy_face

__all__, __getattr__ = lazy_face(__name__, by_module(
    records=("audit_record", "write_report"),
    figures=("score_histogram", "roc_figure", "epsilon_figure"),
))

"""Privacy-utility curves: a TOML spec, the fit and audit trials, tables and figures."""

from audits._lazy import by_module, lazy_face

__all__, __getattr__ = lazy_face(__name__, by_module(
    run=("run_curves", "CurveResult"),
    spec=("load_spec", "parse_spec", "CurveSpec"),
))

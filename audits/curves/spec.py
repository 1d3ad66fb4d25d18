"""The TOML spec of a privacy-utility curve, read and checked before anything runs.

A spec names a data source, a grid (ATE estimators or CATE learners, epsilons, repetitions),
and optionally a membership attack and an audit. Every key is checked, unknown keys included
(a typo must not silently fall back to a default), and an error names the key::

    name = "ate_trauma"
    seed = 0
    output = "curves/ate_trauma"      # relative to the spec's folder (default: curves/<name>)

    [data]
    source = "trauma"                 # or "ihdp" (replications = [1, 2, ...])
    n = 5000

    [grid]
    estimators = ["dim", "regression", "ipw", "aipw"]   # or learners = ["dp-tlearner", ...]
    epsilons = [0.25, 0.5, 1, 2, 4, 8]
    delta = 1e-6
    reps = 20

    [params.regression]               # keyword arguments of one estimator (and of its twin)
    n_bootstrap = 500

    [audit]                           # epsilon_lower against epsilon_theory for each cell
    samples = 200000

    [quick]                           # what --quick runs instead (smoke tests)
    reps = 2

Each private estimator's non-private twin (``dim-np``, ``tlearner``) runs at epsilon = inf
unless ``grid.twins = false``.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from audits.curves.spec_values import epsilon_list, fail, as_float, as_int, name_list, probability, table
from privcausal.exceptions import SpecError

__all__ = ["CurveSpec", "DataSpec", "GridSpec", "AttackSpec", "AuditSpec", "load_spec",
           "parse_spec", "twin_name", "QUICK_DEFAULTS"]

SOURCES = ("trauma", "ihdp")
THREATS = ("white-box", "hidden-state", "black-box")
#: what --quick changes when the spec's [quick] table does not say
QUICK_DEFAULTS = {"reps": 2, "n": 1000, "replications": 2, "samples": 2000,
                  "trials": 20, "records": 300, "n_epsilons": 3}
_TOP = {"name", "description", "output", "seed", "data", "grid", "params", "attack", "audit", "quick"}
_DATA = {"trauma": {"source", "n", "confounding", "missing", "n_centres"},
         "ihdp": {"source", "replications", "outcome_bounds", "path"}}
_GRID = {"estimators", "learners", "epsilons", "delta", "reps", "alpha", "twins"}
_ATTACK = {"attack", "fpr"}
_AUDIT = {"estimators", "learners", "samples", "samples_by_estimator", "epsilons_by_estimator",
          "alpha", "records_per_arm",
          "trials", "threat", "bound", "records"}
_QUICK = {"reps", "n", "replications", "epsilons", "samples", "trials", "records"}


def twin_name(name: str) -> str:
    """The registry name of the non-private twin of ``name`` (``dim-np``, ``tlearner``)."""
    return name[3:] if name.startswith("dp-") else f"{name}-np"


@dataclass(frozen=True)
class DataSpec:
    """Where the records come from: the simulated registry (a fresh one per repetition) or
    IHDP replications (each repetition draws new noise on every listed replication)."""

    source: str
    n: int = 5000
    confounding: float = 1.0
    missing: str = "none"
    n_centres: int = 40
    replications: tuple[int, ...] = (1,)
    outcome_bounds: tuple[float, float] = (-5.0, 20.0)
    path: str | None = None


@dataclass(frozen=True)
class GridSpec:
    """``kind`` is "ate" (estimators) or "cate" (learners)."""

    kind: str
    names: tuple[str, ...]
    epsilons: tuple[float, ...]
    delta: float
    reps: int
    alpha: float = 0.05
    twins: bool = True


@dataclass(frozen=True)
class AttackSpec:
    """Membership attack on each released CATE model (members: its training records)."""

    attack: str = "loss"
    fpr: float = 0.01


@dataclass(frozen=True)
class AuditSpec:
    """ATE cells: black-box mechanism audit on a worst-case pair (``samples`` outputs per
    dataset). CATE cells: :func:`audits.dpsgd.multi_run.audit_dpsgd` of the learner's DP-SGD recipe
    (``trials`` runs per world on ``records`` training records)."""

    names: tuple[str, ...]
    samples: int = 20_000
    samples_by_estimator: Mapping[str, int] = field(default_factory=dict)
    alpha: float = 0.05
    records_per_arm: int = 10
    trials: int = 200
    threat: str = "white-box"
    bound: str = "gdp"
    records: int = 1000
    epsilons_by_estimator: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    def samples_for(self, name: str) -> int:
        return int(self.samples_by_estimator.get(name, self.samples))

    def audits(self, name: str, epsilon: float) -> bool:
        """Whether the cell (``name``, ``epsilon``) is audited."""
        return name in self.names and (name not in self.epsilons_by_estimator
                                       or epsilon in self.epsilons_by_estimator[name])


@dataclass(frozen=True)
class CurveSpec:
    """A checked spec; :func:`load_spec` builds it. ``path`` is the spec file (or None)."""

    name: str
    data: DataSpec
    grid: GridSpec
    seed: int = 0
    description: str = ""
    output: Path = Path("curves")
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    attack: AttackSpec | None = None
    audit: AuditSpec | None = None
    quick_overrides: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None
    is_quick: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; ``inf``/paths as strings."""
        d = asdict(self)
        d["output"] = str(self.output)
        d["path"] = None if self.path is None else str(self.path)
        return json.loads(json.dumps(d, default=str))

    def key(self, part: str) -> str:
        """A hash of what ``part`` ("fits" or "audits") computes, for checkpoint task keys."""
        d = self.to_dict()
        keep = {"fits": ("data", "grid", "params", "attack", "seed"),
                "audits": ("data", "grid", "params", "audit", "seed")}[part]
        blob = json.dumps({k: d[k] for k in keep}, sort_keys=True)
        return f"curves-{part}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"

    def with_seed(self, seed: int) -> "CurveSpec":
        return replace(self, seed=as_int(seed, "seed", 0))

    def quick(self) -> "CurveSpec":
        """The reduced grid of ``--quick``: ``[quick]`` values, else :data:`QUICK_DEFAULTS`."""
        q = {**QUICK_DEFAULTS, **self.quick_overrides}
        eps = self.grid.epsilons
        if "epsilons" in self.quick_overrides:
            eps = tuple(q["epsilons"])
        elif len(eps) > q["n_epsilons"]:
            eps = (eps[0], eps[len(eps) // 2], eps[-1])
        grid = replace(self.grid, epsilons=eps, reps=min(self.grid.reps, q["reps"]))
        reps = self.data.replications
        n_rep = q["replications"] if isinstance(q["replications"], int) else len(q["replications"])
        data = replace(self.data, n=min(self.data.n, q["n"]), replications=reps[:max(1, n_rep)])
        audit = self.audit
        if audit is not None:
            audit = replace(audit, samples=min(audit.samples, q["samples"]),
                            samples_by_estimator={k: min(v, q["samples"])
                                                  for k, v in audit.samples_by_estimator.items()},
                            trials=min(audit.trials, q["trials"]),
                            records=min(audit.records, q["records"]))
        return replace(self, grid=grid, data=data, audit=audit, is_quick=True)


def _data(d: Mapping[str, Any]) -> DataSpec:
    if "data" not in d:
        raise fail("data", "missing: the spec needs a [data] table with source = \"trauma\" or \"ihdp\"")
    src = d["data"].get("source") if isinstance(d["data"], Mapping) else None
    if src not in SOURCES:
        raise fail("data.source", f"must be one of {', '.join(SOURCES)}, got {src!r}")
    t = table(d, "data", _DATA[src], "")
    out: dict[str, Any] = {"source": src}
    if "n" in t:
        out["n"] = as_int(t["n"], "data.n", 10)
    if "confounding" in t:
        out["confounding"] = as_float(t["confounding"], "data.confounding")
    if "missing" in t:
        if t["missing"] not in ("none", "mcar", "mnar"):
            raise fail("data.missing", f"must be none, mcar or mnar, got {t['missing']!r}")
        out["missing"] = t["missing"]
    if "n_centres" in t:
        out["n_centres"] = as_int(t["n_centres"], "data.n_centres")
    if "replications" in t:
        r = t["replications"]
        if not isinstance(r, list) or not r:
            raise fail("data.replications", "must be a non-empty list of integers in 1..10")
        out["replications"] = tuple(as_int(x, f"data.replications[{i}]") for i, x in enumerate(r))
        if max(out["replications"]) > 10 or len(set(out["replications"])) != len(r):
            raise fail("data.replications", "must list distinct IHDP replications in 1..10")
    if "outcome_bounds" in t:
        b = t["outcome_bounds"]
        if not (isinstance(b, list) and len(b) == 2):
            raise fail("data.outcome_bounds", "must be [lower, upper]")
        lo, hi = as_float(b[0], "data.outcome_bounds[0]"), as_float(b[1], "data.outcome_bounds[1]")
        if not lo < hi:
            raise fail("data.outcome_bounds", "lower must be below upper")
        out["outcome_bounds"] = (lo, hi)
    if "path" in t:
        out["path"] = str(t["path"])
    return DataSpec(**out)


def _registry(kind: str) -> tuple[Mapping[str, Any], set[str]]:
    if kind == "ate":
        from privcausal.estimators import ESTIMATORS

        return ESTIMATORS, {k for k, v in ESTIMATORS.items() if v.private}
    from privcausal.estimators.cate import CATE_LEARNERS

    return CATE_LEARNERS, {k for k in CATE_LEARNERS if k.startswith("dp-")}


def _grid(d: Mapping[str, Any]) -> GridSpec:
    if "grid" not in d:
        raise fail("grid", "missing: the spec needs a [grid] table (estimators or learners, epsilons, reps)")
    t = table(d, "grid", _GRID, "")
    if ("estimators" in t) == ("learners" in t):
        raise fail("grid.estimators", "give exactly one of grid.estimators (ATE) and grid.learners (CATE)")
    kind, key = ("ate", "estimators") if "estimators" in t else ("cate", "learners")
    known, private = _registry(kind)
    for req in ("epsilons", "reps"):
        if req not in t:
            raise fail(f"grid.{req}", "missing")
    delta = probability(t.get("delta", 1e-6 if kind == "ate" else 1e-5), "grid.delta", zero=kind == "ate")
    twins = t.get("twins", True)
    if not isinstance(twins, bool):
        raise fail("grid.twins", "must be true or false")
    return GridSpec(kind, name_list(t[key], f"grid.{key}", known, private),
                    epsilon_list(t["epsilons"], "grid.epsilons"), delta, as_int(t["reps"], "grid.reps"),
                    probability(t.get("alpha", 0.05), "grid.alpha", zero=False), twins)


def _params(d: Mapping[str, Any], grid: GridSpec) -> dict[str, dict[str, Any]]:
    t = table(d, "params", set(grid.names), "")
    out = {}
    known, _ = _registry(grid.kind)
    for name, kw in t.items():
        if not isinstance(kw, Mapping):
            raise fail(f"params.{name}", "must be a table of keyword arguments")
        bad = sorted(set(kw) & {"epsilon", "delta", "random_state"})
        if bad:
            raise fail(f"params.{name}.{bad[0]}", "is set by the grid and the seed, not by params")
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}
        try:
            if grid.kind == "ate":
                from privcausal.estimators import make_estimator

                make_estimator(name, **kw)
            else:
                known[name][0](**kw)
        except TypeError as exc:
            raise fail(f"params.{name}", f"not accepted by the estimator: {exc}") from None
        out[name] = kw
    return out


def _attack(d: Mapping[str, Any], grid: GridSpec) -> AttackSpec | None:
    if "attack" not in d:
        return None
    if grid.kind != "cate":
        raise fail("attack", "applies to CATE learners (released models); an ATE release is "
                    "attacked by the audit's worst-case membership test ([audit])")
    t = table(d, "attack", _ATTACK, "")
    a = t.get("attack", "loss")
    if a != "loss":
        raise fail("attack.attack", f"only 'loss' is supported for released CATE models, got {a!r}")
    return AttackSpec(a, probability(t.get("fpr", 0.01), "attack.fpr", zero=False))


def _audit(d: Mapping[str, Any], grid: GridSpec) -> AuditSpec | None:
    if "audit" not in d:
        return None
    t = table(d, "audit", _AUDIT, "")
    key = "estimators" if grid.kind == "ate" else "learners"
    other = "learners" if key == "estimators" else "estimators"
    if other in t:
        raise fail(f"audit.{other}", f"this grid has {key}; use audit.{key}")
    names = tuple(t.get(key, grid.names))
    for x in names:
        if x not in grid.names:
            raise fail(f"audit.{key}", f"{x!r} is not in grid.{key}")
    by = t.get("samples_by_estimator", {})
    if not isinstance(by, Mapping):
        raise fail("audit.samples_by_estimator", "must be a table name = samples")
    by = {k: as_int(v, f"audit.samples_by_estimator.{k}", 20) for k, v in by.items()}
    eps_by = t.get("epsilons_by_estimator", {})
    if not isinstance(eps_by, Mapping):
        raise fail("audit.epsilons_by_estimator", "must be a table name = [epsilons]")
    eps_by = {k: epsilon_list(v, f"audit.epsilons_by_estimator.{k}") for k, v in eps_by.items()}
    for k in {**by, **eps_by}:
        if k not in names:
            raise fail(f"audit.{'samples' if k in by else 'epsilons'}_by_estimator.{k}",
                       f"{k!r} is not audited (audit.{key})")
    for k, v in eps_by.items():
        if not set(v) <= set(grid.epsilons):
            raise fail(f"audit.epsilons_by_estimator.{k}", "must be a subset of grid.epsilons")
    threat = t.get("threat", "white-box")
    if threat not in THREATS:
        raise fail("audit.threat", f"must be one of {', '.join(THREATS)}, got {threat!r}")
    bound = t.get("bound", "gdp")
    if bound not in ("gdp", "clopper-pearson"):
        raise fail("audit.bound", f"must be gdp or clopper-pearson, got {bound!r}")
    return AuditSpec(names, as_int(t.get("samples", 20_000), "audit.samples", 20), by,
                     probability(t.get("alpha", 0.05), "audit.alpha", zero=False),
                     as_int(t.get("records_per_arm", 10), "audit.records_per_arm", 2),
                     as_int(t.get("trials", 200), "audit.trials", 2), threat, bound,
                     as_int(t.get("records", 1000), "audit.records", 10), eps_by)


def _quick(d: Mapping[str, Any]) -> dict[str, Any]:
    t = table(d, "quick", _QUICK, "")
    out: dict[str, Any] = {}
    for k, v in t.items():
        if k == "epsilons":
            out[k] = epsilon_list(v, "quick.epsilons")
        elif k == "replications":
            out[k] = as_int(v, "quick.replications")
        else:
            out[k] = as_int(v, f"quick.{k}", 2 if k == "trials" else 1)
    return out


def parse_spec(d: Mapping[str, Any], *, base: Path | None = None) -> CurveSpec:
    """Check a spec given as a dict (as :mod:`tomllib` reads it); ``base`` anchors ``output``."""
    if not isinstance(d, Mapping):
        raise SpecError("a spec must be a table of keys")
    bad = sorted(set(d) - _TOP)
    if bad:
        raise fail(bad[0], f"unknown top-level key; allowed: {', '.join(sorted(_TOP))}")
    name = d.get("name")
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_." for c in name):
        raise fail("name", "missing or not a plain name (letters, digits, - _ .)")
    grid = _grid(d)
    data = _data(d)
    out = Path(str(d.get("output", f"curves/{name}")))
    if not out.is_absolute() and base is not None:
        out = base / out
    desc = d.get("description", "")
    if not isinstance(desc, str):
        raise fail("description", "must be a string")
    return CurveSpec(name, data, grid, as_int(d.get("seed", 0), "seed", 0), desc, out,
                     _params(d, grid), _attack(d, grid), _audit(d, grid), _quick(d))


def load_spec(path: str | Path) -> CurveSpec:
    """Read and check the TOML spec at ``path`` (``output`` is relative to its folder)."""
    p = Path(path)
    if not p.is_file():
        from privcausal.exceptions import DataNotFoundError

        raise DataNotFoundError(f"spec file not found: {p}")
    try:
        raw = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{p} is not valid TOML: {exc}") from None
    return replace(parse_spec(raw, base=p.resolve().parent), path=p)

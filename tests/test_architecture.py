"""The house rules, checked on the source (an AST walk, nothing imported): no import cycle, no
module over 400 lines, dependencies one way (privcausal <- attacks <- audits <- privcausal.cli),
and the CLI's parsers built lazily.

Every import counts, at module level or inside a function (a cycle hidden in a function is
still a cycle), except those under ``if TYPE_CHECKING:``. ``from package import name`` is an
edge to the submodule ``package.name`` when there is one, else to the package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("privcausal", "attacks", "audits")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = p
    return mods


MODULES = _modules()


def _resolve(name: str, attr: str | None = None) -> str | None:
    if attr and f"{name}.{attr}" in MODULES:
        return f"{name}.{attr}"
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


class _Imports(ast.NodeVisitor):
    def __init__(self, module: str) -> None:
        self.module = module
        self.edges: set[tuple[str, int]] = set()

    def visit_If(self, node: ast.If) -> None:
        t = node.test
        if (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
                isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"):
            for n in node.orelse:
                self.visit(n)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            r = _resolve(a.name)
            if r:
                self.edges.add((r, node.lineno))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            is_pkg = MODULES[self.module].name == "__init__.py"
            base = self.module if is_pkg else self.module.rpartition(".")[0]
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = base + ("." + node.module if node.module else "")
        else:
            target = node.module or ""
        if target.split(".")[0] not in PACKAGES:
            return
        for a in node.names:
            r = _resolve(target, a.name)
            if r:
                self.edges.add((r, node.lineno))


def _graph() -> dict[str, dict[str, int]]:
    g: dict[str, dict[str, int]] = {}
    for m, p in MODULES.items():
        v = _Imports(m)
        v.visit(ast.parse(p.read_text(encoding="utf-8"), filename=str(p)))
        g[m] = {e: line for e, line in sorted(v.edges) if e != m}
    return g


GRAPH = _graph()


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(graph[w])))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_the_walk_sees_the_packages():
    # a walk that found nothing would pass every rule below
    assert len(MODULES) > 100
    assert "privcausal.training.recipe" in GRAPH["privcausal.training.dpsgd"]
    assert "attacks.targets.base" in GRAPH["attacks.targets.adapters"]


def test_the_cycle_finder_finds_a_cycle():
    g = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert _cycles(g) == [["a", "b", "c"]]


def test_no_import_cycle():
    cycles = _cycles(GRAPH)
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_no_module_over_400_lines():
    long = {m: n for m, p in MODULES.items()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"


def _bad_edges(prefix_from: str, banned: tuple[str, ...], allowed: str | None = None) -> list[str]:
    bad = []
    for m, edges in GRAPH.items():
        if not (m == prefix_from or m.startswith(prefix_from + ".")):
            continue
        if allowed and (m == allowed or m.startswith(allowed + ".")):
            continue
        for e, line in edges.items():
            if e.split(".")[0] in banned:
                bad.append(f"{MODULES[m].relative_to(ROOT)}:{line} imports {e}")
    return bad


def test_privcausal_imports_attacks_and_audits_only_in_its_cli():
    assert _bad_edges("privcausal", ("attacks", "audits"), allowed="privcausal.cli") == []


def test_attacks_do_not_import_audits_or_the_cli():
    assert _bad_edges("attacks", ("audits",)) == []
    assert [e for m, es in GRAPH.items() if m.startswith(("attacks", "audits"))
            for e in es if e.startswith("privcausal.cli")] == []


@pytest.mark.parametrize("command", ["fit", "budget", "estimators"])
def test_a_core_command_builds_without_attacks_or_audits(command):
    code = ("import sys; from privcausal.cli import build_parser; build_parser(%r); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'attacks', 'audits', 'torch'}))"
            % command)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_help_lists_every_command_without_building_them():
    code = ("import sys; from privcausal.cli import build_parser, COMMANDS; "
            "h = build_parser(None).format_help(); "
            "print(all(c in h for c in COMMANDS), "
            "sorted(m for m in sys.modules if m.startswith('privcausal.cli.') and m not in "
            "('privcausal.cli.app', 'privcausal.cli._common')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True []"

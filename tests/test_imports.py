"""The package's import structure: no import cycles between its modules, and the table / figure /
scorecard / claims modules stay light (no torch)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import interprobust

PACKAGE_DIR = Path(interprobust.__file__).resolve().parent
PACKAGE = "interprobust"


def _modules() -> dict[str, Path]:
    """Module name -> file, for every module of the package (a package is its ``__init__``)."""
    out = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([PACKAGE, *parts])] = path
    return out


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in the file (functions included)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def add(target: str, names=()) -> None:
        # ``from a import b``: the module a.b if there is one, else the module a
        for n in names:
            if f"{target}.{n}" in modules:
                found.add(f"{target}.{n}")
            elif target in modules:
                found.add(target)
        if not names and target in modules:
            found.add(target)

    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    # ``import a.b.c`` imports a, a.b and a.b.c: the deepest one is what is used
                    parts = alias.name.split(".")
                    target = next((".".join(parts[:k]) for k in range(len(parts), 0, -1)
                                   if ".".join(parts[:k]) in modules), None)
                    if target:
                        found.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == PACKAGE or node.module.startswith(PACKAGE + ".")):
                target = node.module
            else:
                continue
            add(target, [a.name for a in node.names])
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}            # 1: on the current path, 2: done
    path: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        path.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return path[path.index(v):] + [v]
            if v not in state:
                cycle = visit(v)
                if cycle:
                    return cycle
        path.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state:
            cycle = visit(u)
            if cycle:
                return cycle
    return None


def test_find_cycle_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_import_graph_sees_relative_absolute_and_function_level_imports():
    graph = import_graph()
    assert "interprobust.losses.registry" in graph["interprobust.train"] or "interprobust.losses" in graph["interprobust.train"]
    # a paper's commands import its experiment code inside their functions
    assert "interprobust.papers.glime.study" in graph["interprobust.papers.glime.cli"]
    assert "interprobust.models.store" in graph["interprobust.commands.common"]
    assert "interprobust.nn" in graph["interprobust.metrics"]


def test_package_has_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


REPORT_MODULES = ["interprobust.registry", "interprobust.render", "interprobust.plan", "interprobust.config",
                  "interprobust.scorecard", "interprobust.claims", "interprobust.cli"] + [
    f"interprobust.papers.{p}.{m}" for p in ("overview", "limeref", "glime", "aga", "sep", "matrix")
    for m in ("artifacts", "dag", "tables", "figures") if (p, m) != ("overview", "dag")]


@pytest.mark.parametrize("module", REPORT_MODULES)
def test_dag_tables_figures_and_reports_do_not_import_torch(module):
    """The DAG layer, the CLI's parser, tables, figures, the scorecard and the claims start without torch
    (3-5 s per job on a CPU machine)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGE_DIR.parent), os.environ.get("PYTHONPATH", "")])}
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False", f"importing {module} imports torch"

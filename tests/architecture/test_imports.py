"""The package layout holds: no import cycles, imports point down only, public names import.

Every ``import`` statement counts, at module level or inside a function (a lazy import is still
a dependency). Layers, top to bottom::

    flows -> tasks, deployments -> model, storage, moderation -> media -> common

(``deployments`` registers flows by their entrypoint strings; only the CLI imports it.)
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "media", "model", "storage", "moderation", "tasks", "flows", "deployments")
LAYER = {"common": 0, "media": 1, "model": 2, "storage": 2, "moderation": 2, "tasks": 3,
         "deployments": 3, "flows": 4}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
            if "migrations" not in p.parts}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules imported by ``path`` (``from a.b import c`` counts a.b.c if it is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    # A package's __init__ is imported with each of its modules: that edge is not a dependency
    # of the module on its package, so edges from a module to its own parent packages are left out.
    return {name: {dep for dep in imports_of(path, modules)
                   if dep != name and not name.startswith(dep + ".")}
            for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_imports_point_down_only():
    upward = []
    for name, deps in graph().items():
        for dep in deps:
            top, dep_top = name.split(".")[0], dep.split(".")[0]
            if top != dep_top and LAYER[dep_top] >= LAYER[top]:
                upward.append(f"{name} imports {dep}")
    assert not upward, "\n".join(sorted(upward))


def test_bench_does_not_import_tests():
    offenders = [p.name for p in (ROOT / "bench").glob("*.py")
                 if "tests" in {n.split(".")[0] for n in imports_of(p, {"tests": p})}]
    assert not offenders


@pytest.mark.parametrize("package", ["model", "storage", "media", "moderation", "tasks.audio", "tasks.render",
                                     "tasks.subtitles", "tasks.watermark", "tasks.stabilize"])
def test_public_names_import(package):
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    assert names, f"{package} declares no public names (__all__)"
    for name in names:
        assert getattr(module, name) is not None, f"{package}.{name}"

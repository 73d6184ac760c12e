"""buildlib's modules import each other without a cycle: every ``import`` statement counts,
at module level, inside functions, and under ``TYPE_CHECKING`` alike, so no import order or
deferred import can hide one."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "buildlib" / "src"
PACKAGE = "buildlib"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path, modules: set[str]) -> set[str]:
    """The buildlib modules ``path`` imports, with the packages importing them runs first."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    ancestors = {".".join(name.split(".")[:end]) for end in range(1, name.count(".") + 1)}
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        named: list[str] = []  # what the statement names: ``from A import b`` reads A's b
        if isinstance(node, ast.Import):
            named = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            named = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in named:
            parts = target.split(".")
            # importing a.b.c runs a and a.b first, except the packages already running
            packages = {".".join(parts[:end]) for end in range(1, len(parts))} - ancestors
            found |= {m for m in packages | {target} if m in modules and m != name}
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted((SOURCE / PACKAGE).rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imported(path, modules) for path in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph()
    assert "buildlib.checks" in graph["buildlib.checks.lock"]  # from buildlib.checks import X
    assert "buildlib.config" in graph["buildlib.plan"]
    assert "buildlib.runner" in graph["buildlib.docker"]


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_cycles_are_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]

"""buildlib and its tests support Python 3.10 (buildlib/pyproject.toml's requires-python).

CI runs the unit tests on 3.10 and 3.11; this test also catches, on any interpreter, a
module or name from a newer standard library imported without a version guard.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["buildlib/src", "tests", "bench", "worker", "tasks.py", "devtasks.py"]

# Modules and names that Python 3.10's standard library lacks (3.11 and later).
NEWER_MODULES = {"tomllib"}
NEWER_NAMES = {
    "typing": {
        "Self",
        "Never",
        "LiteralString",
        "assert_never",
        "assert_type",
        "reveal_type",
        "Required",
        "NotRequired",
        "TypeVarTuple",
        "Unpack",
        "dataclass_transform",
        "override",
        "TypeAliasType",
    },
    "datetime": {"UTC"},
    "enum": {"StrEnum", "verify", "member", "nonmember", "ReprEnum"},
    "contextlib": {"chdir"},
    "hashlib": {"file_digest"},
    "itertools": {"batched"},
    "asyncio": {"TaskGroup", "timeout", "Runner"},
}
NEWER_ATTRIBUTES = {("datetime", "UTC"), ("itertools", "batched"), ("asyncio", "TaskGroup")}


def _python_files() -> list[Path]:
    files: list[Path] = []
    for source in SOURCES:
        path = ROOT / source
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return files


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside ``if sys.version_info >= (3, 11):`` or ``try: ... except ImportError``."""
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.If) and "version_info" in ast.unparse(parent.test):
            return True
        if isinstance(parent, ast.Try) and node in parent.body:
            return True
        node = parent
    return False


def _newer_uses(tree: ast.AST) -> list[tuple[int, str]]:
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name in NEWER_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [
                f"{node.module}.{alias.name}"
                for alias in node.names
                if alias.name in NEWER_NAMES.get(node.module, set())
            ]
            if node.module in NEWER_MODULES:
                names.append(node.module)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in NEWER_ATTRIBUTES
        ):
            names = [f"{node.value.id}.{node.attr}"]
        else:
            continue
        if names and not _guarded(node, parents):
            found.extend((node.lineno, name) for name in names)
    return found


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_source_runs_on_python_3_10(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    # Syntax newer than 3.10 (except*, PEP 695 generics, ...) fails to parse here.
    tree = ast.parse(text, filename=str(path), feature_version=(3, 10))
    uses = [f"{path.relative_to(ROOT)}:{line}: {name}" for line, name in _newer_uses(tree)]
    assert not uses, "needs Python 3.11+ without a version guard:\n" + "\n".join(uses)


def test_the_check_sees_an_unguarded_import() -> None:
    tree = ast.parse(
        "import tomllib\nfrom typing import Any, Self\nimport datetime\nx = datetime.UTC\n"
        "import sys\nif sys.version_info >= (3, 11):\n    import tomllib\n"
    )
    assert _newer_uses(tree) == [(1, "tomllib"), (2, "typing.Self"), (4, "datetime.UTC")]

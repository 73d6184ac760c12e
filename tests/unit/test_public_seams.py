"""Tests reach buildlib's behaviour through its public functions: a test that imports or
reaches into a ``_private`` name of a buildlib module pins an implementation detail, and a
refactoring that keeps every behaviour then breaks it. A test file's own private helpers
are its business."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str) -> list[tuple[int, str]]:
    """(line, what) of each private name of a buildlib module that ``source`` imports or
    reads as an attribute of a buildlib module (however the module was imported)."""
    tree = ast.parse(source)
    modules: set[str] = set()  # local names bound to buildlib modules
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "buildlib":
                    if is_private(alias.name.rpartition(".")[2]):
                        found.append((node.lineno, alias.name))
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "buildlib":
            for alias in node.names:
                if is_private(alias.name):
                    found.append((node.lineno, f"{node.module}.{alias.name}"))
                else:
                    # ``from buildlib import engine``: perhaps a module; its attributes count
                    modules.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            owner = ast.unparse(node.value)
            if owner in modules:
                found.append((node.lineno, f"{owner}.{node.attr}"))
        elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("setattr"):
            # setattr(module, "_name", ...) and monkeypatch's setattr("buildlib.mod._name", ...)
            texts = [a.value for a in node.args[:2] if isinstance(a, ast.Constant)]
            owner = ast.unparse(node.args[0]) if node.args else ""
            for text in (t for t in texts if isinstance(t, str)):
                if owner in modules and is_private(text):
                    found.append((node.lineno, f"{owner}.{text}"))
                elif text.startswith("buildlib.") and is_private(text.rpartition(".")[2]):
                    found.append((node.lineno, text))
    return sorted(set(found))


def test_tests_use_no_private_name_of_buildlib() -> None:
    offenders = {}
    for path in sorted(TESTS.rglob("*.py")):
        uses = private_uses(path.read_text(encoding="utf-8"))
        if uses:
            offenders[path.relative_to(TESTS).as_posix()] = uses
    assert not offenders, (
        "tests reach into private names of buildlib (test through a public function, or make "
        f"the name public if it is a real seam): {offenders}"
    )


def test_the_finder_sees_each_way_in() -> None:
    assert private_uses("from buildlib.publish import _job, push\n") == [
        (1, "buildlib.publish._job")
    ]
    assert private_uses("import buildlib.engine\nbuildlib.engine._DETECTED.clear()\n") == [
        (2, "buildlib.engine._DETECTED")
    ]
    assert private_uses("from buildlib import engine as e\ne._probe\n") == [(2, "e._probe")]
    assert private_uses("import buildlib.engine as e\nmonkeypatch.setattr(e, '_x', 1)\n") == [
        (2, "e._x")
    ]
    assert private_uses("monkeypatch.setattr('buildlib.engine._x', 1)\n") == [
        (1, "buildlib.engine._x")
    ]
    assert private_uses("def _helper():\n    pass\n_helper()\nself._cache\n") == []
    assert private_uses("from buildlib import __version__\n") == []
